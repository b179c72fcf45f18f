package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
)

// OpApplyChangeSet is the fault-injection key of the applier: a fault table
// entry under this exact name (not "*") with an ErrorShare fails due change
// sets with SERVER_FAULT.
const OpApplyChangeSet = "ApplyChangeSet"

// Error codes of ErrorDetailList entries.
const (
	CodeIncompatibleProduct   = "INCOMPATIBLE_PRODUCT"
	CodeIncompatibleAgreement = "INCOMPATIBLE_AGREEMENT"
	CodeIncompatibleTerms     = "INCOMPATIBLE_TERMS"
	CodeInvalidBuyerAccounts  = "INVALID_BUYER_ACCOUNTS"
	CodeInvalidState          = "INVALID_STATE"
	CodeInvalidAvailability   = "INVALID_AVAILABILITY_END_DATE"
	CodeInvalidResaleAuth     = "INVALID_RESALE_AUTHORIZATION"
	CodeInvalidReseller       = "INVALID_RESELLER_ACCOUNT"
	CodeMissingMandatoryTerms = "MISSING_MANDATORY_TERMS"
	CodeEntityNotFound        = "ENTITY_NOT_FOUND"
	CodeInvalidInput          = "INVALID_INPUT"
)

type changeError = errorDetail

func fail(code, format string, args ...any) *changeError {
	return &changeError{ErrorCode: code, ErrorMessage: fmt.Sprintf(format, args...)}
}

// txn applies a change set's changes to copies of the entities they touch, so
// that a set whose changes do not all succeed leaves the world unchanged.
type txn struct {
	s        *world.State
	now      time.Time
	offers   map[string]*world.Offer
	ras      map[string]*world.ResaleAuthorization
	created  map[string]bool
	released []string // offers released by this set, in order
}

func newTxn(s *world.State) *txn {
	return &txn{s: s, now: s.Now(), offers: map[string]*world.Offer{}, ras: map[string]*world.ResaleAuthorization{}, created: map[string]bool{}}
}

func (tx *txn) offer(id string) *world.Offer {
	if o, ok := tx.offers[id]; ok {
		return o
	}
	o := tx.s.Offers[id]
	if o == nil {
		return nil
	}
	c := *o
	c.BuyerAccounts = slices.Clone(o.BuyerAccounts)
	c.Quantities = maps.Clone(o.Quantities)
	c.Terms = slices.Clone(o.Terms)
	c.Details = maps.Clone(o.Details)
	if o.ExpirationDate != nil {
		t := *o.ExpirationDate
		c.ExpirationDate = &t
	}
	if o.StartDate != nil {
		t := *o.StartDate
		c.StartDate = &t
	}
	if o.EndDate != nil {
		t := *o.EndDate
		c.EndDate = &t
	}
	tx.offers[id] = &c
	return &c
}

func (tx *txn) ra(id string) *world.ResaleAuthorization {
	if r, ok := tx.ras[id]; ok {
		return r
	}
	r := tx.s.ResaleAuthorizations[id]
	if r == nil {
		return nil
	}
	c := *r
	c.BuyerAccounts = slices.Clone(r.BuyerAccounts)
	c.Details = maps.Clone(r.Details)
	tx.ras[id] = &c
	return &c
}

func (tx *txn) commit() {
	for _, id := range world.SortedKeys(tx.offers) {
		tx.s.Offers[id] = tx.offers[id]
	}
	for _, id := range world.SortedKeys(tx.ras) {
		tx.s.ResaleAuthorizations[id] = tx.ras[id]
	}
}

// run applies changes in order, the release changes last, and returns one
// result per change.
func (tx *txn) run(changes []storedChange) []changeResult {
	results := make([]changeResult, len(changes))
	var order []int
	for pass := range 2 {
		for i, c := range changes {
			if spec := specs[c.EntityType][c.ChangeType]; spec != nil && spec.release == (pass == 1) {
				order = append(order, i)
			}
		}
	}
	refs := map[string]string{}
	for _, i := range order {
		c := changes[i]
		spec := specs[c.EntityType][c.ChangeType]
		if spec == nil {
			results[i].Errors = []errorDetail{*fail(CodeInvalidState, "change type %s is not supported for %s", c.ChangeType, c.EntityType)}
			continue
		}
		if p := spec.check(c.Details); p != nil { // changes restored from a snapshot are not validated yet
			results[i].Errors = []errorDetail{*fail(CodeInvalidInput, "%s: %s", p.field, p.msg)}
			continue
		}
		id := c.Identifier
		if name := refName(id); name != "" {
			if id = refs[name]; id == "" {
				continue // the creating change failed; its error is reported there
			}
		}
		newID, err := spec.apply(tx, id, c.Details)
		if err != nil {
			results[i].Errors = []errorDetail{*err}
			continue
		}
		results[i].EntityID = newID
		if spec.create {
			results[i].Created = true
			if c.ChangeName != "" {
				refs[c.ChangeName] = newID
			}
		}
	}
	return results
}

// applyChangeSet is the world's change set applier: it runs when a
// PREPARING or APPLYING change set is due.
func (srv *Server) applyChangeSet(s *world.State, cs *world.ChangeSet) {
	now := s.Now()
	finish := func(status, code, desc string) {
		cs.Status, cs.FailureCode, cs.FailureDescription = status, code, desc
		cs.EndTime = &now
	}
	// The applier runs inside world.Do, which keeps its lock when a panic
	// escapes: fail the set instead. Nothing is committed before the end.
	defer func() {
		if p := recover(); p != nil {
			finish(StatusFailed, FailureServerFault, fmt.Sprintf("An internal error occurred while applying the change set: %v", p))
			emitChangeSetEvent(s, cs)
		}
	}()
	changes, ok := decodeChanges(cs)
	if !ok {
		finish(StatusFailed, FailureServerFault, "The change set could not be read.")
		emitChangeSetEvent(s, cs)
		return
	}
	if _, injected := s.Faults[OpApplyChangeSet]; injected {
		if d := s.Inject(OpApplyChangeSet); d.Fail {
			finish(StatusFailed, FailureServerFault, "An internal error occurred while applying the change set (injected fault). Retry the request.")
			emitChangeSetEvent(s, cs)
			return
		}
	}
	tx := newTxn(s)
	results := tx.run(changes)
	var failed []string
	for i, r := range results {
		for _, e := range r.Errors {
			failed = append(failed, fmt.Sprintf("%s (change %d): %s", changes[i].ChangeType, i, e.ErrorCode))
		}
	}
	if len(failed) > 0 {
		for i := range results {
			if !results[i].Created {
				continue
			}
			results[i].EntityID, results[i].Created = "", false
		}
		cs.Result, _ = json.Marshal(changeSetResult{Changes: results})
		finish(StatusFailed, FailureClientError, fmt.Sprintf("%d of %d changes failed and none was applied: %s. See the ErrorDetailList of each change.",
			len(failed), len(changes), strings.Join(failed, "; ")))
		emitChangeSetEvent(s, cs)
		return
	}
	if cs.Intent == "VALIDATE" {
		for i := range results {
			results[i].EntityID, results[i].Created = "", false
		}
		cs.Result, _ = json.Marshal(changeSetResult{Changes: results})
		finish(StatusSucceeded, "", "")
		emitChangeSetEvent(s, cs)
		return
	}
	tx.commit()
	cs.Result, _ = json.Marshal(changeSetResult{Changes: results})
	finish(StatusSucceeded, "", "")
	idx := entityIndex(s)
	for i := range results {
		if id := results[i].EntityID; id != "" {
			results[i].Revision = idx.revision(id)
		}
	}
	cs.Result, _ = json.Marshal(changeSetResult{Changes: results})
	for _, id := range tx.released {
		emitOfferReleased(s, s.Offers[id])
	}
	emitChangeSetEvent(s, cs)
}

// Offer helpers.

func offerExpired(o *world.Offer, now time.Time) bool {
	return o.State == "Expired" || (o.ExpirationDate != nil && o.ExpirationDate.Before(now))
}

// editableAfterRelease are the offer changes a released offer still accepts.
var editableAfterRelease = map[string]bool{"UpdateInformation": true, "UpdateAvailability": true, "UpdateLegalTerms": true,
	"UpdateSupportTerms": true, "UpdateRenewalTerms": true}

func (tx *txn) editableOffer(id, changeType string) (*world.Offer, *changeError) {
	o := tx.offer(id)
	if o == nil {
		return nil, fail(CodeEntityNotFound, "offer %s was not found", id)
	}
	switch {
	case o.State == "Draft":
	case offerExpired(o, tx.now) && changeType != "UpdateInformation":
		return nil, fail(CodeInvalidState, "offer %s has expired; %s is not allowed", id, changeType)
	case changeType == "UpdatePricingTerms" && !o.Private && o.ResaleAuthorizationID == "":
		// A released public offer takes new prices: AWS's samples
		// java/resources/changeSets/offers/UpdateFreeTrialDurationOfPublicFreeTrialOfferForSass.json
		// and UpdateOfferWithContractAndPayAsYouGoPricing.json update an existing offer's pricing.
	case !editableAfterRelease[changeType]:
		return nil, fail(CodeInvalidState, "offer %s is released; %s is only allowed before ReleaseOffer", id, changeType)
	}
	return o, nil
}

func setDetail(o *world.Offer, changeType string, raw json.RawMessage) {
	if o.Details == nil {
		o.Details = map[string]json.RawMessage{}
	}
	o.Details[changeType] = raw
}

// overlay keeps the members of an earlier UpdateInformation that a later one
// does not name: renaming an offer keeps its Description and its
// PreExistingAgreement.
func overlay(old, raw json.RawMessage) json.RawMessage {
	if old == nil {
		return raw
	}
	var merged, next map[string]json.RawMessage
	if json.Unmarshal(old, &merged) != nil || json.Unmarshal(raw, &next) != nil {
		return raw
	}
	maps.Copy(merged, next)
	b, err := json.Marshal(merged)
	if err != nil {
		return raw
	}
	return b
}

// catalogManaged reports whether the offer was created through the Catalog API.
func catalogManaged(o *world.Offer) bool {
	for _, k := range createOfferTypes {
		if o.Details[k] != nil {
			return true
		}
	}
	return false
}

var createOfferTypes = []string{"CreateOffer", "CreateReplacementOffer", "CreateOfferUsingResaleAuthorization", "CreateReplacementOfferUsingResaleAuthorization"}

func newOfferID(s *world.State, tx *txn) string {
	for {
		id := world.NewID("offer-", 13)
		if s.Offers[id] == nil && tx.offers[id] == nil {
			return id
		}
	}
}

func applyCreateOffer(tx *txn, _ string, raw json.RawMessage) (string, *changeError) {
	var d createOfferDetails
	json.Unmarshal(raw, &d)
	if tx.s.Products[d.ProductId] == nil {
		return "", fail(CodeIncompatibleProduct, "product %s was not found or is not yours", d.ProductId)
	}
	o := &world.Offer{OfferID: newOfferID(tx.s, tx), ProductID: d.ProductId, Name: d.Name, State: "Draft",
		ProposerAccountID: tx.s.Config.SellerAccountID, Currency: "USD", Details: map[string]json.RawMessage{"CreateOffer": raw}}
	tx.offers[o.OfferID] = o
	tx.created[o.OfferID] = true
	return o.OfferID, nil
}

// amendable finds the active agreement a replacement offer replaces.
func (tx *txn) amendable(agreementID string) (*world.Agreement, *changeError) {
	a := tx.s.Agreements[agreementID]
	if a == nil {
		return nil, fail(CodeIncompatibleAgreement, "agreement %s was not found", agreementID)
	}
	if a.Status != "ACTIVE" {
		return nil, fail(CodeIncompatibleAgreement, "agreement %s is %s: only an ACTIVE agreement can be replaced", a.ID, a.Status)
	}
	p := tx.s.Products[a.ProductID]
	if p == nil || (p.Type != world.ProductSaaSContract && p.Type != world.ProductSaaSContractConsumption) {
		typ := "unknown"
		if p != nil {
			typ = p.Type
		}
		return nil, fail(CodeIncompatibleProduct, "product %s is %s: only SaaS contract and SaaS contract with consumption agreements can be amended",
			a.ProductID, typ)
	}
	return a, nil
}

func applyCreateReplacementOffer(tx *txn, _ string, raw json.RawMessage) (string, *changeError) {
	var d createReplacementOfferDetails
	json.Unmarshal(raw, &d)
	a, err := tx.amendable(d.AgreementId)
	if err != nil {
		return "", err
	}
	if a.ResaleAuthorizationID != "" || a.ProposerAccountID != tx.s.Config.SellerAccountID {
		return "", fail(CodeIncompatibleAgreement,
			"agreement %s was sold by %s through a channel partner: only its seller of record can replace it (CreateReplacementOfferUsingResaleAuthorization)",
			a.ID, a.ProposerAccountID)
	}
	name := d.Name
	if name == "" {
		name = "Replacement offer for " + a.ID
	}
	// A replacement offer is private to the agreement's buyer, also when the
	// agreement came from the public offer, and does not auto-renew unless
	// renewal terms are set.
	o := &world.Offer{OfferID: newOfferID(tx.s, tx), ProductID: a.ProductID, Name: name, State: "Draft", Private: true,
		BuyerAccounts: []string{a.AcceptorAccountID}, ProposerAccountID: a.ProposerAccountID, ReplacesAgreementID: a.ID,
		Currency: a.Currency, Details: map[string]json.RawMessage{"CreateReplacementOffer": raw}}
	if o.Currency == "" {
		o.Currency = "USD"
	}
	tx.offers[o.OfferID] = o
	tx.created[o.OfferID] = true
	return o.OfferID, nil
}

// usableRA checks that a resale authorization can back a new CPPO, with the
// rule the world's own partner offers obey (world.ResaleAuthorization.CheckUsable).
func (tx *txn) usableRA(id string) (*world.ResaleAuthorization, *changeError) {
	ra := tx.ra(id)
	if ra == nil {
		return nil, fail(CodeInvalidResaleAuth, "resale authorization %s was not found", id)
	}
	if err := ra.CheckUsable(tx.now); err != nil {
		return nil, worldFailure(CodeInvalidResaleAuth, err)
	}
	return ra, nil
}

// worldFailure reports a refusal of one of the world's shared offer rules as
// a change's error, with the world's message.
func worldFailure(code string, err error) *changeError {
	var we *world.Error
	if errors.As(err, &we) {
		return fail(code, "%s", we.Message)
	}
	return fail(code, "%v", err)
}

func (tx *txn) raUses(raID string) int {
	n := 0
	seen := map[string]bool{}
	for _, m := range []map[string]*world.Offer{tx.offers, tx.s.Offers} {
		for id, o := range m {
			if !seen[id] && o.ResaleAuthorizationID == raID && o.State != "Draft" {
				n++
			}
			seen[id] = true
		}
	}
	return n
}

func applyCreateCPPO(replacement bool) func(*txn, string, json.RawMessage) (string, *changeError) {
	changeType := "CreateOfferUsingResaleAuthorization"
	if replacement {
		changeType = "CreateReplacementOfferUsingResaleAuthorization"
	}
	return func(tx *txn, _ string, raw json.RawMessage) (string, *changeError) {
		var d createOfferUsingRADetails
		json.Unmarshal(raw, &d)
		ra, err := tx.usableRA(d.ResaleAuthorizationId)
		if err != nil {
			return "", err
		}
		o := &world.Offer{OfferID: newOfferID(tx.s, tx), ProductID: ra.ProductID, Name: d.Name, State: "Draft", Private: true,
			ProposerAccountID: ra.ResellerAccountID, ResaleAuthorizationID: ra.ID, Currency: ra.Currency,
			BuyerAccounts: slices.Clone(ra.BuyerAccounts), Details: map[string]json.RawMessage{changeType: raw}}
		if replacement {
			a, err := tx.amendable(d.AgreementId)
			if err != nil {
				return "", err
			}
			if a.ProposerAccountID != ra.ResellerAccountID || a.ProductID != ra.ProductID {
				return "", fail(CodeIncompatibleAgreement, "agreement %s was not sold by reseller %s for product %s: the seller of record cannot change",
					a.ID, ra.ResellerAccountID, ra.ProductID)
			}
			o.ReplacesAgreementID, o.BuyerAccounts = a.ID, []string{a.AcceptorAccountID}
		}
		if o.Name == "" {
			o.Name = ra.Name
		}
		ra.PartnerOfferFrom(o)
		if o.Currency == "" {
			o.Currency = "USD"
		}
		tx.offers[o.OfferID] = o
		tx.created[o.OfferID] = true
		return o.OfferID, nil
	}
}

func applyOfferInformation(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	o, err := tx.editableOffer(id, "UpdateInformation")
	if err != nil {
		return "", err
	}
	var d informationDetails
	json.Unmarshal(raw, &d)
	if d.Name != nil {
		o.Name = *d.Name
	}
	setDetail(o, "UpdateInformation", overlay(o.Details["UpdateInformation"], raw))
	return id, nil
}

func applyOfferTargeting(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	o, err := tx.editableOffer(id, "UpdateTargeting")
	if err != nil {
		return "", err
	}
	if o.ReplacesAgreementID != "" {
		return "", fail(CodeInvalidBuyerAccounts, "offer %s replaces agreement %s: its targeting is the agreement's buyer and cannot change",
			id, o.ReplacesAgreementID)
	}
	var d targetingDetails
	json.Unmarshal(raw, &d)
	var buyers []string
	if d.PositiveTargeting != nil {
		for _, b := range d.PositiveTargeting.BuyerAccounts {
			if !slices.Contains(buyers, b) {
				buyers = append(buyers, b)
			}
		}
	}
	if o.ResaleAuthorizationID != "" {
		if len(buyers) == 0 {
			return "", fail(CodeInvalidBuyerAccounts, "a channel partner offer must target buyer accounts")
		}
		if ra := tx.ra(o.ResaleAuthorizationID); ra != nil {
			if err := ra.CheckBuyers(buyers); err != nil {
				return "", worldFailure(CodeInvalidBuyerAccounts, err)
			}
		}
	}
	for _, b := range buyers {
		if b == o.ProposerAccountID {
			return "", fail(CodeInvalidBuyerAccounts, "the offer's seller %s cannot be its buyer", b)
		}
	}
	o.BuyerAccounts = buyers
	o.Private = len(buyers) > 0
	setDetail(o, "UpdateTargeting", raw)
	return id, nil
}

// worldTermTypes are the term kinds the world derives itself for agreements
// (from the product's dimensions and the offer's Duration and AutoRenew), so
// they are kept in Offer.Details only and not repeated in Offer.Terms.
var worldTermTypes = []string{"UsageBasedPricingTerm", "ConfigurableUpfrontPricingTerm", "ValidityTerm", "RenewalTerm"}

// setPricing checks pricing terms against the product and derives Currency,
// Quantities, Duration and the extra agreement terms.
func setPricing(tx *txn, o *world.Offer, d termsDetails) *changeError {
	p := tx.s.Products[o.ProductID]
	if p == nil {
		return fail(CodeIncompatibleProduct, "product %s was not found", o.ProductID)
	}
	switch {
	case p.Type == world.ProductSaaSUsage && d.PricingModel == "Contract":
		return fail(CodeIncompatibleTerms, "product %s is a SaaS usage product: PricingModel Contract does not apply", p.ProductID)
	case p.Type != world.ProductSaaSUsage && d.PricingModel == "Usage":
		return fail(CodeIncompatibleTerms, "product %s is %s: use PricingModel Contract", p.ProductID, p.Type)
	}
	currency := ""
	quantities := map[string]int64{}
	prices := map[string]string{}
	duration := ""
	var extra []termDoc
	for _, t := range d.Terms {
		if t.CurrencyCode != "" {
			if currency != "" && currency != t.CurrencyCode {
				return fail(CodeIncompatibleTerms, "pricing terms use two currencies, %s and %s", currency, t.CurrencyCode)
			}
			currency = t.CurrencyCode
		}
		dimKind := func(key, kind string) *changeError {
			dim, ok := p.Dimension(key)
			if !ok {
				return fail(CodeIncompatibleTerms, "product %s has no dimension %q", p.ProductID, key)
			}
			if kind != "" && dim.Kind != kind {
				return fail(CodeIncompatibleTerms, "dimension %q of product %s is a %s dimension, not %s", key, p.ProductID, dim.Kind, kind)
			}
			return nil
		}
		switch t.Type {
		case "UsageBasedPricingTerm":
			for _, rc := range t.RateCards {
				for _, it := range rc.RateCard {
					if err := dimKind(it.DimensionKey, "usage"); err != nil {
						return err
					}
					prices[it.DimensionKey] = it.Price
				}
			}
		case "ConfigurableUpfrontPricingTerm":
			for _, rc := range t.RateCards {
				for _, it := range rc.RateCard {
					if err := dimKind(it.DimensionKey, "contract"); err != nil {
						return err
					}
					prices[it.DimensionKey] = it.Price
				}
				if len(t.RateCards) == 1 && rc.Selector != nil {
					duration = rc.Selector.Value
				}
			}
		case "FixedUpfrontPricingTerm":
			for _, g := range t.Grants {
				if err := dimKind(g.DimensionKey, "contract"); err != nil {
					return err
				}
				if _, priced := prices[g.DimensionKey]; !priced {
					prices[g.DimensionKey] = "0.00" // granted; the schedule or Price carries the charge
				}
				q := int64(1)
				if g.MaxQuantity != nil {
					q = *g.MaxQuantity
				}
				quantities[g.DimensionKey] = q
			}
			if t.Duration != "" {
				duration = t.Duration
			}
			extra = append(extra, t)
		case "FreeTrialPricingTerm":
			for _, g := range t.Grants {
				if err := dimKind(g.DimensionKey, ""); err != nil {
					return err
				}
			}
			extra = append(extra, t)
		default:
			extra = append(extra, t)
		}
	}
	if currency == "" {
		currency = "USD"
	}
	o.Currency = currency
	o.Prices = nil
	if len(prices) > 0 {
		o.Prices = prices
	}
	if len(quantities) > 0 {
		o.Quantities = quantities
	} else {
		o.Quantities = nil
	}
	if duration != "" && o.Details["UpdateValidityTerms"] == nil {
		o.Duration = duration
	}
	replaceTerms(o, pricingTermTypes, convertTerms(extra, currency))
	return nil
}

func applyOfferPricing(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	o, err := tx.editableOffer(id, "UpdatePricingTerms")
	if err != nil {
		return "", err
	}
	// A new channel partner offer is priced by its resale authorization and
	// the partner's markup (UpdateMarkup, AWS's samples
	// java/resources/changeSets/channel_partner_offers/CreateDraftCppoOffer.json
	// and PublishCppoPiceMarkupObject.json); a replacement one takes its own
	// pricing terms, as AWS's samples CreateResaleAuthorizationReplacementOffer.json
	// and CreateResaleAuthReplacementOffer.json (same folder) send them.
	if o.ResaleAuthorizationID != "" && o.ReplacesAgreementID == "" {
		return "", fail(CodeIncompatibleTerms, "a channel partner offer takes its pricing from resale authorization %s: use UpdateMarkup",
			o.ResaleAuthorizationID)
	}
	var d termsDetails
	json.Unmarshal(raw, &d)
	if err := setPricing(tx, o, d); err != nil {
		return "", err
	}
	setDetail(o, "UpdatePricingTerms", raw)
	return id, nil
}

func applyOfferLegal(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	return applyOfferTerms(tx, id, raw, "UpdateLegalTerms", "LegalTerm")
}

func applyOfferSupport(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	return applyOfferTerms(tx, id, raw, "UpdateSupportTerms", "SupportTerm")
}

func applyOfferNetPayment(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	return applyOfferTerms(tx, id, raw, "UpdateNetPaymentTerms", "NetPaymentTerm")
}

func applyOfferPaymentSchedule(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	return applyOfferTerms(tx, id, raw, "UpdatePaymentScheduleTerms", "PaymentScheduleTerm")
}

// applyOfferTerms replaces the offer's terms of one type.
func applyOfferTerms(tx *txn, id string, raw json.RawMessage, changeType, termType string) (string, *changeError) {
	o, err := tx.editableOffer(id, changeType)
	if err != nil {
		return "", err
	}
	var d termsDetails
	json.Unmarshal(raw, &d)
	if termType == "PaymentScheduleTerm" && len(d.Terms) == 1 && o.Currency != "" && d.Terms[0].CurrencyCode != o.Currency &&
		o.Details["UpdatePricingTerms"] != nil {
		return "", fail(CodeIncompatibleTerms, "the payment schedule is in %s but the offer is priced in %s", d.Terms[0].CurrencyCode, o.Currency)
	}
	replaceTerms(o, []string{termType}, convertTerms(d.Terms, o.Currency))
	setDetail(o, changeType, raw)
	return id, nil
}

func applyOfferAvailability(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	o, err := tx.editableOffer(id, "UpdateAvailability")
	if err != nil {
		return "", err
	}
	if o.State != "Draft" && !o.Private && o.ResaleAuthorizationID == "" {
		return "", fail(CodeInvalidAvailability, "offer %s is a public offer: UpdateAvailability applies to private offers", id)
	}
	var d availabilityDetails
	json.Unmarshal(raw, &d)
	day, _ := parseDate(*d.AvailabilityEndDate)
	end := endOfDay(day)
	o.ExpirationDate = &end
	if o.State == "Released" && end.Before(tx.now) {
		o.State = "Expired"
	}
	setDetail(o, "UpdateAvailability", raw)
	return id, nil
}

func applyOfferValidity(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	o, err := tx.editableOffer(id, "UpdateValidityTerms")
	if err != nil {
		return "", err
	}
	var d termsDetails
	json.Unmarshal(raw, &d)
	t := d.Terms[0]
	today := time.Date(tx.now.Year(), tx.now.Month(), tx.now.Day(), 0, 0, 0, 0, time.UTC)
	o.StartDate, o.EndDate = nil, nil
	base := today
	if t.AgreementStartDate != "" {
		start, _ := parseDate(t.AgreementStartDate)
		if start.Before(today) {
			return "", fail(CodeIncompatibleTerms, "AgreementStartDate %s is in the past", t.AgreementStartDate)
		}
		if start.After(today) {
			o.StartDate = &start
			base = start
		}
	}
	switch {
	case t.AgreementDuration != "":
		o.Duration = t.AgreementDuration
	default:
		end, _ := parseDate(t.AgreementEndDate)
		days := int(end.Sub(base).Hours()/24) + 1
		if days < 1 {
			return "", fail(CodeIncompatibleTerms, "AgreementEndDate %s is not after the agreement start", t.AgreementEndDate)
		}
		// AWS ends the agreement at 23:59:59.999 UTC on the end date, however
		// late in the day it is accepted (Agreement API reference,
		// ValidityTerm agreementEndDate: "The agreement ends at 23:59:59.999
		// UTC on the date provided"): the world keeps the date and ends the
		// agreement on it (world.AgreementEnd). Duration, the days from the
		// start, is what a renewal runs.
		o.EndDate = &end
		o.Duration = fmt.Sprintf("P%dD", days)
	}
	setDetail(o, "UpdateValidityTerms", raw)
	return id, nil
}

func applyOfferRenewal(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	o, err := tx.editableOffer(id, "UpdateRenewalTerms")
	if err != nil {
		return "", err
	}
	var d termsDetails
	json.Unmarshal(raw, &d)
	o.AutoRenew = len(d.Terms) > 0
	setDetail(o, "UpdateRenewalTerms", raw)
	return id, nil
}

func applyOfferMarkup(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	o, err := tx.editableOffer(id, "UpdateMarkup")
	if err != nil {
		return "", err
	}
	if o.ResaleAuthorizationID == "" {
		return "", fail(CodeIncompatibleTerms, "offer %s is not a channel partner offer: UpdateMarkup does not apply", id)
	}
	setDetail(o, "UpdateMarkup", raw)
	return id, nil
}

func applyReleaseOffer(tx *txn, id string, _ json.RawMessage) (string, *changeError) {
	o := tx.offer(id)
	if o == nil {
		return "", fail(CodeEntityNotFound, "offer %s was not found", id)
	}
	if o.State != "Draft" {
		return "", fail(CodeInvalidState, "offer %s is already %s", id, o.State)
	}
	p := tx.s.Products[o.ProductID]
	if p == nil {
		return "", fail(CodeIncompatibleProduct, "product %s was not found", o.ProductID)
	}
	if o.ResaleAuthorizationID != "" {
		ra, err := tx.usableRA(o.ResaleAuthorizationID)
		if err != nil {
			return "", err
		}
		if ra.Details["UpdatePricingTerms"] == nil {
			return "", fail(CodeMissingMandatoryTerms, "resale authorization %s has no pricing terms", ra.ID)
		}
		if err := ra.CheckOfferQuota(tx.raUses(ra.ID)); err != nil {
			return "", worldFailure(CodeInvalidResaleAuth, err)
		}
		if len(o.BuyerAccounts) == 0 {
			return "", fail(CodeMissingMandatoryTerms, "a channel partner offer must target buyer accounts (UpdateTargeting)")
		}
	} else if o.Details["UpdatePricingTerms"] == nil && catalogManaged(o) {
		return "", fail(CodeMissingMandatoryTerms, "offer %s has no pricing terms: add UpdatePricingTerms before ReleaseOffer", id)
	}
	if !o.Private {
		if pub := tx.s.Offers[p.PublicOfferID]; pub != nil && pub.OfferID != o.OfferID && pub.State == "Released" {
			return "", fail(CodeMissingMandatoryTerms,
				"offer %s has no buyer accounts and product %s already has public offer %s: target buyer accounts (UpdateTargeting) to release a private offer",
				id, p.ProductID, pub.OfferID)
		}
	}
	if o.Duration == "" && p.Type != world.ProductSaaSUsage && o.ReplacesAgreementID == "" {
		var d termsDetails
		if raw := o.Details["UpdatePricingTerms"]; raw != nil {
			json.Unmarshal(raw, &d)
		}
		if d.PricingModel == "Contract" || o.ResaleAuthorizationID != "" {
			return "", fail(CodeMissingMandatoryTerms, "contract offer %s has no duration: add UpdateValidityTerms (AgreementDuration)", id)
		}
	}
	if o.ExpirationDate != nil && o.ExpirationDate.Before(tx.now) {
		return "", fail(CodeInvalidAvailability, "offer %s's availability end date %s has passed", id, o.ExpirationDate.Format(time.DateOnly))
	}
	o.State = "Released"
	tx.released = append(tx.released, id)
	return id, nil
}

// Resale authorization changes.

func (tx *txn) editableRA(id, changeType string) (*world.ResaleAuthorization, *changeError) {
	ra := tx.ra(id)
	if ra == nil {
		return nil, fail(CodeEntityNotFound, "resale authorization %s was not found", id)
	}
	switch ra.State {
	case "Draft":
	case "Restricted":
		return nil, fail(CodeInvalidState, "resale authorization %s is Restricted and can no longer change", id)
	default:
		if changeType != "UpdateAvailability" && changeType != "UpdateInformation" {
			return nil, fail(CodeInvalidState, "resale authorization %s is %s: %s is only allowed before ReleaseResaleAuthorization", id, ra.State, changeType)
		}
	}
	return ra, nil
}

func setRADetail(ra *world.ResaleAuthorization, changeType string, raw json.RawMessage) {
	if ra.Details == nil {
		ra.Details = map[string]json.RawMessage{}
	}
	ra.Details[changeType] = raw
}

func applyCreateRA(tx *txn, _ string, raw json.RawMessage) (string, *changeError) {
	var d createRADetails
	json.Unmarshal(raw, &d)
	if tx.s.Products[d.ProductId] == nil {
		return "", fail(CodeIncompatibleProduct, "product %s was not found or is not yours", d.ProductId)
	}
	if d.ResellerAccountId == tx.s.Config.SellerAccountID {
		return "", fail(CodeInvalidReseller, "the manufacturer %s cannot authorize itself as reseller", d.ResellerAccountId)
	}
	var id string
	for id == "" || tx.s.ResaleAuthorizations[id] != nil || tx.ras[id] != nil {
		id = world.NewID("resaleauthz-", 13)
	}
	ra := &world.ResaleAuthorization{ID: id, ProductID: d.ProductId, Name: d.Name, ResellerAccountID: d.ResellerAccountId,
		State: "Draft", Currency: "USD", Details: map[string]json.RawMessage{"CreateResaleAuthorization": raw}}
	tx.ras[id] = ra
	tx.created[id] = true
	return id, nil
}

func applyRAInformation(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	ra, err := tx.editableRA(id, "UpdateInformation")
	if err != nil {
		return "", err
	}
	var d informationDetails
	json.Unmarshal(raw, &d)
	if d.Name != nil {
		ra.Name = *d.Name
	}
	setRADetail(ra, "UpdateInformation", overlay(ra.Details["UpdateInformation"], raw))
	return id, nil
}

func applyRATerms(changeType string) func(*txn, string, json.RawMessage) (string, *changeError) {
	return func(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
		ra, err := tx.editableRA(id, changeType)
		if err != nil {
			return "", err
		}
		if changeType == "UpdateBuyerTargetingTerms" {
			var d termsDetails
			json.Unmarshal(raw, &d)
			ra.BuyerAccounts = slices.Compact(slices.Sorted(slices.Values(d.Terms[0].PositiveTargeting.BuyerAccounts)))
		}
		if changeType == "UpdatePaymentScheduleTerms" {
			// The partner's offer carries the authorization's schedule.
			var d termsDetails
			json.Unmarshal(raw, &d)
			for i := range d.Terms {
				d.Terms[i].Type = strings.TrimPrefix(d.Terms[i].Type, "Resale")
			}
			scratch := &world.Offer{Terms: ra.Terms}
			replaceTerms(scratch, []string{"PaymentScheduleTerm"}, convertTerms(d.Terms, ra.Currency))
			ra.Terms = scratch.Terms
		}
		setRADetail(ra, changeType, raw)
		return id, nil
	}
}

func applyRAAvailability(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	ra, err := tx.editableRA(id, "UpdateAvailability")
	if err != nil {
		return "", err
	}
	var d availabilityDetails
	json.Unmarshal(raw, &d)
	if d.AvailabilityEndDate != nil {
		day, _ := parseDate(*d.AvailabilityEndDate)
		if endOfDay(day).Before(tx.now) && ra.State == "Draft" {
			return "", fail(CodeInvalidAvailability, "AvailabilityEndDate %s is in the past", *d.AvailabilityEndDate)
		}
	}
	merged := availabilityDetails{}
	if old := ra.Details["UpdateAvailability"]; old != nil {
		json.Unmarshal(old, &merged)
	}
	if d.AvailabilityEndDate != nil {
		merged.AvailabilityEndDate = d.AvailabilityEndDate
	}
	if d.OffersMaxQuantity != nil {
		merged.OffersMaxQuantity = d.OffersMaxQuantity
	}
	b, _ := json.Marshal(merged)
	setRADetail(ra, "UpdateAvailability", b)
	return id, nil
}

func applyRAPricing(tx *txn, id string, raw json.RawMessage) (string, *changeError) {
	ra, err := tx.editableRA(id, "UpdatePricingTerms")
	if err != nil {
		return "", err
	}
	var d termsDetails
	json.Unmarshal(raw, &d)
	for i := range d.Terms {
		d.Terms[i].Type = strings.TrimPrefix(d.Terms[i].Type, "Resale")
	}
	// Check the terms against the product on a scratch offer, and keep what
	// they make of a partner's offer.
	scratch := &world.Offer{ProductID: ra.ProductID, Terms: ra.Terms}
	if err := setPricing(tx, scratch, d); err != nil {
		return "", err
	}
	ra.Currency, ra.Prices, ra.Quantities, ra.Duration, ra.Terms = scratch.Currency, scratch.Prices, scratch.Quantities, scratch.Duration, scratch.Terms
	setRADetail(ra, "UpdatePricingTerms", raw)
	return id, nil
}

func applyReleaseRA(tx *txn, id string, _ json.RawMessage) (string, *changeError) {
	ra := tx.ra(id)
	if ra == nil {
		return "", fail(CodeEntityNotFound, "resale authorization %s was not found", id)
	}
	if ra.State != "Draft" {
		return "", fail(CodeInvalidState, "resale authorization %s is already %s", id, ra.State)
	}
	if ra.Details["UpdatePricingTerms"] == nil {
		return "", fail(CodeMissingMandatoryTerms, "resale authorization %s has no pricing terms: add UpdatePricingTerms", id)
	}
	ra.State = "Active"
	return id, nil
}

func applyRestrictRA(tx *txn, id string, _ json.RawMessage) (string, *changeError) {
	ra := tx.ra(id)
	if ra == nil {
		return "", fail(CodeEntityNotFound, "resale authorization %s was not found", id)
	}
	if ra.State != "Active" {
		return "", fail(CodeInvalidState, "resale authorization %s is %s: only an Active resale authorization can be restricted", id, ra.State)
	}
	ra.State = "Restricted"
	return id, nil
}
