package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/store"
)

// BenchmarkIngestHTTPSQLite measures events over HTTP on SQLite against the
// raw single-row commit rate of the same disk, in one run (issue 19, target 2:
// events/raw >= 2, which only group commit reaches). Both sides use 8
// concurrent clients and take turns in rounds of 250, so a neighbour's load on
// the shared machine weighs on both alike:
//
//   - raw: a bare transaction inserting one small row, through one connection
//     with Concord's pragmas (WAL, synchronous=FULL, BEGIN IMMEDIATE);
//   - events: POST /events/eventbridge on keep-alive connections, each event
//     answered once stored and queued, and folded into the ledger (agreements,
//     licenses, jobs, notifications) by the folder; after each round the
//     benchmark waits for the folds left (settle), out of events/s but in
//     ledger_events/s, the rate at which the ledger keeps up.
//
// It reports events/s, raw_commits/s, events/raw, and writes/commit: how many
// requests shared a transaction on average, and events/commit (how many events
// one fsync made durable: the ledger folds events that arrive together in one
// write); and, as costs that a loaded
// machine hardly changes, cpu_us/event and cpu_us/raw (the process's CPU time
// during each side) and stmts/event (statements the writer ran per event).
func BenchmarkIngestHTTPSQLite(b *testing.B) {
	const clients, round = 8, 250
	bd := setup(b, store.SQLite, app.Config{Marketplace: app.MarketplaceAWS, AWSEndpoint: "http://127.0.0.1:1", AWSAnonymous: true, Workers: 1})
	events := inboxtest.Stream(t0, b.N/6+1, 2)[:b.N]
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	send := func(body []byte) error {
		req, _ := http.NewRequest(http.MethodPost, bd.app.URL()+"/events/eventbridge", bytes.NewReader(body))
		req.Header.Set(inbox.DefaultSecretHeader, secret)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			b.Fatalf("send event: %d %s", resp.StatusCode, out)
		}
		return nil
	}

	ctx := context.Background()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "raw.db")+
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, at INTEGER NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	commit := func(int) error {
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO t (v, at) VALUES (?, ?)`, "one small row", time.Now().UnixMilli()); err != nil {
			return err
		}
		return tx.Commit()
	}
	ingest := func(i int) error { return send(events[i]) }

	// parallel runs do(i) for i in [from, to) on the clients and returns the
	// time taken; cpu adds the CPU time the whole process used meanwhile.
	parallel := func(from, to int, do func(int) error, cpu *time.Duration) time.Duration {
		start, startCPU := time.Now(), cpuTime()
		defer func() { *cpu += cpuTime() - startCPU }()
		var next atomic.Int64
		next.Store(int64(from))
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= to {
						return
					}
					if err := do(i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}

	before := bd.app.DB.GroupStats()
	var rawTime, httpTime, foldTime, rawCPU, httpCPU, foldCPU time.Duration
	b.ResetTimer()
	for from := 0; from < b.N; from += round {
		to := min(from+round, b.N)
		rawTime += parallel(from, to, commit, &rawCPU)
		httpTime += parallel(from, to, ingest, &httpCPU)
		// The round's events are acknowledged; fold what the folder has
		// not yet, before the next raw round (which would share the CPU
		// and the disk with it).
		startCPU := cpuTime()
		foldTime += settle(b, bd)
		foldCPU += cpuTime() - startCPU
	}
	b.StopTimer()
	after := bd.app.DB.GroupStats()
	n := float64(b.N)
	b.ReportMetric(n/httpTime.Seconds(), "events/s")
	b.ReportMetric(n/rawTime.Seconds(), "raw_commits/s")
	b.ReportMetric(rawTime.Seconds()/httpTime.Seconds(), "events/raw")
	b.ReportMetric(n/(httpTime+foldTime).Seconds(), "ledger_events/s")
	if c := after.Commits - before.Commits; c > 0 {
		b.ReportMetric(float64(after.Writes-before.Writes)/float64(c), "writes/commit")
		b.ReportMetric(n/float64(c), "events/commit")
	}
	// CPU time per event and per raw commit, of the whole process (HTTP
	// client and server, job workers): a cost that a loaded machine slows
	// down but hardly changes, unlike the rates.
	if httpCPU > 0 {
		b.ReportMetric(float64((httpCPU+foldCPU).Microseconds())/n, "cpu_us/event")
		b.ReportMetric(float64(rawCPU.Microseconds())/n, "cpu_us/raw")
	}
	// Every statement the writer ran meanwhile, job workers' included (the
	// raw side runs on its own database), per event.
	b.ReportMetric(float64(after.Statements-before.Statements)/n, "stmts/event")
}
