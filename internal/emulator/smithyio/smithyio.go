// Package smithyio converts between the wire encodings the AWS SDKs use (Smithy
// RPC v2 CBOR and AWS JSON) and one protocol-neutral value model, so every
// emulated service decodes requests and encodes responses the same way.
//
// Neutral values are string, int64, float64 (±Inf for numbers out of every
// modeled range), bool, []byte, time.Time, []any, map[string]any, or nil
// (omitted on output).
package smithyio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// DecodeCBOR decodes an RPC v2 CBOR request body; an empty body is an empty
// input structure.
func DecodeCBOR(p []byte) (map[string]any, error) {
	if len(p) == 0 {
		return map[string]any{}, nil
	}
	v, err := cbor.Decode(p)
	if err != nil {
		return nil, err
	}
	n, err := FromCBOR(v)
	if err != nil {
		return nil, err
	}
	return asStructure(n)
}

// DecodeJSON decodes an AWS JSON request body; an empty body is an empty input
// structure, and trailing data is an error.
func DecodeJSON(p []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(p)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the input structure")
	}
	return asStructure(FromJSON(v))
}

func asStructure(n any) (map[string]any, error) {
	switch m := n.(type) {
	case map[string]any:
		return m, nil
	case nil:
		return map[string]any{}, nil
	default:
		return nil, fmt.Errorf("the input must be a structure, got %s", KindOf(n))
	}
}

// FromCBOR converts a decoded CBOR value to a neutral value.
func FromCBOR(v cbor.Value) (any, error) {
	switch v := v.(type) {
	case cbor.Uint:
		if uint64(v) > math.MaxInt64 {
			return math.Inf(1), nil // out of range for every modeled integer
		}
		return int64(v), nil
	case cbor.NegInt:
		// NegInt(n) is the integer -n; NegInt(0) is -2^64.
		if v == 0 || uint64(v) > math.MaxInt64 {
			return math.Inf(-1), nil
		}
		return -int64(v), nil
	case cbor.Float32:
		return float64(v), nil
	case cbor.Float64:
		return float64(v), nil
	case cbor.String:
		return string(v), nil
	case cbor.Slice:
		return []byte(v), nil
	case cbor.Bool:
		return bool(v), nil
	case *cbor.Nil, *cbor.Undefined, nil:
		return nil, nil
	case cbor.List:
		out := make([]any, 0, len(v))
		for _, e := range v {
			n, err := FromCBOR(e)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	case cbor.Map:
		out := make(map[string]any, len(v))
		for k, e := range v {
			n, err := FromCBOR(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case *cbor.Tag:
		if v == nil {
			return nil, nil
		}
		if v.ID == 1 {
			t, err := cbor.AsTime(v)
			if err != nil {
				return nil, err
			}
			return t, nil
		}
		return nil, fmt.Errorf("unsupported CBOR tag %d", v.ID)
	default:
		return nil, fmt.Errorf("unsupported CBOR value %T", v)
	}
}

// FromJSON converts a json.Decoder (UseNumber) value to a neutral value, in place.
func FromJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, err := v.Float64()
		if err != nil { // beyond float64: out of range for every modeled number
			if strings.HasPrefix(string(v), "-") {
				return math.Inf(-1)
			}
			return math.Inf(1)
		}
		return f
	case []any:
		for i, e := range v {
			v[i] = FromJSON(e)
		}
		return v
	case map[string]any:
		for k, e := range v {
			v[k] = FromJSON(e)
		}
		return v
	default: // string, bool, nil
		return v
	}
}

// KindOf names a neutral value's kind for error messages.
func KindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a structure"
	case []byte:
		return "a blob"
	case time.Time:
		return "a timestamp"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// ToCBOR encodes a neutral value (int and int32 too); nil members and list
// elements are omitted. Timestamps are tag 1, whole seconds when they are.
func ToCBOR(v any) cbor.Value {
	switch v := v.(type) {
	case string:
		return cbor.String(v)
	case int64:
		return CBORInt(v)
	case int32:
		return CBORInt(int64(v))
	case int:
		return CBORInt(int64(v))
	case bool:
		return cbor.Bool(v)
	case []byte:
		return cbor.Slice(v)
	case float64:
		return cbor.Float64(v)
	case time.Time:
		ms := v.UnixMilli()
		if ms%1000 == 0 {
			return &cbor.Tag{ID: 1, Value: CBORInt(ms / 1000)}
		}
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(ms) / 1e3)}
	case []any:
		l := make(cbor.List, 0, len(v))
		for _, e := range v {
			if e == nil {
				continue
			}
			l = append(l, ToCBOR(e))
		}
		return l
	case map[string]any:
		m := make(cbor.Map, len(v))
		for k, e := range v {
			if e == nil {
				continue
			}
			m[k] = ToCBOR(e)
		}
		return m
	default:
		panic(fmt.Sprintf("smithyio: cannot encode %T", v))
	}
}

// CBORInt encodes an integer; smithy's NegInt(n) is -n.
func CBORInt(i int64) cbor.Value {
	if i >= 0 {
		return cbor.Uint(uint64(i))
	}
	return cbor.NegInt(uint64(-i))
}

// ToJSON prepares a neutral value for encoding/json: timestamps become epoch
// seconds and nil members are omitted.
func ToJSON(v any) any {
	switch v := v.(type) {
	case time.Time:
		ms := v.UnixMilli()
		if ms%1000 == 0 {
			return json.Number(strconv.FormatInt(ms/1000, 10))
		}
		return json.Number(strconv.FormatFloat(float64(ms)/1e3, 'f', -1, 64))
	case []any:
		l := make([]any, 0, len(v))
		for _, e := range v {
			if e == nil {
				continue
			}
			l = append(l, ToJSON(e))
		}
		return l
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			if e == nil {
				continue
			}
			m[k] = ToJSON(e)
		}
		return m
	default:
		return v
	}
}

// CBOROperation extracts the operation from an RPC v2 CBOR path,
// ".../service/<Service>/operation/<Op>" (the emulator may be mounted under a
// prefix). ok reports whether the path has that shape at all; op is empty when
// the path names another service.
func CBOROperation(path, service string) (op string, ok bool) {
	i := strings.LastIndex(path, "/service/")
	if i < 0 {
		return "", false
	}
	svc, rest, found := strings.Cut(path[i+len("/service/"):], "/operation/")
	if !found || svc == "" || rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	if svc != service {
		return "", true
	}
	return rest, true
}
