package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestAuditPage: an admin's change to a product is on the Audit page under
// the admin's e-mail, with the setting's old and new value; other roles
// cannot read the trail; the offer history names who took each step.
func TestAuditPage(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		d := e.data()
		admin := e.login("admin@seller.example")
		edit := admin.get("/console/settings/products/prod-o")
		p := admin.post("/console/settings/products/prod-o", form(t, edit,
			"title", "Observa Enterprise", "product-code", "code-o", "type", marketplace.ProductSaaSContractConsumption, "concurrent", "on",
			"dim-0-key", "seats", "dim-0-kind", "contract", "dim-1-key", "api_calls", "dim-1-kind", "usage",
			"strategy", marketplace.StrategySeparate, "auto-register", "off"))
		wantRedirect(t, p, "/console/settings/products/prod-o?saved=1")

		page := admin.get("/console/audit?object=product")
		if page.status != 200 {
			t.Fatalf("audit page: %d\n%s", page.status, page.body)
		}
		wantIn(t, page, "admin@seller.example", "product.update", "<code>title</code>", "<del>Observa</del>", "<ins>Observa Enterprise</ins>")

		t.Run("filters by actor and day", func(t *testing.T) {
			if p := admin.get("/console/audit?actor=someone@else.example"); p.status != 200 || strings.Contains(p.body, "product.update") {
				t.Errorf("another actor's filter shows the change: %d", p.status)
			}
			if p := admin.get("/console/audit?from=2000-01-01&to=2000-01-02"); strings.Contains(p.body, "product.update") {
				t.Errorf("a past day shows today's change")
			}
			today := time.Now().UTC().Format(time.DateOnly)
			wantIn(t, admin.get("/console/audit?actor=admin@seller.example&from="+today+"&to="+today), "product.update")
			if p := admin.get("/console/audit?from=someday"); p.status != 400 || !strings.Contains(p.body, `href="#from"`) {
				t.Errorf("a bad day: %d", p.status)
			}
		})

		t.Run("only admins read it", func(t *testing.T) {
			viewer := e.login("viewer@seller.example")
			if p := viewer.get("/console/audit"); p.status != http.StatusForbidden || strings.Contains(p.body, "product.update") {
				t.Errorf("read-only user: %d", p.status)
			}
			if strings.Contains(viewer.get("/console/").body, `href="/console/audit"`) {
				t.Errorf("the read-only user's menu links to the audit page")
			}
		})

		t.Run("the offer history names who took a step", func(t *testing.T) {
			token := csrfOf(t, admin.get("/console/offers/"+d.offer.ID))
			if p := admin.post("/console/offers/"+d.offer.ID+"/cancel", url.Values{"csrf": {token}, "reason": {"buyer went elsewhere"}}); p.status != http.StatusSeeOther {
				t.Fatalf("cancel: %d\n%s", p.status, p.body)
			}
			o, err := e.svc.Offers.Get(context.Background(), d.offer.ID)
			if err != nil {
				t.Fatal(err)
			}
			last := o.History[len(o.History)-1]
			if last.By != "admin@seller.example" || o.History[0].By != "" {
				t.Errorf("history = %+v, want the cancel by admin@seller.example and the creation (by the test, no actor) by nobody", o.History)
			}
			wantIn(t, admin.get("/console/offers/"+d.offer.ID), "by admin@seller.example")
		})
	})
}

// TestNotificationPage: a notification opens on a page of its own with its
// text to copy, its HTML framed in a sandbox (never in the page), and its
// attachments to download.
func TestNotificationPage(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		e.data()
		ctx := context.Background()
		var id string
		err := db.Write(ctx, func(tx *store.Tx) error {
			var err error
			id, _, err = e.svc.Notify.Emit(ctx, tx, now, notify.Notice{Kind: notify.KindPurchaseInstructions, Key: "instructions:t", ProductID: "prod-o",
				To: []string{"buyer@acme.example"}, BuyerFacing: true,
				Data:        notify.InstructionsData{OfferName: `Acme <script>alert(1)</script>`, Link: "https://aws.amazon.com/marketplace/offer/x", ProductTitle: "Observa"},
				Attachments: []notify.Attachment{{Name: "order.csv", ContentType: "text/csv", Data: []byte("a,b\n1,2\n")}}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		c := e.login("viewer@seller.example")
		wantIn(t, c.get("/console/notifications"), `href="/console/notifications/`+id+`"`)
		p := c.get("/console/notifications/" + id)
		if p.status != 200 {
			t.Fatalf("notification page: %d\n%s", p.status, p.body)
		}
		wantIn(t, p, `<iframe class="message-html"`, `sandbox=""`, `srcdoc="`, `id="message-text"`, "buyer@acme.example", "order.csv")
		if strings.Contains(p.body, "<script>") {
			t.Errorf("the notification's HTML reached the page unescaped")
		}
		n, err := e.svc.Notify.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(n.Text, "https://aws.amazon.com/marketplace/offer/x") || !strings.Contains(p.body, html.EscapeString(strings.TrimSpace(strings.SplitN(n.Text, "\n", 2)[0]))) {
			t.Errorf("the page lacks the text:\n%s", n.Text)
		}
		a := c.get("/console/notifications/" + id + "/attachments/1")
		if a.status != 200 || a.body != "a,b\n1,2\n" || !strings.Contains(a.header.Get("Content-Disposition"), "order.csv") {
			t.Errorf("attachment: %d %v %q", a.status, a.header, a.body)
		}
		for _, bad := range []string{"/console/notifications/" + id + "/attachments/2", "/console/notifications/" + id + "/attachments/x", "/console/notifications/ntf_nope"} {
			if p := c.get(bad); p.status != http.StatusNotFound {
				t.Errorf("%s: %d", bad, p.status)
			}
		}
	})
}

// TestWalkthroughFixes: the partner offers' state filter lists only the
// states a partner offer can be in; the dashboard counts failed webhook
// deliveries with the failed notifications.
func TestWalkthroughFixes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		c := e.login("viewer@seller.example")

		p := c.get("/console/partners")
		wantIn(t, p, `<option value="extended"`, `<option value="accepted"`)
		wantNotIn(t, p, `<option value="instructions_sent"`, `<option value="viewed"`)
		if p := c.get("/console/partners?state=viewed"); p.status != http.StatusBadRequest {
			t.Errorf("a direct-only state: %d", p.status)
		}

		wantIn(t, c.get("/console/"), "0 webhook deliveries failed")
		if err := db.Write(context.Background(), func(tx *store.Tx) error {
			_, err := tx.Exec(context.Background(), `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, state, attempts, created_at, updated_at)
				VALUES ('whd_1', 'wh_1', 'ev_1', 'license.activated', '{}', 'failed', 8, 0, 0)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		wantIn(t, c.get("/console/"), "1 webhook delivery failed")
	})
}
