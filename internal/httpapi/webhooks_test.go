package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
	"github.com/concordmp/concord/internal/webhook"
)

// webhookAPI is a Concord API server over real HTTP with the webhook service, a
// job runner on a fixed clock, and a receiver standing in for the vendor's app.
type webhookAPI struct {
	t      *testing.T
	api    *httptest.Server
	key    string
	runner *job.Runner
	now    time.Time

	recv *httptest.Server
	mu   sync.Mutex
	got  [][]byte
	sigs []string
}

func setupWebhooks(t *testing.T, db *store.DB) *webhookAPI {
	t.Helper()
	w := &webhookAPI{t: t, now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	now := func() time.Time { return w.now }
	svc := &webhook.Service{DB: db, Now: now, Logger: slog.New(slog.DiscardHandler), AllowPrivateTargets: true} // the receiver is on loopback
	w.runner = job.NewRunner(db, job.RunnerOptions{Now: now})
	svc.Handlers(w.runner)
	s := &httpapi.Server{DB: db, Ledger: &inbox.Ledger{DB: db, Now: now}, Logger: slog.New(slog.DiscardHandler), Now: now, Webhooks: svc}
	w.api = httptest.NewServer(s.Handler())
	t.Cleanup(w.api.Close)
	var err error
	if w.key, _, err = apikey.Create(t.Context(), db, "webhooks", now()); err != nil {
		t.Fatal(err)
	}
	w.recv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.got, w.sigs = append(w.got, b), append(w.sigs, r.Header.Get(webhook.HeaderSignature))
		w.mu.Unlock()
	}))
	t.Cleanup(w.recv.Close)
	return w
}

// call sends a request and decodes a JSON answer into out (when not nil).
func (w *webhookAPI) call(method, path, body string, wantStatus int, out any) string {
	w.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(w.t.Context(), method, w.api.URL+path, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+w.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		w.t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, resp.StatusCode, b, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			w.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return string(b)
}

func (w *webhookAPI) drain() {
	w.t.Helper()
	for {
		worked, err := w.runner.WorkOne(w.t.Context())
		if err != nil {
			w.t.Fatal(err)
		}
		if !worked {
			return
		}
	}
}

func TestWebhookAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := setupWebhooks(t, db)

		var e webhook.Endpoint
		w.call("POST", "/v1/webhooks", `{"url":"`+w.recv.URL+`/hook","events":["license.activated"],"description":"prod"}`, 201, &e)
		if e.ID == "" || !strings.HasPrefix(e.Secret, webhook.SecretPrefix) || !e.Enabled || len(e.Events) != 1 {
			t.Fatalf("created %+v", e)
		}
		var got webhook.Endpoint
		if body := w.call("GET", "/v1/webhooks/"+e.ID, "", 200, &got); strings.Contains(body, "whsec_") || got.URL != e.URL {
			t.Errorf("get shows %s", body)
		}
		var list httpapi.List[webhook.Endpoint]
		if body := w.call("GET", "/v1/webhooks", "", 200, &list); strings.Contains(body, "whsec_") || len(list.Items) != 1 {
			t.Errorf("list shows %s", body)
		}

		// Ping, deliver, and read the delivery log.
		var d webhook.Delivery
		w.call("POST", "/v1/webhooks/"+e.ID+"/ping", "", 202, &d)
		if d.EventType != webhook.Ping || d.State != webhook.StatePending {
			t.Errorf("ping = %+v", d)
		}
		w.drain()
		w.mu.Lock()
		if len(w.got) != 1 || webhook.Verify(e.Secret, w.sigs[0], w.got[0], w.now, time.Minute) != nil {
			t.Errorf("receiver got %d requests, signatures %q", len(w.got), w.sigs)
		}
		w.mu.Unlock()
		var ds httpapi.List[webhook.Delivery]
		w.call("GET", "/v1/webhooks/"+e.ID+"/deliveries?state=delivered", "", 200, &ds)
		if len(ds.Items) != 1 || ds.Items[0].ID != d.ID || ds.Items[0].Attempts != 1 || !json.Valid(ds.Items[0].Payload) {
			t.Errorf("delivered = %+v", ds.Items)
		}
		w.call("GET", "/v1/webhooks/"+e.ID+"/deliveries?state=failed", "", 200, &ds)
		if len(ds.Items) != 0 {
			t.Errorf("failed = %+v", ds.Items)
		}

		// Redeliver; rotate the secret first, so the new one signs it.
		var rotated webhook.Endpoint
		w.call("POST", "/v1/webhooks/"+e.ID+"/rotate-secret", "", 200, &rotated)
		if rotated.Secret == "" || rotated.Secret == e.Secret || rotated.ID != e.ID {
			t.Errorf("rotated = %+v", rotated)
		}
		w.call("POST", "/v1/webhook-deliveries/"+d.ID+"/redeliver", "", 202, &d)
		w.drain()
		w.mu.Lock()
		if len(w.got) != 2 || !bytes.Equal(w.got[1], w.got[0]) || webhook.Verify(rotated.Secret, w.sigs[1], w.got[1], w.now, time.Minute) != nil {
			t.Errorf("redelivery: %d requests, signatures %q", len(w.got), w.sigs)
		}
		w.mu.Unlock()
		w.call("GET", "/v1/webhook-deliveries/"+d.ID, "", 200, &d)
		if d.State != webhook.StateDelivered || d.Attempts != 2 {
			t.Errorf("redelivered = %+v", d)
		}

		// Update, then delete.
		var u webhook.Endpoint
		w.call("PATCH", "/v1/webhooks/"+e.ID, `{"events":[],"enabled":false}`, 200, &u)
		if len(u.Events) != 0 || u.Enabled || u.Description != "prod" || u.URL != e.URL {
			t.Errorf("updated = %+v", u)
		}
		w.call("POST", "/v1/webhooks/"+e.ID+"/ping", "", 409, nil)
		w.call("DELETE", "/v1/webhooks/"+e.ID, "", 204, nil)
		w.call("GET", "/v1/webhooks/"+e.ID, "", 404, nil)
		w.call("DELETE", "/v1/webhooks/"+e.ID, "", 404, nil)
		w.call("POST", "/v1/webhook-deliveries/"+d.ID+"/redeliver", "", 409, nil)
	})
}

func TestWebhookAPIRejectsBadInput(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := setupWebhooks(t, db)
		for _, c := range []struct{ body, want string }{
			{`{}`, "url is required"},
			{`{"url":"not a url"}`, "absolute http"},
			{`{"url":"ftp://example.com/x"}`, "absolute http"},
			{`{"url":"https://example.com/` + strings.Repeat("a", 2050) + `"}`, "longer than 2048"},
			{`{"url":"https://example.com/","events":["license.created"]}`, `unknown event type \"license.created\"`},
			{`{"url":"https://example.com/","description":"` + strings.Repeat("d", 501) + `"}`, "longer than 500"},
			{`{"url":"https://example.com/","description":"\u0000"}`, "invalid characters"},
			{`{not json`, ""},
		} {
			if body := w.call("POST", "/v1/webhooks", c.body, 400, nil); !strings.Contains(body, c.want) {
				t.Errorf("POST %.60s: %s, want %q", c.body, body, c.want)
			}
		}
		var list httpapi.List[webhook.Endpoint]
		if w.call("GET", "/v1/webhooks", "", 200, &list); len(list.Items) != 0 {
			t.Errorf("bad input stored %+v", list.Items)
		}

		var e webhook.Endpoint
		w.call("POST", "/v1/webhooks", `{"url":"https://example.com/hook"}`, 201, &e)
		for _, body := range []string{`{"url":""}`, `{"url":"https://"}`, `{"events":["*"]}`, `{"description":"` + strings.Repeat("d", 501) + `"}`} {
			w.call("PATCH", "/v1/webhooks/"+e.ID, body, 400, nil)
		}
		var got webhook.Endpoint
		if w.call("GET", "/v1/webhooks/"+e.ID, "", 200, &got); got.URL != "https://example.com/hook" || len(got.Events) != 0 || !got.UpdatedAt.Equal(e.UpdatedAt) {
			t.Errorf("bad patches changed %+v", got)
		}
		if body := w.call("GET", "/v1/webhooks/"+e.ID+"/deliveries?state=bogus", "", 400, nil); !strings.Contains(body, "state") {
			t.Errorf("bad state: %s", body)
		}
		w.call("GET", "/v1/webhooks/missing/deliveries", "", 404, nil)
		w.call("PATCH", "/v1/webhooks/missing", `{"enabled":true}`, 404, nil)
		w.call("POST", "/v1/webhooks/missing/rotate-secret", "", 404, nil)
		w.call("POST", "/v1/webhook-deliveries/missing/redeliver", "", 404, nil)
		w.call("GET", "/v1/webhook-deliveries/%00", "", 404, nil)

		req, _ := http.NewRequestWithContext(t.Context(), "GET", w.api.URL+"/v1/webhooks", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("without an API key: %d", resp.StatusCode)
		}
	})
}

// FuzzWebhookBodies sends arbitrary endpoint bodies: nothing may panic or answer
// 5xx, bad input is a 400, and an endpoint accepted with 201 must read back.
func FuzzWebhookBodies(f *testing.F) {
	db := storetest.Open(f, store.SQLite)
	now := func() time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) }
	svc := &webhook.Service{DB: db, Now: now}
	s := &httpapi.Server{DB: db, Ledger: &inbox.Ledger{DB: db, Now: now}, Logger: slog.New(slog.DiscardHandler), Now: now, Webhooks: svc}
	h := s.Handler()
	key, _, err := apikey.Create(f.Context(), db, "fuzz", now())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"url":"https://example.com/h","events":["tenant.created"],"description":"d"}`), "delivered")
	f.Add([]byte(`{"url":"http://[::1]:8080/x?y#z","enabled":false}`), "")
	f.Add([]byte(`{"url":"https://example.com/","events":null}`), "pending")
	f.Add([]byte(`{"url":7}`), "x")
	f.Add([]byte(`{"url":"https://e.com","events":["\u0000"]}`), "\x00")
	f.Fuzz(func(t *testing.T, body []byte, state string) {
		do := func(method, path string, body []byte) *httptest.ResponseRecorder {
			req := httptest.NewRequest(method, path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
			}
			return rec
		}
		rec := do("POST", "/v1/webhooks", body)
		if rec.Code/100 != 2 {
			return
		}
		var e webhook.Endpoint
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("created %s: %v", rec.Body, err)
		}
		if got := do("GET", "/v1/webhooks/"+e.ID, nil); got.Code != 200 {
			t.Fatalf("accepted endpoint does not read back: %d %s", got.Code, got.Body)
		}
		do("PATCH", "/v1/webhooks/"+e.ID, body)
		do("GET", "/v1/webhooks/"+e.ID+"/deliveries?state="+url.QueryEscape(state)+"&cursor="+url.QueryEscape(state), nil)
		do("DELETE", "/v1/webhooks/"+e.ID, nil)
	})
}
