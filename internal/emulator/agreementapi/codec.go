package agreementapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// obj is a protocol-neutral structure. Values are string, int64, bool,
// float64, time.Time, []any, obj, or nil (omitted on output).
type obj = map[string]any

// ---- requests ----

// decodeCBORBody decodes an RPC v2 CBOR request body into a neutral obj. An
// empty body is an empty input structure.
func decodeCBORBody(p []byte) (obj, error) {
	if len(p) == 0 {
		return obj{}, nil
	}
	v, err := cbor.Decode(p)
	if err != nil {
		return nil, err
	}
	n, err := fromCBOR(v)
	if err != nil {
		return nil, err
	}
	switch m := n.(type) {
	case obj:
		return m, nil
	case nil:
		return obj{}, nil
	default:
		return nil, fmt.Errorf("expected a map for the input structure, got %T", n)
	}
}

func fromCBOR(v cbor.Value) (any, error) {
	switch v := v.(type) {
	case cbor.Uint:
		if uint64(v) > math.MaxInt64 {
			return float64(v), nil // out of range for every modeled integer
		}
		return int64(v), nil
	case cbor.NegInt:
		// smithy's NegInt(n) is -n, with NegInt(0) standing for -2^64.
		if v == 0 || uint64(v) > math.MaxInt64 {
			return -math.MaxFloat64, nil
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
			n, err := fromCBOR(e)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	case cbor.Map:
		out := make(obj, len(v))
		for k, e := range v {
			n, err := fromCBOR(e)
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

// decodeJSONBody decodes an AWS JSON request body into a neutral obj. An
// empty body is an empty input structure.
func decodeJSONBody(p []byte) (obj, error) {
	if len(bytes.TrimSpace(p)) == 0 {
		return obj{}, nil
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
	n := fromJSON(v)
	switch m := n.(type) {
	case obj:
		return m, nil
	case nil:
		return obj{}, nil
	default:
		return nil, fmt.Errorf("expected an object for the input structure, got %T", n)
	}
}

func fromJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, err := v.Float64()
		if err != nil {
			// Too large for float64: out of range for every modeled number.
			return math.Inf(1)
		}
		return f
	case []any:
		for i, e := range v {
			v[i] = fromJSON(e)
		}
		return v
	case map[string]any:
		for k, e := range v {
			v[k] = fromJSON(e)
		}
		return obj(v)
	default: // string, bool, nil
		return v
	}
}

// input reads typed members of a decoded input structure. Wrong types are
// SerializationExceptions, as on the real service.
type input struct{ m obj }

func (in input) str(name string) (string, bool, *APIError) {
	return asString(in.m[name], name)
}

func asString(v any, name string) (string, bool, *APIError) {
	switch v := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return v, true, nil
	default:
		return "", false, serializationError("member %s: expected a string, got %s", name, kindOf(v))
	}
}

func (in input) integer(name string) (int64, bool, *APIError) {
	switch v := in.m[name].(type) {
	case nil:
		return 0, false, nil
	case int64:
		return v, true, nil
	case float64:
		// Integers outside the int32 range are clamped so that range
		// validation rejects them.
		switch {
		case math.IsInf(v, 1) || v > math.MaxInt32:
			return math.MaxInt32 + 1, true, nil
		case math.IsInf(v, -1) || v < math.MinInt32:
			return math.MinInt32 - 1, true, nil
		case v != math.Trunc(v): // fractions and NaN
			return 0, false, serializationError("member %s: expected an integer, got %v", name, v)
		}
		return int64(v), true, nil
	default:
		return 0, false, serializationError("member %s: expected an integer, got %s", name, kindOf(v))
	}
}

func (in input) list(name string) ([]any, bool, *APIError) {
	return asList(in.m[name], name)
}

func asList(v any, name string) ([]any, bool, *APIError) {
	switch v := v.(type) {
	case nil:
		return nil, false, nil
	case []any:
		return v, true, nil
	default:
		return nil, false, serializationError("member %s: expected a list, got %s", name, kindOf(v))
	}
}

func (in input) object(name string) (input, bool, *APIError) {
	return asObject(in.m[name], name)
}

func asObject(v any, name string) (input, bool, *APIError) {
	switch v := v.(type) {
	case nil:
		return input{obj{}}, false, nil
	case obj:
		return input{v}, true, nil
	default:
		return input{obj{}}, false, serializationError("member %s: expected a structure, got %s", name, kindOf(v))
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case obj:
		return "a structure"
	case []byte:
		return "a blob"
	case time.Time:
		return "a timestamp"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// ---- responses ----

func toCBOR(v any) cbor.Value {
	switch v := v.(type) {
	case string:
		return cbor.String(v)
	case int64:
		return cborInt(v)
	case int32:
		return cborInt(int64(v))
	case int:
		return cborInt(int64(v))
	case bool:
		return cbor.Bool(v)
	case float64:
		return cbor.Float64(v)
	case time.Time:
		ms := v.UnixMilli()
		if ms%1000 == 0 {
			return &cbor.Tag{ID: 1, Value: cborInt(ms / 1000)}
		}
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(ms) / 1e3)}
	case []any:
		l := make(cbor.List, 0, len(v))
		for _, e := range v {
			if e == nil {
				continue
			}
			l = append(l, toCBOR(e))
		}
		return l
	case obj:
		m := make(cbor.Map, len(v))
		for k, e := range v {
			if e == nil {
				continue
			}
			m[k] = toCBOR(e)
		}
		return m
	default:
		panic(fmt.Sprintf("agreementapi: cannot encode %T", v))
	}
}

func cborInt(i int64) cbor.Value {
	if i >= 0 {
		return cbor.Uint(uint64(i))
	}
	return cbor.NegInt(uint64(-i))
}

func toJSON(v any) any {
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
			l = append(l, toJSON(e))
		}
		return l
	case obj:
		m := make(map[string]any, len(v))
		for k, e := range v {
			if e == nil {
				continue
			}
			m[k] = toJSON(e)
		}
		return m
	default:
		return v
	}
}
