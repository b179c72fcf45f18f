package inbox_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// countingAPI describes every agreement as an active one and counts the calls.
type countingAPI struct{ calls atomic.Int32 }

func (c *countingAPI) DescribeAgreement(_ context.Context, id string) (marketplace.AgreementDetails, error) {
	c.calls.Add(1)
	start := t0.Add(-time.Hour)
	return marketplace.AgreementDetails{Fact: marketplace.Fact{AgreementID: id, Status: marketplace.StatusActive, StartTime: &start,
		AcceptanceTime: &start, AcceptorAccountID: "444455556666", ProductID: "prod-aaa"}}, nil
}

// An agreement learnt from the Agreement API is described once: folding it
// inside the enrichment job must not queue (and so rerun) that same job.
func TestEnrichmentOfAnUnknownAgreementRunsOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := t0
		l := newLedger(db, now)
		l.Now = func() time.Time { return now }
		api := &countingAPI{}
		r := job.NewRunner(db, job.RunnerOptions{Now: func() time.Time { return now }})
		l.Handlers(r, api)
		a := agreementFixture("agmt-unknown-once", "444455556666")
		ingest(t, l, eventbridge.LicenseUpdated(seller, a, eventbridge.LicenseArn("444455556666", "l-once"), t0))
		now = now.Add(time.Hour) // past the enrichment delay
		for range 10 {
			worked, err := r.WorkOne(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !worked {
				break
			}
		}
		if n := api.calls.Load(); n != 1 {
			t.Fatalf("DescribeAgreement called %d times, want 1", n)
		}
		lic, err := l.GetLicense(ctx, "l-once")
		if err != nil || lic.State != marketplace.LicenseActive {
			t.Fatalf("license %+v %v", lic, err)
		}
	})
}

// renewalAPI answers DescribeAgreement with the auto-renewal of its turn; a
// call whose gate is set waits for it first.
type renewalAPI struct {
	autoRenew func() bool
	gate      chan struct{}
	asked     chan struct{}
}

func (r *renewalAPI) DescribeAgreement(_ context.Context, id string) (marketplace.AgreementDetails, error) {
	v := r.autoRenew()
	if r.gate != nil {
		close(r.asked)
		<-r.gate
	}
	start := t0.Add(-time.Hour)
	return marketplace.AgreementDetails{Fact: marketplace.Fact{AgreementID: id, Status: marketplace.StatusActive, StartTime: &start,
		AcceptanceTime: &start, AcceptorAccountID: "444455556666", ProductID: "prod-aaa", AutoRenewal: &v}}, nil
}

// Two runs of one enrichment overlap (the first outlived its job lease, and
// another runner took the job over after AWS's state changed): the answer
// asked for later is the one the ledger keeps, whichever commits last.
func TestEnrichmentKeepsTheLaterAnswer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var clock atomic.Int64
		l := newLedger(db, t0)
		l.Now = func() time.Time { return t0.Add(time.Duration(clock.Add(1)) * time.Second) }
		a := agreementFixture("agmt-overlap", "444455556666")
		on := true
		a.AutoRenewal = &on
		ingest(t, l, eventbridge.Created(seller, a, t0))

		// The first run asks AWS while auto-renewal is still on, then stalls.
		stale := &renewalAPI{autoRenew: func() bool { return true }, gate: make(chan struct{}), asked: make(chan struct{})}
		done := make(chan error, 1)
		go func() { done <- l.Enrich(ctx, stale, "agmt-overlap") }()
		<-stale.asked
		// The buyer turns auto-renewal off; the run that took over asks later.
		if err := l.Enrich(ctx, &renewalAPI{autoRenew: func() bool { return false }}, "agmt-overlap"); err != nil {
			t.Fatal(err)
		}
		close(stale.gate) // the stalled run commits last
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got, err := l.GetAgreement(ctx, "agmt-overlap")
		if err != nil {
			t.Fatal(err)
		}
		if got.AutoRenewal == nil || *got.AutoRenewal {
			t.Fatalf("auto-renewal %v after the later answer said false", got.AutoRenewal)
		}
	})
}
