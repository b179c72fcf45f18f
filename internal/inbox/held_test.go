package inbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestFutureDatedEventsAreHeld: an event dated far ahead (a skewed or forged
// clock) must not win the folds' "latest event" rules over the real events
// after it; it is kept, listed as held, and applied when its time is near.
func TestFutureDatedEventsAreHeld(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := t0
		l := &inbox.Ledger{DB: db, Now: func() time.Time { return now }}
		r := job.NewRunner(db, job.RunnerOptions{Now: func() time.Time { return now }})
		l.Handlers(r, nil)
		buyer := "121212121212"
		arn := eventbridge.LicenseArn(buyer, "l-hop")
		a, b, c := agreementFixture("agmt-ha", buyer), agreementFixture("agmt-hb", buyer), agreementFixture("agmt-hc", buyer)
		for _, ag := range []eventbridge.Agreement{a, b, c} {
			ingest(t, l, eventbridge.Created(seller, ag, t0.Add(-2*time.Hour)))
		}
		ingest(t, l, eventbridge.LicenseUpdated(seller, a, arn, t0.Add(-2*time.Hour)))
		owner := func() string {
			t.Helper()
			lic, err := l.GetLicense(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			return lic.AgreementID
		}

		forged := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
		res := ingest(t, l, eventbridge.LicenseUpdated(seller, b, arn, forged))
		if res.Status != inbox.StatusHeld || owner() != a.ID {
			t.Fatalf("event dated %s: status %q, license on %s; want held, still on %s", forged, res.Status, owner(), a.ID)
		}
		ingest(t, l, eventbridge.LicenseUpdated(seller, c, arn, t0))
		if owner() != c.ID {
			t.Fatalf("a real event after the forged one: license on %s, want %s", owner(), c.ID)
		}
		// Within the allowed skew is applied at once.
		if res := ingest(t, l, eventbridge.LicenseUpdated(seller, c, arn, t0.Add(inbox.MaxEventSkew))); res.Status != inbox.StatusApplied {
			t.Fatalf("event %s ahead: %q, want applied", inbox.MaxEventSkew, res.Status)
		}

		soon := t0.Add(time.Hour)
		if res := ingest(t, l, eventbridge.LicenseUpdated(seller, a, arn, soon)); res.Status != inbox.StatusHeld {
			t.Fatalf("event an hour ahead: %q, want held", res.Status)
		}
		held, err := l.ListEvents(ctx, inbox.EventFilter{Status: inbox.StatusHeld})
		if err != nil {
			t.Fatal(err)
		}
		if len(held) != 2 {
			t.Fatalf("held events: %d, want 2 (%+v)", len(held), held)
		}
		if st, err := l.Replay(ctx); err != nil || owner() != c.ID {
			t.Fatalf("replay: %+v %v; license on %s, want %s", st, err, owner(), c.ID)
		}
		// drain runs every due job (enrichment fails: no Agreement API here).
		drain := func() {
			for worked := true; worked; {
				worked, _ = r.WorkOne(ctx)
			}
		}
		releases := func() []job.Job {
			js, err := job.List(ctx, db, job.Filter{Kind: inbox.JobReleaseEvent, State: job.StateAvailable})
			if err != nil {
				t.Fatal(err)
			}
			return js
		}
		drain()
		if js := releases(); len(js) != 2 || owner() != c.ID {
			t.Fatalf("before their time: %d release jobs waiting, license on %s; want 2, %s", len(js), owner(), c.ID)
		}

		now = soon.Add(-inbox.MaxEventSkew)
		drain()
		if owner() != a.ID {
			t.Fatalf("after its time came: license on %s, want %s", owner(), a.ID)
		}
		held, _ = l.ListEvents(ctx, inbox.EventFilter{Status: inbox.StatusHeld})
		if len(held) != 1 || !held[0].EventTime.Equal(forged) {
			t.Fatalf("still held: %+v, want only the forged event", held)
		}
		if js := releases(); len(js) != 1 || !js[0].RunAt.Equal(forged.Add(-inbox.MaxEventSkew)) {
			t.Fatalf("release jobs waiting: %+v, want the forged event's", js)
		}
	})
}
