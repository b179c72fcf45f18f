package metering_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// post sends a raw awsJson1_1 request and returns the status, headers and
// decoded body.
func post(t *testing.T, url, target, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("response body %q is not a JSON object: %v", raw, err)
	}
	return resp.StatusCode, resp.Header, m
}

func TestProtocol(t *testing.T) {
	t.Parallel()

	t.Run("responses are awsJson 1.1 with a request id", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		status, h, body := post(t, e.url, "AWSMPMeteringService.BatchMeterUsage", `{"UsageRecords":[]}`)
		if status != 200 || h.Get("Content-Type") != "application/x-amz-json-1.1" || h.Get("X-Amzn-Requestid") == "" {
			t.Fatalf("status %d headers %v", status, h)
		}
		if _, ok := body["Results"]; !ok {
			t.Fatalf("body %v", body)
		}
		if _, ok := body["UnprocessedRecords"]; !ok {
			t.Fatalf("body %v has no UnprocessedRecords", body)
		}
	})

	t.Run("errors carry the bare exception name in __type and a message", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		status, h, body := post(t, e.url, "AWSMPMeteringService.ResolveCustomer", `{"RegistrationToken":"nope"}`)
		if status != 400 || body["__type"] != "InvalidTokenException" || body["message"] == "" || h.Get("X-Amzn-Errortype") != "InvalidTokenException" {
			t.Fatalf("status %d body %v", status, body)
		}
	})

	t.Run("malformed JSON is SerializationException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		for _, b := range []string{`{"UsageRecords":[`, `[]`, `{"UsageRecords":[]} x`, `{"UsageRecords":"many"}`} {
			status, _, body := post(t, e.url, "AWSMPMeteringService.BatchMeterUsage", b)
			if status != 400 || body["__type"] != "SerializationException" {
				t.Fatalf("%s: status %d body %v", b, status, body)
			}
		}
	})

	t.Run("a quoted number or a fraction where an integer belongs is SerializationException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		for _, b := range []string{
			`{"UsageRecords":[{"Dimension":"d","Timestamp":"1767225600"}]}`,
			`{"UsageRecords":[{"Dimension":"d","Timestamp":1767225600,"Quantity":1.5}]}`,
			`{"UsageRecords":[{"Dimension":"d","Timestamp":1767225600,"Quantity":2147483648}]}`,
		} {
			status, _, body := post(t, e.url, "AWSMPMeteringService.BatchMeterUsage", b)
			if status != 400 || body["__type"] != "SerializationException" {
				t.Fatalf("%s: status %d body %v", b, status, body)
			}
		}
	})

	t.Run("a record without Timestamp or Dimension is a ValidationException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		for _, b := range []string{`{"UsageRecords":[{"Dimension":"d"}]}`, `{"UsageRecords":[{"Timestamp":1}]}`, `{}`} {
			status, _, body := post(t, e.url, "AWSMPMeteringService.BatchMeterUsage", b)
			if status != 400 || body["__type"] != "ValidationException" {
				t.Fatalf("%s: status %d body %v", b, status, body)
			}
		}
	})

	t.Run("unknown targets are UnknownOperationException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		for _, target := range []string{"", "AWSMPMeteringService.Nope", "AmazonSQS.SendMessage", "AWSMPMeteringService."} {
			status, _, body := post(t, e.url, target, `{}`)
			if status != 400 || body["__type"] != "UnknownOperationException" {
				t.Fatalf("%q: status %d body %v", target, status, body)
			}
		}
	})

	t.Run("methods other than POST are refused", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		resp, err := http.Get(e.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})

	t.Run("an oversized raw body is a ValidationException the client can read", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		big := `{"UsageRecords":[],"Pad":"` + strings.Repeat("x", 2<<20) + `"}`
		status, _, body := post(t, e.url, "AWSMPMeteringService.BatchMeterUsage", big)
		if status != 400 || body["__type"] != "ValidationException" {
			t.Fatalf("status %d body %v", status, body)
		}
		// Without a Content-Length (chunked), the limit holds as well.
		req, _ := http.NewRequest(http.MethodPost, e.url, io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		req.Header.Set("X-Amz-Target", "AWSMPMeteringService.BatchMeterUsage")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !bytes.Contains(raw, []byte("ValidationException")) {
			t.Fatalf("chunked: status %d body %s", resp.StatusCode, raw)
		}
	})

	t.Run("a body just under the limit is read", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		prefix := `{"UsageRecords":[],"Pad":"`
		body := prefix + strings.Repeat("x", 1_000_000-len(prefix)-3) + `"}`
		if len(body) != 999_999 {
			t.Fatalf("len %d", len(body))
		}
		status, _, resp := post(t, e.url, "AWSMPMeteringService.BatchMeterUsage", body)
		if status != 200 {
			t.Fatalf("status %d body %v", status, resp)
		}
		status, _, resp = post(t, e.url, "AWSMPMeteringService.BatchMeterUsage", body+" ")
		if status != 400 || resp["__type"] != "ValidationException" {
			t.Fatalf("1 000 000 bytes: status %d body %v", status, resp)
		}
	})

	t.Run("the server can be mounted under a path prefix", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		status, _, body := post(t, e.url+"/emulator/metering", "AWSMPMeteringService.BatchMeterUsage", `{"UsageRecords":[]}`)
		if status != 200 {
			t.Fatalf("status %d body %v", status, body)
		}
	})
}
