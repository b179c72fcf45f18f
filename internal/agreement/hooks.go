package agreement

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store"
)

// party is what a notice says of the agreement's buyer and product.
type party struct {
	buyer, product, productTitle, offer string
	end                                 *time.Time
	auto                                *bool
	status                              string
	found                               bool
}

func loadParty(ctx context.Context, tx *store.Tx, agreementID string) (party, error) {
	var p party
	var end sql.NullInt64
	var auto sql.NullBool
	err := tx.QueryRow(ctx, `SELECT a.acceptor_account_id, a.product_id, COALESCE(p.title, ''), a.offer_id, a.end_time, a.auto_renewal, a.status
		FROM agreements a LEFT JOIN products p ON p.product_id = a.product_id WHERE a.agreement_id = ?`, agreementID).
		Scan(&p.buyer, &p.product, &p.productTitle, &p.offer, &end, &auto, &p.status)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	} else if err != nil {
		return p, fmt.Errorf("load agreement %s for a notice: %w", agreementID, err)
	}
	p.found, p.end = true, store.FromNullMillis(end)
	if auto.Valid {
		p.auto = &auto.Bool
	}
	return p, nil
}

// LifecycleHook is an inbox.LifecycleHook: it announces each state of each
// request once (the notification key names the request and its state, so a
// refold, a replay or a late duplicate announces nothing new), books a
// completed refund as a new version of the agreement's artifact, queues a
// refresh of the invoices after a refund moves, and sends AWS's Ending
// notice under the key of Concord's own ending sweep, so that the buyer's
// agreement gets one notice per threshold whoever noticed first.
func (s *Service) LifecycleHook(ctx context.Context, tx *store.Tx, lc marketplace.Lifecycle, agreementID string, now time.Time) error {
	p, err := loadParty(ctx, tx, agreementID)
	if err != nil {
		return err
	}
	emit := func(kind, key string, d notify.LifecycleData) error {
		if s.Notify == nil {
			return nil
		}
		d.AgreementID, d.BuyerAccountID, d.ProductID, d.ProductTitle = agreementID, p.buyer, p.product, p.productTitle
		_, _, err := s.Notify.Emit(ctx, tx, now, notify.Notice{Kind: kind, Key: key, ProductID: p.product, OfferID: p.offer, AgreementID: agreementID, Data: d})
		return err
	}
	for _, c := range lc.Cancellations {
		if err := emit(notify.KindAgreementRequest, "cancellation:"+c.ID+":"+c.Status, notify.LifecycleData{Topic: notify.TopicCancellation,
			RequestID: c.ID, Status: c.Status, StatusMessage: c.StatusMessage, ReasonCode: c.ReasonCode, Description: c.Description, At: c.UpdatedAt}); err != nil {
			return err
		}
	}
	for _, r := range lc.Payments {
		if err := emit(notify.KindAgreementRequest, "payment:"+r.ID+":"+r.Status, notify.LifecycleData{Topic: notify.TopicPaymentRequest,
			RequestID: r.ID, Status: r.Status, StatusMessage: r.StatusMessage, Name: r.Name, Amount: r.ChargeAmount, Currency: r.Currency,
			Description: r.Description, At: r.UpdatedAt}); err != nil {
			return err
		}
	}
	refundDone := false
	for _, b := range lc.Adjustments {
		if b.Status == marketplace.AdjustmentPending {
			continue
		}
		refundDone = refundDone || b.Status == marketplace.AdjustmentCompleted
		if err := emit(notify.KindBillingAlert, "refund:"+b.ID+":"+b.Status, notify.LifecycleData{Topic: notify.TopicRefund, RequestID: b.ID,
			Status: b.Status, StatusMessage: b.StatusMessage, ReasonCode: b.ReasonCode, Amount: b.Amount, Currency: b.Currency,
			InvoiceID: b.InvoiceID, At: b.UpdatedAt}); err != nil {
			return err
		}
	}
	if len(lc.Adjustments) > 0 {
		if _, _, err := job.Enqueue(ctx, tx, now, JobRefreshBilling, billingArgs{AgreementID: agreementID},
			job.Options{UniqueKey: "billing:" + agreementID}); err != nil {
			return err
		}
	}
	if refundDone && p.found {
		// Recording is idempotent: a version is added only when a new
		// refund completed (the artifact lists them).
		if _, _, err := artifact.Record(ctx, tx, agreementID, now); err != nil {
			return fmt.Errorf("book refund of %s: %w", agreementID, err)
		}
	}
	if o := lc.Outlook; o != nil {
		if o.AdvisoryIssuedAt != nil {
			key, at := "advisory:"+agreementID+":"+strconv.FormatInt(store.Millis(*o.AdvisoryIssuedAt), 10), o.AdvisoryIssuedAt
			if !o.AdvisoryOpen && o.AdvisoryResolvedAt != nil {
				key, at = "advisory:"+agreementID+":resolved:"+strconv.FormatInt(store.Millis(*o.AdvisoryResolvedAt), 10), o.AdvisoryResolvedAt
			}
			if err := emit(notify.KindAgreementAdvisory, key, notify.LifecycleData{Topic: notify.TopicAdvisory, Open: o.AdvisoryOpen, At: at}); err != nil {
				return err
			}
		}
		if err := s.endingNotice(ctx, tx, o, p, agreementID, now); err != nil {
			return err
		}
	}
	return nil
}

// endingNotice sends AWS's nearest Ending notice as Concord's own
// agreement_ending notification, with the sweep's key
// (agreement_ending:<agreement>:<days>d, notify.Service.Sweep), so the
// sweep does not send a second notice for the same threshold. An agreement
// already past its end gets none.
func (s *Service) endingNotice(ctx context.Context, tx *store.Tx, o *marketplace.AgreementOutlook, p party, agreementID string, now time.Time) error {
	if s.Notify == nil || o.DaysBeforeEnd == nil || !p.found || p.end == nil || !p.end.After(now) || p.status != marketplace.StatusActive {
		return nil
	}
	d := notify.AgreementEndingData{AgreementID: agreementID, BuyerAccountID: p.buyer, ProductID: p.product, ProductTitle: p.productTitle,
		OfferID: p.offer, EndTime: *p.end, AutoRenewal: p.auto, Threshold: *o.DaysBeforeEnd, DaysLeft: daysLeft(p.end.Sub(now))}
	if o.AutoRenewal != nil {
		d.AutoRenewal = o.AutoRenewal
	}
	_, _, err := s.Notify.Emit(ctx, tx, now, notify.Notice{Kind: notify.KindAgreementEnding,
		Key:       notify.KindAgreementEnding + ":" + agreementID + ":" + strconv.Itoa(*o.DaysBeforeEnd) + "d",
		ProductID: p.product, OfferID: p.offer, AgreementID: agreementID, Data: d})
	return err
}

func daysLeft(d time.Duration) int {
	return int((d + 24*time.Hour - 1) / (24 * time.Hour))
}

// EventHook is an inbox.EventHook: Disbursement Paused (AWS could not pay
// the seller, usually bank details) alerts finance once per event.
func (s *Service) EventHook(ctx context.Context, tx *store.Tx, ev marketplace.Event, now time.Time) error {
	if ev.Kind != marketplace.KindDisbursementPaused || s.Notify == nil {
		return nil
	}
	key := ev.RequestID
	if key == "" {
		key = ev.ID
	}
	at := ev.Time
	_, _, err := s.Notify.Emit(ctx, tx, now, notify.Notice{Kind: notify.KindBillingAlert, Key: "disbursement_paused:" + key,
		Data: notify.LifecycleData{Topic: notify.TopicDisbursementPaused, At: &at}})
	return err
}
