package console_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/browsertest"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// layoutFacts are what the accessibility and layout checks look at.
type layoutFacts struct {
	Lang        string   `json:"lang"`
	H1s         []string `json:"h1s"`
	Unlabeled   []string `json:"unlabeled"`
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
	Stylesheet  bool     `json:"stylesheet"`
	// Overlaps are pairs of a chart's labels drawn over each other.
	Overlaps []string `json:"overlaps"`
	// Statuses are the texts of the page's status messages.
	Statuses []string `json:"statuses"`
}

const layoutJS = `(() => {
	const unlabeled = [];
	for (const el of document.querySelectorAll("input, select, textarea")) {
		if (el.type === "hidden") continue;
		if (!el.labels || el.labels.length === 0) unlabeled.push(el.outerHTML.slice(0, 120));
	}
	const overlaps = [];
	for (const svg of document.querySelectorAll("svg")) {
		const boxes = Array.from(svg.querySelectorAll("text"), t => [t.textContent, t.getBoundingClientRect()]).filter(([, r]) => r.width > 0);
		for (let i = 0; i < boxes.length; i++) for (let k = i + 1; k < boxes.length; k++) {
			const [a, b] = [boxes[i][1], boxes[k][1]];
			if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) overlaps.push(boxes[i][0] + " / " + boxes[k][0]);
		}
	}
	const statuses = Array.from(document.querySelectorAll("[role=status]"), e => e.innerText.trim());
	return {lang: document.documentElement.lang, overlaps, statuses, h1s: Array.from(document.querySelectorAll("h1"), h => h.textContent.trim()), unlabeled,
		scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
		stylesheet: getComputedStyle(document.body).backgroundColor === "rgb(244, 245, 247)"};
})()`

// checkLayout fails t unless the page is in English with one h1, a label on
// every control and the stylesheet applied, no chart label over another, no
// status message said twice,
// and lays out in the width px
// viewport without scrolling sideways. (A phone's layout viewport grows to
// fit content too wide for it, so the width is compared, not only the
// scroll width.)
func checkLayout(t testing.TB, ctx context.Context, p *browsertest.Page, what string, width int) layoutFacts {
	t.Helper()
	var f layoutFacts
	if err := p.Evaluate(ctx, layoutJS, &f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if f.Lang != "en" || len(f.H1s) != 1 || len(f.Unlabeled) > 0 || !f.Stylesheet {
		t.Fatalf("%s: lang %q, h1s %q, controls without a label %q, stylesheet applied %v", what, f.Lang, f.H1s, f.Unlabeled, f.Stylesheet)
	}
	for i, s := range f.Statuses {
		if slices.Contains(f.Statuses[i+1:], s) {
			t.Fatalf("%s: the status %q is said twice", what, s)
		}
	}
	if len(f.Overlaps) > 0 {
		t.Fatalf("%s at %d px: chart labels drawn over each other: %q", what, width, f.Overlaps)
	}
	if f.ScrollWidth > f.InnerWidth || f.InnerWidth != width {
		// Name what overflows: an element whose content (often one long
		// word) is wider than it, outside any scrolling region.
		var wide []string
		p.Evaluate(ctx, `Array.from(document.querySelectorAll("main *")).filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === "visible").slice(0, 5).map(e => e.tagName + " " + e.textContent.trim().slice(0, 40))`, &wide)
		t.Fatalf("%s: the %d px viewport lays out %d px and scrolls %d px; too wide: %q", what, width, f.InnerWidth, f.ScrollWidth, wide)
	}
	return f
}

// browserSignIn opens loginURL (the sign-in page, perhaps with ?next=),
// signs in as email with the test password, and returns where it landed.
func browserSignIn(t testing.TB, ctx context.Context, p *browsertest.Page, loginURL, email string) browsertest.Response {
	t.Helper()
	if _, err := p.Navigate(ctx, loginURL); err != nil {
		t.Fatal(err)
	}
	if err := p.Type(ctx, "#email", email); err != nil {
		t.Fatal(err)
	}
	if err := p.Type(ctx, "#password", password); err != nil {
		t.Fatal(err)
	}
	resp, err := p.ClickAndWait(ctx, "button[type=submit]")
	if err != nil {
		t.Fatalf("sign in as %s: %v", email, err)
	}
	return resp
}

// TestBrowserSignInAndDashboard signs in with headless Chromium, at 1280 px
// and on a 390 px phone, and sees the dashboard with its data. It is skipped
// without Chromium unless CONCORD_TEST_REQUIRE_BROWSER=1. (The screenshots
// of docs/screenshots come from TestBrowserJourneys.)
func TestBrowserSignInAndDashboard(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := setup(t, storetest.Open(t, store.SQLite))
	d := e.data()

	p := browser.Page(t)
	width := 0
	check := func(what string) layoutFacts {
		t.Helper()
		return checkLayout(t, ctx, p, what, width)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := p.Text(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	for _, vp := range []struct {
		w, h   int
		mobile bool
	}{{1280, 800, false}, {390, 844, true}} {
		if err := p.SetViewport(ctx, vp.w, vp.h, vp.mobile); err != nil {
			t.Fatal(err)
		}
		width = vp.w
		// A signed-out visit to the offers goes to the sign-in page and back.
		resp, err := p.Navigate(ctx, e.srv.URL+"/console/offers")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 || !strings.Contains(resp.URL, "/console/login?next=") {
			t.Fatalf("%d px: signed out: %+v", vp.w, resp)
		}
		check("login")
		if err := p.Type(ctx, "#email", "admin@seller.example"); err != nil {
			t.Fatal(err)
		}
		if err := p.Type(ctx, "#password", "not the password"); err != nil {
			t.Fatal(err)
		}
		if resp, err = p.ClickAndWait(ctx, "button[type=submit]"); err != nil || resp.Status != 401 {
			t.Fatalf("%d px: wrong password: %+v %v", vp.w, resp, err)
		}
		if s := text("[role=alert]"); !strings.Contains(s, "The email or password is incorrect.") {
			t.Fatalf("error summary %q", s)
		}
		var invalid string
		if err := p.Evaluate(ctx, `document.getElementById("email").getAttribute("aria-invalid") + "/" + document.querySelector("[role=alert] a").getAttribute("href")`, &invalid); err != nil || invalid != "true/#email" {
			t.Fatalf("invalid markup %q %v", invalid, err)
		}
		check("login with an error")
		if err := p.Type(ctx, "#password", password); err != nil {
			t.Fatal(err)
		}
		if resp, err = p.ClickAndWait(ctx, "button[type=submit]"); err != nil || resp.Status != 200 || !strings.HasSuffix(resp.URL, "/console/offers") {
			t.Fatalf("%d px: sign in: %+v %v", vp.w, resp, err)
		}
		if s := text("main"); !strings.Contains(s, "Acme Corp expansion PO-4471") {
			t.Fatalf("offers page: %q", s)
		}
		check("offers")
		if resp, err = p.Navigate(ctx, e.srv.URL+"/console/"); err != nil || resp.Status != 200 {
			t.Fatalf("dashboard: %+v %v", resp, err)
		}
		if h1 := text("h1"); h1 != "Dashboard" {
			t.Fatalf("h1 %q", h1)
		}
		if s := text("main"); !strings.Contains(s, "agmt-ending") || !strings.Contains(s, "1 offer") || !strings.Contains(s, "Pending registrations") {
			t.Fatalf("dashboard: %q", s)
		}
		check("dashboard")
		if resp, err = p.Navigate(ctx, e.srv.URL+"/console/offers/"+d.offer.ID); err != nil || resp.Status != 200 {
			t.Fatalf("offer: %+v %v", resp, err)
		}
		check("offer detail")
		if resp, err = p.Navigate(ctx, e.srv.URL+"/console/notifications"); err != nil || resp.Status != 200 {
			t.Fatalf("notifications: %+v %v", resp, err)
		}
		check("notifications")
		// Sign out.
		if resp, err = p.ClickAndWait(ctx, "form.signout button"); err != nil || !strings.HasSuffix(resp.URL, "/console/login") {
			t.Fatalf("%d px: sign out: %+v %v", vp.w, resp, err)
		}
		if resp, err = p.Navigate(ctx, e.srv.URL+"/console/"); err != nil || !strings.Contains(resp.URL, "/console/login") {
			t.Fatalf("%d px: after sign out: %+v %v", vp.w, resp, err)
		}
	}
}
