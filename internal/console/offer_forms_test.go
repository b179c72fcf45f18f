package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// offerProduct is a listing with booking fields: a required Salesforce
// opportunity and CPPO tracking.
func (e *env) offerProduct() {
	e.t.Helper()
	if _, err := e.svc.Ledger.PutProduct(context.Background(), marketplace.Product{ProductID: "prod-m", Title: "Metrics", Type: marketplace.ProductSaaSContract,
		Dimensions:       []marketplace.Dimension{{Key: "seats", Name: "Seats", Kind: "contract"}, {Key: "api_calls", Kind: "usage"}},
		ContractMetadata: []marketplace.MetadataField{{Key: "Salesforce Opportunity", Label: "Salesforce opportunity", Required: true}, {Key: offer.MetaCPPOOpportunityID}}}); err != nil {
		e.t.Fatal(err)
	}
}

// offerForm is a valid direct offer of prod-m, as the form posts it.
func offerForm(token string) url.Values {
	v := url.Values{"csrf": {token}, "type": {"direct"}, "buyer-company": {"Initech"}, "product": {"prod-m"}, "rows-product": {"prod-m"},
		"name": {"Initech PO-7"}, "buyer-account": {"111122223333"}, "partner-account": {""}, "cppo-opportunity": {""},
		"meta-key": {"Salesforce Opportunity"}, "meta-value": {"006-XYZ"},
		"currency": {"usd"}, "duration": {"p12m"}, "end-date": {""},
		"dim-0-key": {"seats"}, "dim-0-kind": {"contract"}, "dim-0-qty": {"5"}, "dim-0-price": {"100.00"},
		"dim-1-key": {"api_calls"}, "dim-1-kind": {"usage"}, "dim-1-price": {"0.01"},
		"sched-0-date": {"2026-12-01"}, "sched-0-amount": {"300.00"}, "sched-1-date": {"2027-06-01"}, "sched-1-amount": {"200.00"},
		"eula": {"standard"}, "expires-on": {"2026-11-30"}, "renewal-channel": {""},
		"notify-users": {"ae@seller.example,\nrevops@seller.example"}}
	for i := 2; i < 6; i++ {
		v.Set("sched-"+string(rune('0'+i))+"-date", "")
		v.Set("sched-"+string(rune('0'+i))+"-amount", "")
	}
	return v
}

// created is the offer a form post created, from its redirect.
func created(t *testing.T, e *env, p page, done string) offer.Detail {
	t.Helper()
	loc := p.header.Get("Location")
	id, ok := strings.CutPrefix(loc, "/console/offers/")
	if p.status != http.StatusSeeOther || !ok || !strings.HasSuffix(id, "?done="+done) {
		t.Fatalf("want a redirect to the offer with done=%s: %d %q\n%s", done, p.status, loc, p.body)
	}
	d, err := e.svc.Offers.Get(context.Background(), strings.TrimSuffix(id, "?done="+done))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *env) offer(id string) offer.Detail {
	e.t.Helper()
	d, err := e.svc.Offers.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func steps(d offer.Detail) string {
	var s []string
	for _, h := range d.History {
		s = append(s, h.Step+": "+h.Message)
	}
	return strings.Join(s, "\n")
}

func TestOfferFormCreatesAnOffer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		e.data()
		e.offerProduct()
		c := e.login("admin@seller.example")

		list := c.get("/console/offers")
		wantIn(t, list, `id="new-offer" href="/console/offers/new"`)
		form := c.get("/console/offers/new")
		if form.status != http.StatusOK {
			t.Fatalf("new offer form: %d", form.status)
		}
		wantHeaders(t, form)
		wantIn(t, form, "<h1>New private offer</h1>", `<label for="buyer-company">Buyer company</label>`, `<label for="type-partner">`,
			`name="refresh"`, "Update the form for this product", `<label for="dim-0-qty">Quantity</label>`, `<label for="sched-5-amount">Amount</label>`,
			"upload its files on the offer's page", `<label for="expires-on">`, `<label for="notify-users">`, `id="check-offer"`)

		// Choosing another product and pressing the update button draws its
		// dimensions and contract fields.
		v := offerForm(csrfOf(t, form))
		v.Set("rows-product", "prod-o")
		v.Set("refresh", "1")
		p := c.post("/console/offers/new", v)
		if p.status != http.StatusOK {
			t.Fatalf("refresh: %d\n%s", p.status, p.body)
		}
		wantIn(t, p, "The form now shows the dimensions and contract fields of product prod-m.", `<label for="meta-0">Salesforce opportunity</label>`,
			"Seats (seats)", `value="Initech"`)

		n := storetest.Count(t, db, "offers")
		p = c.post("/console/offers/new", offerForm(csrfOf(t, form)))
		d := created(t, e, p, "created")
		if n2 := storetest.Count(t, db, "offers"); n2 != n+1 {
			t.Fatalf("%d offers, want %d", n2, n+1)
		}
		want := offer.Pricing{Currency: "USD", Duration: "P12M",
			Dimensions: []offer.PricedDimension{{Key: "seats", Kind: "contract", Quantity: 5, Price: "100.00"}, {Key: "api_calls", Kind: "usage", Price: "0.01"}},
			Schedule:   []offer.Installment{{Date: "2026-12-01", Amount: "300.00"}, {Date: "2027-06-01", Amount: "200.00"}}}
		if d.State != offer.StateDraft || d.Type != offer.TypeDirect || d.BuyerCompany != "Initech" || d.Name != "Initech PO-7" || d.ProductID != "prod-m" ||
			d.ExpiresOn != "2026-11-30" || d.EULA.Kind != "standard" || d.ResellerAgreement != nil || d.Renewal ||
			strings.Join(d.NotifyUsers, " ") != "ae@seller.example revops@seller.example" {
			t.Fatalf("saved %+v", d.Offer)
		}
		if got, w := d.Pricing, want; got.Currency != w.Currency || got.Duration != w.Duration || len(got.Dimensions) != 2 || got.Dimensions[0] != w.Dimensions[0] ||
			got.Dimensions[1] != w.Dimensions[1] || len(got.Schedule) != 2 || got.Schedule[0] != w.Schedule[0] || got.Schedule[1] != w.Schedule[1] {
			t.Fatalf("pricing %+v", got)
		}
		if len(d.Metadata) != 2 || d.Metadata[offer.MetaBuyerAccount] != "111122223333" || d.Metadata["Salesforce Opportunity"] != "006-XYZ" {
			t.Fatalf("metadata %v", d.Metadata)
		}

		page := c.get("/console/offers/" + d.ID + "?done=created")
		wantIn(t, page, `role="status"`, "The offer is saved as a draft.", "<h1>Initech PO-7</h1>", `id="submit-offer"`, `id="edit-offer"`,
			`id="clone-offer"`, `id="cancel-offer"`, `<label for="cancel-reason">Reason</label>`, "006-XYZ", "2027-06-01")
		if strings.Contains(page.body, `id="send-instructions"`) {
			t.Fatal("a draft offers to send purchase instructions")
		}
		if p := c.get("/console/offers/" + d.ID + "?done=<b>hi</b>"); strings.Contains(p.body, "hi</b>") || strings.Contains(p.body, `role="status"`) {
			t.Fatal("the page echoes an unknown done parameter")
		}

		// A partner offer: the partner's account and, since prod-m tracks
		// CPPO opportunities, the opportunity id are required.
		v = offerForm(csrfOf(t, page))
		v.Set("type", "partner")
		p = c.post("/console/offers/new", v)
		if p.status != http.StatusBadRequest {
			t.Fatalf("partner offer without a partner: %d", p.status)
		}
		wantIn(t, p, `<a href="#partner-account">A partner offer needs the partner&#39;s AWS account number.</a>`, `id="partner-account-error"`,
			`aria-invalid="true" aria-describedby="partner-account-hint partner-account-error"`, `id="cppo-opportunity-error"`, "tracks CPPO opportunities")
		v.Set("partner-account", "999988887777")
		v.Set("cppo-opportunity", "opp-42")
		pd := created(t, e, c.post("/console/offers/new", v), "created")
		if pd.Type != offer.TypePartner || pd.Metadata[offer.MetaPartnerAccount] != "999988887777" || pd.Metadata[offer.MetaCPPOOpportunityID] != "opp-42" ||
			pd.ResellerAgreement == nil || pd.ResellerAgreement.Kind != "standard" {
			t.Fatalf("partner offer %+v", pd.Offer)
		}
	})
}

func TestOfferFormRefusesProblemsAndSavesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		e.data()
		e.offerProduct()
		c := e.login("admin@seller.example")
		token := csrfOf(t, c.get("/console/offers/new"))
		n := storetest.Count(t, db, "offers")

		v := offerForm(token)
		v.Set("buyer-company", " ")
		v.Set("buyer-account", "4444")
		v.Set("dim-0-qty", "five")
		v.Set("dim-1-price", "cheap")
		v.Set("expires-on", "2020-01-01")
		v.Set("meta-value", "")
		v.Set("notify-users", "not-an-email")
		p := c.post("/console/offers/new", v)
		if p.status != http.StatusBadRequest {
			t.Fatalf("bad form: %d\n%s", p.status, p.body)
		}
		wantIn(t, p, `role="alert"`,
			`<a href="#buyer-company">The buyer&#39;s company name is required.</a>`, `id="buyer-company-error"`,
			`id="buyer-account-error">The buyer&#39;s AWS account number must be 12 digits, not &#34;4444&#34;.</p>`,
			`id="dim-0-qty-error">Enter the quantity of seats as a whole number, such as 10.</p>`,
			`id="dim-1-price-error">The price &#34;cheap&#34; of &#34;api_calls&#34; is not an amount such as 0.0125 (at most 100000000, 8 decimals).</p>`,
			`id="expires-on-error">The expiration date 2020-01-01 has passed (AWS uses UTC).</p>`,
			`id="meta-0-error">Salesforce opportunity (Salesforce Opportunity) is a required contract metadata field of product prod-m.</p>`,
			`id="notify-users-error">`, `aria-invalid="true" aria-describedby="dim-0-qty-error"`,
			`value="five"`, `value="cheap"`) // what was typed stays
		if got := storetest.Count(t, db, "offers"); got != n {
			t.Fatalf("%d offers after a refused form, want %d", got, n)
		}

		// The check button shows the problems, or says there are none,
		// and saves nothing either way.
		v = offerForm(token)
		v.Set("check", "1")
		v.Set("name", "Call +1 (555) 123-4567")
		p = c.post("/console/offers/new", v)
		if p.status != http.StatusOK {
			t.Fatalf("check: %d\n%s", p.status, p.body)
		}
		wantIn(t, p, "No problems found, but read the warnings.", "<h2 id=\"warnings-title\">Warnings</h2>", "looks like it holds personal data")
		v.Set("currency", "dollars")
		v.Set("sched-1-amount", "250.00")
		p = c.post("/console/offers/new", v)
		if p.status != http.StatusUnprocessableEntity {
			t.Fatalf("check with problems: %d", p.status)
		}
		// The schedule as a whole is linked to its first row.
		wantIn(t, p, `id="currency-error"`, `id="sched-0-date-error">The installments add up to 550.00 but the contract dimensions cost 500.00.</p>`)
		// A product changed without pressing the update button.
		v = offerForm(token)
		v.Set("product", "prod-o")
		if p := c.post("/console/offers/new", v); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, `<a href="#product">You chose another product`) {
			t.Fatalf("product changed: %d", p.status)
		}
		v = offerForm(token)
		v.Set("name", "PO\x00-7")
		if p := c.post("/console/offers/new", v); p.status != http.StatusBadRequest || !strings.Contains(p.body, "cannot be stored") {
			t.Fatalf("a NUL character: %d", p.status)
		}
		if got := storetest.Count(t, db, "offers"); got != n {
			t.Fatalf("%d offers after checks, want %d", got, n)
		}
	})
}

func TestOfferEditCloneCancelSubmit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		d := e.data().offer
		c := e.login("admin@seller.example")

		t.Run("edit", func(t *testing.T) {
			form := c.get("/console/offers/" + d.ID + "/edit")
			wantIn(t, form, "<h1>Edit: Acme Corp expansion PO-4471</h1>", `value="Acme Corp"`, `value="444455556666"`, `value="1200.00"`, `value="10"`,
				`value="P12M"`, `value="2026-12-01"`, "Save changes")
			v := url.Values{"csrf": {csrfOf(t, form)}, "type": {"direct"}, "buyer-company": {"Acme Corporation"}, "product": {"prod-o"}, "rows-product": {"prod-o"},
				"name": {"Acme Corp expansion PO-4471"}, "buyer-account": {buyerAccount}, "currency": {"USD"}, "duration": {"P12M"},
				"dim-0-key": {"seats"}, "dim-0-kind": {"contract"}, "dim-0-qty": {"25"}, "dim-0-price": {"1100.00"},
				"dim-1-key": {"api_calls"}, "dim-1-kind": {"usage"}, "dim-1-price": {"0.002"},
				"sched-0-date": {""}, "sched-0-amount": {""}, "eula": {"standard"}, "expires-on": {"2026-12-01"}}
			got := created(t, e, c.post("/console/offers/"+d.ID+"/edit", v), "edited")
			if got.ID != d.ID || got.BuyerCompany != "Acme Corporation" || got.Pricing.Dimensions[0].Quantity != 25 || got.Pricing.Dimensions[0].Price != "1100.00" ||
				!strings.Contains(steps(got), "edited") {
				t.Fatalf("edited %+v\n%s", got.Offer, steps(got))
			}
			v.Set("dim-0-price", "-3")
			if p := c.post("/console/offers/"+d.ID+"/edit", v); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="dim-0-price-error"`) {
				t.Fatalf("bad edit: %d", p.status)
			}
			if e.offer(d.ID).Pricing.Dimensions[0].Price != "1100.00" {
				t.Fatal("a refused edit changed the offer")
			}
		})

		var clone offer.Detail
		t.Run("clone", func(t *testing.T) {
			n := storetest.Count(t, db, "offers")
			page := c.get("/console/offers/" + d.ID)
			wantIn(t, page, `href="/console/offers/new?clone=`+d.ID+`"`)
			form := c.get("/console/offers/new?clone=" + d.ID)
			wantIn(t, form, "<h1>Clone: Acme Corp expansion PO-4471</h1>", "prefilled from offer "+d.ID, "Nothing is saved until you save it",
				`value="Acme Corporation"`, `value="25"`, `name="clone-of" value="`+d.ID+`"`, `id="cancel-clone" href="/console/offers/`+d.ID+`"`)
			if got := storetest.Count(t, db, "offers"); got != n {
				t.Fatalf("opening the clone form stored %d offers", got-n)
			}
			// Leaving the form (Cancel goes back to the source) stores nothing.
			c.get("/console/offers/" + d.ID)
			if got := storetest.Count(t, db, "offers"); got != n {
				t.Fatalf("cancelling the clone stored %d offers", got-n)
			}
			if p := c.get("/console/offers/new?clone=ofr_nope"); p.status != http.StatusNotFound {
				t.Fatalf("clone of an unknown offer: %d", p.status)
			}
			v := url.Values{"csrf": {csrfOf(t, form)}, "clone-of": {d.ID}, "type": {"direct"}, "buyer-company": {"Acme Corporation"}, "product": {"prod-o"},
				"rows-product": {"prod-o"}, "name": {"Acme Corp renewal PO-5000"}, "buyer-account": {buyerAccount}, "currency": {"USD"}, "duration": {"P12M"},
				"dim-0-key": {"seats"}, "dim-0-kind": {"contract"}, "dim-0-qty": {"30"}, "dim-0-price": {"1100.00"},
				"dim-1-key": {"api_calls"}, "dim-1-kind": {"usage"}, "dim-1-price": {"0.002"}, "eula": {"standard"}, "expires-on": {"2026-12-01"}}
			clone = created(t, e, c.post("/console/offers/new", v), "cloned")
			if clone.ID == d.ID || clone.State != offer.StateDraft || clone.Name != "Acme Corp renewal PO-5000" || clone.Pricing.Dimensions[0].Quantity != 30 ||
				!strings.Contains(steps(clone), "created: direct offer for Acme Corporation ("+buyerAccount+"), cloned from offer "+d.ID) {
				t.Fatalf("clone %+v\n%s", clone.Offer, steps(clone))
			}
			if got := storetest.Count(t, db, "offers"); got != n+1 {
				t.Fatalf("%d offers after saving the clone, want %d", got, n+1)
			}
			trail, err := audit.List(context.Background(), db, audit.Filter{Object: "offer", ObjectID: clone.ID})
			if err != nil || len(trail) != 1 || trail[0].Action != "offer.created" || trail[0].Actor.Name != "admin@seller.example" ||
				!strings.Contains(trail[0].Summary, "cloned from offer "+d.ID) {
				t.Fatalf("the clone's audit trail: %+v %v", trail, err)
			}
			wantIn(t, c.get("/console/offers/"+clone.ID+"?done=cloned"), "The clone is saved as a draft.")
			// The POST route that stored a draft at once is gone.
			if p := c.post("/console/offers/"+d.ID+"/clone", url.Values{"csrf": {csrfOf(t, page)}}); p.status != http.StatusMethodNotAllowed && p.status != http.StatusNotFound {
				t.Fatalf("POST clone: %d", p.status)
			}
			if got := storetest.Count(t, db, "offers"); got != n+1 {
				t.Fatalf("%d offers, want %d", got, n+1)
			}
		})

		t.Run("cancel needs a reason", func(t *testing.T) {
			page := c.get("/console/offers/" + clone.ID)
			p := c.post("/console/offers/"+clone.ID+"/cancel", url.Values{"csrf": {csrfOf(t, page)}, "reason": {"  "}})
			if p.status != http.StatusBadRequest {
				t.Fatalf("no reason: %d", p.status)
			}
			wantIn(t, p, `<a href="#cancel-reason">Say why the offer is cancelled`, `id="cancel-reason-error"`)
			if e.offer(clone.ID).State != offer.StateDraft {
				t.Fatal("cancelled without a reason")
			}
			p = c.post("/console/offers/"+clone.ID+"/cancel", url.Values{"csrf": {csrfOf(t, page)}, "reason": {"Duplicate of the original"}})
			got := created(t, e, p, "cancelled")
			if got.State != offer.StateCancelled || !strings.Contains(steps(got), "cancelled: Duplicate of the original") {
				t.Fatalf("cancel: %s\n%s", got.State, steps(got))
			}
			after := c.get("/console/offers/" + clone.ID + "?done=cancelled")
			wantIn(t, after, "The offer is cancelled.")
			if strings.Contains(after.body, `id="edit-offer"`) || strings.Contains(after.body, `id="cancel-offer"`) || strings.Contains(after.body, `id="submit-offer"`) {
				t.Fatal("a cancelled offer offers edit, cancel or submit")
			}
			if p := c.get("/console/offers/" + clone.ID + "/edit"); p.status != http.StatusConflict || !strings.Contains(p.body, "clone it for a new offer") {
				t.Fatalf("editing a cancelled offer: %d", p.status)
			}
		})

		t.Run("submit", func(t *testing.T) {
			page := c.get("/console/offers/" + d.ID)
			got := created(t, e, c.post("/console/offers/"+d.ID+"/submit", url.Values{"csrf": {csrfOf(t, page)}}), "submitted")
			if got.State != offer.StateSubmitted || got.History[len(got.History)-1].Step != "submitted" {
				t.Fatalf("submit: %s\n%s", got.State, steps(got))
			}
			after := c.get("/console/offers/" + d.ID + "?done=submitted")
			wantIn(t, after, "The offer is submitted.", "Submitted")
			if strings.Contains(after.body, `id="submit-offer"`) || strings.Contains(after.body, `id="cancel-offer"`) {
				t.Fatal("a submitted offer offers to submit or cancel again")
			}
			p := c.post("/console/offers/"+d.ID+"/submit", url.Values{"csrf": {csrfOf(t, page)}})
			if p.status != http.StatusConflict {
				t.Fatalf("second submit: %d", p.status)
			}
			wantIn(t, p, `<a href="#submit-offer">The offer was not submitted: Offer `+d.ID+` is submitted: only a draft`)
		})
	})
}

func TestOfferInstructionsAndAssociate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		d := e.data().offer
		ctx := context.Background()
		c := e.login("admin@seller.example")

		t.Run("associate with the agreement", func(t *testing.T) {
			form := c.get("/console/offers/" + d.ID + "/associate")
			wantIn(t, form, "<h1>Associate an AWS offer</h1>", `<label for="aws-offer-id">AWS offer id</label>`, "Acme Corp")
			p := c.post("/console/offers/"+d.ID+"/associate", url.Values{"csrf": {csrfOf(t, form)}, "aws-offer-id": {"not-an-offer"}})
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="aws-offer-id-error">&#34;not-an-offer&#34; is not an AWS offer id`) {
				t.Fatalf("bad offer id: %d\n%s", p.status, p.body)
			}
			// agmt-ending was accepted from offer-old: the new offer is accepted at once.
			got := created(t, e, c.post("/console/offers/"+d.ID+"/associate", url.Values{"csrf": {csrfOf(t, form)}, "aws-offer-id": {"offer-old"}}), "associated")
			if got.ID == d.ID || got.OfferID != "offer-old" || got.State != offer.StateAccepted || got.AgreementID != "agmt-ending" || got.BuyerCompany != "Acme Corp" {
				t.Fatalf("associated %+v", got.Offer)
			}
			page := c.get("/console/offers/" + got.ID + "?done=associated")
			wantIn(t, page, "Concord now tracks this offer.", `<a href="/console/agreements/agmt-ending" id="offer-agreement">agmt-ending</a>`,
				`href="https://aws.amazon.com/marketplace/procurement?productId=prod-o&amp;offerId=offer-old"`, `id="amend-agreement"`)
			if p := c.post("/console/offers/"+d.ID+"/associate", url.Values{"csrf": {csrfOf(t, form)}, "aws-offer-id": {"offer-old"}}); p.status != http.StatusConflict {
				t.Fatalf("associated twice: %d", p.status)
			}
			if src, err := e.svc.Offers.Get(ctx, d.ID); err != nil || src.State != offer.StateDraft {
				t.Fatalf("without the box ticked the draft stays: %s %v", src.State, err)
			}
		})

		t.Run("associate and cancel the draft", func(t *testing.T) {
			draft, err := e.svc.Offers.Clone(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			form := c.get("/console/offers/" + draft.ID + "/associate")
			wantIn(t, form, `<input type="checkbox" id="cancel-source" name="cancel-source" checked>`)
			got := created(t, e, c.post("/console/offers/"+draft.ID+"/associate", url.Values{"csrf": {csrfOf(t, form)}, "aws-offer-id": {"offer-made-in-ammp"}, "cancel-source": {"on"}}), "associated-cancelled")
			if got.OfferID != "offer-made-in-ammp" {
				t.Fatalf("associated %+v", got.Offer)
			}
			wantIn(t, c.get("/console/offers/"+got.ID+"?done=associated-cancelled"), "and the draft it was made from is cancelled")
			src, err := e.svc.Offers.Get(ctx, draft.ID)
			if err != nil || src.State != offer.StateCancelled || !strings.Contains(src.History[len(src.History)-1].Message, got.ID) {
				t.Fatalf("the draft after associating: %s %+v %v", src.State, src.History, err)
			}
		})

		t.Run("purchase instructions", func(t *testing.T) {
			// The publishing job does not run here: AWS's answer is written directly.
			if err := db.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE offers SET state = 'published', offer_id = 'offer-new1' WHERE id = ?`, d.ID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			// Out with the buyer, only its booking data can change.
			form := c.get("/console/offers/" + d.ID + "/edit")
			wantIn(t, form, "This offer is published: it is out with the buyer or partner.")
			v := url.Values{"csrf": {csrfOf(t, form)}, "type": {"direct"}, "buyer-company": {"Acme Corp (EMEA)"}, "product": {"prod-o"}, "rows-product": {"prod-o"},
				"name": {"Acme Corp expansion PO-4471"}, "buyer-account": {buyerAccount}, "currency": {"USD"}, "duration": {"P12M"},
				"dim-0-key": {"seats"}, "dim-0-kind": {"contract"}, "dim-0-qty": {"10"}, "dim-0-price": {"1200.00"},
				"dim-1-key": {"api_calls"}, "dim-1-kind": {"usage"}, "dim-1-price": {"0.002"}, "eula": {"standard"}, "expires-on": {"2026-12-01"}}
			if got := created(t, e, c.post("/console/offers/"+d.ID+"/edit", v), "edited"); got.BuyerCompany != "Acme Corp (EMEA)" || got.State != offer.StatePublished {
				t.Fatalf("booking edit: %+v", got.Offer)
			}
			v.Set("dim-0-qty", "11")
			p := c.post("/console/offers/"+d.ID+"/edit", v)
			if p.status != http.StatusConflict || !strings.Contains(p.body, "only the buyer&#39;s company, registration details, contract metadata") {
				t.Fatalf("pricing edit of a published offer: %d\n%s", p.status, p.body)
			}
			if e.offer(d.ID).Pricing.Dimensions[0].Quantity != 10 {
				t.Fatal("a refused edit changed the quantity")
			}

			page := c.get("/console/offers/" + d.ID)
			wantIn(t, page, `id="send-instructions"`, `<label for="instructions-to">To</label>`, `id="aws-offer-page"`, `id="cancel-offer"`)
			if strings.Contains(page.body, `id="submit-offer"`) {
				t.Fatal("a published offer offers to submit")
			}
			p = c.post("/console/offers/"+d.ID+"/instructions", url.Values{"csrf": {csrfOf(t, page)}, "to": {""}, "note": {"Hello"}})
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, `<a href="#instructions-to">Enter the email address`) || !strings.Contains(p.body, ">Hello</textarea>") {
				t.Fatalf("no recipient: %d", p.status)
			}
			p = c.post("/console/offers/"+d.ID+"/instructions", url.Values{"csrf": {csrfOf(t, page)}, "to": {"buyer@acme"}})
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, "is not an email address") {
				t.Fatalf("bad recipient: %d", p.status)
			}
			got := created(t, e, c.post("/console/offers/"+d.ID+"/instructions", url.Values{"csrf": {csrfOf(t, page)},
				"to": {"procurement@acme.example, cfo@acme.example"}, "note": {"As discussed"}}), "instructions")
			if got.State != offer.StateInstructionsSent || !strings.Contains(steps(got), "purchase instructions sent: to procurement@acme.example, cfo@acme.example") {
				t.Fatalf("instructions: %s\n%s", got.State, steps(got))
			}
			wantIn(t, c.get("/console/offers/"+d.ID+"?done=instructions"), "The purchase instructions are recorded.", "Tracked link in the purchase instructions", "/o/")
		})
	})
}

func TestAmendmentForm(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		e.data()
		c := e.login("admin@seller.example")

		// agmt-ending was accepted from offer-old, which Concord did not make:
		// the form has the buyer's account and the agreement's end date, and
		// asks for the rest.
		form := c.get("/console/agreements/agmt-ending/amend")
		if form.status != http.StatusOK {
			t.Fatalf("amend: %d\n%s", form.status, form.body)
		}
		wantHeaders(t, form)
		wantIn(t, form, "<h1>Amend agreement agmt-ending</h1>", "What changes for the buyer's bill", "Agreement agmt-ending has charged 0.00",
			"Agreement agmt-ending was not accepted from a Concord offer: fill in the buyer&#39;s company",
			`name="amends-agreement" value="agmt-ending"`, `name="amends-source" value="offer-old"`, `id="buyer-account" name="buyer-account" value="444455556666"`,
			`name="end-date" value="2026-12-02"`, `id="renew-agreement"`, "Save the amendment as a draft")
		n := storetest.Count(t, db, "offers")
		v := url.Values{"csrf": {csrfOf(t, form)}, "amends-agreement": {"agmt-ending"}, "amends-source": {"offer-old"}, "type": {"direct"},
			"buyer-company": {""}, "product": {"prod-o"}, "rows-product": {"prod-o"}, "buyer-account": {buyerAccount}, "currency": {"USD"},
			"end-date": {"2026-12-02"}, "dim-0-key": {"seats"}, "dim-0-kind": {"contract"}, "dim-0-qty": {"15"}, "dim-0-price": {"1200.00"},
			"dim-1-key": {"api_calls"}, "dim-1-kind": {"usage"}, "dim-1-price": {""}, "eula": {"standard"}, "expires-on": {"2026-11-20"}, "check": {"1"}}
		p := c.post("/console/agreements/agmt-ending/amend", v)
		if p.status != http.StatusUnprocessableEntity {
			t.Fatalf("check: %d\n%s", p.status, p.body)
		}
		wantIn(t, p, `<a href="#buyer-company">The buyer&#39;s company name is required.</a>`, "the amendment charges 18000.00 USD at acceptance")
		v.Set("buyer-company", "Acme Corp")
		v.Del("check")
		got := created(t, e, c.post("/console/agreements/agmt-ending/amend", v), "amendment")
		if got.Amends == nil || got.Amends.AgreementID != "agmt-ending" || got.Amends.SourceOfferID != "offer-old" || got.Pricing.EndDate != "2026-12-02" ||
			len(got.Pricing.Dimensions) != 1 || got.Pricing.Dimensions[0].Quantity != 15 || !strings.Contains(steps(got), "amendment of agreement agmt-ending") {
			t.Fatalf("amendment %+v\n%s", got.Offer, steps(got))
		}
		if m := storetest.Count(t, db, "offers"); m != n+1 {
			t.Fatalf("%d offers, want %d", m, n+1)
		}
		wantIn(t, c.get("/console/offers/"+got.ID), `agreement <a href="/console/agreements/agmt-ending">agmt-ending</a> (offer offer-old)`)
		if p := c.get("/console/agreements/no-such-agreement/amend"); p.status != http.StatusNotFound {
			t.Fatalf("unknown agreement: %d", p.status)
		}

		// A renewal starts from the same agreement.
		r := c.get("/console/offers/new?renew=agmt-ending")
		wantIn(t, r, "This renewal of agreement agmt-ending is prefilled from it: it starts the day after agmt-ending ends",
			`id="renewal" name="renewal" value="on" aria-describedby="renewal-hint" checked`,
			`value="P12M"`, `value="444455556666"`, `name="renews" value="agmt-ending"`, `name="start-date" value="2026-12-03"`, `id="allow-overlap"`)
		// Starting before agmt-ending ends (2026-12-02) is refused unless the
		// overlap is confirmed; the day after is the default.
		rv := url.Values{"csrf": {csrfOf(t, r)}, "from-agreement": {"agmt-ending"}, "from-kind": {"renew"}, "type": {"direct"},
			"buyer-company": {"Acme Corp"}, "product": {"prod-o"}, "rows-product": {"prod-o"}, "buyer-account": {buyerAccount}, "currency": {"USD"},
			"duration": {"P12M"}, "start-date": {"2026-12-01"}, "dim-0-key": {"seats"}, "dim-0-kind": {"contract"}, "dim-0-qty": {"10"}, "dim-0-price": {"1200.00"},
			"dim-1-key": {"api_calls"}, "dim-1-kind": {"usage"}, "dim-1-price": {""}, "eula": {"standard"}, "expires-on": {"2026-11-20"},
			"renewal": {"on"}, "renews": {"agmt-ending"}}
		n = storetest.Count(t, db, "offers")
		p = c.post("/console/offers/new", rv)
		if p.status < 400 {
			t.Fatalf("an overlapping renewal: %d", p.status)
		}
		wantIn(t, p, `<a href="#start-date">`, "runs until 2026-12-02: a renewal starting on 2026-12-01 overlaps it; start it on 2026-12-03 or later")
		if m := storetest.Count(t, db, "offers"); m != n {
			t.Fatalf("a refused renewal was stored: %d offers, want %d", m, n)
		}
		rv.Set("allow-overlap", "on")
		if got := created(t, e, c.post("/console/offers/new", rv), "created"); got.Renews != "agmt-ending" || !got.AllowOverlap || got.Pricing.StartDate != "2026-12-01" {
			t.Fatalf("confirmed overlap: %+v", got.Offer)
		}
		rv.Del("allow-overlap")
		rv.Set("start-date", "2026-12-03")
		if got := created(t, e, c.post("/console/offers/new", rv), "created"); got.Renews != "agmt-ending" || got.AllowOverlap || got.Pricing.StartDate != "2026-12-03" {
			t.Fatalf("renewal after the end: %+v", got.Offer)
		}
	})
}

func TestPartnerOffersPage(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		e.data()
		c := e.login("viewer@seller.example")

		empty := c.get("/console/partners")
		wantHeaders(t, empty)
		wantIn(t, empty, "<h1>Partner offers</h1>", `aria-current="page">Partner offers`, "No partner offers yet.", "AWS creates the resale authorization",
			"The partner extends its own offer to the buyer")
		if strings.Contains(empty.body, "Acme Corp") {
			t.Fatal("a direct offer is listed as a partner offer")
		}

		p, err := e.svc.Offers.Create(context.Background(), offer.Offer{Type: offer.TypePartner, BuyerCompany: "Globex", ProductID: "prod-o", Name: "Globex via Partner",
			Pricing: offer.Pricing{Currency: "USD", Duration: "P12M", Dimensions: []offer.PricedDimension{{Key: "seats", Kind: "contract", Quantity: 3, Price: "500.00"}}},
			EULA:    offer.Legal{Kind: "standard"}, ResellerAgreement: &offer.Legal{Kind: "standard"},
			Metadata:  map[string]string{offer.MetaBuyerAccount: "777788889999", offer.MetaPartnerAccount: "121212121212", offer.MetaCPPOOpportunityID: "opp-9"},
			ExpiresOn: "2026-12-15"})
		if err != nil {
			t.Fatal(err)
		}
		list := c.get("/console/partners")
		wantIn(t, list, `<a href="/console/offers/`+p.ID+`">Globex via Partner</a>`, "777788889999", "121212121212", "opp-9", "Not extended yet",
			"2026-12-15", "<strong>Created</strong>", "partner offer for Globex")
		if strings.Contains(list.body, "Acme Corp") {
			t.Fatal("a direct offer is listed as a partner offer")
		}
		if p := c.get("/console/partners?state=accepted"); !strings.Contains(p.body, "No partner offer is Accepted.") || strings.Contains(p.body, "Globex") {
			t.Fatal("state filter")
		}
		if p := c.get("/console/partners?state=bogus"); p.status != http.StatusBadRequest || !strings.Contains(p.body, `<a href="#state">`) {
			t.Fatalf("bad state: %d", p.status)
		}
	})
}

func TestOfferFormsRefuseOtherRoles(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		d := e.data().offer
		e.offerProduct()
		if _, err := e.console.CreateUser(context.Background(), console.NewUser{Email: "finance@seller.example", Role: console.RoleFinance, Password: password}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.console.CreateUser(context.Background(), console.NewUser{Email: "revops@seller.example", Role: console.RoleRevOps, Password: password}); err != nil {
			t.Fatal(err)
		}
		n := storetest.Count(t, db, "offers")
		for _, who := range []string{"finance@seller.example", "viewer@seller.example"} {
			c := e.login(who)
			page := c.get("/console/offers/" + d.ID)
			if page.status != http.StatusOK {
				t.Fatalf("%s: offer page %d", who, page.status)
			}
			for _, button := range []string{`id="submit-offer"`, `id="edit-offer"`, `id="clone-offer"`, `id="cancel-offer"`, `id="associate-offer"`, "Actions"} {
				if strings.Contains(page.body, button) {
					t.Fatalf("%s sees %s", who, button)
				}
			}
			if strings.Contains(c.get("/console/offers").body, `id="new-offer"`) {
				t.Fatalf("%s sees the new offer link", who)
			}
			for _, path := range []string{"/console/offers/new", "/console/offers/new?clone=" + d.ID, "/console/offers/" + d.ID + "/edit", "/console/offers/" + d.ID + "/associate", "/console/agreements/agmt-ending/amend"} {
				if p := c.get(path); p.status != http.StatusForbidden {
					t.Fatalf("%s GET %s: %d", who, path, p.status)
				}
			}
			token := csrfOf(t, page)
			for path, form := range map[string]url.Values{
				"/console/offers/new":                       offerForm(token),
				"/console/offers/" + d.ID + "/edit":         offerForm(token),
				"/console/offers/" + d.ID + "/submit":       {"csrf": {token}},
				"/console/offers/" + d.ID + "/cancel":       {"csrf": {token}, "reason": {"no"}},
				"/console/offers/" + d.ID + "/instructions": {"csrf": {token}, "to": {"a@b.example"}},
				"/console/offers/" + d.ID + "/associate":    {"csrf": {token}, "aws-offer-id": {"offer-old"}},
				"/console/agreements/agmt-ending/amend":     offerForm(token),
			} {
				if p := c.post(path, form); p.status != http.StatusForbidden || !strings.Contains(p.body, "cannot change offers") {
					t.Fatalf("%s POST %s: %d", who, path, p.status)
				}
			}
			cloned := offerForm(token)
			cloned.Set("clone-of", d.ID)
			if p := c.post("/console/offers/new", cloned); p.status != http.StatusForbidden {
				t.Fatalf("%s saves a clone: %d", who, p.status)
			}
			if p := c.get("/console/partners"); p.status != http.StatusOK {
				t.Fatalf("%s partners: %d", who, p.status)
			}
		}
		if got, st := storetest.Count(t, db, "offers"), e.offer(d.ID).State; got != n || st != offer.StateDraft {
			t.Fatalf("refused requests changed something: %d offers (want %d), state %s", got, n, st)
		}
		// RevOps may.
		c := e.login("revops@seller.example")
		page := c.get("/console/offers/" + d.ID)
		wantIn(t, page, `id="submit-offer"`, `id="clone-offer"`)
		created(t, e, c.post("/console/offers/new", offerForm(csrfOf(t, page))), "created")
	})
}

// TestBrowserOfferForms creates an offer in headless Chromium, at 1280 px and
// on a 390 px phone: the form, its errors, the offer page with its actions,
// the amendment form and the partner offers fit the width, with one h1 and a
// label for every control. Skipped without Chromium unless
// CONCORD_TEST_REQUIRE_BROWSER=1.
func TestBrowserOfferForms(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := setup(t, storetest.Open(t, store.SQLite))
	e.data()
	e.offerProduct()

	p := browser.Page(t)
	width := 0
	check := func(what string) {
		t.Helper()
		checkLayout(t, ctx, p, what, width)
	}
	nav := func(path string, status int) {
		t.Helper()
		resp, err := p.Navigate(ctx, e.srv.URL+path)
		if err != nil || resp.Status != status {
			t.Fatalf("%s: %+v %v", path, resp, err)
		}
	}
	browserSignIn(t, ctx, p, e.srv.URL+"/console/login", "admin@seller.example")
	for i, vp := range []struct {
		w, h   int
		mobile bool
	}{{1280, 800, false}, {390, 844, true}} {
		if err := p.SetViewport(ctx, vp.w, vp.h, vp.mobile); err != nil {
			t.Fatal(err)
		}
		width = vp.w
		nav("/console/offers", 200)
		check("offers")
		if resp, err := p.ClickAndWait(ctx, "#new-offer"); err != nil || resp.Status != 200 {
			t.Fatalf("new offer: %+v %v", resp, err)
		}
		check("new offer form")
		// Choose prod-m, draw its rows, then save with the buyer's account missing.
		if err := p.Select(ctx, "#product", "prod-m"); err != nil {
			t.Fatal(err)
		}
		if resp, err := p.ClickAndWait(ctx, "#refresh-product"); err != nil || resp.Status != 200 {
			t.Fatalf("refresh: %+v %v", resp, err)
		}
		for sel, text := range map[string]string{"#buyer-company": "Initech " + strconv.Itoa(i), "#meta-0": "006-XYZ", "#dim-0-qty": "5",
			"#dim-0-price": "100.00", "#duration": "P12M"} {
			if err := p.Type(ctx, sel, text); err != nil {
				t.Fatalf("%s: %v", sel, err)
			}
		}
		var set string // a date input takes no typed text here: set its value
		if err := p.Evaluate(ctx, `document.getElementById("expires-on").value = "2026-11-30"`, &set); err != nil {
			t.Fatal(err)
		}
		if resp, err := p.ClickAndWait(ctx, "#save-offer"); err != nil || resp.Status != 400 {
			t.Fatalf("save without the buyer's account: %+v %v", resp, err)
		}
		check("new offer form with errors")
		if err := p.Type(ctx, "#buyer-account", "111122223333"); err != nil {
			t.Fatal(err)
		}
		resp, err := p.ClickAndWait(ctx, "#save-offer")
		if err != nil || resp.Status != 200 || !strings.Contains(resp.URL, "?done=created") {
			summary, _ := p.Text(ctx, "main")
			t.Fatalf("save: %+v %v\n%s", resp, err, summary)
		}
		check("offer page")
		if resp, err := p.ClickAndWait(ctx, "#submit-offer"); err != nil || resp.Status != 200 || !strings.Contains(resp.URL, "?done=submitted") {
			t.Fatalf("submit: %+v %v", resp, err)
		}
		if s, err := p.Text(ctx, "[role=status]"); err != nil || !strings.Contains(s, "The offer is submitted.") {
			t.Fatalf("status %q %v", s, err)
		}
		nav("/console/agreements/agmt-ending/amend", 200)
		check("amendment form")
		nav("/console/partners", 200)
		check("partner offers")
	}
}
