// Package store opens Concord's database, SQLite (embedded, the default) or
// PostgreSQL (several replicas), applies the embedded migrations, and runs
// transactions with one portable SQL dialect. Queries are written once with `?`
// placeholders; on PostgreSQL they are rebound to `$n`.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialects Concord runs on.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// uriPath escapes what would end a file name in a SQLite URI.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// Config says where the database is. An empty URL means SQLite in DataDir.
type Config struct {
	URL     string
	DataDir string
}

// DB is an open Concord database. On SQLite writes go through one connection (SQLite
// has one writer; one connection avoids SQLITE_BUSY between our own goroutines) and
// reads through a small pool; on PostgreSQL both use one pool.
type DB struct {
	dialect string
	w       *sql.DB
	r       *sql.DB
	// Path is the SQLite file, empty on PostgreSQL.
	Path string

	subMu sync.Mutex
	subs  map[string]map[int]func()
	subN  int
}

// Subscribe calls fn after every commit, through this DB, of a transaction that
// called NotifyAfterCommit(topic). It returns the function that unsubscribes.
func (db *DB) Subscribe(topic string, fn func()) (cancel func()) {
	db.subMu.Lock()
	defer db.subMu.Unlock()
	if db.subs == nil {
		db.subs = map[string]map[int]func(){}
	}
	if db.subs[topic] == nil {
		db.subs[topic] = map[int]func(){}
	}
	db.subN++
	id := db.subN
	db.subs[topic][id] = fn
	return func() {
		db.subMu.Lock()
		defer db.subMu.Unlock()
		delete(db.subs[topic], id)
	}
}

func (db *DB) notify(topic string) {
	db.subMu.Lock()
	fns := make([]func(), 0, len(db.subs[topic]))
	for _, fn := range db.subs[topic] {
		fns = append(fns, fn)
	}
	db.subMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Open opens the database described by cfg. It does not migrate; see Migrate.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.URL != "" {
		if !strings.HasPrefix(cfg.URL, "postgres://") && !strings.HasPrefix(cfg.URL, "postgresql://") {
			return nil, fmt.Errorf("database URL must start with postgres:// or postgresql:// (leave it empty for SQLite in the data directory)")
		}
		pool, err := sql.Open("pgx", cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		pool.SetMaxOpenConns(16)
		pool.SetMaxIdleConns(16)
		pool.SetConnMaxIdleTime(5 * time.Minute)
		db := &DB{dialect: Postgres, w: pool, r: pool}
		if err := db.Ping(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("connect to postgres: %w", err)
		}
		return db, nil
	}
	dir := cfg.DataDir
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, "concord.db")
	// Create the file owner-only before SQLite does; its -wal and -shm files take
	// the same permissions.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	} else {
		f.Close()
	}
	// busy_timeout first so the other pragmas wait for locks too; WAL lets readers
	// run beside the writer; synchronous FULL because a 2xx must mean committed;
	// _txlock=immediate takes the write lock at BEGIN instead of failing on upgrade.
	// The path is escaped: a '?' or '#' in a directory name (a test named
	// "x#01") would otherwise end the file name and open another database.
	base := "file:" + uriPath.Replace(path) + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	w, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	db := &DB{dialect: SQLite, w: w, r: r, Path: path}
	// Touch the writer so the file and WAL mode exist before readers connect.
	if _, err := w.ExecContext(ctx, "PRAGMA user_version"); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return db, nil
}

// Dialect is SQLite or Postgres.
func (db *DB) Dialect() string { return db.dialect }

// Close closes the pools.
func (db *DB) Close() error {
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Ping checks that the database answers; /readyz uses it.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping %s: %w", db.dialect, err)
	}
	return nil
}

func (db *DB) gooseProvider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	d := goose.DialectSQLite3
	if db.dialect == Postgres {
		d = goose.DialectPostgres
	}
	opts := []goose.ProviderOption{goose.WithGoMigrations(auditAppendOnly(db.dialect))}
	if db.dialect == Postgres {
		// Two `concord migrate` runs at once take turns instead of racing.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(d, db.w, sub, opts...)
}

// Migrate applies every pending embedded migration.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.gooseProvider()
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// Pending reports how many migrations are not applied yet, so `serve` on
// PostgreSQL can refuse to start against an old schema with a clear message.
func (db *DB) Pending(ctx context.Context) (int, error) {
	p, err := db.gooseProvider()
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	st, err := p.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("migration status: %w", err)
	}
	n := 0
	for _, s := range st {
		if s.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}

// Tx is a transaction that speaks the portable dialect.
type Tx struct {
	tx      *sql.Tx
	db      *DB
	dialect string
	// afterCommit runs after a successful commit (e.g. to wake job workers).
	afterCommit []func()
}

// Dialect is SQLite or Postgres.
func (tx *Tx) Dialect() string { return tx.dialect }

// Exec runs a statement with `?` placeholders.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, tx.rebind(query), args...)
}

// Query runs a query with `?` placeholders.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, tx.rebind(query), args...)
}

// QueryRow runs a query that returns at most one row.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, tx.rebind(query), args...)
}

// Prepare prepares a statement with `?` placeholders for repeated use in the
// transaction; close it when done.
func (tx *Tx) Prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	return tx.tx.PrepareContext(ctx, tx.rebind(query))
}

// AfterCommit registers fn to run once the transaction has committed.
func (tx *Tx) AfterCommit(fn func()) { tx.afterCommit = append(tx.afterCommit, fn) }

// NotifyAfterCommit tells the DB's subscribers to topic, once this transaction
// has committed, that something they wait for may have changed.
func (tx *Tx) NotifyAfterCommit(topic string) {
	tx.AfterCommit(func() { tx.db.notify(topic) })
}

func (tx *Tx) rebind(q string) string {
	if tx.dialect != Postgres {
		return q
	}
	return Rebind(q)
}

// Rebind turns `?` placeholders into PostgreSQL's `$1, $2, …`, leaving question
// marks inside quoted strings and identifiers alone.
func Rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Write runs fn in a read-write transaction and commits it. On PostgreSQL the
// transaction is SERIALIZABLE, so concurrent replicas folding the same events
// cannot interleave into a state neither would reach alone; a serialization failure
// is retried with jittered backoff. fn must therefore be safe to run again.
func (db *DB) Write(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelSerializable
	}
	return db.retry(ctx, opts, fn)
}

// retry runs fn in a transaction until it commits, fails for a reason other than
// a transient conflict, or conflicts for longer than ten seconds.
func (db *DB) retry(ctx context.Context, opts *sql.TxOptions, fn func(tx *Tx) error) error {
	deadline := time.Now().Add(10 * time.Second)
	for attempt := 0; ; attempt++ {
		err := db.run(ctx, db.w, opts, fn)
		if err == nil || !retryable(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("transaction kept conflicting for 10s: %w", err)
		}
		// Jittered exponential backoff, capped so contended writers keep moving.
		d := time.Duration(rand.Int64N(int64(min(time.Millisecond<<min(attempt, 6), 50*time.Millisecond)) + 1))
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
	}
}

// WriteCommitted runs fn in a READ COMMITTED transaction on PostgreSQL (SQLite is
// always serial). It suits self-contained atomic statements, such as a job claim,
// that must not fail with serialization errors under contention.
func (db *DB) WriteCommitted(ctx context.Context, fn func(tx *Tx) error) error {
	return db.retry(ctx, &sql.TxOptions{}, fn)
}

// Read runs fn in a read-only transaction (a consistent snapshot).
func (db *DB) Read(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	} else {
		opts.ReadOnly = false // modernc rejects ReadOnly; the pool is query_only
	}
	return db.run(ctx, db.r, opts, fn)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(tx *Tx) error) error {
	stx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: stx, db: db, dialect: db.dialect}
	if err := fn(tx); err != nil {
		stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, f := range tx.afterCommit {
		f()
	}
	return nil
}

// retryable reports whether err is a transient conflict worth running again.
func retryable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "40001" || pg.Code == "40P01"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}

// IsInvalidText reports whether PostgreSQL refused a text value (a NUL character
// or invalid UTF-8), which is bad input rather than a failure.
func IsInvalidText(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "22021" || pg.Code == "22P05")
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Millis converts a time to the epoch milliseconds the schema stores.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// NullMillis converts an optional time to a nullable column value.
func NullMillis(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// FromMillis converts a stored epoch-millisecond value back to UTC time.
func FromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// FromNullMillis converts a nullable column back to an optional time.
func FromNullMillis(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := FromMillis(v.Int64)
	return &t
}

// NullString stores "" as NULL, for unique columns where "unknown" must not collide.
func NullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// Scanner is one result row (*sql.Row or *sql.Rows).
type Scanner interface{ Scan(dest ...any) error }

// QueryAll runs query inside tx and scans every row with scan. An empty result
// is an empty (non-nil) slice.
func QueryAll[T any](ctx context.Context, tx *Tx, scan func(Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ScanString scans a one-column row of text, for QueryAll.
func ScanString(r Scanner) (s string, err error) {
	err = r.Scan(&s)
	return s, err
}
