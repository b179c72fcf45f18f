package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// ReplayStats summarises a replay.
type ReplayStats struct {
	Events        int `json:"events"`
	Reparsed      int `json:"reparsed"`
	Agreements    int `json:"agreements"`
	Licenses      int `json:"licenses"`
	Subscriptions int `json:"subscriptions"`
	Deferred      int `json:"deferred"`
	Flagged       int `json:"flagged"`
}

type storedEvent struct {
	id, door, source, kind, body string
	eventTime, receivedAt        int64
}

// Replay re-parses every event in the inbox with the current parser and folds the
// whole ledger again, in one transaction. Because the ledger is a function of the
// inbox, a replay on an unchanged parser ends in the same ledger.
func (l *Ledger) Replay(ctx context.Context) (ReplayStats, error) {
	var st ReplayStats
	err := l.DB.WriteCommitted(ctx, func(tx *store.Tx) error {
		// The whole ledger is folded again: take its tables whole rather
		// than a lock per key (see projector).
		if err := tx.LockTables(ctx, ledgerTables...); err != nil {
			return err
		}
		st = ReplayStats{}
		now := l.Now()
		// Page through the inbox in arrival order, a chunk at a time, so a
		// large inbox is never all in memory at once.
		const chunk = 1000
		afterAt, afterID := int64(math.MinInt64), ""
		for {
			evs, err := store.QueryAll(ctx, tx, func(r store.Scanner) (storedEvent, error) {
				var e storedEvent
				return e, r.Scan(&e.id, &e.door, &e.source, &e.kind, &e.body, &e.eventTime, &e.receivedAt)
			}, `SELECT id, door, source, kind, body, event_time, received_at FROM inbox_events
				WHERE received_at > ? OR (received_at = ? AND id > ?) ORDER BY received_at, id LIMIT ?`, afterAt, afterAt, afterID, chunk)
			if err != nil {
				return err
			}
			for _, e := range evs {
				if err := reparseStored(ctx, tx, now, e, &st); err != nil {
					return err
				}
			}
			if len(evs) < chunk {
				break
			}
			afterAt, afterID = evs[len(evs)-1].receivedAt, evs[len(evs)-1].id
		}
		p := l.newProjector(tx, now)
		for _, q := range []struct {
			sql string
			fn  func(context.Context, string) error
			n   *int
		}{
			{`SELECT DISTINCT agreement_id FROM inbox_events WHERE agreement_id IS NOT NULL ORDER BY agreement_id`, p.agreement, &st.Agreements},
			{`SELECT DISTINCT license_id FROM inbox_events WHERE license_id IS NOT NULL ORDER BY license_id`, func(_ context.Context, id string) error { p.dirty[id] = true; return nil }, &st.Licenses},
			{`SELECT DISTINCT customer_key FROM inbox_events WHERE customer_key IS NOT NULL ORDER BY customer_key`, p.subscription, &st.Subscriptions},
		} {
			ids, err := store.QueryAll(ctx, tx, store.ScanString, q.sql)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if err := q.fn(ctx, id); err != nil {
					return err
				}
			}
			*q.n = len(ids)
		}
		if err := p.flush(ctx); err != nil {
			return err
		}
		if _, err := p.refoldLifecycles(ctx); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM inbox_events WHERE status = 'deferred'`).Scan(&st.Deferred); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT COUNT(*) FROM inbox_events WHERE status = 'flagged'`).Scan(&st.Flagged)
	})
	if err != nil {
		return st, fmt.Errorf("replay: %w", err)
	}
	return st, nil
}

// reparseStored parses one stored event again and stores what the current
// parser makes of it.
func reparseStored(ctx context.Context, tx *store.Tx, now time.Time, e storedEvent, st *ReplayStats) error {
	st.Events++
	ev, err := reparse(e)
	if err != nil {
		_, err := tx.Exec(ctx, `UPDATE inbox_events SET status = 'flagged', note = ? WHERE id = ?`, "replay: "+marketplace.ErrorMessage(err), e.id)
		return err
	}
	if ev == nil {
		return nil
	}
	fact, err := json.Marshal(ev.Fact)
	if err != nil {
		return err
	}
	licenseID := ""
	if ev.Fact.LicenseArn != "" {
		licenseID = marketplace.LicenseID(ev.Fact.LicenseArn)
	}
	customerKey := ""
	if marketplace.IsSubscriptionKind(ev.Kind) {
		customerKey = ev.Fact.CustomerIdentifier + "|" + ev.Fact.ProductCode
	}
	status, note := statusAt(ev.Kind, ev.Time, now)
	if _, err := tx.Exec(ctx, `UPDATE inbox_events SET kind = ?, fact = ?, agreement_id = ?, previous_agreement_id = ?, license_id = ?,
		customer_key = ?, status = ?, note = ? WHERE id = ?`, string(ev.Kind), string(fact), store.NullString(ev.Fact.AgreementID),
		store.NullString(ev.Fact.PreviousAgreementID), store.NullString(licenseID), store.NullString(customerKey), status, store.NullString(note), e.id); err != nil {
		return err
	}
	if status == StatusHeld {
		if err := holdUntil(ctx, tx, now, e.id, ev.Time); err != nil {
			return err
		}
	}
	st.Reparsed++
	return nil
}

// reparse parses a stored body again; nil means keep the stored fact (enrichment).
func reparse(e storedEvent) (*marketplace.Event, error) {
	switch e.door {
	case DoorHTTP, DoorSQS:
		ev, err := marketplace.ParseEventBridge([]byte(e.body))
		return &ev, err
	case DoorSNS:
		if marketplace.EventKind(e.kind) == marketplace.KindSubscriptionConfirm || marketplace.EventKind(e.kind) == marketplace.KindInformational {
			return nil, nil // confirmations carry prose, not an action: keep them as stored
		}
		ev, err := marketplace.ParseSNSAction(e.id, strings.TrimPrefix(e.source, "aws.sns:"), e.body, time.UnixMilli(e.eventTime))
		return &ev, err
	}
	return nil, nil
}
