package offer

// This file holds renewals by new offer: the rules on the agreement a renewal
// renews and its start date, the prefilled renewal form, and the link of the
// accepted agreement into the renewed agreement's chain.

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// RenewalStart is the first day (UTC) a renewal of an agreement ending at
// end can start without overlapping it: the day after its end.
func RenewalStart(end time.Time) string {
	return end.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1).Format(time.DateOnly)
}

// agreementEnd is when an agreement ends as the ledger knows it: its end
// time, or its start plus the validity term's duration; zero when unknown.
func agreementEnd(a marketplace.Agreement) time.Time {
	t := agreementTerms(a)
	switch {
	case a.EndTime != nil:
		return *a.EndTime
	case t.Validity != nil && t.Validity.End != nil:
		return *t.Validity.End
	case t.Validity != nil && a.StartTime != nil:
		return addPeriod(*a.StartTime, t.Validity.Duration)
	}
	return time.Time{}
}

// checkRenews checks a renewal by new offer against the agreement it renews.
// AWS (Tackle's "Renew AWS partner offers", quoting AWS's rule): a renewal
// with a new private offer needs the existing agreement cancelled, or a
// future-dated agreement that begins after the current agreement expires.
// So a renewal that would start while the renewed agreement is in force is
// refused unless the seller confirms the overlap.
func checkRenews(c *Check, o Offer, ctx Context) {
	if o.Renews == "" {
		if o.AllowOverlap {
			c.problem("allowOverlap", "only a renewal of an agreement (renews) can overlap it")
		}
		return
	}
	switch {
	case !o.Renewal:
		c.problem("renews", "only a renewal renews an agreement: tick renewal, or leave renews empty")
	case o.Amends != nil:
		c.problem("renews", "an amendment replaces agreement %s; a renewal by new offer follows it: choose one", o.Amends.AgreementID)
	}
	r := ctx.Renewed
	if r == nil {
		c.warn("renews", "agreement %s is not in the ledger, so its end date and buyer were not checked", marketplace.Clip(o.Renews, 40))
		return
	}
	if r.ProductID != "" && o.ProductID != "" && r.ProductID != o.ProductID {
		c.problem("productId", "agreement %s is for product %s; its renewal must be for the same product", r.AgreementID, r.ProductID)
	}
	if buyer := o.Metadata[MetaBuyerAccount]; buyer != "" && r.AcceptorAccountID != "" && buyer != r.AcceptorAccountID {
		c.problem("metadata."+MetaBuyerAccount, "agreement %s belongs to account %s, not %s: a renewal is for the same buyer", r.AgreementID, r.AcceptorAccountID, buyer)
	}
	if marketplace.IsTerminalStatus(r.Status) || o.AllowOverlap {
		return // nothing in force to overlap, or the seller confirmed it
	}
	end := agreementEnd(*r)
	first := ""
	if !end.IsZero() {
		first = RenewalStart(end)
	}
	switch {
	case o.Pricing.StartDate == "" && first == "":
		c.problem("pricing.startDate", "agreement %s is in force with no end date: a renewal that starts at acceptance overlaps it; cancel it first, or confirm the overlap (allowOverlap)", r.AgreementID)
	case o.Pricing.StartDate == "":
		c.problem("pricing.startDate", "agreement %s runs until %s: without a start date the renewal starts at acceptance and overlaps it; start it on %s (a future-dated agreement), or confirm the overlap (allowOverlap)",
			r.AgreementID, end.UTC().Format(time.DateOnly), first)
	case first != "" && o.Pricing.StartDate < first:
		c.problem("pricing.startDate", "agreement %s runs until %s: a renewal starting on %s overlaps it; start it on %s or later, or confirm the overlap (allowOverlap)",
			r.AgreementID, end.UTC().Format(time.DateOnly), marketplace.Clip(o.Pricing.StartDate, 20), first)
	}
}

// renewalDefaults fills a renewal form from the agreement it renews: the
// start date the day after it ends (a future-dated agreement), and a 12-month
// term from then, replacing the amendment's dates and installments.
func renewalDefaults(f *Offer, a marketplace.Agreement) {
	f.Amends = nil
	f.Renewal, f.RenewalChannel, f.Renews = true, RenewalFromMarketplace, a.AgreementID
	f.Pricing.Schedule, f.Pricing.EndDate, f.Pricing.Duration, f.Pricing.StartDate = nil, "", "P12M", ""
	if end := agreementEnd(a); !end.IsZero() {
		f.Pricing.StartDate = RenewalStart(end)
	}
}

// RenewalDraft prefills a renewal by new offer of an accepted agreement: the
// same buyer, product, dimensions and contracts, starting the day after the
// agreement ends.
func (s *Service) RenewalDraft(ctx context.Context, agreementID string) (Draft, error) {
	d, err := s.AmendmentDraft(ctx, agreementID)
	if err != nil {
		return d, err
	}
	var a marketplace.Agreement
	err = s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		a, _, err = loadAgreement(ctx, tx, agreementID)
		return err
	})
	if err != nil {
		return d, err
	}
	renewalDefaults(&d.Form, a)
	d.Preview, d.Alternative = nil, nil
	d.Notes = append(d.Notes, "a renewal by new offer: the agreement starts on "+d.Form.Pricing.StartDate+", the day after agreement "+agreementID+
		" ends (a future-dated agreement); once accepted it follows "+agreementID+" in its chain")
	if d.Form.Pricing.StartDate == "" {
		d.Notes[len(d.Notes)-1] = "agreement " + agreementID + " has no known end date: set the renewal's start date after it ends, or confirm the overlap"
	}
	return d, nil
}

// Lineage is an inbox.LineageHook: an agreement accepted from a Concord
// renewal offer that renews another agreement follows that agreement in its
// chain (AWS names no previous agreement for a new offer's agreement).
func (s *Service) Lineage(ctx context.Context, tx *store.Tx, a marketplace.Agreement) (string, error) {
	o, err := scanOffer(tx.QueryRow(ctx, `SELECT `+offerColumns+` FROM offers WHERE agreement_id = ? ORDER BY updated_at DESC LIMIT 1`, a.AgreementID))
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	if !o.Renewal || o.Renews == "" {
		return "", nil
	}
	return o.Renews, nil
}
