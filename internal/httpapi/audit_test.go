package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestAuditAPI: a change made with an API key is listed by GET /v1/audit
// under the key's name, with the settings before and after and no secret.
func TestAuditAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := setupWebhooks(t, db)
		var created struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		w.call("POST", "/v1/webhooks", `{"url":"`+w.recv.URL+`/hook","events":["license.activated"]}`, http.StatusCreated, &created)
		w.call("PATCH", "/v1/webhooks/"+created.ID, `{"description":"billing app"}`, http.StatusOK, nil)
		// Refused input changes nothing, so it is not in the trail either.
		w.call("PATCH", "/v1/webhooks/"+created.ID, `{"url":"ftp://nowhere"}`, http.StatusBadRequest, nil)

		var got struct {
			Items      []audit.Entry `json:"items"`
			NextCursor string        `json:"nextCursor"`
		}
		w.call("GET", "/v1/audit?object=webhook&objectId="+created.ID, "", http.StatusOK, &got)
		if len(got.Items) != 2 {
			t.Fatalf("items = %+v, want 2 (update, create)", got.Items)
		}
		upd, cre := got.Items[0], got.Items[1]
		if upd.Action != "webhook.update" || cre.Action != "webhook.create" {
			t.Errorf("actions = %s, %s", upd.Action, cre.Action)
		}
		if upd.Actor.Kind != audit.KindAPIKey || upd.Actor.Name != "webhooks" {
			t.Errorf("actor = %+v, want the API key named webhooks", upd.Actor)
		}
		d := audit.Diff(upd.Before, upd.After)
		found := false
		for _, c := range d {
			if c.Field == "description" && c.After == `"billing app"` {
				found = true
			}
		}
		if !found {
			t.Errorf("diff %+v does not show the description change", d)
		}
		raw, _ := json.Marshal(got)
		if created.Secret == "" || strings.Contains(string(raw), created.Secret) {
			t.Errorf("the trail shows the signing secret: %s", raw)
		}

		t.Run("pages with an opaque cursor", func(t *testing.T) {
			var p1, p2 struct {
				Items      []audit.Entry `json:"items"`
				NextCursor string        `json:"nextCursor"`
			}
			w.call("GET", "/v1/audit?actor=webhooks&limit=1", "", http.StatusOK, &p1)
			if len(p1.Items) != 1 || p1.NextCursor == "" {
				t.Fatalf("page 1 = %+v", p1)
			}
			w.call("GET", "/v1/audit?actor=webhooks&limit=1&cursor="+url.QueryEscape(p1.NextCursor), "", http.StatusOK, &p2)
			if len(p2.Items) != 1 || p2.Items[0].ID == p1.Items[0].ID || p2.Items[0].Action != "webhook.create" {
				t.Errorf("page 2 = %+v", p2)
			}
		})

		t.Run("bad filters are a 400", func(t *testing.T) {
			for _, q := range []string{"cursor=aud-123", "from=yesterday", "from=2026-12-02&to=2026-12-01"} {
				w.call("GET", "/v1/audit?"+q, "", http.StatusBadRequest, nil)
			}
		})

		t.Run("a time range", func(t *testing.T) {
			var out struct {
				Items []audit.Entry `json:"items"`
			}
			w.call("GET", "/v1/audit?from=2000-01-01&to=2000-01-02", "", http.StatusOK, &out)
			if len(out.Items) != 0 {
				t.Errorf("items = %+v", out.Items)
			}
		})
	})
}
