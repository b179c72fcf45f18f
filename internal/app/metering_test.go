package app_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store"
)

// TestMeteringEndToEnd reports usage over the API for a license the sandbox
// sold and follows it to AWS (the emulator): the closed hour is sent once, with
// the hour as timestamp, and the report reconciles it.
func TestMeteringEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, store.SQLite, app.Config{})
	err := b.app.Emulator.World.Do(func(s *world.State) error {
		if _, err := s.CreateProduct(world.Product{ProductID: "prod-meter", ProductCode: "metercode", ConcurrentAgreements: true,
			Dimensions: []world.Dimension{{Key: "api_calls", Kind: "usage", Price: "0.01"}}}); err != nil {
			return err
		}
		_, err := s.CreateBuyer("444455556666")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"productCode":"metercode","type":"saas_usage","concurrentAgreements":true,"dimensions":[{"key":"api_calls","kind":"usage"}]}`
	if code, out := b.do(t, "PUT", "/v1/products/prod-meter", b.key, []byte(body)); code != 200 {
		t.Fatalf("configure product: %d %s", code, out)
	}
	m := &market{t: t, b: b, pc: "metercode"}
	// Accept, then move the clock so that a whole hour of the license's life has passed.
	var licenseArn string
	err = b.app.Emulator.World.Do(func(s *world.State) error {
		for _, p := range s.Products {
			if p.ProductCode == "metercode" {
				a, err := s.Accept("444455556666", p.PublicOfferID, world.AcceptOptions{})
				licenseArn = a.LicenseArn
				return err
			}
		}
		return fmt.Errorf("no product")
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = m
	eventually(t, "the license to be active", func() bool {
		_, out := b.do(t, "GET", "/v1/licenses/"+url.PathEscape(licenseArn), b.key, nil)
		return strings.Contains(string(out), `"state":"active"`)
	})
	now := b.app.Emulator.World.Now()
	hour := now.Truncate(time.Hour)
	recs := []map[string]any{}
	for i := range 10 {
		recs = append(recs, map[string]any{"license": licenseArn, "dimension": "api_calls", "quantity": i + 1,
			"timestamp": now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339), "idempotencyKey": fmt.Sprintf("k%d", i)})
	}
	recs = append(recs, map[string]any{"license": licenseArn, "dimension": "seats", "quantity": 1, "timestamp": now.Format(time.RFC3339), "idempotencyKey": "bad"})
	recs = append(recs, map[string]any{"license": licenseArn, "dimension": "api_calls", "quantity": 1, "timestamp": now.Format(time.RFC3339), "idempotencyKey": "k0"})
	raw, _ := json.Marshal(map[string]any{"records": recs})
	code, out := b.do(t, "POST", "/v1/usage", b.key, raw)
	if code != 200 {
		t.Fatalf("usage: %d %s", code, out)
	}
	var res metering.IngestResult
	json.Unmarshal(out, &res)
	if res.Accepted != 10 || res.Rejected != 1 || res.Duplicates != 1 {
		t.Fatalf("ingest result: %s", out)
	}
	// The hour closes after its end plus the grace.
	if err := b.app.Emulator.World.Advance(time.Hour + 11*time.Minute); err != nil {
		t.Fatal(err)
	}
	b.app.Metering.Wake()
	var rep struct {
		Rows []metering.ReportRow `json:"rows"`
	}
	eventually(t, "the hour to be accepted by AWS", func() bool {
		_, out := b.do(t, "GET", "/v1/metering/report?license="+url.QueryEscape(licenseArn), b.key, nil)
		rep.Rows = nil // decode afresh: fields left out (omitempty) must not survive from the last poll
		json.Unmarshal(out, &rep)
		return len(rep.Rows) == 1 && rep.Rows[0].Status == metering.StatusSuccess
	})
	r := rep.Rows[0]
	if r.Ingested != 55 || r.Accepted != 55 || r.Gap != "" || !r.Hour.Equal(hour) || r.MeteringRecordID == "" {
		t.Fatalf("report row: %+v", r)
	}
	var got []*world.MeteringRecord
	b.app.Emulator.World.Do(func(s *world.State) error {
		for _, mr := range s.Metering {
			got = append(got, mr)
		}
		return nil
	})
	if len(got) != 1 || got[0].Quantity != 55 || !got[0].Timestamp.Equal(hour) || got[0].MeteringRecordID != r.MeteringRecordID {
		t.Fatalf("emulator saw %+v", got)
	}
}

// TestUsageBodyErrors: a body that is not a batch is refused as a whole and
// stores nothing; a record that is not a usage record is refused on its own.
func TestUsageBodyErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, store.SQLite, app.Config{NoMetering: true})
	for _, body := range []string{``, `not json`, `[]`, `{}`, `{"records":null}`, `{"records":[{"license":"l-1"}`, `{"records":[],"extra":1}`} {
		code, out := b.do(t, "POST", "/v1/usage", b.key, []byte(body))
		if code != 400 || (body != "" && !strings.Contains(string(out), "records")) {
			t.Errorf("body %q: %d %s", body, code, out)
		}
	}
	code, out := b.do(t, "POST", "/v1/usage", b.key, []byte(`{"records":[7,{"license":5,"idempotencyKey":"k1"},{"idempotencyKey":"k2","license":"l-1","quantity":1,"dimension":"d","timestamp":"2026-01-01T00:00:00Z","typo":1}]}`))
	var res metering.IngestResult
	if json.Unmarshal(out, &res); code != 200 || res.Rejected != 3 || len(res.Records) != 3 || !strings.Contains(res.Records[1].Reason, "license") ||
		!strings.Contains(res.Records[2].Reason, "typo") {
		t.Fatalf("records of the wrong shape: %d %s", code, out)
	}
	big := []byte(`{"records":[` + strings.Repeat(`{},`, metering.MaxIngest) + `{}]}`)
	if code, out := b.do(t, "POST", "/v1/usage", b.key, big); code != 413 {
		t.Fatalf("%d records: %d %s", metering.MaxIngest+1, code, out)
	}
	if code, out := b.do(t, "POST", "/v1/usage", "", []byte(`{"records":[]}`)); code != 401 {
		t.Fatalf("without an API key: %d %s", code, out)
	}
	_, out = b.do(t, "GET", "/v1/metering/report", b.key, nil)
	if !strings.Contains(string(out), `"rows":[]`) {
		t.Fatalf("something was stored: %s", out)
	}
}
