package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// notifyAPI is the API with the notification service and a job runner.
type notifyAPI struct {
	t      *testing.T
	db     *store.DB
	svc    *notify.Service
	runner *job.Runner
	api    *httptest.Server
	key    string
	now    time.Time
}

func setupNotify(t *testing.T, db *store.DB) *notifyAPI {
	t.Helper()
	a := &notifyAPI{t: t, db: db, now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	now := func() time.Time { return a.now }
	a.svc = &notify.Service{DB: db, Now: now, Logger: slog.New(slog.DiscardHandler)}
	a.runner = job.NewRunner(db, job.RunnerOptions{Now: now})
	a.svc.Handlers(a.runner)
	s := &httpapi.Server{DB: db, Ledger: &inbox.Ledger{DB: db, Now: now}, Logger: slog.New(slog.DiscardHandler), Now: now, Notify: a.svc}
	a.api = httptest.NewServer(s.Handler())
	t.Cleanup(a.api.Close)
	var err error
	if a.key, _, err = apikey.Create(t.Context(), db, "notify", now()); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *notifyAPI) call(method, path, body string, wantStatus int, out any) string {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.api.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		a.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return string(b)
}

func (a *notifyAPI) drain() {
	a.t.Helper()
	for range 100 {
		worked, err := a.runner.WorkOne(a.t.Context())
		if err != nil {
			a.t.Fatal(err)
		}
		if !worked {
			return
		}
	}
}

func TestNotificationAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := setupNotify(t, db)

		// Routes: bad input is a 400 that says why and stores nothing.
		for body, want := range map[string]string{
			`{"kind":"new_order","channel":"email","target":"Finance <f@x.example>"}`:      "is not an email address",
			`{"kind":"new_order","channel":"slack","target":"http://hooks.slack.com/x"}`:   "must start with https://",
			`{"kind":"neworder","channel":"email","target":"f@x.example"}`:                 "unknown kind",
			`{"kind":"*","channel":"sms","target":"+15555550100"}`:                         "unknown channel",
			`{"channel":"email","target":"f@x.example"}`:                                   "kind is required",
			`{"kind":"*","channel":"email","target":"f@x.example\r\nBcc: evil@x.example"}`: "invalid characters",
		} {
			if got := a.call("POST", "/v1/notification-routes", body, http.StatusBadRequest, nil); !strings.Contains(got, want) {
				t.Errorf("POST %s: %s, want %q", body, got, want)
			}
		}
		if n := storetest.Count(t, db, "notification_routes"); n != 0 {
			t.Fatalf("bad routes stored: %d", n)
		}
		var email, slack notify.NotificationRoute
		a.call("POST", "/v1/notification-routes", `{"kind":"*","channel":"email","target":"finance@seller.example"}`, http.StatusCreated, &email)
		a.call("POST", "/v1/notification-routes", `{"kind":"*","channel":"email","target":"finance@seller.example"}`, http.StatusConflict, nil)
		a.call("POST", "/v1/notification-routes", `{"kind":"renewal","channel":"slack","target":"https://hooks.slack.com/services/T0/B0/secretpart","productId":"prod-acme"}`,
			http.StatusCreated, &slack)
		if strings.Contains(slack.Target, "secretpart") || slack.ProductID != "prod-acme" {
			t.Fatalf("slack route %+v", slack)
		}
		var routes httpapi.List[notify.NotificationRoute]
		a.call("GET", "/v1/notification-routes", "", http.StatusOK, &routes)
		if len(routes.Items) != 2 || routes.Items[0].ID != email.ID {
			t.Fatalf("routes %+v", routes)
		}
		a.call("DELETE", "/v1/notification-routes/"+slack.ID, "", http.StatusNoContent, nil)
		a.call("DELETE", "/v1/notification-routes/"+slack.ID, "", http.StatusNotFound, nil)

		// A notification: no SMTP here, so its email is skipped, then resent.
		var id string
		if err := db.Write(t.Context(), func(tx *store.Tx) error {
			var err error
			id, _, err = a.svc.Emit(t.Context(), tx, a.now, notify.Notice{Kind: notify.KindAgreementEnding, Key: "agreement_ending:agmt-1:30d",
				ProductID: "prod-acme", AgreementID: "agmt-1", Data: notify.AgreementEndingData{AgreementID: "agmt-1", BuyerAccountID: "444455556666",
					ProductID: "prod-acme", EndTime: a.now.Add(30 * 24 * time.Hour), DaysLeft: 30, Threshold: 30},
				Attachments: []notify.Attachment{{Name: "a.json", ContentType: "application/json", Data: []byte(`{}`)}}})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		a.drain()
		var list httpapi.List[notify.NotificationSummary]
		a.call("GET", "/v1/notifications?status=skipped&kind=agreement_ending", "", http.StatusOK, &list)
		if len(list.Items) != 1 || list.Items[0].ID != id || list.Items[0].Status != notify.StatusSkipped {
			t.Fatalf("list %+v", list)
		}
		a.call("GET", "/v1/notifications?status=sent", "", http.StatusOK, &list)
		if len(list.Items) != 0 {
			t.Fatalf("sent list %+v", list)
		}
		a.call("GET", "/v1/notifications?status=bounced", "", http.StatusBadRequest, nil)
		a.call("GET", "/v1/notifications?kind=nope", "", http.StatusBadRequest, nil)

		var n notify.Notification
		a.call("GET", "/v1/notifications/"+id, "", http.StatusOK, &n)
		if !strings.Contains(n.Subject, "Agreement ending in 30 days") || !strings.Contains(n.Text, "agmt-1") || !strings.Contains(n.HTML, "<!DOCTYPE html>") ||
			len(n.Recipients) != 1 || len(n.Attachments) != 1 || n.Attachments[0].Size != 2 || len(n.Deliveries) != 1 ||
			n.Deliveries[0].Status != notify.StatusSkipped || n.Deliveries[0].LastError != notify.ReasonNoSMTP {
			t.Fatalf("notification %+v", n)
		}
		a.call("GET", "/v1/notifications/ntf_nope", "", http.StatusNotFound, nil)

		a.call("POST", "/v1/notifications/"+id+"/resend?delivery="+n.Deliveries[0].ID, "", http.StatusAccepted, &n)
		if n.Deliveries[0].Status != notify.StatusPending {
			t.Fatalf("after resend %+v", n.Deliveries)
		}
		a.call("POST", "/v1/notifications/"+id+"/resend", "", http.StatusConflict, nil)
		a.call("POST", "/v1/notifications/"+id+"/resend?delivery=ntd_nope", "", http.StatusNotFound, nil)
	})
}
