package agreementapi

import (
	"math"

	"github.com/concordmp/concord/internal/emulator/smithyio"
)

// obj is a protocol-neutral structure. Values are string, int64, bool,
// float64, time.Time, []any, obj, or nil (omitted on output).
type obj = map[string]any

// The wire conversions are shared with the other emulated services.
var (
	decodeCBORBody = smithyio.DecodeCBOR
	decodeJSONBody = smithyio.DecodeJSON
	kindOf         = smithyio.KindOf
	toCBOR         = smithyio.ToCBOR
	toJSON         = smithyio.ToJSON
)

// ---- requests ----

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

// ---- responses ----
