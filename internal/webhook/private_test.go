package webhook_test

import (
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/webhook"
)

// TestPrivateTargetsRefused: by default an endpoint may not point inside the
// network Concord runs in, neither when it is registered nor when a delivery
// connects (an address that changed after registration).
func TestPrivateTargetsRefused(t *testing.T) {
	t.Parallel()
	run(t, "registration refuses internal addresses", func(t *testing.T, f *fixture) {
		f.svc.AllowPrivateTargets = false
		for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:5432", "http://[::1]/h", "https://10.0.0.1/h",
			"http://[::ffff:192.168.0.1]/h", "http://100.64.0.1/", "http://localhost:8080/h"} {
			if _, err := f.svc.Create(f.ctx, webhook.EndpointInput{URL: u}); marketplace.ErrorCode(err) != marketplace.EInvalid ||
				!strings.Contains(marketplace.ErrorMessage(err), "--allow-private-targets") {
				t.Errorf("create %s: %v, want invalid naming the flag", u, err)
			}
		}
		e := f.create(webhook.EndpointInput{URL: "https://hooks.example.com/concord"})
		bad := "http://169.254.169.254/"
		if _, err := f.svc.Update(f.ctx, e.ID, webhook.EndpointPatch{URL: &bad}); marketplace.ErrorCode(err) != marketplace.EInvalid {
			t.Errorf("update to metadata address: %v", err)
		}
		if list, _ := f.svc.List(f.ctx); len(list) != 1 || list[0].URL != "https://hooks.example.com/concord" {
			t.Errorf("refused calls changed the endpoints: %+v", list)
		}
	})
	run(t, "delivery refuses to connect to an internal address", func(t *testing.T, f *fixture) {
		rc := f.receiver(nil)
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL}) // registered while allowed
		f.svc.AllowPrivateTargets = false
		f.emit(webhook.TenantCreated, nil)
		f.drain()
		d := f.only(e.ID)
		if d.State != webhook.StatePending || d.LastStatus != nil || !strings.Contains(d.LastError, "refused") {
			t.Errorf("delivery = %+v", d)
		}
		if n := len(rc.requests()); n != 0 {
			t.Errorf("the internal receiver got %d requests", n)
		}
	})
	run(t, "a failed delivery keeps the status, not the body", func(t *testing.T, f *fixture) {
		rc := f.receiver(func(int) int { return 500 }) // answers "answer 1"
		e := f.create(webhook.EndpointInput{URL: rc.srv.URL})
		f.emit(webhook.TenantCreated, nil)
		f.drain()
		if d := f.only(e.ID); d.LastError != "HTTP 500 Internal Server Error" || strings.Contains(d.LastError, "answer") {
			t.Errorf("delivery = %+v", d)
		}
	})
}
