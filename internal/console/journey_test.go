package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/browsertest"
	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/webhook"
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
	// routes resolves a path to the console route that serves it; seen
	// records, per route pattern, the widths at which a page it served
	// passed the checks (see checkEveryPage).
	routes *recordingMux
	seenMu *sync.Mutex
	seen   map[string]map[int]bool
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
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	a := startApp(t, app.Config{})
	a.Console.Iterations = 1000
	// AWS applies a change set in minutes, the emulator in a second by
	// default: the journeys need no wait to see an offer published.
	if err := a.Emulator.World.Do(func(s *world.State) error { s.Config.ChangeSetDelay = 0; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Console.CreateUser(ctx, console.NewUser{Email: "ada@seller.example", Role: console.RoleAdmin, Password: password}); err != nil {
		t.Fatal(err)
	}
	p := browser.Page(t)
	rec := &recordingMux{ServeMux: http.NewServeMux()}
	a.Console.Mount(rec)
	j := &journey{t: t, ctx: ctx, a: a, p: p, width: 1280, routes: rec, seenMu: &sync.Mutex{}, seen: map[string]map[int]bool{}}
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
// no sideways scrolling, the stylesheet applied, and text contrast. what is
// the page's path or URL: the route that served it is recorded as seen at
// this width.
func (j *journey) facts(what string) {
	j.t.Helper()
	checkLayout(j.t, j.ctx, j.p, what, j.width)
	j.contrast(what)
	j.saw(what)
}

// contrast fails the test if any text on the page is under WCAG AA contrast.
func (j *journey) contrast(what string) {
	j.t.Helper()
	var low []string
	if err := j.p.Evaluate(j.ctx, contrastJS, &low); err != nil {
		j.t.Fatalf("%s: %v", what, err)
	}
	if len(low) > 0 {
		j.t.Fatalf("%s: text under WCAG AA contrast:\n%s", what, strings.Join(low, "\n"))
	}
}

// saw records that the page at what (a path or URL) passed the checks at
// the current width, under the pattern of the route that served it: a GET
// route, or a POST route that answered with a page of its own (a
// confirmation).
func (j *journey) saw(what string) {
	j.t.Helper()
	u, err := url.Parse(what)
	if err != nil {
		j.t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		if _, pattern := j.routes.Handler(&http.Request{Method: method, Host: u.Host, URL: &url.URL{Path: u.Path}}); pattern != "" {
			j.seenMu.Lock()
			defer j.seenMu.Unlock()
			if j.seen[pattern] == nil {
				j.seen[pattern] = map[int]bool{}
			}
			j.seen[pattern][j.width] = true
			return
		}
	}
	j.t.Fatalf("no console route serves %s", what)
}

// notPages are the GET routes that answer with no page of the console's
// layout, and why; every route ending in .csv is a download too.
var notPages = map[string]string{
	"GET /console":                                    "redirects to /console/",
	"GET /console/static/{file}":                      "the stylesheet",
	"GET /console/artifacts/{id}/{file}":              "a bookable artifact's PDF or JSON",
	"GET /console/notifications/{id}/attachments/{n}": "a notification's attachment",
	"GET /console/offers/{id}/documents/{doc}":        "a contract document the seller uploaded",
	"GET /console/offers/{id}/contract/{kind}":        "the consolidated contract PDF",
	"GET /console/sandbox/register":                   "the emulator's stand-in for AWS's \"Set up your account\" page (internal/emulator), which the journey passes through on the way to the registration page",
}

// checkEveryPage fails the test unless every page the console mounts
// passed the checks at both widths: every GET route but notPages and CSV
// downloads, and every lifecycle action's confirmation page (the POST
// routes under /lifecycle/, but for refresh, which asks nothing).
func (j *journey) checkEveryPage() {
	j.t.Helper()
	var want []string
	mounted := map[string]bool{}
	for _, pattern := range j.routes.patterns {
		mounted[pattern] = true
		method, path, _ := strings.Cut(pattern, " ")
		switch {
		case method == http.MethodGet && notPages[pattern] == "" && !strings.HasSuffix(path, ".csv"):
			want = append(want, pattern)
		case method == http.MethodPost && strings.Contains(path, "/lifecycle/") && !strings.HasSuffix(path, "/refresh"):
			want = append(want, pattern)
		}
	}
	for pattern := range notPages {
		if !mounted[pattern] {
			j.t.Errorf("notPages lists %q, which the console does not mount", pattern)
		}
	}
	if len(want) < 35 {
		j.t.Fatalf("found only %d pages among the routes: %v", len(want), want)
	}
	for _, pattern := range want {
		for _, width := range []int{1280, 390} {
			if !j.seen[pattern][width] {
				j.t.Errorf("no page of %s was checked at %d px: visit it in TestBrowserJourneys", pattern, width)
			}
		}
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
	for _, u := range []console.NewUser{{Email: "rev@seller.example", Role: console.RoleRevOps, Password: password},
		{Email: "fin@seller.example", Role: console.RoleFinance, Password: password}} {
		if _, err := j.a.Console.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}

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

	// 5. The agreement's lifecycle, through the emulator: RevOps asks AWS
	// to cancel the amended agreement and sees the request pending; finance
	// refunds part of its invoice and sees the refund. A second agreement,
	// whose terms let the seller send payment requests, gets one from RevOps.
	life := "/console/agreements/" + am.AgreementID + "/lifecycle"
	variable := j.variablePaymentAgreement()
	j.signOut()
	j.signIn("rev@seller.example")
	j.visit("/console/agreements/"+am.AgreementID, "")
	j.submit("#agreement-lifecycle", life) // a link: submit follows it
	j.see("No cancellation request.", "Ask AWS to cancel this agreement")
	j.choose("#cancel-reason-code", "TEST_AGREEMENT")
	j.fill("#cancel-description", "Bought twice by mistake; PO-1001 stays.")
	j.submit("#cancel-agreement", life+"/cancel")
	j.see("Ask AWS to cancel agreement "+am.AgreementID+"?", "Nothing has been sent yet.", "Bought twice by mistake; PO-1001 stays.")
	j.shot("lifecycle-confirm")
	j.submit("#confirm-cancel", life+"?done=")
	j.see("Cancellation request acr-", "it waits for the buyer", "PENDING APPROVAL", "TEST AGREEMENT", "Bought twice by mistake")
	if s := j.text(); strings.Contains(s, "Ask AWS to cancel this agreement") || strings.Contains(s, "Refund part of an invoice") {
		t.Fatalf("RevOps is offered a second cancellation, or a refund:\n%s", s)
	}
	var pending int
	j.a.Emulator.World.Read(func(s *world.State) error {
		for _, cr := range s.CancellationRequests {
			if cr.AgreementID == am.AgreementID && cr.Status == world.CancellationPendingApproval {
				pending++
			}
		}
		return nil
	})
	if pending != 1 {
		t.Fatalf("the emulator holds %d pending cancellation requests for %s", pending, am.AgreementID)
	}
	vlife := "/console/agreements/" + variable + "/lifecycle"
	j.until(vlife, "Send a payment request")
	j.fill("#pay-name", "Onboarding workshop")
	j.fill("#pay-amount", "750.00")
	j.submit("#send-payment-request", vlife+"/pay")
	j.see("Send payment request \"Onboarding workshop\"?", "750.00")
	j.submit("#confirm-pay", vlife+"?done=")
	j.see("Payment request ", "Onboarding workshop", "750.00 USD", "PENDING APPROVAL")
	j.signOut()

	j.signIn("fin@seller.example")
	j.visit(life, "")
	j.see("PENDING APPROVAL", "Not read from AWS yet")
	j.submit("#refresh-lifecycle", life+"?done=")
	j.see("Read again from AWS.", "As AWS listed them", "6000.00 USD")
	j.choose("#refund-invoice", j.firstOption("#refund-invoice"))
	j.fill("#refund-amount", "1000.00")
	j.choose("#refund-reason", "BUYER_DISSATISFACTION")
	j.fill("#refund-description", "Five seats were never used.")
	j.submit("#refund-invoice-button", life+"/refund")
	j.see("Refund 1000.00 of invoice inv-", "Five seats were never used.")
	j.submit("#confirm-refund", life+"?done=")
	j.see("Refund ba-", "requested: PENDING", "1000.00 USD", "BUYER DISSATISFACTION")
	var refunds []string
	if err := j.p.Evaluate(ctx, `Array.from(document.querySelectorAll("[aria-label=Refunds] tbody tr"), tr => tr.innerText)`, &refunds); err != nil || len(refunds) != 1 ||
		!strings.Contains(refunds[0], "1000.00 USD") || !strings.Contains(refunds[0], "PENDING") {
		t.Fatalf("the refunds table: %q %v", refunds, err)
	}
	j.shot("lifecycle")
	if s := j.text(); strings.Contains(s, "Ask AWS to cancel this agreement") || strings.Contains(s, "Withdraw…") {
		t.Fatalf("finance is offered cancellation actions:\n%s", s)
	}
	j.signOut()
	j.signIn("ada@seller.example")

	// Every page, at 1280 px (saved) and on a 390 px phone; then the
	// confirmation page of every lifecycle action, left with "No, go back".
	draft := j.draft()
	ep, err := j.a.Webhooks.Create(ctx, webhook.EndpointInput{URL: "https://app.example.com/hooks/concord", Description: "CRM sync"})
	if err != nil {
		t.Fatal(err)
	}
	pages := []struct{ path, name string }{
		{"/console/", "dashboard"}, {"/console/offers", "offers"}, {"/console/offers/" + direct, "offer"}, {"/console/partners", "partners"},
		{"/console/offers/new", "offer-new"}, {"/console/offers/" + direct + "/associate", "offer-associate"}, {"/console/offers/" + draft + "/edit", ""},
		{"/console/buyers", "buyers"}, {"/console/buyers/" + journeyBuyer, "buyer"}, {"/console/agreements", "agreements"},
		{"/console/agreements/" + am.AgreementID, "agreement"}, {life, ""}, {"/console/agreements/" + am.AgreementID + "/amend", "amend"},
		{"/console/licenses?arn=" + url.QueryEscape(arn), "license"}, {"/console/bookings", "bookings"},
		{"/console/metering", "metering"}, {"/console/readiness", "readiness"}, {"/console/notifications", "notifications"},
		{"/console/notifications/" + ns[0].ID, "notification"}, {"/console/audit", "audit"},
		{"/console/settings", "settings"}, {"/console/settings/products", "settings-products"}, {"/console/settings/products/new", ""},
		{"/console/settings/products/" + journeyProduct, "settings-product"}, {"/console/settings/routes", "settings-routes"},
		{"/console/settings/api-keys", "settings-api-keys"}, {"/console/settings/webhooks", "settings-webhooks"},
		{"/console/settings/webhooks/" + ep.ID, ""}, {"/console/settings/users", "settings-users"}, {"/console/sandbox", "sandbox"},
		{"/console/offers/new?clone=" + direct, ""}, {"/console/offers?sort=buyer", ""}, {"/console/metering?period=all&sort=-quantity", ""},
	}
	// The two widths at once, each in a page of its own: at 1280 px the
	// admin's page, at 390 px a second admin's (signing in again would end
	// the first session).
	if !t.Run("every page", func(t *testing.T) {
		for _, width := range []int{1280, 390} {
			t.Run(fmt.Sprint(width), func(t *testing.T) {
				t.Parallel()
				k := j.at(t, width)
				for _, pg := range pages {
					name := pg.name
					if width != 1280 {
						name = ""
					}
					k.visit(pg.path, name)
					switch pg.path {
					case "/console/bookings": // the run rate of the contracts in force
						k.see("Contracts in force: annual run rate", "Sample Analytics")
					case "/console/licenses?arn=" + url.QueryEscape(arn): // usage × the rate card
						k.see("Metered charges")
					case "/console/buyers/" + journeyBuyer:
						k.see("Globex", journeyBuyer)
					}
				}
				k.visitStatus("/console/agreements/agmt-none", http.StatusNotFound) // the error page
				k.confirmations(life, vlife)
				if width == 390 {
					k.visit("/console/", "phone-dashboard")
					k.signOut()
				}
			})
		}
	}) {
		return
	}
	j.checkEveryPage()
}

// at is the journey for a subtest t at width: at 1280 px on the journey's
// page, at 390 px on a page of its own, signed in as a second admin. Both
// record the pages they check in the journey's seen.
func (j *journey) at(t *testing.T, width int) *journey {
	k := *j
	k.t, k.width = t, width
	if width == 1280 {
		if err := k.p.SetViewport(k.ctx, 1280, 900, false); err != nil {
			t.Fatal(err)
		}
		return &k
	}
	if _, err := j.a.Console.CreateUser(k.ctx, console.NewUser{Email: "grace@seller.example", Role: console.RoleAdmin, Password: password}); err != nil {
		t.Fatal(err)
	}
	k.p = browser.Page(t)
	if err := k.p.SetViewport(k.ctx, width, 844, true); err != nil {
		t.Fatal(err)
	}
	k.signIn("grace@seller.example")
	return &k
}

// signIn signs in at the login page as email.
func (j *journey) signIn(email string) {
	j.t.Helper()
	j.visit("/console/login", "")
	j.fill("#email", email)
	j.fill("#password", password)
	j.submit("button[type=submit]", "/console/")
}

// signOut presses Sign out and checks the login page it lands on.
func (j *journey) signOut() {
	j.t.Helper()
	j.submit("form.signout button", "/console/login")
}

// visitStatus opens path, checks it answered status, and checks the page.
func (j *journey) visitStatus(path string, status int) {
	j.t.Helper()
	resp, err := j.p.Navigate(j.ctx, j.a.URL()+path)
	if err != nil || resp.Status != status {
		j.t.Fatalf("visit %s: %+v %v, want status %d", path, resp, err, status)
	}
	checkLayout(j.t, j.ctx, j.p, path, j.width)
	j.contrast(path)
}

// firstOption is the value of a <select>'s first option.
func (j *journey) firstOption(sel string) string {
	j.t.Helper()
	var v string
	if err := j.p.Evaluate(j.ctx, `(() => { const o = document.querySelector(`+jsq(sel+" option")+`); if (!o) throw new Error("no option in "+`+jsq(sel)+`); return o.value; })()`, &v); err != nil {
		j.t.Fatal(err)
	}
	return v
}

// confirmations opens the confirmation page of each lifecycle action and
// goes back without sending: cancel and send a payment request (on the
// agreement with a variable payment term), withdraw the pending
// cancellation request and refund (on the amended agreement), and cancel
// the pending payment request. Nothing may change.
func (j *journey) confirmations(life, vlife string) {
	j.t.Helper()
	back := func(path string) {
		j.t.Helper()
		j.submit("form a.button-link", path)
	}
	j.visit(vlife, "")
	j.fill("#cancel-description", "Checking the page")
	j.submit("#cancel-agreement", vlife+"/cancel")
	j.see("Nothing has been sent yet.")
	back(vlife)
	j.fill("#pay-name", "Checking the page")
	j.fill("#pay-amount", "1.00")
	j.submit("#send-payment-request", vlife+"/pay")
	back(vlife)
	j.submit("form[action$='/payment-cancel'] button", vlife+"/payment-cancel")
	j.see("Cancel payment request ")
	back(vlife)
	j.visit(life, "")
	j.fill("form[action$='/withdraw'] input[name=reason]", "Checking the page")
	j.submit("form[action$='/withdraw'] button", life+"/withdraw")
	j.see("Withdraw cancellation request acr-")
	back(life)
	j.fill("#refund-amount", "1.00")
	j.submit("#refund-invoice-button", life+"/refund")
	back(life)
	j.see("PENDING APPROVAL", "1000.00 USD")
}

// variablePaymentAgreement has the buyer accept, in the emulator, an offer
// whose terms carry a variable payment term (the console's offer form makes
// none), and waits until Concord knows the agreement.
func (j *journey) variablePaymentAgreement() string {
	j.t.Helper()
	var id string
	err := j.a.Emulator.World.Do(func(s *world.State) error {
		term, err := world.VariablePaymentTerm("5000", "USD", "WAIT_FOR_APPROVAL", "")
		if err != nil {
			return err
		}
		o, err := s.CreatePrivateOffer(world.Offer{ProductID: journeyProduct, Name: "Globex services", BuyerAccounts: []string{journeyBuyer},
			Quantities: map[string]int64{"seats": 1}, Terms: []agreementapi.Term{term}})
		if err != nil {
			return err
		}
		a, err := s.Accept(journeyBuyer, o.OfferID, world.AcceptOptions{})
		if err == nil {
			id = a.ID
		}
		return err
	})
	if err != nil {
		j.t.Fatal(err)
	}
	j.until("/console/agreements/"+id, "Globex")
	return id
}

// draft saves a new offer to Globex without submitting it, and returns its
// id. (The newest offer to an account names its buyer: another company
// here would rename Globex.)
func (j *journey) draft() string {
	j.t.Helper()
	j.offerForm("direct", "Globex", "3")
	j.submit("#save-offer", "/console/offers/ofr_")
	j.see("Draft", "Globex PO-1001")
	return strings.TrimPrefix(j.path(), "/console/offers/")
}
