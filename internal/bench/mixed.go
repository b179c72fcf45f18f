// Package bench drives a Concord it starts with the load a vendor's
// deployment sees, at fixed rates, and reports what the callers saw: how
// many requests of each kind were answered, and how fast (p50, p99, max). It
// is how the sizing figures in docs/deployment.md are measured, and what an
// operator runs to size their own machine and database (`concord bench`).
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Request kinds of the mixed load.
const (
	KindEvent = "event" // POST /events/eventbridge: one agreement or license event
	KindUsage = "usage" // POST /v1/usage: a batch of usage records
	KindCheck = "check" // GET /v1/entitlements?license=…
)

// MixedConfig is the mixed load: each kind is sent at its own fixed rate.
type MixedConfig struct {
	Duration     time.Duration
	EventsPerSec float64
	UsagePerSec  float64 // usage batches per second
	ChecksPerSec float64
	UsageRecords int // records per usage batch
	Licenses     int // licenses seeded for usage and checks
	// Database is a PostgreSQL URL; empty runs on SQLite in DataDir. On
	// PostgreSQL the run uses a schema of its own, dropped at the end.
	Database string
	DataDir  string
	Logger   *slog.Logger
}

// Stat is what the callers of one kind saw.
type Stat struct {
	Kind   string
	Sent   int // requests due in the run
	OK     int // answered 2xx
	Failed int // answered otherwise, or not at all
	// Dropped requests were due while MaxInFlight of their kind were still
	// unanswered: Concord had fallen that far behind; they were not sent.
	Dropped int
	Rate    float64 // 2xx answers per second
	P50     time.Duration
	P99     time.Duration
	Max     time.Duration
	// Errors holds a few failures, for the report.
	Errors []string
}

// MixedResult is a run's outcome.
type MixedResult struct {
	Dialect  string
	Duration time.Duration
	Stats    []Stat
	// WriteP99 is the p99 of events and usage batches together.
	WriteP99 time.Duration
	// Group is SQLite's group commit over the run (zero on PostgreSQL).
	Group store.GroupStats
}

// MaxInFlight bounds the unanswered requests of one kind: the load is
// open-loop (a request is due at its time whatever the answers before it), but
// a Concord that stopped answering must not make the generator grow forever.
const MaxInFlight = 2000

const (
	benchProductID   = "prod-bench"
	benchProductCode = "benchcode0000000000000000"
	benchDimension   = "api_calls"
	benchSeller      = "111122223333"
)

// Mixed starts a Concord on a fresh database, seeds licenses, and sends events,
// usage batches and entitlement checks at the configured rates for the
// configured duration. Latency is measured from when each request was due (not
// when it went out), so a Concord that falls behind shows in the figures.
func Mixed(ctx context.Context, cfg MixedConfig) (MixedResult, error) {
	if cfg.Duration <= 0 || cfg.UsageRecords <= 0 || cfg.Licenses <= 0 {
		return MixedResult{}, errors.New("duration, usage records and licenses must be positive")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dbURL, dataDir, cleanup, err := workspace(ctx, cfg.Database, cfg.DataDir)
	if err != nil {
		return MixedResult{}, err
	}
	defer cleanup()
	secret := randomHex(16)
	// Concord alone: the AWS endpoint answers nothing, so enrichment and
	// metering fail fast in the background instead of reaching out.
	a, err := app.Start(ctx, app.Config{Addr: "127.0.0.1:0", DataDir: dataDir, Database: dbURL, Marketplace: app.MarketplaceAWS,
		AWSEndpoint: "http://127.0.0.1:1", AWSAnonymous: true, EventBridgeSecret: secret, AutoMigrate: true, Workers: 1, NoMetering: true}, logger)
	if err != nil {
		return MixedResult{}, fmt.Errorf("start concord: %w", err)
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(c)
	}()
	key, _, err := apikey.Create(ctx, a.DB, "bench", time.Now())
	if err != nil {
		return MixedResult{}, err
	}
	now := time.Now().UTC()
	if err := Seed(ctx, a.Ledger, a.DB, cfg.Licenses, now); err != nil {
		return MixedResult{}, err
	}

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
	base := a.URL()
	var seq atomic.Int64
	runID := randomHex(4)
	usageBody := func(at time.Time) []byte {
		return UsageBody(runID, int(seq.Add(1)), cfg.UsageRecords, cfg.Licenses, at)
	}
	do := func(req *http.Request) error {
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: %d %.200s", req.Method, req.URL.Path, resp.StatusCode, out)
		}
		return nil
	}
	kinds := []struct {
		kind string
		rate float64
		send func(i int, due time.Time) error
	}{
		{KindEvent, cfg.EventsPerSec, func(i int, due time.Time) error {
			req, _ := http.NewRequest(http.MethodPost, base+"/events/eventbridge", bytes.NewReader(Event(runID, i, due)))
			req.Header.Set(inbox.DefaultSecretHeader, secret)
			return do(req)
		}},
		{KindUsage, cfg.UsagePerSec, func(i int, due time.Time) error {
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/usage", bytes.NewReader(usageBody(due)))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			return do(req)
		}},
		{KindCheck, cfg.ChecksPerSec, func(i int, due time.Time) error {
			req, _ := http.NewRequest(http.MethodGet, base+"/v1/entitlements?license="+url.QueryEscape(LicenseID(int(seq.Add(1))%cfg.Licenses)), nil)
			req.Header.Set("Authorization", "Bearer "+key)
			return do(req)
		}},
	}
	before := a.DB.GroupStats()
	start := time.Now().Add(50 * time.Millisecond)
	res := MixedResult{Dialect: a.DB.Dialect(), Duration: cfg.Duration}
	recs := make([]*recorder, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		recs[i] = &recorder{kind: k.kind}
		if k.rate <= 0 {
			continue
		}
		wg.Go(func() { recs[i].run(ctx, start, cfg.Duration, k.rate, k.send) })
	}
	wg.Wait()
	after := a.DB.GroupStats()
	res.Group = store.GroupStats{Writes: after.Writes - before.Writes, Commits: after.Commits - before.Commits}
	var writes []time.Duration
	for _, r := range recs {
		res.Stats = append(res.Stats, r.stat(cfg.Duration))
		if r.kind != KindCheck {
			writes = append(writes, r.lat...)
		}
	}
	slices.Sort(writes)
	res.WriteP99 = percentile(writes, 0.99)
	return res, ctx.Err()
}

// recorder sends one kind at a fixed rate and keeps its latencies.
type recorder struct {
	kind     string
	mu       sync.Mutex
	lat      []time.Duration // of 2xx answers
	sent     int
	failed   int
	dropped  int
	errs     []string
	inFlight atomic.Int64
}

func (r *recorder) run(ctx context.Context, start time.Time, d time.Duration, rate float64, send func(i int, due time.Time) error) {
	period := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * period)
		if due.Sub(start) >= d || ctx.Err() != nil {
			break
		}
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		r.sent++
		if r.inFlight.Load() >= MaxInFlight {
			r.dropped++
			continue
		}
		r.inFlight.Add(1)
		wg.Go(func() {
			defer r.inFlight.Add(-1)
			err := send(i, due)
			took := time.Since(due)
			r.mu.Lock()
			defer r.mu.Unlock()
			if err != nil {
				r.failed++
				if len(r.errs) < 3 {
					r.errs = append(r.errs, err.Error())
				}
				return
			}
			r.lat = append(r.lat, took)
		})
	}
	wg.Wait()
}

func (r *recorder) stat(d time.Duration) Stat {
	slices.Sort(r.lat)
	s := Stat{Kind: r.kind, Sent: r.sent, OK: len(r.lat), Failed: r.failed, Dropped: r.dropped, Errors: r.errs,
		Rate: float64(len(r.lat)) / d.Seconds(), P50: percentile(r.lat, 0.50), P99: percentile(r.lat, 0.99)}
	if len(r.lat) > 0 {
		s.Max = r.lat[len(r.lat)-1]
	}
	return s
}

// percentile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Print writes the result as a table, with the targets.
func (r MixedResult) Print(w io.Writer) {
	fmt.Fprintf(w, "mixed load on %s for %s\n", r.Dialect, r.Duration)
	fmt.Fprintf(w, "%-6s %8s %8s %7s %8s %9s %9s %9s %9s\n", "kind", "sent", "2xx", "failed", "dropped", "rate/s", "p50", "p99", "max")
	for _, s := range r.Stats {
		fmt.Fprintf(w, "%-6s %8d %8d %7d %8d %9.1f %9s %9s %9s\n", s.Kind, s.Sent, s.OK, s.Failed, s.Dropped, s.Rate,
			ms(s.P50), ms(s.P99), ms(s.Max))
		for _, e := range s.Errors {
			fmt.Fprintf(w, "       error: %s\n", e)
		}
	}
	fmt.Fprintf(w, "writes (events and usage batches): p99 %s\n", ms(r.WriteP99))
	if r.Group.Commits > 0 {
		fmt.Fprintf(w, "sqlite group commit: %d writes in %d commits (%.2f writes per commit)\n", r.Group.Writes, r.Group.Commits,
			float64(r.Group.Writes)/float64(r.Group.Commits))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// LicenseID is the id of the i-th seeded license.
func LicenseID(i int) string { return fmt.Sprintf("l-bench%025x", i) }

// Seed declares the bench product (a contract dimension, seats, and a usage
// dimension, api_calls) and n active licenses of it, each entitled to 10 seats
// as of now. Licenses are written in bulk, not through events: the run
// measures the load, not the set-up.
func Seed(ctx context.Context, l *inbox.Ledger, db *store.DB, n int, now time.Time) error {
	if _, err := l.PutProduct(ctx, marketplace.Product{ProductID: benchProductID, ProductCode: benchProductCode, Type: "saas_contract_consumption",
		ConcurrentAgreements: true, Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}, {Key: benchDimension, Kind: "usage"}}}); err != nil {
		return fmt.Errorf("declare the bench product: %w", err)
	}
	ms := store.Millis(now.Add(-2 * time.Hour))
	fresh := store.Millis(now)
	const batch = 500
	for from := 0; from < n; from += batch {
		to := min(from+batch, n)
		err := db.Write(ctx, func(tx *store.Tx) error {
			var lic, ent, syn []string
			var la, ea, sa []any
			for i := from; i < to; i++ {
				id := LicenseID(i)
				lic = append(lic, "(?, ?, ?, ?, ?, ?, 'active', ?, ?)")
				la = append(la, id, "arn:aws:license-manager::444455556666:license:"+id, fmt.Sprintf("agmt-bench-%d", i), benchProductID, benchProductCode,
					"444455556666", ms, ms)
				ent = append(ent, "(?, 'seats', '{\"integer\":10}', ?)")
				ea = append(ea, id, fresh+365*24*3600*1000)
				syn = append(syn, "(?, ?, ?)")
				sa = append(sa, id, fresh, fresh)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO licenses (license_id, license_arn, agreement_id, product_id, product_code, account_id, state, activated_at, updated_at) VALUES `+
				strings.Join(lic, ", "), la...); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO entitlements (license_id, dimension, value, expires_at) VALUES `+strings.Join(ent, ", "), ea...); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO entitlement_syncs (license_id, fetched_at, attempted_at) VALUES `+strings.Join(syn, ", "), sa...)
			return err
		})
		if err != nil {
			return fmt.Errorf("seed licenses: %w", err)
		}
	}
	return nil
}

// Event is the i-th event of a run: agreements of new buyers, each created and
// then given its license (two events), dated at.
func Event(run string, i int, at time.Time) []byte {
	n := i / 2
	buyer := fmt.Sprintf("9%011d", n)
	ag := eventbridge.Agreement{ID: fmt.Sprintf("agmt-%s-%d", run, n), Intent: "NEW", AcceptanceTime: at.Add(-time.Minute), StartTime: at.Add(-time.Minute),
		EndTime: at.AddDate(1, 0, 0), AcceptorAccountID: buyer, ProposerAccountID: benchSeller, OfferID: "offer-bench", ProductID: benchProductID,
		ProductCode: benchProductCode}
	if i%2 == 0 {
		return eventbridge.Created(benchSeller, ag, at)
	}
	return eventbridge.LicenseUpdated(benchSeller, ag, eventbridge.LicenseArn(buyer, fmt.Sprintf("l-%s-%d", run, n)), at)
}

// UsageBody is a POST /v1/usage body of n records on the seeded licenses, dated
// at, with idempotency keys unique to (run, batch).
func UsageBody(run string, batch, n, licenses int, at time.Time) []byte {
	var b bytes.Buffer
	b.Grow(n * 160)
	b.WriteString(`{"records":[`)
	ts, _ := json.Marshal(at.UTC().Format(time.RFC3339Nano))
	for j := range n {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"license":%q,"dimension":%q,"quantity":%d,"timestamp":%s,"idempotencyKey":"%s-%d-%d"}`,
			LicenseID((batch*n+j)%licenses), benchDimension, 1+j%7, ts, run, batch, j)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// freshDatabase returns where the run's database is: "" (SQLite), or a
// PostgreSQL URL whose search_path is a new schema, and how to drop it.
// workspace is a run's database and data directory: a fresh PostgreSQL
// database when admin is set (freshDatabase), and dataDir, or a temporary
// directory when it is empty; cleanup drops and removes what it made.
func workspace(ctx context.Context, admin, dataDir string) (dbURL, dir string, cleanup func(), err error) {
	dbURL, drop, err := freshDatabase(ctx, admin)
	if err != nil {
		return "", "", nil, err
	}
	if dataDir != "" {
		return dbURL, dataDir, drop, nil
	}
	if dir, err = os.MkdirTemp("", "concord-bench-"); err != nil {
		drop()
		return "", "", nil, err
	}
	return dbURL, dir, func() { os.RemoveAll(dir); drop() }, nil
}

func freshDatabase(ctx context.Context, admin string) (string, func(), error) {
	if admin == "" {
		return "", func() {}, nil
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, fmt.Errorf("open postgres: %w", err)
	}
	defer db.Close()
	schema := "concord_bench_" + randomHex(6)
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	p, err := url.Parse(admin)
	if err != nil {
		return "", nil, fmt.Errorf("parse database URL: %w", err)
	}
	q := p.Query()
	q.Set("search_path", schema)
	p.RawQuery = q.Encode()
	return p.String(), func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
	}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
