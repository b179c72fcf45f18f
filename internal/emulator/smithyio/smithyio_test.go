package smithyio

import (
	"encoding/json"
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

// FuzzDecode: whatever decodes must encode again and decode to the same
// value, in CBOR and in JSON (nil members dropped, timestamps to the
// millisecond, as the encoders document).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"a":[1,2.5,"x",null,{"b":true}],"n":-5}`))
	f.Add(cbor.Encode(cbor.Map{"a": cbor.List{cbor.Uint(1), &cbor.Tag{ID: 1, Value: cbor.Uint(5)}}, "n": cbor.NegInt(7),
		"t": &cbor.Tag{ID: 1, Value: cbor.Float64(1.2345)}, "b": cbor.Slice("xy"), "z": &cbor.Nil{}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := DecodeCBOR(b); err == nil {
			again, err := DecodeCBOR(cbor.Encode(ToCBOR(m)))
			if err != nil {
				t.Fatalf("%#v encodes to CBOR that does not decode: %v", m, err)
			}
			if want, got := canon(m), canon(again); !reflect.DeepEqual(got, want) {
				t.Fatalf("CBOR round trip:\n got %#v\nwant %#v", got, want)
			}
			ToJSON(m)
		}
		if m, err := DecodeJSON(b); err == nil {
			out, err := json.Marshal(ToJSON(m))
			if err != nil {
				if hasInf(m) {
					return // a number beyond float64: refused by every modeled member, never echoed
				}
				t.Fatalf("%#v does not encode to JSON: %v", m, err)
			}
			again, err := DecodeJSON(out)
			if err != nil {
				t.Fatalf("%s does not decode: %v", out, err)
			}
			if want, got := canon(m), canon(again); !reflect.DeepEqual(got, want) {
				t.Fatalf("JSON round trip:\n got %#v\nwant %#v", got, want)
			}
		}
	})
}

// canon is a neutral value as the encoders promise to carry it: without nil
// members or elements, timestamps to the millisecond, NaN comparable.
func canon(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range v {
			if e != nil {
				m[k] = canon(e)
			}
		}
		return m
	case []any:
		l := []any{}
		for _, e := range v {
			if e != nil {
				l = append(l, canon(e))
			}
		}
		return l
	case time.Time:
		return v.UnixMilli()
	case float64:
		if math.IsNaN(v) {
			return "NaN"
		}
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v) // JSON carries 2.0 as 2
		}
	}
	return v
}

func hasInf(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if hasInf(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasInf(e) {
				return true
			}
		}
	case float64:
		return math.IsInf(v, 0) || math.IsNaN(v)
	}
	return false
}
