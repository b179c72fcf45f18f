package metering_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/metering"
)

// FuzzParseUsage feeds ParseUsage arbitrary bytes: it must never panic, and a
// record it accepts must be one Ingest can store and send: a non-empty
// idempotency key of at most 255 bytes, a quantity AWS takes, a license or a
// tenant, a dimension, valid UTF-8 without NUL in every string, a UTC timestamp.
func FuzzParseUsage(f *testing.F) {
	for _, seed := range []string{
		`{"license":"arn:aws:license-manager::444455556666:license:l-1","dimension":"api_calls","quantity":5,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k1"}`,
		`{"tenant":"t-1","dimension":"api_calls","quantity":0,"timestamp":"2026-11-02T12:15:00.123456789+02:00","idempotencyKey":"k2"}`,
		`{"license":"l-1","tenant":"t-1","dimension":"d","quantity":2147483647,"timestamp":"2026-11-02T12:15:00-05:00","idempotencyKey":"k3"}`,
		`{"license":"l-1","dimension":"d","quantity":2147483648,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":-1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":1.5,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":1e3,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":"5","timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":null,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":99999999999999999999999999999,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":1,"timestamp":"2026-11-02 12:15:00","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":1,"timestamp":"0001-01-01T00:00:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":1,"timestamp":"9999-12-31T23:59:59-23:59","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":1,"timestamp":"2000-01-01T00:00:00+14:00","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":1,"timestamp":1700000000,"idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k","extra":true}`,
		`{"license":"l-1","dimension":"d","quantity":1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"a\u0000b"}`,
		`{"license":"l-\u0000","dimension":"d","quantity":1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		"{\"license\":\"l-1\",\"dimension\":\"d\xff\",\"quantity\":1,\"timestamp\":\"2026-11-02T12:15:00Z\",\"idempotencyKey\":\"k\"}",
		`{"license":"   ","dimension":"d","quantity":1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":""}`,
		`{"license":"l-1","dimension":"d","quantity":1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"` + strings.Repeat("é", 128) + `"}`,
		`{"license":"l-1","dimension":"d","quantity":1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"} {}`,
		`{"license":"l-1","dimension":"d","quantity":1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}   `,
		`[1,2,3]`, `null`, `""`, `{}`, ``, "\x00",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		u, err := metering.ParseUsage(raw)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error for %q", raw)
			}
			return
		}
		for name, v := range map[string]string{"idempotencyKey": u.IdempotencyKey, "license": u.License, "tenant": u.Tenant, "dimension": u.Dimension} {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				t.Fatalf("%s %q is not valid UTF-8 without NUL (input %q)", name, v, raw)
			}
		}
		switch {
		case u.IdempotencyKey == "" || len(u.IdempotencyKey) > 255:
			t.Fatalf("idempotency key of %d bytes accepted: %q", len(u.IdempotencyKey), raw)
		case u.Quantity < 0 || u.Quantity > metering.MaxQuantity:
			t.Fatalf("quantity %d accepted: %q", u.Quantity, raw)
		case u.License == "" && u.Tenant == "":
			t.Fatalf("record without license or tenant accepted: %q", raw)
		case u.Dimension == "" || len(u.Dimension) > 255:
			t.Fatalf("dimension of %d bytes accepted: %q", len(u.Dimension), raw)
		case u.Timestamp.IsZero() || u.Timestamp.Location() != time.UTC:
			t.Fatalf("timestamp %v (%v) accepted: %q", u.Timestamp, u.Timestamp.Location(), raw)
		case strings.TrimSpace(u.License) != u.License || strings.TrimSpace(u.Tenant) != u.Tenant:
			t.Fatalf("license %q / tenant %q not trimmed: %q", u.License, u.Tenant, raw)
		}
		// An accepted record reads the same again from its own JSON. (The
		// year check runs before the conversion to UTC, so an offset can move
		// an accepted timestamp to 1999 or 10000, which JSON cannot encode;
		// Ingest refuses those as too old or in the future.)
		if y := u.Timestamp.Year(); y < 1999 || y > 10000 {
			t.Fatalf("timestamp %v accepted: %q", u.Timestamp, raw)
		} else if y < 2000 || y > 9999 {
			return
		}
		out, err := json.Marshal(u)
		if err != nil {
			t.Fatalf("encode %+v: %v", u, err)
		}
		again, err := metering.ParseUsage(out)
		if err != nil || again.License != u.License || again.Tenant != u.Tenant || again.Dimension != u.Dimension ||
			again.Quantity != u.Quantity || !again.Timestamp.Equal(u.Timestamp) || again.IdempotencyKey != u.IdempotencyKey {
			t.Fatalf("re-parse of %+v (%s): %+v, %v", u, out, again, err)
		}
	})
}

// FuzzParseBatch feeds ParseBatch arbitrary bodies: it must never panic; when
// it reads a batch, every record it accepts must be what ParseUsage makes of
// the same record on its own, and it never holds more than MaxIngest records.
func FuzzParseBatch(f *testing.F) {
	good := `{"license":"l-1","dimension":"d","quantity":1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`
	for _, seed := range []string{
		`{"records":[` + good + `]}`,
		`{"records":[` + good + `,5,null,"x",{"quantity":"1"},` + good + `]}`,
		`{"records":[]}`, `{"records":null}`, `{}`, `[]`, `{"records":[` + good, `{"records":[],"records":[]}`,
		`{"other":1}`, `{"records":[{"license":7}]} trailing`, ``, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		batch, err := metering.ParseBatch(body)
		if err != nil {
			if batch != nil {
				t.Fatalf("an error and %d records", len(batch))
			}
			return
		}
		if len(batch) > metering.MaxIngest {
			t.Fatalf("%d records", len(batch))
		}
		var doc struct{ Records []json.RawMessage }
		if json.Unmarshal(body, &doc) != nil || len(doc.Records) != len(batch) {
			t.Fatalf("ParseBatch read %d records of a body encoding/json reads differently: %q", len(batch), body)
		}
		for i, p := range batch {
			u, err := metering.ParseUsage(doc.Records[i])
			if (err == nil) != (p.Err == nil) || (err == nil && u != p.Usage) {
				t.Fatalf("record %d: batch %+v %v, alone %+v %v", i, p.Usage, p.Err, u, err)
			}
		}
	})
}
