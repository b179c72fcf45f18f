package app_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestMeteringWrongProductCodeIsRejectedWholeThenRetried: Concord is
// configured with a product code AWS does not know. On the legacy path AWS
// answers InvalidProductCodeException for the whole request: the batch is
// rejected in one call, not split record by record. Once the vendor fixes the
// product code, retrying the product's rejected records (and one by id)
// sends them again with the right code, and AWS bills them.
func TestMeteringWrongProductCodeIsRejectedWholeThenRetried(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := moStart(t, d, app.Config{NoMetering: true})
			ctx := context.Background()
			cfg, err := awsmp.Load(ctx, awsmp.Config{Endpoint: e.b.app.URL() + "/emulator", Anonymous: true, Region: "us-east-1"})
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			metrics := metering.NewMetrics(reg)
			svc := &metering.Service{DB: e.b.app.DB, Now: e.w.Now, Logger: testLogger(), API: awsmp.NewMeter(cfg), Metrics: metrics}

			const product, code, wrong = "prod-rv-code", "rv-code", "rv-wrong"
			dims := []string{"d1", "d2", "d3"}
			var wdims []world.Dimension
			var cdims []marketplace.Dimension
			for _, k := range dims {
				wdims = append(wdims, world.Dimension{Key: k, Kind: "usage", Price: "0.01"})
				cdims = append(cdims, marketplace.Dimension{Key: k, Kind: "usage"})
			}
			if err := e.w.Do(func(s *world.State) error {
				_, err := s.CreateProduct(world.Product{ProductID: product, ProductCode: code, Type: world.ProductSaaSUsage, Dimensions: wdims})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			put := func(pc string) {
				t.Helper()
				body, _ := json.Marshal(map[string]any{"productCode": pc, "type": "saas_usage", "concurrentAgreements": false, "dimensions": cdims})
				if status, out := e.b.do(t, "PUT", "/v1/products/"+product, e.b.key, body); status != 200 {
					t.Fatalf("configure product: %d %s", status, out)
				}
			}
			put(wrong)
			hour := e.alignHour(t)
			_, arnA := e.accept(t, "100000000101", product)
			_, arnB := e.accept(t, "100000000102", product)
			var recs []map[string]any
			want := int64(0)
			for i, k := range dims {
				recs = append(recs, moUse(arnA, k, i+1, e.w.Now(), "rv-a-"+k), moUse(arnB, k, 10*(i+1), e.w.Now(), "rv-b-"+k))
				want += int64(11 * (i + 1))
			}
			if res := e.ingest(t, recs...); res.Accepted != len(recs) {
				t.Fatalf("ingest: %+v", res)
			}
			e.closeHour(t, hour)
			if err := svc.Housekeep(ctx); err != nil {
				t.Fatal(err)
			}
			if worked, err := svc.SendOne(ctx); !worked || err != nil {
				t.Fatalf("send: %v %v", worked, err)
			}
			all := append(e.records(t, arnA), e.records(t, arnB)...)
			if len(all) != len(recs) {
				t.Fatalf("%d records, want %d", len(all), len(recs))
			}
			for _, r := range all {
				if r.Status != metering.StatusRejected || r.Path != metering.PathLegacy || r.ProductCode != wrong || !strings.Contains(r.Reason, "InvalidProductCodeException") {
					t.Fatalf("record: %+v", r)
				}
			}
			if n := rvCalls(t, reg, "rejected"); n != 1 {
				t.Errorf("%v rejected calls, want 1: the batch was split", n)
			}
			got := e.emu(t, func(m world.MeteringRecord) bool { return m.ProductCode == wrong })
			if len(got) != len(recs) {
				t.Fatalf("AWS received %d records with the wrong code, want %d (one call): %+v", len(got), len(recs), got)
			}
			for _, m := range got {
				if m.Status != "Rejected" || !m.ReceivedAt.Equal(got[0].ReceivedAt) {
					t.Fatalf("AWS received %+v", got)
				}
			}
			if worked, err := svc.SendOne(ctx); worked || err != nil {
				t.Fatalf("a rejected record was sent again on its own: %v %v", worked, err)
			}

			// The vendor fixes the code and retries one record, then the rest.
			put(code)
			retry := func(path string, wantStatus, wantN int) {
				t.Helper()
				status, out := e.b.do(t, "POST", path, e.b.key, nil)
				var body struct {
					Requeued int `json:"requeued"`
				}
				json.Unmarshal(out, &body)
				if status != wantStatus || (status == 200 && body.Requeued != wantN) {
					t.Fatalf("POST %s: %d %s, want %d with %d requeued", path, status, out, wantStatus, wantN)
				}
			}
			first := all[0].RecordID
			retry("/v1/metering/records/"+first+"/retry", 200, 1)
			retry("/v1/metering/records/"+first+"/retry", 409, 0)
			retry("/v1/metering/records/no-such-record/retry", 404, 0)
			retry("/v1/metering/retry?product="+url.QueryEscape(product), 200, len(recs)-1)
			retry("/v1/metering/retry?product="+url.QueryEscape(product), 200, 0)
			for range 10 {
				worked, err := svc.SendOne(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !worked {
					break
				}
			}
			var billed int64
			for _, arn := range []string{arnA, arnB} {
				for _, r := range e.records(t, arn) {
					if r.Status != metering.StatusSuccess || r.ProductCode != code || r.MeteringRecordID == "" || !r.Hour.Equal(hour) {
						t.Fatalf("after the retry: %+v", r)
					}
					billed += r.Quantity
				}
			}
			ok := e.emu(t, func(m world.MeteringRecord) bool { return m.ProductCode == code })
			var accepted int64
			for _, m := range ok {
				if m.Status != "Success" {
					t.Fatalf("AWS received %+v", ok)
				}
				accepted += m.Quantity
			}
			if len(ok) != len(recs) || accepted != want || billed != want {
				t.Fatalf("AWS billed %d in %d records, Concord %d; want %d in %d", accepted, len(ok), billed, want, len(recs))
			}
			// Billed records cannot be sent again; nor can other statuses be asked for.
			retry("/v1/metering/records/"+first+"/retry", 409, 0)
			if status, out := e.b.do(t, "POST", "/v1/metering/retry?status=success&product="+product, e.b.key, nil); status < 400 || status >= 500 {
				t.Fatalf("retry of successes: %d %s", status, out)
			}
			if n := len(e.emu(t, func(m world.MeteringRecord) bool { return m.ProductCode == code || m.ProductCode == wrong })); n != 2*len(recs) {
				t.Fatalf("AWS received %d records in all, want %d", n, 2*len(recs))
			}
		})
	}
}

// rvCalls reads concord_metering_calls_total{result}.
func rvCalls(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "concord_metering_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
