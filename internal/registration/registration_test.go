package registration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/clocktest"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/registration"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
	"github.com/concordmp/concord/internal/webhook"
)

const seller = "111122223333"

var t0 = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

// resolver is AWS's ResolveCustomer for tokens the test hands out.
type resolver struct {
	mu     sync.Mutex
	tokens map[string]awsmp.Customer
}

func (r *resolver) ResolveCustomer(_ context.Context, token string) (awsmp.Customer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.tokens[token]
	if !ok {
		return c, fmt.Errorf("%w: unknown", awsmp.ErrInvalidToken)
	}
	return c, nil
}

type fixture struct {
	db     *store.DB
	clock  *clocktest.Clock
	ledger *inbox.Ledger
	svc    *registration.Service
	runner *job.Runner
	res    *resolver
	srv    *httptest.Server
}

func setup(t *testing.T, db *store.DB) *fixture {
	f := &fixture{db: db, clock: clocktest.New(t0), res: &resolver{tokens: map[string]awsmp.Customer{}}}
	logger := slog.New(slog.DiscardHandler)
	f.ledger = &inbox.Ledger{DB: db, Now: f.clock.Now, Logger: logger}
	f.svc = &registration.Service{DB: db, Resolver: f.res, Now: f.clock.Now, Logger: logger}
	f.ledger.LicenseHooks = []inbox.LicenseHook{f.svc.Hook}
	f.runner = job.NewRunner(db, job.RunnerOptions{Now: f.clock.Now, Logger: logger})
	f.svc.Handlers(f.runner)
	mux := http.NewServeMux()
	f.svc.Mount(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	wh := &webhook.Service{DB: db, Now: f.clock.Now, Logger: logger}
	if _, err := wh.Create(context.Background(), webhook.EndpointInput{URL: "https://app.example.com/hooks"}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) ingest(t *testing.T, body []byte) {
	t.Helper()
	ev, err := marketplace.ParseEventBridge(body)
	if err != nil {
		t.Fatal(err)
	}
	if d := ev.Time.Sub(f.clock.Now()); d > 0 {
		f.clock.Advance(d) // the event happens now: Concord holds events dated ahead of its clock
	}
	if _, err := f.ledger.Ingest(context.Background(), inbox.DoorHTTP, ev); err != nil {
		t.Fatal(err)
	}
}

// work runs every job that is due now (only registration jobs have handlers).
func (f *fixture) work(t *testing.T) {
	t.Helper()
	for range 100 {
		worked, err := f.runner.WorkOne(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !worked {
			return
		}
	}
}

var csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// register plays the buyer: arrive with a token for the license, fill in the
// page, submit. It returns the final page.
func (f *fixture) register(t *testing.T, account, arn, company string) string {
	t.Helper()
	token := fmt.Sprintf("tok-%s-%d", marketplace.LicenseID(arn), time.Now().UnixNano())
	f.res.mu.Lock()
	f.res.tokens[token] = awsmp.Customer{AccountID: account, ProductCode: "code-aaa", LicenseArn: arn}
	f.res.mu.Unlock()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(f.srv.URL+"/marketplace/register", url.Values{registration.TokenField: {token}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrf.FindSubmatch(page)
	if m == nil {
		return string(page)
	}
	resp, err = c.PostForm(f.srv.URL+"/marketplace/register/submit", url.Values{"csrf": {string(m[1])}, "company": {company},
		"contactName": {"Ada"}, "email": {"ada@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("register: %d %s", resp.StatusCode, out)
	}
	return string(out)
}

func agreement(id, buyer string) eventbridge.Agreement {
	return eventbridge.Agreement{ID: id, Intent: "NEW", AcceptanceTime: t0.Add(-time.Hour), StartTime: t0.Add(-time.Hour),
		EndTime: t0.AddDate(1, 0, 0), AcceptorAccountID: buyer, ProposerAccountID: seller, OfferID: "offer-" + id,
		ProductID: "prod-aaa", ProductCode: "code-aaa"}
}

// webhooks lists the webhook types emitted about a license, in order.
func webhooks(t *testing.T, db *store.DB, arn string) []string {
	t.Helper()
	var out []string
	err := db.Read(context.Background(), func(tx *store.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT event_type, payload FROM webhook_deliveries ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var typ, payload string
			if err := rows.Scan(&typ, &payload); err != nil {
				return err
			}
			if strings.Contains(payload, arn) {
				out = append(out, typ)
			}
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tenantOf(t *testing.T, f *fixture, arn string) marketplace.Tenant {
	t.Helper()
	tn, err := f.svc.TenantOfLicense(context.Background(), arn)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func TestRegistration(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)

		t.Run("RegistrationBeforeOrAfterTheEventsEndsTheSame", func(t *testing.T) {
			after, before := agreement("agmt-after", "100000000001"), agreement("agmt-before", "100000000002")
			arnAfter, arnBefore := eventbridge.LicenseArn(after.AcceptorAccountID, "l-after"), eventbridge.LicenseArn(before.AcceptorAccountID, "l-before")
			// Events first, then the buyer registers.
			f.ingest(t, eventbridge.Created(seller, after, t0))
			f.ingest(t, eventbridge.LicenseUpdated(seller, after, arnAfter, t0))
			f.register(t, after.AcceptorAccountID, arnAfter, "After Inc")
			// The buyer registers first (their browser beat the events), then the events arrive.
			page := f.register(t, before.AcceptorAccountID, arnBefore, "Before Inc")
			if !strings.Contains(page, "starts on the date") {
				t.Fatalf("a license whose events have not arrived should say it is not active yet:\n%s", page)
			}
			if got := tenantOf(t, f, arnBefore).Licenses[0].State; got != marketplace.LicenseUnknown {
				t.Fatalf("before its events the license state is %q", got)
			}
			f.ingest(t, eventbridge.LicenseUpdated(seller, before, arnBefore, t0))
			f.ingest(t, eventbridge.Created(seller, before, t0))
			for _, arn := range []string{arnAfter, arnBefore} {
				tn := tenantOf(t, f, arn)
				if len(tn.Licenses) != 1 || tn.Licenses[0].State != marketplace.LicenseActive || tn.BillingLicenseID != marketplace.LicenseID(arn) || tn.Source != marketplace.SourceRegistration {
					t.Errorf("%s: tenant %+v", arn, tn)
				}
				if got := fmt.Sprint(webhooks(t, db, arn)); got != "[tenant.created license.activated]" {
					t.Errorf("%s: webhooks %s", arn, got)
				}
			}
		})

		t.Run("RenewalJoinsTheTenantAndTakesOverBilling", func(t *testing.T) {
			a := agreement("agmt-orig", "100000000003")
			arn := eventbridge.LicenseArn(a.AcceptorAccountID, "l-orig")
			f.ingest(t, eventbridge.Created(seller, a, t0))
			f.ingest(t, eventbridge.LicenseUpdated(seller, a, arn, t0))
			f.register(t, a.AcceptorAccountID, arn, "Renewer Ltd")
			r := agreement("agmt-renew", a.AcceptorAccountID)
			r.Intent, r.PreviousAgreementID = "RENEW", a.ID
			renewed := eventbridge.LicenseArn(a.AcceptorAccountID, "l-renew")
			f.ingest(t, eventbridge.Created(seller, r, t0.Add(time.Minute)))
			f.ingest(t, eventbridge.LicenseUpdated(seller, r, renewed, t0.Add(time.Minute)))
			tn := tenantOf(t, f, renewed)
			if tn.Company != "Renewer Ltd" || len(tn.Licenses) != 2 || tn.BillingLicenseID != marketplace.LicenseID(renewed) {
				t.Fatalf("renewal: %+v", tn)
			}
			if got := fmt.Sprint(webhooks(t, db, renewed)); got != "[license.activated]" {
				t.Fatalf("renewal webhooks: %s", got)
			}
		})

		t.Run("EndingAndDeprovisioningAreAnnouncedOnce", func(t *testing.T) {
			a := agreement("agmt-end", "100000000004")
			arn := eventbridge.LicenseArn(a.AcceptorAccountID, "l-end")
			f.ingest(t, eventbridge.Created(seller, a, t0))
			f.ingest(t, eventbridge.LicenseUpdated(seller, a, arn, t0))
			f.register(t, a.AcceptorAccountID, arn, "Ender")
			f.ingest(t, eventbridge.Ended(seller, a, "CANCELLED", t0.Add(time.Hour)))
			f.ingest(t, eventbridge.Ended(seller, a, "CANCELLED", t0.Add(time.Hour))) // a duplicate from another envelope
			f.ingest(t, eventbridge.LicenseDeprovisioned(seller, a, arn, t0.Add(2*time.Hour)))
			if _, err := f.ledger.Replay(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(webhooks(t, db, arn)); got != "[tenant.created license.activated license.ending license.deprovisioned]" {
				t.Fatalf("webhooks: %s", got)
			}
		})

		t.Run("ThePageIsPrefilledWithWhatTheOfferKnows", func(t *testing.T) {
			open := func(a eventbridge.Agreement, lic string) string {
				arn := eventbridge.LicenseArn(a.AcceptorAccountID, lic)
				f.ingest(t, eventbridge.Created(seller, a, t0))
				f.ingest(t, eventbridge.LicenseUpdated(seller, a, arn, t0))
				token := fmt.Sprintf("tok-%s-%d", lic, time.Now().UnixNano())
				f.res.mu.Lock()
				f.res.tokens[token] = awsmp.Customer{AccountID: a.AcceptorAccountID, ProductCode: "code-aaa", LicenseArn: arn}
				f.res.mu.Unlock()
				jar, _ := cookiejar.New(nil)
				resp, err := (&http.Client{Jar: jar}).PostForm(f.srv.URL+"/marketplace/register", url.Values{registration.TokenField: {token}})
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				page, _ := io.ReadAll(resp.Body)
				return string(page)
			}
			// A Concord offer's buyer company.
			a := agreement("agmt-prefill", "100000000011")
			if err := db.Write(context.Background(), func(tx *store.Tx) error {
				_, err := tx.Exec(context.Background(), `INSERT INTO offers (id, type, state, product_id, buyer_company, offer_id, form, created_at, updated_at)
					VALUES ('ofr_prefill', 'direct', 'published', 'prod-aaa', 'Prefill & Sons', ?, '{}', 0, 0)`, a.OfferID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if page := open(a, "l-prefill"); !strings.Contains(page, `value="Prefill &amp; Sons"`) {
				t.Errorf("the page is not prefilled with the offer's buyer company:\n%s", page)
			}
			// The offer's registration details win, contact and email too.
			b := agreement("agmt-prefill2", "100000000012")
			if _, err := f.svc.PutOfferDetails(context.Background(), registration.OfferDetails{OfferID: b.OfferID, Company: "Details Corp",
				ContactName: "Dee Tails", Email: "dee@details.example"}); err != nil {
				t.Fatal(err)
			}
			page := open(b, "l-prefill2")
			for _, want := range []string{`value="Details Corp"`, `value="Dee Tails"`, `value="dee@details.example"`} {
				if !strings.Contains(page, want) {
					t.Errorf("the page lacks %s:\n%s", want, page)
				}
			}
			// Nothing known: nothing prefilled.
			if page := open(agreement("agmt-prefill3", "100000000013"), "l-prefill3"); strings.Contains(page, `value="Prefill`) || strings.Contains(page, `value="Details`) {
				t.Errorf("an unknown offer's page is prefilled")
			}
		})

		t.Run("PrivateOfferWithRegistrationDetailsIsRegisteredAfterAnHour", func(t *testing.T) {
			a := agreement("agmt-auto", "100000000005")
			arn := eventbridge.LicenseArn(a.AcceptorAccountID, "l-auto")
			if _, err := f.svc.PutOfferDetails(context.Background(), registration.OfferDetails{OfferID: a.OfferID, Company: "Auto Corp",
				Email: "ops@auto.example", Fields: map[string]string{"costCenter": "CC-7"}}); err != nil {
				t.Fatal(err)
			}
			a.AcceptanceTime = f.clock.Now()
			f.ingest(t, eventbridge.Created(seller, a, f.clock.Now()))
			f.ingest(t, eventbridge.LicenseUpdated(seller, a, arn, f.clock.Now()))
			pending, err := f.svc.ListPending(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var p *registration.Pending
			for i := range pending {
				if pending[i].LicenseArn == arn {
					p = &pending[i]
				}
			}
			if p == nil || p.AutoAt == nil || !p.AutoAt.Equal(f.clock.Now().Add(time.Hour)) || p.TimeLeft != "48h0m0s" || p.Overdue {
				t.Fatalf("pending: %+v", p)
			}
			f.work(t)
			if _, err := f.svc.TenantOfLicense(context.Background(), arn); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Fatalf("registered before the hour was up: %v", err)
			}
			f.clock.Advance(time.Hour + time.Second)
			f.work(t)
			tn := tenantOf(t, f, arn)
			if tn.Company != "Auto Corp" || tn.Source != marketplace.SourceAuto || tn.Fields["costCenter"] != "CC-7" || tn.Email != "ops@auto.example" {
				t.Fatalf("auto-registered tenant: %+v", tn)
			}
			// The buyer turning up later finds it done, and nothing new is created.
			page := f.register(t, a.AcceptorAccountID, arn, "Someone Else")
			if !strings.Contains(page, "Auto Corp") || strings.Contains(page, `name="csrf"`) {
				t.Fatalf("late buyer:\n%s", page)
			}
			pending, _ = f.svc.ListPending(context.Background())
			for _, p := range pending {
				if p.LicenseArn == arn {
					t.Fatalf("still pending after registration: %+v", p)
				}
			}
		})

		t.Run("ExistingCustomersGetTenantsThroughTheAPI", func(t *testing.T) {
			ctx := context.Background()
			account := "100000000007"
			arn := eventbridge.LicenseArn(account, "l-backfilled")
			if _, err := f.ledger.Import(ctx, []marketplace.Fact{{EventID: "import:l-backfilled", Kind: marketplace.KindLicenseImported,
				Time: f.clock.Now(), LicenseArn: arn, AcceptorAccountID: account, ProductCode: "code-aaa", ProductID: "prod-aaa"}}); err != nil {
				t.Fatal(err)
			}
			pending, err := f.svc.ListPending(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pending {
				if p.LicenseArn == arn {
					t.Fatalf("a backfilled (existing) customer is listed as pending registration: %+v", p)
				}
			}
			bad := []registration.NewTenant{
				{AccountID: "100000000008", ProductCode: "code-aaa", Company: "Wrong account", Licenses: []string{arn}},
				{AccountID: account, ProductCode: "code-bbb", Company: "Wrong product", Licenses: []string{arn}},
				{AccountID: account, ProductCode: "code-aaa", Company: "Bad key", Licenses: []string{arn}, Fields: map[string]string{"": "x"}},
				{AccountID: account, ProductCode: "code-aaa", Company: "", Licenses: []string{arn}},
			}
			for _, in := range bad {
				if _, err := f.svc.CreateTenant(ctx, in); marketplace.ErrorCode(err) != marketplace.EInvalid {
					t.Errorf("%s: want invalid, got %v", in.Company, err)
				}
			}
			tn, err := f.svc.CreateTenant(ctx, registration.NewTenant{AccountID: account, ProductCode: "code-aaa", Company: "Legacy Co",
				Fields: map[string]string{"crmId": "A-1"}, Licenses: []string{arn}})
			if err != nil {
				t.Fatal(err)
			}
			if tn.Source != marketplace.SourceAPI || len(tn.Licenses) != 1 || tn.Licenses[0].State != marketplace.LicenseActive || tn.BillingLicenseID != "l-backfilled" {
				t.Fatalf("tenant %+v", tn)
			}
			if got := fmt.Sprint(webhooks(t, db, arn)); got != "[tenant.created license.activated]" {
				t.Fatalf("webhooks %s", got)
			}
			// A license of another product cannot join it.
			other := agreement("agmt-other", account)
			other.ProductCode, other.ProductID = "code-bbb", "prod-bbb"
			otherArn := eventbridge.LicenseArn(account, "l-otherproduct")
			f.ingest(t, eventbridge.Created(seller, other, t0))
			f.ingest(t, eventbridge.LicenseUpdated(seller, other, otherArn, t0))
			if _, err := f.svc.AttachLicense(ctx, tn.TenantID, otherArn); marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Fatalf("attach a license of another product: %v", err)
			}
			if _, err := f.svc.PutOfferDetails(ctx, registration.OfferDetails{OfferID: "offer-x", Company: "X", Fields: map[string]string{"a\x00": "v"}}); marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Fatalf("offer details with a bad field key: %v", err)
			}
		})

		t.Run("PendingCountsDownTheFortyEightHours", func(t *testing.T) {
			a := agreement("agmt-wait", "100000000006")
			a.AcceptanceTime = f.clock.Now().Add(-50 * time.Hour)
			arn := eventbridge.LicenseArn(a.AcceptorAccountID, "l-wait")
			f.ingest(t, eventbridge.Created(seller, a, f.clock.Now()))
			f.ingest(t, eventbridge.LicenseUpdated(seller, a, arn, f.clock.Now()))
			pending, err := f.svc.ListPending(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, p := range pending {
				if p.LicenseArn == arn {
					found = true
					if !p.Overdue || p.TimeLeft != "-2h0m0s" || p.AutoAt != nil {
						t.Fatalf("overdue pending: %+v", p)
					}
				}
			}
			if !found {
				t.Fatalf("license %s not pending: %+v", arn, pending)
			}
			b, _ := json.Marshal(pending)
			if !strings.Contains(string(b), `"deadline"`) {
				t.Fatal(string(b))
			}
		})

		t.Run("OldSessionsArePrunedAsBuyersArrive", func(t *testing.T) {
			count := func() (n int) {
				db.Read(context.Background(), func(tx *store.Tx) error {
					return tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM registration_sessions`).Scan(&n)
				})
				return n
			}
			if count() == 0 {
				t.Fatal("no sessions to prune")
			}
			f.clock.Advance(8 * 24 * time.Hour)
			a := agreement("agmt-prune", "100000000010")
			f.register(t, a.AcceptorAccountID, eventbridge.LicenseArn(a.AcceptorAccountID, "l-prune"), "Prune Co")
			if n := count(); n != 1 {
				t.Fatalf("%d sessions after a week, want only the new one", n)
			}
		})

		t.Run("AutoRegistrationFollowsTheSettingWhenItRuns", func(t *testing.T) {
			ctx := context.Background()
			a := agreement("agmt-autooff", "100000000009")
			arn := eventbridge.LicenseArn(a.AcceptorAccountID, "l-autooff")
			if _, err := f.svc.PutOfferDetails(ctx, registration.OfferDetails{OfferID: a.OfferID, Company: "Never Corp"}); err != nil {
				t.Fatal(err)
			}
			a.AcceptanceTime = f.clock.Now()
			f.ingest(t, eventbridge.Created(seller, a, f.clock.Now()))
			f.ingest(t, eventbridge.LicenseUpdated(seller, a, arn, f.clock.Now()))
			// The vendor turns auto-registration off after the job was queued.
			if _, err := f.ledger.PutProduct(ctx, marketplace.Product{ProductID: "prod-aaa", ProductCode: "code-aaa",
				Registration: marketplace.Registration{AutoRegisterAfter: "off"}}); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(2 * time.Hour)
			f.work(t)
			if _, err := f.svc.TenantOfLicense(ctx, arn); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Fatalf("auto-registered although it was turned off: %v", err)
			}
		})
	})
}
