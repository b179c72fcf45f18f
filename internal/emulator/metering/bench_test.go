package metering_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/concordmp/concord/internal/emulator/metering"
	"github.com/concordmp/concord/internal/emulator/world"
)

// benchBatches builds distinct 25-record batches over a few licenses,
// dimensions and hours (keys repeat once they are used up, as identical
// resubmissions).
func benchBatches(e *env, n int) [][]types.UsageRecord {
	p := e.product(true)
	var licenses []world.License
	for i := range 20 {
		_, l := e.subscribe(p, []string{buyerA, buyerB}[i%2])
		licenses = append(licenses, l)
	}
	e.advanceTo(midMonth(time.Now()))
	hour := e.w.Now().Truncate(time.Hour)
	var batches [][]types.UsageRecord
	k := 0
	for range n {
		var recs []types.UsageRecord
		for range metering.MaxRecords {
			l := licenses[k%len(licenses)]
			dim := []string{dimAPI, dimStorage}[(k/len(licenses))%2]
			ts := hour.Add(-time.Duration(1+(k/(2*len(licenses)))%20) * time.Hour)
			recs = append(recs, rec(l, dim, int32(k%7), ts))
			k++
		}
		batches = append(batches, recs)
	}
	return batches
}

// BenchmarkBatchMeterUsage: full round trips through the official client,
// 25 records per call, throttling off. A 25-record request is larger than
// net/http's write buffer, which opens a client-side race of the Go SDK that
// made long runs fail with "use of closed network connection" on a 200; the
// tests' client (newClient, noBodyWriteTo) closes it.
func BenchmarkBatchMeterUsage(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		e := newEnv(b)
		batches := benchBatches(e, 64)
		ctx := context.Background()
		b.ResetTimer()
		start := time.Now()
		for i := 0; b.Loop(); i++ {
			if _, err := e.c.BatchMeterUsage(ctx, &marketplacemetering.BatchMeterUsageInput{UsageRecords: batches[i%len(batches)]}); err != nil {
				b.Fatal(err)
			}
		}
		s := time.Since(start).Seconds()
		b.ReportMetric(float64(b.N)/s, "calls/s")
		b.ReportMetric(float64(b.N*metering.MaxRecords)/s, "records/s")
	})
	b.Run("parallel", func(b *testing.B) {
		e := newEnv(b)
		batches := benchBatches(e, 64)
		ctx := context.Background()
		var next atomic.Int64
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1)
				if _, err := e.c.BatchMeterUsage(ctx, &marketplacemetering.BatchMeterUsageInput{UsageRecords: batches[int(i)%len(batches)]}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		s := time.Since(start).Seconds()
		b.ReportMetric(float64(b.N)/s, "calls/s")
		b.ReportMetric(float64(b.N*metering.MaxRecords)/s, "records/s")
	})
}

// BenchmarkReach10TPSWith200msLatency: with the AWS quota of 10 calls/s and
// 200 ms of injected latency, a client keeping enough calls in flight (by
// Little's law 10/s x 0.2 s = 2; it keeps 8) reaches about 10 calls/s x 25
// records = 250 records/s. The bucket's initial burst is spent before the
// timer starts, so the figure is the steady rate. Throttled calls are
// retried after a short pause, as the SDK's retryer would.
func BenchmarkReach10TPSWith200msLatency(b *testing.B) {
	e := newEnv(b, func(c *world.Config) { c.ThrottleRPS = 10 })
	batches := benchBatches(e, 64)
	e.setFaults(map[string]world.Fault{"BatchMeterUsage": {Latency: 200 * time.Millisecond}})
	ctx := context.Background()
	call := func(i int) (throttled bool) {
		_, err := e.c.BatchMeterUsage(ctx, &marketplacemetering.BatchMeterUsageInput{UsageRecords: batches[i%len(batches)]})
		var te *types.ThrottlingException
		if errors.As(err, &te) {
			return true
		}
		if err != nil {
			b.Error(err)
		}
		return false
	}
	const inFlight = 8
	run := func(successes int64) (ok, throttled int64) {
		var okN, thN, idx atomic.Int64
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				for okN.Load() < successes {
					if call(int(idx.Add(1))) {
						thN.Add(1)
						time.Sleep(20 * time.Millisecond)
						continue
					}
					okN.Add(1)
				}
			})
		}
		wg.Wait()
		return okN.Load(), thN.Load()
	}
	run(10) // spend the initial burst
	b.ResetTimer()
	start := time.Now()
	ok, throttled := run(int64(b.N))
	s := time.Since(start).Seconds()
	b.ReportMetric(float64(ok)/s, "calls/s")
	b.ReportMetric(float64(ok*metering.MaxRecords)/s, "records/s")
	b.ReportMetric(float64(throttled)/float64(ok), "throttled/call")
}
