package inbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// LifecycleHook is told about an agreement's lifecycle each time the ledger
// folds it (cancellation requests, billing adjustments, payment requests and
// the outlook of the Ending, Renewal and Advisory events), as written, inside
// the folding transaction. Hooks must be idempotent: a replay and every later
// lifecycle fact fold the whole lifecycle again, so notifications are keyed
// by the state they announce.
type LifecycleHook func(ctx context.Context, tx *store.Tx, lc marketplace.Lifecycle, agreementID string, now time.Time) error

// lifecycleKinds is the SQL list of the kinds FoldLifecycle reads.
var lifecycleKinds = func() string {
	var ks []string
	for _, k := range []marketplace.EventKind{marketplace.KindCancellationRequest, marketplace.KindBillingAdjustment, marketplace.KindPaymentRequest,
		marketplace.KindAgreementEnding, marketplace.KindRenewalUpcoming, marketplace.KindRenewalTermsFinalized,
		marketplace.KindAdvisoryIssued, marketplace.KindAdvisoryResolved} {
		ks = append(ks, "'"+string(k)+"'")
	}
	return strings.Join(ks, ", ")
}()

// lifecycle re-folds agreement id's lifecycle from every lifecycle fact the
// inbox holds for it and rewrites its rows.
func (p *projector) lifecycle(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	// The rows are rewritten from the facts this transaction sees: on
	// PostgreSQL (READ COMMITTED) two lifecycle events of one agreement must
	// not fold at once, or the later commit would drop the other's fact.
	if err := p.tx.Lock(ctx, "lifecycle:"+id); err != nil {
		return err
	}
	raw, err := store.QueryAll(ctx, p.tx, store.ScanString, `SELECT fact FROM inbox_events WHERE status <> 'held' AND agreement_id = ? AND kind IN (`+lifecycleKinds+`)`, id)
	if err != nil {
		return fmt.Errorf("load lifecycle facts of %s: %w", id, err)
	}
	facts := make([]marketplace.Fact, 0, len(raw))
	for _, s := range raw {
		var f marketplace.Fact
		if err := json.Unmarshal([]byte(s), &f); err != nil {
			return fmt.Errorf("decode stored fact: %w", err)
		}
		facts = append(facts, f)
	}
	lc := marketplace.FoldLifecycle(id, facts)
	if err := writeLifecycle(ctx, p.tx, id, lc, p.now); err != nil {
		return err
	}
	if _, err := p.tx.Exec(ctx, `UPDATE inbox_events SET status = 'applied', note = NULL, applied_at = ? WHERE agreement_id = ? AND status = 'deferred'
		AND kind IN (`+lifecycleKinds+`)`, store.Millis(p.now), id); err != nil {
		return err
	}
	for _, h := range p.lifecycleHooks {
		if err := h(ctx, p.tx, lc, id, p.now); err != nil {
			return fmt.Errorf("lifecycle hook for %s: %w", id, err)
		}
	}
	return nil
}

// writeLifecycle replaces the lifecycle rows of agreement id with lc.
func writeLifecycle(ctx context.Context, tx *store.Tx, id string, lc marketplace.Lifecycle, now time.Time) error {
	ms := store.Millis(now)
	for _, table := range []string{"cancellation_requests", "billing_adjustments", "payment_requests", "agreement_lifecycle"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE agreement_id = ?`, id); err != nil {
			return fmt.Errorf("clear %s of %s: %w", table, id, err)
		}
	}
	for _, c := range lc.Cancellations {
		if _, err := tx.Exec(ctx, `INSERT INTO cancellation_requests (id, agreement_id, reason_code, description, status, status_message, created_at, updated_at, folded_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, id, c.ReasonCode, c.Description, c.Status, c.StatusMessage,
			store.NullMillis(c.CreatedAt), store.NullMillis(c.UpdatedAt), ms); err != nil {
			return fmt.Errorf("store cancellation request %s: %w", c.ID, err)
		}
	}
	for _, b := range lc.Adjustments {
		if _, err := tx.Exec(ctx, `INSERT INTO billing_adjustments (id, agreement_id, invoice_id, amount, currency, reason_code, description, client_token,
			status, status_message, created_at, updated_at, folded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			b.ID, id, b.InvoiceID, b.Amount, b.Currency, b.ReasonCode, b.Description, b.ClientToken, b.Status, b.StatusMessage,
			store.NullMillis(b.CreatedAt), store.NullMillis(b.UpdatedAt), ms); err != nil {
			return fmt.Errorf("store billing adjustment %s: %w", b.ID, err)
		}
	}
	for _, r := range lc.Payments {
		if _, err := tx.Exec(ctx, `INSERT INTO payment_requests (id, agreement_id, term_id, name, description, charge_amount, currency, charge_id,
			status, status_message, created_at, updated_at, folded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, id, r.TermID, r.Name, r.Description, r.ChargeAmount, r.Currency, r.ChargeID, r.Status, r.StatusMessage,
			store.NullMillis(r.CreatedAt), store.NullMillis(r.UpdatedAt), ms); err != nil {
			return fmt.Errorf("store payment request %s: %w", r.ID, err)
		}
	}
	if o := lc.Outlook; o != nil {
		var days sql.NullInt64
		if o.DaysBeforeEnd != nil {
			days = sql.NullInt64{Int64: int64(*o.DaysBeforeEnd), Valid: true}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO agreement_lifecycle (agreement_id, days_before_end, auto_renewal, lockout_start_time, renewal_disabled_by,
			renewal_value, renewal_currency, renewal_terms_finalized_at, lockout_reached, advisory_open, advisory_issued_at, advisory_resolved_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, days, nullBool(o.AutoRenewal), store.NullMillis(o.LockoutStart), o.RenewalDisabledBy,
			o.RenewalValue, o.RenewalCurrency, store.NullMillis(o.RenewalTermsFinalizedAt), o.LockoutReached, o.AdvisoryOpen,
			store.NullMillis(o.AdvisoryIssuedAt), store.NullMillis(o.AdvisoryResolvedAt), ms); err != nil {
			return fmt.Errorf("store lifecycle of %s: %w", id, err)
		}
	}
	return nil
}

// Observe stores what Concord itself learnt of a request from the Agreement
// API (a Send, Get, List or Cancel answer) as a fact in the inbox, and folds
// the agreement's lifecycle again, in tx. The fact's id names the request and
// the status, so observing the same state twice stores it once; a replay
// keeps it (enrichment facts are not re-parsed).
func (l *Ledger) Observe(ctx context.Context, tx *store.Tx, f marketplace.Fact) error {
	if !marketplace.IsLifecycleKind(f.Kind) || f.Lifecycle == nil || f.AgreementID == "" || f.Lifecycle.ObjectID == "" {
		return fmt.Errorf("observe: not a lifecycle request fact: %+v", f)
	}
	now := l.Now()
	if f.Time.IsZero() {
		f.Time = now
	}
	if f.EventID == "" {
		f.EventID = "observed:" + f.Lifecycle.ObjectID + ":" + f.Lifecycle.Status
	}
	fact, err := json.Marshal(f)
	if err != nil {
		return err
	}
	ms := store.Millis(now)
	res, err := tx.Exec(ctx, `INSERT INTO inbox_events (id, door, source, detail_type, kind, event_time, received_at, agreement_id, fact, body, status)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, f.EventID, DoorEnrichment, marketplace.SourceConcord,
		observedDetailType(f.Kind), string(f.Kind), store.Millis(f.Time), ms, f.AgreementID, string(fact), string(fact), StatusDeferred)
	if err != nil {
		return fmt.Errorf("store observed %s: %w", f.Kind, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	p := l.newProjector(tx, now)
	p.lifecycleHooks = l.LifecycleHooks
	return p.lifecycle(ctx, f.AgreementID)
}

func observedDetailType(k marketplace.EventKind) string {
	switch k {
	case marketplace.KindCancellationRequest:
		return "Cancellation Request Observed"
	case marketplace.KindBillingAdjustment:
		return "Billing Adjustment Observed"
	case marketplace.KindPaymentRequest:
		return "Payment Request Observed"
	}
	return "Lifecycle Observed"
}

// refoldLifecycles folds the lifecycle of every agreement with lifecycle
// facts again (replay).
func (p *projector) refoldLifecycles(ctx context.Context) (int, error) {
	ids, err := store.QueryAll(ctx, p.tx, store.ScanString, `SELECT DISTINCT agreement_id FROM inbox_events WHERE agreement_id IS NOT NULL
		AND kind IN (`+lifecycleKinds+`) ORDER BY agreement_id`)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := p.lifecycle(ctx, id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}
