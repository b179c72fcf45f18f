package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestReviewRegistrationUpdatesTheArtifactCompany: docs/artifacts.md says
// "the buyer registering (the company) ... make[s] a new version". A public
// order's artifact has no company until the buyer registers; after the buyer
// registers, a new version must carry the company without anyone calling
// POST /v1/agreements/{id}/artifacts.
func TestReviewRegistrationUpdatesTheArtifactCompany(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.Dialects[0], app.Config{})
	m := newMarket(t, b, "prod-co", "cocode", "separate", "333300004444")
	ag, _ := m.accept("333300004444", 4)
	eventually(t, "the artifact with terms", func() bool {
		_, out := b.do(t, "GET", "/v1/agreements/"+ag+"/artifacts", b.key, nil)
		return strings.Contains(string(out), `"termsKnown":true`)
	})
	by := newBuyer()
	page := by.arrive(t, b, ag)
	if status, body := by.submit(t, b, page.Body, goodForm("Initrode")); status != 200 {
		t.Fatalf("register: %d %s", status, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	var out []byte
	for time.Now().Before(deadline) {
		_, out = b.do(t, "GET", "/v1/agreements/"+ag+"/artifacts", b.key, nil)
		if strings.Contains(string(out), `"company":"Initrode"`) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no artifact version carries the registered company:\n%s", out)
}
