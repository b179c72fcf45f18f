package marketplace_test

import (
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/marketplace"
)

// PostgreSQL refuses NUL characters and invalid UTF-8 in text; such an event
// must be a clear 400 at the door, not a 500 that EventBridge retries for a day.
func TestUnstorableTextIsRejected(t *testing.T) {
	t.Parallel()
	good := `{"version":"0","id":"e1","detail-type":"Purchase Agreement Created - Proposer","source":"aws.agreement-marketplace","account":"111122223333","time":"2026-03-02T15:04:05Z","detail":{"requestId":"r1","agreement":{"id":"agmt-1","intent":"NEW"},"acceptor":{"accountId":"444455556666"}}}`
	if _, err := marketplace.ParseEventBridge([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"NULInAgreementID": strings.Replace(good, `"agmt-1"`, `"agmt-\u0000x"`, 1),
		"NULInRequestID":   strings.Replace(good, `"r1"`, `"r\u00001"`, 1),
		"NULInID":          strings.Replace(good, `"e1"`, `"e\u00001"`, 1),
		"InvalidUTF8":      strings.Replace(good, `agmt-1`, "agmt-\xff", 1),
	} {
		if _, err := marketplace.ParseEventBridge([]byte(body)); marketplace.ErrorCode(err) != marketplace.EInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if _, err := marketplace.ParseSNSAction("m1", "arn:aws:sns:us-east-1:1:t", `{"action":"subscribe-success","customer-identifier":"c\u0000","product-code":"p"}`, t0); marketplace.ErrorCode(err) != marketplace.EInvalid {
		t.Errorf("SNS NUL: %v", err)
	}
}
