package job_test

import (
	"context"
	"testing"

	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// rerunFixture is a job under unique key "refresh:a" whose handler records, on
// each run, whether the enqueuer's data (a "marker" job written in the same
// transaction as the second enqueue) was visible to it: the data a rerun exists
// to pick up.
type rerunFixture struct {
	*fixture
	r     *job.Runner
	seen  chan bool
	block chan struct{} // when non-nil, the first run waits on it after reading
}

func newRerunFixture(t *testing.T, db *store.DB) *rerunFixture {
	f := &rerunFixture{fixture: setup(t, db), seen: make(chan bool, 8)}
	f.r = f.runner(job.RunnerOptions{}, map[string]job.Handler{
		"marker": ok,
		"refresh": func(ctx context.Context, j *job.Job) error {
			var n int
			err := f.db.Read(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = 'marker'`).Scan(&n)
			})
			f.seen <- n > 0
			if b := f.block; b != nil {
				f.block = nil
				<-b
			}
			return err
		},
	})
	f.enqueue("refresh", args{}, job.Options{UniqueKey: "refresh:a"})
	return f
}

// change writes the marker and asks for the refresh again, in one transaction;
// it calls hold (if any) before committing.
func (f *rerunFixture) change(hold func()) error {
	return f.db.Write(f.ctx, func(tx *store.Tx) error {
		if _, _, err := job.Enqueue(f.ctx, tx, f.clock.Now(), "marker", args{}, job.Options{UniqueKey: "marker"}); err != nil {
			return err
		}
		if _, _, err := job.Enqueue(f.ctx, tx, f.clock.Now(), "refresh", args{}, job.Options{UniqueKey: "refresh:a"}); err != nil {
			return err
		}
		if hold != nil {
			hold()
		}
		return nil
	})
}

// drain works until nothing is due and returns what the refresh runs saw.
func (f *rerunFixture) drain() []bool {
	for {
		worked, err := f.r.WorkOne(f.ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		if !worked {
			break
		}
	}
	var out []bool
	for {
		select {
		case v := <-f.seen:
			out = append(out, v)
		default:
			return out
		}
	}
}

// TestUniqueEnqueueIsNotLost: a unique-key enqueue whose job is already
// waiting must lead to a run that sees the enqueuer's commit, however a
// concurrent claim interleaves with it. Seen in the wild: an agreement's
// bookable artifact stuck at "terms not known" because the refresh that
// would have read the terms was claimed while they were being committed.
func TestUniqueEnqueueIsNotLost(t *testing.T) {
	t.Parallel()
	t.Run("claim races the enqueuer's commit", func(t *testing.T) {
		t.Parallel()
		storetest.Each(t, func(t *testing.T, db *store.DB) {
			f := newRerunFixture(t, db)
			enqueued, commit, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			go func() { done <- f.change(func() { close(enqueued); <-commit }) }()
			waitFor(t, enqueued, "the enqueuer to ask again")
			// The enqueuer has asked but not committed. On PostgreSQL a claim
			// proceeds now (it must not run the job on data older than the
			// request); SQLite has one writer, so the claim waits for the commit.
			claimed := goWork(f.ctx, f.r)
			if db.Dialect() == store.Postgres {
				if res := waitFor(t, claimed, "the racing claim"); res.err != nil {
					t.Fatal(res.err)
				}
			}
			close(commit)
			if err := waitFor(t, done, "the enqueuer's commit"); err != nil {
				t.Fatal(err)
			}
			if db.Dialect() != store.Postgres {
				waitFor(t, claimed, "the claim")
			}
			seen := f.drain()
			if len(seen) == 0 || !seen[len(seen)-1] {
				t.Fatalf("refresh runs saw the enqueuer's data: %v; the last run must see it", seen)
			}
		})
	})
	t.Run("request arrives while the job runs", func(t *testing.T) {
		t.Parallel()
		storetest.Each(t, func(t *testing.T, db *store.DB) {
			f := newRerunFixture(t, db)
			block := make(chan struct{})
			f.block = block
			running := goWork(f.ctx, f.r)
			if first := waitFor(t, f.seen, "the first run"); first {
				t.Fatal("the first run saw data not yet written")
			}
			if err := f.change(nil); err != nil {
				t.Fatal(err)
			}
			close(block)
			if res := waitFor(t, running, "the first run to finish"); res.err != nil || !res.worked {
				t.Fatalf("first run: %+v", res)
			}
			if seen := f.drain(); len(seen) != 1 || !seen[0] {
				t.Fatalf("runs after the request saw %v, want one run that sees it", seen)
			}
		})
	})
}
