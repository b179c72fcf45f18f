// Package inbox is where every marketplace message lands first, whichever door it
// came through (EventBridge over HTTP or SQS, legacy SNS, Concord's own enrichment),
// and where it is folded into the ledger of buyers, agreements, licenses and legacy
// subscriptions. The ledger is a projection of the inbox: duplicates are dropped on
// the event id and on detail.requestId, and each affected agreement or license is
// re-folded from all of its facts, so delivery order never matters and a replay
// ends in the same state.
package inbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Doors through which events arrive.
const (
	DoorHTTP       = "http"
	DoorSQS        = "sqs"
	DoorSNS        = "sns"
	DoorEnrichment = "enrichment"
)

// Inbox statuses.
const (
	StatusApplied  = "applied"  // folded into the ledger
	StatusDeferred = "deferred" // waits for what it refers to
	StatusStored   = "stored"   // informational: kept, no ledger effect
	StatusFlagged  = "flagged"  // unknown detail-type: kept for an operator
	StatusHeld     = "held"     // dated too far ahead: kept, applied when its time is near
	// StatusQueued is an answer, not a stored status: the event is stored
	// (with one of the statuses above) and queued for the folder (Accept).
	StatusQueued = "queued"
)

// Job kinds the ledger enqueues.
const (
	JobEnrichAgreement = "agreement.enrich"
	JobRefreshLicense  = "license.refresh"
	JobReleaseEvent    = "event.release"
)

// MaxEventSkew is how far ahead of Concord's clock an event may be dated and
// still be applied at once. An event dated later (a skewed or forged clock,
// say 9999-12-31) would otherwise win every "latest event" rule of the folds
// and make the real events after it look stale; it is held in the inbox
// instead, with status held, and applied when its time is this near.
const MaxEventSkew = 5 * time.Minute

// EnrichDelay is how long a License or Ended event for an unknown agreement waits
// before Concord asks the Agreement API about it: usually the Created event is just
// late, and an agreement that predates Concord is learnt this way.
const EnrichDelay = 5 * time.Minute

// Ledger applies events to the database.
type Ledger struct {
	DB     *store.DB
	Now    func() time.Time
	Logger *slog.Logger
	// OnApplied, when set, is called after each commit with the ids of the
	// licenses whose state the commit recomputed (entitlements, webhooks, metering).
	OnApplied func(licenseIDs []string)
	// LicenseHooks run inside the transaction that folds a license, after its
	// row is written, so what they enqueue (webhooks, entitlement refreshes,
	// tenant links) commits or rolls back with the ledger.
	LicenseHooks []LicenseHook
	// AgreementHooks run inside the transaction that folds an agreement,
	// after its row is written (offers learn they were accepted).
	AgreementHooks []AgreementHook
	// Lineage, when set, names the agreement an agreement follows when AWS's
	// events name none (a renewal by a new offer has intent NEW): it runs
	// after the AgreementHooks, and a non-empty answer is recorded as an
	// agreement_linked fact in the inbox, so replays keep the link.
	Lineage LineageHook
	// EventHooks run inside the transaction that stores a new event (not a
	// duplicate), before it is folded: offers learn of Offer Released and
	// Change Set events, which the ledger itself does not fold. For an
	// event a door accepted (Accept), that is the folder's transaction.
	EventHooks []EventHook
	// FoldLater makes Accept (the doors) answer once an event is stored
	// and queued, and leaves its fold to the folder (RunFolder, fold.go);
	// without it Accept is Ingest.
	FoldLater bool
	// Batch, above 1, is Ingest's group commit: events that arrive while
	// Batchers transactions are in flight wait and then share one
	// transaction, up to Batch of them, which stores them all and folds each
	// agreement and license they name once, with one commit. Each caller is
	// answered once that transaction commits; if it fails, its events are
	// ingested again one by one, so one event's failure stays its own. Zero
	// or one: a transaction per event.
	Batch, Batchers int

	batch batcher
	fold  folder
	// LifecycleHooks run inside the transaction that folds an agreement's
	// lifecycle (cancellation, refund and payment requests, Ending, Renewal
	// and Advisory events; see lifecycle.go).
	LifecycleHooks []LifecycleHook
}

// EventHook is told about every new event the inbox stores.
type EventHook func(ctx context.Context, tx *store.Tx, ev marketplace.Event, now time.Time) error

// AgreementHook is told about every agreement the ledger folds, as written.
// Hooks must be idempotent: a replay folds every agreement again.
type AgreementHook func(ctx context.Context, tx *store.Tx, a marketplace.Agreement, now time.Time) error

// LineageHook names the agreement a folded agreement follows, or "".
type LineageHook func(ctx context.Context, tx *store.Tx, a marketplace.Agreement) (previousID string, err error)

// LicenseHook is told about every license the ledger folds: before is the row
// as it was (nil for a new license), after the row as written. Hooks must be
// idempotent: a replay folds every license again.
type LicenseHook func(ctx context.Context, tx *store.Tx, before *marketplace.License, after marketplace.License, now time.Time) error

// Result says what Ingest did with one event.
type Result struct {
	EventID   string `json:"eventId"`
	Status    string `json:"status"`
	Duplicate bool   `json:"duplicate"`
}

// Ingest stores ev in the inbox and folds it into the ledger, committed when it
// returns without error. A duplicate (same id or same detail.requestId)
// changes nothing. With Batch above 1, events that arrive together share a
// transaction (see Batch).
func (l *Ledger) Ingest(ctx context.Context, door string, ev marketplace.Event) (Result, error) {
	if l.Batch > 1 {
		return l.ingestGrouped(ctx, door, ev)
	}
	return l.ingestOne(ctx, door, ev)
}

// ingestOne stores and folds one event in its own transaction.
func (l *Ledger) ingestOne(ctx context.Context, door string, ev marketplace.Event) (Result, error) {
	var res Result
	var touched []string
	err := l.DB.Write(ctx, func(tx *store.Tx) error {
		res, touched = Result{EventID: ev.ID}, nil
		now := l.Now()
		status, note := statusAt(ev.Kind, ev.Time, now)
		ins, err := insertEvent(ctx, tx, door, ev, status, note, now)
		if err != nil {
			return err
		}
		if !ins {
			res.Duplicate, res.Status = true, "duplicate"
			return nil
		}
		for _, h := range l.EventHooks {
			if err := h(ctx, tx, ev, now); err != nil {
				return err
			}
		}
		if status == StatusHeld {
			res.Status = StatusHeld
			return holdUntil(ctx, tx, now, ev.ID, ev.Time)
		}
		p := l.newProjector(tx, now)
		if err := p.apply(ctx, ev.Fact); err != nil {
			return err
		}
		touched = p.licenses
		if st, ok := p.eventStatus(ev.ID, ev.Kind); ok {
			res.Status = st
			return nil
		}
		return tx.QueryRow(ctx, `SELECT status FROM inbox_events WHERE id = ?`, ev.ID).Scan(&res.Status)
	})
	if err != nil {
		return Result{}, fmt.Errorf("ingest event %s: %w", ev.ID, err)
	}
	if l.OnApplied != nil && len(touched) > 0 {
		l.OnApplied(touched)
	}
	return res, nil
}

// statusAt is the status a new event starts with at now, and its note.
func statusAt(k marketplace.EventKind, at, now time.Time) (string, string) {
	status := initialStatus(k)
	switch {
	case status == StatusFlagged:
		return status, "unknown detail-type: stored, not applied"
	case status == StatusDeferred && at.After(now.Add(MaxEventSkew)):
		return StatusHeld, fmt.Sprintf("dated %s, more than %s ahead of this clock: held until then", at.UTC().Format(time.RFC3339), MaxEventSkew)
	}
	return status, ""
}

// ReleaseArgs names the held event a release job applies.
type ReleaseArgs struct {
	EventID string `json:"eventId"`
}

// holdUntil schedules the release of a held event for when its time is near.
func holdUntil(ctx context.Context, tx *store.Tx, now time.Time, id string, at time.Time) error {
	_, _, err := job.Enqueue(ctx, tx, now, JobReleaseEvent, ReleaseArgs{EventID: id}, job.Options{RunAt: at.Add(-MaxEventSkew), UniqueKey: "release:" + id})
	return err
}

// Release applies a held event whose time has come (the release job runs
// it); one still too far ahead is held again, and one no longer held is left
// alone, so a release is safe to run twice.
func (l *Ledger) Release(ctx context.Context, id string) error {
	var touched []string
	err := l.DB.Write(ctx, func(tx *store.Tx) error {
		touched = nil
		now := l.Now()
		var status, fact string
		var at int64
		err := tx.QueryRow(ctx, `SELECT status, event_time, fact FROM inbox_events WHERE id = ?`, id).Scan(&status, &at, &fact)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && status != StatusHeld) {
			return nil
		}
		if err != nil {
			return err
		}
		if t := store.FromMillis(at); t.After(now.Add(MaxEventSkew)) {
			return holdUntil(ctx, tx, now, id, t)
		}
		var f marketplace.Fact
		if err := json.Unmarshal([]byte(fact), &f); err != nil {
			return fmt.Errorf("decode stored fact: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE inbox_events SET status = 'deferred', note = NULL WHERE id = ?`, id); err != nil {
			return err
		}
		p := l.newProjector(tx, now)
		if err := p.apply(ctx, f); err != nil {
			return err
		}
		touched = p.licenses
		return nil
	})
	if err != nil {
		return fmt.Errorf("release event %s: %w", id, err)
	}
	if l.OnApplied != nil && len(touched) > 0 {
		l.OnApplied(touched)
	}
	return nil
}

func initialStatus(k marketplace.EventKind) string {
	switch {
	case k == marketplace.KindUnknown:
		return StatusFlagged
	case k == marketplace.KindDisbursementPaused:
		return StatusStored // about the seller's bank account: no fold, an alert (EventHooks)
	case marketplace.IsLedgerKind(k), marketplace.IsSubscriptionKind(k), marketplace.IsLifecycleKind(k):
		return StatusDeferred
	}
	return StatusStored
}

func insertEvent(ctx context.Context, tx *store.Tx, door string, ev marketplace.Event, status, note string, now time.Time) (bool, error) {
	args, err := eventArgs(door, ev, status, note, now)
	if err != nil {
		return false, err
	}
	res, err := tx.Exec(ctx, insertEventSQL, args...)
	if err != nil {
		return false, fmt.Errorf("insert inbox event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// insertEventSQL stores an event unless its id or detail.requestId is
// stored already (eventArgs are its arguments).
const insertEventSQL = `INSERT INTO inbox_events (id, request_id, door, source, detail_type, kind, event_time, received_at,
	agreement_id, previous_agreement_id, license_id, customer_key, fact, body, status, note)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`

// eventArgs are insertEventSQL's arguments for ev.
func eventArgs(door string, ev marketplace.Event, status, note string, now time.Time) ([]any, error) {
	fact, err := json.Marshal(ev.Fact)
	if err != nil {
		return nil, fmt.Errorf("encode fact: %w", err)
	}
	f := ev.Fact
	customerKey := ""
	if marketplace.IsSubscriptionKind(ev.Kind) {
		customerKey = f.CustomerIdentifier + "|" + f.ProductCode
	}
	licenseID := ""
	if f.LicenseArn != "" {
		licenseID = marketplace.LicenseID(f.LicenseArn)
	}
	return []any{ev.ID, store.NullString(ev.RequestID), door, ev.Source, ev.DetailType, string(ev.Kind), store.Millis(ev.Time), store.Millis(now),
		store.NullString(f.AgreementID), store.NullString(f.PreviousAgreementID), store.NullString(licenseID), store.NullString(customerKey),
		string(fact), string(ev.Body), status, store.NullString(note)}, nil
}

// projector re-folds what one transaction touches. Agreements are folded first;
// the licenses they touch are only marked dirty and folded once at the end, since a
// license's state depends on agreements that may be folded later in the same
// transaction.
//
// Concurrency: ledger transactions run SERIALIZABLE (store.DB.Write). They
// ran READ COMMITTED under these locks for a while (issue 19) and went back
// when the crash test (CONCORD_CHAOS_SEED=1796675146990942526) left an
// agreement's auto-renewal stale; that turned out not to depend on isolation
// (it failed on SQLite too): FoldAgreement let an Ended event hide AWS's terms
// read after two same-second amendments, and an enrichment that outlived its
// lease could store an older answer over a newer one. The fold of an agreement, a license or a legacy
// subscription first takes the advisory lock of its key (store.Tx.Lock), then
// reads its facts. Every transaction that stores a fact for a key folds that
// key afterwards, holding its lock until it commits, so the last fold of a key
// sees every fact committed before it, whichever transaction stored them: the
// same end state as one transaction at a time. The one read of another key's
// row (a predecessor's lineage root) takes a row lock (FOR SHARE), so a fold of
// the predecessor that changes the root waits for this transaction and then
// finds this successor when it looks for agreements following it. Upserts of
// buyers and products are INSERT … ON CONFLICT, correct at any isolation level;
// job enqueues are unique by key (job.Enqueue); hooks use their own guards
// (conditional updates, unique keys), and registration fences its links
// against folds (store.DB.WriteFenced).
type projector struct {
	tx             *store.Tx
	now            time.Time
	hooks          []LicenseHook
	agreementHooks []AgreementHook
	lineage        LineageHook
	lifecycleHooks []LifecycleHook
	// enriching is the agreement an enrichment job is folding: it must not
	// queue its own enrichment again (the job would run twice).
	enriching     string
	seenAgreement map[string]bool
	dirty         map[string]bool
	licenses      []string
	// status holds the inbox statuses of the rows the folds read, as their
	// status updates leave them (eventStatus).
	status map[string]string
	// upserted are the buyers and products (id and code) this transaction
	// has recorded already: folds of a buyer's agreements and licenses
	// name the same ones again.
	upserted map[string]bool
	// replay and pre are Replay's (replay.go): replay skips rewriting
	// rows a fold leaves as they are; pre holds preloaded facts.
	replay bool
	pre    *preloaded
}

// buyer records a buyer once per transaction (upsertBuyer).
func (p *projector) buyer(ctx context.Context, account string, now int64) error {
	if k := "buyer:" + account; !p.upserted[k] {
		if err := upsertBuyer(ctx, p.tx, account, now); err != nil {
			return err
		}
		p.upserted[k] = true
	}
	return nil
}

// product records a product once per transaction (upsertProduct). A product
// the ledger knows already, with its code when the fold has one, needs no
// write: one read tells, and most folds name a known product.
func (p *projector) product(ctx context.Context, productID, code string, now int64) error {
	k := "product:" + productID + "\x00" + code
	if productID == "" || p.upserted[k] || (code == "" && p.upserted["product:"+productID+"\x00"]) {
		return nil
	}
	var stored sql.NullString
	err := p.tx.QueryRow(ctx, `SELECT product_code FROM products WHERE product_id = ?`, productID).Scan(&stored)
	switch {
	case err == nil && (code == "" || stored.Valid):
		// Known, and a code is either not learnt here or set already
		// (upsertProduct never replaces one).
	case err == nil || errors.Is(err, sql.ErrNoRows):
		if err := upsertProduct(ctx, p.tx, productID, code, "", now); err != nil {
			return err
		}
	default:
		return fmt.Errorf("read product %s: %w", productID, err)
	}
	p.upserted[k] = true
	p.upserted["product:"+productID+"\x00"] = true
	if stored.Valid {
		p.upserted["product:"+productID+"\x00"+stored.String] = true
	}
	return nil
}

func (l *Ledger) newProjector(tx *store.Tx, now time.Time) *projector {
	return &projector{tx: tx, now: now, hooks: l.LicenseHooks, agreementHooks: l.AgreementHooks, lineage: l.Lineage,
		lifecycleHooks: l.LifecycleHooks, seenAgreement: map[string]bool{}, dirty: map[string]bool{}, upserted: map[string]bool{},
		status: map[string]string{}}
}

// flush folds every dirty license, in a stable order.
func (p *projector) flush(ctx context.Context) error {
	ids := make([]string, 0, len(p.dirty))
	for id := range p.dirty {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := p.license(ctx, id); err != nil {
			return err
		}
	}
	clear(p.dirty)
	return nil
}

// lockKeys are the advisory locks of the keys fact f names.
func lockKeys(f marketplace.Fact) []string {
	if !marketplace.IsLedgerKind(f.Kind) {
		return nil
	}
	var keys []string
	for _, id := range []string{f.PreviousAgreementID, f.AgreementID} {
		if id != "" {
			keys = append(keys, agreementLock(id))
		}
	}
	if f.LicenseArn != "" {
		keys = append(keys, licenseLock(marketplace.LicenseID(f.LicenseArn)))
	}
	return keys
}

// apply folds what fact f names, then the licenses that touched.
func (p *projector) apply(ctx context.Context, f marketplace.Fact) error {
	// The keys the fact names, in one round trip and one order, so two
	// events of one agreement and license never wait for each other in a
	// cycle.
	if err := p.tx.Lock(ctx, lockKeys(f)...); err != nil {
		return err
	}
	if err := p.fold(ctx, f); err != nil {
		return err
	}
	return p.flush(ctx)
}

// fold folds the agreements or the subscription fact f names, and marks its
// license dirty; flush folds the licenses.
func (p *projector) fold(ctx context.Context, f marketplace.Fact) error {
	switch {
	case marketplace.IsLedgerKind(f.Kind):
		for _, id := range []string{f.PreviousAgreementID, f.AgreementID} {
			if id != "" {
				if err := p.agreement(ctx, id); err != nil {
					return err
				}
			}
		}
		if f.Kind == marketplace.KindAgreementAmended && f.AgreementID != "" {
			// The agreement changed (in place or by a successor): ask the
			// Agreement API for its terms again. The unique key folds this
			// into an enrichment still pending.
			if _, _, err := job.Enqueue(ctx, p.tx, p.now, JobEnrichAgreement, EnrichArgs{AgreementID: f.AgreementID},
				job.Options{UniqueKey: "enrich:" + f.AgreementID}); err != nil {
				return err
			}
		}
		if f.LicenseArn != "" {
			p.dirty[marketplace.LicenseID(f.LicenseArn)] = true
		}
		return nil
	case marketplace.IsSubscriptionKind(f.Kind):
		return p.subscription(ctx, f.CustomerIdentifier+"|"+f.ProductCode)
	case marketplace.IsLifecycleKind(f.Kind):
		return p.lifecycle(ctx, f.AgreementID)
	}
	return nil
}

// inboxRow is what a fold's status updates match on, for one inbox row it read.
type inboxRow struct {
	id, kind, agreementID, status string
}

// restatus reports whether a status update to status, matching the rows that
// match does and are not in that status yet, would change any of rows (the
// fold runs it only then), and notes the statuses it leaves.
func (p *projector) restatus(rows []inboxRow, status string, match func(r inboxRow) bool) bool {
	changed := false
	for _, r := range rows {
		if r.status != status && match(r) {
			changed = true
			p.status[r.id] = status
		}
	}
	return changed
}

// eventStatus is the status the folds of this transaction left event id in,
// if they read it: the status Ingest answers with, without reading it back.
// Only ledger events qualify: the lifecycle and subscription folds update
// statuses this does not follow.
func (p *projector) eventStatus(id string, kind marketplace.EventKind) (string, bool) {
	if !marketplace.IsLedgerKind(kind) {
		return "", false
	}
	st, ok := p.status[id]
	return st, ok
}

// facts reads the facts of the inbox rows that match where (held ones left
// out), and every such row's kind, agreement and status, which tell the fold
// whether its status updates would change anything (in the same transaction,
// under the key's lock, so the rows are the ones an update would match).
func (p *projector) facts(ctx context.Context, where string, args ...any) ([]marketplace.Fact, []inboxRow, error) {
	rows, err := p.tx.Query(ctx, `SELECT id, kind, COALESCE(agreement_id, ''), status, fact FROM inbox_events WHERE status <> 'held' AND (`+where+`)`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("load facts: %w", err)
	}
	defer rows.Close()
	var out []marketplace.Fact
	var meta []inboxRow
	for rows.Next() {
		var r inboxRow
		var s string
		if err := rows.Scan(&r.id, &r.kind, &r.agreementID, &r.status, &s); err != nil {
			return nil, nil, err
		}
		meta = append(meta, r)
		p.status[r.id] = r.status
		var f marketplace.Fact
		if err := json.Unmarshal([]byte(s), &f); err != nil {
			return nil, nil, fmt.Errorf("decode stored fact: %w", err)
		}
		if marketplace.IsLedgerKind(f.Kind) || marketplace.IsSubscriptionKind(f.Kind) {
			out = append(out, f)
		}
	}
	return out, meta, rows.Err()
}

// agreement re-folds agreement id, then the licenses hanging off it and the
// agreements that follow it in its lineage.
func (p *projector) agreement(ctx context.Context, id string) error {
	if p.seenAgreement[id] {
		return nil
	}
	p.seenAgreement[id] = true
	if err := p.tx.Lock(ctx, agreementLock(id)); err != nil {
		return err
	}
	facts, rows, err := p.agreementFacts(ctx, id)
	if err != nil {
		return err
	}
	a, ok := marketplace.FoldAgreement(id, facts)
	licenseIDs := map[string]bool{}
	for _, f := range facts {
		if f.AgreementID == id && f.LicenseArn != "" {
			licenseIDs[marketplace.LicenseID(f.LicenseArn)] = true
		}
	}
	if !ok {
		if p.restatus(rows, StatusDeferred, func(r inboxRow) bool {
			return r.agreementID == id && slices.Contains(waitingKinds, r.kind)
		}) {
			if _, err := p.tx.Exec(ctx, `UPDATE inbox_events SET status = 'deferred', note = ? WHERE agreement_id = ? AND status NOT IN ('deferred', 'held')
			AND kind IN ('agreement_ended', 'license_updated', 'license_deprovisioned')`, "waiting for agreement "+id, id); err != nil {
				return err
			}
		}
		if len(facts) > 0 {
			// Learn about the agreement from the Agreement API if its Created event
			// does not turn up (for example, it predates Concord).
			if _, _, err := job.Enqueue(ctx, p.tx, p.now, JobEnrichAgreement, EnrichArgs{AgreementID: id},
				job.Options{UniqueKey: "enrich:" + id, RunAt: p.now.Add(EnrichDelay)}); err != nil {
				return err
			}
		}
		for lid := range licenseIDs {
			p.dirty[lid] = true
		}
		return nil
	}
	// AWS's initialAgreementId naming the agreement itself says only that
	// AWS knows no predecessor; one Concord linked (a renewal by new offer)
	// still puts it in its predecessor's chain, whichever fact came first.
	if a.InitialAgreementID == "" || (a.InitialAgreementID == id && a.PreviousAgreementID != "") {
		a.InitialAgreementID = id
		if a.PreviousAgreementID != "" {
			a.InitialAgreementID = a.PreviousAgreementID
			var root string
			q := `SELECT initial_agreement_id FROM agreements WHERE agreement_id = ?`
			if p.tx.Dialect() == store.Postgres {
				q += ` FOR SHARE` // see projector: a root change waits for this fold
			}
			err := p.tx.QueryRow(ctx, q, a.PreviousAgreementID).Scan(&root)
			if err == nil && root != "" {
				a.InitialAgreementID = root
			} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
	}
	stored, existed, err := p.storedAgreement(ctx, id)
	if err != nil {
		return err
	}
	now := store.Millis(p.now)
	// A row that already says what the facts say is not written again (its
	// updated_at stays when it last changed). The hooks below run all the
	// same, but in a replay, which finds the row as its hooks left it.
	unchanged := existed && rowOf(a) == stored
	if !unchanged {
		if _, err := p.tx.Exec(ctx, `INSERT INTO agreements (agreement_id, initial_agreement_id, previous_agreement_id, next_agreement_id, intent, status,
		acceptance_time, start_time, end_time, ended_at, acceptor_account_id, proposer_account_id, manufacturer_account_id,
		resale_authorization_id, offer_id, product_id, auto_renewal, last_event_time, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (agreement_id) DO UPDATE SET initial_agreement_id = excluded.initial_agreement_id,
		previous_agreement_id = excluded.previous_agreement_id, next_agreement_id = excluded.next_agreement_id,
		intent = excluded.intent, status = excluded.status, acceptance_time = excluded.acceptance_time,
		start_time = excluded.start_time, end_time = excluded.end_time, ended_at = excluded.ended_at,
		acceptor_account_id = excluded.acceptor_account_id, proposer_account_id = excluded.proposer_account_id,
		manufacturer_account_id = excluded.manufacturer_account_id, resale_authorization_id = excluded.resale_authorization_id,
		offer_id = excluded.offer_id, product_id = excluded.product_id, auto_renewal = excluded.auto_renewal,
		last_event_time = excluded.last_event_time, updated_at = excluded.updated_at`,
			a.AgreementID, a.InitialAgreementID, store.NullString(a.PreviousAgreementID), store.NullString(a.NextAgreementID), a.Intent, a.Status,
			store.NullMillis(a.AcceptanceTime), store.NullMillis(a.StartTime), store.NullMillis(a.EndTime), store.NullMillis(a.EndedAt),
			a.AcceptorAccountID, a.ProposerAccountID, a.ManufacturerAccountID, a.ResaleAuthorizationID, a.OfferID, a.ProductID,
			nullBool(a.AutoRenewal), store.Millis(a.LastEventTime), now); err != nil {
			return fmt.Errorf("upsert agreement %s: %w", id, err)
		}
	}
	if p.restatus(rows, StatusApplied, func(r inboxRow) bool {
		return r.agreementID == id && slices.Contains(agreementKinds, r.kind)
	}) {
		if _, err := p.tx.Exec(ctx, `UPDATE inbox_events SET status = 'applied', note = NULL, applied_at = ? WHERE agreement_id = ? AND status NOT IN ('applied', 'held')
		AND kind IN ('agreement_created', 'agreement_amended', 'agreement_ended', 'agreement_described')`, now, id); err != nil {
			return err
		}
	}
	if err := p.buyer(ctx, a.AcceptorAccountID, now); err != nil {
		return err
	}
	for _, h := range p.agreementHooks {
		if unchanged && p.replay {
			break
		}
		if err := h(ctx, p.tx, a, p.now); err != nil {
			return fmt.Errorf("agreement hook for %s: %w", id, err)
		}
	}
	if err := p.product(ctx, a.ProductID, "", now); err != nil {
		return err
	}
	if !existed && id != p.enriching {
		// Once per agreement: a failed enrichment stays dead for an operator to
		// retry (POST /v1/jobs/{id}/retry) rather than being re-queued by every event.
		if _, _, err := job.Enqueue(ctx, p.tx, p.now, JobEnrichAgreement, EnrichArgs{AgreementID: id}, job.Options{UniqueKey: "enrich:" + id}); err != nil {
			return err
		}
	}
	// Licenses of this agreement, including those whose latest License event names
	// another agreement (the fold decides which agreement a license belongs to).
	if !p.replay { // a replay folds every license the inbox names
		held, err := store.QueryAll(ctx, p.tx, store.ScanString, `SELECT license_id FROM licenses WHERE agreement_id = ?`, id)
		if err != nil {
			return err
		}
		for _, lid := range held {
			licenseIDs[lid] = true
		}
	}
	for lid := range licenseIDs {
		p.dirty[lid] = true
	}
	// Agreements that follow this one inherit its lineage root.
	next, err := store.QueryAll(ctx, p.tx, store.ScanString, `SELECT agreement_id FROM agreements WHERE previous_agreement_id = ? AND initial_agreement_id <> ?`, id, a.InitialAgreementID)
	if err != nil {
		return err
	}
	for _, nid := range next {
		delete(p.seenAgreement, nid)
		if err := p.agreement(ctx, nid); err != nil {
			return err
		}
	}
	return p.link(ctx, a)
}

// link records that agreement a follows the agreement the Lineage hook
// names, when AWS's events name none, and folds both again.
func (p *projector) link(ctx context.Context, a marketplace.Agreement) error {
	if p.lineage == nil || a.PreviousAgreementID != "" {
		return nil
	}
	prev, err := p.lineage(ctx, p.tx, a)
	if err != nil || prev == "" || prev == a.AgreementID {
		return err
	}
	f := marketplace.Fact{EventID: "linked:" + a.AgreementID, Kind: marketplace.KindAgreementLinked, Time: p.now,
		AgreementID: a.AgreementID, PreviousAgreementID: prev}
	fact, err := json.Marshal(f)
	if err != nil {
		return err
	}
	ms := store.Millis(p.now)
	if _, err := p.tx.Exec(ctx, `INSERT INTO inbox_events (id, door, source, detail_type, kind, event_time, received_at, agreement_id,
		previous_agreement_id, fact, body, status, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		f.EventID, DoorEnrichment, marketplace.SourceConcord, "Agreement Linked", string(f.Kind), ms, ms, a.AgreementID, prev,
		string(fact), string(fact), StatusApplied, ms); err != nil {
		return fmt.Errorf("link agreement %s to %s: %w", a.AgreementID, prev, err)
	}
	for _, id := range []string{a.AgreementID, prev} {
		delete(p.seenAgreement, id)
		p.forget(id)
		if err := p.agreement(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// agreementKinds are the kinds an agreement's fold marks applied, and
// waitingKinds those it marks deferred while the agreement is unknown (the
// status updates of projector.agreement, which run only when a row they
// match is not in that status yet).
var (
	agreementKinds = []string{string(marketplace.KindAgreementCreated), string(marketplace.KindAgreementAmended),
		string(marketplace.KindAgreementEnded), string(marketplace.KindAgreementDescribed)}
	waitingKinds = []string{string(marketplace.KindAgreementEnded), string(marketplace.KindLicenseUpdated),
		string(marketplace.KindLicenseDeprovisioned)}
)

// agreementRow is what the agreement fold writes of a row, as it is stored
// (times in epoch milliseconds, "" for NULL text), so the fold can tell that
// a row says already what the facts say.
type agreementRow struct {
	initial, previous, next, intent, status         string
	acceptance, start, end, ended                   sql.NullInt64
	acceptor, proposer, manufacturer, resale, offer string
	product                                         string
	auto                                            sql.NullBool
	lastEvent                                       int64
}

// rowOf is agreement a as the fold would store it.
func rowOf(a marketplace.Agreement) agreementRow {
	return agreementRow{initial: a.InitialAgreementID, previous: a.PreviousAgreementID, next: a.NextAgreementID, intent: a.Intent,
		status: a.Status, acceptance: store.NullMillis(a.AcceptanceTime), start: store.NullMillis(a.StartTime),
		end: store.NullMillis(a.EndTime), ended: store.NullMillis(a.EndedAt), acceptor: a.AcceptorAccountID,
		proposer: a.ProposerAccountID, manufacturer: a.ManufacturerAccountID, resale: a.ResaleAuthorizationID, offer: a.OfferID,
		product: a.ProductID, auto: nullBool(a.AutoRenewal), lastEvent: store.Millis(a.LastEventTime)}
}

// loadAgreementRow reads what the fold wrote of agreement id; found is false
// when there is no row.
func loadAgreementRow(ctx context.Context, tx *store.Tx, id string) (r agreementRow, found bool, err error) {
	var prev, next sql.NullString
	err = tx.QueryRow(ctx, `SELECT initial_agreement_id, previous_agreement_id, next_agreement_id, intent, status, acceptance_time, start_time,
		end_time, ended_at, acceptor_account_id, proposer_account_id, manufacturer_account_id, resale_authorization_id, offer_id, product_id,
		auto_renewal, last_event_time FROM agreements WHERE agreement_id = ?`, id).
		Scan(&r.initial, &prev, &next, &r.intent, &r.status, &r.acceptance, &r.start, &r.end, &r.ended, &r.acceptor, &r.proposer,
			&r.manufacturer, &r.resale, &r.offer, &r.product, &r.auto, &r.lastEvent)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return agreementRow{}, false, nil
	case err != nil:
		return agreementRow{}, false, fmt.Errorf("load agreement %s: %w", id, err)
	}
	r.previous, r.next = prev.String, next.String
	return r, true, nil
}

// sameLicense reports whether license row a says what b says, when it was
// written aside.
func sameLicense(a, b marketplace.License) bool {
	return a.LicenseID == b.LicenseID && a.LicenseArn == b.LicenseArn && a.AgreementID == b.AgreementID && a.ProductID == b.ProductID &&
		a.ProductCode == b.ProductCode && a.AccountID == b.AccountID && a.CustomerIdentifier == b.CustomerIdentifier && a.State == b.State &&
		store.NullMillis(a.ActivatedAt) == store.NullMillis(b.ActivatedAt) && store.NullMillis(a.StartsAt) == store.NullMillis(b.StartsAt) &&
		store.NullMillis(a.EndingAt) == store.NullMillis(b.EndingAt) && store.NullMillis(a.DeprovisionedAt) == store.NullMillis(b.DeprovisionedAt)
}

// loadAgreement reads the folded state the license fold needs.
func loadAgreement(ctx context.Context, tx *store.Tx, id string) (marketplace.Agreement, bool, error) {
	a, err := scanFoldedAgreement(tx.QueryRow(ctx, `SELECT `+foldedAgreementColumns+` FROM agreements WHERE agreement_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	} else if err != nil {
		return a, false, fmt.Errorf("load agreement %s: %w", id, err)
	}
	return a, true, nil
}

// foldedAgreementColumns are the columns loadAgreement reads.
const foldedAgreementColumns = `agreement_id, status, start_time, ended_at, acceptor_account_id, product_id`

func scanFoldedAgreement(r store.Scanner) (marketplace.Agreement, error) {
	var a marketplace.Agreement
	var start, ended sql.NullInt64
	err := r.Scan(&a.AgreementID, &a.Status, &start, &ended, &a.AcceptorAccountID, &a.ProductID)
	a.StartTime, a.EndedAt = store.FromNullMillis(start), store.FromNullMillis(ended)
	return a, err
}

func (p *projector) license(ctx context.Context, licenseID string) error {
	if err := p.tx.Lock(ctx, licenseLock(licenseID)); err != nil {
		return err
	}
	facts, rows, err := p.licenseFacts(ctx, licenseID)
	if err != nil {
		return err
	}
	var loadErr error
	l, ok := marketplace.FoldLicense(facts, func(id string) (marketplace.Agreement, bool) {
		a, found, err := p.foldedAgreement(ctx, id)
		if err != nil {
			loadErr = err
		}
		return a, found
	}, p.now)
	if loadErr != nil {
		return loadErr
	}
	if !ok {
		if !p.restatus(rows, StatusDeferred, func(inboxRow) bool { return true }) {
			return nil
		}
		_, err := p.tx.Exec(ctx, `UPDATE inbox_events SET status = 'deferred', note = 'waiting for the agreement of this license' WHERE license_id = ? AND status NOT IN ('deferred', 'held')`, licenseID)
		return err
	}
	var before *marketplace.License
	old, found, err := p.storedLicense(ctx, licenseID)
	if err != nil {
		return err
	}
	if found {
		before = &old
	}
	now := store.Millis(p.now)
	unchanged := before != nil && sameLicense(*before, l)
	if unchanged {
		// Not written again: updated_at says when the row last changed. The
		// hooks run all the same, but in a replay (see agreement).
		l.UpdatedAt = before.UpdatedAt
	} else if _, err := p.tx.Exec(ctx, `INSERT INTO licenses (license_id, license_arn, agreement_id, product_id, product_code, account_id, customer_identifier, state,
		activated_at, starts_at, ending_at, deprovisioned_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (license_id) DO UPDATE SET license_arn = excluded.license_arn, agreement_id = excluded.agreement_id,
		product_id = excluded.product_id, product_code = excluded.product_code, account_id = excluded.account_id,
		customer_identifier = excluded.customer_identifier, state = excluded.state,
		activated_at = excluded.activated_at, starts_at = excluded.starts_at, ending_at = excluded.ending_at,
		deprovisioned_at = excluded.deprovisioned_at, updated_at = excluded.updated_at`,
		l.LicenseID, l.LicenseArn, l.AgreementID, l.ProductID, l.ProductCode, l.AccountID, l.CustomerIdentifier, l.State,
		store.NullMillis(l.ActivatedAt), store.NullMillis(l.StartsAt), store.NullMillis(l.EndingAt), store.NullMillis(l.DeprovisionedAt), now); err != nil {
		return fmt.Errorf("upsert license %s: %w", licenseID, err)
	} else {
		l.UpdatedAt = store.FromMillis(now)
	}
	for _, h := range p.hooks {
		if unchanged && p.replay {
			break
		}
		if err := h(ctx, p.tx, before, l, p.now); err != nil {
			return fmt.Errorf("license %s: %w", licenseID, err)
		}
	}
	if p.restatus(rows, StatusApplied, func(inboxRow) bool { return true }) {
		if _, err := p.tx.Exec(ctx, `UPDATE inbox_events SET status = 'applied', note = NULL, applied_at = ? WHERE license_id = ? AND status NOT IN ('applied', 'held')`, now, licenseID); err != nil {
			return err
		}
	}
	if err := p.buyer(ctx, l.AccountID, now); err != nil {
		return err
	}
	if err := p.product(ctx, l.ProductID, l.ProductCode, now); err != nil {
		return err
	}
	if l.State == marketplace.LicensePending && l.StartsAt != nil {
		// Future-dated: fold again when the agreement starts.
		if _, _, err := job.Enqueue(ctx, p.tx, p.now, JobRefreshLicense, RefreshArgs{LicenseID: l.LicenseID},
			job.Options{UniqueKey: fmt.Sprintf("refresh:%s:%d", l.LicenseID, l.StartsAt.UnixMilli()), RunAt: *l.StartsAt}); err != nil {
			return err
		}
	}
	p.licenses = append(p.licenses, licenseID)
	return nil
}

func (p *projector) subscription(ctx context.Context, key string) error {
	if err := p.tx.Lock(ctx, "subscription:"+key); err != nil {
		return err
	}
	facts, rows, err := p.facts(ctx, `customer_key = ?`, key)
	if err != nil {
		return err
	}
	s, ok := marketplace.FoldSubscription(facts)
	if !ok {
		return nil
	}
	now := store.Millis(p.now)
	if _, err := p.tx.Exec(ctx, `INSERT INTO subscriptions (customer_key, customer_identifier, product_code, state, offer_id, free_trial,
		entitlement_updated_at, last_event_time, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (customer_key) DO UPDATE SET state = excluded.state, offer_id = excluded.offer_id, free_trial = excluded.free_trial,
		entitlement_updated_at = excluded.entitlement_updated_at, last_event_time = excluded.last_event_time, updated_at = excluded.updated_at`,
		key, s.CustomerIdentifier, s.ProductCode, s.State, s.OfferID, s.FreeTrial, store.NullMillis(s.EntitlementUpdatedAt),
		store.Millis(s.LastEventTime), now); err != nil {
		return fmt.Errorf("upsert subscription: %w", err)
	}
	if !p.restatus(rows, StatusApplied, func(inboxRow) bool { return true }) {
		return nil
	}
	_, err = p.tx.Exec(ctx, `UPDATE inbox_events SET status = 'applied', applied_at = ? WHERE customer_key = ? AND status NOT IN ('applied', 'held')`, now, key)
	return err
}

// agreementLock and licenseLock name the advisory locks of the ledger's keys.
func agreementLock(id string) string { return "agreement:" + id }
func licenseLock(id string) string   { return "license:" + id }

// ledgerTables are the tables a fold writes, which a fold too wide for key
// locks (a replay) takes whole.
var ledgerTables = []string{"inbox_events", "agreements", "licenses", "subscriptions"}

func upsertBuyer(ctx context.Context, tx *store.Tx, account string, now int64) error {
	if account == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO buyers (account_id, first_seen_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (account_id) DO NOTHING`, account, now, now)
	if err != nil {
		return fmt.Errorf("upsert buyer: %w", err)
	}
	return nil
}

// upsertProduct records a product id (and code) learnt from events without
// touching what the vendor configured.
func upsertProduct(ctx context.Context, tx *store.Tx, productID, code, title string, now int64) error {
	if productID == "" {
		return nil
	}
	res, err := tx.Exec(ctx, `INSERT INTO products (product_id, product_code, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (product_id) DO NOTHING`, productID, store.NullString(code), title, now, now)
	if err != nil {
		return fmt.Errorf("upsert product: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		// Concord just met the product: its title and dimensions come from
		// the Catalog API.
		if err := syncLater(ctx, tx, productID, store.FromMillis(now)); err != nil {
			return err
		}
	}
	if code != "" {
		if _, err := tx.Exec(ctx, `UPDATE products SET product_code = ?, updated_at = ? WHERE product_id = ? AND product_code IS NULL
			AND NOT EXISTS (SELECT 1 FROM products p2 WHERE p2.product_code = ?)`, code, now, productID, code); err != nil {
			return fmt.Errorf("set product code: %w", err)
		}
	}
	return nil
}

func nullBool(b *bool) sql.NullBool {
	if b == nil {
		return sql.NullBool{}
	}
	return sql.NullBool{Bool: *b, Valid: true}
}

// EnrichArgs are the arguments of an agreement.enrich job.
type EnrichArgs struct {
	AgreementID string `json:"agreementId"`
}

// RefreshArgs are the arguments of a license.refresh job.
type RefreshArgs struct {
	LicenseID string `json:"licenseId"`
}

// RefreshLicense folds a license again (a future-dated agreement has started).
func (l *Ledger) RefreshLicense(ctx context.Context, licenseID string) error {
	var touched []string
	err := l.DB.Write(ctx, func(tx *store.Tx) error {
		p := l.newProjector(tx, l.Now())
		if err := p.license(ctx, licenseID); err != nil {
			return err
		}
		touched = p.licenses
		return nil
	})
	if err == nil && l.OnApplied != nil && len(touched) > 0 {
		l.OnApplied(touched)
	}
	return err
}
