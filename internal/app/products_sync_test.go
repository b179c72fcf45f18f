package app_test

import (
	"encoding/json"
	"testing"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store/storetest"
)

// emulatorProduct creates a product in the emulator only: Concord does not
// know it.
func emulatorProduct(t *testing.T, b *bundle, id string, p world.Product) *world.Product {
	t.Helper()
	p.ProductID = id
	var out *world.Product
	err := b.app.Emulator.World.Do(func(s *world.State) error {
		var err error
		out, err = s.CreateProduct(p)
		if err == nil {
			_, err = s.CreateBuyer("123456789012")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func product(t *testing.T, b *bundle, id string) (int, marketplace.Product) {
	t.Helper()
	code, out := b.do(t, "GET", "/v1/products/"+id, b.key, nil)
	var p marketplace.Product
	json.Unmarshal(out, &p)
	return code, p
}

func wantListing(t *testing.T, p marketplace.Product, title, typ string, dims ...marketplace.Dimension) {
	t.Helper()
	got, _ := json.Marshal(p.Dimensions)
	want, _ := json.Marshal(dims)
	if p.Title != title || p.Type != typ || string(got) != string(want) {
		t.Fatalf("product %s: %q %q %s, want %q %q %s", p.ProductID, p.Title, p.Type, got, title, typ, want)
	}
}

// TestProductsFromAWS: a product made only in the emulator becomes known to
// Concord, with its title, type and dimensions from the Catalog API, when
// sync runs, when an offer is drafted for it and when an event names it; a
// sync keeps Concord-only settings; PATCH changes only what it names.
func TestProductsFromAWS(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setup(t, dialect, app.Config{})
			seats := marketplace.Dimension{Key: "seats", Name: "seats", Unit: "Units", Kind: "contract"}

			// On demand.
			emulatorProduct(t, b, "prod-synced", world.Product{Title: "Synced CRM", ProductCode: "syncedcode", Type: world.ProductSaaSContract,
				Dimensions: []world.Dimension{{Key: "seats", Kind: "contract", Price: "10.00"}}})
			if code, _ := product(t, b, "prod-synced"); code != 404 {
				t.Fatalf("before the sync: %d", code)
			}
			code, out := b.do(t, "POST", "/v1/products/prod-synced/sync", b.key, nil)
			if code != 200 {
				t.Fatalf("sync: %d %s", code, out)
			}
			_, p := product(t, b, "prod-synced")
			wantListing(t, p, "Synced CRM", marketplace.ProductSaaSContract, seats)
			if p.ProductCode != "syncedcode" || !p.ConcurrentAgreements {
				t.Errorf("code %q, concurrent agreements %v", p.ProductCode, p.ConcurrentAgreements)
			}

			// PATCH one setting: the others stay.
			code, out = b.do(t, "PATCH", "/v1/products/prod-synced", b.key, []byte(`{"registration":{"strategy":"unified","supportUrl":"https://help.example.com"}}`))
			if code != 200 {
				t.Fatalf("patch: %d %s", code, out)
			}
			code, out = b.do(t, "PATCH", "/v1/products/prod-synced", b.key, []byte(`{"contractMetadata":[{"key":"PO number"}],"registration":{"supportUrl":null}}`))
			if code != 200 {
				t.Fatalf("patch: %d %s", code, out)
			}
			_, p = product(t, b, "prod-synced")
			if p.Registration.Strategy != "unified" || p.Registration.SupportURL != "" || len(p.ContractMetadata) != 1 || p.Title != "Synced CRM" || len(p.Dimensions) != 1 {
				t.Fatalf("after two patches: %+v", p)
			}
			// Bad patches change nothing.
			for _, body := range []string{`{"productId":"other"}`, `{"dimensions":"seats"}`, `{"type":"hardware"}`, `[1]`, `{"nope":1}`, `{"registration":{"strategy":"everyone"}}`} {
				if code, out := b.do(t, "PATCH", "/v1/products/prod-synced", b.key, []byte(body)); code != 400 && code != 422 {
					t.Errorf("patch %s: %d %s", body, code, out)
				}
			}
			if _, again := product(t, b, "prod-synced"); !again.UpdatedAt.Equal(p.UpdatedAt) {
				t.Errorf("a refused patch changed the product")
			}
			if code, out := b.do(t, "PATCH", "/v1/products/prod-nobody", b.key, []byte(`{"title":"x"}`)); code != 404 {
				t.Errorf("patch of an unknown product: %d %s", code, out)
			}

			// A sync after a Concord-only change keeps it.
			if code, out := b.do(t, "POST", "/v1/products/prod-synced/sync", b.key, nil); code != 200 {
				t.Fatalf("sync again: %d %s", code, out)
			}
			_, p = product(t, b, "prod-synced")
			if p.Registration.Strategy != "unified" || len(p.ContractMetadata) != 1 || p.ContractMetadata[0].Key != "PO number" {
				t.Fatalf("the sync wiped Concord's settings: %+v", p)
			}
			if code, out := b.do(t, "POST", "/v1/products/prod-unknown/sync", b.key, nil); code != 404 {
				t.Errorf("sync of a product AWS does not know: %d %s", code, out)
			}

			// An offer drafted for a product Concord does not know yet.
			emulatorProduct(t, b, "prod-drafted", world.Product{Title: "Drafted API", ProductCode: "draftedcode", Type: world.ProductSaaSContract,
				Dimensions: []world.Dimension{{Key: "seats", Kind: "contract", Price: "10.00"}}})
			form := offerForm("123456789012")
			form["productId"] = "prod-drafted"
			raw, _ := json.Marshal(form)
			if code, out := b.do(t, "POST", "/v1/offers", b.key, raw); code != 201 {
				t.Fatalf("draft for an emulator-only product: %d %s", code, out)
			}
			_, p = product(t, b, "prod-drafted")
			wantListing(t, p, "Drafted API", marketplace.ProductSaaSContract, seats)

			// An event naming a product Concord does not know.
			ev := emulatorProduct(t, b, "prod-metered", world.Product{Title: "Metered API", ProductCode: "meteredcode", Type: world.ProductSaaSUsage,
				Dimensions: []world.Dimension{{Key: "requests", Kind: "usage", Price: "0.01"}}})
			// Catalog API is down at first, so the agreement is booked before
			// Concord knows the product's title.
			var metered string
			if err := b.app.Emulator.World.Do(func(s *world.State) error {
				s.SetFaults(map[string]world.Fault{"DescribeEntity": {ErrorShare: 1}}, 1)
				a, err := s.Accept("123456789012", ev.PublicOfferID, world.AcceptOptions{})
				if err == nil {
					metered = a.ID
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			bookedTitle := func() (string, bool) {
				_, out := b.do(t, "GET", "/v1/agreements/"+metered+"/artifacts", b.key, nil)
				var arts struct {
					Items []struct {
						Product struct{ Title string } `json:"product"`
					} `json:"items"`
				}
				json.Unmarshal(out, &arts)
				if n := len(arts.Items); n > 0 {
					return arts.Items[n-1].Product.Title, true
				}
				return "", false
			}
			eventually(t, "the booking of "+metered, func() bool { _, ok := bookedTitle(); return ok })
			if title, _ := bookedTitle(); title != "" {
				t.Fatalf("booked with title %q before the product was synced", title)
			}
			b.app.Emulator.World.Do(func(s *world.State) error { s.SetFaults(nil, 0); return nil })
			eventually(t, "the metered product to be synced", func() bool {
				b.do(t, "POST", "/v1/products/prod-metered/sync", b.key, nil)
				_, p = product(t, b, "prod-metered")
				return p.Title == "Metered API"
			})
			wantListing(t, p, "Metered API", marketplace.ProductSaaSUsage, marketplace.Dimension{Key: "requests", Name: "requests", Unit: "Units", Kind: "usage"})
			// The sync books the agreement again, with the product's title.
			eventually(t, "the booking of "+metered+" to name the product", func() bool {
				title, _ := bookedTitle()
				return title == "Metered API"
			})
		})
	}
}
