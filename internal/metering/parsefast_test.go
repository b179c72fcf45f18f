package metering

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// sameParse fails t unless parseBatchFast, when it takes body, makes what the
// decoder makes of it.
func sameParse(t *testing.T, body []byte) (fast bool) {
	t.Helper()
	got, ok := parseBatchFast(body)
	if !ok {
		return false
	}
	want, err := decodeBatch(body)
	if err != nil {
		t.Fatalf("fast path read %d records of a body the decoder refuses (%v): %q", len(got), err, body)
	}
	if len(got) != len(want) || (got == nil) != (want == nil) {
		t.Fatalf("fast path read %d records, decoder %d: %q", len(got), len(want), body)
	}
	for i := range got {
		if !reflect.DeepEqual(got[i].Usage, want[i].Usage) || fmt.Sprint(got[i].Err) != fmt.Sprint(want[i].Err) {
			t.Fatalf("record %d: fast %+v %v, decoder %+v %v: %q", i, got[i].Usage, got[i].Err, want[i].Usage, want[i].Err, body)
		}
	}
	return true
}

// TestParseBatchFastMatchesDecoder mutates plain batches (the shape the fast
// path takes) byte by byte: whatever the fast path takes, it reads as the
// decoder does; the rest it leaves to the decoder.
func TestParseBatchFastMatchesDecoder(t *testing.T) {
	recs := []string{
		`{"license":"arn:aws:license-manager::444455556666:license:l-1","dimension":"api_calls","quantity":5,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k1"}`,
		`{"tenant":"t-1","dimension":"api_calls","quantity":0,"timestamp":"2026-11-02T12:15:00.123456789+02:00","idempotencyKey":"k2"}`,
		` { "license" : " l-1 " , "tenant":"t-1","dimension":"d","quantity": 2147483647 ,"timestamp":"2026-11-02T12:15:00-05:00","idempotencyKey":"k3" } `,
		`{"license":"l-1","dimension":"d","quantity":-1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":2147483648,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"d","quantity":99999999999999999999999,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}`,
		`{"license":"l-1","dimension":"dé","quantity":1,"timestamp":"2026-11-02 12:15:00","idempotencyKey":"` + strings.Repeat("é", 128) + `"}`,
		`{"dimension":"d","timestamp":"2026-11-02T12:15:00Z"}`,
		`{}`,
		`{"license":"","tenant":"","dimension":"","quantity":0,"timestamp":"","idempotencyKey":""}`,
	}
	var bodies []string
	for i := range recs {
		bodies = append(bodies, `{"records":[`+recs[i]+`]}`, "\n{ \"records\" : [ "+strings.Join(recs[:i+1], " ,\n")+" ] }\n")
	}
	bodies = append(bodies, `{"records":[]}`, `{"records":[ ]}`, `{"records":[]}}`, `{"records":null}`, `{}`, ``, `{"records":[],"records":[]}`,
		`{"records":[{"license":"l-1","license":"l-2"}]}`, `{"records":[{"License":"l-1"}]}`, `{"records":[{"license":"l\u002d1"}]}`,
		`{"records":[{"quantity":01}]}`, `{"records":[{"quantity":1.0}]}`, `{"records":[{"quantity":1e2}]}`, `{"records":[{"quantity":-}]}`,
		`{"records":[{"quantity":"1"}]}`, `{"records":[{"license":null}]}`, `{"records":[null]}`, `{"records":[{},]}`, `{"records":[{"a":1}]}`,
		"{\"records\":[{\"license\":\"l-\xff\"}]}", "{\"records\":[{\"license\":\"l-\x01\"}]}", `{"records":[{"quantity":1}]} x`)
	fast := 0
	for _, b := range bodies {
		if sameParse(t, []byte(b)) {
			fast++
		}
	}
	if fast < 2*len(recs) {
		t.Fatalf("the fast path took %d of the %d plain bodies", fast, 2*len(recs))
	}
	// Each plain body with one byte changed, dropped or doubled.
	rng := rand.New(rand.NewPCG(3, 5))
	alphabet := []byte(" \t\n\r{}[]:,\"\\-019.eE+aéul\x00\xff")
	for _, b := range bodies[:2*len(recs)] {
		for range 400 {
			m := []byte(b)
			i := rng.IntN(len(m))
			switch rng.IntN(3) {
			case 0:
				m[i] = alphabet[rng.IntN(len(alphabet))]
			case 1:
				m = append(m[:i], m[i+1:]...)
			default:
				m = append(m[:i+1], m[i:]...)
			}
			sameParse(t, m)
		}
	}
	// A batch past MaxIngest is the decoder's to refuse.
	big := `{"records":[` + strings.Repeat(recs[0]+",", MaxIngest) + recs[0] + `]}`
	if _, ok := parseBatchFast([]byte(big)); ok {
		t.Fatalf("the fast path took %d records", MaxIngest+1)
	}
}

// FuzzParseBatchFast: whatever body the fast path takes, it reads as the
// decoder does.
func FuzzParseBatchFast(f *testing.F) {
	f.Add([]byte(`{"records":[{"license":"l-1","dimension":"d","quantity":1,"timestamp":"2026-11-02T12:15:00Z","idempotencyKey":"k"}]}`))
	f.Add([]byte(`{"records":[{"tenant":"t","dimension":"d","quantity":-0,"timestamp":"2026-11-02T12:15:00+01:00","idempotencyKey":"k"}, {}]}`))
	f.Fuzz(func(t *testing.T, body []byte) { sameParse(t, body) })
}
