package inbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
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
	// Changed counts the events the current parser reads differently from
	// what the inbox held (their stored fact was rewritten).
	Changed int `json:"changed"`
}

type storedEvent struct {
	id, door, source, kind, body string
	eventTime, receivedAt        int64
	// What the inbox holds now, to leave an event the parser reads the same
	// way untouched.
	fact, status                                    string
	agreementID, previousID, licenseID, customerKey sql.NullString
	note                                            sql.NullString
}

// replayChunk is how many inbox events, agreements or licenses a replay holds
// in memory at once.
const replayChunk = 1000

// Replay re-parses every event in the inbox with the current parser and folds the
// whole ledger again, in one transaction. Because the ledger is a function of the
// inbox, a replay on an unchanged parser ends in the same ledger.
//
// It is built to touch only what changed: an event the parser reads as it
// did is not rewritten; agreements and licenses are folded a chunk at a
// time from facts loaded by one ordered scan per chunk (preload); and a
// folded agreement or license equal to its stored row is neither written
// nor shown to the hooks again (their effects are already there). So a replay
// after a parser fix rewrites, and runs the hooks of, what the fix changed,
// and a replay on an unchanged parser writes almost nothing. What a
// replay does not rewrite keeps its timestamps (applied_at, updated_at).
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
		if tx.Dialect() == store.SQLite {
			// The replay's transaction dirties most of the database: with
			// SQLite's default 2 MB page cache it spills pages to the WAL and
			// reads them back over and over. A larger cache for its duration:
			// 256 MB holds what a replay of 100,000 events dirties (64 MB
			// spilled), and SQLite takes it page by page, only as the
			// transaction needs it.
			var size int64
			if err := tx.QueryRow(ctx, `PRAGMA cache_size`).Scan(&size); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `PRAGMA cache_size = -262144`); err != nil {
				return err
			}
			defer func() { _, _ = tx.Exec(ctx, fmt.Sprintf(`PRAGMA cache_size = %d`, size)) }()
		}
		// Page through the inbox in arrival order, a chunk at a time, so a
		// large inbox is never all in memory at once. The first condition
		// bounds the index range; the second breaks ties on received_at.
		afterAt, afterID := int64(math.MinInt64), ""
		for {
			evs, err := store.QueryAll(ctx, tx, func(r store.Scanner) (storedEvent, error) {
				var e storedEvent
				return e, r.Scan(&e.id, &e.door, &e.source, &e.kind, &e.body, &e.eventTime, &e.receivedAt,
					&e.fact, &e.status, &e.agreementID, &e.previousID, &e.licenseID, &e.customerKey, &e.note)
			}, `SELECT id, door, source, kind, body, event_time, received_at, fact, status, agreement_id, previous_agreement_id,
				license_id, customer_key, note FROM inbox_events
				WHERE received_at >= ? AND (received_at > ? OR id > ?) ORDER BY received_at, id LIMIT ?`, afterAt, afterAt, afterID, replayChunk)
			if err != nil {
				return err
			}
			for _, e := range evs {
				if err := reparseStored(ctx, tx, now, e, &st); err != nil {
					return err
				}
			}
			if len(evs) < replayChunk {
				break
			}
			afterAt, afterID = evs[len(evs)-1].receivedAt, evs[len(evs)-1].id
		}
		p := l.newProjector(tx, now)
		p.replay = true
		agreements, err := store.QueryAll(ctx, tx, store.ScanString, `SELECT DISTINCT agreement_id FROM inbox_events WHERE agreement_id IS NOT NULL ORDER BY agreement_id`)
		if err != nil {
			return err
		}
		st.Agreements = len(agreements)
		for ids := range slices.Chunk(agreements, replayChunk) {
			if err := p.preloadAgreements(ctx, ids); err != nil {
				return err
			}
			for _, id := range ids {
				if err := p.agreement(ctx, id); err != nil {
					return err
				}
			}
		}
		licenses, err := store.QueryAll(ctx, tx, store.ScanString, `SELECT DISTINCT license_id FROM inbox_events WHERE license_id IS NOT NULL ORDER BY license_id`)
		if err != nil {
			return err
		}
		st.Licenses = len(licenses)
		for _, id := range licenses {
			p.dirty[id] = true
		}
		subs, err := store.QueryAll(ctx, tx, store.ScanString, `SELECT DISTINCT customer_key FROM inbox_events WHERE customer_key IS NOT NULL ORDER BY customer_key`)
		if err != nil {
			return err
		}
		st.Subscriptions = len(subs)
		for _, key := range subs {
			if err := p.subscription(ctx, key); err != nil {
				return err
			}
		}
		p.pre = nil
		if err := p.flushPreloaded(ctx); err != nil {
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
// parser makes of it, unless that is what the inbox holds already.
func reparseStored(ctx context.Context, tx *store.Tx, now time.Time, e storedEvent, st *ReplayStats) error {
	st.Events++
	ev, err := reparse(e)
	if err != nil {
		note := "replay: " + marketplace.ErrorMessage(err)
		if e.status == StatusFlagged && e.note.String == note {
			return nil
		}
		st.Changed++
		_, err := tx.Exec(ctx, `UPDATE inbox_events SET status = 'flagged', note = ? WHERE id = ?`, note, e.id)
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
	st.Reparsed++
	same := e.kind == string(ev.Kind) && e.fact == string(fact) && e.agreementID == store.NullString(ev.Fact.AgreementID) &&
		e.previousID == store.NullString(ev.Fact.PreviousAgreementID) && e.licenseID == store.NullString(licenseID) &&
		e.customerKey == store.NullString(customerKey) &&
		// An applied event the parser reads the same way is folded again
		// below, from the same facts: it stays applied.
		((e.status == status && e.note == store.NullString(note)) || (e.status == StatusApplied && status == StatusDeferred && note == ""))
	if !same {
		st.Changed++
		if _, err := tx.Exec(ctx, `UPDATE inbox_events SET kind = ?, fact = ?, agreement_id = ?, previous_agreement_id = ?, license_id = ?,
		customer_key = ?, status = ?, note = ? WHERE id = ?`, string(ev.Kind), string(fact), store.NullString(ev.Fact.AgreementID),
			store.NullString(ev.Fact.PreviousAgreementID), store.NullString(licenseID), store.NullString(customerKey), status, store.NullString(note), e.id); err != nil {
			return err
		}
	}
	if status == StatusHeld {
		if err := holdUntil(ctx, tx, now, e.id, ev.Time); err != nil {
			return err
		}
	}
	return nil
}

// preloaded are the ledger facts of a chunk of agreements or licenses, read
// by one ordered scan instead of a query per key (see projector.facts).
type preloaded struct {
	agreements map[string][]marketplace.Fact
	licenses   map[string][]marketplace.Fact
	// rows are the inbox rows those facts were read from, by agreement or
	// license (the fold's status updates look at them, see projector.facts).
	rows map[string][]inboxRow
	// With licenses: their rows as stored, and the rows of the agreements
	// their facts name (asked: looked up, found or not).
	licenseRows   map[string]marketplace.License
	agreementRows map[string]marketplace.Agreement
	asked         map[string]bool
	// With agreements: those of the chunk with no row yet, until their first
	// fold (the only writer of an agreement's row) has read that.
	absent map[string]bool
}

// preloadAgreements loads the facts of agreements ids (sorted): those naming
// each as agreement_id or previous_agreement_id, as projector.facts would.
func (p *projector) preloadAgreements(ctx context.Context, ids []string) error {
	pre := &preloaded{agreements: make(map[string][]marketplace.Fact, len(ids)), rows: map[string][]inboxRow{}}
	for _, id := range ids {
		pre.agreements[id] = nil
	}
	lo, hi := ids[0], ids[len(ids)-1]
	for _, col := range []string{"agreement_id", "previous_agreement_id"} {
		err := p.scanFacts(ctx, `SELECT `+col+`, id, kind, COALESCE(agreement_id, ''), status, fact FROM inbox_events
			WHERE status <> 'held' AND `+col+` >= ? AND `+col+` <= ? ORDER BY `+col,
			func(key string, r inboxRow, f *marketplace.Fact) {
				if col == "previous_agreement_id" && r.agreementID == key {
					return // the first scan has it
				}
				if fs, ok := pre.agreements[key]; ok {
					pre.rows[key] = append(pre.rows[key], r)
					if f != nil {
						pre.agreements[key] = append(fs, *f)
					}
				}
			}, lo, hi)
		if err != nil {
			return err
		}
	}
	// A first replay (or a large import) finds most agreements without a
	// row: one scan of the ids saves each fold a lookup that finds nothing.
	stored, err := store.QueryAll(ctx, p.tx, store.ScanString, `SELECT agreement_id FROM agreements WHERE agreement_id >= ? AND agreement_id <= ?`, lo, hi)
	if err != nil {
		return fmt.Errorf("preload agreements: %w", err)
	}
	pre.absent = make(map[string]bool, len(ids))
	for _, id := range ids {
		pre.absent[id] = true
	}
	for _, id := range stored {
		delete(pre.absent, id)
	}
	p.pre = pre
	return nil
}

// storedAgreement is loadAgreementRow, from what the preload found when it
// can: an agreement it found without a row, at its first fold.
func (p *projector) storedAgreement(ctx context.Context, id string) (agreementRow, bool, error) {
	if p.pre != nil && p.pre.absent[id] {
		delete(p.pre.absent, id)
		return agreementRow{}, false, nil
	}
	return loadAgreementRow(ctx, p.tx, id)
}

// preloadLicenses loads the facts of licenses ids (sorted).
func (p *projector) preloadLicenses(ctx context.Context, ids []string) error {
	pre := &preloaded{licenses: make(map[string][]marketplace.Fact, len(ids)), rows: map[string][]inboxRow{}}
	for _, id := range ids {
		pre.licenses[id] = nil
	}
	pre.asked, pre.agreementRows = map[string]bool{}, map[string]marketplace.Agreement{}
	var named []any
	lo, hi := ids[0], ids[len(ids)-1]
	err := p.scanFacts(ctx, `SELECT license_id, id, kind, COALESCE(agreement_id, ''), status, fact FROM inbox_events
		WHERE status <> 'held' AND license_id >= ? AND license_id <= ? ORDER BY license_id`,
		func(key string, r inboxRow, f *marketplace.Fact) {
			if fs, ok := pre.licenses[key]; ok {
				pre.rows[key] = append(pre.rows[key], r)
				if f == nil {
					return
				}
				pre.licenses[key] = append(fs, *f)
				if id := f.AgreementID; id != "" && !pre.asked[id] {
					pre.asked[id] = true
					named = append(named, id)
				}
			}
		}, lo, hi)
	if err != nil {
		return err
	}
	rows, err := store.QueryAll(ctx, p.tx, scanLicense, `SELECT `+licenseColumns+` FROM licenses WHERE license_id >= ? AND license_id <= ? ORDER BY license_id`, lo, hi)
	if err != nil {
		return fmt.Errorf("preload licenses: %w", err)
	}
	pre.licenseRows = make(map[string]marketplace.License, len(rows))
	for _, l := range rows {
		pre.licenseRows[l.LicenseID] = l
	}
	// The agreements the folds will ask for (FoldLicense's agreementOf), in
	// IN lists well under every database's limit on parameters.
	for chunk := range slices.Chunk(named, 500) {
		as, err := store.QueryAll(ctx, p.tx, scanFoldedAgreement, `SELECT `+foldedAgreementColumns+` FROM agreements WHERE agreement_id IN (?`+
			strings.Repeat(", ?", len(chunk)-1)+`)`, chunk...)
		if err != nil {
			return fmt.Errorf("preload agreements: %w", err)
		}
		for _, a := range as {
			pre.agreementRows[a.AgreementID] = a
		}
	}
	p.pre = pre
	return nil
}

// storedLicense is LoadLicense, from the preloaded rows when it can.
func (p *projector) storedLicense(ctx context.Context, id string) (marketplace.License, bool, error) {
	if p.pre != nil && p.pre.licenseRows != nil {
		if _, ok := p.pre.licenses[id]; ok {
			l, found := p.pre.licenseRows[id]
			return l, found, nil
		}
	}
	return LoadLicense(ctx, p.tx, id)
}

// foldedAgreement is loadAgreement, from the preloaded rows when it can.
func (p *projector) foldedAgreement(ctx context.Context, id string) (marketplace.Agreement, bool, error) {
	if p.pre != nil && p.pre.asked[id] {
		a, found := p.pre.agreementRows[id]
		return a, found, nil
	}
	return loadAgreement(ctx, p.tx, id)
}

// scanFacts decodes what a preload query returns (key, then the inbox row's
// id, kind, agreement_id, status and fact) and hands each row to add, with
// its fact when it is a ledger or subscription fact (else nil), as
// projector.facts reads them.
func (p *projector) scanFacts(ctx context.Context, query string, add func(key string, r inboxRow, f *marketplace.Fact), args ...any) error {
	rows, err := p.tx.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("preload facts: %w", err)
	}
	defer rows.Close()
	// The fact is decoded before the next row: one buffer holds each in turn.
	var s sql.RawBytes
	for rows.Next() {
		var key string
		var r inboxRow
		if err := rows.Scan(&key, &r.id, &r.kind, &r.agreementID, &r.status, &s); err != nil {
			return err
		}
		var f marketplace.Fact
		if err := json.Unmarshal(s, &f); err != nil {
			return fmt.Errorf("decode stored fact: %w", err)
		}
		if marketplace.IsLedgerKind(f.Kind) || marketplace.IsSubscriptionKind(f.Kind) {
			add(key, r, &f)
		} else {
			add(key, r, nil)
		}
	}
	return rows.Err()
}

// agreementFacts are the facts agreement id is folded from: preloaded, or read.
func (p *projector) agreementFacts(ctx context.Context, id string) ([]marketplace.Fact, []inboxRow, error) {
	if p.pre != nil {
		if fs, ok := p.pre.agreements[id]; ok {
			return slices.Clone(fs), p.pre.rows[id], nil
		}
	}
	return p.facts(ctx, `agreement_id = ? OR previous_agreement_id = ?`, id, id)
}

// licenseFacts are the facts license id is folded from: preloaded, or read.
func (p *projector) licenseFacts(ctx context.Context, id string) ([]marketplace.Fact, []inboxRow, error) {
	if p.pre != nil {
		if fs, ok := p.pre.licenses[id]; ok {
			return slices.Clone(fs), p.pre.rows[id], nil
		}
	}
	return p.facts(ctx, `license_id = ?`, id)
}

// forget drops preloaded facts of agreement id: the fold stored a new fact of it.
func (p *projector) forget(id string) {
	if p.pre != nil {
		delete(p.pre.agreements, id)
	}
}

// flushPreloaded is flush for a replay: the dirty licenses in the same
// order, a chunk at a time with their facts preloaded.
func (p *projector) flushPreloaded(ctx context.Context) error {
	ids := make([]string, 0, len(p.dirty))
	for id := range p.dirty {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for chunk := range slices.Chunk(ids, replayChunk) {
		if err := p.preloadLicenses(ctx, chunk); err != nil {
			return err
		}
		for _, id := range chunk {
			if err := p.license(ctx, id); err != nil {
				return err
			}
		}
	}
	p.pre = nil
	clear(p.dirty)
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
