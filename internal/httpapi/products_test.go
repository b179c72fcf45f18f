package httpapi_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/marketplace"
)

func stored() marketplace.Product {
	return marketplace.Product{ProductID: "prod-a", Title: "CRM", Type: marketplace.ProductSaaSContract, ConcurrentAgreements: true,
		Dimensions:       []marketplace.Dimension{{Key: "seats", Kind: "contract"}},
		Registration:     marketplace.Registration{Strategy: "unified", SupportURL: "https://help.example.com"},
		ContractMetadata: []marketplace.MetadataField{{Key: "PO number"}}}
}

func TestPatchProduct(t *testing.T) {
	t.Parallel()
	p, err := httpapi.PatchProduct(stored(), []byte(`{"title":"CRM Pro","registration":{"supportUrl":null,"appUrl":"https://app.example.com"}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := stored()
	want.Title, want.Registration.SupportURL, want.Registration.AppURL = "CRM Pro", "", "https://app.example.com"
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("patched %+v, want %+v", p, want)
	}
	for _, bad := range []string{``, `null`, `[]`, `"x"`, `{"productId":"b"}`, `{"createdAt":"2020-01-01T00:00:00Z"}`, `{"title":1}`, `{"registration":{"nope":1}}`, `{} {}`} {
		if got, err := httpapi.PatchProduct(stored(), []byte(bad)); marketplace.ErrorCode(err) != marketplace.EInvalid || !reflect.DeepEqual(got, stored()) {
			t.Errorf("patch %q: %v", bad, err)
		}
	}
}

// FuzzPatchProduct: any body is applied or refused as invalid, never
// panicking; the id is never changed, and an empty patch changes nothing.
func FuzzPatchProduct(f *testing.F) {
	f.Add([]byte(`{"title":"x","dimensions":[{"key":"k"}]}`))
	f.Add([]byte(`{"registration":null}`))
	f.Add([]byte(`{"contractMetadata":[{"key":"a","required":true}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := httpapi.PatchProduct(stored(), body)
		if err != nil {
			if code := marketplace.ErrorCode(err); code != marketplace.EInvalid {
				t.Fatalf("%q: %v", body, err)
			}
			return
		}
		if p.ProductID != "prod-a" {
			t.Fatalf("%q changed the id to %q", body, p.ProductID)
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil && len(m) == 0 && !reflect.DeepEqual(p, stored()) {
			t.Fatalf("an empty patch changed the product: %+v", p)
		}
	})
}
