package notify_test

import (
	"context"
	"net/mail"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// FuzzNotificationRoute sends arbitrary route input: nothing panics, bad input
// is an invalid error that stores nothing, and a stored route is one that can
// be delivered to (a bare email address, or an https URL) and reads back.
func FuzzNotificationRoute(f *testing.F) {
	db := storetest.Open(f, store.SQLite)
	svc := &notify.Service{DB: db}
	ctx := context.Background()
	f.Add("new_order", "email", "finance@seller.example", "")
	f.Add("*", "slack", "https://hooks.slack.com/services/T0/B0/abc", "prod-acme")
	f.Add("*", "email", "Finance <finance@seller.example>", "")
	f.Add("renewal", "email", "a@b.example\r\nBcc: x@y.example", "")
	f.Add("renewal", "slack", "http://hooks.slack.com/x", "")
	f.Add("renewal", "slack", "https://user:pw@hooks.slack.com/x", "")
	f.Add("nope", "fax", "", "")
	f.Add("agreement_ending", "email", "\xff@x.example", "p\x00")
	f.Fuzz(func(t *testing.T, kind, channel, target, product string) {
		in := notify.NotificationRouteInput{Kind: kind, Channel: channel, Target: target, ProductID: product}
		before := storetest.Count(t, db, "notification_routes")
		r, err := svc.CreateRoute(ctx, in)
		if err != nil {
			if c := marketplace.ErrorCode(err); c != marketplace.EInvalid && c != marketplace.EConflict {
				t.Fatalf("CreateRoute(%+v): %v", in, err)
			}
			if msg := marketplace.ErrorMessage(err); msg == "" || !utf8.ValidString(msg) {
				t.Fatalf("unclear message %q", msg)
			}
			if storetest.Count(t, db, "notification_routes") != before {
				t.Fatalf("a refused route changed the table: %+v", in)
			}
			return
		}
		defer svc.DeleteRoute(ctx, r.ID)
		clean, err := notify.CheckRoute(in)
		if err != nil {
			t.Fatalf("stored but CheckRoute refuses: %v", err)
		}
		if again, err := notify.CheckRoute(clean); err != nil || again != clean {
			t.Fatalf("CheckRoute is not idempotent: %+v -> %+v, %v", clean, again, err)
		}
		switch clean.Channel {
		case notify.ChannelEmail:
			a, err := mail.ParseAddress(clean.Target)
			if err != nil || a.Address != clean.Target || a.Name != "" || strings.ContainsAny(clean.Target, "\r\n") || r.Target != clean.Target {
				t.Fatalf("stored email target %q (%v)", clean.Target, err)
			}
		case notify.ChannelSlack:
			u, err := url.Parse(clean.Target)
			if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
				t.Fatalf("stored webhook target %q", clean.Target)
			}
		default:
			t.Fatalf("stored channel %q", clean.Channel)
		}
		if clean.Kind != "*" && !notify.KnownKind(clean.Kind) {
			t.Fatalf("stored kind %q", clean.Kind)
		}
		routes, err := svc.ListRoutes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range routes {
			found = found || x.ID == r.ID
		}
		if !found {
			t.Fatalf("route %s does not read back", r.ID)
		}
	})
}
