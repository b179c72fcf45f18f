package snsverify

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"
)

const (
	// DefaultMaxAge is the message age limit used when Options.MaxAge is
	// zero. SNS retries a delivery with the original Timestamp, and
	// delivery policies can stretch retries up to about an hour.
	DefaultMaxAge = time.Hour

	// MaxClockSkew is how far in the future a Timestamp may be before
	// Verify rejects it with ErrStale. A little slack tolerates clock
	// drift between AWS and this host; more would let a message with a
	// future timestamp be replayed for longer than MaxAge.
	MaxClockSkew = 5 * time.Minute

	fetchTimeout  = 10 * time.Second
	maxCertSize   = 64 << 10
	certCacheSize = 64
	minRSABits    = 2048
)

// awsHostPattern matches the hosts SNS publishes signing certificates on
// (e.g. sns.us-east-1.amazonaws.com, sns.cn-north-1.amazonaws.com.cn).
var awsHostPattern = regexp.MustCompile(`^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$`)

// IsAWSSNSHost reports whether host (a URL host without userinfo; any
// explicit port makes it fail) is an AWS SNS certificate host. It is the
// default Options.AllowedHosts and is exported so that callers who need to
// allow an extra host (e.g. the emulator) can still allow AWS as well.
func IsAWSSNSHost(host string) bool {
	return awsHostPattern.MatchString(host)
}

// Options configures a Verifier. The zero value is the production
// configuration for real AWS SNS; the fields exist so that tests and the
// emulator can point verification at their own certificate host and clock.
type Options struct {
	// AllowedHosts decides whether the host of SigningCertURL may be
	// trusted. It receives url.URL.Host: the host without userinfo but
	// with any explicit port (e.g. "127.0.0.1:8443"). Nil means
	// IsAWSSNSHost, which rejects every non-AWS host and any explicit port.
	AllowedHosts func(host string) bool

	// AllowHTTP permits http:// certificate URLs. Only for tests and the
	// local emulator: over plain HTTP anyone on the path can substitute
	// the certificate. Default false (https only).
	AllowHTTP bool

	// Fetch retrieves the PEM certificate at url. Nil means an HTTP GET
	// with a 10 s timeout, no redirects and a 64 KiB response limit.
	// Tests inject a fake to avoid the network and count fetches.
	Fetch func(ctx context.Context, url string) ([]byte, error)

	// Now returns the current time for the freshness and certificate
	// validity checks. Nil means time.Now.
	Now func() time.Time

	// MaxAge is the oldest message Timestamp accepted. Zero (or negative)
	// means DefaultMaxAge.
	MaxAge time.Duration

	// TopicAllowed decides whether messages from topicArn are accepted.
	// Nil allows every topic; production should restrict it to Concord's
	// topics because SNS signs messages for all topics alike.
	TopicAllowed func(topicArn string) bool
}

// Verifier authenticates SNS messages. It caches signing certificates per
// URL (at most 64, since SNS rotates certificates rarely) so that verifying
// a stream of messages costs one certificate fetch, not one per message. A
// Verifier is safe for concurrent use and should be shared.
type Verifier struct {
	allowedHost  func(string) bool
	allowHTTP    bool
	fetch        func(context.Context, string) ([]byte, error)
	now          func() time.Time
	maxAge       time.Duration
	topicAllowed func(string) bool
	cache        certCache
}

// New returns a Verifier configured by opts, filling unset options with the
// production defaults described on Options.
func New(opts Options) *Verifier {
	v := &Verifier{
		allowedHost:  opts.AllowedHosts,
		allowHTTP:    opts.AllowHTTP,
		fetch:        opts.Fetch,
		now:          opts.Now,
		maxAge:       opts.MaxAge,
		topicAllowed: opts.TopicAllowed,
		cache:        certCache{max: certCacheSize},
	}
	if v.allowedHost == nil {
		v.allowedHost = IsAWSSNSHost
	}
	if v.fetch == nil {
		v.fetch = httpFetch
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxAge <= 0 {
		v.maxAge = DefaultMaxAge
	}
	if v.topicAllowed == nil {
		v.topicAllowed = func(string) bool { return true }
	}
	return v
}

// VerifyBody parses body and verifies the resulting message, returning it
// only if it is authentic. It is the one call an HTTP handler needs; the
// message is not returned on failure so unverified data cannot leak into
// business logic by accident.
func (v *Verifier) VerifyBody(ctx context.Context, body []byte) (*Message, error) {
	m, err := Parse(body)
	if err != nil {
		return nil, err
	}
	if err := v.Verify(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// Verify reports whether m is an authentic, fresh SNS message from an
// allowed topic, returning nil only if it is. Cheap checks (structure,
// certificate URL, topic, age) run before any network access so that junk
// requests cannot make Concord fetch anything. The returned error wraps one
// of the package's sentinel errors.
func (v *Verifier) Verify(ctx context.Context, m *Message) error {
	if err := m.check(true); err != nil {
		return err
	}
	if err := v.checkCertURL(m.SigningCertURL); err != nil {
		return err
	}
	if !v.topicAllowed(m.TopicArn) {
		return fmt.Errorf("%w: %q", ErrTopicNotAllowed, clip(m.TopicArn))
	}

	now := v.now()
	ts, err := m.Time()
	if err != nil {
		return err
	}
	if age := now.Sub(ts); age > v.maxAge {
		return fmt.Errorf("%w: Timestamp %s is %s old, limit is %s", ErrStale, m.Timestamp, age.Round(time.Second), v.maxAge)
	}
	if ahead := ts.Sub(now); ahead > MaxClockSkew {
		return fmt.Errorf("%w: Timestamp %s is %s in the future", ErrStale, m.Timestamp, ahead.Round(time.Second))
	}

	hash, _ := hashFor(m.SignatureVersion) // checked by m.check
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return fmt.Errorf("%w: Signature is not base64: %w", ErrBadSignature, err)
	}
	sts, err := m.StringToSign()
	if err != nil {
		return err
	}

	cert, err := v.cache.get(ctx, m.SigningCertURL, v.loadCert)
	if err != nil {
		return err
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fmt.Errorf("%w: signing certificate is valid from %s to %s, not at %s", ErrBadSignature,
			cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	pub := cert.PublicKey.(*rsa.PublicKey) // checked by parseCertPEM
	if err := rsa.VerifyPKCS1v15(pub, hash, digest(hash, sts), sig); err != nil {
		return fmt.Errorf("%w: SignatureVersion %s signature does not match certificate %s", ErrBadSignature, m.SignatureVersion, clip(m.SigningCertURL))
	}
	return nil
}

// checkCertURL rejects certificate URLs that could hand an attacker control
// of the key: wrong scheme, userinfo (https://sns...amazonaws.com@evil.com),
// opaque or host-less URLs, and hosts the policy does not allow.
func (v *Verifier) checkCertURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadCertURL, err)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !v.allowHTTP {
			return fmt.Errorf("%w: %q is not https", ErrBadCertURL, clip(raw))
		}
	default:
		return fmt.Errorf("%w: %q has scheme %q, want https", ErrBadCertURL, clip(raw), clip(u.Scheme))
	}
	if u.User != nil {
		return fmt.Errorf("%w: %q contains userinfo", ErrBadCertURL, clip(raw))
	}
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("%w: %q has no host", ErrBadCertURL, clip(raw))
	}
	if !v.allowedHost(u.Host) {
		return fmt.Errorf("%w: host %q is not an allowed SNS host", ErrBadCertURL, clip(u.Host))
	}
	return nil
}

// loadCert fetches and parses the certificate at certURL.
func (v *Verifier) loadCert(ctx context.Context, certURL string) (*x509.Certificate, error) {
	body, err := v.fetch(ctx, certURL)
	if err != nil {
		return nil, fmt.Errorf("%w: fetching %s: %w", ErrCertFetch, clip(certURL), err)
	}
	if len(body) > maxCertSize {
		return nil, fmt.Errorf("%w: %s returned more than %d bytes", ErrCertFetch, clip(certURL), maxCertSize)
	}
	cert, err := parseCertPEM(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCertFetch, clip(certURL), err)
	}
	return cert, nil
}

// parseCertPEM returns the first CERTIFICATE block in b, which must carry an
// RSA key of at least minRSABits.
func parseCertPEM(b []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("certificate key is %T, want RSA", cert.PublicKey)
		}
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("certificate RSA key is %d bits, want at least %d", pub.N.BitLen(), minRSABits)
		}
		return cert, nil
	}
}

// httpClient is the default fetcher's client. Redirects are refused: the
// host check applies to the URL in the message, and following a redirect
// would fetch from a host that was never checked.
var httpClient = &http.Client{
	Timeout: fetchTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// httpFetch is the default Options.Fetch.
func httpFetch(ctx context.Context, certURL string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, certURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCertSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxCertSize {
		return nil, fmt.Errorf("response exceeds %d bytes", maxCertSize)
	}
	return body, nil
}

// hashFor maps an SNS SignatureVersion to its digest.
func hashFor(version string) (crypto.Hash, bool) {
	switch version {
	case SignatureVersion1:
		return crypto.SHA1, true
	case SignatureVersion2:
		return crypto.SHA256, true
	}
	return 0, false
}

// digest hashes s with h (SHA1 or SHA256 only).
func digest(h crypto.Hash, s string) []byte {
	if h == crypto.SHA1 {
		sum := sha1.Sum([]byte(s))
		return sum[:]
	}
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// certCache is a bounded, concurrency-safe cache of parsed certificates by
// URL. Concurrent misses for the same URL share one fetch. Failures are not
// cached, so a transient outage does not poison the cache.
type certCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*certEntry
}

type certEntry struct {
	done chan struct{} // closed once cert/err are set
	cert *x509.Certificate
	err  error
}

func (c *certCache) get(ctx context.Context, key string, load func(context.Context, string) (*x509.Certificate, error)) (*x509.Certificate, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		c.mu.Unlock()
		select {
		case <-e.done:
			return e.cert, e.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for %s: %w", ErrCertFetch, clip(key), ctx.Err())
		}
	}
	if c.entries == nil {
		c.entries = make(map[string]*certEntry)
	}
	if len(c.entries) >= c.max {
		c.evictLocked()
	}
	e := &certEntry{done: make(chan struct{})}
	c.entries[key] = e
	c.mu.Unlock()

	finished := false
	defer func() {
		if !finished { // load panicked; release waiters, then re-panic
			e.cert, e.err = nil, fmt.Errorf("%w: certificate fetch for %s panicked", ErrCertFetch, clip(key))
		}
		if e.err != nil {
			c.mu.Lock()
			if c.entries[key] == e {
				delete(c.entries, key)
			}
			c.mu.Unlock()
		}
		close(e.done)
	}()
	e.cert, e.err = load(ctx, key)
	finished = true
	return e.cert, e.err
}

// evictLocked drops one entry, preferring completed ones. Map iteration
// order is random, which makes this random eviction: good enough for a
// cache that in practice holds a handful of AWS certificates.
func (c *certCache) evictLocked() {
	var victim string
	found := false
	for k, e := range c.entries {
		select {
		case <-e.done:
			delete(c.entries, k)
			return
		default:
			if !found {
				victim, found = k, true
			}
		}
	}
	if found {
		delete(c.entries, victim)
	}
}
