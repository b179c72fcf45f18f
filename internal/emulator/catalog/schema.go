package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The DetailsDocument of every change type is checked against a declarative
// shape (shapes.go) by one walker, so that the emulator refuses what AWS's
// schema refuses: members a shape does not declare, JSON values of the wrong
// type, values outside a pattern, enum, length, list size or numeric limit,
// and missing required members. The typed structs in details.go are only
// decoded after a document passed, for apply.go.

type kind int

const (
	kObject kind = iota
	kString
	kInt
	kArray
)

// shape is one JSON shape of a DetailsDocument.
type shape struct {
	kind kind
	// objects: the declared members; any other member is refused.
	members map[string]member
	// objects whose shape depends on their "Type" member (the term unions).
	byType map[string]*shape
	// arrays
	item               *shape
	minItems, maxItems int
	// strings
	pattern        *regexp.Regexp
	notEqual       string // a value the pattern admits but the shape does not ("P" for durations)
	hint           string // what a matching value looks like, for the error message
	enum           []string
	minLen, maxLen int
	// integers
	min, max int64
	// rule is a cross-member rule of an object that the shape library states
	// in a model's docstring (e.g. "Any of [...] is required").
	rule func(obj map[string]any) string
}

type member struct {
	s        *shape
	required bool
}

func req(s *shape) member { return member{s: s, required: true} }
func opt(s *shape) member { return member{s: s} }

func object(members map[string]member) *shape { return &shape{kind: kObject, members: members} }

func listOf(item *shape, min, max int) *shape {
	return &shape{kind: kArray, item: item, minItems: min, maxItems: max}
}

func text(min, max int) *shape { return &shape{kind: kString, minLen: min, maxLen: max} }

func pattern(p, hint string) *shape {
	return &shape{kind: kString, pattern: regexp.MustCompile(p), hint: hint}
}

func enum(values ...string) *shape { return &shape{kind: kString, enum: values} }

func integer(min, max int64) *shape { return &shape{kind: kInt, min: min, max: max} }

// union is a list item whose members are chosen by its "Type".
func union(types map[string]*shape) *shape { return &shape{kind: kObject, byType: types} }

// withRule returns s with a cross-member rule.
func (s *shape) withRule(rule func(map[string]any) string) *shape {
	c := *s
	c.rule = rule
	return &c
}

// anyOf is the rule "Any of [names] is required".
func anyOf(names ...string) func(map[string]any) string {
	return func(obj map[string]any) string {
		for _, n := range names {
			if _, ok := obj[n]; ok {
				return ""
			}
		}
		return "any of " + strings.Join(names, ", ") + " is required"
	}
}

// parseDocument decodes a details document keeping numbers exact.
func parseDocument(raw json.RawMessage) (any, *problem) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &problem{field: "DetailsDocument", msg: "the details could not be parsed: " + jsonProblem(err), reason: "CannotParse"}
	}
	if dec.More() {
		return nil, &problem{field: "DetailsDocument", msg: "the details must be one JSON object", reason: "CannotParse"}
	}
	return v, nil
}

// validateDocument checks a details document against its change type's shape.
func validateDocument(s *shape, raw json.RawMessage) *problem {
	v, p := parseDocument(raw)
	if p != nil {
		return p
	}
	return walk("", v, s)
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// typeProblem is a JSON value of the wrong type, which AWS's deserializer
// refuses before any rule runs.
func typeProblem(field, want string, v any) *problem {
	return &problem{field: field, msg: fmt.Sprintf("%s must be %s, not %s", field, want, jsonType(v)), reason: "CannotParse"}
}

func walk(path string, v any, s *shape) *problem {
	field := path
	if field == "" {
		field = "DetailsDocument"
	}
	switch s.kind {
	case kObject:
		obj, ok := v.(map[string]any)
		if !ok {
			return typeProblem(field, "an object", v)
		}
		if s.byType != nil {
			typ, _ := obj["Type"].(string)
			ts := s.byType[typ]
			if ts == nil {
				names := make([]string, 0, len(s.byType))
				for n := range s.byType {
					names = append(names, n)
				}
				sort.Strings(names)
				return fieldProblem(joinPath(path, "Type"), "Type must be one of %s, not %s", strings.Join(names, ", "), describeValue(obj["Type"]))
			}
			return walk(path, v, ts)
		}
		names := make([]string, 0, len(obj))
		for n := range obj {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			m, ok := s.members[n]
			if !ok && len(s.members) == 0 {
				return fieldProblem(field, "the details of this change type must be {}, not a document with %s", n)
			}
			if !ok {
				return fieldProblem(joinPath(path, n), "%s is not a member of this shape (allowed: %s)", joinPath(path, n), memberNames(s))
			}
			if p := walk(joinPath(path, n), obj[n], m.s); p != nil {
				return p
			}
		}
		required := make([]string, 0, len(s.members))
		for n, m := range s.members {
			if m.required {
				required = append(required, n)
			}
		}
		sort.Strings(required)
		for _, n := range required {
			if _, ok := obj[n]; !ok {
				return fieldProblem(joinPath(path, n), "%s is required", joinPath(path, n))
			}
		}
		if s.rule != nil {
			if msg := s.rule(obj); msg != "" {
				return fieldProblem(field, "%s: %s", field, msg)
			}
		}
	case kArray:
		arr, ok := v.([]any)
		if !ok {
			return typeProblem(field, "an array", v)
		}
		if len(arr) < s.minItems || (s.maxItems > 0 && len(arr) > s.maxItems) {
			if s.maxItems > 0 {
				return fieldProblem(field, "%s must list %d to %d items, not %d", field, s.minItems, s.maxItems, len(arr))
			}
			return fieldProblem(field, "%s must list at least %d items", field, s.minItems)
		}
		for i, it := range arr {
			if p := walk(fmt.Sprintf("%s[%d]", path, i), it, s.item); p != nil {
				return p
			}
		}
	case kString:
		str, ok := v.(string)
		if !ok {
			return typeProblem(field, "a string", v)
		}
		n := utf8.RuneCountInString(str)
		if n < s.minLen || (s.maxLen > 0 && n > s.maxLen) {
			return fieldProblem(field, "%s must be %d to %d characters long", field, s.minLen, s.maxLen)
		}
		if s.enum != nil && !slices.Contains(s.enum, str) {
			return fieldProblem(field, "%s must be one of %s, not %q", field, strings.Join(s.enum, ", "), str)
		}
		if s.pattern != nil && (!s.pattern.MatchString(str) || (s.notEqual != "" && str == s.notEqual)) {
			return fieldProblem(field, "%s %q is not %s (pattern %s)", field, str, s.hint, s.pattern.String())
		}
	case kInt:
		num, ok := v.(json.Number)
		if !ok {
			return typeProblem(field, "a number", v)
		}
		n, err := strconv.ParseInt(num.String(), 10, 64)
		if err != nil {
			return fieldProblem(field, "%s must be an integer, not %s", field, num)
		}
		if n < s.min || n > s.max {
			return fieldProblem(field, "%s must be between %d and %d, not %d", field, s.min, s.max, n)
		}
	}
	return nil
}

func describeValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return jsonType(v)
}

func memberNames(s *shape) string {
	names := make([]string, 0, len(s.members))
	for n := range s.members {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
