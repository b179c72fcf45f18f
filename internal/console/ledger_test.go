package console_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// ledgerTermsAPI is the Agreement API of these tests: it describes every
// agreement it has terms for as active.
type ledgerTermsAPI map[string]marketplace.Terms

func (a ledgerTermsAPI) DescribeAgreement(_ context.Context, id string) (marketplace.AgreementDetails, error) {
	t, ok := a[id]
	if !ok {
		return marketplace.AgreementDetails{}, fmt.Errorf("no terms for %s: %w", id, inbox.ErrAgreementNotFound)
	}
	return marketplace.AgreementDetails{Fact: marketplace.Fact{AgreementID: id, Status: marketplace.StatusActive}, Terms: t}, nil
}

// ledgerMeter is BatchMeterUsage: AWS rejects any request holding a record
// of quantity 13 and bills everything else.
type ledgerMeter struct{}

func (ledgerMeter) BatchMeterUsage(_ context.Context, _ string, recs []metering.SendRecord) ([]metering.SendResult, error) {
	out := make([]metering.SendResult, len(recs))
	for i, r := range recs {
		if r.Quantity == 13 {
			return nil, &metering.RejectedError{Code: "InvalidUsageDimensionException", Message: "Dimension api_calls is not published"}
		}
		out[i] = metering.SendResult{Status: metering.AWSSuccess, MeteringRecordID: fmt.Sprintf("mr-%s-%d", r.Hour.Format("15"), r.Quantity)}
	}
	return out, nil
}

// ledgerData is what ledgerSeed adds to e.data(): the buyer's second
// agreement for prod-o (agmt-second) was amended by agmt-amend, made from a
// Concord offer, whose license l-second carried over and metered usage.
type ledgerData struct {
	data
	offer      offer.Detail
	licenseArn string
	artifact   artifact.BookableArtifact
	rejected   string // the id of the metering record AWS rejected
}

func ledgerSeed(e *env) ledgerData {
	t := e.t
	ctx := context.Background()
	ld := ledgerData{data: e.data()}
	// A Concurrent Agreements product: usage goes by LicenseArn.
	if _, err := e.svc.Ledger.PutProduct(ctx, marketplace.Product{ProductID: "prod-o", ProductCode: "code-o", Title: "Observa", ConcurrentAgreements: true,
		Type: marketplace.ProductSaaSContractConsumption, Dimensions: []marketplace.Dimension{{Key: "seats", Name: "Seats", Kind: "contract"}, {Key: "api_calls", Kind: "usage"}}}); err != nil {
		t.Fatal(err)
	}
	var err error
	ld.offer, err = e.svc.Offers.Associate(ctx, offer.Association{OfferID: "offer-amend", Form: offer.Offer{Type: offer.TypeDirect, BuyerCompany: "Acme Corp",
		ProductID: "prod-o", Name: "Acme Corp 25 seats", Pricing: offer.Pricing{Currency: "USD", Duration: "P12M", Dimensions: []offer.PricedDimension{
			{Key: "seats", Kind: "contract", Quantity: 25, Price: "1000.00"}, {Key: "api_calls", Kind: "usage", Price: "0.002"}}},
		EULA: offer.Legal{Kind: "standard"}, Metadata: map[string]string{offer.MetaBuyerAccount: buyerAccount}, ExpiresOn: "2026-12-31"}})
	if err != nil {
		t.Fatal(err)
	}
	second := eventbridge.Agreement{ID: "agmt-second", Intent: marketplace.IntentNew, AcceptanceTime: now.AddDate(0, -2, 0), StartTime: now.AddDate(0, -2, 0),
		EndTime: now.AddDate(0, 10, 0), AcceptorAccountID: buyerAccount, ProposerAccountID: inboxtest.Seller, OfferID: "offer-second", ProductID: "prod-o", ProductCode: "code-o"}
	amend := second
	amend.ID, amend.Intent, amend.PreviousAgreementID, amend.OfferID = "agmt-amend", marketplace.IntentAmend, "agmt-second", "offer-amend"
	amend.AcceptanceTime, amend.StartTime = now.AddDate(0, 0, -10), now.AddDate(0, 0, -10)
	ld.licenseArn = eventbridge.LicenseArn(buyerAccount, "l-second")
	for _, body := range [][]byte{
		eventbridge.Created(inboxtest.Seller, second, now.AddDate(0, -2, 0)),
		eventbridge.LicenseUpdated(inboxtest.Seller, second, ld.licenseArn, now.AddDate(0, -2, 0)),
		eventbridge.Created(inboxtest.Seller, amend, now.AddDate(0, 0, -10)),
		eventbridge.LicenseUpdated(inboxtest.Seller, amend, ld.licenseArn, now.AddDate(0, 0, -10)),
	} {
		ev, err := marketplace.ParseEventBridge(body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Ledger.Ingest(ctx, inbox.DoorHTTP, ev); err != nil {
			t.Fatal(err)
		}
	}
	// The terms: 25 seats at 1000.00, paid in two installments.
	seats := int64(25)
	api := ledgerTermsAPI{"agmt-amend": {Currency: "USD", Pricing: []marketplace.PriceItem{
		{Term: "ConfigurableUpfrontPricingTerm", Dimension: "seats", Price: "1000.00", Quantity: &seats, Selector: "P12M"},
		{Term: "UsageBasedPricingTerm", Dimension: "api_calls", Price: "0.002"}},
		PaymentSchedule: []marketplace.Installment{{ChargeDate: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Amount: "12500.00"},
			{ChargeDate: time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC), Amount: "12500.00"}},
		Validity: &marketplace.Validity{Duration: "P12M"}, Types: []string{"ConfigurableUpfrontPricingTerm", "UsageBasedPricingTerm", "PaymentScheduleTerm"}}}
	if err := e.svc.Ledger.Enrich(ctx, api, "agmt-amend"); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Write(ctx, func(tx *store.Tx) error {
		var err error
		ld.artifact, _, err = artifact.Record(ctx, tx, "agmt-amend", now)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// Usage of l-second: 120 at 09:00 (billed), 13 at 10:00 (rejected), 300
	// in the running hour 11:00 (still open at 12:00), then 7 late for 09:00.
	ingest := func(key string, q int64, at time.Time) metering.IngestResult {
		t.Helper()
		raw, _ := json.Marshal(metering.Usage{License: ld.licenseArn, Dimension: "api_calls", Quantity: q, Timestamp: at, IdempotencyKey: key})
		res, err := e.svc.Metering.Ingest(ctx, []json.RawMessage{raw})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	hour := now.Truncate(time.Hour)
	for i, u := range []struct {
		q  int64
		at time.Time
	}{{120, hour.Add(-3*time.Hour + 5*time.Minute)}, {13, hour.Add(-2*time.Hour + 5*time.Minute)}, {300, hour.Add(-time.Hour + 5*time.Minute)}} {
		if res := ingest(fmt.Sprintf("u%d", i), u.q, u.at); res.Accepted != 1 {
			t.Fatalf("usage %d: %+v", i, res)
		}
	}
	e.svc.Metering.API = ledgerMeter{}
	if err := e.svc.Metering.Housekeep(ctx); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		worked, err := e.svc.Metering.SendOne(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !worked {
			break
		}
	}
	if res := ingest("late", 7, hour.Add(-3*time.Hour+30*time.Minute)); res.Late != 1 {
		t.Fatalf("late usage: %+v", res)
	}
	recs, err := e.svc.Metering.Records(ctx, metering.RecordFilter{Status: metering.StatusRejected})
	if err != nil || len(recs) != 1 || recs[0].Quantity != 13 {
		t.Fatalf("rejected records %+v %v", recs, err)
	}
	ld.rejected = recs[0].RecordID
	return ld
}

// ledgerHrefRE finds the links of a page.
var ledgerHrefRE = regexp.MustCompile(`href="([^"]+)"`)

func ledgerLinks(p page, prefix string) []string {
	var out []string
	for _, m := range ledgerHrefRE.FindAllStringSubmatch(p.body, -1) {
		if u := html.UnescapeString(m[1]); strings.HasPrefix(u, prefix) {
			out = append(out, u)
		}
	}
	return out
}

func TestLedgerPagesShowRealData(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ld := ledgerSeed(e)
		admin := e.login("admin@seller.example")
		viewer := e.login("viewer@seller.example")

		t.Run("buyers", func(t *testing.T) {
			p := admin.get("/console/buyers")
			wantHeaders(t, p)
			wantIn(t, p, `aria-current="page">Buyers`, `<a href="/console/buyers/444455556666">444455556666</a>`,
				"<strong>Observa (prod-o)</strong>: 2 agreements in force", "concurrent", "(of 3)", "2 licenses active", `<label for="q">`)
			for _, q := range []string{"?q=4444", "?q=444455556666", "?product=prod-o", "?q=5555&product=prod-o"} {
				if p := admin.get("/console/buyers" + q); p.status != 200 || !strings.Contains(p.body, "/console/buyers/444455556666") {
					t.Fatalf("%s: %d, the buyer is missing", q, p.status)
				}
			}
			if p := admin.get("/console/buyers?q=999"); p.status != 200 || strings.Contains(p.body, "/console/buyers/444455556666") || !strings.Contains(p.body, "No buyer matches") {
				t.Fatalf("?q=999: %d", p.status)
			}
			// The buyer is named by its offer's company: the search folds case.
			if p := admin.get("/console/buyers?q=ACME+corp"); p.status != 200 || !strings.Contains(p.body, "/console/buyers/444455556666") {
				t.Fatalf("a search by company: %d, the buyer is missing", p.status)
			}
			p = admin.get("/console/buyers?q=" + url.QueryEscape(strings.Repeat("x", 201)))
			if p.status != http.StatusBadRequest {
				t.Fatalf("a search of 201 letters: %d", p.status)
			}
			wantIn(t, p, `<a href="#q">`, `aria-invalid="true"`, `id="q-error"`)
		})

		t.Run("buyers empty", func(t *testing.T) {
			e2 := setup(t, storetest.Open(t, store.SQLite))
			wantIn(t, e2.login("viewer@seller.example").get("/console/buyers"), "No buyers yet.", "EventBridge")
		})

		t.Run("buyer", func(t *testing.T) {
			p := viewer.get("/console/buyers/" + buyerAccount)
			wantHeaders(t, p)
			wantIn(t, p, "<h1>Acme Corp <span class=\"muted\">(AWS account 444455556666)</span></h1>", "(from the buyer's offer)", "contract value <strong>USD 25,000.00</strong>", "2 concurrent agreements",
				`Chain started by <a href="/console/agreements/agmt-second">agmt-second</a>`, `Chain started by <a href="/console/agreements/agmt-ending">agmt-ending</a>`,
				`<strong>agmt-amend</strong></a> · Amend`, `Follows <a href="/console/agreements/agmt-second">agmt-second</a>`,
				`followed by <a href="/console/agreements/agmt-amend">agmt-amend</a>`, "Replaced", ">l-second</a>", ">l-ending</a>", "no tenant yet")
			if got := ledgerLinks(p, "/console/licenses?arn="); len(got) != 2 {
				t.Fatalf("license links %q", got)
			}
			if p := viewer.get("/console/buyers/999999999999"); p.status != http.StatusNotFound {
				t.Fatalf("unknown buyer: %d", p.status)
			}
		})

		t.Run("agreement", func(t *testing.T) {
			p := admin.get("/console/agreements/agmt-amend")
			wantHeaders(t, p)
			wantIn(t, p, "<h1>Agreement agmt-amend</h1>", "Active", "Amend", "Observa (prod-o)",
				`<a href="/console/offers/`+ld.offer.ID+`">Acme Corp 25 seats</a> (offer-amend)`,
				`Follows <a href="/console/agreements/agmt-second">agmt-second</a>`, "no later agreement yet", `aria-current="true"`,
				"<td>seats <span class=\"muted\">(Seats)</span></td><td>Contract</td><td class=\"num\">25</td><td class=\"num\">USD 1,000.00</td><td class=\"num\">USD 25,000.00</td>",
				"<strong>USD 25,000.00</strong>", "the sum of the payment schedule", "1 Nov 2026", "1 May 2027", "USD 12,500.00", "Acme Corp (AWS account 444455556666)",
				`id="artifacts"`, "v1", "Amendment", ">l-second</a>",
				`id="amend-agreement" href="/console/agreements/agmt-amend/amend"`)
			if strings.Contains(p.body, "Play the buyer in the sandbox") {
				t.Fatal("a sandbox link outside the sandbox")
			}
			if p := viewer.get("/console/agreements/agmt-amend"); strings.Contains(p.body, "amend-agreement") {
				t.Fatal("the read-only user is offered to amend")
			}
			if p := admin.get("/console/agreements/agmt-second"); strings.Contains(p.body, "amend-agreement") ||
				!strings.Contains(p.body, `followed by <a href="/console/agreements/agmt-amend">agmt-amend</a>`) || !strings.Contains(p.body, "Replaced") {
				t.Fatalf("a replaced agreement:\n%s", p.body)
			}
			wantIn(t, admin.get("/console/agreements/agmt-ending"), "The terms are not known yet", "No artifact yet", "offer-old")
			for _, path := range []string{"/console/agreements/agmt-nope", "/console/licenses?arn=" + url.QueryEscape(eventbridge.LicenseArn(buyerAccount, "l-nope")),
				"/console/artifacts/art_nope/artifact-agmt-amend-v1.json", "/console/artifacts/" + ld.artifact.ID + "/other.json"} {
				if p := viewer.get(path); p.status != http.StatusNotFound || !strings.Contains(p.body, "Not found") {
					t.Fatalf("%s: %d", path, p.status)
				}
			}
		})

		t.Run("artifact downloads", func(t *testing.T) {
			got := ledgerLinks(admin.get("/console/agreements/agmt-amend"), "/console/artifacts/")
			if len(got) != 3 {
				t.Fatalf("artifact links %q", got)
			}
			types := map[string]string{".pdf": "application/pdf", ".csv": "text/csv; charset=utf-8", ".json": "application/json"}
			for _, href := range got {
				p := viewer.get(href)
				ext := href[strings.LastIndex(href, "."):]
				name := "artifact-agmt-amend-v1" + ext
				if p.status != 200 || p.header.Get("Content-Type") != types[ext] || p.header.Get("Content-Disposition") != `attachment; filename=`+name ||
					p.header.Get("X-Content-Type-Options") != "nosniff" {
					t.Fatalf("%s: %d %v", href, p.status, p.header)
				}
				switch ext {
				case ".json":
					var a artifact.BookableArtifact
					if err := json.Unmarshal([]byte(p.body), &a); err != nil {
						t.Fatal(err)
					}
					if a.ID != ld.artifact.ID || a.AgreementID != "agmt-amend" || a.Kind != artifact.KindAmendment || a.TotalContractValue != "25000.00" ||
						a.ConcordOfferID != ld.offer.ID || len(a.LicenseArns) != 1 || a.LicenseArns[0] != ld.licenseArn || len(a.PaymentSchedule) != 2 {
						t.Fatalf("artifact %+v", a)
					}
				case ".pdf":
					if !strings.HasPrefix(p.body, "%PDF") {
						t.Fatal("the PDF is not one")
					}
				case ".csv":
					rows, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
					if err != nil || len(rows) < 2 || !strings.Contains(strings.Join(rows[1], ","), "agmt-amend") {
						t.Fatalf("CSV %q %v", rows, err)
					}
				}
			}
		})

		t.Run("license", func(t *testing.T) {
			p := viewer.get("/console/licenses?arn=" + url.QueryEscape(ld.licenseArn))
			wantHeaders(t, p)
			wantIn(t, p, "<h1>License l-second</h1>", ld.licenseArn, `<a href="/console/agreements/agmt-amend">agmt-amend</a>`, "Observa (prod-o)",
				"AWS account 444455556666", "Not registered", "Not fetched from AWS yet",
				`role="img"`, "Hourly usage of api_calls from 31 Oct 13:00 to 2 Nov 13:00 UTC: 440 in total, at most 300 in one hour.",
				"<title>2 Nov 09:00 UTC: 127 api_calls. Sent (billed by AWS)</title>", "<title>2 Nov 10:00 UTC: 13 api_calls. Failed: rejected</title>",
				"<title>2 Nov 11:00 UTC: 300 api_calls. Collecting (the hour is not closed yet)</title>", `class="bar-sent"`, `class="bar-failed"`, `class="bar-open"`,
				"<details>", `<td class="num">127</td><td class="num">7</td><td class="num">120</td><td class="num">120</td>`,
				`<td class="num">13</td><td class="num">0</td><td class="num">13</td><td class="num">0</td>`, "Failed: rejected", "Dimension api_calls is not published",
				`<td class="num">300</td><td class="num">0</td><td class="num">0</td><td class="num">0</td>`, "Collecting")
			week := viewer.get("/console/licenses?arn=" + url.QueryEscape(ld.licenseArn) + "&days=7")
			wantIn(t, week, `<strong aria-current="true">Last 7 days</strong>`, "from 26 Oct 13:00 to 2 Nov 13:00 UTC: 440 in total")
			if p := viewer.get("/console/licenses?arn=" + url.QueryEscape(ld.licenseArn) + "&days=30"); p.status != http.StatusBadRequest {
				t.Fatalf("days=30: %d", p.status)
			}
			// By license id too; the other license has no usage.
			wantIn(t, viewer.get("/console/licenses?arn=l-ending"), "<h1>License l-ending</h1>", "No api_calls usage in this period.",
				"No usage was reported for this license in this period.")
		})

		t.Run("metering", func(t *testing.T) {
			p := viewer.get("/console/metering")
			wantHeaders(t, p)
			wantIn(t, p, `aria-current="page">Metering`, "1 not billed", "<dt>Success</dt><dd>1</dd>", "<dt>Rejected</dt><dd>1</dd>",
				"<dt>Pending</dt><dd>0</dd>", "7 in 1 hour", "<dt>Usage received</dt><dd>440</dd>", "<dt>Billed by AWS</dt><dd>120</dd>",
				"<td>prod-o</td><td>api_calls</td><td class=\"num\">2</td><td class=\"num\">13</td><td class=\"num\">7</td>",
				`id="retry-`+ld.rejected+`"`, "AWS rejected the request: InvalidUsageDimensionException", "1 rejected record of prod-o")
			if strings.Contains(p.body, "Retry") || strings.Contains(p.body, "Send them again") {
				t.Fatal("the read-only user is offered a retry")
			}
			wantIn(t, viewer.get("/console/metering?status=success&period=all"), "Success records", "mr-09-120")
			if p := viewer.get("/console/metering?status=bogus"); p.status != http.StatusBadRequest || !strings.Contains(p.body, `href="#status"`) {
				t.Fatalf("bad status: %d", p.status)
			}
			wantIn(t, admin.get("/console/metering"), `name="record" value="`+ld.rejected+`"`, "Send them again")
		})

		t.Run("readiness", func(t *testing.T) {
			p := viewer.get("/console/readiness")
			wantHeaders(t, p)
			wantIn(t, p, `aria-current="page">Readiness`, `<option value="prod-o" selected>Observa (prod-o)</option>`, "Not ready:", "No test account yet",
				"Integration checklist", `href="/console/readiness.csv?product=prod-o"`)
			p = viewer.get("/console/readiness?product=prod-o&accounts=" + buyerAccount)
			wantIn(t, p, "1 (as given)", `<a href="/console/agreements/agmt-amend">agmt-amend</a>`, `<a href="/console/agreements/agmt-ending">agmt-ending</a>`,
				ld.licenseArn, "Fail", "Pass", `href="/console/readiness.csv?accounts=444455556666&amp;product=prod-o"`)
			c := viewer.get("/console/readiness.csv?accounts=444455556666&product=prod-o")
			if c.status != 200 || c.header.Get("Content-Type") != "text/csv; charset=utf-8" || c.header.Get("Content-Disposition") != "attachment; filename=readiness-prod-o.csv" {
				t.Fatalf("CSV: %d %v", c.status, c.header)
			}
			rows, err := csv.NewReader(strings.NewReader(c.body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range rows[1:] {
				if r[0] != "prod-o" || r[1] != buyerAccount {
					t.Fatalf("CSV row %q", r)
				}
				if r[2] == "agmt-amend" && r[3] == ld.licenseArn && r[4] == "yes" {
					found = true // AWS billed the 09:00 hour of l-second
				}
			}
			if !found || strings.Join(rows[0], ",") != "product_id,account_id,agreement_id,license_arn,metering_tested" {
				t.Fatalf("CSV %q", rows)
			}
			p = viewer.get("/console/readiness?product=prod-o&accounts=123,abc")
			if p.status != http.StatusBadRequest {
				t.Fatalf("bad accounts: %d", p.status)
			}
			wantIn(t, p, `<a href="#accounts">`, `aria-invalid="true"`)
			if p := viewer.get("/console/readiness?product=prod-nope"); p.status != http.StatusBadRequest || !strings.Contains(p.body, `href="#product"`) {
				t.Fatalf("unknown product: %d", p.status)
			}
			if p := viewer.get("/console/readiness.csv?product=prod-nope"); p.status != http.StatusBadRequest {
				t.Fatalf("CSV of an unknown product: %d", p.status)
			}
		})
	})
}

func TestLedgerRetryRequeuesARejectedRecord(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ld := ledgerSeed(e)
		status := func() string {
			t.Helper()
			recs, err := e.svc.Metering.Records(context.Background(), metering.RecordFilter{Cursor: "", Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.RecordID == ld.rejected {
					return r.Status
				}
			}
			t.Fatalf("record %s is gone", ld.rejected)
			return ""
		}

		viewer := e.login("viewer@seller.example")
		token := csrfOf(t, viewer.get("/console/metering"))
		if p := viewer.post("/console/metering/retry", url.Values{"record": {ld.rejected}, "csrf": {token}}); p.status != http.StatusForbidden {
			t.Fatalf("read-only retry: %d", p.status)
		}
		if s := status(); s != metering.StatusRejected {
			t.Fatalf("a refused retry made the record %s", s)
		}

		admin := e.login("admin@seller.example")
		token = csrfOf(t, admin.get("/console/metering"))
		p := admin.post("/console/metering/retry", url.Values{"record": {ld.rejected}, "period": {"24h"}, "csrf": {token}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/metering?period=24h&retried=1" {
			t.Fatalf("retry: %d %v\n%s", p.status, p.header, p.body)
		}
		if s := status(); s != metering.StatusPending {
			t.Fatalf("after the retry the record is %s", s)
		}
		wantIn(t, admin.get(p.header.Get("Location")), `role="status"`, "1 record is queued to be sent again", "<dt>Pending</dt><dd>1</dd>")

		// A record that is not rejected any more cannot be sent again: the service says why.
		p = admin.post("/console/metering/retry", url.Values{"record": {ld.rejected}, "csrf": {token}})
		if p.status != http.StatusConflict {
			t.Fatalf("second retry: %d", p.status)
		}
		wantIn(t, p, `<a href="#retry-`+ld.rejected+`">Could not send again: metering record `+ld.rejected+` is pending`)
		if p := admin.post("/console/metering/retry", url.Values{"record": {"no-such-record"}, "csrf": {token}}); p.status != http.StatusNotFound {
			t.Fatalf("unknown record: %d", p.status)
		}
		if p := admin.post("/console/metering/retry", url.Values{"product": {"prod-o"}, "status": {"success"}, "csrf": {token}}); p.status != http.StatusBadRequest ||
			!strings.Contains(p.body, "only rejected and not_subscribed records can be sent again") {
			t.Fatalf("retry of successes: %d", p.status)
		}

		// Every rejected record of a product: none is left.
		p = admin.post("/console/metering/retry", url.Values{"product": {"prod-o"}, "status": {"rejected"}, "csrf": {token}})
		if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "retried=0") {
			t.Fatalf("retry of a product with nothing rejected: %d %v", p.status, p.header)
		}
	})
}

func TestLedgerSandboxLink(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Open(t, store.SQLite), func(s *console.Service) { s.Sandbox = true })
	e.data()
	p := e.login("viewer@seller.example").get("/console/agreements/agmt-ending")
	wantIn(t, p, `href="/console/sandbox?agreement=agmt-ending">Play the buyer in the sandbox</a>`)
}

// TestLedgerPagesInBrowser opens every ledger page in headless Chromium at
// 1280 px and on a 390 px phone: one h1, every control labelled, no page
// wider than the screen. It is skipped without Chromium unless
// CONCORD_TEST_REQUIRE_BROWSER=1; CONCORD_LEDGER_SHOTS=<dir> saves screenshots.
func TestLedgerPagesInBrowser(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := setup(t, storetest.Open(t, store.SQLite))
	ld := ledgerSeed(e)
	p := browser.Page(t)
	if resp := browserSignIn(t, ctx, p, e.srv.URL+"/console/login", "admin@seller.example"); resp.Status != 200 {
		t.Fatalf("sign in: %+v", resp)
	}
	pages := map[string]string{
		"buyers":    "/console/buyers",
		"buyer":     "/console/buyers/" + buyerAccount,
		"agreement": "/console/agreements/agmt-amend",
		"license":   "/console/licenses?arn=" + url.QueryEscape(ld.licenseArn),
		"week":      "/console/licenses?arn=" + url.QueryEscape(ld.licenseArn) + "&days=7",
		"metering":  "/console/metering",
		"readiness": "/console/readiness?accounts=" + buyerAccount,
	}
	shots := os.Getenv("CONCORD_LEDGER_SHOTS")
	for _, vp := range []struct {
		w, h   int
		mobile bool
	}{{1280, 800, false}, {390, 844, true}} {
		if err := p.SetViewport(ctx, vp.w, vp.h, vp.mobile); err != nil {
			t.Fatal(err)
		}
		for name, path := range pages {
			resp, err := p.Navigate(ctx, e.srv.URL+path)
			if err != nil || resp.Status != 200 {
				t.Fatalf("%s: %+v %v", name, resp, err)
			}
			checkLayout(t, ctx, p, fmt.Sprintf("%s at %d px", name, vp.w), vp.w)
			if shots != "" {
				shot, err := p.Screenshot(ctx, true)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(shots, fmt.Sprintf("%s-%d.png", name, vp.w)), shot, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
