package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/report"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// BenchmarkOfferList compares the console's Offers list (every offer read,
// searched and folded in Go, sorted, one page cut: report.Offers) with the
// cursor page it replaced (offer.Service.List: 50 rows by SQL LIMIT), over
// 2,000 offers on SQLite. Compare the two in one run; the machine is shared.
func BenchmarkOfferList(b *testing.B) {
	ctx := context.Background()
	db := storetest.Open(b, "sqlite")
	err := db.Write(ctx, func(tx *store.Tx) error {
		for i := range 2000 {
			o := offer.Offer{Type: offer.TypeDirect, BuyerCompany: fmt.Sprintf("Ünïcode %04d GmbH", i), Name: fmt.Sprintf("Deal %04d", i), ProductID: "prod-a",
				Pricing:  offer.Pricing{Currency: "USD", Duration: "P12M", Dimensions: []offer.PricedDimension{{Key: "seats", Kind: "contract", Quantity: 10, Price: "1200.00"}}},
				Metadata: map[string]string{offer.MetaBuyerAccount: "444455556666", "Salesforce Opportunity": fmt.Sprintf("006-%04d", i)}}
			form, _ := json.Marshal(o)
			if _, err := tx.Exec(ctx, `INSERT INTO offers (id, type, state, product_id, buyer_account_id, buyer_company, form, created_at, updated_at)
				VALUES (?, 'direct', 'draft', 'prod-a', '444455556666', ?, ?, ?, ?)`, fmt.Sprintf("ofr_%05d", i), o.BuyerCompany, string(form), i, i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	svc := &offer.Service{DB: db}
	b.Run("cursor page (before)", func(b *testing.B) {
		for b.Loop() {
			if list, err := svc.List(ctx, offer.Filter{Limit: 50}); err != nil || len(list) != 50 {
				b.Fatal(len(list), err)
			}
		}
	})
	b.Run("sorted page", func(b *testing.B) {
		for b.Loop() {
			if p, err := report.Offers(ctx, db, svc, report.OfferFilter{Order: report.Order{Key: "buyer"}}); err != nil || len(p.Items) != 50 {
				b.Fatal(err)
			}
		}
	})
	b.Run("sorted page, searched ÜNÏCODE 19", func(b *testing.B) {
		for b.Loop() {
			if p, err := report.Offers(ctx, db, svc, report.OfferFilter{Query: "ÜNÏCODE 19", Order: report.Order{Key: "buyer"}}); err != nil || p.Total != 100 {
				b.Fatal(p.Total, err)
			}
		}
	})
}
