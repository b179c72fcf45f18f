package marketplace_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	eb "github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/marketplace"
)

var definedKinds = map[marketplace.EventKind]bool{
	marketplace.KindAgreementCreated: true, marketplace.KindAgreementAmended: true, marketplace.KindAgreementEnded: true,
	marketplace.KindAgreementDescribed: true, marketplace.KindLicenseUpdated: true, marketplace.KindLicenseDeprovisioned: true,
	marketplace.KindInformational: true, marketplace.KindUnknown: true,
	marketplace.KindSubscribeSuccess: true, marketplace.KindSubscribeFail: true, marketplace.KindUnsubscribePending: true,
	marketplace.KindUnsubscribeSuccess: true, marketplace.KindEntitlementUpdated: true, marketplace.KindSubscriptionConfirm: true,
	marketplace.KindCancellationRequest: true, marketplace.KindBillingAdjustment: true, marketplace.KindPaymentRequest: true,
	marketplace.KindAgreementEnding: true, marketplace.KindRenewalUpcoming: true, marketplace.KindRenewalTermsFinalized: true,
	marketplace.KindAdvisoryIssued: true, marketplace.KindAdvisoryResolved: true, marketplace.KindDisbursementPaused: true,
}

// checkError asserts a rejection is a coded, user-facing error.
func checkError(t *testing.T, err error, codes ...string) {
	t.Helper()
	code := marketplace.ErrorCode(err)
	for _, c := range codes {
		if code == c {
			if marketplace.ErrorMessage(err) == "" {
				t.Fatalf("error without message: %v", err)
			}
			return
		}
	}
	t.Fatalf("error code %q not in %v: %v", code, codes, err)
}

// checkFactJSON asserts a fact survives the JSON round trip the inbox stores it with.
func checkFactJSON(t *testing.T, f marketplace.Fact) {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatalf("marshal fact: %v", err)
	}
	var back marketplace.Fact
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal fact %s: %v", b, err)
	}
	if !reflect.DeepEqual(back, f) {
		t.Fatalf("fact changed in JSON:\n got %s\nwant %s", js(back), js(f))
	}
}

func FuzzParseEventBridge(f *testing.F) {
	a, c := direct(), cppo()
	arn := eb.LicenseArn(buyer, licID)
	for _, seed := range [][]byte{
		eb.Created(isv, a, evTime), eb.Created(isv, c, evTime), eb.Amended(isv, a, evTime), eb.Amended(isv, c, evTime),
		eb.Ended(isv, a, "EXPIRED", evTime), eb.Ended(isv, c, "REPLACED", evTime),
		eb.LicenseUpdated(isv, a, arn, evTime), eb.LicenseDeprovisioned(isv, c, "aws:license-manager:us-east-1:"+buyer+":"+licID, evTime),
		eb.Custom("Offer Released", marketplace.SourceCatalog, isv, evTime, map[string]any{"offer": map[string]any{"id": "offer-1"}}),
		eb.Custom("Purchase Agreement Ending - Proposer", marketplace.SourceAgreement, isv, evTime,
			map[string]any{"agreement": map[string]any{"id": "agmt-x", "daysBeforeEndTime": 30}}),
		eb.Custom("Agreement Cancellation Request Rejected - Proposer", marketplace.SourceAgreement, isv, evTime,
			map[string]any{"agreement": map[string]any{"id": "agmt-x", "acceptorId": buyer}, "agreementCancellationRequest": map[string]any{"id": "acr-1",
				"reasonCode": "TEST_AGREEMENT", "statusCode": "REJECTED", "createdAt": "2026-03-02T15:04:05Z", "updatedAt": "2026-03-03T15:04:05Z"}}),
		eb.Custom("Purchase Agreement Billing Adjustment Completed - Proposer", marketplace.SourceAgreement, isv, evTime,
			map[string]any{"agreement": map[string]any{"id": "agmt-x"}, "billingAdjustmentRequest": map[string]any{"id": "ba-1", "adjustmentAmount": "10.00",
				"currencyCode": "USD", "adjustmentReasonCode": "OTHER"}, "invoice": map[string]any{"originalInvoiceId": "inv-1"}}),
		eb.Custom("Purchase Agreement Renewal Terms Finalized - Proposer", marketplace.SourceAgreement, isv, evTime,
			map[string]any{"agreement": map[string]any{"id": "agmt-x"}, "renewalSummary": map[string]any{"tcv": "1200.00", "currency": "USD", "lockoutReached": nil}}),
		eb.Custom("Change Set Failed", marketplace.SourceCatalog, isv, evTime, map[string]any{"ChangeSetId": "cs-1", "FailureCode": "CLIENT_ERROR"}),
		eb.Custom("Something New", "my.app", isv, evTime, nil),
		[]byte(docExamples[0]), []byte(docExamples[1]), []byte(docExamples[2]),
		append(eb.Created(isv, a, evTime), '}'),
		append(eb.Created(isv, a, evTime), " {}"...),
		nil, []byte(""), []byte("{}"), []byte("null"), []byte("[]"), []byte(`"x"`), []byte("{"),
		[]byte(`{"id":"1","detail-type":"x","source":"y","time":"2026-03-02T15:04:05Z"}`),
		[]byte(`{"id":"1","detail-type":"x","source":"y","time":"2026-03-02T15:04:05Z","detail":null}`),
		[]byte(`{"id":"1","detail-type":"License Updated - Manufacturer","source":"aws.agreement-marketplace","time":"2026-03-02T15:04:05.999999999+14:00","detail":{"agreement":{"id":"a"},"license":{"arn":" x "}}}`),
		[]byte(`{"id":"1","detail-type":"Purchase Agreement Ended - Proposer","source":"aws.agreement-marketplace","time":"2026-03-02T15:04:05Z","detail":{"agreement":{"id":"a","status":"active"}}}`),
		[]byte("{\"id\":\"\xff\xfe\",\"detail-type\":\"\xc3\",\"source\":\"s\",\"time\":\"0001-01-01T00:00:00Z\"}"),
		[]byte(strings.Repeat("[", 10000)),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := marketplace.ParseEventBridge(body)
		if err != nil {
			checkError(t, err, marketplace.EInvalid, marketplace.ETooLarge)
			if (marketplace.ErrorCode(err) == marketplace.ETooLarge) != (len(body) > marketplace.MaxEventSize) {
				t.Fatalf("size %d gave %v", len(body), err)
			}
			return
		}
		if !definedKinds[ev.Kind] || ev.Fact.Kind != ev.Kind {
			t.Fatalf("kind %q (fact %q) is not a defined kind", ev.Kind, ev.Fact.Kind)
		}
		if ev.ID == "" || ev.Fact.EventID != ev.ID || ev.DetailType == "" || ev.Source == "" {
			t.Fatalf("event without id, detail-type or source: %+v", ev)
		}
		if marketplace.IsLifecycleKind(ev.Kind) != (ev.Fact.Lifecycle != nil) {
			t.Fatalf("lifecycle kind %q and lifecycle fact %v disagree", ev.Kind, ev.Fact.Lifecycle)
		}
		if ev.Time.Location() != time.UTC || !ev.Fact.Time.Equal(ev.Time) {
			t.Fatalf("time %v not UTC or not copied to the fact", ev.Time)
		}
		switch ev.Kind {
		case marketplace.KindLicenseUpdated, marketplace.KindLicenseDeprovisioned:
			if ev.Fact.LicenseArn == "" || ev.Fact.AgreementID == "" {
				t.Fatalf("license event without arn or agreement: %s", js(ev.Fact))
			}
		case marketplace.KindAgreementCreated, marketplace.KindAgreementAmended, marketplace.KindAgreementEnded:
			if ev.Fact.AgreementID == "" {
				t.Fatalf("agreement event without agreement: %s", js(ev.Fact))
			}
		}
		again, err := marketplace.ParseEventBridge(ev.Body)
		if err != nil {
			t.Fatalf("re-parse of the kept body failed: %v", err)
		}
		if !reflect.DeepEqual(again.Fact, ev.Fact) || again.ID != ev.ID || again.RequestID != ev.RequestID || again.Kind != ev.Kind {
			t.Fatalf("re-parse differs:\n got %s\nwant %s", js(again.Fact), js(ev.Fact))
		}
		checkFactJSON(t, ev.Fact)
	})
}

func FuzzParseSNSAction(f *testing.F) {
	const topic = "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-code1"
	for _, m := range []string{
		`{"action":"subscribe-success","customer-identifier":"EXAMPLEcustIdX01","product-code":"examplecode1234567890abcd","offer-identifier":"offer-EXAMPLEabcdef1","isFreeTrialTermPresent":"false"}`,
		`{"action":"subscribe-fail","customer-identifier":"c","product-code":"p","isFreeTrialTermPresent":"true"}`,
		`{"action":"unsubscribe-pending","customer-identifier":"c","product-code":"p"}`,
		`{"action":"unsubscribe-success","customer-identifier":"c","product-code":"p"}`,
		`{"action":"entitlement-updated","customer-identifier":"c","product-code":"p"}`,
		`{"action":"subscribe-success","customer-identifier":"c","product-code":"p","isFreeTrialTermPresent":true}`,
		`{"action":"subscribe-success","product-code":"p"}`,
		`{"action":"whatever"}`, `{}`, `null`, `[]`, ``, `{"action":`, `"subscribe-success"`,
	} {
		f.Add("msg-1", topic, m, int64(1772460000))
	}
	f.Fuzz(func(t *testing.T, messageID, topicArn, message string, sec int64) {
		ts := time.Unix(sec, 0)
		ev, err := marketplace.ParseSNSAction(messageID, topicArn, message, ts)
		if err != nil {
			checkError(t, err, marketplace.EInvalid)
			return
		}
		if !definedKinds[ev.Kind] || ev.Fact.Kind != ev.Kind {
			t.Fatalf("kind %q is not a defined kind", ev.Kind)
		}
		if ev.Kind != marketplace.KindUnknown && !marketplace.IsSubscriptionKind(ev.Kind) {
			t.Fatalf("SNS action gave ledger kind %q", ev.Kind)
		}
		if marketplace.IsSubscriptionKind(ev.Kind) && (ev.Fact.CustomerIdentifier == "" || ev.Fact.ProductCode == "") {
			t.Fatalf("subscription fact without customer or product: %s", js(ev.Fact))
		}
		if ev.ID != messageID || ev.Fact.EventID != messageID || !ev.Time.Equal(ts) || ev.Time.Location() != time.UTC {
			t.Fatalf("id %q time %v; want %q %v", ev.ID, ev.Time, messageID, ts)
		}
		if string(ev.Body) != message {
			t.Fatal("body is not kept verbatim")
		}
		again, err := marketplace.ParseSNSAction(messageID, topicArn, string(ev.Body), ev.Time)
		if err != nil || !reflect.DeepEqual(again.Fact, ev.Fact) {
			t.Fatalf("re-parse differs (%v):\n got %s\nwant %s", err, js(again.Fact), js(ev.Fact))
		}
	})
}

func FuzzLicenseID(f *testing.F) {
	for _, s := range []string{
		eb.LicenseArn(buyer, licID),
		"arn:aws:license-manager::" + buyer + ":license/" + licID,
		"aws:license-manager:us-east-1:" + buyer + ":" + licID,
		licID, "", ":", "/", "a: b", " l-1 ", "a/\u00a0b\u2003", "\xff:\xfe", "arn:aws:license-manager::1:license:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arn string) {
		id := marketplace.LicenseID(arn)
		if again := marketplace.LicenseID(id); again != id {
			t.Fatalf("LicenseID(%q) = %q, but LicenseID(%q) = %q", arn, id, id, again)
		}
		if strings.ContainsAny(id, ":/") {
			t.Fatalf("LicenseID(%q) = %q still contains a separator", arn, id)
		}
		if id != strings.TrimSpace(id) {
			t.Fatalf("LicenseID(%q) = %q is not trimmed", arn, id)
		}
		if !strings.Contains(arn, id) {
			t.Fatalf("LicenseID(%q) = %q is not part of its input", arn, id)
		}
	})
}
