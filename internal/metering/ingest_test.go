package metering_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/clocktest"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// t0 is half past an hour: the current hour's buckets are open, the previous
// hour's are due (its end plus the 10 minute grace has passed).
var t0 = time.Date(2026, 11, 2, 12, 30, 0, 0, time.UTC)

const buyer = "444455556666"

// env is a database with a configured product (usage dimensions api_calls and
// storage, contract dimension seats), a ledger whose license hook is the
// metering service's, and the service, all on a fake clock.
type env struct {
	t      *testing.T
	db     *store.DB
	clock  *clocktest.Clock
	ledger *inbox.Ledger
	svc    *metering.Service
	agmts  map[string]eventbridge.Agreement // by license id
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	e := &env{t: t, db: db, clock: clocktest.New(t0), agmts: map[string]eventbridge.Agreement{}}
	e.svc = &metering.Service{DB: db, Now: e.clock.Now, Logger: logger}
	e.ledger = &inbox.Ledger{DB: db, Now: e.clock.Now, Logger: logger, LicenseHooks: []inbox.LicenseHook{e.svc.Hook}}
	if _, err := e.ledger.PutProduct(context.Background(), marketplace.Product{ProductID: "prod-m", ProductCode: "code-m",
		Type: "saas_contract_consumption", ConcurrentAgreements: true,
		Dimensions: []marketplace.Dimension{{Key: "api_calls", Kind: "usage"}, {Key: "storage", Kind: "usage"}, {Key: "seats", Kind: "contract"}}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// event folds an EventBridge event into the ledger (running the license hooks).
func (e *env) event(body []byte) {
	e.t.Helper()
	ev, err := marketplace.ParseEventBridge(body)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.ledger.Ingest(context.Background(), "test", ev); err != nil {
		e.t.Fatal(err)
	}
}

// license sells a license (started six hours ago) and returns its LicenseArn.
func (e *env) license(id string) string {
	e.t.Helper()
	start := t0.Add(-6 * time.Hour)
	a := eventbridge.Agreement{ID: "agmt-" + id, Intent: "NEW", AcceptanceTime: start, StartTime: start, EndTime: start.AddDate(1, 0, 0),
		AcceptorAccountID: buyer, ProposerAccountID: inboxtest.Seller, OfferID: "offer-m", ProductID: "prod-m", ProductCode: "code-m"}
	arn := eventbridge.LicenseArn(buyer, id)
	e.event(eventbridge.Created(inboxtest.Seller, a, start))
	e.event(eventbridge.LicenseUpdated(inboxtest.Seller, a, arn, start))
	e.agmts[id] = a
	if st := e.state(id); st != marketplace.LicenseActive {
		e.t.Fatalf("license %s is %s, want active", id, st)
	}
	return arn
}

// end ends the agreement of license id now (its final metering window opens).
func (e *env) end(id string) {
	e.t.Helper()
	e.event(eventbridge.Ended(inboxtest.Seller, e.agmts[id], marketplace.StatusCancelled, e.clock.Now()))
	if st := e.state(id); st != marketplace.LicenseEnding {
		e.t.Fatalf("license %s is %s, want ending", id, st)
	}
}

// deprovision deprovisions license id now.
func (e *env) deprovision(id string) {
	e.t.Helper()
	e.event(eventbridge.LicenseDeprovisioned(inboxtest.Seller, e.agmts[id], eventbridge.LicenseArn(buyer, id), e.clock.Now()))
	if st := e.state(id); st != marketplace.LicenseDeprovisioned {
		e.t.Fatalf("license %s is %s, want deprovisioned", id, st)
	}
}

func (e *env) state(id string) string {
	e.t.Helper()
	var l marketplace.License
	err := e.db.Read(context.Background(), func(tx *store.Tx) error {
		var err error
		l, _, err = inbox.LoadLicense(context.Background(), tx, id)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return l.State
}

func (e *env) ingest(recs ...json.RawMessage) metering.IngestResult {
	e.t.Helper()
	res, err := e.svc.Ingest(context.Background(), recs)
	if err != nil {
		e.t.Fatalf("ingest: %v", err)
	}
	if n := res.Accepted + res.Late + res.Duplicates + res.Rejected; n != len(recs) {
		e.t.Fatalf("counts of %d records add up to %d: %+v", len(recs), n, res)
	}
	return res
}

func (e *env) close() int {
	e.t.Helper()
	n, err := e.svc.Close(context.Background())
	if err != nil {
		e.t.Fatalf("close: %v", err)
	}
	return n
}

func (e *env) report(license string) []metering.ReportRow {
	e.t.Helper()
	rep, err := e.svc.Report(context.Background(), metering.ReportFilter{License: license})
	rows := rep.Rows
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func (e *env) count(table string) int {
	e.t.Helper()
	return storetest.Count(e.t, e.db, table)
}

// rec is one usage record as the vendor's app sends it.
func rec(license, dim string, q int64, ts time.Time, key string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"license": license, "dimension": dim, "quantity": q, "timestamp": ts.Format(time.RFC3339Nano), "idempotencyKey": key})
	return b
}

// results indexes the records of a result that were not simply accepted.
func results(t *testing.T, res metering.IngestResult) map[int]metering.UsageResult {
	t.Helper()
	out := map[int]metering.UsageResult{}
	for i, r := range res.Records {
		if i > 0 && res.Records[i-1].Index >= r.Index {
			t.Fatalf("records not in batch order: %+v", res.Records)
		}
		if r.Reason == "" || r.Status == metering.UsageAccepted {
			t.Fatalf("record %d listed without reason or as accepted: %+v", r.Index, r)
		}
		out[r.Index] = r
	}
	return out
}

func expect(t *testing.T, got map[int]metering.UsageResult, i int, status string, reason ...string) {
	t.Helper()
	r, ok := got[i]
	if !ok {
		t.Errorf("record %d: accepted, want %s", i, status)
		return
	}
	if r.Status != status {
		t.Errorf("record %d: %s (%s), want %s", i, r.Status, r.Reason, status)
	}
	for _, s := range reason {
		if !strings.Contains(r.Reason, s) {
			t.Errorf("record %d: reason %q does not say %q", i, r.Reason, s)
		}
	}
}

func TestIngestCountsAndReasons(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		l1, l2 := e.license("l-one"), e.license("l-two")
		now := t0
		withExtra, _ := json.Marshal(map[string]any{"license": l1, "dimension": "api_calls", "quantity": 1, "timestamp": now, "idempotencyKey": "x", "extra": 1})
		withTenant, _ := json.Marshal(map[string]any{"tenant": "t-1", "dimension": "api_calls", "quantity": 1, "timestamp": now, "idempotencyKey": "y"})
		res := e.ingest(
			rec(l1, "api_calls", 5, now.Add(-time.Minute), "a"),   // 0 accepted
			rec(l1, "api_calls", 7, now.Add(-2*time.Minute), "b"), // 1 accepted
			rec(l2, "storage", 11, now.Add(-time.Hour), "c"),      // 2 accepted (previous hour, still open)
			rec(l1, "api_calls", 5, now.Add(-time.Minute), "a"),   // 3 duplicate of 0
			rec(l1, "seats", 1, now, "d"),                         // 4 contract dimension
			rec(l1, "nosuch", 1, now, "e"),                        // 5 unknown dimension
			rec("l-unknown", "api_calls", 1, now, "f"),            // 6 unknown license
			rec(l1, "api_calls", 1, now.Add(10*time.Minute), "g"), // 7 future
			rec(l1, "api_calls", 1, now.Add(-25*time.Hour), "h"),  // 8 too old for AWS
			rec(l1, "api_calls", -1, now, "i"),                    // 9 negative
			rec(l1, "api_calls", 1, now.Add(-7*time.Hour), "j"),   // 10 before the license started
			withExtra,  // 11 unknown field
			withTenant, // 12 no tenant lookup configured
			rec(l2, "api_calls", 3, now.Add(-3*time.Minute), "a"), // 13 duplicate of 0, other content
			json.RawMessage(`{"license":"`+l1+`","dimension":`),   // 14 not JSON
		)
		if res.Accepted != 3 || res.Duplicates != 2 || res.Rejected != 10 || res.Late != 0 || len(res.Records) != 12 {
			t.Fatalf("result: %+v", res)
		}
		got := results(t, res)
		for _, i := range []int{0, 1, 2} {
			if r, ok := got[i]; ok {
				t.Errorf("record %d not accepted: %+v", i, r)
			}
		}
		expect(t, got, 3, metering.UsageDuplicate, "repeats record 0")
		expect(t, got, 4, metering.UsageRejected, "contract")
		expect(t, got, 5, metering.UsageRejected, `"nosuch"`, "not a dimension")
		expect(t, got, 6, metering.UsageRejected, "not known")
		expect(t, got, 7, metering.UsageRejected, "in the future")
		expect(t, got, 8, metering.UsageRejected, "too old")
		expect(t, got, 9, metering.UsageRejected, "out of range")
		expect(t, got, 10, metering.UsageRejected, "before license")
		expect(t, got, 11, metering.UsageRejected, "unknown field")
		expect(t, got, 12, metering.UsageRejected, "tenant")
		// Reasons read as sentences, without an error code in front.
		if r := got[12].Reason; r != "tenants are not available here: give license" {
			t.Errorf("record 12: reason %q", r)
		}
		for i, r := range got {
			for _, code := range []string{"invalid:", "not_found:", "conflict:", "internal:", "unauthorized:"} {
				if strings.HasPrefix(r.Reason, code) {
					t.Errorf("record %d: reason %q starts with an error code", i, r.Reason)
				}
			}
		}
		expect(t, got, 13, metering.UsageDuplicate, "repeats record 0")
		expect(t, got, 14, metering.UsageRejected, "not a usage record")
		if got[3].IdempotencyKey != "a" || got[4].IdempotencyKey != "d" {
			t.Errorf("keys not echoed: %+v %+v", got[3], got[4])
		}
		if n := e.count("usage_records"); n != 3 {
			t.Fatalf("%d usage records stored, want the 3 accepted", n)
		}

		// Across batches: an identical resend and one with other content are
		// duplicates; a key whose record was rejected is still free.
		res = e.ingest(
			rec(l1, "api_calls", 5, now.Add(-time.Minute), "a"),   // 0 identical to the stored "a"
			rec(l1, "api_calls", 8, now.Add(-2*time.Minute), "b"), // 1 stored "b" had quantity 7
			rec(l1, "api_calls", 2, now, "d"),                     // 2 "d" was rejected before
			rec(l2, "api_calls", 4, now, "k"),                     // 3 new
		)
		if res.Accepted != 2 || res.Duplicates != 2 || res.Rejected != 0 || res.Late != 0 {
			t.Fatalf("second batch: %+v", res)
		}
		got = results(t, res)
		expect(t, got, 0, metering.UsageDuplicate, `"a"`, "was received at")
		if strings.Contains(got[0].Reason, "differs") {
			t.Errorf("identical resend said to differ: %s", got[0].Reason)
		}
		expect(t, got, 1, metering.UsageDuplicate, "the stored record differs", "quantity 7", "not counted")

		// The buckets hold exactly the accepted usage.
		hour := t0.Truncate(time.Hour)
		want := map[string][2]int64{ // license/dimension/hour → quantity, records
			"l-one/api_calls/" + hour.Format(time.RFC3339):               {5 + 7 + 2, 3},
			"l-two/storage/" + hour.Add(-time.Hour).Format(time.RFC3339): {11, 1},
			"l-two/api_calls/" + hour.Format(time.RFC3339):               {4, 1},
		}
		rows := e.report("")
		if len(rows) != len(want) {
			t.Fatalf("report rows: %+v", rows)
		}
		for _, r := range rows {
			k := r.LicenseID + "/" + r.Dimension + "/" + r.Hour.Format(time.RFC3339)
			if w, ok := want[k]; !ok || r.Ingested != w[0] || r.UsageRecords != w[1] || r.Status != "open" || r.Late != 0 || r.Submitted != 0 {
				t.Errorf("report row %s: %+v, want quantity/records %v, open", k, r, w)
			}
		}
	})
}

// TestIngestConcurrentSameKeys sends the same keys at once on four licenses
// (other buckets, so the batches do not take turns): each key is counted
// once, every other sender hears it is a duplicate, and the buckets hold
// exactly the accepted usage.
func TestIngestConcurrentSameKeys(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		lics := []string{e.license("l-a"), e.license("l-b"), e.license("l-c"), e.license("l-d")}
		const size = 200
		for round := range 3 {
			res := make([]metering.IngestResult, len(lics))
			var wg sync.WaitGroup
			for w, l := range lics {
				wg.Go(func() {
					recs := make([]json.RawMessage, size)
					for i := range recs {
						recs[i] = rec(l, "api_calls", 1, t0.Add(-time.Duration(i)*time.Second), fmt.Sprintf("r%d-k%d", round, i))
					}
					r, err := e.svc.Ingest(context.Background(), recs)
					if err != nil {
						t.Errorf("license %d: %v", w, err)
					}
					res[w] = r
				})
			}
			wg.Wait()
			accepted, dups := 0, 0
			for _, r := range res {
				accepted += r.Accepted
				dups += r.Duplicates
			}
			if accepted != size || dups != size*(len(lics)-1) {
				t.Fatalf("round %d: %d accepted, %d duplicates: %+v", round, accepted, dups, res)
			}
		}
		var q, n int64
		for _, r := range e.report("") {
			q, n = q+r.Ingested, n+r.UsageRecords
		}
		if q != 3*size || n != 3*size || e.count("usage_records") != 3*size {
			t.Fatalf("buckets hold %d in %d records, %d records stored; want %d", q, n, e.count("usage_records"), 3*size)
		}
	})
}

func TestIngestBatchLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		l1 := e.license("l-one")
		batch := make([]json.RawMessage, metering.MaxIngest+1)
		for i := range batch {
			batch[i] = rec(l1, "api_calls", 1, t0.Add(-time.Duration(i)*time.Millisecond), fmt.Sprintf("k%d", i))
		}
		res, err := e.svc.Ingest(context.Background(), batch)
		if marketplace.ErrorCode(err) != marketplace.ETooLarge || res.Accepted != 0 {
			t.Fatalf("%d records: %+v, %v; want a too_large error", len(batch), res, err)
		}
		if n, b := e.count("usage_records"), e.count("usage_buckets"); n != 0 || b != 0 {
			t.Fatalf("an oversized batch stored %d records and %d buckets", n, b)
		}
		// The largest batch allowed goes in whole.
		res = e.ingest(batch[:metering.MaxIngest]...)
		if res.Accepted != metering.MaxIngest {
			t.Fatalf("%d records: %+v", metering.MaxIngest, res.Accepted)
		}
		if rows := e.report(l1); len(rows) != 1 || rows[0].Ingested != metering.MaxIngest || rows[0].UsageRecords != metering.MaxIngest {
			t.Fatalf("report: %+v", rows)
		}
	})
}

// TestIngestBucketSumsEqualAcceptedUsage sends random batches, with resends
// and in-batch repeats, over licenses, dimensions and hours: every bucket is
// the sum of the records Ingest said it accepted, and closing freezes exactly
// that into the metering records.
func TestIngestBucketSumsEqualAcceptedUsage(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		lics := []string{e.license("l-one"), e.license("l-two")}
		dims := []string{"api_calls", "storage"}
		rng := rand.New(rand.NewPCG(7, 11))
		type key struct {
			license, dim string
			hour         time.Time
		}
		want := map[key][2]int64{}
		var keys []string
		first := t0.Truncate(time.Hour).Add(-2 * time.Hour)
		for range 4 {
			batch := make([]json.RawMessage, 250)
			type sent struct {
				k key
				q int64
			}
			sents := make([]sent, len(batch))
			for i := range batch {
				ik := fmt.Sprintf("key-%d", len(keys))
				if len(keys) > 0 && rng.IntN(5) == 0 {
					ik = keys[rng.IntN(len(keys))] // a resend, maybe with other content
				} else {
					keys = append(keys, ik)
				}
				lic, dim := rng.IntN(len(lics)), dims[rng.IntN(len(dims))]
				ts := first.Add(time.Duration(rng.Int64N(int64(t0.Sub(first)))))
				q := rng.Int64N(1_000_000)
				batch[i] = rec(lics[lic], dim, q, ts, ik)
				sents[i] = sent{key{marketplace.LicenseID(lics[lic]), dim, ts.Truncate(time.Hour)}, q}
			}
			res := e.ingest(batch...)
			got := results(t, res)
			for i, s := range sents {
				if r, ok := got[i]; ok {
					if r.Status != metering.UsageDuplicate {
						t.Fatalf("record %d: %+v", i, r)
					}
					continue
				}
				w := want[s.k]
				want[s.k] = [2]int64{w[0] + s.q, w[1] + 1}
			}
		}
		if n := e.count("usage_records"); n != len(keys) {
			t.Fatalf("%d usage records for %d keys", n, len(keys))
		}
		check := func(closed bool) {
			t.Helper()
			rows := e.report("")
			if len(rows) != len(want) {
				t.Fatalf("%d report rows, want %d", len(rows), len(want))
			}
			for _, r := range rows {
				w := want[key{r.LicenseID, r.Dimension, r.Hour}]
				if r.Ingested != w[0] || r.UsageRecords != w[1] || r.Late != 0 {
					t.Errorf("%s %s %s: ingested %d in %d records, want %d in %d", r.LicenseID, r.Dimension, r.Hour, r.Ingested, r.UsageRecords, w[0], w[1])
				}
				if closed && (r.Submitted != w[0] || r.Status != metering.StatusPending) {
					t.Errorf("%s %s %s after close: submitted %d (%s), want %d pending", r.LicenseID, r.Dimension, r.Hour, r.Submitted, r.Status, w[0])
				}
			}
		}
		check(false)
		e.clock.Set(t0.Truncate(time.Hour).Add(time.Hour + 10*time.Minute))
		if n := e.close(); n != len(want) {
			t.Fatalf("closed %d buckets, want %d", n, len(want))
		}
		check(true)
		recs, err := e.svc.Records(context.Background(), metering.RecordFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var sum, wsum int64
		for _, r := range recs {
			sum += r.Quantity
		}
		for _, w := range want {
			wsum += w[0]
		}
		if len(recs) != len(want) || sum != wsum {
			t.Fatalf("%d metering records with %d in all, want %d with %d", len(recs), sum, len(want), wsum)
		}
	})
}

func TestIngestLateUsageIsKeptNotSent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		l1 := e.license("l-one")
		prev := t0.Truncate(time.Hour).Add(-time.Hour)
		// Usage for the previous hour (due: it ended 30 minutes ago) and the current one.
		if res := e.ingest(rec(l1, "api_calls", 10, prev.Add(40*time.Minute), "p1"), rec(l1, "api_calls", 20, t0, "c1")); res.Accepted != 2 {
			t.Fatalf("%+v", res)
		}
		if n := e.close(); n != 1 {
			t.Fatalf("closed %d buckets, want only the previous hour's", n)
		}
		res := e.ingest(
			rec(l1, "api_calls", 3, prev.Add(50*time.Minute), "p2"),  // 0 late
			rec(l1, "api_calls", 10, prev.Add(40*time.Minute), "p1"), // 1 duplicate, not late
			rec(l1, "api_calls", 4, t0, "c2"),                        // 2 the open hour takes it
		)
		if res.Accepted != 1 || res.Late != 1 || res.Duplicates != 1 {
			t.Fatalf("%+v", res)
		}
		got := results(t, res)
		expect(t, got, 0, metering.UsageLate, "already submitted", "never sent")
		expect(t, got, 1, metering.UsageDuplicate)
		rows := e.report(l1)
		if len(rows) != 2 {
			t.Fatalf("report: %+v", rows)
		}
		p, c := rows[0], rows[1]
		if !p.Hour.Equal(prev) || p.Ingested != 13 || p.UsageRecords != 2 || p.Late != 3 || p.Submitted != 10 || p.Status != metering.StatusPending ||
			!strings.Contains(p.Gap, "3 late") {
			t.Errorf("previous hour: %+v", p)
		}
		if c.Ingested != 24 || c.Status != "open" || c.Late != 0 {
			t.Errorf("current hour: %+v", c)
		}
		recs, err := e.svc.Records(context.Background(), metering.RecordFilter{License: l1})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].Quantity != 10 {
			t.Fatalf("the frozen record changed: %+v", recs)
		}
	})
}

func TestEndingLicenseBucketsCloseAtHourEnd(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		active, ending := e.license("l-active"), e.license("l-ending")
		e.end("l-ending")
		if res := e.ingest(rec(active, "api_calls", 1, t0, "a"), rec(ending, "api_calls", 2, t0, "b")); res.Accepted != 2 {
			t.Fatalf("%+v", res)
		}
		end := t0.Truncate(time.Hour).Add(time.Hour)
		e.clock.Set(end.Add(-time.Millisecond))
		if n := e.close(); n != 0 {
			t.Fatalf("closed %d buckets before the hour ended", n)
		}
		e.clock.Set(end)
		if n := e.close(); n != 1 {
			t.Fatalf("closed %d buckets at the hour's end, want the ending license's", n)
		}
		if r := e.report(ending); len(r) != 1 || r[0].Status != metering.StatusPending || r[0].Submitted != 2 {
			t.Fatalf("ending license: %+v", r)
		}
		if r := e.report(active); len(r) != 1 || r[0].Status != "open" {
			t.Fatalf("active license closed without the grace: %+v", r)
		}
		e.clock.Set(end.Add(10*time.Minute - time.Millisecond))
		if n := e.close(); n != 0 {
			t.Fatalf("closed %d buckets within the grace", n)
		}
		e.clock.Set(end.Add(10 * time.Minute))
		if n := e.close(); n != 1 {
			t.Fatalf("closed %d buckets after the grace, want the active license's", n)
		}
	})
}

func TestHookFlushesOpenBucketsWhenLicenseEnds(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		l1, l2, l3 := e.license("l-one"), e.license("l-two"), e.license("l-three")
		if res := e.ingest(rec(l1, "api_calls", 1, t0, "a"), rec(l1, "storage", 2, t0, "b"), rec(l2, "api_calls", 3, t0, "c"),
			rec(l3, "api_calls", 4, t0, "d")); res.Accepted != 4 {
			t.Fatalf("%+v", res)
		}
		if n := e.close(); n != 0 {
			t.Fatalf("closed %d buckets mid-hour", n)
		}
		e.clock.Set(t0.Add(time.Minute))
		e.end("l-one")
		e.deprovision("l-two")
		// Deprovisioned: at once. Ended: the running hour stays open for the
		// tail of the usage, until its end or FinalWindowClose after the end.
		if n := e.close(); n != 1 {
			t.Fatalf("closed %d buckets after the license events, want l-two's", n)
		}
		for lic, want := range map[string]string{l1: "open", l2: metering.StatusPending, l3: "open"} {
			for _, r := range e.report(lic) {
				if r.Status != want {
					t.Errorf("%s %s: %s, want %s", lic, r.Dimension, r.Status, want)
				}
			}
		}
		// Later usage of the hour: counted on the ended license (its final
		// window runs), refused on the deprovisioned one, counted on the other.
		res := e.ingest(rec(l1, "api_calls", 5, t0.Add(time.Minute), "e"), rec(l2, "api_calls", 6, t0.Add(time.Minute), "f"),
			rec(l3, "api_calls", 7, t0.Add(time.Minute), "g"))
		got := results(t, res)
		if res.Late != 0 || res.Rejected != 1 || res.Accepted != 2 {
			t.Fatalf("%+v", res)
		}
		expect(t, got, 1, metering.UsageRejected, "deprovisioned")
		// At the end of the hour (before the 30 minutes after Ended) the ended
		// license's hour goes; the active one still waits out its grace.
		e.clock.Set(t0.Truncate(time.Hour).Add(time.Hour))
		if n := e.close(); n != 2 {
			t.Fatalf("closed %d buckets at the end of the hour, want l-one's two", n)
		}
		for _, r := range e.report(l1) {
			if r.Status != metering.StatusPending || (r.Dimension == "api_calls" && r.Submitted != 6) {
				t.Errorf("l-one %s: %+v", r.Dimension, r)
			}
		}
		// Late usage for the frozen hour is kept, not sent.
		res = e.ingest(rec(l1, "api_calls", 9, t0.Add(2*time.Minute), "h"))
		if res.Late != 1 {
			t.Fatalf("%+v", res)
		}
		recs, err := e.svc.Records(context.Background(), metering.RecordFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var lics []string
		for _, r := range recs {
			lics = append(lics, marketplace.LicenseID(r.LicenseArn)+"/"+r.Dimension)
		}
		slices.Sort(lics)
		if !slices.Equal(lics, []string{"l-one/api_calls", "l-one/storage", "l-two/api_calls"}) {
			t.Fatalf("metering records: %v", lics)
		}
	})
}
