package offer_test

import (
	"context"
	"testing"

	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// The search finds offer names with the characters JSON escapes in the
// stored form (<, >, &), treats % and _ as text, and finds non-ASCII text as
// typed on SQLite as on PostgreSQL.
func TestListSearchFindsWhatIsWritten(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		o := direct()
		o.Name = "R&D renewal <PO-7> été 100%"
		rd := e.create(o)
		o = direct()
		o.Name, o.BuyerCompany = "Plain PO-8", "Ünicorn GmbH"
		plain := e.create(o)
		for q, want := range map[string]string{"R&D": rd.ID, "r&d renewal": rd.ID, "<PO-7>": rd.ID, "été": rd.ID, "100%": rd.ID,
			"Ünicorn": plain.ID, "PO-8": plain.ID, "PO_8": "", "0%": rd.ID, "%": rd.ID} {
			list, err := e.svc.List(context.Background(), offer.Filter{Query: q})
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if len(list) > 1 {
				t.Errorf("search %q: %d offers, want at most one", q, len(list))
			}
			if len(list) == 1 {
				got = list[0].ID
			}
			if got != want {
				t.Errorf("search %q found %q, want %q", q, got, want)
			}
		}
	})
}

// The search folds case in any script on SQLite as on PostgreSQL: ÜNÏCODE
// finds Ünïcode GmbH (SQLite's LOWER folds only ASCII), with the other
// filters and the page size still applied.
func TestListSearchFoldsCaseInEveryScript(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		o := direct()
		o.BuyerCompany, o.Name = "Ünïcode GmbH", "Jahresvertrag"
		uni := e.create(o)
		e.create(o) // a second one, for the page size
		o = direct()
		o.BuyerCompany, o.Name = "Unicode Ltd", "Plain"
		e.create(o)
		for _, q := range []string{"ÜNÏCODE", "ünïcode gmbh", "JAHRESVERTRAG", "Ünïcode"} {
			all, err := e.svc.ListAll(ctx, offer.Filter{Query: q})
			if err != nil || len(all) != 2 || all[1].ID != uni.ID {
				t.Errorf("search %q: %d offers %v, want the two of Ünïcode GmbH, newest first", q, len(all), err)
			}
			page, err := e.svc.List(ctx, offer.Filter{Query: q, Limit: 1})
			if err != nil || len(page) != 1 || page[0].ID == uni.ID {
				t.Errorf("search %q, limit 1: %d offers %v, want the newest", q, len(page), err)
			}
			none, err := e.svc.ListAll(ctx, offer.Filter{Query: q, State: offer.StateCancelled})
			if err != nil || len(none) != 0 {
				t.Errorf("search %q among cancelled offers: %d offers %v", q, len(none), err)
			}
		}
		if all, err := e.svc.ListAll(ctx, offer.Filter{Query: "unicode"}); err != nil || len(all) != 1 {
			t.Errorf(`"unicode" finds %d offers (%v): only "Unicode Ltd" is spelt so`, len(all), err)
		}
	})
}
