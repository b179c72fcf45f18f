package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

const (
	sbProduct = "prod-sbx"
	sbBuyer   = "123412341234"
	sbBuyer2  = "567856785678"
	sbPartner = "999988887777"
)

// sbEnv is a running Concord in sandbox mode (the in-process emulator plays
// AWS) with a product in both, an admin and a read-only console user.
type sbEnv struct {
	t *testing.T
	a *app.App
}

// startApp starts Concord as `concord serve` does (sandbox mode by default)
// on a local port and a temporary data directory, stopped when t ends.
func startApp(t *testing.T, cfg app.Config) *app.App {
	t.Helper()
	cfg.Addr, cfg.DataDir, cfg.AutoMigrate = "127.0.0.1:0", t.TempDir(), true
	a, err := app.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	return a
}

func sbSetup(t *testing.T, dialect string) *sbEnv {
	t.Helper()
	ctx := context.Background()
	a := startApp(t, app.Config{Database: storetest.URL(t, dialect), EventBridgeSecret: "s3cret"})
	err := a.Emulator.World.Do(func(s *world.State) error {
		s.Config.ChangeSetDelay = 0
		_, err := s.CreateProduct(world.Product{ProductID: sbProduct, ProductCode: "sbxcode", Title: "Sandbox Analytics", ConcurrentAgreements: true,
			Type: world.ProductSaaSContract, Dimensions: []world.Dimension{{Key: "seats", Kind: "contract", Price: "10.00"}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Ledger.PutProduct(ctx, marketplace.Product{ProductID: sbProduct, ProductCode: "sbxcode", Title: "Sandbox Analytics",
		Type: marketplace.ProductSaaSContract, ConcurrentAgreements: true, Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}}}); err != nil {
		t.Fatal(err)
	}
	a.Console.Iterations = 1000
	for _, u := range []console.NewUser{
		{Email: "admin@seller.example", Role: console.RoleAdmin, Password: password},
		{Email: "viewer@seller.example", Role: console.RoleReadOnly, Password: password},
	} {
		if _, err := a.Console.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return &sbEnv{t: t, a: a}
}

// sbClient is a browser on the app: a cookie jar, redirects not followed.
type sbClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func (c *sbClient) do(req *http.Request) page {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (c *sbClient) get(path string) page {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	return c.do(req)
}

func (c *sbClient) post(path string, form url.Values) page {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (e *sbEnv) login(email string) *sbClient {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &sbClient{t: e.t, base: e.a.URL(), http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	p := c.post("/console/login", url.Values{"email": {email}, "password": {password}, "csrf": {csrfOf(e.t, c.get("/console/login"))}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/" {
		e.t.Fatalf("login as %s: %d %v\n%s", email, p.status, p.header, p.body)
	}
	return c
}

// press posts one of the sandbox page's forms, as its button does, and
// expects the redirect back to the page.
func (c *sbClient) press(path string, form url.Values, done string) url.Values {
	c.t.Helper()
	token := csrfOf(c.t, c.get("/console/sandbox"))
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", token)
	p := c.post(path, form)
	loc, _ := url.Parse(p.header.Get("Location"))
	if p.status != http.StatusSeeOther || loc == nil || loc.Path != "/console/sandbox" || loc.Query().Get("done") != done {
		c.t.Fatalf("POST %s: %d %q, want 303 to done=%s\n%s", path, p.status, p.header.Get("Location"), done, p.body)
	}
	return loc.Query()
}

// sbEventually polls cond until the deadline.
func sbEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// emulated reads an agreement in the emulator.
func (e *sbEnv) emulated(id string) world.Agreement {
	e.t.Helper()
	var out world.Agreement
	e.a.Emulator.World.Read(func(s *world.State) error {
		if a := s.Agreements[id]; a != nil {
			out = *a
		}
		return nil
	})
	if out.ID == "" {
		e.t.Fatalf("the emulator has no agreement %s", id)
	}
	return out
}

// inConcord waits until Concord's ledger holds agreement id with status.
func (e *sbEnv) inConcord(id, status string) marketplace.Agreement {
	e.t.Helper()
	var a marketplace.Agreement
	sbEventually(e.t, "agreement "+id+" to be "+status+" in Concord", func() bool {
		d, err := e.a.Ledger.GetAgreement(context.Background(), id)
		a = d.Agreement
		return err == nil && d.Status == status
	})
	return a
}

// offerIn waits until Concord's offer id is in state.
func (e *sbEnv) offerIn(id, state string) offer.Detail {
	e.t.Helper()
	var d offer.Detail
	sbEventually(e.t, "offer "+id+" to be "+state, func() bool {
		var err error
		d, err = e.a.Offers.Get(context.Background(), id)
		if err == nil && d.State == offer.StateFailed {
			e.t.Fatalf("offer %s failed: %s", id, d.Failure)
		}
		return err == nil && d.State == state
	})
	return d
}

// publish creates and submits an offer in Concord and waits for AWS (the
// emulator's Catalog API) to publish it.
func (e *sbEnv) publish(o offer.Offer) offer.Detail {
	e.t.Helper()
	ctx := context.Background()
	d, err := e.a.Offers.Create(ctx, o)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.a.Offers.Submit(ctx, d.ID); err != nil {
		e.t.Fatal(err)
	}
	return e.offerIn(d.ID, offer.StatePublished)
}

func sbOffer(kind, buyer, name string) offer.Offer {
	o := offer.Offer{Type: kind, BuyerCompany: "Initrode", ProductID: sbProduct, Name: name,
		Pricing: offer.Pricing{Currency: "USD", Duration: "P12M", Dimensions: []offer.PricedDimension{{Key: "seats", Kind: "contract", Quantity: 10, Price: "120.00"}}},
		EULA:    offer.Legal{Kind: "standard"}, Metadata: map[string]string{offer.MetaBuyerAccount: buyer}, ExpiresOn: "2099-12-31"}
	if kind == offer.TypePartner {
		o.ResellerAgreement = &offer.Legal{Kind: "standard"}
		o.Metadata[offer.MetaPartnerAccount] = sbPartner
	}
	return o
}

// TestSandboxPlaysBuyerPartnerAndClock drives a direct offer and a partner
// offer through the sandbox page's buttons, checking each button's effect in
// the emulator and, once the events have flowed, in Concord.
func TestSandboxPlaysBuyerPartnerAndClock(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			e := sbSetup(t, dialect)
			admin := e.login("admin@seller.example")

			p := admin.get("/console/sandbox")
			if p.status != http.StatusOK {
				t.Fatalf("sandbox page: %d\n%s", p.status, p.body)
			}
			wantHeaders(t, p)
			wantIn(t, p, "<h1>Sandbox</h1>", "act as the buyer, the channel partner and AWS", "a few seconds later", "reload",
				`aria-current="page">Sandbox`, `id="advance-1h"`, `id="advance-1d"`, `id="advance-7d"`, `id="advance-30d"`,
				`<label for="custom-duration">`, "No offer is waiting for a buyer.", "No agreement is active.")

			// A direct offer Concord published waits for its buyer.
			direct := e.publish(sbOffer(offer.TypeDirect, sbBuyer, "Initrode 12 months"))
			p = admin.get("/console/sandbox?offer=" + direct.ID)
			wantIn(t, p, `id="offer-`+direct.OfferID+`" tabindex="-1" class="sb-item current" aria-current="true"`,
				`<a href="/console/offers/`+direct.ID+`">Initrode 12 months</a>`, "Direct private offer", "seats × 10",
				`id="accept-`+direct.OfferID+`">Accept as buyer `+sbBuyer+`</button>`)

			// The wrong buyer is refused by the emulator and nothing changes.
			token := csrfOf(t, p)
			bad := admin.post("/console/sandbox/offers/"+direct.OfferID+"/accept", url.Values{"csrf": {token}, "buyer": {"111111111111"}})
			if bad.status != http.StatusConflict {
				t.Fatalf("accept as another buyer: %d\n%s", bad.status, bad.body)
			}
			wantIn(t, bad, `<a href="#offer-`+direct.OfferID+`">Could not accept offer `+direct.OfferID+` as buyer 111111111111: the emulator refused: `,
				"is private and not extended to 111111111111")
			e.a.Emulator.World.Read(func(s *world.State) error {
				if s.Buyers["111111111111"] != nil || len(s.Agreements) != 0 {
					t.Errorf("a refused acceptance left a buyer or an agreement behind")
				}
				return nil
			})

			// The buyer accepts: the emulator makes the agreement, Concord
			// hears of it and accepts its offer.
			q := admin.press("/console/sandbox/offers/"+direct.OfferID+"/accept", url.Values{"buyer": {sbBuyer}}, "accepted")
			first := q.Get("agreement")
			if a := e.emulated(first); a.Status != "ACTIVE" || a.OfferID != direct.OfferID || a.AcceptorAccountID != sbBuyer || a.Quantities["seats"] != 10 {
				t.Fatalf("the emulator's agreement %+v", a)
			}
			if d := e.offerIn(direct.ID, offer.StateAccepted); d.AgreementID != first {
				t.Fatalf("offer accepted with %s, want %s", d.AgreementID, first)
			}
			e.inConcord(first, marketplace.StatusActive)
			p = admin.get("/console/sandbox?done=accepted&agreement=" + first)
			wantIn(t, p, `role="status"`, "The buyer accepted the offer in the emulator.",
				`id="agreement-`+first+`" tabindex="-1" class="sb-item current" aria-current="true"`,
				`id="renew-`+first+`"`, `id="cancel-`+first+`"`, `id="expire-`+first+`"`, `id="amend-`+first+`"`,
				`<label for="amend-`+first+`-seats">New seats</label>`, "No offer is waiting for a buyer.")
			if strings.Contains(p.body, `id="accept-`+direct.OfferID+`"`) {
				t.Fatal("an accepted offer still waits for its buyer")
			}
			// Register as the buyer: the emulator's page posting a fresh token to Concord.
			lic := e.emulated(first).LicenseArn
			m := regexp.MustCompile(`id="register-` + regexp.QuoteMeta(first) + `" href="([^"]+)"`).FindStringSubmatch(p.body)
			if m == nil {
				t.Fatalf("no register link for %s:\n%s", first, p.body)
			}
			href, err := url.Parse(html.UnescapeString(m[1]))
			if err != nil || href.Path != "/console/sandbox/register" || href.Query().Get("license") != lic ||
				href.Query().Get("url") != e.a.URL()+"/marketplace/register" {
				t.Fatalf("register link %q", m[1])
			}
			reg := admin.get(href.String())
			if reg.status != 200 || !strings.Contains(reg.body, "Set up your account") || !strings.Contains(reg.body, lic) {
				t.Fatalf("the emulator's registration page: %d\n%s", reg.status, reg.body)
			}
			// Raw query text is never echoed.
			if p := admin.get("/console/sandbox?done=%3Cb%3Ehi"); p.status != 200 || strings.Contains(p.body, `role="status"`) {
				t.Fatal("an unknown done= shows a status")
			}

			// The clock: a day, then a custom duration; a bad one is refused.
			before := e.a.Emulator.World.Now()
			admin.press("/console/sandbox/clock", url.Values{"by": {"1d"}}, "advanced")
			admin.press("/console/sandbox/clock", url.Values{"by": {"90m"}}, "advanced")
			if got := e.a.Emulator.World.Now().Sub(before); got < 25*time.Hour+30*time.Minute || got > 25*time.Hour+31*time.Minute {
				t.Fatalf("the clock moved %s", got)
			}
			if d := e.a.Console.Now().Sub(e.a.Emulator.World.Now()); d < -time.Second || d > time.Second {
				t.Fatalf("the console's clock is %s off the emulator's", d)
			}
			p = admin.get("/console/sandbox?done=advanced")
			if p.status != http.StatusOK {
				t.Fatalf("after moving the clock a day the admin is signed out: %d", p.status)
			}
			wantIn(t, p, "clock moved forward, and Concord")
			at := e.a.Emulator.World.Now()
			for _, by := range []string{"-1h", "soon", "400d", "0s"} {
				p = admin.post("/console/sandbox/clock", url.Values{"csrf": {csrfOf(t, p)}, "by": {by}})
				if p.status != http.StatusBadRequest {
					t.Fatalf("advance by %q: %d", by, p.status)
				}
				wantIn(t, p, `<a href="#custom-duration">Enter how far to move the clock forward`, `aria-invalid="true"`, `value="`+by+`"`)
			}
			if e.a.Emulator.World.Now().Sub(at) > time.Minute {
				t.Fatal("a refused advance moved the clock")
			}

			// Renew: the buyer accepts a renewal now, a future-dated agreement
			// that starts when the old one ends; the old one runs until then.
			q = admin.press("/console/sandbox/agreements/"+first+"/renew", nil, "renewed")
			renewed := q.Get("agreement")
			old := e.emulated(first)
			if a := e.emulated(renewed); a.Intent != "RENEW" || a.PreviousAgreementID != first || a.Status != "ACTIVE" || a.LicenseArn != "" ||
				!a.StartTime.Equal(old.EndTime.Add(time.Second)) || old.Status != "ACTIVE" || old.RenewedBy != renewed {
				t.Fatalf("renewal %+v of %+v", a, old)
			}
			if a := e.inConcord(renewed, marketplace.StatusActive); a.PreviousAgreementID != first || a.Intent != "RENEW" {
				t.Fatalf("Concord's renewal %+v", a)
			}
			e.inConcord(first, marketplace.StatusActive)
			wantIn(t, admin.get("/console/sandbox?agreement="+first), "renewed by "+renewed+", which starts when it ends")

			// Auto-renewal on, then off, as the buyer: the same agreement, amended in place.
			admin.press("/console/sandbox/agreements/"+renewed+"/autorenew", url.Values{"on": {"true"}}, "autorenew")
			if !e.emulated(renewed).AutoRenew {
				t.Fatal("auto-renewal is still off")
			}
			q = admin.press("/console/sandbox/agreements/"+renewed+"/autorenew", url.Values{"on": {"false"}}, "autorenew")
			if q.Get("agreement") != renewed || e.emulated(renewed).AutoRenew || e.emulated(renewed).AutoRenewDisabledBy != world.ByAcceptor {
				t.Fatalf("auto-renewal off: %v %+v", q, e.emulated(renewed))
			}
			sbEventually(t, "Concord to learn auto-renewal is off", func() bool {
				d, err := e.a.Ledger.GetAgreement(context.Background(), renewed)
				return err == nil && d.AutoRenewal != nil && !*d.AutoRenewal && d.AgreementID == renewed && d.Intent == "RENEW"
			})

			// Amend quantities: a bad number is refused; a new one replaces the agreement.
			p = admin.post("/console/sandbox/agreements/"+first+"/amend", url.Values{"csrf": {csrfOf(t, p)}, "q-seats": {"-3"}})
			if p.status != http.StatusBadRequest {
				t.Fatalf("amend to -3 seats: %d", p.status)
			}
			wantIn(t, p, `<a href="#amend-`+first+`-seats">Enter a whole number`, `value="-3"`, `aria-describedby="amend-`+first+`-seats-error"`)
			p = admin.post("/console/sandbox/agreements/"+first+"/amend", url.Values{"csrf": {csrfOf(t, p)}, "q-seats": {"10"}})
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Change at least one quantity") {
				t.Fatalf("amend to the same quantity: %d", p.status)
			}
			if a := e.emulated(first); a.Status != "ACTIVE" {
				t.Fatalf("a refused amendment changed the agreement to %s", a.Status)
			}
			q = admin.press("/console/sandbox/agreements/"+first+"/amend", url.Values{"q-seats": {"25"}}, "amended")
			amended := q.Get("agreement")
			if a := e.emulated(amended); a.Intent != "REPLACE" || a.Quantities["seats"] != 25 || a.PreviousAgreementID != first || e.emulated(first).Status != "REPLACED" {
				t.Fatalf("amendment %+v", a)
			}
			e.inConcord(first, "REPLACED")
			if a := e.inConcord(amended, marketplace.StatusActive); a.Intent != "REPLACE" {
				t.Fatalf("Concord's amended agreement has intent %q", a.Intent)
			}

			// Cancel as the buyer; a second cancel is refused with the emulator's reason.
			admin.press("/console/sandbox/agreements/"+amended+"/cancel", nil, "cancelled")
			if a := e.emulated(amended); a.Status != "CANCELLED" {
				t.Fatalf("cancelled agreement is %s", a.Status)
			}
			e.inConcord(amended, "CANCELLED")
			p = admin.post("/console/sandbox/agreements/"+amended+"/cancel", url.Values{"csrf": {csrfOf(t, p)}})
			if p.status != http.StatusConflict {
				t.Fatalf("cancel twice: %d", p.status)
			}
			wantIn(t, p, `<a href="#agreements">Could not cancel agreement `+amended+`: the emulator refused: agreement `+amended+` is CANCELLED</a>`)
			wantIn(t, admin.get("/console/sandbox?agreement="+amended), "Agreement "+amended+" is CANCELLED in the emulator")

			// A partner offer: the partner extends it, the buyer accepts it.
			partner := e.publish(sbOffer(offer.TypePartner, sbBuyer2, "Initrode via partner"))
			p = admin.get("/console/sandbox?offer=" + partner.ID)
			wantIn(t, p, `id="authorization-`+partner.ResaleAuthorizationID+`" tabindex="-1" class="sb-item current" aria-current="true"`,
				`id="extend-`+partner.ResaleAuthorizationID+`">Extend as partner to buyer `+sbBuyer2+`</button>`,
				`<a href="/console/offers/`+partner.ID+`">Initrode via partner</a>`)
			q = admin.press("/console/sandbox/resale-authorizations/"+partner.ResaleAuthorizationID+"/extend", nil, "extended")
			partnerOfferID := q.Get("offer")
			e.a.Emulator.World.Read(func(s *world.State) error {
				o := s.Offers[partnerOfferID]
				if o == nil || o.ResaleAuthorizationID != partner.ResaleAuthorizationID || o.ProposerAccountID != sbPartner ||
					fmt.Sprint(o.BuyerAccounts) != "["+sbBuyer2+"]" || o.Quantities["seats"] != 10 || o.Duration != "P12M" {
					t.Errorf("the partner's offer %+v", o)
				}
				return nil
			})
			if d := e.offerIn(partner.ID, offer.StateExtended); d.OfferID != partnerOfferID {
				t.Fatalf("partner offer extended with %q, want %s", d.OfferID, partnerOfferID)
			}
			p = admin.get("/console/sandbox?done=extended&offer=" + partnerOfferID)
			wantIn(t, p, "The partner extended its offer", `id="offer-`+partnerOfferID+`" tabindex="-1" class="sb-item current"`,
				"Partner "+sbPartner+"&#39;s offer from resale authorization "+partner.ResaleAuthorizationID,
				`id="accept-`+partnerOfferID+`">Accept as buyer `+sbBuyer2+`</button>`)
			q = admin.press("/console/sandbox/offers/"+partnerOfferID+"/accept", url.Values{"buyer": {sbBuyer2}}, "accepted")
			cppo := q.Get("agreement")
			if a := e.emulated(cppo); a.ProposerAccountID != sbPartner || a.ResaleAuthorizationID != partner.ResaleAuthorizationID {
				t.Fatalf("the CPPO agreement %+v", a)
			}
			if d := e.offerIn(partner.ID, offer.StateAccepted); d.AgreementID != cppo {
				t.Fatalf("partner offer accepted with %s, want %s", d.AgreementID, cppo)
			}
			e.inConcord(cppo, marketplace.StatusActive)
			wantIn(t, admin.get("/console/sandbox?agreement="+cppo), "by partner "+sbPartner)

			// Expire it.
			admin.press("/console/sandbox/agreements/"+cppo+"/expire", nil, "expired")
			if a := e.emulated(cppo); a.Status != "EXPIRED" {
				t.Fatalf("expired agreement is %s", a.Status)
			}
			e.inConcord(cppo, "EXPIRED")
		})
	}
}

// TestSandboxAcceptsAReplacementOffer: an amendment Concord published (an
// agreement-based offer) is accepted from the page and replaces its agreement.
func TestSandboxAcceptsAReplacementOffer(t *testing.T) {
	t.Parallel()
	e := sbSetup(t, store.SQLite)
	admin := e.login("admin@seller.example")
	src := e.publish(sbOffer(offer.TypeDirect, sbBuyer, "Initrode year one"))
	first := admin.press("/console/sandbox/offers/"+src.OfferID+"/accept", url.Values{"buyer": {sbBuyer}}, "accepted").Get("agreement")
	e.offerIn(src.ID, offer.StateAccepted)
	e.inConcord(first, marketplace.StatusActive)
	// The draft is prefilled from the agreement's terms, fetched after the event.
	sbEventually(t, "the terms of "+first, func() bool {
		d, err := e.a.Ledger.GetAgreement(context.Background(), first)
		return err == nil && d.TermsFetchedAt != nil
	})
	dr, err := e.a.Offers.AmendmentDraft(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	form := dr.Form
	if len(form.Pricing.Dimensions) != 1 {
		t.Fatalf("amendment draft %+v", form)
	}
	form.Pricing.Dimensions[0].Quantity = 40
	am := e.publish(form)
	p := admin.get("/console/sandbox?offer=" + am.OfferID)
	wantIn(t, p, "Replacement of agreement "+first, `id="accept-`+am.OfferID+`">Accept as buyer `+sbBuyer)
	next := admin.press("/console/sandbox/offers/"+am.OfferID+"/accept", url.Values{"buyer": {sbBuyer}}, "accepted").Get("agreement")
	if a := e.emulated(next); a.PreviousAgreementID != first || a.Quantities["seats"] != 40 || e.emulated(first).Status != "REPLACED" {
		t.Fatalf("the replacement %+v", a)
	}
	if d := e.offerIn(am.ID, offer.StateAccepted); d.AgreementID != next {
		t.Fatalf("amendment accepted with %s, want %s", d.AgreementID, next)
	}
	e.inConcord(first, "REPLACED")
}

// TestSandboxRefusesTheReadOnlyRole: the read-only user sees the page with
// no buttons, and every action is refused with 403, changing nothing.
func TestSandboxRefusesTheReadOnlyRole(t *testing.T) {
	t.Parallel()
	e := sbSetup(t, store.SQLite)
	admin := e.login("admin@seller.example")
	o := e.publish(sbOffer(offer.TypeDirect, sbBuyer, "Initrode 12 months"))
	agreement := admin.press("/console/sandbox/offers/"+o.OfferID+"/accept", url.Values{"buyer": {sbBuyer}}, "accepted").Get("agreement")
	partner := e.publish(sbOffer(offer.TypePartner, sbBuyer2, "Initrode via partner"))

	viewer := e.login("viewer@seller.example")
	p := viewer.get("/console/sandbox")
	if p.status != http.StatusOK {
		t.Fatalf("read-only page: %d", p.status)
	}
	wantIn(t, p, agreement, partner.ResaleAuthorizationID)
	for _, s := range []string{`action="/console/sandbox/`, "<button type=\"submit\" class=\"small\"", "register-" + agreement, "advance-1h"} {
		if strings.Contains(p.body, s) {
			t.Fatalf("the read-only user is offered %q", s)
		}
	}
	token := csrfOf(t, p)
	at := e.a.Emulator.World.Now()
	for _, path := range []string{"/console/sandbox/clock", "/console/sandbox/offers/" + o.OfferID + "/accept",
		"/console/sandbox/resale-authorizations/" + partner.ResaleAuthorizationID + "/extend",
		"/console/sandbox/agreements/" + agreement + "/renew", "/console/sandbox/agreements/" + agreement + "/cancel",
		"/console/sandbox/agreements/" + agreement + "/expire", "/console/sandbox/agreements/" + agreement + "/amend"} {
		p := viewer.post(path, url.Values{"csrf": {token}, "by": {"1h"}, "buyer": {sbBuyer}, "q-seats": {"3"}})
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "read-only") {
			t.Fatalf("read-only POST %s: %d", path, p.status)
		}
	}
	if e.a.Emulator.World.Now().Sub(at) > time.Minute {
		t.Fatal("a refused advance moved the clock")
	}
	e.a.Emulator.World.Read(func(s *world.State) error {
		if len(s.Agreements) != 1 || s.Agreements[agreement].Status != "ACTIVE" {
			t.Errorf("refused actions changed the agreements")
		}
		for _, x := range s.Offers {
			if x.ResaleAuthorizationID != "" {
				t.Errorf("a refused extension made partner offer %s", x.OfferID)
			}
		}
		return nil
	})
	// Without a CSRF token even the admin is refused.
	if p := admin.post("/console/sandbox/agreements/"+agreement+"/cancel", url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("POST without a token: %d", p.status)
	}
}

// TestSandboxIsNotFoundWithoutTheEmulator: a console talking to AWS has no
// sandbox page, and its actions are not found either.
func TestSandboxIsNotFoundWithoutTheEmulator(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, store.SQLite))
	c := e.login("admin@seller.example")
	p := c.get("/console/sandbox")
	if p.status != http.StatusNotFound {
		t.Fatalf("sandbox without an emulator: %d", p.status)
	}
	wantIn(t, p, "built-in AWS Marketplace emulator")
	if p := c.post("/console/sandbox/clock", url.Values{"csrf": {csrfOf(t, p)}, "by": {"1h"}}); p.status != http.StatusNotFound {
		t.Fatalf("POST without an emulator: %d", p.status)
	}
	if strings.Contains(c.get("/console/").body, `href="/console/sandbox"`) {
		t.Fatal("the navigation links to the sandbox without an emulator")
	}
}

// TestBrowserSandbox clicks the sandbox page's buttons in headless Chromium
// at 1280 px and on a 390 px phone: one h1, every control labelled, no
// sideways scrolling. It is skipped without Chromium unless
// CONCORD_TEST_REQUIRE_BROWSER=1.
func TestBrowserSandbox(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := sbSetup(t, store.SQLite)
	direct := e.publish(sbOffer(offer.TypeDirect, sbBuyer, "Initrode 12 months"))
	partner := e.publish(sbOffer(offer.TypePartner, sbBuyer2, "Initrode via partner"))

	p := browser.Page(t)
	width := 0
	check := func(what string) {
		t.Helper()
		if f := checkLayout(t, ctx, p, what, width); f.H1s[0] != "Sandbox" {
			t.Fatalf("%s: h1 %q", what, f.H1s[0])
		}
	}
	click := func(sel, want string) {
		t.Helper()
		resp, err := p.ClickAndWait(ctx, sel)
		if err != nil || resp.Status != 200 || !strings.Contains(resp.URL, "/console/sandbox?done="+want) {
			t.Fatalf("%d px: click %s: %+v %v", width, sel, resp, err)
		}
		check(fmt.Sprintf("%d px after %s", width, sel))
	}
	if err := p.SetViewport(ctx, 1280, 900, false); err != nil {
		t.Fatal(err)
	}
	width = 1280
	if resp := browserSignIn(t, ctx, p, e.a.URL()+"/console/login?next=/console/sandbox", "admin@seller.example"); !strings.HasSuffix(resp.URL, "/console/sandbox") {
		t.Fatalf("sign in: %+v", resp)
	}
	check("1280 px sandbox")
	click("#accept-"+direct.OfferID, "accepted")
	click("#extend-"+partner.ResaleAuthorizationID, "extended")
	var agreement string
	e.a.Emulator.World.Read(func(s *world.State) error {
		for id := range s.Agreements {
			agreement = id
		}
		return nil
	})
	e.inConcord(agreement, marketplace.StatusActive)
	if _, err := p.Navigate(ctx, e.a.URL()+"/console/sandbox?agreement="+agreement); err != nil {
		t.Fatal(err)
	}

	if err := p.SetViewport(ctx, 390, 844, true); err != nil {
		t.Fatal(err)
	}
	width = 390
	if _, err := p.Navigate(ctx, e.a.URL()+"/console/sandbox?agreement="+agreement); err != nil {
		t.Fatal(err)
	}
	check("390 px sandbox")
	// A refused custom duration: the error summary links to the field.
	if err := p.Type(ctx, "#custom-duration", "soon"); err != nil {
		t.Fatal(err)
	}
	if resp, err := p.ClickAndWait(ctx, "#advance-custom"); err != nil || resp.Status != 400 {
		t.Fatalf("advance by soon: %+v %v", resp, err)
	}
	check("390 px refused duration")
	if err := p.Type(ctx, "#amend-"+agreement+"-seats", "12"); err != nil {
		t.Fatal(err)
	}
	click("#amend-"+agreement, "amended")
	click("#advance-1d", "advanced")
	if s, err := p.Text(ctx, "[role=status]"); err != nil || !strings.Contains(s, "clock moved forward") {
		t.Fatalf("status %q %v", s, err)
	}
}

// TestSandboxAnswersCancellationRequests: a seller's cancellation request
// shows on its agreement; the buyer rejects it (with a reason, or is refused)
// or approves it, and the approved one ends the agreement in Concord too.
func TestSandboxAnswersCancellationRequests(t *testing.T) {
	t.Parallel()
	e := sbSetup(t, store.SQLite)
	admin := e.login("admin@seller.example")
	o := e.publish(sbOffer(offer.TypeDirect, sbBuyer, "Initrode 12 months"))
	agreement := admin.press("/console/sandbox/offers/"+o.OfferID+"/accept", url.Values{"buyer": {sbBuyer}}, "accepted").Get("agreement")
	e.inConcord(agreement, marketplace.StatusActive)
	send := func() string {
		var id string
		err := e.a.Emulator.World.Do(func(s *world.State) error {
			cr, err := s.SendCancellationRequest(agreement, "TEST_AGREEMENT", "bought by mistake", "")
			if err == nil {
				id = cr.ID
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	status := func(id string) string {
		var st string
		e.a.Emulator.World.Read(func(s *world.State) error { st = s.CancellationRequests[id].Status; return nil })
		return st
	}

	first := send()
	p := admin.get("/console/sandbox")
	wantIn(t, p, "The seller asks to cancel this agreement", first, "TEST_AGREEMENT", "bought by mistake", `id="approve-`+first+`"`, `id="reject-`+first+`"`)
	viewer := e.login("viewer@seller.example")
	if vp := viewer.post("/console/sandbox/cancellation-requests/"+first+"/approve", url.Values{"csrf": {csrfOf(t, viewer.get("/console/sandbox"))}}); vp.status != http.StatusForbidden {
		t.Fatalf("read-only approve: %d", vp.status)
	}
	p = admin.post("/console/sandbox/cancellation-requests/"+first+"/reject", url.Values{"csrf": {csrfOf(t, p)}, "reason": {"  "}})
	if p.status != http.StatusBadRequest {
		t.Fatalf("reject without a reason: %d", p.status)
	}
	wantIn(t, p, `<a href="#reject-`+first+`-reason">Give the buyer&#39;s reason`, `aria-describedby="reject-`+first+`-reason-error"`)
	if st := status(first); st != world.CancellationPendingApproval {
		t.Fatalf("a refused rejection changed the request to %s", st)
	}
	admin.press("/console/sandbox/cancellation-requests/"+first+"/reject", url.Values{"reason": {"we still use it"}}, "cancellation-rejected")
	if st := status(first); st != world.CancellationRejected || e.emulated(agreement).Status != "ACTIVE" {
		t.Fatalf("rejected: request %s, agreement %s", st, e.emulated(agreement).Status)
	}
	if p := admin.get("/console/sandbox"); strings.Contains(p.body, "The seller asks to cancel") {
		t.Fatal("an answered request still asks the buyer")
	}

	second := send()
	admin.press("/console/sandbox/cancellation-requests/"+second+"/approve", nil, "cancellation-approved")
	if st := status(second); st != world.CancellationApproved || e.emulated(agreement).Status != "CANCELLED" {
		t.Fatalf("approved: request %s, agreement %s", st, e.emulated(agreement).Status)
	}
	e.inConcord(agreement, "CANCELLED")
	p = admin.post("/console/sandbox/cancellation-requests/"+second+"/approve", url.Values{"csrf": {csrfOf(t, admin.get("/console/sandbox"))}})
	if p.status != http.StatusConflict || !strings.Contains(p.body, "the emulator refused") {
		t.Fatalf("approving twice: %d", p.status)
	}
}

// TestSandboxPlaysAWSAndPayments: the buyer answers payment requests; AWS
// issues and resolves advisories, pauses disbursements and fails the next
// refund, each once per press, and the read-only user can do none of it.
func TestSandboxPlaysAWSAndPayments(t *testing.T) {
	t.Parallel()
	e := sbSetup(t, store.SQLite)
	admin := e.login("admin@seller.example")
	var agreement string
	var requests []string
	err := e.a.Emulator.World.Do(func(s *world.State) error {
		if _, err := s.CreateBuyer(sbBuyer); err != nil {
			return err
		}
		term, err := world.VariablePaymentTerm("500", "USD", "WAIT_FOR_APPROVAL", "")
		if err != nil {
			return err
		}
		o, err := s.CreatePrivateOffer(world.Offer{ProductID: sbProduct, BuyerAccounts: []string{sbBuyer}, Quantities: map[string]int64{"seats": 1}, Terms: []agreementapi.Term{term}})
		if err != nil {
			return err
		}
		a, err := s.Accept(sbBuyer, o.OfferID, world.AcceptOptions{})
		if err != nil {
			return err
		}
		agreement = a.ID
		for _, name := range []string{"Setup work", "Extra training"} {
			pr, err := s.SendPaymentRequest(a.ID, term.ID, name, "", "100", "")
			if err != nil {
				return err
			}
			requests = append(requests, pr.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p := admin.get("/console/sandbox")
	wantIn(t, p, "The seller asks the buyer to pay 100.00 USD", `id="accept-`+requests[0]+`"`, `id="advisory-`+agreement+`">Issue an advisory as AWS`, `id="pause-disbursement"`)

	viewer := e.login("viewer@seller.example")
	vtoken := csrfOf(t, viewer.get("/console/sandbox"))
	for _, path := range []string{"/console/sandbox/payment-requests/" + requests[0] + "/accept", "/console/sandbox/advisories/" + agreement + "/issue",
		"/console/sandbox/aws/pause-disbursement", "/console/sandbox/aws/fail-next-refund"} {
		if vp := viewer.post(path, url.Values{"csrf": {vtoken}}); vp.status != http.StatusForbidden {
			t.Fatalf("read-only POST %s: %d", path, vp.status)
		}
	}

	admin.press("/console/sandbox/payment-requests/"+requests[0]+"/accept", nil, "payment-accepted")
	admin.press("/console/sandbox/payment-requests/"+requests[1]+"/reject", nil, "payment-rejected")
	admin.press("/console/sandbox/advisories/"+agreement+"/issue", nil, "advisory-issued")
	wantIn(t, admin.get("/console/sandbox"), `Resolve the advisory as AWS`)
	admin.press("/console/sandbox/advisories/"+agreement+"/resolve", nil, "advisory-resolved")
	admin.press("/console/sandbox/aws/pause-disbursement", nil, "disbursement-paused")
	admin.press("/console/sandbox/aws/fail-next-refund", nil, "fail-next-refund")
	wantIn(t, admin.get("/console/sandbox"), "Armed: the next refund will fail.")
	if p := admin.post("/console/sandbox/advisories/"+agreement+"/resolve", url.Values{"csrf": {csrfOf(t, admin.get("/console/sandbox"))}}); p.status != http.StatusConflict {
		t.Fatalf("resolving a resolved advisory: %d", p.status)
	}

	e.a.Emulator.World.Read(func(s *world.State) error {
		if st := s.PaymentRequests[requests[0]].Status; st != world.PaymentApproved {
			t.Errorf("accepted payment request is %s", st)
		}
		if st := s.PaymentRequests[requests[1]].Status; st != world.PaymentRejected {
			t.Errorf("rejected payment request is %s", st)
		}
		if _, ok := s.FailNext[world.FailBillingAdjustment]; !ok {
			t.Error("the next refund is not armed to fail")
		}
		var types []string
		for _, ev := range s.Events {
			var m struct {
				DetailType string `json:"detail-type"`
			}
			json.Unmarshal(ev.Body, &m)
			if strings.Contains(m.DetailType, "Advisory") || m.DetailType == "Disbursement Paused" {
				types = append(types, m.DetailType)
			}
		}
		if got := strings.Join(types, ","); got != "Purchase Agreement Advisory Issued - Manufacturer,Purchase Agreement Advisory Resolved - Manufacturer,Disbursement Paused" {
			t.Errorf("events: %s", got)
		}
		return nil
	})
}
