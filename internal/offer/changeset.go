package offer

// This file turns an offer into the AWS Marketplace Catalog API change set
// that publishes it: a private offer (Offer@1.0) for a direct offer or an
// amendment, a resale authorization (ResaleAuthorization@1.0) for a partner
// offer. It builds plain DetailsDocuments (maps and slices, PascalCase as AWS
// documents them); internal/awsmp sends them with the official client.

import (
	"fmt"
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
// Marketplace (SCMP) Concord offers.
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
// consolidates the uploaded EULA documents into. AWS fetches it when the
// change set applies, so it must be an https URL AWS can read for a while
// (e.g. a pre-signed S3 URL or Concord's own document URL, such as
// https://<concord host>/v1/offers/<offer id>/documents/eula.pdf). Required
// when the EULA is custom.
func WithEULAURL(url string) ChangeSetOption {
	return func(o *changeSetOptions) { o.eulaURL = url }
}

// WithResellerContractURL gives the URL of the consolidated custom reseller
// agreement of a partner offer, on the same terms as WithEULAURL (e.g.
// https://<concord host>/v1/offers/<offer id>/documents/reseller-agreement.pdf).
func WithResellerContractURL(url string) ChangeSetOption {
	return func(o *changeSetOptions) { o.resellerContractURL = url }
}

// WithNow sets the clock used to turn a contract end date into a duration
// for the rate card selector (time.Now by default).
func WithNow(t time.Time) ChangeSetOption {
	return func(o *changeSetOptions) { o.now = t }
}

// ChangeSet builds the change set that publishes o for product p: its name
// and changes. The caller has checked the form with Validate; ChangeSet
// refuses (EInvalid) only what it cannot express.
//
// A direct offer is CreateOffer (CreateReplacementOffer for an amendment),
// UpdateInformation, UpdateTargeting (not for an amendment: AWS targets a
// replacement offer at the agreement's buyer and refuses to retarget it),
// UpdatePricingTerms, UpdateValidityTerms, UpdatePaymentScheduleTerms (with
// a schedule), UpdateLegalTerms, UpdateAvailability and ReleaseOffer.
//
// A partner offer is a one-time resale authorization for the buyer:
// CreateResaleAuthorization, UpdateBuyerTargetingTerms, UpdatePricingTerms
// (Resale* terms), UpdatePaymentScheduleTerms (with a schedule),
// UpdateLegalTerms (BuyerLegalTerm and ResaleLegalTerm), UpdateAvailability
// (OffersMaxQuantity 1) and ReleaseResaleAuthorization. The partner then
// extends its own offer (a CPPO) from it.
//
// Pricing: contract dimensions are a ConfigurableUpfrontPricingTerm with one
// rate card (selector: the duration) and the quantities as its
// Configuration, quantities fixed (QuantityConfiguration Disallowed); usage
// dimensions are a UsageBasedPricingTerm. With a payment schedule, the
// contract dimensions are instead granted by a FixedUpfrontPricingTerm of
// price 0 and the installments carry the charges, as AWS's flexible payment
// schedule examples do. The pricing model is Usage for a SaaS usage product
// (or an offer with no contract dimension on a product of unknown type), else
// Contract.
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

// selector is the duration a rate card is priced for: the offer's duration,
// or for an end date the days from today (UTC) to it, inclusive.
func (b *csBuilder) selector() (string, error) {
	pr := b.o.Pricing
	if pr.Duration != "" {
		return pr.Duration, nil
	}
	end, err := time.Parse(time.DateOnly, pr.EndDate)
	if err != nil {
		return "", csInvalid("the end date %q is not a date (YYYY-MM-DD)", pr.EndDate)
	}
	now := b.opts.now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	days := int(end.Sub(today).Hours()/24) + 1
	if days < 1 {
		return "", csInvalid("the end date %s has passed", pr.EndDate)
	}
	if days > 9999 {
		return "", csInvalid("the end date %s is more than 9999 days away", pr.EndDate)
	}
	return fmt.Sprintf("P%dD", days), nil
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

// pricingTerms are the pricing terms; prefix is "" for an offer and
// "Resale" for a resale authorization.
func (b *csBuilder) pricingTerms(prefix string) ([]any, error) {
	pr := b.o.Pricing
	var terms []any
	if contract := b.dimensions("contract"); len(contract) > 0 {
		sel, err := b.selector()
		if err != nil {
			return nil, err
		}
		if len(pr.Schedule) > 0 {
			// The installments carry the charges: the upfront term only
			// grants the quantities (AWS's flexible payment schedule shape).
			grants := make([]any, len(contract))
			for i, d := range contract {
				grants[i] = map[string]any{"DimensionKey": d.Key, "MaxQuantity": d.Quantity}
			}
			t := map[string]any{"Type": prefix + "FixedUpfrontPricingTerm", "CurrencyCode": pr.Currency, "Price": "0.00", "Grants": grants}
			// An offer's validity term gives an end date; a resale
			// authorization has none, so its term always carries a duration.
			if pr.Duration != "" || prefix != "" {
				t["Duration"] = sel
			}
			terms = append(terms, t)
		} else {
			card := make([]any, len(contract))
			config := make([]any, len(contract))
			for i, d := range contract {
				card[i] = map[string]any{"DimensionKey": d.Key, "Price": d.Price}
				config[i] = map[string]any{"DimensionKey": d.Key, "DimensionValue": d.Quantity}
			}
			terms = append(terms, map[string]any{
				"Type":         prefix + "ConfigurableUpfrontPricingTerm",
				"CurrencyCode": pr.Currency,
				"RateCards": []any{map[string]any{
					"Selector":    map[string]any{"Type": "Duration", "Value": sel},
					"Constraints": map[string]any{"MultipleDimensionSelection": "Allowed", "QuantityConfiguration": "Disallowed"},
					"RateCard":    card,
				}},
				"Configuration": map[string]any{"SelectorValue": sel, "Dimensions": config},
			})
		}
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

func (b *csBuilder) schedule(termType string) map[string]any {
	items := make([]any, len(b.o.Pricing.Schedule))
	for i, in := range b.o.Pricing.Schedule {
		items[i] = map[string]any{"ChargeDate": in.Date, "ChargeAmount": in.Amount}
	}
	return map[string]any{"Terms": []any{map[string]any{"Type": termType, "CurrencyCode": b.o.Pricing.Currency, "Schedule": items}}}
}

// legalDocument is the document of a legal term: AWS's standard one, or the
// consolidated custom document at url.
func legalDocument(l Legal, standard, custom, url, what string) (map[string]any, error) {
	switch l.Kind {
	case "standard":
		d := map[string]any{"Type": standard}
		if standard == "StandardEula" {
			d["Version"] = StandardEULAVersion
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

// information is the UpdateInformation of a direct offer: its name and
// description, and for a renewal the pre-existing agreement it renews.
func (b *csBuilder) information() map[string]any {
	info := map[string]any{"Name": b.name(MaxNameLength), "Description": b.description()}
	if b.o.Renewal && b.o.Amends == nil { // a replacement offer names its agreement already
		channel := "AwsMarketplace"
		if b.o.RenewalChannel == RenewalFromOutside {
			channel = "External"
		}
		info["PreExistingAgreement"] = map[string]any{"AcquisitionChannel": channel, "PricingModel": b.pricingModel()}
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
	validity := map[string]any{"Type": "ValidityTerm"}
	if o.Pricing.Duration != "" {
		validity["AgreementDuration"] = o.Pricing.Duration
	} else {
		validity["AgreementEndDate"] = o.Pricing.EndDate
	}
	changes = append(changes, change("UpdateValidityTerms", map[string]any{"Terms": []any{validity}}))
	if len(o.Pricing.Schedule) > 0 {
		changes = append(changes, change("UpdatePaymentScheduleTerms", b.schedule("PaymentScheduleTerm")))
	}
	eula, err := legalDocument(o.EULA, "StandardEula", "CustomEula", b.opts.eulaURL, "EULA")
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
	terms, err := b.pricingTerms("Resale")
	if err != nil {
		return nil, err
	}
	changes = append(changes, change("UpdatePricingTerms", map[string]any{"PricingModel": b.pricingModel(), "Terms": terms}))
	if len(o.Pricing.Schedule) > 0 {
		changes = append(changes, change("UpdatePaymentScheduleTerms", b.schedule("ResalePaymentScheduleTerm")))
	}
	eula, err := legalDocument(o.EULA, "StandardEula", "CustomEula", b.opts.eulaURL, "EULA")
	if err != nil {
		return nil, err
	}
	reseller := Legal{}
	if o.ResellerAgreement != nil {
		reseller = *o.ResellerAgreement
	}
	contract, err := legalDocument(reseller, "StandardResellerContract", "CustomResellerContract", b.opts.resellerContractURL, "reseller agreement")
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
