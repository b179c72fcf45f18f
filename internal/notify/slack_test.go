package notify_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/notify"
)

// slackHook is an HTTPS server standing in for a Slack incoming webhook; its
// status function decides each answer (n counts from 1).
type slackHook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	types  []string
}

func (h *slackHook) got() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

func startSlack(t *testing.T, f *fixture, status func(n int) int) *slackHook {
	t.Helper()
	h := &slackHook{}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.types = append(h.types, r.Header.Get("Content-Type"))
		n := len(h.bodies)
		h.mu.Unlock()
		if code := status(n); code/100 == 3 {
			http.Redirect(w, r, "https://elsewhere.example/", code)
		} else {
			w.WriteHeader(code)
			io.WriteString(w, "answer")
		}
	}))
	t.Cleanup(h.srv.Close)
	f.svc.HTTPClient = h.srv.Client()
	return h
}

func TestSlackDelivery(t *testing.T) {
	t.Parallel()

	run(t, "a Slack route gets the subject and text, retried after a 500", func(t *testing.T, f *fixture) {
		h := startSlack(t, f, func(n int) int {
			if n == 1 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		url := h.srv.URL + "/services/T000/B000/XXXXsecret"
		r := f.route(notify.KindNewOrder, notify.ChannelSlack, url, "")
		if r.Target == url || strings.Contains(r.Target, "XXXXsecret") || !strings.HasSuffix(r.Target, "cret") {
			t.Fatalf("the route shows its secret URL: %s", r.Target)
		}
		id, _ := f.emit(order())
		f.drain()
		n := f.get(id)
		d := n.Deliveries[0]
		if d.Channel != notify.ChannelSlack || d.Status != notify.StatusPending || d.Attempts != 1 || d.LastError != "HTTP 500 Internal Server Error" {
			t.Fatalf("after a 500: %+v", d)
		}
		f.clock.Advance(time.Minute)
		f.drain()
		if d = f.get(id).Deliveries[0]; d.Status != notify.StatusSent || d.Attempts != 2 || d.SentAt == nil {
			t.Fatalf("after the retry: %+v", d)
		}
		bodies := h.got()
		if len(bodies) != 2 || string(bodies[0]) != string(bodies[1]) || h.types[1] != "application/json" {
			t.Fatalf("posts %q", bodies)
		}
		var msg map[string]string
		if err := json.Unmarshal(bodies[1], &msg); err != nil || len(msg) != 1 {
			t.Fatalf("body %s: %v", bodies[1], err)
		}
		text := msg["text"]
		if !strings.HasPrefix(text, "*New order (private offer): ") || !strings.Contains(text, "agmt-1") || !strings.Contains(text, "USD 12,000.00") {
			t.Fatalf("text %q", text)
		}
		if strings.ContainsAny(text, "<>") || !strings.Contains(text, "&lt;script&gt;") {
			t.Fatalf("Slack markup not escaped: %q", text)
		}
		if string(bodies[1]) != string(notify.SlackBody(n.Subject, n.Text)) {
			t.Fatalf("body %s", bodies[1])
		}
	})

	run(t, "a redirect is not followed", func(t *testing.T, f *fixture) {
		h := startSlack(t, f, func(int) int { return http.StatusFound })
		f.svc.MaxAttempts = 1
		f.route("*", notify.ChannelSlack, h.srv.URL+"/hook", "")
		id, _ := f.emit(order())
		f.drain()
		d := f.get(id).Deliveries[0]
		if d.Status != notify.StatusFailed || !strings.Contains(d.LastError, "redirect not followed") || len(h.got()) != 1 {
			t.Fatalf("delivery %+v", d)
		}
	})

	run(t, "an unreachable webhook's error does not show its URL", func(t *testing.T, f *fixture) {
		h := startSlack(t, f, func(int) int { return http.StatusOK })
		url := h.srv.URL + "/services/T/B/topsecret"
		h.srv.Close()
		f.route("*", notify.ChannelSlack, url, "")
		id, _ := f.emit(order())
		f.drain()
		d := f.get(id).Deliveries[0]
		if d.Status != notify.StatusPending || d.LastError == "" || strings.Contains(d.LastError, "topsecret") {
			t.Fatalf("delivery %+v", d)
		}
	})
}
