package awsmp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/concordmp/concord/internal/awsmp"
)

// meteringServer answers ResolveCustomer in AWS JSON 1.1: the first throttled
// calls with ThrottlingException, then answer.
func meteringServer(t *testing.T, throttled int32, answer string) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Amz-Target") != "AWSMPMeteringService.ResolveCustomer" || !strings.Contains(string(body), `"RegistrationToken":"tok"`) {
			t.Errorf("unexpected request %s %s", r.Header.Get("X-Amz-Target"), body)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if calls.Add(1) <= throttled {
			w.WriteHeader(400)
			io.WriteString(w, `{"__type":"ThrottlingException","message":"Rate exceeded"}`)
			return
		}
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func metering(t *testing.T, url string) *awsmp.Metering {
	cfg, err := awsmp.Load(context.Background(), awsmp.Config{Endpoint: url, Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	return awsmp.NewMetering(cfg)
}

func TestResolveCustomerRetriesThrottling(t *testing.T) {
	t.Parallel()
	srv, calls := meteringServer(t, 3, `{"CustomerAWSAccountId":"444455556666","ProductCode":"code","LicenseArn":"arn:aws:license-manager::444455556666:license:l-1"}`)
	c, err := metering(t, srv.URL).ResolveCustomer(context.Background(), "tok")
	if err != nil {
		t.Fatal(err)
	}
	if c.AccountID != "444455556666" || c.LicenseArn == "" || calls.Load() != 4 {
		t.Fatalf("customer %+v after %d calls, want success on the 4th", c, calls.Load())
	}
}

func TestResolveCustomerTokenErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		body string
		want error
	}{
		"invalid": {`{"__type":"InvalidTokenException","message":"bad"}`, awsmp.ErrInvalidToken},
		"expired": {`{"__type":"ExpiredTokenException","message":"old"}`, awsmp.ErrExpiredToken},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(400)
			io.WriteString(w, tc.body)
		}))
		defer srv.Close()
		if _, err := metering(t, srv.URL).ResolveCustomer(context.Background(), "tok"); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
