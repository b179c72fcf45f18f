package catalog

import (
	"slices"

	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/world"
)

// convertTerms turns Catalog API terms into the accepted terms an agreement
// made from the offer carries (world.Offer.Terms). Kinds the world derives
// itself (worldTermTypes) are left out.
func convertTerms(docs []termDoc, currency string) []agreementapi.Term {
	var out []agreementapi.Term
	for _, d := range docs {
		if slices.Contains(worldTermTypes, d.Type) {
			continue
		}
		t := agreementapi.Term{Type: d.Type, ID: world.NewID("term-", 24)}
		cur := d.CurrencyCode
		if cur == "" {
			cur = currency
		}
		switch d.Type {
		case agreementapi.TermLegal:
			for _, doc := range d.Documents {
				t.Documents = append(t.Documents, agreementapi.Document{Type: doc.Type, URL: doc.Url, Version: doc.Version})
			}
		case agreementapi.TermSupport:
			t.RefundPolicy = d.RefundPolicy
		case agreementapi.TermFixedUpfrontPricing:
			t.CurrencyCode, t.Duration, t.Price, t.Grants = cur, d.Duration, d.Price, grants(d.Grants)
		case agreementapi.TermFreeTrialPricing:
			t.Duration, t.Grants = d.Duration, grants(d.Grants)
		case agreementapi.TermRecurringPayment:
			t.CurrencyCode, t.BillingPeriod, t.Price = cur, d.BillingPeriod, d.Price
		case agreementapi.TermByolPricing:
		case agreementapi.TermPaymentSchedule:
			t.CurrencyCode = cur
			for _, it := range d.Schedule {
				day, _ := parseDate(it.ChargeDate)
				t.Schedule = append(t.Schedule, agreementapi.ScheduleItem{ChargeDate: day, ChargeAmount: it.ChargeAmount})
			}
		case agreementapi.TermNetPayment:
			t.PaymentDuePeriod = d.PaymentDuePeriod
		default:
			continue
		}
		out = append(out, t)
	}
	return out
}

func grants(gs []grantDoc) []agreementapi.Grant {
	var out []agreementapi.Grant
	for _, g := range gs {
		gr := agreementapi.Grant{DimensionKey: g.DimensionKey}
		if g.MaxQuantity != nil {
			q := int32(*g.MaxQuantity)
			gr.MaxQuantity = &q
		}
		out = append(out, gr)
	}
	return out
}

// replaceTerms drops the offer's terms of the given types and appends terms.
func replaceTerms(o *world.Offer, types []string, terms []agreementapi.Term) {
	kept := o.Terms[:0:0]
	for _, t := range o.Terms {
		if !slices.Contains(types, t.Type) {
			kept = append(kept, t)
		}
	}
	o.Terms = append(kept, terms...)
	if len(o.Terms) == 0 {
		o.Terms = nil
	}
}

// termDocs renders accepted terms back into the Catalog API's term shape, for
// offers the world created (which have no details documents).
func termDocs(terms []agreementapi.Term, types ...string) []any {
	var out []any
	for _, t := range terms {
		if !slices.Contains(types, t.Type) {
			continue
		}
		m := map[string]any{"Type": t.Type}
		switch t.Type {
		case agreementapi.TermLegal:
			var docs []map[string]any
			for _, d := range t.Documents {
				doc := map[string]any{"Type": d.Type}
				if d.URL != "" {
					doc["Url"] = d.URL
				}
				if d.Version != "" {
					doc["Version"] = d.Version
				}
				docs = append(docs, doc)
			}
			m["Documents"] = docs
		case agreementapi.TermSupport:
			m["RefundPolicy"] = t.RefundPolicy
		case agreementapi.TermPaymentSchedule:
			var sched []map[string]any
			for _, it := range t.Schedule {
				sched = append(sched, map[string]any{"ChargeDate": it.ChargeDate.UTC().Format("2006-01-02T15:04:05.000Z"), "ChargeAmount": it.ChargeAmount})
			}
			m["CurrencyCode"], m["Schedule"] = t.CurrencyCode, sched
		case agreementapi.TermNetPayment:
			m["PaymentDuePeriod"] = t.PaymentDuePeriod
		case agreementapi.TermFixedUpfrontPricing, agreementapi.TermRecurringPayment, agreementapi.TermFreeTrialPricing:
			if t.CurrencyCode != "" {
				m["CurrencyCode"] = t.CurrencyCode
			}
			if t.Duration != "" {
				m["Duration"] = t.Duration
			}
			if t.Price != "" {
				m["Price"] = t.Price
			}
			if t.BillingPeriod != "" {
				m["BillingPeriod"] = t.BillingPeriod
			}
			var gs []map[string]any
			for _, g := range t.Grants {
				gm := map[string]any{"DimensionKey": g.DimensionKey}
				if g.MaxQuantity != nil {
					gm["MaxQuantity"] = *g.MaxQuantity
				}
				gs = append(gs, gm)
			}
			if gs != nil {
				m["Grants"] = gs
			}
		}
		out = append(out, m)
	}
	return out
}
