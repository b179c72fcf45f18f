// Package storetest gives tests a fresh, migrated database on SQLite and, when it
// can be reached, on PostgreSQL, so one conformance suite runs on both.
//
// PostgreSQL is found at CONCORD_TEST_DATABASE_URL, or at the local default
// postgres://postgres@127.0.0.1:5432/test. When it cannot be reached its subtests
// are skipped with a message, unless CONCORD_TEST_REQUIRE_POSTGRES=1 (CI), where
// they fail instead.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/store"
)

// DefaultPostgresURL is where the tests look for PostgreSQL when no URL is given.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var (
	pgOnce sync.Once
	pgURL  string
	pgErr  error
)

// PostgresURL returns the admin URL of the test PostgreSQL, or skips (fails on CI)
// when none is reachable.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	pgOnce.Do(func() {
		pgURL = os.Getenv("CONCORD_TEST_DATABASE_URL")
		if pgURL == "" {
			pgURL = DefaultPostgresURL
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", pgURL)
		if err != nil {
			pgErr = err
			return
		}
		defer db.Close()
		pgErr = db.PingContext(ctx)
	})
	if pgErr != nil {
		if os.Getenv("CONCORD_TEST_REQUIRE_POSTGRES") == "1" {
			tb.Fatalf("PostgreSQL at %s is required (CONCORD_TEST_REQUIRE_POSTGRES=1) but unreachable: %v", redact(pgURL), pgErr)
		}
		tb.Skipf("PostgreSQL at %s unreachable, skipped: %v", redact(pgURL), pgErr)
	}
	return pgURL
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable URL)"
	}
	return p.Redacted()
}

// Dialects lists the dialects a conformance test runs on.
var Dialects = []string{store.SQLite, store.Postgres}

// Each runs fn as a subtest on each dialect with a fresh migrated database.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, d))
		})
	}
}

// Open returns a fresh, migrated database of the given dialect, closed (and on
// PostgreSQL dropped) when the test ends.
func Open(tb testing.TB, dialect string) *store.DB {
	tb.Helper()
	u := URL(tb, dialect)
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: u, DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("open %s: %v", dialect, err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		tb.Fatalf("migrate %s: %v", dialect, err)
	}
	return db
}

// URL returns a database URL for a fresh, empty database: "" for SQLite (a new
// data directory is used), or a PostgreSQL URL whose search_path is a new schema.
// Several processes may open the same URL, as replicas do.
func URL(tb testing.TB, dialect string) string {
	tb.Helper()
	if dialect == store.SQLite {
		return ""
	}
	admin := PostgresURL(tb)
	var b [6]byte
	rand.Read(b[:])
	schema := "concord_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", admin)
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	p, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("parse postgres URL: %v", err)
	}
	q := p.Query()
	q.Set("search_path", schema)
	p.RawQuery = q.Encode()
	return p.String()
}

// Count returns how many rows a table holds, failing the test on error.
func Count(tb testing.TB, db *store.DB, table string) int {
	tb.Helper()
	var n int
	err := db.Read(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n)
	})
	if err != nil {
		tb.Fatalf("count %s: %v", table, err)
	}
	return n
}

// Rows runs query and returns each row as its values printed on one line
// (fmt.Sprintln without the newline; bytes as text): a comparable picture of
// what a table holds.
func Rows(ctx context.Context, tx *store.Tx, query string) ([]string, error) {
	rows, err := tx.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, strings.TrimSuffix(fmt.Sprintln(vals...), "\n"))
	}
	return out, rows.Err()
}
