// Package store opens Concord's database, SQLite (embedded, the default) or
// PostgreSQL (several replicas), applies the embedded migrations, and runs
// transactions with one portable SQL dialect. Queries are written once with `?`
// placeholders; on PostgreSQL they are rebound to `$n`.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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
	// group is the SQLite writer (group commit, see groupcommit.go); nil on PostgreSQL.
	group *groupCommit
	// lockSlots bounds the WriteLocked calls holding a connection (PostgreSQL).
	lockSlots chan struct{}

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

// pgConns is the size of the PostgreSQL pool writes use, pgReadConns that
// of the pool of reads.
const (
	pgConns     = 16
	pgReadConns = 8
)

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
		pool.SetMaxOpenConns(pgConns)
		pool.SetMaxIdleConns(pgConns)
		pool.SetConnMaxIdleTime(5 * time.Minute)
		// Reads (entitlement checks, the API's lists) get a pool of their
		// own, as on SQLite: a write waiting for its turn never holds up a
		// read.
		reads, err := sql.Open("pgx", cfg.URL)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		reads.SetMaxOpenConns(pgReadConns)
		reads.SetMaxIdleConns(pgReadConns)
		reads.SetConnMaxIdleTime(5 * time.Minute)
		db := &DB{dialect: Postgres, w: pool, r: reads, lockSlots: make(chan struct{}, pgConns/2)}
		if err := db.Ping(ctx); err != nil {
			db.Close()
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
	w, err := sql.Open("sqlite", base+"&_pragma=temp_store(MEMORY)&_txlock=immediate")
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
	db := &DB{dialect: SQLite, w: w, r: r, Path: path, group: newGroupCommit(w)}
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
	if db.group != nil {
		db.group.stmts.close()
	}
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
	// locked holds the advisory locks this transaction took (PostgreSQL), so
	// asking again costs no round trip; exclusive is set once LockTables took
	// the tables whole, which makes key locks unnecessary.
	locked    map[int64]bool
	exclusive bool
	// pre are locks an earlier attempt held or wanted: the first Lock takes
	// them too.
	pre []int64
	// shared is a caller's part of a SQLite group commit: its context must not
	// reach the driver, which would interrupt the others' transaction too.
	shared bool
	// stmts, on the SQLite writer, holds statements prepared for reuse.
	stmts *stmtCache
	// local holds statements prepared in this transaction (see local).
	local map[string]*sql.Stmt
	seen  map[string]bool
}

// stmtCtx is the context a statement of tx runs with. In a shared transaction a
// context already ended still fails the statement (database/sql checks it before
// the driver sees it), but one that ends during the statement does not interrupt
// the connection.
// cached returns query's prepared statement in tx, or nil to run it unprepared.
func (tx *Tx) cached(ctx context.Context, query string) *sql.Stmt {
	if tx.stmts == nil {
		return nil
	}
	if p := tx.stmts.get(query); p != nil {
		return tx.tx.StmtContext(ctx, p)
	}
	return tx.localStmt(ctx, query)
}

// localStmt is the writer's cache for one long transaction. The pool's cache
// prepares what it sees only between transactions, so a transaction that runs
// the same statements thousands of times (a replay folds every agreement and
// license in one) would parse each one every time: a statement seen twice in
// the transaction is prepared on it for the rest of it (database/sql closes
// it when the transaction ends).
func (tx *Tx) localStmt(ctx context.Context, query string) *sql.Stmt {
	if s := tx.local[query]; s != nil {
		return s
	}
	if len(query) > stmtCacheMaxQuery || len(tx.local) >= stmtCacheMax || len(tx.seen) >= 4*stmtCacheMax {
		return nil
	}
	if !tx.seen[query] {
		if tx.seen == nil {
			tx.seen = map[string]bool{}
		}
		tx.seen[query] = true
		return nil
	}
	s, err := tx.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil // it runs unprepared, and fails there if it must
	}
	if tx.local == nil {
		tx.local = map[string]*sql.Stmt{}
	}
	tx.local[query] = s
	return s
}

func (tx *Tx) stmtCtx(ctx context.Context) context.Context {
	if tx.shared && ctx.Err() == nil {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// Dialect is SQLite or Postgres.
func (tx *Tx) Dialect() string { return tx.dialect }

// Exec runs a statement with `?` placeholders.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = tx.stmtCtx(ctx)
	if s := tx.cached(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return tx.tx.ExecContext(ctx, tx.rebind(query), args...)
}

// Query runs a query with `?` placeholders.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = tx.stmtCtx(ctx)
	if s := tx.cached(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return tx.tx.QueryContext(ctx, tx.rebind(query), args...)
}

// QueryRow runs a query that returns at most one row.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = tx.stmtCtx(ctx)
	if s := tx.cached(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return tx.tx.QueryRowContext(ctx, tx.rebind(query), args...)
}

// Prepare prepares a statement with `?` placeholders for repeated use in the
// transaction; close it when done.
func (tx *Tx) Prepare(ctx context.Context, query string) (*Stmt, error) {
	s, err := tx.tx.PrepareContext(tx.stmtCtx(ctx), tx.rebind(query))
	if err != nil {
		return nil, err
	}
	return &Stmt{s: s, tx: tx}, nil
}

// Stmt is a statement prepared in a transaction (see Tx.Prepare).
type Stmt struct {
	s  *sql.Stmt
	tx *Tx
}

// Exec runs the statement with args.
func (s *Stmt) Exec(ctx context.Context, args ...any) (sql.Result, error) {
	return s.s.ExecContext(s.tx.stmtCtx(ctx), args...)
}

// Close releases the statement.
func (s *Stmt) Close() error { return s.s.Close() }

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
// is retried with jittered backoff. fn must therefore be safe to run again. On
// SQLite, Writes that arrive together share one transaction and one fsync (group
// commit, see groupcommit.go); each fn runs in its own savepoint, and Write
// returns nil only once the shared transaction has committed.
func (db *DB) Write(ctx context.Context, fn func(tx *Tx) error) error {
	if db.group != nil {
		return db.group.write(ctx, db, fn)
	}
	opts := &sql.TxOptions{}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelSerializable
	}
	return db.retry(ctx, opts, fn)
}

// retry runs fn in a transaction until it commits, fails for a reason other than
// a transient conflict, or conflicts for longer than ten seconds. An attempt
// that found an advisory lock busy runs again at once, taking every lock it
// held or wanted first (see Tx.Lock).
func (db *DB) retry(ctx context.Context, opts *sql.TxOptions, fn func(tx *Tx) error, conn ...*sql.Conn) error {
	deadline := time.Now().Add(10 * time.Second)
	var pre []int64
	for attempt := 0; ; attempt++ {
		tx := &Tx{db: db, dialect: db.dialect, pre: pre}
		var pool beginner = db.w
		if len(conn) > 0 {
			pool = conn[0]
		}
		err := db.runTx(ctx, pool, opts, tx, fn)
		if err == nil || !retryable(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("transaction kept conflicting for 10s: %w", err)
		}
		if lb := (*lockBusy)(nil); errors.As(err, &lb) {
			pre = append(lb.ids, tx.pre...)
			for id := range tx.locked {
				pre = append(pre, id)
			}
			continue
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

// WriteLocked runs fn like Write, SERIALIZABLE on PostgreSQL, after taking an
// exclusive advisory lock on each key (the same 64-bit hashes as Tx.Lock) for
// the connection, before the transaction begins. The snapshot of every
// attempt is therefore taken once the previous holders of the keys have
// committed: writers of the same keys (usage batches adding to the same
// buckets) run one after the other and see each other's rows, instead of
// failing each other with serialization errors and retrying. The locks only
// order transactions; correctness stays with SERIALIZABLE, so keys a caller
// cannot name in advance (or leaves out) cost retries, never anomalies. The
// locks are released when fn has committed or failed for good. More than
// MaxSessionLocks keys take none (PostgreSQL's lock table is shared and
// small). On SQLite, whose single writer runs transactions one at a time, it
// is Write.
func (db *DB) WriteLocked(ctx context.Context, keys []string, fn func(tx *Tx) error) error {
	if db.dialect != Postgres || len(keys) == 0 || len(keys) > MaxSessionLocks {
		return db.Write(ctx, fn)
	}
	ids := lockIDs(keys)
	// A caller waiting for keys holds a connection: at most half the pool
	// waits so, and the other half stays free for everything else.
	select {
	case db.lockSlots <- struct{}{}:
		defer func() { <-db.lockSlots }()
	case <-ctx.Done():
		return ctx.Err()
	}
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	// unnest yields the ids in the array's (sorted) order, so two callers
	// never wait for each other in a cycle.
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(k) FROM unnest($1::bigint[]) AS k`, ids); err != nil {
		// Locks taken before the failure would outlive this call: drop the
		// connection, which releases them.
		conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
		return fmt.Errorf("lock %d keys: %w", len(ids), err)
	}
	err = db.retry(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable}, fn, conn)
	// The unlock must run even when ctx has ended.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, uerr := conn.ExecContext(uctx, `SELECT pg_advisory_unlock_all()`); uerr != nil {
		conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	conn.Close()
	return err
}

// MaxSessionLocks is the most keys WriteLocked locks.
const MaxSessionLocks = 256

// lockIDs are the sorted, distinct advisory lock ids of keys.
func lockIDs(keys []string) []int64 {
	ids := make([]int64, 0, len(keys))
	for _, k := range keys {
		h := fnv.New64a()
		h.Write([]byte(k))
		ids = append(ids, int64(h.Sum64()))
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// WriteCommitted runs fn in a READ COMMITTED transaction on PostgreSQL (SQLite is
// always serial). It suits self-contained atomic statements, such as a job claim,
// that must not fail with serialization errors under contention, and
// read-modify-write work that first takes the locks it needs (Tx.Lock,
// Tx.LockTables): every statement after a lock is granted sees what the lock's
// previous holders committed. A deadlock between two such transactions is
// retried like a serialization failure, so fn must be safe to run again.
func (db *DB) WriteCommitted(ctx context.Context, fn func(tx *Tx) error) error {
	if db.group != nil {
		return db.group.write(ctx, db, fn)
	}
	return db.retry(ctx, &sql.TxOptions{}, fn)
}

// WriteFenced runs fn like Write (SERIALIZABLE on PostgreSQL), after first
// locking tables against writers (SHARE ROW EXCLUSIVE: no other transaction
// inserts, updates or deletes their rows until this one ends, while reads go
// on). The lock is the transaction's first statement, so on PostgreSQL its
// snapshot is taken once the writers in flight have finished (PostgreSQL's
// manual, 13.3.2: "acquire the lock before the snapshot … by using LOCK TABLE as
// the first statement"). It orders a serializable transaction against READ
// COMMITTED ones that write those tables, which serializable checks alone do
// not (they only see serializable peers): registration linking a license
// against the ledger's folds of licenses, for one. On SQLite (one writer) it is
// Write.
func (db *DB) WriteFenced(ctx context.Context, tables []string, fn func(tx *Tx) error) error {
	if db.dialect != Postgres {
		return db.Write(ctx, fn)
	}
	return db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(tables, ", ")+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("lock %s: %w", strings.Join(tables, ", "), err)
		}
		return fn(tx)
	})
}

// Lock takes, on PostgreSQL, an exclusive advisory lock on each key
// (pg_advisory_xact_lock on a 64-bit hash of the key), held until the
// transaction ends: READ COMMITTED transactions that lock the same key run one
// after the other from that point, and each sees what the previous committed.
// Keys this transaction holds already cost nothing. A hash collision only
// makes two unrelated keys wait for each other. On SQLite, whose single writer
// runs transactions one at a time, it does nothing.
//
// Transactions that learn the keys they need as they go (a fold finds an
// agreement's licenses) would wait for each other in cycles, which PostgreSQL
// breaks only after deadlock_timeout (a second by default). So only a
// transaction's first Lock waits, for all its keys in one order; a later Lock
// only tries, and a key it cannot have at once ends the attempt with a
// retryable error: the transaction runs again (Write, WriteCommitted) taking
// every key it held or wanted in its first Lock.
func (tx *Tx) Lock(ctx context.Context, keys ...string) error {
	if tx.dialect != Postgres || tx.exclusive {
		return nil
	}
	ids := tx.pre
	tx.pre = nil
	for _, k := range keys {
		h := fnv.New64a()
		h.Write([]byte(k))
		ids = append(ids, int64(h.Sum64()))
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ids = slices.DeleteFunc(ids, func(id int64) bool { return tx.locked[id] })
	if len(ids) == 0 {
		return nil
	}
	if tx.locked == nil {
		tx.locked = map[int64]bool{}
	}
	if len(tx.locked) == 0 {
		// unnest yields the ids in the array's (sorted) order.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(k) FROM unnest(?::bigint[]) AS k`, ids); err != nil {
			return fmt.Errorf("lock %s: %w", strings.Join(keys, ", "), err)
		}
		for _, id := range ids {
			tx.locked[id] = true
		}
		return nil
	}
	busy, err := QueryAll(ctx, tx, func(r Scanner) (id int64, err error) { return id, r.Scan(&id) },
		`SELECT k FROM unnest(?::bigint[]) AS k WHERE NOT pg_try_advisory_xact_lock(k)`, ids)
	if err != nil {
		return fmt.Errorf("lock %s: %w", strings.Join(keys, ", "), err)
	}
	for _, id := range ids {
		if !slices.Contains(busy, id) {
			tx.locked[id] = true
		}
	}
	if len(busy) > 0 {
		return &lockBusy{ids: busy}
	}
	return nil
}

// lockBusy ends an attempt whose later Lock found a key taken (see Lock).
type lockBusy struct{ ids []int64 }

func (e *lockBusy) Error() string {
	return fmt.Sprintf("%d advisory locks busy: run again taking them first", len(e.ids))
}

// LockTables takes tables whole against every other writer (EXCLUSIVE: reads go
// on) until the transaction ends, for work too wide for key locks (a replay
// of the whole inbox would need more advisory locks than PostgreSQL's lock
// table holds). Later Lock calls in the transaction do nothing. On SQLite it
// does nothing.
func (tx *Tx) LockTables(ctx context.Context, tables ...string) error {
	if tx.dialect != Postgres {
		return nil
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(tables, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("lock %s: %w", strings.Join(tables, ", "), err)
	}
	tx.exclusive = true
	return nil
}

// ExecAlone runs one statement as a transaction of its own and says how many
// rows it changed. On PostgreSQL that is autocommit at the server's default
// isolation: atomic, durable once it returns, and one round trip where Write
// takes three (BEGIN, the statement, COMMIT). It is for a caller whose whole
// write is one statement that is correct at any isolation level (an insert
// that ignores conflicts, say). On SQLite it is Write running the statement
// (group commit).
func (db *DB) ExecAlone(ctx context.Context, query string, args ...any) (int64, error) {
	if db.dialect != Postgres {
		var n int64
		err := db.Write(ctx, func(tx *Tx) error {
			res, err := tx.Exec(ctx, query, args...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		return n, err
	}
	res, err := db.w.ExecContext(ctx, Rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
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
	return db.runTx(ctx, pool, opts, &Tx{db: db, dialect: db.dialect}, fn)
}

// runTx runs fn in tx, a new transaction on pool.
// beginner is a pool or one connection of it.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func (db *DB) runTx(ctx context.Context, pool beginner, opts *sql.TxOptions, tx *Tx, fn func(tx *Tx) error) error {
	stx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx.tx = stx
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
	var lb *lockBusy
	if errors.As(err, &lb) {
		return true
	}
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
