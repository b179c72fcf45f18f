package smithyio

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

func TestCBORRoundTrip(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 3, 2, 15, 4, 5, 0, time.UTC)
	in := map[string]any{"s": "x", "n": int64(-5), "big": int64(math.MaxInt64), "min": int64(-math.MaxInt64), "b": true,
		"f": 1.5, "t": ts, "l": []any{int64(1), "two"}, "m": map[string]any{"k": int64(0)}}
	got, err := DecodeCBOR(cbor.Encode(ToCBOR(in)))
	if err != nil {
		t.Fatal(err)
	}
	if gt := got["t"].(time.Time); !gt.Equal(ts) {
		t.Fatalf("time %v", gt)
	}
	got["t"] = ts
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, in)
	}
}

func TestNegIntIsMinusN(t *testing.T) {
	t.Parallel()
	// smithy's NegInt(n) stands for -n; an off-by-one here corrupts every negative number.
	if v, _ := FromCBOR(cbor.NegInt(1)); v != int64(-1) {
		t.Fatalf("NegInt(1) = %v", v)
	}
	if CBORInt(-1) != cbor.NegInt(1) {
		t.Fatal("CBORInt(-1) must be NegInt(1)")
	}
	if v, _ := FromCBOR(cbor.NegInt(0)); v != math.Inf(-1) {
		t.Fatalf("NegInt(0) (-2^64) = %v, want -Inf (out of range)", v)
	}
}

func TestDecodeJSONRejectsNonStructures(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`[1]`, `"s"`, `{} {}`, `{`} {
		if _, err := DecodeJSON([]byte(body)); err == nil {
			t.Errorf("%s accepted", body)
		}
	}
	if m, err := DecodeJSON([]byte(" ")); err != nil || len(m) != 0 {
		t.Fatalf("empty body: %v %v", m, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"a":[1,2.5,"x",null,{"b":true}]}`))
	f.Add(cbor.Encode(cbor.Map{"a": cbor.List{cbor.Uint(1), &cbor.Tag{ID: 1, Value: cbor.Uint(5)}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := DecodeCBOR(b); err == nil {
			ToCBOR(m) // anything decoded must encode again
			ToJSON(m)
		}
		if m, err := DecodeJSON(b); err == nil {
			ToJSON(m)
		}
	})
}
