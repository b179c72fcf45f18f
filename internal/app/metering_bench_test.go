package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store"
)

// BenchmarkMeteringSubmit measures the submitter against AWS's quota: 2,500
// pending records (100 full calls) through an AWS that allows 10 calls a
// second and answers each after 200 ms. The ceiling is 250 records/s; the
// submitter should reach at least 95% of it.
func BenchmarkMeteringSubmit(b *testing.B) {
	const (
		licenses = 25
		dims     = 5
		hours    = 20 // licenses × dims × hours = 2,500 records
		records  = licenses * dims * hours
	)
	bd := setup(b, store.SQLite, app.Config{NoMetering: true})
	emu := bd.app.Emulator.World
	var dimKeys []string
	var wdims []world.Dimension
	var cdims []map[string]string
	for i := range dims {
		k := fmt.Sprintf("dim%d", i)
		dimKeys = append(dimKeys, k)
		wdims = append(wdims, world.Dimension{Key: k, Kind: "usage", Price: "0.01"})
		cdims = append(cdims, map[string]string{"key": k, "kind": "usage"})
	}
	type lic struct {
		arn   string
		start time.Time
	}
	var lics []lic
	err := emu.Do(func(s *world.State) error {
		p, err := s.CreateProduct(world.Product{ProductID: "prod-bench", ProductCode: "benchcode", ConcurrentAgreements: true, Dimensions: wdims})
		if err != nil {
			return err
		}
		for i := range licenses {
			acct := fmt.Sprintf("31000000000%d", i%5)
			if i < 5 {
				if _, err := s.CreateBuyer(acct); err != nil {
					return err
				}
			}
			a, err := s.Accept(acct, p.PublicOfferID, world.AcceptOptions{})
			if err != nil {
				return err
			}
			lics = append(lics, lic{a.LicenseArn, a.StartTime})
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"productCode": "benchcode", "type": "saas_usage", "concurrentAgreements": true, "dimensions": cdims})
	if code, out := bd.do(b, "PUT", "/v1/products/prod-bench", bd.key, body); code != 200 {
		b.Fatalf("configure product: %d %s", code, out)
	}
	for _, l := range lics {
		eventually(b, "license "+l.arn+" to be active", func() bool {
			_, out := bd.do(b, "GET", "/v1/licenses/"+url.PathEscape(l.arn), bd.key, nil)
			return strings.Contains(string(out), `"state":"active"`)
		})
	}
	if err := emu.Advance(hours * time.Hour); err != nil {
		b.Fatal(err)
	}
	var recs []map[string]any
	for _, l := range lics {
		for _, d := range dimKeys {
			for h := range hours {
				ts := l.start.Truncate(time.Hour).Add(time.Duration(h)*time.Hour + time.Minute)
				recs = append(recs, map[string]any{"license": l.arn, "dimension": d, "quantity": 1 + h, "timestamp": ts.Format(time.RFC3339),
					"idempotencyKey": fmt.Sprintf("bench-%d", len(recs))})
			}
		}
	}
	raw, _ := json.Marshal(map[string]any{"records": recs})
	code, out := bd.do(b, "POST", "/v1/usage", bd.key, raw)
	var res metering.IngestResult
	if code != 200 || json.Unmarshal(out, &res) != nil || res.Accepted != records {
		b.Fatalf("usage: %d %s", code, out)
	}
	if err := emu.Advance(11 * time.Minute); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	closer := &metering.Service{DB: bd.app.DB, Now: emu.Now, Logger: testLogger()}
	if n, err := closer.Close(ctx); err != nil || n != records {
		b.Fatalf("closed %d records (%v), want %d", n, err, records)
	}
	err = emu.Do(func(s *world.State) error {
		s.Config.ThrottleRPS = 10
		s.SetFaults(map[string]world.Fault{"BatchMeterUsage": {Latency: 200 * time.Millisecond}}, 1)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	pending := func() int64 {
		var n int64
		if err := bd.app.DB.Read(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT COUNT(*) FROM metering_records WHERE status = 'pending'`).Scan(&n)
		}); err != nil {
			b.Fatal(err)
		}
		return n
	}
	meter := newMFMeter(b, bd)
	var elapsed time.Duration
	b.ResetTimer()
	for i := range b.N {
		if i > 0 {
			// Send the same records again: AWS answers identical records as it did.
			b.StopTimer()
			if err := bd.app.DB.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE metering_records SET status = 'pending', metering_record_id = '', reason = '', attempts = 0, next_attempt_at = 0,
					lease_owner = NULL, lease_until = 0, first_sent_at = NULL, finished_at = NULL`)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			time.Sleep(time.Second) // let AWS's quota refill
			b.StartTimer()
		}
		// The production defaults: RPS 10, 8 calls in flight, 2 min lease.
		svc := &metering.Service{DB: bd.app.DB, Now: emu.Now, Logger: testLogger(), API: meter}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- svc.Run(runCtx) }()
		for pending() > 0 {
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("%d records still pending after 2 minutes", pending())
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed += time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var success int64
	bd.app.DB.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT COUNT(*) FROM metering_records WHERE status = 'success'`).Scan(&success)
	})
	if success != records {
		b.Fatalf("%d of %d records succeeded", success, records)
	}
	meter.checkBatches(b)
	secs := elapsed.Seconds()
	b.ReportMetric(float64(records*b.N)/secs, "records/s")
	b.ReportMetric(float64(meter.calls.Load())/secs, "calls/s")
	b.ReportMetric(float64(meter.fails.Load())/float64(b.N), "failed-calls/op")
}
