package console_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
	"github.com/concordmp/concord/internal/webhook"
)

// postRoute is one POST route the console mounts, with the area of change
// (User.Can) that guards it; "" is signing out, open to every signed-in user.
type postRoute struct {
	path string // with {name} for the path values
	area string
}

// postRoutes is every POST route the console mounts.
// TestSecurityRouteTableIsComplete keeps it in step with the mount functions
// and the templates' forms.
var postRoutes = []postRoute{
	{"/console/logout", ""},
	{"/console/notifications/{notification}/resend", console.AreaSandbox},

	{"/console/offers/new", console.AreaOffers},
	{"/console/offers/{offer}/edit", console.AreaOffers},
	{"/console/offers/{offer}/submit", console.AreaOffers},
	{"/console/offers/{offer}/cancel", console.AreaOffers},
	{"/console/offers/{offer}/instructions", console.AreaOffers},
	{"/console/offers/{offer}/associate", console.AreaOffers},
	{"/console/offers/{offer}/documents", console.AreaOffers},
	{"/console/offers/{offer}/documents/{doc}/remove", console.AreaOffers},
	{"/console/agreements/{agreement}/amend", console.AreaOffers},
	{"/console/buyers/{account}/company", console.AreaOffers},
	{"/console/agreements/{agreement}/lifecycle/refresh", console.AreaSandbox},
	{"/console/agreements/{agreement}/lifecycle/cancel", console.AreaOffers},
	{"/console/agreements/{agreement}/lifecycle/withdraw", console.AreaOffers},
	{"/console/agreements/{agreement}/lifecycle/pay", console.AreaOffers},
	{"/console/agreements/{agreement}/lifecycle/payment-cancel", console.AreaOffers},
	{"/console/agreements/{agreement}/lifecycle/refund", console.AreaRefunds},

	{"/console/metering/retry", console.AreaSandbox},

	{"/console/settings/products/new", console.AreaSettings},
	{"/console/settings/products/{product}", console.AreaSettings},
	{"/console/settings/products/{product}/sync", console.AreaSettings},
	{"/console/settings/routes", console.AreaSettings},
	{"/console/settings/routes/{route}/delete", console.AreaSettings},
	{"/console/settings/api-keys", console.AreaSettings},
	{"/console/settings/api-keys/{key}/revoke", console.AreaSettings},
	{"/console/settings/webhooks", console.AreaSettings},
	{"/console/settings/webhooks/{endpoint}/enable", console.AreaSettings},
	{"/console/settings/webhooks/{endpoint}/disable", console.AreaSettings},
	{"/console/settings/webhooks/{endpoint}/ping", console.AreaSettings},
	{"/console/settings/webhooks/{endpoint}/rotate", console.AreaSettings},
	{"/console/settings/webhooks/{endpoint}/delete", console.AreaSettings},
	{"/console/settings/users", console.AreaSettings},
	{"/console/settings/users/{user}/role", console.AreaSettings},
	{"/console/settings/users/{user}/disable", console.AreaSettings},
	{"/console/settings/users/{user}/enable", console.AreaSettings},

	{"/console/sandbox/clock", console.AreaSandbox},
	{"/console/sandbox/sample-product", console.AreaSandbox},
	{"/console/sandbox/offers/{sandbox}/accept", console.AreaSandbox},
	{"/console/sandbox/resale-authorizations/{sandbox}/extend", console.AreaSandbox},
	{"/console/sandbox/agreements/{sandbox}/{action}", console.AreaSandbox},
	{"/console/sandbox/cancellation-requests/{id}/{action}", console.AreaSandbox},
	{"/console/sandbox/payment-requests/{id}/{action}", console.AreaSandbox},
	{"/console/sandbox/advisories/{id}/{action}", console.AreaSandbox},
	{"/console/sandbox/aws/{action}", console.AreaSandbox},
}

// roleMatrix is the access policy, written out here rather than taken
// from User.Can: which roles may change each area (docs/console.md).
var roleMatrix = map[string]map[string]bool{
	console.AreaOffers:   {console.RoleAdmin: true, console.RoleRevOps: true, console.RoleFinance: false, console.RoleReadOnly: false},
	console.AreaSettings: {console.RoleAdmin: true, console.RoleRevOps: false, console.RoleFinance: false, console.RoleReadOnly: false},
	console.AreaSandbox:  {console.RoleAdmin: true, console.RoleRevOps: true, console.RoleFinance: true, console.RoleReadOnly: false},
	console.AreaRefunds:  {console.RoleAdmin: true, console.RoleRevOps: false, console.RoleFinance: true, console.RoleReadOnly: false},
}

// may is the policy's answer for role and area.
func may(role, area string) bool {
	allowed, ok := roleMatrix[area][role]
	if !ok {
		panic("roleMatrix has no answer for " + role + " in " + area)
	}
	return allowed
}

// TestRoleMatrixIsTheRolesPolicy: User.Can (which the templates use to hide
// buttons) answers as the written-out policy, for every role and area.
func TestRoleMatrixIsTheRolesPolicy(t *testing.T) {
	t.Parallel()
	for area, roles := range roleMatrix {
		for role, want := range roles {
			if got := (console.User{Role: role}).Can(area); got != want {
				t.Errorf("User{%s}.Can(%s) = %v, the policy says %v", role, area, got, want)
			}
		}
	}
	if len(roleMatrix) != 4 {
		t.Errorf("the policy names %d areas, the console 4", len(roleMatrix))
	}
}

var pathValueRE = regexp.MustCompile(`\{[^}]*\}`)

// fill puts ids into a route's path: ids[name], or "nope" for a name not given.
func (r postRoute) fill(ids map[string]string) string {
	return pathValueRE.ReplaceAllStringFunc(r.path, func(m string) string {
		if v, ok := ids[m[1:len(m)-1]]; ok {
			return url.PathEscape(v)
		}
		return "nope"
	})
}

// matches reports whether a concrete path is this route's.
func (r postRoute) matches(path string) bool {
	parts := pathValueRE.Split(r.path, -1)
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^" + strings.Join(parts, "[^/]+") + "$").MatchString(path)
}

// recordingMux is a ServeMux that also records each pattern mounted on it.
type recordingMux struct {
	*http.ServeMux
	patterns []string
}

func (m *recordingMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

// TestSecurityRouteTableIsComplete enumerates the routes the console really
// mounts, and reads the templates: every POST route mounted, and every form
// posted, is in postRoutes, so the access tests below cover each.
func TestSecurityRouteTableIsComplete(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, store.SQLite))
	rec := &recordingMux{ServeMux: http.NewServeMux()}
	e.console.Mount(rec)
	var mounted []string
	for _, p := range rec.patterns {
		method, path, _ := strings.Cut(p, " ")
		switch {
		case !strings.HasPrefix(p, "GET ") && !strings.HasPrefix(p, "POST "):
			t.Errorf("route %q names no method: it takes POSTs this test cannot see", p)
		case method == "POST" && path != "/console/login": // signing in: no session yet (TestLoginAndLogout, TestSecuritySignInRedirectsStayInTheConsole)
			mounted = append(mounted, path)
		}
	}
	if len(mounted) < 30 {
		t.Fatalf("found only %d POST routes mounted: %v", len(mounted), mounted)
	}
	for _, p := range mounted {
		// The mounts name path values {id}, {action}…: compare by shape.
		found := false
		for _, r := range postRoutes {
			if pathValueRE.ReplaceAllString(r.path, "{}") == pathValueRE.ReplaceAllString(p, "{}") {
				found = true
			}
		}
		if !found {
			t.Errorf("POST %s is mounted but not in postRoutes: add it with its area", p)
		}
	}
	if len(mounted) != len(postRoutes) {
		t.Errorf("%d POST routes mounted, %d in postRoutes", len(mounted), len(postRoutes))
	}

	// Every form in a template posts to one of them.
	forms := regexp.MustCompile(`<form[^>]*method="post"[^>]*>`)
	action := regexp.MustCompile(`action="([^"]*)"`)
	tmpl := regexp.MustCompile(`\{\{[^}]*\}\}`)
	pages, _ := filepath.Glob("templates/*.html")
	for _, f := range pages {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range forms.FindAllString(string(b), -1) {
			m := action.FindStringSubmatch(form)
			if m == nil {
				t.Errorf("%s: a POST form without an action: %s", f, form)
				continue
			}
			a := m[1]
			if strings.HasPrefix(a, "{{") || a == "/console/login" {
				continue // built in Go (the offer form): covered by its routes
			}
			// {{if .New}}…{{else}}…{{end}}: both branches.
			for _, branch := range strings.Split(tmpl.ReplaceAllStringFunc(a, func(x string) string {
				switch {
				case strings.HasPrefix(x, "{{if"), strings.HasPrefix(x, "{{end"):
					return ""
				case strings.HasPrefix(x, "{{else"):
					return "|"
				}
				return "X"
			}), "|") {
				ok := false
				for _, r := range postRoutes {
					ok = ok || r.matches(branch)
				}
				if !ok {
					t.Errorf("%s posts to %s, which is not in postRoutes", f, branch)
				}
			}
		}
	}
}

// dbSnapshot is every row of every table, sorted: what a refused POST must
// leave exactly as it was.
func dbSnapshot(t *testing.T, db *store.DB) string {
	t.Helper()
	ctx := context.Background()
	var out []string
	err := db.Read(ctx, func(tx *store.Tx) error {
		q := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
		if db.Dialect() == store.Postgres {
			q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
		}
		tables, err := store.QueryAll(ctx, tx, store.ScanString, q)
		if err != nil {
			return err
		}
		for _, table := range tables {
			lines, err := storetest.Rows(ctx, tx, `SELECT * FROM `+table) // names from the catalog, not from input
			if err != nil {
				return err
			}
			sort.Strings(lines)
			out = append(out, table+":\n"+strings.Join(lines, "\n"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

// everything is a form that would change something on any route, were it
// let through.
func everything(token string) url.Values {
	v := url.Values{"product-id": {"prod-x"}, "title": {"X"}, "kind": {"*"}, "channel": {"email"}, "target": {"x@seller.example"},
		"name": {"x"}, "url": {"https://x.example/"}, "email": {"x@seller.example"}, "role": {"admin"}, "password": {password},
		"reason": {"because"}, "to": {"buyer@acme.example"}, "by": {"1h"}, "buyer": {buyerAccount}, "record": {"mr_1"},
		"type": {"direct"}, "buyer-company": {"Evil"}, "product": {"prod-o"}, "save": {"1"}, "offer-id": {"offer-x"}}
	if token != "" {
		v.Set("csrf", token)
	}
	return v
}

// TestSecurityEveryPostRoute: every POST route the console mounts (a)
// without a session sends to the sign-in page and changes nothing; (b) with
// a session but without this session's CSRF token, or from another site,
// is 403 and changes nothing; (c) is 403 for the read-only role (but for
// signing out) and changes nothing; (d) lets in exactly the roles
// the written-out policy (roleMatrix) names for its area.
func TestSecurityEveryPostRoute(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		d := e.data()
		for _, u := range []console.NewUser{{Email: "rev@seller.example", Role: console.RoleRevOps, Password: password},
			{Email: "fin@seller.example", Role: console.RoleFinance, Password: password}} {
			if _, err := e.console.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		ep, err := e.svc.Webhooks.Create(ctx, webhook.EndpointInput{URL: "https://app.example.com/hooks"})
		if err != nil {
			t.Fatal(err)
		}
		_, key, err := apikey.Create(ctx, db, "app", now)
		if err != nil {
			t.Fatal(err)
		}
		users, err := e.console.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var viewerID string
		for _, u := range users {
			if u.Role == console.RoleReadOnly {
				viewerID = u.ID
			}
		}
		real := map[string]string{"notification": d.notification, "offer": d.offer.ID, "agreement": "agmt-ending", "product": "prod-o",
			"route": mustRoute(t, e, 0).ID, "key": key.ID, "endpoint": ep.ID, "user": viewerID, "sandbox": "x", "id": "x", "action": "cancel"}

		roles := map[string]*client{}
		tokens := map[string]string{}
		for role, email := range map[string]string{console.RoleAdmin: "admin@seller.example", console.RoleRevOps: "rev@seller.example",
			console.RoleFinance: "fin@seller.example", console.RoleReadOnly: "viewer@seller.example"} {
			roles[role] = e.login(email)
			tokens[role] = csrfOf(t, roles[role].get("/console/"))
		}
		before := dbSnapshot(t, db)
		unchanged := func(what string) {
			t.Helper()
			if after := dbSnapshot(t, db); after != before {
				t.Fatalf("%s changed the database", what)
			}
		}

		t.Run("without a session", func(t *testing.T) {
			anon := e.client()
			for _, r := range postRoutes {
				path := r.fill(real)
				p := anon.post(path, everything(tokens[console.RoleAdmin]))
				if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login" {
					t.Errorf("POST %s signed out: %d to %q", path, p.status, p.header.Get("Location"))
				}
				// A stolen token with a made-up cookie is no better.
				req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(everything(tokens[console.RoleAdmin]).Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(&http.Cookie{Name: "concord_console", Value: tokens[console.RoleAdmin]})
				if p := anon.do(req); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login" {
					t.Errorf("POST %s with a forged cookie: %d to %q", path, p.status, p.header.Get("Location"))
				}
			}
			unchanged("a POST without a session")
		})

		t.Run("without this session's token", func(t *testing.T) {
			admin := roles[console.RoleAdmin]
			for _, r := range postRoutes {
				path := r.fill(real)
				for name, p := range map[string]page{
					"no token":        admin.post(path, everything("")),
					"empty token":     admin.post(path, url.Values{"csrf": {""}}),
					"another's token": admin.post(path, everything(tokens[console.RoleRevOps])),
					"cross-site":      admin.post(path, everything(tokens[console.RoleAdmin]), "Sec-Fetch-Site", "cross-site"),
					"same-site":       admin.post(path, everything(tokens[console.RoleAdmin]), "Sec-Fetch-Site", "same-site"),
					"other origin":    admin.post(path, everything(tokens[console.RoleAdmin]), "Origin", "https://evil.example"),
					"token in query": admin.do(func() *http.Request {
						req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path+"?csrf="+url.QueryEscape(tokens[console.RoleAdmin]), strings.NewReader(""))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						return req
					}()),
				} {
					if p.status != http.StatusForbidden || !strings.Contains(p.body, "could not be accepted") {
						t.Errorf("POST %s, %s: %d", path, name, p.status)
					}
				}
			}
			unchanged("a POST without the session's CSRF token")
		})

		t.Run("read-only", func(t *testing.T) {
			viewer := roles[console.RoleReadOnly]
			for _, r := range postRoutes {
				if r.area == "" {
					continue
				}
				path := r.fill(real)
				p := viewer.post(path, everything(tokens[console.RoleReadOnly]))
				if p.status != http.StatusForbidden || !strings.Contains(p.body, "read-only") {
					t.Errorf("read-only POST %s: %d", path, p.status)
				}
			}
			unchanged("a read-only POST")
		})

		t.Run("each role gets what the policy says", func(t *testing.T) {
			for role, c := range roles {
				for _, r := range postRoutes {
					if r.area == "" {
						continue // signing out: below
					}
					// Ids that do not exist: a route let through answers for
					// itself (404, 400…) and changes nothing.
					path := r.fill(map[string]string{"action": "cancel"})
					p := c.post(path, url.Values{"csrf": {tokens[role]}})
					refused := p.status == http.StatusForbidden
					if strings.HasPrefix(p.header.Get("Location"), "/console/login") {
						t.Fatalf("%s was signed out by POST %s", role, path)
					}
					if refused == may(role, r.area) {
						t.Errorf("%s POST %s: %d, but the policy for %s says %v\n%s", role, path, p.status, r.area, may(role, r.area), p.body)
					}
					if refused && !strings.Contains(p.body, "cannot") {
						t.Errorf("%s POST %s: 403 without saying why", role, path)
					}
				}
			}
		})

		t.Run("every role can sign out", func(t *testing.T) {
			for role, c := range roles {
				if p := c.post("/console/logout", url.Values{"csrf": {tokens[role]}}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login" {
					t.Errorf("%s signs out: %d %q", role, p.status, p.header.Get("Location"))
				}
				if p := c.get("/console/"); p.status != http.StatusSeeOther {
					t.Errorf("%s after signing out: %d", role, p.status)
				}
			}
			if n := storetest.Count(t, db, "console_sessions"); n != 0 {
				t.Fatalf("%d sessions left after every user signed out", n)
			}
		})
	})
}

// TestSecurityButtonsFollowTheRole: a role sees the forms and buttons of
// exactly the areas it can change.
func TestSecurityButtonsFollowTheRole(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, store.SQLite))
	ctx := context.Background()
	d := e.data()
	for _, u := range []console.NewUser{{Email: "rev@seller.example", Role: console.RoleRevOps, Password: password},
		{Email: "fin@seller.example", Role: console.RoleFinance, Password: password}} {
		if _, err := e.console.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	pages := []string{"/console/", "/console/offers", "/console/offers/" + d.offer.ID, "/console/agreements/agmt-ending", "/console/buyers",
		"/console/buyers/" + buyerAccount, "/console/licenses?arn=l-ending", "/console/metering", "/console/readiness", "/console/notifications",
		"/console/partners", "/console/settings", "/console/settings/products", "/console/settings/products/prod-o", "/console/settings/routes",
		"/console/settings/api-keys", "/console/settings/webhooks", "/console/settings/users"}
	action := regexp.MustCompile(`<form[^>]*method="post"[^>]*action="([^"]*)"`)
	for _, x := range []struct{ email, role string }{{"admin@seller.example", console.RoleAdmin}, {"rev@seller.example", console.RoleRevOps},
		{"fin@seller.example", console.RoleFinance}, {"viewer@seller.example", console.RoleReadOnly}} {
		c := e.login(x.email)
		for _, path := range pages {
			p := c.get(path)
			wantStatus(t, p, http.StatusOK)
			for _, m := range action.FindAllStringSubmatch(p.body, -1) {
				if m[1] == "/console/logout" {
					continue
				}
				var r postRoute
				ok := false
				for _, rt := range postRoutes {
					if rt.matches(m[1]) {
						r, ok = rt, true
					}
				}
				if !ok {
					t.Errorf("%s on %s: a form posts to %s, which no route takes", x.role, path, m[1])
					continue
				}
				if !may(x.role, r.area) {
					t.Errorf("%s on %s is shown a form to %s, which its role cannot use", x.role, path, m[1])
				}
			}
			for link, area := range map[string]string{`href="/console/offers/new"`: console.AreaOffers, `/amend"`: console.AreaOffers,
				`href="/console/settings/products/new"`: console.AreaSettings, `/edit"`: console.AreaOffers, `/associate"`: console.AreaOffers} {
				if strings.Contains(p.body, link) && !may(x.role, area) {
					t.Errorf("%s on %s is shown a link to %s, which its role cannot use", x.role, path, link)
				}
			}
		}
	}
}

// TestSecuritySignInLimitHoldsUnderConcurrency: wrong passwords sent all at
// once are counted as they are let through, so no more than the limit are
// checked before sign-in is refused.
func TestSecuritySignInLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	// A slow hash widens the window between the check and the count.
	e := setup(t, storetest.Open(t, store.SQLite), func(s *console.Service) { s.Iterations = 100_000 })
	const n = 3 * console.LoginFailuresPerEmailAndAddress
	type attempt struct {
		c     *client
		token string
	}
	var attempts []attempt
	for range n {
		c := e.client()
		attempts = append(attempts, attempt{c, csrfOf(t, c.get("/console/login"))})
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, a := range attempts {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/console/login",
				strings.NewReader(url.Values{"email": {"admin@seller.example"}, "password": {fmt.Sprintf("wrong guess %d", i)}, "csrf": {a.token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := a.c.http.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	checked := 0
	for _, s := range statuses {
		switch s {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("status %d", s)
		}
	}
	if checked > console.LoginFailuresPerEmailAndAddress {
		t.Fatalf("%d passwords were checked at once; the limit is %d (%v)", checked, console.LoginFailuresPerEmailAndAddress, statuses)
	}
	if p := e.signIn("admin@seller.example", password); p.status != http.StatusTooManyRequests {
		t.Fatalf("the right password after the burst: %d", p.status)
	}
}

// signInFrom signs in through the console's handler with the request coming
// from addr (httptest's server always sees 127.0.0.1).
func signInFrom(t *testing.T, h http.Handler, addr, email, pass string) int {
	t.Helper()
	get := httptest.NewRequest(http.MethodGet, "/console/login", nil)
	get.RemoteAddr = addr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, get)
	lp := page{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	post := httptest.NewRequest(http.MethodPost, "/console/login",
		strings.NewReader(url.Values{"email": {email}, "password": {pass}, "csrf": {csrfOf(t, lp)}}.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.RemoteAddr = addr
	for _, c := range rec.Result().Cookies() {
		post.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, post)
	return rec.Code
}

// TestSecuritySignInLimitCountsIPv6ByItsSlash64: one client holds a whole
// IPv6 /64; taking a new address in it for every guess does not get a fresh
// count.
func TestSecuritySignInLimitCountsIPv6ByItsSlash64(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, store.SQLite))
	mux := http.NewServeMux()
	e.console.Mount(mux)
	for i := range console.LoginFailuresPerEmailAndAddress {
		addr := fmt.Sprintf("[2001:db8:1:2::%x]:4000", i+1)
		if s := signInFrom(t, mux, addr, "admin@seller.example", "wrong guess"); s != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i+1, s)
		}
	}
	if s := signInFrom(t, mux, "[2001:db8:1:2:ffff::9]:4000", "admin@seller.example", password); s != http.StatusTooManyRequests {
		t.Fatalf("another address of the same /64: %d, want 429", s)
	}
	if s := signInFrom(t, mux, "[2001:db8:1:3::1]:4000", "admin@seller.example", password); s != http.StatusSeeOther {
		t.Fatalf("another /64: %d, want a sign-in", s)
	}
	if s := signInFrom(t, mux, "192.0.2.7:4000", "viewer@seller.example", password); s != http.StatusSeeOther {
		t.Fatalf("IPv4: %d", s)
	}
}

var nextRE = regexp.MustCompile(`name="next" value="([^"]*)"`)

// underConsole reports whether a browser following loc stays in the console:
// a path, no scheme or host, under /console/ once dot segments (also
// percent-encoded ones) are resolved.
func underConsole(loc string) bool {
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\r\n\t") {
		return false
	}
	clean := path.Clean(u.Path)
	return clean == "/console" || strings.HasPrefix(clean, "/console/")
}

// TestSecuritySignInRedirectsStayInTheConsole: next, from the form or the
// query, only ever leads to a path under /console/.
func TestSecuritySignInRedirectsStayInTheConsole(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, store.SQLite))
	bad := []string{"//evil.example/console/", "https://evil.example/console/", "/\\evil.example", "/console\\..\\..\\evil", "\\\\evil.example",
		"/console/\r\nSet-Cookie: x=1", "/consolex", "javascript:alert(1)", "/console/%0d%0aLocation:%20https://evil.example", " //evil.example",
		"/\t/evil.example", "/console/../../x", "/console/..", "/console/%2e%2e/%2e%2e/evil", "/console/./../evil", "/console/offers/../../../evil?a=b"}
	for _, next := range bad {
		c := e.client()
		p := c.post("/console/login", url.Values{"email": {"viewer@seller.example"}, "password": {password}, "csrf": {csrfOf(t, c.get("/console/login"))}, "next": {next}})
		loc := p.header.Get("Location")
		if p.status != http.StatusSeeOther || !underConsole(loc) {
			t.Errorf("next=%q: %d to %q", next, p.status, loc)
		}
		// Signed in, the login page sends on at once: the same rule.
		p = c.get("/console/login?next=" + url.QueryEscape(next))
		if loc := p.header.Get("Location"); p.status != http.StatusSeeOther || !underConsole(loc) {
			t.Errorf("signed in, next=%q: %d to %q", next, p.status, loc)
		}
		// The form carries no such next either.
		lp := e.client().get("/console/login?next=" + url.QueryEscape(next))
		if m := nextRE.FindStringSubmatch(lp.body); m == nil || !underConsole(html.UnescapeString(m[1])) {
			t.Errorf("the login form keeps next=%q: %v", next, m)
		}
	}
}

// TestSecurityUsersPageDoesNotEchoTheQuery: the confirmation of the users
// page names only a user that exists; a link cannot make the console say
// something nobody did.
func TestSecurityUsersPageDoesNotEchoTheQuery(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, store.SQLite))
	admin := e.login("admin@seller.example")
	spoof := "ceo@seller.example with the admin role. Your session expired: sign in again at https://evil.example"
	for _, q := range []string{"added=" + url.QueryEscape(spoof), "role=nope", "disabled=" + url.QueryEscape(spoof)} {
		p := admin.get("/console/settings/users?" + q)
		wantStatus(t, p, http.StatusOK)
		wantNotIn(t, p, "evil.example", `role="status"`)
	}
	p := admin.post("/console/settings/users", url.Values{"csrf": {csrfOf(t, admin.get("/console/settings/users"))}, "email": {"New@Seller.example"},
		"role": {console.RoleFinance}, "password": {"another long password"}})
	wantRedirect(t, p, "/console/settings/users?added=new%40seller.example")
	wantIn(t, admin.get(p.header.Get("Location")), `role="status"`, "Added new@seller.example.")
}

// syncBuffer is a log sink the server's goroutines can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecuritySecretsAreShownOnceAndNeverLogged: an API key and a webhook
// signing secret appear in the answer that made them and nowhere else; a
// Slack URL, a webhook URL's token and a new user's password never appear in
// a page (but the one they were typed in) nor in the log.
func TestSecuritySecretsAreShownOnceAndNeverLogged(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	e := setup(t, storetest.Open(t, store.SQLite), func(s *console.Service) {
		s.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.data()
	admin := e.login("admin@seller.example")
	viewer := e.login("viewer@seller.example")
	const (
		slackToken   = "B0SLACKSECRET0XYZ"
		slackURL     = "https://hooks.slack.com/services/T000/" + slackToken + "/abcd1234"
		hookToken    = "tok3nINTHEPATH"
		hookURL      = "https://app.example.com/hooks/" + hookToken + "/concord"
		userPassword = "a password nobody may see"
	)
	tok := func() string { return csrfOf(t, admin.get("/console/settings")) }

	// A refused route does not show the Slack URL back.
	p := admin.post("/console/settings/routes", url.Values{"csrf": {tok()}, "kind": {"no-such-kind"}, "channel": {"slack"}, "target": {slackURL}})
	wantStatus(t, p, http.StatusBadRequest)
	wantNotIn(t, p, slackToken)
	wantRedirect(t, admin.post("/console/settings/routes", url.Values{"csrf": {tok()}, "kind": {"*"}, "channel": {"slack"}, "target": {slackURL}}),
		"/console/settings/routes?added="+url.QueryEscape(mustRoute(t, e, 1).ID))

	p = admin.post("/console/settings/api-keys", url.Values{"csrf": {tok()}, "name": {"billing"}})
	wantStatus(t, p, http.StatusOK)
	apiSecret := secretOf(t, p)

	p = admin.post("/console/settings/webhooks", url.Values{"csrf": {tok()}, "url": {hookURL}})
	wantStatus(t, p, http.StatusOK)
	signing := secretOf(t, p)
	wantNotIn(t, p, hookToken)
	eps, err := e.svc.Webhooks.List(context.Background())
	if err != nil || len(eps) != 1 {
		t.Fatalf("endpoints %+v %v", eps, err)
	}
	p = admin.post("/console/settings/webhooks/"+eps[0].ID+"/rotate", url.Values{"csrf": {tok()}})
	wantStatus(t, p, http.StatusOK)
	rotated := secretOf(t, p)
	wantNotIn(t, p, signing, hookToken)

	wantRedirect(t, admin.post("/console/settings/users", url.Values{"csrf": {tok()}, "email": {"fin@seller.example"}, "role": {console.RoleFinance},
		"password": {userPassword}}), "/console/settings/users?added=fin%40seller.example")
	// A refused user: the password is not shown back.
	p = admin.post("/console/settings/users", url.Values{"csrf": {tok()}, "email": {"fin@seller.example"}, "role": {console.RoleFinance}, "password": {userPassword}})
	wantStatus(t, p, http.StatusConflict)
	wantNotIn(t, p, userPassword)

	secrets := []string{slackToken, hookToken, apiSecret, signing, rotated, userPassword, password}
	for _, c := range []*client{admin, viewer} {
		for _, path := range []string{"/console/", "/console/settings", "/console/settings/routes", "/console/settings/api-keys", "/console/settings/webhooks",
			"/console/settings/webhooks/" + eps[0].ID, "/console/settings/users", "/console/notifications"} {
			p := c.get(path)
			wantStatus(t, p, http.StatusOK)
			wantNotIn(t, p, secrets...)
		}
	}
	if l := logs.String(); slices.ContainsFunc(secrets, func(s string) bool { return strings.Contains(l, s) }) {
		t.Fatalf("a secret is in the log:\n%s", l)
	}
}

// TestSecuritySessionsFollowTheUser: a new role applies to the open
// session at once, a disabled user's session is gone, and a cookie from
// before signing out, or from before signing in again, opens nothing.
func TestSecuritySessionsFollowTheUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		u, err := e.console.CreateUser(ctx, console.NewUser{Email: "ops@seller.example", Role: console.RoleAdmin, Password: password})
		if err != nil {
			t.Fatal(err)
		}
		ops := e.login("ops@seller.example")
		opsToken := csrfOf(t, ops.get("/console/settings/api-keys"))
		admin := e.login("admin@seller.example")
		token := csrfOf(t, admin.get("/console/settings/users"))

		wantRedirect(t, admin.post("/console/settings/users/"+u.ID+"/role", url.Values{"csrf": {token}, "role": {console.RoleFinance}}),
			"/console/settings/users?role="+u.ID)
		p := ops.post("/console/settings/api-keys", url.Values{"csrf": {opsToken}, "name": {"sneaky"}})
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "finance role") {
			t.Fatalf("a demoted admin's open session: %d", p.status)
		}
		wantNotIn(t, ops.get("/console/settings/api-keys"), `action="/console/settings/api-keys"`)

		wantRedirect(t, admin.post("/console/settings/users/"+u.ID+"/disable", url.Values{"csrf": {token}}), "/console/settings/users?disabled="+u.ID)
		if p := ops.get("/console/"); p.status != http.StatusSeeOther {
			t.Fatalf("a disabled user's session: %d", p.status)
		}
		if p := ops.post("/console/notifications/x/resend", url.Values{"csrf": {opsToken}}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login" {
			t.Fatalf("a disabled user's POST: %d %q", p.status, p.header.Get("Location"))
		}
		if p := e.signIn("ops@seller.example", password); p.status != http.StatusUnauthorized {
			t.Fatalf("a disabled user signs in: %d", p.status)
		}

		// A cookie kept from before signing out opens nothing.
		viewer := e.login("viewer@seller.example")
		var kept []*http.Cookie
		base, _ := url.Parse(e.srv.URL + "/console/")
		kept = viewer.http.Jar.Cookies(base)
		wantRedirect(t, viewer.post("/console/logout", url.Values{"csrf": {csrfOf(t, viewer.get("/console/"))}}), "/console/login")
		replay := e.client()
		replay.http.Jar.SetCookies(base, kept)
		if p := replay.get("/console/"); p.status != http.StatusSeeOther {
			t.Fatalf("a signed-out session's cookie: %d", p.status)
		}
	})
}
