package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/document"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/types"

	"github.com/concordmp/concord/internal/emulator/catalog"
	"github.com/concordmp/concord/internal/emulator/world"
)

const (
	seller = "111122223333"
	buyer  = "444455556666"
	buyer2 = "555566667777"
	// delay is long enough that real time never applies a change set during a test.
	delay = time.Hour
)

var ctx = context.Background()

type env struct {
	t   *testing.T
	w   *world.World
	c   *marketplacecatalog.Client
	url string
	// contract and usage are SaaS products; buyer has bought neither.
	contract, usage *world.Product
}

// newEnv starts a world with a contract and a usage product and a buyer, and a
// Catalog API server mounted under a path prefix of a shared mux.
func newEnv(t *testing.T, opts ...func(*world.Config)) *env {
	t.Helper()
	cfg := world.DefaultConfig()
	cfg.ThrottleRPS = 0
	cfg.ChangeSetDelay = delay
	for _, o := range opts {
		o(&cfg)
	}
	w := world.New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/emulator/catalog/", catalog.New(w))
	mux.HandleFunc("/emulator/other/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	e := &env{t: t, w: w, url: ts.URL + "/emulator/catalog"}
	e.c = marketplacecatalog.New(marketplacecatalog.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.url),
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	e.do(func(s *world.State) error {
		var err error
		if e.contract, err = s.CreateProduct(world.Product{Title: "Acme Contract", Type: world.ProductSaaSContract, Dimensions: []world.Dimension{
			{Key: "seats", Kind: "contract", Price: "10.00"}, {Key: "admins", Kind: "contract", Price: "50.00"}}}); err != nil {
			return err
		}
		if e.usage, err = s.CreateProduct(world.Product{Title: "Acme Usage", Type: world.ProductSaaSUsage, Dimensions: []world.Dimension{
			{Key: "api_calls", Kind: "usage", Price: "0.01"}}}); err != nil {
			return err
		}
		for _, b := range []string{buyer, buyer2} {
			if _, err := s.CreateBuyer(b); err != nil {
				return err
			}
		}
		return nil
	})
	return e
}

func (e *env) do(fn func(s *world.State) error) {
	e.t.Helper()
	if err := e.w.Do(fn); err != nil {
		e.t.Fatalf("world: %v", err)
	}
}

func (e *env) advance(d time.Duration) {
	e.t.Helper()
	if err := e.w.Advance(d); err != nil {
		e.t.Fatal(err)
	}
}

// doc builds a DetailsDocument.
func doc(v map[string]any) document.Interface { return document.NewLazyDocument(v) }

func ch(changeType, entityType, identifier, name string, details map[string]any) types.Change {
	c := types.Change{ChangeType: aws.String(changeType), Entity: &types.Entity{Type: aws.String(entityType)}, DetailsDocument: doc(details)}
	if identifier != "" {
		c.Entity.Identifier = aws.String(identifier)
	}
	if name != "" {
		c.ChangeName = aws.String(name)
	}
	return c
}

func offerCh(changeType, identifier string, details map[string]any) types.Change {
	return ch(changeType, catalog.EntityTypeOffer, identifier, "", details)
}

func raCh(changeType, identifier string, details map[string]any) types.Change {
	return ch(changeType, catalog.EntityTypeResaleAuthorization, identifier, "", details)
}

func (e *env) start(name string, changes ...types.Change) string {
	e.t.Helper()
	out, err := e.c.StartChangeSet(ctx, &marketplacecatalog.StartChangeSetInput{Catalog: aws.String("AWSMarketplace"),
		ChangeSetName: aws.String(name), ChangeSet: changes})
	if err != nil {
		e.t.Fatalf("StartChangeSet %s: %v", name, err)
	}
	return aws.ToString(out.ChangeSetId)
}

func (e *env) describeSet(id string) *marketplacecatalog.DescribeChangeSetOutput {
	e.t.Helper()
	out, err := e.c.DescribeChangeSet(ctx, &marketplacecatalog.DescribeChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSetId: aws.String(id)})
	if err != nil {
		e.t.Fatalf("DescribeChangeSet %s: %v", id, err)
	}
	return out
}

// run starts a change set, lets it apply and returns its description.
func (e *env) run(name string, changes ...types.Change) *marketplacecatalog.DescribeChangeSetOutput {
	e.t.Helper()
	id := e.start(name, changes...)
	e.advance(delay)
	return e.describeSet(id)
}

func (e *env) mustSucceed(out *marketplacecatalog.DescribeChangeSetOutput) {
	e.t.Helper()
	if out.Status != types.ChangeStatusSucceeded {
		var errs []string
		for _, c := range out.ChangeSet {
			for _, d := range c.ErrorDetailList {
				errs = append(errs, aws.ToString(c.ChangeType)+": "+aws.ToString(d.ErrorCode)+" "+aws.ToString(d.ErrorMessage))
			}
		}
		e.t.Fatalf("change set %s is %s (%s): %v", aws.ToString(out.ChangeSetId), out.Status, aws.ToString(out.FailureDescription), errs)
	}
}

// entityID returns the ID a succeeded change created or changed (without revision).
func entityID(out *marketplacecatalog.DescribeChangeSetOutput, i int) string {
	id := aws.ToString(out.ChangeSet[i].Entity.Identifier)
	for j := range len(id) {
		if id[j] == '@' {
			return id[:j]
		}
	}
	return id
}

func (e *env) describeEntity(id string) (*marketplacecatalog.DescribeEntityOutput, map[string]any) {
	e.t.Helper()
	out, err := e.c.DescribeEntity(ctx, &marketplacecatalog.DescribeEntityInput{Catalog: aws.String("AWSMarketplace"), EntityId: aws.String(id)})
	if err != nil {
		e.t.Fatalf("DescribeEntity %s: %v", id, err)
	}
	b, err := out.DetailsDocument.MarshalSmithyDocument()
	if err != nil {
		e.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatal(err)
	}
	return out, m
}

func (e *env) offer(id string) world.Offer {
	e.t.Helper()
	var o world.Offer
	e.do(func(s *world.State) error {
		if p := s.Offers[id]; p != nil {
			o = *p
		}
		return nil
	})
	return o
}

// events returns the emitted EventBridge events of a detail-type, decoded.
func (e *env) events(detailType string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	e.do(func(s *world.State) error {
		for _, ev := range s.Events {
			var m map[string]any
			if err := json.Unmarshal(ev.Body, &m); err != nil {
				return err
			}
			if m["detail-type"] == detailType {
				out = append(out, m)
			}
		}
		return nil
	})
	return out
}

func (e *env) offerCount() int {
	n := 0
	e.do(func(s *world.State) error { n = len(s.Offers); return nil })
	return n
}

// privateOfferChanges is a complete private offer in one change set.
func privateOfferChanges(productID string, buyers []string, name string) []types.Change {
	ref := "$NewOffer.Entity.Identifier"
	accounts := make([]any, len(buyers))
	for i, b := range buyers {
		accounts[i] = b
	}
	return []types.Change{
		ch("CreateOffer", catalog.EntityTypeOffer, "", "NewOffer", map[string]any{"ProductId": productID, "Name": name}),
		offerCh("ReleaseOffer", ref, map[string]any{}),
		offerCh("UpdateTargeting", ref, map[string]any{"PositiveTargeting": map[string]any{"BuyerAccounts": accounts}}),
		// AWS's shape for fixed quantities: a FixedUpfrontPricingTerm whose
		// Grants carry MaxQuantity (aws-samples/aws-marketplace-reference-code
		// java/resources/changeSets/offers/CreatePrivateOfferWithContractPricingWithFlexiblePaymentScheduleForSaas.json).
		offerCh("UpdatePricingTerms", ref, map[string]any{"PricingModel": "Contract", "Terms": []any{map[string]any{
			"Type": "FixedUpfrontPricingTerm", "CurrencyCode": "USD", "Price": "280.00", "Duration": "P12M",
			"Grants": []any{map[string]any{"DimensionKey": "seats", "MaxQuantity": 25}, map[string]any{"DimensionKey": "admins", "MaxQuantity": 2}},
		}}}),
		offerCh("UpdateValidityTerms", ref, map[string]any{"Terms": []any{map[string]any{"Type": "ValidityTerm", "AgreementDuration": "P12M"}}}),
		offerCh("UpdateLegalTerms", ref, map[string]any{"Terms": []any{map[string]any{"Type": "LegalTerm",
			"Documents": []any{map[string]any{"Type": "StandardEula", "Version": "2022-07-14"}}}}}),
		offerCh("UpdateAvailability", ref, map[string]any{"AvailabilityEndDate": "2099-12-31"}),
	}
}

// releasedOffer makes a released private offer for buyer and returns its ID.
func (e *env) releasedOffer(name string) string {
	e.t.Helper()
	out := e.run(name, privateOfferChanges(e.contract.ProductID, []string{buyer}, name)...)
	e.mustSucceed(out)
	return entityID(out, 0)
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// failedCodes lists each change's error codes of a FAILED change set.
func failedCodes(out *marketplacecatalog.DescribeChangeSetOutput) map[int][]string {
	m := map[int][]string{}
	for i, c := range out.ChangeSet {
		for _, d := range c.ErrorDetailList {
			m[i] = append(m[i], aws.ToString(d.ErrorCode))
		}
	}
	return m
}
