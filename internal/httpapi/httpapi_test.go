package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

func setup(tb testing.TB) (http.Handler, string) {
	tb.Helper()
	db := storetest.Open(tb, store.SQLite)
	now := func() time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) }
	l := &inbox.Ledger{DB: db, Now: now}
	s := &httpapi.Server{DB: db, Ledger: l, Logger: slog.New(slog.DiscardHandler), Now: now, Version: "test"}
	key, _, err := apikey.Create(context.Background(), db, "fuzz", now())
	if err != nil {
		tb.Fatal(err)
	}
	return s.Handler(), key
}

// FuzzAPIBodies sends arbitrary bodies and paths to the API: nothing may panic or
// answer 5xx, and a product accepted with 2xx must read back.
func FuzzAPIBodies(f *testing.F) {
	h, key := setup(f)
	f.Add("prod-a", []byte(`{"productCode":"c1","type":"saas_usage","dimensions":[{"key":"api_calls","kind":"usage"}]}`))
	f.Add("prod-b", []byte(`{"concurrentAgreements":false}`))
	f.Add("x", []byte(`{"dimensions":[{"key":"a"},{"key":"a"}]}`))
	f.Add("p", []byte(`{not json`))
	f.Add("p", []byte(`[]`))
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		path := "/v1/products/" + url.PathEscape(id)
		req := httptest.NewRequest(http.MethodPut, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("PUT %s %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code/100 == 2 {
			get := httptest.NewRequest(http.MethodGet, path, nil)
			get.Header.Set("Authorization", "Bearer "+key)
			rec2 := httptest.NewRecorder()
			h.ServeHTTP(rec2, get)
			if rec2.Code != 200 {
				t.Fatalf("accepted product %q does not read back: %d %s", id, rec2.Code, rec2.Body)
			}
		}
		for _, q := range []string{"/v1/licenses?state=" + url.QueryEscape(id), "/v1/agreements?status=" + url.QueryEscape(id) + "&cursor=" + url.QueryEscape(string(body)),
			"/v1/events?kind=" + url.QueryEscape(id), "/v1/jobs?state=" + url.QueryEscape(id),
			"/v1/reports/agreements?sort=" + url.QueryEscape(id) + "&buyer=" + url.QueryEscape(string(body)), "/v1/reports/buyers?q=" + url.QueryEscape(id),
			"/v1/reports/bookings?from=" + url.QueryEscape(id) + "&to=" + url.QueryEscape(string(body))} {
			req := httptest.NewRequest(http.MethodGet, q, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("GET %s: %d %s", q, rec.Code, rec.Body)
			}
		}
	})
}
