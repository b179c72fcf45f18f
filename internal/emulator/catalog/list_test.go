package catalog_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/types"

	"github.com/concordmp/concord/internal/emulator/catalog"
	"github.com/concordmp/concord/internal/emulator/world"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func TestListChangeSets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	baseStart := e.w.Now().UTC()
	offerID := e.releasedOffer("base")
	for _, name := range []string{"batch-0", "batch-1", "batch-0", "batch-1"} {
		e.advance(time.Minute)
		e.start(name, ch("CreateOffer", catalog.EntityTypeOffer, "", "", map[string]any{"ProductId": e.contract.ProductID}))
	}
	e.advance(delay)
	pending := e.start("pending", offerCh("UpdateInformation", offerID, map[string]any{"Name": "pending"}))
	list := func(in *marketplacecatalog.ListChangeSetsInput) []types.ChangeSetSummaryListItem {
		t.Helper()
		in.Catalog = aws.String("AWSMarketplace")
		var all []types.ChangeSetSummaryListItem
		p := marketplacecatalog.NewListChangeSetsPaginator(e.c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page.ChangeSetSummaryList...)
		}
		return all
	}
	filter := func(name string, values ...string) []types.Filter {
		return []types.Filter{{Name: aws.String(name), ValueList: values}}
	}

	t.Run("filters by name", func(t *testing.T) {
		got := list(&marketplacecatalog.ListChangeSetsInput{FilterList: filter("ChangeSetName", "batch-0")})
		if len(got) != 2 || aws.ToString(got[0].ChangeSetName) != "batch-0" || got[0].Status != types.ChangeStatusSucceeded {
			t.Fatalf("%+v", got)
		}
	})

	t.Run("filters by status", func(t *testing.T) {
		got := list(&marketplacecatalog.ListChangeSetsInput{FilterList: filter("Status", "PREPARING")})
		if len(got) != 1 || aws.ToString(got[0].ChangeSetId) != pending || got[0].EndTime != nil {
			t.Fatalf("%+v", got)
		}
	})

	t.Run("filters by entity", func(t *testing.T) {
		got := list(&marketplacecatalog.ListChangeSetsInput{FilterList: filter("EntityId", offerID)})
		if len(got) != 2 {
			t.Fatalf("%d change sets name %s", len(got), offerID)
		}
		for _, cs := range got {
			if !slices.Contains(cs.EntityIdList, offerID) {
				t.Fatalf("EntityIdList %v", cs.EntityIdList)
			}
		}
	})

	t.Run("filters by start time", func(t *testing.T) {
		after := baseStart.Add(30 * time.Second).Format(time.RFC3339)
		got := list(&marketplacecatalog.ListChangeSetsInput{FilterList: filter("AfterStartTime", after)})
		if len(got) != 5 {
			t.Fatalf("%d change sets after %s", len(got), after)
		}
		got = list(&marketplacecatalog.ListChangeSetsInput{FilterList: append(filter("BeforeStartTime", after), filter("Status", "SUCCEEDED")...)})
		if len(got) != 1 || aws.ToString(got[0].ChangeSetName) != "base" {
			t.Fatalf("%+v", got)
		}
	})

	t.Run("sorts and pages", func(t *testing.T) {
		var all []types.ChangeSetSummaryListItem
		pages := 0
		p := marketplacecatalog.NewListChangeSetsPaginator(e.c, &marketplacecatalog.ListChangeSetsInput{Catalog: aws.String("AWSMarketplace"),
			Sort: &types.Sort{SortBy: aws.String("StartTime"), SortOrder: types.SortOrderAscending}}, func(o *marketplacecatalog.ListChangeSetsPaginatorOptions) {
			o.Limit = 2
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			all = append(all, page.ChangeSetSummaryList...)
		}
		if len(all) != 6 || pages != 3 || aws.ToString(all[0].ChangeSetName) != "base" || aws.ToString(all[5].ChangeSetId) != pending {
			t.Fatalf("%d sets in %d pages", len(all), pages)
		}
		seen := map[string]bool{}
		for _, cs := range all {
			if seen[aws.ToString(cs.ChangeSetId)] {
				t.Fatalf("duplicate %s", aws.ToString(cs.ChangeSetId))
			}
			seen[aws.ToString(cs.ChangeSetId)] = true
		}
	})

	t.Run("rejects unknown filters and foreign tokens", func(t *testing.T) {
		for name, in := range map[string]*marketplacecatalog.ListChangeSetsInput{
			"filter": {FilterList: filter("Colour", "red")},
			"token":  {NextToken: aws.String("bm9wZQ")},
			"size":   {MaxResults: aws.Int32(500)},
			"sort":   {Sort: &types.Sort{SortBy: aws.String("Colour")}},
		} {
			in.Catalog = aws.String("AWSMarketplace")
			_, err := e.c.ListChangeSets(ctx, in)
			if _, ok := errors.AsType[*types.ValidationException](err); !ok || httpStatus(err) != 422 {
				t.Fatalf("%s: %v", name, err)
			}
		}
	})
}

func TestListEntities(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.releasedOffer("offer-a")
	outC := e.run("offer-c", privateOfferChanges(e.contract.ProductID, []string{buyer2}, "offer-c")...)
	e.mustSucceed(outC)
	c := entityID(outC, 0)
	outB := e.run("offer-b", ch("CreateOffer", catalog.EntityTypeOffer, "", "", map[string]any{"ProductId": e.usage.ProductID, "Name": "offer-b"}))
	e.mustSucceed(outB)
	b := entityID(outB, 0)
	var worldRA string
	e.do(func(s *world.State) error {
		ra, err := s.CreateResaleAuthorization(e.contract.ProductID, "999988887777", "world RA")
		if ra != nil {
			worldRA = ra.ID
		}
		return err
	})
	e.mustSucceed(e.run("draft-ra", ch("CreateResaleAuthorization", catalog.EntityTypeResaleAuthorization, "", "", map[string]any{
		"ProductId": e.usage.ProductID, "Name": "draft RA", "ResellerAccountId": "999988887777"})))

	offers := func(f *types.OfferFilters, limit int32) []types.EntitySummary {
		t.Helper()
		in := &marketplacecatalog.ListEntitiesInput{Catalog: aws.String("AWSMarketplace"), EntityType: aws.String("Offer"),
			EntityTypeSort: &types.EntityTypeSortMemberOfferSort{Value: types.OfferSort{SortBy: types.OfferSortByEntityId, SortOrder: types.SortOrderAscending}}}
		if f != nil {
			in.EntityTypeFilters = &types.EntityTypeFiltersMemberOfferFilters{Value: *f}
		}
		var all []types.EntitySummary
		p := marketplacecatalog.NewListEntitiesPaginator(e.c, in, func(o *marketplacecatalog.ListEntitiesPaginatorOptions) { o.Limit = limit })
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page.EntitySummaryList...)
		}
		return all
	}
	ids := func(list []types.EntitySummary) []string {
		var out []string
		for _, s := range list {
			out = append(out, aws.ToString(s.EntityId))
		}
		return out
	}
	sorted := func(v ...string) []string { return slices.Sorted(slices.Values(v)) }

	t.Run("lists every offer in order across pages", func(t *testing.T) {
		got := ids(offers(nil, 2))
		want := sorted(a, b, c, e.contract.PublicOfferID, e.usage.PublicOfferID)
		if !slices.Equal(got, want) {
			t.Fatalf("got %v want %v", got, want)
		}
	})

	t.Run("filters by product", func(t *testing.T) {
		got := ids(offers(&types.OfferFilters{ProductId: &types.OfferProductIdFilter{ValueList: []string{e.contract.ProductID}}}, 20))
		if !slices.Equal(got, sorted(a, c, e.contract.PublicOfferID)) {
			t.Fatalf("%v", got)
		}
	})

	t.Run("filters by state", func(t *testing.T) {
		got := offers(&types.OfferFilters{State: &types.OfferStateFilter{ValueList: []types.OfferStateString{types.OfferStateStringDraft}}}, 20)
		if len(got) != 1 || aws.ToString(got[0].EntityId) != b || got[0].OfferSummary.State != types.OfferStateStringDraft {
			t.Fatalf("%v", ids(got))
		}
	})

	t.Run("filters by buyer account and targeting", func(t *testing.T) {
		got := offers(&types.OfferFilters{BuyerAccounts: &types.OfferBuyerAccountsFilter{WildCardValue: aws.String(buyer2)}}, 20)
		if len(got) != 1 || aws.ToString(got[0].EntityId) != c {
			t.Fatalf("%v", ids(got))
		}
		sum := got[0].OfferSummary
		if !slices.Equal(sum.BuyerAccounts, []string{buyer2}) || aws.ToString(sum.AvailabilityEndDate) != "2099-12-31T23:59:59Z" ||
			sum.ReleaseDate == nil || sum.State != types.OfferStateStringReleased || aws.ToString(sum.ProductId) != e.contract.ProductID {
			t.Fatalf("summary %+v", sum)
		}
		got = offers(&types.OfferFilters{Targeting: &types.OfferTargetingFilter{ValueList: []types.OfferTargetingString{types.OfferTargetingStringBuyerAccounts}}}, 20)
		if !slices.Equal(ids(got), sorted(a, c)) {
			t.Fatalf("%v", ids(got))
		}
	})

	t.Run("filters by entity id", func(t *testing.T) {
		out, err := e.c.ListEntities(ctx, &marketplacecatalog.ListEntitiesInput{Catalog: aws.String("AWSMarketplace"), EntityType: aws.String("Offer"),
			FilterList: []types.Filter{{Name: aws.String("EntityId"), ValueList: []string{a, b}}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(out.EntitySummaryList); !slices.Equal(slices.Sorted(slices.Values(got)), sorted(a, b)) {
			t.Fatalf("%v", got)
		}
		if arn := aws.ToString(out.EntitySummaryList[0].EntityArn); arn == "" || out.NextToken != nil {
			t.Fatalf("arn %q token %v", arn, out.NextToken)
		}
	})

	t.Run("lists resale authorizations by status", func(t *testing.T) {
		out, err := e.c.ListEntities(ctx, &marketplacecatalog.ListEntitiesInput{Catalog: aws.String("AWSMarketplace"), EntityType: aws.String("ResaleAuthorization"),
			EntityTypeFilters: &types.EntityTypeFiltersMemberResaleAuthorizationFilters{Value: types.ResaleAuthorizationFilters{
				Status: &types.ResaleAuthorizationStatusFilter{ValueList: []types.ResaleAuthorizationStatusString{types.ResaleAuthorizationStatusStringActive}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.EntitySummaryList) != 1 || aws.ToString(out.EntitySummaryList[0].EntityId) != worldRA {
			t.Fatalf("%v", ids(out.EntitySummaryList))
		}
		sum := out.EntitySummaryList[0].ResaleAuthorizationSummary
		if sum.Status != types.ResaleAuthorizationStatusStringActive || aws.ToString(sum.ResellerAccountID) != "999988887777" || aws.ToString(sum.ProductName) != "Acme Contract" {
			t.Fatalf("summary %+v", sum)
		}
	})

	t.Run("rejects unsupported entity types and mismatched filters", func(t *testing.T) {
		for name, in := range map[string]*marketplacecatalog.ListEntitiesInput{
			"type": {EntityType: aws.String("AmiProduct")},
			"filters": {EntityType: aws.String("ResaleAuthorization"), EntityTypeFilters: &types.EntityTypeFiltersMemberOfferFilters{
				Value: types.OfferFilters{ProductId: &types.OfferProductIdFilter{ValueList: []string{"x"}}}}},
			"token": {EntityType: aws.String("Offer"), NextToken: aws.String("AAAA")},
		} {
			in.Catalog = aws.String("AWSMarketplace")
			_, err := e.c.ListEntities(ctx, in)
			if _, ok := errors.AsType[*types.ValidationException](err); !ok {
				t.Fatalf("%s: %v", name, err)
			}
		}
	})

	t.Run("BatchDescribeEntities describes several entities and reports the missing", func(t *testing.T) {
		out, err := e.c.BatchDescribeEntities(ctx, &marketplacecatalog.BatchDescribeEntitiesInput{EntityRequestList: []types.EntityRequest{
			{Catalog: aws.String("AWSMarketplace"), EntityId: aws.String(a)},
			{Catalog: aws.String("AWSMarketplace"), EntityId: aws.String(worldRA)},
			{Catalog: aws.String("AWSMarketplace"), EntityId: aws.String("offer-missing")},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.EntityDetails) != 2 || aws.ToString(out.EntityDetails[a].EntityType) != "Offer@1.0" ||
			aws.ToString(out.EntityDetails[worldRA].EntityType) != "ResaleAuthorization@1.0" ||
			aws.ToString(out.Errors["offer-missing"].ErrorCode) != "ResourceNotFoundException" {
			t.Fatalf("%+v", out)
		}
	})
}
