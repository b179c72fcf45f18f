package audit

import (
	"encoding/json"
	"testing"
)

// FuzzDiffAndRedact: what people type into settings (any JSON) is redacted
// and diffed without a panic, and a secret field's value never survives
// encoding.
func FuzzDiffAndRedact(f *testing.F) {
	f.Add([]byte(`{"title":"a","secret":"s3cr3t"}`), []byte(`{"title":"b","dims":[{"k":1}]}`))
	f.Add([]byte(`[1,"x",null]`), []byte(`"plain"`))
	f.Add([]byte(``), []byte(`{"Password":"hunter2","nested":{"apiToken":"tok"}}`))
	f.Fuzz(func(t *testing.T, before, after []byte) {
		_ = Diff(before, after)
		var v any
		if json.Unmarshal(after, &v) != nil {
			return
		}
		enc, err := encode(v)
		if err != nil || !enc.Valid {
			return
		}
		var tree any
		if err := json.Unmarshal([]byte(enc.String), &tree); err != nil {
			t.Fatalf("encode wrote invalid JSON %q: %v", enc.String, err)
		}
		var walk func(any)
		walk = func(x any) {
			switch m := x.(type) {
			case map[string]any:
				for k, y := range m {
					if isSecret(k) && y != nil && y != "" && y != Redacted {
						t.Fatalf("secret field %q kept %v", k, y)
					}
					walk(y)
				}
			case []any:
				for _, y := range m {
					walk(y)
				}
			}
		}
		walk(tree)
	})
}
