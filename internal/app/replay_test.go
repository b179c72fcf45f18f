package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// A replay after a parser fix (simulated by rewriting stored bodies: what the
// old parser made of them is in the inbox, what the new one reads is in the
// body) rewrites what changed and runs the hooks for it, ends in the ledger
// the fixed events make when ingested afresh, and leaves the rest untouched.
func TestReplayAfterParserFix(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := t0
		ledger := func(db *store.DB) *inbox.Ledger {
			return app.NewServices(db, func() time.Time { return now }, slog.New(slog.DiscardHandler)).Ledger
		}
		// inboxtest.Stream: for buyer i, events 6i to 6i+5 are Created(a),
		// License(a), Created(a-r), Ended(a), License(a-r), Deprovisioned(a).
		fixed := inboxtest.Stream(t0, 3, 7)
		stored := slices.Clone(fixed)
		// The old parser did not know the detail-type of buyer 1's renewal
		// license event (it was flagged) ...
		stored[10] = rewrite(t, fixed[10], func(m map[string]any) { m["detail-type"] = "License Updated - Manufacturer (v0)" })
		// ... and read buyer 2's agreement as ending a year earlier than the
		// new parser does.
		fixed[12] = rewrite(t, fixed[12], func(m map[string]any) {
			m["detail"].(map[string]any)["agreement"].(map[string]any)["endTime"] = t0.AddDate(2, 0, 0).Format(time.RFC3339)
		})
		l := ledger(db)
		for _, body := range stored {
			ingestBody(t, l, body)
		}
		renewal1 := marketplace.LicenseID(eventbridge.LicenseArn("100000700001", "l-s7-1-r"))
		untouched := marketplace.LicenseID(eventbridge.LicenseArn("100000700000", "l-s7-0-r"))
		if n := countRows(t, db, `SELECT COUNT(*) FROM licenses WHERE license_id = ?`, renewal1); n != 0 {
			t.Fatalf("the flagged license event was applied")
		}

		// The fix: the stored bodies are what the new parser reads.
		now = t0.Add(time.Hour)
		for _, i := range []int{10, 12} {
			var env struct{ ID string }
			if err := json.Unmarshal(fixed[i], &env); err != nil {
				t.Fatal(err)
			}
			if err := db.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE inbox_events SET body = ? WHERE id = ?`, string(fixed[i]), env.ID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		st, err := l.Replay(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Events != len(stored) || st.Changed != 2 || st.Flagged != 0 || st.Deferred != 0 {
			t.Fatalf("replay: %+v, want %d events of which 2 changed, none flagged or deferred", st, len(stored))
		}

		// The same ledger as the fixed events ingested afresh.
		ref := storetest.Open(t, db.Dialect())
		now = t0
		rl := ledger(ref)
		for _, body := range fixed {
			ingestBody(t, rl, body)
		}
		if got, want := inboxtest.Snapshot(t, db), inboxtest.Snapshot(t, ref); got != want {
			t.Fatalf("replayed ledger:\n%s\nledger of the fixed events:\n%s", got, want)
		}

		// What changed was written at the replay, with its hooks' effects:
		// the new license is announced as waiting for registration and its
		// entitlements are fetched.
		replayed := store.Millis(t0.Add(time.Hour))
		if n := countRows(t, db, `SELECT COUNT(*) FROM agreements WHERE agreement_id = 'agmt-s7-2' AND end_time = ? AND updated_at = ?`,
			store.Millis(t0.AddDate(2, 0, 0)), replayed); n != 1 {
			t.Errorf("agreement agmt-s7-2 does not end at the fixed time, updated by the replay")
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM licenses WHERE license_id = ? AND state = 'active' AND updated_at = ?`, renewal1, replayed); n != 1 {
			t.Errorf("license %s is not active, written by the replay", renewal1)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM notifications WHERE dedupe_key = ?`, "registration_pending:"+renewal1); n != 1 {
			t.Errorf("no registration_pending notification for %s", renewal1)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM jobs WHERE kind = 'entitlement.refresh' AND args LIKE ?`, "%"+renewal1+"%"); n != 1 {
			t.Errorf("no entitlement refresh queued for %s", renewal1)
		}
		// What the fix did not change was left as it was.
		if n := countRows(t, db, `SELECT COUNT(*) FROM licenses WHERE license_id = ? AND state = 'active' AND updated_at = ?`, untouched, store.Millis(t0)); n != 1 {
			t.Errorf("license %s was rewritten by a replay that does not change it", untouched)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM agreements WHERE updated_at = ?`, replayed); n != 1 {
			t.Errorf("%d agreements rewritten by the replay, want 1", n)
		}

		// A second replay on the same parser changes nothing.
		now = t0.Add(2 * time.Hour)
		before := inboxtest.Snapshot(t, db)
		if st, err := l.Replay(ctx); err != nil || st.Changed != 0 {
			t.Fatalf("second replay: %+v, %v", st, err)
		}
		if after := inboxtest.Snapshot(t, db); after != before {
			t.Fatalf("a second replay changed the ledger:\n%s\nwas\n%s", after, before)
		}
		if n := countRows(t, db, `SELECT (SELECT COUNT(*) FROM agreements WHERE updated_at = ?) + (SELECT COUNT(*) FROM licenses WHERE updated_at = ?)`,
			store.Millis(now), store.Millis(now)); n != 0 {
			t.Errorf("a replay on an unchanged parser rewrote %d rows", n)
		}
	})
}

// rewrite changes an EventBridge body.
func rewrite(t *testing.T, body []byte, change func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ingestBody(t *testing.T, l *inbox.Ledger, body []byte) {
	t.Helper()
	ev, err := marketplace.ParseEventBridge(body)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	if _, err := l.Ingest(context.Background(), inbox.DoorHTTP, ev); err != nil {
		t.Fatalf("ingest: %v", err)
	}
}

func countRows(t *testing.T, db *store.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Read(context.Background(), func(tx *store.Tx) error { return tx.QueryRow(context.Background(), query, args...).Scan(&n) }); err != nil {
		t.Fatal(err)
	}
	return n
}
