package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/entitlement"
	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// staticAPI answers GetEntitlements with the same seats for every license.
type staticAPI struct{ seats int64 }

func (a staticAPI) GetEntitlements(ctx context.Context, productCode string, f awsmp.EntitlementFilter) ([]marketplace.Entitlement, error) {
	n := a.seats
	return []marketplace.Entitlement{{Dimension: "seats", Integer: &n, LicenseArn: f.LicenseArn}}, nil
}

const benchProduct = "benchcode0000000000000000"

// putProduct declares the product's dimensions: seats (contract), api_calls (usage).
func putProduct(tb testing.TB, db *store.DB, now time.Time) {
	tb.Helper()
	l := &inbox.Ledger{DB: db, Now: func() time.Time { return now }}
	if _, err := l.PutProduct(context.Background(), marketplace.Product{ProductID: "prod-bench", ProductCode: benchProduct, Type: "saas_contract_consumption",
		Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}, {Key: "api_calls", Kind: "usage"}}}); err != nil {
		tb.Fatal(err)
	}
}

func licenseID(i int) string { return fmt.Sprintf("l-%032x", i) }

// insertLicenses bulk-inserts n active licenses of the bench product, each with
// 10 seats fetched at now, several rows per statement.
func insertLicenses(tb testing.TB, db *store.DB, n int, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	const batch = 500
	ms := store.Millis(now)
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		err := db.Write(ctx, func(tx *store.Tx) error {
			var lic, ent, syn []string
			var la, ea, sa []any
			for i := start; i < end; i++ {
				id := licenseID(i)
				lic = append(lic, "(?, ?, ?, 'prod-bench', ?, '444455556666', 'active', ?, ?)")
				la = append(la, id, "arn:aws:license-manager::444455556666:license:"+id, fmt.Sprintf("agmt-%d", i), benchProduct, ms, ms)
				ent = append(ent, "(?, 'seats', '{\"integer\":10}', ?)")
				ea = append(ea, id, ms+365*24*3600*1000)
				syn = append(syn, "(?, ?, ?)")
				sa = append(sa, id, ms, ms)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO licenses (license_id, license_arn, agreement_id, product_id, product_code, account_id, state, activated_at, updated_at) VALUES `+strings.Join(lic, ", "), la...); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO entitlements (license_id, dimension, value, expires_at) VALUES `+strings.Join(ent, ", "), ea...); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO entitlement_syncs (license_id, fetched_at, attempted_at) VALUES `+strings.Join(syn, ", "), sa...)
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func TestEntitlementsEndpoint(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
		var offset atomic.Int64 // moved by the tests; read by the server's goroutines
		clock := func() time.Time { return now.Add(time.Duration(offset.Load())) }
		putProduct(t, db, now)
		insertLicenses(t, db, 2, now)
		svc := &entitlement.Service{DB: db, API: staticAPI{seats: 25}, Now: clock}
		s := &httpapi.Server{DB: db, Ledger: &inbox.Ledger{DB: db, Now: clock}, Logger: slog.New(slog.DiscardHandler), Now: clock, Version: "test", Entitlements: svc}
		key, k, err := apikey.Create(ctx, db, "app", now)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		get := func(key, query string) (int, entitlement.Answer, string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/entitlements?"+query, nil)
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var a entitlement.Answer
			if resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(raw, &a); err != nil {
					t.Fatalf("%s: %v", raw, err)
				}
			}
			return resp.StatusCode, a, string(raw)
		}
		arn := "arn:aws:license-manager::444455556666:license:" + licenseID(1)

		t.Run("AnswersALicense", func(t *testing.T) {
			code, a, raw := get(key, "license="+url.QueryEscape(arn)+"&dimension=seats")
			if code != 200 || !a.Allowed || len(a.Licenses) != 1 || a.Licenses[0].LicenseID != licenseID(1) || a.Stale ||
				!strings.Contains(raw, `"value":{"integer":10}`) || !strings.Contains(raw, `"sourceTime":"2026-11-02T12:00:00Z"`) {
				t.Fatalf("%d %s", code, raw)
			}
		})
		t.Run("FollowsARefreshAtOnce", func(t *testing.T) {
			if err := svc.Refresh(ctx, licenseID(1)); err != nil {
				t.Fatal(err)
			}
			if code, _, raw := get(key, "license="+licenseID(1)+"&dimension=seats"); code != 200 || !strings.Contains(raw, `"value":{"integer":25}`) {
				t.Fatalf("%d %s", code, raw)
			}
		})
		t.Run("AnswersATenant", func(t *testing.T) {
			ms := store.Millis(now)
			err := db.Write(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO tenants (tenant_id, account_id, product_id, product_code, company, source, created_at, updated_at)
					VALUES ('t-1', '444455556666', 'prod-bench', ?, 'Acme', 'api', ?, ?)`, benchProduct, ms, ms); err != nil {
					return err
				}
				for i := range 2 {
					if _, err := tx.Exec(ctx, `INSERT INTO tenant_licenses (license_id, tenant_id, license_arn, account_id, product_code, source, attached_at)
						VALUES (?, 't-1', ?, '444455556666', ?, 'api', ?)`, licenseID(i), "arn:aws:license-manager::444455556666:license:"+licenseID(i), benchProduct, ms); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			code, a, raw := get(key, "tenant=t-1")
			if code != 200 || !a.Allowed || len(a.Licenses) != 2 || len(a.Totals) != 2 || a.Totals[1].Dimension != "seats" || *a.Totals[1].Integer != 35 {
				t.Fatalf("%d %s", code, raw)
			}
		})
		t.Run("RefusesBadParameters", func(t *testing.T) {
			for _, q := range []string{"", "tenant=t-1&license=" + licenseID(1), "license=%00", "dimension=seats"} {
				if code, _, raw := get(key, q); code != http.StatusBadRequest {
					t.Errorf("%q: %d %s", q, code, raw)
				}
			}
		})
		t.Run("UnknownIsNotFound", func(t *testing.T) {
			for _, q := range []string{"license=l-nope", "tenant=t-nope"} {
				if code, _, raw := get(key, q); code != http.StatusNotFound {
					t.Errorf("%q: %d %s", q, code, raw)
				}
			}
		})
		t.Run("NeedsAnAPIKey", func(t *testing.T) {
			if code, _, _ := get("", "license="+licenseID(1)); code != http.StatusUnauthorized {
				t.Fatalf("no key: %d", code)
			}
			if code, _, _ := get("ck_wrong", "license="+licenseID(1)); code != http.StatusUnauthorized {
				t.Fatalf("wrong key: %d", code)
			}
		})
		t.Run("AKeyRevokedElsewhereStopsWithinTheTTL", func(t *testing.T) {
			other, k2, err := apikey.Create(ctx, db, "other", now)
			if err != nil {
				t.Fatal(err)
			}
			if code, _, _ := get(other, "license="+licenseID(1)); code != http.StatusOK {
				t.Fatalf("new key: %d", code)
			}
			// Another replica revokes it: this one does not hear of it.
			if err := db.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ?`, store.Millis(now), k2.ID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if code, _, _ := get(other, "license="+licenseID(1)); code != http.StatusOK {
				t.Fatalf("within the TTL the cached key still works: %d", code)
			}
			offset.Add(int64(apikey.DefaultCacheTTL))
			if code, _, _ := get(other, "license="+licenseID(1)); code != http.StatusUnauthorized {
				t.Fatalf("after the TTL: %d", code)
			}
		})
		t.Run("ARevokedKeyStopsAtOnce", func(t *testing.T) {
			if err := apikey.Revoke(ctx, db, k.ID, now); err != nil {
				t.Fatal(err)
			}
			if code, _, raw := get(key, "license="+licenseID(1)); code != http.StatusUnauthorized {
				t.Fatalf("revoked key: %d %s", code, raw)
			}
		})
	})
}

const benchLicenses = 100_000

// BenchmarkEntitlementCheckHTTP measures GET /v1/entitlements?license=… over
// real keep-alive connections against 100,000 licenses on SQLite, each request
// naming a random license, with the API-key check and metrics on. It reports
// checks/s and latency percentiles:
//
//   - cold: the cache starts empty, so most licenses are read from the
//     database once during the run (the worst case, as after a restart);
//   - warm: every license was checked once before the timer starts, so the run
//     measures answers from memory (a run is shorter than the cache TTL).
//
// The fixture, the server, the connections and the warm-up are not timed.
// CONCORD_BENCH_CLIENTS sets the number of concurrent connections (default 8).
func BenchmarkEntitlementCheckHTTP(b *testing.B) {
	// A parent of sub-benchmarks runs once: the fixture is built once.
	db := storetest.Open(b, store.SQLite)
	now := time.Now().UTC()
	putProduct(b, db, now)
	insertLicenses(b, db, benchLicenses, now)
	clients := 8
	if v, err := strconv.Atoi(os.Getenv("CONCORD_BENCH_CLIENTS")); err == nil && v > 0 {
		clients = v
	}
	b.Run("cold", func(b *testing.B) { benchmarkChecks(b, db, clients, false) })
	b.Run("warm", func(b *testing.B) { benchmarkChecks(b, db, clients, true) })
}

// benchConn is one keep-alive connection driven by hand: the request goes out
// in one write and net/http parses the response, so the load generator spends
// less of the shared CPU than http.Transport with its two goroutines per
// connection would.
type benchConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func benchmarkChecks(b *testing.B, db *store.DB, clients int, warm bool) {
	ctx := context.Background()
	svc := &entitlement.Service{DB: db, API: staticAPI{seats: 10}, Now: time.Now}
	s := &httpapi.Server{DB: db, Ledger: &inbox.Ledger{DB: db, Now: time.Now}, Logger: slog.New(slog.DiscardHandler), Now: time.Now,
		Version: "bench", Registry: prometheus.NewRegistry(), Entitlements: svc}
	key, _, err := apikey.Create(ctx, db, "bench", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	addr := ln.Addr().String()
	conns := make([]*benchConn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = &benchConn{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}
	}
	do := func(c *benchConn, i int) error {
		fmt.Fprintf(c.w, "GET /v1/entitlements?license=%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", licenseID(i), addr, key)
		if err := c.w.Flush(); err != nil {
			return err
		}
		resp, err := http.ReadResponse(c.r, nil)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	}
	// The API key is verified (and cached) before the timer starts.
	if err := do(conns[0], 0); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	if warm {
		sem := make(chan struct{}, 64)
		for i := range benchLicenses {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if _, err := svc.Check(ctx, entitlement.Query{License: licenseID(i)}); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}

	lat := make([][]time.Duration, clients)
	var mu sync.Mutex
	var firstErr error
	next := make(chan struct{}, 1024)
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			for range next {
				t := time.Now()
				if err := do(conns[c], rng.IntN(benchLicenses)); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
				lat[c] = append(lat[c], time.Since(t))
			}
		})
	}
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "checks/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
