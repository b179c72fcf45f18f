package metering_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"pgregory.net/rapid"

	"github.com/concordmp/concord/internal/emulator/metering"
	"github.com/concordmp/concord/internal/emulator/world"
)

// TestPropertyDedupe: for any sequence of batches over a few licenses,
// dimensions and hours, the billed total of each (license, dimension, hour)
// is the first quantity sent for it; a repeat of that quantity gets the
// original id back, another quantity DuplicateRecord.
func TestPropertyDedupe(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		e := newEnv(rt)
		p := e.product(true)
		_, l1 := e.subscribe(p, buyerA)
		_, l2 := e.subscribe(p, buyerB)
		e.advanceTo(midMonth(time.Now()))
		hourStart := e.w.Now().Truncate(time.Hour)
		licenses := []world.License{l1, l2}
		dims := []string{dimAPI, dimStorage}

		first := map[string]int64{}
		ids := map[string]string{}
		batches := rapid.IntRange(1, 6).Draw(rt, "batches")
		for b := range batches {
			n := rapid.IntRange(1, metering.MaxRecords).Draw(rt, "records")
			var recs []types.UsageRecord
			var keys []string
			for range n {
				l := licenses[rapid.IntRange(0, 1).Draw(rt, "license")]
				dim := dims[rapid.IntRange(0, 1).Draw(rt, "dimension")]
				ts := hourStart.Add(-time.Duration(rapid.IntRange(1, 4).Draw(rt, "hoursAgo")) * time.Hour).
					Add(time.Duration(rapid.IntRange(0, 3599).Draw(rt, "second")) * time.Second)
				qty := int32(rapid.IntRange(0, 3).Draw(rt, "quantity"))
				recs = append(recs, rec(l, dim, qty, ts))
				keys = append(keys, hourKey(l.Arn, dim, ts))
			}
			out := e.mustBatch(recs...)
			if len(out.Results) != n {
				rt.Fatalf("batch %d: %d results for %d records", b, len(out.Results), n)
			}
			for i, r := range out.Results {
				k, q := keys[i], int64(*recs[i].Quantity)
				want, seen := first[k]
				switch {
				case !seen:
					if r.Status != types.UsageRecordResultStatusSuccess {
						rt.Fatalf("first record for %s: %s", k, r.Status)
					}
					first[k], ids[k] = q, aws.ToString(r.MeteringRecordId)
				case want == q:
					if r.Status != types.UsageRecordResultStatusSuccess || aws.ToString(r.MeteringRecordId) != ids[k] {
						rt.Fatalf("identical record for %s: %s %q, want Success %q", k, r.Status, aws.ToString(r.MeteringRecordId), ids[k])
					}
				default:
					if r.Status != types.UsageRecordResultStatusDuplicateRecord {
						rt.Fatalf("quantity %d after %d for %s: %s", q, want, k, r.Status)
					}
				}
			}
		}
		got := metering.Accepted(e.w)
		if len(got) != len(first) {
			rt.Fatalf("Accepted has %d keys, want %d: %v", len(got), len(first), got)
		}
		for k, q := range first {
			if got[k] != q {
				rt.Fatalf("Accepted[%s] = %d, want the first quantity %d", k, got[k], q)
			}
		}
	})
}

// TestPropertyTimestampWindow: a record is accepted exactly when it is less
// than the window old, at most FutureSkew ahead, and (with MonthEndGrace) not
// in a month that closed at 06:00 UTC on the 1st. Times within two seconds
// of a boundary are skipped: the clock keeps running between the test's
// reading and the server's.
func TestPropertyTimestampWindow(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		grace := rapid.Bool().Draw(rt, "monthEndGrace")
		window := rapid.SampledFrom([]time.Duration{6 * time.Hour, 24 * time.Hour}).Draw(rt, "window")
		e := newEnv(rt, func(c *world.Config) { c.MonthEndGrace, c.MeteringWindow = grace, window })
		_, l := e.subscribe(e.product(true), buyerA)
		var target time.Time
		if rapid.Bool().Draw(rt, "monthStart") {
			target = firstOfMonth(time.Now(), time.Duration(rapid.IntRange(0, 12*60).Draw(rt, "minutesIntoMonth"))*time.Minute)
		} else {
			target = midMonth(time.Now())
		}
		e.advanceTo(target)
		now := e.w.Now()
		monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		// Timestamps cluster around the boundaries, where mistakes live.
		anchor := rapid.SampledFrom([]time.Time{now, now.Add(-window), now.Add(metering.FutureSkew), monthStart, now.Add(-30 * time.Hour)}).Draw(rt, "anchor")
		ts := anchor.Add(time.Duration(rapid.IntRange(-3*3600, 3*3600).Draw(rt, "offsetSeconds")) * time.Second)

		near := func(a, b time.Time) bool { d := a.Sub(b); return d > -2*time.Second && d < 2*time.Second }
		if near(ts, now.Add(-window)) || near(ts, now.Add(metering.FutureSkew)) || near(ts, monthStart) || near(now, monthStart.Add(6*time.Hour)) {
			rt.Skip("too close to a boundary")
		}
		want := now.Sub(ts) < window && ts.Sub(now) <= metering.FutureSkew
		if grace && ts.Before(monthStart) && !now.Before(monthStart.Add(6*time.Hour)) {
			want = false
		}

		out, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{rec(l, dimAPI, 1, ts)}})
		if want {
			if err != nil {
				rt.Fatalf("now %s ts %s (window %s, grace %v): %v", now, ts, window, grace, err)
			}
			if out.Results[0].Status != types.UsageRecordResultStatusSuccess {
				rt.Fatalf("now %s ts %s: %s", now, ts, out.Results[0].Status)
			}
			return
		}
		var oob *types.TimestampOutOfBoundsException
		if !errors.As(err, &oob) {
			rt.Fatalf("now %s ts %s (window %s, grace %v): got %v, want TimestampOutOfBoundsException", now, ts, window, grace, err)
		}
	})
}

// TestPropertyThrottling: in a short burst of concurrent calls at most
// ThrottleRPS (the bucket) plus what refills while the burst lasts succeed,
// at least ThrottleRPS do when that many are sent, and every other call is a
// ThrottlingException.
func TestPropertyThrottling(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		rps := rapid.IntRange(1, 20).Draw(rt, "throttleRPS")
		n := rapid.IntRange(1, 3*rps+5).Draw(rt, "calls")
		e := newEnv(rt)
		e.do(func(s *world.State) error { s.Config.ThrottleRPS = float64(rps); return nil })

		var mu sync.Mutex
		ok, throttled := 0, 0
		var other error
		var wg sync.WaitGroup
		start := time.Now()
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.c.BatchMeterUsage(context.Background(), &marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{}})
				mu.Lock()
				defer mu.Unlock()
				var te *types.ThrottlingException
				switch {
				case err == nil:
					ok++
				case errors.As(err, &te):
					throttled++
				default:
					other = err
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		if other != nil {
			rt.Fatal(other)
		}
		bound := float64(rps) + elapsed.Seconds()*float64(rps)
		if float64(ok) > bound {
			rt.Fatalf("%d of %d calls succeeded in %s at %d/s; at most %.2f may", ok, n, elapsed, rps, bound)
		}
		if elapsed < time.Second && ok > 2*rps {
			rt.Fatalf("%d calls succeeded in a burst of %s at %d/s: more than ThrottleRPS + burst", ok, elapsed, rps)
		}
		if ok < min(n, rps) {
			rt.Fatalf("only %d of %d calls succeeded with a full bucket of %d", ok, n, rps)
		}
		if ok+throttled != n {
			rt.Fatalf("%d + %d != %d", ok, throttled, n)
		}
	})
}
