package catalog_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/types"

	"github.com/concordmp/concord/internal/emulator/catalog"
	"github.com/concordmp/concord/internal/emulator/world"
)

// TestOfferEntityCarriesPreExistingAgreement: OfferEntityDetail has a
// top-level PreExistingAgreement (awslabs/aws-marketplace-catalog-api-shapes-for-java
// .../offer_1_0/OfferEntityDetail.java), set by UpdateInformation, and a later
// UpdateInformation that renames the offer keeps it and the description.
func TestOfferEntityCarriesPreExistingAgreement(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.run("pea", ch("CreateOffer", catalog.EntityTypeOffer, "", "O", map[string]any{"ProductId": e.contract.ProductID}),
		offerCh("UpdateInformation", "$O.Entity.Identifier", map[string]any{"Name": "Migrated", "Description": "From our paper contract",
			"PreExistingAgreement": map[string]any{"AcquisitionChannel": "External", "PricingModel": "Contract"}}))
	e.mustSucceed(out)
	id := entityID(out, 0)
	e.mustSucceed(e.run("rename", offerCh("UpdateInformation", id, map[string]any{"Name": "Migrated (renamed)"})))
	_, d := e.describeEntity(id)
	pea, _ := d["PreExistingAgreement"].(map[string]any)
	if pea["AcquisitionChannel"] != "External" || pea["PricingModel"] != "Contract" || d["Name"] != "Migrated (renamed)" ||
		d["Description"] != "From our paper contract" {
		t.Fatalf("entity %v", d)
	}
	other := e.releasedOffer("plain")
	if _, d := e.describeEntity(other); d["PreExistingAgreement"] != nil {
		t.Fatalf("an offer without one shows PreExistingAgreement %v", d["PreExistingAgreement"])
	}
}

// TestWorldOfferEntityHasAWSShape: an offer the world made (control API,
// console sandbox) is described with AWS's Offer terms only: its fixed
// quantities are a FixedUpfrontPricingTerm's Grants with MaxQuantity, never
// a Configuration member, and its pricing terms pass the very shape that
// UpdatePricingTerms checks.
func TestWorldOfferEntityHasAWSShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var offerID string
	e.do(func(s *world.State) error {
		o, err := s.CreatePrivateOffer(world.Offer{ProductID: e.contract.ProductID, BuyerAccounts: []string{buyer},
			Quantities: map[string]int64{"seats": 25}, Prices: map[string]string{"seats": "9.505", "admins": "40"}, Duration: "P12M"})
		if o != nil {
			offerID = o.OfferID
		}
		return err
	})
	ent, d := e.describeEntity(offerID)
	if raw, _ := json.Marshal(d); strings.Contains(string(raw), `"Configuration"`) {
		t.Fatalf("the entity has a Configuration member: %s", raw)
	}
	var pricing []any
	var fixed map[string]any
	for _, term := range d["Terms"].([]any) {
		m := term.(map[string]any)
		switch m["Type"] {
		case "FixedUpfrontPricingTerm", "ConfigurableUpfrontPricingTerm", "UsageBasedPricingTerm":
			pricing = append(pricing, m)
		}
		if m["Type"] == "FixedUpfrontPricingTerm" {
			fixed = m
		}
	}
	grants, _ := fixed["Grants"].([]any)
	if fixed == nil || fixed["Price"] != "237.63" || fixed["Duration"] != "P12M" || len(grants) != 1 ||
		grants[0].(map[string]any)["DimensionKey"] != "seats" || grants[0].(map[string]any)["MaxQuantity"] != float64(25) {
		t.Fatalf("fixed upfront term %v in %v", fixed, d["Terms"])
	}
	if aws.ToString(ent.LastModifiedDate) == "" {
		t.Fatal("no LastModifiedDate")
	}
	// The same terms in a change set are accepted by AWS's shapes.
	_, err := e.c.StartChangeSet(ctx, &marketplacecatalog.StartChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSet: []types.Change{
		ch("CreateOffer", catalog.EntityTypeOffer, "", "O", map[string]any{"ProductId": e.contract.ProductID}),
		offerCh("UpdatePricingTerms", "$O.Entity.Identifier", map[string]any{"PricingModel": "Contract", "Terms": pricing}),
	}})
	if err != nil {
		t.Fatalf("the entity's pricing terms are refused by the UpdatePricingTerms shape: %v", err)
	}
}

// TestListEntitiesDates: every summary carries LastModifiedDate, and every
// released offer its ReleaseDate (EntitySummary and OfferSummary of the
// marketplacecatalog SDK), also for entities the world made itself; a draft
// has no ReleaseDate.
func TestListEntitiesDates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	draft := e.run("draft", ch("CreateOffer", catalog.EntityTypeOffer, "", "", map[string]any{"ProductId": e.usage.ProductID}))
	e.mustSucceed(draft)
	released := e.releasedOffer("released")
	var worldOffer, worldRA string
	e.do(func(s *world.State) error {
		o, err := s.CreatePrivateOffer(world.Offer{ProductID: e.contract.ProductID, BuyerAccounts: []string{buyer}})
		if err != nil {
			return err
		}
		worldOffer = o.OfferID
		ra, err := s.CreateResaleAuthorization(e.contract.ProductID, "999988887777", "world RA")
		if ra != nil {
			worldRA = ra.ID
		}
		return err
	})
	list := func(entityType string) map[string]types.EntitySummary {
		out, err := e.c.ListEntities(ctx, &marketplacecatalog.ListEntitiesInput{Catalog: aws.String("AWSMarketplace"), EntityType: aws.String(entityType)})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]types.EntitySummary{}
		for _, s := range out.EntitySummaryList {
			m[aws.ToString(s.EntityId)] = s
		}
		return m
	}
	parse := func(v *string) time.Time {
		ts, err := time.Parse(time.RFC3339, aws.ToString(v))
		if err != nil {
			t.Fatalf("date %q: %v", aws.ToString(v), err)
		}
		return ts
	}
	offers := list("Offer")
	for _, id := range []string{entityID(draft, 0), released, worldOffer, e.contract.PublicOfferID} {
		s := offers[id]
		if s.LastModifiedDate == nil {
			t.Fatalf("offer %s has no LastModifiedDate: %+v", id, s)
		}
		parse(s.LastModifiedDate)
		if id == entityID(draft, 0) {
			if s.OfferSummary.ReleaseDate != nil {
				t.Fatalf("draft %s has ReleaseDate %s", id, aws.ToString(s.OfferSummary.ReleaseDate))
			}
			continue
		}
		if s.OfferSummary == nil || s.OfferSummary.ReleaseDate == nil || parse(s.OfferSummary.ReleaseDate).After(parse(s.LastModifiedDate)) {
			t.Fatalf("released offer %s: %+v", id, s.OfferSummary)
		}
	}
	ras := list("ResaleAuthorization")
	if s := ras[worldRA]; s.LastModifiedDate == nil || s.ResaleAuthorizationSummary == nil || s.ResaleAuthorizationSummary.CreatedDate == nil {
		t.Fatalf("world resale authorization summary %+v", s)
	}
}

// TestSaaSProductEntity: DescribeEntity of a SaaS product has AWS's
// SaaSProductEntityDetail shape (awslabs/aws-marketplace-catalog-api-shapes-for-python
// src/aws_marketplace_catalog_shapes_saasproduct_1_0_entitytype/models/), with
// the title, and each dimension's key, name, unit and type: Entitled for a
// contract dimension, ExternallyMetered for a metered one (AWS's sample
// java/resources/changeSets/products/saas/CreateLimitedSaasAndPublicOfferWithContractWithPayAsYouGoPricing.json).
func TestSaaSProductEntity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var p *world.Product
	e.do(func(s *world.State) error {
		var err error
		p, err = s.CreateProduct(world.Product{Title: "Acme Hybrid", Type: world.ProductSaaSContractConsumption, Dimensions: []world.Dimension{
			{Key: "seats", Name: "Seats", Kind: "contract", Price: "10"}, {Key: "api_calls", Kind: "usage", Price: "0.01"}}})
		return err
	})
	ent, d := e.describeEntity(p.ProductID)
	if aws.ToString(ent.EntityType) != "SaaSProduct@1.0" || !strings.HasSuffix(aws.ToString(ent.EntityArn), ":AWSMarketplace/SaaSProduct/"+p.ProductID) ||
		!strings.HasPrefix(aws.ToString(ent.EntityIdentifier), p.ProductID+"@") {
		t.Fatalf("entity %+v", ent)
	}
	desc, _ := d["Description"].(map[string]any)
	if desc["ProductTitle"] != "Acme Hybrid" || desc["ProductCode"] != p.ProductCode {
		t.Fatalf("Description %v", d["Description"])
	}
	allowed := []string{"Description", "PromotionalResources", "SupportInformation", "Dimensions", "Versions", "Targeting"}
	for k := range d {
		if !slices.Contains(allowed, k) {
			t.Fatalf("member %s is not in SaaSProductEntityDetail", k)
		}
	}
	type dim struct{ Key, Name, Unit, Type string }
	var got []dim
	for _, v := range d["Dimensions"].([]any) {
		m := v.(map[string]any)
		types := m["Types"].([]any)
		if len(types) != 1 {
			t.Fatalf("dimension %v", m)
		}
		got = append(got, dim{m["Key"].(string), m["Name"].(string), m["Unit"].(string), types[0].(string)})
	}
	want := []dim{{"seats", "Seats", "Units", "Entitled"}, {"api_calls", "api_calls", "Units", "ExternallyMetered"}}
	if !slices.Equal(got, want) {
		t.Fatalf("dimensions %+v, want %+v", got, want)
	}
	// The same through BatchDescribeEntities.
	out, err := e.c.BatchDescribeEntities(ctx, &marketplacecatalog.BatchDescribeEntitiesInput{EntityRequestList: []types.EntityRequest{
		{Catalog: aws.String("AWSMarketplace"), EntityId: aws.String(p.ProductID)}}})
	if err != nil || aws.ToString(out.EntityDetails[p.ProductID].EntityType) != "SaaSProduct@1.0" {
		t.Fatalf("BatchDescribeEntities = %+v, %v", out, err)
	}
}

// TestListSaaSProducts: ListEntities of EntityType SaaSProduct lists the
// seller's SaaS products with a SaaSProductSummary (ProductTitle,
// Visibility) and a LastModifiedDate, and filters them by title
// (types.SaaSProductFilters), so Concord can find the products to describe.
func TestListSaaSProducts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	list := func(f *types.SaaSProductFilters) []types.EntitySummary {
		t.Helper()
		in := &marketplacecatalog.ListEntitiesInput{Catalog: aws.String("AWSMarketplace"), EntityType: aws.String("SaaSProduct"),
			EntityTypeSort: &types.EntityTypeSortMemberSaaSProductSort{Value: types.SaaSProductSort{SortBy: types.SaaSProductSortByProductTitle,
				SortOrder: types.SortOrderAscending}}}
		if f != nil {
			in.EntityTypeFilters = &types.EntityTypeFiltersMemberSaaSProductFilters{Value: *f}
		}
		out, err := e.c.ListEntities(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.EntitySummaryList
	}
	all := list(nil)
	if len(all) != 2 || aws.ToString(all[0].EntityId) != e.contract.ProductID || aws.ToString(all[1].EntityId) != e.usage.ProductID {
		t.Fatalf("listed %d products: %+v", len(all), all)
	}
	for _, s := range all {
		if s.SaaSProductSummary == nil || s.SaaSProductSummary.Visibility != types.SaaSProductVisibilityStringPublic ||
			s.LastModifiedDate == nil || aws.ToString(s.EntityType) != "SaaSProduct" {
			t.Fatalf("summary %+v", s)
		}
	}
	got := list(&types.SaaSProductFilters{ProductTitle: &types.SaaSProductTitleFilter{WildCardValue: aws.String("Usage")}})
	if len(got) != 1 || aws.ToString(got[0].SaaSProductSummary.ProductTitle) != "Acme Usage" {
		t.Fatalf("filtered %+v", got)
	}
}
