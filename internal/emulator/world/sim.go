package world

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
)

var (
	accountPattern   = regexp.MustCompile(`^[0-9]{12}$`)
	dimensionPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,255}$`)
	durationParts    = regexp.MustCompile(`^P(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)D)?$`)
)

// AddDuration adds an ISO 8601 duration of the form AWS's Catalog shapes
// accept (DurationPattern): PnY, PnM, PnD or a combination such as P1Y6M.
func AddDuration(t time.Time, iso string) (time.Time, error) {
	m := durationParts.FindStringSubmatch(iso)
	if m == nil || iso == "P" {
		return t, Errorf(CodeValidation, "duration %q must look like P12M, P1Y, P30D or P1Y6M", iso)
	}
	var n [3]int
	for i, v := range m[1:] {
		if v == "" {
			continue
		}
		var err error
		if n[i], err = strconv.Atoi(v); err != nil || n[i] > 1_000_000 {
			return t, Errorf(CodeValidation, "duration %q is too long", iso)
		}
	}
	return t.AddDate(n[0], n[1], n[2]), nil
}

// SubscriptionTopic is the legacy SNS topic AWS publishes subscription actions to.
func (s *State) SubscriptionTopic(productCode string) string {
	return "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-" + productCode
}

// EntitlementTopic is the legacy SNS topic for contract entitlement changes.
func (s *State) EntitlementTopic(productCode string) string {
	return "arn:aws:sns:us-east-1:287250355862:aws-mp-entitlement-notification-" + productCode
}

// CreateProduct adds a product and its public offer.
func (s *State) CreateProduct(p Product) (*Product, error) {
	if p.ProductID == "" {
		p.ProductID = NewID("prod-", 13)
	}
	if p.ProductCode == "" {
		p.ProductCode = NewID("", 25)
	}
	if p.Type == "" {
		p.Type = ProductSaaSContract
	}
	switch p.Type {
	case ProductSaaSContract, ProductSaaSContractConsumption, ProductSaaSUsage, ProductProfessionalServices:
	default:
		return nil, Errorf(CodeValidation, "type %q is not saas_contract, saas_contract_consumption, saas_usage or professional_services", p.Type)
	}
	if s.Products[p.ProductID] != nil {
		return nil, Errorf(CodeConflict, "product %s exists", p.ProductID)
	}
	for _, o := range s.Products {
		if o.ProductCode == p.ProductCode {
			return nil, Errorf(CodeConflict, "product code %s is taken by %s", p.ProductCode, o.ProductID)
		}
	}
	if len(p.Dimensions) == 0 {
		return nil, Errorf(CodeValidation, "a product needs at least one dimension")
	}
	seen := map[string]bool{}
	for i, d := range p.Dimensions {
		if !dimensionPattern.MatchString(d.Key) || seen[d.Key] {
			return nil, Errorf(CodeValidation, "dimension key %q is invalid or repeated", d.Key)
		}
		seen[d.Key] = true
		if d.Kind == "" {
			p.Dimensions[i].Kind = "usage"
			if p.Type == ProductSaaSContract {
				p.Dimensions[i].Kind = "contract"
			}
		}
		if k := p.Dimensions[i].Kind; k != "contract" && k != "usage" {
			return nil, Errorf(CodeValidation, "dimension %s kind %q must be contract or usage", d.Key, k)
		}
	}
	if p.Title == "" {
		p.Title = p.ProductID
	}
	now := s.now
	pub := &Offer{OfferID: NewID("offer-", 13), ProductID: p.ProductID, Name: p.Title + " (public)", State: "Released",
		ProposerAccountID: s.Config.SellerAccountID, Duration: "P1M", AutoRenew: true, Currency: "USD", ReleasedAt: &now}
	if p.Type == ProductSaaSUsage {
		pub.Duration = ""
	}
	p.PublicOfferID, p.CreatedAt = pub.OfferID, &now
	s.Offers[pub.OfferID] = pub
	cp := p
	s.Products[p.ProductID] = &cp
	return &cp, nil
}

// CreateBuyer adds a buyer account (a random one when empty).
func (s *State) CreateBuyer(account string) (*Buyer, error) {
	if account == "" {
		// Not from the fault source: creating buyers must not shift fault draws.
		n, _ := rand.Int(rand.Reader, big.NewInt(900000000000))
		account = fmt.Sprintf("%012d", n.Int64()+100000000000)
	}
	if !accountPattern.MatchString(account) {
		return nil, Errorf(CodeValidation, "account id %q must be 12 digits", account)
	}
	if b := s.Buyers[account]; b != nil {
		return b, nil
	}
	b := &Buyer{AccountID: account, CustomerIdentifiers: map[string]string{}}
	s.Buyers[account] = b
	return b, nil
}

// CreatePrivateOffer adds a released private offer for its buyer accounts.
// An offer made from a resale authorization (ResaleAuthorizationID set) is
// the channel partner's and obeys the authorization's rules, as the Catalog
// API's channel partner offers do; every offer obeys the value rules of the
// Catalog shapes (offerrules.go).
func (s *State) CreatePrivateOffer(o Offer) (*Offer, error) {
	p := s.Products[o.ProductID]
	if p == nil {
		return nil, Errorf(CodeNotFound, "product %s not found", o.ProductID)
	}
	if len(o.BuyerAccounts) == 0 {
		return nil, Errorf(CodeValidation, "a private offer targets at least one buyer account")
	}
	for _, b := range o.BuyerAccounts {
		if !accountPattern.MatchString(b) {
			return nil, Errorf(CodeValidation, "buyer account %q must be 12 digits", b)
		}
	}
	var buyers []string
	for _, b := range o.BuyerAccounts {
		if !slices.Contains(buyers, b) {
			buyers = append(buyers, b)
		}
	}
	o.BuyerAccounts = buyers
	if o.ProposerAccountID == "" {
		o.ProposerAccountID = s.Config.SellerAccountID
	}
	if err := s.checkOfferValues(p, &o); err != nil {
		return nil, err
	}
	if err := s.checkQuantities(p, o.Quantities); err != nil {
		return nil, err
	}
	if o.ResaleAuthorizationID != "" {
		if err := s.checkPartnerOffer(&o); err != nil {
			return nil, err
		}
	}
	o.OfferID = NewID("offer-", 13)
	o.Private, o.State = true, "Released"
	now := s.now
	o.ReleasedAt, o.Details = &now, nil
	if o.Name == "" {
		o.Name = "Private offer for " + strings.Join(o.BuyerAccounts, ", ")
		if len(o.Name) > OfferNameMax {
			o.Name = fmt.Sprintf("Private offer for %d buyer accounts", len(o.BuyerAccounts))
		}
	}
	if o.Currency == "" {
		o.Currency = "USD"
	}
	if o.Duration == "" && p.Type != ProductSaaSUsage {
		o.Duration = "P12M"
	}
	s.Offers[o.OfferID] = &o
	return &o, nil
}

func (s *State) checkQuantities(p *Product, q map[string]int64) error {
	for k, v := range q {
		d, ok := p.Dimension(k)
		if !ok {
			return Errorf(CodeValidation, "product %s has no dimension %q", p.ProductID, k)
		}
		if d.Kind != "contract" {
			return Errorf(CodeValidation, "dimension %q is metered, not purchased", k)
		}
		if v < 0 || v > math.MaxInt32 {
			return Errorf(CodeValidation, "quantity of %q must be between 0 and %d", k, math.MaxInt32)
		}
	}
	return nil
}

// CreateResaleAuthorization lets a partner resell a product (CPPO).
func (s *State) CreateResaleAuthorization(productID, reseller, name string) (*ResaleAuthorization, error) {
	if s.Products[productID] == nil {
		return nil, Errorf(CodeNotFound, "product %s not found", productID)
	}
	if !accountPattern.MatchString(reseller) {
		return nil, Errorf(CodeValidation, "reseller account %q must be 12 digits", reseller)
	}
	now := s.now
	ra := &ResaleAuthorization{ID: NewID("resaleauthz-", 13), ProductID: productID, Name: name, ResellerAccountID: reseller, State: "Active",
		Currency: "USD", CreatedAt: &now}
	if ra.Name == "" {
		ra.Name = "Resale authorization for " + reseller
	}
	s.ResaleAuthorizations[ra.ID] = ra
	return ra, nil
}

// CreatePartnerOffer plays the channel partner: it extends a CPPO offer to a
// buyer from an active resale authorization.
func (s *State) CreatePartnerOffer(resaleAuthorizationID string, o Offer) (*Offer, error) {
	ra := s.ResaleAuthorizations[resaleAuthorizationID]
	if ra == nil {
		return nil, Errorf(CodeNotFound, "resale authorization %s not found", resaleAuthorizationID)
	}
	o.ProductID, o.ResaleAuthorizationID, o.ProposerAccountID = ra.ProductID, ra.ID, ra.ResellerAccountID
	ra.PartnerOfferFrom(&o)
	off, err := s.CreatePrivateOffer(o)
	if err != nil {
		return nil, err
	}
	s.emit(eventbridge.Custom("Offer Released", "aws.marketplacecatalog", s.Config.SellerAccountID, s.now, map[string]any{
		"catalog": "AWSMarketplace",
		"offer": map[string]any{"id": off.OfferID, "arn": "arn:aws:aws-marketplace:us-east-1:" + ra.ResellerAccountID + ":AWSMarketplace/Offer/" + off.OfferID,
			"name": off.Name, "expirationDate": timeOrNil(off.ExpirationDate)},
		"product":                 map[string]any{"id": ra.ProductID},
		"manufacturer":            map[string]any{"accountId": s.Config.SellerAccountID},
		"sellerOfRecord":          map[string]any{"accountId": ra.ResellerAccountID},
		"resaleAuthorization":     map[string]any{"id": ra.ID},
		"targetedBuyerAccountIds": off.BuyerAccounts,
	}))
	return off, nil
}

// PartnerOfferFrom fills what a channel partner's offer takes from its
// resale authorization and o does not set: the currency, rate card, the
// units and duration a fixed upfront term grants, and the accepted terms
// (fixed upfront price, payment schedule). Without this a partner's offer
// made by "play the partner" lost the authorization's upfront price, and
// its agreement cost nothing.
func (ra *ResaleAuthorization) PartnerOfferFrom(o *Offer) {
	if o.Currency == "" {
		o.Currency = ra.Currency
	}
	if o.Prices == nil && ra.Prices != nil {
		o.Prices = maps.Clone(ra.Prices)
	}
	if ra.Quantities != nil {
		// The partner marks the authorization up; the units it grants stay.
		o.Quantities = maps.Clone(ra.Quantities)
	}
	if o.Duration == "" {
		o.Duration = ra.Duration
	}
	o.Terms = append(slices.Clone(ra.Terms), o.Terms...)
}

// checkPartnerOffer applies the resale authorization's rules to a channel
// partner offer the world makes, the same rules (and messages) the Catalog
// API applies to CreateOfferUsingResaleAuthorization and its ReleaseOffer.
func (s *State) checkPartnerOffer(o *Offer) error {
	ra := s.ResaleAuthorizations[o.ResaleAuthorizationID]
	if ra == nil {
		return Errorf(CodeNotFound, "resale authorization %s not found", o.ResaleAuthorizationID)
	}
	if o.ProductID != ra.ProductID || o.ProposerAccountID != ra.ResellerAccountID {
		return Errorf(CodeValidation, "resale authorization %s lets %s resell product %s only", ra.ID, ra.ResellerAccountID, ra.ProductID)
	}
	if err := ra.CheckUsable(s.now); err != nil {
		return err
	}
	if err := ra.CheckOfferQuota(s.ResaleAuthorizationUses(ra.ID)); err != nil {
		return err
	}
	return ra.CheckBuyers(o.BuyerAccounts)
}

func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// AcceptOptions are the buyer's choices when accepting an offer.
type AcceptOptions struct {
	// Quantities of contract dimensions (public offers; private offers fix them).
	Quantities map[string]int64
	// StartDate makes the agreement future-dated: no license until it starts.
	StartDate *time.Time
}

// Accept plays the buyer accepting an offer: the agreement is created and, unless
// it is future-dated, its license is provisioned.
func (s *State) Accept(buyer, offerID string, opt AcceptOptions) (*Agreement, error) {
	b := s.Buyers[buyer]
	if b == nil {
		return nil, Errorf(CodeNotFound, "buyer %s not found: create it first", buyer)
	}
	o := s.Offers[offerID]
	if o == nil {
		return nil, Errorf(CodeNotFound, "offer %s not found", offerID)
	}
	if o.State != "Released" {
		return nil, Errorf(CodeConflict, "offer %s is %s and cannot be accepted", offerID, o.State)
	}
	if o.ExpirationDate != nil && s.now.After(*o.ExpirationDate) {
		return nil, Errorf(CodeConflict, "offer %s expired on %s", offerID, o.ExpirationDate.Format(time.DateOnly))
	}
	if o.Private && !slices.Contains(o.BuyerAccounts, buyer) {
		return nil, Errorf(CodeConflict, "offer %s is private and not extended to %s", offerID, buyer)
	}
	if o.ReplacesAgreementID != "" {
		return s.Amend(o.ReplacesAgreementID, offerID, "REPLACE", o.Quantities)
	}
	p := s.Products[o.ProductID]
	if !p.ConcurrentAgreements {
		for _, a := range s.Agreements {
			if a.AcceptorAccountID == buyer && a.ProductID == p.ProductID && a.Status == "ACTIVE" {
				return nil, Errorf(CodeConflict, "product %s does not have Concurrent Agreements on and %s already holds agreement %s; amend it instead", p.ProductID, buyer, a.ID)
			}
		}
	}
	// A private offer fixes the quantities unless it leaves them to the buyer.
	q := o.Quantities
	if (!o.Private || len(q) == 0) && opt.Quantities != nil {
		q = opt.Quantities
	}
	if err := s.checkQuantities(p, q); err != nil {
		return nil, err
	}
	start := s.now
	if o.StartDate != nil && o.StartDate.After(start) {
		start = *o.StartDate
	}
	if opt.StartDate != nil {
		if opt.StartDate.Before(s.now.Add(-time.Minute)) {
			return nil, Errorf(CodeValidation, "a start date cannot be in the past")
		}
		start = opt.StartDate.UTC()
	}
	if err := checkEndDate(o, start); err != nil {
		return nil, err
	}
	a := s.newAgreement(o, buyer, "NEW", "", start, q)
	return a, s.created(a)
}

// AgreementEnd is when an agreement made from an offer with the
// AgreementEndDate day (Offer.EndDate, kept at 00:00 UTC) ends: 23:59:59 UTC
// on it, whenever the offer is accepted. The offer's Duration still holds the
// days from the agreement start to it, which a renewal runs and the rate
// card's selector names; a snapshot from before EndDate has none and keeps
// its Duration behaviour. AWS: "The agreement ends at
// 23:59:59.999 UTC on the date provided" (Agreement API reference,
// ValidityTerm agreementEndDate); the world keeps whole seconds, as a
// duration's end (the second before the duration is up) does, and a renewal
// starts the second after.
func AgreementEnd(day time.Time) time.Time {
	d := day.UTC()
	return time.Date(d.Year(), d.Month(), d.Day(), 23, 59, 59, 0, time.UTC)
}

// checkEndDate refuses an agreement that would start after its offer's
// AgreementEndDate is over. No AWS API answers this: a buyer accepts in
// AWS's console, which the emulator's accept stands in for, and an agreement
// that ended before it started is not a state AWS documents; the refusal
// keeps the simulated buyer from making one.
func checkEndDate(o *Offer, start time.Time) error {
	if o.EndDate != nil && !AgreementEnd(*o.EndDate).After(start) {
		return Errorf(CodeConflict, "offer %s ends its agreements on %s, which is over by the agreement start %s",
			o.OfferID, o.EndDate.UTC().Format(time.DateOnly), start.UTC().Format(time.RFC3339))
	}
	return nil
}

func (s *State) newAgreement(o *Offer, buyer, intent, previous string, start time.Time, q map[string]int64) *Agreement {
	a := &Agreement{ID: NewID("agmt-", 26), OfferID: o.OfferID, ProductID: o.ProductID, AcceptorAccountID: buyer, ProposerAccountID: o.ProposerAccountID,
		ResaleAuthorizationID: o.ResaleAuthorizationID, Intent: intent, Status: "ACTIVE", PreviousAgreementID: previous,
		AcceptanceTime: s.now, StartTime: start, Quantities: q, AutoRenew: o.AutoRenew, Currency: o.Currency}
	a.InitialAgreementID = a.ID
	if prev := s.Agreements[previous]; prev != nil {
		a.InitialAgreementID = prev.InitialAgreementID
	}
	switch {
	case o.EndDate != nil && intent != "RENEW":
		// An offer with an AgreementEndDate ends the agreement on that day,
		// whenever it was accepted; a renewal runs the offer's Duration.
		end := AgreementEnd(*o.EndDate)
		a.EndTime = &end
	case o.Duration != "":
		end, _ := AddDuration(start, o.Duration)
		end = end.Add(-time.Second)
		a.EndTime = &end
	}
	a.Terms = s.termsFor(o, a)
	s.Agreements[a.ID] = a
	s.Touch(a.ID)
	return a
}

func (s *State) termsFor(o *Offer, a *Agreement) []agreementapi.Term {
	p := s.Products[o.ProductID]
	var terms []agreementapi.Term
	var contract, usage []agreementapi.RateCardItem
	var dims []agreementapi.Dimension
	// A dimension a fixed upfront term grants (the payment schedule carries
	// its charges) has no rate card line of its own, as in AWS.
	granted := map[string]bool{}
	for _, t := range o.Terms {
		if t.Type == agreementapi.TermFixedUpfrontPricing {
			for _, g := range t.Grants {
				granted[g.DimensionKey] = true
			}
		}
	}
	for _, d := range p.Dimensions {
		if d.Kind == "contract" && granted[d.Key] {
			continue
		}
		price := d.Price
		if o.Prices != nil {
			own, ok := o.Prices[d.Key]
			if !ok {
				continue // the offer does not price this dimension
			}
			price = own
		}
		if price == "" {
			price = "0.00"
		}
		if d.Kind == "contract" {
			contract = append(contract, agreementapi.RateCardItem{DimensionKey: d.Key, Price: price})
			dims = append(dims, agreementapi.Dimension{DimensionKey: d.Key, DimensionValue: int32(a.Quantities[d.Key])})
		} else {
			usage = append(usage, agreementapi.RateCardItem{DimensionKey: d.Key, Price: price})
		}
	}
	if len(contract) > 0 {
		sel := o.Duration
		if sel == "" {
			sel = "P1M"
		}
		terms = append(terms, agreementapi.Term{Type: agreementapi.TermConfigurableUpfrontPricing, ID: "term-" + a.ID[5:17] + "-c", CurrencyCode: a.Currency,
			RateCards:     []agreementapi.RateCard{{Selector: &agreementapi.Selector{Type: "Duration", Value: sel}, Items: contract}},
			Configuration: &agreementapi.UpfrontConfiguration{SelectorValue: sel, Dimensions: dims}})
	}
	if len(usage) > 0 {
		terms = append(terms, agreementapi.Term{Type: agreementapi.TermUsageBasedPricing, ID: "term-" + a.ID[5:17] + "-u", CurrencyCode: a.Currency,
			RateCards: []agreementapi.RateCard{{Items: usage}}})
	}
	if o.Duration != "" {
		terms = append(terms, agreementapi.Term{Type: agreementapi.TermValidity, ID: "term-" + a.ID[5:17] + "-v", AgreementDuration: o.Duration})
	}
	auto := a.AutoRenew
	terms = append(terms, agreementapi.Term{Type: agreementapi.TermRenewal, ID: "term-" + a.ID[5:17] + "-r", EnableAutoRenew: &auto})
	return append(terms, o.Terms...)
}

// ebAgreement is the event builders' view of an agreement.
func (s *State) ebAgreement(a *Agreement) eventbridge.Agreement {
	p := s.Products[a.ProductID]
	e := eventbridge.Agreement{ID: a.ID, Intent: a.Intent, Status: a.Status, AcceptanceTime: a.AcceptanceTime, StartTime: a.StartTime,
		PreviousAgreementID: a.PreviousAgreementID, ResaleAuthorizationID: a.ResaleAuthorizationID, AcceptorAccountID: a.AcceptorAccountID,
		ProposerAccountID: a.ProposerAccountID, OfferID: a.OfferID, ProductID: a.ProductID, ProductCode: p.ProductCode, ProductTitle: p.Title,
		DisabledBy: a.AutoRenewDisabledBy}
	if a.EndTime != nil {
		auto := a.AutoRenew // AWS: false without renewal terms, as with no end date
		e.AutoRenewal = &auto
	}
	if a.EndTime != nil {
		e.EndTime = *a.EndTime
	}
	return e
}

// created announces a new agreement and provisions its license when it starts now.
func (s *State) created(a *Agreement) error {
	s.emit(eventbridge.Created(s.Config.SellerAccountID, s.ebAgreement(a), s.now))
	if !a.StartTime.After(s.now) {
		s.provision(a)
	}
	return nil
}

// provision creates the agreement's license and announces it.
func (s *State) provision(a *Agreement) {
	if a.LicenseArn != "" {
		return
	}
	p := s.Products[a.ProductID]
	id := NewID("l-", 32)
	l := &License{Arn: eventbridge.LicenseArn(a.AcceptorAccountID, id), AgreementID: a.ID, ProductID: p.ProductID, ProductCode: p.ProductCode,
		AccountID: a.AcceptorAccountID, State: LicenseActive, StartTime: a.StartTime}
	if !p.ConcurrentAgreements {
		b := s.Buyers[a.AcceptorAccountID]
		if b.CustomerIdentifiers[p.ProductCode] == "" {
			b.CustomerIdentifiers[p.ProductCode] = NewID("", 11)
		}
		l.CustomerIdentifier = b.CustomerIdentifiers[p.ProductCode]
	}
	a.LicenseArn = l.Arn
	s.Licenses[l.Arn] = l
	s.Touch(a.ID)
	s.emit(eventbridge.LicenseUpdated(s.Config.SellerAccountID, s.ebAgreement(a), l.Arn, s.now))
	if l.CustomerIdentifier != "" {
		s.emitSNS(s.SubscriptionTopic(p.ProductCode), map[string]string{"action": "subscribe-success", "customer-identifier": l.CustomerIdentifier,
			"product-code": p.ProductCode, "offer-identifier": a.OfferID, "isFreeTrialTermPresent": "false"})
		if p.Type != ProductSaaSUsage {
			s.emitSNS(s.EntitlementTopic(p.ProductCode), map[string]string{"action": "entitlement-updated", "customer-identifier": l.CustomerIdentifier, "product-code": p.ProductCode})
		}
	}
}

// end ends an agreement with an ended status and opens its license's final
// metering window.
func (s *State) end(a *Agreement, status string) {
	if a.Status != "ACTIVE" {
		return
	}
	a.Status = status
	t := s.now
	a.EndedAt = &t
	s.Touch(a.ID)
	s.emit(eventbridge.Ended(s.Config.SellerAccountID, s.ebAgreement(a), status, s.now))
	if l := s.Licenses[a.LicenseArn]; l != nil && l.State != LicenseDeprovisioned {
		l.State = LicenseEnding
		l.EndedAt = &t
		until := t.Add(s.Config.FinalWindow)
		l.DeprovisionAt = &until
		if l.CustomerIdentifier != "" && status != "REPLACED" && status != "RENEWED" {
			s.emitSNS(s.SubscriptionTopic(l.ProductCode), map[string]string{"action": "unsubscribe-pending", "customer-identifier": l.CustomerIdentifier, "product-code": l.ProductCode})
		}
	}
}

func (s *State) activeAgreement(id string) (*Agreement, error) {
	a := s.Agreements[id]
	if a == nil {
		return nil, Errorf(CodeNotFound, "agreement %s not found", id)
	}
	if a.Status != "ACTIVE" {
		return nil, Errorf(CodeConflict, "agreement %s is %s", id, a.Status)
	}
	return a, nil
}

// Amend replaces an active agreement with a new one, as a replacement
// (agreement-based) offer accepted does: the new agreement has intent
// REPLACE and names the old one, which ends as REPLACED (AWS's Purchase
// Agreement Created/Ended events, seller guide notifications-eventbridge).
// offerID may be empty to replace on the same offer with new quantities.
// Intent AMEND is not a replacement: AWS announces it as Purchase Agreement
// Amended on the same agreement; see AmendInPlace.
func (s *State) Amend(agreementID, offerID, intent string, quantities map[string]int64) (*Agreement, error) {
	old, err := s.activeAgreement(agreementID)
	if err != nil {
		return nil, err
	}
	p := s.Products[old.ProductID]
	if p.Type != ProductSaaSContract && p.Type != ProductSaaSContractConsumption {
		return nil, Errorf(CodeValidation, "product %s is %s: only SaaS contract products can be amended", p.ProductID, p.Type)
	}
	switch intent {
	case "", "REPLACE":
	case "AMEND":
		return nil, Errorf(CodeValidation, "intent AMEND changes agreement %s in place, and AWS documents only auto-renewal as such a change: "+
			"give autoRenew (and who changes it), or replace the agreement (intent REPLACE) to change its quantities or offer", agreementID)
	default:
		return nil, Errorf(CodeValidation, "intent %q must be REPLACE or AMEND", intent)
	}
	o := s.Offers[old.OfferID]
	if offerID != "" {
		if o = s.Offers[offerID]; o == nil {
			return nil, Errorf(CodeNotFound, "offer %s not found", offerID)
		}
	}
	q := quantities
	if q == nil {
		q = old.Quantities
	}
	if err := s.checkQuantities(p, q); err != nil {
		return nil, err
	}
	if offerID != "" {
		if err := checkEndDate(o, s.now); err != nil {
			return nil, err
		}
	}
	a := s.newAgreement(o, old.AcceptorAccountID, "REPLACE", old.ID, s.now, q)
	if offerID == "" && old.EndTime != nil {
		a.EndTime = old.EndTime
	}
	s.created(a)
	s.end(old, "REPLACED")
	return a, nil
}

// Parties that can turn auto-renewal off (AWS's renewalSummary.disabledBy).
const (
	ByAcceptor = "ACCEPTOR"
	ByProposer = "PROPOSER"
)

// AmendInPlace changes an active agreement's auto-renewal in place: the same
// agreement, announced as Purchase Agreement Amended (intent AMEND) with
// agreement.autoRenewalEnabled and renewalSummary.disabledBy. AWS documents
// this as an amendment of the existing agreement: the buyer can change the
// flag at any time (Agreement API reference, RenewalTerm), and "seller
// opt-out is processed as an amendment and surfaces through this event"
// (seller guide, notifications-eventbridge). by is ACCEPTOR (the buyer) or
// PROPOSER (the seller of record).
func (s *State) AmendInPlace(agreementID string, autoRenew bool, by string) (*Agreement, error) {
	a, err := s.activeAgreement(agreementID)
	if err != nil {
		return nil, err
	}
	if by == "" {
		by = ByAcceptor
	}
	if by != ByAcceptor && by != ByProposer {
		return nil, Errorf(CodeValidation, "auto-renewal is changed by %s (the buyer) or %s (the seller of record), not %q", ByAcceptor, ByProposer, by)
	}
	if a.EndTime == nil {
		return nil, Errorf(CodeConflict, "agreement %s has no end date: there is nothing to renew", a.ID)
	}
	if a.AutoRenew == autoRenew {
		return nil, Errorf(CodeConflict, "auto-renewal of agreement %s is already %s", a.ID, map[bool]string{true: "on", false: "off"}[autoRenew])
	}
	a.AutoRenew = autoRenew
	switch {
	case autoRenew:
		a.AutoRenewDisabledBy = ""
	case a.AutoRenewDisabledBy == "" || by == ByProposer:
		// AWS: PROPOSER when both parties opted out.
		a.AutoRenewDisabledBy = by
	}
	for i := range a.Terms {
		if a.Terms[i].Type == agreementapi.TermRenewal {
			v := autoRenew
			a.Terms[i].EnableAutoRenew = &v
		}
	}
	s.Touch(a.ID)
	eb := s.ebAgreement(a)
	eb.Intent, eb.PreviousAgreementID = "AMEND", ""
	s.emit(eventbridge.Amended(s.Config.SellerAccountID, eb, s.now))
	return a, nil
}

// Renew accepts a renewal of an agreement now, as a future-dated agreement:
// the new agreement (intent RENEW, naming the old one) starts when the old
// one ends, and the old one runs until then; at its end AWS ends it as
// RENEWED (seller guide, notifications-eventbridge: "a renewal creates a
// new agreement (intent=RENEW)"; Purchase Agreement Ended statuses). An
// agreement with no end date renews at once.
func (s *State) Renew(agreementID string) (*Agreement, error) {
	old, err := s.activeAgreement(agreementID)
	if err != nil {
		return nil, err
	}
	if old.RenewedBy != "" {
		return nil, Errorf(CodeConflict, "agreement %s is already renewed by %s, which starts when it ends", old.ID, old.RenewedBy)
	}
	if old.EndTime == nil || !old.EndTime.After(s.now) {
		return s.renewAt(old, s.now), nil
	}
	a := s.newAgreement(s.Offers[old.OfferID], old.AcceptorAccountID, "RENEW", old.ID, old.EndTime.Add(time.Second), old.Quantities)
	old.RenewedBy = a.ID
	s.Touch(old.ID)
	s.created(a)
	return a, nil
}

// renewAt renews old with a new agreement starting at start (the old end date
// for an automatic renewal, so the terms line up without a gap).
func (s *State) renewAt(old *Agreement, start time.Time) *Agreement {
	a := s.newAgreement(s.Offers[old.OfferID], old.AcceptorAccountID, "RENEW", old.ID, start, old.Quantities)
	s.created(a)
	s.end(old, "RENEWED")
	return a
}

// Cancel ends an agreement as CANCELLED (the buyer cancelled).
func (s *State) Cancel(agreementID string) (*Agreement, error) {
	a, err := s.activeAgreement(agreementID)
	if err != nil {
		return nil, err
	}
	s.end(a, "CANCELLED")
	return a, nil
}

// Expire ends an agreement as EXPIRED (its end date passed).
func (s *State) Expire(agreementID string) (*Agreement, error) {
	a, err := s.activeAgreement(agreementID)
	if err != nil {
		return nil, err
	}
	s.end(a, "EXPIRED")
	return a, nil
}

// MintToken issues a registration token for a license, as AWS does when it
// sends the buyer to the fulfillment URL.
func (s *State) MintToken(licenseOrAgreement string) (*Token, error) {
	l := s.Licenses[licenseOrAgreement]
	if l == nil {
		if a := s.Agreements[licenseOrAgreement]; a != nil {
			l = s.Licenses[a.LicenseArn]
			if l == nil {
				return nil, Errorf(CodeConflict, "agreement %s has no license yet (future-dated?)", a.ID)
			}
		}
	}
	if l == nil {
		return nil, Errorf(CodeNotFound, "no license or agreement %s", licenseOrAgreement)
	}
	b := make([]byte, 48)
	rand.Read(b)
	t := &Token{Value: base64.StdEncoding.EncodeToString(b), LicenseArn: l.Arn, AccountID: l.AccountID, ProductCode: l.ProductCode,
		CustomerIdentifier: l.CustomerIdentifier, ExpiresAt: s.now.Add(s.Config.TokenTTL)}
	s.Tokens[t.Value] = t
	return t, nil
}

// tickLocked runs the transitions that are due: future-dated agreements start,
// agreements reach their end (renewing or expiring), final metering windows
// close, change sets apply, and offers expire. ran says whether any did.
func (w *World) tickLocked() (ran bool) {
	s := w.s
	if !w.dirty && s.now.Before(w.nextDue) {
		return false
	}
	next := s.now.Add(24 * time.Hour)
	due := func(t time.Time) bool {
		if !t.After(s.now) {
			ran = true
			return true
		}
		if t.Before(next) {
			next = t
		}
		return false
	}
	// Before the end dates: a request approved at its deadline cancels an
	// agreement that has not ended yet.
	s.tickCancellations(due)
	s.tickAdjustments(due)
	s.tickPayments(due)
	s.tickNotices(due)
	for _, id := range SortedKeys(s.Agreements) {
		a := s.Agreements[id]
		if a.Status == "ACTIVE" && a.EndTime != nil && due(*a.EndTime) {
			if a.RenewedBy != "" {
				// A renewal accepted ahead: it starts now and this one is RENEWED.
				s.end(a, "RENEWED")
			} else if a.AutoRenew {
				s.renewAt(a, a.EndTime.Add(time.Second))
			} else {
				s.end(a, "EXPIRED")
			}
		}
	}
	// After the endings: a renewal accepted ahead starts once the agreement
	// it renews has ended.
	for _, id := range SortedKeys(s.Agreements) {
		a := s.Agreements[id]
		if a.Status == "ACTIVE" && a.LicenseArn == "" && due(a.StartTime) {
			s.provision(a)
		}
	}
	for _, arn := range SortedKeys(s.Licenses) {
		l := s.Licenses[arn]
		if l.State == LicenseEnding && l.DeprovisionAt != nil && due(*l.DeprovisionAt) {
			l.State = LicenseDeprovisioned
			t := *l.DeprovisionAt
			l.DeprovisionedAt = &t
			a := s.Agreements[l.AgreementID]
			s.emit(eventbridge.LicenseDeprovisioned(s.Config.SellerAccountID, s.ebAgreement(a), l.Arn, s.now))
			if l.CustomerIdentifier != "" && !s.hasActiveLicense(l.AccountID, l.ProductCode) {
				s.emitSNS(s.SubscriptionTopic(l.ProductCode), map[string]string{"action": "unsubscribe-success", "customer-identifier": l.CustomerIdentifier, "product-code": l.ProductCode})
			}
		}
	}
	for _, id := range SortedKeys(s.ChangeSets) {
		cs := s.ChangeSets[id]
		if (cs.Status == "PREPARING" || cs.Status == "APPLYING") && w.applyChange != nil {
			if due(cs.ApplyAt) {
				w.applyChange(s, cs)
			}
		}
	}
	for _, id := range SortedKeys(s.Offers) {
		o := s.Offers[id]
		if o.State == "Released" && o.ExpirationDate != nil && due(o.ExpirationDate.Add(time.Nanosecond)) {
			o.State = "Expired"
		}
	}
	w.nextDue, w.dirty = next, false
	return ran
}

func (s *State) hasActiveLicense(account, productCode string) bool {
	for _, l := range s.Licenses {
		if l.AccountID == account && l.ProductCode == productCode && (l.State == LicenseActive || l.State == LicenseEnding) {
			return true
		}
	}
	return false
}

// ActiveAt reports whether usage at time t may be metered on the license: from
// the hour it started until the final metering window closes.
func (l *License) ActiveAt(t time.Time) bool {
	if t.Before(l.StartTime.Truncate(time.Hour)) || l.State == LicenseDeprovisioned {
		return false
	}
	return l.DeprovisionAt == nil || t.Before(*l.DeprovisionAt)
}

// checkReferences refuses a restored state whose entries are null, filed under
// another id, or name a product, offer, buyer, agreement or license that is not
// there: the simulation dereferences all of these without looking.
func (s *State) checkReferences() error {
	bad := func(format string, args ...any) error {
		return Errorf(CodeValidation, "snapshot: "+format, args...)
	}
	for id, p := range s.Products {
		if p == nil || p.ProductID != id {
			return bad("product %q is null or filed under another id", id)
		}
		if p.PublicOfferID != "" && s.Offers[p.PublicOfferID] == nil {
			return bad("product %s names public offer %s, which is not in the snapshot", id, p.PublicOfferID)
		}
	}
	for id, b := range s.Buyers {
		if b == nil || b.AccountID != id || b.CustomerIdentifiers == nil {
			return bad("buyer %q is null, filed under another id, or has no customerIdentifiers", id)
		}
	}
	for id, o := range s.Offers {
		if o == nil || o.OfferID != id {
			return bad("offer %q is null or filed under another id", id)
		}
		if s.Products[o.ProductID] == nil {
			return bad("offer %s names product %q, which is not in the snapshot", id, o.ProductID)
		}
		if o.ResaleAuthorizationID != "" && s.ResaleAuthorizations[o.ResaleAuthorizationID] == nil {
			return bad("offer %s names resale authorization %s, which is not in the snapshot", id, o.ResaleAuthorizationID)
		}
	}
	for id, r := range s.ResaleAuthorizations {
		if r == nil || r.ID != id {
			return bad("resale authorization %q is null or filed under another id", id)
		}
		if s.Products[r.ProductID] == nil {
			return bad("resale authorization %s names product %q, which is not in the snapshot", id, r.ProductID)
		}
	}
	if err := s.checkCancellations(); err != nil {
		return err
	}
	if err := s.checkAdjustments(); err != nil {
		return err
	}
	if err := s.checkPayments(); err != nil {
		return err
	}
	for id, a := range s.Agreements {
		switch {
		case a == nil || a.ID != id:
			return bad("agreement %q is null or filed under another id", id)
		case s.Products[a.ProductID] == nil:
			return bad("agreement %s names product %q, which is not in the snapshot", id, a.ProductID)
		case s.Offers[a.OfferID] == nil:
			return bad("agreement %s names offer %q, which is not in the snapshot", id, a.OfferID)
		case s.Buyers[a.AcceptorAccountID] == nil:
			return bad("agreement %s names buyer %q, which is not in the snapshot", id, a.AcceptorAccountID)
		case a.PreviousAgreementID != "" && s.Agreements[a.PreviousAgreementID] == nil:
			return bad("agreement %s follows agreement %s, which is not in the snapshot", id, a.PreviousAgreementID)
		case a.LicenseArn != "" && s.Licenses[a.LicenseArn] == nil:
			return bad("agreement %s names license %s, which is not in the snapshot", id, a.LicenseArn)
		}
	}
	for arn, l := range s.Licenses {
		if l == nil || l.Arn != arn {
			return bad("license %q is null or filed under another ARN", arn)
		}
		if s.Agreements[l.AgreementID] == nil || s.Products[l.ProductID] == nil {
			return bad("license %s names an agreement or product that is not in the snapshot", arn)
		}
	}
	for v, t := range s.Tokens {
		if t == nil || t.Value != v || s.Licenses[t.LicenseArn] == nil {
			return bad("a registration token is null, filed under another value, or names a license that is not in the snapshot")
		}
	}
	for id, cs := range s.ChangeSets {
		if cs == nil || cs.ID != id {
			return bad("change set %q is null or filed under another id", id)
		}
	}
	for i, m := range s.Metering {
		if m == nil {
			return bad("metering record %d is null", i)
		}
	}
	for k, i := range s.MeteringKeys {
		if i < 0 || i >= len(s.Metering) {
			return bad("metering key %q points outside the metering records", k)
		}
	}
	return nil
}
