package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// insertKey adds a row to api_keys, a table with a primary key and a UNIQUE column.
func insertKey(ctx context.Context, tx *store.Tx, id, hash string) error {
	_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		id, "key "+id, "ck_"+id, hash, int64(1772460000000))
	return err
}

func countKeys(ctx context.Context, t *testing.T, db *store.DB, id string) int {
	t.Helper()
	var n int
	if err := db.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT COUNT(*) FROM api_keys WHERE id = ?`, id).Scan(&n)
	}); err != nil {
		t.Fatalf("read: %v", err)
	}
	return n
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()

		t.Run("ping answers", func(t *testing.T) {
			if err := db.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		})

		t.Run("migrate is idempotent", func(t *testing.T) {
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			n, err := db.Pending(ctx)
			if err != nil || n != 0 {
				t.Fatalf("Pending = %d, %v; want 0", n, err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("third Migrate: %v", err)
			}
		})

		t.Run("write commits and read sees it", func(t *testing.T) {
			committed := false
			err := db.Write(ctx, func(tx *store.Tx) error {
				if tx.Dialect() != db.Dialect() {
					t.Errorf("tx dialect %q, db dialect %q", tx.Dialect(), db.Dialect())
				}
				tx.AfterCommit(func() { committed = true })
				return insertKey(ctx, tx, "k1", "h1")
			})
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if !committed {
				t.Error("AfterCommit did not run")
			}
			var name, hash string
			if err := db.Read(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, `SELECT name, hash FROM api_keys WHERE id = ? AND prefix = ?`, "k1", "ck_k1").Scan(&name, &hash)
			}); err != nil {
				t.Fatalf("Read: %v", err)
			}
			if name != "key k1" || hash != "h1" {
				t.Errorf("read back %q %q", name, hash)
			}
		})

		t.Run("quoted question marks are not placeholders", func(t *testing.T) {
			var s string
			var n int64
			if err := db.Read(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, `SELECT 'what''s ?' AS "why?", COUNT(*) FROM api_keys WHERE id = ?`, "none").Scan(&s, &n)
			}); err != nil {
				t.Fatalf("Read: %v", err)
			}
			if s != "what's ?" || n != 0 {
				t.Errorf("got %q %d", s, n)
			}
		})

		t.Run("write rolls back when fn fails", func(t *testing.T) {
			boom := errors.New("boom")
			committed := false
			err := db.Write(ctx, func(tx *store.Tx) error {
				tx.AfterCommit(func() { committed = true })
				if err := insertKey(ctx, tx, "k2", "h2"); err != nil {
					return err
				}
				return fmt.Errorf("after insert: %w", boom)
			})
			if !errors.Is(err, boom) {
				t.Fatalf("Write = %v, want the fn error", err)
			}
			if committed {
				t.Error("AfterCommit ran after a rollback")
			}
			if n := countKeys(ctx, t, db, "k2"); n != 0 {
				t.Errorf("rolled-back row is visible (%d)", n)
			}
			// The connection is usable again after the rollback.
			if err := db.Write(ctx, func(tx *store.Tx) error { return insertKey(ctx, tx, "k2", "h2") }); err != nil {
				t.Fatalf("Write after rollback: %v", err)
			}
			if n := countKeys(ctx, t, db, "k2"); n != 1 {
				t.Errorf("count = %d after the retry", n)
			}
		})

		t.Run("unique violations are recognised", func(t *testing.T) {
			if err := db.Write(ctx, func(tx *store.Tx) error { return insertKey(ctx, tx, "k3", "h3") }); err != nil {
				t.Fatalf("first insert: %v", err)
			}
			for _, c := range []struct{ name, id, hash string }{
				{"duplicate primary key", "k3", "h3-other"},
				{"duplicate unique column", "k3-other", "h3"},
			} {
				err := db.Write(ctx, func(tx *store.Tx) error { return insertKey(ctx, tx, c.id, c.hash) })
				if err == nil {
					t.Fatalf("%s: insert succeeded", c.name)
				}
				if !store.IsUniqueViolation(err) {
					t.Errorf("%s: IsUniqueViolation(%v) = false", c.name, err)
				}
				if !store.IsUniqueViolation(fmt.Errorf("wrapped: %w", err)) {
					t.Errorf("%s: wrapped error not recognised", c.name)
				}
			}
			if n := countKeys(ctx, t, db, "k3-other"); n != 0 {
				t.Errorf("failed insert left a row (%d)", n)
			}
		})

		t.Run("other errors are not unique violations", func(t *testing.T) {
			err := db.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO api_keys (id) VALUES (?)`, "k4") // NOT NULL columns missing
				return err
			})
			if err == nil {
				t.Fatal("insert without required columns succeeded")
			}
			for _, e := range []error{nil, errors.New("plain"), sql.ErrNoRows, err} {
				if store.IsUniqueViolation(e) {
					t.Errorf("IsUniqueViolation(%v) = true", e)
				}
			}
		})
	})
}
