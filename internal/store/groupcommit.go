package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit on SQLite.
//
// SQLite has one writer and, with synchronous=FULL, every commit waits for an
// fsync: one transaction per request caps Concord at the disk's commit rate.
// Write calls that arrive together therefore share one transaction and one
// fsync. Each caller runs its own fn, on its own goroutine, in turn, inside a
// SAVEPOINT of the shared transaction (the first needs none, see run):
//
//   - a fn that fails is rolled back to its savepoint and its caller gets its
//     error; the other callers' work stays in the batch and commits;
//   - a caller is answered only once the batch has committed (its data is on
//     disk), and its AfterCommit hooks run only then;
//   - a failed commit fails every caller of the batch: none was answered yet;
//   - a statement that makes SQLite roll back the whole transaction (an I/O
//     error, a full disk) fails its own caller; the others' fns run again in a
//     new batch (Write's fn must be safe to run again, as on PostgreSQL);
//   - a batch commits as soon as nobody is waiting to join it, so a lone
//     request commits at once; under load it grows to at most
//     groupMaxRequests callers or groupMaxAge of work;
//   - a caller's context is honoured while it waits for its turn and between
//     its statements, never inside one: the driver would interrupt the shared
//     connection, which rolls back the whole batch.
const (
	groupMaxRequests = 128
	groupMaxAge      = 10 * time.Millisecond
	// groupRetryFor bounds how long a Write keeps trying when its batch is
	// rolled back by another request or SQLite stays busy.
	groupRetryFor = 10 * time.Second
)

// errBatchLost tells the callers of a batch that SQLite rolled it back while
// another caller's fn ran: their work was not committed and is run again.
var errBatchLost = errors.New("the shared transaction was rolled back by another request")

// groupCommit is the SQLite writer: who runs next in the shared transaction,
// and the batch that transaction is.
type groupCommit struct {
	w *sql.DB
	// stmts are the writer's prepared statements, prepared between batches.
	stmts *stmtCache
	// maxRequests and maxAge bound a batch (groupMaxRequests, groupMaxAge).
	maxRequests int
	maxAge      time.Duration
	// commits counts the batches committed, writes the Write calls they answered.
	commits, writes atomic.Int64
	// turn holds a token while one caller uses the open batch's transaction.
	turn chan struct{}

	mu      sync.Mutex
	waiting int    // callers waiting for their turn
	open    *batch // the batch being filled; nil when none
}

// batch is one shared transaction and the outcome its callers wait for.
type batch struct {
	tx       *sql.Tx
	began    time.Time
	requests int           // callers that ran in it
	done     chan struct{} // closed once committed or lost
	err      error         // the commit's error, or errBatchLost; read after done
}

func newGroupCommit(w *sql.DB) *groupCommit {
	return &groupCommit{w: w, stmts: newStmtCache(w), maxRequests: groupMaxRequests, maxAge: groupMaxAge, turn: make(chan struct{}, 1)}
}

// write runs fn in a shared transaction and returns once that transaction has
// committed (nil) or fn's own error, or the commit's.
func (g *groupCommit) write(ctx context.Context, db *DB, fn func(tx *Tx) error) error {
	deadline := time.Now().Add(groupRetryFor)
	for attempt := 0; ; attempt++ {
		err, again := g.attempt(ctx, db, fn)
		if !again {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("transaction kept being rolled back for %s: %w", groupRetryFor, err)
		}
		if errors.Is(err, errBatchLost) {
			continue // at once: the next batch is already forming
		}
		d := time.Duration(rand.Int64N(int64(min(time.Millisecond<<min(attempt, 6), 50*time.Millisecond)) + 1))
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
	}
}

// attempt runs fn once in the open batch; again says to try once more.
func (g *groupCommit) attempt(ctx context.Context, db *DB, fn func(tx *Tx) error) (err error, again bool) {
	if !g.acquire(ctx) {
		return ctx.Err(), false
	}
	if err := ctx.Err(); err != nil {
		g.release()
		return err, false
	}
	b, err := g.batch()
	if err != nil {
		g.release()
		return fmt.Errorf("begin: %w", err), retryable(err)
	}
	tx := &Tx{tx: b.tx, db: db, dialect: SQLite, shared: true, stmts: g.stmts}
	fnErr, lost := g.run(b, tx, fn)
	if lost {
		g.lose(b)
		g.release()
		if fnErr != nil {
			return fnErr, false // its own failure; the others run again
		}
		return errBatchLost, true
	}
	if fnErr != nil {
		g.release()
		return fnErr, false
	}
	b.requests++
	g.release()
	<-b.done
	switch {
	case errors.Is(b.err, errBatchLost):
		return b.err, true
	case b.err != nil:
		return fmt.Errorf("commit: %w", b.err), false
	}
	for _, f := range tx.afterCommit {
		f()
	}
	return nil, false
}

// acquire waits for the caller's turn, or for ctx to end (false).
func (g *groupCommit) acquire(ctx context.Context) bool {
	g.mu.Lock()
	g.waiting++
	g.mu.Unlock()
	select {
	case g.turn <- struct{}{}:
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
		return true
	case <-ctx.Done():
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
		// The holder may have left the batch open for this caller: if the
		// turn is free, take it to commit the batch.
		select {
		case g.turn <- struct{}{}:
			g.release()
		default:
		}
		return false
	}
}

// release ends the holder's turn. The open batch commits when nobody waits to
// join it, or when it is full or old enough; otherwise the next caller adds to it.
func (g *groupCommit) release() {
	g.mu.Lock()
	b := g.open
	if b == nil || (g.waiting > 0 && b.requests < g.maxRequests && time.Since(b.began) < g.maxAge) {
		// Released under mu: a waiter that gives up after this sees the turn
		// free and commits the batch itself (see acquire).
		<-g.turn
		g.mu.Unlock()
		return
	}
	g.open = nil
	g.mu.Unlock()
	if b.requests == 0 {
		b.tx.Rollback() // every fn failed: nothing to commit, nobody waits
	} else {
		b.err = b.tx.Commit()
		if b.err == nil {
			g.commits.Add(1)
			g.writes.Add(int64(b.requests))
		}
	}
	close(b.done)
	g.stmts.prepare() // the connection is free until the turn is released
	<-g.turn
}

// batch returns the open batch, beginning one if needed. The caller holds the turn.
func (g *groupCommit) batch() (*batch, error) {
	g.mu.Lock()
	b := g.open
	g.mu.Unlock()
	if b != nil {
		return b, nil
	}
	// The batch is no one caller's: its transaction ignores their contexts.
	tx, err := g.w.BeginTx(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	b = &batch{tx: tx, began: time.Now(), done: make(chan struct{})}
	g.mu.Lock()
	g.open = b
	g.mu.Unlock()
	return b, nil
}

// lose rolls back a batch SQLite has already rolled back (so its savepoints
// are gone) and tells its callers to run again.
func (g *groupCommit) lose(b *batch) {
	g.mu.Lock()
	if g.open == b {
		g.open = nil
	}
	g.mu.Unlock()
	b.tx.Rollback()
	b.err = errBatchLost
	close(b.done)
}

// run runs fn inside a savepoint of b. The first request of a batch needs
// none: if it fails, the whole transaction (its work alone) is dropped, which
// also spares a large write (a 10,000-record usage batch) a copy of every page
// it changes in the statement journal. lost says the transaction is gone
// (SQLite rolled it back, or the first request failed), which ends the batch.
// If fn panics or exits its goroutine (t.Fatal in a test), its work is undone
// and the turn released before the panic goes on.
func (g *groupCommit) run(b *batch, tx *Tx, fn func(tx *Tx) error) (fnErr error, lost bool) {
	bg := context.Background()
	savepoint := b.requests > 0
	if savepoint {
		if _, err := b.tx.ExecContext(bg, "SAVEPOINT concord_write"); err != nil {
			return nil, true // lost before fn ran: it runs again in a new batch
		}
	}
	returned := false
	defer func() {
		if returned {
			return
		}
		if !savepoint || g.undo(b) != nil {
			g.lose(b)
		}
		g.release()
	}()
	fnErr = fn(tx)
	returned = true
	if fnErr != nil {
		return fnErr, !savepoint || g.undo(b) != nil
	}
	if savepoint {
		if _, err := b.tx.ExecContext(bg, "RELEASE concord_write"); err != nil {
			return nil, true
		}
	}
	return nil, false
}

// undo rolls the batch back to the current caller's savepoint and drops it.
// An error means the savepoint is gone: SQLite rolled the transaction back.
func (g *groupCommit) undo(b *batch) error {
	bg := context.Background()
	if _, err := b.tx.ExecContext(bg, "ROLLBACK TO concord_write"); err != nil {
		return err
	}
	_, err := b.tx.ExecContext(bg, "RELEASE concord_write")
	return err
}

// GroupStats says how SQLite's group commit shares transactions: Writes calls
// answered committed, in Commits transactions (each one fsync). Writes/Commits
// is the mean batch size. Statements counts the statements the writer ran
// (committed or not), the cost per write a benchmark divides by its requests.
// All are zero on PostgreSQL.
type GroupStats struct{ Writes, Commits, Statements int64 }

// GroupStats returns the group commit counters since Open.
func (db *DB) GroupStats() GroupStats {
	if db.group == nil {
		return GroupStats{}
	}
	return GroupStats{Writes: db.group.writes.Load(), Commits: db.group.commits.Load(), Statements: db.group.stmts.runs.Load()}
}
