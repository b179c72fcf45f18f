package inbox_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// An event that changes nothing the folds compute (AWS sends License Updated
// again when only a license's entitlements changed) leaves the agreement and
// license rows as they were, updated_at included, yet is applied, and the
// license hooks still hear of it (entitlements are refreshed from them) with
// the row as it stands before and after.
func TestUnchangedFoldStillAppliesAndRunsHooks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := t0
		l := &inbox.Ledger{DB: db, Now: func() time.Time { return now }}
		type call struct {
			before *marketplace.License
			after  marketplace.License
		}
		var mu sync.Mutex
		var calls []call
		l.LicenseHooks = []inbox.LicenseHook{func(_ context.Context, _ *store.Tx, before *marketplace.License, after marketplace.License, _ time.Time) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, call{before, after})
			return nil
		}}
		a := agreementFixture("agmt-same", "121212121212")
		arn := eventbridge.LicenseArn(a.AcceptorAccountID, "l-same")
		ingest(t, l, eventbridge.Created(seller, a, t0.Add(-time.Hour)))
		ingest(t, l, eventbridge.LicenseUpdated(seller, a, arn, t0.Add(-time.Hour)))
		updatedAt := func() (agreement, license int64) {
			t.Helper()
			err := db.Read(ctx, func(tx *store.Tx) error {
				if err := tx.QueryRow(ctx, `SELECT updated_at FROM agreements WHERE agreement_id = ?`, a.ID).Scan(&agreement); err != nil {
					return err
				}
				return tx.QueryRow(ctx, `SELECT updated_at FROM licenses WHERE license_id = ?`, "l-same").Scan(&license)
			})
			if err != nil {
				t.Fatal(err)
			}
			return agreement, license
		}
		agreementAt, licenseAt := updatedAt()
		if agreementAt != store.Millis(t0) || licenseAt != store.Millis(t0) {
			t.Fatalf("first fold: updated_at %d and %d, want %d", agreementAt, licenseAt, store.Millis(t0))
		}

		now = t0.Add(time.Minute)
		mu.Lock()
		calls = nil
		mu.Unlock()
		res := ingest(t, l, eventbridge.LicenseUpdated(seller, a, arn, t0.Add(-time.Hour)))
		if res.Duplicate || res.Status != inbox.StatusApplied {
			t.Fatalf("second License Updated: %+v, want applied", res)
		}
		if ag, li := updatedAt(); ag != agreementAt || li != licenseAt {
			t.Errorf("rows written again for an event that changed nothing: updated_at %d and %d, want %d and %d", ag, li, agreementAt, licenseAt)
		}
		mu.Lock()
		got := calls
		mu.Unlock()
		if len(got) != 1 || got[0].before == nil || got[0].before.State != marketplace.LicenseActive ||
			got[0].after.State != marketplace.LicenseActive || !got[0].after.UpdatedAt.Equal(store.FromMillis(licenseAt)) {
			t.Fatalf("license hook calls for an unchanged license: %+v, want one, active before and after, updated_at as stored", got)
		}

		// A change is written, with its time.
		now = t0.Add(2 * time.Minute)
		ingest(t, l, eventbridge.Ended(seller, a, "CANCELLED", t0))
		if ag, li := updatedAt(); ag != store.Millis(now) || li != store.Millis(now) {
			t.Errorf("after Ended: updated_at %d and %d, want %d", ag, li, store.Millis(now))
		}
		lic, err := l.GetLicense(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		if lic.State != marketplace.LicenseEnding {
			t.Fatalf("after Ended: license %s, want ending", lic.State)
		}
	})
}

// Ingest answers with the status the event is stored with, in any order of
// a history: licenses before their agreements (deferred, then applied by
// the agreement's fold), renewals, ends and deprovisionings.
func TestIngestAnswersStoredStatus(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(db, t0)
		stream := inboxtest.Stream(t0, 4, 7)
		rand.New(rand.NewPCG(7, 19)).Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
		deferred := 0
		for _, body := range stream {
			res := ingest(t, l, body)
			var stored string
			if err := db.Read(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, `SELECT status FROM inbox_events WHERE id = ?`, res.EventID).Scan(&stored)
			}); err != nil {
				t.Fatal(err)
			}
			if res.Status != stored {
				t.Fatalf("event %s answered %q, stored %q", res.EventID, res.Status, stored)
			}
			if stored == inbox.StatusDeferred {
				deferred++
			}
		}
		if deferred == 0 {
			t.Fatal("no event of the shuffled history was deferred: the test checks nothing of that case")
		}
	})
}
