package backfill_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/backfill"
	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// env is an emulator behind an httptest server, the official Entitlement
// Service client pointed at it, and a ledger on a fresh database.
type env struct {
	emu    *emulator.Emulator
	api    *awsmp.Entitlements
	ledger *inbox.Ledger
	db     *store.DB
}

func setup(t *testing.T, db *store.DB) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	conf := world.DefaultConfig()
	conf.ThrottleRPS = 0 // the calls are not paced in tests (Rate -1)
	emu := emulator.New(emulator.Options{Config: conf, BaseURL: func() string { return "http://" + srv.Listener.Addr().String() }})
	srv.Config.Handler = emu
	srv.Start()
	t.Cleanup(func() { emu.Close(); srv.Close() })
	cfg, err := awsmp.Load(context.Background(), awsmp.Config{Endpoint: srv.URL, Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	return &env{emu: emu, api: awsmp.NewEntitlements(cfg), db: db,
		ledger: &inbox.Ledger{DB: db, Now: time.Now, Logger: discard()}}
}

// product creates a contract product in the emulator and configures it in Concord.
func (e *env) product(t *testing.T, id, typ string, legacy bool) world.Product {
	t.Helper()
	kind := "contract"
	if typ == world.ProductSaaSUsage {
		kind = "usage"
	}
	var p world.Product
	err := e.emu.World.Do(func(s *world.State) error {
		out, err := s.CreateProduct(world.Product{ProductID: id, Type: typ, ConcurrentAgreements: !legacy,
			Dimensions: []world.Dimension{{Key: "seats", Kind: kind, Price: "10"}}})
		if err == nil {
			p = *out
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ledger.PutProduct(context.Background(), marketplace.Product{ProductID: p.ProductID, ProductCode: p.ProductCode, Type: typ}); err != nil {
		t.Fatal(err)
	}
	return p
}

// accept makes buyer accept the product's public offer and returns the license.
func (e *env) accept(t *testing.T, p world.Product, buyer string) world.License {
	t.Helper()
	var l world.License
	err := e.emu.World.Do(func(s *world.State) error {
		if _, err := s.CreateBuyer(buyer); err != nil {
			return err
		}
		a, err := s.Accept(buyer, p.PublicOfferID, world.AcceptOptions{Quantities: map[string]int64{"seats": 5}})
		if err != nil {
			return err
		}
		l = *s.Licenses[a.LicenseArn]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// deliver ingests the messages the emulator sent that mention want (an account
// for EventBridge events, a CustomerIdentifier for legacy SNS actions), as if
// Concord had been listening when they were sent.
func (e *env) deliver(t *testing.T, kind, want string) {
	t.Helper()
	var evs []world.EmittedEvent
	e.emu.World.Read(func(s *world.State) error { evs = append(evs, s.Events...); return nil })
	n := 0
	for i, m := range evs {
		if m.Kind != kind || !bytes.Contains(m.Body, []byte(want)) {
			continue
		}
		var ev marketplace.Event
		var err error
		door := inbox.DoorHTTP
		if kind == "sns" {
			door = inbox.DoorSNS
			ev, err = marketplace.ParseSNSAction(fmt.Sprintf("sns-%s-%d", want, i), m.TopicArn, string(m.Body), m.Time)
		} else {
			ev, err = marketplace.ParseEventBridge(m.Body)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.ledger.Ingest(context.Background(), door, ev); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("no %s message mentions %s", kind, want)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// flaky fails the nth call and every later one.
type flaky struct {
	backfill.API
	n     int32
	calls atomic.Int32
}

var errFlaky = errors.New("injected failure")

func (f *flaky) GetEntitlements(ctx context.Context, code string, filter awsmp.EntitlementFilter) ([]marketplace.Entitlement, error) {
	if f.calls.Add(1) >= f.n {
		return nil, errFlaky
	}
	return f.API.GetEntitlements(ctx, code, filter)
}

func licenseCount(t *testing.T, l *inbox.Ledger, productID string) int {
	t.Helper()
	ls, err := l.ListLicenses(context.Background(), inbox.LicenseFilter{ProductID: productID})
	if err != nil {
		t.Fatal(err)
	}
	return len(ls)
}

func TestEntitlements(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := setup(t, db)

		t.Run("MapsKnownBuyersLegacyCustomersAndGivenAccounts", func(t *testing.T) {
			p := e.product(t, "prod-legacy", world.ProductSaaSContract, true)
			const fromEvents, fromSNS, fromFile, unknown = "210000000001", "210000000002", "210000000003", "210000000004"
			la, lb, lc := e.accept(t, p, fromEvents), e.accept(t, p, fromSNS), e.accept(t, p, fromFile)
			e.accept(t, p, unknown)
			if lb.CustomerIdentifier == "" {
				t.Fatal("the emulator gave a legacy product's buyer no CustomerIdentifier")
			}
			e.deliver(t, "eventbridge", fromEvents)
			e.deliver(t, "sns", lb.CustomerIdentifier)

			var progress bytes.Buffer
			sum, err := backfill.Entitlements(ctx, backfill.Options{Product: p.ProductID, Accounts: []string{fromFile}, API: e.api, Ledger: e.ledger, Rate: -1, Progress: &progress})
			if err != nil {
				t.Fatal(err)
			}
			want := backfill.Summary{ProductID: p.ProductID, ProductCode: p.ProductCode, Accounts: 3, LegacyCustomers: 1, LegacyMapped: 1, Licenses: 3,
				ImportStats: inbox.ImportStats{Created: 3}}
			if sum != want {
				t.Fatalf("summary\n got %+v\nwant %+v", sum, want)
			}
			if !strings.Contains(progress.String(), "] 3/3 accounts") || !strings.Contains(progress.String(), "] 1/1 legacy customers") {
				t.Errorf("progress: %q", progress.String())
			}
			for _, w := range []world.License{la, lb, lc} {
				lic, err := e.ledger.GetLicense(ctx, w.Arn)
				if err != nil {
					t.Fatalf("license of %s: %v", w.AccountID, err)
				}
				if lic.State != marketplace.LicenseActive || lic.AccountID != w.AccountID || lic.CustomerIdentifier != w.CustomerIdentifier || lic.ProductCode != p.ProductCode {
					t.Errorf("license of %s: %+v, want CustomerIdentifier %s", w.AccountID, lic, w.CustomerIdentifier)
				}
			}
			if lic, _ := e.ledger.GetLicense(ctx, la.Arn); lic.AgreementID != la.AgreementID {
				t.Errorf("the license known from events lost its agreement: %+v", lic)
			}
			if n := licenseCount(t, e.ledger, p.ProductID); n != 3 {
				t.Errorf("%d licenses, want 3 (the buyer Concord never heard of is not queried)", n)
			}

			again, err := backfill.Entitlements(ctx, backfill.Options{Product: p.ProductID, Accounts: []string{fromFile}, API: e.api, Ledger: e.ledger, Rate: -1})
			if err != nil {
				t.Fatal(err)
			}
			if again.ImportStats != (inbox.ImportStats{Unchanged: 3}) {
				t.Fatalf("second run: %+v", again)
			}
		})

		t.Run("NothingAppliedWhenACallFailsMidway", func(t *testing.T) {
			p := e.product(t, "prod-flaky", world.ProductSaaSContractConsumption, false)
			accounts := []string{"220000000001", "220000000002", "220000000003"}
			for _, a := range accounts {
				e.accept(t, p, a)
			}
			e.accept(t, p, accounts[0]) // a concurrent agreement: a second license
			var progress bytes.Buffer
			api := &flaky{API: e.api, n: 3}
			_, err := backfill.Entitlements(ctx, backfill.Options{Product: p.ProductID, Accounts: accounts, API: api, Ledger: e.ledger, Rate: -1, Progress: &progress})
			if !errors.Is(err, errFlaky) || !strings.Contains(err.Error(), "220000000003") {
				t.Fatalf("err %v", err)
			}
			if !strings.HasSuffix(progress.String(), "\n") {
				t.Errorf("the progress line is not ended before the error: %q", progress.String())
			}
			if n := licenseCount(t, e.ledger, p.ProductID); n != 0 {
				t.Fatalf("a failed run applied %d licenses", n)
			}
			sum, err := backfill.Entitlements(ctx, backfill.Options{Product: p.ProductID, Accounts: accounts, API: e.api, Ledger: e.ledger, Rate: -1})
			if err != nil || sum.Licenses != 4 || sum.Created != 4 || sum.Accounts != 3 {
				t.Fatalf("retry: %+v %v", sum, err)
			}
		})

		t.Run("RefusesWhatItCannotBackfill", func(t *testing.T) {
			usage := e.product(t, "prod-usage-only", world.ProductSaaSUsage, false)
			_, err := backfill.Entitlements(ctx, backfill.Options{Product: usage.ProductID, API: e.api, Ledger: e.ledger, Rate: -1})
			if marketplace.ErrorCode(err) != marketplace.EInvalid || !strings.Contains(err.Error(), "import-csv") {
				t.Errorf("usage product: %v", err)
			}
			_, err = backfill.Entitlements(ctx, backfill.Options{Product: "prod-nope", API: e.api, Ledger: e.ledger, Rate: -1})
			if marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Errorf("unknown product: %v", err)
			}
			if _, err := e.ledger.PutProduct(ctx, marketplace.Product{ProductID: "prod-nocode", Type: marketplace.ProductSaaSContract}); err != nil {
				t.Fatal(err)
			}
			_, err = backfill.Entitlements(ctx, backfill.Options{Product: "prod-nocode", API: e.api, Ledger: e.ledger, Rate: -1})
			if marketplace.ErrorCode(err) != marketplace.EInvalid || !strings.Contains(err.Error(), "product code") {
				t.Errorf("product without code: %v", err)
			}
			_, err = backfill.Entitlements(ctx, backfill.Options{Product: "prod-legacy", Accounts: []string{"12345"}, API: e.api, Ledger: e.ledger, Rate: -1})
			if marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Errorf("bad account: %v", err)
			}
		})
	})
}

func TestParseAccounts(t *testing.T) {
	t.Parallel()
	got, err := backfill.ParseAccounts(strings.NewReader("\ufeff# buyers from the old billing system\n111122223333\n  444455556666  # ACME\n\n111122223333\n"))
	if err != nil || strings.Join(got, ",") != "111122223333,444455556666" {
		t.Fatalf("got %v %v", got, err)
	}
	_, err = backfill.ParseAccounts(strings.NewReader("111122223333\n12345\nabcdefghijkl\n444455556666\n1111222233334\n"))
	var bad *backfill.BadInputError
	if !errors.As(err, &bad) || marketplace.ErrorCode(err) != marketplace.EInvalid {
		t.Fatalf("err %v", err)
	}
	var lines []int
	for _, p := range bad.Problems {
		lines = append(lines, p.Line)
	}
	if len(lines) != 3 || lines[0] != 2 || lines[1] != 3 || lines[2] != 5 || !strings.Contains(err.Error(), `line 3: "abcdefghijkl" is not a 12-digit AWS account id`) {
		t.Fatalf("problems %v: %v", lines, err)
	}
}

func FuzzParseAccounts(f *testing.F) {
	f.Add("111122223333\n# c\n444455556666 # x\n")
	f.Add("\ufeff12345\n\x00\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := backfill.ParseAccounts(strings.NewReader(in))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, a := range got {
			if !marketplace.ValidAccountID(a) || seen[a] {
				t.Fatalf("accepted %q (%v)", a, got)
			}
			seen[a] = true
		}
	})
}
