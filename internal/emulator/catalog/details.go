package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DetailsDocument shapes of the change types, with PascalCase members as AWS
// documents them. Unknown members are ignored; members of the wrong JSON
// type fail the synchronous validation.

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

type configurationDoc struct {
	SelectorValue string `json:"SelectorValue"`
	Dimensions    []struct {
		DimensionKey   string `json:"DimensionKey"`
		DimensionValue int64  `json:"DimensionValue"`
	} `json:"Dimensions"`
}

// termDoc is any term of a Terms list; Type selects which members apply.
type termDoc struct {
	Type               string            `json:"Type"`
	CurrencyCode       string            `json:"CurrencyCode"`
	RateCards          []rateCardDoc     `json:"RateCards"`
	Configuration      *configurationDoc `json:"Configuration"`
	Grants             []grantDoc        `json:"Grants"`
	Duration           string            `json:"Duration"`
	Price              string            `json:"Price"`
	BillingPeriod      string            `json:"BillingPeriod"`
	Documents          []documentDoc     `json:"Documents"`
	RefundPolicy       string            `json:"RefundPolicy"`
	AgreementDuration  string            `json:"AgreementDuration"`
	AgreementStartDate string            `json:"AgreementStartDate"`
	AgreementEndDate   string            `json:"AgreementEndDate"`
	Schedule           []scheduleDoc     `json:"Schedule"`
	PaymentDuePeriod   string            `json:"PaymentDuePeriod"`
	PositiveTargeting  *targetingDoc     `json:"PositiveTargeting"`
}

type termsDetails struct {
	PricingModel string    `json:"PricingModel"`
	Terms        []termDoc `json:"Terms"`
}

type availabilityDetails struct {
	AvailabilityEndDate *string         `json:"AvailabilityEndDate"`
	OffersMaxQuantity   json.RawMessage `json:"OffersMaxQuantity"`
}

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

var (
	accountPattern   = regexp.MustCompile(`^[0-9]{12}$`)
	countryPattern   = regexp.MustCompile(`^[A-Z]{2}$`)
	currencyPattern  = regexp.MustCompile(`^[A-Z]{3}$`)
	decimalPattern   = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,8})?$`)
	durationPattern  = regexp.MustCompile(`^P[0-9]{1,4}[DMY]$`)
	dimensionKeyPat  = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,255}$`)
	idPattern        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_/.-]{0,254}$`)
	freeTrialPattern = regexp.MustCompile(`^P[0-9]{1,2}D$`)
)

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

func checkAccounts(field string, accounts []string, max int) *problem {
	if len(accounts) == 0 || len(accounts) > max {
		return fieldProblem(field, "%s must list 1 to %d AWS account IDs", field, max)
	}
	for _, a := range accounts {
		if !accountPattern.MatchString(a) {
			return fieldProblem(field, "%q is not a 12-digit AWS account ID", a)
		}
	}
	return nil
}

func checkTargeting(field string, t *targetingDoc) *problem {
	if t == nil {
		return nil
	}
	if t.BuyerAccounts == nil && t.CountryCodes == nil {
		return fieldProblem(field, "%s needs BuyerAccounts or CountryCodes", field)
	}
	if t.BuyerAccounts != nil {
		if p := checkAccounts(field+".BuyerAccounts", t.BuyerAccounts, 26); p != nil {
			return p
		}
	}
	if t.CountryCodes != nil {
		if len(t.CountryCodes) == 0 || len(t.CountryCodes) > 244 {
			return fieldProblem(field+".CountryCodes", "CountryCodes must list 1 to 244 ISO 3166-1 alpha-2 codes")
		}
		for _, c := range t.CountryCodes {
			if !countryPattern.MatchString(c) {
				return fieldProblem(field+".CountryCodes", "%q is not an ISO 3166-1 alpha-2 country code", c)
			}
		}
	}
	return nil
}

func checkName(field, v string, max int, required bool) *problem {
	if v == "" {
		if required {
			return fieldProblem(field, "%s is required", field)
		}
		return nil
	}
	if n := len([]rune(v)); n > max || strings.TrimSpace(v) == "" {
		return fieldProblem(field, "%s must be 1 to %d characters", field, max)
	}
	return nil
}

func checkID(field, v string) *problem {
	if !idPattern.MatchString(v) {
		return fieldProblem(field, "%s is required and must be an entity identifier", field)
	}
	return nil
}

// The change-type checks: the synchronous (schema) validation of StartChangeSet.

func checkCreateOffer(raw json.RawMessage) *problem {
	var d createOfferDetails
	if p := decodeDetails(raw, &d); p != nil {
		return p
	}
	if p := checkID("ProductId", d.ProductId); p != nil || len(d.ProductId) > 50 {
		return fieldProblem("ProductId", "ProductId is required (1 to 50 characters)")
	}
	return checkName("Name", d.Name, 150, false)
}

func checkCreateReplacementOffer(raw json.RawMessage) *problem {
	var d createReplacementOfferDetails
	if p := decodeDetails(raw, &d); p != nil {
		return p
	}
	if p := checkID("AgreementId", d.AgreementId); p != nil || len(d.AgreementId) > 64 {
		return fieldProblem("AgreementId", "AgreementId is required (1 to 64 characters)")
	}
	return checkName("Name", d.Name, 150, false)
}

func checkCreateOfferUsingRA(replacement bool) func(json.RawMessage) *problem {
	return func(raw json.RawMessage) *problem {
		var d createOfferUsingRADetails
		if p := decodeDetails(raw, &d); p != nil {
			return p
		}
		if p := checkID("ResaleAuthorizationId", d.ResaleAuthorizationId); p != nil {
			return p
		}
		if replacement {
			if p := checkID("AgreementId", d.AgreementId); p != nil {
				return p
			}
		}
		if p := checkName("Name", d.Name, 150, false); p != nil {
			return p
		}
		return checkName("Description", d.Description, 255, false)
	}
}

func checkInformation(raw json.RawMessage) *problem {
	var d informationDetails
	if p := decodeDetails(raw, &d); p != nil {
		return p
	}
	if d.Name == nil && d.Description == nil && d.PreExistingAgreement == nil {
		return fieldProblem("Name", "UpdateInformation needs Name, Description or PreExistingAgreement")
	}
	if d.Name != nil {
		if p := checkName("Name", *d.Name, 150, true); p != nil {
			return p
		}
	}
	if d.Description != nil {
		if p := checkName("Description", *d.Description, 255, true); p != nil {
			return p
		}
	}
	return nil
}

func checkTargetingDetails(raw json.RawMessage) *problem {
	var d targetingDetails
	if p := decodeDetails(raw, &d); p != nil {
		return p
	}
	if d.PositiveTargeting == nil && d.NegativeTargeting == nil {
		return fieldProblem("PositiveTargeting", "UpdateTargeting needs PositiveTargeting or NegativeTargeting")
	}
	if p := checkTargeting("PositiveTargeting", d.PositiveTargeting); p != nil {
		return p
	}
	if d.NegativeTargeting != nil && d.NegativeTargeting.BuyerAccounts != nil {
		return fieldProblem("NegativeTargeting.BuyerAccounts", "NegativeTargeting only takes CountryCodes")
	}
	return checkTargeting("NegativeTargeting", d.NegativeTargeting)
}

// terms decodes a {"Terms": [...]} document and checks each term's Type.
func decodeTerms(raw json.RawMessage, types ...string) (termsDetails, *problem) {
	var d termsDetails
	if p := decodeDetails(raw, &d); p != nil {
		return d, p
	}
	for i, t := range d.Terms {
		if !slices.Contains(types, t.Type) {
			return d, fieldProblem(fmt.Sprintf("Terms[%d].Type", i), "term type %q is not one of %s", t.Type, strings.Join(types, ", "))
		}
	}
	return d, nil
}

func checkSingleTerm(field string, d termsDetails) *problem {
	if len(d.Terms) != 1 {
		return fieldProblem("Terms", "%s takes exactly one term", field)
	}
	return nil
}

var pricingTermTypes = []string{"UsageBasedPricingTerm", "ConfigurableUpfrontPricingTerm", "FixedUpfrontPricingTerm",
	"FreeTrialPricingTerm", "RecurringPaymentTerm", "ByolPricingTerm"}

var resalePricingTermTypes = []string{"ResaleUsageBasedPricingTerm", "ResaleConfigurableUpfrontPricingTerm",
	"ResaleFixedUpfrontPricingTerm", "ResaleFreeTrialPricingTerm", "ResaleRecurringPaymentTerm", "ResaleByolPricingTerm"}

func checkPricing(resale bool) func(json.RawMessage) *problem {
	types := pricingTermTypes
	if resale {
		types = resalePricingTermTypes
	}
	return func(raw json.RawMessage) *problem {
		d, p := decodeTerms(raw, types...)
		if p != nil {
			return p
		}
		switch d.PricingModel {
		case "Usage", "Contract", "Free", "Byol":
		default:
			return fieldProblem("PricingModel", "PricingModel must be Usage, Contract, Free or Byol")
		}
		if len(d.Terms) == 0 && d.PricingModel != "Free" {
			return fieldProblem("Terms", "Terms must list at least one pricing term")
		}
		seen := map[string]bool{}
		for i, t := range d.Terms {
			f := fmt.Sprintf("Terms[%d]", i)
			if seen[t.Type] {
				return fieldProblem(f+".Type", "term type %s appears twice", t.Type)
			}
			seen[t.Type] = true
			if p := checkPricingTerm(f, strings.TrimPrefix(t.Type, "Resale"), t); p != nil {
				return p
			}
		}
		return nil
	}
}

func checkCurrency(f, c string) *problem {
	if !currencyPattern.MatchString(c) {
		return fieldProblem(f+".CurrencyCode", "CurrencyCode must be an ISO 4217 code such as USD")
	}
	return nil
}

func checkPrice(f, v string) *problem {
	if !decimalPattern.MatchString(v) {
		return fieldProblem(f, "%q is not a non-negative decimal price", v)
	}
	return nil
}

func checkGrants(f string, grants []grantDoc, required bool) *problem {
	if required && len(grants) == 0 {
		return fieldProblem(f+".Grants", "Grants must list at least one dimension")
	}
	for j, g := range grants {
		gf := fmt.Sprintf("%s.Grants[%d]", f, j)
		if !dimensionKeyPat.MatchString(g.DimensionKey) {
			return fieldProblem(gf+".DimensionKey", "DimensionKey %q is invalid", g.DimensionKey)
		}
		if g.MaxQuantity != nil && (*g.MaxQuantity < 1 || *g.MaxQuantity > math.MaxInt32) {
			return fieldProblem(gf+".MaxQuantity", "MaxQuantity must be between 1 and %d", math.MaxInt32)
		}
	}
	return nil
}

func checkPricingTerm(f, typ string, t termDoc) *problem {
	switch typ {
	case "UsageBasedPricingTerm", "ConfigurableUpfrontPricingTerm":
		if p := checkCurrency(f, t.CurrencyCode); p != nil {
			return p
		}
		if len(t.RateCards) == 0 {
			return fieldProblem(f+".RateCards", "RateCards must list at least one rate card")
		}
		for j, rc := range t.RateCards {
			rf := fmt.Sprintf("%s.RateCards[%d]", f, j)
			if typ == "ConfigurableUpfrontPricingTerm" {
				if rc.Selector == nil || rc.Selector.Type != "Duration" || !durationPattern.MatchString(rc.Selector.Value) {
					return fieldProblem(rf+".Selector", "a configurable upfront rate card needs a Selector {Type: Duration, Value: P12M}")
				}
				if c := rc.Constraints; c != nil {
					for _, v := range []string{c.MultipleDimensionSelection, c.QuantityConfiguration} {
						if v != "" && v != "Allowed" && v != "Disallowed" {
							return fieldProblem(rf+".Constraints", "constraints are Allowed or Disallowed, not %q", v)
						}
					}
				}
			}
			if len(rc.RateCard) == 0 {
				return fieldProblem(rf+".RateCard", "RateCard must list at least one dimension")
			}
			for k, it := range rc.RateCard {
				itf := fmt.Sprintf("%s.RateCard[%d]", rf, k)
				if !dimensionKeyPat.MatchString(it.DimensionKey) {
					return fieldProblem(itf+".DimensionKey", "DimensionKey %q is invalid", it.DimensionKey)
				}
				if p := checkPrice(itf+".Price", it.Price); p != nil {
					return p
				}
			}
		}
		if c := t.Configuration; c != nil {
			if !durationPattern.MatchString(c.SelectorValue) || len(c.Dimensions) == 0 {
				return fieldProblem(f+".Configuration", "Configuration needs a SelectorValue and at least one dimension")
			}
			for _, d := range c.Dimensions {
				if !dimensionKeyPat.MatchString(d.DimensionKey) || d.DimensionValue < 0 || d.DimensionValue > math.MaxInt32 {
					return fieldProblem(f+".Configuration.Dimensions", "dimension %q has an invalid key or value", d.DimensionKey)
				}
			}
		}
	case "FixedUpfrontPricingTerm":
		if p := checkCurrency(f, t.CurrencyCode); p != nil {
			return p
		}
		if p := checkPrice(f+".Price", t.Price); p != nil {
			return p
		}
		if t.Duration != "" && !durationPattern.MatchString(t.Duration) {
			return fieldProblem(f+".Duration", "Duration must look like P12M, P1Y or P30D")
		}
		return checkGrants(f, t.Grants, true)
	case "FreeTrialPricingTerm":
		if !freeTrialPattern.MatchString(t.Duration) {
			return fieldProblem(f+".Duration", "a free trial Duration is a number of days such as P30D")
		}
		return checkGrants(f, t.Grants, false)
	case "RecurringPaymentTerm":
		if p := checkCurrency(f, t.CurrencyCode); p != nil {
			return p
		}
		if t.BillingPeriod != "Monthly" {
			return fieldProblem(f+".BillingPeriod", "BillingPeriod must be Monthly")
		}
		return checkPrice(f+".Price", t.Price)
	}
	return nil
}

func checkLegal(resale bool) func(json.RawMessage) *problem {
	types := []string{"LegalTerm"}
	if resale {
		types = []string{"BuyerLegalTerm", "ResaleLegalTerm"}
	}
	return func(raw json.RawMessage) *problem {
		d, p := decodeTerms(raw, types...)
		if p != nil {
			return p
		}
		if len(d.Terms) == 0 || len(d.Terms) > len(types) {
			return fieldProblem("Terms", "Terms must list the legal terms (%s)", strings.Join(types, ", "))
		}
		for i, t := range d.Terms {
			f := fmt.Sprintf("Terms[%d].Documents", i)
			if len(t.Documents) == 0 {
				return fieldProblem(f, "a legal term needs at least one document")
			}
			for _, doc := range t.Documents {
				switch doc.Type {
				case "CustomEula", "CustomResellerContract":
					if !strings.HasPrefix(doc.Url, "https://") && !strings.HasPrefix(doc.Url, "http://") {
						return fieldProblem(f, "a %s document needs a Url", doc.Type)
					}
				case "StandardEula", "StandardResellerContract", "EnterpriseEula":
					if doc.Type == "StandardEula" && doc.Version != "" && doc.Version != "2019-04-24" && doc.Version != "2022-07-14" {
						return fieldProblem(f, "StandardEula Version must be 2019-04-24 or 2022-07-14")
					}
				default:
					return fieldProblem(f, "document type %q is not supported", doc.Type)
				}
			}
		}
		return nil
	}
}

func checkSupport(raw json.RawMessage) *problem {
	d, p := decodeTerms(raw, "SupportTerm")
	if p != nil {
		return p
	}
	if p := checkSingleTerm("UpdateSupportTerms", d); p != nil {
		return p
	}
	return checkName("Terms[0].RefundPolicy", d.Terms[0].RefundPolicy, 500, true)
}

func checkAvailability(resale bool) func(json.RawMessage) *problem {
	return func(raw json.RawMessage) *problem {
		var d availabilityDetails
		if p := decodeDetails(raw, &d); p != nil {
			return p
		}
		if d.AvailabilityEndDate == nil && (!resale || d.OffersMaxQuantity == nil) {
			return fieldProblem("AvailabilityEndDate", "AvailabilityEndDate is required")
		}
		if d.AvailabilityEndDate != nil {
			if _, err := time.Parse(time.DateOnly, *d.AvailabilityEndDate); err != nil {
				return fieldProblem("AvailabilityEndDate", "AvailabilityEndDate must be a date in the form YYYY-MM-DD")
			}
		}
		if d.OffersMaxQuantity != nil {
			if !resale {
				return fieldProblem("OffersMaxQuantity", "OffersMaxQuantity only applies to resale authorizations")
			}
			if n, ok := maxQuantity(d.OffersMaxQuantity); !ok || n != 1 {
				return fieldProblem("OffersMaxQuantity", "OffersMaxQuantity must be 1 (a one-time resale authorization)")
			}
		}
		return nil
	}
}

// maxQuantity reads OffersMaxQuantity, a number or a numeric string.
func maxQuantity(raw json.RawMessage) (int64, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	var n int64
	return n, json.Unmarshal(raw, &n) == nil
}

func checkValidity(raw json.RawMessage) *problem {
	d, p := decodeTerms(raw, "ValidityTerm")
	if p != nil {
		return p
	}
	if p := checkSingleTerm("UpdateValidityTerms", d); p != nil {
		return p
	}
	t := d.Terms[0]
	if t.AgreementDuration == "" && t.AgreementEndDate == "" {
		return fieldProblem("Terms[0]", "a ValidityTerm needs AgreementDuration or AgreementEndDate")
	}
	if t.AgreementDuration != "" && t.AgreementEndDate != "" {
		return fieldProblem("Terms[0]", "a ValidityTerm takes AgreementDuration or AgreementEndDate, not both")
	}
	if t.AgreementDuration != "" && !durationPattern.MatchString(t.AgreementDuration) {
		return fieldProblem("Terms[0].AgreementDuration", "AgreementDuration must look like P12M, P1Y or P365D")
	}
	for f, v := range map[string]string{"AgreementStartDate": t.AgreementStartDate, "AgreementEndDate": t.AgreementEndDate} {
		if v != "" {
			if _, ok := parseDate(v); !ok {
				return fieldProblem("Terms[0]."+f, "%s must be a date in the form YYYY-MM-DD", f)
			}
		}
	}
	return nil
}

func checkPaymentSchedule(resale bool) func(json.RawMessage) *problem {
	types := []string{"PaymentScheduleTerm"}
	if resale {
		types = append(types, "ResalePaymentScheduleTerm")
	}
	return func(raw json.RawMessage) *problem {
		d, p := decodeTerms(raw, types...)
		if p != nil {
			return p
		}
		if p := checkSingleTerm("UpdatePaymentScheduleTerms", d); p != nil {
			return p
		}
		t := d.Terms[0]
		if p := checkCurrency("Terms[0]", t.CurrencyCode); p != nil {
			return p
		}
		if len(t.Schedule) == 0 || len(t.Schedule) > 60 {
			return fieldProblem("Terms[0].Schedule", "Schedule must list 1 to 60 payments")
		}
		for i, it := range t.Schedule {
			f := fmt.Sprintf("Terms[0].Schedule[%d]", i)
			if _, ok := parseDate(it.ChargeDate); !ok {
				return fieldProblem(f+".ChargeDate", "ChargeDate must be a date in the form YYYY-MM-DD")
			}
			if p := checkPrice(f+".ChargeAmount", it.ChargeAmount); p != nil {
				return p
			}
		}
		return nil
	}
}

var netPaymentPeriods = []string{"P15D", "P30D", "P45D", "P60D", "P90D", "P120D"}

func checkNetPayment(raw json.RawMessage) *problem {
	d, p := decodeTerms(raw, "NetPaymentTerm")
	if p != nil {
		return p
	}
	if p := checkSingleTerm("UpdateNetPaymentTerms", d); p != nil {
		return p
	}
	if !slices.Contains(netPaymentPeriods, d.Terms[0].PaymentDuePeriod) {
		return fieldProblem("Terms[0].PaymentDuePeriod", "PaymentDuePeriod must be one of %s", strings.Join(netPaymentPeriods, ", "))
	}
	return nil
}

func checkRenewal(raw json.RawMessage) *problem {
	d, p := decodeTerms(raw, "RenewalTerm")
	if p != nil {
		return p
	}
	if len(d.Terms) > 1 {
		return fieldProblem("Terms", "UpdateRenewalTerms takes at most one RenewalTerm")
	}
	return nil
}

func checkEmpty(raw json.RawMessage) *problem {
	if !bytes.Equal(bytes.TrimSpace(raw), []byte("{}")) {
		return fieldProblem("DetailsDocument", "the details of this change type must be {}")
	}
	return nil
}

func checkMarkup(raw json.RawMessage) *problem {
	var d markupDetails
	if p := decodeDetails(raw, &d); p != nil {
		return p
	}
	v, err := strconv.ParseFloat(d.Percentage, 64)
	if !decimalPattern.MatchString(d.Percentage) || err != nil || v > 100 {
		return fieldProblem("Percentage", "Percentage must be a decimal string between 0 and 100, such as \"5.0\"")
	}
	return nil
}

func checkCreateRA(raw json.RawMessage) *problem {
	var d createRADetails
	if p := decodeDetails(raw, &d); p != nil {
		return p
	}
	if p := checkID("ProductId", d.ProductId); p != nil {
		return p
	}
	if p := checkName("Name", d.Name, 100, true); p != nil {
		return p
	}
	if p := checkName("Description", d.Description, 255, false); p != nil {
		return p
	}
	if !accountPattern.MatchString(d.ResellerAccountId) {
		return fieldProblem("ResellerAccountId", "ResellerAccountId must be a 12-digit AWS account ID")
	}
	return nil
}

func checkBuyerTargeting(raw json.RawMessage) *problem {
	d, p := decodeTerms(raw, "BuyerTargetingTerm")
	if p != nil {
		return p
	}
	if p := checkSingleTerm("UpdateBuyerTargetingTerms", d); p != nil {
		return p
	}
	t := d.Terms[0].PositiveTargeting
	if t == nil {
		return fieldProblem("Terms[0].PositiveTargeting", "a BuyerTargetingTerm needs PositiveTargeting.BuyerAccounts")
	}
	return checkAccounts("Terms[0].PositiveTargeting.BuyerAccounts", t.BuyerAccounts, 25)
}

func checkBuyerValidity(raw json.RawMessage) *problem {
	d, p := decodeTerms(raw, "BuyerValidityTerm")
	if p != nil {
		return p
	}
	return checkSingleTerm("UpdateBuyerValidityTerms", d)
}
