package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// offerLinks are the names of the offers a list page links to, in order.
var offerLinkRE = regexp.MustCompile(`<td><a href="/console/offers/ofr_[0-9a-f]+">([^<]*)</a>`)

func offerLinks(p page) []string {
	var out []string
	for _, m := range offerLinkRE.FindAllStringSubmatch(p.body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// TestOfferListsSortPageAndSearch: the Offers and Partner offers lists sort
// by their columns (aria-sort on the sorted header), page 50 at a time with
// a pager that keeps the filters and the order, download the same rows in
// the same order as CSV, refuse a sort that is not a column, and find
// "Ünïcode GmbH" by "ÜNÏCODE" on both databases.
func TestOfferListsSortPageAndSearch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		d := e.data()
		ctx := context.Background()
		mk := func(typ, company, name string) {
			t.Helper()
			o := d.offer.Offer
			o.Type, o.BuyerCompany, o.Name = typ, company, name
			o.Metadata = map[string]string{offer.MetaBuyerAccount: buyerAccount}
			if typ == offer.TypePartner {
				o.Metadata[offer.MetaPartnerAccount] = "777788889999"
				o.ResellerAgreement = &offer.Legal{Kind: "standard"}
			}
			if _, err := e.svc.Offers.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		mk(offer.TypeDirect, "Ünïcode GmbH", "Unicode deal")
		mk(offer.TypeDirect, "zeta corp", "Zeta deal")
		mk(offer.TypePartner, "Beta AG", "Beta via partner")
		mk(offer.TypePartner, "Ünïcode GmbH", "Unicode via partner")
		c := e.login("viewer@seller.example")

		t.Run("sort", func(t *testing.T) {
			p := c.get("/console/offers?sort=buyer")
			wantIn(t, p, `<th scope="col" aria-sort="ascending"><a class="sort" href="/console/offers?sort=-buyer">Buyer`)
			// Names sort by their folded text, as on the Buyers and Agreements
			// lists (so ü after z); ties newest first.
			want := []string{"Acme Corp expansion PO-4471", "Beta via partner", "Zeta deal", "Unicode via partner", "Unicode deal"}
			if got := offerLinks(p); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("sorted by buyer: %q, want %q", got, want)
			}
			p = c.get("/console/offers?sort=-buyer")
			wantIn(t, p, `aria-sort="descending"`)
			if got := offerLinks(p); len(got) != 5 || got[0] != "Unicode via partner" || got[2] != "Zeta deal" || got[4] != "Acme Corp expansion PO-4471" {
				t.Fatalf("sorted by buyer, descending: %q", got)
			}
			// The CSV has the same rows in the same order.
			recs := readCSV(t, c.get("/console/offers.csv?sort=buyer"))
			var names []string
			for _, r := range recs[1:] {
				names = append(names, r[3])
			}
			if strings.Join(names, "|") != strings.Join(want, "|") {
				t.Fatalf("the CSV sorted by buyer: %q", names)
			}
			if p := c.get("/console/offers?sort=form"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "cannot be sorted that way") {
				t.Fatalf("sort by a column that is not one: %d", p.status)
			}
			if p := c.get("/console/offers.csv?sort=created%3BDROP"); p.status != http.StatusBadRequest {
				t.Fatalf("CSV sorted by a column that is not one: %d", p.status)
			}
		})

		t.Run("search folds case in any script", func(t *testing.T) {
			p := c.get("/console/offers?q=%C3%9CN%C3%8FCODE") // ÜNÏCODE
			if got := offerLinks(p); len(got) != 2 || got[0] != "Unicode via partner" || got[1] != "Unicode deal" {
				t.Fatalf("ÜNÏCODE found %q", got)
			}
			recs := readCSV(t, c.get("/console/partners.csv?q=%C3%BCn%C3%AFcode")) // ünïcode
			if len(recs) != 2 || recs[1][3] != "Unicode via partner" {
				t.Fatalf("partner offers CSV for ünïcode: %q", recs)
			}
		})

		t.Run("partners", func(t *testing.T) {
			p := c.get("/console/partners?sort=-offer")
			wantIn(t, p, `aria-sort="descending"`, "Download these partner offers as CSV")
			if got := offerLinks(p); strings.Join(got, "|") != "Unicode via partner|Beta via partner" {
				t.Fatalf("partner offers by name, descending: %q", got)
			}
		})

		t.Run("pages", func(t *testing.T) {
			for i := range 50 {
				mk(offer.TypeDirect, fmt.Sprintf("Bulk %02d", i), fmt.Sprintf("Bulk deal %02d", i))
			}
			p := c.get("/console/offers?q=bulk&sort=offer")
			got := offerLinks(p)
			if len(got) != 50 || got[0] != "Bulk deal 00" || got[49] != "Bulk deal 49" {
				t.Fatalf("first page: %d offers %q", len(got), got)
			}
			wantIn(t, c.get("/console/offers?q=bulk&sort=-offer&offset=40"), "Offers 41 to 50 of 50.")
			p = c.get("/console/offers?sort=offer")
			wantIn(t, p, "Offers 1 to 50 of 55.", `<a href="/console/offers?offset=50&amp;sort=offer">Next offers</a>`)
			p = c.get("/console/offers?offset=50&sort=offer")
			if got := offerLinks(p); strings.Join(got, "|") != "Bulk deal 48|Bulk deal 49|Unicode deal|Unicode via partner|Zeta deal" {
				t.Fatalf("second page: %q", got)
			}
			wantIn(t, p, "Offers 51 to 55 of 55.", `<a href="/console/offers?sort=offer">Previous offers</a>`)
			if recs := readCSV(t, c.get("/console/offers.csv?sort=offer&offset=50")); len(recs) != 56 {
				t.Fatalf("the CSV has %d rows, want every offer (55)", len(recs)-1)
			}
		})
	})
}

// TestNotificationListSortsAndPages: the Notifications list sorts by its
// columns (status along failed, pending, skipped, sent, none), pages 50 at
// a time with the filters and order kept, and refuses a sort that is not a
// column, on both databases.
func TestNotificationListSortsAndPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		d := e.data() // one metering_failed notification, skipped
		ctx := context.Background()
		err := db.Write(ctx, func(tx *store.Tx) error {
			for i := range 54 {
				_, _, err := e.svc.Notify.Emit(ctx, tx, now.Add(time.Duration(i+1)*time.Minute), notify.Notice{Kind: notify.KindMeteringExpired,
					Key: fmt.Sprintf("metering_expired:mr_%02d", i), ProductID: "prod-o",
					Data: notify.MeteringData{RecordID: fmt.Sprintf("mr_%02d", i), Outcome: "expired", ProductID: "prod-o", AccountID: buyerAccount,
						Dimension: fmt.Sprintf("dim_%02d", i), Hour: now.Truncate(time.Hour), Quantity: 1}})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		c := e.login("viewer@seller.example")
		n := storetest.Count(t, db, "notifications") // 54 and those data() made
		p := c.get("/console/notifications")
		wantIn(t, p, `aria-sort="descending"><a class="sort" href="/console/notifications?sort=created">Created`, fmt.Sprintf("Notifications 1 to 50 of %d.", n),
			`<a href="/console/notifications?offset=50">Next notifications</a>`)
		if strings.Contains(p.body, d.notification) {
			t.Fatal("the oldest notification is on the first page, newest first")
		}
		p = c.get("/console/notifications?offset=50")
		wantIn(t, p, fmt.Sprintf("Notifications 51 to %d of %d.", n, n), d.notification)
		// Sorted by status: the skipped one (the others have no recipient) first.
		p = c.get("/console/notifications?sort=status")
		wantIn(t, p, `aria-sort="ascending"`)
		rows := regexp.MustCompile(`<tr id="resend-(ntf_[0-9a-f]+)">`).FindAllStringSubmatch(p.body, -1)
		if len(rows) != 50 || rows[0][1] != d.notification {
			t.Fatalf("sorted by status, the skipped notification %s is not first: %q", d.notification, rows)
		}
		p = c.get("/console/notifications?sort=-status")
		if rows := regexp.MustCompile(`<tr id="resend-(ntf_[0-9a-f]+)">`).FindAllStringSubmatch(p.body, -1); len(rows) != 50 || rows[0][1] == d.notification {
			t.Fatalf("sorted by status, descending: %q", rows)
		}
		p = c.get("/console/notifications?sort=kind&kind=metering_expired&offset=50")
		wantIn(t, p, "Notifications 51 to 54 of 54.", `<a href="/console/notifications?kind=metering_expired&amp;sort=kind">Previous notifications</a>`)
		if p := c.get("/console/notifications?sort=body"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "cannot be sorted that way") {
			t.Fatalf("sort by a column that is not one: %d", p.status)
		}
	})
}

// TestMeteringRecordsSortAndPage: the metering page's records sort by their
// columns and page 50 at a time in the database, keeping the period and the
// outcome filter, on both databases.
func TestMeteringRecordsSortAndPage(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		hour := now.Truncate(time.Hour).Add(-2 * time.Hour)
		err := db.Write(ctx, func(tx *store.Tx) error {
			for i := range 57 {
				status := "rejected"
				switch {
				case i >= 56:
					status = "success"
				case i >= 55:
					status = "expired"
				}
				_, err := tx.Exec(ctx, `INSERT INTO metering_records (record_id, send_key, product_id, path, license_arn, account_id, dimension, hour, quantity,
					status, reason, next_attempt_at, created_at) VALUES (?, ?, 'prod-o', 'license', ?, ?, ?, ?, ?, ?, 'refused', 0, ?)`,
					fmt.Sprintf("mr_%03d", i), fmt.Sprintf("k%03d", i), "arn:aws:license-manager::"+buyerAccount+":license/l-"+fmt.Sprint(i), buyerAccount,
					fmt.Sprintf("dim_%02d", i%7), store.Millis(hour.Add(-time.Duration(i)*time.Hour)), 100+i, status, store.Millis(now))
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		quantities := func(p page) []string {
			var out []string
			for _, m := range regexp.MustCompile(`<td class="num">(\d+)</td>`).FindAllStringSubmatch(p.body, -1) {
				out = append(out, m[1])
			}
			return out
		}
		c := e.login("viewer@seller.example")
		// Every record not billed (rejected and expired, not the success),
		// in time order by default: the oldest hour first.
		p := c.get("/console/metering?period=all")
		wantIn(t, p, "Records 1 to 50 of 56.", `aria-sort="ascending"><a class="sort" href="/console/metering?period=all&amp;sort=-hour">Hour (UTC)`,
			`<a href="/console/metering?offset=50&amp;period=all">Next records</a>`)
		if q := quantities(p); len(q) != 50 || q[0] != "155" {
			t.Fatalf("by hour: %q", q)
		}
		p = c.get("/console/metering?period=all&sort=-quantity&offset=50")
		wantIn(t, p, "Records 51 to 56 of 56.", `aria-sort="descending"`, `<a href="/console/metering?period=all&amp;sort=-quantity">Previous records</a>`)
		if q := quantities(p); strings.Join(q, ",") != "105,104,103,102,101,100" {
			t.Fatalf("by quantity, descending, second page: %q", q)
		}
		p = c.get("/console/metering?period=all&status=expired&sort=quantity")
		if q := quantities(p); strings.Join(q, ",") != "155" {
			t.Fatalf("expired records: %q", q)
		}
		if p := c.get("/console/metering?period=all&sort=reason"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "cannot be sorted that way") {
			t.Fatalf("sort by a column that is not one: %d", p.status)
		}
	})
}
