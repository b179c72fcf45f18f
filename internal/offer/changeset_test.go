package offer_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
)

const (
	csBuyer    = "444455556666"
	csReseller = "999988887777"
)

var csProduct = marketplace.Product{ProductID: "prod-abcdefghijklm", Type: marketplace.ProductSaaSContractConsumption,
	Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}, {Key: "admins", Kind: "contract"}, {Key: "api_calls", Kind: "usage"}}}

var csUsageProduct = marketplace.Product{ProductID: "prod-usageusageus", Type: marketplace.ProductSaaSUsage,
	Dimensions: []marketplace.Dimension{{Key: "api_calls", Kind: "usage"}}}

// csOffer is a direct 12-month offer for 25 seats, 2 admins and metered API calls.
func csOffer() offer.Offer {
	var o offer.Offer
	o.ID = "ofr_0192f0c8a1b27c3d8e4f5a6b7c8d9e0f"
	o.Type = offer.TypeDirect
	o.BuyerCompany = "Acme Corp"
	o.ProductID = csProduct.ProductID
	o.Name = "Acme 12-month private offer"
	o.Pricing.Currency = "USD"
	o.Pricing.Duration = "P12M"
	if err := json.Unmarshal([]byte(`[{"key":"seats","kind":"contract","quantity":25,"price":"8.00"},
		{"key":"admins","kind":"contract","quantity":2,"price":"40.00"},{"key":"api_calls","kind":"usage","price":"0.02"}]`),
		&o.Pricing.Dimensions); err != nil {
		panic(err)
	}
	o.EULA.Kind = "standard"
	o.Metadata = map[string]string{offer.MetaBuyerAccount: csBuyer}
	o.ExpiresOn = "2099-06-30"
	return o
}

func csPartnerOffer() offer.Offer {
	o := csOffer()
	o.Type = offer.TypePartner
	o.Metadata[offer.MetaPartnerAccount] = csReseller
	var l offer.Legal
	l.Kind = "standard"
	o.ResellerAgreement = &l
	return o
}

func setSchedule(t *testing.T, o *offer.Offer, js string) {
	t.Helper()
	if err := json.Unmarshal([]byte(js), &o.Pricing.Schedule); err != nil {
		t.Fatal(err)
	}
}

func build(t *testing.T, o offer.Offer, p marketplace.Product, opts ...offer.ChangeSetOption) (string, []offer.Change) {
	t.Helper()
	name, changes, err := offer.ChangeSet(o, p, opts...)
	if err != nil {
		t.Fatalf("ChangeSet: %v", err)
	}
	return name, changes
}

func changeTypes(changes []offer.Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.ChangeType
	}
	return out
}

// details returns the DetailsDocument of the change of a type, as JSON.
func details(t *testing.T, changes []offer.Change, changeType string) map[string]any {
	t.Helper()
	for _, c := range changes {
		if c.ChangeType == changeType {
			b, err := json.Marshal(c.Details)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("no %s change in %v", changeType, changeTypes(changes))
	return nil
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// terms indexes the Terms of a details document by Type.
func terms(t *testing.T, d map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, term := range d["Terms"].([]any) {
		m := term.(map[string]any)
		out[m["Type"].(string)] = m
	}
	return out
}

var changeSetNamePattern = regexp.MustCompile(`^[\w\s+=.:@-]{1,100}$`)

func TestChangeSetDirectOffer(t *testing.T) {
	t.Parallel()
	o := csOffer()
	name, changes := build(t, o, csProduct)
	if name != "concord-"+o.ID || !changeSetNamePattern.MatchString(name) {
		t.Fatalf("name %q", name)
	}
	want := []string{"CreateOffer", "UpdateInformation", "UpdateTargeting", "UpdatePricingTerms", "UpdateValidityTerms",
		"UpdateLegalTerms", "UpdateAvailability", "ReleaseOffer"}
	if got := changeTypes(changes); !slices.Equal(got, want) {
		t.Fatalf("change types %v, want %v", got, want)
	}
	for i, c := range changes {
		if c.EntityType != offer.EntityTypeOffer {
			t.Fatalf("change %d entity type %q", i, c.EntityType)
		}
		if i == 0 {
			if c.Identifier != "" || c.ChangeName != offer.ChangeNameOffer {
				t.Fatalf("create change %+v", c)
			}
		} else if c.Identifier != "$Offer.Entity.Identifier" || c.ChangeName != "" {
			t.Fatalf("change %d %+v", i, c)
		}
	}
	if d := details(t, changes, "CreateOffer"); d["ProductId"] != csProduct.ProductID || d["Name"] != o.Name {
		t.Fatalf("CreateOffer %v", d)
	}
	if d := details(t, changes, "UpdateInformation"); d["Name"] != o.Name || !strings.Contains(d["Description"].(string), o.ID) {
		t.Fatalf("UpdateInformation %v", d)
	}
	if got := js(details(t, changes, "UpdateTargeting")); got != `{"PositiveTargeting":{"BuyerAccounts":["444455556666"]}}` {
		t.Fatalf("UpdateTargeting %s", got)
	}
	pricing := details(t, changes, "UpdatePricingTerms")
	if pricing["PricingModel"] != "Contract" {
		t.Fatalf("PricingModel %v", pricing["PricingModel"])
	}
	tm := terms(t, pricing)
	if len(tm) != 2 {
		t.Fatalf("terms %v", js(pricing))
	}
	// The quantities are Grants of a fixed upfront term priced at the whole
	// contract (25×8.00 + 2×40.00), with no Duration: the validity term says
	// how long the agreement runs. Shape: AWS's sample
	// java/resources/changeSets/offers/CreatePrivateOfferWithContractPricingWithFlexiblePaymentScheduleForSaas.json.
	if got := js(tm["FixedUpfrontPricingTerm"]); got != `{"CurrencyCode":"USD","Grants":[{"DimensionKey":"seats","MaxQuantity":25},{"DimensionKey":"admins","MaxQuantity":2}],"Price":"280.00","Type":"FixedUpfrontPricingTerm"}` {
		t.Fatalf("FixedUpfrontPricingTerm %s", got)
	}
	if got := js(tm["UsageBasedPricingTerm"]); got != `{"CurrencyCode":"USD","RateCards":[{"RateCard":[{"DimensionKey":"api_calls","Price":"0.02"}]}],"Type":"UsageBasedPricingTerm"}` {
		t.Fatalf("UsageBasedPricingTerm %s", got)
	}
	if got := js(details(t, changes, "UpdateValidityTerms")); got != `{"Terms":[{"AgreementDuration":"P12M","Type":"ValidityTerm"}]}` {
		t.Fatalf("UpdateValidityTerms %s", got)
	}
	if got := js(details(t, changes, "UpdateLegalTerms")); got != `{"Terms":[{"Documents":[{"Type":"StandardEula","Version":"2022-07-14"}],"Type":"LegalTerm"}]}` {
		t.Fatalf("UpdateLegalTerms %s", got)
	}
	if got := js(details(t, changes, "UpdateAvailability")); got != `{"AvailabilityEndDate":"2099-06-30"}` {
		t.Fatalf("UpdateAvailability %s", got)
	}
	if got := js(details(t, changes, "ReleaseOffer")); got != `{}` {
		t.Fatalf("ReleaseOffer %s", got)
	}
}

func TestChangeSetReplacementOfferIsNotRetargeted(t *testing.T) {
	t.Parallel()
	o := csOffer()
	o.Amends = &offer.Amendment{AgreementID: "agmt-11111111111111111111111111", SourceOfferID: "offer-1111111111111"}
	_, changes := build(t, o, csProduct)
	want := []string{"CreateReplacementOffer", "UpdateInformation", "UpdatePricingTerms", "UpdateValidityTerms",
		"UpdateLegalTerms", "UpdateAvailability", "ReleaseOffer"}
	if got := changeTypes(changes); !slices.Equal(got, want) {
		t.Fatalf("change types %v, want %v", got, want)
	}
	if changes[0].ChangeName != offer.ChangeNameOffer || changes[0].Identifier != "" {
		t.Fatalf("create change %+v", changes[0])
	}
	d := details(t, changes, "CreateReplacementOffer")
	if d["AgreementId"] != o.Amends.AgreementID || d["Name"] != o.Name || d["ProductId"] != nil {
		t.Fatalf("CreateReplacementOffer %v", d)
	}
	if desc := details(t, changes, "UpdateInformation")["Description"].(string); !strings.Contains(desc, o.Amends.AgreementID) {
		t.Fatalf("description %q", desc)
	}
}

func TestChangeSetUsageOnlyOffer(t *testing.T) {
	t.Parallel()
	o := csOffer()
	o.ProductID = csUsageProduct.ProductID
	o.Pricing.Dimensions = o.Pricing.Dimensions[2:]
	_, changes := build(t, o, csUsageProduct)
	pricing := details(t, changes, "UpdatePricingTerms")
	if pricing["PricingModel"] != "Usage" || len(pricing["Terms"].([]any)) != 1 || terms(t, pricing)["UsageBasedPricingTerm"] == nil {
		t.Fatalf("pricing %s", js(pricing))
	}

	t.Run("on a product of unknown type the kinds decide", func(t *testing.T) {
		p := csUsageProduct
		p.Type = ""
		_, changes := build(t, o, p)
		if m := details(t, changes, "UpdatePricingTerms")["PricingModel"]; m != "Usage" {
			t.Fatalf("PricingModel %v", m)
		}
	})

	t.Run("usage dimensions of a contract product stay on a Contract model", func(t *testing.T) {
		o := csOffer()
		o.Pricing.Dimensions = o.Pricing.Dimensions[2:]
		_, changes := build(t, o, csProduct)
		pricing := details(t, changes, "UpdatePricingTerms")
		if pricing["PricingModel"] != "Contract" || len(pricing["Terms"].([]any)) != 1 {
			t.Fatalf("pricing %s", js(pricing))
		}
	})

	t.Run("a kind the form leaves out comes from the product", func(t *testing.T) {
		o := csOffer()
		o.Pricing.Dimensions[2].Kind = ""
		_, changes := build(t, o, csProduct)
		if tm := terms(t, details(t, changes, "UpdatePricingTerms")); tm["UsageBasedPricingTerm"] == nil {
			t.Fatalf("terms %v", tm)
		}
	})
}

func TestChangeSetEndDateAndSchedule(t *testing.T) {
	t.Parallel()
	o := csOffer()
	o.Pricing.Duration, o.Pricing.EndDate = "", "2027-03-09"
	o.Pricing.Dimensions = o.Pricing.Dimensions[:2] // 25*8 + 2*40 = 280
	setSchedule(t, &o, `[{"date":"2026-04-01","amount":"140.00"},{"date":"2026-10-01","amount":"140.00"}]`)
	o.EULA.Kind = "custom"

	if _, _, err := offer.ChangeSet(o, csProduct); marketplace.ErrorCode(err) != marketplace.EInvalid ||
		!strings.Contains(err.Error(), "EULA") {
		t.Fatalf("a custom EULA without its URL: %v", err)
	}
	const eula = "https://concord-docs.s3.amazonaws.com/ofr_1/eula.pdf"
	_, changes := build(t, o, csProduct, offer.WithEULAURL(eula))
	want := []string{"CreateOffer", "UpdateInformation", "UpdateTargeting", "UpdatePricingTerms", "UpdateValidityTerms",
		"UpdatePaymentScheduleTerms", "UpdateLegalTerms", "UpdateAvailability", "ReleaseOffer"}
	if got := changeTypes(changes); !slices.Equal(got, want) {
		t.Fatalf("change types %v, want %v", got, want)
	}
	// AWS's end-date sample (CreateReplacementOfferWithContractPricing.json):
	// the end date itself, not a count of days from submission.
	if got := js(details(t, changes, "UpdateValidityTerms")); got != `{"Terms":[{"AgreementEndDate":"2027-03-09","Type":"ValidityTerm"}]}` {
		t.Fatalf("UpdateValidityTerms %s", got)
	}
	// With a schedule the fixed upfront term grants only, at "0.0".
	pricing := details(t, changes, "UpdatePricingTerms")
	if got := js(pricing["Terms"]); got != `[{"CurrencyCode":"USD","Grants":[{"DimensionKey":"seats","MaxQuantity":25},{"DimensionKey":"admins","MaxQuantity":2}],"Price":"0.0","Type":"FixedUpfrontPricingTerm"}]` {
		t.Fatalf("pricing terms %s", got)
	}
	if got := js(details(t, changes, "UpdatePaymentScheduleTerms")); got != `{"Terms":[{"CurrencyCode":"USD","Schedule":[{"ChargeAmount":"140.00","ChargeDate":"2026-04-01"},{"ChargeAmount":"140.00","ChargeDate":"2026-10-01"}],"Type":"PaymentScheduleTerm"}]}` {
		t.Fatalf("UpdatePaymentScheduleTerms %s", got)
	}
	if got := js(details(t, changes, "UpdateLegalTerms")); got != `{"Terms":[{"Documents":[{"Type":"CustomEula","Url":"`+eula+`"}],"Type":"LegalTerm"}]}` {
		t.Fatalf("UpdateLegalTerms %s", got)
	}

	t.Run("the same form gives the same change set whatever the day", func(t *testing.T) {
		_, again := build(t, o, csProduct, offer.WithEULAURL(eula))
		if js(again) != js(changes) {
			t.Fatalf("the change set changed:\n%s\n%s", js(changes), js(again))
		}
	})

	t.Run("without a schedule the fixed upfront term charges the contract", func(t *testing.T) {
		o := o
		o.Pricing.Schedule = nil
		o.EULA.Kind = "standard"
		o.Pricing.Dimensions = slices.Clone(o.Pricing.Dimensions)
		o.Pricing.Dimensions[0].Price = "8.125" // 25*8.125 + 2*40 = 283.125: three decimals
		_, changes := build(t, o, csProduct)
		if got := js(details(t, changes, "UpdatePricingTerms")["Terms"]); got != `[{"CurrencyCode":"USD","Grants":[{"DimensionKey":"seats","MaxQuantity":25},{"DimensionKey":"admins","MaxQuantity":2}],"Price":"283.125","Type":"FixedUpfrontPricingTerm"}]` {
			t.Fatalf("pricing terms %s", got)
		}
		if slices.Contains(changeTypes(changes), "UpdatePaymentScheduleTerms") {
			t.Fatalf("change types %v", changeTypes(changes))
		}
	})

	t.Run("a zero-dollar contract is a fixed upfront price of 0", func(t *testing.T) {
		o := o
		o.Pricing.Schedule = nil
		o.EULA.Kind = "standard"
		o.ZeroDollar = true
		o.Pricing.Dimensions = []offer.PricedDimension{{Key: "seats", Kind: "contract", Quantity: 5, Price: "0"}}
		_, changes := build(t, o, csProduct)
		if got := js(details(t, changes, "UpdatePricingTerms")["Terms"]); got != `[{"CurrencyCode":"USD","Grants":[{"DimensionKey":"seats","MaxQuantity":5}],"Price":"0.00","Type":"FixedUpfrontPricingTerm"}]` {
			t.Fatalf("pricing terms %s", got)
		}
	})
}

func TestChangeSetFutureDated(t *testing.T) {
	t.Parallel()
	o := csOffer()
	o.Pricing.StartDate = "2099-07-01"
	_, changes := build(t, o, csProduct)
	if got := js(details(t, changes, "UpdateValidityTerms")); got != `{"Terms":[{"AgreementDuration":"P12M","AgreementStartDate":"2099-07-01","Type":"ValidityTerm"}]}` {
		t.Fatalf("UpdateValidityTerms %s", got)
	}
	o.Pricing.Duration, o.Pricing.EndDate = "", "2100-06-30"
	_, changes = build(t, o, csProduct)
	if got := js(details(t, changes, "UpdateValidityTerms")); got != `{"Terms":[{"AgreementEndDate":"2100-06-30","AgreementStartDate":"2099-07-01","Type":"ValidityTerm"}]}` {
		t.Fatalf("UpdateValidityTerms %s", got)
	}

	t.Run("a partner offer bounds the start of the partner's agreement", func(t *testing.T) {
		o := csPartnerOffer()
		o.Pricing.StartDate = "2099-07-01"
		_, changes := build(t, o, csProduct)
		if got := js(details(t, changes, "UpdateBuyerValidityTerms")); got != `{"Terms":[{"MaximumAgreementStartDate":"2099-07-01","Type":"BuyerValidityTerm"}]}` {
			t.Fatalf("UpdateBuyerValidityTerms %s", got)
		}
		// A resale authorization takes a duration: an end date counts from
		// the start date, whatever the day it is built.
		o.Pricing.Duration, o.Pricing.EndDate = "", "2100-06-30"
		_, changes = build(t, o, csProduct, offer.WithNow(time.Date(2030, 1, 1, 23, 0, 0, 0, time.UTC)))
		if got := js(terms(t, details(t, changes, "UpdatePricingTerms"))["ResaleFixedUpfrontPricingTerm"]["Duration"]); got != `"P365D"` {
			t.Fatalf("Duration %s", got)
		}
		// Without a start date it counts from the day it is built (UTC).
		o.Pricing.StartDate = ""
		_, changes = build(t, o, csProduct, offer.WithNow(time.Date(2100, 6, 1, 23, 0, 0, 0, time.UTC)))
		if got := js(terms(t, details(t, changes, "UpdatePricingTerms"))["ResaleFixedUpfrontPricingTerm"]["Duration"]); got != `"P30D"` {
			t.Fatalf("Duration %s", got)
		}
		if _, _, err := offer.ChangeSet(o, csProduct, offer.WithNow(time.Date(2100, 7, 1, 0, 0, 0, 0, time.UTC))); marketplace.ErrorCode(err) != marketplace.EInvalid {
			t.Fatalf("an end date before the start: %v", err)
		}
	})
}

func TestChangeSetRenewals(t *testing.T) {
	t.Parallel()
	for channel, want := range map[string]string{"": "AwsMarketplace", offer.RenewalFromMarketplace: "AwsMarketplace", offer.RenewalFromOutside: "External"} {
		o := csOffer()
		o.Renewal, o.RenewalChannel = true, channel
		_, changes := build(t, o, csProduct)
		// offer_1_0_appendix/models/pre_existing_agreement.py
		if got := js(details(t, changes, "UpdateInformation")["PreExistingAgreement"]); got != `{"AcquisitionChannel":"`+want+`","PricingModel":"Contract"}` {
			t.Errorf("direct renewal from %q: PreExistingAgreement %s", channel, got)
		}

		p := csPartnerOffer()
		p.Renewal, p.RenewalChannel = true, channel
		_, changes = build(t, p, csProduct)
		// resaleauthorization_1_0_changetypes/models/update_information_change_detail.py
		if got := js(details(t, changes, "UpdateInformation")); got != `{"PreExistingBuyerAgreement":{"AcquisitionChannel":"`+want+`","PricingModel":"Contract"}}` {
			t.Errorf("partner renewal from %q: UpdateInformation %s", channel, got)
		}
		if changes[2].ChangeType != "UpdateInformation" || changes[2].EntityType != offer.EntityTypeResaleAuthorization {
			t.Errorf("partner renewal change %+v", changes[2])
		}
	}

	t.Run("an amendment names its agreement already", func(t *testing.T) {
		o := csOffer()
		o.Renewal = true
		o.Amends = &offer.Amendment{AgreementID: "agmt-11111111111111111111111111", SourceOfferID: "offer-1111111111111"}
		_, changes := build(t, o, csProduct)
		if pre, ok := details(t, changes, "UpdateInformation")["PreExistingAgreement"]; ok {
			t.Fatalf("PreExistingAgreement %v", pre)
		}
	})

	t.Run("a partner offer that renews nothing sends no UpdateInformation", func(t *testing.T) {
		_, changes := build(t, csPartnerOffer(), csProduct)
		if slices.Contains(changeTypes(changes), "UpdateInformation") {
			t.Fatalf("change types %v", changeTypes(changes))
		}
	})
}

func TestChangeSetPartnerOffer(t *testing.T) {
	t.Parallel()
	o := csPartnerOffer()
	o.Name = strings.Repeat("n", offer.MaxNameLength)
	name, changes := build(t, o, csProduct)
	if name != "concord-"+o.ID {
		t.Fatalf("name %q", name)
	}
	want := []string{"CreateResaleAuthorization", "UpdateBuyerTargetingTerms", "UpdatePricingTerms", "UpdateLegalTerms",
		"UpdateAvailability", "ReleaseResaleAuthorization"}
	if got := changeTypes(changes); !slices.Equal(got, want) {
		t.Fatalf("change types %v, want %v", got, want)
	}
	for i, c := range changes {
		if c.EntityType != offer.EntityTypeResaleAuthorization {
			t.Fatalf("change %d entity type %q", i, c.EntityType)
		}
		if i > 0 && c.Identifier != "$ResaleAuthorization.Entity.Identifier" {
			t.Fatalf("change %d identifier %q", i, c.Identifier)
		}
	}
	if changes[0].ChangeName != offer.ChangeNameResaleAuthorization || changes[0].Identifier != "" {
		t.Fatalf("create change %+v", changes[0])
	}
	d := details(t, changes, "CreateResaleAuthorization")
	if d["ProductId"] != csProduct.ProductID || d["ResellerAccountId"] != csReseller || len([]rune(d["Name"].(string))) != 100 ||
		!strings.Contains(d["Description"].(string), o.ID) {
		t.Fatalf("CreateResaleAuthorization %v", d)
	}
	if got := js(details(t, changes, "UpdateBuyerTargetingTerms")); got != `{"Terms":[{"PositiveTargeting":{"BuyerAccounts":["444455556666"]},"Type":"BuyerTargetingTerm"}]}` {
		t.Fatalf("UpdateBuyerTargetingTerms %s", got)
	}
	pricing := details(t, changes, "UpdatePricingTerms")
	tm := terms(t, pricing)
	if pricing["PricingModel"] != "Contract" || tm["ResaleUsageBasedPricingTerm"] == nil || len(tm) != 2 {
		t.Fatalf("pricing %s", js(pricing))
	}
	// Price, Grants and Duration: resaleauthorization_1_0_changetypes/models/pricing_term.py.
	if got := js(tm["ResaleFixedUpfrontPricingTerm"]); got != `{"CurrencyCode":"USD","Duration":"P12M","Grants":[{"DimensionKey":"seats","MaxQuantity":25},{"DimensionKey":"admins","MaxQuantity":2}],"Price":"280.00","Type":"ResaleFixedUpfrontPricingTerm"}` {
		t.Fatalf("ResaleFixedUpfrontPricingTerm %s", got)
	}
	// The resale LegalDocument has only Type and Url (legal_document.py).
	if got := js(details(t, changes, "UpdateLegalTerms")); got != `{"Terms":[{"Documents":[{"Type":"StandardEula"}],"Type":"BuyerLegalTerm"},{"Documents":[{"Type":"StandardResellerContract"}],"Type":"ResaleLegalTerm"}]}` {
		t.Fatalf("UpdateLegalTerms %s", got)
	}
	if got := js(details(t, changes, "UpdateAvailability")); got != `{"AvailabilityEndDate":"2099-06-30","OffersMaxQuantity":1}` {
		t.Fatalf("UpdateAvailability %s", got)
	}
	if got := js(details(t, changes, "ReleaseResaleAuthorization")); got != `{}` {
		t.Fatalf("ReleaseResaleAuthorization %s", got)
	}

	t.Run("a schedule goes on the resale authorization with a fixed upfront term of known duration", func(t *testing.T) {
		o := csPartnerOffer()
		o.Pricing.Dimensions = o.Pricing.Dimensions[:2]
		setSchedule(t, &o, `[{"date":"2026-04-01","amount":"280.00"}]`)
		_, changes := build(t, o, csProduct)
		if !slices.Contains(changeTypes(changes), "UpdatePaymentScheduleTerms") {
			t.Fatalf("change types %v", changeTypes(changes))
		}
		if got := js(details(t, changes, "UpdatePricingTerms")["Terms"]); got != `[{"CurrencyCode":"USD","Duration":"P12M","Grants":[{"DimensionKey":"seats","MaxQuantity":25},{"DimensionKey":"admins","MaxQuantity":2}],"Price":"0.00","Type":"ResaleFixedUpfrontPricingTerm"}]` {
			t.Fatalf("pricing terms %s", got)
		}
		if tm := terms(t, details(t, changes, "UpdatePaymentScheduleTerms")); tm["ResalePaymentScheduleTerm"] == nil {
			t.Fatalf("schedule %v", tm)
		}
	})

	t.Run("a custom reseller agreement needs its URL", func(t *testing.T) {
		o := csPartnerOffer()
		o.ResellerAgreement.Kind = "custom"
		if _, _, err := offer.ChangeSet(o, csProduct); marketplace.ErrorCode(err) != marketplace.EInvalid {
			t.Fatalf("err %v", err)
		}
		const u = "https://concord.example.com/v1/offers/x/documents/reseller-agreement.pdf"
		_, changes := build(t, o, csProduct, offer.WithResellerContractURL(u))
		if got := js(terms(t, details(t, changes, "UpdateLegalTerms"))["ResaleLegalTerm"]); got != `{"Documents":[{"Type":"CustomResellerContract","Url":"`+u+`"}],"Type":"ResaleLegalTerm"}` {
			t.Fatalf("ResaleLegalTerm %s", got)
		}
	})
}

func TestChangeSetNames(t *testing.T) {
	t.Parallel()
	o := csOffer()
	o.ID = "ofr/" + strings.Repeat("x", 200) + "é"
	if name := offer.ChangeSetName(o); len(name) != offer.MaxChangeSetName || !changeSetNamePattern.MatchString(name) || !strings.HasPrefix(name, "concord-ofr-x") {
		t.Fatalf("name %q", name)
	}
	o = csOffer()
	o.Name = ""
	_, changes := build(t, o, csProduct)
	if n := details(t, changes, "CreateOffer")["Name"]; n != "Private offer for Acme Corp" {
		t.Fatalf("default name %v", n)
	}
	o.Name = strings.Repeat("é", offer.MaxNameLength+10)
	_, changes = build(t, o, csProduct)
	if n := details(t, changes, "UpdateInformation")["Name"].(string); len([]rune(n)) != offer.MaxNameLength {
		t.Fatalf("name of %d characters", len([]rune(n)))
	}
}

func TestChangeSetRefusesIncompleteOffers(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(*offer.Offer){
		"no id":              func(o *offer.Offer) { o.ID = "" },
		"no buyer":           func(o *offer.Offer) { delete(o.Metadata, offer.MetaBuyerAccount) },
		"no partner":         func(o *offer.Offer) { o.Type = offer.TypePartner },
		"no duration":        func(o *offer.Offer) { o.Pricing.Duration = "" },
		"no dimensions":      func(o *offer.Offer) { o.Pricing.Dimensions = nil },
		"an unknown kind":    func(o *offer.Offer) { o.Pricing.Dimensions[0].Kind = "seat" },
		"an unknown type":    func(o *offer.Offer) { o.Type = "public" },
		"no expiration date": func(o *offer.Offer) { o.ExpiresOn = "" },
		"no legal kind":      func(o *offer.Offer) { o.EULA.Kind = "" },
	} {
		o := csOffer()
		edit(&o)
		if _, _, err := offer.ChangeSet(o, csProduct); marketplace.ErrorCode(err) != marketplace.EInvalid {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestChangeSetStatusDone(t *testing.T) {
	t.Parallel()
	for status, done := range map[string]bool{offer.ChangeSetPreparing: false, offer.ChangeSetApplying: false,
		offer.ChangeSetSucceeded: true, offer.ChangeSetFailed: true, offer.ChangeSetCancelled: true} {
		if (offer.ChangeSetStatus{Status: status}).Done() != done {
			t.Errorf("%s: Done() != %v", status, done)
		}
	}
}
