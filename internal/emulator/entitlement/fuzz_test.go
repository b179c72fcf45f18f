package entitlement_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/concordmp/concord/internal/emulator/entitlement"
	"github.com/concordmp/concord/internal/emulator/world"
)

const fuzzProductCode = "fuzzproductcode0000000001"

// FuzzServeHTTP posts arbitrary bodies under arbitrary path prefixes over
// both protocols and checks that the server never panics and, with no faults
// injected, never answers a 5xx.
func FuzzServeHTTP(f *testing.F) {
	cfg := world.DefaultConfig()
	cfg.ThrottleRPS = 0
	w := world.New(cfg)
	var arn string
	err := w.Do(func(s *world.State) error {
		for i, concurrent := range []bool{true, false} {
			p, err := s.CreateProduct(world.Product{ProductCode: fmt.Sprintf("%s%d", fuzzProductCode[:24], i), ConcurrentAgreements: concurrent,
				Dimensions: []world.Dimension{{Key: "seats", Kind: "contract"}, {Key: "admins", Kind: "contract"}}})
			if err != nil {
				return err
			}
			for j := range 15 {
				b := fmt.Sprintf("1234567890%02d", j)
				if _, err := s.CreateBuyer(b); err != nil {
					return err
				}
				a, err := s.Accept(b, p.PublicOfferID, world.AcceptOptions{Quantities: map[string]int64{"seats": int64(j + 1), "admins": 1}})
				if err != nil {
					return err
				}
				arn = a.LicenseArn
			}
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	srv := entitlement.New(w)

	// A real NextToken, so the fuzzer starts from the paging path.
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, jsonRequest("/", []byte(`{"ProductCode":"`+fuzzProductCode+`","MaxResults":3}`)))
	var page struct{ NextToken string }
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || page.NextToken == "" {
		f.Fatalf("seed page: %d %s", rec.Code, rec.Body.Bytes())
	}

	for _, body := range [][]byte{
		nil,
		[]byte(`{}`),
		[]byte(`{"ProductCode":"` + fuzzProductCode + `"}`),
		[]byte(`{"ProductCode":"` + fuzzProductCode + `","MaxResults":3,"NextToken":"` + page.NextToken + `"}`),
		[]byte(`{"ProductCode":"` + fuzzProductCode + `","Filter":{"LICENSE_ARN":["` + arn + `"],"DIMENSION":["seats"]}}`),
		[]byte(`{"ProductCode":"` + fuzzProductCode + `","Filter":{"CUSTOMER_AWS_ACCOUNT_ID":["123456789001","123456789002"]},"MaxResults":1e400}`),
		[]byte(`{"ProductCode":7,"Filter":{"DIMENSION":[null]},"MaxResults":-1}`),
		[]byte(`[1,2,3]`),
		cbor.Encode(cbor.Map{"ProductCode": cbor.String(fuzzProductCode), "MaxResults": cbor.Uint(2), "NextToken": cbor.String(page.NextToken)}),
		cbor.Encode(cbor.Map{"ProductCode": cbor.String(fuzzProductCode), "MaxResults": cbor.NegInt(1),
			"Filter": cbor.Map{"CUSTOMER_IDENTIFIER": cbor.List{cbor.String("x")}, "LICENSE_ARN": cbor.List{cbor.String(arn)}}}),
		cbor.Encode(cbor.Map{"ProductCode": &cbor.Tag{ID: 1, Value: cbor.Float64(1.5)}, "Filter": cbor.List{}}),
		cbor.Encode(cbor.Map{"ProductCode": cbor.String(fuzzProductCode), "MaxResults": cbor.Float64(2.5)}),
		{0xbf, 0x6b, 'P', 'r', 'o', 'd', 'u', 'c', 't', 'C', 'o', 'd', 'e', 0x61, 'x', 0xff},
		{0xbf, 0x61, 0x61, 0xff}, // indefinite map with a dangling key
	} {
		f.Add(body, "")
		f.Add(body, "/emulator/entitlement")
	}

	f.Fuzz(func(t *testing.T, body []byte, prefix string) {
		cborReq := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		cborReq.URL.Path = prefix + "/service/" + entitlement.ServiceName + "/operation/" + entitlement.OperationGetEntitlements
		cborReq.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		cborReq.Header.Set("Content-Type", "application/cbor")
		jsonReq := jsonRequest("/", body)
		jsonReq.URL.Path = prefix + "/"
		for _, req := range []*http.Request{cborReq, jsonReq} {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code < 200 || rec.Code >= 500 {
				t.Fatalf("%s %q: status %d for body %q: %s", req.Method, req.URL.Path, rec.Code, body, rec.Body.Bytes())
			}
		}
	})
}

func jsonRequest(path string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", entitlement.ServiceName+"."+entitlement.OperationGetEntitlements)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	return req
}
