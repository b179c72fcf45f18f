package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestLock checks the key locks the ledger's READ COMMITTED folds rely on.
func TestLock(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO buyers (account_id, first_seen_at, updated_at) VALUES ('counter', 0, 0)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}

		t.Run("locked read-modify-writes lose no update", func(t *testing.T) {
			// Without the lock, READ COMMITTED transactions that read the
			// counter together both write the same next value.
			increments(t, db, "counter", 6, 15, func(fn func(tx *store.Tx) error) error {
				return db.WriteCommitted(ctx, func(tx *store.Tx) error {
					if err := tx.Lock(ctx, "counter"); err != nil {
						return err
					}
					return fn(tx)
				})
			})
		})

		t.Run("a busy key taken later runs the transaction again with it taken first", func(t *testing.T) {
			if db.Dialect() != store.Postgres {
				t.Skip("SQLite runs one writer at a time: locks are not needed")
			}
			held, release := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- db.WriteCommitted(ctx, func(tx *store.Tx) error {
					if err := tx.Lock(ctx, "x"); err != nil {
						return err
					}
					close(held)
					<-release
					return nil
				})
			}()
			<-held
			var attempts atomic.Int32
			var firstEnded atomic.Bool
			got := make(chan error, 1)
			go func() {
				got <- db.WriteCommitted(ctx, func(tx *store.Tx) error {
					n := attempts.Add(1)
					if err := tx.Lock(ctx, "y"); err != nil {
						return err
					}
					if err := tx.Lock(ctx, "x"); err != nil {
						if n == 1 {
							firstEnded.Store(true)
						}
						return err
					}
					return nil
				})
			}()
			// The first attempt does not wait for x while holding y: it ends,
			// and the second waits for x (and y) before doing anything.
			deadline := time.Now().Add(5 * time.Second)
			for !firstEnded.Load() || attempts.Load() < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("after 5 s: %d attempts, first ended %v", attempts.Load(), firstEnded.Load())
				}
				time.Sleep(5 * time.Millisecond)
			}
			select {
			case err := <-got:
				t.Fatalf("the transaction finished (%v) while x was held", err)
			case <-time.After(100 * time.Millisecond):
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if err := <-got; err != nil {
				t.Fatalf("after x was released: %v", err)
			}
			if n := attempts.Load(); n != 2 {
				t.Fatalf("%d attempts, want 2", n)
			}
		})
	})
}

// TestWriteLocked checks that SERIALIZABLE writers of the same key take turns
// with snapshots taken after the lock: each runs once, none is failed by the
// others and retried, and no increment is lost.
func TestWriteLocked(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO buyers (account_id, first_seen_at, updated_at) VALUES ('locked-counter', 0, 0)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		const workers, each = 6, 10
		var attempts atomic.Int64
		increments(t, db, "locked-counter", workers, each, func(fn func(tx *store.Tx) error) error {
			return db.WriteLocked(ctx, []string{"bucket-b", "bucket-a"}, func(tx *store.Tx) error {
				attempts.Add(1)
				return fn(tx)
			})
		})
		if a := attempts.Load(); a != workers*each {
			t.Errorf("%d attempts for %d increments: writers of one key failed each other and ran again", a, workers*each)
		}
		// The locks are gone once WriteLocked returns, whichever connection
		// of the pool held them.
		if db.Dialect() == store.Postgres {
			var held int
			if err := db.Read(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1
					AND ((classid::bigint << 32) | objid::bigint) = ANY(?::bigint[])`, store.LockIDs("bucket-a", "bucket-b")).Scan(&held)
			}); err != nil {
				t.Fatal(err)
			}
			if held != 0 {
				t.Errorf("WriteLocked left %d of its keys locked", held)
			}
		}
	})
}

// increments has workers each run each read-modify-write increments of the
// buyer row account's updated_at through write, and fails t unless the
// counter ends at workers*each: no increment lost.
func increments(t *testing.T, db *store.DB, account string, workers, each int, write func(fn func(tx *store.Tx) error) error) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				err := write(func(tx *store.Tx) error {
					var n int64
					if err := tx.QueryRow(ctx, `SELECT updated_at FROM buyers WHERE account_id = ?`, account).Scan(&n); err != nil {
						return err
					}
					time.Sleep(time.Millisecond) // widen the window
					_, err := tx.Exec(ctx, `UPDATE buyers SET updated_at = ? WHERE account_id = ?`, n+1, account)
					return err
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var n int64
	if err := db.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT updated_at FROM buyers WHERE account_id = ?`, account).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	if n != int64(workers*each) {
		t.Fatalf("counter = %d after %d locked increments", n, workers*each)
	}
}
