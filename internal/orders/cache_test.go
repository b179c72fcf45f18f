package orders

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// countingCatalog answers DescribeEntity (DescribeOffer) and counts the calls.
type countingCatalog struct {
	calls   atomic.Int64
	private atomic.Bool
}

func (c *countingCatalog) DescribeOffer(_ context.Context, id string) (offer.OfferInfo, error) {
	c.calls.Add(1)
	return offer.OfferInfo{OfferID: id, Private: c.private.Load()}, nil
}

// TestOfferDescriptionIsCached: every fold of an agreement (each License
// Updated) records it again; the Catalog API is asked about its offer once
// an hour, and again after a Catalog event that may have changed it.
func TestOfferDescriptionIsCached(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	cat := &countingCatalog{}
	d := &Desk{DB: db, Now: func() time.Time { return now }, Catalog: cat}
	l := &inbox.Ledger{DB: db, Now: func() time.Time { return now }, EventHooks: []inbox.EventHook{d.EventHook}}
	send := func(body []byte) {
		t.Helper()
		ev, err := marketplace.ParseEventBridge(body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Ingest(ctx, inbox.DoorHTTP, ev); err != nil {
			t.Fatal(err)
		}
	}
	a := eventbridge.Agreement{ID: "agmt-pub", Intent: "NEW", AcceptanceTime: now, StartTime: now, EndTime: now.AddDate(1, 0, 0),
		AcceptorAccountID: "444455556666", ProposerAccountID: "111122223333", OfferID: "offer-public", ProductID: "prod-a", ProductCode: "code-a"}
	send(eventbridge.Created("111122223333", a, now))
	public := func() bool {
		t.Helper()
		p, err := d.isPublic(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for range 5 {
		if !public() {
			t.Fatal("a public offer counted as private")
		}
	}
	if n := cat.calls.Load(); n != 1 {
		t.Fatalf("5 records of one agreement: %d DescribeEntity calls, want 1", n)
	}
	cat.private.Store(true)
	send(eventbridge.Custom("Change Set Succeeded", marketplace.SourceCatalog, "111122223333", now, map[string]any{"changeSetId": "cs-1"}))
	if public() || cat.calls.Load() != 2 {
		t.Fatalf("after a Catalog event: public %v, %d calls; want private, 2", public(), cat.calls.Load())
	}
	now = now.Add(OfferCacheTTL)
	public()
	if n := cat.calls.Load(); n != 3 {
		t.Fatalf("after %s: %d calls, want 3", OfferCacheTTL, n)
	}
}
