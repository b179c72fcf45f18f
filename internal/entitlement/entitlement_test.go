package entitlement_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/clocktest"
	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/entitlement"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

type env struct {
	t       *testing.T
	db      *store.DB
	emu     *emulator.Emulator
	clock   *clocktest.Clock
	svc     *entitlement.Service
	ledger  *inbox.Ledger
	runner  *job.Runner
	product *world.Product
	changes []string // licenses OnChange was called for

	mu     sync.Mutex
	events []marketplace.Event
}

// setup runs the emulator behind an httptest server, points the official SDK
// clients at it, and wires a ledger with the entitlement hook, a job runner and
// a product with a contract (seats) and a usage (api_calls) dimension.
func setup(t *testing.T, db *store.DB) *env {
	t.Helper()
	ctx := context.Background()
	// A minute ahead of the emulator's real-time clock, so its agreements have started.
	e := &env{t: t, db: db, clock: clocktest.New(time.Now().UTC().Add(time.Minute).Truncate(time.Millisecond))}
	srv := httptest.NewUnstartedServer(nil)
	e.emu = emulator.New(emulator.Options{BaseURL: func() string { return "http://" + srv.Listener.Addr().String() }})
	srv.Config.Handler = e.emu
	srv.Start()
	t.Cleanup(func() { e.emu.Close(); srv.Close() })
	e.emu.World.OnEvent(func(ev world.EmittedEvent) {
		if ev.Kind != "eventbridge" {
			return
		}
		parsed, err := marketplace.ParseEventBridge(ev.Body)
		if err != nil {
			t.Errorf("emulator event: %v", err)
			return
		}
		e.mu.Lock()
		e.events = append(e.events, parsed)
		e.mu.Unlock()
	})
	cfg, err := awsmp.Load(ctx, awsmp.Config{Endpoint: srv.URL, Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = &entitlement.Service{DB: db, API: awsmp.NewEntitlements(cfg), Now: e.clock.Now,
		OnChange: func(ctx context.Context, tx *store.Tx, licenseID string, now time.Time) error {
			e.changes = append(e.changes, licenseID)
			return nil
		}}
	e.ledger = &inbox.Ledger{DB: db, Now: e.clock.Now, LicenseHooks: []inbox.LicenseHook{e.svc.Hook}}
	e.runner = job.NewRunner(db, job.RunnerOptions{Now: e.clock.Now})
	e.ledger.Handlers(e.runner, awsmp.NewAgreements(cfg))
	e.svc.Handlers(e.runner)
	err = e.emu.World.Do(func(s *world.State) error {
		e.product, err = s.CreateProduct(world.Product{Title: "Widgets", Type: world.ProductSaaSContractConsumption, ConcurrentAgreements: true,
			Dimensions: []world.Dimension{{Key: "seats", Kind: "contract", Price: "40.00"}, {Key: "api_calls", Kind: "usage", Price: "0.01"}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ledger.PutProduct(ctx, marketplace.Product{ProductID: e.product.ProductID, ProductCode: e.product.ProductCode,
		Type: "saas_contract_consumption", ConcurrentAgreements: true,
		Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}, {Key: "api_calls", Kind: "usage"}}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// world runs fn in the emulator (playing the buyer or AWS).
func (e *env) world(fn func(s *world.State) error) {
	e.t.Helper()
	if err := e.emu.World.Do(fn); err != nil {
		e.t.Fatal(err)
	}
}

// accept has a new buyer accept a private offer for seats.
func (e *env) accept(buyer string, seats int64) *world.Agreement {
	e.t.Helper()
	var a *world.Agreement
	e.world(func(s *world.State) error {
		if _, err := s.CreateBuyer(buyer); err != nil {
			return err
		}
		o, err := s.CreatePrivateOffer(world.Offer{ProductID: e.product.ProductID, BuyerAccounts: []string{buyer}, Quantities: map[string]int64{"seats": seats}})
		if err != nil {
			return err
		}
		a, err = s.Accept(buyer, o.OfferID, world.AcceptOptions{})
		return err
	})
	return a
}

// deliver ingests every event the emulator emitted since the last call.
func (e *env) deliver() {
	e.t.Helper()
	e.mu.Lock()
	evs := e.events
	e.events = nil
	e.mu.Unlock()
	for _, ev := range evs {
		if _, err := e.ledger.Ingest(context.Background(), "test", ev); err != nil {
			e.t.Fatal(err)
		}
	}
}

// work runs every due job.
func (e *env) work() {
	e.t.Helper()
	for range 1000 {
		worked, err := e.runner.WorkOne(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if !worked {
			return
		}
	}
	e.t.Fatal("jobs keep coming")
}

func (e *env) check(q entitlement.Query) entitlement.Answer {
	e.t.Helper()
	a, err := e.svc.Check(context.Background(), q)
	if err != nil {
		e.t.Fatalf("check %+v: %v", q, err)
	}
	return a
}

func (e *env) attach(tenantID string, licenseArns ...string) {
	e.t.Helper()
	ctx := context.Background()
	now := store.Millis(e.clock.Now())
	err := e.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (tenant_id, account_id, product_id, product_code, company, source, created_at, updated_at)
			VALUES (?, '444455556666', ?, ?, 'Acme', 'api', ?, ?) ON CONFLICT DO NOTHING`, tenantID, e.product.ProductID, e.product.ProductCode, now, now); err != nil {
			return err
		}
		for _, arn := range licenseArns {
			if _, err := tx.Exec(ctx, `INSERT INTO tenant_licenses (license_id, tenant_id, license_arn, account_id, product_code, source, attached_at)
				VALUES (?, ?, ?, '444455556666', ?, 'api', ?)`, marketplace.LicenseID(arn), tenantID, arn, e.product.ProductCode, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc.InvalidateTenant(tenantID)
}

func dim(la entitlement.LicenseAnswer, d string) *entitlement.EntitlementAnswer {
	for i := range la.Entitlements {
		if la.Entitlements[i].Dimension == d {
			return &la.Entitlements[i]
		}
	}
	return nil
}

func total(a entitlement.Answer, d string) *entitlement.Total {
	for i := range a.Totals {
		if a.Totals[i].Dimension == d {
			return &a.Totals[i]
		}
	}
	return nil
}

func intValue(ea *entitlement.EntitlementAnswer) int64 {
	if ea == nil || ea.Value == nil || ea.Value.Integer == nil {
		return -1
	}
	return *ea.Value.Integer
}

func TestRefreshStoresWhatGetEntitlementsReturns(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		a := e.accept("444455556666", 10)
		e.deliver()
		id := marketplace.LicenseID(a.LicenseArn)

		t.Run("NeverFetchedContractDimensionsAreNotAllowed", func(t *testing.T) {
			ans := e.check(entitlement.Query{License: a.LicenseArn, Dimension: "seats"})
			if ans.Allowed || !ans.Stale || ans.Licenses[0].SourceTime != nil || !strings.Contains(ans.Reason, "not been fetched") {
				t.Fatalf("%+v", ans)
			}
			if ans := e.check(entitlement.Query{License: id, Dimension: "api_calls"}); !ans.Allowed {
				t.Fatalf("a usage dimension is allowed while the license is: %+v", ans)
			}
		})

		e.work()
		ctx := context.Background()
		var value string
		var expires, fetched int64
		err := db.Read(ctx, func(tx *store.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT value, expires_at FROM entitlements WHERE license_id = ? AND dimension = 'seats'`, id).Scan(&value, &expires); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT fetched_at FROM entitlement_syncs WHERE license_id = ? AND last_error IS NULL`, id).Scan(&fetched)
		})
		if err != nil {
			t.Fatal(err)
		}
		if value != `{"integer":10}` || expires != a.EndTime.Truncate(time.Second).UnixMilli() || fetched != store.Millis(e.clock.Now()) {
			t.Fatalf("stored %s expiring %d fetched %d; agreement ends %s", value, expires, fetched, a.EndTime)
		}

		t.Run("TheAnswerFollowsTheRefreshAtOnce", func(t *testing.T) {
			ans := e.check(entitlement.Query{License: a.LicenseArn})
			la := ans.Licenses[0]
			if !ans.Allowed || ans.Stale || la.State != "active" || la.AgreementID != a.ID || la.LicenseID != id || la.SourceTime == nil {
				t.Fatalf("%+v", ans)
			}
			if s := dim(la, "seats"); intValue(s) != 10 || !s.Allowed || s.Kind != "contract" || s.ExpiresAt == nil {
				t.Fatalf("seats %+v", s)
			}
			if u := dim(la, "api_calls"); u == nil || !u.Allowed || u.Kind != "usage" || u.Value != nil {
				t.Fatalf("api_calls %+v", u)
			}
		})
		if len(e.changes) != 0 {
			t.Fatalf("a first fetch is no change: %v", e.changes)
		}
	})
}

func TestAmendmentChangesTheAnswer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		a := e.accept("444455556666", 10)
		e.deliver()
		e.work()
		e.attach("t-1", a.LicenseArn)
		if ans := e.check(entitlement.Query{TenantID: "t-1", Dimension: "seats"}); !ans.Allowed || *total(ans, "seats").Integer != 10 {
			t.Fatalf("%+v", ans)
		}

		var b *world.Agreement
		e.world(func(s *world.State) (err error) {
			b, err = s.Amend(a.ID, "", "REPLACE", map[string]int64{"seats": 25})
			return err
		})
		e.deliver() // Created, Ended (REPLACED), License Updated of the new agreement
		// Registration attaches the amending license to the same tenant.
		e.attach("t-1", b.LicenseArn)
		e.work()

		ans := e.check(entitlement.Query{TenantID: "t-1", Dimension: "seats"})
		if !ans.Allowed || total(ans, "seats").Integer == nil || *total(ans, "seats").Integer != 25 || len(ans.Licenses) != 2 {
			t.Fatalf("after the amendment: %+v", ans)
		}
		old := e.check(entitlement.Query{License: a.LicenseArn, Dimension: "seats"})
		if old.Allowed || old.Licenses[0].State != "ending" || !strings.Contains(old.Reason, "ended") {
			t.Fatalf("the replaced license: %+v", old)
		}
		if n := e.check(entitlement.Query{License: b.LicenseArn, Dimension: "seats"}); !n.Allowed || intValue(&n.Licenses[0].Entitlements[0]) != 25 {
			t.Fatalf("the new license: %+v", n)
		}
	})
}

func TestDeprovisionedIsNeverAllowed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		a := e.accept("444455556666", 10)
		e.deliver()
		e.work()
		if ans := e.check(entitlement.Query{License: a.LicenseArn, Dimension: "seats"}); !ans.Allowed {
			t.Fatalf("%+v", ans)
		}
		e.world(func(s *world.State) error { _, err := s.Cancel(a.ID); return err })
		if err := e.emu.World.Advance(61 * time.Minute); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(61 * time.Minute) // Concord holds events dated ahead of its clock
		e.deliver()                       // Ended, then License Deprovisioned after the final window
		e.work()
		for _, dimension := range []string{"", "seats", "api_calls"} {
			ans := e.check(entitlement.Query{License: a.LicenseArn, Dimension: dimension})
			if ans.Allowed || ans.Licenses[0].State != "deprovisioned" || ans.Licenses[0].Allowed || ans.Stale {
				t.Fatalf("%q: %+v", dimension, ans)
			}
			for _, ea := range ans.Licenses[0].Entitlements {
				if ea.Allowed {
					t.Fatalf("%q: %+v", dimension, ea)
				}
			}
		}
		// The cached copy still says 10 seats: the ledger state wins.
		if s := dim(e.check(entitlement.Query{License: a.LicenseArn}).Licenses[0], "seats"); intValue(s) != 10 {
			t.Fatalf("%+v", s)
		}
	})
}

func TestStaleEntitlementsAreUsedAndRefreshed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		a := e.accept("444455556666", 10)
		e.deliver()
		e.work()
		e.clock.Advance(25 * time.Hour)
		ans := e.check(entitlement.Query{License: a.LicenseArn, Dimension: "seats"})
		if !ans.Allowed || !ans.Stale || !ans.Licenses[0].Stale {
			t.Fatalf("%+v", ans)
		}
		e.svc.WaitQueuedRefreshes()
		e.work() // the refresh the check queued
		if ans := e.check(entitlement.Query{License: a.LicenseArn, Dimension: "seats"}); ans.Stale || ans.Licenses[0].SourceTime == nil ||
			!ans.Licenses[0].SourceTime.Equal(e.clock.Now()) || !ans.Allowed {
			t.Fatalf("after the refresh: %+v", ans)
		}
		if len(e.changes) != 0 {
			t.Fatalf("same values, no change: OnChange %v", e.changes)
		}
	})
}

func TestTenantTotals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		a1 := e.accept("444455556666", 10)
		a2 := e.accept("444455556666", 3)
		e.deliver()
		e.work()
		e.attach("t-1", a1.LicenseArn, a2.LicenseArn)
		ans := e.check(entitlement.Query{TenantID: "t-1"})
		if !ans.Allowed || ans.Stale || ans.TenantID != "t-1" || len(ans.Licenses) != 2 {
			t.Fatalf("%+v", ans)
		}
		if s := total(ans, "seats"); s == nil || *s.Integer != 13 || !s.Allowed {
			t.Fatalf("seats %+v", s)
		}
		if u := total(ans, "api_calls"); u == nil || !u.Allowed || u.Kind != "usage" {
			t.Fatalf("api_calls %+v", u)
		}
		if ans := e.check(entitlement.Query{TenantID: "t-1", Dimension: "gpus"}); ans.Allowed || ans.Reason == "" {
			t.Fatalf("gpus %+v", ans)
		}
		raw, _ := json.Marshal(ans)
		if !strings.Contains(string(raw), `"value":{"integer":10}`) {
			t.Fatalf("values are JSON like {\"integer\":10}: %s", raw)
		}

		e.attach("t-2", "arn:aws:license-manager::444455556666:license:l-00000000000000000000000000000000")
		if ans := e.check(entitlement.Query{TenantID: "t-2"}); ans.Allowed || ans.Licenses[0].State != "unknown" {
			t.Fatalf("a license no event told about: %+v", ans)
		}
	})
}

func TestCheckRefusesBadQueries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := &entitlement.Service{DB: db}
		for _, c := range []struct {
			q    entitlement.Query
			code string
		}{
			{entitlement.Query{}, marketplace.EInvalid},
			{entitlement.Query{TenantID: "t", License: "l-1"}, marketplace.EInvalid},
			{entitlement.Query{License: "l-1\x00"}, marketplace.EInvalid},
			{entitlement.Query{License: "l-1", Dimension: strings.Repeat("d", 300)}, marketplace.EInvalid},
			{entitlement.Query{License: "l-unknown"}, marketplace.ENotFound},
			{entitlement.Query{TenantID: "t-unknown"}, marketplace.ENotFound},
		} {
			if _, err := svc.Check(context.Background(), c.q); marketplace.ErrorCode(err) != c.code {
				t.Errorf("%+v: %v, want %s", c.q, err, c.code)
			}
		}
	})
}

// fakeAPI answers GetEntitlements from a map, or fails.
type fakeAPI struct {
	mu   sync.Mutex
	ents map[string][]marketplace.Entitlement
	err  error
}

func (f *fakeAPI) GetEntitlements(ctx context.Context, productCode string, flt awsmp.EntitlementFilter) ([]marketplace.Entitlement, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ents[flt.LicenseArn], f.err
}

// insertLicense writes a ledger row directly.
func insertLicense(t testing.TB, db *store.DB, id, state, productCode string, now time.Time) string {
	t.Helper()
	arn := "arn:aws:license-manager::444455556666:license:" + id
	err := db.Write(context.Background(), func(tx *store.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO licenses (license_id, license_arn, agreement_id, product_id, product_code, account_id, state, updated_at)
			VALUES (?, ?, 'agmt-1', 'prod-1', ?, '444455556666', ?, ?)`, id, arn, productCode, state, store.Millis(now))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

func ptr[T any](v T) *T { return &v }

func TestPolicy(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
		api := &fakeAPI{ents: map[string][]marketplace.Entitlement{}}
		svc := &entitlement.Service{DB: db, API: api, Now: func() time.Time { return now }}
		ctx := context.Background()
		arn := insertLicense(t, db, "l-policy", "active", "code-1", now)
		api.ents[arn] = []marketplace.Entitlement{
			{Dimension: "seats", Integer: ptr[int64](5), ExpiresAt: ptr(now.Add(time.Hour))},
			{Dimension: "old", Integer: ptr[int64](5), ExpiresAt: ptr(now.Add(-time.Second))},
			{Dimension: "zero", Integer: ptr[int64](0)},
			{Dimension: "sso", Boolean: ptr(true)},
			{Dimension: "off", Boolean: ptr(false)},
			{Dimension: "ratio", Double: ptr(0.5)},
			{Dimension: "tier", String: ptr("gold")},
		}
		if err := svc.Refresh(ctx, arn); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			dim     string
			allowed bool
		}{
			{"seats", true}, {"old", false}, {"zero", false}, {"sso", true}, {"off", false}, {"ratio", true}, {"tier", true}, {"absent", false},
		} {
			ans, err := svc.Check(ctx, entitlement.Query{License: "l-policy", Dimension: c.dim})
			if err != nil {
				t.Fatal(err)
			}
			if ans.Allowed != c.allowed || ans.Licenses[0].Entitlements[0].Allowed != c.allowed || (!c.allowed && ans.Reason == "") {
				t.Errorf("%s: %+v", c.dim, ans)
			}
		}
		// Expiry is computed at request time, from the cached entry.
		now = now.Add(2 * time.Hour)
		if ans, _ := svc.Check(ctx, entitlement.Query{License: "l-policy", Dimension: "seats"}); ans.Allowed {
			t.Errorf("expired seats: %+v", ans)
		}
	})
}

func TestRefreshRecordsAPIErrorsAndAnnouncesChanges(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
		api := &fakeAPI{ents: map[string][]marketplace.Entitlement{}}
		var changed []string
		svc := &entitlement.Service{DB: db, API: api, Now: func() time.Time { return now },
			OnChange: func(ctx context.Context, tx *store.Tx, id string, now time.Time) error {
				changed = append(changed, id)
				return nil
			}}
		ctx := context.Background()
		arn := insertLicense(t, db, "l-changes", "active", "code-1", now)
		lastError := func() (attempted int64, msg *string) {
			err := db.Read(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, `SELECT attempted_at, last_error FROM entitlement_syncs WHERE license_id = 'l-changes'`).Scan(&attempted, &msg)
			})
			if err != nil {
				t.Fatal(err)
			}
			return attempted, msg
		}

		api.err = errors.New("ThrottlingException: slow down")
		if err := svc.Refresh(ctx, arn); err == nil || !errors.Is(err, api.err) {
			t.Fatalf("refresh: %v", err)
		}
		if at, msg := lastError(); at != store.Millis(now) || msg == nil || !strings.Contains(*msg, "slow down") {
			t.Fatalf("recorded %d %v", at, msg)
		}
		api.err = nil
		api.ents[arn] = []marketplace.Entitlement{{Dimension: "seats", Integer: ptr[int64](5)}}
		for _, step := range []struct {
			seats   int64
			changes int
		}{{5, 0}, {5, 0}, {7, 1}, {7, 1}} {
			api.ents[arn][0].Integer = ptr(step.seats)
			if err := svc.Refresh(ctx, "l-changes"); err != nil {
				t.Fatal(err)
			}
			if len(changed) != step.changes {
				t.Fatalf("%d seats: OnChange %v", step.seats, changed)
			}
		}
		if _, msg := lastError(); msg != nil {
			t.Fatalf("a success clears the error: %v", *msg)
		}
		ans, err := svc.Check(ctx, entitlement.Query{License: arn, Dimension: "seats"})
		if err != nil || intValue(&ans.Licenses[0].Entitlements[0]) != 7 {
			t.Fatalf("%+v %v", ans, err)
		}
	})
}

func TestSweepQueuesOldAndNeverFetchedLicenses(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 11, 2, 12, 7, 0, 0, time.UTC)
		clk := clocktest.New(now)
		api := &fakeAPI{ents: map[string][]marketplace.Entitlement{}}
		svc := &entitlement.Service{DB: db, API: api, Now: clk.Now, SweepBatch: 2}
		ctx := context.Background()
		for _, id := range []string{"l-a", "l-b", "l-c", "l-fresh"} {
			insertLicense(t, db, id, "active", "code-1", now)
		}
		insertLicense(t, db, "l-gone", "deprovisioned", "code-1", now)
		// A usage-only product has no entitlements: never swept.
		insertLicense(t, db, "l-usage", "active", "code-usage", now)
		if err := db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO products (product_id, product_code, type, created_at, updated_at) VALUES ('prod-usage', 'code-usage', 'saas_usage', 0, 0)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := svc.Refresh(ctx, "l-fresh"); err != nil {
			t.Fatal(err)
		}
		jobs := func(kind, state string) []job.Job {
			t.Helper()
			out, err := job.List(ctx, db, job.Filter{State: state, Kind: kind})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		for range 2 {
			if err := svc.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(jobs(entitlement.JobSweep, job.StateAvailable)); n != 1 {
			t.Fatalf("Start twice queued %d sweeps", n)
		}
		r := job.NewRunner(db, job.RunnerOptions{Now: clk.Now})
		svc.Handlers(r)
		if worked, err := r.WorkOne(ctx); !worked || err != nil {
			t.Fatalf("sweep: %v %v", worked, err)
		}
		var ids []string
		for _, j := range jobs(entitlement.JobRefresh, job.StateAvailable) {
			var a entitlement.RefreshArgs
			json.Unmarshal(j.Args, &a)
			ids = append(ids, a.LicenseID)
		}
		slices.Sort(ids)
		if strings.Join(ids, ",") != "l-a,l-b,l-c" {
			t.Fatalf("refreshes queued for %v", ids)
		}
		next := jobs(entitlement.JobSweep, job.StateAvailable)
		if len(next) != 1 || !next[0].RunAt.Equal(time.Date(2026, 11, 2, 12, 15, 0, 0, time.UTC)) {
			t.Fatalf("next sweep %+v", next)
		}

		// A restart before the next sweep runs one now; the chains meet at 12:15.
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		work := func() {
			t.Helper()
			for {
				worked, err := r.WorkOne(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !worked {
					return
				}
			}
		}
		work()
		if next := jobs(entitlement.JobSweep, job.StateAvailable); len(next) != 1 {
			t.Fatalf("sweeps pending after a restart: %+v", next)
		}
		// The refreshes are spread over the sweep interval, not run in one burst.
		if n := len(jobs(entitlement.JobRefresh, job.StateCompleted)); n >= 3 {
			t.Fatalf("%d refreshes ran at once; they should be spread over the interval", n)
		}
		clk.Advance(14 * time.Minute)
		work()
		if n := len(jobs(entitlement.JobRefresh, job.StateCompleted)); n != 3 {
			t.Fatalf("%d refreshes ran", n)
		}
		// Seven hours later everything is old again.
		clk.Advance(7 * time.Hour)
		work()
		clk.Advance(14 * time.Minute)
		work()
		if n := len(jobs(entitlement.JobRefresh, job.StateCompleted)); n != 7 {
			t.Fatalf("%d refreshes ran", n)
		}
	})
}
