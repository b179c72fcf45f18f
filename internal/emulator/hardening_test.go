package emulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator"
)

// put sends raw JSON to the control API with an optional bearer token.
func put(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRestoreRefusesABrokenWorld: a snapshot with a section null or a
// reference that does not resolve is refused with 400 and changes nothing; the
// clock and later calls keep working. Before the check, the first two bodies
// were accepted and the next tick (or product create) panicked.
func TestRestoreRefusesABrokenWorld(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, true)
	a := b.accept(t, "444455556666", p.ProductID, nil)
	snap, err := b.emu.World.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// mutate returns the good snapshot with one change made to its JSON.
	mutate := func(fn func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(snap, &m); err != nil {
			t.Fatal(err)
		}
		fn(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	section := func(m map[string]any, name string) map[string]any { return m[name].(map[string]any) }
	for name, body := range map[string]string{
		"products null": `{"products":null}`,
		"agreement names an unknown product": mutate(func(m map[string]any) {
			ag := section(m, "agreements")[a.AgreementID].(map[string]any)
			ag["productId"] = "prod-unknown"
			ag["licenseArn"] = ""
			ag["startTime"] = time.Now().Add(-time.Hour).Format(time.RFC3339)
			m["licenses"] = map[string]any{}
			m["tokens"] = map[string]any{}
		}),
		"a null product":                   mutate(func(m map[string]any) { section(m, "products")[p.ProductID] = nil }),
		"a product filed under another id": mutate(func(m map[string]any) { section(m, "products")["prod-other"] = section(m, "products")[p.ProductID] }),
		"buyers missing":                   mutate(func(m map[string]any) { delete(m, "buyers") }),
		"license names an unknown agreement": mutate(func(m map[string]any) {
			for _, l := range section(m, "licenses") {
				l.(map[string]any)["agreementId"] = "agmt-unknown"
			}
		}),
		"agreement names an unknown buyer": mutate(func(m map[string]any) { m["buyers"] = map[string]any{} }),
		"metering key out of range":        mutate(func(m map[string]any) { m["meteringKeys"] = map[string]any{"k": 7} }),
		"a null buyer identifiers map": mutate(func(m map[string]any) {
			section(m, "buyers")["444455556666"].(map[string]any)["customerIdentifiers"] = nil
		}),
	} {
		t.Run(name, func(t *testing.T) {
			before, _ := b.emu.World.Snapshot()
			status, out := put(t, "PUT", b.srv.URL+"/control/state", "", body)
			if status != http.StatusBadRequest || !strings.Contains(out, "snapshot") {
				t.Fatalf("restore answered %d %s, want 400", status, out)
			}
			after, _ := b.emu.World.Snapshot()
			if !bytes.Equal(before, after) {
				t.Fatal("a refused snapshot changed the world")
			}
		})
	}
	// The world still works: the clock runs what is due, products can be made.
	b.emu.World.Tick()
	b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "48h"}, &map[string]any{})
	b.product(t, false)
	var agreements []map[string]any
	b.control(t, "GET", "/control/agreements", nil, &agreements)
	if len(agreements) != 1 || agreements[0]["agreementId"] != a.AgreementID {
		t.Fatalf("agreements after refused restores: %v", agreements)
	}
}

// TestControlTokenGuardsTheControlAPI: with a control token (the sandbox in
// concord serve), a control call without it is 401, with a wrong one 403, and
// neither changes anything; the AWS service endpoints need no token.
func TestControlTokenGuardsTheControlAPI(t *testing.T) {
	t.Parallel()
	const token = "sandbox-token-for-test"
	e := emulator.New(emulator.Options{ControlToken: token})
	srv := httptest.NewServer(e)
	t.Cleanup(func() { e.Close(); srv.Close() })
	product := `{"productId":"prod-guarded","title":"G","dimensions":[{"key":"seats","kind":"contract"}]}`
	before, _ := e.World.Snapshot()
	for _, c := range []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"restore without token", "PUT", "/control/state", "", `{"products":null}`, 401},
		{"restore with a wrong token", "PUT", "/control/state", "wrong", `{"products":null}`, 403},
		{"product without token", "POST", "/control/products", "", product, 401},
		{"product with a wrong token", "POST", "/control/products", token + "x", product, 403},
		{"clock without token", "POST", "/control/clock/advance", "", `{"duration":"24h"}`, 401},
		{"state read without token", "GET", "/control/state", "", "", 401},
		{"register page without token", "GET", "/control/register?url=http://x.example/&agreement=a", "", "", 401},
	} {
		if status, out := put(t, c.method, srv.URL+c.path, c.token, c.body); status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, status, out, c.want)
		}
	}
	if after, _ := e.World.Snapshot(); !bytes.Equal(before, after) {
		t.Fatal("refused control calls changed the world")
	}
	if status, out := put(t, "POST", srv.URL+"/control/products", token, product); status != 200 {
		t.Fatalf("with the token: %d %s", status, out)
	}
	// An SDK-protocol call is not a control call.
	if status, _ := put(t, "GET", srv.URL+"/", "", ""); status != 200 {
		t.Fatalf("the emulator's index needs no token: %d", status)
	}
}

// TestStateFile: the world written to the state file comes back whole in a new
// emulator, the clock offset included; a file that is not a whole world is
// refused rather than started from empty.
func TestStateFile(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/state.json"
	e := emulator.New(emulator.Options{StateFile: path})
	srv := httptest.NewServer(e)
	if status, out := put(t, "POST", srv.URL+"/control/products", "", `{"productId":"prod-kept","title":"K","dimensions":[{"key":"seats","kind":"contract"}]}`); status != 200 {
		t.Fatalf("product: %d %s", status, out)
	}
	if err := e.World.Advance(36 * time.Hour); err != nil { // saved at once
		t.Fatal(err)
	}
	srv.Close()
	e.Close()

	again := emulator.New(emulator.Options{StateFile: path})
	defer again.Close()
	if loaded, err := again.LoadState(); !loaded || err != nil {
		t.Fatalf("LoadState: %v %v", loaded, err)
	}
	if skew := again.World.Now().Sub(time.Now().Add(36 * time.Hour)); skew < -time.Minute || skew > time.Minute {
		t.Fatalf("clock restored %s off", skew)
	}
	snap, _ := again.World.Snapshot()
	if !strings.Contains(string(snap), `"prod-kept"`) {
		t.Fatal("the product was not restored")
	}
	if err := writeFile(path, `{"products":null}`); err != nil {
		t.Fatal(err)
	}
	if loaded, err := emulator.New(emulator.Options{StateFile: path}).LoadState(); loaded || err == nil {
		t.Fatalf("a broken state file: %v %v, want an error", loaded, err)
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
