package world

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// The rules every emulator path that makes an offer obeys. The Catalog API
// (package catalog) checks change sets with them, and the world's own offer
// makers (CreatePrivateOffer and CreatePartnerOffer, behind the control API
// and the console's "play the partner" button) check their input with them,
// so that an offer AWS would refuse cannot be made some other way. Each value
// rule names the file of AWS's shape library it comes from
// (awslabs/aws-marketplace-catalog-api-shapes-for-python, the "RA" models in
// src/aws_marketplace_catalog_shapes_resaleauthorization_1_0_changetypes/models,
// and awslabs/aws-marketplace-catalog-api-shapes-for-java, the "OFFER" classes
// in src/main/java/com/amazonaws/services/marketplacecatalog/model/offer_1_0).

// Value patterns and limits of AWS's Catalog shapes that offers made by the
// world share with the Catalog API's DetailsDocuments.
const (
	// DurationPattern is RA pricing_term.py Duration and selector.py Value,
	// ^P(?=.)(\d+Y)?(\d+M)?(\d+D)?$ without the look-ahead RE2 lacks: "P"
	// alone matches and is refused apart.
	DurationPattern = `^P(\d+Y)?(\d+M)?(\d+D)?$`
	// RateCardPricePattern is RA rate_card.py Price: up to 100000000 with up
	// to 8 decimals.
	RateCardPricePattern = `^((100000000(\.0{0,8})?)|(\d{1,8}(\.\d{0,8})?))$`
	// AccountIDPattern is RA create_resale_authorization_change_detail.py
	// ResellerAccountId and the 12-digit BuyerAccounts of UpdateTargeting.
	AccountIDPattern = `^\d{12}$`
	// OfferNameMax is the length limit of an offer's Name (1..150, Catalog
	// API reference "Work with private offers", UpdateInformation).
	OfferNameMax = 150
	// OfferBuyerAccountsMax is how many buyer accounts an offer's
	// PositiveTargeting may list (1..26, same page, UpdateTargeting).
	OfferBuyerAccountsMax = 26
)

// OfferCurrencies are OFFER CurrencyCode.java's values.
var OfferCurrencies = []string{"USD", "EUR", "GBP", "AUD", "JPY"}

var (
	durationRE      = regexp.MustCompile(DurationPattern)
	rateCardPriceRE = regexp.MustCompile(RateCardPricePattern)
)

// ValidDuration reports whether v is an ISO 8601 duration AWS's shapes accept.
func ValidDuration(v string) bool { return v != "P" && durationRE.MatchString(v) }

// checkOfferValues applies the Catalog shapes' value rules to an offer the
// world makes: the same patterns and limits a change set's UpdateInformation,
// UpdateTargeting, UpdatePricingTerms and UpdateValidityTerms must meet.
func (s *State) checkOfferValues(p *Product, o *Offer) error {
	if n := utf8.RuneCountInString(o.Name); n > OfferNameMax {
		return Errorf(CodeValidation, "name is %d characters long: at most %d", n, OfferNameMax)
	}
	if len(o.BuyerAccounts) > OfferBuyerAccountsMax {
		return Errorf(CodeValidation, "an offer targets at most %d buyer accounts, not %d", OfferBuyerAccountsMax, len(o.BuyerAccounts))
	}
	for _, b := range o.BuyerAccounts {
		if b == o.ProposerAccountID {
			return Errorf(CodeValidation, "the offer's seller %s cannot be its buyer", b)
		}
	}
	if o.Currency != "" && !slices.Contains(OfferCurrencies, o.Currency) {
		return Errorf(CodeValidation, "currency %q is not one of %v", o.Currency, OfferCurrencies)
	}
	if o.Duration != "" && !ValidDuration(o.Duration) {
		return Errorf(CodeValidation, "duration %q is not an ISO 8601 duration such as P12M, P1Y or P30D (pattern %s)", o.Duration, DurationPattern)
	}
	for _, k := range SortedKeys(o.Prices) {
		if _, ok := p.Dimension(k); !ok {
			return Errorf(CodeValidation, "product %s has no dimension %q to price", p.ProductID, k)
		}
		if !rateCardPriceRE.MatchString(o.Prices[k]) {
			return Errorf(CodeValidation, "price %q of %s is not a price from 0 to 100000000 with up to 8 decimals (pattern %s)",
				o.Prices[k], k, RateCardPricePattern)
		}
	}
	if o.ExpirationDate != nil && o.ExpirationDate.Before(s.now) {
		return Errorf(CodeValidation, "the availability end date %s has passed", o.ExpirationDate.UTC().Format(time.DateOnly))
	}
	today := time.Date(s.now.Year(), s.now.Month(), s.now.Day(), 0, 0, 0, 0, time.UTC)
	if o.StartDate != nil && o.StartDate.Before(today) {
		return Errorf(CodeValidation, "the agreement start date %s is in the past", o.StartDate.UTC().Format(time.DateOnly))
	}
	return nil
}

// ResaleAvailability is a resale authorization's availability as its
// UpdateAvailability change set it (RA update_availability_change_detail.py).
type ResaleAvailability struct {
	AvailabilityEndDate *string `json:"AvailabilityEndDate,omitempty"`
	OffersMaxQuantity   *int64  `json:"OffersMaxQuantity,omitempty"`
}

// Availability reads the resale authorization's availability; the zero value
// means it has none (multi-use, no end date).
func (ra *ResaleAuthorization) Availability() ResaleAvailability {
	var av ResaleAvailability
	if raw := ra.Details["UpdateAvailability"]; raw != nil {
		_ = json.Unmarshal(raw, &av) // the Catalog shape checked it when it was applied
	}
	return av
}

// End is the last moment the authorization can be used: the end of its
// AvailabilityEndDate's day, as AWS renders it (…T23:59:59.999Z).
func (av ResaleAvailability) End() (time.Time, bool) {
	if av.AvailabilityEndDate == nil {
		return time.Time{}, false
	}
	d, err := time.Parse(time.DateOnly, *av.AvailabilityEndDate)
	if err != nil {
		return time.Time{}, false
	}
	return d.Add(24*time.Hour - time.Millisecond), true
}

// CheckUsable is the rule for a resale authorization that backs a new channel
// partner offer at now: it is Active and its AvailabilityEndDate has not
// passed. The error's Message is what the Catalog API reports as
// INVALID_RESALE_AUTHORIZATION.
func (ra *ResaleAuthorization) CheckUsable(now time.Time) error {
	if ra.State != "Active" {
		return Errorf(CodeConflict, "resale authorization %s is %s, not Active", ra.ID, ra.State)
	}
	av := ra.Availability()
	if end, ok := av.End(); ok && end.Before(now) {
		return Errorf(CodeConflict, "resale authorization %s expired on %s", ra.ID, *av.AvailabilityEndDate)
	}
	return nil
}

// CheckOfferQuota is the rule of a one-time resale authorization
// (OffersMaxQuantity): uses, the released offers already made from it, must
// stay below the quantity.
func (ra *ResaleAuthorization) CheckOfferQuota(uses int) error {
	if q := ra.Availability().OffersMaxQuantity; q != nil && int64(uses) >= *q {
		return Errorf(CodeConflict, "resale authorization %s is for %s only and has been used", ra.ID, plural(*q, "offer"))
	}
	return nil
}

// CheckBuyers is the rule of a resale authorization that names its buyers
// (UpdateBuyerTargetingTerms): a partner offer may target only them.
func (ra *ResaleAuthorization) CheckBuyers(buyers []string) error {
	if len(ra.BuyerAccounts) == 0 {
		return nil
	}
	for _, b := range buyers {
		if !slices.Contains(ra.BuyerAccounts, b) {
			return Errorf(CodeConflict, "resale authorization %s does not allow buyer %s", ra.ID, b)
		}
	}
	return nil
}

// ResaleAuthorizationUses counts the released (or expired) offers made from
// a resale authorization, which CheckOfferQuota limits.
func (s *State) ResaleAuthorizationUses(id string) int {
	n := 0
	for _, o := range s.Offers {
		if o.ResaleAuthorizationID == id && o.State != "Draft" {
			n++
		}
	}
	return n
}

func plural(n int64, word string) string {
	if n == 1 {
		return "one " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
