// Package offer manages private offers end to end: RevOps drafts a direct
// offer, a partner offer (a resale authorization a channel partner turns into
// a CPPO for the buyer), an amendment of an accepted agreement (an
// agreement-based offer) or a renewal; Concord checks the form against the
// marketplace's rules, keeps a history of every step, and tracks the offer to
// the agreement it becomes.
//
// This file holds the offer as RevOps fills it in, and the rules of the form.
package offer

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/marketplace"
)

// Offer types.
const (
	// TypeDirect is a private offer from the seller to a buyer.
	TypeDirect = "direct"
	// TypePartner is a resale authorization to a channel partner, who extends
	// its own offer (a CPPO) to the buyer.
	TypePartner = "partner"
)

// Offer states. Direct offers go draft → submitted → published →
// instructions_sent → viewed → accepted; partner offers go draft → submitted →
// published (the resale authorization) → extended (the partner's offer id is
// known) → accepted. Any offer not accepted can end expired or cancelled (a
// published one is cancelling while AWS withdraws it); a change set AWS
// refused leaves it failed.
const (
	StateDraft            = "draft"
	StateSubmitted        = "submitted"
	StatePublished        = "published"
	StateInstructionsSent = "instructions_sent"
	StateViewed           = "viewed"
	StateExtended         = "extended"
	StateAccepted         = "accepted"
	StateExpired          = "expired"
	StateCancelling       = "cancelling"
	StateCancelled        = "cancelled"
	StateFailed           = "failed"
)

// Contract metadata keys Concord reads. CPPOOpportunityID is case-sensitive,
// exactly as AWS's CPPO tracking requires it.
const (
	MetaBuyerAccount      = "AWS Account Number"
	MetaPartnerAccount    = "Partner AWS Account Number"
	MetaCPPOOpportunityID = "CPPO Opportunity ID"
)

// Limits of the form.
const (
	MaxNameLength     = 150
	MaxEULADocuments  = 5
	MaxEULABytes      = 6 << 20
	MaxNotifyUsers    = 20
	MaxMetadataFields = 50
)

// Offer is a private offer as RevOps fills it in, with what Concord learnt
// about it since.
type Offer struct {
	ID    string `json:"id,omitempty" readOnly:"true"`
	Type  string `json:"type,omitempty" doc:"direct or partner"`
	State string `json:"state,omitempty" readOnly:"true"`
	// BuyerCompany is the buyer's company name (required).
	BuyerCompany string `json:"buyerCompany,omitempty"`
	ProductID    string `json:"productId,omitempty"`
	// Name is the custom offer name buyers see (at most 150 characters).
	Name    string  `json:"name,omitempty"`
	Pricing Pricing `json:"pricing,omitempty"`
	EULA    Legal   `json:"eula,omitempty"`
	// ResellerAgreement is the contract with the partner (partner offers
	// only), visible to the reseller alone.
	ResellerAgreement *Legal `json:"resellerAgreement,omitempty"`
	// Registration answers the product's registration questions for the
	// buyer, so the buyer need not.
	Registration map[string]string `json:"registration,omitempty"`
	// Metadata is the contract metadata: "AWS Account Number" (the buyer's,
	// required), "Partner AWS Account Number" (partner offers), "CPPO
	// Opportunity ID", and the product's own fields.
	Metadata map[string]string `json:"metadata,omitempty"`
	// ExpiresOn is the last day (UTC) the buyer can accept; for a partner
	// offer, the last day the partner can extend it.
	ExpiresOn string `json:"expiresOn,omitempty" doc:"YYYY-MM-DD, UTC"`
	// Renewal marks an offer for an existing customer, including one brought
	// to the marketplace for the first time.
	Renewal bool `json:"renewal,omitempty"`
	// RenewalChannel is where the renewed agreement was bought:
	// aws_marketplace, or external (brought to the marketplace for the
	// first time). Concord fills it from the ledger when empty; AWS records
	// it as the offer's pre-existing agreement.
	RenewalChannel string `json:"renewalChannel,omitempty" doc:"aws_marketplace or external"`
	// Renews names the agreement a renewal by new offer renews (same buyer
	// and product, sold direct or by a partner). Its agreement starts when
	// that one ends (Pricing.StartDate, the day after: a future-dated
	// agreement), and once accepted Concord links it into that agreement's
	// chain. AWS: a renewal by new private offer needs the existing
	// agreement cancelled, or a future-dated agreement that begins after it
	// expires.
	Renews string `json:"renews,omitempty" doc:"agreement id (agmt-…)"`
	// AllowOverlap confirms a renewal that starts while the agreement it
	// renews is still in force (the buyer holds both for a while).
	AllowOverlap bool `json:"allowOverlap,omitempty"`
	// ZeroDollar allows zero prices.
	ZeroDollar bool `json:"zeroDollar,omitempty"`
	// Amends names the accepted agreement this offer replaces (an
	// agreement-based offer) and the offer last accepted for it.
	Amends *Amendment `json:"amends,omitempty"`
	// NotifyUsers are the people told about this offer's progress.
	NotifyUsers []string `json:"notifyUsers,omitempty"`

	// What AWS assigned: the offer id (for a partner offer, the partner's
	// offer once extended), the resale authorization, the change set, the
	// agreement the buyer's acceptance created.
	OfferID               string `json:"offerId,omitempty"`
	ResaleAuthorizationID string `json:"resaleAuthorizationId,omitempty"`
	ChangeSetID           string `json:"changeSetId,omitempty"`
	AgreementID           string `json:"agreementId,omitempty"`
	// Failure is AWS's error when a change set failed.
	Failure string `json:"failure,omitempty"`
	// Warnings are the rules the form breaks without being refused.
	Warnings  []string  `json:"warnings,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitempty" readOnly:"true"`
	UpdatedAt time.Time `json:"updatedAt,omitempty" readOnly:"true"`
}

// Amendment is what an agreement-based offer replaces.
type Amendment struct {
	AgreementID string `json:"agreementId,omitempty"`
	// SourceOfferID is the offer last accepted for that agreement (required).
	SourceOfferID string `json:"sourceOfferId,omitempty"`
}

// Pricing is what the buyer pays.
type Pricing struct {
	Currency string `json:"currency,omitempty" doc:"ISO 4217, e.g. USD"`
	// Duration (ISO 8601, e.g. P12M) or EndDate (YYYY-MM-DD): one of them.
	Duration string `json:"duration,omitempty"`
	EndDate  string `json:"endDate,omitempty"`
	// StartDate (YYYY-MM-DD, UTC), when set, makes a future-dated agreement:
	// the agreement starts then, not at acceptance (AWS's ValidityTerm
	// AgreementStartDate). A renewal by new offer starts the day after the
	// agreement it renews ends.
	StartDate  string            `json:"startDate,omitempty" doc:"YYYY-MM-DD, UTC; empty: the agreement starts at acceptance"`
	Dimensions []PricedDimension `json:"dimensions,omitempty"`
	// Schedule is a payment schedule with installments; empty means upfront.
	Schedule []Installment `json:"schedule,omitempty"`
}

// PricedDimension is a priced dimension: a contract dimension with a quantity, or
// a usage dimension with a price per unit.
type PricedDimension struct {
	Key      string `json:"key"`
	Kind     string `json:"kind,omitempty" doc:"contract or usage"`
	Quantity int64  `json:"quantity,omitempty"`
	// Price is a decimal amount in the offer's currency: per unit of a
	// contract dimension for the whole duration, or per unit of usage.
	Price string `json:"price,omitempty"`
}

// Installment is one payment of a schedule.
type Installment struct {
	Date   string `json:"date,omitempty" doc:"YYYY-MM-DD"`
	Amount string `json:"amount,omitempty"`
}

// Legal is a contract: AWS's standard one, or up to five uploaded documents.
type Legal struct {
	Kind      string     `json:"kind,omitempty" doc:"standard or custom"`
	Documents []Document `json:"documents,omitempty"`
}

// Document is an uploaded contract document.
type Document struct {
	// ID names the stored document (doc_…): upload documents with
	// POST /v1/offers/{id}/documents, which lists them here.
	ID          string `json:"id,omitempty"`
	Name        string `json:"name,omitempty"`
	ContentType string `json:"contentType,omitempty" doc:"text/plain or application/pdf"`
	Size        int64  `json:"size,omitempty"`
}

// Problem is a rule the form breaks, with the field it concerns.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Check is the outcome of checking a form: problems refuse it, warnings do not.
type Check struct {
	Problems []Problem `json:"problems"`
	Warnings []Problem `json:"warnings"`
	// Preview is what an amendment means for the buyer's bill.
	Preview *Preview `json:"preview,omitempty"`
}

// OK reports whether the form has no problems.
func (c Check) OK() bool { return len(c.Problems) == 0 }

func (c *Check) problem(field, format string, args ...any) {
	c.Problems = append(c.Problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *Check) warn(field, format string, args ...any) {
	c.Warnings = append(c.Warnings, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err turns the problems into one error, or nil.
func (c Check) Err() error {
	if c.OK() {
		return nil
	}
	msgs := make([]string, len(c.Problems))
	for i, p := range c.Problems {
		msgs[i] = p.Field + ": " + p.Message
	}
	return marketplace.Errorf(marketplace.EInvalid, "%s", strings.Join(msgs, "; "))
}

// Context is what the rules need beyond the form: the product, and for an
// amendment the agreement it amends.
type Context struct {
	Product marketplace.Product
	// Amended is the accepted agreement an amendment replaces (nil when the
	// ledger does not know it).
	Amended *marketplace.Agreement
	// AmendedCurrency is the currency of the amended agreement's terms, or
	// of the resale authorization a partner amendment goes through.
	AmendedCurrency string
	// AmendedFromPublic: the amended agreement came from a public offer.
	AmendedFromPublic bool
	// AmendedVisibilityUnknown: Concord could not ask AWS whether it did.
	AmendedVisibilityUnknown bool
	// Renewed is the agreement a renewal by new offer renews (nil when the
	// ledger does not know it).
	Renewed *marketplace.Agreement
	// Now is the clock.
	Now time.Time
}

// The amounts AWS accepts, each a pattern of AWS's shape library
// (awslabs/aws-marketplace-catalog-api-shapes-for-python): at most 100000000,
// with as many decimals as the term allows.
var (
	// installmentPattern is a payment schedule's ChargeAmount: 2 decimals
	// (offer_1_0_appendix/models/schedule_item.py; resale
	// resaleauthorization_1_0_changetypes/models/schedule.py).
	installmentPattern = regexp.MustCompile(`^((100000000(\.0{0,2})?)|(\d{1,8}(\.\d{0,2})?))$`)
	// fixedPricePattern is a FixedUpfrontPricingTerm's Price: 3 decimals
	// (offer_1_0_appendix/models/fixed_upfront_pricing_term.py; resale
	// resaleauthorization_1_0_changetypes/models/pricing_term.py).
	fixedPricePattern = regexp.MustCompile(`^((100000000(\.0{0,3})?)|(\d{1,8}(\.\d{0,3})?))$`)
	// rateCardPricePattern is a rate card's Price (usage): 8 decimals
	// (offer_1_0_appendix/models/rate_card_item.py; resale
	// resaleauthorization_1_0_changetypes/models/rate_card.py).
	rateCardPricePattern = regexp.MustCompile(`^((100000000(\.0{0,8})?)|(\d{1,8}(\.\d{0,8})?))$`)
	// decimalPattern is any amount of the others, for reading stored ones.
	decimalPattern = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,8})?$`)
)

// Limits of AWS's shapes the form checks.
const (
	// MaxResaleNameLength: CreateResaleAuthorization's Name is 1 to 100
	// characters (resaleauthorization_1_0_changetypes/models/
	// create_resale_authorization_change_detail.py).
	MaxResaleNameLength = 100
	// MaxGrantQuantity: a grant's MaxQuantity is 1 to 2147483646
	// (offer_1_0_appendix/models/grant_item.py; resale grant.py).
	MaxGrantQuantity = 2147483646
)

var (
	accountPattern  = regexp.MustCompile(`^[0-9]{12}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	// durationPattern is stricter than AWS's ^P(?=.)(\d+Y)?(\d+M)?(\d+D)?$
	// (offer_1_0_appendix/models/validity_term.py): one unit, 1 to 999.
	durationPattern = regexp.MustCompile(`^P([1-9][0-9]{0,2})(M|Y|D)$`)
	// datePattern is the year range of AWS's date pattern (validity_term.py,
	// schedule_item.py: [1-9]\d{3}); time.Parse checks the rest.
	datePattern  = regexp.MustCompile(`^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$`)
	emailPattern = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	// phonePattern spots a phone number in an offer name (international +…,
	// or the 3-3-4 grouping); dates and order numbers are not phone numbers.
	phonePattern = regexp.MustCompile(`\+[0-9][0-9 ().-]{6,}[0-9]|\([0-9]{3}\) ?[0-9]{3}[-. ][0-9]{4}|\b[0-9]{3}[-. ][0-9]{3}[-. ][0-9]{4}\b`)
)

// Validate checks the form against the marketplace's rules.
func Validate(o Offer, ctx Context) Check {
	var c Check
	c.Problems, c.Warnings = []Problem{}, []Problem{}
	switch o.Type {
	case TypeDirect, TypePartner:
	default:
		c.problem("type", "type must be direct or partner, not %q", o.Type)
	}
	if strings.TrimSpace(o.BuyerCompany) == "" {
		c.problem("buyerCompany", "the buyer's company name is required")
	} else if utf8.RuneCountInString(o.BuyerCompany) > 255 {
		c.problem("buyerCompany", "the buyer's company name is longer than 255 characters")
	}
	if o.ProductID == "" {
		c.problem("productId", "the product is required")
	} else if ctx.Product.ProductID != o.ProductID {
		c.problem("productId", "product %s is not known to Concord: configure it with PUT /v1/products/%s", o.ProductID, o.ProductID)
	}
	checkName(&c, o.Name, o.Type)
	checkPricing(&c, o, ctx)
	checkLegal(&c, "eula", "EULA", o.EULA)
	if o.Type == TypePartner {
		if o.ResellerAgreement == nil {
			c.problem("resellerAgreement", "a partner offer needs a reseller agreement: the standard reseller contract or a custom one")
		} else {
			checkLegal(&c, "resellerAgreement", "reseller agreement", *o.ResellerAgreement)
		}
	} else if o.ResellerAgreement != nil {
		c.problem("resellerAgreement", "only partner offers have a reseller agreement")
	}
	checkMetadata(&c, o)
	checkListingMetadata(&c, o, ctx.Product)
	checkRegistration(&c, o, ctx.Product)
	checkExpiry(&c, o, ctx.Now)
	checkAmendment(&c, o, ctx)
	checkRenews(&c, o, ctx)
	switch {
	case o.RenewalChannel != "" && !o.Renewal:
		c.problem("renewalChannel", "only a renewal has a renewal channel: tick renewal, or leave the channel empty")
	case o.RenewalChannel != "" && o.RenewalChannel != RenewalFromMarketplace && o.RenewalChannel != RenewalFromOutside:
		c.problem("renewalChannel", "the renewal channel must be %s (the agreement was bought in AWS Marketplace) or %s (brought to the marketplace for the first time), not %q",
			RenewalFromMarketplace, RenewalFromOutside, marketplace.Clip(o.RenewalChannel, 40))
	}
	checkEmails(&c, "notifyUsers", o.NotifyUsers, "at most %d users can be notified")
	return c
}

// checkEmails checks a list of at most MaxNotifyUsers email addresses;
// tooMany is the message (with the limit) for a longer one.
func checkEmails(c *Check, field string, list []string, tooMany string) {
	if len(list) > MaxNotifyUsers {
		c.problem(field, tooMany, MaxNotifyUsers)
	}
	for i, e := range list {
		if !emailPattern.MatchString(e) {
			c.problem(fmt.Sprintf("%s[%d]", field, i), "%q is not an email address", marketplace.Clip(e, 80))
		}
	}
}

func checkName(c *Check, name, typ string) {
	if name == "" {
		return
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLength {
		c.problem("name", "the custom offer name has %d characters; AWS allows at most %d", n, MaxNameLength)
	} else if typ == TypePartner && n > MaxResaleNameLength {
		c.problem("name", "the custom offer name has %d characters; a partner offer's resale authorization allows at most %d", n, MaxResaleNameLength)
	}
	if emailPattern.MatchString(firstWordWith(name, "@")) || phonePattern.MatchString(name) {
		c.warn("name", "the custom offer name looks like it holds personal data (an email address or a phone number); buyers see it, and AWS asks for none: use ids and purchase order numbers instead")
	}
}

// firstWordWith returns the first space-separated word of s containing sub.
func firstWordWith(s, sub string) string {
	for _, w := range strings.Fields(s) {
		if strings.Contains(w, sub) {
			return strings.Trim(w, "()<>,;")
		}
	}
	return ""
}

func checkPricing(c *Check, o Offer, ctx Context) {
	p := o.Pricing
	if !currencyPattern.MatchString(p.Currency) {
		c.problem("pricing.currency", "the currency must be an ISO 4217 code such as USD, not %q", marketplace.Clip(p.Currency, 10))
	}
	checkTerm(c, o, ctx.Now)
	if len(p.Dimensions) == 0 {
		c.problem("pricing.dimensions", "price at least one dimension")
	}
	seen := map[string]bool{}
	total := new(big.Rat)
	for i, d := range p.Dimensions {
		f := fmt.Sprintf("pricing.dimensions[%d]", i)
		if seen[d.Key] {
			c.problem(f, "dimension %q is priced twice", d.Key)
		}
		seen[d.Key] = true
		pd, ok := ctx.Product.Dimension(d.Key)
		switch {
		case !ok:
			c.problem(f, "dimension %q is not a dimension of product %s", marketplace.Clip(d.Key, 80), o.ProductID)
		case pd.Kind != "" && d.Kind != pd.Kind:
			c.problem(f, "dimension %q is a %s dimension of the product, not %s", d.Key, pd.Kind, d.Kind)
		}
		pattern, amount := rateCardPricePattern, "an amount such as 0.0125 (at most 100000000, 8 decimals)"
		switch d.Kind {
		case "contract":
			// The contract's price goes out as a FixedUpfrontPricingTerm's
			// Price (3 decimals), or in installments.
			pattern, amount = fixedPricePattern, "an amount such as 12.50 (at most 100000000, 3 decimals)"
			if d.Quantity <= 0 {
				c.problem(f, "contract dimension %q needs a quantity of at least 1", d.Key)
			} else if d.Quantity > MaxGrantQuantity {
				c.problem(f, "contract dimension %q has a quantity of %d; AWS grants at most %d", d.Key, d.Quantity, MaxGrantQuantity)
			}
		case "usage":
			if d.Quantity != 0 {
				c.problem(f, "usage dimension %q takes a price per unit, not a quantity", d.Key)
			}
		default:
			c.problem(f, "kind must be contract or usage, not %q", d.Kind)
		}
		price, err := amountOf(d.Price, pattern)
		if err != nil {
			c.problem(f, "the price %q of %q is not %s", marketplace.Clip(d.Price, 20), d.Key, amount)
			continue
		}
		if price.Sign() == 0 && !o.ZeroDollar {
			c.problem(f, "dimension %q has a zero price: tick zero-dollar pricing to allow it", d.Key)
		}
		if d.Kind == "contract" {
			total.Add(total, new(big.Rat).Mul(price, new(big.Rat).SetInt64(d.Quantity)))
		}
	}
	if len(p.Schedule) == 0 {
		// Paid upfront: the whole contract is one FixedUpfrontPricingTerm Price.
		if total.Cmp(maxAmount) > 0 {
			c.problem("pricing.dimensions", "the contract dimensions cost %s in total; AWS charges at most 100000000 upfront: spread the charges over a payment schedule",
				total.FloatString(2))
		}
		return
	}
	sum := new(big.Rat)
	last, bad := "", false
	for i, in := range p.Schedule {
		f := fmt.Sprintf("pricing.schedule[%d]", i)
		if _, err := parseDay(in.Date); err != nil {
			c.problem(f, "the installment date %q is not a date (YYYY-MM-DD)", marketplace.Clip(in.Date, 20))
		} else if in.Date <= last {
			c.problem(f, "installments must be in date order, each on its own day")
		}
		last = in.Date
		a, err := amountOf(in.Amount, installmentPattern)
		if err != nil {
			c.problem(f, "the installment amount %q is not an amount such as 1000.00 (at most 100000000, 2 decimals)", marketplace.Clip(in.Amount, 20))
			bad = true
			continue
		}
		sum.Add(sum, a)
	}
	switch {
	case bad: // the sum of the amounts that are amounts means nothing
	case total.Sign() > 0 && sum.Cmp(total) != 0 && o.Amends != nil:
		// An amendment's schedule replaces only the pending installments.
		c.warn("pricing.schedule", "the installments add up to %s and the contract dimensions to %s: an amendment's payment schedule replaces the agreement's pending installments only, so check that %s is what the buyer still owes",
			sum.FloatString(2), total.FloatString(2), sum.FloatString(2))
	case total.Sign() > 0 && sum.Cmp(total) != 0:
		c.problem("pricing.schedule", "the installments add up to %s but the contract dimensions cost %s", sum.FloatString(2), total.FloatString(2))
	}
}

// maxAmount is the largest amount of AWS's amount patterns.
var maxAmount = big.NewRat(100000000, 1)

// checkTerm checks when the agreement runs: a duration or an end date, and
// an optional start date. AWS starts an agreement at 00:00:00 UTC on its
// AgreementStartDate and ends it at 23:59:59 UTC on its AgreementEndDate; a
// duration counts from the start date, else from acceptance (the Agreement
// API's ValidityTerm).
func checkTerm(c *Check, o Offer, now time.Time) {
	p := o.Pricing
	var end time.Time
	switch {
	case p.Duration == "" && p.EndDate == "":
		c.problem("pricing.duration", "give a duration (e.g. P12M) or an end date")
	case p.Duration != "" && p.EndDate != "":
		c.problem("pricing.duration", "give a duration or an end date, not both")
	case p.Duration != "" && !durationPattern.MatchString(p.Duration):
		c.problem("pricing.duration", "the duration %q is not an ISO 8601 period such as P12M, P1Y or P30D", marketplace.Clip(p.Duration, 20))
	case p.EndDate != "":
		var err error
		if end, err = parseDay(p.EndDate); err != nil {
			c.problem("pricing.endDate", "the end date %q is not a date (YYYY-MM-DD)", marketplace.Clip(p.EndDate, 20))
		} else if !now.IsZero() && !end.After(now) {
			c.problem("pricing.endDate", "the end date %s has passed", p.EndDate)
		}
	}
	if p.StartDate == "" {
		return
	}
	start, err := parseDay(p.StartDate)
	switch {
	case err != nil:
		c.problem("pricing.startDate", "the start date %q is not a date (YYYY-MM-DD, UTC)", marketplace.Clip(p.StartDate, 20))
	case !now.IsZero() && start.Before(now.UTC().Truncate(24*time.Hour)):
		c.problem("pricing.startDate", "the start date %s has passed (AWS uses UTC): leave it empty for an agreement that starts at acceptance", p.StartDate)
	case !end.IsZero() && start.After(end):
		c.problem("pricing.startDate", "the start date %s is after the end date %s", p.StartDate, p.EndDate)
	}
}

// parseDay reads a YYYY-MM-DD date (UTC) of the years AWS's date pattern
// allows.
func parseDay(s string) (time.Time, error) {
	if !datePattern.MatchString(s) {
		return time.Time{}, fmt.Errorf("%q is not a date", s)
	}
	return time.Parse(time.DateOnly, s)
}

func checkLegal(c *Check, field, what string, l Legal) {
	switch l.Kind {
	case "standard":
		if len(l.Documents) > 0 {
			c.problem(field, "the standard %s takes no documents", what)
		}
		return
	case "custom":
	default:
		c.problem(field, "choose the standard %s or a custom one", what)
		return
	}
	if len(l.Documents) == 0 {
		c.problem(field, "a custom %s needs at least one document", what)
	}
	if len(l.Documents) > MaxEULADocuments {
		c.problem(field, "at most %d documents can be uploaded; they are consolidated into one", MaxEULADocuments)
	}
	var total int64
	for i, d := range l.Documents {
		f := fmt.Sprintf("%s.documents[%d]", field, i)
		if d.ContentType != "text/plain" && d.ContentType != "application/pdf" {
			c.problem(f, "%q must be a TXT or PDF document", marketplace.Clip(d.Name, 80))
		}
		if d.Size <= 0 {
			c.problem(f, "%q is empty", marketplace.Clip(d.Name, 80))
		}
		total += d.Size
	}
	if total > MaxEULABytes {
		c.problem(field, "the documents come to %.1f MB; at most 6 MB in total", float64(total)/(1<<20))
	}
}

func checkMetadata(c *Check, o Offer) {
	if len(o.Metadata) > MaxMetadataFields {
		c.problem("metadata", "at most %d contract metadata fields", MaxMetadataFields)
	}
	buyer := o.Metadata[MetaBuyerAccount]
	switch {
	case buyer == "":
		c.problem("metadata."+MetaBuyerAccount, "the buyer's AWS account number is required")
	case !accountPattern.MatchString(buyer):
		c.problem("metadata."+MetaBuyerAccount, "the buyer's AWS account number must be 12 digits, not %q", marketplace.Clip(buyer, 20))
	}
	partner := o.Metadata[MetaPartnerAccount]
	switch {
	case o.Type == TypePartner && partner == "":
		c.problem("metadata."+MetaPartnerAccount, "a partner offer needs the partner's AWS account number")
	case partner != "" && !accountPattern.MatchString(partner):
		c.problem("metadata."+MetaPartnerAccount, "the partner's AWS account number must be 12 digits, not %q", marketplace.Clip(partner, 20))
	case partner != "" && partner == buyer:
		c.problem("metadata."+MetaPartnerAccount, "the partner's AWS account number is the buyer's")
	}
	for k := range o.Metadata {
		if strings.EqualFold(k, MetaCPPOOpportunityID) && k != MetaCPPOOpportunityID {
			c.warn("metadata."+k, "the CPPO tracking field is case-sensitive and must be named %q exactly; %q does not turn CPPO tracking on", MetaCPPOOpportunityID, k)
		}
	}
	if o.Metadata[MetaCPPOOpportunityID] != "" && o.Type != TypePartner {
		c.warn("metadata."+MetaCPPOOpportunityID, "a CPPO opportunity id belongs on a partner offer")
	}
}

// checkListingMetadata checks the contract metadata against the product's
// listing: its required fields, and CPPO tracking for partner offers.
func checkListingMetadata(c *Check, o Offer, p marketplace.Product) {
	if len(p.ContractMetadata) == 0 {
		return
	}
	known := map[string]bool{MetaBuyerAccount: true, MetaPartnerAccount: true}
	for _, f := range p.ContractMetadata {
		known[f.Key] = true
		name := f.Key
		if f.Label != "" {
			name = f.Label + " (" + f.Key + ")"
		}
		switch {
		case f.Key == MetaCPPOOpportunityID && o.Type == TypePartner && strings.TrimSpace(o.Metadata[f.Key]) == "":
			c.problem("metadata."+f.Key, "product %s tracks CPPO opportunities: a partner offer needs its %q", p.ProductID, MetaCPPOOpportunityID)
		case f.Key == MetaCPPOOpportunityID:
		case f.Required && strings.TrimSpace(o.Metadata[f.Key]) == "":
			c.problem("metadata."+f.Key, "%s is a required contract metadata field of product %s", name, p.ProductID)
		}
	}
	for k := range o.Metadata {
		if !known[k] && !strings.EqualFold(k, MetaCPPOOpportunityID) {
			c.warn("metadata."+k, "%q is not one of product %s's contract metadata fields; it is kept, but bookable artifacts list the product's fields", marketplace.Clip(k, 80), p.ProductID)
		}
	}
}

func checkRegistration(c *Check, o Offer, p marketplace.Product) {
	if len(o.Registration) == 0 {
		return
	}
	known := map[string]bool{}
	for _, f := range p.Registration.Normalized().Fields {
		known[f.Key] = true
	}
	for k := range o.Registration {
		if !known[k] {
			c.problem("registration."+k, "%q is not a registration field of product %s", marketplace.Clip(k, 80), p.ProductID)
		}
	}
}

func checkExpiry(c *Check, o Offer, now time.Time) {
	if o.ExpiresOn == "" {
		c.problem("expiresOn", "the expiration date is required")
		return
	}
	d, err := parseDay(o.ExpiresOn)
	if err != nil {
		c.problem("expiresOn", "the expiration date %q is not a date (YYYY-MM-DD, UTC)", marketplace.Clip(o.ExpiresOn, 20))
		return
	}
	if !now.IsZero() && d.Add(24*time.Hour).Before(now) {
		c.problem("expiresOn", "the expiration date %s has passed (AWS uses UTC)", o.ExpiresOn)
	}
	if o.Pricing.EndDate != "" && o.ExpiresOn > o.Pricing.EndDate {
		c.problem("expiresOn", "the offer would expire after the contract it offers ends (%s)", o.Pricing.EndDate)
	}
}

func checkAmendment(c *Check, o Offer, ctx Context) {
	if o.Amends == nil {
		return
	}
	a := o.Amends
	if a.SourceOfferID == "" {
		c.problem("amends.sourceOfferId", "an amendment needs the source offer id: the offer last accepted for the agreement")
	}
	if a.AgreementID == "" {
		c.problem("amends.agreementId", "an amendment needs the agreement it amends")
	}
	switch ctx.Product.Type {
	case marketplace.ProductSaaSContract, marketplace.ProductSaaSContractConsumption:
	case "":
		c.warn("amends", "product %s has no type configured: only SaaS contract and SaaS contract with consumption products can be amended", o.ProductID)
	default:
		c.problem("amends", "a %s product cannot be amended: only SaaS contract and SaaS contract with consumption products can", strings.ReplaceAll(ctx.Product.Type, "_", " "))
	}
	ag := ctx.Amended
	if ag == nil {
		if a.AgreementID != "" {
			c.warn("amends.agreementId", "agreement %s is not in the ledger, so the rules on amending it were not checked", a.AgreementID)
		}
		return
	}
	if marketplace.IsTerminalStatus(ag.Status) {
		c.problem("amends.agreementId", "agreement %s is %s: only an active agreement can be amended", ag.AgreementID, ag.Status)
	}
	if ag.OfferID != "" && a.SourceOfferID != "" && ag.OfferID != a.SourceOfferID {
		c.problem("amends.sourceOfferId", "the offer last accepted for agreement %s is %s, not %s", ag.AgreementID, ag.OfferID, a.SourceOfferID)
	}
	if ag.ProductID != "" && ag.ProductID != o.ProductID {
		c.problem("productId", "agreement %s is for product %s; an amendment keeps the product", ag.AgreementID, ag.ProductID)
	}
	if buyer := o.Metadata[MetaBuyerAccount]; buyer != "" && ag.AcceptorAccountID != "" && buyer != ag.AcceptorAccountID {
		c.problem("metadata."+MetaBuyerAccount, "agreement %s belongs to account %s, not %s", ag.AgreementID, ag.AcceptorAccountID, buyer)
	}
	// The seller of record cannot change: a partner's agreement is amended by
	// a partner offer, a direct one by a direct offer.
	partnerAgreement := ag.ResaleAuthorizationID != ""
	switch {
	case partnerAgreement && o.Type == TypeDirect:
		c.problem("type", "agreement %s was sold by a channel partner (the seller of record); an amendment cannot change the seller of record: amend it with a partner offer", ag.AgreementID)
	case !partnerAgreement && o.Type == TypePartner:
		c.problem("type", "agreement %s was sold directly; an amendment cannot change the seller of record to a partner", ag.AgreementID)
	}
	if partnerAgreement && ctx.AmendedCurrency != "" && o.Pricing.Currency != "" && o.Pricing.Currency != ctx.AmendedCurrency {
		c.problem("pricing.currency", "a channel partner can amend only in the resale authorization's currency, %s", ctx.AmendedCurrency)
	}
	if ctx.AmendedVisibilityUnknown {
		c.warn("amends.sourceOfferId", "Concord could not ask AWS whether offer %s is public: if it is, the amendment makes agreement %s private and it will no longer renew automatically", a.SourceOfferID, ag.AgreementID)
	}
	if ctx.AmendedFromPublic {
		c.warn("amends", "agreement %s came from a public offer: the amendment makes it a private agreement, and it will no longer renew automatically", ag.AgreementID)
	}
}

// parseAmount reads a non-negative decimal amount, exactly.
func parseAmount(s string) (*big.Rat, error) {
	return amountOf(s, decimalPattern)
}

// amountOf reads a non-negative decimal amount of pattern, exactly.
func amountOf(s string, pattern *regexp.Regexp) (*big.Rat, error) {
	if !pattern.MatchString(s) {
		return nil, fmt.Errorf("not an amount")
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("not an amount")
	}
	return r, nil
}
