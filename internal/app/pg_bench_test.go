package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// benchClients is how many clients send at once, to Concord and to the raw
// baseline alike.
const benchClients = 8

// rawPostgres opens a fresh schema on the test PostgreSQL for a raw baseline,
// with as many connections as clients.
func rawPostgres(b *testing.B) *sql.DB {
	b.Helper()
	db, err := sql.Open("pgx", storetest.URL(b, store.Postgres))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(benchClients)
	db.SetMaxIdleConns(benchClients)
	return db
}

// parallel runs fn(i) for i in [0, n) on benchClients goroutines and returns
// how long that took.
func parallel(n int, fn func(i int)) time.Duration {
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchClients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkIngestHTTPPostgres measures POST /events/eventbridge on PostgreSQL
// with benchClients clients (a realistic stream: six events per agreement,
// licenses, a renewal, in the order the clients pick them up) against the raw
// rate of the same server: the same number of clients each inserting one row
// (the event's id and body) per transaction into a bare table. It reports
// events/s, raw_inserts/s and events/raw (issue 19's target: >= 0.5). The
// two phases run in the same benchmark, one after the other, on the same server.
func BenchmarkIngestHTTPPostgres(b *testing.B) {
	bd := setup(b, store.Postgres, app.Config{Marketplace: app.MarketplaceAWS, AWSEndpoint: "http://127.0.0.1:1", AWSAnonymous: true, Workers: 1})
	events := inboxtest.Stream(t0, b.N/6+1, 1)[:b.N]
	raw := rawPostgres(b)
	ctx := context.Background()
	if _, err := raw.ExecContext(ctx, `CREATE TABLE raw_events (id TEXT PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	rawTime := parallel(len(events), func(i int) {
		if _, err := raw.ExecContext(ctx, `INSERT INTO raw_events (id, body) VALUES ($1, $2)`, fmt.Sprint(i), events[i]); err != nil {
			b.Error(err)
		}
	})
	// Keep-alive connections, one per sender, as the raw side's pool has
	// (http.DefaultClient keeps two idle: the others would reconnect for
	// every event).
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	httpTime := parallel(len(events), func(i int) { bd.postWith(b, client, events[i]) })
	b.StopTimer()
	settleTime := settle(b, bd)
	n := float64(len(events))
	b.ReportMetric(n/httpTime.Seconds(), "events/s")
	b.ReportMetric(n/rawTime.Seconds(), "raw_inserts/s")
	b.ReportMetric(rawTime.Seconds()/httpTime.Seconds(), "events/raw")
	b.ReportMetric(n/(httpTime+settleTime).Seconds(), "ledger_events/s")
}

// settle waits for the folder to fold every event the doors accepted (it
// folds them itself, beside the app's folder) and returns how long that took.
// Accepted events are folded moments after their answer; ledger_events/s,
// the events over the time until the ledger showed the last of them, is the
// rate the ledger keeps up with.
func settle(b *testing.B, bd *bundle) time.Duration {
	start := time.Now()
	if _, err := bd.app.Ledger.Settle(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkUsageIngestPostgres measures POST /v1/usage on PostgreSQL (batches
// of benchBatch records with unique idempotency keys, timestamps in the
// current hour, spread over licenses and dimensions, one client) against the
// raw rate of the same server storing the same rows: one transaction per
// batch of multi-row INSERTs (500 rows a statement) into a fresh schema of
// Concord's tables. It reports http_records/s, raw_records/s and http/raw
// (issue 19's target: >= 0.5). Both run in the same benchmark, batch by batch.
func BenchmarkUsageIngestPostgres(b *testing.B) {
	bu := setup(b, store.Postgres, app.Config{})
	batch := usageBenchFixture(b, bu)

	// The raw path: a fresh schema with Concord's tables on the same server.
	ctx := context.Background()
	rawStore := storetest.Open(b, store.Postgres)
	insertRaw := func(rows []benchRow, received int64) error {
		return rawStore.WriteCommitted(ctx, func(tx *store.Tx) error {
			const chunk = 500
			for start := 0; start < len(rows); start += chunk {
				part := rows[start:min(start+chunk, len(rows))]
				var sb strings.Builder
				sb.WriteString(`INSERT INTO usage_records (idempotency_key, license_id, tenant_id, dimension, quantity, ts, hour, late, received_at) VALUES `)
				args := make([]any, 0, len(part)*9)
				for i, r := range part {
					if i > 0 {
						sb.WriteString(", ")
					}
					sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
					args = append(args, r.key, r.license, "", r.dimension, r.quantity, store.Millis(r.ts), store.Millis(r.ts.Truncate(time.Hour)), false, received)
				}
				if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
					return err
				}
			}
			return nil
		})
	}

	var httpTime, rawTime time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		now := bu.app.Emulator.World.Now()
		rows := batch(now)
		payload := encodeUsage(rows)
		b.StartTimer()

		httpTime += postUsage(b, bu, payload)

		start := time.Now()
		if err := insertRaw(rows, store.Millis(now)); err != nil {
			b.Fatal(err)
		}
		rawTime += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N * benchBatch)
	httpRate, rawRate := n/httpTime.Seconds(), n/rawTime.Seconds()
	b.ReportMetric(httpRate, "http_records/s")
	b.ReportMetric(rawRate, "raw_records/s")
	b.ReportMetric(httpRate/rawRate, "http/raw")
}
