package catalog

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
)

// Typed views of the DetailsDocuments that apply.go reads. They are decoded
// only after a document passed its shape (shapes.go), which refuses unknown
// members, wrong JSON types and out-of-pattern values.

type createOfferDetails struct {
	ProductId  string `json:"ProductId"`
	Name       string `json:"Name"`
	OfferSetId string `json:"OfferSetId"`
}

type createReplacementOfferDetails struct {
	AgreementId string `json:"AgreementId"`
	Name        string `json:"Name"`
}

type createOfferUsingRADetails struct {
	ResaleAuthorizationId string `json:"ResaleAuthorizationId"`
	AgreementId           string `json:"AgreementId"`
	Name                  string `json:"Name"`
	Description           string `json:"Description"`
}

type informationDetails struct {
	Name                 *string         `json:"Name"`
	Description          *string         `json:"Description"`
	PreExistingAgreement json.RawMessage `json:"PreExistingAgreement"`
}

type targetingDoc struct {
	BuyerAccounts  []string `json:"BuyerAccounts,omitempty"`
	CountryCodes   []string `json:"CountryCodes,omitempty"`
	SellerAccounts []string `json:"SellerAccounts,omitempty"`
}

type targetingDetails struct {
	PositiveTargeting *targetingDoc `json:"PositiveTargeting"`
	NegativeTargeting *targetingDoc `json:"NegativeTargeting"`
}

type selectorDoc struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

type constraintsDoc struct {
	MultipleDimensionSelection string `json:"MultipleDimensionSelection"`
	QuantityConfiguration      string `json:"QuantityConfiguration"`
}

type rateItemDoc struct {
	DimensionKey string `json:"DimensionKey"`
	Price        string `json:"Price"`
}

type rateCardDoc struct {
	Selector    *selectorDoc    `json:"Selector"`
	Constraints *constraintsDoc `json:"Constraints"`
	RateCard    []rateItemDoc   `json:"RateCard"`
}

type grantDoc struct {
	DimensionKey string `json:"DimensionKey"`
	MaxQuantity  *int64 `json:"MaxQuantity"`
}

type documentDoc struct {
	Type    string `json:"Type"`
	Url     string `json:"Url"`
	Version string `json:"Version"`
}

type scheduleDoc struct {
	ChargeDate   string `json:"ChargeDate"`
	ChargeAmount string `json:"ChargeAmount"`
}

// termDoc is any term of a Terms list; Type selects which members apply.
type termDoc struct {
	Type               string        `json:"Type"`
	CurrencyCode       string        `json:"CurrencyCode"`
	RateCards          []rateCardDoc `json:"RateCards"`
	Grants             []grantDoc    `json:"Grants"`
	Duration           string        `json:"Duration"`
	Price              string        `json:"Price"`
	BillingPeriod      string        `json:"BillingPeriod"`
	Documents          []documentDoc `json:"Documents"`
	RefundPolicy       string        `json:"RefundPolicy"`
	AgreementDuration  string        `json:"AgreementDuration"`
	AgreementStartDate string        `json:"AgreementStartDate"`
	AgreementEndDate   string        `json:"AgreementEndDate"`
	Schedule           []scheduleDoc `json:"Schedule"`
	PaymentDuePeriod   string        `json:"PaymentDuePeriod"`
	PositiveTargeting  *targetingDoc `json:"PositiveTargeting"`
}

type termsDetails struct {
	PricingModel string    `json:"PricingModel"`
	Terms        []termDoc `json:"Terms"`
}

// availabilityDetails is UpdateAvailability's document, of an offer or a
// resale authorization (whose rules world.ResaleAuthorization reads from it).
type availabilityDetails = world.ResaleAvailability

type markupDetails struct {
	Percentage string `json:"Percentage"`
}

type createRADetails struct {
	ProductId         string `json:"ProductId"`
	Name              string `json:"Name"`
	Description       string `json:"Description"`
	ResellerAccountId string `json:"ResellerAccountId"`
}

// problem is a synchronous validation failure of one change's details.
type problem struct {
	field, msg, reason string
}

func fieldProblem(field, format string, args ...any) *problem {
	return &problem{field: field, msg: fmt.Sprintf(format, args...), reason: "FieldValidationFailed"}
}

// decodeDetails decodes a details object into v.
func decodeDetails(raw json.RawMessage, v any) *problem {
	if err := json.Unmarshal(raw, v); err != nil {
		return &problem{field: "DetailsDocument", msg: "the details could not be parsed: " + jsonProblem(err), reason: "CannotParse"}
	}
	return nil
}

// parseDate parses a YYYY-MM-DD date (or a full timestamp, which some
// clients send) as the start of that day in UTC.
func parseDate(v string) (time.Time, bool) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true
	}
	if t, ok := parseTime(v); ok {
		t = t.UTC()
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), true
	}
	return time.Time{}, false
}

// endOfDay is the last millisecond of the day of d, as AWS renders
// AvailabilityEndDate (2025-07-01T23:59:59.999Z).
func endOfDay(d time.Time) time.Time { return d.Add(24*time.Hour - time.Millisecond) }

// checked is the synchronous validation of a change type: its shape, then
// the extra rules that a shape cannot express.
func checked(s *shape, extra ...func(json.RawMessage) *problem) func(json.RawMessage) *problem {
	return func(raw json.RawMessage) *problem {
		if p := validateDocument(s, raw); p != nil {
			return p
		}
		for _, x := range extra {
			if p := x(raw); p != nil {
				return p
			}
		}
		return nil
	}
}

// uniqueTermTypes refuses a Terms list that names a term type twice: each
// change type replaces the offer's terms of its types, so a second term of a
// type would be lost.
func uniqueTermTypes(raw json.RawMessage) *problem {
	var d termsDetails
	if p := decodeDetails(raw, &d); p != nil {
		return p
	}
	seen := map[string]bool{}
	for i, t := range d.Terms {
		if seen[t.Type] {
			return fieldProblem(fmt.Sprintf("Terms[%d].Type", i), "term type %s appears twice", t.Type)
		}
		seen[t.Type] = true
	}
	return nil
}

// pricingTermTypes are the offer's pricing term types (offerPricingTerm).
var pricingTermTypes = []string{"UsageBasedPricingTerm", "ConfigurableUpfrontPricingTerm", "FixedUpfrontPricingTerm",
	"FreeTrialPricingTerm", "RecurringPaymentTerm", "ByolPricingTerm"}

var netPaymentPeriods = []string{"P15D", "P30D", "P45D", "P60D", "P90D", "P120D"}

var percentagePattern = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,8})?$`)

// markupRange keeps UpdateMarkup's Percentage a decimal string from 0 to 100
// (AWS's sample java/resources/changeSets/channel_partner_offers/PublishCppoPiceMarkupObject.json
// sends "5.0").
func markupRange(raw json.RawMessage) *problem {
	var d markupDetails
	if p := decodeDetails(raw, &d); p != nil {
		return p
	}
	v, err := strconv.ParseFloat(d.Percentage, 64)
	if !percentagePattern.MatchString(d.Percentage) || err != nil || v > 100 {
		return fieldProblem("Percentage", "Percentage must be a decimal string between 0 and 100, such as \"5.0\"")
	}
	return nil
}
