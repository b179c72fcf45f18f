package egress

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRefused(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"169.254.169.254":  true, // cloud metadata
		"127.0.0.1":        true,
		"::1":              true,
		"10.0.0.1":         true,
		"172.16.5.4":       true,
		"192.168.1.1":      true,
		"100.64.0.1":       true, // CGNAT
		"0.0.0.0":          true,
		"::":               true,
		"fd00::1":          true, // unique local
		"fe80::1":          true,
		"::ffff:10.0.0.1":  true, // IPv4-mapped private
		"::ffff:127.0.0.1": true,
		"224.0.0.1":        true,
		"8.8.8.8":          false,
		"100.128.0.1":      false, // just past CGNAT
		"2606:4700::1111":  false,
		"::ffff:8.8.8.8":   false,
	} {
		if _, got := Refused(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Refused(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, raw := range []string{"http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:5432", "http://[::1]/hook", "https://10.0.0.1/x",
		"http://[::ffff:10.0.0.1]/", "http://100.64.1.1/", "http://0.0.0.0/", "https://[fd00::1]/", "http://localhost:8080/hook"} {
		err := Guard{}.CheckURL(ctx, raw)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "--allow-private-targets") {
			t.Errorf("CheckURL(%s) = %v, want a refusal naming the flag", raw, err)
		}
		if err := (Guard{AllowPrivate: true}).CheckURL(ctx, raw); err != nil {
			t.Errorf("with AllowPrivate, CheckURL(%s) = %v", raw, err)
		}
	}
	for _, raw := range []string{"https://8.8.8.8/hook", "https://[2606:4700::1111]/", "https://no-such-host.invalid/hook"} {
		if err := (Guard{}).CheckURL(ctx, raw); err != nil {
			t.Errorf("CheckURL(%s) = %v, want accepted", raw, err)
		}
	}
}

// TestClientRefusesAtConnectTime: whatever the URL looked like when it was
// registered, the dial to a loopback address is refused; with AllowPrivate it
// goes through. Redirects are never followed.
func TestClientRefusesAtConnectTime(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	// A name, not an IP: the check happens on the resolved address.
	target := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	_, err := Guard{}.Client(nil, 5*time.Second).Post(target, "application/json", nil)
	if !errors.Is(err, ErrRefused) || hits.Load() != 0 {
		t.Fatalf("guarded client: err %v, %d requests reached the server", err, hits.Load())
	}
	_, err = Guard{}.Client(srv.Client(), 5*time.Second).Post(target, "application/json", nil)
	if !errors.Is(err, ErrRefused) || hits.Load() != 0 {
		t.Fatalf("guarded copy of a given client: err %v, %d requests reached the server", err, hits.Load())
	}
	resp, err := Guard{AllowPrivate: true}.Client(nil, 5*time.Second).Post(target, "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusFound || hits.Load() != 1 {
		t.Fatalf("allowed client: %v %v, %d hits (want the redirect itself, not followed)", resp, err, hits.Load())
	}
	resp.Body.Close()
}

func TestReasonHasNoBody(t *testing.T) {
	t.Parallel()
	if got := Reason(503); got != "HTTP 503 Service Unavailable" {
		t.Fatalf("Reason(503) = %q", got)
	}
	if got := Reason(599); got != "HTTP 599" {
		t.Fatalf("Reason(599) = %q", got)
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1/", "https://[::ffff:a00:1]/", "http://%zz", "https://[fe80::1%25eth0]/", "http://1.2.3.4:99999/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := Guard{}.CheckURL(context.Background(), raw)
		// An accepted IP literal is never a refused address.
		if err == nil {
			if a, perr := netip.ParseAddr(hostOf(raw)); perr == nil {
				if _, bad := Refused(a); bad {
					t.Fatalf("accepted %q, a refused address", raw)
				}
			}
		}
	})
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
