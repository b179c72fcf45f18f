package offer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestReviewPartnerOfferExtendedFromAgreement: docs/notifications.md says
// partner_offer_extended is sent "when Concord attaches the partner's offer
// id to a partner offer (the Offer Released event, the agreement, or by
// hand)". When the offer id arrives with the agreement (the Offer Released
// event was missed), OnEvent must be told EventExtended.
func TestReviewPartnerOfferExtendedFromAgreement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		var mu sync.Mutex
		var told []string
		e.svc.OnEvent = func(_ context.Context, _ *store.Tx, event string, o offer.Offer, _ time.Time) error {
			mu.Lock()
			told = append(told, event)
			mu.Unlock()
			return nil
		}
		p := e.create(partner())
		if err := db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE offers SET state = ?, resale_authorization_id = ? WHERE id = ?`, offer.StatePublished, "resaleauthz-r1", p.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		e.created(agreement("agmt-r1", "offer-r1", "resaleauthz-r1"))
		if got := e.get(p.ID); got.OfferID != "offer-r1" {
			t.Fatalf("partner offer did not learn its offer id: %+v", got.Offer)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range told {
			if ev == offer.EventExtended {
				return
			}
		}
		t.Fatalf("OnEvent was told %v, never %q: no partner_offer_extended notification", told, offer.EventExtended)
	})
}
