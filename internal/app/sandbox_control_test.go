package app_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/store"
)

// TestSandboxControlAPI replays the adversarial requests against serve's
// sandbox: without the data directory's token the control API answers 401,
// with a wrong one 403; with it, a snapshot naming an unknown product or with
// a null section is refused with 400; the world is unchanged each time and
// the process keeps serving (the clock ticks on, products can be created).
func TestSandboxControlAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := setup(t, store.SQLite, app.Config{DataDir: dir})
	tok, err := os.ReadFile(filepath.Join(dir, app.SandboxTokenFile))
	if err != nil || len(bytes.TrimSpace(tok)) < 16 {
		t.Fatalf("sandbox token: %q %v", tok, err)
	}
	token := string(bytes.TrimSpace(tok))
	call := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, b.app.URL()+"/emulator/control"+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	before, _ := b.app.Emulator.World.Snapshot()
	unknownProduct := `{"products":{},"buyers":{"444455556666":{"accountId":"444455556666","customerIdentifiers":{}}},"offers":{},
		"resaleAuthorizations":{},"licenses":{},"tokens":{},"meteringKeys":{},"changeSets":{},"faults":{},
		"agreements":{"agmt-x":{"agreementId":"agmt-x","offerId":"offer-x","productId":"prod-nope","acceptorAccountId":"444455556666",
		"status":"ACTIVE","acceptanceTime":"2026-01-01T00:00:00Z","startTime":"2026-01-01T00:00:00Z"}}}`
	for _, c := range []struct {
		name, token, body string
		want              int
	}{
		{"no token", "", `{"products":null}`, 401},
		{"wrong token", "not-the-token", `{"products":null}`, 403},
		{"a null section", token, `{"products":null}`, 400},
		{"an agreement naming an unknown product", token, unknownProduct, 400},
	} {
		if status, out := call("PUT", "/state", c.token, c.body); status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, status, out, c.want)
		}
	}
	b.app.Emulator.World.Tick()
	if after, _ := b.app.Emulator.World.Snapshot(); !bytes.Equal(before, after) {
		t.Fatal("refused restores changed the sandbox")
	}
	if status, out := call("POST", "/products", token, `{"title":"After","dimensions":[{"key":"seats","kind":"contract"}]}`); status != 200 {
		t.Fatalf("product after the refusals: %d %s", status, out)
	}
	if code, _ := b.do(t, "GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
}
