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

const (
	isv     = "111122223333"
	partner = "999988887777"
	buyer   = "444455556666"
	licID   = "l-0123456789abcdef0123456789abcdef"
)

var evTime = time.Date(2026, 3, 2, 15, 4, 5, 0, time.UTC)

// direct is an agreement the ISV sells itself (Proposer events).
func direct() eb.Agreement {
	return eb.Agreement{ID: "agmt-direct", Intent: "NEW", AcceptanceTime: evTime, StartTime: evTime,
		EndTime: evTime.AddDate(1, 0, 0), AcceptorAccountID: buyer, ProposerAccountID: isv, OfferID: "offer-1",
		ProductID: "prod-1", ProductCode: "code1", ProductTitle: "Widget"}
}

// cppo is an agreement a channel partner resells (Manufacturer events for the ISV).
func cppo() eb.Agreement {
	a := direct()
	a.ID, a.ProposerAccountID, a.ResaleAuthorizationID = "agmt-cppo", partner, "resaleauthz-1"
	return a
}

// mutate decodes an event body, lets fn change it and encodes it again.
func mutate(t testing.TB, body []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode seed: %v", err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return out
}

func detail(m map[string]any) map[string]any { return m["detail"].(map[string]any) }

func mustParse(t testing.TB, body []byte) marketplace.Event {
	t.Helper()
	ev, err := marketplace.ParseEventBridge(body)
	if err != nil {
		t.Fatalf("ParseEventBridge: %v\nbody: %s", err, body)
	}
	return ev
}

func TestParseEventBridgeDetailTypes(t *testing.T) {
	t.Parallel()
	arn := eb.LicenseArn(buyer, licID)
	custom := func(detailType, source string) []byte {
		return eb.Custom(detailType, source, isv, evTime, map[string]any{"agreement": map[string]any{"id": "agmt-x"}})
	}
	tests := []struct {
		name string
		body []byte
		kind marketplace.EventKind
		role string
	}{
		{"created proposer", eb.Created(isv, direct(), evTime), marketplace.KindAgreementCreated, "Proposer"},
		{"created manufacturer", eb.Created(isv, cppo(), evTime), marketplace.KindAgreementCreated, "Manufacturer"},
		{"amended proposer", eb.Amended(isv, direct(), evTime), marketplace.KindAgreementAmended, "Proposer"},
		{"amended manufacturer", eb.Amended(isv, cppo(), evTime), marketplace.KindAgreementAmended, "Manufacturer"},
		{"ended proposer", eb.Ended(isv, direct(), "EXPIRED", evTime), marketplace.KindAgreementEnded, "Proposer"},
		{"ended manufacturer", eb.Ended(isv, cppo(), "CANCELLED", evTime), marketplace.KindAgreementEnded, "Manufacturer"},
		{"license updated", eb.LicenseUpdated(isv, direct(), arn, evTime), marketplace.KindLicenseUpdated, "Manufacturer"},
		{"license deprovisioned", eb.LicenseDeprovisioned(isv, cppo(), arn, evTime), marketplace.KindLicenseDeprovisioned, "Manufacturer"},

		{"offer released is informational", custom("Offer Released", marketplace.SourceCatalog), marketplace.KindInformational, ""},
		{"offer set released is informational", custom("OfferSet Released", marketplace.SourceCatalog), marketplace.KindInformational, ""},
		{"change set succeeded is informational", eb.Custom("Change Set Succeeded", marketplace.SourceCatalog, isv, evTime,
			map[string]any{"Catalog": "AWSMarketplace", "ChangeSetId": "cs-1", "StartTime": "2026-03-02T15:00:00Z", "EndTime": "2026-03-02T15:04:00Z"}),
			marketplace.KindInformational, ""},
		{"change set failed is informational", custom("Change Set Failed", marketplace.SourceCatalog), marketplace.KindInformational, ""},
		{"change set cancelled is informational", custom("Change Set Cancelled", marketplace.SourceCatalog), marketplace.KindInformational, ""},
		{"security report is informational", custom("Products Security Report Created", marketplace.SourceCatalog), marketplace.KindInformational, ""},
		{"disbursement paused", custom("Disbursement Paused", marketplace.SourceBilling), marketplace.KindDisbursementPaused, ""},
		{"agreement ending", eb.Custom("Purchase Agreement Ending - Proposer", marketplace.SourceAgreement, isv, evTime,
			map[string]any{"agreement": map[string]any{"id": "agmt-x", "startTime": "2026-03-02T15:04:05Z", "endTime": "2027-03-01T23:59:59Z",
				"status": "ACTIVE", "daysBeforeEndTime": 30, "autoRenewalEnabled": true}}),
			marketplace.KindAgreementEnding, "Proposer"},
		{"advisory issued", custom("Purchase Agreement Advisory Issued - Manufacturer", marketplace.SourceAgreement), marketplace.KindAdvisoryIssued, "Manufacturer"},
		{"advisory resolved", custom("Purchase Agreement Advisory Resolved - Manufacturer", marketplace.SourceAgreement), marketplace.KindAdvisoryResolved, "Manufacturer"},
		{"renewal terms finalized", custom("Purchase Agreement Renewal Terms Finalized - Proposer", marketplace.SourceAgreement), marketplace.KindRenewalTermsFinalized, "Proposer"},
		{"renewal upcoming", custom("Purchase Agreement Renewal Upcoming - Proposer", marketplace.SourceAgreement), marketplace.KindRenewalUpcoming, "Proposer"},
		{"cancellation request", eb.Custom("Agreement Cancellation Request Approved - Proposer", marketplace.SourceAgreement, isv, evTime,
			map[string]any{"agreement": map[string]any{"id": "agmt-x", "acceptorId": buyer, "productId": "prod-1", "offerId": "offer-1"},
				"agreementCancellationRequest": map[string]any{"id": "acr-1", "statusCode": "APPROVED"}}),
			marketplace.KindCancellationRequest, "Proposer"},
		{"cancellation request for manufacturer", eb.Custom("Agreement Cancellation Request Pending Approval - Manufacturer", marketplace.SourceAgreement, isv, evTime,
			map[string]any{"agreement": map[string]any{"id": "agmt-x"}, "agreementCancellationRequest": map[string]any{"id": "acr-1"}}),
			marketplace.KindCancellationRequest, "Manufacturer"},
		{"billing adjustment", eb.Custom("Purchase Agreement Billing Adjustment Completed - Proposer", marketplace.SourceAgreement, isv, evTime,
			map[string]any{"agreement": map[string]any{"id": "agmt-x"}, "billingAdjustmentRequest": map[string]any{"id": "ba-1"}}),
			marketplace.KindBillingAdjustment, "Proposer"},
		{"cancellation request for the buyer is unknown", custom("Agreement Cancellation Request Approved - Acceptor", marketplace.SourceAgreement), marketplace.KindUnknown, ""},

		{"unknown detail-type", custom("Something New", marketplace.SourceAgreement), marketplace.KindUnknown, ""},
		{"buyer twin is unknown", custom("Purchase Agreement Created - Acceptor", marketplace.SourceAgreement), marketplace.KindUnknown, ""},
		{"created without role suffix is unknown", custom("Purchase Agreement Created", marketplace.SourceAgreement), marketplace.KindUnknown, ""},
		{"license updated for proposer is unknown", custom("License Updated - Proposer", marketplace.SourceAgreement), marketplace.KindUnknown, ""},
		{"agreement event from another source is unknown", custom("Purchase Agreement Created - Proposer", marketplace.SourceCatalog), marketplace.KindUnknown, ""},
		{"informational type from a foreign source is unknown", custom("Offer Released", "my.app"), marketplace.KindUnknown, ""},
		{"detail-type is case sensitive", custom("purchase agreement created - proposer", marketplace.SourceAgreement), marketplace.KindUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := mustParse(t, tt.body)
			if ev.Kind != tt.kind || ev.Fact.Kind != tt.kind {
				t.Errorf("kind = %q (fact %q), want %q", ev.Kind, ev.Fact.Kind, tt.kind)
			}
			// The role of an unknown detail-type is not interpreted.
			if tt.kind != marketplace.KindUnknown && ev.Fact.Role != tt.role {
				t.Errorf("role = %q, want %q", ev.Fact.Role, tt.role)
			}
			if ev.ID == "" || ev.Fact.EventID != ev.ID {
				t.Errorf("id = %q, fact event id = %q", ev.ID, ev.Fact.EventID)
			}
			if ev.RequestID == "" {
				t.Error("requestId not captured")
			}
			if !ev.Time.Equal(evTime) || !ev.Fact.Time.Equal(evTime) {
				t.Errorf("time = %v, want %v", ev.Time, evTime)
			}
			if string(ev.Body) != string(tt.body) {
				t.Error("body is not kept verbatim")
			}
		})
	}
}

func TestParseEventBridgeFields(t *testing.T) {
	t.Parallel()
	t.Run("created proposer carries the agreement", func(t *testing.T) {
		t.Parallel()
		a := direct()
		a.StartTime = evTime.Add(48 * time.Hour)
		f := mustParse(t, eb.Created(isv, a, evTime)).Fact
		want := marketplace.Fact{EventID: f.EventID, Kind: marketplace.KindAgreementCreated, Time: evTime, Role: "Proposer",
			AgreementID: a.ID, Intent: "NEW", Status: "ACTIVE", AcceptanceTime: &a.AcceptanceTime, StartTime: &a.StartTime,
			EndTime: &a.EndTime, AcceptorAccountID: buyer, ProposerAccountID: isv, ReceiverAccountID: isv, OfferID: "offer-1",
			ProductID: "prod-1", ProductTitle: "Widget"}
		if !reflect.DeepEqual(f, want) {
			t.Errorf("fact:\n got %s\nwant %s", js(f), js(want))
		}
	})
	t.Run("amended carries auto-renewal and the previous agreement", func(t *testing.T) {
		t.Parallel()
		a := cppo()
		off := false
		a.AutoRenewal, a.PreviousAgreementID = &off, "agmt-old"
		f := mustParse(t, eb.Amended(isv, a, evTime)).Fact
		// The Manufacturer variant a CPPO's ISV gets has no autoRenewalEnabled
		// (AWS's example, seller guide notifications-eventbridge); the
		// Proposer variant has.
		if f.Intent != marketplace.IntentAmend || f.PreviousAgreementID != "agmt-old" || f.AutoRenewal != nil {
			t.Errorf("fact = %s", js(f))
		}
		direct := a
		direct.ResaleAuthorizationID = ""
		if f := mustParse(t, eb.Amended(isv, direct, evTime)).Fact; f.AutoRenewal == nil || *f.AutoRenewal {
			t.Errorf("Proposer fact = %s", js(f))
		}
		if f.ResaleAuthorizationID != "resaleauthz-1" || f.ProposerAccountID != partner {
			t.Errorf("resale %q proposer %q", f.ResaleAuthorizationID, f.ProposerAccountID)
		}
	})
	t.Run("ended has no times", func(t *testing.T) {
		t.Parallel()
		f := mustParse(t, eb.Ended(isv, direct(), "EXPIRED", evTime)).Fact
		if f.Status != "EXPIRED" || f.StartTime != nil || f.EndTime != nil || f.LicenseArn != "" {
			t.Errorf("fact = %s", js(f))
		}
	})
	t.Run("license updated carries arn and product code", func(t *testing.T) {
		t.Parallel()
		arn := eb.LicenseArn(buyer, licID)
		f := mustParse(t, eb.LicenseUpdated(isv, direct(), arn, evTime)).Fact
		if f.LicenseArn != arn || f.ProductCode != "code1" || f.AgreementID != "agmt-direct" || f.AcceptorAccountID != buyer {
			t.Errorf("fact = %s", js(f))
		}
	})
	t.Run("intent and status are upper-cased", func(t *testing.T) {
		t.Parallel()
		body := mutate(t, eb.Created(isv, direct(), evTime), func(m map[string]any) {
			ag := detail(m)["agreement"].(map[string]any)
			ag["intent"], ag["status"] = "renew", "active"
		})
		f := mustParse(t, body).Fact
		if f.Intent != "RENEW" || f.Status != "ACTIVE" {
			t.Errorf("intent %q status %q", f.Intent, f.Status)
		}
	})
	t.Run("times are normalised to UTC", func(t *testing.T) {
		t.Parallel()
		body := mutate(t, eb.Created(isv, direct(), evTime), func(m map[string]any) {
			m["time"] = "2026-03-02T16:04:05.5+01:00"
		})
		ev := mustParse(t, body)
		want := evTime.Add(500 * time.Millisecond)
		if !ev.Time.Equal(want) || ev.Time.Location() != time.UTC {
			t.Errorf("time = %v, want %v in UTC", ev.Time, want)
		}
	})
	t.Run("documented examples parse", func(t *testing.T) {
		t.Parallel()
		for _, body := range docExamples {
			ev := mustParse(t, []byte(body))
			if ev.Fact.AgreementID != "agmt-EXAMPLE0000000000000000001" || ev.Fact.ReceiverAccountID != isv {
				t.Errorf("%s: fact = %s", ev.DetailType, js(ev.Fact))
			}
		}
	})
}

func TestParseEventBridgeResaleAuthorization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value any // nil deletes the key; "null" writes JSON null
		want  string
	}{
		{"id null is a direct sale", map[string]any{"id": nil}, ""},
		{"id value is CPPO", map[string]any{"id": "resaleauthz-42"}, "resaleauthz-42"},
		{"object null", "null", ""},
		{"absent", nil, ""},
		{"empty object", map[string]any{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := mutate(t, eb.Created(isv, direct(), evTime), func(m map[string]any) {
				switch tt.value {
				case nil:
					delete(detail(m), "resaleAuthorization")
				case "null":
					detail(m)["resaleAuthorization"] = nil
				default:
					detail(m)["resaleAuthorization"] = tt.value
				}
			})
			if got := mustParse(t, body).Fact.ResaleAuthorizationID; got != tt.want {
				t.Errorf("resaleAuthorizationId = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("id of the wrong type is rejected", func(t *testing.T) {
		t.Parallel()
		body := mutate(t, eb.Created(isv, direct(), evTime), func(m map[string]any) {
			detail(m)["resaleAuthorization"] = map[string]any{"id": 7}
		})
		if _, err := marketplace.ParseEventBridge(body); marketplace.ErrorCode(err) != marketplace.EInvalid {
			t.Errorf("err = %v, want %s", err, marketplace.EInvalid)
		}
	})
}

func TestParseEventBridgeRejects(t *testing.T) {
	t.Parallel()
	arn := eb.LicenseArn(buyer, licID)
	created := eb.Created(isv, direct(), evTime)
	without := func(body []byte, key string) []byte {
		return mutate(t, body, func(m map[string]any) { delete(m, key) })
	}
	set := func(body []byte, key string, v any) []byte {
		return mutate(t, body, func(m map[string]any) { m[key] = v })
	}
	setAgreement := func(body []byte, key string, v any) []byte {
		return mutate(t, body, func(m map[string]any) {
			ag := detail(m)["agreement"].(map[string]any)
			if v == nil {
				delete(ag, key)
			} else {
				ag[key] = v
			}
		})
	}
	withLicense := func(body []byte, v any) []byte {
		return mutate(t, body, func(m map[string]any) { detail(m)["license"] = v })
	}
	huge := set(created, "padding", strings.Repeat("x", marketplace.MaxEventSize))
	tests := []struct {
		name string
		body []byte
		code string
		msg  string // substring of the user-facing message
	}{
		{"empty body", nil, marketplace.EInvalid, "not valid JSON"},
		{"malformed JSON", []byte(`{"id":`), marketplace.EInvalid, "not valid JSON"},
		{"not an object", []byte(`["a"]`), marketplace.EInvalid, "not valid JSON"},
		{"JSON null", []byte(`null`), marketplace.EInvalid, "no id"},
		{"trailing object", append(append([]byte{}, created...), `{}`...), marketplace.EInvalid, "trailing data"},
		{"trailing garbage", append(append([]byte{}, created...), " x"...), marketplace.EInvalid, "trailing data"},
		{"trailing closing brace", append(append([]byte{}, created...), '}'), marketplace.EInvalid, "trailing data"},
		{"trailing closing bracket", append(append([]byte{}, created...), "\n]"...), marketplace.EInvalid, "trailing data"},
		{"trailing non-JSON space", append(append([]byte{}, created...), "\u00a0"...), marketplace.EInvalid, "trailing data"},
		{"missing id", without(created, "id"), marketplace.EInvalid, "no id"},
		{"empty id", set(created, "id", ""), marketplace.EInvalid, "no id"},
		{"id of the wrong type", set(created, "id", 12), marketplace.EInvalid, "not valid JSON"},
		{"missing detail-type", without(created, "detail-type"), marketplace.EInvalid, "no detail-type"},
		{"missing source", without(created, "source"), marketplace.EInvalid, "no source"},
		{"overlong id", set(created, "id", strings.Repeat("a", 257)), marketplace.EInvalid, "too long"},
		{"missing time", without(created, "time"), marketplace.EInvalid, "invalid time"},
		{"time not RFC 3339", set(created, "time", "2026-03-02 15:04:05"), marketplace.EInvalid, "invalid time"},
		{"time out of range", set(created, "time", "2026-13-02T15:04:05Z"), marketplace.EInvalid, "invalid time"},
		{"time without zone", set(created, "time", "2026-03-02T15:04:05"), marketplace.EInvalid, "invalid time"},
		{"time before year 0 in UTC", set(created, "time", "0000-01-01T00:00:00+01:00"), marketplace.EInvalid, "invalid time"},
		{"time after year 9999 in UTC", set(created, "time", "9999-12-31T23:00:00-05:00"), marketplace.EInvalid, "invalid time"},
		{"agreement end time after year 9999 in UTC", setAgreement(created, "endTime", "9999-12-31T23:59:59-00:01"), marketplace.EInvalid, "invalid agreement time"},
		{"bad agreement start time", setAgreement(created, "startTime", "tomorrow"), marketplace.EInvalid, "invalid agreement time"},
		{"bad agreement acceptance time", setAgreement(created, "acceptanceTime", "2026-02-30T00:00:00Z"), marketplace.EInvalid, "invalid agreement time"},
		{"detail not an object", set(created, "detail", "x"), marketplace.EInvalid, "invalid detail"},
		{"created without agreement id", setAgreement(created, "id", nil), marketplace.EInvalid, "detail.agreement.id is required"},
		{"ended without agreement id", setAgreement(eb.Ended(isv, direct(), "EXPIRED", evTime), "id", nil), marketplace.EInvalid, "detail.agreement.id is required"},
		{"ended with an active status", setAgreement(eb.Ended(isv, direct(), "EXPIRED", evTime), "status", "ACTIVE"), marketplace.EInvalid, "not an ended status"},
		{"license updated without arn", withLicense(eb.LicenseUpdated(isv, direct(), arn, evTime), map[string]any{}), marketplace.EInvalid, "detail.license.arn is required"},
		{"license updated with blank arn", withLicense(eb.LicenseUpdated(isv, direct(), arn, evTime), map[string]any{"arn": "  "}), marketplace.EInvalid, "detail.license.arn is required"},
		{"license deprovisioned without arn", withLicense(eb.LicenseDeprovisioned(isv, direct(), arn, evTime), nil), marketplace.EInvalid, "detail.license.arn is required"},
		{"license updated without agreement id", setAgreement(eb.LicenseUpdated(isv, direct(), arn, evTime), "id", nil), marketplace.EInvalid, "detail.agreement.id is required"},
		{"license deprovisioned without agreement id", setAgreement(eb.LicenseDeprovisioned(isv, direct(), arn, evTime), "id", ""), marketplace.EInvalid, "detail.agreement.id is required"},
		{"overlong agreement id", setAgreement(created, "id", strings.Repeat("a", 2049)), marketplace.EInvalid, "longer than 2048"},
		{"body over the size limit", huge, marketplace.ETooLarge, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := marketplace.ParseEventBridge(tt.body)
			if err == nil {
				t.Fatalf("accepted: %s", js(ev.Fact))
			}
			if got := marketplace.ErrorCode(err); got != tt.code {
				t.Errorf("code = %q, want %q (%v)", got, tt.code, err)
			}
			if msg := marketplace.ErrorMessage(err); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not mention %q", msg, tt.msg)
			}
		})
	}
	t.Run("body at the size limit is accepted", func(t *testing.T) {
		t.Parallel()
		body := append(append([]byte{}, created...), strings.Repeat(" ", marketplace.MaxEventSize-len(created))...)
		if len(body) != marketplace.MaxEventSize {
			t.Fatalf("len = %d", len(body))
		}
		mustParse(t, body)
	})
	t.Run("informational event without agreement is accepted", func(t *testing.T) {
		t.Parallel()
		mustParse(t, eb.Custom("Offer Released", marketplace.SourceCatalog, isv, evTime, nil))
	})
}

func TestLicenseID(t *testing.T) {
	t.Parallel()
	// The three spellings the reference documents for one license.
	spellings := []struct{ name, arn string }{
		{"ResolveCustomer form", "arn:aws:license-manager::" + buyer + ":license:" + licID},
		{"slash form", "arn:aws:license-manager::" + buyer + ":license/" + licID},
		{"EventBridge doc example form", "aws:license-manager:us-east-1:" + buyer + ":" + licID},
		{"builder", eb.LicenseArn(buyer, licID)},
		{"bare id", licID},
		{"padded", "  arn:aws:license-manager::" + buyer + ":license:" + licID + "\n"},
		{"space after separator", "arn:aws:license-manager::" + buyer + ":license: " + licID},
	}
	for _, s := range spellings {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			if got := marketplace.LicenseID(s.arn); got != licID {
				t.Errorf("LicenseID(%q) = %q, want %q", s.arn, got, licID)
			}
		})
	}
	t.Run("every spelling in a License event gives the same id", func(t *testing.T) {
		t.Parallel()
		for _, s := range spellings[:3] {
			f := mustParse(t, eb.LicenseUpdated(isv, direct(), s.arn, evTime)).Fact
			if f.LicenseArn != s.arn {
				t.Errorf("licenseArn = %q, want it kept as sent %q", f.LicenseArn, s.arn)
			}
			if got := marketplace.LicenseID(f.LicenseArn); got != licID {
				t.Errorf("LicenseID(%q) = %q", f.LicenseArn, got)
			}
		}
	})
	t.Run("empty stays empty", func(t *testing.T) {
		t.Parallel()
		if got := marketplace.LicenseID(""); got != "" {
			t.Errorf("got %q", got)
		}
	})
}

func TestParseSNSAction(t *testing.T) {
	t.Parallel()
	const topic = "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-code1"
	ts := time.Date(2026, 3, 2, 10, 4, 5, 0, time.FixedZone("EST", -5*3600))
	tests := []struct {
		name      string
		message   string
		kind      marketplace.EventKind
		offer     string
		freeTrial bool
	}{
		{"subscribe success", `{"action":"subscribe-success","customer-identifier":"cust1","product-code":"code1","offer-identifier":"offer-1","isFreeTrialTermPresent":"false"}`,
			marketplace.KindSubscribeSuccess, "offer-1", false},
		{"subscribe success with free trial as string", `{"action":"subscribe-success","customer-identifier":"cust1","product-code":"code1","isFreeTrialTermPresent":"true"}`,
			marketplace.KindSubscribeSuccess, "", true},
		{"free trial string is case insensitive", `{"action":"subscribe-success","customer-identifier":"cust1","product-code":"code1","isFreeTrialTermPresent":"TRUE"}`,
			marketplace.KindSubscribeSuccess, "", true},
		{"free trial as JSON true", `{"action":"subscribe-success","customer-identifier":"cust1","product-code":"code1","isFreeTrialTermPresent":true}`,
			marketplace.KindSubscribeSuccess, "", true},
		{"free trial as JSON false", `{"action":"subscribe-success","customer-identifier":"cust1","product-code":"code1","isFreeTrialTermPresent":false}`,
			marketplace.KindSubscribeSuccess, "", false},
		{"free trial of another type is false", `{"action":"subscribe-success","customer-identifier":"cust1","product-code":"code1","isFreeTrialTermPresent":1}`,
			marketplace.KindSubscribeSuccess, "", false},
		{"subscribe fail", `{"action":"subscribe-fail","customer-identifier":"cust1","product-code":"code1","offer-identifier":"offer-2","isFreeTrialTermPresent":"false"}`,
			marketplace.KindSubscribeFail, "offer-2", false},
		{"unsubscribe pending", `{"action":"unsubscribe-pending","customer-identifier":"cust1","product-code":"code1"}`,
			marketplace.KindUnsubscribePending, "", false},
		{"unsubscribe success", `{"action":"unsubscribe-success","customer-identifier":"cust1","product-code":"code1"}`,
			marketplace.KindUnsubscribeSuccess, "", false},
		{"entitlement updated", `{"action":"entitlement-updated","customer-identifier":"cust1","product-code":"code1"}`,
			marketplace.KindEntitlementUpdated, "", false},
		{"unknown action", `{"action":"subscribe-paused","customer-identifier":"cust1","product-code":"code1"}`,
			marketplace.KindUnknown, "", false},
		{"unknown action needs no customer", `{"action":"something-new"}`, marketplace.KindUnknown, "", false},
		{"action is case sensitive", `{"action":"Subscribe-Success","customer-identifier":"cust1","product-code":"code1"}`,
			marketplace.KindUnknown, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := marketplace.ParseSNSAction("msg-1", topic, tt.message, ts)
			if err != nil {
				t.Fatalf("ParseSNSAction: %v", err)
			}
			if ev.Kind != tt.kind || ev.Fact.Kind != tt.kind {
				t.Errorf("kind = %q, want %q", ev.Kind, tt.kind)
			}
			if ev.ID != "msg-1" || ev.Fact.EventID != "msg-1" {
				t.Errorf("id = %q / %q", ev.ID, ev.Fact.EventID)
			}
			if !ev.Time.Equal(ts) || ev.Time.Location() != time.UTC || !ev.Fact.Time.Equal(ts) {
				t.Errorf("time = %v, want %v in UTC", ev.Time, ts)
			}
			if ev.Source != "aws.sns:"+topic || string(ev.Body) != tt.message {
				t.Errorf("source %q body %q", ev.Source, ev.Body)
			}
			if ev.Fact.OfferID != tt.offer || ev.Fact.FreeTrial != tt.freeTrial {
				t.Errorf("offer %q freeTrial %v, want %q %v", ev.Fact.OfferID, ev.Fact.FreeTrial, tt.offer, tt.freeTrial)
			}
			if tt.kind != marketplace.KindUnknown && (ev.Fact.CustomerIdentifier != "cust1" || ev.Fact.ProductCode != "code1") {
				t.Errorf("customer %q product %q", ev.Fact.CustomerIdentifier, ev.Fact.ProductCode)
			}
			if ev.Fact.LicenseArn != "" || ev.Fact.AgreementID != "" {
				t.Error("an SNS action carries no license or agreement")
			}
		})
	}

	rejects := []struct{ name, message, msg string }{
		{"missing customer identifier", `{"action":"subscribe-success","product-code":"code1"}`, "lacks customer-identifier"},
		{"empty customer identifier", `{"action":"unsubscribe-success","customer-identifier":"","product-code":"code1"}`, "lacks customer-identifier"},
		{"missing product code", `{"action":"entitlement-updated","customer-identifier":"cust1"}`, "product-code"},
		{"not JSON", `subscribe-success`, "not a marketplace action"},
		{"empty message", ``, "not a marketplace action"},
		{"customer identifier of the wrong type", `{"action":"subscribe-success","customer-identifier":5,"product-code":"code1"}`, "not a marketplace action"},
		{"overlong identifier", `{"action":"subscribe-success","customer-identifier":"` + strings.Repeat("c", 256) + `","product-code":"code1"}`, "longer than 255"},
	}
	for _, tt := range rejects {
		t.Run("rejects "+tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := marketplace.ParseSNSAction("msg-1", topic, tt.message, ts)
			if marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Fatalf("err = %v, want code %s", err, marketplace.EInvalid)
			}
			if msg := marketplace.ErrorMessage(err); !strings.Contains(msg, tt.msg) || !strings.Contains(msg, "msg-1") {
				t.Errorf("message %q should mention %q and the message id", msg, tt.msg)
			}
		})
	}
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// docExamples are the examples of section 1.4 of the API reference, verbatim.
var docExamples = []string{`{
  "version": "0",
  "id": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
  "detail-type": "Purchase Agreement Created - Proposer",
  "source": "aws.agreement-marketplace",
  "account": "111122223333",
  "time": "2026-03-02T15:04:05Z",
  "region": "us-east-1",
  "resources": ["arn:aws:aws-marketplace::aws:agreement:agmt-EXAMPLE0000000000000000001"],
  "detail": {
    "requestId": "7c6b5a49-3827-4160-9e8d-7c6b5a493827",
    "catalog": "AWSMarketplace",
    "agreement": {
      "id": "agmt-EXAMPLE0000000000000000001",
      "intent": "NEW",
      "status": "ACTIVE",
      "acceptanceTime": "2026-03-02T15:03:59Z",
      "startTime": "2026-03-02T15:03:59Z",
      "endTime": "2027-03-01T23:59:59Z"
    },
    "resaleAuthorization": { "id": null },
    "acceptor": { "accountId": "444455556666" },
    "proposer": { "accountId": "111122223333" },
    "offer": { "id": "offer-EXAMPLEabcdef1" }
  }
}`, `{
  "version": "0",
  "id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
  "detail-type": "License Updated - Manufacturer",
  "source": "aws.agreement-marketplace",
  "account": "111122223333",
  "time": "2026-03-02T15:04:40Z",
  "region": "us-east-1",
  "resources": ["arn:aws:aws-marketplace::aws:agreement:agmt-EXAMPLE0000000000000000001"],
  "detail": {
    "requestId": "91a0b1c2-d3e4-4f50-a617-28394a5b6c7d",
    "catalog": "AWSMarketplace",
    "agreement": { "id": "agmt-EXAMPLE0000000000000000001" },
    "product": { "code": "examplecode1234567890abcd", "id": "prod-EXAMPLEaaaaa" },
    "license": { "arn": "arn:aws:license-manager::444455556666:license:l-0123456789abcdef0123456789abcdef" },
    "acceptor": { "accountId": "444455556666" },
    "proposer": { "accountId": "111122223333" },
    "offer": { "id": "offer-EXAMPLEabcdef1" }
  }
}`, `{
  "version": "0",
  "id": "c0ffee00-1111-4222-8333-444455556666",
  "detail-type": "Purchase Agreement Ended - Proposer",
  "source": "aws.agreement-marketplace",
  "account": "111122223333",
  "time": "2027-03-02T00:00:10Z",
  "region": "us-east-1",
  "resources": ["arn:aws:aws-marketplace::aws:agreement:agmt-EXAMPLE0000000000000000001"],
  "detail": {
    "requestId": "0a1b2c3d-4e5f-4061-8273-948596a7b8c9",
    "catalog": "AWSMarketplace",
    "agreement": { "id": "agmt-EXAMPLE0000000000000000001", "status": "EXPIRED" },
    "resaleAuthorization": { "id": null },
    "acceptor": { "accountId": "444455556666" },
    "proposer": { "accountId": "111122223333" },
    "offer": { "id": "offer-EXAMPLEabcdef1" }
  }
}`}
