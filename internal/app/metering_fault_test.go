package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// mfKey is what AWS bills once: a license (the customer, on the legacy
// path), a dimension and an hour.
type mfKey struct {
	license, dimension string
	hour               time.Time
}

func (k mfKey) String() string {
	return k.license + "/" + k.dimension + "/" + k.hour.Format(time.RFC3339)
}

// mfScenario is a sandbox with a Concurrent Agreements product and a legacy
// product, several buyers and licenses, and usage reported over several hours.
type mfScenario struct {
	b *bundle
	// want is the usage the test reported (each idempotency key once), summed.
	want map[mfKey]int64
	// legacyByAccount maps an account to its license of the legacy product.
	legacyByAccount map[string]string
	legacyCode      string
}

const (
	mfCAProduct     = "prod-mf-ca"
	mfCACode        = "mfcacode"
	mfLegacyProduct = "prod-mf-legacy"
	mfLegacyCode    = "mflegacycode"
)

// newMFScenario accepts the licenses, moves the clock hours ahead and reports
// random usage for each of those hours, resending some records. The hours are
// still open: closeHours moves past their grace.
func newMFScenario(t testing.TB, dialect string, hours int, seed uint64) *mfScenario {
	t.Helper()
	b := setup(t, dialect, app.Config{NoMetering: true})
	sc := &mfScenario{b: b, want: map[mfKey]int64{}, legacyByAccount: map[string]string{}, legacyCode: mfLegacyCode}
	caDims := []string{"api_calls", "storage_gb", "jobs"}
	legacyDims := []string{"api_calls", "jobs"}
	usage := func(keys []string) []world.Dimension {
		var out []world.Dimension
		for _, k := range keys {
			out = append(out, world.Dimension{Key: k, Kind: "usage", Price: "0.01"})
		}
		return out
	}
	// Buyer A holds two concurrent licenses of the CA product and one of the legacy product.
	caBuyers := []string{"210000000001", "210000000001", "210000000002", "210000000003", "210000000004"}
	legacyBuyers := []string{"210000000001", "210000000002", "210000000005"}
	type lic struct {
		arn, product string
		start        time.Time
	}
	var lics []lic
	err := b.app.Emulator.World.Do(func(s *world.State) error {
		ca, err := s.CreateProduct(world.Product{ProductID: mfCAProduct, ProductCode: mfCACode, ConcurrentAgreements: true, Dimensions: usage(caDims)})
		if err != nil {
			return err
		}
		legacy, err := s.CreateProduct(world.Product{ProductID: mfLegacyProduct, ProductCode: mfLegacyCode, Dimensions: usage(legacyDims)})
		if err != nil {
			return err
		}
		for _, a := range []string{"210000000001", "210000000002", "210000000003", "210000000004", "210000000005"} {
			if _, err := s.CreateBuyer(a); err != nil {
				return err
			}
		}
		for _, a := range caBuyers {
			ag, err := s.Accept(a, ca.PublicOfferID, world.AcceptOptions{})
			if err != nil {
				return err
			}
			lics = append(lics, lic{ag.LicenseArn, mfCAProduct, ag.StartTime})
		}
		for _, a := range legacyBuyers {
			ag, err := s.Accept(a, legacy.PublicOfferID, world.AcceptOptions{})
			if err != nil {
				return err
			}
			lics = append(lics, lic{ag.LicenseArn, mfLegacyProduct, ag.StartTime})
			sc.legacyByAccount[a] = marketplace.LicenseID(ag.LicenseArn)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		id, code string
		ca       bool
		dims     []string
	}{{mfCAProduct, mfCACode, true, caDims}, {mfLegacyProduct, mfLegacyCode, false, legacyDims}} {
		var dims []map[string]string
		for _, d := range p.dims {
			dims = append(dims, map[string]string{"key": d, "kind": "usage"})
		}
		body, _ := json.Marshal(map[string]any{"productCode": p.code, "type": "saas_usage", "concurrentAgreements": p.ca, "dimensions": dims})
		if code, out := b.do(t, "PUT", "/v1/products/"+p.id, b.key, body); code != 200 {
			t.Fatalf("configure product %s: %d %s", p.id, code, out)
		}
	}
	for _, l := range lics {
		eventually(t, "license "+l.arn+" to be active", func() bool {
			_, out := b.do(t, "GET", "/v1/licenses/"+url.PathEscape(l.arn), b.key, nil)
			return strings.Contains(string(out), `"state":"active"`)
		})
	}
	// Let the hours pass, then report their usage (well within AWS's 24 h window).
	if err := b.app.Emulator.World.Advance(time.Duration(hours) * time.Hour); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	var recs []map[string]any
	for _, l := range lics {
		dims := caDims
		if l.product == mfLegacyProduct {
			dims = legacyDims
		}
		for _, d := range dims {
			for i := range hours {
				if rng.Float64() < 0.2 {
					continue
				}
				hour := l.start.Truncate(time.Hour).Add(time.Duration(i) * time.Hour)
				for range 1 + rng.IntN(3) {
					q := rng.Int64N(1000)
					ts := hour.Add(time.Duration(rng.Int64N(3600)) * time.Second)
					recs = append(recs, map[string]any{"license": l.arn, "dimension": d, "quantity": q, "timestamp": ts.Format(time.RFC3339),
						"idempotencyKey": fmt.Sprintf("mf-%d", len(recs))})
					sc.want[mfKey{marketplace.LicenseID(l.arn), d, hour}] += q
				}
			}
		}
	}
	rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	post := func(batch []map[string]any) metering.IngestResult {
		t.Helper()
		raw, _ := json.Marshal(map[string]any{"records": batch})
		code, out := b.do(t, "POST", "/v1/usage", b.key, raw)
		if code != 200 {
			t.Fatalf("usage: %d %s", code, out)
		}
		var res metering.IngestResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	for start := 0; start < len(recs); start += 100 {
		batch := recs[start:min(start+100, len(recs))]
		// The app resends some records of the batch: each key counts once.
		var resend []map[string]any
		for _, r := range batch {
			if rng.Float64() < 0.1 {
				resend = append(resend, r)
			}
		}
		if res := post(append(batch[:len(batch):len(batch)], resend...)); res.Accepted != len(batch) || res.Duplicates != len(resend) || res.Rejected != 0 || res.Late != 0 {
			t.Fatalf("ingest of %d records (+%d resent): %+v", len(batch), len(resend), res)
		}
	}
	// A whole batch resent later (a client retrying after a timeout) changes nothing.
	again := recs[:min(150, len(recs))]
	if res := post(again); res.Accepted != 0 || res.Duplicates != len(again) {
		t.Fatalf("resent batch: %+v", res)
	}
	t.Logf("%d usage records for %d (license, dimension, hour) buckets", len(recs), len(sc.want))
	return sc
}

// closeHours moves the clock past the grace of the last reported hour.
func (sc *mfScenario) closeHours(t testing.TB) {
	t.Helper()
	if err := sc.b.app.Emulator.World.Advance(11 * time.Minute); err != nil {
		t.Fatal(err)
	}
}

// mfMeter is the official BatchMeterUsage client pointed at the emulator,
// counting calls.
type mfMeter struct {
	api      metering.BatchAPI
	calls    atomic.Int64
	fails    atomic.Int64
	oversize atomic.Int64 // calls with more records than BatchMeterUsage takes
	largest  atomic.Int64
}

func (m *mfMeter) BatchMeterUsage(ctx context.Context, productCode string, recs []metering.SendRecord) ([]metering.SendResult, error) {
	m.calls.Add(1)
	if len(recs) > metering.MaxBatch {
		m.oversize.Add(1)
	}
	for n := int64(len(recs)); ; {
		l := m.largest.Load()
		if n <= l || m.largest.CompareAndSwap(l, n) {
			break
		}
	}
	res, err := m.api.BatchMeterUsage(ctx, productCode, recs)
	if err != nil {
		m.fails.Add(1)
	}
	return res, err
}

func newMFMeter(t testing.TB, b *bundle) *mfMeter {
	t.Helper()
	cfg, err := awsmp.Load(context.Background(), awsmp.Config{Endpoint: b.app.URL() + "/emulator", Anonymous: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return &mfMeter{api: awsmp.NewMeter(cfg)}
}

// checkBatches fails when a call carried more records than BatchMeterUsage
// takes: AWS rejects such a request whole, which costs calls of the quota.
func (m *mfMeter) checkBatches(t testing.TB) {
	t.Helper()
	if n := m.oversize.Load(); n > 0 {
		t.Errorf("%d of %d BatchMeterUsage calls carried more than %d records (up to %d): a claim leased more than one batch", n, m.calls.Load(), metering.MaxBatch, m.largest.Load())
	}
}

// mfState is the submitter's progress as the database has it.
type mfState struct {
	open, pending, due, leased int64
	nextAttempt                int64
}

func mfProgress(t testing.TB, db *store.DB, now time.Time) mfState {
	t.Helper()
	var st mfState
	ms := store.Millis(now)
	err := db.Read(context.Background(), func(tx *store.Tx) error {
		if err := tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM usage_buckets WHERE state = 'open'`).Scan(&st.open); err != nil {
			return err
		}
		return tx.QueryRow(context.Background(), `SELECT COUNT(*),
			COALESCE(SUM(CASE WHEN next_attempt_at <= ? AND lease_until < ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN lease_until >= ? THEN 1 ELSE 0 END), 0), COALESCE(MIN(next_attempt_at), 0)
			FROM metering_records WHERE status = 'pending'`, ms, ms, ms).Scan(&st.pending, &st.due, &st.leased, &st.nextAttempt)
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// verify checks that every (license, dimension, hour) the test reported was
// billed by AWS exactly once, with exactly the quantity reported, and that
// Concord's database and report say the same. It also counts how often AWS
// accepted each record: AWS de-duplicates an identical resend, so billing
// alone cannot show one. A resend is allowed only after a submitter crashed
// between its call and recording the answer, and such a crash resends at most
// one batch: resends bounds the resent records (0: none at all).
func (sc *mfScenario) verify(t testing.TB, resends int) {
	t.Helper()
	ctx := context.Background()
	b := sc.b
	// Concord: every record succeeded; committed usage equals what was reported.
	statuses := map[string]int64{}
	stored := map[mfKey]int64{}
	concordIDs := map[mfKey]string{}
	err := b.app.DB.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT status, COUNT(*) FROM metering_records GROUP BY status`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var s string
			var n int64
			if err := rows.Scan(&s, &n); err != nil {
				return err
			}
			statuses[s] = n
		}
		rows.Close()
		rows, err = tx.Query(ctx, `SELECT license_id, dimension, hour, SUM(quantity) FROM usage_records WHERE late = FALSE GROUP BY license_id, dimension, hour`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k mfKey
			var h, q int64
			if err := rows.Scan(&k.license, &k.dimension, &h, &q); err != nil {
				return err
			}
			k.hour = store.FromMillis(h)
			stored[k] = q
		}
		rows.Close()
		rows, err = tx.Query(ctx, `SELECT b.license_id, b.dimension, b.hour, r.metering_record_id FROM usage_buckets b JOIN metering_records r ON r.record_id = b.record_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k mfKey
			var h int64
			var id string
			if err := rows.Scan(&k.license, &k.dimension, &h, &id); err != nil {
				return err
			}
			k.hour = store.FromMillis(h)
			concordIDs[k] = id
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 1 || statuses[metering.StatusSuccess] != int64(len(sc.want)) {
		t.Errorf("metering records by status: %v, want %d success", statuses, len(sc.want))
	}
	for k, q := range sc.want {
		if stored[k] != q {
			t.Errorf("%s: Concord committed %d of usage, the app reported %d", k, stored[k], q)
		}
	}
	if len(stored) != len(sc.want) {
		t.Errorf("Concord holds usage for %d buckets, the app reported %d", len(stored), len(sc.want))
	}

	// AWS: one billed record per key, with the committed quantity.
	billed := map[mfKey]map[string]int64{} // key → MeteringRecordId → quantity
	successes := map[mfKey]int{}
	statusCount := map[string]int{}
	err = b.app.Emulator.World.Read(func(s *world.State) error {
		idents := map[string]string{}
		for acct, by := range s.Buyers {
			if id := by.CustomerIdentifiers[sc.legacyCode]; id != "" {
				idents[id] = acct
			}
		}
		for _, mr := range s.Metering {
			statusCount[mr.Status]++
			if mr.Status != metering.AWSSuccess {
				continue
			}
			k := mfKey{dimension: mr.Dimension, hour: mr.Timestamp.UTC().Truncate(time.Hour)}
			if mr.LicenseArn != "" {
				k.license = marketplace.LicenseID(mr.LicenseArn)
			} else {
				acct := mr.CustomerAWSAccount
				if acct == "" {
					acct = idents[mr.CustomerIdentifier]
				}
				k.license = sc.legacyByAccount[acct]
				if k.license == "" {
					return fmt.Errorf("legacy record for unknown customer: %+v", *mr)
				}
			}
			if billed[k] == nil {
				billed[k] = map[string]int64{}
			}
			if q, ok := billed[k][mr.MeteringRecordID]; ok && q != mr.Quantity {
				return fmt.Errorf("metering record %s has quantities %d and %d", mr.MeteringRecordID, q, mr.Quantity)
			}
			billed[k][mr.MeteringRecordID] = mr.Quantity
			successes[k]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("emulator metering records by status: %v", statusCount)
	if n := statusCount[metering.AWSDuplicateRecord] + statusCount[metering.AWSCustomerNotSubscribed]; n > 0 {
		t.Errorf("AWS answered DuplicateRecord or CustomerNotSubscribed %d times: %v", n, statusCount)
	}
	extra := 0
	for k, q := range sc.want {
		ids := billed[k]
		if len(ids) != 1 {
			t.Errorf("%s: AWS billed %d distinct metering records, want 1: %v", k, len(ids), ids)
			continue
		}
		for id, got := range ids {
			if got != q {
				t.Errorf("%s: AWS billed %d, the app reported %d", k, got, q)
			}
			if concordIDs[k] != id {
				t.Errorf("%s: Concord recorded MeteringRecordId %q, AWS billed %q", k, concordIDs[k], id)
			}
		}
		if successes[k] > 1 {
			extra += successes[k] - 1
			if resends == 0 {
				t.Errorf("%s: sent to AWS %d times, want once", k, successes[k])
			}
		}
	}
	t.Logf("records AWS accepted again (resends): %d, at most %d allowed", extra, resends)
	if extra > resends {
		t.Errorf("AWS accepted %d records again, but the crashes explain at most %d", extra, resends)
	}
	for k := range billed {
		if _, ok := sc.want[k]; !ok {
			t.Errorf("%s: AWS billed usage the app never reported: %v", k, billed[k])
		}
	}

	// The report reconciles every row: all ingested usage accepted.
	code, out := b.do(t, "GET", "/v1/metering/report?limit=10000", b.key, nil)
	if code != 200 {
		t.Fatalf("report: %d %s", code, out)
	}
	var rep struct {
		Totals struct {
			Ingested, Accepted, Late int64
			Gaps                     int
		} `json:"totals"`
		Rows []metering.ReportRow `json:"rows"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != len(sc.want) {
		t.Errorf("report has %d rows, want %d", len(rep.Rows), len(sc.want))
	}
	var total int64
	for _, r := range rep.Rows {
		k := mfKey{r.LicenseID, r.Dimension, r.Hour.UTC()}
		q, ok := sc.want[k]
		if !ok || r.Status != metering.StatusSuccess || r.Ingested != q || r.Accepted != q || r.Submitted != q || r.Late != 0 || r.Gap != "" {
			t.Errorf("report row %s: %+v, want ingested = accepted = %d", k, r, q)
		}
		total += q
	}
	if rep.Totals.Ingested != total || rep.Totals.Accepted != total || rep.Totals.Gaps != 0 {
		t.Errorf("report totals %+v, want ingested = accepted = %d", rep.Totals, total)
	}
}

// TestMeteringFaultsLoseNothingBillNothingTwice submits usage through an AWS
// that throttles, fails and leaves records unprocessed, with submitters that
// crash after claiming, after calling and after recording: every hour is
// billed once with exactly the usage reported, none lost and none twice.
func TestMeteringFaultsLoseNothingBillNothingTwice(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			const seed = 20261102
			sc := newMFScenario(t, d, 6, seed)
			b := sc.b
			err := b.app.Emulator.World.Do(func(s *world.State) error {
				s.Config.ThrottleRPS = 8
				s.SetFaults(map[string]world.Fault{"BatchMeterUsage": {ThrottleShare: 0.15, ErrorShare: 0.15, UnprocessedShare: 0.2}}, seed)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			sc.closeHours(t)

			meter := newMFMeter(t, b)
			const lease = 30 * time.Second
			const maxCrashes = 30
			var mu sync.Mutex
			crashRng := rand.New(rand.NewPCG(seed, 11))
			crashes := map[string]int{}
			ncrash := 0
			crash := func(point string) error {
				mu.Lock()
				defer mu.Unlock()
				if ncrash < maxCrashes && crashRng.Float64() < 0.12 {
					ncrash++
					crashes[point]++
					return fmt.Errorf("crash %d", ncrash)
				}
				return nil
			}
			emu := b.app.Emulator.World
			var advanced time.Duration
			advance := func(d time.Duration) {
				t.Helper()
				if err := emu.Advance(d); err != nil {
					t.Fatal(err)
				}
				advanced += d
			}
			deadline := time.Now().Add(50 * time.Second)
			services := 0
		run:
			for {
				// A fresh process: a new owner, nothing in memory.
				services++
				svc := &metering.Service{DB: b.app.DB, Now: emu.Now, Logger: testLogger(), API: meter,
					Lease: lease, Tick: 20 * time.Millisecond, RPS: 20, InFlight: 4, Crash: crash}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- svc.Run(ctx) }()
				for {
					select {
					case err := <-done:
						cancel()
						if !metering.IsCrash(err) {
							t.Fatalf("the submitter stopped without a crash: %v", err)
						}
						// The crashed submitter's leases run out.
						advance(lease + time.Second)
						continue run
					case <-time.After(25 * time.Millisecond):
					}
					now := emu.Now()
					st := mfProgress(t, b.app.DB, now)
					if st.open == 0 && st.pending == 0 {
						cancel()
						if err := <-done; err != nil && !metering.IsCrash(err) {
							t.Fatal(err)
						}
						break run
					}
					if time.Now().After(deadline) {
						cancel()
						<-done
						t.Fatalf("records still pending after %d submitters and %d crashes: %+v", services, ncrash, st)
					}
					// Everything left is waiting out a backoff: let the time pass.
					if st.open == 0 && st.pending > 0 && st.due == 0 && st.leased == 0 {
						if wait := store.FromMillis(st.nextAttempt).Sub(now); wait > 0 {
							advance(wait + 10*time.Millisecond)
						}
					}
				}
			}
			t.Logf("%d submitters, crashes %v, %d calls (%d failed), clock advanced %s", services, crashes, meter.calls.Load(), meter.fails.Load(), advanced.Round(time.Second))
			if ncrash == 0 || meter.fails.Load() == 0 {
				t.Fatalf("the run injected no crash (%d) or no failed call (%d): it proves nothing", ncrash, meter.fails.Load())
			}
			meter.checkBatches(t)
			// A record goes out again only when the answer to its call was
			// lost: the call failed (AWS may have taken it all the same), or a
			// crash stopped the submitter with calls in flight (each crash
			// cuts at most InFlight calls short).
			sc.verify(t, (ncrash*4+int(meter.fails.Load()))*metering.MaxBatch)
		})
	}
	// Two submitters on one database (on PostgreSQL, two connections pools
	// as two replicas have) claim disjoint batches: with no crash and no
	// failed call, each record reaches AWS once, on every database.
	for _, d := range storetest.Dialects {
		t.Run(d+"/TwoSubmittersSendEachRecordOnce", func(t *testing.T) {
			t.Parallel()
			twoSubmitters(t, d)
		})
	}
}

// twoSubmitters runs two submitters on one database of dialect and
// requires every record to reach AWS exactly once.
func twoSubmitters(t *testing.T, dialect string) {
	sc := newMFScenario(t, dialect, 8, 4242)
	b := sc.b
	db2 := b.app.DB
	if dialect == store.Postgres {
		var err error
		if db2, err = store.Open(context.Background(), store.Config{URL: b.app.Config.Database}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db2.Close() })
	}
	emu := b.app.Emulator.World
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var meters []*mfMeter
	for _, db := range []*store.DB{b.app.DB, db2} {
		m := newMFMeter(t, b)
		meters = append(meters, m)
		svc := &metering.Service{DB: db, Now: emu.Now, Logger: testLogger(), API: m, RPS: 4, InFlight: 2, Tick: 20 * time.Millisecond}
		wg.Go(func() {
			if err := svc.Run(ctx); err != nil {
				t.Errorf("replica: %v", err)
			}
		})
	}
	// Both replicas are running when the hours close.
	sc.closeHours(t)
	deadline := time.Now().Add(50 * time.Second)
	for {
		st := mfProgress(t, b.app.DB, emu.Now())
		if st.open == 0 && st.pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records still pending: %+v", st)
		}
		time.Sleep(25 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("calls per replica: %d and %d", meters[0].calls.Load(), meters[1].calls.Load())
	if meters[0].calls.Load() == 0 || meters[1].calls.Load() == 0 {
		t.Fatalf("one replica did all the work (%d and %d calls): the test proves nothing", meters[0].calls.Load(), meters[1].calls.Load())
	}
	for _, m := range meters {
		m.checkBatches(t)
	}
	sc.verify(t, 0)
}
