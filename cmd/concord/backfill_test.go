package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// backfillDB prepares a migrated database with one configured product and
// returns the flags that point the CLI at it.
func backfillDB(t *testing.T, dialect string, p marketplace.Product) []string {
	t.Helper()
	ctx := context.Background()
	db, url, dir := migratedDB(t, dialect)
	if _, err := (&inbox.Ledger{DB: db, Now: time.Now}).PutProduct(ctx, p); err != nil {
		t.Fatal(err)
	}
	return []string{"--data-dir", dir, "--database", url}
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errw bytes.Buffer
	code = run(context.Background(), args, &out, &errw)
	return code, out.String(), errw.String()
}

func TestBackfillImportCSVCommand(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := backfillDB(t, d, marketplace.Product{ProductID: "prod-usage", ProductCode: "code-usage", Type: marketplace.ProductSaaSUsage})
			dir := t.TempDir()
			good := filepath.Join(dir, "map.csv")
			os.WriteFile(good, []byte("CustomerIdentifier,CustomerAWSAccountId,AgreementId,LicenseArn\n"+
				"cust-1,410000000001,agmt-cli1,"+eventbridge.LicenseArn("410000000001", "l-cli1")+"\n"), 0o600)
			bad := filepath.Join(dir, "bad.csv")
			os.WriteFile(bad, []byte("CustomerIdentifier,CustomerAWSAccountId,AgreementId,LicenseArn\n"+
				"cust-2,410000000002,agmt-cli2,"+eventbridge.LicenseArn("410000000002", "l-cli2")+"\n"+
				"cust-3,4100,agmt-cli3,"+eventbridge.LicenseArn("410000000003", "l-cli3")+"\n"), 0o600)

			t.Run("ImportsAndIsIdempotent", func(t *testing.T) {
				// The file may come before the flags.
				code, out, errs := runCLI(append([]string{"backfill", "import-csv", good, "--product", "prod-usage"}, db...)...)
				if code != 0 || !strings.Contains(out, "created:               1") || !strings.Contains(out, "waiting for agreement: 1") {
					t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
				}
				if !strings.Contains(errs, "] 1/1 rows") {
					t.Errorf("no progress on stderr: %q", errs)
				}
				code, out, errs = runCLI(append([]string{"backfill", "import-csv", "--product", "prod-usage", "--json", good}, db...)...)
				if code != 0 || !strings.Contains(out, `"unchanged": 1`) || !strings.Contains(out, `"created": 0`) {
					t.Fatalf("second run: exit %d\n%s\n%s", code, out, errs)
				}
			})

			t.Run("BadRowsFailWithLineNumbers", func(t *testing.T) {
				code, out, errs := runCLI(append([]string{"backfill", "import-csv", "--product", "prod-usage", bad}, db...)...)
				if code != 1 || out != "" || !strings.Contains(errs, `line 3: CustomerAWSAccountId "4100" is not a 12-digit AWS account id`) ||
					!strings.Contains(errs, "nothing was imported") {
					t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
				}
				code, out, _ = runCLI(append([]string{"backfill", "import-csv", "--product", "prod-usage", "--json", good}, db...)...)
				if code != 0 || !strings.Contains(out, `"licenses": 1`) {
					t.Fatalf("the bad file changed something: %s", out)
				}
			})

			t.Run("UsageErrors", func(t *testing.T) {
				for _, args := range [][]string{
					{"backfill", "import-csv", good},
					{"backfill", "import-csv", "--product", "prod-usage"},
					{"backfill", "import-csv", "--product", "prod-usage", good, good},
					{"backfill"},
					{"backfill", "nope"},
				} {
					if code, _, errs := runCLI(append(args, db...)...); code != 2 {
						t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
					}
				}
				if code, _, errs := runCLI(append([]string{"backfill", "import-csv", "--product", "prod-usage", filepath.Join(dir, "missing.csv")}, db...)...); code != 1 || !strings.Contains(errs, "missing.csv") {
					t.Errorf("missing file: exit %d %s", code, errs)
				}
				if code, _, errs := runCLI(append([]string{"backfill", "import-csv", "--product", "prod-nope", good}, db...)...); code != 1 || !strings.Contains(errs, "not configured") {
					t.Errorf("unknown product: exit %d %s", code, errs)
				}
			})
		})
	}
}

func TestBackfillEntitlementsCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(nil)
	emu := emulator.New(emulator.Options{BaseURL: func() string { return "http://" + srv.Listener.Addr().String() }})
	srv.Config.Handler = emu
	srv.Start()
	t.Cleanup(func() { emu.Close(); srv.Close() })
	var p world.Product
	err := emu.World.Do(func(s *world.State) error {
		out, err := s.CreateProduct(world.Product{Type: world.ProductSaaSContract, Dimensions: []world.Dimension{{Key: "seats", Kind: "contract"}}})
		if err != nil {
			return err
		}
		p = *out
		if _, err := s.CreateBuyer("420000000001"); err != nil {
			return err
		}
		_, err = s.Accept("420000000001", p.PublicOfferID, world.AcceptOptions{Quantities: map[string]int64{"seats": 3}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db := backfillDB(t, store.SQLite, marketplace.Product{ProductID: p.ProductID, ProductCode: p.ProductCode, Type: marketplace.ProductSaaSContract})
	accounts := filepath.Join(t.TempDir(), "accounts.txt")
	os.WriteFile(accounts, []byte("# from the old CRM\n420000000001\n"), 0o600)
	aws := []string{"--aws-endpoint", srv.URL, "--aws-anonymous", "--rate", "0"}

	code, out, errs := runCLI(append(append([]string{"backfill", "entitlements", "--product", p.ProductID, "--accounts", accounts}, aws...), db...)...)
	if code != 0 || !strings.Contains(out, "accounts queried:        1") || !strings.Contains(out, "created:               1") || !strings.Contains(errs, "] 1/1 accounts") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, _ = runCLI(append(append([]string{"backfill", "entitlements", "--product", p.ProductID, "--json"}, aws...), db...)...)
	if code != 0 || !strings.Contains(out, `"unchanged": 1`) {
		t.Fatalf("second run (the buyer is known now): exit %d %s", code, out)
	}

	os.WriteFile(accounts, []byte("420000000001\nnot-an-account\n"), 0o600)
	code, _, errs = runCLI(append(append([]string{"backfill", "entitlements", "--product", p.ProductID, "--accounts", accounts}, aws...), db...)...)
	if code != 1 || !strings.Contains(errs, `line 2: "not-an-account" is not a 12-digit AWS account id`) {
		t.Fatalf("bad accounts file: exit %d %s", code, errs)
	}
	for _, sub := range []string{"entitlements", "import-csv"} {
		if code, _, errs := runCLI("backfill", sub, "-h"); code != 0 || !strings.Contains(errs, "Usage: concord backfill "+sub) || !strings.Contains(errs, "CONCORD_DATA_DIR") {
			t.Errorf("backfill %s -h: exit %d\n%s", sub, code, errs)
		}
	}
}
