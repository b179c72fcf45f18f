package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
)

// DefaultTolerance is how far a signature's timestamp may be from the receiver's
// clock when Verify is given no tolerance: enough for clock skew and a slow
// request, short enough that a captured request cannot be replayed later.
const DefaultTolerance = 5 * time.Minute

// maxSignatureHeader bounds the header Verify parses (outside input).
const maxSignatureHeader = 4096

// Errors Verify returns; they are unauthorized application errors, so a receiver
// built on this package answers 401.
var (
	ErrSignatureMalformed = marketplace.Errorf(marketplace.EUnauthorized, "webhook signature header is malformed: want t=<unix seconds>,v1=<hex HMAC-SHA256>")
	ErrSignatureExpired   = marketplace.Errorf(marketplace.EUnauthorized, "webhook signature timestamp is outside the tolerance")
	ErrSignatureMismatch  = marketplace.Errorf(marketplace.EUnauthorized, "webhook signature does not match the body")
)

// Sign returns the Concord-Signature header value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<unix seconds>.<body>")>". The
// key is the whole secret string, "whsec_" prefix included. Signing the timestamp
// with the body lets receivers reject replays of old requests.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Concord-Signature header against body and secret, as a
// receiver must before trusting a request. The timestamp must be within tolerance
// of now, either way (tolerance <= 0 means DefaultTolerance); any of several v1
// signatures may match; unknown schemes are ignored. Comparison is constant-time.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, sigs, ok := parseSignature(header)
	if !ok {
		return ErrSignatureMalformed
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrSignatureMalformed
	}
	skew := now.Unix() - t
	if skew < 0 {
		skew = -skew
	}
	if skew < 0 || skew > int64(tolerance/time.Second) { // skew < 0: the negation overflowed
		return ErrSignatureExpired
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}

// parseSignature splits "t=…,v1=…[,v1=…]" into the timestamp text and the decoded
// v1 signatures. It fails unless there is exactly one all-digit timestamp and at
// least one well-formed v1 signature.
func parseSignature(header string) (ts string, sigs [][]byte, ok bool) {
	if len(header) > maxSignatureHeader {
		return "", nil, false
	}
	seenT := false
	for part := range strings.SplitSeq(header, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return "", nil, false
		}
		switch k {
		case "t":
			if seenT || v == "" || len(v) > 18 || strings.Trim(v, "0123456789") != "" {
				return "", nil, false
			}
			ts, seenT = v, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return "", nil, false
			}
			sigs = append(sigs, b)
		}
	}
	if !seenT || len(sigs) == 0 {
		return "", nil, false
	}
	return ts, sigs, true
}
