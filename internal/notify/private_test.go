package notify_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
)

// TestSlackPrivateTargetsRefused: by default a Slack route may not point
// inside the network, at registration or when a delivery connects.
func TestSlackPrivateTargetsRefused(t *testing.T) {
	t.Parallel()
	run(t, "a route to an internal address is refused and nothing is stored", func(t *testing.T, f *fixture) {
		f.svc.AllowPrivateTargets = false
		for _, u := range []string{"https://169.254.169.254/services/x", "https://127.0.0.1:5432/x", "https://[::1]/x", "https://10.0.0.1/x", "https://localhost/x"} {
			_, err := f.svc.CreateRoute(f.ctx, notify.NotificationRouteInput{Kind: notify.KindNewOrder, Channel: notify.ChannelSlack, Target: u})
			if marketplace.ErrorCode(err) != marketplace.EInvalid || !strings.Contains(marketplace.ErrorMessage(err), "--allow-private-targets") {
				t.Errorf("route to %s: %v, want invalid naming the flag", u, err)
			}
		}
		if rs, err := f.svc.ListRoutes(f.ctx); err != nil || len(rs) != 0 {
			t.Errorf("routes after refusals: %+v %v", rs, err)
		}
	})
	run(t, "a delivery does not connect to an internal address", func(t *testing.T, f *fixture) {
		h := startSlack(t, f, func(int) int { return http.StatusOK })
		f.route(notify.KindNewOrder, notify.ChannelSlack, h.srv.URL+"/services/T/B/secret", "") // registered while allowed
		f.svc.AllowPrivateTargets = false
		id, _ := f.emit(order())
		f.drain()
		d := f.get(id).Deliveries[0]
		if d.Status == notify.StatusSent || !strings.Contains(d.LastError, "refused") || len(h.got()) != 0 {
			t.Fatalf("delivery %+v; the hook got %d posts", d, len(h.got()))
		}
	})
}
