package emulator_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestEndingAndRenewalUpcoming: a 12-month agreement that renews
// automatically gets Purchase Agreement Ending at 180, 120, 90, 60 and 30
// days before its end, each once, and Renewal Upcoming at its lockout.
func TestEndingAndRenewalUpcoming(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	var o struct{ OfferID string }
	b.control(t, "POST", "/control/offers", map[string]any{"productId": p.ProductID, "buyerAccounts": []string{"444455556666"},
		"quantities": map[string]int64{"seats": 3}, "duration": "P12M", "autoRenew": true}, &o)
	var a agreement
	b.control(t, "POST", "/control/accept", map[string]any{"buyer": "444455556666", "offerId": o.OfferID}, &a)
	n := b.eventCount(t)

	// 190 days on: the 180-day notice only.
	b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": (190 * 24 * time.Hour).String()}, &struct{}{})
	evs := b.eventsSince(t, n)
	if got := detailTypes(evs); got != "Purchase Agreement Ending - Proposer" {
		t.Fatalf("after 190 days: %s", got)
	}
	var d struct {
		Agreement struct {
			ID                 string
			DaysBeforeEndTime  int
			AutoRenewalEnabled bool
			Status             string
		}
		RenewalSummary struct{ LockoutStartTime string }
	}
	json.Unmarshal(evs[0].Detail, &d)
	if d.Agreement.ID != a.AgreementID || d.Agreement.DaysBeforeEndTime != 180 || !d.Agreement.AutoRenewalEnabled || d.Agreement.Status != "ACTIVE" ||
		d.RenewalSummary.LockoutStartTime == "" || len(evs[0].Resources) != 1 {
		t.Fatalf("ending event %s", evs[0].Detail)
	}
	// The clock moving again within the same window sends nothing new.
	n = b.eventCount(t)
	b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "24h"}, &struct{}{})
	if got := detailTypes(b.eventsSince(t, n)); got != "" {
		t.Fatalf("a second tick in the window: %s", got)
	}
	// To a day before the end: 120, 90, 60, 30 and, at the 30-day lockout, Renewal Upcoming.
	b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": (173 * 24 * time.Hour).String()}, &struct{}{})
	evs = b.eventsSince(t, n)
	var days []int
	upcoming := 0
	for _, e := range evs {
		switch e.DetailType {
		case "Purchase Agreement Ending - Proposer":
			json.Unmarshal(e.Detail, &d)
			days = append(days, d.Agreement.DaysBeforeEndTime)
		case "Purchase Agreement Renewal Upcoming - Proposer":
			upcoming++
			var r struct {
				RenewalSummary struct {
					LockoutReached bool
					Tcv, Currency  string
				}
			}
			json.Unmarshal(e.Detail, &r)
			if !r.RenewalSummary.LockoutReached || r.RenewalSummary.Tcv != "120.00" || r.RenewalSummary.Currency != "USD" {
				t.Fatalf("renewal upcoming %s", e.Detail)
			}
		default:
			t.Fatalf("unexpected %s", e.DetailType)
		}
	}
	if got, _ := json.Marshal(days); string(got) != "[120,90,60,30]" || upcoming != 1 {
		t.Fatalf("notices %s, %d renewal upcoming", got, upcoming)
	}
}

func TestAdvisoryAndDisbursementPaused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	a := b.accept(t, "444455556666", p.ProductID, nil)
	n := b.eventCount(t)
	if code := b.control(t, "POST", "/control/agreements/"+a.AgreementID+"/advisory", map[string]any{"resolve": true}, nil); code != 409 {
		t.Fatalf("resolving no advisory: %d", code)
	}
	b.control(t, "POST", "/control/agreements/"+a.AgreementID+"/advisory", nil, &struct{}{})
	if code := b.control(t, "POST", "/control/agreements/"+a.AgreementID+"/advisory", nil, nil); code != 409 {
		t.Fatalf("a second open advisory: %d", code)
	}
	b.control(t, "POST", "/control/agreements/"+a.AgreementID+"/advisory", map[string]any{"resolve": true}, &struct{}{})
	if code := b.control(t, "POST", "/control/disbursement-paused", map[string]any{"paymentInstrumentArn": "not an arn"}, nil); code != 400 {
		t.Fatalf("a bad ARN: %d", code)
	}
	b.control(t, "POST", "/control/disbursement-paused", map[string]any{}, &struct{}{})
	evs := b.eventsSince(t, n)
	if got := detailTypes(evs); got != "Purchase Agreement Advisory Issued - Manufacturer,Purchase Agreement Advisory Resolved - Manufacturer,Disbursement Paused" {
		t.Fatalf("events: %s", got)
	}
	if !strings.Contains(string(evs[0].Detail), `"issuedAt"`) || !strings.Contains(string(evs[1].Detail), `"resolvedAt"`) ||
		!strings.Contains(string(evs[0].Detail), a.AgreementID) || evs[2].Source != "aws.marketplace" {
		t.Fatalf("details: %s / %s / %+v", evs[0].Detail, evs[1].Detail, evs[2])
	}
}
