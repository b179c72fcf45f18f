package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/readiness"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestReadinessCommand prints the readiness of a product whose test buyer
// holds two concurrent agreements, none metered yet, in each format.
func TestReadinessCommand(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, url, dir := migratedDB(t, d)
			const account, seller = "220000000001", "111122223333"
			t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			svc := app.NewServices(db, time.Now, slog.New(slog.DiscardHandler))
			if _, err := svc.Ledger.PutProduct(ctx, marketplace.Product{ProductID: "prod-cli-ca", ProductCode: "cliready", Type: marketplace.ProductSaaSUsage,
				ConcurrentAgreements: true, Dimensions: []marketplace.Dimension{{Key: "api_calls", Kind: "usage"}}}); err != nil {
				t.Fatal(err)
			}
			var arns []string
			for i, id := range []string{"agmt-cli-1", "agmt-cli-2"} {
				at := t0.Add(time.Duration(i) * time.Minute)
				a := eventbridge.Agreement{ID: id, Intent: "NEW", AcceptanceTime: at, StartTime: at, AcceptorAccountID: account, ProposerAccountID: seller,
					OfferID: "offer-" + id, ProductID: "prod-cli-ca", ProductCode: "cliready"}
				arn := eventbridge.LicenseArn(account, "l-"+id)
				arns = append(arns, arn)
				for _, body := range [][]byte{eventbridge.Created(seller, a, at), eventbridge.LicenseUpdated(seller, a, arn, at)} {
					ev, err := marketplace.ParseEventBridge(body)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := svc.Ledger.Ingest(ctx, "sqs", ev); err != nil {
						t.Fatal(err)
					}
				}
			}
			flags := []string{"--product", "prod-cli-ca", "--accounts", account, "--data-dir", dir, "--database", url}

			code, out, errs := runCLI(append([]string{"readiness", "--format", "csv"}, flags...)...)
			want := "product_id,account_id,agreement_id,license_arn,metering_tested\n" +
				"prod-cli-ca," + account + ",agmt-cli-1," + arns[0] + ",no\n" +
				"prod-cli-ca," + account + ",agmt-cli-2," + arns[1] + ",no\n"
			if code != 0 || out != want {
				t.Fatalf("csv: exit %d\n%s\n%s", code, out, errs)
			}

			code, out, errs = runCLI(append([]string{"readiness"}, flags...)...)
			for _, s := range []string{"Concurrent Agreements readiness of prod-cli-ca (cliready)", "TEST TRANSACTIONS", arns[0],
				"PASS  Concurrent agreements for the same buyer (AWS): account " + account + " holds 2 concurrent agreements",
				"FAIL  Metering tested with a LicenseArn (AWS)", "FAIL  Test transactions are $0 private offers (AWS): cannot tell whether agreement agmt-cli-1",
				" 1. done     Enable Concurrent Agreements for the product", "NOT READY: 3 of 6 checks fail."} {
				if !strings.Contains(out, s) {
					t.Errorf("table lacks %q", s)
				}
			}
			if code != 0 || t.Failed() {
				t.Fatalf("table: exit %d\n%s\n%s", code, out, errs)
			}

			code, out, _ = runCLI(append([]string{"readiness", "--format", "json"}, flags...)...)
			var r readiness.Readiness
			if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Ready || r.AccountsFrom != "given" || len(r.Accounts[0].Agreements) != 2 || len(r.Checklist) != 16 {
				t.Fatalf("json: exit %d\n%s", code, out)
			}

			for _, args := range [][]string{
				{"readiness", "--data-dir", dir, "--database", url},
				{"readiness", "--product", "prod-cli-ca", "--format", "xml", "--data-dir", dir, "--database", url},
				{"readiness", "--product", "prod-cli-ca", "--accounts", "12345", "--data-dir", dir, "--database", url},
			} {
				if code, _, errs := runCLI(args...); code != 2 {
					t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
				}
			}
			if code, _, errs := runCLI("readiness", "--product", "prod-nope", "--data-dir", dir, "--database", url); code != 1 || !strings.Contains(errs, "product prod-nope is not known") {
				t.Errorf("unknown product: exit %d %s", code, errs)
			}
			if code, _, errs := runCLI("readiness", "-h"); code != 0 || !strings.Contains(errs, "Usage: concord readiness") {
				t.Errorf("-h: exit %d %s", code, errs)
			}
		})
	}
}
