package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/clocktest"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
	"github.com/concordmp/concord/internal/webhook"
)

// t0 is millisecond-aligned: the schema stores epoch milliseconds.
var t0 = time.Date(2030, 3, 4, 5, 6, 7, 0, time.UTC)

// request is what a receiver got.
type request struct {
	header http.Header
	body   []byte
}

// receiver is an HTTP server standing in for the vendor's app. Its status
// function decides each answer (n counts from 1).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []request
	status func(n int) int
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

type fixture struct {
	t      *testing.T
	ctx    context.Context
	db     *store.DB
	clock  *clocktest.Clock
	svc    *webhook.Service
	runner *job.Runner
}

// run runs fn as a parallel subtest on a fresh database of each dialect.
func run(t *testing.T, name string, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		storetest.Each(t, func(t *testing.T, db *store.DB) { fn(t, setup(t, db)) })
	})
}

func setup(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	c := clocktest.New(t0)
	// The receivers are httptest servers on loopback: allowed as for an
	// on-premises receiver (TestPrivateTargetsRefused covers the default).
	svc := &webhook.Service{DB: db, Now: c.Now, AllowPrivateTargets: true}
	r := job.NewRunner(db, job.RunnerOptions{Now: c.Now})
	svc.Handlers(r)
	return &fixture{t: t, ctx: t.Context(), db: db, clock: c, svc: svc, runner: r}
}

// receiver starts a receiver answering status(n) to the nth request.
func (f *fixture) receiver(status func(n int) int) *receiver {
	r := &receiver{t: f.t, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, request{req.Header.Clone(), b})
		n := len(r.got)
		r.mu.Unlock()
		code := http.StatusOK
		if r.status != nil {
			code = r.status(n)
		}
		w.WriteHeader(code)
		io.WriteString(w, "answer "+strconv.Itoa(n))
	}))
	f.t.Cleanup(r.srv.Close)
	return r
}

func (f *fixture) create(in webhook.EndpointInput) webhook.Endpoint {
	f.t.Helper()
	e, err := f.svc.Create(f.ctx, in)
	if err != nil {
		f.t.Fatalf("create %+v: %v", in, err)
	}
	return e
}

func (f *fixture) emit(eventType string, data any) {
	f.t.Helper()
	err := f.db.Write(f.ctx, func(tx *store.Tx) error {
		return webhook.Emit(f.ctx, tx, f.clock.Now(), eventType, data)
	})
	if err != nil {
		f.t.Fatalf("emit %s: %v", eventType, err)
	}
}

// drain runs every due job.
func (f *fixture) drain() {
	f.t.Helper()
	for range 100 {
		worked, err := f.runner.WorkOne(f.ctx)
		if err != nil {
			f.t.Fatalf("work: %v", err)
		}
		if !worked {
			return
		}
	}
	f.t.Fatal("jobs keep coming")
}

func (f *fixture) deliveries(endpointID, state string) []webhook.Delivery {
	f.t.Helper()
	ds, err := f.svc.ListDeliveries(f.ctx, endpointID, state, webhook.Page{})
	if err != nil {
		f.t.Fatalf("list deliveries of %s: %v", endpointID, err)
	}
	return ds
}

func (f *fixture) only(endpointID string) webhook.Delivery {
	f.t.Helper()
	ds := f.deliveries(endpointID, "")
	if len(ds) != 1 {
		f.t.Fatalf("endpoint %s has %d deliveries, want 1: %+v", endpointID, len(ds), ds)
	}
	return ds[0]
}

func (f *fixture) jobCount() int {
	f.t.Helper()
	js, err := job.List(f.ctx, f.db, job.Filter{Kind: webhook.JobDeliver})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(js)
}

// checkSigned verifies a request as a receiver would and returns its event.
func checkSigned(t *testing.T, r request, secret string, now time.Time) webhook.Event {
	t.Helper()
	if err := webhook.Verify(secret, r.header.Get(webhook.HeaderSignature), r.body, now, time.Minute); err != nil {
		t.Fatalf("signature %q does not verify: %v", r.header.Get(webhook.HeaderSignature), err)
	}
	var ev webhook.Event
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return ev
}

func TestDelivery(t *testing.T) {
	t.Parallel()
	run(t, "sends a signed event with its headers", func(t *testing.T, f *fixture) {
		rc := f.receiver(nil)
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL + "/hooks?x=1", Events: []string{webhook.TenantCreated}})
		f.emit(webhook.TenantCreated, map[string]any{"tenant": map[string]string{"tenantId": "t-1"}})
		f.drain()

		got := rc.requests()
		if len(got) != 1 {
			t.Fatalf("receiver got %d requests, want 1", len(got))
		}
		r := got[0]
		ev := checkSigned(t, r, e.Secret, f.clock.Now())
		if !strings.HasPrefix(ev.ID, "evt_") || ev.Type != webhook.TenantCreated || string(ev.Data) != `{"tenant":{"tenantId":"t-1"}}` {
			t.Errorf("event = %+v", ev)
		}
		if ct, err := time.Parse(time.RFC3339, ev.CreatedAt); err != nil || !ct.Equal(t0) || !strings.HasSuffix(ev.CreatedAt, "Z") {
			t.Errorf("createdAt = %q (%v), want %s in UTC", ev.CreatedAt, err, t0)
		}
		for h, want := range map[string]string{
			"Content-Type": "application/json", "User-Agent": webhook.UserAgent, webhook.HeaderID: ev.ID,
			webhook.HeaderType: webhook.TenantCreated, webhook.HeaderTimestamp: strconv.FormatInt(t0.Unix(), 10),
			webhook.HeaderSignature: webhook.Sign(e.Secret, t0, r.body),
		} {
			if g := r.header.Get(h); g != want {
				t.Errorf("%s = %q, want %q", h, g, want)
			}
		}
		d := f.only(e.ID)
		if d.State != webhook.StateDelivered || d.Attempts != 1 || d.LastStatus == nil || *d.LastStatus != 200 ||
			d.DeliveredAt == nil || !d.DeliveredAt.Equal(t0) || d.EventID != ev.ID || d.LastError != "" {
			t.Errorf("delivery = %+v", d)
		}
	})

	run(t, "a receiver failing twice gets the event on the third attempt", func(t *testing.T, f *fixture) {
		rc := f.receiver(func(n int) int {
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusNoContent
		})
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL})
		f.emit(webhook.LicenseActivated, map[string]any{"license": map[string]string{"licenseId": "l-1"}})

		f.drain()
		d := f.only(e.ID)
		if d.State != webhook.StatePending || d.Attempts != 1 || d.LastStatus == nil || *d.LastStatus != 503 || d.LastError != "HTTP 503 Service Unavailable" {
			t.Fatalf("after the first attempt: %+v", d)
		}
		f.drain() // the retry is not due yet
		if n := len(rc.requests()); n != 1 {
			t.Fatalf("retried before the backoff: %d requests", n)
		}
		f.clock.Advance(job.DefaultBackoff(1))
		f.drain()
		f.clock.Advance(job.DefaultBackoff(2))
		f.drain()

		got := rc.requests()
		if len(got) != 3 {
			t.Fatalf("receiver got %d requests, want 3", len(got))
		}
		for i, r := range got {
			checkSigned(t, r, e.Secret, f.clock.Now())
			if string(r.body) != string(got[0].body) || r.header.Get(webhook.HeaderID) != got[0].header.Get(webhook.HeaderID) {
				t.Errorf("attempt %d sent another event: %s", i+1, r.body)
			}
		}
		d = f.only(e.ID)
		if d.State != webhook.StateDelivered || d.Attempts != 3 || *d.LastStatus != 204 || d.LastError != "" || !d.DeliveredAt.Equal(f.clock.Now()) {
			t.Errorf("delivery = %+v", d)
		}
	})

	run(t, "the delivery fails after its last attempt", func(t *testing.T, f *fixture) {
		rc := f.receiver(func(int) int { return http.StatusInternalServerError })
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL})
		f.emit(webhook.LicenseEnding, nil)
		for i := range webhook.MaxAttempts {
			f.drain()
			if d := f.only(e.ID); d.Attempts != i+1 {
				t.Fatalf("after attempt %d: %+v", i+1, d)
			}
			f.clock.Advance(job.DefaultBackoff(i + 1))
		}
		f.drain()
		if n := len(rc.requests()); n != webhook.MaxAttempts {
			t.Errorf("receiver got %d requests, want %d", n, webhook.MaxAttempts)
		}
		if d := f.only(e.ID); d.State != webhook.StateFailed || *d.LastStatus != 500 {
			t.Errorf("delivery = %+v, want failed", d)
		}
		if dead, _ := job.List(f.ctx, f.db, job.Filter{Kind: webhook.JobDeliver, State: job.StateDead}); len(dead) != 1 {
			t.Errorf("dead delivery jobs = %d, want 1", len(dead))
		}
	})

	run(t, "event type filters choose the endpoints", func(t *testing.T, f *fixture) {
		all := f.receiver(nil)
		lic := f.receiver(nil)
		eAll := f.create(webhook.EndpointInput{URL: all.srv.URL})
		eLic := f.create(webhook.EndpointInput{URL: lic.srv.URL, Events: []string{webhook.LicenseActivated, webhook.LicenseDeprovisioned}})
		f.emit(webhook.TenantCreated, nil)
		f.emit(webhook.LicenseActivated, nil)
		f.emit(webhook.LicenseUpdated, nil)
		f.drain()
		types := func(r *receiver) (out []string) {
			for _, q := range r.requests() {
				out = append(out, q.header.Get(webhook.HeaderType))
			}
			return out
		}
		if g := strings.Join(types(all), ","); g != "tenant.created,license.activated,license.updated" {
			t.Errorf("subscribed to all, got %s", g)
		}
		if g := strings.Join(types(lic), ","); g != "license.activated" {
			t.Errorf("subscribed to license.activated, got %s", g)
		}
		if n := len(f.deliveries(eAll.ID, webhook.StateDelivered)); n != 3 {
			t.Errorf("delivered to all: %d", n)
		}
		if n := len(f.deliveries(eLic.ID, "")); n != 1 {
			t.Errorf("deliveries to the filtered endpoint: %d", n)
		}
	})

	run(t, "a disabled endpoint gets nothing", func(t *testing.T, f *fixture) {
		rc := f.receiver(nil)
		off := false
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL, Enabled: &off})
		f.emit(webhook.TenantCreated, nil)
		f.drain()
		if n := len(rc.requests()); n != 0 || len(f.deliveries(e.ID, "")) != 0 || f.jobCount() != 0 {
			t.Errorf("disabled endpoint: %d requests, %d jobs", n, f.jobCount())
		}
	})

	run(t, "no endpoints means no deliveries and no jobs", func(t *testing.T, f *fixture) {
		f.emit(webhook.LicenseActivated, map[string]int{"x": 1})
		if n := f.jobCount(); n != 0 {
			t.Errorf("jobs = %d", n)
		}
	})

	run(t, "a rolled-back emit sends nothing", func(t *testing.T, f *fixture) {
		rc := f.receiver(nil)
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL})
		boom := errors.New("boom")
		err := f.db.Write(f.ctx, func(tx *store.Tx) error {
			if err := webhook.Emit(f.ctx, tx, f.clock.Now(), webhook.TenantCreated, nil); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("write = %v", err)
		}
		f.drain()
		if n := len(rc.requests()); n != 0 || len(f.deliveries(e.ID, "")) != 0 || f.jobCount() != 0 {
			t.Errorf("rolled back: %d requests, %d jobs", n, f.jobCount())
		}
	})

	run(t, "an unknown event type is refused", func(t *testing.T, f *fixture) {
		f.create(webhook.EndpointInput{URL: "https://example.com/hook"})
		err := f.db.Write(f.ctx, func(tx *store.Tx) error {
			return webhook.Emit(f.ctx, tx, f.clock.Now(), "license.exploded", nil)
		})
		if marketplace.ErrorCode(err) != marketplace.EInvalid {
			t.Errorf("emit unknown type = %v", err)
		}
	})

	run(t, "redeliver sends a delivered event again", func(t *testing.T, f *fixture) {
		rc := f.receiver(nil)
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL})
		f.emit(webhook.LicenseUpdated, nil)
		f.drain()
		d := f.only(e.ID)
		f.clock.Advance(time.Hour)
		r, err := f.svc.Redeliver(f.ctx, d.ID)
		if err != nil || r.State != webhook.StatePending {
			t.Fatalf("redeliver = %+v, %v", r, err)
		}
		f.drain()
		got := rc.requests()
		if len(got) != 2 || string(got[1].body) != string(got[0].body) {
			t.Fatalf("receiver got %d requests", len(got))
		}
		checkSigned(t, got[1], e.Secret, f.clock.Now())
		d = f.only(e.ID)
		if d.State != webhook.StateDelivered || d.Attempts != 2 || !d.DeliveredAt.Equal(f.clock.Now()) {
			t.Errorf("delivery = %+v", d)
		}
		if _, err := f.svc.Redeliver(f.ctx, "nope"); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("redeliver unknown = %v", err)
		}
	})

	run(t, "redeliver revives a failed delivery with fresh attempts", func(t *testing.T, f *fixture) {
		failing := true
		var mu sync.Mutex
		rc := f.receiver(func(int) int {
			mu.Lock()
			defer mu.Unlock()
			if failing {
				return http.StatusBadGateway
			}
			return http.StatusOK
		})
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL})
		f.emit(webhook.LicenseDeprovisioned, nil)
		for i := range webhook.MaxAttempts {
			f.drain()
			f.clock.Advance(job.DefaultBackoff(i + 1))
		}
		d := f.only(e.ID)
		if d.State != webhook.StateFailed {
			t.Fatalf("delivery = %+v, want failed", d)
		}
		mu.Lock()
		failing = false
		mu.Unlock()
		if _, err := f.svc.Redeliver(f.ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		f.drain()
		if d := f.only(e.ID); d.State != webhook.StateDelivered || d.Attempts != webhook.MaxAttempts+1 {
			t.Errorf("delivery = %+v", d)
		}
	})

	run(t, "disabling cancels at once: enabling again does not release old events", func(t *testing.T, f *fixture) {
		rc := f.receiver(nil)
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL})
		f.emit(webhook.TenantCreated, nil)
		off, on := false, true
		for _, v := range []*bool{&off, &on} {
			if _, err := f.svc.Update(f.ctx, e.ID, webhook.EndpointPatch{Enabled: v}); err != nil {
				t.Fatal(err)
			}
		}
		f.drain()
		if n := len(rc.requests()); n != 0 || f.only(e.ID).State != webhook.StateCancelled {
			t.Errorf("re-enabling released a cancelled delivery: %d requests, %+v", n, f.only(e.ID))
		}
	})

	run(t, "deleting or disabling an endpoint cancels its pending deliveries", func(t *testing.T, f *fixture) {
		rc := f.receiver(nil)
		del := f.create(webhook.EndpointInput{URL: rc.srv.URL})
		dis := f.create(webhook.EndpointInput{URL: rc.srv.URL})
		f.emit(webhook.TenantCreated, nil)
		if err := f.svc.Delete(f.ctx, del.ID); err != nil {
			t.Fatal(err)
		}
		off := false
		if _, err := f.svc.Update(f.ctx, dis.ID, webhook.EndpointPatch{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		f.drain()
		if n := len(rc.requests()); n != 0 {
			t.Errorf("receiver got %d requests", n)
		}
		if d := f.only(dis.ID); d.State != webhook.StateCancelled || d.LastError != "endpoint disabled" || d.Attempts != 0 {
			t.Errorf("disabled endpoint's delivery = %+v", d)
		}
		if _, err := f.svc.Redeliver(f.ctx, f.only(dis.ID).ID); marketplace.ErrorCode(err) != marketplace.EConflict {
			t.Errorf("redeliver to a disabled endpoint = %v", err)
		}
		if _, err := f.svc.ListDeliveries(f.ctx, del.ID, "", webhook.Page{}); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("deliveries of a deleted endpoint = %v", err)
		}
		if n := f.jobCount(); n != 2 {
			t.Errorf("jobs = %d", n)
		}
	})

	run(t, "redirects are not followed", func(t *testing.T, f *fixture) {
		other := f.receiver(nil)
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.srv.URL+"/stolen", http.StatusTemporaryRedirect)
		}))
		t.Cleanup(redirect.Close)
		e := f.create(webhook.EndpointInput{URL: redirect.URL})
		f.emit(webhook.TenantCreated, nil)
		f.drain()
		d := f.only(e.ID)
		if d.State != webhook.StatePending || d.LastStatus == nil || *d.LastStatus != 307 || !strings.Contains(d.LastError, "redirect") {
			t.Errorf("delivery = %+v", d)
		}
		if n := len(other.requests()); n != 0 {
			t.Errorf("redirect target got %d requests", n)
		}
	})

	run(t, "a network error is recorded without a status", func(t *testing.T, f *fixture) {
		rc := f.receiver(nil)
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL})
		rc.srv.Close()
		f.emit(webhook.TenantCreated, nil)
		f.drain()
		d := f.only(e.ID)
		if d.State != webhook.StatePending || d.LastStatus != nil || d.LastError == "" || d.Attempts != 1 {
			t.Errorf("delivery = %+v", d)
		}
	})

	run(t, "ping reaches one endpoint whatever it subscribes to", func(t *testing.T, f *fixture) {
		rc := f.receiver(nil)
		other := f.receiver(nil)
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL, Events: []string{webhook.TenantCreated}})
		f.create(webhook.EndpointInput{URL: other.srv.URL})
		d, err := f.svc.Ping(f.ctx, e.ID)
		if err != nil || d.EventType != webhook.Ping || d.State != webhook.StatePending {
			t.Fatalf("ping = %+v, %v", d, err)
		}
		f.drain()
		got := rc.requests()
		if len(got) != 1 || len(other.requests()) != 0 {
			t.Fatalf("requests: pinged %d, other %d", len(got), len(other.requests()))
		}
		if ev := checkSigned(t, got[0], e.Secret, f.clock.Now()); ev.Type != webhook.Ping || string(ev.Data) != `{"endpointId":"`+e.ID+`"}` {
			t.Errorf("ping event = %+v", ev)
		}
		if _, err := f.svc.Ping(f.ctx, "missing"); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("ping missing = %v", err)
		}
	})

	run(t, "a rotated secret signs the next attempts", func(t *testing.T, f *fixture) {
		rc := f.receiver(nil)
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL})
		secret, err := f.svc.RotateSecret(f.ctx, e.ID)
		if err != nil || secret == e.Secret || !strings.HasPrefix(secret, webhook.SecretPrefix) || len(secret) != len(webhook.SecretPrefix)+64 {
			t.Fatalf("rotate = %q, %v", secret, err)
		}
		f.emit(webhook.TenantCreated, nil)
		f.drain()
		r := rc.requests()[0]
		checkSigned(t, r, secret, f.clock.Now())
		if err := webhook.Verify(e.Secret, r.header.Get(webhook.HeaderSignature), r.body, f.clock.Now(), 0); !errors.Is(err, webhook.ErrSignatureMismatch) {
			t.Errorf("old secret verifies: %v", err)
		}
	})
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	run(t, "create, read, update and delete", func(t *testing.T, f *fixture) {
		e := f.create(webhook.EndpointInput{URL: " https://app.example.com/concord ", Events: []string{"license.ending", "license.ending", "tenant.created"}, Description: "prod"})
		if !strings.HasPrefix(e.Secret, webhook.SecretPrefix) || e.URL != "https://app.example.com/concord" || !e.Enabled ||
			strings.Join(e.Events, ",") != "license.ending,tenant.created" || !e.CreatedAt.Equal(t0) {
			t.Errorf("created %+v", e)
		}
		g, err := f.svc.Get(f.ctx, e.ID)
		if err != nil || g.Secret != "" || g.URL != e.URL || g.Description != "prod" || len(g.Events) != 2 {
			t.Errorf("get = %+v, %v", g, err)
		}
		f.clock.Advance(time.Minute)
		url, none, off := "http://10.0.0.1:8080/h", []string{}, false
		u, err := f.svc.Update(f.ctx, e.ID, webhook.EndpointPatch{URL: &url, Events: &none, Enabled: &off})
		if err != nil || u.URL != url || len(u.Events) != 0 || u.Enabled || u.Description != "prod" || !u.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("update = %+v, %v", u, err)
		}
		list, err := f.svc.List(f.ctx)
		if err != nil || len(list) != 1 || list[0].Secret != "" || list[0].Enabled || list[0].Events == nil {
			t.Errorf("list = %+v, %v", list, err)
		}
		if err := f.svc.Delete(f.ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Get(f.ctx, e.ID); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("get deleted = %v", err)
		}
		if err := f.svc.Delete(f.ctx, e.ID); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("delete twice = %v", err)
		}
		if _, err := f.svc.RotateSecret(f.ctx, e.ID); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("rotate deleted = %v", err)
		}
	})

	run(t, "bad input is refused and changes nothing", func(t *testing.T, f *fixture) {
		for _, in := range []webhook.EndpointInput{
			{},
			{URL: "example.com/hook"},
			{URL: "/relative"},
			{URL: "ftp://example.com/"},
			{URL: "https://"},
			{URL: "https://user:pw@example.com/"},
			{URL: "https://example.com/%zz"},
			{URL: "https://example.com/" + strings.Repeat("a", 2048)},
			{URL: "https://example.com/\x00"},
			{URL: "https://example.com/", Events: []string{"license.created"}},
			{URL: "https://example.com/", Events: []string{""}},
			{URL: "https://example.com/", Description: strings.Repeat("é", 501)},
			{URL: "https://example.com/", Description: "\xff"},
		} {
			if _, err := f.svc.Create(f.ctx, in); marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Errorf("create %.80q: %v, want invalid", in.URL, err)
			}
		}
		if list, _ := f.svc.List(f.ctx); len(list) != 0 {
			t.Errorf("bad input stored %d endpoints", len(list))
		}
		e := f.create(webhook.EndpointInput{URL: "https://example.com/", Description: strings.Repeat("é", 500)})
		bad, events := "mailto:x@example.com", []string{"nope"}
		for _, p := range []webhook.EndpointPatch{{URL: &bad}, {Events: &events}} {
			if _, err := f.svc.Update(f.ctx, e.ID, p); marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Errorf("update %+v: %v, want invalid", p, err)
			}
		}
		if g, _ := f.svc.Get(f.ctx, e.ID); g.URL != e.URL || len(g.Events) != 0 {
			t.Errorf("bad update changed %+v", g)
		}
		if _, err := f.svc.ListDeliveries(f.ctx, e.ID, "bogus", webhook.Page{}); marketplace.ErrorCode(err) != marketplace.EInvalid {
			t.Errorf("bad state = %v", err)
		}
		for _, id := range []string{"missing", "\x00", "\xff"} {
			if _, err := f.svc.Get(f.ctx, id); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Errorf("get %q = %v", id, err)
			}
			if _, err := f.svc.GetDelivery(f.ctx, id); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Errorf("get delivery %q = %v", id, err)
			}
		}
	})

	run(t, "deliveries page newest first", func(t *testing.T, f *fixture) {
		e := f.create(webhook.EndpointInput{URL: "https://example.com/"})
		for range 5 {
			f.emit(webhook.TenantCreated, nil)
			f.clock.Advance(time.Millisecond)
		}
		var seen []webhook.Delivery
		p := webhook.Page{Limit: 2}
		for {
			ds, err := f.svc.ListDeliveries(f.ctx, e.ID, webhook.StatePending, p)
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, ds...)
			if len(ds) < p.Limit {
				break
			}
			p.Cursor = ds[len(ds)-1].ID
		}
		if len(seen) != 5 {
			t.Fatalf("paged through %d deliveries, want 5", len(seen))
		}
		for i := 1; i < len(seen); i++ {
			if !seen[i].CreatedAt.Before(seen[i-1].CreatedAt) {
				t.Errorf("not newest first: %v then %v", seen[i-1].CreatedAt, seen[i].CreatedAt)
			}
		}
		if got, err := f.svc.GetDelivery(f.ctx, seen[0].ID); err != nil || string(got.Payload) != string(seen[0].Payload) {
			t.Errorf("get delivery = %+v, %v", got, err)
		}
	})
}

func TestRetriesLastAboutADay(t *testing.T) {
	t.Parallel()
	var total time.Duration
	for a := 1; a < webhook.MaxAttempts; a++ {
		total += job.DefaultBackoff(a)
	}
	if total < 23*time.Hour || total > 26*time.Hour {
		t.Errorf("the last attempt comes %s after the first, want about a day", total)
	}
}

func TestKnown(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		typ  string
		want bool
	}{
		{"tenant.created", true}, {"license.activated", true}, {"license.updated", true}, {"license.ending", true},
		{"license.deprovisioned", true}, {"webhook.ping", true}, {"", false}, {"license.*", false}, {"Tenant.Created", false},
	} {
		if got := webhook.Known(c.typ); got != c.want {
			t.Errorf("Known(%q) = %v", c.typ, got)
		}
	}
}
