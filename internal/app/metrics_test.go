package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/store"
)

// TestMetricsCanBeProtected: /metrics names products, routes and error
// rates, so an operator can move it to a listener of its own
// (--metrics-addr) and require a bearer token (--metrics-token).
func TestMetricsCanBeProtected(t *testing.T) {
	t.Parallel()
	get := func(url, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	const metric = "concord_http_request_duration_seconds"

	t.Run("a token on the main listener", func(t *testing.T) {
		b := setup(t, store.SQLite, app.Config{MetricsToken: "m3trics"})
		if b.app.MetricsURL() != b.app.URL()+"/metrics" {
			t.Fatalf("MetricsURL %s", b.app.MetricsURL())
		}
		for _, tok := range []string{"", "wrong", "M3TRICS", "m3trics2"} {
			if code, _ := get(b.app.MetricsURL(), tok); code != http.StatusUnauthorized {
				t.Errorf("token %q: %d, want 401", tok, code)
			}
		}
		get(b.app.URL()+"/healthz", "")
		if code, body := get(b.app.MetricsURL(), "m3trics"); code != 200 || !strings.Contains(body, metric) {
			t.Errorf("with the token: %d, %d bytes", code, len(body))
		}
	})

	t.Run("a listener of its own", func(t *testing.T) {
		b := setup(t, store.SQLite, app.Config{MetricsAddr: "127.0.0.1:0", MetricsToken: "m3trics"})
		if !strings.HasPrefix(b.app.MetricsURL(), "http://127.0.0.1:") || strings.HasPrefix(b.app.MetricsURL(), b.app.URL()) {
			t.Fatalf("MetricsURL %s, main %s", b.app.MetricsURL(), b.app.URL())
		}
		if code, _ := get(b.app.URL()+"/metrics", "m3trics"); code != http.StatusNotFound {
			t.Errorf("/metrics on the main listener: %d, want 404", code)
		}
		if code, _ := get(b.app.MetricsURL(), ""); code != http.StatusUnauthorized {
			t.Errorf("metrics listener without the token: %d, want 401", code)
		}
		get(b.app.URL()+"/healthz", "")
		if code, body := get(b.app.MetricsURL(), "m3trics"); code != 200 || !strings.Contains(body, metric) {
			t.Errorf("metrics listener with the token: %d, %d bytes", code, len(body))
		}
	})
}
