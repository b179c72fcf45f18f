package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/browsertest"
	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/offer"
)

// journey is a person at the console of a running Concord in sandbox mode,
// in headless Chromium: the built-in emulator plays AWS, the buyer and the
// partner, and Concord hears of everything through its events.
type journey struct {
	t   *testing.T
	ctx context.Context
	a   *app.App
	p   *browsertest.Page
	// width is the viewport's, which every page must lay out in.
	width int
}

const (
	journeyProduct = "prod-sample"
	journeyBuyer   = "444455556666"
	journeyPartner = "777788889999"
)

// startJourney starts a fresh Concord in sandbox mode on SQLite, as
// `concord serve` does, signs in an admin in Chromium and returns at the
// dashboard.
func startJourney(t *testing.T) *journey {
	t.Helper()
	br := browsertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	a := startApp(t, app.Config{})
	a.Console.Iterations = 1000
	if _, err := a.Console.CreateUser(ctx, console.NewUser{Email: "ada@seller.example", Role: console.RoleAdmin, Password: password}); err != nil {
		t.Fatal(err)
	}
	p, err := br.NewPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	j := &journey{t: t, ctx: ctx, a: a, p: p, width: 1280}
	if err := p.SetViewport(ctx, 1280, 900, false); err != nil {
		t.Fatal(err)
	}
	j.visit("/console/login", "login")
	j.fill("#email", "ada@seller.example")
	j.fill("#password", password)
	j.submit("button[type=submit]", "/console/")
	return j
}

// facts checks the page every time: one h1, English, every control labelled,
// no sideways scrolling, the stylesheet applied, and text contrast.
func (j *journey) facts(what string) {
	j.t.Helper()
	checkLayout(j.t, j.ctx, j.p, what, j.width)
	var low []string
	if err := j.p.Evaluate(j.ctx, contrastJS, &low); err != nil {
		j.t.Fatalf("%s: %v", what, err)
	}
	if len(low) > 0 {
		j.t.Fatalf("%s: text under WCAG AA contrast:\n%s", what, strings.Join(low, "\n"))
	}
}

// contrastJS lists the text on the page whose contrast with its background
// is under WCAG AA: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold).
// The background is the first opaque one among the element's ancestors.
const contrastJS = `(() => {
	const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
	const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
		return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
	const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length === 3 || c[3] > 0.9) return c.slice(0, 3); } return [255, 255, 255]; };
	const low = [];
	for (const el of document.body.querySelectorAll("*")) {
		if (el.closest("svg")) continue;
		const text = Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent.trim()).join(" ").trim();
		if (!text) continue;
		const s = getComputedStyle(el), r = el.getBoundingClientRect();
		if (s.visibility === "hidden" || r.width === 0 || r.height === 0 || s.position === "absolute" && r.right < 0) continue;
		const fg = rgb(s.color), b = bg(el);
		const l1 = lum(fg), l2 = lum(b), ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
		const size = parseFloat(s.fontSize), large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
		if (ratio < (large ? 3 : 4.5)) low.push(ratio.toFixed(2) + " " + s.color + " on rgb(" + b.join(", ") + "): " + text.slice(0, 60));
	}
	return low;
})()`

// shot saves a screenshot of the page as docs/screenshots/console-<name>.png
// when CONCORD_SCREENSHOTS=1.
func (j *journey) shot(name string) {
	j.t.Helper()
	if name == "" || os.Getenv("CONCORD_SCREENSHOTS") != "1" {
		return
	}
	png, err := j.p.Screenshot(j.ctx, true)
	if err != nil {
		j.t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		j.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "console-"+name+".png"), png, 0o644); err != nil {
		j.t.Fatal(err)
	}
}

// visit opens a console path, checks it answered 200 and passes the checks,
// and saves its screenshot under name (if any).
func (j *journey) visit(path, name string) {
	j.t.Helper()
	resp, err := j.p.Navigate(j.ctx, j.a.URL()+path)
	if err != nil || resp.Status != 200 {
		j.t.Fatalf("visit %s: %+v %v", path, resp, err)
	}
	j.facts(path)
	j.shot(name)
}

func (j *journey) fill(sel, text string) {
	j.t.Helper()
	if err := j.p.Type(j.ctx, sel, text); err != nil {
		j.t.Fatalf("type into %s: %v", sel, err)
	}
}

func (j *journey) choose(sel, choice string) {
	j.t.Helper()
	if err := j.p.Select(j.ctx, sel, choice); err != nil {
		j.t.Fatalf("choose %s in %s: %v", choice, sel, err)
	}
}

func (j *journey) click(sel string) {
	j.t.Helper()
	if err := j.p.Click(j.ctx, sel); err != nil {
		j.t.Fatalf("click %s: %v", sel, err)
	}
}

// submit clicks a button that navigates and checks the page it lands on
// answered 200 under a path containing want.
func (j *journey) submit(sel, want string) {
	j.t.Helper()
	resp, err := j.p.ClickAndWait(j.ctx, sel)
	if err != nil {
		j.t.Fatalf("click %s: %v", sel, err)
	}
	if resp.Status != 200 || !strings.Contains(resp.URL, want) {
		main, _ := j.p.Text(j.ctx, "main")
		j.t.Fatalf("after clicking %s: %d at %s, wanted %s\n%s", sel, resp.Status, resp.URL, want, main)
	}
	j.facts(resp.URL)
}

// text is the rendered text of the page's main region.
func (j *journey) text() string {
	j.t.Helper()
	s, err := j.p.Text(j.ctx, "main")
	if err != nil {
		j.t.Fatal(err)
	}
	return s
}

func (j *journey) see(parts ...string) {
	j.t.Helper()
	s := j.text()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			j.t.Fatalf("the page does not say %q:\n%s", p, s)
		}
	}
}

// until reloads path until its main text contains every part: Concord
// catches up with the emulator through events, and the console has no
// script to refresh itself.
func (j *journey) until(path string, parts ...string) {
	j.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := j.p.Navigate(j.ctx, j.a.URL()+path)
		if err != nil {
			j.t.Fatal(err)
		}
		s := j.text()
		missing := ""
		for _, p := range parts {
			if !strings.Contains(s, p) {
				missing = p
				break
			}
		}
		if missing == "" && resp.Status == 200 {
			j.facts(path)
			return
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("%s never said %q (status %d):\n%s", path, missing, resp.Status, s)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitOffer waits until Concord's offer reaches state (its jobs and the
// emulator's events run in the background) and returns it.
func (j *journey) waitOffer(id, state string) offer.Detail {
	j.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := j.a.Offers.Get(j.ctx, id)
		if err != nil {
			j.t.Fatal(err)
		}
		if d.State == state {
			return d
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("offer %s is %s, never %s: %+v", id, d.State, state, d.History)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// setFiles chooses files for a file input, as a person does in the file
// dialog.
func (j *journey) setFiles(sel string, paths ...string) {
	j.t.Helper()
	var res struct {
		Result struct {
			ObjectID string `json:"objectId"`
		} `json:"result"`
	}
	if err := j.p.Call(j.ctx, "Runtime.evaluate", map[string]any{"expression": "document.querySelector(" + jsq(sel) + ")"}, &res); err != nil || res.Result.ObjectID == "" {
		j.t.Fatalf("find %s: %v", sel, err)
	}
	if err := j.p.Call(j.ctx, "DOM.setFileInputFiles", map[string]any{"files": paths, "objectId": res.Result.ObjectID}, nil); err != nil {
		j.t.Fatalf("choose files for %s: %v", sel, err)
	}
}

// attr is an attribute of the first element matching sel ("" if none).
func (j *journey) attr(sel, name string) string {
	j.t.Helper()
	var v string
	if err := j.p.Evaluate(j.ctx, `(() => { const el = document.querySelector(`+jsq(sel)+`); return el ? (el.getAttribute(`+jsq(name)+`) || "") : ""; })()`, &v); err != nil {
		j.t.Fatal(err)
	}
	return v
}

// setValue sets a field's value directly (date inputs take no typing).
func (j *journey) setValue(sel, value string) {
	j.t.Helper()
	if err := j.p.Evaluate(j.ctx, `(() => { const el = document.querySelector(`+jsq(sel)+`); if (!el) throw new Error("no "+`+jsq(sel)+`); el.value = `+jsq(value)+`; })()`, nil); err != nil {
		j.t.Fatal(err)
	}
}

func jsq(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// path is the path of the page the browser shows.
func (j *journey) path() string {
	j.t.Helper()
	var v string
	if err := j.p.Evaluate(j.ctx, `location.pathname`, &v); err != nil {
		j.t.Fatal(err)
	}
	return v
}

// offerForm fills in the new-offer form for the sample product.
func (j *journey) offerForm(kind, company string, seats string) {
	j.t.Helper()
	j.visit("/console/offers/new", "offer-new")
	j.click("#type-" + kind)
	j.choose("#product", journeyProduct)
	j.submit("#refresh-product", "/console/offers/new")
	j.click("#type-" + kind)
	j.fill("#buyer-company", company)
	j.fill("#buyer-account", journeyBuyer)
	j.fill("#name", company+" PO-1001")
	j.fill("#currency", "USD")
	j.fill("#duration", "P12M")
	j.fill("#dim-0-qty", seats)
	j.fill("#dim-0-price", "400.00")
	j.fill("#dim-1-price", "0.01")
	j.setValue("#expires-on", j.a.Emulator.World.Now().AddDate(0, 0, 30).Format("2006-01-02"))
	if kind == "partner" {
		j.fill("#partner-account", journeyPartner)
	}
}

// TestBrowserJourneys walks the console's main journeys in headless
// Chromium against a fresh sandbox, the way a newcomer would: add the
// sample product; create a direct offer, publish it, accept it as the
// buyer, and find the agreement and its bookable artifact; create a partner
// offer and follow it through the partner's offer to the buyer's
// acceptance; amend the agreement; register as the buyer. Every page is
// checked (one h1, labelled controls, no sideways scrolling) and, with
// CONCORD_SCREENSHOTS=1, saved to docs/screenshots.
func TestBrowserJourneys(t *testing.T) {
	t.Parallel()
	j := startJourney(t)
	ctx := j.ctx

	// A fresh sandbox has no product: the sandbox page adds the sample.
	j.visit("/console/sandbox", "")
	j.submit("#add-sample-product", "/console/sandbox")
	j.see("The sample product is listed in the emulator", "Sample Analytics (prod-sample)")

	// 1. A direct offer, published and accepted.
	j.offerForm("direct", "Globex", "10")
	j.submit("#save-offer", "/console/offers/ofr_")
	j.see("Draft", "Globex PO-1001")
	direct := strings.TrimPrefix(j.path(), "/console/offers/")
	// Globex negotiated its own EULA: upload it to the draft.
	eula := filepath.Join(t.TempDir(), "globex-eula.txt")
	if err := os.WriteFile(eula, []byte("Globex master subscription agreement.\nThese terms replace AWS's standard contract.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j.setFiles("#documents-file", eula)
	j.submit("#upload-documents", "/console/offers/"+direct+"?done=documents")
	j.see("The documents are added", "globex-eula.txt", "The consolidated PDF AWS fetches")
	j.submit("#submit-offer", "/console/offers/"+direct)
	d := j.waitOffer(direct, offer.StatePublished)
	if d.EULA.Kind != "custom" || len(d.EULA.Documents) != 1 {
		t.Fatalf("published without the custom EULA: %+v", d.EULA)
	}
	j.until("/console/offers/"+direct, "Published", d.OfferID)
	j.shot("offer")
	j.submit("#sandbox-accept", "/console/sandbox?offer="+d.OfferID)
	j.submit("#accept-"+d.OfferID, "/console/sandbox")
	d = j.waitOffer(direct, offer.StateAccepted)
	j.until("/console/offers/"+direct, "Accepted", d.AgreementID)
	agreement := d.AgreementID
	j.until("/console/agreements/"+agreement, "Globex", "seats", "\t10\t") // the Quantity cell, exactly
	j.until("/console/agreements/"+agreement, "New order")
	j.shot("agreement")
	if href := j.attr("#artifacts a[href$='.pdf']", "href"); href == "" {
		t.Fatalf("no PDF of the bookable artifact on the agreement page:\n%s", j.text())
	}

	// 2. A partner offer: the resale authorization, the partner's offer to
	// the buyer, the buyer's acceptance.
	j.offerForm("partner", "Initech", "5")
	j.submit("#save-offer", "/console/offers/ofr_")
	partner := strings.TrimPrefix(j.path(), "/console/offers/")
	j.submit("#submit-offer", "/console/offers/"+partner)
	p := j.waitOffer(partner, offer.StatePublished)
	j.until("/console/partners", "Initech", p.ResaleAuthorizationID)
	j.visit("/console/offers/"+partner, "")
	j.submit("#sandbox-extend", "/console/sandbox?offer="+p.ResaleAuthorizationID)
	j.submit("#extend-"+p.ResaleAuthorizationID, "/console/sandbox")
	p = j.waitOffer(partner, offer.StateExtended)
	j.until("/console/partners", "Initech", p.OfferID)
	j.visit("/console/offers/"+partner, "")
	j.submit("#sandbox-accept", "/console/sandbox?offer="+p.OfferID)
	j.submit("#accept-"+p.OfferID, "/console/sandbox")
	p = j.waitOffer(partner, offer.StateAccepted)
	j.until("/console/partners", "Initech", p.AgreementID)
	// The partner offers table fits the 1280 px page: no scrolling sideways
	// inside its box either.
	var overflow int
	if err := j.p.Evaluate(ctx, `(() => { const w = document.querySelector("main .table-wrap"); return w.scrollWidth - w.clientWidth; })()`, &overflow); err != nil {
		t.Fatal(err)
	}
	if overflow > 0 {
		t.Fatalf("the partner offers table is %d px wider than its box at 1280 px", overflow)
	}
	j.shot("partners")
	j.until("/console/agreements/"+p.AgreementID, journeyPartner)

	// 3. Amend the direct agreement: 10 seats become 15.
	j.visit("/console/agreements/"+agreement, "")
	j.submit("#amend-agreement", "/console/agreements/"+agreement+"/amend")
	j.shot("amend")
	j.fill("#dim-0-qty", "15")
	j.submit("#save-offer", "/console/offers/ofr_")
	amendment := strings.TrimPrefix(j.path(), "/console/offers/")
	j.submit("#submit-offer", "/console/offers/"+amendment)
	am := j.waitOffer(amendment, offer.StatePublished)
	if am.Amends == nil || am.Amends.AgreementID != agreement {
		t.Fatalf("amendment %+v", am)
	}
	j.visit("/console/sandbox?offer="+am.OfferID, "")
	j.submit("#accept-"+am.OfferID, "/console/sandbox")
	am = j.waitOffer(amendment, offer.StateAccepted)
	if am.AgreementID == "" || am.AgreementID == agreement {
		t.Fatalf("accepted amendment %+v", am)
	}
	j.until("/console/agreements/"+am.AgreementID, "\t15\t", agreement) // the Quantity cell (innerText separates cells by tabs)
	j.until("/console/agreements/"+agreement, "Replaced")
	j.until("/console/buyers/"+journeyBuyer, agreement, am.AgreementID, p.AgreementID)
	j.shot("buyer")

	// 4. Register as the buyer of the amended agreement: the emulator's
	// "Set up your account" page posts a token to Concord's registration page.
	j.visit("/console/sandbox?agreement="+am.AgreementID, "")
	resp, err := j.p.ClickAndWait(ctx, "#register-"+am.AgreementID)
	if err != nil || resp.Status != 200 || !strings.Contains(resp.URL, "/console/sandbox/register") {
		t.Fatalf("the emulator's set-up page: %+v %v", resp, err)
	}
	if resp, err = j.p.ClickAndWait(ctx, "button[type=submit]"); err != nil || resp.Status != 200 || !strings.Contains(resp.URL, "/marketplace/register") {
		t.Fatalf("arriving at the registration page: %+v %v", resp, err)
	}
	j.fill("#f-company", "Globex")
	j.fill("#f-contactName", "Hank Scorpio")
	j.fill("#f-email", "hank@globex.example")
	if resp, err = j.p.ClickAndWait(ctx, "button[type=submit]"); err != nil || resp.Status != 200 {
		t.Fatalf("registering: %+v %v", resp, err)
	}
	if h1, _ := j.p.Text(ctx, "h1"); h1 != "You're all set" {
		t.Fatalf("after registering: %q", h1)
	}
	license, err := j.a.Ledger.GetAgreement(ctx, am.AgreementID)
	if err != nil || len(license.Licenses) == 0 {
		t.Fatalf("agreement %+v %v", license, err)
	}
	arn := license.Licenses[0].LicenseArn
	j.until("/console/licenses?arn="+url.QueryEscape(arn), "Globex")

	// A day of the buyer's usage, as the vendor's app reports it: the
	// license page charts it per hour.
	start := j.a.Emulator.World.Now()
	j.visit("/console/sandbox", "")
	j.submit("#advance-1d", "/console/sandbox")
	var usage []json.RawMessage
	total := 0
	for h := range 20 {
		q := 100 + 37*h%300
		total += q
		b, _ := json.Marshal(map[string]any{"license": arn, "dimension": "api_calls", "quantity": q,
			"timestamp": start.Add(time.Duration(h+2) * time.Hour).Format(time.RFC3339), "idempotencyKey": fmt.Sprintf("journey-%d", h)})
		usage = append(usage, b)
	}
	if res, err := j.a.Metering.Ingest(ctx, usage); err != nil || res.Accepted != len(usage) {
		t.Fatalf("usage: %+v %v", res, err)
	}
	j.until("/console/licenses?arn="+url.QueryEscape(arn), fmt.Sprintf("api_calls: %d in total", total))
	j.shot("license")

	// An admin renames the product; the Audit page says who changed which
	// setting, from what to what.
	j.visit("/console/settings/products/"+journeyProduct, "")
	j.setValue("#title", "Sample Analytics Pro")
	j.submit("#save-product", "/console/settings/products/"+journeyProduct+"?saved=1")
	j.visit("/console/audit", "")
	j.choose("#object", "product")
	j.submit("#filter-audit", "/console/audit?")
	j.see("ada@seller.example", "product.update", "title", "Sample Analytics", "Sample Analytics Pro")
	var change []string
	if err := j.p.Evaluate(ctx, `(() => { for (const tr of document.querySelectorAll(".audit-diff tbody tr")) {
		if (tr.querySelector("th").innerText.trim() === "title") return [tr.querySelector("del").innerText, tr.querySelector("ins").innerText]; } return []; })()`, &change); err != nil {
		t.Fatal(err)
	}
	if len(change) != 2 || change[0] != "Sample Analytics" || change[1] != "Sample Analytics Pro" {
		was, now := "", ""
		if len(change) == 2 {
			was, now = change[0], change[1]
		}
		t.Fatalf("the audit page's first change reads %q → %q, want the old and new title:\n%s", was, now, j.text())
	}
	// The offer's history names who submitted it.
	j.visit("/console/offers/"+direct, "")
	j.see("Submitted", "by ada@seller.example")
	// The New Order notification opens on a page of its own.
	ns, err := j.a.Notify.List(ctx, notify.Filter{Kind: notify.KindNewOrder, Limit: 1})
	if err != nil || len(ns) == 0 {
		t.Fatalf("no new order notification: %v", err)
	}
	j.visit("/console/notifications", "")
	if j.attr("a[href='/console/notifications/"+ns[0].ID+"']", "href") == "" {
		t.Fatalf("the notifications list does not link to %s", ns[0].ID)
	}
	j.visit("/console/notifications/"+ns[0].ID, "")
	j.see("Text", "HTML", "Attachments", "Deliveries", "New order")

	// Every page, at 1280 px (saved) and on a 390 px phone.
	pages := []struct{ path, name string }{
		{"/console/", "dashboard"}, {"/console/offers", "offers"}, {"/console/offers/" + direct, "offer"}, {"/console/partners", "partners"},
		{"/console/offers/new", "offer-new"}, {"/console/offers/" + direct + "/associate", "offer-associate"},
		{"/console/buyers", "buyers"}, {"/console/buyers/" + journeyBuyer, "buyer"}, {"/console/agreements/" + am.AgreementID, "agreement"},
		{"/console/agreements/" + am.AgreementID + "/amend", "amend"}, {"/console/licenses?arn=" + url.QueryEscape(arn), "license"},
		{"/console/metering", "metering"}, {"/console/readiness", "readiness"}, {"/console/notifications", "notifications"},
		{"/console/settings", "settings"}, {"/console/settings/products", "settings-products"}, {"/console/settings/products/" + journeyProduct, "settings-product"},
		{"/console/settings/routes", "settings-routes"}, {"/console/settings/api-keys", "settings-api-keys"}, {"/console/settings/webhooks", "settings-webhooks"},
		{"/console/settings/users", "settings-users"}, {"/console/sandbox", "sandbox"},
		{"/console/agreements", "agreements"}, {"/console/bookings", "bookings"},
		{"/console/audit", ""}, {"/console/notifications/" + ns[0].ID, ""},
		{"/console/offers/new?clone=" + direct, ""}, {"/console/offers?sort=buyer", ""}, {"/console/metering?period=all&sort=-quantity", ""},
	}
	for _, pg := range pages {
		j.visit(pg.path, pg.name)
	}
	if err := j.p.SetViewport(ctx, 390, 844, true); err != nil {
		t.Fatal(err)
	}
	j.width = 390
	for _, pg := range pages {
		j.visit(pg.path, "")
	}
	j.visit("/console/", "phone-dashboard")
}
