package httpapi_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// Usage batches share a memory budget: one that finds it spent waits, and
// past the wait is refused with 503 and Retry-After before its body is read;
// once room is given back the same batch is taken.
func TestUsageBodyBudget(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	now := func() time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) }
	s := &httpapi.Server{DB: db, Ledger: &inbox.Ledger{DB: db, Now: now}, Logger: slog.New(slog.DiscardHandler), Now: now, Version: "test",
		Metering: &metering.Service{DB: db, Now: now, Logger: slog.New(slog.DiscardHandler)}, UsageBodyBudget: 4096, UsageBodyWait: 200 * time.Millisecond}
	key, _, err := apikey.Create(t.Context(), db, "budget", now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	batch := `{"records":[{"license":"l-unknown","dimension":"api_calls","quantity":1,"timestamp":"2026-11-01T23:00:00Z","idempotencyKey":"k1"}]}`
	post := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/usage", strings.NewReader(batch))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post(); res.StatusCode != http.StatusOK {
		t.Fatalf("a batch with room: %d, want 200", res.StatusCode)
	}

	// A slow sender holds the whole budget while its body trickles in.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/usage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"records\":[", key)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := post()
		if res.StatusCode == http.StatusServiceUnavailable {
			if res.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a batch while the budget is spent: %d, want 503", res.StatusCode)
		}
		time.Sleep(10 * time.Millisecond) // the slow request may not hold the budget yet
	}
	conn.Close() // the slow body never arrives: its room is given back
	for {
		res := post()
		if res.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a batch once the budget is free: %d, want 200", res.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
