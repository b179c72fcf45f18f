package marketplace

import (
	"reflect"
	"testing"
)

// FuzzDecodeEnvelope: decodeEnvelope gives what the Decoder alone gave, the
// same envelope or the same error.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, seed := range []string{
		`{"version":"0","id":"e-1","detail-type":"Purchase Agreement Created - Proposer","source":"aws.agreement-marketplace",` +
			`"account":"111122223333","time":"2026-03-02T15:04:05Z","region":"us-east-1","resources":["a"],"detail":{"agreement":{"id":"agmt-1"}}}`,
		` {"id":"1"} `, "{\"id\":\"1\"}\n\t\r", `{"id":"1"}}`, `{"id":"1"} {}`, `{"id":"1"}]`, `{"id":1}`, `{"id":"1","detail":5}`,
		`{"id":"1","resources":"x","source":"s"}`, `{"detail":null}`, `{"detail":{"a":[1,2]}}`, `null`, `[]`, `"x"`, `5`, `{`, ``, ` `,
		`{"id":"1","id":"2"}`, `{"ID":"1","Detail-Type":"x"}`, `{"id":"\ud800"}`, `{"time":"2026-03-02T15:04:05Z"}x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := decodeEnvelope(body)
		want, wantErr := decodeEnvelopeByDecoder(body)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("%q: error %v, the Decoder's %v", body, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %+v, the Decoder's %+v", body, got, want)
		}
	})
}
