package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

var alice = audit.Actor{Kind: audit.KindUser, ID: "u-1", Name: "alice@example.com"}

func record(t *testing.T, db *store.DB, ctx context.Context, c audit.Change) {
	t.Helper()
	if err := db.Write(ctx, func(tx *store.Tx) error { return audit.Record(ctx, tx, c) }); err != nil {
		t.Fatalf("record: %v", err)
	}
}

func count(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.Read(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_log`).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTrail(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := audit.WithActor(context.Background(), alice)

		t.Run("a change commits with its row, named and with before and after", func(t *testing.T) {
			record(t, db, ctx, audit.Change{Object: "product", ObjectID: "prod-1", Action: "product.update",
				Before: map[string]any{"title": "Old"}, After: map[string]any{"title": "New"}, Summary: "title changed"})
			got, err := audit.List(context.Background(), db, audit.Filter{ObjectID: "prod-1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d rows, want 1", len(got))
			}
			e := got[0]
			if e.Actor != alice || e.Object != "product" || e.Action != "product.update" || e.Summary != "title changed" {
				t.Errorf("entry = %+v", e)
			}
			d := audit.Diff(e.Before, e.After)
			if len(d) != 1 || d[0] != (audit.FieldChange{Field: "title", Before: `"Old"`, After: `"New"`}) {
				t.Errorf("diff = %+v", d)
			}
		})

		t.Run("a rolled-back change leaves no row", func(t *testing.T) {
			before := count(t, db)
			boom := errors.New("the change failed after recording")
			err := db.Write(ctx, func(tx *store.Tx) error {
				if err := audit.Record(ctx, tx, audit.Change{Object: "offer", ObjectID: "offer-x", Action: "offer.update"}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("Write = %v", err)
			}
			if n := count(t, db); n != before {
				t.Errorf("rows = %d after a rollback, want %d", n, before)
			}
		})

		t.Run("without an actor nothing is recorded", func(t *testing.T) {
			before := count(t, db)
			record(t, db, context.Background(), audit.Change{Object: "offer", ObjectID: "offer-y", Action: "offer.publish"})
			if n := count(t, db); n != before {
				t.Errorf("rows = %d, want %d", n, before)
			}
		})

		t.Run("secrets are redacted", func(t *testing.T) {
			record(t, db, ctx, audit.Change{Object: "webhook", ObjectID: "wh-1", Action: "webhook.create",
				After: map[string]any{"url": "https://example.com/hook", "secret": "whsec_abc", "smtp": map[string]any{"Password": "hunter2"}}})
			got, err := audit.List(context.Background(), db, audit.Filter{ObjectID: "wh-1"})
			if err != nil || len(got) != 1 {
				t.Fatalf("List = %v, %v", got, err)
			}
			if s := string(got[0].After); strings.Contains(s, "whsec_abc") || strings.Contains(s, "hunter2") || !strings.Contains(s, "https://example.com/hook") {
				t.Errorf("after = %s", s)
			}
		})

		t.Run("rows cannot be updated or deleted", func(t *testing.T) {
			record(t, db, ctx, audit.Change{Object: "user", ObjectID: "u-2", Action: "user.create"})
			for _, q := range []string{
				`UPDATE audit_log SET actor_name = 'mallory' WHERE object_id = 'u-2'`,
				`DELETE FROM audit_log WHERE object_id = 'u-2'`,
			} {
				err := db.Write(context.Background(), func(tx *store.Tx) error {
					_, err := tx.Exec(context.Background(), q)
					return err
				})
				if err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s: err = %v, want the append-only refusal", q, err)
				}
			}
			got, err := audit.List(context.Background(), db, audit.Filter{ObjectID: "u-2"})
			if err != nil || len(got) != 1 || got[0].Actor.Name != alice.Name {
				t.Errorf("after the refused changes: %+v, %v", got, err)
			}
			if db.Dialect() == store.Postgres {
				err := db.Write(context.Background(), func(tx *store.Tx) error {
					_, err := tx.Exec(context.Background(), `TRUNCATE audit_log`)
					return err
				})
				if err == nil {
					t.Errorf("TRUNCATE succeeded")
				}
			}
		})

		t.Run("filters and pages", func(t *testing.T) {
			bob := audit.WithActor(context.Background(), audit.Actor{Kind: audit.KindAPIKey, ID: "key-1", Name: "ci"})
			t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			for i := range 5 {
				record(t, db, bob, audit.Change{Object: "route", ObjectID: "r-page", Action: "route.create", At: t0.Add(time.Duration(i) * time.Hour)})
			}
			var all []audit.Entry
			after := ""
			for {
				page, err := audit.List(context.Background(), db, audit.Filter{Actor: "ci", ObjectID: "r-page", After: after, Limit: 2})
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, page...)
				if len(page) < 2 {
					break
				}
				after = page[len(page)-1].ID
			}
			if len(all) != 5 {
				t.Fatalf("paged %d rows, want 5", len(all))
			}
			for i := 1; i < len(all); i++ {
				if !all[i].At.Before(all[i-1].At) {
					t.Errorf("not newest first: %v then %v", all[i-1].At, all[i].At)
				}
			}
			got, err := audit.List(context.Background(), db, audit.Filter{Actor: "key-1", From: t0.Add(time.Hour), To: t0.Add(3 * time.Hour)})
			if err != nil || len(got) != 2 {
				t.Errorf("time range: %d rows, %v; want 2", len(got), err)
			}
			got, err = audit.List(context.Background(), db, audit.Filter{Actor: alice.Name, Object: "route"})
			if err != nil || len(got) != 0 {
				t.Errorf("another actor's rows: %d, %v", len(got), err)
			}
		})
	})
}

func TestDiff(t *testing.T) {
	t.Parallel()
	got := audit.Diff(json.RawMessage(`{"a":1,"b":{"c":"x"},"d":[1,2]}`), json.RawMessage(`{"a":1,"b":{"c":"y"},"d":[1],"e":true}`))
	want := []audit.FieldChange{
		{Field: "b.c", Before: `"x"`, After: `"y"`},
		{Field: "d[1]", Before: "2", After: ""},
		{Field: "e", Before: "", After: "true"},
	}
	if len(got) != len(want) {
		t.Fatalf("Diff = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Diff[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if d := audit.Diff(nil, json.RawMessage(`{"name":"n"}`)); len(d) != 1 || d[0].After != `"n"` {
		t.Errorf("creation diff = %+v", d)
	}
}
