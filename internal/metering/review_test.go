package metering_test

// Regression tests for the fixes of the metering review (commit 1f1b63c).

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// licenseOf sells a license of productID (code) to account, started six hours
// before t0, and returns its LicenseArn.
func (e *env) licenseOf(id, productID, code, account string) string {
	e.t.Helper()
	start := t0.Add(-6 * time.Hour)
	a := eventbridge.Agreement{ID: "agmt-" + id, Intent: "NEW", AcceptanceTime: start, StartTime: start, EndTime: start.AddDate(1, 0, 0),
		AcceptorAccountID: account, ProposerAccountID: inboxtest.Seller, OfferID: "offer-" + productID, ProductID: productID, ProductCode: code}
	arn := eventbridge.LicenseArn(account, id)
	e.event(eventbridge.Created(inboxtest.Seller, a, start))
	e.event(eventbridge.LicenseUpdated(inboxtest.Seller, a, arn, start))
	e.agmts[id] = a
	if st := e.state(id); st != marketplace.LicenseActive {
		e.t.Fatalf("license %s is %s, want active", id, st)
	}
	return arn
}

func (e *env) putProduct(p marketplace.Product) {
	e.t.Helper()
	if _, err := e.ledger.PutProduct(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) records(f metering.RecordFilter) []metering.Record {
	e.t.Helper()
	if f.Limit == 0 {
		f.Limit = 1000
	}
	recs, err := e.svc.Records(context.Background(), f)
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

func (e *env) fullReport(f metering.ReportFilter) metering.Report {
	e.t.Helper()
	rep, err := e.svc.Report(context.Background(), f)
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

// fakeAPI is BatchMeterUsage answering each record with answer(record).
type fakeAPI struct {
	mu     sync.Mutex
	calls  []fakeCall
	answer func(code string, r metering.SendRecord) string
}

type fakeCall struct {
	code string
	recs []metering.SendRecord
}

func (f *fakeAPI) BatchMeterUsage(_ context.Context, code string, recs []metering.SendRecord) ([]metering.SendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{code, slices.Clone(recs)})
	out := make([]metering.SendResult, len(recs))
	for i, r := range recs {
		out[i].Status = f.answer(code, r)
		if out[i].Status == metering.AWSSuccess {
			out[i].MeteringRecordID = fmt.Sprintf("mr-%d-%d", len(f.calls), i)
		}
	}
	return out, nil
}

func (f *fakeAPI) sent() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// sendAll sends until nothing is due.
func (e *env) sendAll() {
	e.t.Helper()
	for range 100 {
		worked, err := e.svc.SendOne(context.Background())
		if err != nil {
			e.t.Fatalf("send: %v", err)
		}
		if !worked {
			return
		}
	}
	e.t.Fatal("records still due after 100 sends")
}

// TestReviewConcurrentIngest: four batches at a time over the same buckets, in
// different orders, all go in (on PostgreSQL they used to deadlock, each
// holding rows the other wanted), and every bucket is the sum of what was
// accepted.
func TestReviewConcurrentIngest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		type bkey struct {
			license, dim string
			hour         time.Time
		}
		var buckets []bkey
		hour := t0.Truncate(time.Hour)
		for i := range 4 {
			arn := e.license(fmt.Sprintf("l-c%d", i))
			for _, dim := range []string{"api_calls", "storage"} {
				for _, h := range []time.Time{hour.Add(-time.Hour), hour} {
					buckets = append(buckets, bkey{arn, dim, h})
				}
			}
		}
		const workers, batches, size = 4, 8, 300
		type sum struct{ q, n int64 }
		want := map[bkey]sum{}
		var mu sync.Mutex
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, workers*batches)
		for w := range workers {
			// Each worker walks the buckets in its own order.
			order := slices.Clone(buckets)
			k := (w * 5) % len(order)
			order = append(order[k:], order[:k]...)
			if w%2 == 1 {
				slices.Reverse(order)
			}
			wg.Go(func() {
				<-start
				for b := range batches {
					recs := make([]json.RawMessage, size)
					got := map[bkey]sum{}
					for i := range recs {
						bk := order[i%len(order)]
						q := int64(1 + (i+w)%7)
						recs[i] = rec(bk.license, bk.dim, q, bk.hour.Add(time.Duration(i)*time.Second), fmt.Sprintf("w%d-b%d-r%d", w, b, i))
						s := got[bk]
						got[bk] = sum{s.q + q, s.n + 1}
					}
					res, err := e.svc.Ingest(ctx, recs)
					if err != nil {
						errs <- fmt.Errorf("worker %d batch %d: %w", w, b, err)
						return
					}
					if res.Accepted != size {
						errs <- fmt.Errorf("worker %d batch %d: %+v", w, b, res)
						return
					}
					mu.Lock()
					for bk, s := range got {
						o := want[bk]
						want[bk] = sum{o.q + s.q, o.n + s.n}
					}
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
		rows := e.fullReport(metering.ReportFilter{}).Rows
		if len(rows) != len(buckets) {
			t.Fatalf("%d report rows, want %d", len(rows), len(buckets))
		}
		for _, r := range rows {
			w := want[bkey{r.LicenseArn, r.Dimension, r.Hour}]
			if r.Ingested != w.q || r.UsageRecords != w.n || r.Late != 0 {
				t.Errorf("%s %s %s: %d in %d records, want %d in %d", r.LicenseID, r.Dimension, r.Hour, r.Ingested, r.UsageRecords, w.q, w.n)
			}
		}
		if n := e.count("usage_records"); n != workers*batches*size {
			t.Errorf("%d usage records stored, want %d", n, workers*batches*size)
		}
	})
}

// TestReviewResendIsDuplicateWhateverChanged: a key already stored is a
// duplicate even when the record would now be refused (license deprovisioned,
// timestamp too old): the usage was committed and counted.
func TestReviewResendIsDuplicateWhateverChanged(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		gone, kept := e.license("l-gone"), e.license("l-kept")
		if res := e.ingest(rec(gone, "api_calls", 5, t0.Add(-time.Minute), "k-gone"), rec(kept, "api_calls", 6, t0.Add(-time.Hour), "k-old")); res.Accepted != 2 {
			t.Fatalf("%+v", res)
		}
		e.end("l-gone")
		e.deprovision("l-gone")
		res := e.ingest(rec(gone, "api_calls", 5, t0.Add(-time.Minute), "k-gone"), rec(gone, "api_calls", 5, t0.Add(-time.Minute), "k-new"))
		if res.Duplicates != 1 || res.Rejected != 1 {
			t.Fatalf("resend to a deprovisioned license: %+v", res)
		}
		got := results(t, res)
		expect(t, got, 0, metering.UsageDuplicate, `"k-gone"`, "counted once")
		expect(t, got, 1, metering.UsageRejected, "deprovisioned")

		// A day later the hour of "k-old" is past AWS's window.
		e.clock.Set(t0.Add(24 * time.Hour))
		res = e.ingest(rec(kept, "api_calls", 6, t0.Add(-time.Hour), "k-old"), rec(kept, "api_calls", 6, t0.Add(-time.Hour), "k-old2"))
		if res.Duplicates != 1 || res.Rejected != 1 {
			t.Fatalf("resend of an old record: %+v", res)
		}
		got = results(t, res)
		expect(t, got, 0, metering.UsageDuplicate, `"k-old"`)
		if strings.Contains(got[0].Reason, "differs") {
			t.Errorf("identical resend said to differ: %s", got[0].Reason)
		}
		expect(t, got, 1, metering.UsageRejected, "too old")
		if n := e.count("usage_records"); n != 2 {
			t.Fatalf("%d usage records, want 2", n)
		}
	})
}

// TestReviewHourCannotExceedOneAWSRecord: an hour's bucket never collects more
// than MaxQuantity; the record that would pass it is refused with a reason, in
// the same batch or a later one, and the others of the hour still go.
func TestReviewHourCannotExceedOneAWSRecord(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		l1 := e.license("l-one")
		prev := t0.Truncate(time.Hour).Add(-time.Hour)
		res := e.ingest(
			rec(l1, "api_calls", metering.MaxQuantity-10, prev.Add(time.Minute), "k1"), // 0 accepted
			rec(l1, "api_calls", 11, prev.Add(2*time.Minute), "k2"),                    // 1 would make MaxQuantity+1
			rec(l1, "api_calls", 10, prev.Add(3*time.Minute), "k3"),                    // 2 fills it exactly
			rec(l1, "storage", metering.MaxQuantity, prev.Add(time.Minute), "k4"),      // 3 another dimension
		)
		if res.Accepted != 3 || res.Rejected != 1 {
			t.Fatalf("%+v", res)
		}
		got := results(t, res)
		expect(t, got, 1, metering.UsageRejected, "exceed", fmt.Sprint(metering.MaxQuantity))
		// A later batch: the full hour takes nothing more; a key refused
		// before is still free for another hour.
		res = e.ingest(rec(l1, "api_calls", 1, prev.Add(4*time.Minute), "k5"), rec(l1, "storage", 1, prev.Add(5*time.Minute), "k6"),
			rec(l1, "api_calls", 11, t0, "k2"))
		if res.Accepted != 1 || res.Rejected != 2 {
			t.Fatalf("second batch: %+v", res)
		}
		got = results(t, res)
		expect(t, got, 0, metering.UsageRejected, "exceed")
		expect(t, got, 1, metering.UsageRejected, "exceed")
		for _, r := range e.report(l1) {
			if r.Hour.Equal(prev) && r.Ingested != metering.MaxQuantity {
				t.Errorf("%s %s holds %d", r.Dimension, r.Hour, r.Ingested)
			}
		}
		if n := e.close(); n != 2 {
			t.Fatalf("closed %d buckets, want 2", n)
		}
		recs := e.records(metering.RecordFilter{License: l1})
		if len(recs) != 2 {
			t.Fatalf("records: %+v", recs)
		}
		for _, r := range recs {
			if r.Status != metering.StatusPending || r.Quantity != metering.MaxQuantity {
				t.Errorf("record %s: %s %d (%s), want pending %d", r.Dimension, r.Status, r.Quantity, r.Reason, metering.MaxQuantity)
			}
		}
	})
}

// legacyProduct configures a non Concurrent Agreements product with n usage
// dimensions d000, d001, ...
func (e *env) legacyProduct(id, code string, n int) []string {
	e.t.Helper()
	var dims []marketplace.Dimension
	var keys []string
	for i := range n {
		k := fmt.Sprintf("d%03d", i)
		dims = append(dims, marketplace.Dimension{Key: k, Kind: "usage"})
		keys = append(keys, k)
	}
	e.putProduct(marketplace.Product{ProductID: id, ProductCode: code, Type: "saas_usage", ConcurrentAgreements: false, Dimensions: dims})
	return keys
}

// TestReviewLegacyCustomerHourClosesTogether: on the legacy path AWS keeps one
// record per customer, dimension and hour. Two licenses of one customer with
// more buckets than one closing transaction takes: every (dimension, hour) has
// one record carrying both licenses' usage and nothing is late. Usage for
// that hour on a third license of the customer is late at once.
func TestReviewLegacyCustomerHourClosesTogether(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		dims := e.legacyProduct("prod-l", "code-l", 260) // 2 × 260 buckets > 500, one closing transaction
		la, lb := e.licenseOf("l-a", "prod-l", "code-l", buyer), e.licenseOf("l-b", "prod-l", "code-l", buyer)
		prev := t0.Truncate(time.Hour).Add(-time.Hour)
		var recs []json.RawMessage
		for i, d := range dims {
			recs = append(recs, rec(la, d, int64(i+1), prev.Add(time.Minute), "a-"+d), rec(lb, d, 1000, prev.Add(2*time.Minute), "b-"+d))
		}
		if res := e.ingest(recs...); res.Accepted != len(recs) {
			t.Fatalf("ingest: %+v", res)
		}
		if n := e.close(); n != len(recs) {
			t.Fatalf("closed %d buckets, want %d", n, len(recs))
		}
		all := e.records(metering.RecordFilter{ProductID: "prod-l"})
		if len(all) != len(dims) {
			t.Fatalf("%d metering records, want one per dimension (%d)", len(all), len(dims))
		}
		for _, r := range all {
			var i int
			fmt.Sscanf(r.Dimension, "d%03d", &i)
			if r.Path != metering.PathLegacy || r.Status != metering.StatusPending || r.Quantity != int64(i+1+1000) || r.AccountID != buyer ||
				!r.Hour.Equal(prev) || r.ProductCode != "code-l" {
				t.Errorf("record %s: %+v, want pending legacy %d", r.Dimension, r, i+1+1000)
			}
		}
		rep := e.fullReport(metering.ReportFilter{ProductID: "prod-l"})
		if rep.Totals.Late != 0 || rep.Totals.Rows != int64(len(recs)) {
			t.Fatalf("report totals: %+v", rep.Totals)
		}
		for _, r := range rep.Rows {
			if r.Late != 0 || r.Status != metering.StatusPending || r.RecordID == "" {
				t.Errorf("bucket %s %s: %+v", r.LicenseID, r.Dimension, r)
			}
		}

		// A third license of the customer: its hour already went out.
		lc := e.licenseOf("l-c", "prod-l", "code-l", buyer)
		res := e.ingest(rec(lc, dims[0], 7, prev.Add(50*time.Minute), "c-1"), rec(lc, dims[0], 8, t0, "c-2"))
		if res.Late != 1 || res.Accepted != 1 {
			t.Fatalf("usage on a third license: %+v", res)
		}
		expect(t, results(t, res), 0, metering.UsageLate)
		e.close()
		if recs := e.records(metering.RecordFilter{ProductID: "prod-l"}); len(recs) != len(dims) {
			t.Fatalf("%d metering records after the late usage, want %d", len(recs), len(dims))
		}
	})
}

// amend moves license id to a new agreement that keeps its LicenseArn:
// Purchase Agreement Created (intent AMEND, naming the old agreement) ends the
// old one, then License Updated moves the license to the new one.
func (e *env) amend(id string, at time.Time) {
	e.t.Helper()
	old := e.agmts[id]
	na := old
	na.ID, na.Intent, na.PreviousAgreementID, na.AcceptanceTime, na.StartTime = old.ID+"-amend", "AMEND", old.ID, at, at
	e.event(eventbridge.Created(inboxtest.Seller, na, at))
	if st := e.state(id); st != marketplace.LicenseEnding {
		e.t.Fatalf("after Purchase Agreement Created (AMEND) the license is %s, want ending", st)
	}
	e.event(eventbridge.LicenseUpdated(inboxtest.Seller, na, eventbridge.LicenseArn(buyer, id), at))
	if st := e.state(id); st != marketplace.LicenseActive {
		e.t.Fatalf("after License Updated the license is %s, want active", st)
	}
	e.agmts[id] = na
}

// TestReviewAmendedLicenseKeepsItsHourOpen: a license that goes ending and back
// to active keeps its running hour open to the usual close time.
func TestReviewAmendedLicenseKeepsItsHourOpen(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		arn := e.license("l-one")
		hour := t0.Truncate(time.Hour)
		at := hour.Add(5 * time.Minute)
		e.clock.Set(at)
		e.ingest(rec(arn, "api_calls", 5, at, "k1"))
		e.amend("l-one", at)
		// Past the end of the final window an ending license would have had.
		e.clock.Set(at.Add(metering.FinalWindowClose + time.Minute))
		if n := e.close(); n != 0 {
			t.Fatalf("closed %d buckets of an active license mid-hour", n)
		}
		res := e.ingest(rec(arn, "api_calls", 7, e.clock.Now(), "k2"))
		if res.Accepted != 1 {
			t.Fatalf("usage later in the hour: %+v", res)
		}
		end := hour.Add(time.Hour)
		e.clock.Set(end.Add(9 * time.Minute))
		if n := e.close(); n != 0 {
			t.Fatalf("closed %d buckets within the grace", n)
		}
		e.clock.Set(end.Add(10 * time.Minute))
		if n := e.close(); n != 1 {
			t.Fatalf("closed %d buckets after the grace, want 1", n)
		}
		if recs := e.records(metering.RecordFilter{License: arn}); len(recs) != 1 || recs[0].Quantity != 12 || recs[0].Status != metering.StatusPending {
			t.Fatalf("records: %+v", recs)
		}
	})
}

// TestReviewRequeue: a record rejected for a cause since fixed goes back to
// pending (by id, or by product and status) with the product code read
// again; outcomes that were billed, or cannot be sent, are refused clearly;
// records past AWS's window are left alone.
func TestReviewRequeue(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		api := &fakeAPI{answer: func(code string, r metering.SendRecord) string {
			switch r.Dimension {
			case "d001":
				return metering.AWSDuplicateRecord
			case "d002":
				return metering.AWSCustomerNotSubscribed
			}
			return metering.AWSSuccess
		}}
		e.svc.API = api
		dims := e.legacyProduct("prod-nc", "code-nc", 4)
		lic := e.licenseOf("l-nc", "prod-nc", "code-nc", buyer)
		// The vendor's configuration loses the product code: the legacy path cannot send.
		noCode := marketplace.Product{ProductID: "prod-nc", Type: "saas_usage"}
		for _, d := range dims {
			noCode.Dimensions = append(noCode.Dimensions, marketplace.Dimension{Key: d, Kind: "usage"})
		}
		e.putProduct(noCode)
		prev := t0.Truncate(time.Hour).Add(-time.Hour)
		var recs []json.RawMessage
		for i, d := range dims {
			recs = append(recs, rec(lic, d, int64(10+i), prev.Add(time.Minute), "nc-"+d))
		}
		e.ingest(recs...)
		if n := e.close(); n != len(dims) {
			t.Fatalf("closed %d", n)
		}
		rejected := e.records(metering.RecordFilter{ProductID: "prod-nc", Status: metering.StatusRejected})
		if len(rejected) != len(dims) || !strings.Contains(rejected[0].Reason, "no product code") {
			t.Fatalf("records: %+v", rejected)
		}
		byDim := map[string]metering.Record{}
		for _, r := range rejected {
			byDim[r.Dimension] = r
		}
		// Fixed: the product code is back.
		noCode.ProductCode = "code-nc"
		e.putProduct(noCode)
		if n, err := e.svc.Requeue(ctx, byDim["d000"].RecordID, "", ""); err != nil || n != 1 {
			t.Fatalf("requeue by id: %d %v", n, err)
		}
		if n, err := e.svc.Requeue(ctx, byDim["d000"].RecordID, "", ""); marketplace.ErrorCode(err) != marketplace.EConflict || n != 0 {
			t.Fatalf("requeue of a pending record: %d %v, want a conflict", n, err)
		}
		if n, err := e.svc.Requeue(ctx, "", "prod-nc", metering.StatusRejected); err != nil || n != len(dims)-1 {
			t.Fatalf("requeue by product: %d %v", n, err)
		}
		for _, r := range e.records(metering.RecordFilter{ProductID: "prod-nc"}) {
			if r.Status != metering.StatusPending || r.ProductCode != "code-nc" || r.Attempts != 0 || r.FinishedAt != nil || r.Quantity != byDim[r.Dimension].Quantity {
				t.Errorf("requeued %s: %+v", r.Dimension, r)
			}
		}
		e.sendAll()
		calls := api.sent()
		if len(calls) != 1 || calls[0].code != "code-nc" || len(calls[0].recs) != len(dims) {
			t.Fatalf("calls: %+v", calls)
		}
		byDim = map[string]metering.Record{}
		for _, r := range e.records(metering.RecordFilter{ProductID: "prod-nc"}) {
			byDim[r.Dimension] = r
		}
		want := map[string]string{"d000": metering.StatusSuccess, "d001": metering.StatusDuplicate, "d002": metering.StatusNotSubscribed, "d003": metering.StatusSuccess}
		for d, st := range want {
			if byDim[d].Status != st {
				t.Fatalf("%s: %+v, want %s", d, byDim[d], st)
			}
		}
		// Billed, or held by AWS with another quantity: never again.
		for _, d := range []string{"d000", "d001"} {
			n, err := e.svc.Requeue(ctx, byDim[d].RecordID, "", "")
			if marketplace.ErrorCode(err) != marketplace.EConflict || n != 0 || !strings.Contains(err.Error(), byDim[d].Status) {
				t.Errorf("requeue of a %s record: %d %v, want a conflict naming it", byDim[d].Status, n, err)
			}
		}
		for _, st := range []string{metering.StatusSuccess, metering.StatusDuplicate, metering.StatusExpired, metering.StatusPending} {
			if n, err := e.svc.Requeue(ctx, "", "prod-nc", st); marketplace.ErrorCode(err) != marketplace.EInvalid || n != 0 {
				t.Errorf("requeue of %s records: %d %v, want invalid", st, n, err)
			}
		}
		if _, err := e.svc.Requeue(ctx, "no-such-record", "", ""); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("requeue of an unknown record: %v", err)
		}
		// not_subscribed goes again when asked for by that status.
		if n, err := e.svc.Requeue(ctx, "", "prod-nc", ""); err != nil || n != 0 {
			t.Fatalf("requeue of rejected records when none are: %d %v", n, err)
		}
		if n, err := e.svc.Requeue(ctx, "", "prod-nc", metering.StatusNotSubscribed); err != nil || n != 1 {
			t.Fatalf("requeue of not_subscribed: %d %v", n, err)
		}
		api.answer = func(string, metering.SendRecord) string { return metering.AWSSuccess }
		e.sendAll()
		if r := e.records(metering.RecordFilter{ProductID: "prod-nc", Status: metering.StatusSuccess}); len(r) != 3 {
			t.Fatalf("%d successes, want 3", len(r))
		}
		calls = api.sent()
		if last := calls[len(calls)-1]; len(calls) != 2 || len(last.recs) != 1 || last.recs[0].Dimension != "d002" || last.recs[0].Quantity != 12 {
			t.Fatalf("calls: %+v", calls)
		}

		// A rejected record whose hour is past AWS's window is left alone.
		cur := t0.Truncate(time.Hour)
		noCode.ProductCode = ""
		e.putProduct(noCode)
		e.ingest(rec(lic, "d000", 3, cur, "w-1"), rec(lic, "d001", 4, cur, "w-2"))
		e.clock.Set(cur.Add(time.Hour + 10*time.Minute))
		e.close()
		e.clock.Set(cur.Add(25 * time.Hour))
		old := e.records(metering.RecordFilter{ProductID: "prod-nc", From: cur})
		if len(old) != 2 {
			t.Fatalf("records of the last hour: %+v", old)
		}
		noCode.ProductCode = "code-nc"
		e.putProduct(noCode)
		for _, r := range old {
			if r.Status != metering.StatusRejected {
				t.Fatalf("record without a product code: %+v", r)
			}
			if n, err := e.svc.Requeue(ctx, r.RecordID, "", ""); marketplace.ErrorCode(err) != marketplace.EConflict || n != 0 || !strings.Contains(err.Error(), "window") {
				t.Errorf("requeue of a rejected record past the window: %d %v", n, err)
			}
		}
		if n, err := e.svc.Requeue(ctx, "", "prod-nc", metering.StatusRejected); err != nil || n != 0 {
			t.Errorf("requeue by product took %d records past the window (%v)", n, err)
		}
		for _, r := range e.records(metering.RecordFilter{ProductID: "prod-nc", From: cur}) {
			if r.Status != metering.StatusRejected {
				t.Errorf("record past the window changed: %+v", r)
			}
		}
	})
}

// TestReviewRequeueExpiredRecordIsRefused: a record that expired cannot be
// requeued by id.
func TestReviewRequeueExpiredRecordIsRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		l1 := e.license("l-one")
		e.ingest(rec(l1, "api_calls", 3, t0.Add(-time.Hour), "k1"))
		e.close()
		e.clock.Set(t0.Add(24 * time.Hour))
		if n, err := e.svc.Expire(context.Background()); err != nil || n != 1 {
			t.Fatalf("expire: %d %v", n, err)
		}
		r := e.records(metering.RecordFilter{License: l1})[0]
		if n, err := e.svc.Requeue(context.Background(), r.RecordID, "", ""); marketplace.ErrorCode(err) != marketplace.EConflict || n != 0 ||
			!strings.Contains(err.Error(), metering.StatusExpired) {
			t.Fatalf("requeue of an expired record: %d %v", n, err)
		}
	})
}

// TestReviewRequeueNeverSendsAnOversizedHour: on the legacy path two licenses
// of one customer can together pass MaxQuantity in an hour; the record is
// rejected at close. Sending it again cannot succeed (the cause cannot be
// fixed) and must never send a wrapped int32.
func TestReviewRequeueNeverSendsAnOversizedHour(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		api := &fakeAPI{answer: func(string, metering.SendRecord) string { return metering.AWSSuccess }}
		e.svc.API = api
		dims := e.legacyProduct("prod-big", "code-big", 1)
		la, lb := e.licenseOf("l-big-a", "prod-big", "code-big", buyer), e.licenseOf("l-big-b", "prod-big", "code-big", buyer)
		prev := t0.Truncate(time.Hour).Add(-time.Hour)
		if res := e.ingest(rec(la, dims[0], 2_000_000_000, prev, "a"), rec(lb, dims[0], 2_000_000_000, prev, "b")); res.Accepted != 2 {
			t.Fatalf("%+v", res)
		}
		e.close()
		recs := e.records(metering.RecordFilter{ProductID: "prod-big"})
		if len(recs) != 1 || recs[0].Status != metering.StatusRejected || recs[0].Quantity != 4_000_000_000 || !strings.Contains(recs[0].Reason, "exceeds") {
			t.Fatalf("records: %+v", recs)
		}
		n, err := e.svc.Requeue(context.Background(), recs[0].RecordID, "", "")
		e.sendAll()
		for _, c := range api.sent() {
			for _, r := range c.recs {
				if int64(r.Quantity) != 4_000_000_000 {
					t.Errorf("requeue (%d, %v) sent quantity %d for an hour of 4000000000", n, err, r.Quantity)
				}
			}
		}
	})
}

// TestReviewReportTotalsAndStaleFlags: totals count every selected row even
// when Limit cuts the rows; a bucket long past its close time and a pending
// record near its deadline are flagged.
func TestReviewReportTotalsAndStaleFlags(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		l1, l2 := e.license("l-one"), e.license("l-two")
		prev, cur := t0.Truncate(time.Hour).Add(-time.Hour), t0.Truncate(time.Hour)
		e.ingest(rec(l1, "api_calls", 1, prev, "k1"), rec(l1, "storage", 2, prev, "k2"), rec(l2, "api_calls", 3, prev, "k3"),
			rec(l1, "api_calls", 4, cur, "k4"), rec(l2, "storage", 5, cur, "k5"))
		// Nothing closes buckets: the previous hour's are 20 minutes past
		// their close time (hour end + 10 minutes) at t0.
		rep := e.fullReport(metering.ReportFilter{Limit: 2})
		if len(rep.Rows) != 2 || !rep.Truncated || rep.Totals.Rows != 5 || rep.Totals.Ingested != 15 || rep.Totals.Gaps != 3 {
			t.Fatalf("limited report: truncated %v, %d rows, totals %+v", rep.Truncated, len(rep.Rows), rep.Totals)
		}
		rep = e.fullReport(metering.ReportFilter{Limit: 5})
		if len(rep.Rows) != 5 || rep.Truncated || rep.Totals.Rows != 5 {
			t.Fatalf("report of all rows: truncated %v, %d rows, totals %+v", rep.Truncated, len(rep.Rows), rep.Totals)
		}
		for _, r := range rep.Rows {
			stale := r.Hour.Equal(prev)
			if stale != strings.Contains(r.Gap, "submitter") {
				t.Errorf("%s %s %s: gap %q", r.LicenseID, r.Dimension, r.Hour, r.Gap)
			}
		}
		if gaps := e.fullReport(metering.ReportFilter{GapsOnly: true}); len(gaps.Rows) != 3 || gaps.Totals.Rows != 3 || gaps.Totals.Ingested != 6 {
			t.Fatalf("gaps report: %+v", gaps)
		}
		// Within five minutes of the close time: not flagged.
		e.clock.Set(prev.Add(time.Hour + 14*time.Minute))
		if gaps := e.fullReport(metering.ReportFilter{GapsOnly: true}); len(gaps.Rows) != 0 {
			t.Fatalf("flagged 4 minutes after the close time: %+v", gaps.Rows)
		}

		// Closed and pending: flagged once less than 2 hours remain to send it.
		e.clock.Set(prev.Add(time.Hour + 10*time.Minute))
		if n := e.close(); n != 3 {
			t.Fatalf("closed %d", n)
		}
		e.clock.Set(prev.Add(21 * time.Hour))
		if gaps := e.fullReport(metering.ReportFilter{GapsOnly: true, To: cur}); len(gaps.Rows) != 0 {
			t.Fatalf("pending records 3 hours from their deadline flagged: %+v", gaps.Rows)
		}
		e.clock.Set(prev.Add(22*time.Hour + time.Minute))
		gaps := e.fullReport(metering.ReportFilter{GapsOnly: true, To: cur})
		if len(gaps.Rows) != 3 || gaps.Totals.Gaps != 3 {
			t.Fatalf("pending records near their deadline: %+v", gaps)
		}
		for _, r := range gaps.Rows {
			if r.Status != metering.StatusPending || !strings.Contains(r.Gap, "window for it closes") {
				t.Errorf("%s %s: %+v", r.LicenseID, r.Dimension, r)
			}
		}
	})
}

// TestReviewZeroRecords: an active license without usage gets a zero record
// for each closed hour; an ending one none; a second run adds nothing.
func TestReviewZeroRecords(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		e.putProduct(marketplace.Product{ProductID: "prod-z", ProductCode: "code-z", Type: "saas_usage", ConcurrentAgreements: true,
			Dimensions: []marketplace.Dimension{{Key: "api_calls", Kind: "usage"}}, ZeroUsageDimension: "api_calls"})
		active := e.licenseOf("l-za", "prod-z", "code-z", buyer)
		ending := e.licenseOf("l-ze", "prod-z", "code-z", buyer)
		e.end("l-ze")
		if err := e.svc.Zero(ctx); err != nil {
			t.Fatal(err)
		}
		// At 12:30 the newest closed hour is 11:00.
		if r := e.report(active); len(r) != 1 || !r[0].Hour.Equal(t0.Truncate(time.Hour).Add(-time.Hour)) || r[0].Ingested != 0 {
			t.Fatalf("active license: %+v", r)
		}
		if r := e.report(ending); len(r) != 0 {
			t.Fatalf("ending license got zero records: %+v", r)
		}
		// Three hours later: three more hours, one transaction each; again: nothing.
		e.clock.Set(t0.Add(3 * time.Hour))
		if err := e.svc.Zero(ctx); err != nil {
			t.Fatal(err)
		}
		n := e.count("usage_buckets")
		if r := e.report(active); len(r) != 4 || n != 4 {
			t.Fatalf("active license after three hours: %d buckets, %+v", n, r)
		}
		if err := e.svc.Zero(ctx); err != nil {
			t.Fatal(err)
		}
		if m := e.count("usage_buckets"); m != n {
			t.Fatalf("a second run added %d buckets", m-n)
		}
		if c := e.close(); c != 4 {
			t.Fatalf("closed %d zero buckets, want 4", c)
		}
		for _, r := range e.records(metering.RecordFilter{ProductID: "prod-z"}) {
			if r.Quantity != 0 || r.LicenseArn != active || r.Status != metering.StatusPending {
				t.Errorf("zero record: %+v", r)
			}
		}
	})
}
