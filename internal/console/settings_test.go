package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
	"github.com/concordmp/concord/internal/webhook"
)

// form is url.Values with the page's CSRF token.
func form(t *testing.T, p page, kv ...string) url.Values {
	t.Helper()
	v := url.Values{"csrf": {csrfOf(t, p)}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func wantStatus(t *testing.T, p page, status int) {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d:\n%s", p.status, status, p.body)
	}
}

func wantRedirect(t *testing.T, p page, location string) {
	t.Helper()
	if p.status != http.StatusSeeOther || p.header.Get("Location") != location {
		t.Fatalf("%d to %q, want 303 to %q:\n%s", p.status, p.header.Get("Location"), location, p.body)
	}
}

func wantNotIn(t *testing.T, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if strings.Contains(p.body, s) {
			t.Fatalf("the page (%d) shows %q:\n%s", p.status, s, p.body)
		}
	}
}

var secretRE = regexp.MustCompile(`id="new-secret" value="([^"]+)"`)

func secretOf(t *testing.T, p page) string {
	t.Helper()
	m := secretRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no secret in the page (%d):\n%s", p.status, p.body)
	}
	return m[1]
}

func TestSettingsOverview(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		e.data()
		p := e.login("admin@seller.example").get("/console/settings")
		wantStatus(t, p, http.StatusOK)
		wantHeaders(t, p)
		wantIn(t, p, "<h1>Settings</h1>", `aria-current="page">Settings`, `href="/console/settings/products">Products and listings`,
			`href="/console/settings/routes">Notification routes`, `href="/console/settings/api-keys">API keys`,
			`href="/console/settings/webhooks">Webhooks`, `href="/console/settings/users">Users`, "1 product", "1 route", "2 users")
	})
}

func TestSettingsProductForm(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		c := e.login("admin@seller.example")
		get := func(id string) marketplace.Product {
			t.Helper()
			p, err := e.svc.Ledger.GetProduct(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}

		list := c.get("/console/settings/products")
		wantIn(t, list, "No products yet.", `href="/console/settings/products/new"`)
		blank := c.get("/console/settings/products/new")
		wantStatus(t, blank, http.StatusOK)
		wantHeaders(t, blank)
		// The registration page's default questions are shown, so adding one keeps them.
		wantIn(t, blank, `<label for="product-id">Product id</label>`, `id="concurrent" name="concurrent" value="on" aria-describedby="concurrent-hint" checked`,
			`name="field-0-key" value="company"`, `name="field-2-key" value="email"`, `id="dim-2-key"`, `id="meta-2-key"`,
			`value="separate" aria-describedby="strategy-separate-hint" checked`, "turns on CPPO tracking")

		t.Run("create", func(t *testing.T) {
			p := c.post("/console/settings/products/new", form(t, blank,
				"product-id", "prod-new", "title", "Acme Analytics", "product-code", "code-new", "type", marketplace.ProductSaaSContractConsumption,
				"concurrent", "on",
				"dim-0-key", "seats", "dim-0-name", "Seats", "dim-0-unit", "Users", "dim-0-kind", "contract",
				"dim-1-key", "api_calls", "dim-1-name", "API calls", "dim-1-kind", "usage",
				"dim-2-key", "", "dim-2-name", "", "dim-2-unit", "", "dim-2-kind", "",
				"zero-usage", "api_calls",
				"meta-0-key", marketplace.CPPOOpportunityField, "meta-0-label", "Partner opportunity", "meta-0-required", "on",
				"meta-1-key", "PO number", "meta-1-label", "",
				"meta-2-key", "",
				"strategy", marketplace.StrategyChoice, "logo-url", "", "support-url", "https://acme.example/support", "app-url", "https://app.acme.example/",
				"auto-register", "30m",
				"field-0-key", "company", "field-0-label", "Company name", "field-0-type", "text", "field-0-required", "on",
				"field-1-key", "region", "field-1-label", "Data region", "field-1-type", "select", "field-1-required", "on", "field-1-options", "EU\r\nUS\r\n",
				"field-1-help", "Where your data lives.",
				"field-2-key", "", "field-2-label", "", "field-2-type", "text"))
			wantRedirect(t, p, "/console/settings/products/prod-new?saved=1")
			got := get("prod-new")
			want := marketplace.Product{ProductID: "prod-new", ProductCode: "code-new", Title: "Acme Analytics", Type: marketplace.ProductSaaSContractConsumption,
				ConcurrentAgreements: true, ZeroUsageDimension: "api_calls",
				Dimensions:       []marketplace.Dimension{{Key: "seats", Name: "Seats", Unit: "Users", Kind: "contract"}, {Key: "api_calls", Name: "API calls", Kind: "usage"}},
				ContractMetadata: []marketplace.MetadataField{{Key: marketplace.CPPOOpportunityField, Label: "Partner opportunity", Required: true}, {Key: "PO number"}},
				Registration: marketplace.Registration{Strategy: marketplace.StrategyChoice, SupportURL: "https://acme.example/support", AppURL: "https://app.acme.example/",
					AutoRegisterAfter: "30m", Fields: []marketplace.RegistrationField{
						{Key: "company", Label: "Company name", Type: "text", Required: true},
						{Key: "region", Label: "Data region", Type: "select", Required: true, Options: []string{"EU", "US"}, Help: "Where your data lives."}}}}
			got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
			if !productEqual(got, want) {
				t.Fatalf("stored %+v\nwant %+v", got, want)
			}
			if !got.TracksCPPO() {
				t.Fatal("CPPO tracking is off")
			}
			page := c.get("/console/settings/products/prod-new?saved=1")
			wantIn(t, page, "<h1>Acme Analytics</h1>", `role="status"`, "Saved.", `name="dim-0-key" value="seats"`, `name="dim-1-key" value="api_calls"`,
				`name="meta-0-key" value="CPPO Opportunity ID"`, `id="meta-0-required" name="meta-0-required" value="on" checked`,
				`value="choice" aria-describedby="strategy-choice-hint" checked`, `name="field-1-key" value="region"`, "EU\nUS</textarea>",
				`action="/console/settings/products/prod-new"`)
			wantIn(t, c.get("/console/settings/products"), `href="/console/settings/products/prod-new">Acme Analytics</a>`, "SaaS contract with consumption",
				"Buyer&#39;s choice", "CPPO tracking on")
		})

		t.Run("edit", func(t *testing.T) {
			edit := c.get("/console/settings/products/prod-new")
			p := c.post("/console/settings/products/prod-new", form(t, edit,
				"title", "Acme Analytics Pro", "product-code", "code-new", "type", marketplace.ProductSaaSContract,
				// concurrent left unticked: a legacy listing
				"dim-0-key", "seats", "dim-0-kind", "contract",
				"dim-1-key", "", "dim-1-name", "", "dim-1-kind", "", // cleared: removed
				"dim-2-key", "storage_gb", "dim-2-kind", "usage",
				"zero-usage", "",
				"meta-0-key", "PO number",
				"strategy", marketplace.StrategyUnified, "auto-register", "off",
				"field-0-key", "company", "field-0-label", "Company", "field-0-type", "text", "field-0-required", "on"))
			wantRedirect(t, p, "/console/settings/products/prod-new?saved=1")
			got := get("prod-new")
			if got.Title != "Acme Analytics Pro" || got.Type != marketplace.ProductSaaSContract || got.ConcurrentAgreements || got.ZeroUsageDimension != "" ||
				len(got.Dimensions) != 2 || got.Dimensions[1] != (marketplace.Dimension{Key: "storage_gb", Kind: "usage"}) ||
				len(got.ContractMetadata) != 1 || got.TracksCPPO() || got.Registration.Strategy != marketplace.StrategyUnified ||
				got.Registration.AutoRegisterAfter != "off" || got.Registration.SupportURL != "" || len(got.Registration.Fields) != 1 {
				t.Fatalf("after the edit: %+v", got)
			}
		})

		t.Run("invalid input saves nothing", func(t *testing.T) {
			before := get("prod-new")
			edit := c.get("/console/settings/products/prod-new")
			base := []string{"title", "Changed", "product-code", "code-new", "dim-0-key", "seats", "dim-0-kind", "contract", "field-0-key", "company",
				"field-0-label", "Company", "field-0-type", "text", "field-0-required", "on"}
			for _, tc := range []struct {
				name   string
				kv     []string
				status int
				want   []string
			}{
				{"zero usage on a contract dimension", []string{"zero-usage", "seats"}, 400,
					[]string{`<a href="#zero-usage">The zero-usage dimension &#34;seats&#34; must be one of the product&#39;s usage dimensions</a>`,
						`aria-describedby="zero-usage-hint zero-usage-error" aria-invalid="true"`}},
				{"a dimension without a key", []string{"dim-1-key", "", "dim-1-name", "Storage"}, 400,
					[]string{`<a href="#dim-1-key">Dimension row 2: enter its API name (key), or clear the row.</a>`, `name="dim-1-name" value="Storage"`}},
				{"a bad dimension key", []string{"dim-1-key", "has space"}, 400, []string{`<a href="#dimensions">The dimension key &#34;has space&#34; is invalid</a>`}},
				{"CPPO in the wrong case", []string{"meta-0-key", "cppo opportunity id"}, 400, []string{`<a href="#metadata">`, "it is case-sensitive"}},
				{"a bad strategy", []string{"strategy", "shared"}, 400, []string{`<a href="#strategy">The tenant strategy &#34;shared&#34; is invalid`}},
				{"a logo that is not a URL", []string{"logo-url", "logo.png"}, 400, []string{`<a href="#logo-url">`, `aria-describedby="logo-url-hint logo-url-error" aria-invalid="true"`}},
				{"a select without choices", []string{"field-1-key", "region", "field-1-label", "Region", "field-1-type", "select"}, 400,
					[]string{`<a href="#fields">The registration question &#34;region&#34;: options belong to select fields`}},
				{"a bad auto-register delay", []string{"auto-register", "soon"}, 400, []string{`<a href="#auto-register">`}},
				{"a bad type", []string{"type", "ami"}, 400, []string{`<a href="#type">The type &#34;ami&#34; is invalid`}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					p := c.post("/console/settings/products/prod-new", form(t, edit, append(slices.Clone(base), tc.kv...)...))
					wantStatus(t, p, tc.status)
					wantHeaders(t, p)
					wantIn(t, p, append(tc.want, `value="Changed"`, `role="alert"`)...)
				})
			}
			if after := get("prod-new"); after.Title != before.Title || !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Fatalf("a refused form changed the product: %+v", after)
			}

			// A product code another product has, and an id that exists already: conflicts.
			if _, err := e.svc.Ledger.PutProduct(ctx, marketplace.Product{ProductID: "prod-other", ProductCode: "code-other"}); err != nil {
				t.Fatal(err)
			}
			p := c.post("/console/settings/products/prod-new", form(t, edit, "title", "Changed", "product-code", "code-other"))
			wantStatus(t, p, http.StatusConflict)
			wantIn(t, p, `<a href="#product-code">The product code code-other already belongs to product prod-other</a>`)
			p = c.post("/console/settings/products/new", form(t, edit, "product-id", "prod-other", "title", "Overwrite"))
			wantStatus(t, p, http.StatusConflict)
			wantIn(t, p, `<a href="#product-id">A product with the id prod-other exists already`)
			p = c.post("/console/settings/products/new", form(t, edit, "product-id", "bad id!", "title", "X"))
			wantStatus(t, p, http.StatusBadRequest)
			wantIn(t, p, `<a href="#product-id">The product id &#34;bad id!&#34; is invalid`, `value="bad id!"`)
			if got := get("prod-other"); got.Title != "" {
				t.Fatalf("prod-other changed: %+v", got)
			}
			if _, err := e.svc.Ledger.GetProduct(ctx, "bad id!"); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Fatalf("bad id: %v", err)
			}
			if p := c.get("/console/settings/products/no-such-product"); p.status != http.StatusNotFound {
				t.Fatalf("unknown product: %d", p.status)
			}
			if p := c.post("/console/settings/products/no-such-product", form(t, edit, "title", "X")); p.status != http.StatusNotFound {
				t.Fatalf("saving an unknown product: %d", p.status)
			}
		})
	})
}

func productEqual(a, b marketplace.Product) bool {
	return a.ProductID == b.ProductID && a.ProductCode == b.ProductCode && a.Title == b.Title && a.Type == b.Type &&
		a.ConcurrentAgreements == b.ConcurrentAgreements && a.ZeroUsageDimension == b.ZeroUsageDimension &&
		slices.Equal(a.Dimensions, b.Dimensions) && slices.Equal(a.ContractMetadata, b.ContractMetadata) &&
		a.Registration.Strategy == b.Registration.Strategy && a.Registration.LogoURL == b.Registration.LogoURL &&
		a.Registration.SupportURL == b.Registration.SupportURL && a.Registration.AppURL == b.Registration.AppURL &&
		a.Registration.AutoRegisterAfter == b.Registration.AutoRegisterAfter &&
		slices.EqualFunc(a.Registration.Fields, b.Registration.Fields, func(x, y marketplace.RegistrationField) bool {
			return x.Key == y.Key && x.Label == y.Label && x.Type == y.Type && x.Required == y.Required && x.Help == y.Help && slices.Equal(x.Options, y.Options)
		})
}

func TestSettingsRoutes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		c := e.login("admin@seller.example")
		p := c.get("/console/settings/routes")
		wantHeaders(t, p)
		wantIn(t, p, "No routes yet", `<label for="route-kind">Kind of notification</label>`, `<option value="*">Every kind</option>`)

		const slackURL = "https://hooks.slack.com/services/T000/B000/SECRETPATHXYZW"
		p = c.post("/console/settings/routes", form(t, p, "kind", notify.KindNewOrder, "channel", "email", "target", "finance@seller.example", "product", ""))
		wantRedirect(t, p, "/console/settings/routes?added="+mustRoute(t, e, 0).ID)
		p = c.post("/console/settings/routes", form(t, c.get("/console/settings/routes"), "kind", "*", "channel", "slack", "target", slackURL, "product", ""))
		if p.status != http.StatusSeeOther {
			t.Fatalf("slack route: %d\n%s", p.status, p.body)
		}
		list := c.get(p.header.Get("Location"))
		wantIn(t, list, "Route added.", "finance@seller.example", "New order", "Every kind", "https://hooks.slack.com/…XYZW")
		wantNotIn(t, list, "SECRETPATH")

		// Bad input: 400 next to the field; a Slack URL is not shown back.
		p = c.post("/console/settings/routes", form(t, list, "kind", notify.KindRenewal, "channel", "slack", "target", "http://hooks.slack.com/services/SECRETPATH2", "product", ""))
		wantStatus(t, p, http.StatusBadRequest)
		wantIn(t, p, `<a href="#route-target">The webhook URL must start with https://`, `aria-invalid="true"`)
		wantNotIn(t, p, "SECRETPATH2")
		p = c.post("/console/settings/routes", form(t, list, "kind", "nonsense", "channel", "email", "target", "a@b.example"))
		wantStatus(t, p, http.StatusBadRequest)
		wantIn(t, p, `<a href="#route-kind">Unknown kind`)
		p = c.post("/console/settings/routes", form(t, list, "kind", notify.KindNewOrder, "channel", "email", "target", "finance@seller.example"))
		wantStatus(t, p, http.StatusConflict)
		wantIn(t, p, "The same route exists already", `value="finance@seller.example"`)
		if routes, _ := e.svc.Notify.ListRoutes(ctx); len(routes) != 2 {
			t.Fatalf("%d routes after refused input", len(routes))
		}

		first := mustRoute(t, e, 0)
		wantIn(t, list, `action="/console/settings/routes/`+first.ID+`/delete"`)
		wantRedirect(t, c.post("/console/settings/routes/"+first.ID+"/delete", form(t, list)), "/console/settings/routes?deleted=1")
		routes, err := e.svc.Notify.ListRoutes(ctx)
		if err != nil || len(routes) != 1 || routes[0].Channel != notify.ChannelSlack {
			t.Fatalf("after delete: %+v %v", routes, err)
		}
		if p := c.post("/console/settings/routes/"+first.ID+"/delete", form(t, list)); p.status != http.StatusNotFound {
			t.Fatalf("deleting twice: %d", p.status)
		}
	})
}

func mustRoute(t *testing.T, e *env, i int) notify.NotificationRoute {
	t.Helper()
	routes, err := e.svc.Notify.ListRoutes(context.Background())
	if err != nil || len(routes) <= i {
		t.Fatalf("routes %+v %v", routes, err)
	}
	return routes[i]
}

func TestSettingsAPIKeys(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		c := e.login("admin@seller.example")
		p := c.get("/console/settings/api-keys")
		wantIn(t, p, "No API keys yet", `<label for="key-name">Name</label>`)

		created := c.post("/console/settings/api-keys", form(t, p, "name", "billing service"))
		wantStatus(t, created, http.StatusOK)
		wantHeaders(t, created)
		wantIn(t, created, "Copy the new key now", "shown only this once", "billing service")
		secret := secretOf(t, created)
		k, err := apikey.Verify(ctx, db, secret)
		if err != nil || k.Name != "billing service" {
			t.Fatalf("the key shown does not verify: %+v %v", k, err)
		}
		list := c.get("/console/settings/api-keys")
		wantIn(t, list, "billing service", "<code>"+k.Prefix+"…</code>", "Never", "Active")
		wantNotIn(t, list, secret, "new-secret")

		p = c.post("/console/settings/api-keys", form(t, list, "name", "  "))
		wantStatus(t, p, http.StatusBadRequest)
		wantIn(t, p, `<a href="#key-name">Enter a name of 1 to 100 characters`)
		if keys, _ := apikey.List(ctx, db); len(keys) != 1 {
			t.Fatalf("%d keys after a refused form", len(keys))
		}

		wantIn(t, list, `action="/console/settings/api-keys/`+k.ID+`/revoke"`)
		wantRedirect(t, c.post("/console/settings/api-keys/"+k.ID+"/revoke", form(t, list)), "/console/settings/api-keys?revoked=1")
		if _, err := apikey.Verify(ctx, db, secret); marketplace.ErrorCode(err) != marketplace.EUnauthorized {
			t.Fatalf("a revoked key verifies: %v", err)
		}
		list = c.get("/console/settings/api-keys?revoked=1")
		wantIn(t, list, "The key is revoked", "Revoked")
		wantNotIn(t, list, "/revoke")
		if p := c.post("/console/settings/api-keys/"+k.ID+"/revoke", form(t, list)); p.status != http.StatusNotFound {
			t.Fatalf("revoking twice: %d", p.status)
		}
	})
}

func TestSettingsWebhooks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		c := e.login("admin@seller.example")
		p := c.get("/console/settings/webhooks")
		wantIn(t, p, "No webhook endpoints yet", `value="license.activated"`, "Tick none to receive every event")

		bad := c.post("/console/settings/webhooks", form(t, p, "url", "ftp://app.example/hooks", "description", "production", "events", webhook.TenantCreated))
		wantStatus(t, bad, http.StatusBadRequest)
		wantIn(t, bad, `<a href="#webhook-url">The URL must be an absolute http:// or https:// URL</a>`, `value="production"`,
			`value="tenant.created" aria-describedby="event-0-hint" checked`)

		const hookURL = "https://app.example.com/hooks/concord?token=TOPSECRETTOKEN9876"
		created := c.post("/console/settings/webhooks", form(t, p, "url", hookURL, "description", "production",
			"events", webhook.TenantCreated, "events", webhook.LicenseActivated))
		wantStatus(t, created, http.StatusOK)
		wantIn(t, created, "Copy the signing secret now", "Endpoint added.", "tenant.created, license.activated", "production")
		secret := secretOf(t, created)
		if !strings.HasPrefix(secret, webhook.SecretPrefix) {
			t.Fatalf("secret %q", secret)
		}
		eps, err := e.svc.Webhooks.List(ctx)
		if err != nil || len(eps) != 1 || !slices.Equal(eps[0].Events, []string{webhook.TenantCreated, webhook.LicenseActivated}) ||
			eps[0].Description != "production" || !eps[0].Enabled || eps[0].URL != hookURL {
			t.Fatalf("endpoints %+v %v", eps, err)
		}
		id := eps[0].ID
		path := "/console/settings/webhooks/" + id
		list := c.get("/console/settings/webhooks")
		wantIn(t, list, `href="`+path+`">https://app.example.com/…9876</a>`, "Enabled")
		wantNotIn(t, list, "TOPSECRETTOKEN", secret)

		// Send a test.
		wantRedirect(t, c.post(path+"/ping", form(t, list)), path+"?pinged=1")
		ds, err := e.svc.Webhooks.ListDeliveries(ctx, id, "", webhook.Page{})
		if err != nil || len(ds) != 1 || ds[0].EventType != webhook.Ping {
			t.Fatalf("deliveries %+v %v", ds, err)
		}
		detail := c.get(path + "?pinged=1")
		wantHeaders(t, detail)
		wantIn(t, detail, "webhook.ping event is queued", "<code>webhook.ping</code>", "Pending", ds[0].EventID)
		wantNotIn(t, detail, "TOPSECRETTOKEN", secret, "new-secret")

		// Rotate: a new secret, shown once.
		rotated := c.post(path+"/rotate", form(t, detail))
		wantStatus(t, rotated, http.StatusOK)
		if s2 := secretOf(t, rotated); s2 == secret || !strings.HasPrefix(s2, webhook.SecretPrefix) {
			t.Fatalf("rotated secret %q (was %q)", s2, secret)
		}
		wantNotIn(t, c.get(path), "new-secret")

		// Disable, where a test cannot be sent; enable again.
		wantRedirect(t, c.post(path+"/disable", form(t, detail)), path+"?disabled=1")
		if ep, _ := e.svc.Webhooks.Get(ctx, id); ep.Enabled {
			t.Fatal("still enabled")
		}
		disabled := c.get(path + "?disabled=1")
		wantIn(t, disabled, "Endpoint disabled", `action="`+path+`/enable"`)
		wantNotIn(t, disabled, path+"/ping")
		if p := c.post(path+"/ping", form(t, detail)); p.status != http.StatusConflict || !strings.Contains(p.body, "is disabled: enable it first") {
			t.Fatalf("ping while disabled: %d", p.status)
		}
		wantRedirect(t, c.post(path+"/enable", form(t, detail)), path+"?enabled=1")
		if ep, _ := e.svc.Webhooks.Get(ctx, id); !ep.Enabled {
			t.Fatal("not enabled")
		}

		// Delete.
		wantRedirect(t, c.post(path+"/delete", form(t, detail)), "/console/settings/webhooks?deleted=1")
		if eps, _ := e.svc.Webhooks.List(ctx); len(eps) != 0 {
			t.Fatalf("endpoints after delete: %+v", eps)
		}
		if p := c.get(path); p.status != http.StatusNotFound {
			t.Fatalf("deleted endpoint: %d", p.status)
		}
	})
}

func TestSettingsUsers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		admin := e.login("admin@seller.example")
		user := func(email string) console.User {
			t.Helper()
			users, err := e.console.ListUsers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range users {
				if u.Email == email {
					return u
				}
			}
			t.Fatalf("no user %s in %+v", email, users)
			return console.User{}
		}
		p := admin.get("/console/settings/users")
		wantHeaders(t, p)
		wantIn(t, p, "admin@seller.example <span class=\"muted\">(you)</span>", "viewer@seller.example", `<label for="user-password">Password</label>`)

		t.Run("add", func(t *testing.T) {
			bad := admin.post("/console/settings/users", form(t, p, "email", "not-an-email", "role", "owner", "password", "short"))
			wantStatus(t, bad, http.StatusBadRequest)
			wantIn(t, bad, `<a href="#user-email">Enter an email address like name@example.com.</a>`, `<a href="#user-role">Choose a role:`,
				`<a href="#user-password">Use a password of 12 to 256 characters.</a>`, `value="not-an-email"`)
			wantNotIn(t, bad, `value="short"`)
			dup := admin.post("/console/settings/users", form(t, p, "email", "VIEWER@seller.example", "role", console.RoleAdmin, "password", password))
			wantStatus(t, dup, http.StatusConflict)
			wantIn(t, dup, `<a href="#user-email">A user with the email viewer@seller.example exists already.</a>`)

			ok := admin.post("/console/settings/users", form(t, p, "email", "Rita@Seller.example", "role", console.RoleRevOps, "password", password))
			wantRedirect(t, ok, "/console/settings/users?added=rita%40seller.example")
			wantIn(t, admin.get(ok.header.Get("Location")), "Added rita@seller.example.")
			if u := user("rita@seller.example"); u.Role != console.RoleRevOps || u.Disabled {
				t.Fatalf("added %+v", u)
			}
			e.login("rita@seller.example")
		})

		t.Run("role and disable", func(t *testing.T) {
			rita := user("rita@seller.example")
			ritaC := e.login("rita@seller.example")
			wantRedirect(t, admin.post("/console/settings/users/"+rita.ID+"/role", form(t, p, "role", console.RoleFinance)),
				"/console/settings/users?role="+rita.ID)
			if u := user("rita@seller.example"); u.Role != console.RoleFinance {
				t.Fatalf("role %s", u.Role)
			}
			wantIn(t, ritaC.get("/console/"), "(finance)")
			if p := admin.post("/console/settings/users/"+rita.ID+"/role", form(t, p, "role", "owner")); p.status != http.StatusBadRequest {
				t.Fatalf("bad role: %d", p.status)
			}

			wantRedirect(t, admin.post("/console/settings/users/"+rita.ID+"/disable", form(t, p)), "/console/settings/users?disabled="+rita.ID)
			wantIn(t, admin.get("/console/settings/users?disabled="+rita.ID), "rita@seller.example is disabled and was signed out everywhere.", "Disabled")
			if p := ritaC.get("/console/"); p.status != http.StatusSeeOther {
				t.Fatalf("a disabled user's session still works: %d", p.status)
			}
			c := e.client()
			lp := c.post("/console/login", url.Values{"email": {"rita@seller.example"}, "password": {password}, "csrf": {csrfOf(t, c.get("/console/login"))}})
			wantStatus(t, lp, http.StatusUnauthorized)
			if n := countSessions(t, db, rita.ID); n != 0 {
				t.Fatalf("%d sessions of a disabled user", n)
			}

			wantRedirect(t, admin.post("/console/settings/users/"+rita.ID+"/enable", form(t, p)), "/console/settings/users?enabled="+rita.ID)
			e.login("rita@seller.example")
		})

		t.Run("the last admin", func(t *testing.T) {
			me := user("admin@seller.example")
			p := admin.post("/console/settings/users/"+me.ID+"/role", form(t, p, "role", console.RoleReadOnly))
			wantStatus(t, p, http.StatusConflict)
			wantIn(t, p, `<a href="#role-`+me.ID+`">admin@seller.example is the last enabled admin`, `id="role-`+me.ID+`-error"`)
			p = admin.post("/console/settings/users/"+me.ID+"/disable", form(t, p))
			wantStatus(t, p, http.StatusConflict)
			wantIn(t, p, "You cannot disable your own account.")
			if _, err := e.console.SetDisabled(ctx, me.ID, true); marketplace.ErrorCode(err) != marketplace.EConflict {
				t.Fatalf("disabling the last admin: %v", err)
			}

			// With a second admin, the first may step down; the second is
			// then the last, and a disabled admin does not count.
			if _, err := e.console.CreateUser(ctx, console.NewUser{Email: "ada@seller.example", Role: console.RoleAdmin, Password: password}); err != nil {
				t.Fatal(err)
			}
			ada := user("ada@seller.example")
			if _, err := e.console.SetDisabled(ctx, ada.ID, true); err != nil {
				t.Fatal(err)
			}
			if p := admin.post("/console/settings/users/"+me.ID+"/role", form(t, p, "role", console.RoleRevOps)); p.status != http.StatusConflict {
				t.Fatalf("demoting the last enabled admin beside a disabled one: %d", p.status)
			}
			if _, err := e.console.SetDisabled(ctx, ada.ID, false); err != nil {
				t.Fatal(err)
			}
			wantRedirect(t, admin.post("/console/settings/users/"+me.ID+"/role", form(t, p, "role", console.RoleRevOps)), "/console/settings/users?role="+me.ID)
			if p := admin.post("/console/settings/users", form(t, p, "email", "x@seller.example", "role", "admin", "password", password)); p.status != http.StatusForbidden {
				t.Fatalf("a demoted admin adds a user: %d", p.status)
			}
			adaC := e.login("ada@seller.example")
			p = adaC.post("/console/settings/users/"+ada.ID+"/role", form(t, adaC.get("/console/settings/users"), "role", console.RoleFinance))
			wantStatus(t, p, http.StatusConflict)
			wantIn(t, p, "ada@seller.example is the last enabled admin")
			if u := user("ada@seller.example"); u.Role != console.RoleAdmin {
				t.Fatalf("the last admin was demoted: %+v", u)
			}
		})
	})
}

func countSessions(t *testing.T, db *store.DB, userID string) int {
	t.Helper()
	var n int
	if err := db.Read(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM console_sessions WHERE user_id = ?`, userID).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSettingsRefusals: the revops and read-only roles see every settings
// page without a form, and every settings POST answers them 403 and changes
// nothing.
func TestSettingsRefusals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		e.data()
		if _, err := e.console.CreateUser(ctx, console.NewUser{Email: "rev@seller.example", Role: console.RoleRevOps, Password: password}); err != nil {
			t.Fatal(err)
		}
		ep, err := e.svc.Webhooks.Create(ctx, webhook.EndpointInput{URL: "https://app.example.com/hooks"})
		if err != nil {
			t.Fatal(err)
		}
		_, key, err := apikey.Create(ctx, db, "app", now)
		if err != nil {
			t.Fatal(err)
		}
		route := mustRoute(t, e, 0)
		users, _ := e.console.ListUsers(ctx)
		viewerID := users[len(users)-1].ID

		for _, email := range []string{"rev@seller.example", "viewer@seller.example"} {
			t.Run(email, func(t *testing.T) {
				c := e.login(email)
				for _, path := range []string{"/console/settings", "/console/settings/products", "/console/settings/products/prod-o", "/console/settings/routes",
					"/console/settings/api-keys", "/console/settings/webhooks", "/console/settings/webhooks/" + ep.ID, "/console/settings/users"} {
					p := c.get(path)
					wantStatus(t, p, http.StatusOK)
					wantHeaders(t, p)
					if strings.Contains(p.body, `action="/console/settings`) || strings.Contains(p.body, "<input type=\"text\"") {
						t.Fatalf("%s shows a form to %s:\n%s", path, email, p.body)
					}
				}
				wantIn(t, c.get("/console/settings/products/prod-o"), "Only admins can change products.", "api_calls")
				wantIn(t, c.get("/console/settings/routes"), "finance@seller.example")
				if p := c.get("/console/settings/products/new"); p.status != http.StatusForbidden {
					t.Fatalf("new product form: %d", p.status)
				}
				token := csrfOf(t, c.get("/console/settings"))
				for _, path := range []string{"/console/settings/products/new", "/console/settings/products/prod-o", "/console/settings/routes",
					"/console/settings/routes/" + route.ID + "/delete", "/console/settings/api-keys", "/console/settings/api-keys/" + key.ID + "/revoke",
					"/console/settings/webhooks", "/console/settings/webhooks/" + ep.ID + "/enable", "/console/settings/webhooks/" + ep.ID + "/disable",
					"/console/settings/webhooks/" + ep.ID + "/ping", "/console/settings/webhooks/" + ep.ID + "/rotate", "/console/settings/webhooks/" + ep.ID + "/delete",
					"/console/settings/users", "/console/settings/users/" + viewerID + "/role", "/console/settings/users/" + viewerID + "/disable",
					"/console/settings/users/" + viewerID + "/enable"} {
					p := c.post(path, url.Values{"csrf": {token}, "product-id": {"prod-x"}, "title": {"X"}, "kind": {"*"}, "channel": {"email"},
						"target": {"x@seller.example"}, "name": {"x"}, "url": {"https://x.example/"}, "email": {"x@seller.example"}, "role": {"admin"},
						"password": {password}})
					if p.status != http.StatusForbidden || !strings.Contains(p.body, "cannot change settings") {
						t.Fatalf("POST %s as %s: %d\n%s", path, email, p.status, p.body)
					}
				}
			})
		}
		if p, _ := e.svc.Ledger.GetProduct(ctx, "prod-o"); p.Title != "Observa" {
			t.Fatalf("product changed: %+v", p)
		}
		if _, err := e.svc.Ledger.GetProduct(ctx, "prod-x"); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Fatalf("prod-x: %v", err)
		}
		routes, _ := e.svc.Notify.ListRoutes(ctx)
		keys, _ := apikey.List(ctx, db)
		eps, _ := e.svc.Webhooks.List(ctx)
		ds, _ := e.svc.Webhooks.ListDeliveries(ctx, ep.ID, "", webhook.Page{})
		after, _ := e.console.ListUsers(ctx)
		if len(routes) != 1 || len(keys) != 1 || keys[0].RevokedAt != nil || len(eps) != 1 || !eps[0].Enabled || len(ds) != 0 ||
			len(after) != 3 || after[len(after)-1].Role != console.RoleReadOnly || after[len(after)-1].Disabled {
			t.Fatalf("a refused POST changed something: routes %d, keys %+v, endpoints %+v, deliveries %d, users %+v", len(routes), keys, eps, len(ds), after)
		}
	})
}

// TestBrowserSettings visits every settings page with headless Chromium at
// 1280 and 390 px: one h1, every control labelled, no page-wide horizontal
// scroll; and creates an API key through the real form.
func TestBrowserSettings(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := setup(t, storetest.Open(t, store.SQLite))
	e.data()
	ep, err := e.svc.Webhooks.Create(ctx, webhook.EndpointInput{URL: "https://app.example.com/hooks/concord-receiver", Description: "production"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Webhooks.Ping(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	p := browser.Page(t)
	if resp := browserSignIn(t, ctx, p, e.srv.URL+"/console/login", "admin@seller.example"); resp.Status != 200 {
		t.Fatalf("sign in: %+v", resp)
	}
	for _, vp := range []struct {
		w, h   int
		mobile bool
	}{{1280, 800, false}, {390, 844, true}} {
		if err := p.SetViewport(ctx, vp.w, vp.h, vp.mobile); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/console/settings", "/console/settings/products", "/console/settings/products/new", "/console/settings/products/prod-o",
			"/console/settings/routes", "/console/settings/api-keys", "/console/settings/webhooks", "/console/settings/webhooks/" + ep.ID,
			"/console/settings/users"} {
			resp, err := p.Navigate(ctx, e.srv.URL+path)
			if err != nil || resp.Status != 200 {
				t.Fatalf("%s: %+v %v", path, resp, err)
			}
			checkLayout(t, ctx, p, fmt.Sprintf("%d px %s", vp.w, path), vp.w)
		}
	}
	// The product form refuses a zero-usage dimension the product lacks,
	// with a summary that links to the field (at 390 px).
	if _, err := p.Navigate(ctx, e.srv.URL+"/console/settings/products/new"); err != nil {
		t.Fatal(err)
	}
	if err := p.Type(ctx, "#product-id", "prod-b"); err != nil {
		t.Fatal(err)
	}
	if err := p.Type(ctx, "#zero-usage", "nope"); err != nil {
		t.Fatal(err)
	}
	if resp, err := p.ClickAndWait(ctx, "form.settings-form button[type=submit]"); err != nil || resp.Status != 400 {
		t.Fatalf("bad product: %+v %v", resp, err)
	}
	var link string
	if err := p.Evaluate(ctx, `document.querySelector("[role=alert] a").getAttribute("href") + " " + document.getElementById("zero-usage").getAttribute("aria-invalid")`, &link); err != nil || link != "#zero-usage true" {
		t.Fatalf("error summary link %q %v", link, err)
	}
	if _, err := e.svc.Ledger.GetProduct(ctx, "prod-b"); marketplace.ErrorCode(err) != marketplace.ENotFound {
		t.Fatalf("a refused product was saved: %v", err)
	}

	// The API key form, as a browser posts it: the key is in the answer.
	if _, err := p.Navigate(ctx, e.srv.URL+"/console/settings/api-keys"); err != nil {
		t.Fatal(err)
	}
	if err := p.Type(ctx, "#key-name", "billing service"); err != nil {
		t.Fatal(err)
	}
	if resp, err := p.ClickAndWait(ctx, "form.settings-form button[type=submit]"); err != nil || resp.Status != 200 {
		t.Fatalf("create a key: %+v %v", resp, err)
	}
	var secret string
	if err := p.Evaluate(ctx, `document.getElementById("new-secret").value`, &secret); err != nil {
		t.Fatal(err)
	}
	if _, err := apikey.Verify(ctx, e.db, secret); err != nil {
		t.Fatalf("the key the browser shows: %v", err)
	}
}
