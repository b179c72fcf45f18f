package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/report"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

const (
	acme    = "111122223333" // named by its offer
	unicode = "444455556666" // named by registration: Ünïcode GmbH
	bare    = "777788889999" // no name
)

// ledger is a small ledger: three buyers, two products, four agreements
// (one through a partner), each valued by its recorded bookable artifact.
func ledger(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	ms := func(t time.Time) int64 { return store.Millis(t) }
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	terms := func(total string) string {
		q := int64(1)
		b, _ := json.Marshal(marketplace.Terms{Currency: "USD", Pricing: []marketplace.PriceItem{{Term: "ConfigurableUpfrontPricingTerm", Dimension: "seats", Price: total, Quantity: &q}},
			Validity: &marketplace.Validity{Duration: "P12M"}, Types: []string{"ConfigurableUpfrontPricingTerm"}})
		return string(b)
	}
	err := db.Write(ctx, func(tx *store.Tx) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO products (product_id, title, created_at, updated_at) VALUES (?, ?, ?, ?)`, []any{"prod-a", "Analytics", 0, 0}},
			{`INSERT INTO products (product_id, title, created_at, updated_at) VALUES (?, ?, ?, ?)`, []any{"prod-b", "Backup", 0, 0}},
			{`INSERT INTO buyers (account_id, first_seen_at, updated_at) VALUES (?, ?, ?)`, []any{acme, 1, 1}},
			{`INSERT INTO buyers (account_id, first_seen_at, updated_at) VALUES (?, ?, ?)`, []any{unicode, 2, 2}},
			{`INSERT INTO buyers (account_id, first_seen_at, updated_at) VALUES (?, ?, ?)`, []any{bare, 3, 3}},
			{`INSERT INTO offers (id, type, state, product_id, buyer_account_id, buyer_company, form, created_at, updated_at) VALUES (?, 'direct', 'accepted', 'prod-a', ?, ?, '{}', 1, 1)`,
				[]any{"ofr_1", acme, "Acme Corp"}},
			{`INSERT INTO tenants (tenant_id, account_id, product_id, company, source, created_at, updated_at) VALUES (?, ?, 'prod-a', ?, 'registration', 1, 1)`,
				[]any{"t-1", unicode, "Ünïcode GmbH"}},
		} {
			if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		for _, a := range []struct {
			id, account, product, status, proposer, total string
			accepted, end                                 time.Time
		}{
			{"agmt-a1", acme, "prod-a", "ACTIVE", "999900001111", "12000", day(2026, 11, 3), day(2027, 11, 3)},
			{"agmt-a2", unicode, "prod-a", "ACTIVE", "555500001111", "3000.50", day(2026, 11, 20), now.Add(36 * time.Hour)},
			{"agmt-b1", unicode, "prod-b", "EXPIRED", "999900001111", "800", day(2026, 10, 1), day(2026, 11, 1)},
			{"agmt-b2", bare, "prod-b", "ACTIVE", "999900001111", "", day(2026, 11, 5), day(2027, 5, 5)},
		} {
			var termsJSON any
			var fetched any
			if a.total != "" {
				termsJSON, fetched = terms(a.total), ms(a.accepted)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO agreements (agreement_id, initial_agreement_id, intent, status, acceptance_time, start_time, end_time,
				acceptor_account_id, proposer_account_id, manufacturer_account_id, product_id, terms, terms_fetched_at, last_event_time, updated_at)
				VALUES (?, ?, 'NEW', ?, ?, ?, ?, ?, ?, '999900001111', ?, ?, ?, 0, 0)`,
				a.id, a.id, a.status, ms(a.accepted), ms(a.accepted), ms(a.end), a.account, a.proposer, a.product, termsJSON, fetched); err != nil {
				return err
			}
			if _, _, err := artifact.Record(ctx, tx, a.id, a.accepted); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCompanies(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ledger(t, db)
		got, err := report.LoadCompanies(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if got[acme] != (report.Company{Name: "Acme Corp", Source: report.SourceOffer}) ||
			got[unicode] != (report.Company{Name: "Ünïcode GmbH", Source: report.SourceRegistration}) {
			t.Fatalf("companies = %+v", got)
		}
		if _, ok := got[bare]; ok {
			t.Fatalf("a buyer without a name got one: %+v", got[bare])
		}

		t.Run("search folds case of non-ASCII letters", func(t *testing.T) {
			for _, q := range []string{"ünïcode", "ÜNÏCODE GMBH", "code g", "4444"} {
				p, err := report.Buyers(ctx, db, report.BuyerFilter{Query: q})
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Items) != 1 || p.Items[0].AccountID != unicode {
					t.Errorf("search %q found %+v", q, p.Items)
				}
			}
			p, err := report.Buyers(ctx, db, report.BuyerFilter{Query: "unicode"})
			if err != nil || len(p.Items) != 0 {
				t.Errorf("search without the diaeresis found %+v (%v): folding is case only", p.Items, err)
			}
		})

		t.Run("a name set by hand wins, and clearing it brings back the derived one", func(t *testing.T) {
			ctx := audit.WithActor(ctx, audit.Actor{Kind: "user", ID: "u-1", Name: "rita@example.com"})
			if err := report.SetCompany(ctx, db, acme, "  ACME Holdings  ", now); err != nil {
				t.Fatal(err)
			}
			trail, err := audit.List(ctx, db, audit.Filter{Object: "buyer", ObjectID: acme})
			if err != nil || len(trail) != 1 || trail[0].Actor.Name != "rita@example.com" || trail[0].Action != "buyer.company" ||
				!strings.Contains(string(trail[0].After), "ACME Holdings") {
				t.Fatalf("audit trail of the rename: %+v (%v)", trail, err)
			}
			c, _ := report.LoadCompanies(ctx, db)
			if c[acme] != (report.Company{Name: "ACME Holdings", Source: report.SourceManual}) {
				t.Fatalf("after set: %+v", c[acme])
			}
			if err := report.SetCompany(ctx, db, acme, "", now); err != nil {
				t.Fatal(err)
			}
			c, _ = report.LoadCompanies(ctx, db)
			if c[acme].Source != report.SourceOffer {
				t.Fatalf("after clear: %+v", c[acme])
			}
		})

		t.Run("a newer draft does not rename a buyer an offer was sent to", func(t *testing.T) {
			exec := func(q string, args ...any) {
				t.Helper()
				if err := db.Write(ctx, func(tx *store.Tx) error { _, err := tx.Exec(ctx, q, args...); return err }); err != nil {
					t.Fatal(err)
				}
			}
			exec(`INSERT INTO offers (id, type, state, product_id, buyer_account_id, buyer_company, form, created_at, updated_at)
				VALUES ('ofr-draft', 'direct', 'draft', 'prod-a', ?, 'Globex', '{}', 50, 50)`, acme)
			exec(`INSERT INTO offers (id, type, state, product_id, buyer_account_id, buyer_company, form, created_at, updated_at)
				VALUES ('ofr-draft-bare', 'direct', 'draft', 'prod-a', ?, 'Bare Draft Ltd', '{}', 50, 50)`, bare)
			defer exec(`DELETE FROM offers WHERE id IN ('ofr-draft', 'ofr-draft-bare')`)
			c, err := report.LoadCompanies(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if c[acme] != (report.Company{Name: "Acme Corp", Source: report.SourceOffer}) {
				t.Fatalf("a draft renamed the buyer: %+v", c[acme])
			}
			if c[bare] != (report.Company{Name: "Bare Draft Ltd", Source: report.SourceOffer}) {
				t.Fatalf("a buyer with only a draft has no name from it: %+v", c[bare])
			}
		})

		t.Run("bad names and unknown buyers change nothing", func(t *testing.T) {
			for _, c := range []struct{ account, name, code string }{
				{"000011112222", "Nobody", marketplace.ENotFound},
				{"abc", "Nobody", marketplace.ENotFound},
				{bare, "two\nlines", marketplace.EInvalid},
				{bare, string(make([]byte, 201)), marketplace.EInvalid},
			} {
				if err := report.SetCompany(ctx, db, c.account, c.name, now); marketplace.ErrorCode(err) != c.code {
					t.Errorf("SetCompany(%q, %q) = %v, want %s", c.account, c.name, err, c.code)
				}
			}
			c, _ := report.LoadCompanies(ctx, db)
			if _, ok := c[bare]; ok {
				t.Fatalf("a refused name was stored: %+v", c[bare])
			}
		})
	})
}

func TestAgreements(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ledger(t, db)
		ids := func(p report.Paged[report.AgreementRow]) []string {
			var out []string
			for _, a := range p.Items {
				out = append(out, a.AgreementID)
			}
			return out
		}
		list := func(f report.AgreementFilter) report.Paged[report.AgreementRow] {
			t.Helper()
			p, err := report.Agreements(ctx, db, f, now)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		all := list(report.AgreementFilter{Order: report.Order{Key: "agreement"}})
		if got := ids(all); len(got) != 4 || got[0] != "agmt-a1" {
			t.Fatalf("all = %v", got)
		}
		a1 := all.Items[0]
		if a1.BuyerCompany != "Acme Corp" || a1.ContractValue != "12000.00" || a1.Currency != "USD" || a1.Channel != "direct" || a1.ProductTitle != "Analytics" {
			t.Fatalf("agmt-a1 = %+v", a1)
		}
		for name, c := range map[string]struct {
			f    report.AgreementFilter
			want []string
		}{
			"by product":           {report.AgreementFilter{ProductID: "prod-b", Order: report.Order{Key: "agreement"}}, []string{"agmt-b1", "agmt-b2"}},
			"by status":            {report.AgreementFilter{Status: "EXPIRED"}, []string{"agmt-b1"}},
			"partner":              {report.AgreementFilter{Channel: "partner"}, []string{"agmt-a2"}},
			"ending within 2 days": {report.AgreementFilter{EndingWithinDays: 2}, []string{"agmt-a2"}},
			"buyer by company":     {report.AgreementFilter{Buyer: "ünïCODE", Order: report.Order{Key: "agreement"}}, []string{"agmt-a2", "agmt-b1"}},
			"buyer by account":     {report.AgreementFilter{Buyer: "7777"}, []string{"agmt-b2"}},
			"value descending":     {report.AgreementFilter{Order: report.Order{Key: "value", Desc: true}}, []string{"agmt-a1", "agmt-a2", "agmt-b1", "agmt-b2"}},
			"buyer ascending":      {report.AgreementFilter{Order: report.Order{Key: "buyer"}}, []string{"agmt-a1", "agmt-a2", "agmt-b1", "agmt-b2"}},
			"end ascending":        {report.AgreementFilter{}, []string{"agmt-b1", "agmt-a2", "agmt-b2", "agmt-a1"}},
		} {
			if got := ids(list(c.f)); !equal(got, c.want) {
				t.Errorf("%s: %v, want %v", name, got, c.want)
			}
		}

		t.Run("pages do not overlap and cover the list", func(t *testing.T) {
			var seen []string
			f := report.AgreementFilter{Order: report.Order{Key: "channel"}, Page: report.Page{Limit: 3}}
			for {
				p := list(f)
				seen = append(seen, ids(p)...)
				if p.Total != 4 {
					t.Fatalf("total = %d", p.Total)
				}
				if p.NextOffset == 0 {
					break
				}
				f.Offset = p.NextOffset
			}
			if len(seen) != 4 || !unique(seen) {
				t.Fatalf("paged = %v", seen)
			}
		})

		t.Run("bad filters are refused", func(t *testing.T) {
			for _, f := range []report.AgreementFilter{{Status: "ALIVE"}, {Channel: "retail"}, {EndingWithinDays: -1}, {Order: report.Order{Key: "agreement_id; DROP TABLE agreements"}}} {
				if _, err := report.Agreements(ctx, db, f, now); marketplace.ErrorCode(err) != marketplace.EInvalid {
					t.Errorf("%+v: %v", f, err)
				}
			}
		})

		t.Run("the CSV has the API's columns and the same rows", func(t *testing.T) {
			var buf bytes.Buffer
			if err := report.WriteCSV(&buf, report.AgreementColumns, all.Items); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]any
			b, _ := json.Marshal(a1)
			json.Unmarshal(b, &fields)
			if len(recs) != 5 || len(recs[0]) != len(report.AgreementColumns) {
				t.Fatalf("csv = %v", recs)
			}
			for i, col := range recs[0] {
				v, ok := fields[col]
				if !ok {
					if recs[1][i] != "" {
						t.Errorf("column %s is not a JSON field of the row", col)
					}
					continue
				}
				if s, _ := v.(string); s != recs[1][i] {
					t.Errorf("column %s: CSV %q, JSON %v", col, recs[1][i], v)
				}
			}
		})
	})
}

func TestBookings(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ledger(t, db)
		f, err := report.ParseBookingFilter("2026-10", "2026-12", "month", "", now)
		if err != nil {
			t.Fatal(err)
		}
		b, err := report.LoadBookings(ctx, db, f)
		if err != nil {
			t.Fatal(err)
		}
		if !equal(b.Periods, []string{"2026-10", "2026-11", "2026-12"}) {
			t.Fatalf("periods = %v", b.Periods)
		}
		want := []report.BookingRow{
			{Period: "2026-10", ProductID: "prod-b", ProductTitle: "Backup", Channel: "direct", Currency: "USD", Agreements: 1, Total: "800.00"},
			{Period: "2026-11", ProductID: "prod-a", ProductTitle: "Analytics", Channel: "direct", Currency: "USD", Agreements: 1, Total: "12000.00"},
			{Period: "2026-11", ProductID: "prod-a", ProductTitle: "Analytics", Channel: "partner", Currency: "USD", Agreements: 1, Total: "3000.50"},
		}
		if len(b.Rows) != len(want) {
			t.Fatalf("rows = %+v", b.Rows)
		}
		for i := range want {
			if b.Rows[i] != want[i] {
				t.Errorf("row %d = %+v, want %+v", i, b.Rows[i], want[i])
			}
		}
		if b.Unvalued != 1 {
			t.Errorf("unvalued = %d, want 1 (agmt-b2 has no terms yet)", b.Unvalued)
		}
		for _, tot := range b.Totals {
			if tot.Period == "2026-11" && (tot.Total.String() != "15000.5" || tot.Partner.String() != "3000.5" || tot.Direct.String() != "12000") {
				t.Errorf("November = %+v", tot)
			}
		}

		q, err := report.ParseBookingFilter("2026-11", "2026-11", "quarter", "prod-a", now)
		if err != nil {
			t.Fatal(err)
		}
		b, err = report.LoadBookings(ctx, db, q)
		if err != nil || !equal(b.Periods, []string{"2026-Q4"}) || len(b.Rows) != 2 {
			t.Fatalf("quarter = %+v, %v", b, err)
		}

		for _, bad := range [][3]string{{"2026-13", "", "month"}, {"2026-11", "2026-10", "month"}, {"", "", "week"}, {"2020-01", "2026-01", "month"}} {
			if _, err := report.ParseBookingFilter(bad[0], bad[1], bad[2], "", now); marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Errorf("%v: %v", bad, err)
			}
		}

		rates, err := report.LoadRunRates(ctx, db, "")
		if err != nil {
			t.Fatal(err)
		}
		// agmt-a1: 12000.00 over a year; agmt-a2: 3000.50 over 19 days (20 Nov
		// to 9 Dec 2026), 3000.50 × 365 / 19 = 57641.18 a year.
		if len(rates) != 1 || rates[0].Agreements != 2 || rates[0].Annual != "69641.18" {
			t.Fatalf("run rates = %+v", rates)
		}
	})
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func unique(s []string) bool {
	seen := map[string]bool{}
	for _, x := range s {
		if seen[x] {
			return false
		}
		seen[x] = true
	}
	return true
}
