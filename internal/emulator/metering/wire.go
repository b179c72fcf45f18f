package metering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
)

// number is a JSON number kept as its literal so it can be echoed exactly as
// received. Unlike json.Number it refuses quoted strings: awsJson1_1 sends
// integers and timestamps as bare numbers.
type number string

func (n *number) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return fmt.Errorf("expected a JSON number, got %.40s", b)
	}
	*n = number(b)
	return nil
}

func (n number) MarshalJSON() ([]byte, error) {
	if n == "" {
		return []byte("0"), nil
	}
	return []byte(n), nil
}

// int32Value parses an integer member (Quantity, UsageQuantity,
// AllocatedUsageQuantity). ok is false when the literal is not an integer
// that fits a Java Integer (the service would fail to deserialize it).
func (n number) int32Value() (int64, bool) {
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false
	}
	return v, true
}

// timeValue parses an epoch-seconds timestamp (possibly fractional) the way
// the SDK does: truncated to the millisecond, in UTC. ok is false for
// values no clock can represent; they are out of bounds.
func (n number) timeValue() (time.Time, bool) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e13 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(math.Trunc(f * 1000))).UTC(), true
}

// Wire shapes, named and spelled as the awsJson1_1 members.

type wireTag struct {
	Key   *string `json:"Key,omitempty"`
	Value *string `json:"Value,omitempty"`
}

type wireAllocation struct {
	AllocatedUsageQuantity *number   `json:"AllocatedUsageQuantity,omitempty"`
	Tags                   []wireTag `json:"Tags,omitempty"`
}

type wireRecord struct {
	CustomerAWSAccountId *string          `json:"CustomerAWSAccountId,omitempty"`
	CustomerIdentifier   *string          `json:"CustomerIdentifier,omitempty"`
	Dimension            *string          `json:"Dimension,omitempty"`
	LicenseArn           *string          `json:"LicenseArn,omitempty"`
	Quantity             *number          `json:"Quantity,omitempty"`
	Timestamp            *number          `json:"Timestamp,omitempty"`
	UsageAllocations     []wireAllocation `json:"UsageAllocations,omitempty"`
}

type batchInput struct {
	ProductCode  *string      `json:"ProductCode"`
	UsageRecords []wireRecord `json:"UsageRecords"`
}

type wireResult struct {
	MeteringRecordId *string     `json:"MeteringRecordId,omitempty"`
	Status           string      `json:"Status"`
	UsageRecord      *wireRecord `json:"UsageRecord"`
}

type batchOutput struct {
	Results            []wireResult `json:"Results"`
	UnprocessedRecords []wireRecord `json:"UnprocessedRecords"`
}

type resolveInput struct {
	RegistrationToken *string `json:"RegistrationToken"`
}

type resolveOutput struct {
	CustomerAWSAccountId string `json:"CustomerAWSAccountId,omitempty"`
	CustomerIdentifier   string `json:"CustomerIdentifier,omitempty"`
	LicenseArn           string `json:"LicenseArn,omitempty"`
	ProductCode          string `json:"ProductCode,omitempty"`
}

type meterUsageInput struct {
	ClientToken      *string          `json:"ClientToken"`
	DryRun           *bool            `json:"DryRun"`
	ProductCode      *string          `json:"ProductCode"`
	Timestamp        *number          `json:"Timestamp"`
	UsageAllocations []wireAllocation `json:"UsageAllocations"`
	UsageDimension   *string          `json:"UsageDimension"`
	UsageQuantity    *number          `json:"UsageQuantity"`
}

type meterUsageOutput struct {
	MeteringRecordId *string `json:"MeteringRecordId,omitempty"`
}

// decode reads an awsJson body. An empty body is an empty object (the SDK
// always sends at least "{}"); anything that is not one JSON object of the
// right member types is a SerializationException.
func decode(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "the request body"
		}
		return newError(CodeSerialization, "Unexpected %s value for %s.", te.Value, clip(field, 200))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return newError(CodeSerialization, "Malformed JSON at offset %d.", se.Offset)
	}
	return newError(CodeSerialization, "The request body could not be parsed: %s", clip(err.Error(), 200))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Limits of the service model.
const (
	maxDimensionLen   = 255
	maxAllocations    = 2500
	maxTagsPerAlloc   = 5
	maxTagKeyLen      = 100
	maxTagValueLen    = 256
	maxIdentifierLen  = 255
	maxProductCodeLen = 255
)

var (
	// tagPattern is the model's pattern for tag keys and values, verbatim.
	// " -=" is a range: it admits every ASCII character from space to '='.
	tagPattern     = regexp.MustCompile(`^[a-zA-Z0-9+ -=._:\/@]+$`)
	accountPattern = regexp.MustCompile(`^[0-9]+$`)
)

// record is one usage record after shape validation.
type record struct {
	wire       *wireRecord
	index      int
	dimension  string
	quantity   int64
	ts         time.Time
	tsOK       bool // false: the timestamp is not representable (out of bounds)
	account    string
	customer   string // legacy CustomerIdentifier
	licenseArn string
	allocJSON  json.RawMessage
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// shapeRecord checks what the model's constraints say of one record (what
// AWS's front end answers with ValidationException) and extracts it.
func shapeRecord(i int, w *wireRecord) (record, *apiError) {
	r := record{wire: w, index: i, dimension: str(w.Dimension), account: str(w.CustomerAWSAccountId),
		customer: str(w.CustomerIdentifier), licenseArn: str(w.LicenseArn)}
	at := fmt.Sprintf("usageRecords.%d", i+1)
	if w.Timestamp == nil {
		return r, validation(at+".member.timestamp", "Member must not be null")
	}
	if w.Dimension == nil {
		return r, validation(at+".member.dimension", "Member must not be null")
	}
	if n := len(r.dimension); n < 1 || n > maxDimensionLen {
		return r, validation(at+".member.dimension", "Member must have length between 1 and 255")
	}
	if w.Quantity != nil {
		q, ok := w.Quantity.int32Value()
		if !ok {
			return r, newError(CodeSerialization, "Quantity of UsageRecords[%d] must be an integer between 0 and 2147483647.", i)
		}
		if q < 0 {
			return r, validation(at+".member.quantity", "Member must have value greater than or equal to 0")
		}
		r.quantity = q
	}
	if w.CustomerAWSAccountId != nil && (len(r.account) > maxIdentifierLen || !accountPattern.MatchString(r.account)) {
		return r, validation(at+".member.customerAWSAccountId", "Member must satisfy regular expression pattern: ^[0-9]+$")
	}
	if len(r.customer) > maxIdentifierLen {
		return r, validation(at+".member.customerIdentifier", "Member must have length less than or equal to 255")
	}
	r.ts, r.tsOK = w.Timestamp.timeValue()
	if w.UsageAllocations != nil {
		b, _ := json.Marshal(w.UsageAllocations)
		r.allocJSON = b
	}
	return r, nil
}

func validation(member, constraint string) *apiError {
	return newError(CodeValidation, "1 validation error detected: Value at '%s' failed to satisfy constraint: %s", member, constraint)
}

// checkAllocations applies the UsageAllocations rules to one record or
// MeterUsage request: 1-2500 allocations whose quantities sum to the usage
// quantity, each with no tags (the untagged bucket) or 1-5 valid tags with
// distinct keys, and no two allocations with the same tag set.
func checkAllocations(where string, allocs []wireAllocation, quantity int64) *apiError {
	if allocs == nil {
		return nil
	}
	if len(allocs) < 1 || len(allocs) > maxAllocations {
		return newError(CodeInvalidUsageAllocations, "%s has %d UsageAllocations; between 1 and %d are allowed.", where, len(allocs), maxAllocations)
	}
	var sum int64
	sets := make(map[string]bool, len(allocs))
	for j, a := range allocs {
		if a.AllocatedUsageQuantity == nil {
			return newError(CodeInvalidUsageAllocations, "%s UsageAllocations[%d] has no AllocatedUsageQuantity.", where, j)
		}
		q, ok := a.AllocatedUsageQuantity.int32Value()
		if !ok || q < 0 {
			return newError(CodeInvalidUsageAllocations, "%s UsageAllocations[%d] AllocatedUsageQuantity must be an integer between 0 and 2147483647.", where, j)
		}
		sum += q
		if a.Tags != nil {
			if len(a.Tags) < 1 || len(a.Tags) > maxTagsPerAlloc {
				return newError(CodeInvalidTag, "%s UsageAllocations[%d] has %d tags; between 1 and %d are allowed (omit Tags for the untagged bucket).", where, j, len(a.Tags), maxTagsPerAlloc)
			}
		}
		keys := make(map[string]string, len(a.Tags))
		for k, t := range a.Tags {
			key, value := str(t.Key), str(t.Value)
			if t.Key == nil || len(key) < 1 || len(key) > maxTagKeyLen || !tagPattern.MatchString(key) {
				return newError(CodeInvalidTag, "%s UsageAllocations[%d].Tags[%d]: the key must be 1-%d characters matching ^[a-zA-Z0-9+ -=._:\\/@]+$.", where, j, k, maxTagKeyLen)
			}
			if t.Value == nil || len(value) < 1 || len(value) > maxTagValueLen || !tagPattern.MatchString(value) {
				return newError(CodeInvalidTag, "%s UsageAllocations[%d].Tags[%d]: the value must be 1-%d characters matching ^[a-zA-Z0-9+ -=._:\\/@]+$.", where, j, k, maxTagValueLen)
			}
			if _, dup := keys[key]; dup {
				return newError(CodeInvalidTag, "%s UsageAllocations[%d] repeats the tag key %q.", where, j, key)
			}
			keys[key] = value
		}
		set, _ := json.Marshal(keys) // map keys marshal sorted: a canonical tag set
		if sets[string(set)] {
			return newError(CodeInvalidUsageAllocations, "%s UsageAllocations[%d] repeats the tag set of an earlier allocation; each allocation needs a unique set of tags.", where, j)
		}
		sets[string(set)] = true
	}
	if sum != quantity {
		return newError(CodeInvalidUsageAllocations, "%s: the allocated quantities sum to %d, not to the usage quantity %d.", where, sum, quantity)
	}
	return nil
}
