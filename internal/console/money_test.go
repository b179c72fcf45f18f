package console_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// readCSV parses a download and checks it is one.
func readCSV(t *testing.T, p page) [][]string {
	t.Helper()
	wantStatus(t, p, http.StatusOK)
	if ct := p.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" || !strings.HasPrefix(p.header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("not a CSV download: %q, %q", ct, p.header.Get("Content-Disposition"))
	}
	recs, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestMoneyPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ld := ledgerSeed(e)
		viewer := e.login("viewer@seller.example")
		admin := e.login("admin@seller.example")

		t.Run("agreements list with filters, sort, values and CSV", func(t *testing.T) {
			p := viewer.get("/console/agreements?product=prod-o&sort=-value")
			wantStatus(t, p, http.StatusOK)
			wantIn(t, p, "<h1>Agreements</h1>", `href="/console/agreements/agmt-amend"`, ">Acme Corp</a><br><span class=\"muted\">444455556666</span>",
				"USD 25,000.00", `aria-sort="descending"`, "Agreements 1 to 3 of 3")
			if i, j := strings.Index(p.body, "agmt-amend\""), strings.Index(p.body, "agmt-second\""); i < 0 || j < 0 || i > j {
				t.Fatalf("sorted by value, descending: agmt-amend (USD 25,000.00) comes before agmt-second (no value)")
			}
			p = viewer.get("/console/agreements?buyer=ACME&status=REPLACED")
			wantIn(t, p, `href="/console/agreements/agmt-second"`)
			if strings.Contains(p.body, `href="/console/agreements/agmt-amend"`) {
				t.Fatal("the status filter let an active agreement through")
			}
			recs := readCSV(t, viewer.get("/console/agreements.csv?product=prod-o&sort=-value"))
			if len(recs) != 4 || recs[0][0] != "agreementId" || recs[1][0] != "agmt-amend" || recs[1][6] != "Acme Corp" || recs[1][12] != "25000.00" || recs[1][13] != "USD" {
				t.Fatalf("csv = %q", recs)
			}
			for _, q := range []string{"?sort=agreement_id%3BDROP", "?sort=-nope", "?ending=0", "?ending=x", "?channel=retail", "?status=ALIVE"} {
				if p := viewer.get("/console/agreements" + q); p.status != http.StatusBadRequest || !strings.Contains(p.body, "There is a problem") {
					t.Errorf("%s: %d", q, p.status)
				}
				if p := viewer.get("/console/agreements.csv" + q); p.status != http.StatusBadRequest {
					t.Errorf("csv %s: %d", q, p.status)
				}
			}
		})

		t.Run("bookings of last month for a product, and their CSV", func(t *testing.T) {
			// agmt-amend was accepted on 23 Oct 2026 (now is 2 Nov 2026).
			p := viewer.get("/console/bookings?from=2026-10&to=2026-10&product=prod-o")
			wantStatus(t, p, http.StatusOK)
			wantIn(t, p, "<h1>Bookings</h1>", "<svg", `role="img"`, `<th scope="row">Oct 2026</th><td class="num">USD 25,000.00</td><td class="num">USD 0.00</td><td class="num"><strong>USD 25,000.00</strong></td>`,
				"Observa (prod-o)")
			if strings.Contains(p.body, "<script") {
				t.Fatal("the chart uses a script")
			}
			recs := readCSV(t, viewer.get("/console/bookings.csv?from=2026-10&to=2026-10&product=prod-o"))
			want := [][]string{{"period", "productId", "productTitle", "channel", "currency", "agreements", "total"}, {"2026-10", "prod-o", "Observa", "direct", "USD", "1", "25000.00"}}
			if len(recs) != 2 || strings.Join(recs[0], ",") != strings.Join(want[0], ",") || strings.Join(recs[1], ",") != strings.Join(want[1], ",") {
				t.Fatalf("csv = %q", recs)
			}
			if p := viewer.get("/console/bookings?from=2026-13"); p.status != http.StatusBadRequest || !strings.Contains(p.body, `href="#from"`) {
				t.Fatalf("bad month: %d", p.status)
			}
			recs = readCSV(t, viewer.get("/console/artifacts.csv?from=2026-11-01&to=2026-12-01"))
			if len(recs) < 2 || recs[1][1] != "agmt-amend" {
				t.Fatalf("artifacts csv = %q", recs)
			}
			recs = readCSV(t, viewer.get("/console/runrate.csv"))
			if len(recs) != 2 || recs[1][0] != "prod-o" {
				t.Fatalf("run rate csv = %q", recs)
			}
		})

		t.Run("buyers by company, named by hand", func(t *testing.T) {
			recs := readCSV(t, viewer.get("/console/buyers.csv?q=acme"))
			if len(recs) != 2 || recs[1][0] != buyerAccount || recs[1][1] != "Acme Corp" || recs[1][2] != "offer" {
				t.Fatalf("buyers csv = %q", recs)
			}
			// The read-only role sees no form and cannot post one.
			if strings.Contains(viewer.get("/console/buyers/"+buyerAccount).body, "/company\"") {
				t.Fatal("the read-only role is shown the company form")
			}
			b := viewer.get("/console/buyers/" + buyerAccount)
			if p := viewer.post("/console/buyers/"+buyerAccount+"/company", url.Values{"company": {"Mallory"}, "csrf": {csrfOf(t, b)}}); p.status != http.StatusForbidden {
				t.Fatalf("read-only rename: %d", p.status)
			}
			b = admin.get("/console/buyers/" + buyerAccount)
			p := admin.post("/console/buyers/"+buyerAccount+"/company", url.Values{"company": {strings.Repeat("x", 201)}, "csrf": {csrfOf(t, b)}})
			wantStatus(t, p, http.StatusBadRequest)
			wantIn(t, p, `href="#company"`, `id="company-error"`)
			p = admin.post("/console/buyers/"+buyerAccount+"/company", url.Values{"company": {"Ünïcode GmbH"}, "csrf": {csrfOf(t, b)}})
			wantStatus(t, p, http.StatusSeeOther)
			wantIn(t, admin.get("/console/buyers?q=%C3%BCN%C3%8FCODE"), "Ünïcode GmbH", "/console/buyers/"+buyerAccount)
			wantIn(t, admin.get("/console/agreements/agmt-amend"), "Ünïcode GmbH (AWS account 444455556666)")
			recs = readCSV(t, viewer.get("/console/buyers.csv"))
			if len(recs) != 2 || recs[1][1] != "Ünïcode GmbH" || recs[1][2] != "manual" {
				t.Fatalf("buyers csv after rename = %q", recs)
			}
		})

		t.Run("metered charges of a license", func(t *testing.T) {
			// 120 api_calls billed at 09:00 on 2 Nov; 13 at 10:00 were rejected
			// and 300 are still open: only the 120 are charged, at USD 0.002.
			p := viewer.get("/console/licenses?arn=" + url.QueryEscape(ld.licenseArn))
			wantIn(t, p, `id="metered-charges"`, "<td>Nov 2026</td><td>api_calls</td><td class=\"num\">120</td><td class=\"num\">USD 0.002</td><td class=\"num\">USD 0.24</td>")
		})

		t.Run("offers and metering CSV", func(t *testing.T) {
			recs := readCSV(t, viewer.get("/console/offers.csv"))
			if len(recs) < 2 || recs[0][0] != "id" || !strings.Contains(strings.Join(recs[0], ","), "buyerCompany") {
				t.Fatalf("offers csv = %q", recs)
			}
			recs = readCSV(t, viewer.get("/console/metering.csv?period=all"))
			if len(recs) < 2 || recs[0][0] != "licenseId" {
				t.Fatalf("metering csv = %q", recs)
			}
		})
	})
}
