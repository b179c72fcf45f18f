package app_test

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/browsertest"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
)

// marketplaceConsole is the page of AWS Marketplace the buyer leaves from: a
// form posting the registration token to the seller's fulfillment URL.
var marketplaceConsole = template.Must(template.New("console").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AWS Marketplace</title></head><body>
<form method="post" action="{{.Action}}"><input type="hidden" name="x-amzn-marketplace-token" value="{{.Token}}">
<button id="setup" type="submit">Set up your account</button></form></body></html>`))

// pageFacts are what the accessibility and layout checks look at.
type pageFacts struct {
	Lang        string   `json:"lang"`
	H1s         []string `json:"h1s"`
	Unlabeled   []string `json:"unlabeled"`
	Labels      []string `json:"labels"` // "id=label text" of each visible control
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
}

const factsJS = `(() => {
	const visible = el => { const s = getComputedStyle(el), r = el.getBoundingClientRect();
		return s.display !== "none" && s.visibility !== "hidden" && r.width > 0 && r.height > 0; };
	const unlabeled = [], labels = [];
	for (const el of document.querySelectorAll("input, select, textarea")) {
		if (el.type === "hidden" || !visible(el)) continue;
		const texts = Array.from(el.labels || []).map(l => l.textContent.replace(/\s+/g, " ").trim()).filter(Boolean);
		if (texts.length === 0) unlabeled.push(el.outerHTML.slice(0, 120));
		else labels.push(el.id + "=" + texts[0]);
	}
	return {lang: document.documentElement.lang, h1s: Array.from(document.querySelectorAll("h1"), h => h.textContent.trim()),
		unlabeled, labels, scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth};
})()`

// TestBrowserRegistration has a buyer register in headless Chromium: arriving
// from AWS Marketplace with a token, fixing a missed field, finishing, on a
// phone-sized screen. It is skipped without Chromium unless
// CONCORD_TEST_REQUIRE_BROWSER=1; CONCORD_SCREENSHOTS=1 saves
// docs/screenshots/registration.png.
func TestBrowserRegistration(t *testing.T) {
	t.Parallel()
	br := browsertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b := setup(t, "sqlite", app.Config{})
	const account = "777700007777"
	m := newMarket(t, b, "prod-web", "webcode", "separate", account)
	agreementID, licenseArn := m.accept(account, 5)
	var token string
	err := b.app.Emulator.World.Do(func(s *world.State) error {
		tk, err := s.MintToken(agreementID)
		if err == nil {
			token = tk.Value
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	registerURL := b.app.URL() + "/marketplace/register"
	console := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		marketplaceConsole.Execute(w, map[string]string{"Action": registerURL, "Token": token})
	}))
	t.Cleanup(console.Close)

	p, err := br.NewPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	facts := func(what string) pageFacts {
		t.Helper()
		var f pageFacts
		if err := p.Evaluate(ctx, factsJS, &f); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if f.Lang == "" || len(f.H1s) != 1 || len(f.Unlabeled) > 0 {
			t.Fatalf("%s: accessibility basics: lang %q, h1s %q, controls without a label %q", what, f.Lang, f.H1s, f.Unlabeled)
		}
		if f.InnerWidth <= 390 && f.ScrollWidth > f.InnerWidth {
			t.Fatalf("%s: scrolls sideways at %d px: scrollWidth %d", what, f.InnerWidth, f.ScrollWidth)
		}
		return f
	}
	attr := func(selector, name string) string {
		t.Helper()
		var v string
		if err := p.Evaluate(ctx, `(() => { const el = document.querySelector(`+jsString(selector)+`); return el ? (el.getAttribute(`+jsString(name)+`) || "") : "<missing>"; })()`, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	text := func(selector string) string {
		t.Helper()
		s, err := p.Text(ctx, selector)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// The buyer chooses "Set up your account" in AWS Marketplace; the browser
	// posts the token, and Concord redirects it to the form.
	if err := p.SetViewport(ctx, 1024, 768, false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Navigate(ctx, console.URL); err != nil {
		t.Fatal(err)
	}
	resp, err := p.ClickAndWait(ctx, "#setup")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.URL != registerURL {
		t.Fatalf("arrival: %+v", resp)
	}
	if h1 := text("h1"); h1 != "Set up your Acme separate account" {
		t.Fatalf("h1 %q", h1)
	}
	if body := text("body"); strings.Contains(body, token) || !strings.Contains(body, account) {
		t.Fatalf("the page shows the token, or not the account:\n%s", body)
	}
	f := facts("form")
	want := []string{"f-company=Company name", "f-contactName=Your name", "f-email=Work email", "f-region=Data region"}
	if len(f.Labels) != len(want) {
		t.Fatalf("labelled controls %q, want %q", f.Labels, want)
	}
	for i, l := range f.Labels {
		if !strings.HasPrefix(l, want[i]) {
			t.Fatalf("labelled controls %q, want %q", f.Labels, want)
		}
	}
	if os.Getenv("CONCORD_SCREENSHOTS") == "1" {
		shot, err := p.Screenshot(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "registration.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", filepath.Join(dir, "registration.png"))
	}

	// The rest happens on a phone.
	if err := p.SetViewport(ctx, 390, 844, true); err != nil {
		t.Fatal(err)
	}
	if f := facts("form at 390 px"); f.InnerWidth != 390 {
		t.Fatalf("viewport is %d px wide, want 390", f.InnerWidth)
	}

	// Fill in the fields found by their labels, leaving out the email.
	fill := func(label, id, value string) {
		t.Helper()
		var got string
		err := p.Evaluate(ctx, `(() => {
			const l = Array.from(document.querySelectorAll("label")).find(l => l.textContent.trim().startsWith(`+jsString(label)+`));
			return l && l.control ? l.control.id : "";
		})()`, &got)
		if err != nil || got != id {
			t.Fatalf("the label %q names control %q, want %q (%v)", label, got, id, err)
		}
		if id == "f-region" {
			err = p.Select(ctx, "#"+id, value)
		} else {
			err = p.Type(ctx, "#"+id, value)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fill("Company name", "f-company", "Initech")
	fill("Your name", "f-contactName", "Ada Buyer")
	fill("Data region", "f-region", "EU")
	resp, err = p.ClickAndWait(ctx, "button[type=submit]")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 400 {
		t.Fatalf("submitting without an email: %+v", resp)
	}
	if summary := text("[role=alert]"); !strings.Contains(summary, "Please fix the following") || !strings.Contains(summary, "Work email is required.") {
		t.Fatalf("error summary %q", summary)
	}
	if attr("[role=alert] a", "href") != "#f-email" || attr("#f-email", "aria-invalid") != "true" ||
		!strings.Contains(attr("#f-email", "aria-describedby"), "f-email-error") || attr("#f-company", "aria-invalid") != "" {
		t.Fatalf("invalid field markup: summary link %q, email aria-invalid %q describedby %q, company aria-invalid %q",
			attr("[role=alert] a", "href"), attr("#f-email", "aria-invalid"), attr("#f-email", "aria-describedby"), attr("#f-company", "aria-invalid"))
	}
	var kept string
	if err := p.Evaluate(ctx, `[document.getElementById("f-company").value, document.getElementById("f-region").value].join("/")`, &kept); err != nil || kept != "Initech/EU" {
		t.Fatalf("answers kept: %q %v", kept, err)
	}
	facts("form with errors at 390 px")
	if n := len(tenantsOf(t, b, account, "webcode")); n != 0 {
		t.Fatalf("an invalid form created %d tenants", n)
	}

	fill("Work email", "f-email", "ada@initech.example")
	resp, err = p.ClickAndWait(ctx, "button[type=submit]")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.URL != registerURL {
		t.Fatalf("after submit: %+v", resp)
	}
	if h1, status := text("h1"), text("[role=status]"); h1 != "You're all set" || !strings.Contains(status, "Initech") {
		t.Fatalf("done page: h1 %q, status %q", h1, status)
	}
	if href := attr("a.button-link", "href"); href != "https://app.example.com/welcome" {
		t.Fatalf("continue link %q", href)
	}
	facts("done page at 390 px")

	ts := tenantsOf(t, b, account, "webcode")
	if len(ts) != 1 {
		t.Fatalf("want one tenant, got %+v", ts)
	}
	tn := ts[0]
	if tn.Company != "Initech" || tn.ContactName != "Ada Buyer" || tn.Email != "ada@initech.example" || tn.Fields["region"] != "EU" ||
		tn.Source != marketplace.SourceRegistration || len(tn.Licenses) != 1 || tn.Licenses[0].LicenseArn != licenseArn ||
		tn.Licenses[0].State != "active" || tn.BillingLicenseID != tn.Licenses[0].LicenseID {
		t.Fatalf("tenant %+v", tn)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}
