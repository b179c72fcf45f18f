package snsverify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	v, _ := newTestVerifier(s, Options{})
	now := time.Now()

	messages := map[string]func() *Message{
		"Notification with Subject":    func() *Message { return newNotification(now, new("Marketplace event")) },
		"Notification without Subject": func() *Message { return newNotification(now, nil) },
		"Notification with empty Subject": func() *Message {
			return newNotification(now, new(""))
		},
		"SubscriptionConfirmation": func() *Message { return newConfirmation(TypeSubscriptionConfirmation, now) },
		"UnsubscribeConfirmation":  func() *Message { return newConfirmation(TypeUnsubscribeConfirmation, now) },
	}
	for _, version := range []string{SignatureVersion1, SignatureVersion2} {
		for name, mk := range messages {
			t.Run("v"+version+"/"+name, func(t *testing.T) {
				t.Parallel()
				m := mustSign(t, s, mk(), version)
				if m.SignatureVersion != version || m.SigningCertURL != testCertURL || m.Signature == "" {
					t.Fatalf("Sign did not fill signature fields: %+v", m)
				}
				if err := v.Verify(t.Context(), m); err != nil {
					t.Fatalf("Verify(signed message) = %v", err)
				}
				got, err := v.VerifyBody(t.Context(), mustJSON(t, m))
				if err != nil {
					t.Fatalf("VerifyBody(marshalled message) = %v", err)
				}
				if got.MessageID != m.MessageID || got.Type != m.Type {
					t.Fatalf("VerifyBody returned %+v, want %+v", got, m)
				}
			})
		}
	}
}

func TestVerifyRejectsTampering(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	v, _ := newTestVerifier(s, Options{})
	now := time.Now()

	cases := []struct {
		name   string
		build  func() *Message
		tamper func(*Message)
	}{
		{"tampered Message", func() *Message { return newNotification(now, new("subj")) },
			func(m *Message) {
				m.Message = strings.Replace(m.Message, "subscribe-success", "unsubscribe-success", 1)
			}},
		{"tampered Subject", func() *Message { return newNotification(now, new("subj")) },
			func(m *Message) { m.Subject = new("other") }},
		{"removed Subject", func() *Message { return newNotification(now, new("subj")) },
			func(m *Message) { m.Subject = nil }},
		{"added Subject", func() *Message { return newNotification(now, nil) },
			func(m *Message) { m.Subject = new("subj") }},
		{"empty Subject treated as present", func() *Message { return newNotification(now, nil) },
			func(m *Message) { m.Subject = new("") }},
		{"tampered TopicArn", func() *Message { return newNotification(now, nil) },
			func(m *Message) { m.TopicArn = "arn:aws:sns:us-east-1:123456789012:other" }},
		{"tampered MessageId", func() *Message { return newNotification(now, nil) },
			func(m *Message) { m.MessageID = "00000000-0000-0000-0000-000000000000" }},
		{"tampered Timestamp", func() *Message { return newNotification(now, nil) },
			func(m *Message) { m.Timestamp = FormatTimestamp(now.Add(time.Second)) }},
		{"tampered Type", func() *Message { return newConfirmation(TypeSubscriptionConfirmation, now) },
			func(m *Message) { m.Type = TypeUnsubscribeConfirmation }},
		{"tampered Token", func() *Message { return newConfirmation(TypeSubscriptionConfirmation, now) },
			func(m *Message) { m.Token += "0" }},
		{"tampered SubscribeURL", func() *Message { return newConfirmation(TypeSubscriptionConfirmation, now) },
			func(m *Message) {
				m.SubscribeURL = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=evil"
			}},
		{"SignatureVersion relabelled", func() *Message { return newNotification(now, nil) },
			func(m *Message) { m.SignatureVersion = SignatureVersion1 }},
		{"signature not base64", func() *Message { return newNotification(now, nil) },
			func(m *Message) { m.Signature = "!!!" + m.Signature[3:] }},
		{"signature truncated", func() *Message { return newNotification(now, nil) },
			func(m *Message) {
				raw, _ := base64.StdEncoding.DecodeString(m.Signature)
				m.Signature = base64.StdEncoding.EncodeToString(raw[:len(raw)-1])
			}},
		{"signature bit flipped", func() *Message { return newNotification(now, nil) },
			func(m *Message) {
				raw, _ := base64.StdEncoding.DecodeString(m.Signature)
				raw[len(raw)/2] ^= 1
				m.Signature = base64.StdEncoding.EncodeToString(raw)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := mustSign(t, s, tc.build(), SignatureVersion2)
			if err := v.Verify(t.Context(), m); err != nil {
				t.Fatalf("untampered message: Verify = %v", err)
			}
			tc.tamper(m)
			if err := v.Verify(t.Context(), m); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify(tampered) = %v, want ErrBadSignature", err)
			}
			// Go through the wire format too, as a handler would.
			if _, err := v.VerifyBody(t.Context(), mustJSON(t, m)); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("VerifyBody(tampered) = %v, want ErrBadSignature", err)
			}
		})
	}

	// SNS does not sign these fields; this documents that changing them
	// goes unnoticed, so handlers must not rely on them.
	t.Run("unsigned fields are not authenticated", func(t *testing.T) {
		t.Parallel()
		m := mustSign(t, s, newNotification(now, nil), SignatureVersion2)
		m.UnsubscribeURL = "https://example.com/"
		m.MessageAttributes = map[string]MessageAttribute{"x": {Type: "String", Value: "y"}}
		if err := v.Verify(t.Context(), m); err != nil {
			t.Fatalf("Verify = %v, want nil", err)
		}
	})
}

func TestVerifyRejectsWrongKey(t *testing.T) {
	t.Parallel()
	good := testSigner(t)
	evil, err := otherSigner()
	if err != nil {
		t.Fatal(err)
	}
	// The fetcher serves the genuine certificate; the message is signed
	// by a different key that claims the same certificate URL.
	v, _ := newTestVerifier(good, Options{})
	for _, version := range []string{SignatureVersion1, SignatureVersion2} {
		t.Run("v"+version, func(t *testing.T) {
			t.Parallel()
			m := mustSign(t, evil, newNotification(time.Now(), nil), version)
			if err := v.Verify(t.Context(), m); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestCertURLPolicy(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	cases := []struct {
		name string
		url  string
		ok   bool
	}{
		{"aws commercial region", "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", true},
		{"aws china partition", "https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", true},
		{"aws china region", "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", true},
		{"uppercase scheme is normalised", "HTTPS://sns.eu-west-1.amazonaws.com/x.pem", true},
		{"http scheme", "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", false},
		{"ftp scheme", "ftp://sns.us-east-1.amazonaws.com/x.pem", false},
		{"scheme-relative", "//sns.us-east-1.amazonaws.com/x.pem", false},
		{"opaque url", "https:sns.us-east-1.amazonaws.com/x.pem", false},
		{"other host", "https://evil.com/x.pem", false},
		{"aws name as subdomain of attacker", "https://sns.amazonaws.com.evil.com/x.pem", false},
		{"aws region host as subdomain of attacker", "https://sns.us-east-1.amazonaws.com.evil.com/x.pem", false},
		{"china host as subdomain of attacker", "https://sns.us-east-1.amazonaws.com.cn.evil.com/x.pem", false},
		{"userinfo pointing at attacker", "https://sns.us-east-1.amazonaws.com@evil.com/", false},
		{"userinfo with port pointing at attacker", "https://sns.us-east-1.amazonaws.com:443@evil.com/", false},
		{"userinfo on aws host", "https://user@sns.us-east-1.amazonaws.com/x.pem", false},
		{"backslash userinfo", `https://evil.com\@sns.us-east-1.amazonaws.com/x.pem`, false},
		{"percent-encoded host", "https://sns.us-east-1.amazonaws.com%2eevil.com/x.pem", false},
		{"no region", "https://sns.amazonaws.com/x.pem", false},
		{"region too short", "https://sns.us.amazonaws.com/x.pem", false},
		{"extra label", "https://sns.us-east-1.evil.amazonaws.com/x.pem", false},
		{"not sns service", "https://s3.us-east-1.amazonaws.com/x.pem", false},
		{"trailing dot", "https://sns.us-east-1.amazonaws.com./x.pem", false},
		{"explicit port", "https://sns.us-east-1.amazonaws.com:443/x.pem", false},
		{"other port", "https://sns.us-east-1.amazonaws.com:8443/x.pem", false},
		{"attacker host with aws path", "https://evil.com/sns.us-east-1.amazonaws.com/x.pem", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Serve the signer's certificate at every URL so that only
			// the URL policy can cause a rejection.
			f := &countingAnyFetcher{pem: s.CertPEM()}
			v := New(Options{Fetch: f.Fetch})
			m := mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2)
			m.SigningCertURL = tc.url // not signed, so the signature stays valid
			err := v.Verify(t.Context(), m)
			if tc.ok {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrBadCertURL) {
				t.Fatalf("Verify = %v, want ErrBadCertURL", err)
			}
			if n := f.calls.Load(); n != 0 {
				t.Fatalf("rejected URL was fetched %d times, want 0", n)
			}
		})
	}
}

type countingAnyFetcher struct {
	pem   []byte
	calls atomic.Int64
}

func (f *countingAnyFetcher) Fetch(context.Context, string) ([]byte, error) {
	f.calls.Add(1)
	return f.pem, nil
}

func TestCustomHostPolicy(t *testing.T) {
	t.Parallel()
	t.Run("AllowedHosts receives host with port", func(t *testing.T) {
		t.Parallel()
		s, err := NewSigner("https://emulator.internal:8443/cert.pem")
		if err != nil {
			t.Fatal(err)
		}
		var seen atomic.Value
		v, _ := newTestVerifier(s, Options{AllowedHosts: func(h string) bool {
			seen.Store(h)
			return h == "emulator.internal:8443"
		}})
		if err := v.Verify(t.Context(), mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2)); err != nil {
			t.Fatalf("Verify = %v", err)
		}
		if got := seen.Load(); got != "emulator.internal:8443" {
			t.Fatalf("AllowedHosts saw %q", got)
		}
	})
	t.Run("http rejected without AllowHTTP even for allowed host", func(t *testing.T) {
		t.Parallel()
		s, err := NewSigner("http://emulator.internal/cert.pem")
		if err != nil {
			t.Fatal(err)
		}
		v, f := newTestVerifier(s, Options{AllowedHosts: func(string) bool { return true }})
		err = v.Verify(t.Context(), mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2))
		if !errors.Is(err, ErrBadCertURL) {
			t.Fatalf("Verify = %v, want ErrBadCertURL", err)
		}
		if f.calls.Load() != 0 {
			t.Fatal("certificate fetched despite rejected URL")
		}
	})
	t.Run("AllowHTTP does not bypass host check", func(t *testing.T) {
		t.Parallel()
		s, err := NewSigner("http://evil.com/cert.pem")
		if err != nil {
			t.Fatal(err)
		}
		v, _ := newTestVerifier(s, Options{AllowHTTP: true})
		err = v.Verify(t.Context(), mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2))
		if !errors.Is(err, ErrBadCertURL) {
			t.Fatalf("Verify = %v, want ErrBadCertURL", err)
		}
	})
}

// TestDefaultFetcher exercises the real HTTP fetcher against a local server,
// the way the emulator is wired up (AllowHTTP plus a custom host policy).
func TestDefaultFetcher(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		signer   *Signer
		certHits atomic.Int64
		handler  = http.NewServeMux()
	)
	handler.HandleFunc("/cert.pem", func(w http.ResponseWriter, r *http.Request) {
		certHits.Add(1)
		mu.Lock()
		defer mu.Unlock()
		w.Write(signer.CertPEM())
	})
	handler.HandleFunc("/missing.pem", http.NotFound)
	handler.HandleFunc("/redirect.pem", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/cert.pem", http.StatusFound)
	})
	handler.HandleFunc("/huge.pem", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("A", maxCertSize+10)))
	})
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	srvURL, _ := url.Parse(srv.URL)

	s, err := NewSigner(srv.URL + "/cert.pem")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	signer = s
	mu.Unlock()
	newV := func() *Verifier {
		return New(Options{AllowHTTP: true, AllowedHosts: func(h string) bool { return h == srvURL.Host }})
	}

	t.Run("fetches once and verifies", func(t *testing.T) {
		t.Parallel()
		v := newV()
		for range 5 {
			m := mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion1)
			if err := v.Verify(t.Context(), m); err != nil {
				t.Fatalf("Verify = %v", err)
			}
		}
		// Redirects are never followed, so only this subtest hits /cert.pem.
		if n := certHits.Load(); n != 1 {
			t.Fatalf("server hit %d times, want 1", n)
		}
	})
	for _, path := range []string{"/missing.pem", "/redirect.pem", "/huge.pem"} {
		t.Run("rejects "+strings.TrimSuffix(path[1:], ".pem")+" response", func(t *testing.T) {
			t.Parallel()
			v := newV()
			m := mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2)
			m.SigningCertURL = srv.URL + path
			if err := v.Verify(t.Context(), m); !errors.Is(err, ErrCertFetch) {
				t.Fatalf("Verify = %v, want ErrCertFetch", err)
			}
		})
	}
}

func TestCertificateFetchedOnce(t *testing.T) {
	t.Parallel()
	s := testSigner(t)

	t.Run("sequential messages", func(t *testing.T) {
		t.Parallel()
		v, f := newTestVerifier(s, Options{})
		for i := range 50 {
			m := newNotification(time.Now(), nil)
			m.MessageID = big.NewInt(int64(i)).String()
			mustSign(t, s, m, []string{SignatureVersion1, SignatureVersion2}[i%2])
			if err := v.Verify(t.Context(), m); err != nil {
				t.Fatalf("message %d: Verify = %v", i, err)
			}
		}
		if n := f.calls.Load(); n != 1 {
			t.Fatalf("certificate fetched %d times for 50 messages, want 1", n)
		}
	})

	t.Run("concurrent messages share one fetch", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		var calls atomic.Int64
		v := New(Options{Fetch: func(ctx context.Context, _ string) ([]byte, error) {
			calls.Add(1)
			<-release // hold the fetch so every goroutine hits the miss
			return s.CertPEM(), nil
		}})
		m := mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2)
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for range 32 {
			wg.Go(func() { errs <- v.Verify(context.Background(), m) })
		}
		time.Sleep(50 * time.Millisecond)
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("Verify = %v", err)
			}
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("certificate fetched %d times, want 1", n)
		}
	})

	t.Run("each certificate URL fetched once", func(t *testing.T) {
		t.Parallel()
		urls := []string{
			"https://sns.us-east-1.amazonaws.com/a.pem",
			"https://sns.us-west-2.amazonaws.com/b.pem",
		}
		f := &countingAnyFetcher{pem: s.CertPEM()}
		v := New(Options{Fetch: f.Fetch})
		for i := range 10 {
			m := mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2)
			m.SigningCertURL = urls[i%2]
			if err := v.Verify(t.Context(), m); err != nil {
				t.Fatalf("Verify = %v", err)
			}
		}
		if n := f.calls.Load(); n != 2 {
			t.Fatalf("fetched %d times for 2 URLs, want 2", n)
		}
	})

	t.Run("cache is bounded", func(t *testing.T) {
		t.Parallel()
		f := &countingAnyFetcher{pem: s.CertPEM()}
		v := New(Options{Fetch: f.Fetch})
		m := mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2)
		for i := range 3 * certCacheSize {
			m.SigningCertURL = "https://sns.us-east-1.amazonaws.com/" + big.NewInt(int64(i)).String() + ".pem"
			if err := v.Verify(t.Context(), m); err != nil {
				t.Fatalf("Verify = %v", err)
			}
		}
		v.cache.mu.Lock()
		n := len(v.cache.entries)
		v.cache.mu.Unlock()
		if n > certCacheSize {
			t.Fatalf("cache holds %d entries, limit %d", n, certCacheSize)
		}
	})
}

func TestStaleTimestamp(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	now := time.Now()
	clock := func() time.Time { return now }

	cases := []struct {
		name    string
		ts      time.Time
		maxAge  time.Duration
		wantErr error
	}{
		{"fresh message accepted", now.Add(-time.Minute), 0, nil},
		{"just under default max age accepted", now.Add(-59 * time.Minute), 0, nil},
		{"older than default max age rejected", now.Add(-61 * time.Minute), 0, ErrStale},
		{"older than custom max age rejected", now.Add(-10 * time.Minute), 5 * time.Minute, ErrStale},
		{"within custom max age accepted", now.Add(-4 * time.Minute), 5 * time.Minute, nil},
		{"small clock skew accepted", now.Add(MaxClockSkew - time.Second), 0, nil},
		{"far future rejected", now.Add(MaxClockSkew + time.Minute), 0, ErrStale},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, f := newTestVerifier(s, Options{Now: clock, MaxAge: tc.maxAge})
			m := mustSign(t, s, newNotification(tc.ts, nil), SignatureVersion2)
			err := v.Verify(t.Context(), m)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil && f.calls.Load() != 0 {
				t.Fatal("stale message caused a certificate fetch")
			}
		})
	}
}

func TestTopicAllowlist(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	allowed := func(arn string) bool { return arn == testTopic }

	t.Run("allowed topic accepted", func(t *testing.T) {
		t.Parallel()
		v, _ := newTestVerifier(s, Options{TopicAllowed: allowed})
		if err := v.Verify(t.Context(), mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2)); err != nil {
			t.Fatalf("Verify = %v", err)
		}
	})
	t.Run("validly signed message from other topic rejected", func(t *testing.T) {
		t.Parallel()
		v, f := newTestVerifier(s, Options{TopicAllowed: allowed})
		m := newNotification(time.Now(), nil)
		m.TopicArn = "arn:aws:sns:us-east-1:999999999999:someone-else"
		mustSign(t, s, m, SignatureVersion2)
		if err := v.Verify(t.Context(), m); !errors.Is(err, ErrTopicNotAllowed) {
			t.Fatalf("Verify = %v, want ErrTopicNotAllowed", err)
		}
		if f.calls.Load() != 0 {
			t.Fatal("disallowed topic caused a certificate fetch")
		}
	})
	t.Run("nil allowlist allows every topic", func(t *testing.T) {
		t.Parallel()
		v, _ := newTestVerifier(s, Options{})
		m := newNotification(time.Now(), nil)
		m.TopicArn = "arn:aws:sns:us-east-1:999999999999:someone-else"
		if err := v.Verify(t.Context(), mustSign(t, s, m, SignatureVersion2)); err != nil {
			t.Fatalf("Verify = %v", err)
		}
	})
}

func TestFetchError(t *testing.T) {
	t.Parallel()
	s := testSigner(t)

	t.Run("error is reported and not cached", func(t *testing.T) {
		t.Parallel()
		v, f := newTestVerifier(s, Options{})
		f.setErr(errors.New("connection refused"))
		m := mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2)
		for range 2 {
			err := v.Verify(t.Context(), m)
			if !errors.Is(err, ErrCertFetch) || !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("Verify = %v, want ErrCertFetch with cause", err)
			}
		}
		f.setErr(nil)
		if err := v.Verify(t.Context(), m); err != nil {
			t.Fatalf("Verify after recovery = %v", err)
		}
		if n := f.calls.Load(); n != 3 {
			t.Fatalf("fetched %d times, want 3 (failures must not be cached)", n)
		}
	})

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ec"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	ecDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string][]byte{
		"empty response":       nil,
		"not PEM":              []byte("<html>Access Denied</html>"),
		"PEM without cert":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}),
		"PEM with garbage DER": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}),
		"non-RSA certificate":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ecDER}),
		"oversized response":   append(s.CertPEM(), make([]byte, maxCertSize)...),
	}
	for name, body := range bodies {
		t.Run(name+" rejected", func(t *testing.T) {
			t.Parallel()
			f := &countingAnyFetcher{pem: body}
			v := New(Options{Fetch: f.Fetch})
			m := mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2)
			if err := v.Verify(t.Context(), m); !errors.Is(err, ErrCertFetch) {
				t.Fatalf("Verify = %v, want ErrCertFetch", err)
			}
		})
	}

	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		v := New(Options{Fetch: func(ctx context.Context, _ string) ([]byte, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		m := mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2)
		if err := v.Verify(ctx, m); !errors.Is(err, ErrCertFetch) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify = %v, want ErrCertFetch wrapping context.Canceled", err)
		}
	})

	t.Run("panicking fetcher does not wedge the cache", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int64
		v := New(Options{Fetch: func(context.Context, string) ([]byte, error) {
			if calls.Add(1) == 1 {
				panic("boom")
			}
			return s.CertPEM(), nil
		}})
		m := mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2)
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("panic not propagated")
				}
			}()
			v.Verify(t.Context(), m)
		}()
		if err := v.Verify(t.Context(), m); err != nil {
			t.Fatalf("Verify after panic = %v", err)
		}
	})
}

func TestCertificateValidityPeriod(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	block, _ := pem.Decode(s.CertPEM())
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for name, at := range map[string]time.Time{
		"expired certificate rejected":       cert.NotAfter.Add(time.Hour),
		"not yet valid certificate rejected": cert.NotBefore.Add(-time.Hour),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The message is fresh relative to the verifier's clock,
			// so only the certificate's validity period can fail.
			v, _ := newTestVerifier(s, Options{Now: func() time.Time { return at }})
			m := mustSign(t, s, newNotification(at, nil), SignatureVersion2)
			if err := v.Verify(t.Context(), m); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	v, f := newTestVerifier(s, Options{})
	valid := func() *Message { return mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion2) }
	cases := map[string]*Message{
		"nil message":               nil,
		"empty message":             {},
		"missing signature":         func() *Message { m := valid(); m.Signature = ""; return m }(),
		"missing cert URL":          func() *Message { m := valid(); m.SigningCertURL = ""; return m }(),
		"unknown signature version": func() *Message { m := valid(); m.SignatureVersion = "3"; return m }(),
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := v.Verify(t.Context(), m); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify = %v, want ErrMalformed", err)
			}
		})
	}
	t.Run("no fetch for malformed input", func(t *testing.T) {
		t.Parallel()
		if _, err := v.VerifyBody(t.Context(), []byte("{")); !errors.Is(err, ErrMalformed) {
			t.Fatalf("VerifyBody = %v, want ErrMalformed", err)
		}
		if f.calls.Load() != 0 {
			t.Fatal("malformed body caused a fetch")
		}
	})
}
