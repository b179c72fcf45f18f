package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/concordmp/concord/internal/background"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Folding later (issue 19).
//
// The inbox is the record and the ledger its projection (see the package
// doc), so a door can answer as soon as an event is in the inbox. Accept
// stores the event and a row in inbox_fold_queue, in one statement on
// PostgreSQL and in the shared transaction of the requests that arrive
// together on SQLite (group commit), and answers "queued". The folder takes
// up queued events a batch at a time: in one transaction it runs their
// EventHooks, schedules the release of held ones, folds every agreement,
// license and subscription they name once, under the keys' locks, and
// deletes their queue rows. So an acknowledged event is never lost (its
// queue row stays until a fold of it commits, across crashes and restarts),
// its hooks run once, and the ledger is the one Ingest would have built: a
// fold reads all of a key's facts, whichever transaction stored them.
//
// What changes is when the ledger shows an event: moments after the door
// answers, longer under a burst, instead of before. The folder is woken by
// every Accept and otherwise looks at the queue every FoldPoll, which is how
// it finds what another replica, or a process that crashed, queued.

// FoldBatch is how many queued events one folder transaction takes on
// PostgreSQL; on SQLite, whose one writer the doors wait for meanwhile,
// FoldBatchSQLite.
const (
	FoldBatch       = 100
	FoldBatchSQLite = 20
)

// foldBatch is FoldBatch for l's database.
func (l *Ledger) foldBatch() int {
	if l.DB.Dialect() == store.SQLite {
		return FoldBatchSQLite
	}
	return FoldBatch
}

// FoldWindow is how long the folder, woken by an Accept, waits for the events
// arriving with it before it takes them up.
const FoldWindow = 50 * time.Millisecond

// FoldMaxLag bounds how long the folder gives way to the doors (yield).
const FoldMaxLag = 2 * time.Second

// FoldPoll is how often an idle folder looks at the queue.
const FoldPoll = time.Second

// foldRetryMax caps the wait before an event whose fold failed is tried again.
const foldRetryMax = time.Hour

// folder is the folder's wake-up signal.
type folder struct {
	once sync.Once
	wake chan struct{}
	// accepting counts the Accepts in flight (yield).
	accepting atomic.Int64
}

func (f *folder) ch() chan struct{} {
	f.once.Do(func() { f.wake = make(chan struct{}, 1) })
	return f.wake
}

// wakeFolder tells the folder there is work, without waiting.
func (l *Ledger) wakeFolder() {
	select {
	case l.fold.ch() <- struct{}{}:
	default:
	}
}

// Accept is the doors' Ingest. With FoldLater it stores ev and queues it for
// the folder, committed when it returns without error, and answers status
// queued for an event the ledger folds (or held, stored, flagged: the
// status it is stored with), or duplicate; without FoldLater it is Ingest.
func (l *Ledger) Accept(ctx context.Context, door string, ev marketplace.Event) (Result, error) {
	if !l.FoldLater {
		return l.Ingest(ctx, door, ev)
	}
	l.fold.accepting.Add(1)
	defer l.fold.accepting.Add(-1)
	now := l.Now()
	status, note := statusAt(ev.Kind, ev.Time, now)
	var stored bool
	var err error
	if l.DB.Dialect() == store.Postgres {
		// One statement, one round trip: the event and its queue row.
		var args []any
		if args, err = eventArgs(door, ev, status, note, now); err == nil {
			var n int64
			n, err = l.DB.ExecAlone(ctx, `WITH e AS (`+insertEventSQL+` RETURNING id)
			INSERT INTO inbox_fold_queue (event_id, queued_at) SELECT id, ? FROM e`, append(args, store.Millis(now))...)
			stored = n > 0
		}
	} else {
		err = l.DB.Write(ctx, func(tx *store.Tx) error {
			var err error
			if stored, err = insertEvent(ctx, tx, door, ev, status, note, now); err != nil || !stored {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO inbox_fold_queue (event_id, queued_at) VALUES (?, ?)`, ev.ID, store.Millis(now))
			return err
		})
	}
	if err != nil {
		return Result{}, fmt.Errorf("accept event %s: %w", ev.ID, err)
	}
	if !stored {
		return Result{EventID: ev.ID, Status: "duplicate", Duplicate: true}, nil
	}
	l.wakeFolder()
	if status == StatusDeferred {
		// Its fold decides: applied, or deferred until what it refers to
		// arrives.
		status = StatusQueued
	}
	return Result{EventID: ev.ID, Status: status}, nil
}

// RunFolder takes up queued events until ctx ends, with FoldWorkers
// workers on PostgreSQL (a fold waits mostly on round trips, and workers
// claim different events) and one on SQLite (one writer). Each pass is
// guarded: a failing or panicking pass is logged, and its events stay
// queued.
func (l *Ledger) RunFolder(ctx context.Context) {
	workers := 1
	if l.DB.Dialect() == store.Postgres {
		workers = FoldWorkers
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { l.foldWorker(ctx) })
	}
	wg.Wait()
}

// FoldWorkers is how many folder workers run on PostgreSQL.
const FoldWorkers = 2

func (l *Ledger) foldWorker(ctx context.Context) {
	wake := l.fold.ch()
	t := time.NewTicker(FoldPoll)
	defer t.Stop()
	for {
		err := background.Guard(l.Logger, "inbox folder", func() error {
			_, err := l.drain(ctx, false)
			return err
		})
		if err != nil && ctx.Err() == nil && l.Logger != nil {
			l.Logger.Error("inbox: folding queued events", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
		l.yield(ctx)
	}
}

// yield is the folder giving way to the doors. It lets the events that
// arrive together gather for FoldWindow, so one transaction folds them (each
// agreement and license once), and then, while Accepts are in flight, waits
// on, up to FoldMaxLag in all: a burst of events is acknowledged at the rate
// the database stores them, and folded as soon as it ends, or once its first
// events have waited FoldMaxLag, whichever comes first.
func (l *Ledger) yield(ctx context.Context) {
	until := time.Now().Add(FoldMaxLag)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(FoldWindow):
		}
		if l.fold.accepting.Load() == 0 || !time.Now().Before(until) {
			return
		}
	}
}

// Settle takes up queued events, a batch at a time, until none is due, and
// says how many it took up. Once it returns without error, every event
// accepted before it was called is in the ledger, except one whose fold
// failed and waits to be tried again. Events another folder is taking up
// meanwhile are waited for.
func (l *Ledger) Settle(ctx context.Context) (int, error) {
	return l.drain(ctx, true)
}

// drain is Settle; a folder worker does not wait for the others (wait).
func (l *Ledger) drain(ctx context.Context, wait bool) (int, error) {
	total := 0
	for {
		ids, err := l.foldQueued(ctx, l.foldBatch(), "")
		if err != nil {
			if len(ids) == 0 {
				return total, err
			}
			// One of them fails: take them up one at a time, so the
			// others go on and the failing one waits alone.
			for _, id := range ids {
				one, err := l.foldQueued(ctx, 1, id)
				if err != nil {
					if err := l.postpone(ctx, id, err); err != nil {
						return total, err
					}
					continue
				}
				total += len(one)
			}
			continue
		}
		if len(ids) == 0 {
			if !wait {
				return total, nil
			}
			// None free: are others taking some up?
			var due int
			if err := l.DB.Read(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, `SELECT COUNT(*) FROM inbox_fold_queue WHERE not_before <= ?`, store.Millis(l.Now())).Scan(&due)
			}); err != nil || due == 0 {
				return total, err
			}
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		total += len(ids)
		if len(ids) == l.foldBatch() {
			l.wakeFolder() // more to do: another worker may help
		}
	}
}

// FoldQueue is how many accepted events the folder has not taken up yet.
func (l *Ledger) FoldQueue(ctx context.Context) (int, error) {
	var n int
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT COUNT(*) FROM inbox_fold_queue`).Scan(&n)
	})
	return n, err
}

// queuedEvent is a queued event as stored, and its inbox status.
type queuedEvent struct {
	marketplace.Event
	status string
}

func scanQueued(r store.Scanner) (queuedEvent, error) {
	var q queuedEvent
	var kind, body, fact string
	var at int64
	if err := r.Scan(&q.ID, &q.RequestID, &q.Source, &q.DetailType, &kind, &at, &body, &fact, &q.status); err != nil {
		return q, err
	}
	q.Kind, q.Time, q.Body = marketplace.EventKind(kind), store.FromMillis(at), []byte(body)
	if err := json.Unmarshal([]byte(fact), &q.Fact); err != nil {
		return q, fmt.Errorf("decode stored fact of event %s: %w", q.ID, err)
	}
	return q, nil
}

// foldQueued takes up to limit due queued events (or only event only) in one
// transaction: it claims their queue rows, runs their hooks, schedules the
// release of held ones, folds what they name, and deletes the rows. It
// returns the ids it claimed, also when the transaction failed. On
// PostgreSQL, rows another folder holds are skipped.
func (l *Ledger) foldQueued(ctx context.Context, limit int, only string) (ids []string, err error) {
	var touched []string
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		touched, ids = nil, nil
		now := l.Now()
		q := `SELECT event_id FROM inbox_fold_queue WHERE not_before <= ?`
		args := []any{store.Millis(now)}
		if only != "" {
			q += ` AND event_id = ?`
			args = append(args, only)
		}
		q += ` ORDER BY not_before, queued_at, event_id LIMIT ?`
		args = append(args, limit)
		if tx.Dialect() == store.Postgres {
			q += ` FOR UPDATE SKIP LOCKED`
		}
		var err error
		if ids, err = store.QueryAll(ctx, tx, store.ScanString, q, args...); err != nil || len(ids) == 0 {
			return err
		}
		args = make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		in := `(?` + strings.Repeat(", ?", len(ids)-1) + `)`
		if _, err := tx.Exec(ctx, `DELETE FROM inbox_fold_queue WHERE event_id IN `+in, args...); err != nil {
			return err
		}
		// The queue's index gave the ids, the inbox's primary key gives
		// the events.
		evs, err := store.QueryAll(ctx, tx, scanQueued, `SELECT id, COALESCE(request_id, ''), source, detail_type, kind, event_time, body, fact, status
			FROM inbox_events WHERE id IN `+in, args...)
		if err != nil {
			return err
		}
		byID := make(map[string]queuedEvent, len(evs))
		for _, ev := range evs {
			byID[ev.ID] = ev
		}
		var facts []marketplace.Fact
		for _, id := range ids { // in queue order
			ev, ok := byID[id]
			if !ok {
				continue // not in the inbox (deleted by hand): nothing to do
			}
			for _, h := range l.EventHooks {
				if err := h(ctx, tx, ev.Event, now); err != nil {
					return fmt.Errorf("event %s: %w", ev.ID, err)
				}
			}
			switch ev.status {
			case StatusHeld:
				if err := holdUntil(ctx, tx, now, ev.ID, ev.Time); err != nil {
					return err
				}
			case StatusDeferred, StatusApplied:
				facts = append(facts, ev.Fact)
			}
		}
		if len(facts) == 0 {
			return nil
		}
		touched, err = l.foldFacts(ctx, tx, now, facts)
		return err
	})
	if err != nil {
		return ids, fmt.Errorf("fold queued events: %w", err)
	}
	if l.OnApplied != nil && len(touched) > 0 {
		l.OnApplied(touched)
	}
	return ids, nil
}

// postpone records that event id's fold failed with cause and tries it again
// later, after a wait that doubles with each attempt.
func (l *Ledger) postpone(ctx context.Context, id string, cause error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if l.Logger != nil {
		l.Logger.Error("inbox: an accepted event could not be folded; it stays queued and is tried again", "event", id, "err", cause)
	}
	now := store.Millis(l.Now())
	return l.DB.Write(ctx, func(tx *store.Tx) error {
		var attempts int
		err := tx.QueryRow(ctx, `SELECT attempts FROM inbox_fold_queue WHERE event_id = ?`, id).Scan(&attempts)
		if err != nil {
			return nil // taken up meanwhile
		}
		wait := min(time.Second<<min(attempts, 12), foldRetryMax)
		_, err = tx.Exec(ctx, `UPDATE inbox_fold_queue SET attempts = attempts + 1, not_before = ?, last_error = ? WHERE event_id = ?`,
			now+wait.Milliseconds(), cause.Error(), id)
		return err
	})
}
