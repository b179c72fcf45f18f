package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

const secret = "s3cret"

var t0 = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

type bundle struct {
	app *app.App
	key string
}

// setup starts Concord on port 0 with a fresh database of the given dialect, in
// sandbox mode unless cfg says otherwise.
func setup(t testing.TB, dialect string, cfg app.Config) *bundle {
	t.Helper()
	if cfg.Database == "" {
		cfg.Database = storetest.URL(t, dialect)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Addr, cfg.EventBridgeSecret, cfg.AutoMigrate = "127.0.0.1:0", secret, true
	a, err := app.Start(context.Background(), cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	key, _, err := apikey.Create(context.Background(), a.DB, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{app: a, key: key}
}

func (b *bundle) do(t testing.TB, method, path, key string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, b.app.URL()+path, bytes.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// send posts event to the EventBridge door, folds it as the folder would in
// a moment, and answers with the door's result, its status the one the fold
// left the event in.
func (b *bundle) send(t testing.TB, event []byte) inbox.Result {
	t.Helper()
	res := b.post(t, event)
	if res.Status == inbox.StatusQueued {
		ctx := context.Background()
		if _, err := b.app.Ledger.Settle(ctx); err != nil {
			t.Fatal(err)
		}
		ev, err := b.app.Ledger.GetEvent(ctx, res.EventID)
		if err != nil {
			t.Fatal(err)
		}
		res.Status = ev.Status
	}
	return res
}

// post posts event to the EventBridge door and answers with its result.
func (b *bundle) post(t testing.TB, event []byte) inbox.Result {
	t.Helper()
	return b.postWith(t, http.DefaultClient, event)
}

// postWith is post through client.
func (b *bundle) postWith(t testing.TB, client *http.Client, event []byte) inbox.Result {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.app.URL()+"/events/eventbridge", bytes.NewReader(event))
	req.Header.Set(inbox.DefaultSecretHeader, secret)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res inbox.Result
	if resp.StatusCode != 200 {
		out, _ := io.ReadAll(resp.Body)
		t.Fatalf("send event: %d %s", resp.StatusCode, out)
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAPI(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d, app.Config{})
			t.Run("ProbesAndSpecNeedNoKey", func(t *testing.T) {
				for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
					if code, body := b.do(t, "GET", p, "", nil); code != 200 {
						t.Errorf("%s: %d %s", p, code, body)
					}
				}
				code, body := b.do(t, "GET", "/openapi.json", "", nil)
				var spec struct {
					OpenAPI string         `json:"openapi"`
					Paths   map[string]any `json:"paths"`
				}
				if code != 200 || json.Unmarshal(body, &spec) != nil || spec.OpenAPI != "3.1.0" || spec.Paths["/v1/agreements/{agreementId}"] == nil {
					t.Fatalf("openapi: %d %s", code, spec.OpenAPI)
				}
			})
			t.Run("V1NeedsAValidKey", func(t *testing.T) {
				for _, key := range []string{"", "ck_not-a-real-key", "garbage"} {
					if code, _ := b.do(t, "GET", "/v1/agreements", key, nil); code != 401 {
						t.Errorf("key %q: %d, want 401", key, code)
					}
				}
				if code, _ := b.do(t, "GET", "/v1/agreements", b.key, nil); code != 200 {
					t.Fatalf("valid key: %d", code)
				}
				k2, rec, _ := apikey.Create(context.Background(), b.app.DB, "revoked", time.Now())
				apikey.Revoke(context.Background(), b.app.DB, rec.ID, time.Now())
				if code, _ := b.do(t, "GET", "/v1/agreements", k2, nil); code != 401 {
					t.Fatalf("revoked key: %d", code)
				}
			})
			t.Run("BadInputGetsClearErrorsAndChangesNothing", func(t *testing.T) {
				for _, c := range []struct{ method, path, body string }{
					{"GET", "/v1/licenses?state=bogus", ""},
					{"GET", "/v1/agreements?status=NOPE", ""},
					{"PUT", "/v1/products/prod-x", `{"type":"toaster"}`},
					{"PUT", "/v1/products/prod-x", `{"dimensions":[{"key":"a b"}]}`},
					{"PUT", "/v1/products/prod-x", `{not json`},
				} {
					code, body := b.do(t, c.method, c.path, b.key, []byte(c.body))
					if code < 400 || code >= 500 {
						t.Errorf("%s %s %s: %d %s", c.method, c.path, c.body, code, body)
					}
				}
				if code, _ := b.do(t, "GET", "/v1/products/prod-x", b.key, nil); code != 404 {
					t.Fatalf("rejected product was stored: %d", code)
				}
				if code, _ := b.do(t, "GET", "/v1/agreements/agmt-missing", b.key, nil); code != 404 {
					t.Fatalf("missing agreement: %d", code)
				}
			})
			t.Run("ProductsRoundTrip", func(t *testing.T) {
				code, body := b.do(t, "PUT", "/v1/products/prod-aaa", b.key, []byte(`{"productCode":"code-aaa","type":"saas_contract","dimensions":[{"key":"seats","kind":"contract"}]}`))
				if code != 200 {
					t.Fatalf("%d %s", code, body)
				}
				code, body = b.do(t, "GET", "/v1/products/prod-aaa", b.key, nil)
				if code != 200 || !bytes.Contains(body, []byte(`"concurrentAgreements":true`)) || !bytes.Contains(body, []byte(`"seats"`)) {
					t.Fatalf("%d %s", code, body)
				}
			})
		})
	}
}

func TestEnrichmentStoresTermsFromTheAgreementAPI(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d, app.Config{})
			start := t0.Add(-time.Hour)
			end := start.AddDate(1, 0, 0)
			qty := int32(25)
			b.app.Emulator.Agreements.Put(agreementapi.Agreement{AgreementID: "agmt-enrich", AcceptorAccountID: "444455556666", ProposerAccountID: inboxtest.Seller,
				AcceptanceTime: &start, StartTime: &start, EndTime: &end, OfferID: "offer-1", ProductID: "prod-aaa", Currency: "USD", EstimatedValue: "12000.00",
				Terms: []agreementapi.Term{
					{Type: agreementapi.TermConfigurableUpfrontPricing, ID: "term-1", CurrencyCode: "USD",
						RateCards:     []agreementapi.RateCard{{Selector: &agreementapi.Selector{Type: "Duration", Value: "P12M"}, Items: []agreementapi.RateCardItem{{DimensionKey: "seats", Price: "480.00"}}}},
						Configuration: &agreementapi.UpfrontConfiguration{SelectorValue: "P12M", Dimensions: []agreementapi.Dimension{{DimensionKey: "seats", DimensionValue: qty}}}},
					{Type: agreementapi.TermPaymentSchedule, ID: "term-2", CurrencyCode: "USD", Schedule: []agreementapi.ScheduleItem{{ChargeDate: start, ChargeAmount: "6000.00"}, {ChargeDate: start.AddDate(0, 6, 0), ChargeAmount: "6000.00"}}},
					{Type: agreementapi.TermValidity, ID: "term-3", AgreementDuration: "P12M"},
					{Type: agreementapi.TermRenewal, ID: "term-4", EnableAutoRenew: new(true)},
				}})
			a := eventbridge.Agreement{ID: "agmt-enrich", Intent: "NEW", AcceptanceTime: start, StartTime: start, EndTime: end,
				AcceptorAccountID: "444455556666", ProposerAccountID: inboxtest.Seller, OfferID: "offer-1"}
			b.send(t, eventbridge.Created(inboxtest.Seller, a, t0))
			var got inbox.AgreementDetail
			eventually(t, "terms to be fetched", func() bool {
				_, body := b.do(t, "GET", "/v1/agreements/agmt-enrich", b.key, nil)
				got = inbox.AgreementDetail{}
				json.Unmarshal(body, &got)
				return got.TermsFetchedAt != nil
			})
			var terms struct {
				Currency       string `json:"currency"`
				EstimatedValue string `json:"estimatedValue"`
				Pricing        []struct {
					Dimension, Price string
					Quantity         *int64
				} `json:"pricing"`
				PaymentSchedule []struct{ Amount string } `json:"paymentSchedule"`
				Validity        struct{ Duration string } `json:"validity"`
				AutoRenew       *bool                     `json:"autoRenew"`
			}
			if err := json.Unmarshal(got.Terms, &terms); err != nil {
				t.Fatal(err)
			}
			if terms.Currency != "USD" || terms.EstimatedValue != "12000.00" || len(terms.Pricing) != 1 || terms.Pricing[0].Price != "480.00" || terms.Pricing[0].Quantity == nil ||
				*terms.Pricing[0].Quantity != 25 || len(terms.PaymentSchedule) != 2 || terms.Validity.Duration != "P12M" || terms.AutoRenew == nil || !*terms.AutoRenew {
				t.Fatalf("terms %s", got.Terms)
			}
			if got.ProductID != "prod-aaa" {
				t.Fatalf("product id from DescribeAgreement not folded: %q", got.ProductID)
			}
		})
	}
}

func TestAgreementPredatingConcordIsLearntFromTheAgreementAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, store.SQLite, app.Config{})
	start := t0.Add(-400 * 24 * time.Hour)
	b.app.Emulator.Agreements.Put(agreementapi.Agreement{AgreementID: "agmt-old", AcceptorAccountID: "444455556666", ProposerAccountID: inboxtest.Seller,
		AcceptanceTime: &start, StartTime: &start, OfferID: "offer-old", ProductID: "prod-aaa"})
	a := eventbridge.Agreement{ID: "agmt-old", AcceptorAccountID: "444455556666", ProposerAccountID: inboxtest.Seller, OfferID: "offer-old", ProductID: "prod-aaa", ProductCode: "code-aaa"}
	if res := b.send(t, eventbridge.LicenseUpdated(inboxtest.Seller, a, eventbridge.LicenseArn("444455556666", "l-old"), t0)); res.Status != inbox.StatusDeferred {
		t.Fatalf("status %s", res.Status)
	}
	// The enrichment job waits inbox.EnrichDelay for a late Created event; run it now.
	if err := b.app.Ledger.Enrich(context.Background(), agreementsClient(t, b), "agmt-old"); err != nil {
		t.Fatal(err)
	}
	code, body := b.do(t, "GET", "/v1/licenses/l-old", b.key, nil)
	if code != 200 || !bytes.Contains(body, []byte(`"state":"active"`)) {
		t.Fatalf("%d %s", code, body)
	}
}

// TestTwoReplicasShareOnePostgres runs two Concord processes on one PostgreSQL,
// sends every event to both at the same time, and checks they end with the ledger
// a single process builds, and that each enrichment job ran exactly once.
func TestTwoReplicasShareOnePostgres(t *testing.T) {
	t.Parallel()
	var describes atomic.Int64
	emu := agreementapi.New(agreementapi.Options{Fault: func(op string) error {
		if op == agreementapi.OpDescribeAgreement {
			describes.Add(1)
		}
		return nil
	}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	stream := inboxtest.Stream(t0, 12, 7)
	agreements := map[string]bool{}
	for _, body := range stream {
		var e struct {
			Detail struct{ Agreement struct{ ID string } } `json:"detail"`
		}
		json.Unmarshal(body, &e)
		agreements[e.Detail.Agreement.ID] = true
	}
	for id := range agreements {
		emu.Put(agreementapi.Agreement{AgreementID: id, AcceptorAccountID: "444455556666", ProposerAccountID: inboxtest.Seller})
	}
	url := storetest.URL(t, store.Postgres)
	cfg := app.Config{Database: url, Marketplace: app.MarketplaceAWS, AWSEndpoint: srv.URL, AWSAnonymous: true}
	r1, r2 := setup(t, store.Postgres, cfg), setup(t, store.Postgres, cfg)
	var wg sync.WaitGroup
	for _, r := range []*bundle{r1, r2} {
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < len(stream); i += 4 {
					r.send(t, stream[i])
				}
			})
		}
	}
	wg.Wait()
	ref := setup(t, store.SQLite, app.Config{Marketplace: app.MarketplaceAWS, AWSEndpoint: srv.URL, AWSAnonymous: true})
	for _, body := range stream {
		ref.send(t, body)
	}
	if got, want := inboxtest.Snapshot(t, r1.app.DB), inboxtest.Snapshot(t, ref.app.DB); got != want {
		t.Fatalf("replicas' ledger differs from one process's:\nreplicas\n%s\none process\n%s", got, want)
	}
	eventually(t, "enrichment jobs to finish", func() bool {
		var n int
		r1.app.DB.Read(context.Background(), func(tx *store.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM jobs WHERE state <> 'completed' AND kind = 'agreement.enrich'`).Scan(&n)
		})
		return n == 0
	})
	var jobs int
	r1.app.DB.Read(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM jobs WHERE kind = 'agreement.enrich'`).Scan(&jobs)
	})
	// The reference process enriched its own copy too; subtract its calls.
	eventually(t, "reference enrichment", func() bool {
		var n int
		ref.app.DB.Read(context.Background(), func(tx *store.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM jobs WHERE state <> 'completed' AND kind = 'agreement.enrich'`).Scan(&n)
		})
		return n == 0
	})
	if jobs != len(agreements) || describes.Load() != int64(2*len(agreements)) {
		t.Fatalf("%d enrichment jobs and %d DescribeAgreement calls for %d agreements (want one job and one call per agreement per ledger)",
			jobs, describes.Load(), len(agreements))
	}
}

// BenchmarkIngestHTTP posts events from 8 senders on both databases and
// reports events/s, the rate the door answers at, and ledger_events/s, the
// events over the time until the ledger shows the last of them.
func BenchmarkIngestHTTP(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(d, func(b *testing.B) {
			bd := setup(b, d, app.Config{Marketplace: app.MarketplaceAWS, AWSEndpoint: "http://127.0.0.1:1", AWSAnonymous: true, Workers: 1})
			events := inboxtest.Stream(t0, b.N/6+1, 1)[:b.N]
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
			b.ResetTimer()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= len(events) {
							return
						}
						bd.postWith(b, client, events[i])
					}
				})
			}
			wg.Wait()
			answered := b.Elapsed()
			settled := answered + settle(b, bd)
			b.ReportMetric(float64(b.N)/answered.Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/settled.Seconds(), "ledger_events/s")
		})
	}
}

// TestSandboxLifecycle drives the in-process emulator and checks that Concord's
// ledger follows it through the emulated SQS queue, on the emulator's clock.
func TestSandboxLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, store.SQLite, app.Config{})
	w := b.app.Emulator.World
	var agreementID string
	err := w.Do(func(s *world.State) error {
		p, err := s.CreateProduct(world.Product{ProductID: "prod-sbx", ProductCode: "sbxcode", ConcurrentAgreements: true,
			Dimensions: []world.Dimension{{Key: "seats", Kind: "contract", Price: "10.00"}}})
		if err != nil {
			return err
		}
		if _, err := s.CreateBuyer("444455556666"); err != nil {
			return err
		}
		start := s.Now().Add(72 * time.Hour)
		a, err := s.Accept("444455556666", p.PublicOfferID, world.AcceptOptions{Quantities: map[string]int64{"seats": 4}, StartDate: &start})
		if err == nil {
			agreementID = a.ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the future-dated agreement to reach the ledger", func() bool {
		code, _ := b.do(t, "GET", "/v1/agreements/"+agreementID, b.key, nil)
		return code == 200
	})
	if code, body := b.do(t, "GET", "/v1/licenses?account=444455556666", b.key, nil); code != 200 || bytes.Contains(body, []byte(`"licenseId"`)) {
		t.Fatalf("a future-dated agreement has no license before its start: %s", body)
	}
	if err := w.Advance(73 * time.Hour); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the license to be active once the emulator's clock passes the start", func() bool {
		_, body := b.do(t, "GET", "/v1/licenses?account=444455556666", b.key, nil)
		return bytes.Contains(body, []byte(`"state":"active"`))
	})
}
