package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

var (
	formRE     = regexp.MustCompile(`(?s)<form class="offer-form"[^>]*>(.*?)</form>`)
	fieldTagRE = regexp.MustCompile(`(?s)<input\s([^>]*)>|<select\s([^>]*)>(.*?)</select>|<textarea\s([^>]*)>(.*?)</textarea>`)
	attrRE     = regexp.MustCompile(`([a-zA-Z-]+)(?:="([^"]*)")?`)
	optionRE   = regexp.MustCompile(`<option\s([^>]*)>`)
)

func attrsOf(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRE.FindAllStringSubmatch(s, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

// formValues posts the offer form of a page as a browser would, unchanged:
// every named input, checked radios and boxes, the selected option of each
// select, the text of each textarea; no button.
func formValues(t *testing.T, p page) url.Values {
	t.Helper()
	m := formRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no offer form in the page (%d):\n%s", p.status, p.body)
	}
	v := url.Values{}
	for _, f := range fieldTagRE.FindAllStringSubmatch(m[1], -1) {
		switch {
		case f[1] != "":
			a := attrsOf(f[1])
			if a["name"] == "" {
				continue
			}
			if typ := a["type"]; typ == "radio" || typ == "checkbox" {
				if _, ok := a["checked"]; !ok {
					continue
				}
				if _, ok := a["value"]; !ok {
					a["value"] = "on"
				}
			}
			v.Add(a["name"], a["value"])
		case f[2] != "":
			a := attrsOf(f[2])
			value, first := "", true
			for _, o := range optionRE.FindAllStringSubmatch(f[3], -1) {
				oa := attrsOf(o[1])
				if _, sel := oa["selected"]; sel || first {
					value, first = oa["value"], false
				}
			}
			v.Add(a["name"], value)
		default:
			a := attrsOf(f[4])
			v.Add(a["name"], strings.TrimPrefix(html.UnescapeString(f[5]), "\n"))
		}
	}
	return v
}

// formJSON is the part of an offer RevOps fills in, as JSON.
func formJSON(o offer.Offer) string {
	o = offer.Offer{Type: o.Type, BuyerCompany: o.BuyerCompany, ProductID: o.ProductID, Name: o.Name, Pricing: o.Pricing, EULA: o.EULA,
		ResellerAgreement: o.ResellerAgreement, Registration: o.Registration, Metadata: o.Metadata, ExpiresOn: o.ExpiresOn,
		Renewal: o.Renewal, RenewalChannel: o.RenewalChannel, ZeroDollar: o.ZeroDollar, Amends: o.Amends, NotifyUsers: o.NotifyUsers}
	b, _ := json.MarshalIndent(o, "", " ")
	return string(b)
}

// richProduct has registration fields, booking fields and three dimensions.
func (e *env) richProduct() {
	e.t.Helper()
	if _, err := e.svc.Ledger.PutProduct(context.Background(), marketplace.Product{ProductID: "prod-r", Title: "Rich", Type: marketplace.ProductSaaSContract, ConcurrentAgreements: true,
		Dimensions: []marketplace.Dimension{{Key: "seats", Name: "Seats", Kind: "contract"}, {Key: "admins", Kind: "contract"}, {Key: "api_calls", Kind: "usage"}},
		ContractMetadata: []marketplace.MetadataField{{Key: "Salesforce Opportunity", Label: "Salesforce opportunity", Required: true},
			{Key: "PO number"}, {Key: offer.MetaCPPOOpportunityID}},
		Registration: marketplace.Registration{Fields: []marketplace.RegistrationField{{Key: "company", Label: "Company", Type: "text", Required: true}, {Key: "country", Label: "Country", Type: "text"}}}}); err != nil {
		e.t.Fatal(err)
	}
}

// richOffer is a draft that uses every part of the form: 7 installments,
// booking fields the listing knows and one it does not, registration answers,
// a renewal, people to notify and a name in Unicode.
func (e *env) richOffer(typ string) offer.Detail {
	e.t.Helper()
	o := offer.Offer{Type: typ, BuyerCompany: "Société Générale & Co", ProductID: "prod-r", Name: "Renouvellement <PO-77> été",
		Pricing: offer.Pricing{Currency: "EUR", Duration: "P24M", Dimensions: []offer.PricedDimension{
			{Key: "admins", Kind: "contract", Quantity: 2, Price: "50.00"}, {Key: "seats", Kind: "contract", Quantity: 7, Price: "100.00"},
			{Key: "api_calls", Kind: "usage", Price: "0.0015"}}},
		EULA: offer.Legal{Kind: "standard"}, Registration: map[string]string{"company": "Société Générale", "country": "FR"},
		Metadata:  map[string]string{offer.MetaBuyerAccount: "111122223333", "Salesforce Opportunity": "006-XYZ", "PO number": "PO 77", "Internal ref": "deal #9"},
		ExpiresOn: "2026-11-30", Renewal: true, RenewalChannel: offer.RenewalFromOutside, NotifyUsers: []string{"ae@seller.example", "revops@seller.example"}}
	total := 2*50 + 7*100
	for i := range 7 {
		amount := "100.00"
		if i == 0 {
			amount = strconv.Itoa(total-600) + ".00"
		}
		o.Pricing.Schedule = append(o.Pricing.Schedule, offer.Installment{Date: fmt.Sprintf("2027-%02d-01", i+1), Amount: amount})
	}
	if typ == offer.TypePartner {
		o.ResellerAgreement = &offer.Legal{Kind: "standard"}
		o.Metadata[offer.MetaPartnerAccount] = "121212121212"
		o.Metadata[offer.MetaCPPOOpportunityID] = "opp-1"
	}
	d, err := e.svc.Offers.Create(context.Background(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func TestReviewOfferEditRoundTripKeepsTheOffer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		e.richProduct()
		c := e.login("admin@seller.example")
		for _, typ := range []string{offer.TypeDirect, offer.TypePartner} {
			for _, state := range []string{offer.StateDraft, offer.StatePublished} {
				t.Run(typ+" "+state, func(t *testing.T) {
					d := e.richOffer(typ)
					if state != offer.StateDraft {
						if err := db.Write(context.Background(), func(tx *store.Tx) error {
							_, err := tx.Exec(context.Background(), `UPDATE offers SET state = ?, offer_id = ? WHERE id = ?`, state, "offer-"+d.ID[4:20], d.ID)
							return err
						}); err != nil {
							t.Fatal(err)
						}
					}
					before := e.offer(d.ID)
					form := c.get("/console/offers/" + d.ID + "/edit")
					if form.status != http.StatusOK {
						t.Fatalf("edit form: %d\n%s", form.status, form.body)
					}
					v := formValues(t, form)
					p := c.post("/console/offers/"+d.ID+"/edit", v)
					after := created(t, e, p, "edited")
					if formJSON(after.Offer) != formJSON(before.Offer) {
						t.Fatalf("saving the form unchanged changed the offer:\nbefore %s\nafter %s", formJSON(before.Offer), formJSON(after.Offer))
					}
				})
			}
		}
	})
}

// acceptedRich is an agreement of prod-r accepted from a Concord offer with
// registration answers (the richOffer's form, tracked as offer-r1).
func (e *env) acceptedRich(id string) offer.Detail {
	e.t.Helper()
	ctx := context.Background()
	src := e.richOffer(offer.TypeDirect)
	d, err := e.svc.Offers.Associate(ctx, offer.Association{OfferID: "offer-" + id, Form: src.Offer})
	if err != nil {
		e.t.Fatal(err)
	}
	a := richAgreement(id)
	e.ingest(eventbridge.Created(inboxtest.Seller, a, now.AddDate(0, -1, 0)),
		eventbridge.LicenseUpdated(inboxtest.Seller, a, eventbridge.LicenseArn("111122223333", "l-"+id), now.AddDate(0, -1, 0)))
	return e.offer(d.ID)
}

func (e *env) ingest(bodies ...[]byte) {
	e.t.Helper()
	for _, body := range bodies {
		ev, err := marketplace.ParseEventBridge(body)
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.svc.Ledger.Ingest(context.Background(), "test", ev); err != nil {
			e.t.Fatal(err)
		}
	}
}

// richAgreement is the agreement acceptedRich makes.
func richAgreement(id string) eventbridge.Agreement {
	return eventbridge.Agreement{ID: id, Intent: marketplace.IntentNew, AcceptanceTime: now.AddDate(0, -1, 0), StartTime: now.AddDate(0, -1, 0),
		EndTime: now.AddDate(0, 11, 0), AcceptorAccountID: "111122223333", ProposerAccountID: inboxtest.Seller, OfferID: "offer-" + id, ProductID: "prod-r", ProductCode: "code-r"}
}

// A renewal or concurrent offer prefilled from an agreement keeps the
// registration answers of the agreement's offer, which the form does not
// show, when it is saved.
func TestReviewPrefilledOfferKeepsRegistration(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		e.richProduct()
		src := e.acceptedRich("agmt-rich")
		if src.State != offer.StateAccepted || src.Registration["country"] != "FR" {
			t.Fatalf("source %s %+v", src.State, src.Registration)
		}
		c := e.login("admin@seller.example")
		for _, kind := range []string{"renew", "concurrent"} {
			form := c.get("/console/offers/new?" + kind + "=agmt-rich")
			if form.status != http.StatusOK {
				t.Fatalf("%s form: %d\n%s", kind, form.status, form.body)
			}
			v := formValues(t, form)
			// The ledger has no terms of the agreement: the form asks for them.
			v.Set("expires-on", "2026-11-30")
			v.Set("currency", "EUR")
			v.Set("dim-0-qty", "3")
			v.Set("dim-0-price", "10.00")
			got := created(t, e, c.post("/console/offers/new", v), "created")
			if got.Registration["company"] != "Société Générale" || got.Registration["country"] != "FR" || got.Amends != nil {
				t.Fatalf("%s: the new offer lost the registration answers: %s", kind, formJSON(got.Offer))
			}
			if kind == "renew" && (!got.Renewal || got.Pricing.Duration != "P12M") {
				t.Fatalf("renewal %s", formJSON(got.Offer))
			}
		}
	})
}

// An accepted offer offers to amend its agreement only while the agreement
// is in force: once it is cancelled (or replaced, renewed, expired) the
// link led to a 409 page. The page names the agreement's status.
func TestReviewOfferAmendLinkOnlyForAnAgreementInForce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		e.richProduct()
		src := e.acceptedRich("agmt-gone")
		c := e.login("admin@seller.example")
		wantIn(t, c.get("/console/offers/"+src.ID), `id="amend-agreement" href="/console/agreements/agmt-gone/amend"`, `>agmt-gone</a> · Active`)
		e.ingest(eventbridge.Ended(inboxtest.Seller, richAgreement("agmt-gone"), marketplace.StatusCancelled, now.Add(-time.Minute)))
		p := c.get("/console/offers/" + src.ID)
		wantIn(t, p, `>agmt-gone</a> · Cancelled`)
		if strings.Contains(p.body, `id="amend-agreement"`) {
			t.Fatal("the offer of a cancelled agreement offers to amend it")
		}
		if p := c.get("/console/agreements/agmt-gone/amend"); p.status != http.StatusConflict {
			t.Fatalf("amending a cancelled agreement: %d", p.status)
		}
	})
}
