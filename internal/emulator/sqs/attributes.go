package sqs

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	maxMessageAttributes   = 10
	maxAttributeNameLength = 256
	maxDataTypeLength      = 256
)

// messageAttr is a validated message (or message system) attribute.
type messageAttr struct {
	dataType string
	str      string // String and Number types
	bin      []byte // Binary types
}

func (a messageAttr) isBinary() bool { return strings.HasPrefix(a.dataType, "Binary") }

func (a messageAttr) size() int {
	return len(a.dataType) + len(a.str) + len(a.bin)
}

func (a messageAttr) wire() attributeValue {
	dt := a.dataType
	v := attributeValue{DataType: &dt}
	if a.isBinary() {
		v.BinaryValue = slices.Clone(a.bin)
	} else {
		s := a.str
		v.StringValue = &s
	}
	return v
}

// validBody reports whether s only holds characters SQS accepts:
// #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
func validBody(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
		i += n
	}
	return true
}

func validAttributeName(name string) bool {
	if name == "" || len(name) > maxAttributeNameLength {
		return false
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return false
	}
	if name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return false
	}
	for _, c := range []byte(name) {
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validateMessageAttributes checks user message attributes the way SQS
// documents them and returns them in validated form.
func validateMessageAttributes(in map[string]attributeValue) (map[string]messageAttr, *apiError) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > maxMessageAttributes {
		return nil, errInvalidParameterValue(
			"Number of message attributes [%d] exceeds the allowed maximum [%d].", len(in), maxMessageAttributes)
	}
	out := make(map[string]messageAttr, len(in))
	for name, v := range in {
		if !validAttributeName(name) {
			return nil, errInvalidParameterValue("Message (user) attribute name '%s' is invalid.", truncate(name, 256))
		}
		a, err := validateAttributeValue("user", name, v)
		if err != nil {
			return nil, err
		}
		out[name] = a
	}
	return out, nil
}

// validateSystemAttributes checks MessageSystemAttributes; SQS only accepts
// AWSTraceHeader of type String.
func validateSystemAttributes(in map[string]attributeValue) (map[string]messageAttr, *apiError) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]messageAttr, len(in))
	for name, v := range in {
		if name != "AWSTraceHeader" {
			return nil, errInvalidParameterValue("Message system attribute name '%s' is invalid.", truncate(name, 256))
		}
		a, err := validateAttributeValue("system", name, v)
		if err != nil {
			return nil, err
		}
		if a.dataType != "String" {
			return nil, errInvalidParameterValue("Message system attribute '%s' must be of type String.", name)
		}
		out[name] = a
	}
	return out, nil
}

func validateAttributeValue(kind, name string, v attributeValue) (messageAttr, *apiError) {
	if v.DataType == nil || *v.DataType == "" {
		return messageAttr{}, errInvalidParameterValue(
			"The message (%s) attribute '%s' must contain a non-empty message attribute type.", kind, name)
	}
	dt := *v.DataType
	base, custom, hasCustom := strings.Cut(dt, ".")
	if len(dt) > maxDataTypeLength || (base != "String" && base != "Number" && base != "Binary") ||
		(hasCustom && (custom == "" || !validBody(custom))) {
		return messageAttr{}, errInvalidParameterValue(
			"The type of message (%s) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", kind, name)
	}
	if len(v.StringListValues) > 0 || len(v.BinaryListValues) > 0 {
		return messageAttr{}, errInvalidParameterValue(
			"Message (%s) attribute '%s': list values are not supported.", kind, name)
	}
	a := messageAttr{dataType: dt}
	switch base {
	case "Binary":
		if len(v.BinaryValue) == 0 || v.StringValue != nil {
			return messageAttr{}, errInvalidParameterValue(
				"The message (%s) attribute '%s' must contain a non-empty value of type 'Binary'.", kind, name)
		}
		a.bin = slices.Clone(v.BinaryValue)
	default:
		if v.StringValue == nil || *v.StringValue == "" || len(v.BinaryValue) > 0 {
			return messageAttr{}, errInvalidParameterValue(
				"The message (%s) attribute '%s' must contain a non-empty value of type '%s'.", kind, name, base)
		}
		if !validBody(*v.StringValue) {
			return messageAttr{}, errInvalidMessageContents()
		}
		if base == "Number" {
			f, err := strconv.ParseFloat(*v.StringValue, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return messageAttr{}, errInvalidParameterValue(
					"Can't cast the value of message (%s) attribute '%s' to a number.", kind, name)
			}
		}
		a.str = *v.StringValue
	}
	return a, nil
}

// attributesMD5 computes the MD5 digest SQS reports for a set of message
// attributes: for every attribute in name order, the 4-byte big-endian length
// and bytes of the name and of the data type, a transport byte (1 for String
// and Number, 2 for Binary), then the 4-byte length and bytes of the value.
// It returns "" for an empty set.
func attributesMD5(attrs map[string]messageAttr) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	slices.Sort(names)
	h := md5.New()
	var lenBuf [4]byte
	writeLen := func(b []byte) {
		binary.BigEndian.PutUint32(lenBuf[:], uint32(len(b)))
		h.Write(lenBuf[:])
		h.Write(b)
	}
	for _, name := range names {
		a := attrs[name]
		writeLen([]byte(name))
		writeLen([]byte(a.dataType))
		if a.isBinary() {
			h.Write([]byte{2})
			writeLen(a.bin)
		} else {
			h.Write([]byte{1})
			writeLen([]byte(a.str))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func bodyMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// selectAttributes returns the attributes that match the requested
// MessageAttributeNames: "All" or ".*" select everything, "prefix.*" selects
// by prefix, anything else by exact name.
func selectAttributes(attrs map[string]messageAttr, names []string) map[string]messageAttr {
	if len(attrs) == 0 || len(names) == 0 {
		return nil
	}
	out := make(map[string]messageAttr)
	for _, want := range names {
		if want == "All" || want == ".*" {
			return attrs
		}
		if prefix, ok := strings.CutSuffix(want, ".*"); ok {
			for name, a := range attrs {
				if strings.HasPrefix(name, prefix+".") {
					out[name] = a
				}
			}
			continue
		}
		if a, ok := attrs[want]; ok {
			out[want] = a
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
