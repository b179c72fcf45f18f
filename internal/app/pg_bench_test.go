package app_test

import (
	"context"
	"database/sql"
	"fmt"
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
	httpTime := parallel(len(events), func(i int) { bd.send(b, events[i]) })
	b.StopTimer()
	n := float64(len(events))
	b.ReportMetric(n/httpTime.Seconds(), "events/s")
	b.ReportMetric(n/rawTime.Seconds(), "raw_inserts/s")
	b.ReportMetric(rawTime.Seconds()/httpTime.Seconds(), "events/raw")
}
