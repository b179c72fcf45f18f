package inbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/concordmp/concord/internal/background"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// DefaultBatch and DefaultBatchers are Ingest's group commit on PostgreSQL
// (see Ledger.Batch): events that arrive while a transaction is in flight
// wait for the next one, at most DefaultBatch to a transaction, with at most
// DefaultBatchers transactions in flight.
const (
	DefaultBatch    = 64
	DefaultBatchers = 2
)

// batchTimeout bounds one group transaction, retries included.
const batchTimeout = 30 * time.Second

// pending is one Ingest call waiting for its group's transaction.
type pending struct {
	door string
	ev   marketplace.Event
	res  Result
	err  error
	// final is set once res or err is the event's answer: committed, or
	// failed for good.
	final bool
	done  chan struct{}
}

// batcher queues Ingest calls for group transactions.
type batcher struct {
	mu      sync.Mutex
	queue   []*pending
	running int
}

// ingestGrouped queues ev for the next group transaction and waits for it.
// The caller's context only bounds the wait: an event taken into a
// transaction is stored or not with the others, and its sender, told nothing
// (no 2xx), sends it again, which is a duplicate at worst.
func (l *Ledger) ingestGrouped(ctx context.Context, door string, ev marketplace.Event) (Result, error) {
	p := &pending{door: door, ev: ev, done: make(chan struct{})}
	b := &l.batch
	b.mu.Lock()
	b.queue = append(b.queue, p)
	lead := b.running < max(l.Batchers, 1)
	if lead {
		b.running++
	}
	b.mu.Unlock()
	if lead {
		background.Go(l.Logger, "inbox group commit", l.lead)
	}
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		return Result{}, fmt.Errorf("ingest event %s: %w", ev.ID, ctx.Err())
	}
}

// lead runs group transactions until the queue is empty.
func (l *Ledger) lead() {
	b := &l.batch
	for {
		b.mu.Lock()
		n := min(len(b.queue), max(l.Batch, 1))
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		group := slices.Clone(b.queue[:n])
		b.queue = slices.Delete(b.queue, 0, n)
		b.mu.Unlock()
		err := background.Guard(l.Logger, "inbox group commit", func() error {
			l.ingestGroup(group)
			return nil
		})
		for _, p := range group {
			if !p.final {
				p.res, p.err = Result{}, fmt.Errorf("ingest event %s: %w", p.ev.ID, err) // a panic: nobody waits forever
			}
			close(p.done)
		}
	}
}

// ingestGroup stores and folds a group of events in one transaction and
// sets each one's result. If that transaction fails, each event is ingested
// again alone, so one event's failure (a value PostgreSQL refuses, say) is
// its own and the others commit.
func (l *Ledger) ingestGroup(group []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if len(group) > 1 {
		touched, err := l.ingestMany(ctx, group)
		if err == nil {
			for _, p := range group {
				p.final = true
			}
			if l.OnApplied != nil && len(touched) > 0 {
				l.OnApplied(touched)
			}
			return
		}
		if l.Logger != nil {
			l.Logger.Warn("inbox: a group of events failed; ingesting them one by one", "events", len(group), "err", err)
		}
	}
	for _, p := range group {
		p.res, p.err = l.ingestOne(ctx, p.door, p.ev)
		p.final = true
	}
}

// ingestMany is Ingest for several events in one transaction: every event is
// stored first, then the agreements, licenses and subscriptions they name
// are folded once each, under locks taken together in one order.
func (l *Ledger) ingestMany(ctx context.Context, group []*pending) ([]string, error) {
	var touched []string
	err := l.DB.Write(ctx, func(tx *store.Tx) error {
		touched = nil
		now := l.Now()
		var facts []marketplace.Fact
		var ids []string
		for _, p := range group {
			p.res = Result{EventID: p.ev.ID}
			status, note := statusAt(p.ev.Kind, p.ev.Time, now)
			ins, err := insertEvent(ctx, tx, p.door, p.ev, status, note, now)
			if err != nil {
				return fmt.Errorf("event %s: %w", p.ev.ID, err)
			}
			if !ins {
				p.res.Duplicate, p.res.Status = true, "duplicate"
				continue
			}
			for _, h := range l.EventHooks {
				if err := h(ctx, tx, p.ev, now); err != nil {
					return fmt.Errorf("event %s: %w", p.ev.ID, err)
				}
			}
			if status == StatusHeld {
				p.res.Status = StatusHeld
				if err := holdUntil(ctx, tx, now, p.ev.ID, p.ev.Time); err != nil {
					return err
				}
				continue
			}
			facts = append(facts, p.ev.Fact)
			ids = append(ids, p.ev.ID)
		}
		if len(facts) == 0 {
			return nil
		}
		var err error
		if touched, err = l.foldFacts(ctx, tx, now, facts); err != nil {
			return err
		}
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		rows, err := tx.Query(ctx, `SELECT id, status FROM inbox_events WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		status := make(map[string]string, len(ids))
		for rows.Next() {
			var id, st string
			if err := rows.Scan(&id, &st); err != nil {
				return err
			}
			status[id] = st
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range group {
			if p.res.Status == "" {
				if p.res.Status = status[p.ev.ID]; p.res.Status == "" {
					return errors.New("a stored event vanished from its own transaction")
				}
			}
		}
		return nil
	})
	return touched, err
}

// foldFacts folds, in tx, the agreements, licenses and subscriptions facts
// name, each once, under their keys' locks taken together in one order, and
// returns the licenses whose state it recomputed.
func (l *Ledger) foldFacts(ctx context.Context, tx *store.Tx, now time.Time, facts []marketplace.Fact) ([]string, error) {
	var keys []string
	for _, f := range facts {
		keys = append(keys, lockKeys(f)...)
	}
	if err := tx.Lock(ctx, keys...); err != nil {
		return nil, err
	}
	pr := l.newProjector(tx, now)
	for _, f := range facts {
		if err := pr.fold(ctx, f); err != nil {
			return nil, err
		}
	}
	if err := pr.flush(ctx); err != nil {
		return nil, err
	}
	return pr.licenses, nil
}

// Queued is how many events wait for a group transaction (for tests and
// metrics).
func (l *Ledger) Queued() int {
	l.batch.mu.Lock()
	defer l.batch.mu.Unlock()
	return len(l.batch.queue)
}
