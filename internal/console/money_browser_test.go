package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestBrowserMoneyJourneys: in headless Chromium, at 1280 px and on a 390 px
// phone, finance finds last month's bookings total of a product and
// downloads it as CSV, and RevOps finds a buyer by its company's name and
// sees its agreements with their values. Every page passes the layout,
// label and contrast checks. Skipped without Chromium unless
// CONCORD_TEST_REQUIRE_BROWSER=1.
func TestBrowserMoneyJourneys(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := setup(t, storetest.Open(t, store.SQLite))
	ledgerSeed(e) // agmt-amend: Acme Corp, Observa, USD 25,000.00, accepted 23 Oct 2026; now is 2 Nov 2026
	for _, u := range []console.NewUser{{Email: "fin@seller.example", Role: console.RoleFinance, Password: password},
		{Email: "rev@seller.example", Role: console.RoleRevOps, Password: password}} {
		if _, err := e.console.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	p := browser.Page(t)
	width := 0
	check := func(what string) {
		t.Helper()
		checkLayout(t, ctx, p, what, width)
		var low []string
		if err := p.Evaluate(ctx, contrastJS, &low); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(low) > 0 {
			t.Fatalf("%s: text under WCAG AA contrast:\n%s", what, strings.Join(low, "\n"))
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := p.Text(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	visit := func(path, what string) {
		t.Helper()
		if resp, err := p.Navigate(ctx, e.srv.URL+path); err != nil || resp.Status != 200 {
			t.Fatalf("%s: %+v %v", path, resp, err)
		}
		check(what)
	}
	submit := func(sel, wantPath string) {
		t.Helper()
		resp, err := p.ClickAndWait(ctx, sel)
		if err != nil || resp.Status != 200 || !strings.Contains(resp.URL, wantPath) {
			t.Fatalf("click %s: %+v %v", sel, resp, err)
		}
	}

	for _, vp := range []struct {
		w, h   int
		mobile bool
	}{{1280, 900, false}, {390, 844, true}} {
		if err := p.SetViewport(ctx, vp.w, vp.h, vp.mobile); err != nil {
			t.Fatal(err)
		}
		width = vp.w

		// Finance: last month's bookings of Observa, then the CSV.
		browserSignIn(t, ctx, p, e.srv.URL+"/console/login", "fin@seller.example")
		visit("/console/bookings", "bookings")
		if err := p.Evaluate(ctx, `(() => { document.getElementById("from").value = "2026-10"; document.getElementById("to").value = "2026-10"; })()`, nil); err != nil {
			t.Fatal(err)
		}
		if err := p.Select(ctx, "#product", "Observa (prod-o)"); err != nil {
			t.Fatal(err)
		}
		submit("form.filters button[type=submit]", "/console/bookings?")
		check("bookings of October")
		if s := text("#bookings-totals"); !strings.Contains(s, "Oct 2026") || !strings.Contains(s, "USD 25,000.00") {
			t.Fatalf("%d px: October's total: %q", vp.w, s)
		}
		// The download, as the browser saves it (the console's CSP lets no
		// script fetch it).
		dir := t.TempDir()
		if err := p.Call(ctx, "Page.setDownloadBehavior", map[string]any{"behavior": "allow", "downloadPath": dir}, nil); err != nil {
			t.Fatal(err)
		}
		if err := p.Click(ctx, "#bookings-csv"); err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, "bookings-2026-10-to-2026-10-prod-o.csv")
		var csvText []byte
		var err error
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if csvText, err = os.ReadFile(name); err == nil && len(csvText) > 0 {
				break
			}
			if time.Now().After(deadline) {
				entries, _ := os.ReadDir(dir)
				t.Fatalf("%d px: no download %s: %v (the folder holds %v)", vp.w, name, err, entries)
			}
		}
		if !strings.Contains(string(csvText), "period,productId,productTitle,channel,currency,agreements,total\n2026-10,prod-o,Observa,direct,USD,1,25000.00\n") {
			t.Fatalf("%d px: the downloaded CSV: %q", vp.w, csvText)
		}
		submit("form.signout button", "/console/login")

		// RevOps: the buyer by company name, and its agreements' values.
		browserSignIn(t, ctx, p, e.srv.URL+"/console/login", "rev@seller.example")
		visit("/console/buyers", "buyers")
		if err := p.Type(ctx, "#q", "acme corp"); err != nil {
			t.Fatal(err)
		}
		submit("form.filters button[type=submit]", "/console/buyers?")
		check("buyers found by company")
		if s := text("#buyers-table"); !strings.Contains(s, "Acme Corp") || !strings.Contains(s, buyerAccount) {
			t.Fatalf("%d px: buyers: %q", vp.w, s)
		}
		// Follow the company's link (read, then opened: on a phone the name
		// may wrap, and a click lands between its lines).
		var href string
		if err := p.Evaluate(ctx, `document.querySelector("#buyers-table tbody td:first-child a").getAttribute("href")`, &href); err != nil || href != "/console/buyers/"+buyerAccount {
			t.Fatalf("%d px: the company's link %q %v", vp.w, href, err)
		}
		visit(href, "buyer")
		if s := text("main"); !strings.Contains(s, "Acme Corp") || !strings.Contains(s, "agmt-amend") || !strings.Contains(s, "contract value USD 25,000.00") {
			t.Fatalf("%d px: the buyer's agreements: %q", vp.w, s)
		}
		visit("/console/agreements?buyer=acme", "agreements of Acme")
		if s := text("#agreements-table"); !strings.Contains(s, "USD 25,000.00") || !strings.Contains(s, "Acme Corp") {
			t.Fatalf("%d px: agreements: %q", vp.w, s)
		}
		visit("/console/agreements/agmt-amend", "agreement")
		visit("/console/", "dashboard")
		submit("form.signout button", "/console/login")
	}
}
