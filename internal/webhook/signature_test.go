package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/webhook"
)

const secret = "whsec_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestSign(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","type":"webhook.ping"}`)
	ts := time.Unix(1700000000, 999_000_000)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("1700000000." + string(body)))
	want := "t=1700000000,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := webhook.Sign(secret, ts, body); got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1"}`)
	now := time.Unix(1700000000, 0)
	good := webhook.Sign(secret, now, body)
	goodSig := strings.TrimPrefix(good, "t=1700000000,")
	other := webhook.Sign("whsec_other", now, body)
	for _, c := range []struct {
		name   string
		secret string
		header string
		body   string
		now    time.Time
		tol    time.Duration
		want   error
	}{
		{"valid", secret, good, string(body), now, time.Minute, nil},
		{"valid with spaces and an unknown scheme", secret, "t=1700000000, v0=zz, " + goodSig, string(body), now, time.Minute, nil},
		{"one of several v1 matches", secret, other + "," + goodSig, string(body), now, time.Minute, nil},
		{"within the tolerance", secret, good, string(body), now.Add(59 * time.Second), time.Minute, nil},
		{"default tolerance", secret, good, string(body), now.Add(4 * time.Minute), 0, nil},
		{"too old", secret, good, string(body), now.Add(61 * time.Second), time.Minute, webhook.ErrSignatureExpired},
		{"too old for the default", secret, good, string(body), now.Add(6 * time.Minute), 0, webhook.ErrSignatureExpired},
		{"from the future", secret, good, string(body), now.Add(-2 * time.Minute), time.Minute, webhook.ErrSignatureExpired},
		{"other secret", "whsec_other", good, string(body), now, time.Minute, webhook.ErrSignatureMismatch},
		{"body changed", secret, good, `{"id":"evt_2"}`, now, time.Minute, webhook.ErrSignatureMismatch},
		{"timestamp changed", secret, "t=1700000001," + goodSig, string(body), now, time.Minute, webhook.ErrSignatureMismatch},
		{"empty", secret, "", string(body), now, time.Minute, webhook.ErrSignatureMalformed},
		{"no timestamp", secret, goodSig, string(body), now, time.Minute, webhook.ErrSignatureMalformed},
		{"no signature", secret, "t=1700000000", string(body), now, time.Minute, webhook.ErrSignatureMalformed},
		{"two timestamps", secret, "t=1700000000," + good, string(body), now, time.Minute, webhook.ErrSignatureMalformed},
		{"signed timestamp", secret, "t=+1700000000," + goodSig, string(body), now, time.Minute, webhook.ErrSignatureMalformed},
		{"non-numeric timestamp", secret, "t=abc," + goodSig, string(body), now, time.Minute, webhook.ErrSignatureMalformed},
		{"short signature", secret, "t=1700000000,v1=abcd", string(body), now, time.Minute, webhook.ErrSignatureMalformed},
		{"not hex", secret, "t=1700000000,v1=" + strings.Repeat("g", 64), string(body), now, time.Minute, webhook.ErrSignatureMalformed},
		{"part without =", secret, good + ",junk", string(body), now, time.Minute, webhook.ErrSignatureMalformed},
		{"huge header", secret, good + strings.Repeat(",x=y", 2000), string(body), now, time.Minute, webhook.ErrSignatureMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.Verify(c.secret, c.header, []byte(c.body), c.now, c.tol)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, c.want)
			}
			if err != nil && marketplace.ErrorCode(err) != marketplace.EUnauthorized {
				t.Errorf("code = %s, want unauthorized", marketplace.ErrorCode(err))
			}
		})
	}
}

// FuzzVerify feeds Verify arbitrary headers: it must never panic, it may only
// accept a header that carries the right signature for its timestamp, and what
// Sign produces must always verify.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1700000000, 0)
	f.Add(secret, webhook.Sign(secret, now, []byte("{}")), []byte("{}"), int64(0))
	f.Add(secret, "t=1700000000,v1=00", []byte(""), int64(10))
	f.Add("", "t=,v1=", []byte("x"), int64(-400))
	f.Add("s", "t=99999999999999999999,v1="+strings.Repeat("a", 64), []byte("x"), int64(1))
	f.Add("s", "v1=1,t=2,t=3", []byte(nil), int64(0))
	f.Add("s", ",,,=,==", []byte("{"), int64(1<<40))
	f.Fuzz(func(t *testing.T, sec, header string, body []byte, skew int64) {
		at := now.Add(time.Duration(skew%1_000_000_000) * time.Second) // after 1970: timestamps are unsigned
		if err := webhook.Verify(sec, header, body, at, time.Minute); err == nil {
			if !acceptedHonestly(sec, header, body) {
				t.Fatalf("Verify accepted %q for body %q", header, body)
			}
		} else if marketplace.ErrorCode(err) != marketplace.EUnauthorized {
			t.Fatalf("Verify error %v is not unauthorized", err)
		}
		signed := webhook.Sign(sec, at, body)
		if err := webhook.Verify(sec, signed, body, at, time.Minute); err != nil {
			t.Fatalf("Sign(%q) = %q does not verify: %v", sec, signed, err)
		}
		if err := webhook.Verify(sec, signed, append(body, 'x'), at, time.Minute); !errors.Is(err, webhook.ErrSignatureMismatch) {
			t.Fatalf("a changed body verifies: %v", err)
		}
	})
}

// acceptedHonestly re-parses an accepted header independently: it must hold a
// timestamp and a v1 signature equal to Sign's for that timestamp.
func acceptedHonestly(sec, header string, body []byte) bool {
	var ts string
	var sigs []string
	for _, p := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, strings.ToLower(v))
		}
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(sec))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	for _, s := range sigs {
		if s == want {
			return true
		}
	}
	return false
}
