package offer

// This file holds amendments and expansion: an amendment (an agreement-based
// offer) prefilled from the accepted agreement and its terms, a preview of
// what the buyer will owe, and, for a product with concurrent agreements,
// the alternative of a second agreement alongside the first.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Renewal channels: where the agreement a renewal renews was bought (AWS's
// PreExistingAgreement.AcquisitionChannel).
const (
	RenewalFromMarketplace = "aws_marketplace"
	RenewalFromOutside     = "external"
)

// Draft is an amendment prefilled from an accepted agreement.
type Draft struct {
	// Form is the amendment, ready to check and create (POST /v1/offers).
	Form Offer `json:"form"`
	// Preview is what the buyer has paid and will owe.
	Preview *Preview `json:"preview,omitempty"`
	// Alternative is a new concurrent offer instead of an amendment, for a
	// product with concurrent agreements on.
	Alternative *Alternative `json:"alternative,omitempty"`
	// Notes say what was prefilled from where, and what is left to fill in.
	Notes []string `json:"notes"`
}

// Preview is what an amendment means for the buyer's bill: what the amended
// agreement has charged so far, the pending installments the new payment
// schedule replaces, and what the new offer charges.
type Preview struct {
	Currency string `json:"currency"`
	// PaidToDate is what the amended agreement has charged so far: its
	// upfront charges at acceptance plus its installments charged before now.
	// The amendment leaves those invoices as they are.
	PaidToDate string `json:"paidToDate"`
	// UpfrontCharged is the part of PaidToDate the agreement's upfront
	// pricing terms charged at acceptance (price × quantity bought).
	UpfrontCharged string `json:"upfrontCharged"`
	// Replaced are the amended agreement's installments not charged yet:
	// the amendment cancels them.
	Replaced      []Installment `json:"replaced"`
	ReplacedTotal string        `json:"replacedTotal"`
	// NewCharges are the new offer's charges: its payment schedule, or its
	// contract price charged at acceptance.
	NewCharges      []Installment `json:"newCharges"`
	NewChargesTotal string        `json:"newChargesTotal"`
	// Difference is NewChargesTotal - ReplacedTotal: what the buyer owes
	// beyond what the agreement already had pending (negative: less).
	Difference string `json:"difference"`
	Summary    string `json:"summary"`
}

// Alternative is the other way to sell more to a buyer of a product with
// concurrent agreements on: a new offer whose agreement runs alongside.
type Alternative struct {
	Kind        string `json:"kind" doc:"concurrent_offer"`
	Explanation string `json:"explanation"`
	// Form is a new direct (or partner) offer for the same buyer and
	// product, co-terminous with the agreement; set the additional
	// quantities before creating it.
	Form Offer `json:"form"`
}

// AmendmentDraft prefills an amendment of an accepted agreement from the
// agreement, its terms and the Concord offer it was accepted from.
func (s *Service) AmendmentDraft(ctx context.Context, agreementID string) (Draft, error) {
	var d Draft
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		a, ok, err := loadAgreement(ctx, tx, agreementID)
		if err != nil {
			return err
		}
		if !ok {
			return marketplace.Errorf(marketplace.ENotFound, "agreement %s is not in the ledger", agreementID)
		}
		if marketplace.IsTerminalStatus(a.Status) {
			return marketplace.Errorf(marketplace.EConflict, "agreement %s is %s: only an active agreement can be amended", agreementID, a.Status)
		}
		p, _, err := inbox.LoadProduct(ctx, tx, a.ProductID)
		if err != nil {
			return err
		}
		src, hasSrc, err := sourceOffer(ctx, tx, a)
		if err != nil {
			return err
		}
		d = prefill(a, p, src, hasSrc, s.now())
		d.Preview = preview(d.Form, a, s.now())
		if p.ConcurrentAgreements {
			d.Alternative = alternative(d.Form, a, p)
		}
		return nil
	})
	return d, err
}

// sourceOffer is the Concord offer an agreement was accepted from.
func sourceOffer(ctx context.Context, tx *store.Tx, a marketplace.Agreement) (Offer, bool, error) {
	o, err := scanOffer(tx.QueryRow(ctx, `SELECT `+offerColumns+` FROM offers WHERE agreement_id = ? OR (offer_id = ? AND offer_id <> '') ORDER BY updated_at DESC LIMIT 1`,
		a.AgreementID, a.OfferID))
	if errors.Is(err, sql.ErrNoRows) {
		return Offer{}, false, nil
	}
	return o, err == nil, err
}

func agreementTerms(a marketplace.Agreement) marketplace.Terms {
	var t marketplace.Terms
	json.Unmarshal(a.Terms, &t)
	return t
}

func prefill(a marketplace.Agreement, p marketplace.Product, src Offer, hasSrc bool, now time.Time) Draft {
	t := agreementTerms(a)
	d := Draft{Notes: []string{}}
	f := Offer{Type: TypeDirect, ProductID: a.ProductID, EULA: Legal{Kind: "standard"}, Metadata: map[string]string{},
		Amends: &Amendment{AgreementID: a.AgreementID, SourceOfferID: a.OfferID}}
	partner := a.ResaleAuthorizationID != "" || (a.ManufacturerAccountID != "" && a.ProposerAccountID != a.ManufacturerAccountID)
	if partner {
		f.Type = TypePartner
		f.ResellerAgreement = &Legal{Kind: "standard"}
		f.Metadata[MetaPartnerAccount] = a.ProposerAccountID
	}
	if hasSrc {
		f.BuyerCompany, f.Name, f.EULA, f.Registration, f.NotifyUsers = src.BuyerCompany, src.Name, src.EULA, src.Registration, src.NotifyUsers
		if partner && src.ResellerAgreement != nil {
			f.ResellerAgreement = src.ResellerAgreement
		}
		for k, v := range src.Metadata {
			f.Metadata[k] = v
		}
		d.Notes = append(d.Notes, "the buyer's company, name, contracts, registration details, contract metadata and users to notify come from offer "+src.ID)
	} else {
		d.Notes = append(d.Notes, "agreement "+a.AgreementID+" was not accepted from a Concord offer: fill in the buyer's company, and check the EULA (the standard contract is prefilled)")
	}
	f.Metadata[MetaBuyerAccount] = a.AcceptorAccountID
	f.Pricing.Currency = t.Currency
	f.Pricing.Dimensions = termDimensions(t, p, src, hasSrc)
	if len(f.Pricing.Dimensions) > 0 {
		d.Notes = append(d.Notes, "dimensions and quantities are the accepted terms' (prices as the source offer set them, when Concord made it): change the quantities for the amendment")
	}
	end := time.Time{}
	switch {
	case t.Validity != nil && t.Validity.End != nil:
		end = *t.Validity.End
	case a.EndTime != nil:
		end = *a.EndTime
	case t.Validity != nil && a.StartTime != nil:
		end = addPeriod(*a.StartTime, t.Validity.Duration)
	}
	if end.After(now) {
		f.Pricing.EndDate = end.UTC().Format(time.DateOnly)
		d.Notes = append(d.Notes, "the end date is prefilled with the agreement's, "+f.Pricing.EndDate+": the amendment's own end date is what the buyer accepts (AWS lets an amendment set a custom end date)")
	} else if t.Validity != nil && t.Validity.Duration != "" {
		f.Pricing.Duration = t.Validity.Duration
		d.Notes = append(d.Notes, "the agreement's end date is not known: the amendment runs "+t.Validity.Duration+" from acceptance; set an end date to keep the agreement's")
	}
	for _, in := range t.PaymentSchedule {
		if in.ChargeDate.After(now) {
			f.Pricing.Schedule = append(f.Pricing.Schedule, Installment{Date: in.ChargeDate.UTC().Format(time.DateOnly), Amount: in.Amount})
		}
	}
	if len(f.Pricing.Schedule) > 0 {
		d.Notes = append(d.Notes, fmt.Sprintf("the %d installments not charged yet are carried forward: the amendment's payment schedule replaces them", len(f.Pricing.Schedule)))
	}
	expires := now.UTC().AddDate(0, 0, 30)
	if !end.IsZero() && !expires.Before(end) {
		expires = end.AddDate(0, 0, -1)
	}
	f.ExpiresOn = expires.Format(time.DateOnly)
	d.Form = f
	return d
}

// termDimensions are the accepted dimensions: one per key, the contract
// ones with the quantity bought. Prices come from the Concord offer the
// agreement was accepted from when there is one (with a payment schedule the
// terms carry the contract dimensions at price 0), else from the terms.
func termDimensions(t marketplace.Terms, p marketplace.Product, src Offer, hasSrc bool) []PricedDimension {
	srcPrice := map[string]string{}
	if hasSrc {
		for _, dim := range src.Pricing.Dimensions {
			srcPrice[dim.Key] = dim.Price
		}
	}
	var out []PricedDimension
	index := map[string]int{}
	for _, it := range t.Pricing {
		kind := "contract"
		if strings.Contains(it.Term, "Usage") {
			kind = "usage"
		}
		if pd, ok := p.Dimension(it.Dimension); ok && pd.Kind != "" {
			kind = pd.Kind
		}
		if kind == "contract" && (it.Quantity == nil || *it.Quantity <= 0) {
			continue // a dimension the buyer did not buy
		}
		dim := PricedDimension{Key: it.Dimension, Kind: kind, Price: it.Price}
		if kind == "contract" {
			dim.Quantity = *it.Quantity
		}
		if price, ok := srcPrice[it.Dimension]; ok {
			dim.Price = price
		}
		if i, seen := index[dim.Key]; seen {
			// The same dimension in two terms (a grant at 0 and a rate card):
			// keep the larger quantity and a non-zero price.
			if dim.Quantity > out[i].Quantity {
				out[i].Quantity = dim.Quantity
			}
			if r, err := parseAmount(out[i].Price); err != nil || r.Sign() == 0 {
				out[i].Price = dim.Price
			}
			continue
		}
		index[dim.Key] = len(out)
		out = append(out, dim)
	}
	// In the product's order, as a new offer's form lists them, not in the
	// order AWS happens to list the accepted terms.
	order := func(key string) int {
		for i, d := range p.Dimensions {
			if d.Key == key {
				return i
			}
		}
		return len(p.Dimensions)
	}
	slices.SortStableFunc(out, func(a, b PricedDimension) int { return order(a.Key) - order(b.Key) })
	return out
}

// addPeriod adds an ISO 8601 period of days, months or years (P12M) to t;
// the zero time when it is not one.
func addPeriod(t time.Time, period string) time.Time {
	m := durationPattern.FindStringSubmatch(period)
	if m == nil {
		return time.Time{}
	}
	var n int
	fmt.Sscanf(m[1], "%d", &n)
	switch m[2] {
	case "D":
		return t.AddDate(0, 0, n)
	case "M":
		return t.AddDate(0, n, 0)
	}
	return t.AddDate(n, 0, 0)
}

// preview says what an amendment means for the buyer's bill; nil unless o
// amends agreement a.
func preview(o Offer, a marketplace.Agreement, now time.Time) *Preview {
	if o.Amends == nil || o.Amends.AgreementID != a.AgreementID {
		return nil
	}
	t := agreementTerms(a)
	p := &Preview{Currency: o.Pricing.Currency, Replaced: []Installment{}, NewCharges: []Installment{}}
	if p.Currency == "" {
		p.Currency = t.Currency
	}
	replaced, charges := new(big.Rat), new(big.Rat)
	upfront := upfrontCharge(t)
	paid := new(big.Rat).Set(upfront)
	for _, in := range t.PaymentSchedule {
		amt, err := parseAmount(in.Amount)
		if err != nil {
			continue
		}
		if in.ChargeDate.After(now) {
			replaced.Add(replaced, amt)
			p.Replaced = append(p.Replaced, Installment{Date: in.ChargeDate.UTC().Format(time.DateOnly), Amount: in.Amount})
		} else {
			paid.Add(paid, amt)
		}
	}
	if len(o.Pricing.Schedule) > 0 {
		for _, in := range o.Pricing.Schedule {
			if amt, err := parseAmount(in.Amount); err == nil {
				charges.Add(charges, amt)
			}
			p.NewCharges = append(p.NewCharges, in)
		}
	} else {
		for _, dim := range o.Pricing.Dimensions {
			if dim.Kind != "contract" {
				continue
			}
			if price, err := parseAmount(dim.Price); err == nil {
				charges.Add(charges, new(big.Rat).Mul(price, new(big.Rat).SetInt64(dim.Quantity)))
			}
		}
		if charges.Sign() > 0 {
			p.NewCharges = append(p.NewCharges, Installment{Date: "at acceptance", Amount: charges.FloatString(2)})
		}
	}
	p.UpfrontCharged = upfront.FloatString(2)
	p.PaidToDate, p.ReplacedTotal, p.NewChargesTotal = paid.FloatString(2), replaced.FloatString(2), charges.FloatString(2)
	p.Difference = new(big.Rat).Sub(charges, replaced).FloatString(2)
	var b strings.Builder
	fmt.Fprintf(&b, "Agreement %s has charged %s %s so far", a.AgreementID, p.PaidToDate, p.Currency)
	if upfront.Sign() > 0 {
		fmt.Fprintf(&b, " (%s %s upfront at acceptance)", p.UpfrontCharged, p.Currency)
	}
	// AWS, "Amending agreements": existing invoices remain unchanged; the
	// amendment's payment schedule replaces the pending ones.
	b.WriteString("; those invoices remain unchanged")
	if len(p.Replaced) > 0 {
		fmt.Fprintf(&b, ", and its %d pending installments (%s %s) are replaced by the amendment", len(p.Replaced), p.ReplacedTotal, p.Currency)
	}
	fmt.Fprintf(&b, ". Once the buyer accepts, the amendment charges %s %s", p.NewChargesTotal, p.Currency)
	if len(o.Pricing.Schedule) > 0 {
		fmt.Fprintf(&b, " over %d installments", len(o.Pricing.Schedule))
	} else if charges.Sign() > 0 {
		b.WriteString(" at acceptance")
	}
	fmt.Fprintf(&b, " (%s %s compared with what was pending). Usage dimensions are billed as used.", signed(p.Difference), p.Currency)
	p.Summary = b.String()
	return p
}

// upfrontCharge is what an agreement's upfront pricing terms charged at
// acceptance: a configurable upfront term's price times the quantity bought
// of each dimension, and a fixed upfront term's price once. With a flexible
// payment schedule AWS's upfront term has price 0 and the installments carry
// the charges (aws-samples/aws-marketplace-reference-code,
// java/resources/changeSets/offers/CreatePrivateOfferWithContractPricingWithFlexiblePaymentScheduleForSaas.json),
// so the two never count the same money twice.
func upfrontCharge(t marketplace.Terms) *big.Rat {
	total := new(big.Rat)
	lastFixed := -2
	for i, it := range t.Pricing {
		price, err := parseAmount(it.Price)
		if err != nil {
			continue
		}
		switch it.Term {
		case "ConfigurableUpfrontPricingTerm":
			if it.Quantity != nil && *it.Quantity > 0 {
				total.Add(total, new(big.Rat).Mul(price, new(big.Rat).SetInt64(*it.Quantity)))
			}
		case "FixedUpfrontPricingTerm":
			// One price for the whole term, repeated on each of its grants
			// (consecutive items): count it once per term.
			if lastFixed != i-1 {
				total.Add(total, price)
			}
			lastFixed = i
		}
	}
	return total
}

func signed(s string) string {
	if strings.HasPrefix(s, "-") {
		return s
	}
	return "+" + s
}

func alternative(amend Offer, a marketplace.Agreement, p marketplace.Product) *Alternative {
	f := amend
	f.Amends = nil
	f.Pricing.Schedule = nil
	f.Metadata = map[string]string{}
	for k, v := range amend.Metadata {
		f.Metadata[k] = v
	}
	dims := make([]PricedDimension, len(amend.Pricing.Dimensions))
	copy(dims, amend.Pricing.Dimensions)
	f.Pricing.Dimensions = dims
	return &Alternative{Kind: "concurrent_offer", Form: f, Explanation: fmt.Sprintf(
		"Product %s has concurrent agreements on, so the buyer can hold more than one agreement for it. "+
			"Instead of amending agreement %s (AWS: an amendment replaces the buyer's current subscription, existing invoices stay and its payment schedule replaces pending ones; an amended public offer becomes private and no longer auto-renews), "+
			"you can send a new private offer for the additional quantity only: its agreement runs alongside, with its own LicenseArn, entitlements, metering and invoices, "+
			"and agreement %s stays exactly as it is. The form below ends on the same date (co-terminous); set the additional quantities before creating it. "+
			"Choose the amendment to change or replace what the buyer has; choose the concurrent offer to add to it.",
		p.ProductID, a.AgreementID, a.AgreementID)}
}

// renewalChannel says where the agreement a renewal renews was bought: in
// AWS Marketplace when the ledger holds an agreement of the buyer for the
// product, else outside (brought to the marketplace for the first time).
func renewalChannel(ctx context.Context, tx *store.Tx, o Offer) (string, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM agreements WHERE acceptor_account_id = ? AND product_id = ?`, o.Metadata[MetaBuyerAccount], o.ProductID).Scan(&n)
	if err != nil {
		return "", err
	}
	if n > 0 {
		return RenewalFromMarketplace, nil
	}
	return RenewalFromOutside, nil
}

// amendedFromPublic asks the Catalog API whether the offer an amendment's
// agreement was accepted from is public, unless Concord knows it as one of
// its private offers. ok is false when it cannot tell.
func (s *Service) amendedFromPublic(ctx context.Context, o Offer) (public, ok bool) {
	if o.Amends == nil || o.Amends.SourceOfferID == "" || s.Catalog == nil {
		return false, false
	}
	var known bool
	s.DB.Read(ctx, func(tx *store.Tx) error {
		var id string
		known = tx.QueryRow(ctx, `SELECT id FROM offers WHERE offer_id = ?`, o.Amends.SourceOfferID).Scan(&id) == nil
		return nil
	})
	if known {
		return false, true
	}
	info, err := s.Catalog.DescribeOffer(ctx, o.Amends.SourceOfferID)
	if err != nil {
		if s.Logger != nil {
			s.Logger.Warn("could not tell whether an amended offer is public", "offer", o.Amends.SourceOfferID, "err", err)
		}
		return false, false
	}
	return !info.Private, true
}
