package inbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestFoldLater checks the doors with FoldLater, as concord serve runs them:
// the EventBridge door answers once the event is stored and its fold queued;
// the ledger shows it once the folder has run, even if the process that
// accepted it is gone (a new Ledger on the same database folds it); and a
// duplicate, delivered again before or after the fold, is answered as one
// and folded once.
func TestFoldLater(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		accepting := newLedger(db, t0)
		accepting.FoldLater = true
		door := httptest.NewServer(&inbox.EventBridgeReceiver{Ledger: accepting, Secret: "s"})
		defer door.Close()
		post := func(body []byte) inbox.Result {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, door.URL, bytes.NewReader(body))
			req.Header.Set(inbox.DefaultSecretHeader, "s")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var res inbox.Result
			if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&res) != nil {
				t.Fatalf("POST an event: %d", resp.StatusCode)
			}
			return res
		}
		a := agreementFixture("agmt-later", "111122223333")
		created := eventbridge.Created(seller, a, t0.Add(-time.Hour))
		license := eventbridge.LicenseUpdated(seller, a, eventbridge.LicenseArn("111122223333", "l-later"), t0.Add(-time.Hour))

		for _, body := range [][]byte{created, license} {
			if res := post(body); res.Status != inbox.StatusQueued || res.Duplicate {
				t.Fatalf("the door answered %+v, want queued", res)
			}
		}
		if res := post(created); !res.Duplicate {
			t.Fatalf("the same event again, before its fold: %+v, want a duplicate", res)
		}
		if n, err := accepting.FoldQueue(ctx); err != nil || n != 2 {
			t.Fatalf("fold queue: %d (%v), want the 2 events", n, err)
		}
		queued, err := accepting.ListEvents(ctx, inbox.EventFilter{Status: inbox.StatusQueued})
		if err != nil || len(queued) != 2 {
			t.Fatalf("GET /v1/events?status=queued lists %d events (%v), want 2", len(queued), err)
		}
		if _, err := accepting.GetAgreement(ctx, "agmt-later"); err == nil {
			t.Fatal("the agreement is in the ledger before any fold")
		}

		// The accepting process is gone; another one's folder folds what
		// it queued.
		restarted := newLedger(db, t0)
		if n, err := restarted.Settle(ctx); err != nil || n != 2 {
			t.Fatalf("Settle took up %d events (%v), want 2", n, err)
		}
		got, err := restarted.GetAgreement(ctx, "agmt-later")
		if err != nil || got.Status != "ACTIVE" {
			t.Fatalf("after the fold: %+v, %v, want the agreement active", got, err)
		}
		lic, err := restarted.GetLicense(ctx, "l-later")
		if err != nil || lic.AgreementID != "agmt-later" {
			t.Fatalf("after the fold: license %+v, %v", lic, err)
		}
		for _, id := range []string{eventID(t, created), eventID(t, license)} {
			if ev, err := restarted.GetEvent(ctx, id); err != nil || ev.Status != inbox.StatusApplied {
				t.Errorf("event %s after the fold: %+v %v, want applied", id, ev.Status, err)
			}
		}
		if n, err := restarted.FoldQueue(ctx); err != nil || n != 0 {
			t.Fatalf("fold queue after Settle: %d (%v)", n, err)
		}
		if res := post(license); !res.Duplicate {
			t.Fatalf("the same event again, after its fold: %+v, want a duplicate", res)
		}
		if n, err := restarted.Settle(ctx); err != nil || n != 0 {
			t.Fatalf("a duplicate queued a fold: Settle folded %d (%v)", n, err)
		}
	})
}

// TestFoldLaterFolder checks that a running folder folds what the doors
// accept without being asked.
func TestFoldLaterFolder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		l := newLedger(db, t0)
		l.FoldLater = true
		stopped := make(chan struct{})
		go func() { l.RunFolder(ctx); close(stopped) }()
		defer func() { cancel(); <-stopped }()
		a := agreementFixture("agmt-folder", "111122223334")
		ev := parse(t, eventbridge.Created(seller, a, t0.Add(-time.Hour)))
		if res, err := l.Accept(ctx, inbox.DoorSQS, ev); err != nil || res.Status != inbox.StatusQueued {
			t.Fatalf("Accept: %+v %v", res, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := l.GetAgreement(ctx, "agmt-folder"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the folder did not fold the accepted event within 10 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func parse(t *testing.T, body []byte) marketplace.Event {
	t.Helper()
	ev, err := marketplace.ParseEventBridge(body)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func eventID(t *testing.T, body []byte) string { return parse(t, body).ID }

// TestFoldLaterFailingEvent checks that an accepted event whose fold fails
// (here its hook) neither blocks the events accepted with it nor is
// dropped: it stays queued, is tried again after a wait, and is folded once
// the cause is gone.
func TestFoldLaterFailingEvent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := t0
		l := &inbox.Ledger{DB: db, Now: func() time.Time { return now }, FoldLater: true}
		broken := true
		l.EventHooks = []inbox.EventHook{func(_ context.Context, _ *store.Tx, ev marketplace.Event, _ time.Time) error {
			if broken && ev.Fact.AgreementID == "agmt-bad" {
				return errors.New("the hook is broken")
			}
			return nil
		}}
		for _, id := range []string{"agmt-good-1", "agmt-bad", "agmt-good-2"} {
			ev := parse(t, eventbridge.Created(seller, agreementFixture(id, "111122223335"), t0.Add(-time.Hour)))
			if res, err := l.Accept(ctx, inbox.DoorHTTP, ev); err != nil || res.Status != inbox.StatusQueued {
				t.Fatalf("Accept %s: %+v %v", id, res, err)
			}
		}
		if n, err := l.Settle(ctx); err != nil || n != 2 {
			t.Fatalf("Settle took up %d events (%v), want the 2 good ones", n, err)
		}
		for _, id := range []string{"agmt-good-1", "agmt-good-2"} {
			if _, err := l.GetAgreement(ctx, id); err != nil {
				t.Errorf("%s, accepted with a failing event: %v", id, err)
			}
		}
		if _, err := l.GetAgreement(ctx, "agmt-bad"); err == nil {
			t.Fatal("the failing event's agreement is in the ledger")
		}
		if n, err := l.FoldQueue(ctx); err != nil || n != 1 {
			t.Fatalf("fold queue: %d (%v), want the failing event still queued", n, err)
		}
		// Not tried again before its wait is over.
		broken = false
		if n, err := l.Settle(ctx); err != nil || n != 0 {
			t.Fatalf("Settle took up %d events (%v) before the failing one's wait was over", n, err)
		}
		now = now.Add(2 * time.Second)
		if n, err := l.Settle(ctx); err != nil || n != 1 {
			t.Fatalf("Settle took up %d events (%v), want the one that failed", n, err)
		}
		if _, err := l.GetAgreement(ctx, "agmt-bad"); err != nil {
			t.Fatalf("after its cause is gone: %v", err)
		}
	})
}
