package marketplace_test

import (
	"testing"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
)

// TestFoldLifecycle: a request's state only moves forward whatever order its
// facts come in, fields missing from an event come from Concord's own
// observation, and the outlook keeps the nearest Ending notice and whether
// an advisory is still open.
func TestFoldLifecycle(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	fact := func(id string, k marketplace.EventKind, m int, lf marketplace.LifecycleFact) marketplace.Fact {
		return marketplace.Fact{EventID: id, Kind: k, Time: at(m), AgreementID: "agmt-1", Lifecycle: &lf}
	}
	days := func(d int) *int { return &d }
	observed := fact("observed", marketplace.KindCancellationRequest, 0, marketplace.LifecycleFact{ObjectID: "acr-1", Status: marketplace.CancellationPendingApproval,
		ReasonCode: "TEST_AGREEMENT", Description: "QA order"})
	pendingEvent := fact("ev-pending", marketplace.KindCancellationRequest, 1, marketplace.LifecycleFact{ObjectID: "acr-1", Status: marketplace.CancellationPendingApproval})
	approved := fact("ev-approved", marketplace.KindCancellationRequest, 2, marketplace.LifecycleFact{ObjectID: "acr-1", Status: marketplace.CancellationApproved,
		StatusMessage: "buyer agreed"})
	for _, order := range [][]marketplace.Fact{{observed, pendingEvent, approved}, {approved, pendingEvent, observed}, {pendingEvent, approved, observed, approved}} {
		lc := marketplace.FoldLifecycle("agmt-1", order)
		if len(lc.Cancellations) != 1 {
			t.Fatalf("%d cancellation requests, want 1", len(lc.Cancellations))
		}
		c := lc.Cancellations[0]
		if c.Status != marketplace.CancellationApproved || c.StatusMessage != "buyer agreed" || c.ReasonCode != "TEST_AGREEMENT" || c.Description != "QA order" {
			t.Errorf("folded %+v, want APPROVED with the observed reason and message", c)
		}
	}
	outlook := []marketplace.Fact{
		fact("e90", marketplace.KindAgreementEnding, 10, marketplace.LifecycleFact{DaysBeforeEnd: days(90)}),
		fact("e30", marketplace.KindAgreementEnding, 30, marketplace.LifecycleFact{DaysBeforeEnd: days(30)}),
		fact("e60", marketplace.KindAgreementEnding, 20, marketplace.LifecycleFact{DaysBeforeEnd: days(60)}),
		fact("issued", marketplace.KindAdvisoryIssued, 5, marketplace.LifecycleFact{}),
		fact("resolved", marketplace.KindAdvisoryResolved, 6, marketplace.LifecycleFact{}),
		fact("other", marketplace.KindAgreementEnding, 1, marketplace.LifecycleFact{DaysBeforeEnd: days(1)}),
	}
	outlook[5].AgreementID = "agmt-2" // another agreement's notice is not this one's
	o := marketplace.FoldLifecycle("agmt-1", outlook).Outlook
	if o == nil || *o.DaysBeforeEnd != 30 || o.AdvisoryOpen || o.AdvisoryResolvedAt == nil {
		t.Fatalf("outlook %+v, want 30 days and the advisory resolved", o)
	}
	reopened := append(outlook, fact("issued-again", marketplace.KindAdvisoryIssued, 40, marketplace.LifecycleFact{}))
	if o := marketplace.FoldLifecycle("agmt-1", reopened).Outlook; !o.AdvisoryOpen {
		t.Errorf("an advisory issued after the last resolution is not open: %+v", o)
	}
	if lc := marketplace.FoldLifecycle("agmt-1", nil); lc.Outlook != nil || lc.Cancellations != nil {
		t.Errorf("no facts folded into %+v", lc)
	}
}
