package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store"
)

// benchBatch is the size of one POST /v1/usage batch (and of one raw transaction).
const benchBatch = 1000

// benchRow is one usage record as both paths store it.
type benchRow struct {
	key, license, dimension string
	quantity                int64
	ts                      time.Time
}

// BenchmarkUsageIngestHTTP measures POST /v1/usage on a SQLite sandbox app
// (batches of 1,000 records with unique idempotency keys, timestamps in the
// current hour, spread over licenses and dimensions) against the raw rate of
// inserting the same rows into a fresh SQLite database of the same schema and
// settings: one transaction per 1,000 rows through a prepared single-row
// INSERT. It reports http_records/s, raw_records/s and http/raw (target >=
// 0.5), and ingest_records/s: the same batches through Service.Ingest without
// HTTP, to tell the HTTP layer's cost from the ingest's.
func BenchmarkUsageIngestHTTP(b *testing.B) {
	bu := setup(b, store.SQLite, app.Config{})
	batch := usageBenchFixture(b, bu)

	// The raw path: a fresh database of the same schema and pragmas.
	ctx := context.Background()
	rawStore, err := store.Open(ctx, store.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if err := rawStore.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	path := rawStore.Path
	rawStore.Close()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	insertRaw := func(rows []benchRow, received int64) error {
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		st, err := tx.PrepareContext(ctx, `INSERT INTO usage_records (idempotency_key, license_id, tenant_id, dimension, quantity, ts, hour, late, received_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range rows {
			if _, err := st.ExecContext(ctx, r.key, r.license, "", r.dimension, r.quantity, store.Millis(r.ts),
				store.Millis(r.ts.Truncate(time.Hour)), false, received); err != nil {
				return err
			}
		}
		return tx.Commit()
	}

	var httpTime, svcTime, rawTime time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		now := bu.app.Emulator.World.Now()
		rows := batch(now)
		payload := encodeUsage(rows)
		b.StartTimer()

		httpTime += postUsage(b, bu, payload)

		// The same work through Service.Ingest directly (no HTTP, no huma), on
		// other keys, to tell the HTTP layer's share from the ingest's.
		b.StopTimer()
		svcRows := batch(now)
		raws := make([]json.RawMessage, len(svcRows))
		for i, r := range svcRows {
			raws[i], _ = json.Marshal(map[string]any{"license": r.license, "dimension": r.dimension, "quantity": r.quantity,
				"timestamp": r.ts.Format(time.RFC3339Nano), "idempotencyKey": r.key})
		}
		b.StartTimer()
		start := time.Now()
		sres, err := bu.app.Metering.Ingest(ctx, raws)
		svcTime += time.Since(start)
		if err != nil || sres.Accepted != benchBatch {
			b.Fatalf("Service.Ingest accepted %d of %d: %v", sres.Accepted, benchBatch, err)
		}

		start = time.Now()
		if err := insertRaw(rows, store.Millis(now)); err != nil {
			b.Fatal(err)
		}
		rawTime += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N * benchBatch)
	httpRate, svcRate, rawRate := n/httpTime.Seconds(), n/svcTime.Seconds(), n/rawTime.Seconds()
	b.ReportMetric(httpRate, "http_records/s")
	b.ReportMetric(svcRate, "ingest_records/s")
	b.ReportMetric(rawRate, "raw_records/s")
	b.ReportMetric(httpRate/rawRate, "http/raw")
}

// usageBenchFixture makes the usage benchmarks' product (three usage
// dimensions) in bu's emulator and in Concord, four buyers with an active
// license each, and returns batch: benchBatch records with unique
// idempotency keys in now's hour, spread over the licenses and dimensions.
func usageBenchFixture(b *testing.B, bu *bundle) (batch func(now time.Time) []benchRow) {
	b.Helper()
	dims := []string{"api_calls", "storage_gb", "requests"}
	err := bu.app.Emulator.World.Do(func(s *world.State) error {
		var wd []world.Dimension
		for _, d := range dims {
			wd = append(wd, world.Dimension{Key: d, Kind: "usage", Price: "0.01"})
		}
		_, err := s.CreateProduct(world.Product{ProductID: "prod-bench", ProductCode: "benchcode", ConcurrentAgreements: true, Dimensions: wd})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	var pd []string
	for _, d := range dims {
		pd = append(pd, `{"key":"`+d+`","kind":"usage"}`)
	}
	body := `{"productCode":"benchcode","type":"saas_usage","concurrentAgreements":true,"dimensions":[` + strings.Join(pd, ",") + `]}`
	if code, out := bu.do(b, "PUT", "/v1/products/prod-bench", bu.key, []byte(body)); code != 200 {
		b.Fatalf("configure product: %d %s", code, out)
	}
	var licenses []string
	err = bu.app.Emulator.World.Do(func(s *world.State) error {
		p := s.Products["prod-bench"]
		if p == nil {
			return fmt.Errorf("no product")
		}
		for i := range 4 {
			buyer := fmt.Sprintf("5555000000%02d", i)
			if _, err := s.CreateBuyer(buyer); err != nil {
				return err
			}
			a, err := s.Accept(buyer, p.PublicOfferID, world.AcceptOptions{})
			if err != nil {
				return err
			}
			licenses = append(licenses, a.LicenseArn)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, arn := range licenses {
		eventually(b, "license "+arn+" to be active", func() bool {
			_, out := bu.do(b, "GET", "/v1/licenses/"+url.PathEscape(arn), bu.key, nil)
			return strings.Contains(string(out), `"state":"active"`)
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seq := 0
	return func(now time.Time) []benchRow {
		hour := now.Truncate(time.Hour)
		span := max(int64(now.Sub(hour)), 1)
		rows := make([]benchRow, benchBatch)
		for i := range rows {
			seq++
			rows[i] = benchRow{key: fmt.Sprintf("bench-%08d-%s", seq, "7f3a9c1e"), license: licenses[seq%len(licenses)],
				dimension: dims[(seq/len(licenses))%len(dims)], quantity: rng.Int64N(1000) + 1, ts: hour.Add(time.Duration(rng.Int64N(span)))}
		}
		return rows
	}
}

// encodeUsage is the POST /v1/usage body of rows.
func encodeUsage(rows []benchRow) []byte {
	recs := make([]map[string]any, len(rows))
	for i, r := range rows {
		recs[i] = map[string]any{"license": r.license, "dimension": r.dimension, "quantity": r.quantity,
			"timestamp": r.ts.Format(time.RFC3339Nano), "idempotencyKey": r.key}
	}
	out, _ := json.Marshal(map[string]any{"records": recs})
	return out
}

// postUsage posts a benchBatch-record usage body, fails the benchmark unless
// every record was accepted, and returns how long the request took.
func postUsage(b *testing.B, bu *bundle, payload []byte) time.Duration {
	start := time.Now()
	code, out := bu.do(b, "POST", "/v1/usage", bu.key, payload)
	took := time.Since(start)
	if code != 200 {
		b.Fatalf("POST /v1/usage: %d %.500s", code, out)
	}
	var res metering.IngestResult
	if err := json.Unmarshal(out, &res); err != nil || res.Accepted != benchBatch {
		b.Fatalf("POST /v1/usage accepted %d of %d (%v): %.1000s", res.Accepted, benchBatch, err, out)
	}
	return took
}
