package offer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// termsAPI is an Agreement API that answers with fixed terms, so the
// preview reads terms stored by the ledger's own enrichment.
type termsAPI map[string]marketplace.Terms

func (api termsAPI) DescribeAgreement(_ context.Context, id string) (marketplace.AgreementDetails, error) {
	return marketplace.AgreementDetails{Fact: marketplace.Fact{AgreementID: id, Status: marketplace.StatusActive}, Terms: api[id]}, nil
}

func qty(n int64) *int64 { return &n }

// TestAmendmentPreviewCounts checks the amendment bill preview against
// AWS's rule ("Amending agreements": existing invoices remain unchanged; the
// amendment's payment schedule replaces pending invoices): charged so far is
// the upfront charge at acceptance plus the installments whose date passed;
// replaced is the installments still pending.
func TestAmendmentPreviewCounts(t *testing.T) {
	day := func(d int) time.Time { return now.AddDate(0, 0, d) }
	api := termsAPI{
		// 100 seats at 120.00 for 12 months, paid upfront.
		"agmt-upfront": {Currency: "USD", Pricing: []marketplace.PriceItem{
			{Term: "ConfigurableUpfrontPricingTerm", Dimension: "seats", Price: "120.00", Quantity: qty(100)},
			{Term: "UsageBasedPricingTerm", Dimension: "api_calls", Price: "0.01"}}},
		// A flexible payment schedule: the upfront term is priced 0.
		"agmt-scheduled": {Currency: "USD", Pricing: []marketplace.PriceItem{
			{Term: "FixedUpfrontPricingTerm", Dimension: "seats", Price: "0.00", Quantity: qty(10)}},
			PaymentSchedule: []marketplace.Installment{{ChargeDate: day(-1), Amount: "400.00"}, {ChargeDate: day(30), Amount: "400.00"}, {ChargeDate: day(60), Amount: "400.00"}}},
		// A fixed upfront fee (one price for both grants) and installments.
		"agmt-mixed": {Currency: "USD", Pricing: []marketplace.PriceItem{
			{Term: "FixedUpfrontPricingTerm", Dimension: "seats", Price: "1000.00", Quantity: qty(10)},
			{Term: "FixedUpfrontPricingTerm", Dimension: "support", Price: "1000.00", Quantity: qty(1)}},
			PaymentSchedule: []marketplace.Installment{{ChargeDate: day(-1), Amount: "250.00"}, {ChargeDate: day(30), Amount: "250.00"}}},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		for id := range api {
			e.created(agreement(id, "offer-"+id, ""))
			if err := e.ledger.Enrich(ctx, api, id); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			id, at                              string
			paid, upfront, replaced, replacedOf string
			summary                             string
		}{
			{"agmt-upfront", "before", "12000.00", "12000.00", "0.00", "[]",
				"Agreement agmt-upfront has charged 12000.00 USD so far (12000.00 USD upfront at acceptance); those invoices remain unchanged. Once the buyer accepts"},
			{"agmt-scheduled", "before", "400.00", "0.00", "800.00", fmt.Sprintf("[{%s 400.00} {%s 400.00}]", day(30).Format(time.DateOnly), day(60).Format(time.DateOnly)),
				"Agreement agmt-scheduled has charged 400.00 USD so far; those invoices remain unchanged, and its 2 pending installments (800.00 USD) are replaced by the amendment."},
			{"agmt-mixed", "before", "1250.00", "1000.00", "250.00", fmt.Sprintf("[{%s 250.00}]", day(30).Format(time.DateOnly)),
				"Agreement agmt-mixed has charged 1250.00 USD so far (1000.00 USD upfront at acceptance); those invoices remain unchanged, and its 1 pending installments (250.00 USD)"},
			// 45 days later the second installment has been charged.
			{"agmt-scheduled", "after", "800.00", "0.00", "400.00", fmt.Sprintf("[{%s 400.00}]", day(60).Format(time.DateOnly)), "has charged 800.00 USD so far"},
			{"agmt-mixed", "after", "1500.00", "1000.00", "0.00", "[]", "has charged 1500.00 USD so far (1000.00 USD upfront at acceptance); those invoices remain unchanged. Once"},
			{"agmt-upfront", "after", "12000.00", "12000.00", "0.00", "[]", "has charged 12000.00 USD so far"},
		} {
			if tc.at == "after" {
				e.clock.Set(now.AddDate(0, 0, 45))
			}
			d, err := e.svc.AmendmentDraft(ctx, tc.id)
			if err != nil {
				t.Fatalf("%s: %v", tc.id, err)
			}
			pv := d.Preview
			if pv == nil || pv.PaidToDate != tc.paid || pv.UpfrontCharged != tc.upfront || pv.ReplacedTotal != tc.replaced ||
				fmt.Sprint(pv.Replaced) != tc.replacedOf || !strings.Contains(pv.Summary, tc.summary) {
				t.Errorf("%s %s the installment dates: preview %+v\nwant paid %s (upfront %s), replaced %s %s, summary with %q",
					tc.id, tc.at, pv, tc.paid, tc.upfront, tc.replaced, tc.replacedOf, tc.summary)
				continue
			}
			// POST /v1/offers/check previews the same bill for the same form.
			chk, err := e.svc.Check(ctx, d.Form)
			if err != nil {
				t.Fatal(err)
			}
			if chk.Preview == nil || chk.Preview.PaidToDate != tc.paid || chk.Preview.ReplacedTotal != tc.replaced {
				t.Errorf("%s %s: check's preview %+v", tc.id, tc.at, chk.Preview)
			}
		}
	})
}
