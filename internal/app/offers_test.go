package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// offerForm is a valid direct offer form for the product the tests configure.
func offerForm(buyer string) map[string]any {
	return map[string]any{"type": "direct", "buyerCompany": "Initech", "productId": "prod-offers", "name": "Initech 12 months, PO 4711",
		"pricing": map[string]any{"currency": "USD", "duration": "P12M",
			"dimensions": []map[string]any{{"key": "seats", "kind": "contract", "quantity": 10, "price": "120.00"}}},
		"eula": map[string]any{"kind": "standard"}, "metadata": map[string]any{"AWS Account Number": buyer},
		"expiresOn": "2099-12-31", "notifyUsers": []string{"ae@acme.example"}}
}

func offersSetup(t *testing.T, dialect string, cfg ...app.Config) *bundle {
	t.Helper()
	c := app.Config{}
	if len(cfg) > 0 {
		c = cfg[0]
	}
	b := setup(t, dialect, c)
	err := b.app.Emulator.World.Do(func(s *world.State) error {
		_, err := s.CreateProduct(world.Product{ProductID: "prod-offers", ProductCode: "offerscode", ConcurrentAgreements: true, Type: world.ProductSaaSContract,
			Dimensions: []world.Dimension{{Key: "seats", Kind: "contract", Price: "10.00"}}})
		if err != nil {
			return err
		}
		_, err = s.CreateBuyer("123456789012")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"productCode":"offerscode","type":"saas_contract","dimensions":[{"key":"seats","kind":"contract"}]}`
	if code, out := b.do(t, "PUT", "/v1/products/prod-offers", b.key, []byte(body)); code != 200 {
		t.Fatalf("configure product: %d %s", code, out)
	}
	return b
}

// TestOfferDraftsAndAcceptance: RevOps drafts, edits, clones and cancels
// offers; an offer made outside Concord is associated by its offer id and is
// accepted when the buyer's agreement arrives.
func TestOfferDraftsAndAcceptance(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := offersSetup(t, dialect)
			raw, _ := json.Marshal(offerForm("123456789012"))
			code, out := b.do(t, "POST", "/v1/offers", b.key, raw)
			var d offer.Detail
			if json.Unmarshal(out, &d); code != 201 || d.State != offer.StateDraft || len(d.History) != 1 || d.History[0].Step != "created" {
				t.Fatalf("create: %d %s", code, out)
			}
			// A form that breaks the rules is refused with the rule's message.
			bad := offerForm("12345")
			bad["buyerCompany"] = ""
			raw, _ = json.Marshal(bad)
			if code, out := b.do(t, "POST", "/v1/offers", b.key, raw); code != 400 || !strings.Contains(string(out), "company name is required") ||
				!strings.Contains(string(out), "must be 12 digits") {
				t.Fatalf("bad form: %d %s", code, out)
			}
			// Edit the draft in full, then clone it.
			form := offerForm("123456789012")
			form["name"] = "Initech 24 months"
			form["pricing"].(map[string]any)["duration"] = "P24M"
			raw, _ = json.Marshal(form)
			if code, out := b.do(t, "PUT", "/v1/offers/"+d.ID, b.key, raw); code != 200 || !strings.Contains(string(out), `"P24M"`) {
				t.Fatalf("edit draft: %d %s", code, out)
			}
			code, out = b.do(t, "POST", "/v1/offers/"+d.ID+"/clone", b.key, nil)
			var clone offer.Detail
			if json.Unmarshal(out, &clone); code != 201 || clone.ID == d.ID || clone.Pricing.Duration != "P24M" || clone.History[len(clone.History)-1].Step != "cloned" {
				t.Fatalf("clone: %d %s", code, out)
			}
			if code, out := b.do(t, "POST", "/v1/offers/"+clone.ID+"/cancel", b.key, []byte(`{"reason":"duplicate"}`)); code != 200 || !strings.Contains(string(out), `"cancelled"`) {
				t.Fatalf("cancel: %d %s", code, out)
			}
			if code, out := b.do(t, "GET", "/v1/offers?state=draft&q=initech", b.key, nil); code != 200 || !strings.Contains(string(out), d.ID) || strings.Contains(string(out), clone.ID) {
				t.Fatalf("list: %d %s", code, out)
			}

			// An offer made outside Concord, associated by its offer id.
			var offerID string
			b.app.Emulator.World.Do(func(s *world.State) error {
				o, err := s.CreatePrivateOffer(world.Offer{ProductID: "prod-offers", BuyerAccounts: []string{"123456789012"}, Quantities: map[string]int64{"seats": 10}})
				if err == nil {
					offerID = o.OfferID
				}
				return err
			})
			raw, _ = json.Marshal(map[string]any{"form": offerForm("123456789012"), "offerId": offerID})
			code, out = b.do(t, "POST", "/v1/offers/associate", b.key, raw)
			var assoc offer.Detail
			if json.Unmarshal(out, &assoc); code != 201 || assoc.State != offer.StatePublished || assoc.OfferID != offerID {
				t.Fatalf("associate: %d %s", code, out)
			}
			if code, out := b.do(t, "POST", "/v1/offers/associate", b.key, raw); code != 409 {
				t.Fatalf("associating twice: %d %s", code, out)
			}
			// Booking data can change once the offer is out; the pricing cannot.
			form = offerForm("123456789012")
			form["buyerCompany"] = "Initech Inc."
			raw, _ = json.Marshal(form)
			if code, out := b.do(t, "PUT", "/v1/offers/"+assoc.ID, b.key, raw); code != 200 || !strings.Contains(string(out), "Initech Inc.") {
				t.Fatalf("edit booking data: %d %s", code, out)
			}
			form["pricing"].(map[string]any)["duration"] = "P36M"
			raw, _ = json.Marshal(form)
			if code, out := b.do(t, "PUT", "/v1/offers/"+assoc.ID, b.key, raw); code != 409 || !strings.Contains(string(out), "only the buyer's company") {
				t.Fatalf("edit pricing after publishing: %d %s", code, out)
			}
			// The buyer accepts: Purchase Agreement Created carries the offer id.
			var agreementID string
			b.app.Emulator.World.Do(func(s *world.State) error {
				a, err := s.Accept("123456789012", offerID, world.AcceptOptions{})
				if err == nil {
					agreementID = a.ID
				}
				return err
			})
			eventually(t, "the offer to be accepted", func() bool {
				_, out := b.do(t, "GET", "/v1/offers/"+assoc.ID, b.key, nil)
				var got offer.Detail
				json.Unmarshal(out, &got)
				return got.State == offer.StateAccepted && got.AgreementID == agreementID
			})
			if code, out := b.do(t, "POST", "/v1/offers/"+assoc.ID+"/cancel", b.key, nil); code != 409 {
				t.Fatalf("cancel an accepted offer: %d %s", code, out)
			}
			_, out = b.do(t, "GET", "/v1/offers/"+assoc.ID, b.key, nil)
			if !strings.Contains(string(out), fmt.Sprintf(`"step":"accepted","message":"agreement %s"`, agreementID)) {
				t.Fatalf("history: %s", out)
			}
		})
	}
}

var _ = store.SQLite

// getOffer reads an offer over the API.
func getOffer(t *testing.T, b *bundle, id string) offer.Detail {
	t.Helper()
	_, out := b.do(t, "GET", "/v1/offers/"+id, b.key, nil)
	var d offer.Detail
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("offer %s: %s", id, out)
	}
	return d
}

// TestOfferPublishedAndAccepted: a direct offer and a partner offer are
// published through Catalog API change sets against the emulator, and end
// accepted when the buyer (through the partner's CPPO for the partner offer)
// accepts; the partner offer learns the partner's offer id from the agreement.
func TestOfferPublishedAndAccepted(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := offersSetup(t, dialect)
			create := func(form map[string]any) offer.Detail {
				raw, _ := json.Marshal(form)
				code, out := b.do(t, "POST", "/v1/offers", b.key, raw)
				var d offer.Detail
				if json.Unmarshal(out, &d); code != 201 {
					t.Fatalf("create: %d %s", code, out)
				}
				if code, out := b.do(t, "POST", "/v1/offers/"+d.ID+"/submit", b.key, nil); code != 200 || !strings.Contains(string(out), `"submitted"`) {
					t.Fatalf("submit: %d %s", code, out)
				}
				return d
			}
			published := func(id string) offer.Detail {
				var d offer.Detail
				eventually(t, "offer "+id+" to be published", func() bool {
					d = getOffer(t, b, id)
					if d.State == offer.StateFailed {
						t.Fatalf("offer failed: %s", d.Failure)
					}
					return d.State == offer.StatePublished
				})
				return d
			}

			form := offerForm("123456789012")
			form["registration"] = map[string]string{"contactName": "Peter Gibbons", "email": "peter@initech.example"}
			direct := published(create(form).ID)
			if direct.OfferID == "" || direct.ChangeSetID == "" {
				t.Fatalf("published direct offer: %+v", direct)
			}
			// Its registration details are stored under the AWS offer id, for
			// the buyer's auto-registration.
			code, out := b.do(t, "GET", "/v1/offers/"+direct.OfferID+"/registration-details", b.key, nil)
			if code != 200 || !strings.Contains(string(out), `"company":"Initech"`) || !strings.Contains(string(out), `"email":"peter@initech.example"`) {
				t.Fatalf("registration details of the published offer: %d %s", code, out)
			}
			var agreementID string
			err := b.app.Emulator.World.Do(func(s *world.State) error {
				o := s.Offers[direct.OfferID]
				if o == nil || !o.Private || len(o.BuyerAccounts) != 1 || o.BuyerAccounts[0] != "123456789012" || o.Quantities["seats"] != 10 {
					return fmt.Errorf("the emulator holds %+v", o)
				}
				a, err := s.Accept("123456789012", direct.OfferID, world.AcceptOptions{})
				if err == nil {
					agreementID = a.ID
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "the direct offer to be accepted", func() bool {
				d := getOffer(t, b, direct.ID)
				return d.State == offer.StateAccepted && d.AgreementID == agreementID
			})
			// The agreement's terms are the offer's: a fixed upfront term of the
			// whole contract (10 × 120.00), granting the 10 seats; not the
			// product's list price.
			eventually(t, "the agreement's terms", func() bool {
				_, out := b.do(t, "GET", "/v1/agreements/"+agreementID, b.key, nil)
				return strings.Contains(string(out), `"term":"FixedUpfrontPricingTerm","dimension":"seats","price":"1200.00","quantity":10`)
			})

			// A partner offer: a resale authorization the partner turns into a CPPO.
			form = offerForm("123456789012")
			form["type"] = "partner"
			form["resellerAgreement"] = map[string]any{"kind": "standard"}
			form["metadata"] = map[string]any{"AWS Account Number": "123456789012", "Partner AWS Account Number": "999988887777",
				"CPPO Opportunity ID": "O-1234"}
			partner := published(create(form).ID)
			if partner.ResaleAuthorizationID == "" || partner.OfferID != "" {
				t.Fatalf("published partner offer: %+v", partner)
			}
			if code, out := b.do(t, "POST", "/v1/offers/"+partner.ID+"/submit", b.key, nil); code != 409 {
				t.Fatalf("submitting twice: %d %s", code, out)
			}
			var partnerOfferID string
			err = b.app.Emulator.World.Do(func(s *world.State) error {
				ra := s.ResaleAuthorizations[partner.ResaleAuthorizationID]
				if ra == nil || ra.ResellerAccountID != "999988887777" {
					return fmt.Errorf("the emulator holds resale authorization %+v", ra)
				}
				o, err := s.CreatePartnerOffer(ra.ID, world.Offer{BuyerAccounts: []string{"123456789012"}, Quantities: map[string]int64{"seats": 10}})
				if err != nil {
					return err
				}
				partnerOfferID = o.OfferID
				_, err = s.Accept("123456789012", o.OfferID, world.AcceptOptions{})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "the partner offer to be accepted", func() bool {
				d := getOffer(t, b, partner.ID)
				return d.State == offer.StateAccepted && d.OfferID == partnerOfferID
			})
			// The partner's offer id came with its Offer Released event, before
			// the agreement.
			d := getOffer(t, b, partner.ID)
			if h := fmt.Sprint(d.History); !strings.Contains(h, "extended partner offer extended offer "+partnerOfferID+" (from the Offer Released event)") ||
				!strings.Contains(h, "accepted accepted agreement") {
				t.Fatalf("partner history: %+v", d.History)
			}
			// An accepted partner offer cannot be cancelled.
			if code, _ := b.do(t, "POST", "/v1/offers/"+partner.ID+"/cancel", b.key, nil); code != 409 {
				t.Fatalf("cancel accepted partner offer: %d", code)
			}
		})
	}
}

// TestOfferListingMetadata: a product's contract metadata fields, set with
// PUT /v1/products, are enforced on its offers; CPPO tracking makes partner
// offers name their opportunity.
func TestOfferListingMetadata(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := offersSetup(t, dialect)
			body := `{"productCode":"offerscode","type":"saas_contract","dimensions":[{"key":"seats","kind":"contract"}],
				"contractMetadata":[{"key":"Salesforce Opportunity","label":"SFDC","required":true},{"key":"CPPO Opportunity ID"}]}`
			if code, out := b.do(t, "PUT", "/v1/products/prod-offers", b.key, []byte(body)); code != 200 || !strings.Contains(string(out), `"key":"CPPO Opportunity ID"`) {
				t.Fatalf("configure listing: %d %s", code, out)
			}
			form := offerForm("123456789012")
			form["type"] = "partner"
			form["resellerAgreement"] = map[string]any{"kind": "standard"}
			form["metadata"] = map[string]any{"AWS Account Number": "123456789012", "Partner AWS Account Number": "999988887777"}
			raw, _ := json.Marshal(form)
			code, out := b.do(t, "POST", "/v1/offers", b.key, raw)
			if code != 400 || !strings.Contains(string(out), "SFDC (Salesforce Opportunity) is a required contract metadata field") ||
				!strings.Contains(string(out), "tracks CPPO opportunities") {
				t.Fatalf("partner offer without the listing's fields: %d %s", code, out)
			}
			form["metadata"] = map[string]any{"AWS Account Number": "123456789012", "Partner AWS Account Number": "999988887777",
				"Salesforce Opportunity": "006A", "CPPO Opportunity ID": "O-77"}
			raw, _ = json.Marshal(form)
			if code, out := b.do(t, "POST", "/v1/offers", b.key, raw); code != 201 {
				t.Fatalf("partner offer with them: %d %s", code, out)
			}
			// A misspelt CPPO field is refused and changes nothing.
			bad := `{"productCode":"offerscode","dimensions":[{"key":"seats","kind":"contract"}],"contractMetadata":[{"key":"cppo opportunity id"}]}`
			if code, out := b.do(t, "PUT", "/v1/products/prod-offers", b.key, []byte(bad)); code != 400 || !strings.Contains(string(out), "case-sensitive") {
				t.Fatalf("misspelt CPPO field: %d %s", code, out)
			}
			if _, out := b.do(t, "GET", "/v1/products/prod-offers", b.key, nil); !strings.Contains(string(out), "Salesforce Opportunity") {
				t.Fatalf("refused change altered the listing: %s", out)
			}
		})
	}
}
