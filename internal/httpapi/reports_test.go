package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/report"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

func TestReports(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := func() time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) }
		s := &httpapi.Server{DB: db, Ledger: &inbox.Ledger{DB: db, Now: now}, Offers: &offer.Service{DB: db, Now: now},
			Notify: &notify.Service{DB: db, Now: now, Logger: slog.New(slog.DiscardHandler)}, Metering: &metering.Service{DB: db, Now: now}, Logger: slog.New(slog.DiscardHandler), Now: now, Version: "test"}
		key, _, err := apikey.Create(ctx, db, "reports", now())
		if err != nil {
			t.Fatal(err)
		}
		h := s.Handler()
		do := func(method, path, body string) *httptest.ResponseRecorder {
			t.Helper()
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		const buyer = "444455556666"
		accepted := time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC)
		q := int64(10)
		terms, _ := json.Marshal(marketplace.Terms{Currency: "USD", Pricing: []marketplace.PriceItem{{Term: "ConfigurableUpfrontPricingTerm", Dimension: "seats", Price: "1200.00", Quantity: &q}}, Types: []string{}})
		err = db.Write(ctx, func(tx *store.Tx) error {
			for _, x := range []struct {
				q    string
				args []any
			}{
				{`INSERT INTO buyers (account_id, first_seen_at, updated_at) VALUES (?, 1, 1)`, []any{buyer}},
				{`INSERT INTO offers (id, type, state, product_id, buyer_account_id, buyer_company, form, created_at, updated_at) VALUES ('ofr_1', 'direct', 'accepted', 'prod-a', ?, 'Ünïcode GmbH', '{}', 1, 1)`, []any{buyer}},
				{`INSERT INTO agreements (agreement_id, initial_agreement_id, intent, status, acceptance_time, start_time, end_time, acceptor_account_id, proposer_account_id,
					manufacturer_account_id, product_id, terms, terms_fetched_at, last_event_time, updated_at) VALUES ('agmt-1', 'agmt-1', 'NEW', 'ACTIVE', ?, ?, ?, ?, '111122223333', '111122223333', 'prod-a', ?, ?, 0, 0)`,
					[]any{store.Millis(accepted), store.Millis(accepted), store.Millis(accepted.AddDate(1, 0, 0)), buyer, string(terms), store.Millis(accepted)}},
			} {
				if _, err := tx.Exec(ctx, x.q, x.args...); err != nil {
					return err
				}
			}
			_, _, err := artifact.Record(ctx, tx, "agmt-1", accepted)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		t.Run("buyers carry their company", func(t *testing.T) {
			rec := do("GET", "/v1/buyers", "")
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"company":"Ünïcode GmbH","companySource":"offer"`) {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			rec = do("GET", "/v1/reports/buyers?q="+url.QueryEscape("ÜNÏCODE"), "")
			var p report.Paged[report.BuyerRow]
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Total != 1 || p.Items[0].Name != "Ünïcode GmbH" {
				t.Fatalf("search: %d %s", rec.Code, rec.Body)
			}
		})

		t.Run("agreements with values, as JSON and as CSV", func(t *testing.T) {
			rec := do("GET", "/v1/reports/agreements?sort=-value&buyer=gmbh", "")
			var p report.Paged[report.AgreementRow]
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Total != 1 || p.Items[0].ContractValue != "12000.00" || p.Items[0].BuyerCompany != "Ünïcode GmbH" {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			rec = do("GET", "/v1/reports/agreements?sort=-value&buyer=gmbh&format=csv", "")
			if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
				t.Fatalf("csv: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			recs, err := csv.NewReader(bytes.NewReader(rec.Body.Bytes())).ReadAll()
			if err != nil || len(recs) != 2 || strings.Join(recs[1], ",") != strings.Join(p.Items[0].Cells(), ",") {
				t.Fatalf("csv rows %q %v", recs, err)
			}
			for _, bad := range []string{"?sort=agreement_id", "?channel=retail", "?status=ALIVE", "?endingWithinDays=-1"} {
				if rec := do("GET", "/v1/reports/agreements"+bad, ""); rec.Code/100 != 4 {
					t.Errorf("%s: %d %s", bad, rec.Code, rec.Body)
				}
			}
		})

		t.Run("offers searched in any case and script, sorted, as JSON and as CSV", func(t *testing.T) {
			err := db.Write(ctx, func(tx *store.Tx) error {
				for id, form := range map[string]string{"ofr_2": `{"type":"direct","buyerCompany":"Ünïcode GmbH","name":"Zweiter Vertrag"}`,
					"ofr_3": `{"type":"direct","buyerCompany":"Acme","name":"Acme deal"}`, "ofr_4": `{"type":"partner","buyerCompany":"ünïcode gmbh","name":"Partner deal"}`} {
					if _, err := tx.Exec(ctx, `INSERT INTO offers (id, type, state, product_id, buyer_account_id, buyer_company, form, created_at, updated_at)
						VALUES (?, 'direct', 'draft', 'prod-a', ?, '', ?, 2, 2)`, id, buyer, form); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			rec := do("GET", "/v1/reports/offers?sort=-offer&q="+url.QueryEscape("ÜNÏCODE"), "")
			var p report.Paged[report.OfferRow]
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Total != 2 || p.Items[0].ID != "ofr_2" || p.Items[1].ID != "ofr_4" {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			rec = do("GET", "/v1/reports/offers?sort=offer&limit=1&offset=1&q="+url.QueryEscape("ünïcode"), "")
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Total != 2 || len(p.Items) != 1 || p.Items[0].ID != "ofr_2" {
				t.Fatalf("second page: %d %s", rec.Code, rec.Body)
			}
			rec = do("GET", "/v1/reports/offers?sort=offer&format=csv", "")
			recs, err := csv.NewReader(bytes.NewReader(rec.Body.Bytes())).ReadAll()
			if rec.Code != 200 || err != nil || len(recs) != 5 || recs[1][0] != "ofr_3" || recs[2][0] != "ofr_1" || recs[3][0] != "ofr_4" || recs[4][0] != "ofr_2" {
				t.Fatalf("csv: %d %q %v", rec.Code, recs, err)
			}
			for _, bad := range []string{"?sort=form", "?state=alive", "?type=retail", "?account=12"} {
				if rec := do("GET", "/v1/reports/offers"+bad, ""); rec.Code/100 != 4 {
					t.Errorf("%s: %d %s", bad, rec.Code, rec.Body)
				}
			}
		})

		t.Run("notifications and metering records sorted and paged by offset", func(t *testing.T) {
			err := db.Write(ctx, func(tx *store.Tx) error {
				for i, dim := range []string{"b_dim", "c_dim", "a_dim"} {
					if _, _, err := s.Notify.Emit(ctx, tx, now().Add(time.Duration(i)*time.Minute), notify.Notice{Kind: notify.KindMeteringExpired,
						Key: "metering_expired:mr_" + dim, ProductID: "prod-a", Data: notify.MeteringData{RecordID: "mr_" + dim, Outcome: "expired",
							ProductID: "prod-a", AccountID: buyer, Dimension: dim, Hour: now().Add(-time.Hour), Quantity: 1}}); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, `INSERT INTO metering_records (record_id, send_key, product_id, path, license_arn, account_id, dimension, hour, quantity,
						status, next_attempt_at, created_at) VALUES (?, ?, 'prod-a', 'license', '', ?, ?, ?, ?, 'expired', 0, 0)`,
						"mr_"+dim, "k"+dim, buyer, dim, store.Millis(now().Add(-time.Duration(i+1)*time.Hour)), 10+i); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			rec := do("GET", "/v1/reports/notifications?kind=metering_expired&limit=2", "")
			var n report.Paged[notify.NotificationSummary]
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &n) != nil || n.Total != 3 || len(n.Items) != 2 || n.NextOffset != 2 ||
				!n.Items[0].CreatedAt.After(n.Items[1].CreatedAt) {
				t.Fatalf("notifications, newest first: %d %s", rec.Code, rec.Body)
			}
			rec = do("GET", "/v1/reports/metering-records?sort=-quantity&offset=1", "")
			var m report.Paged[metering.Record]
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &m) != nil || m.Total != 3 || len(m.Items) != 2 || m.Items[0].Quantity != 11 || m.Items[1].Quantity != 10 || m.NextOffset != 0 {
				t.Fatalf("records by quantity, descending: %d %s", rec.Code, rec.Body)
			}
			rec = do("GET", "/v1/reports/metering-records?sort=dimension&limit=1", "")
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &m) != nil || len(m.Items) != 1 || m.Items[0].Dimension != "a_dim" || m.NextOffset != 1 {
				t.Fatalf("records by dimension: %d %s", rec.Code, rec.Body)
			}
			for _, bad := range []string{"/v1/reports/notifications?sort=body", "/v1/reports/notifications?kind=nope", "/v1/reports/metering-records?sort=reason", "/v1/reports/metering-records?offset=-1"} {
				if rec := do("GET", bad, ""); rec.Code/100 != 4 {
					t.Errorf("%s: %d %s", bad, rec.Code, rec.Body)
				}
			}
		})

		t.Run("bookings and run rate", func(t *testing.T) {
			rec := do("GET", "/v1/reports/bookings?from=2026-10&to=2026-11&product=prod-a", "")
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `{"period":"2026-10","productId":"prod-a","channel":"direct","currency":"USD","agreements":1,"total":"12000.00"}`) {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			rec = do("GET", "/v1/reports/bookings?from=2026-10&to=2026-11&format=csv", "")
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), "2026-10,prod-a,,direct,USD,1,12000.00") {
				t.Fatalf("csv: %d %s", rec.Code, rec.Body)
			}
			if rec := do("GET", "/v1/reports/bookings?from=2026-13", ""); rec.Code/100 != 4 {
				t.Fatalf("bad month: %d", rec.Code)
			}
			rec = do("GET", "/v1/reports/run-rate", "")
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"annual":"12000.00"`) {
				t.Fatalf("run rate: %d %s", rec.Code, rec.Body)
			}
		})

		t.Run("a buyer named by hand; bad names change nothing", func(t *testing.T) {
			if rec := do("PUT", "/v1/buyers/"+buyer+"/company", `{"company":"two\nlines"}`); rec.Code/100 != 4 {
				t.Fatalf("bad name: %d %s", rec.Code, rec.Body)
			}
			if rec := do("PUT", "/v1/buyers/999999999999/company", `{"company":"Nobody"}`); rec.Code != 404 {
				t.Fatalf("unknown buyer: %d %s", rec.Code, rec.Body)
			}
			if rec := do("GET", "/v1/buyers/"+buyer, ""); !strings.Contains(rec.Body.String(), `"companySource":"offer"`) {
				t.Fatalf("a refused name changed the buyer: %s", rec.Body)
			}
			rec := do("PUT", "/v1/buyers/"+buyer+"/company", `{"company":"Globex"}`)
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"company":"Globex","companySource":"manual"`) {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if rec := do("GET", "/v1/buyers/"+buyer, ""); !strings.Contains(rec.Body.String(), `"company":"Globex"`) {
				t.Fatalf("get-buyer: %s", rec.Body)
			}
		})
	})
}
