package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"

	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/emulator/world"
)

// exampleWorld is the world file the examples start from.
func exampleWorld(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../examples/world.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWorldFile(t *testing.T) {
	t.Parallel()

	t.Run("loads products, buyers, offers and accepted agreements", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if code := b.control(t, "PUT", "/control/world", json.RawMessage(exampleWorld(t)), nil); code != 200 {
			t.Fatalf("PUT /control/world: %d", code)
		}
		var ags []world.Agreement
		b.control(t, "GET", "/control/agreements", nil, &ags)
		if len(ags) != 2 {
			t.Fatalf("%d agreements, want the file's 2", len(ags))
		}
		var offers []world.Offer
		b.control(t, "GET", "/control/offers", nil, &offers)
		private := 0
		for _, o := range offers {
			if o.Private {
				private++
			}
		}
		if private != 2 { // the private offer and the partner's offer
			t.Fatalf("%d private offers, want 2: %+v", private, offers)
		}
		// The agreements hold licenses an SDK sees at once.
		out, err := marketplaceentitlementservice.NewFromConfig(b.cfg).GetEntitlements(context.Background(),
			&marketplaceentitlementservice.GetEntitlementsInput{ProductCode: aws.String("examplecode")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Entitlements) != 2 {
			t.Fatalf("%d entitlements, want one per agreement: %+v", len(out.Entitlements), out.Entitlements)
		}
	})

	t.Run("a bad file is a 400 naming the entry and changes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		p := b.product(t, false)
		before, err := b.emu.World.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		good := exampleWorld(t)
		for name, tc := range map[string]struct{ body, want string }{
			"not JSON":             {`{"products": [`, "not a world file"},
			"unknown member":       {strings.Replace(string(good), `"buyers"`, `"buyer"`, 1), `unknown field "buyer"`},
			"trailing data":        {string(good) + "{}", "data after the JSON object"},
			"offer ref unknown":    {strings.Replace(string(good), `"offer": "partner-offer"`, `"offer": "nope"`, 1), `world file agreements[1]: offer "nope"`},
			"resale ref unknown":   {strings.Replace(string(good), `"resaleAuthorization": "partner"`, `"resaleAuthorization": "nope"`, 1), "world file partnerOffers[0]"},
			"bad dimension kind":   {strings.Replace(string(good), `"kind": "contract"`, `"kind": "monthly"`, 1), "world file products[0]"},
			"product code taken":   {strings.Replace(string(good), `"legacyexamplecode"`, `"examplecode"`, 1), "world file products[1]"},
			"offer for no product": {strings.Replace(string(good), `"productId": "prod-example", "name": "Acme`, `"productId": "prod-none", "name": "Acme`, 1), "world file offers[0]"},
			"ref used twice":       {strings.Replace(string(good), `"ref": "partner-offer"`, `"ref": "acme-private"`, 1), `ref "acme-private" is used twice`},
		} {
			code, body := put(t, "PUT", b.srv.URL+"/control/world", "", tc.body)
			var answer struct{ Error string }
			json.Unmarshal([]byte(body), &answer)
			if code < 400 || code >= 500 || !strings.Contains(answer.Error, tc.want) {
				t.Errorf("%s: %d %s, want a 4xx saying %q", name, code, body, tc.want)
			}
		}
		after, err := b.emu.World.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Fatal("a refused world file changed the world")
		}
		var products []world.Product
		b.control(t, "GET", "/control/products", nil, &products)
		if len(products) != 1 || products[0].ProductID != p.ProductID {
			t.Fatalf("products after refused files: %+v", products)
		}
	})
}

// FuzzLoadWorld feeds world files to the loader: it must refuse or load,
// never panic, and a refused file leaves the world empty.
func FuzzLoadWorld(f *testing.F) {
	good, err := os.ReadFile("../../examples/world.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"products":[{"productId":"p","dimensions":[{"key":"k","kind":"usage"}]}],"agreements":[{"buyer":"123456789012","productId":"p"}]}`))
	f.Add([]byte(`{"agreements":[{"buyer":"","offer":"x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e := emulator.New(emulator.Options{})
		defer e.Close()
		if err := e.LoadWorld(b); err != nil {
			var n int
			e.World.Read(func(s *world.State) error { n = len(s.Products) + len(s.Agreements) + len(s.Buyers); return nil })
			if n != 0 {
				t.Fatalf("refused file %q left %d entities", b, n)
			}
		}
	})
}
