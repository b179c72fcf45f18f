package chaos

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestCrashMeteringSQLite kills the one serve of a SQLite data directory
// again and again while it takes usage in, submits it to an emulator that
// throttles, fails and leaves records unprocessed, and ingests agreement
// events: every acknowledged record is billed, none twice.
func TestCrashMeteringSQLite(t *testing.T) {
	t.Parallel()
	runMeteringCrash(t, store.SQLite, 1)
}

// TestCrashMeteringPostgres runs two serve processes on one PostgreSQL
// database and kills one of them again and again: the survivor and the
// restarted process share the work and still bill each hour once.
func TestCrashMeteringPostgres(t *testing.T) {
	t.Parallel()
	runMeteringCrash(t, store.Postgres, 2)
}

// bucketKey is what AWS bills once: a license, a dimension and an hour.
type bucketKey struct {
	license, dimension string
	hour               time.Time
}

func (k bucketKey) String() string {
	return k.license + "/" + k.dimension + "/" + k.hour.Format("2006-01-02T15")
}

// usageBatch is the usage of one bucket, posted in one request so that it is
// committed whole before the submitter freezes the (already closed) hour.
type usageBatch struct {
	key     bucketKey
	records []map[string]any
	total   int64
}

const (
	chaosProduct = "prod-chaos"
	chaosCode    = "chaoscode"
	// inFlight is serve's --metering-in-flight: a kill can leave at most this
	// many calls of at most 25 records answered by AWS but unrecorded.
	inFlight = 2
)

var chaosDims = []string{"api_calls", "storage_gb", "jobs"}

func runMeteringCrash(t *testing.T, dialect string, processes int) {
	k := runKnobs(t)
	rng := rand.New(rand.NewPCG(k.seed, 1))
	database := storetest.URL(t, dialect) // fails, not skips, under CONCORD_TEST_REQUIRE_POSTGRES=1
	hours := 5
	licenses := 4
	if k.kills >= 10 {
		hours, licenses = 12, 8
	}

	emu := startEmulator(t, "marketplace-events")
	// Agreements start hours+2 hours ago (emulator time), so every usage hour
	// below lies inside them; then the clock comes back to real time.
	emu.startInPast(time.Duration(hours+2) * time.Hour)
	var dims []map[string]string
	for _, d := range chaosDims {
		dims = append(dims, map[string]string{"key": d, "kind": "usage", "price": "0.01"})
	}
	emu.control("POST", "/control/products", map[string]any{"productId": chaosProduct, "productCode": chaosCode, "title": "Chaos",
		"type": "saas_usage", "dimensions": dims, "concurrentAgreements": true}, nil)
	var arns []string
	for i := range licenses {
		var a accepted
		// Buyer 1 holds two concurrent licenses.
		emu.control("POST", "/control/accept", map[string]any{"buyer": fmt.Sprintf("3100000000%02d", max(i, 1)), "productId": chaosProduct}, &a)
		arns = append(arns, a.LicenseArn)
	}
	emu.control("POST", "/control/clock/advance", map[string]any{"duration": fmt.Sprintf("%dh", hours+2)}, nil)
	emu.control("PUT", "/control/faults", map[string]any{"seed": k.seed, "faults": map[string]any{
		"*":               map[string]any{"latencyMs": 20, "errorShare": 0.05, "throttleShare": 0.05},
		"BatchMeterUsage": map[string]any{"latencyMs": 40, "errorShare": 0.1, "throttleShare": 0.1, "unprocessedShare": 0.1},
	}}, nil)

	procs := startServes(t, processes, serveConfig{name: "serve", database: database, emu: emu, sqs: true,
		extra: []string{"--metering-in-flight", fmt.Sprint(inFlight), "--metering-rps", fmt.Sprint(8 / processes)}})
	victim := procs[0]
	var apiDims []map[string]string
	for _, d := range chaosDims {
		apiDims = append(apiDims, map[string]string{"key": d, "kind": "usage"})
	}
	victim.mustAPI("PUT", "/v1/products/"+chaosProduct, map[string]any{"productCode": chaosCode, "type": "saas_usage",
		"concurrentAgreements": true, "dimensions": apiDims}, nil)
	for _, arn := range arns {
		eventually(t, time.Minute, "license "+arn+" to be active in Concord", func() bool {
			_, out, _ := victim.api("GET", "/v1/licenses/"+url.PathEscape(arn), nil)
			return strings.Contains(string(out), `"state":"active"`)
		})
	}

	// The usage: each (license, dimension, closed hour) gets one to four records.
	now := time.Now().UTC()
	var batches []*usageBatch
	nrec := 0
	for _, arn := range arns {
		for _, d := range chaosDims {
			for h := 2; h <= hours; h++ {
				b := &usageBatch{key: bucketKey{marketplace.LicenseID(arn), d, now.Truncate(time.Hour).Add(-time.Duration(h) * time.Hour)}}
				for j := range 1 + rng.IntN(4) {
					q := 1 + rng.Int64N(1000)
					ts := b.key.hour.Add(time.Duration(rng.Int64N(3600)) * time.Second)
					b.records = append(b.records, map[string]any{"license": arn, "dimension": d, "quantity": q,
						"timestamp": ts.Format(time.RFC3339), "idempotencyKey": fmt.Sprintf("chaos-%s-%d", b.key, j)})
					b.total += q
					nrec++
				}
				batches = append(batches, b)
			}
		}
	}
	rng.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })

	// Kill the victim while usage is posted and agreements change.
	kl := &killer{target: victim, rng: rand.New(rand.NewPCG(k.seed, 2)), gap: k.duration / time.Duration(max(k.kills, 1))}
	var wg sync.WaitGroup
	var killErr error
	wg.Go(func() { killErr = kl.run(k.kills) })
	acked := map[bucketKey]int64{}
	posts, resends := 0, 0
	pace := k.duration / time.Duration(len(batches))
	extra := newLifecycle(emu, rand.New(rand.NewPCG(k.seed, 3)))
	deadline := time.Now().Add(k.duration + 2*time.Minute)
	for i, b := range batches {
		if i%max(len(batches)/12, 1) == 0 {
			extra.step(t)
		}
		body := map[string]any{"records": b.records}
		for {
			if time.Now().After(deadline) {
				t.Fatalf("usage for %s was not acknowledged in time", b.key)
			}
			s := procs[rng.IntN(len(procs))]
			posts++
			code, raw, err := s.api("POST", "/v1/usage", body)
			if err != nil || code/100 == 5 {
				time.Sleep(50 * time.Millisecond) // down or dying: the app retries the same records
				continue
			}
			var res metering.IngestResult
			if code != 200 || jsonInto(raw, &res) != nil || res.Accepted+res.Duplicates != len(b.records) || res.Late+res.Rejected != 0 {
				t.Fatalf("usage for %s: %d %s", b.key, code, raw)
			}
			acked[b.key] = b.total
			break
		}
		if rng.Float64() < 0.1 { // an app resending what was acknowledged: counted once
			resends++
			if code, raw, err := procs[len(procs)-1].api("POST", "/v1/usage", body); err == nil && code == 200 && !strings.Contains(string(raw), `"accepted":0`) {
				t.Errorf("a resend of acknowledged usage was accepted again: %s", raw)
			}
		}
		time.Sleep(pace)
	}
	wg.Wait() // every kill happens: those after the last post hit the submitter draining
	if killErr != nil {
		t.Fatal(killErr)
	}
	kills := kl.kills()

	// Drain: every bucket submitted and answered, the ledger caught up.
	rows := map[bucketKey]metering.ReportRow{}
	eventually(t, 3*time.Minute, "every usage hour to be billed", func() bool {
		var rep struct {
			Rows []metering.ReportRow `json:"rows"`
		}
		if code, raw, err := victim.api("GET", "/v1/metering/report?limit=10000", nil); err != nil || code != 200 || jsonInto(raw, &rep) != nil {
			return false
		}
		clear(rows)
		done := 0
		for _, r := range rep.Rows {
			k := bucketKey{r.LicenseID, r.Dimension, r.Hour.UTC()}
			rows[k] = r
			if r.Status == metering.StatusSuccess {
				done++
			}
		}
		return done >= len(acked)
	})
	ledgerDiffs := extra.differences(t, victim)

	// Compare what AWS accepted with what Concord acknowledged and committed.
	var recs []struct {
		MeteringRecordID string    `json:"meteringRecordId"`
		ReceivedAt       time.Time `json:"receivedAt"`
		LicenseArn       string    `json:"licenseArn"`
		Dimension        string    `json:"dimension"`
		Quantity         int64     `json:"quantity"`
		Timestamp        time.Time `json:"timestamp"`
		Status           string    `json:"status"`
	}
	emu.control("GET", "/control/metering", nil, &recs)
	type billing struct {
		ids      map[string]int64 // MeteringRecordId → quantity
		received []time.Time      // every Success answer, in order
	}
	billed := map[bucketKey]*billing{}
	dupRecords := 0
	for _, r := range recs {
		if r.Status == metering.AWSDuplicateRecord {
			dupRecords++
		}
		if r.Status != metering.AWSSuccess {
			continue
		}
		key := bucketKey{marketplace.LicenseID(r.LicenseArn), r.Dimension, r.Timestamp.UTC().Truncate(time.Hour)}
		if billed[key] == nil {
			billed[key] = &billing{ids: map[string]int64{}}
		}
		billed[key].ids[r.MeteringRecordID] = r.Quantity
		billed[key].received = append(billed[key].received, r.ReceivedAt)
	}
	lost, doubled, resent := 0, 0, 0
	perKill := make([]int, len(kills))
	var problems []string
	for key, want := range acked {
		b, row := billed[key], rows[key]
		switch {
		case row.Ingested < want || row.Accepted < want:
			lost++
			problems = append(problems, fmt.Sprintf("%s: acknowledged %d, Concord committed %d and accepted %d", key, want, row.Ingested, row.Accepted))
			continue
		case b == nil:
			lost++
			problems = append(problems, fmt.Sprintf("%s: acknowledged %d, AWS billed nothing", key, want))
			continue
		case len(b.ids) > 1:
			doubled++
			problems = append(problems, fmt.Sprintf("%s: AWS billed %d distinct records %v", key, len(b.ids), b.ids))
			continue
		}
		for id, q := range b.ids {
			if q != want || row.MeteringRecordID != id {
				problems = append(problems, fmt.Sprintf("%s: AWS billed %d as %s, acknowledged %d, Concord recorded %s", key, q, id, want, row.MeteringRecordID))
				if q < want {
					lost++
				} else {
					doubled++
				}
			}
		}
		// A second send of the same record is a resend. AWS bills it once, but
		// it is allowed only when a kill came between the two sends: the
		// process died after AWS answered and before it stored the answer.
		slices.SortFunc(b.received, time.Time.Compare)
		for i := 1; i < len(b.received); i++ {
			resent++
			k := sort.Search(len(kills), func(j int) bool { return !kills[j].Before(b.received[i]) }) - 1
			if k < 0 || kills[k].Before(b.received[i-1]) {
				doubled++
				problems = append(problems, fmt.Sprintf("%s: sent again at %s with no kill since the send at %s", key,
					b.received[i].Format(time.RFC3339Nano), b.received[i-1].Format(time.RFC3339Nano)))
				continue
			}
			perKill[k]++
		}
	}
	for key := range billed {
		if _, ok := acked[key]; !ok {
			doubled++
			problems = append(problems, fmt.Sprintf("%s: AWS billed usage nobody reported", key))
		}
	}
	for i, n := range perKill {
		if n > inFlight*metering.MaxBatch {
			doubled += n - inFlight*metering.MaxBatch
			problems = append(problems, fmt.Sprintf("kill %d explains at most %d resent records (%d calls in flight), saw %d", i+1, inFlight*metering.MaxBatch, inFlight, n))
		}
	}
	t.Logf("chaos %s, %d serve process(es): kills=%d records=%d buckets=%d posts=%d app-resends=%d lost=%d doubled=%d resent-after-kill=%d DuplicateRecord=%d ledger-differences=%d seed=%d",
		dialect, processes, len(kills), nrec, len(acked), posts, resends, lost, doubled, resent, dupRecords, ledgerDiffs, k.seed)
	for _, p := range problems {
		t.Error(p)
	}
	if lost+doubled+dupRecords+ledgerDiffs > 0 {
		t.Errorf("lost=%d doubled=%d DuplicateRecord=%d ledger differences=%d (replay with CONCORD_CHAOS_SEED=%d)", lost, doubled, dupRecords, ledgerDiffs, k.seed)
	}
}
