package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestMeteringReportAndRecordsCommands meters a license the emulator sold: an
// hour sent to AWS (through the official SDK client) with late usage after it,
// and an hour still open. The CLI must print what the outcome ledger holds.
func TestMeteringReportAndRecordsCommands(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv := httptest.NewUnstartedServer(nil)
			emu := emulator.New(emulator.Options{BaseURL: func() string { return "http://" + srv.Listener.Addr().String() }})
			srv.Config.Handler = emu
			srv.Start()
			t.Cleanup(func() { emu.Close(); srv.Close() })

			const account = "430000000001"
			var ag world.Agreement
			err := emu.World.Do(func(s *world.State) error {
				p, err := s.CreateProduct(world.Product{ProductID: "prod-cli", ProductCode: "clicode", Type: world.ProductSaaSUsage, ConcurrentAgreements: true,
					Dimensions: []world.Dimension{{Key: "api_calls", Kind: "usage", Price: "0.01"}}})
				if err != nil {
					return err
				}
				if _, err := s.CreateBuyer(account); err != nil {
					return err
				}
				a, err := s.Accept(account, p.PublicOfferID, world.AcceptOptions{})
				if err == nil {
					ag = *a
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}

			// The ledger learns of the license from the events AWS sends.
			db, url, dir := migratedDB(t, d)
			now := emu.World.Now
			svc := app.NewServices(db, now, slog.New(slog.DiscardHandler))
			if _, err := svc.Ledger.PutProduct(ctx, marketplace.Product{ProductID: "prod-cli", ProductCode: "clicode", Type: marketplace.ProductSaaSUsage,
				ConcurrentAgreements: true, Dimensions: []marketplace.Dimension{{Key: "api_calls", Kind: "usage"}}}); err != nil {
				t.Fatal(err)
			}
			t0 := ag.AcceptanceTime
			eba := eventbridge.Agreement{ID: ag.ID, Intent: "NEW", AcceptanceTime: t0, StartTime: ag.StartTime, AcceptorAccountID: account,
				ProposerAccountID: ag.ProposerAccountID, OfferID: ag.OfferID, ProductID: "prod-cli", ProductCode: "clicode"}
			for _, body := range [][]byte{eventbridge.Created(ag.ProposerAccountID, eba, t0), eventbridge.LicenseUpdated(ag.ProposerAccountID, eba, ag.LicenseArn, t0)} {
				ev, err := marketplace.ParseEventBridge(body)
				if err != nil {
					t.Fatal(err)
				}
				if res, err := svc.Ledger.Ingest(ctx, "eventbridge", ev); err != nil || res.Status != "applied" {
					t.Fatalf("ingest event: %+v %v", res, err)
				}
			}

			cfg, err := awsmp.Load(ctx, awsmp.Config{Endpoint: srv.URL, Anonymous: true, Region: "us-east-1"})
			if err != nil {
				t.Fatal(err)
			}
			m := &metering.Service{DB: db, Now: now, API: awsmp.NewMeter(cfg), Logger: slog.New(slog.DiscardHandler)}
			ingest := func(recs ...string) metering.IngestResult {
				t.Helper()
				raws := make([]json.RawMessage, len(recs))
				for i, r := range recs {
					raws[i] = json.RawMessage(r)
				}
				res, err := m.Ingest(ctx, raws)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			rec := func(key string, q int, at time.Time) string {
				return fmt.Sprintf(`{"license":%q,"dimension":"api_calls","quantity":%d,"timestamp":%q,"idempotencyKey":%q}`, ag.LicenseArn, q, at.Format(time.RFC3339Nano), key)
			}
			h0 := t0.UTC().Truncate(time.Hour)
			if res := ingest(rec("a", 5, t0), rec("b", 7, t0)); res.Accepted != 2 {
				t.Fatalf("first batch: %+v", res)
			}
			// The hour ends and its grace passes: it is frozen and sent.
			if err := emu.World.Advance(75 * time.Minute); err != nil {
				t.Fatal(err)
			}
			if n, err := m.Close(ctx); err != nil || n != 1 {
				t.Fatalf("close: %d %v", n, err)
			}
			if worked, err := m.SendOne(ctx); !worked || err != nil {
				t.Fatalf("send: %v %v", worked, err)
			}
			h1 := now().UTC().Truncate(time.Hour)
			if res := ingest(rec("c", 2, t0), rec("d", 4, now())); res.Late != 1 || res.Accepted != 1 {
				t.Fatalf("second batch: %+v", res)
			}
			var sent []*world.MeteringRecord
			emu.World.Do(func(s *world.State) error { sent = append(sent, s.Metering...); return nil })
			if len(sent) != 1 || sent[0].Quantity != 12 || sent[0].Status != "Success" {
				t.Fatalf("AWS (the emulator) holds %+v", sent)
			}
			mrid := sent[0].MeteringRecordID
			db2 := []string{"--data-dir", dir, "--database", url}
			lid := marketplace.LicenseID(ag.LicenseArn)

			t.Run("ReportTable", func(t *testing.T) {
				code, out, errs := runCLI(append([]string{"metering", "report"}, db2...)...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errs)
				}
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 4 {
					t.Fatalf("want a header, two rows and the totals:\n%s", out)
				}
				want := [][]string{
					{"LICENSE", "DIMENSION", "HOUR", "INGESTED", "LATE", "SUBMITTED", "ACCEPTED", "STATUS", "GAP"},
					{lid, "api_calls", h0.Format(time.RFC3339), "14", "2", "12", "12", "success", "2", "late", "(arrived", "after", "the", "hour", "was", "submitted)"},
					{lid, "api_calls", h1.Format(time.RFC3339), "4", "0", "0", "0", "open"},
					{"TOTAL", "18", "2", "12", "12", "2", "rows,", "1", "with", "gaps"},
				}
				for i, w := range want {
					if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
						t.Errorf("line %d:\n got %q\nwant %q", i, got, w)
					}
				}
			})

			t.Run("ReportFilters", func(t *testing.T) {
				code, out, errs := runCLI(append([]string{"metering", "report", "--gaps", "--format", "json"}, db2...)...)
				var rep metering.Report
				if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
					t.Fatalf("exit %d\n%s\n%s", code, out, errs)
				}
				if len(rep.Rows) != 1 || rep.Rows[0].MeteringRecordID != mrid || rep.Rows[0].LicenseArn != ag.LicenseArn || !rep.Rows[0].Hour.Equal(h0) ||
					rep.Totals != (metering.ReportTotals{Ingested: 14, Late: 2, Submitted: 12, Accepted: 12, Rows: 1, Gaps: 1}) || rep.Truncated {
					t.Fatalf("--gaps: %s", out)
				}
				code, out, _ = runCLI(append([]string{"metering", "report", "--from", h1.Format(time.RFC3339), "--license", lid, "--format", "csv"}, db2...)...)
				rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
				if code != 0 || err != nil || len(rows) != 2 || rows[1][5] != h1.Format(time.RFC3339) || rows[1][6] != "4" || rows[1][11] != "open" {
					t.Fatalf("--from --license --format csv: exit %d %v\n%s", code, err, out)
				}
				code, out, _ = runCLI(append([]string{"metering", "report", "--product", "prod-other", "--format", "json"}, db2...)...)
				if code != 0 || !strings.Contains(out, `"rows": []`) {
					t.Fatalf("--product with no usage: exit %d %s", code, out)
				}
			})

			t.Run("Records", func(t *testing.T) {
				code, out, errs := runCLI(append([]string{"metering", "records"}, db2...)...)
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if code != 0 || len(lines) != 3 {
					t.Fatalf("exit %d\n%s\n%s", code, out, errs)
				}
				f := strings.Fields(lines[1])
				if len(f) != 9 || f[1] != metering.PathLicense || f[2] != ag.LicenseArn || f[4] != h0.Format(time.RFC3339) || f[5] != "12" ||
					f[6] != "success" || f[7] != "1" || f[8] != mrid {
					t.Fatalf("record line %q", lines[1])
				}
				code, out, _ = runCLI(append([]string{"metering", "records", "--status", "success", "--format", "json"}, db2...)...)
				var page struct{ Items []metering.Record }
				if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.Items) != 1 || page.Items[0].MeteringRecordID != mrid || page.Items[0].Quantity != 12 {
					t.Fatalf("--status success: exit %d %s", code, out)
				}
				code, out, _ = runCLI(append([]string{"metering", "records", "--status", "pending", "--format", "json"}, db2...)...)
				if code != 0 || !strings.Contains(out, `"items": []`) {
					t.Fatalf("--status pending: exit %d %s", code, out)
				}
			})

			t.Run("UsageErrors", func(t *testing.T) {
				for _, args := range [][]string{
					{"metering"},
					{"metering", "nope"},
					{"metering", "report", "--from", "yesterday"},
					{"metering", "report", "--format", "xml"},
					{"metering", "report", "--limit", "0"},
					{"metering", "records", "--status", "billed"},
				} {
					if code, _, errs := runCLI(append(args, db2...)...); code != 2 {
						t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
					}
				}
				for _, sub := range []string{"report", "records"} {
					if code, _, errs := runCLI("metering", sub, "-h"); code != 0 || !strings.Contains(errs, "Usage: concord metering "+sub) || !strings.Contains(errs, "CONCORD_DATA_DIR") {
						t.Errorf("metering %s -h: exit %d\n%s", sub, code, errs)
					}
				}
			})
		})
	}
}
