package catalog

import "github.com/concordmp/concord/internal/emulator/world"

// The DetailsDocument shapes of the change types the emulator supports.
//
// Sources (read with the search tool; docs/emulator.md "Catalog API
// validation" lists each rule):
//   - RA: awslabs/aws-marketplace-catalog-api-shapes-for-python,
//     src/aws_marketplace_catalog_shapes_resaleauthorization_1_0_changetypes/models/<file>.py
//     (member names, strict JSON types, regex patterns, min/max, enums).
//   - OFFER: awslabs/aws-marketplace-catalog-api-shapes-for-java,
//     src/main/java/com/amazonaws/services/marketplacecatalog/model/offer_1_0/<Class>.java
//     (member names, required members and enums; the Java flavour carries
//     no patterns, and the index holds no offer models of the python
//     flavour, so the offer terms take the patterns of the resale terms of
//     the same shape: RateCard, Grant, Selector, Schedule, Price).
//   - REF: /work/shared/reference/aws-marketplace-api.md section 6 (from the
//     Marketplace Catalog API reference "Work with private offers").

// Patterns of the shape library.
const (
	// RA schedule.py, update_availability_change_detail.py, buyer_validity_term.py.
	datePattern = `^([1-9]\d{3}-((0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)|([1-9]\d(0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26])00)-02-29)$`
	// RA pricing_term.py Duration, selector.py Value: ^P(?=.)(\d+Y)?(\d+M)?(\d+D)?$
	// (RE2 has no look-ahead: "P" alone is refused by shape.notEqual).
	durationShapePattern = world.DurationPattern
	// RA rate_card.py Price.
	rateCardPricePattern = world.RateCardPricePattern
	// RA pricing_term.py Price (fixed upfront).
	fixedPricePattern = `^((100000000(\.0{0,3})?)|(\d{1,8}(\.\d{0,3})?))$`
	// RA schedule.py ChargeAmount.
	chargeAmountPattern = `^((100000000(\.0{0,2})?)|(\d{1,8}(\.\d{0,2})?))$`
	// RA legal_document.py Url (python re.match anchors at the start only).
	urlPattern = `^https?:\/\/(www\.)?[-a-zA-Z0-9@._]{1,256}\.[a-zA-Z0-9()]{1,6}\b([-a-zA-Z0-9@_\+.\/\/]*)`
	// RA create_resale_authorization_change_detail.py Name.
	raNamePattern = `^\S+[\S\s]*$`
	// RA create_resale_authorization_change_detail.py ResellerAccountId; REF
	// UpdateTargeting BuyerAccounts ("12-digit").
	accountIDPattern = world.AccountIDPattern
)

func dateShape() *shape { return pattern(datePattern, "a date in the form YYYY-MM-DD") }

func durationShape() *shape {
	s := pattern(durationShapePattern, "an ISO 8601 duration such as P12M, P1Y or P30D")
	s.notEqual = "P"
	return s
}

// typeOf is the required "Type" member of a term.
func typeOf(name string) member { return req(enum(name)) }

// empty is the {} of the release and restrict change types (RA
// release_resale_authorization_change_detail.py and
// restrict_resale_authorization_change_detail.py have no members; OFFER
// ReleaseOfferChangeDetail.java has none).
var empty = object(map[string]member{})

// rateCards is one RateCards item: RA rate_cards.py (RateCard 1..800),
// rate_card.py (DimensionKey 1..100, Price 8 decimals), selector.py
// (Type: Duration, Value: a duration), constraints.py (both members
// required, constraint.py: Allowed | Disallowed). OFFER RateCardsItem.java
// has the same members.
func rateCards() *shape {
	constraint := enum("Allowed", "Disallowed")
	return object(map[string]member{
		"Selector": opt(object(map[string]member{"Type": req(enum("Duration")), "Value": req(durationShape())})),
		"Constraints": opt(object(map[string]member{"MultipleDimensionSelection": req(constraint),
			"QuantityConfiguration": req(constraint)})),
		"RateCard": req(listOf(object(map[string]member{"DimensionKey": req(text(1, 100)),
			"Price": req(pattern(rateCardPricePattern, "a price from 0 to 100000000 with up to 8 decimals"))}), 1, 800)),
	})
}

// grant is RA grant.py: DimensionKey 1..100, MaxQuantity 1..2147483646. The
// offer's free trial grants omit MaxQuantity in AWS's sample
// (java/resources/changeSets/offers/CreatePublicFreeTrialOfferWithSubscriptionPricingForSaas.json).
func grant(quantityRequired bool) *shape {
	q := opt(integer(1, 2147483646))
	q.required = quantityRequired
	return object(map[string]member{"DimensionKey": req(text(1, 100)), "MaxQuantity": q})
}

// needsSelector: RA rate_cards.py "ResaleConfigurableUpfrontPricingTerm uses
// Selector" (the duration the upfront price buys).
func needsSelector(obj map[string]any) string {
	cards, _ := obj["RateCards"].([]any)
	for _, c := range cards {
		if m, ok := c.(map[string]any); ok && m["Selector"] == nil {
			return "each rate card of a configurable upfront pricing term needs a Selector"
		}
	}
	return ""
}

// offerCurrency is OFFER CurrencyCode.java.
var offerCurrency = enum(world.OfferCurrencies...)

// offerPricingTerm: OFFER Term.java and UpdatePricingTerm.java members, per
// term type as the Catalog API reference lists them (REF).
var offerPricingTerm = union(map[string]*shape{
	"UsageBasedPricingTerm": object(map[string]member{"Type": typeOf("UsageBasedPricingTerm"), "CurrencyCode": req(offerCurrency),
		"RateCards": req(listOf(rateCards(), 1, 5))}),
	"ConfigurableUpfrontPricingTerm": object(map[string]member{"Type": typeOf("ConfigurableUpfrontPricingTerm"),
		"CurrencyCode": req(offerCurrency), "RateCards": req(listOf(rateCards(), 1, 5))}).withRule(needsSelector),
	"FixedUpfrontPricingTerm": object(map[string]member{"Type": typeOf("FixedUpfrontPricingTerm"), "CurrencyCode": req(offerCurrency),
		"Price": req(pattern(fixedPricePattern, "a price from 0 to 100000000 with up to 3 decimals")), "Duration": opt(durationShape()), "Grants": req(listOf(grant(false), 1, 200))}),
	"FreeTrialPricingTerm": object(map[string]member{"Type": typeOf("FreeTrialPricingTerm"), "Duration": req(durationShape()),
		"Grants": opt(listOf(grant(false), 1, 200))}),
	// OFFER BillingPeriod.java: Monthly. The library declares no pattern for
	// this Price; the fixed-price pattern is used.
	"RecurringPaymentTerm": object(map[string]member{"Type": typeOf("RecurringPaymentTerm"), "CurrencyCode": req(offerCurrency),
		"BillingPeriod": req(enum("Monthly")), "Price": req(pattern(fixedPricePattern, "a price from 0 to 100000000 with up to 3 decimals"))}),
	"ByolPricingTerm": object(map[string]member{"Type": typeOf("ByolPricingTerm")}),
})

// resalePricingTerm is RA pricing_term.py: one shape for the three types of
// pricing_term_type.py, CurrencyCode USD (pricing_term_currency_code.py),
// RateCards 1..5, Grants 1..200, and the docstring's "Price, Grants ... are
// required for ResaleFixedUpfrontPricingTerm. RateCards is required for
// ResaleConfigurableUpfrontPricingTerm and ResaleUsageBasedPricingTerm".
func resalePricingTerm() *shape {
	term := func(typ string, required ...string) *shape {
		m := map[string]member{"Type": typeOf(typ), "CurrencyCode": req(enum("USD")), "RateCards": opt(listOf(rateCards(), 1, 5)),
			"Price": opt(pattern(fixedPricePattern, "a price from 0 to 100000000 with up to 3 decimals")), "Grants": opt(listOf(grant(true), 1, 200)), "Duration": opt(durationShape())}
		for _, r := range required {
			m[r] = req(m[r].s)
		}
		return object(m)
	}
	return union(map[string]*shape{
		"ResaleUsageBasedPricingTerm":          term("ResaleUsageBasedPricingTerm", "RateCards"),
		"ResaleConfigurableUpfrontPricingTerm": term("ResaleConfigurableUpfrontPricingTerm", "RateCards").withRule(needsSelector),
		"ResaleFixedUpfrontPricingTerm":        term("ResaleFixedUpfrontPricingTerm", "Price", "Grants"),
	})
}

// customNeedsURL: RA legal_document.py "Url is required if using a Custom
// Eula or Custom Reseller Contract".
func customNeedsURL(obj map[string]any) string {
	if t, _ := obj["Type"].(string); (t == "CustomEula" || t == "CustomResellerContract" || t == "CustomDsa") && obj["Url"] == nil {
		return "a " + t + " document needs a Url"
	}
	return ""
}

// schedule is RA schedule.py (ChargeDate a date, ChargeAmount 2 decimals);
// OFFER ScheduleItem.java has the same members.
var schedule = object(map[string]member{"ChargeDate": req(dateShape()), "ChargeAmount": req(pattern(chargeAmountPattern, "an amount from 0 to 100000000 with up to 2 decimals"))})

// terms is a {"Terms": [...]} document.
func terms(item *shape, min, max int) *shape {
	return object(map[string]member{"Terms": req(listOf(item, min, max))})
}

// offerShapes are the Offer@1.0 change types.
var offerShapes = map[string]*shape{
	// OFFER CreateOfferChangeDetail.java; limits REF.
	"CreateOffer": object(map[string]member{"ProductId": req(text(1, 50)), "Name": opt(text(1, world.OfferNameMax)), "OfferSetId": opt(text(1, 255))}),
	// OFFER CreateReplacementOfferChangeDetail.java; limits REF.
	"CreateReplacementOffer": object(map[string]member{"AgreementId": req(text(1, 64)), "Name": opt(text(1, world.OfferNameMax))}),
	// OFFER CreateOfferUsingResaleAuthorizationChangeDetail.java.
	"CreateOfferUsingResaleAuthorization": object(map[string]member{"ResaleAuthorizationId": req(text(1, 255)),
		"Name": opt(text(1, world.OfferNameMax)), "Description": opt(text(1, 255))}),
	// OFFER CreateReplacementOfferUsingResaleAuthorizationChangeDetail.java.
	"CreateReplacementOfferUsingResaleAuthorization": object(map[string]member{"AgreementId": req(text(1, 64)),
		"ResaleAuthorizationId": req(text(1, 255)), "Name": opt(text(1, world.OfferNameMax)), "Description": opt(text(1, 255))}),
	// OFFER UpdateInformationChangeDetail.java, PreExistingAgreement.java
	// (AcquisitionChannel.java, PricingModel.java).
	"UpdateInformation": object(map[string]member{"Name": opt(text(1, world.OfferNameMax)), "Description": opt(text(1, 255)),
		"PreExistingAgreement": opt(object(map[string]member{"AcquisitionChannel": req(enum("AwsMarketplace", "External")),
			"PricingModel": req(enum("Byol", "Free", "Usage", "Contract"))}))}).withRule(anyOf("Name", "Description", "PreExistingAgreement")),
	// OFFER UpdateTargetingChangeDetail.java, PositiveTargeting.java,
	// NegativeTargeting.java; list sizes REF.
	"UpdateTargeting": object(map[string]member{
		"PositiveTargeting": opt(object(map[string]member{"BuyerAccounts": opt(listOf(pattern(accountIDPattern, "a 12-digit AWS account ID"), 1, world.OfferBuyerAccountsMax)),
			"CountryCodes": opt(listOf(pattern(`^[A-Z]{2}$`, "an ISO 3166-1 alpha-2 country code"), 1, 244))}).withRule(anyOf("BuyerAccounts", "CountryCodes"))),
		"NegativeTargeting": opt(object(map[string]member{"CountryCodes": req(listOf(pattern(`^[A-Z]{2}$`, "an ISO 3166-1 alpha-2 country code"), 1, 244))})),
	}).withRule(anyOf("PositiveTargeting", "NegativeTargeting")),
	// OFFER UpdatePricingTermsChangeDetail.java (PricingModel.java, Term.java).
	"UpdatePricingTerms": object(map[string]member{"PricingModel": req(enum("Usage", "Contract", "Free", "Byol")),
		"Terms": req(listOf(offerPricingTerm, 1, 6))}),
	// OFFER UpdateLegalTermsChangeDetail.java, LegalTerm.java, DocumentItem.java
	// (LegalDocumentType.java: CustomEula, StandardEula, CustomDsa, StandardDsa).
	"UpdateLegalTerms": terms(union(map[string]*shape{"LegalTerm": object(map[string]member{"Type": typeOf("LegalTerm"),
		"Documents": req(listOf(object(map[string]member{"Type": req(enum("CustomEula", "StandardEula", "CustomDsa", "StandardDsa")),
			"Url": opt(pattern(urlPattern, "an http(s) URL")), "Version": opt(text(1, 64))}).withRule(customNeedsURL), 1, 10))})}), 1, 1),
	// OFFER UpdateSupportTermsChangeDetail.java, SupportTerm.java; RefundPolicy 1..500 REF.
	"UpdateSupportTerms": terms(union(map[string]*shape{"SupportTerm": object(map[string]member{"Type": typeOf("SupportTerm"),
		"RefundPolicy": req(text(1, 500))})}), 1, 1),
	// OFFER UpdateAvailabilityChangeDetail.java; the date pattern of RA.
	"UpdateAvailability": object(map[string]member{"AvailabilityEndDate": req(dateShape())}),
	// OFFER UpdateValidityTermsChangeDetail.java, ValidityTerm.java.
	"UpdateValidityTerms": terms(union(map[string]*shape{"ValidityTerm": object(map[string]member{"Type": typeOf("ValidityTerm"),
		"AgreementDuration": opt(durationShape()), "AgreementStartDate": opt(dateShape()), "AgreementEndDate": opt(dateShape())}).
		withRule(anyOf("AgreementDuration", "AgreementEndDate"))}), 1, 1),
	// OFFER UpdatePaymentScheduleTermsChangeDetail.java, PaymentScheduleTerm.java;
	// Schedule 1..60 RA update_payment_schedule_term.py.
	"UpdatePaymentScheduleTerms": terms(union(map[string]*shape{"PaymentScheduleTerm": object(map[string]member{
		"Type": typeOf("PaymentScheduleTerm"), "CurrencyCode": req(offerCurrency), "Schedule": req(listOf(schedule, 1, 60))})}), 1, 1),
	// REF UpdateNetPaymentTerms.
	"UpdateNetPaymentTerms": terms(union(map[string]*shape{"NetPaymentTerm": object(map[string]member{"Type": typeOf("NetPaymentTerm"),
		"PaymentDuePeriod": req(enum(netPaymentPeriods...))})}), 1, 1),
	// OFFER UpdateRenewalTermsChangeDetail.java (Terms required), RenewalTerm.java
	// and RenewalTermType.java: a renewal term has one member, Type
	// "RenewalTerm" (also in .../offer_1_0/appendix/RenewalTerm.java, and
	// Term.java, every term member together, has none for auto-renewal): the
	// Agreement API's Configuration{EnableAutoRenew} is not the Catalog's.
	"UpdateRenewalTerms": terms(union(map[string]*shape{"RenewalTerm": object(map[string]member{"Type": typeOf("RenewalTerm")})}), 0, 1),
	// OFFER UpdateMarkupChangeDetail.java; the range is checked in checkMarkup.
	"UpdateMarkup": object(map[string]member{"Percentage": req(text(1, 16))}),
	"ReleaseOffer": empty,
}

// raLegalDocument is RA legal_document.py (Type and Url only) with
// legal_document_type.py; legal_term.py has Type and Documents (1..).
func raLegalTerm(typ string) *shape {
	doc := object(map[string]member{"Type": req(enum("StandardEula", "CustomEula", "StandardResellerContract", "CustomResellerContract")),
		"Url": opt(pattern(urlPattern, "an http(s) URL"))}).withRule(customNeedsURL)
	return object(map[string]member{"Type": typeOf(typ), "Documents": req(listOf(doc, 1, 10))})
}

// raShapes are the ResaleAuthorization@1.0 change types (RA models).
var raShapes = map[string]*shape{
	// create_resale_authorization_change_detail.py.
	"CreateResaleAuthorization": object(map[string]member{"Name": req(withText(pattern(raNamePattern, "a name that starts with a non-space character"), 1, 100)),
		"Description": opt(text(1, 255)), "ProductId": req(text(1, 50)), "ResellerAccountId": req(pattern(accountIDPattern, "a 12-digit AWS account ID"))}),
	// update_information_change_detail.py, pre_existing_buyer_agreement.py.
	"UpdateInformation": object(map[string]member{"Name": opt(withText(pattern(raNamePattern, "a name that starts with a non-space character"), 1, 100)), "Description": opt(text(1, 255)),
		"PreExistingBuyerAgreement": opt(object(map[string]member{"AcquisitionChannel": req(enum("AwsMarketplace", "External")),
			"PricingModel": req(enum("Byol", "Free", "Usage", "Contract"))}))}).
		withRule(anyOf("Name", "Description", "PreExistingBuyerAgreement")),
	// update_buyer_targeting_terms_change_detail.py, buyer_targeting_term.py,
	// positive_targeting.py (BuyerAccounts 1..25).
	"UpdateBuyerTargetingTerms": terms(union(map[string]*shape{"BuyerTargetingTerm": object(map[string]member{
		"Type": typeOf("BuyerTargetingTerm"), "PositiveTargeting": req(object(map[string]member{
			"BuyerAccounts": opt(listOf(pattern(accountIDPattern, "a 12-digit AWS account ID"), 1, 25))}))})}), 1, 1),
	// update_buyer_validity_terms_change_detail.py, buyer_validity_term.py.
	"UpdateBuyerValidityTerms": terms(union(map[string]*shape{"BuyerValidityTerm": object(map[string]member{
		"Type": typeOf("BuyerValidityTerm"), "MaximumAgreementStartDate": req(dateShape())})}), 1, 1),
	// update_availability_change_detail.py: OffersMaxQuantity a strict int 1..1.
	"UpdateAvailability": object(map[string]member{"AvailabilityEndDate": opt(dateShape()), "OffersMaxQuantity": opt(integer(1, 1))}).
		withRule(anyOf("AvailabilityEndDate", "OffersMaxQuantity")),
	// update_legal_terms_change_detail.py, legal_term_type.py.
	"UpdateLegalTerms": terms(union(map[string]*shape{"BuyerLegalTerm": raLegalTerm("BuyerLegalTerm"),
		"ResaleLegalTerm": raLegalTerm("ResaleLegalTerm")}), 1, 2),
	// update_pricing_terms_change_detail.py (update_pricing_model.py: Usage,
	// Contract; Terms 1..).
	"UpdatePricingTerms": object(map[string]member{"PricingModel": req(enum("Usage", "Contract")),
		"Terms": req(listOf(resalePricingTerm(), 1, 3))}),
	// update_payment_schedule_terms_change_detail.py, update_payment_schedule_term.py
	// (resale_payment_schedule_term_type.py, Schedule 1..60).
	"UpdatePaymentScheduleTerms": terms(union(map[string]*shape{"ResalePaymentScheduleTerm": object(map[string]member{
		"Type": typeOf("ResalePaymentScheduleTerm"), "CurrencyCode": req(enum("USD")), "Schedule": req(listOf(schedule, 1, 60))})}), 1, 1),
	"ReleaseResaleAuthorization":  empty,
	"RestrictResaleAuthorization": empty,
}

// withText adds length limits to a string shape.
func withText(s *shape, min, max int) *shape {
	s.minLen, s.maxLen = min, max
	return s
}
