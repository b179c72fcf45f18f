package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
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

// setupEdge is setup with the metering service, whose usage operation reads
// its body raw.
func setupEdge(t *testing.T) (http.Handler, string) {
	db := storetest.Open(t, store.SQLite)
	now := func() time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) }
	s := &httpapi.Server{DB: db, Ledger: &inbox.Ledger{DB: db, Now: now}, Logger: slog.New(slog.DiscardHandler), Now: now, Version: "test",
		Metering: &metering.Service{DB: db, Now: now, Logger: slog.New(slog.DiscardHandler)}}
	key, _, err := apikey.Create(t.Context(), db, "edge", now())
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler(), key
}

// TestEdge covers what every /v1 answer and request body must respect,
// whatever the operation: headers that keep secrets out of caches and
// browsers' sniffing, the body's media type, unreadable bodies and cursors.
func TestEdge(t *testing.T) {
	t.Parallel()
	h, key := setupEdge(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	product := `{"type":"saas_usage","dimensions":[{"key":"api_calls","kind":"usage"}]}`
	do := func(method, path, contentType, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}

	t.Run("v1 answers are neither sniffed nor cached", func(t *testing.T) {
		for _, res := range []*http.Response{
			do("PUT", "/v1/products/p1", "application/json", product),
			do("GET", "/v1/products/p1", "", ""),
			do("GET", "/v1/products/nope", "", ""),
			do("GET", "/v1/agreements", "", ""),
		} {
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%s %s: X-Content-Type-Options %q", res.Request.Method, res.Request.URL.Path, got)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("%s %s: Cache-Control %q", res.Request.Method, res.Request.URL.Path, got)
			}
		}
		req, _ := http.NewRequest("GET", srv.URL+"/v1/agreements", nil)
		res, err := http.DefaultClient.Do(req) // no key: 401, still not cached
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("unauthenticated: %d, Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
		}
	})

	t.Run("a JSON body under another media type is refused and changes nothing", func(t *testing.T) {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x", "not a type"} {
			if res := do("PUT", "/v1/products/p2", ct, product); res.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("Content-Type %q: %d, want 415", ct, res.StatusCode)
			}
		}
		if res := do("POST", "/v1/usage", "text/plain", `{"records":[]}`); res.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("usage as text/plain: %d, want 415", res.StatusCode)
		}
		if res := do("GET", "/v1/products/p2", "", ""); res.StatusCode != 404 {
			t.Errorf("a refused body created the product: %d", res.StatusCode)
		}
		for _, ct := range []string{"application/json", "application/json; charset=utf-8", "APPLICATION/JSON", ""} {
			if res := do("PUT", "/v1/products/p2", ct, product); res.StatusCode != 200 {
				t.Errorf("Content-Type %q: %d, want 200", ct, res.StatusCode)
			}
		}
	})

	t.Run("a malformed chunked body is the client's error", func(t *testing.T) {
		for _, chunks := range []string{"zz\r\n{}\r\n0\r\n\r\n", "5\r\n{}\r\n0\r\n\r\n", "2\r\n{}XX0\r\n\r\n"} {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "PUT /v1/products/p3 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%s", key, chunks)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			conn.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("chunks %q: %d, want 400", chunks, res.StatusCode)
			}
		}
		if res := do("GET", "/v1/products/p3", "", ""); res.StatusCode != 404 {
			t.Errorf("a malformed body created the product: %d", res.StatusCode)
		}
	})

	t.Run("a cursor this API did not hand out is refused", func(t *testing.T) {
		for i := range 3 {
			do("PUT", fmt.Sprintf("/v1/products/q%d", i), "application/json", product)
		}
		var seen []string
		cursor := ""
		for {
			req, _ := http.NewRequest("GET", srv.URL+"/v1/products?limit=2&cursor="+cursor, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var page struct {
				Items []struct {
					ID string `json:"productId"`
				} `json:"items"`
				NextCursor string `json:"nextCursor"`
			}
			json.NewDecoder(res.Body).Decode(&page)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("page after %q: %d", cursor, res.StatusCode)
			}
			for _, p := range page.Items {
				seen = append(seen, p.ID)
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if len(seen) != 5 { // p1, p2 and q0..q2
			t.Errorf("paging saw %v, want 5 products", seen)
		}
		for _, bad := range []string{"zzzz", "p1", "!!", "%00"} {
			for _, path := range []string{"/v1/products", "/v1/agreements", "/v1/licenses", "/v1/events", "/v1/metering/records"} {
				if res := do("GET", path+"?cursor="+bad, "", ""); res.StatusCode != http.StatusBadRequest {
					t.Errorf("%s?cursor=%s: %d, want 400", path, bad, res.StatusCode)
				}
			}
		}
	})
}
