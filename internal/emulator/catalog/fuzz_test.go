package catalog_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/emulator/catalog"
	"github.com/concordmp/concord/internal/emulator/world"
)

// FuzzServeHTTP sends arbitrary requests, lets any change set they start
// apply, and then reads everything back: nothing may panic or answer 5xx.
func FuzzServeHTTP(f *testing.F) {
	const offer, ra, agmt = "offer-seedoffer00001", "resaleauthz-seedra000001", "agmt-seedagreement0000000001"
	valid := `{"Catalog":"AWSMarketplace","ChangeSetName":"po","ChangeSet":[` +
		`{"ChangeType":"CreateOffer","ChangeName":"O","Entity":{"Type":"Offer@1.0"},"DetailsDocument":{"ProductId":"prod-seed","Name":"x"}},` +
		`{"ChangeType":"UpdateTargeting","Entity":{"Type":"Offer@1.0","Identifier":"$O.Entity.Identifier"},"DetailsDocument":{"PositiveTargeting":{"BuyerAccounts":["444455556666"]}}},` +
		`{"ChangeType":"UpdatePricingTerms","Entity":{"Type":"Offer@1.0","Identifier":"$O.Entity.Identifier"},"DetailsDocument":{"PricingModel":"Contract","Terms":[{"Type":"FixedUpfrontPricingTerm","CurrencyCode":"USD","Price":"1","Duration":"P12M","Grants":[{"DimensionKey":"seats","MaxQuantity":3}]}]}},` +
		`{"ChangeType":"UpdateValidityTerms","Entity":{"Type":"Offer@1.0","Identifier":"$O.Entity.Identifier"},"DetailsDocument":{"Terms":[{"Type":"ValidityTerm","AgreementEndDate":"2099-01-01","AgreementStartDate":"2098-01-01"}]}},` +
		`{"ChangeType":"UpdateAvailability","Entity":{"Type":"Offer@1.0","Identifier":"$O.Entity.Identifier"},"DetailsDocument":{"AvailabilityEndDate":"2099-01-01"}},` +
		`{"ChangeType":"ReleaseOffer","Entity":{"Type":"Offer@1.0","Identifier":"$O.Entity.Identifier"},"DetailsDocument":{}}]}`
	seeds := []struct{ method, path, body string }{
		{"POST", "/StartChangeSet", valid},
		{"POST", "/StartChangeSet", `{"Catalog":"AWSMarketplace","Intent":"VALIDATE","ChangeSet":[{"ChangeType":"UpdateInformation","Entity":{"Type":"Offer@1.0","Identifier":"` + offer + `"},"Details":"{\"Name\":\"n\"}"}]}`},
		{"POST", "/StartChangeSet", `{"Catalog":"AWSMarketplace","ChangeSet":[{"ChangeType":"CreateReplacementOffer","Entity":{"Type":"Offer@1.0"},"ChangeName":"R","DetailsDocument":{"AgreementId":"` + agmt + `"}},{"ChangeType":"ReleaseOffer","Entity":{"Type":"Offer@1.0","Identifier":"$R.Entity.Identifier"},"DetailsDocument":{}}]}`},
		{"POST", "/StartChangeSet", `{"Catalog":"AWSMarketplace","ChangeSet":[{"ChangeType":"UpdatePricingTerms","Entity":{"Type":"ResaleAuthorization@1.0","Identifier":"` + ra + `"},"DetailsDocument":{"PricingModel":"Contract","Terms":[{"Type":"ResaleConfigurableUpfrontPricingTerm","CurrencyCode":"USD","RateCards":[{"Selector":{"Type":"Duration","Value":"P1M"},"RateCard":[{"DimensionKey":"seats","Price":"1"}]}]}]}},{"ChangeType":"RestrictResaleAuthorization","Entity":{"Type":"ResaleAuthorization@1.0","Identifier":"` + ra + `"},"DetailsDocument":{}}]}`},
		{"POST", "/StartChangeSet", `{"Catalog":"AWSMarketplace","ChangeSet":[{"ChangeType":"CreateOfferUsingResaleAuthorization","ChangeName":"C","Entity":{"Type":"Offer@1.0"},"DetailsDocument":{"ResaleAuthorizationId":"` + ra + `"}},{"ChangeType":"UpdateMarkup","Entity":{"Type":"Offer@1.0","Identifier":"$C.Entity.Identifier"},"DetailsDocument":{"Percentage":"5"}}]}`},
		{"POST", "/ListChangeSets", `{"Catalog":"AWSMarketplace","FilterList":[{"Name":"AfterStartTime","ValueList":["2020-01-01T00:00:00Z"]}],"Sort":{"SortBy":"EndTime","SortOrder":"ASCENDING"},"MaxResults":1}`},
		{"POST", "/ListEntities", `{"Catalog":"AWSMarketplace","EntityType":"Offer","EntityTypeFilters":{"OfferFilters":{"BuyerAccounts":{"WildCardValue":"4444"},"AvailabilityEndDate":{"DateRange":{"AfterValue":"2020-01-01T00:00:00Z"}}}},"EntityTypeSort":{"OfferSort":{"SortBy":"Name"}},"MaxResults":1,"NextToken":"x"}`},
		{"POST", "/BatchDescribeEntities", `{"EntityRequestList":[{"Catalog":"AWSMarketplace","EntityId":"` + offer + `"}]}`},
		{"GET", "/DescribeEntity?catalog=AWSMarketplace&entityId=" + ra, ""},
		{"GET", "/DescribeChangeSet?catalog=AWSMarketplace&changeSetId=abc", ""},
		{"PATCH", "/CancelChangeSet?catalog=AWSMarketplace&changeSetId=abc", ""},
		{"DELETE", "/StartChangeSet", "{"},
		{"POST", "/prefix/ListEntities/", "[]"},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.body)
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		cfg := world.DefaultConfig()
		cfg.ThrottleRPS = 0
		cfg.ChangeSetDelay = 0
		w := world.New(cfg)
		if err := w.Do(func(s *world.State) error {
			p, err := s.CreateProduct(world.Product{ProductID: "prod-seed", Type: world.ProductSaaSContract, Dimensions: []world.Dimension{{Key: "seats", Price: "1"}}})
			if err != nil {
				return err
			}
			s.CreateBuyer("444455556666")
			s.Offers[offer] = &world.Offer{OfferID: offer, ProductID: p.ProductID, State: "Draft", ProposerAccountID: cfg.SellerAccountID,
				Details: map[string]json.RawMessage{"CreateOffer": json.RawMessage(`{"ProductId":"prod-seed"}`)}}
			s.ResaleAuthorizations[ra] = &world.ResaleAuthorization{ID: ra, ProductID: p.ProductID, ResellerAccountID: "999988887777", State: "Active"}
			a, err := s.Accept("444455556666", p.PublicOfferID, world.AcceptOptions{Quantities: map[string]int64{"seats": 1}})
			if err != nil {
				return err
			}
			delete(s.Agreements, a.ID)
			a.ID, a.InitialAgreementID = agmt, agmt
			s.Agreements[agmt] = a
			if l := s.Licenses[a.LicenseArn]; l != nil {
				l.AgreementID = agmt
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		srv := catalog.New(w)
		serve := func(method, target, body string) *httptest.ResponseRecorder {
			req, err := http.NewRequest(method, "http://emulator"+target, strings.NewReader(body))
			if err != nil {
				return nil
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", method, target, body, rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			return rec
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		rec := serve(method, path, body)
		if rec == nil {
			return
		}
		w.Tick() // apply what became due
		var listed struct {
			ChangeSetSummaryList []struct{ ChangeSetId string }
		}
		out := serve("POST", "/ListChangeSets", `{"Catalog":"AWSMarketplace"}`)
		if err := json.Unmarshal(out.Body.Bytes(), &listed); err != nil {
			t.Fatalf("ListChangeSets: %v", err)
		}
		for _, cs := range listed.ChangeSetSummaryList {
			serve("GET", "/DescribeChangeSet?catalog=AWSMarketplace&changeSetId="+cs.ChangeSetId, "")
			serve("PATCH", "/CancelChangeSet?catalog=AWSMarketplace&changeSetId="+cs.ChangeSetId, "")
		}
		var ids []string
		w.Do(func(s *world.State) error {
			ids = append(world.SortedKeys(s.Offers), world.SortedKeys(s.ResaleAuthorizations)...)
			return nil
		})
		for _, id := range ids {
			serve("GET", "/DescribeEntity?catalog=AWSMarketplace&entityId="+id, "")
		}
		serve("POST", "/ListEntities", `{"Catalog":"AWSMarketplace","EntityType":"Offer"}`)
		serve("POST", "/ListEntities", `{"Catalog":"AWSMarketplace","EntityType":"ResaleAuthorization"}`)
	})
}
