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
