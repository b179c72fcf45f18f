package inbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestGroupCommit checks Ingest with Batch on: events that arrive together
// share a transaction, and one that fails is answered with its own error
// while the others of its group commit.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(db, t0)
		l.Batch, l.Batchers = inbox.DefaultBatch, 1
		gate, release := make(chan struct{}), make(chan struct{})
		var mu sync.Mutex
		hooked := map[string]int{}
		boom := errors.New("this event's hook fails")
		l.EventHooks = []inbox.EventHook{func(_ context.Context, _ *store.Tx, ev marketplace.Event, _ time.Time) error {
			mu.Lock()
			hooked[ev.ID]++
			mu.Unlock()
			if ev.ID == "gate" {
				close(gate)
				<-release
			}
			if ev.ID == "bad" {
				return boom
			}
			return nil
		}}
		event := func(id string, a eventbridge.Agreement) marketplace.Event {
			ev, err := marketplace.ParseEventBridge(eventbridge.Created(seller, a, t0.Add(-time.Hour)))
			if err != nil {
				t.Fatal(err)
			}
			ev.ID, ev.Fact.EventID = id, id
			return ev
		}
		// The gate's transaction holds the only batcher, so the others queue
		// and then go in one group.
		type answer struct {
			res inbox.Result
			err error
		}
		answers := map[string]chan answer{}
		send := func(ev marketplace.Event) {
			ch := make(chan answer, 1)
			answers[ev.ID] = ch
			go func() {
				res, err := l.Ingest(ctx, inbox.DoorHTTP, ev)
				ch <- answer{res, err}
			}()
		}
		send(event("gate", agreementFixture("agmt-g0", "100000000000")))
		<-gate
		// Queued one after the other, the failing one last: the group
		// stores the good ones before it fails.
		good := []string{"good-1", "good-2", "good-3"}
		for i, id := range append(good, "bad") {
			send(event(id, agreementFixture("agmt-g"+id, "10000000000"+string(rune('1'+i)))))
			deadline := time.Now().Add(5 * time.Second)
			for l.Queued() < i+1 {
				if time.Now().After(deadline) {
					t.Fatalf("%d events queued, want %d", l.Queued(), i+1)
				}
				time.Sleep(time.Millisecond)
			}
		}
		close(release)
		if a := <-answers["gate"]; a.err != nil || a.res.Status != inbox.StatusApplied {
			t.Fatalf("gate: %+v %v", a.res, a.err)
		}
		if a := <-answers["bad"]; !errors.Is(a.err, boom) {
			t.Fatalf("the failing event: %+v %v, want its own error", a.res, a.err)
		}
		for _, id := range good {
			if a := <-answers[id]; a.err != nil || a.res.Status != inbox.StatusApplied {
				t.Fatalf("%s, in a group with a failing event: %+v %v, want applied", id, a.res, a.err)
			}
			// Once in the failed group, once alone.
			mu.Lock()
			n := hooked[id]
			mu.Unlock()
			if n != 2 {
				t.Errorf("%s was stored %d times, want 2 (its group, then alone)", id, n)
			}
			if _, err := l.GetAgreement(ctx, "agmt-g"+id); err != nil {
				t.Errorf("%s answered applied but its agreement is not stored: %v", id, err)
			}
		}
		var n int
		if err := db.Read(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT COUNT(*) FROM inbox_events WHERE id = 'bad'`).Scan(&n)
		}); err != nil || n != 0 {
			t.Fatalf("the failing event is stored (%d, %v)", n, err)
		}
	})
}
