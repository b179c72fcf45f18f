package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestSandboxSurvivesARestart stops serve mid-lifecycle and starts it again
// on the same data directory: the emulator is the same world (product,
// agreement, license, clock offset), so a buyer accepts the offer after the
// restart and usage of licenses from before and after is metered.
func TestSandboxSurvivesARestart(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			cfg := app.Config{Addr: "127.0.0.1:0", Database: storetest.URL(t, d), DataDir: t.TempDir(), EventBridgeSecret: secret, AutoMigrate: true}
			start := func() *app.App {
				a, err := app.Start(context.Background(), cfg, testLogger())
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			stop := func(a *app.App) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := a.Close(ctx); err != nil {
					t.Fatal(err)
				}
			}
			first := start()
			key, _, err := apikey.Create(context.Background(), first.DB, "test", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			b := &bundle{app: first, key: key}
			err = first.Emulator.World.Do(func(s *world.State) error {
				_, err := s.CreateProduct(world.Product{ProductID: "prod-restart", ProductCode: "restartcode", ConcurrentAgreements: true,
					Dimensions: []world.Dimension{{Key: "api_calls", Kind: "usage", Price: "0.01"}}})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			body := `{"productCode":"restartcode","type":"saas_usage","concurrentAgreements":true,"dimensions":[{"key":"api_calls","kind":"usage"}]}`
			if code, out := b.do(t, "PUT", "/v1/products/prod-restart", key, []byte(body)); code != 200 {
				t.Fatalf("configure product: %d %s", code, out)
			}
			if err := first.Emulator.World.Advance(3 * time.Hour); err != nil {
				t.Fatal(err)
			}
			before := acceptPublic(t, b, "444455556666")
			stop(first)

			second := start()
			running := true
			t.Cleanup(func() {
				if running {
					stop(second)
				}
			})
			b = &bundle{app: second, key: key}
			if skew := second.Emulator.World.Now().Sub(time.Now().Add(3 * time.Hour)); skew < -time.Minute || skew > time.Minute {
				t.Fatalf("the restarted emulator's clock is %s off the one it had", skew)
			}
			if skew := app.SandboxClock(cfg.DataDir)().Sub(second.Emulator.World.Now()); skew < -time.Minute || skew > time.Minute {
				t.Fatalf("the CLI's clock is %s off serve's", skew)
			}
			after := acceptPublic(t, b, "777788889999")

			now := second.Emulator.World.Now()
			var recs []map[string]any
			for i, arn := range []string{before, after} {
				recs = append(recs, map[string]any{"license": arn, "dimension": "api_calls", "quantity": 5 + i,
					"timestamp": now.Format(time.RFC3339), "idempotencyKey": fmt.Sprintf("restart-%d", i)})
			}
			raw, _ := json.Marshal(map[string]any{"records": recs})
			if code, out := b.do(t, "POST", "/v1/usage", key, raw); code != 200 || !strings.Contains(string(out), `"accepted":2`) {
				t.Fatalf("usage: %d %s", code, out)
			}
			if err := second.Emulator.World.Advance(time.Hour + 11*time.Minute); err != nil {
				t.Fatal(err)
			}
			second.Metering.Wake()
			for _, arn := range []string{before, after} {
				eventually(t, "the usage of "+arn+" to be accepted by the emulator", func() bool {
					var rep struct {
						Rows []metering.ReportRow `json:"rows"`
					}
					_, out := b.do(t, "GET", "/v1/metering/report?license="+url.QueryEscape(arn), key, nil)
					json.Unmarshal(out, &rep)
					return len(rep.Rows) == 1 && rep.Rows[0].Status == metering.StatusSuccess
				})
			}
			running = false
			stop(second)
			// What the emulator accepted is in the state file for the next run.
			f, err := os.ReadFile(app.SandboxStateFile(cfg.DataDir))
			if err != nil || strings.Count(string(f), `"status": "Success"`) != 2 {
				t.Fatalf("state file after the second run: %v (%d bytes)", err, len(f))
			}
		})
	}
}

// acceptPublic plays a buyer accepting the restart product's public offer in
// the emulator and waits for Concord to hold the license as active.
func acceptPublic(t *testing.T, b *bundle, buyer string) (licenseArn string) {
	t.Helper()
	err := b.app.Emulator.World.Do(func(s *world.State) error {
		p := s.Products["prod-restart"]
		if p == nil {
			return fmt.Errorf("the emulator does not know prod-restart")
		}
		if _, err := s.CreateBuyer(buyer); err != nil {
			return err
		}
		a, err := s.Accept(buyer, p.PublicOfferID, world.AcceptOptions{})
		if err == nil {
			licenseArn = a.LicenseArn
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the license of "+buyer+" to be active", func() bool {
		code, out := b.do(t, http.MethodGet, "/v1/licenses/"+url.PathEscape(licenseArn), b.key, nil)
		return code == 200 && strings.Contains(string(out), `"state":"active"`)
	})
	return licenseArn
}
