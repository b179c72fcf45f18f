package store_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// cancelMidStatement is called by the SQL function concord_test_cancel while a
// statement runs, to end a caller's context in the middle of it.
var cancelMidStatement atomic.Pointer[context.CancelFunc]

func init() {
	// Registered before any test opens a connection (the driver gives each new
	// connection the functions registered so far).
	err := sqlite.RegisterScalarFunction("concord_test_cancel", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		if n, _ := args[0].(int64); n == 1 {
			if c := cancelMidStatement.Load(); c != nil {
				(*c)()
				time.Sleep(50 * time.Millisecond) // time for the driver to interrupt, if it does
			}
		}
		return int64(1), nil
	})
	if err != nil {
		panic(err)
	}
}

// group is a SQLite database whose batches close only when nobody waits, so a
// test decides who shares a batch.
type group struct {
	ctx context.Context
	db  *store.DB
}

func setupGroup(t *testing.T) *group {
	t.Helper()
	db := storetest.Open(t, store.SQLite)
	db.GroupLimits(1000, time.Hour)
	return &group{ctx: context.Background(), db: db}
}

// hold starts a Write that keeps its turn (and so the open batch) until the
// returned function is called, and waits until it runs.
func (g *group) hold(t *testing.T, id string) (release func() error) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	var once sync.Once
	go func() {
		done <- g.db.Write(g.ctx, func(tx *store.Tx) error {
			once.Do(func() { close(in) }) // it runs again if its batch is lost
			<-out
			return insertKey(g.ctx, tx, id, "hash-"+id)
		})
	}()
	<-in
	return func() error {
		close(out)
		return <-done
	}
}

// waitFor waits until n Write calls wait for their turn.
func (g *group) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for g.db.GroupWaiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes wait for their turn, want %d", g.db.GroupWaiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// request is one Write of a batch and what became of it.
type request struct {
	id        string
	fn        func(ctx context.Context, tx *store.Tx, id string) error
	ctx       context.Context
	runs      atomic.Int32
	committed atomic.Bool // its AfterCommit ran
	err       error
	panicked  any
}

// batch sends every request while the batch is held open, then lets it commit.
func (g *group) batch(t *testing.T, reqs []*request) (holderErr error) {
	t.Helper()
	release := g.hold(t, "holder")
	var wg sync.WaitGroup
	for _, r := range reqs {
		wg.Go(func() {
			defer func() { r.panicked = recover() }()
			ctx := r.ctx
			if ctx == nil {
				ctx = g.ctx
			}
			r.err = g.db.Write(ctx, func(tx *store.Tx) error {
				r.runs.Add(1)
				tx.AfterCommit(func() { r.committed.Store(true) })
				return r.fn(ctx, tx, r.id)
			})
		})
	}
	g.waitFor(t, len(reqs))
	holderErr = release()
	wg.Wait()
	return holderErr
}

func insertOK(ctx context.Context, tx *store.Tx, id string) error {
	return insertKey(ctx, tx, id, "hash-"+id)
}

func TestGroupCommit(t *testing.T) {
	t.Parallel()

	t.Run("a failing request is answered with its own error while the others in the batch commit", func(t *testing.T) {
		t.Parallel()
		g := setupGroup(t)
		if err := g.db.Write(g.ctx, func(tx *store.Tx) error { return insertKey(g.ctx, tx, "taken", "hash-taken") }); err != nil {
			t.Fatal(err)
		}
		before := g.db.GroupCommits()
		boom := errors.New("bad event")
		reqs := []*request{
			{id: "ok-1", fn: insertOK},
			{id: "dup", fn: func(ctx context.Context, tx *store.Tx, id string) error {
				if err := insertOK(ctx, tx, id); err != nil {
					return err
				}
				return insertKey(ctx, tx, "taken", "hash-other") // a constraint
			}},
			{id: "ok-2", fn: insertOK},
			{id: "bad", fn: func(ctx context.Context, tx *store.Tx, id string) error {
				if err := insertOK(ctx, tx, id); err != nil {
					return err
				}
				return fmt.Errorf("fold: %w", boom)
			}},
			{id: "ok-3", fn: insertOK},
		}
		if err := g.batch(t, reqs); err != nil {
			t.Fatalf("holder: %v", err)
		}
		for _, r := range reqs {
			wantOK := r.id != "dup" && r.id != "bad"
			switch {
			case r.id == "dup" && !store.IsUniqueViolation(r.err):
				t.Errorf("%s: err = %v, want its unique violation", r.id, r.err)
			case r.id == "bad" && !errors.Is(r.err, boom):
				t.Errorf("%s: err = %v, want its own error", r.id, r.err)
			case wantOK && r.err != nil:
				t.Errorf("%s: err = %v, want committed", r.id, r.err)
			}
			if n := countKeys(g.ctx, t, g.db, r.id); (n == 1) != wantOK {
				t.Errorf("%s: %d rows after the batch (committed: %v)", r.id, n, wantOK)
			}
			if r.committed.Load() != wantOK {
				t.Errorf("%s: AfterCommit ran = %v, want %v", r.id, r.committed.Load(), wantOK)
			}
			if r.runs.Load() != 1 {
				t.Errorf("%s: fn ran %d times, want once", r.id, r.runs.Load())
			}
		}
		if n := countKeys(g.ctx, t, g.db, "holder"); n != 1 {
			t.Errorf("the holder's row: %d", n)
		}
		if got := g.db.GroupCommits() - before; got != 1 {
			t.Errorf("%d commits for one batch of %d writes, want 1", got, len(reqs)+1)
		}
	})

	t.Run("a failed commit fails every request of the batch", func(t *testing.T) {
		t.Parallel()
		g := setupGroup(t)
		// A deferred foreign key is checked at COMMIT: the one failure a batch
		// learns only when it commits, like a full disk.
		if err := g.db.Write(g.ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(g.ctx, `CREATE TABLE gc_parent (id TEXT PRIMARY KEY)`); err != nil {
				return err
			}
			_, err := tx.Exec(g.ctx, `CREATE TABLE gc_child (parent TEXT REFERENCES gc_parent (id) DEFERRABLE INITIALLY DEFERRED)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		reqs := []*request{
			{id: "a", fn: insertOK},
			{id: "orphan", fn: func(ctx context.Context, tx *store.Tx, id string) error {
				_, err := tx.Exec(ctx, `INSERT INTO gc_child (parent) VALUES ('nobody')`)
				return err
			}},
			{id: "b", fn: insertOK},
		}
		holderErr := g.batch(t, reqs)
		if holderErr == nil {
			t.Error("holder: committed, want the commit's error")
		}
		for _, r := range reqs {
			if r.err == nil {
				t.Errorf("%s: answered nil although the commit failed", r.id)
			}
			if r.committed.Load() {
				t.Errorf("%s: AfterCommit ran although the commit failed", r.id)
			}
			if n := countKeys(g.ctx, t, g.db, r.id); n != 0 {
				t.Errorf("%s: %d rows after a failed commit", r.id, n)
			}
		}
		if n := storetest.Count(t, g.db, "gc_child"); n != 0 {
			t.Errorf("gc_child has %d rows after a failed commit", n)
		}
		// The writer goes on.
		if err := g.db.Write(g.ctx, func(tx *store.Tx) error { return insertOK(g.ctx, tx, "after") }); err != nil {
			t.Fatalf("write after a failed commit: %v", err)
		}
	})

	t.Run("a request that rolls back the shared transaction fails alone; the others run again and commit", func(t *testing.T) {
		t.Parallel()
		g := setupGroup(t)
		boom := errors.New("disk trouble")
		reqs := []*request{
			{id: "a", fn: insertOK},
			{id: "breaker", fn: func(ctx context.Context, tx *store.Tx, id string) error {
				if err := insertOK(ctx, tx, id); err != nil {
					return err
				}
				// What SQLite does on an I/O error or a full disk: the whole
				// transaction is rolled back under everyone's feet.
				if _, err := tx.Exec(ctx, `ROLLBACK`); err != nil {
					return err
				}
				return boom
			}},
			{id: "b", fn: insertOK},
		}
		if err := g.batch(t, reqs); err != nil {
			t.Fatalf("holder: %v", err)
		}
		for _, r := range reqs {
			if r.id == "breaker" {
				if !errors.Is(r.err, boom) || r.committed.Load() || countKeys(g.ctx, t, g.db, r.id) != 0 {
					t.Errorf("breaker: err %v, AfterCommit %v, rows %d; want its error and nothing stored", r.err, r.committed.Load(), countKeys(g.ctx, t, g.db, r.id))
				}
				continue
			}
			if r.err != nil || !r.committed.Load() || countKeys(g.ctx, t, g.db, r.id) != 1 {
				t.Errorf("%s: err %v, AfterCommit %v, rows %d; want committed", r.id, r.err, r.committed.Load(), countKeys(g.ctx, t, g.db, r.id))
			}
		}
		if n := countKeys(g.ctx, t, g.db, "holder"); n != 1 {
			t.Errorf("the holder's row: %d", n)
		}
	})

	t.Run("a panic reaches its own caller; the batch commits", func(t *testing.T) {
		t.Parallel()
		g := setupGroup(t)
		reqs := []*request{
			{id: "a", fn: insertOK},
			{id: "panics", fn: func(ctx context.Context, tx *store.Tx, id string) error {
				if err := insertOK(ctx, tx, id); err != nil {
					return err
				}
				panic("fold bug")
			}},
			{id: "b", fn: insertOK},
		}
		if err := g.batch(t, reqs); err != nil {
			t.Fatalf("holder: %v", err)
		}
		for _, r := range reqs {
			if r.id == "panics" {
				if r.panicked != "fold bug" || countKeys(g.ctx, t, g.db, r.id) != 0 || r.committed.Load() {
					t.Errorf("panics: recovered %v, rows %d, AfterCommit %v", r.panicked, countKeys(g.ctx, t, g.db, r.id), r.committed.Load())
				}
				continue
			}
			if r.err != nil || r.panicked != nil || countKeys(g.ctx, t, g.db, r.id) != 1 {
				t.Errorf("%s: err %v, panic %v, rows %d; want committed", r.id, r.err, r.panicked, countKeys(g.ctx, t, g.db, r.id))
			}
		}
	})

	t.Run("a caller whose context ends while it waits gets its context's error; the batch commits", func(t *testing.T) {
		t.Parallel()
		g := setupGroup(t)
		ctx, cancel := context.WithCancel(g.ctx)
		reqs := []*request{
			{id: "a", fn: insertOK},
			{id: "gives-up", fn: insertOK, ctx: ctx},
			{id: "b", fn: insertOK},
		}
		release := g.hold(t, "holder")
		var wg sync.WaitGroup
		for _, r := range reqs {
			wg.Go(func() {
				c := r.ctx
				if c == nil {
					c = g.ctx
				}
				r.err = g.db.Write(c, func(tx *store.Tx) error {
					r.runs.Add(1)
					return r.fn(c, tx, r.id)
				})
			})
		}
		g.waitFor(t, 3)
		cancel()
		g.waitFor(t, 2) // it left the queue without waiting for the holder
		if err := release(); err != nil {
			t.Fatalf("holder: %v", err)
		}
		wg.Wait()
		for _, r := range reqs {
			want := 1
			if r.id == "gives-up" {
				want = 0
				if !errors.Is(r.err, context.Canceled) || r.runs.Load() != 0 {
					t.Errorf("gives-up: err %v, runs %d; want context.Canceled and fn never run", r.err, r.runs.Load())
				}
			} else if r.err != nil {
				t.Errorf("%s: %v", r.id, r.err)
			}
			if n := countKeys(g.ctx, t, g.db, r.id); n != want {
				t.Errorf("%s: %d rows, want %d", r.id, n, want)
			}
		}
	})

	t.Run("a context that ends during a statement does not interrupt the others' transaction", func(t *testing.T) {
		t.Parallel()
		g := setupGroup(t)
		if err := g.db.Write(g.ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(g.ctx, `CREATE TABLE gc_numbers (n INTEGER)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(g.ctx)
		defer cancel()
		reqs := []*request{
			{id: "a", fn: insertOK},
			{id: "cancelled", ctx: ctx, fn: func(ctx context.Context, tx *store.Tx, id string) error {
				cancelMidStatement.Store(&cancel)
				defer cancelMidStatement.Store(nil)
				// An INSERT interrupted inside a transaction rolls the whole
				// transaction back: the driver must not be told of this cancel.
				if _, err := tx.Exec(ctx, `INSERT INTO gc_numbers (n) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)
					SELECT x FROM c WHERE concord_test_cancel(x) = 1`); err != nil {
					return err
				}
				return insertOK(ctx, tx, id) // the context has ended: this fails
			}},
			{id: "b", fn: insertOK},
		}
		if err := g.batch(t, reqs); err != nil {
			t.Fatalf("holder: %v", err)
		}
		for _, r := range reqs {
			if r.id == "cancelled" {
				if !errors.Is(r.err, context.Canceled) || countKeys(g.ctx, t, g.db, r.id) != 0 {
					t.Errorf("cancelled: err %v, rows %d; want context.Canceled and nothing stored", r.err, countKeys(g.ctx, t, g.db, r.id))
				}
				continue
			}
			if r.err != nil || r.runs.Load() != 1 || countKeys(g.ctx, t, g.db, r.id) != 1 {
				t.Errorf("%s: err %v, runs %d, rows %d; want committed at the first run", r.id, r.err, r.runs.Load(), countKeys(g.ctx, t, g.db, r.id))
			}
		}
		if n := storetest.Count(t, g.db, "gc_numbers"); n != 0 {
			t.Errorf("the cancelled request's rows stayed: %d", n)
		}
	})

	t.Run("concurrent writers: nil means committed, an error means nothing was", func(t *testing.T) {
		t.Parallel()
		db := storetest.Open(t, store.SQLite)
		ctx := context.Background()
		const writers, each = 8, 60
		type outcome struct {
			id  string
			err error
		}
		out := make(chan outcome, writers*each)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for i := range each {
					id := fmt.Sprintf("w%d-%d", w, i)
					c, cancel := context.WithCancel(ctx)
					fail := rng.IntN(5) == 0
					if rng.IntN(6) == 0 {
						after := time.Duration(rng.IntN(300)) * time.Microsecond
						go func() {
							time.Sleep(after)
							cancel()
						}()
					}
					err := db.Write(c, func(tx *store.Tx) error {
						if err := insertKey(c, tx, id, "hash-"+id); err != nil {
							return err
						}
						if fail {
							return errors.New("refused")
						}
						return nil
					})
					cancel()
					out <- outcome{id, err}
				}
			})
		}
		wg.Wait()
		close(out)
		committed := 0
		for o := range out {
			n := countKeys(ctx, t, db, o.id)
			if o.err == nil {
				committed++
			}
			if (o.err == nil) != (n == 1) {
				t.Errorf("%s: answered %v but %d rows stored", o.id, o.err, n)
			}
		}
		if n := storetest.Count(t, db, "api_keys"); n != committed {
			t.Errorf("%d rows for %d committed writes", n, committed)
		}
		t.Logf("%d of %d writes committed in %d batches", committed, writers*each, db.GroupCommits())
	})
}
