package catalog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/types"

	"github.com/concordmp/concord/internal/emulator/world"
)

// sample is a change set modelled on one of AWS's sample change sets
// (testdata/aws-samples; Source names the sample's path), with our own
// values and {{name}} placeholders for the entities of the test world.
type sample struct {
	Source string `json:"Source"`
	// Draft samples are applied but not released (a public offer cannot be
	// released next to the product's existing public offer).
	Draft     bool             `json:"Draft"`
	ChangeSet []map[string]any `json:"ChangeSet"`
}

func loadSample(t *testing.T, name string, vars map[string]string) sample {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "aws-samples", name))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for k, v := range vars {
		text = strings.ReplaceAll(text, "{{"+k+"}}", v)
	}
	if i := strings.Index(text, "{{"); i >= 0 {
		t.Fatalf("%s: unresolved placeholder at %q", name, text[i:min(i+20, len(text))])
	}
	var s sample
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !strings.HasPrefix(s.Source, "aws-samples/aws-marketplace-reference-code ") {
		t.Fatalf("%s: Source %q does not name the AWS sample", name, s.Source)
	}
	return s
}

// changes turns a sample's JSON changes into SDK changes.
func changes(set []map[string]any) []types.Change {
	out := make([]types.Change, len(set))
	for i, c := range set {
		ent := c["Entity"].(map[string]any)
		id, _ := ent["Identifier"].(string)
		name, _ := c["ChangeName"].(string)
		out[i] = ch(c["ChangeType"].(string), ent["Type"].(string), id, name, c["DetailsDocument"].(map[string]any))
	}
	return out
}

// clone deep-copies a decoded JSON value.
func clone[T any](v T) T {
	b, _ := json.Marshal(v)
	var out T
	_ = json.Unmarshal(b, &out)
	return out
}

// patterned are members whose values AWS's shapes constrain by pattern.
var patterned = map[string]bool{"Price": true, "ChargeAmount": true, "ChargeDate": true, "AvailabilityEndDate": true,
	"AgreementDuration": true, "AgreementEndDate": true, "Duration": true, "BuyerAccounts": true, "ResellerAccountId": true,
	"Url": true, "Value": true, "MaximumAgreementStartDate": true}

// mutateLeaf replaces the first string leaf (in sorted member order) whose
// member name pick accepts, or the first number leaf when pick accepts
// "#number", and reports whether it found one.
func mutateLeaf(v any, key string, pick func(key string) bool, to any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if nv, ok := mutateLeaf(x[k], k, pick, to); ok {
				x[k] = nv
				return x, true
			}
		}
	case []any:
		for i := range x {
			if nv, ok := mutateLeaf(x[i], key, pick, to); ok {
				x[i] = nv
				return x, true
			}
		}
	case string:
		if pick(key) {
			return to, true
		}
	case float64:
		if pick("#number") {
			return to, true
		}
	}
	return v, false
}

func (e *env) mustRefuse(name string, set []map[string]any) {
	e.t.Helper()
	_, err := e.c.StartChangeSet(ctx, &marketplacecatalog.StartChangeSetInput{Catalog: aws.String("AWSMarketplace"),
		ChangeSetName: aws.String("mutated"), ChangeSet: changes(set)})
	var ve *types.ValidationException
	if !errors.As(err, &ve) || httpStatus(err) != http.StatusUnprocessableEntity {
		e.t.Fatalf("%s: StartChangeSet = %v, want a 422 ValidationException", name, err)
	}
}

// TestAWSSampleChangeSets runs a change set modelled on each AWS sample for
// SaaS offers, channel partner offers and resale authorizations: it is
// accepted and applies, and copies with a member AWS's shape lacks (at the
// top of a change's details and inside a term), a JSON value of the wrong
// type, or a value outside its pattern are refused synchronously with 422.
func TestAWSSampleChangeSets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const reseller = "999988887777"
	var consumption *world.Product
	var agreementID string
	e.do(func(s *world.State) error {
		var err error
		consumption, err = s.CreateProduct(world.Product{Title: "Acme Hybrid", Type: world.ProductSaaSContractConsumption,
			Dimensions: []world.Dimension{{Key: "seats", Kind: "contract", Price: "10.00"}, {Key: "api_calls", Kind: "usage", Price: "0.01"}}})
		if err != nil {
			return err
		}
		a, err := s.Accept(buyer, e.contract.PublicOfferID, world.AcceptOptions{Quantities: map[string]int64{"seats": 5}})
		if err != nil {
			return err
		}
		agreementID = a.ID
		return nil
	})
	draft := e.run("draft", ch("CreateOffer", "Offer@1.0", "", "", map[string]any{"ProductId": e.contract.ProductID}))
	e.mustSucceed(draft)
	vars := map[string]string{"contract": e.contract.ProductID, "usage": e.usage.ProductID, "consumption": consumption.ProductID,
		"buyer": buyer, "buyer2": buyer2, "reseller": reseller, "agreement": agreementID, "released": e.releasedOffer("released"),
		"expiring": e.releasedOffer("expiring"), "draft": entityID(draft, 0), "usagePublic": e.usage.PublicOfferID,
		"consumptionPublic": consumption.PublicOfferID}
	// The samples that make an entity later samples change name it here.
	made := map[string]string{"ra-multiuse-reseller-contract.json": "ra", "cppo-markup.json": "cppo", "ra-draft.json": "draftRA",
		"ra-onetime-private-offer.json": "onetimeRA"}

	// The resale authorizations first: the channel partner offers use one.
	names := []string{"ra-multiuse-reseller-contract.json", "ra-multiuse-specific-buyer.json", "ra-onetime-flexible-payment.json",
		"ra-onetime-private-offer.json", "ra-draft.json", "ra-update-unpublished.json", "ra-restrict.json", "ra-multiuse-no-expiry.json",
		"ra-onetime-specific-buyer.json",
		"offer-flexible-payment-schedule.json", "offer-contract-with-payg.json", "offer-subscription.json", "offer-tiered-contract.json",
		"offer-public-free-trial.json", "offer-replacement-contract.json", "offer-draft-private.json", "offer-update-eula.json",
		"offer-update-refund-policy.json", "offer-update-name-description.json", "offer-update-expiration-date.json",
		"offer-expire-private.json", "offer-update-targeting-countries.json", "offer-update-free-trial-duration.json",
		"offer-update-contract-payg.json", "cppo-markup.json", "cppo-update-expiry-date.json", "cppo-replacement-contract.json", "cppo-eula.json"}
	files, _ := filepath.Glob(filepath.Join("testdata", "aws-samples", "*.json"))
	if len(files) != len(names) {
		t.Fatalf("testdata has %d samples, the test runs %d", len(files), len(names))
	}
	for _, name := range names {
		s := loadSample(t, name, vars)
		t.Run(name+" applies", func(t *testing.T) {
			out := e.run(name, changes(s.ChangeSet)...)
			e.mustSucceed(out)
			if v := made[name]; v != "" {
				vars[v] = entityID(out, 0)
			}
			if name == "ra-multiuse-reseller-contract.json" {
				// An agreement the partner sold from it, for the partner's replacement offer.
				e.do(func(s *world.State) error {
					o, err := s.CreatePartnerOffer(vars["ra"], world.Offer{BuyerAccounts: []string{buyer2}, Quantities: map[string]int64{"seats": 4}})
					if err != nil {
						return err
					}
					a, err := s.Accept(buyer2, o.OfferID, world.AcceptOptions{})
					if err == nil {
						vars["partnerAgreement"] = a.ID
					}
					return err
				})
			}
			if s.Draft {
				if o := e.offer(entityID(out, 0)); o.State != "Draft" {
					t.Fatalf("offer state %s", o.State)
				}
			}
		})
		for i := range s.ChangeSet {
			ct := fmt.Sprintf("%s change %d (%s)", name, i, s.ChangeSet[i]["ChangeType"])
			t.Run(ct+" with an unknown member is refused", func(t *testing.T) {
				set := clone(s.ChangeSet)
				set[i]["DetailsDocument"].(map[string]any)["Comment"] = "not in AWS's shape"
				e.mustRefuse(ct, set)
			})
			d := s.ChangeSet[i]["DetailsDocument"].(map[string]any)
			if terms, ok := d["Terms"].([]any); ok && len(terms) > 0 {
				t.Run(ct+" with an unknown member in a term is refused", func(t *testing.T) {
					set := clone(s.ChangeSet)
					set[i]["DetailsDocument"].(map[string]any)["Terms"].([]any)[0].(map[string]any)["Comment"] = "not in AWS's shape"
					e.mustRefuse(ct, set)
				})
			}
			// A JSON string where the shape declares an integer
			// (MaxQuantity, OffersMaxQuantity: the python models' StrictInt).
			if _, ok := mutateLeaf(clone(d), "", func(k string) bool { return k == "#number" }, "1"); ok {
				t.Run(ct+" with a string for a number is refused", func(t *testing.T) {
					set := clone(s.ChangeSet)
					mutateLeaf(set[i]["DetailsDocument"], "", func(k string) bool { return k == "#number" }, "1")
					e.mustRefuse(ct, set)
				})
			}
			if _, ok := mutateLeaf(clone(d), "", func(k string) bool { return k != "#number" }, 42); ok {
				t.Run(ct+" with a number for a string is refused", func(t *testing.T) {
					set := clone(s.ChangeSet)
					mutateLeaf(set[i]["DetailsDocument"], "", func(k string) bool { return k != "#number" }, 42)
					e.mustRefuse(ct, set)
				})
			}
			if _, ok := mutateLeaf(clone(d), "", func(k string) bool { return patterned[k] }, "12/31/99"); ok {
				t.Run(ct+" with a value outside its pattern is refused", func(t *testing.T) {
					set := clone(s.ChangeSet)
					mutateLeaf(set[i]["DetailsDocument"], "", func(k string) bool { return patterned[k] }, "12/31/99")
					e.mustRefuse(ct, set)
				})
			}
		}
	}
}

// TestOfferPricingTermConfigurationRefused: AWS's Offer pricing term shapes
// have no Configuration member (awslabs/aws-marketplace-catalog-api-shapes-for-java
// .../offer_1_0/Term.java), so a term that carries one, as Concord's change
// sets once did, is refused and creates nothing.
func TestOfferPricingTermConfigurationRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustRefuseNaming("Terms[0].Configuration",
		ch("CreateOffer", "Offer@1.0", "", "NewOffer", map[string]any{"ProductId": e.contract.ProductID}),
		offerCh("UpdatePricingTerms", "$NewOffer.Entity.Identifier", map[string]any{"PricingModel": "Contract", "Terms": []any{map[string]any{
			"Type": "ConfigurableUpfrontPricingTerm", "CurrencyCode": "USD",
			"RateCards": []any{map[string]any{"Selector": map[string]any{"Type": "Duration", "Value": "P12M"},
				"RateCard": []any{map[string]any{"DimensionKey": "seats", "Price": "8.00"}}}},
			"Configuration": map[string]any{"SelectorValue": "P12M", "QuantityConfiguration": "Allowed",
				"Dimensions": []any{map[string]any{"DimensionKey": "seats", "DimensionValue": 25}}},
		}}}))
}

// mustRefuseNaming starts a change set that AWS's shapes refuse: 422, the
// message names field, and no offer is made.
func (e *env) mustRefuseNaming(field string, changes ...types.Change) {
	e.t.Helper()
	before := e.offerCount()
	_, err := e.c.StartChangeSet(ctx, &marketplacecatalog.StartChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSet: changes})
	var ve *types.ValidationException
	if !errors.As(err, &ve) || httpStatus(err) != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), field) {
		e.t.Fatalf("StartChangeSet = %v, want 422 naming %s", err, field)
	}
	if n := e.offerCount(); n != before {
		e.t.Fatalf("%d offers after a refused change set, want %d", n, before)
	}
}

// TestRenewalTermHasOnlyType: a Catalog RenewalTerm has one member, Type
// (awslabs/aws-marketplace-catalog-api-shapes-for-java .../offer_1_0/RenewalTerm.java),
// so UpdateRenewalTerms turns auto-renewal on with {"Type": "RenewalTerm"}
// and refuses the Agreement API's Configuration{EnableAutoRenew}.
func TestRenewalTermHasOnlyType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustRefuseNaming("Terms[0].Configuration",
		ch("CreateOffer", "Offer@1.0", "", "O", map[string]any{"ProductId": e.contract.ProductID}),
		offerCh("UpdateRenewalTerms", "$O.Entity.Identifier", map[string]any{"Terms": []any{map[string]any{"Type": "RenewalTerm",
			"Configuration": map[string]any{"EnableAutoRenew": true}}}}))
	id := e.releasedOffer("renewing")
	if e.offer(id).AutoRenew {
		t.Fatal("the offer renews before UpdateRenewalTerms")
	}
	e.mustSucceed(e.run("renew", offerCh("UpdateRenewalTerms", id, map[string]any{"Terms": []any{map[string]any{"Type": "RenewalTerm"}}})))
	if !e.offer(id).AutoRenew {
		t.Fatal("UpdateRenewalTerms with a RenewalTerm did not turn auto-renewal on")
	}
	if _, d := e.describeEntity(id); !strings.Contains(fmt.Sprint(d["Terms"]), "Type:RenewalTerm") {
		t.Fatalf("terms %v", d["Terms"])
	}
}
