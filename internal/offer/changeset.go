package offer

// This file turns an offer into the AWS Marketplace Catalog API change set
// that publishes it: a private offer (Offer@1.0) for a direct offer or an
// amendment, a resale authorization (ResaleAuthorization@1.0) for a partner
// offer. It builds plain DetailsDocuments (maps and slices, PascalCase as AWS
// documents them); internal/awsmp sends them with the official client.

import (
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/marketplace"
)

// Catalog API entity types.
const (
	EntityTypeOffer               = "Offer@1.0"
	EntityTypeResaleAuthorization = "ResaleAuthorization@1.0"
)

// The ChangeName of the change that creates the entity: later changes of the
// set refer to it as "$<name>.Entity.Identifier", and ChangeSetStatus.EntityIDs
// reports the new entity's id under it.
const (
	ChangeNameOffer               = "Offer"
	ChangeNameResaleAuthorization = "ResaleAuthorization"
)

// Change set statuses (DescribeChangeSet's Status).
const (
	ChangeSetPreparing = "PREPARING"
	ChangeSetApplying  = "APPLYING"
	ChangeSetSucceeded = "SUCCEEDED"
	ChangeSetFailed    = "FAILED"
	ChangeSetCancelled = "CANCELLED"
)

// StandardEULAVersion is the version of AWS's Standard Contract for AWS
// Marketplace (SCMP) Concord offers on a direct offer (an Offer's
// DocumentItem has a Version; a resale authorization's LegalDocument has only
// Type and Url: resaleauthorization_1_0_changetypes/models/legal_document.py).
const StandardEULAVersion = "2022-07-14"

// MaxChangeSetName is the Catalog API's limit on ChangeSetName.
const MaxChangeSetName = 100

// Change is one change of a Catalog API change set.
type Change struct {
	ChangeType string
	// EntityType is EntityTypeOffer or EntityTypeResaleAuthorization.
	EntityType string
	// Identifier is empty for the change that creates the entity, else a
	// "$<ChangeName>.Entity.Identifier" reference to it (or an entity id).
	Identifier string
	ChangeName string
	// Details is the DetailsDocument: a JSON object built from maps and
	// slices, PascalCase.
	Details any
}

// ChangeSetStatus is what DescribeChangeSet says about a change set.
type ChangeSetStatus struct {
	// Status is PREPARING, APPLYING, SUCCEEDED, FAILED or CANCELLED.
	Status string
	// Failure is AWS's failure code and description joined with every
	// change's errors, empty unless the set failed.
	Failure string
	// EntityIDs maps each change's ChangeName (or, without one, its
	// ChangeType) to the entity it applied to, without "@revision": the new
	// offer under ChangeNameOffer, the new resale authorization under
	// ChangeNameResaleAuthorization, once the set succeeded.
	EntityIDs map[string]string
}

// Done reports whether the change set has finished.
func (s ChangeSetStatus) Done() bool {
	switch s.Status {
	case ChangeSetSucceeded, ChangeSetFailed, ChangeSetCancelled:
		return true
	}
	return false
}

// ChangeSetOption configures ChangeSet.
type ChangeSetOption func(*changeSetOptions)

type changeSetOptions struct {
	eulaURL, resellerContractURL string
	now                          time.Time
}

// WithEULAURL gives the URL of the custom EULA: the one document Concord
// consolidates the uploaded EULA documents into. AWS takes a custom EULA only
// as a URL into an accessible Amazon S3 bucket (the Agreement API's
// DocumentItem), so this is the content-addressed object the submit path
// uploaded (DocumentKey), e.g.
// https://s3.amazonaws.com/<bucket>/concord/documents/<sha256>/eula.pdf.
// Required when the EULA is custom.
func WithEULAURL(url string) ChangeSetOption {
	return func(o *changeSetOptions) { o.eulaURL = url }
}

// WithResellerContractURL gives the URL of the consolidated custom reseller
// agreement of a partner offer, on the same terms as WithEULAURL (e.g.
// https://s3.amazonaws.com/<bucket>/concord/documents/<sha256>/reseller-agreement.pdf).
func WithResellerContractURL(url string) ChangeSetOption {
	return func(o *changeSetOptions) { o.resellerContractURL = url }
}

// WithNow sets the clock (time.Now by default) for the one date a change set
// counts from: the duration of a partner offer with an end date and no start
// date (a resale authorization takes a duration, never an end date).
func WithNow(t time.Time) ChangeSetOption {
	return func(o *changeSetOptions) { o.now = t }
}

// ChangeSet builds the change set that publishes o for product p: its name
// and changes. The caller has checked the form with Validate; ChangeSet
// refuses (EInvalid) only what it cannot express. The shapes follow AWS's
// shape library (awslabs/aws-marketplace-catalog-api-shapes-for-python) and
// sample change sets (aws-samples/aws-marketplace-reference-code,
// java/resources/changeSets/offers and resaleAuthorization); docs/offers.md
// lists which sample each part follows.
//
// A direct offer is CreateOffer (CreateReplacementOffer for an amendment),
// UpdateInformation (with PreExistingAgreement for a renewal),
// UpdateTargeting (not for an amendment: AWS targets a replacement offer at
// the agreement's buyer and refuses to retarget it), UpdatePricingTerms,
// UpdateValidityTerms (AgreementDuration or AgreementEndDate, and
// AgreementStartDate for a future-dated agreement), UpdatePaymentScheduleTerms
// (with a schedule), UpdateLegalTerms, UpdateAvailability and ReleaseOffer.
//
// A partner offer is a one-time resale authorization for the buyer:
// CreateResaleAuthorization, UpdateInformation (PreExistingBuyerAgreement, for
// a renewal), UpdateBuyerTargetingTerms, UpdateBuyerValidityTerms
// (MaximumAgreementStartDate, with a start date), UpdatePricingTerms (Resale*
// terms), UpdatePaymentScheduleTerms (with a schedule), UpdateLegalTerms
// (BuyerLegalTerm and ResaleLegalTerm), UpdateAvailability (OffersMaxQuantity
// 1) and ReleaseResaleAuthorization. The partner then extends its own offer (a
// CPPO) from it.
//
// Pricing: contract dimensions are a FixedUpfrontPricingTerm whose Grants fix
// the quantities; its Price is the whole contract, or "0.0" ("0.00" on a
// resale authorization) when a payment schedule carries the charges. Usage
// dimensions are a UsageBasedPricingTerm. The pricing model is Usage for a
// SaaS usage product (or an offer with no contract dimension on a product of
// unknown type), else Contract.
func ChangeSet(o Offer, p marketplace.Product, opts ...ChangeSetOption) (name string, changes []Change, err error) {
	b := csBuilder{o: o, p: p}
	for _, opt := range opts {
		opt(&b.opts)
	}
	if b.opts.now.IsZero() {
		b.opts.now = time.Now()
	}
	if err := b.check(); err != nil {
		return "", nil, err
	}
	if o.Type == TypePartner {
		changes, err = b.resaleAuthorization()
	} else {
		changes, err = b.directOffer()
	}
	if err != nil {
		return "", nil, err
	}
	return ChangeSetName(o), changes, nil
}

// ChangeSetName is the change set's name: "concord-<offer id>", at most 100
// characters of those the Catalog API allows.
func ChangeSetName(o Offer) string {
	var sb strings.Builder
	sb.WriteString("concord-")
	for _, r := range o.ID {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_+=.:@-", r):
			sb.WriteRune(r)
		default:
			sb.WriteByte('-')
		}
	}
	s := sb.String()
	if len(s) > MaxChangeSetName {
		s = s[:MaxChangeSetName]
	}
	return s
}

// csBuilder builds one offer's change set.
type csBuilder struct {
	o    Offer
	p    marketplace.Product
	opts changeSetOptions
}

func csInvalid(format string, args ...any) error {
	return marketplace.Errorf(marketplace.EInvalid, "cannot build the change set: "+format, args...)
}

func (b *csBuilder) check() error {
	o := b.o
	switch {
	case o.ID == "":
		return csInvalid("the offer has no id")
	case o.Type != TypeDirect && o.Type != TypePartner:
		return csInvalid("type must be direct or partner, not %q", o.Type)
	case o.ProductID == "":
		return csInvalid("the offer has no product")
	case o.Metadata[MetaBuyerAccount] == "":
		return csInvalid("the buyer's AWS account number (%q) is missing", MetaBuyerAccount)
	case o.Type == TypePartner && o.Metadata[MetaPartnerAccount] == "":
		return csInvalid("a partner offer needs the partner's AWS account number (%q)", MetaPartnerAccount)
	case o.Pricing.Currency == "":
		return csInvalid("the offer has no currency")
	case len(o.Pricing.Dimensions) == 0:
		return csInvalid("the offer prices no dimension")
	case o.Pricing.Duration == "" && o.Pricing.EndDate == "":
		return csInvalid("the offer has neither a duration nor an end date")
	case o.ExpiresOn == "":
		return csInvalid("the offer has no expiration date")
	case o.Amends != nil && o.Amends.AgreementID == "":
		return csInvalid("the amendment names no agreement")
	}
	for _, d := range o.Pricing.Dimensions {
		if k := b.kind(d.Key, d.Kind); k != "contract" && k != "usage" {
			return csInvalid("dimension %q is neither a contract nor a usage dimension", d.Key)
		}
	}
	return nil
}

// csDim is a priced dimension with its kind settled.
type csDim struct {
	Key, Kind, Price string
	Quantity         int64
}

// kind is a dimension's kind: the form's, else the product's.
func (b *csBuilder) kind(key, kind string) string {
	if kind != "" {
		return kind
	}
	if pd, ok := b.p.Dimension(key); ok {
		return pd.Kind
	}
	return ""
}

// dimensions lists the offer's dimensions of a kind, in the form's order.
func (b *csBuilder) dimensions(kind string) []csDim {
	var out []csDim
	for _, d := range b.o.Pricing.Dimensions {
		if k := b.kind(d.Key, d.Kind); k == kind {
			out = append(out, csDim{Key: d.Key, Kind: k, Price: d.Price, Quantity: d.Quantity})
		}
	}
	return out
}

// name is the offer name buyers see: the custom name, else one from the
// buyer's company; at most max characters.
func (b *csBuilder) name(max int) string {
	n := strings.TrimSpace(b.o.Name)
	if n == "" {
		n = "Private offer for " + strings.TrimSpace(b.o.BuyerCompany)
		if strings.TrimSpace(b.o.BuyerCompany) == "" {
			n = "Private offer"
		}
	}
	return clipRunes(n, max)
}

// description is the seller-only description: Concord's offer id, so an
// offer found in the AWS Marketplace Management Portal leads back here.
func (b *csBuilder) description() string {
	d := "Concord offer " + b.o.ID
	if c := strings.TrimSpace(b.o.BuyerCompany); c != "" {
		d += " for " + c
	}
	if b.o.Amends != nil {
		d += "; amends agreement " + b.o.Amends.AgreementID
	}
	return clipRunes(d, 255)
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n]))
}

func (b *csBuilder) pricingModel() string {
	switch {
	case b.p.Type == marketplace.ProductSaaSUsage:
		return "Usage"
	case len(b.dimensions("contract")) > 0 || b.p.Type != "":
		return "Contract"
	}
	return "Usage"
}

// resaleDuration is how long the agreement a resale authorization allows
// runs: the offer's duration, or the days from its start date (else today,
// UTC) to its end date, inclusive.
func (b *csBuilder) resaleDuration() (string, error) {
	pr := b.o.Pricing
	if pr.Duration != "" {
		return pr.Duration, nil
	}
	end, err := time.Parse(time.DateOnly, pr.EndDate)
	if err != nil {
		return "", csInvalid("the end date %q is not a date (YYYY-MM-DD)", pr.EndDate)
	}
	from := b.opts.now.UTC().Truncate(24 * time.Hour)
	if pr.StartDate != "" {
		if from, err = time.Parse(time.DateOnly, pr.StartDate); err != nil {
			return "", csInvalid("the start date %q is not a date (YYYY-MM-DD)", pr.StartDate)
		}
	}
	days := int(end.Sub(from).Hours()/24) + 1
	if days < 1 {
		return "", csInvalid("the end date %s is before the agreement would start", pr.EndDate)
	}
	return fmt.Sprintf("P%dD", days), nil
}

// pricingTerms are the pricing terms; prefix is "" for an offer and
// "Resale" for a resale authorization.
func (b *csBuilder) pricingTerms(prefix string) ([]any, error) {
	pr := b.o.Pricing
	var terms []any
	if contract := b.dimensions("contract"); len(contract) > 0 {
		// AWS's samples fix a private offer's units with a fixed upfront
		// term's Grants (CreatePrivateOfferWithContractPricingWithFlexible
		// PaymentScheduleForSaas.json, PublishOnetimeResaleAuthFlexible
		// Payment.json): offer term shapes have no Configuration member.
		grants := make([]any, len(contract))
		total := new(big.Rat)
		for i, d := range contract {
			grants[i] = map[string]any{"DimensionKey": d.Key, "MaxQuantity": d.Quantity}
			if price, err := parseAmount(d.Price); err == nil {
				total.Add(total, price.Mul(price, new(big.Rat).SetInt64(d.Quantity)))
			}
		}
		price := fixedPrice(total)
		if len(pr.Schedule) > 0 {
			// The installments carry the charges, as in AWS's samples.
			price = "0.0"
			if prefix != "" {
				price = "0.00"
			}
		}
		t := map[string]any{"Type": prefix + "FixedUpfrontPricingTerm", "CurrencyCode": pr.Currency, "Price": price, "Grants": grants}
		if prefix != "" {
			// Price, Grants and Duration are required on a resale
			// authorization, which has no validity term
			// (resaleauthorization_1_0_changetypes/models/pricing_term.py);
			// an offer's validity term says how long it runs.
			d, err := b.resaleDuration()
			if err != nil {
				return nil, err
			}
			t["Duration"] = d
		}
		terms = append(terms, t)
	}
	if usage := b.dimensions("usage"); len(usage) > 0 {
		card := make([]any, len(usage))
		for i, d := range usage {
			card[i] = map[string]any{"DimensionKey": d.Key, "Price": d.Price}
		}
		terms = append(terms, map[string]any{
			"Type":         prefix + "UsageBasedPricingTerm",
			"CurrencyCode": pr.Currency,
			"RateCards":    []any{map[string]any{"RateCard": card}},
		})
	}
	return terms, nil
}

// fixedPrice writes an amount as a fixed upfront Price: 2 decimals, or 3
// when it has them (AWS allows 3).
func fixedPrice(r *big.Rat) string {
	s := r.FloatString(3)
	if strings.HasSuffix(s, "0") {
		s = s[:len(s)-1]
	}
	return s
}

func (b *csBuilder) schedule(termType string) map[string]any {
	items := make([]any, len(b.o.Pricing.Schedule))
	for i, in := range b.o.Pricing.Schedule {
		items[i] = map[string]any{"ChargeDate": in.Date, "ChargeAmount": in.Amount}
	}
	return map[string]any{"Terms": []any{map[string]any{"Type": termType, "CurrencyCode": b.o.Pricing.Currency, "Schedule": items}}}
}

// legalDocument is the document of a legal term: AWS's standard one (with
// version, if given), or the consolidated custom document at url.
func legalDocument(l Legal, standard, version, custom, url, what string) (map[string]any, error) {
	switch l.Kind {
	case "standard":
		d := map[string]any{"Type": standard}
		if version != "" {
			d["Version"] = version
		}
		return d, nil
	case "custom":
		if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
			return nil, csInvalid("the custom %s needs the URL of its consolidated document", what)
		}
		return map[string]any{"Type": custom, "Url": url}, nil
	}
	return nil, csInvalid("the %s must be standard or custom, not %q", what, l.Kind)
}

// preExisting is the agreement a renewal renews, as an offer's
// PreExistingAgreement (offer_1_0_appendix/models/pre_existing_agreement.py)
// and a resale authorization's PreExistingBuyerAgreement
// (resaleauthorization_1_0_changetypes/models/pre_existing_buyer_agreement.py)
// both spell it; nil unless the offer is a renewal. A replacement offer names
// its agreement already.
func (b *csBuilder) preExisting() map[string]any {
	if !b.o.Renewal || b.o.Amends != nil {
		return nil
	}
	channel := "AwsMarketplace"
	if b.o.RenewalChannel == RenewalFromOutside {
		channel = "External"
	}
	return map[string]any{"AcquisitionChannel": channel, "PricingModel": b.pricingModel()}
}

// information is the UpdateInformation of a direct offer: its name and
// description, and for a renewal the pre-existing agreement it renews.
func (b *csBuilder) information() map[string]any {
	info := map[string]any{"Name": b.name(MaxNameLength), "Description": b.description()}
	if pre := b.preExisting(); pre != nil {
		info["PreExistingAgreement"] = pre
	}
	return info
}

func (b *csBuilder) directOffer() ([]Change, error) {
	o := b.o
	ref := "$" + ChangeNameOffer + ".Entity.Identifier"
	change := func(changeType string, details any) Change {
		return Change{ChangeType: changeType, EntityType: EntityTypeOffer, Identifier: ref, Details: details}
	}
	var changes []Change
	if o.Amends != nil {
		changes = append(changes, Change{ChangeType: "CreateReplacementOffer", EntityType: EntityTypeOffer, ChangeName: ChangeNameOffer,
			Details: map[string]any{"AgreementId": o.Amends.AgreementID, "Name": b.name(MaxNameLength)}})
	} else {
		changes = append(changes, Change{ChangeType: "CreateOffer", EntityType: EntityTypeOffer, ChangeName: ChangeNameOffer,
			Details: map[string]any{"ProductId": o.ProductID, "Name": b.name(MaxNameLength)}})
	}
	changes = append(changes, change("UpdateInformation", b.information()))
	if o.Amends == nil {
		changes = append(changes, change("UpdateTargeting", map[string]any{
			"PositiveTargeting": map[string]any{"BuyerAccounts": []any{o.Metadata[MetaBuyerAccount]}}}))
	}
	terms, err := b.pricingTerms("")
	if err != nil {
		return nil, err
	}
	changes = append(changes, change("UpdatePricingTerms", map[string]any{"PricingModel": b.pricingModel(), "Terms": terms}))
	// The agreement's dates: a duration from its start, or an end date (never
	// a count of days, which would drift with the day AWS applies it), and a
	// start date for a future-dated agreement
	// (offer_1_0_appendix/models/validity_term.py; AWS's end-date sample
	// CreateReplacementOfferWithContractPricing.json).
	validity := map[string]any{"Type": "ValidityTerm"}
	if o.Pricing.Duration != "" {
		validity["AgreementDuration"] = o.Pricing.Duration
	} else {
		validity["AgreementEndDate"] = o.Pricing.EndDate
	}
	if o.Pricing.StartDate != "" {
		validity["AgreementStartDate"] = o.Pricing.StartDate
	}
	changes = append(changes, change("UpdateValidityTerms", map[string]any{"Terms": []any{validity}}))
	if len(o.Pricing.Schedule) > 0 {
		changes = append(changes, change("UpdatePaymentScheduleTerms", b.schedule("PaymentScheduleTerm")))
	}
	eula, err := legalDocument(o.EULA, "StandardEula", StandardEULAVersion, "CustomEula", b.opts.eulaURL, "EULA")
	if err != nil {
		return nil, err
	}
	changes = append(changes,
		change("UpdateLegalTerms", map[string]any{"Terms": []any{map[string]any{"Type": "LegalTerm", "Documents": []any{eula}}}}),
		change("UpdateAvailability", map[string]any{"AvailabilityEndDate": o.ExpiresOn}),
		change("ReleaseOffer", map[string]any{}))
	return changes, nil
}

func (b *csBuilder) resaleAuthorization() ([]Change, error) {
	o := b.o
	ref := "$" + ChangeNameResaleAuthorization + ".Entity.Identifier"
	change := func(changeType string, details any) Change {
		return Change{ChangeType: changeType, EntityType: EntityTypeResaleAuthorization, Identifier: ref, Details: details}
	}
	changes := []Change{
		{ChangeType: "CreateResaleAuthorization", EntityType: EntityTypeResaleAuthorization, ChangeName: ChangeNameResaleAuthorization,
			Details: map[string]any{"ProductId": o.ProductID, "Name": b.name(100), "Description": b.description(),
				"ResellerAccountId": o.Metadata[MetaPartnerAccount]}},
		change("UpdateBuyerTargetingTerms", map[string]any{"Terms": []any{map[string]any{"Type": "BuyerTargetingTerm",
			"PositiveTargeting": map[string]any{"BuyerAccounts": []any{o.Metadata[MetaBuyerAccount]}}}}}),
	}
	if pre := b.preExisting(); pre != nil {
		// AWS's sample onetime_resaleauth_renewal/changeset.json.
		changes = append(changes, change("UpdateInformation", map[string]any{"PreExistingBuyerAgreement": pre}))
	}
	if o.Pricing.StartDate != "" {
		// The latest day the partner's offer may start the buyer's agreement
		// (resaleauthorization_1_0_changetypes/models/buyer_validity_term.py).
		changes = append(changes, change("UpdateBuyerValidityTerms", map[string]any{"Terms": []any{
			map[string]any{"Type": "BuyerValidityTerm", "MaximumAgreementStartDate": o.Pricing.StartDate}}}))
	}
	terms, err := b.pricingTerms("Resale")
	if err != nil {
		return nil, err
	}
	changes = append(changes, change("UpdatePricingTerms", map[string]any{"PricingModel": b.pricingModel(), "Terms": terms}))
	if len(o.Pricing.Schedule) > 0 {
		changes = append(changes, change("UpdatePaymentScheduleTerms", b.schedule("ResalePaymentScheduleTerm")))
	}
	eula, err := legalDocument(o.EULA, "StandardEula", "", "CustomEula", b.opts.eulaURL, "EULA")
	if err != nil {
		return nil, err
	}
	reseller := Legal{}
	if o.ResellerAgreement != nil {
		reseller = *o.ResellerAgreement
	}
	contract, err := legalDocument(reseller, "StandardResellerContract", "", "CustomResellerContract", b.opts.resellerContractURL, "reseller agreement")
	if err != nil {
		return nil, err
	}
	changes = append(changes,
		change("UpdateLegalTerms", map[string]any{"Terms": []any{
			map[string]any{"Type": "BuyerLegalTerm", "Documents": []any{eula}},
			map[string]any{"Type": "ResaleLegalTerm", "Documents": []any{contract}},
		}}),
		change("UpdateAvailability", map[string]any{"AvailabilityEndDate": o.ExpiresOn, "OffersMaxQuantity": 1}),
		change("ReleaseResaleAuthorization", map[string]any{}))
	return changes, nil
}
