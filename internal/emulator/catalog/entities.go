package catalog

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/world"
)

// entityMeta is what the applied change sets say about an entity.
type entityMeta struct {
	sets      int // succeeded APPLY change sets that changed it
	byCatalog bool
	modified  *time.Time
	created   *time.Time
	released  *time.Time
}

type index map[string]*entityMeta

// entityIndex derives revisions and dates from the succeeded change sets.
// Entities the world made directly start at revision 1 and have no dates.
func entityIndex(s *world.State) index {
	var sets []*world.ChangeSet
	for _, cs := range s.ChangeSets {
		if cs.Status == StatusSucceeded && cs.Intent == "APPLY" && cs.EndTime != nil {
			sets = append(sets, cs)
		}
	}
	sort.Slice(sets, func(i, j int) bool {
		if !sets[i].EndTime.Equal(*sets[j].EndTime) {
			return sets[i].EndTime.Before(*sets[j].EndTime)
		}
		return sets[i].ID < sets[j].ID
	})
	idx := index{}
	for _, cs := range sets {
		res := decodeResult(cs)
		if res == nil {
			continue
		}
		changes, _ := decodeChanges(cs)
		end := *cs.EndTime
		touched := map[string]bool{}
		for i, r := range res.Changes {
			if r.EntityID == "" {
				continue
			}
			m := idx[r.EntityID]
			if m == nil {
				m = &entityMeta{}
				idx[r.EntityID] = m
			}
			if !touched[r.EntityID] {
				m.sets++
				touched[r.EntityID] = true
			}
			m.modified = &end
			if r.Created {
				m.byCatalog, m.created = true, &end
			}
			if i < len(changes) && (changes[i].ChangeType == "ReleaseOffer" || changes[i].ChangeType == "ReleaseResaleAuthorization") {
				m.released = &end
			}
		}
	}
	return idx
}

func (idx index) revision(id string) int {
	m := idx[id]
	if m == nil {
		return 1
	}
	r := m.sets
	if !m.byCatalog {
		r++
	}
	return max(r, 1)
}

func (idx index) meta(id string) *entityMeta {
	if m := idx[id]; m != nil {
		return m
	}
	return &entityMeta{}
}

// entityDates are an entity's dates: those of the change sets that made and
// changed it, else those the world recorded when it made the entity itself,
// so that every entity has the LastModifiedDate AWS's EntitySummary and
// DescribeEntity carry, and every released offer its ReleaseDate.
func entityDates(s *world.State, idx index, id string) entityMeta {
	m := *idx.meta(id)
	var made *time.Time
	if o := s.Offers[id]; o != nil && o.State != "Draft" {
		made = o.ReleasedAt
		if m.released == nil {
			m.released = made
		}
	} else if ra := s.ResaleAuthorizations[id]; ra != nil {
		made = ra.CreatedAt
		if m.created == nil {
			m.created = made
		}
	} else if p := s.Products[id]; p != nil {
		made = p.CreatedAt
	}
	if m.modified == nil {
		m.modified = made
	}
	return m
}

func offerArn(s *world.State, o *world.Offer) string {
	acct := o.ProposerAccountID
	if acct == "" {
		acct = s.Config.SellerAccountID
	}
	return fmt.Sprintf("arn:aws:aws-marketplace:%s:%s:AWSMarketplace/Offer/%s", region(s), acct, o.OfferID)
}

func raArn(s *world.State, ra *world.ResaleAuthorization) string {
	return fmt.Sprintf("arn:aws:aws-marketplace:%s:%s:AWSMarketplace/ResaleAuthorization/%s", region(s), s.Config.SellerAccountID, ra.ID)
}

func productArn(s *world.State, p *world.Product) string {
	kind := "SaaSProduct"
	if p.Type == world.ProductProfessionalServices {
		kind = "ProfessionalServicesProduct"
	}
	return fmt.Sprintf("arn:aws:aws-marketplace:%s:%s:AWSMarketplace/%s/%s", region(s), s.Config.SellerAccountID, kind, p.ProductID)
}

// offerState is the State the Catalog API shows: Draft or Released (an
// expired offer is a released offer whose AvailabilityEndDate has passed).
func offerState(o *world.Offer) string {
	if o.State == "Draft" {
		return "Draft"
	}
	return "Released"
}

const isoMillis = "2006-01-02T15:04:05.000Z"

// rawTerms returns the Terms a details document of the offer or resale
// authorization lists, as sent.
func rawTerms(details map[string]json.RawMessage, changeType string, stripResale bool) ([]any, bool) {
	raw := details[changeType]
	if raw == nil {
		return nil, false
	}
	var d struct {
		Terms []map[string]any `json:"Terms"`
	}
	json.Unmarshal(raw, &d)
	out := make([]any, 0, len(d.Terms))
	for _, t := range d.Terms {
		if stripResale {
			if typ, ok := t["Type"].(string); ok {
				t["Type"] = strings.TrimPrefix(typ, "Resale")
			}
		}
		out = append(out, t)
	}
	return out, true
}

func detailString(details map[string]json.RawMessage, changeType, field string) string {
	raw := details[changeType]
	if raw == nil {
		return ""
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	v, _ := m[field].(string)
	return v
}

// productPricing renders the pricing of an offer the world made (a public
// offer, or a private or partner offer of the control API or the console's
// sandbox) as AWS's Offer pricing terms, which have no Configuration member
// (awslabs/aws-marketplace-catalog-api-shapes-for-java .../offer_1_0/Term.java):
// the contract dimensions whose quantities a private offer fixes are a
// FixedUpfrontPricingTerm whose Grants carry MaxQuantity and whose Price is
// what they cost for the duration (the shape of AWS's sample
// java/resources/changeSets/offers/CreatePrivateOfferWithContractPricingWithFlexiblePaymentScheduleForSaas.json);
// the other contract dimensions are a ConfigurableUpfrontPricingTerm's rate
// card, and the metered ones a UsageBasedPricingTerm's. Prices are the
// offer's own where it has them, else the product's list prices.
func productPricing(p *world.Product, o *world.Offer) []any {
	currency := o.Currency
	if currency == "" {
		currency = "USD"
	}
	sel := o.Duration
	if sel == "" {
		sel = "P1M"
	}
	var contract, usage, grants []map[string]any
	total := new(big.Rat)
	for _, d := range p.Dimensions {
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
		item := map[string]any{"DimensionKey": d.Key, "Price": price}
		switch q, fixed := o.Quantities[d.Key]; {
		case d.Kind != "contract":
			usage = append(usage, item)
		case o.Private && fixed && q > 0:
			grants = append(grants, map[string]any{"DimensionKey": d.Key, "MaxQuantity": q})
			if unit, ok := new(big.Rat).SetString(price); ok {
				total.Add(total, unit.Mul(unit, new(big.Rat).SetInt64(q)))
			}
		default:
			contract = append(contract, item)
		}
	}
	var terms []any
	if len(grants) > 0 {
		terms = append(terms, map[string]any{"Type": agreementapi.TermFixedUpfrontPricing, "CurrencyCode": currency,
			"Price": total.FloatString(2), "Duration": sel, "Grants": grants})
	}
	if len(contract) > 0 {
		terms = append(terms, map[string]any{"Type": agreementapi.TermConfigurableUpfrontPricing, "CurrencyCode": currency, "RateCards": []any{map[string]any{
			"Selector":    map[string]any{"Type": "Duration", "Value": sel},
			"Constraints": map[string]any{"MultipleDimensionSelection": "Allowed", "QuantityConfiguration": "Allowed"},
			"RateCard":    contract}}})
	}
	if len(usage) > 0 {
		terms = append(terms, map[string]any{"Type": agreementapi.TermUsageBasedPricing, "CurrencyCode": currency,
			"RateCards": []any{map[string]any{"RateCard": usage}}})
	}
	return terms
}

func offerDoc(s *world.State, o *world.Offer) map[string]any {
	doc := map[string]any{"Id": o.OfferID, "ProductId": o.ProductID, "State": offerState(o)}
	if o.Name != "" {
		doc["Name"] = o.Name
	}
	desc := detailString(o.Details, "UpdateInformation", "Description")
	for _, k := range []string{"CreateOfferUsingResaleAuthorization", "CreateReplacementOfferUsingResaleAuthorization"} {
		if desc == "" {
			desc = detailString(o.Details, k, "Description")
		}
	}
	if desc != "" {
		doc["Description"] = desc
	}
	// OfferEntityDetail.java carries the PreExistingAgreement an
	// UpdateInformation change set (PreExistingAgreement.java).
	var info informationDetails
	if raw := o.Details["UpdateInformation"]; raw != nil {
		json.Unmarshal(raw, &info)
	}
	if len(info.PreExistingAgreement) > 0 {
		doc["PreExistingAgreement"] = info.PreExistingAgreement
	}
	if o.ResaleAuthorizationID != "" {
		doc["ResaleAuthorizationId"] = o.ResaleAuthorizationID
		if m := detailString(o.Details, "UpdateMarkup", "Percentage"); m != "" {
			doc["MarkupPercentage"] = m
		}
	}
	managed := catalogManaged(o)
	terms := []any{}
	add := func(changeType string, fallback ...string) {
		if t, ok := rawTerms(o.Details, changeType, false); ok {
			terms = append(terms, t...)
		} else {
			terms = append(terms, termDocs(o.Terms, fallback...)...)
		}
	}
	add("UpdateLegalTerms", agreementapi.TermLegal)
	add("UpdateSupportTerms", agreementapi.TermSupport)
	if t, ok := rawTerms(o.Details, "UpdatePricingTerms", false); ok {
		terms = append(terms, t...)
	} else if ra := s.ResaleAuthorizations[o.ResaleAuthorizationID]; ra != nil && o.ResaleAuthorizationID != "" {
		t, _ := rawTerms(ra.Details, "UpdatePricingTerms", true)
		terms = append(terms, t...)
	} else if p := s.Products[o.ProductID]; p != nil && !managed {
		terms = append(terms, productPricing(p, o)...)
		terms = append(terms, termDocs(o.Terms, agreementapi.TermFixedUpfrontPricing, agreementapi.TermFreeTrialPricing,
			agreementapi.TermRecurringPayment)...)
	}
	if t, ok := rawTerms(o.Details, "UpdateValidityTerms", false); ok {
		terms = append(terms, t...)
	} else if o.Duration != "" {
		terms = append(terms, map[string]any{"Type": agreementapi.TermValidity, "AgreementDuration": o.Duration})
	}
	add("UpdatePaymentScheduleTerms", agreementapi.TermPaymentSchedule)
	add("UpdateNetPaymentTerms", agreementapi.TermNetPayment)
	if t, ok := rawTerms(o.Details, "UpdateRenewalTerms", false); ok {
		terms = append(terms, t...)
	} else if o.AutoRenew {
		terms = append(terms, map[string]any{"Type": agreementapi.TermRenewal})
	}
	doc["Terms"] = terms
	rules := []any{}
	if o.ExpirationDate != nil {
		rules = append(rules, map[string]any{"Type": "AvailabilityRule", "AvailabilityEndDate": o.ExpirationDate.UTC().Format(isoMillis)})
	}
	var td targetingDetails
	if raw := o.Details["UpdateTargeting"]; raw != nil {
		json.Unmarshal(raw, &td)
	}
	pos := map[string]any{}
	if len(o.BuyerAccounts) > 0 {
		pos["BuyerAccounts"] = o.BuyerAccounts
	}
	if td.PositiveTargeting != nil && len(td.PositiveTargeting.CountryCodes) > 0 {
		pos["CountryCodes"] = td.PositiveTargeting.CountryCodes
	}
	if len(pos) > 0 || td.NegativeTargeting != nil {
		rule := map[string]any{"Type": "TargetingRule"}
		if len(pos) > 0 {
			rule["PositiveTargeting"] = pos
		}
		if td.NegativeTargeting != nil {
			rule["NegativeTargeting"] = map[string]any{"CountryCodes": td.NegativeTargeting.CountryCodes}
		}
		rules = append(rules, rule)
	}
	doc["Rules"] = rules
	return doc
}

func raDoc(s *world.State, ra *world.ResaleAuthorization) map[string]any {
	doc := map[string]any{"Id": ra.ID, "Name": ra.Name, "ProductId": ra.ProductID, "ManufacturerAccountId": s.Config.SellerAccountID,
		"ResellerAccountId": ra.ResellerAccountID, "Status": ra.State}
	if p := s.Products[ra.ProductID]; p != nil {
		doc["ProductName"] = p.Title
	}
	desc := detailString(ra.Details, "UpdateInformation", "Description")
	if desc == "" {
		desc = detailString(ra.Details, "CreateResaleAuthorization", "Description")
	}
	if desc != "" {
		doc["Description"] = desc
	}
	terms := []any{}
	for _, k := range []string{"UpdatePricingTerms", "UpdateLegalTerms", "UpdatePaymentScheduleTerms", "UpdateBuyerValidityTerms", "UpdateBuyerTargetingTerms"} {
		t, _ := rawTerms(ra.Details, k, false)
		terms = append(terms, t...)
	}
	doc["Terms"] = terms
	rules := []any{}
	var av availabilityDetails
	if raw := ra.Details["UpdateAvailability"]; raw != nil {
		json.Unmarshal(raw, &av)
		rule := map[string]any{"Type": "AvailabilityRule"}
		if av.AvailabilityEndDate != nil {
			if d, ok := parseDate(*av.AvailabilityEndDate); ok {
				rule["AvailabilityEndDate"] = endOfDay(d).Format(isoMillis)
			}
		}
		if n := ra.Availability().OffersMaxQuantity; n != nil {
			rule["OffersMaxQuantity"] = *n
		}
		rules = append(rules, rule)
	}
	rules = append(rules, map[string]any{"Type": "PartnerTargetingRule",
		"PositiveTargeting": map[string]any{"SellerAccounts": []string{ra.ResellerAccountID}}})
	doc["Rules"] = rules
	return doc
}

// productDoc is a SaaS product as AWS's SaaSProductEntityDetail shape has it
// (awslabs/aws-marketplace-catalog-api-shapes-for-python,
// src/aws_marketplace_catalog_shapes_saasproduct_1_0_entitytype/models/
// saa_s_product_entity_detail.py, description.py, dimension.py). A dimension's
// Types is Entitled for a contract dimension and ExternallyMetered for a
// metered one, and its Unit "Units", as AWS's sample AddDimensions change
// (aws-samples/aws-marketplace-reference-code
// java/resources/changeSets/products/saas/CreateLimitedSaasAndPublicOfferWithContractWithPayAsYouGoPricing.json)
// declares them. The world keeps no versions (fulfillment URLs), support
// information or promotional resources, so those members are left out, as
// the shape allows.
func productDoc(p *world.Product) map[string]any {
	dims := make([]any, 0, len(p.Dimensions))
	for _, d := range p.Dimensions {
		name := d.Name
		if name == "" {
			name = d.Key
		}
		typ := "ExternallyMetered"
		if d.Kind == "contract" {
			typ = "Entitled"
		}
		dims = append(dims, map[string]any{"Key": d.Key, "Name": name, "Description": name, "Types": []string{typ}, "Unit": "Units"})
	}
	return map[string]any{
		"Description": map[string]any{"ProductTitle": p.Title, "ProductCode": p.ProductCode, "ShortDescription": p.Title,
			"Visibility": "Public"},
		"Dimensions": dims,
	}
}

type describeEntityOutput struct {
	EntityType       string         `json:"EntityType"`
	EntityIdentifier string         `json:"EntityIdentifier"`
	EntityArn        string         `json:"EntityArn"`
	LastModifiedDate *string        `json:"LastModifiedDate,omitempty"`
	Details          string         `json:"Details,omitempty"`
	DetailsDocument  map[string]any `json:"DetailsDocument"`
}

func describe(s *world.State, idx index, id string) (*describeEntityOutput, bool) {
	var out describeEntityOutput
	if o := s.Offers[id]; o != nil {
		out = describeEntityOutput{EntityType: EntityTypeOffer, EntityArn: offerArn(s, o), DetailsDocument: offerDoc(s, o)}
	} else if ra := s.ResaleAuthorizations[id]; ra != nil {
		out = describeEntityOutput{EntityType: EntityTypeResaleAuthorization, EntityArn: raArn(s, ra), DetailsDocument: raDoc(s, ra)}
	} else if p := s.Products[id]; p != nil && p.Type != world.ProductProfessionalServices {
		out = describeEntityOutput{EntityType: EntityTypeSaaSProduct, EntityArn: productArn(s, p), DetailsDocument: productDoc(p)}
	} else {
		return nil, false
	}
	out.EntityIdentifier = fmt.Sprintf("%s@%d", id, idx.revision(id))
	out.LastModifiedDate = isoPtr(entityDates(s, idx, id).modified)
	return &out, true
}

func (srv *Server) describeEntity(s *world.State, in any) (any, *apiError) {
	id := stripRevision(in.(*describeEntityInput).EntityID)
	out, ok := describe(s, entityIndex(s), id)
	if !ok {
		return nil, errNotFound(fmt.Sprintf("The entity %s was not found.", id))
	}
	b, _ := json.Marshal(out.DetailsDocument)
	out.Details = string(b)
	return out, nil
}

func (srv *Server) batchDescribeEntities(s *world.State, in any) (any, *apiError) {
	req := in.(*batchDescribeInput)
	if n := len(req.EntityRequestList); n < 1 || n > 20 {
		return nil, fieldValidation("EntityRequestList", "EntityRequestList must list 1 to 20 entities")
	}
	details := map[string]any{}
	errs := map[string]errorDetail{}
	idx := entityIndex(s)
	for _, r := range req.EntityRequestList {
		if r.Catalog == nil || r.EntityId == nil || !entityIDPattern.MatchString(*r.EntityId) {
			return nil, fieldValidation("EntityRequestList", "each entity request needs a Catalog and an EntityId matching ^[\\w\\-@]+$")
		}
		if *r.Catalog != CatalogName {
			errs[*r.EntityId] = errorDetail{ErrorCode: "ValidationException", ErrorMessage: fmt.Sprintf("Catalog %q is not supported", *r.Catalog)}
			continue
		}
		out, ok := describe(s, idx, stripRevision(*r.EntityId))
		if !ok {
			errs[*r.EntityId] = errorDetail{ErrorCode: "ResourceNotFoundException", ErrorMessage: fmt.Sprintf("The entity %s was not found.", *r.EntityId)}
			continue
		}
		details[*r.EntityId] = map[string]any{"EntityType": out.EntityType, "EntityIdentifier": out.EntityIdentifier, "EntityArn": out.EntityArn,
			"LastModifiedDate": out.LastModifiedDate, "DetailsDocument": out.DetailsDocument}
	}
	return map[string]any{"EntityDetails": details, "Errors": errs}, nil
}

// ListEntities.

type offerSummary struct {
	Name                  string   `json:"Name,omitempty"`
	ProductId             string   `json:"ProductId,omitempty"`
	ResaleAuthorizationId string   `json:"ResaleAuthorizationId,omitempty"`
	ReleaseDate           *string  `json:"ReleaseDate,omitempty"`
	AvailabilityEndDate   *string  `json:"AvailabilityEndDate,omitempty"`
	BuyerAccounts         []string `json:"BuyerAccounts,omitempty"`
	State                 string   `json:"State"`
	Targeting             []string `json:"Targeting"`
	CreatedBySource       string   `json:"CreatedBySource,omitempty"`
	TargetAgreementId     string   `json:"TargetAgreementId,omitempty"`
}

type raSummary struct {
	Name                  string  `json:"Name,omitempty"`
	ProductId             string  `json:"ProductId,omitempty"`
	ProductName           string  `json:"ProductName,omitempty"`
	ManufacturerAccountId string  `json:"ManufacturerAccountId,omitempty"`
	ResellerAccountID     string  `json:"ResellerAccountID,omitempty"`
	ResellerRole          string  `json:"ResellerRole,omitempty"`
	Status                string  `json:"Status"`
	CreatedDate           *string `json:"CreatedDate,omitempty"`
	AvailabilityEndDate   *string `json:"AvailabilityEndDate,omitempty"`
}

type productSummary struct {
	ProductTitle string `json:"ProductTitle,omitempty"`
	Visibility   string `json:"Visibility,omitempty"`
}

type entitySummary struct {
	Name                       string          `json:"Name,omitempty"`
	EntityType                 string          `json:"EntityType"`
	EntityId                   string          `json:"EntityId"`
	EntityArn                  string          `json:"EntityArn"`
	LastModifiedDate           *string         `json:"LastModifiedDate,omitempty"`
	Visibility                 string          `json:"Visibility,omitempty"`
	OfferSummary               *offerSummary   `json:"OfferSummary,omitempty"`
	ResaleAuthorizationSummary *raSummary      `json:"ResaleAuthorizationSummary,omitempty"`
	SaaSProductSummary         *productSummary `json:"SaaSProductSummary,omitempty"`
}

type listEntitiesOutput struct {
	EntitySummaryList []entitySummary `json:"EntitySummaryList"`
	NextToken         *string         `json:"NextToken,omitempty"`
}

type listRow struct {
	summary entitySummary
	keys    map[string]string
}

func matchValues(f *valueFilter, values ...string) bool {
	if f == nil {
		return true
	}
	if len(f.ValueList) > 0 && !slices.ContainsFunc(values, func(v string) bool { return slices.Contains(f.ValueList, v) }) {
		return false
	}
	if f.WildCardValue != nil && !slices.ContainsFunc(values, func(v string) bool { return wildcard(*f.WildCardValue, v) }) {
		return false
	}
	return true
}

// dateRange is a parsed date range filter.
type dateRange struct {
	after, before *time.Time
}

func parseRange(field string, f *dateRangeFilter) (*dateRange, *apiError) {
	if f == nil || f.DateRange == nil {
		return nil, nil
	}
	r := &dateRange{}
	for _, p := range []struct {
		v   *string
		dst **time.Time
	}{{f.DateRange.AfterValue, &r.after}, {f.DateRange.BeforeValue, &r.before}} {
		if p.v == nil {
			continue
		}
		t, ok := parseTime(*p.v)
		if !ok {
			return nil, fieldValidation(field, fmt.Sprintf("%s needs ISO 8601 dates, not %q", field, *p.v))
		}
		*p.dst = &t
	}
	return r, nil
}

func (r *dateRange) match(t *time.Time) bool {
	if r == nil {
		return true
	}
	if t == nil {
		return false
	}
	return (r.after == nil || !t.Before(*r.after)) && (r.before == nil || !t.After(*r.before))
}

var (
	offerSortKeys = []string{"EntityId", "Name", "ProductId", "ResaleAuthorizationId", "ReleaseDate", "AvailabilityEndDate", "BuyerAccounts",
		"State", "Targeting", "LastModifiedDate", "OfferSetId", "TargetAgreementId", "TargetAgreementIntent", "CreatedBySource"}
	raSortKeys = []string{"EntityId", "Name", "ProductId", "ProductName", "ManufacturerAccountId", "ManufacturerLegalName", "ResellerAccountID",
		"ResellerLegalName", "Status", "OfferExtendedStatus", "CreatedDate", "AvailabilityEndDate", "LastModifiedDate", "ResellerRole",
		"SourceAuthorization", "IssuerAccountId"}
	// productSortKeys are the SDK's types.SaaSProductSortBy values.
	productSortKeys = []string{"EntityId", "ProductTitle", "Visibility", "LastModifiedDate", "DeliveryOptionTypes"}
)

func timeKey(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (srv *Server) listEntities(s *world.State, in any) (any, *apiError) {
	req := in.(*listEntitiesInput)
	if err := checkCatalog(str(req.Catalog), req.Catalog != nil); err != nil {
		return nil, err
	}
	entityType := str(req.EntityType)
	if entityType != "Offer" && entityType != "ResaleAuthorization" && entityType != "SaaSProduct" {
		return nil, fieldValidation("EntityType", fmt.Sprintf("EntityType %q is not supported: use Offer, ResaleAuthorization or SaaSProduct", entityType))
	}
	ownership := str(req.OwnershipType)
	if ownership == "" {
		ownership = "SELF"
	}
	if ownership != "SELF" && ownership != "SHARED" {
		return nil, fieldValidation("OwnershipType", "OwnershipType must be SELF or SHARED")
	}
	size, aerr := pageSize(req.MaxResults, 20, 50, "MaxResults")
	if aerr != nil {
		return nil, aerr
	}
	var ids []string
	for _, f := range req.FilterList {
		if str(f.Name) != "EntityId" {
			return nil, fieldValidation("FilterList", fmt.Sprintf("filter %q is not supported: use EntityId or EntityTypeFilters", str(f.Name)))
		}
		for _, v := range f.ValueList {
			ids = append(ids, stripRevision(v))
		}
	}
	sortIn := req.Sort
	var of *offerFilters
	var rf *resaleAuthorizationFilters
	var pf *saasProductFilters
	if req.EntityTypeFilters != nil {
		of, rf, pf = req.EntityTypeFilters.OfferFilters, req.EntityTypeFilters.ResaleAuthorizationFilters, req.EntityTypeFilters.SaaSProductFilters
		if (of != nil && entityType != "Offer") || (rf != nil && entityType != "ResaleAuthorization") || (pf != nil && entityType != "SaaSProduct") {
			return nil, fieldValidation("EntityTypeFilters", "EntityTypeFilters do not match EntityType "+entityType)
		}
	}
	if req.EntityTypeSort != nil {
		os, rs, ps := req.EntityTypeSort.OfferSort, req.EntityTypeSort.ResaleAuthorizationSort, req.EntityTypeSort.SaaSProductSort
		if (os != nil && entityType != "Offer") || (rs != nil && entityType != "ResaleAuthorization") || (ps != nil && entityType != "SaaSProduct") {
			return nil, fieldValidation("EntityTypeSort", "EntityTypeSort does not match EntityType "+entityType)
		}
		for _, s := range []*sortInput{os, rs, ps} {
			if s != nil {
				sortIn = s
			}
		}
	}
	desc, by, aerr := sortOrder(sortIn)
	if aerr != nil {
		return nil, aerr
	}
	if by == "" {
		by = "LastModifiedDate"
	}
	keys := map[string][]string{"Offer": offerSortKeys, "ResaleAuthorization": raSortKeys, "SaaSProduct": productSortKeys}[entityType]
	if !slices.Contains(keys, by) {
		return nil, fieldValidation("SortBy", fmt.Sprintf("SortBy %q is not one of %s", by, strings.Join(keys, ", ")))
	}
	idx := entityIndex(s)
	var rows []listRow
	switch entityType {
	case "Offer":
		rows, aerr = offerRows(s, idx, of, ids, ownership)
	case "ResaleAuthorization":
		rows, aerr = raRows(s, idx, rf, ids, ownership)
	default:
		rows, aerr = productRows(s, idx, pf, ids, ownership)
	}
	if aerr != nil {
		return nil, aerr
	}
	sort.SliceStable(rows, func(i, j int) bool {
		ki, kj := rows[i].keys[by], rows[j].keys[by]
		if ki == kj {
			ki, kj = rows[i].summary.EntityId, rows[j].summary.EntityId
		}
		if desc {
			return ki > kj
		}
		return ki < kj
	})
	q := queryHash("ListEntities", entityType, ownership, req.FilterList, req.EntityTypeFilters, by, desc)
	offset, aerr := decodeToken(req.NextToken, q)
	if aerr != nil {
		return nil, aerr
	}
	out := listEntitiesOutput{EntitySummaryList: []entitySummary{}}
	for i := offset; i < len(rows) && i < offset+size; i++ {
		out.EntitySummaryList = append(out.EntitySummaryList, rows[i].summary)
	}
	if offset+size < len(rows) {
		out.NextToken = encodeToken(offset+size, q)
	}
	return out, nil
}

func offerTargeting(o *world.Offer) []string {
	var t []string
	if len(o.BuyerAccounts) > 0 {
		t = append(t, "BuyerAccounts")
	}
	var td targetingDetails
	if raw := o.Details["UpdateTargeting"]; raw != nil {
		json.Unmarshal(raw, &td)
	}
	if (td.PositiveTargeting != nil && len(td.PositiveTargeting.CountryCodes) > 0) || td.NegativeTargeting != nil {
		t = append(t, "CountryCodes")
	}
	if len(t) == 0 {
		t = []string{"None"}
	}
	return t
}

func offerRows(s *world.State, idx index, f *offerFilters, ids []string, ownership string) ([]listRow, *apiError) {
	if f == nil {
		f = &offerFilters{}
	}
	avail, aerr := parseRange("AvailabilityEndDate", f.AvailabilityEndDate)
	if aerr != nil {
		return nil, aerr
	}
	modified, aerr := parseRange("LastModifiedDate", f.LastModifiedDate)
	if aerr != nil {
		return nil, aerr
	}
	released, aerr := parseRange("ReleaseDate", f.ReleaseDate)
	if aerr != nil {
		return nil, aerr
	}
	var rows []listRow
	for _, id := range world.SortedKeys(s.Offers) {
		o := s.Offers[id]
		self := o.ProposerAccountID == "" || o.ProposerAccountID == s.Config.SellerAccountID
		if self != (ownership == "SELF") {
			continue
		}
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		m := entityDates(s, idx, id)
		targeting := offerTargeting(o)
		state := offerState(o)
		if !matchValues(f.EntityId, id) || !matchValues(f.Name, o.Name) || !matchValues(f.ProductId, o.ProductID) ||
			!matchValues(f.ResaleAuthorizationId, o.ResaleAuthorizationID) || !matchValues(f.State, state) ||
			!matchValues(f.Targeting, targeting...) || !matchValues(f.CreatedBySource, "Seller") ||
			!matchValues(f.TargetAgreementId, o.ReplacesAgreementID) || !avail.match(o.ExpirationDate) ||
			!modified.match(m.modified) || !released.match(m.released) {
			continue
		}
		if f.BuyerAccounts != nil && !matchValues(f.BuyerAccounts, o.BuyerAccounts...) {
			continue
		}
		sum := &offerSummary{Name: o.Name, ProductId: o.ProductID, ResaleAuthorizationId: o.ResaleAuthorizationID, State: state,
			Targeting: targeting, BuyerAccounts: o.BuyerAccounts, CreatedBySource: "Seller", ReleaseDate: isoPtr(m.released),
			AvailabilityEndDate: isoPtr(o.ExpirationDate), TargetAgreementId: o.ReplacesAgreementID}
		visibility := "Public"
		if o.Private {
			visibility = "Limited"
		}
		rows = append(rows, listRow{
			summary: entitySummary{Name: o.Name, EntityType: "Offer", EntityId: id, EntityArn: offerArn(s, o), LastModifiedDate: isoPtr(m.modified),
				Visibility: visibility, OfferSummary: sum},
			keys: map[string]string{"EntityId": id, "Name": o.Name, "ProductId": o.ProductID, "ResaleAuthorizationId": o.ResaleAuthorizationID,
				"ReleaseDate": timeKey(m.released), "AvailabilityEndDate": timeKey(o.ExpirationDate), "BuyerAccounts": strings.Join(o.BuyerAccounts, ","),
				"State": state, "Targeting": strings.Join(targeting, ","), "LastModifiedDate": timeKey(m.modified), "CreatedBySource": "Seller",
				"TargetAgreementId": o.ReplacesAgreementID},
		})
	}
	return rows, nil
}

func raRows(s *world.State, idx index, f *resaleAuthorizationFilters, ids []string, ownership string) ([]listRow, *apiError) {
	if f == nil {
		f = &resaleAuthorizationFilters{}
	}
	if ownership == "SHARED" {
		return nil, nil // the emulated seller is the manufacturer of every resale authorization
	}
	avail, aerr := parseRange("AvailabilityEndDate", f.AvailabilityEndDate)
	if aerr != nil {
		return nil, aerr
	}
	created, aerr := parseRange("CreatedDate", f.CreatedDate)
	if aerr != nil {
		return nil, aerr
	}
	modified, aerr := parseRange("LastModifiedDate", f.LastModifiedDate)
	if aerr != nil {
		return nil, aerr
	}
	var rows []listRow
	for _, id := range world.SortedKeys(s.ResaleAuthorizations) {
		ra := s.ResaleAuthorizations[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		m := entityDates(s, idx, id)
		var end *time.Time
		var av availabilityDetails
		if raw := ra.Details["UpdateAvailability"]; raw != nil {
			json.Unmarshal(raw, &av)
			if av.AvailabilityEndDate != nil {
				if d, ok := parseDate(*av.AvailabilityEndDate); ok {
					e := endOfDay(d)
					end = &e
				}
			}
		}
		productName := ""
		if p := s.Products[ra.ProductID]; p != nil {
			productName = p.Title
		}
		if !matchValues(f.EntityId, id) || !matchValues(f.Name, ra.Name) || !matchValues(f.ProductId, ra.ProductID) ||
			!matchValues(f.ProductName, productName) || !matchValues(f.ResellerAccountID, ra.ResellerAccountID) ||
			!matchValues(f.ManufacturerAccountId, s.Config.SellerAccountID) || !matchValues(f.Status, ra.State) ||
			!avail.match(end) || !created.match(m.created) || !modified.match(m.modified) {
			continue
		}
		sum := &raSummary{Name: ra.Name, ProductId: ra.ProductID, ProductName: productName, ManufacturerAccountId: s.Config.SellerAccountID,
			ResellerAccountID: ra.ResellerAccountID, ResellerRole: "ChannelPartner", Status: ra.State, CreatedDate: isoPtr(m.created),
			AvailabilityEndDate: isoPtr(end)}
		rows = append(rows, listRow{
			summary: entitySummary{Name: ra.Name, EntityType: "ResaleAuthorization", EntityId: id, EntityArn: raArn(s, ra),
				LastModifiedDate: isoPtr(m.modified), ResaleAuthorizationSummary: sum},
			keys: map[string]string{"EntityId": id, "Name": ra.Name, "ProductId": ra.ProductID, "ProductName": productName,
				"ManufacturerAccountId": s.Config.SellerAccountID, "ResellerAccountID": ra.ResellerAccountID, "Status": ra.State,
				"CreatedDate": timeKey(m.created), "AvailabilityEndDate": timeKey(end), "LastModifiedDate": timeKey(m.modified),
				"ResellerRole": "ChannelPartner"},
		})
	}
	return rows, nil
}

// productRows lists the seller's SaaS products (the world's products are
// all Public: it has no limited listings).
func productRows(s *world.State, idx index, f *saasProductFilters, ids []string, ownership string) ([]listRow, *apiError) {
	if f == nil {
		f = &saasProductFilters{}
	}
	if ownership == "SHARED" {
		return nil, nil
	}
	modified, aerr := parseRange("LastModifiedDate", f.LastModifiedDate)
	if aerr != nil {
		return nil, aerr
	}
	var rows []listRow
	for _, id := range world.SortedKeys(s.Products) {
		p := s.Products[id]
		if p.Type == world.ProductProfessionalServices || (len(ids) > 0 && !slices.Contains(ids, id)) {
			continue
		}
		m := entityDates(s, idx, id)
		const visibility = "Public"
		if !matchValues(f.EntityId, id) || !matchValues(f.ProductTitle, p.Title) || !matchValues(f.Visibility, visibility) ||
			!modified.match(m.modified) {
			continue
		}
		rows = append(rows, listRow{
			summary: entitySummary{Name: p.Title, EntityType: "SaaSProduct", EntityId: id, EntityArn: productArn(s, p),
				LastModifiedDate: isoPtr(m.modified), Visibility: visibility,
				SaaSProductSummary: &productSummary{ProductTitle: p.Title, Visibility: visibility}},
			keys: map[string]string{"EntityId": id, "ProductTitle": p.Title, "Visibility": visibility, "LastModifiedDate": timeKey(m.modified),
				"DeliveryOptionTypes": ""},
		})
	}
	return rows, nil
}
