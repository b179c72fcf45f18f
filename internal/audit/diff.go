package audit

import (
	"encoding/json"
	"sort"
	"strconv"
)

// FieldChange is one setting that differs between Before and After, named by
// its path ("dimensions[0].name"); a value is its JSON text, "" when absent.
type FieldChange struct {
	Field  string `json:"field"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Diff lists the fields that differ between before and after (either may be
// empty), sorted by name: what an admin reads to see what changed.
func Diff(before, after json.RawMessage) []FieldChange {
	b, a := map[string]string{}, map[string]string{}
	flatten("", decode(before), b)
	flatten("", decode(after), a)
	var out []FieldChange
	for k, v := range b {
		if a[k] != v {
			out = append(out, FieldChange{Field: k, Before: v, After: a[k]})
		}
	}
	for k, v := range a {
		if _, ok := b[k]; !ok {
			out = append(out, FieldChange{Field: k, After: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

func decode(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	return v
}

// flatten writes every leaf of v under its path. An empty object or list
// has no leaf: what it gains or loses shows as its members.
func flatten(path string, v any, out map[string]string) {
	switch t := v.(type) {
	case nil:
		if path != "" {
			out[path] = "null"
		}
	case map[string]any:
		for k, x := range t {
			p := k
			if path != "" {
				p = path + "." + k
			}
			flatten(p, x, out)
		}
	case []any:
		for i, x := range t {
			flatten(path+"["+strconv.Itoa(i)+"]", x, out)
		}
	default:
		raw, _ := json.Marshal(t)
		key := path
		if key == "" {
			key = "value"
		}
		out[key] = string(raw)
	}
}
