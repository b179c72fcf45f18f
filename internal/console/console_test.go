package console_test

import (
	"context"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

var now = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

const (
	buyerAccount = "444455556666"
	password     = "correct horse battery staple"
)

// env is a console on a fresh database with an admin and a read-only user,
// served by httptest.
type env struct {
	t       *testing.T
	db      *store.DB
	svc     app.Services
	console *console.Service
	srv     *httptest.Server
}

func setup(t *testing.T, db *store.DB, opts ...func(*console.Service)) *env {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	clock := func() time.Time { return now }
	e := &env{t: t, db: db, svc: app.NewServices(db, clock, logger)}
	// No S3 here: custom documents are uploaded by the publish job, as for
	// `concord offer submit` (the app's tests upload to the emulator's S3).
	e.svc.Offers.DeferDocuments = true
	e.console = &console.Service{DB: db, Now: clock, Clock: clock, Logger: logger, Offers: e.svc.Offers, Registration: e.svc.Registration,
		Notify: e.svc.Notify, Ledger: e.svc.Ledger, Metering: e.svc.Metering, Webhooks: e.svc.Webhooks, Iterations: 1000}
	for _, o := range opts {
		o(e.console)
	}
	mux := http.NewServeMux()
	e.console.Mount(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	for _, u := range []console.NewUser{
		{Email: "Admin@Seller.example", Role: console.RoleAdmin, Password: password},
		{Email: "viewer@seller.example", Role: console.RoleReadOnly, Password: password},
	} {
		if _, err := e.console.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// client is a browser: a cookie jar, redirects not followed.
type client struct {
	e    *env
	http *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(req *http.Request) page {
	c.e.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (c *client) get(path string) page {
	c.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.e.srv.URL+path, nil)
	return c.do(req)
}

func (c *client) post(path string, form url.Values, header ...string) page {
	c.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", p.body)
	}
	return m[1]
}

// login signs in and returns the client.
func (e *env) login(email string) *client {
	e.t.Helper()
	c := e.client()
	p := c.post("/console/login", url.Values{"email": {email}, "password": {password}, "csrf": {csrfOf(e.t, c.get("/console/login"))}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/" {
		e.t.Fatalf("login as %s: %d %v\n%s", email, p.status, p.header, p.body)
	}
	return c
}

func wantHeaders(t *testing.T, p page) {
	t.Helper()
	csp := p.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") ||
		strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q", csp)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
		if got := p.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if strings.Contains(p.body, "<script") || strings.Contains(p.body, " style=") || strings.Contains(p.body, "<style") {
		t.Errorf("inline script or style in the page")
	}
}

func wantIn(t *testing.T, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			t.Fatalf("the page (%d) lacks %q:\n%s", p.status, s, p.body)
		}
	}
}

func TestLoginAndLogout(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		c := e.client()

		if p := c.get("/console/offers?state=draft"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login?next=%2Fconsole%2Foffers%3Fstate%3Ddraft" {
			t.Fatalf("signed out: %d %q", p.status, p.header.Get("Location"))
		}
		lp := c.get("/console/login?next=/console/offers")
		wantHeaders(t, lp)
		wantIn(t, lp, `<label for="email">Email</label>`, `<label for="password">Password</label>`, `lang="en"`)
		if strings.Contains(lp.body, "Sign out") {
			t.Fatal("the login page shows the signed-in navigation")
		}
		token := csrfOf(t, lp)

		// Missing fields: an error summary linking to each, fields marked invalid.
		p := c.post("/console/login", url.Values{"email": {""}, "password": {""}, "csrf": {token}})
		if p.status != http.StatusBadRequest {
			t.Fatalf("empty form: %d", p.status)
		}
		wantIn(t, p, `role="alert"`, `<a href="#email">Enter your email address.</a>`, `<a href="#password">Enter your password.</a>`,
			`aria-invalid="true" aria-describedby="email-error"`, `aria-describedby="password-error"`)

		// A wrong password and an unknown email get the same answer.
		token = csrfOf(t, p)
		wrong := c.post("/console/login", url.Values{"email": {"admin@seller.example"}, "password": {"wrong password!"}, "csrf": {token}})
		unknown := c.post("/console/login", url.Values{"email": {"nobody@seller.example"}, "password": {password}, "csrf": {csrfOf(t, wrong)}})
		for _, p := range []page{wrong, unknown} {
			if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "The email or password is incorrect.") {
				t.Fatalf("bad login: %d\n%s", p.status, p.body)
			}
		}
		if n := storetest.Count(t, db, "console_sessions"); n != 0 {
			t.Fatalf("%d sessions after failed logins", n)
		}

		// The right password, with another case of the email, opens a session.
		p = c.post("/console/login", url.Values{"email": {"ADMIN@seller.example"}, "password": {password}, "csrf": {csrfOf(t, unknown)},
			"next": {"/console/offers"}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/offers" {
			t.Fatalf("login: %d %v", p.status, p.header)
		}
		var session *http.Cookie
		for _, ck := range (&http.Response{Header: p.header}).Cookies() {
			if ck.Name == "concord_console" {
				session = ck
			}
		}
		if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/console" || session.Secure || len(session.Value) < 40 {
			t.Fatalf("session cookie %+v", session)
		}
		var stored string
		if err := db.Read(context.Background(), func(tx *store.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT token_hash FROM console_sessions`).Scan(&stored)
		}); err != nil || stored == session.Value {
			t.Fatalf("the session is stored as %q (%v), the cookie is %q", stored, err, session.Value)
		}
		d := c.get("/console/")
		if d.status != http.StatusOK {
			t.Fatalf("dashboard: %d", d.status)
		}
		wantHeaders(t, d)
		wantIn(t, d, "<h1>Dashboard</h1>", "admin@seller.example", "(admin)", `aria-current="page">Dashboard`)

		// An open redirect is not possible.
		c2 := e.client()
		p = c2.post("/console/login", url.Values{"email": {"viewer@seller.example"}, "password": {password},
			"csrf": {csrfOf(t, c2.get("/console/login"))}, "next": {"//evil.example/console/"}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/" {
			t.Fatalf("next=//evil: %d %q", p.status, p.header.Get("Location"))
		}

		// Sign out ends the session on the server.
		p = c.post("/console/logout", url.Values{"csrf": {csrfOf(t, d)}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login" {
			t.Fatalf("logout: %d %v", p.status, p.header)
		}
		if p := c.get("/console/"); p.status != http.StatusSeeOther {
			t.Fatalf("after logout: %d", p.status)
		}
		if n := storetest.Count(t, db, "console_sessions"); n != 1 {
			t.Fatalf("%d sessions left, want the viewer's", n)
		}
	})
}

func TestSessionsExpireAndCookiesAreSecureBehindHTTPS(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, store.SQLite), func(s *console.Service) { s.SecureCookies = true })
	c := e.client()
	p := c.get("/console/login")
	if sc := p.header.Get("Set-Cookie"); !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
		t.Fatalf("login cookie %q", sc)
	}
	p = c.post("/console/login", url.Values{"email": {"admin@seller.example"}, "password": {password}, "csrf": {csrfOf(t, p)}})
	if sc := strings.Join(p.header.Values("Set-Cookie"), "\n"); p.status != http.StatusSeeOther || !strings.Contains(sc, "concord_console=") ||
		strings.Count(sc, "Secure") != 2 {
		t.Fatalf("login behind HTTPS: %d, cookies %q", p.status, sc)
	}
	if err := e.db.Write(context.Background(), func(tx *store.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE console_sessions SET expires_at = ?`, store.Millis(now.Add(-time.Second)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if p := c.get("/console/"); p.status != http.StatusSeeOther {
		t.Fatalf("expired session: %d", p.status)
	}
}

// data is an offer, an agreement ending in 30 days whose license has no
// tenant yet, and a notification whose email was skipped.
type data struct {
	offer        offer.Detail
	notification string
}

func (e *env) data() data {
	t := e.t
	ctx := context.Background()
	if _, err := e.svc.Ledger.PutProduct(ctx, marketplace.Product{ProductID: "prod-o", ProductCode: "code-o", Title: "Observa",
		Type: marketplace.ProductSaaSContractConsumption, Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}, {Key: "api_calls", Kind: "usage"}}}); err != nil {
		t.Fatal(err)
	}
	o, err := e.svc.Offers.Create(ctx, offer.Offer{Type: offer.TypeDirect, BuyerCompany: "Acme Corp", ProductID: "prod-o", Name: "Acme Corp expansion PO-4471",
		Pricing: offer.Pricing{Currency: "USD", Duration: "P12M", Dimensions: []offer.PricedDimension{
			{Key: "seats", Kind: "contract", Quantity: 10, Price: "1200.00"}, {Key: "api_calls", Kind: "usage", Price: "0.002"}}},
		EULA: offer.Legal{Kind: "standard"}, Metadata: map[string]string{offer.MetaBuyerAccount: buyerAccount}, ExpiresOn: "2026-12-01"})
	if err != nil {
		t.Fatal(err)
	}
	a := eventbridge.Agreement{ID: "agmt-ending", Intent: marketplace.IntentNew, AcceptanceTime: now.AddDate(0, -11, 0), StartTime: now.AddDate(0, -11, 0),
		EndTime: now.AddDate(0, 0, 30), AcceptorAccountID: buyerAccount, ProposerAccountID: inboxtest.Seller, OfferID: "offer-old", ProductID: "prod-o", ProductCode: "code-o"}
	for _, body := range [][]byte{eventbridge.Created(inboxtest.Seller, a, now.Add(-time.Hour)),
		eventbridge.LicenseUpdated(inboxtest.Seller, a, eventbridge.LicenseArn(buyerAccount, "l-ending"), now.Add(-time.Hour))} {
		ev, err := marketplace.ParseEventBridge(body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Ledger.Ingest(ctx, "test", ev); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.Notify.CreateRoute(ctx, notify.NotificationRouteInput{Kind: notify.KindMeteringFailed, Channel: notify.ChannelEmail, Target: "finance@seller.example"}); err != nil {
		t.Fatal(err)
	}
	var id string
	err = e.db.Write(ctx, func(tx *store.Tx) error {
		id, _, err = e.svc.Notify.Emit(ctx, tx, now, notify.Notice{Kind: notify.KindMeteringFailed, Key: "metering_failed:mr_1", ProductID: "prod-o",
			Data: notify.MeteringData{RecordID: "mr_1", Outcome: "rejected", Reason: "bad dimension", ProductID: "prod-o",
				AccountID: buyerAccount, Dimension: "api_calls", Hour: now.Truncate(time.Hour), Quantity: 12}})
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE notification_deliveries SET status = ?, last_error = ? WHERE notification_id = ?`, notify.StatusSkipped, notify.ReasonNoSMTP, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return data{offer: o, notification: id}
}

func TestPagesShowRealData(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		d := e.data()
		c := e.login("viewer@seller.example")

		t.Run("dashboard", func(t *testing.T) {
			p := c.get("/console/")
			wantIn(t, p, "1 offer<", `href="/console/offers?state=draft">Draft</a></dt><dd>1</dd>`, "agmt-ending", "ends in 30 days (",
				"Pending registrations", `<a href="/console/buyers/`+buyerAccount+`">`+buyerAccount+`</a> · <a href="/console/licenses?arn=l-ending">l-ending</a>`,
				`<a href="/console/agreements/agmt-ending">agmt-ending</a>`, "No unbilled records")
		})
		t.Run("offers", func(t *testing.T) {
			p := c.get("/console/offers")
			wantHeaders(t, p)
			wantIn(t, p, `<a href="/console/offers/`+d.offer.ID+`">Acme Corp expansion PO-4471</a>`, "<label for=\"state\">State</label>",
				`<label for="q">Search</label>`, `aria-describedby="q-hint"`)
			for _, q := range []string{"?state=draft", "?q=acme", "?q=" + d.offer.ID, "?state=draft&q=PO-4471"} {
				if p := c.get("/console/offers" + q); p.status != 200 || !strings.Contains(p.body, d.offer.ID) {
					t.Fatalf("%s: %d, the offer is missing", q, p.status)
				}
			}
			for _, q := range []string{"?state=accepted", "?q=initech"} {
				if p := c.get("/console/offers" + q); p.status != 200 || strings.Contains(p.body, d.offer.ID) || !strings.Contains(p.body, "No offers match.") {
					t.Fatalf("%s: %d, the offer is listed", q, p.status)
				}
			}
			p = c.get("/console/offers?state=bogus")
			if p.status != http.StatusBadRequest {
				t.Fatalf("bad state: %d", p.status)
			}
			wantIn(t, p, `<a href="#state">Choose a state from the list.</a>`, `aria-invalid="true" aria-describedby="state-error"`)
		})
		t.Run("offer detail", func(t *testing.T) {
			p := c.get("/console/offers/" + d.offer.ID)
			wantIn(t, p, "<h1>Acme Corp expansion PO-4471</h1>", "AWS account "+buyerAccount, `class="timeline"`, "Draft", "1200.00")
			for _, st := range d.offer.History {
				wantIn(t, p, strings.ToUpper(st.Step[:1])+strings.ReplaceAll(st.Step[1:], "_", " "))
			}
			if p := c.get("/console/offers/no-such-offer"); p.status != http.StatusNotFound {
				t.Fatalf("unknown offer: %d", p.status)
			}
		})
		t.Run("notifications", func(t *testing.T) {
			p := c.get("/console/notifications")
			wantIn(t, p, "Metering failed: 12 api_calls", "Skipped")
			if strings.Contains(p.body, "Resend") {
				t.Fatal("the read-only user is offered a resend button")
			}
			if p := c.get("/console/notifications?status=sent"); strings.Contains(p.body, "Metering failed: 12 api_calls") {
				t.Fatal("status filter")
			}
			if p := c.get("/console/notifications?status=bounced"); p.status != 400 || !strings.Contains(p.body, `href="#status"`) {
				t.Fatalf("bad status: %d", p.status)
			}
		})
	})
}

func TestResendAndItsRefusals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		d := e.data()
		status := func() string {
			t.Helper()
			n, err := e.svc.Notify.Get(context.Background(), d.notification)
			if err != nil {
				t.Fatal(err)
			}
			return n.Deliveries[0].Status
		}
		path := "/console/notifications/" + d.notification + "/resend"

		viewer := e.login("viewer@seller.example")
		token := csrfOf(t, viewer.get("/console/notifications"))
		if p := viewer.post(path, url.Values{"csrf": {token}}); p.status != http.StatusForbidden || !strings.Contains(p.body, "read-only") {
			t.Fatalf("read-only resend: %d\n%s", p.status, p.body)
		}

		admin := e.login("admin@seller.example")
		list := admin.get("/console/notifications")
		wantIn(t, list, `action="/console/notifications/`+d.notification+`/resend"`, `aria-label="Resend Metering failed: 12 api_calls`)
		token = csrfOf(t, list)
		for name, p := range map[string]page{
			"no token":        admin.post(path, url.Values{}),
			"another's token": admin.post(path, url.Values{"csrf": {csrfOf(t, viewer.get("/console/"))}}),
			"other origin":    admin.post(path, url.Values{"csrf": {token}}, "Origin", "https://evil.example"),
			"cross-site":      admin.post(path, url.Values{"csrf": {token}}, "Sec-Fetch-Site", "cross-site"),
		} {
			if p.status != http.StatusForbidden || !strings.Contains(p.body, "could not be accepted") {
				t.Fatalf("%s: %d", name, p.status)
			}
		}
		anon := e.client()
		if p := anon.post(path, url.Values{"csrf": {token}}); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/console/login") {
			t.Fatalf("signed out: %d", p.status)
		}
		if s := status(); s != notify.StatusSkipped {
			t.Fatalf("a refused resend changed the delivery to %s", s)
		}

		p := admin.post(path, url.Values{"csrf": {token}}, "Origin", e.srv.URL)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/notifications?resent="+d.notification {
			t.Fatalf("resend: %d %v\n%s", p.status, p.header, p.body)
		}
		if s := status(); s != notify.StatusPending {
			t.Fatalf("after resend: %s", s)
		}
		wantIn(t, admin.get(p.header.Get("Location")), `role="status"`, "Resending notification "+d.notification)
		// The confirmation names only a notification that exists.
		if p := admin.get("/console/notifications?resent=Your+account+is+locked.+Call+555-0100"); p.status != 200 || strings.Contains(p.body, "555-0100") || strings.Contains(p.body, `role="status"`) {
			t.Fatalf("a made-up confirmation: %d\n%s", p.status, p.body)
		}
		p = admin.post(path, url.Values{"csrf": {token}})
		if p.status != http.StatusConflict {
			t.Fatalf("second resend: %d", p.status)
		}
		wantIn(t, p, `<a href="#resend-`+d.notification+`">Could not resend:`, "no failed or skipped delivery")
	})
}

func TestCreateUserRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, store.SQLite))
	ctx := context.Background()
	for _, in := range []console.NewUser{
		{Email: "not-an-email", Role: console.RoleAdmin, Password: password},
		{Email: "a@seller.example", Role: "owner", Password: password},
		{Email: "a@seller.example", Role: console.RoleAdmin, Password: "short"},
	} {
		if _, err := e.console.CreateUser(ctx, in); marketplace.ErrorCode(err) != marketplace.EInvalid {
			t.Errorf("%+v: %v", in, err)
		}
	}
	if _, err := e.console.CreateUser(ctx, console.NewUser{Email: "admin@SELLER.example", Role: console.RoleFinance, Password: password}); marketplace.ErrorCode(err) != marketplace.EConflict {
		t.Errorf("duplicate email: %v", err)
	}
	users, err := e.console.ListUsers(ctx)
	if err != nil || len(users) != 2 || users[0].Email != "admin@seller.example" || users[1].Role != console.RoleReadOnly {
		t.Fatalf("users %+v %v", users, err)
	}
}

func TestStylesheet(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, store.SQLite))
	p := e.client().get("/console/static/console.css")
	if p.status != 200 || p.header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(p.body, ":focus-visible") {
		t.Fatalf("stylesheet: %d %v", p.status, p.header)
	}
	if p := e.client().get("/console/static/nope.css"); p.status != 404 {
		t.Fatalf("missing file: %d", p.status)
	}
}

// TestSigningInAgainEndsTheEarlierSession: a sign-in from a browser that
// still holds a session cookie (a second tab's login form) ends that session
// rather than leaving it alive.
func TestSigningInAgainEndsTheEarlierSession(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		first := e.login("admin@seller.example")
		var token string
		for _, ck := range first.http.Jar.Cookies(mustURL(t, e.srv.URL+"/console/")) {
			if ck.Name == "concord_console" {
				token = ck.Value
			}
		}
		c := e.client()
		lp := c.get("/console/login")
		c.http.Jar.SetCookies(mustURL(t, e.srv.URL+"/console/"), []*http.Cookie{{Name: "concord_console", Value: token, Path: "/console"}})
		p := c.post("/console/login", url.Values{"email": {"admin@seller.example"}, "password": {password}, "csrf": {csrfOf(t, lp)}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("second sign-in: %d", p.status)
		}
		if n := storetest.Count(t, db, "console_sessions"); n != 1 {
			t.Fatalf("%d sessions after signing in twice, want 1", n)
		}
		if p := first.get("/console/"); p.status != http.StatusSeeOther {
			t.Fatalf("the first session still works: %d", p.status)
		}
		if p := c.get("/console/"); p.status != http.StatusOK {
			t.Fatalf("the new session: %d", p.status)
		}
	})
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestMeteringAlertsAndNotificationKinds: the metering page lists the
// alerts about unbilled usage, and the notifications page filters by kind.
func TestMeteringAlertsAndNotificationKinds(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		d := e.data()
		n, err := e.svc.Notify.Get(context.Background(), d.notification)
		if err != nil {
			t.Fatal(err)
		}
		c := e.login("viewer@seller.example")
		wantIn(t, c.get("/console/metering"), `<h2 id="alerts-h">Alerts</h2>`, template.HTMLEscapeString(n.Subject), "delivery Skipped",
			`href="/console/notifications?kind=metering_failed"`)
		wantIn(t, c.get("/console/notifications?kind=metering_failed"), `<option value="metering_failed" selected>`, d.notification)
		if p := c.get("/console/notifications?kind=new_order"); p.status != 200 || strings.Contains(p.body, d.notification) {
			t.Fatalf("kind new_order: %d, lists the metering notification: %v", p.status, strings.Contains(p.body, d.notification))
		}
		p := c.get("/console/notifications?kind=bogus")
		if p.status != http.StatusBadRequest {
			t.Fatalf("unknown kind: %d", p.status)
		}
		wantIn(t, p, "Choose a kind from the list.", d.notification)
	})
}
