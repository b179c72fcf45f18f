package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/readiness"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestReadinessEndToEnd plays the Concurrent Agreements opt-in test against
// the built-in emulator: RevOps publishes two $0 private offers for a test
// buyer, the buyer accepts both (two concurrent agreements, two LicenseArns),
// usage is metered for one license through BatchMeterUsage, and the readiness
// report shows both transactions and fails until the second license is
// metered too; then it is ready and says what to send AWS.
func TestReadinessEndToEnd(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			const product, buyer = "prod-ready", "210000000001"
			b := setup(t, dialect, app.Config{})
			err := b.app.Emulator.World.Do(func(s *world.State) error {
				if _, err := s.CreateProduct(world.Product{ProductID: product, ProductCode: "readycode", Title: "Ready Analytics", ConcurrentAgreements: true,
					Type: world.ProductSaaSContractConsumption, Dimensions: []world.Dimension{{Key: "seats", Kind: "contract", Price: "10.00"},
						{Key: "api_calls", Kind: "usage", Price: "0.01"}}}); err != nil {
					return err
				}
				_, err := s.CreateBuyer(buyer)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			body := `{"productCode":"readycode","title":"Ready Analytics","type":"saas_contract_consumption","concurrentAgreements":true,
				"dimensions":[{"key":"seats","kind":"contract"},{"key":"api_calls","kind":"usage"}]}`
			if code, out := b.do(t, "PUT", "/v1/products/"+product, b.key, []byte(body)); code != 200 {
				t.Fatalf("configure product: %d %s", code, out)
			}
			readinessOf := func(query string) readiness.Readiness {
				t.Helper()
				code, out := b.do(t, "GET", "/v1/products/"+product+"/readiness"+query, b.key, nil)
				var r readiness.Readiness
				if err := json.Unmarshal(out, &r); code != 200 || err != nil {
					t.Fatalf("readiness: %d %s", code, out)
				}
				return r
			}
			checkOf := func(r readiness.Readiness, id string) readiness.CheckResult {
				t.Helper()
				for _, c := range r.Checks {
					if c.ID == id {
						return c
					}
				}
				t.Fatalf("no check %s in %+v", id, r.Checks)
				return readiness.CheckResult{}
			}

			// Before any test transaction: no test accounts yet.
			r := readinessOf("")
			if r.Ready || checkOf(r, "test-accounts").Status != readiness.Fail {
				t.Fatalf("empty report: %+v", r.Checks)
			}

			// RevOps publishes two $0 private offers for the test buyer.
			var offers []offer.Detail
			for i := range 2 {
				form := map[string]any{"type": "direct", "buyerCompany": "Test Buyer", "productId": product, "name": fmt.Sprintf("CA opt-in test %d", i+1),
					"zeroDollar": true, "pricing": map[string]any{"currency": "USD", "duration": "P12M", "dimensions": []map[string]any{
						{"key": "seats", "kind": "contract", "quantity": 1, "price": "0"}, {"key": "api_calls", "kind": "usage", "price": "0"}}},
					"eula": map[string]any{"kind": "standard"}, "metadata": map[string]any{"AWS Account Number": buyer}, "expiresOn": "2099-12-31"}
				raw, _ := json.Marshal(form)
				code, out := b.do(t, "POST", "/v1/offers", b.key, raw)
				var d offer.Detail
				if json.Unmarshal(out, &d); code != 201 {
					t.Fatalf("create offer: %d %s", code, out)
				}
				if code, out := b.do(t, "POST", "/v1/offers/"+d.ID+"/submit", b.key, nil); code != 200 {
					t.Fatalf("submit offer: %d %s", code, out)
				}
				eventually(t, "offer "+d.ID+" to be published", func() bool {
					d = getOffer(t, b, d.ID)
					if d.State == offer.StateFailed {
						t.Fatalf("offer failed: %s", d.Failure)
					}
					return d.State == offer.StatePublished && d.OfferID != ""
				})
				offers = append(offers, d)
			}
			// The buyer accepts both: two concurrent agreements.
			var agreements, arns []string
			err = b.app.Emulator.World.Do(func(s *world.State) error {
				for _, o := range offers {
					a, err := s.Accept(buyer, o.OfferID, world.AcceptOptions{})
					if err != nil {
						return err
					}
					agreements, arns = append(agreements, a.ID), append(arns, a.LicenseArn)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range offers {
				eventually(t, "offer "+o.ID+" to be accepted", func() bool {
					d := getOffer(t, b, o.ID)
					return d.State == offer.StateAccepted && d.AgreementID == agreements[i]
				})
				eventually(t, "license "+arns[i]+" to be active", func() bool {
					_, out := b.do(t, "GET", "/v1/licenses/"+url.PathEscape(arns[i]), b.key, nil)
					return strings.Contains(string(out), `"state":"active"`)
				})
			}

			// Usage for the first license, sent to AWS once its hour closes.
			meter := func(arn, key string) {
				t.Helper()
				now := b.app.Emulator.World.Now()
				raw, _ := json.Marshal(map[string]any{"records": []map[string]any{{"license": arn, "dimension": "api_calls", "quantity": 42,
					"timestamp": now.Format(time.RFC3339), "idempotencyKey": key}}})
				if code, out := b.do(t, "POST", "/v1/usage", b.key, raw); code != 200 || !strings.Contains(string(out), `"accepted":1`) {
					t.Fatalf("usage: %d %s", code, out)
				}
				if err := b.app.Emulator.World.Advance(time.Hour + 11*time.Minute); err != nil {
					t.Fatal(err)
				}
				b.app.Metering.Wake()
				eventually(t, "AWS to accept the usage of "+arn, func() bool {
					_, out := b.do(t, "GET", "/v1/metering/records?status=success&license="+url.QueryEscape(arn), b.key, nil)
					var recs struct{ Items []metering.Record }
					json.Unmarshal(out, &recs)
					return len(recs.Items) == 1 && recs.Items[0].MeteringRecordID != ""
				})
			}
			meter(arns[0], "ready-1")

			r = readinessOf("")
			if len(r.Accounts) != 1 || r.Accounts[0].AccountID != buyer || len(r.Accounts[0].Agreements) != 2 {
				t.Fatalf("accounts: %+v", r.Accounts)
			}
			for _, a := range r.Accounts[0].Agreements {
				// Both were accepted at the same instant: find which it is.
				i := slices.Index(agreements, a.AgreementID)
				if i < 0 || a.ConcordOffer != offers[i].ID || a.ZeroDollar != "yes" || len(a.Licenses) != 1 || a.Licenses[0].LicenseArn != arns[i] {
					t.Fatalf("agreement %d: %+v", i, a)
				}
				if tested := a.Licenses[0].MeteringTested; tested != (i == 0) {
					t.Fatalf("license %d metering tested %v: %+v", i, tested, a.Licenses[0])
				}
			}
			if r.Ready {
				t.Fatalf("ready with one license unmetered: %+v", r.Checks)
			}
			for id, status := range map[string]string{"test-accounts": readiness.Pass, "concurrent-agreements": readiness.Pass, "license-arns": readiness.Pass,
				"zero-dollar": readiness.Pass, "metering-tested": readiness.Pass, "metering-each-license": readiness.Fail} {
				if c := checkOf(r, id); c.Status != status {
					t.Errorf("check %s is %s, want %s: %s", id, c.Status, status, c.Message)
				}
			}
			if msg := checkOf(r, "metering-each-license").Message; !strings.Contains(msg, "agreement "+agreements[1]) || strings.Contains(msg, agreements[0]) {
				t.Fatalf("the failing check should name the second license only: %s", msg)
			}
			steps := map[string]readiness.ChecklistStep{}
			for _, s := range r.Checklist {
				steps[s.ID] = s
			}
			for id, status := range map[string]string{"opt-in": readiness.Done, "eventbridge-rule": readiness.Done, "event-agreement-created": readiness.Done,
				"event-license-updated": readiness.Done, "event-agreement-ended": readiness.NotYet, "batch-meter-usage": readiness.Done,
				"get-entitlements": readiness.Done, "resolve-customer": readiness.NotYet, "backfill": readiness.NotApply} {
				if s := steps[id]; s.Status != status {
					t.Errorf("step %s is %s, want %s: %v", id, s.Status, status, s.Evidence)
				}
			}
			if ev := strings.Join(steps["eventbridge-rule"].Evidence, " "); !strings.Contains(ev, "from the SQS queue") {
				t.Errorf("the sandbox delivers by SQS: %s", ev)
			}

			// The CSV to send AWS; explicit accounts; bad input.
			req, _ := http.NewRequest("GET", b.app.URL()+"/v1/products/"+product+"/readiness?format=csv", nil)
			req.Header.Set("Authorization", "Bearer "+b.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var csv strings.Builder
			fmt.Fprint(&csv, resp.Header.Get("Content-Type"), "\n")
			buf := make([]byte, 4096)
			for {
				n, err := resp.Body.Read(buf)
				csv.Write(buf[:n])
				if err != nil {
					break
				}
			}
			resp.Body.Close()
			want := []string{"text/csv; charset=utf-8", "product_id,account_id,agreement_id,license_arn,metering_tested",
				product + "," + buyer + "," + agreements[0] + "," + arns[0] + ",yes", product + "," + buyer + "," + agreements[1] + "," + arns[1] + ",no"}
			got := strings.Split(strings.TrimSuffix(csv.String(), "\n"), "\n")
			slices.Sort(got[2:])
			slices.Sort(want[2:])
			if resp.StatusCode != 200 || !slices.Equal(got, want) {
				t.Fatalf("csv: %d\n%s\nwant\n%s", resp.StatusCode, csv.String(), want)
			}
			r = readinessOf("?accounts=" + buyer + ",210000000002")
			if r.AccountsFrom != "given" || len(r.Accounts) != 2 || len(r.Accounts[1].Agreements) != 0 {
				t.Fatalf("given accounts: %+v", r.Accounts)
			}
			if code, out := b.do(t, "GET", "/v1/products/"+product+"/readiness?accounts=12345", b.key, nil); code != 400 || !strings.Contains(string(out), "12 digits") {
				t.Fatalf("bad account: %d %s", code, out)
			}
			if code, _ := b.do(t, "GET", "/v1/products/prod-unknown/readiness", b.key, nil); code != 404 {
				t.Fatalf("unknown product: %d", code)
			}
			if code, _ := b.do(t, "GET", "/v1/products/"+product+"/readiness", "", nil); code != 401 {
				t.Fatalf("without an API key: %d", code)
			}
			_, spec := b.do(t, "GET", "/openapi.json", "", nil)
			var doc struct {
				Paths map[string]map[string]struct {
					Responses map[string]struct {
						Content map[string]any `json:"content"`
					} `json:"responses"`
				} `json:"paths"`
			}
			json.Unmarshal(spec, &doc)
			if c := doc.Paths["/v1/products/{productId}/readiness"]["get"].Responses["200"].Content; c["application/json"] == nil || c["text/csv"] == nil {
				t.Fatalf("the OpenAPI document describes the readiness answer as %v", c)
			}

			// Meter the second license: ready, with the text for AWS.
			meter(arns[1], "ready-2")
			r = readinessOf("")
			if !r.Ready {
				t.Fatalf("not ready after metering both licenses: %+v", r.Checks)
			}
			for _, s := range []string{product, agreements[0] + "  " + arns[0], agreements[1] + "  " + arns[1]} {
				if !strings.Contains(r.Submission, s) {
					t.Errorf("submission lacks %q:\n%s", s, r.Submission)
				}
			}
		})
	}
}
