package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/store"
)

// What the sweep looks for.
const (
	// DefaultSweepEvery is how often the sweep runs.
	DefaultSweepEvery = 15 * time.Minute
	// OfferExpiringWithin: an offer nobody accepted is announced once when
	// it expires within this time.
	OfferExpiringWithin = 7 * 24 * time.Hour
	// RegistrationReminderAfter is how long after the buyer accepted the
	// registration reminder goes out (AWS Marketplace's 48 hours).
	RegistrationReminderAfter = 48 * time.Hour
	// RegistrationReminderWithin bounds how late a reminder still goes out:
	// licenses overdue for longer (say, when Concord is first installed) are
	// listed at GET /v1/registrations/pending instead of flooding inboxes.
	RegistrationReminderWithin = 7 * 24 * time.Hour
	sweepBatch                 = 100
)

// AgreementEndingThresholds are the days before an agreement's end at which
// it is announced, once each. An agreement first seen closer to its end gets
// only the nearest threshold.
var AgreementEndingThresholds = []int{30, 60, 90}

// offerStatesOpen are the offer states in which a buyer (or a partner) can
// still accept: those an expiry notice is for.
var offerStatesOpen = []any{"published", "instructions_sent", "viewed", "extended"}

// Start queues the first sweep. It is idempotent: replicas starting together,
// or a restart while a sweep is pending, share one chain of sweeps.
func (s *Service) Start(ctx context.Context) error {
	now := s.now()
	slot := now.Truncate(s.sweepEvery())
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		_, _, err := job.Enqueue(ctx, tx, now, JobSweep, struct{}{}, job.Options{UniqueKey: sweepKey(slot)})
		return err
	})
	if err != nil {
		return fmt.Errorf("start notification sweep: %w", err)
	}
	return nil
}

func (s *Service) sweepEvery() time.Duration {
	if s.SweepEvery <= 0 {
		return DefaultSweepEvery
	}
	return s.SweepEvery
}

// sweepKey names the sweep of one time slot, so chains started by several
// replicas (or a restart) meet on the same key and merge.
func sweepKey(slot time.Time) string {
	return "notify:sweep:" + strconv.FormatInt(store.Millis(slot), 10)
}

// sweepJob schedules the next sweep, then sweeps.
func (s *Service) sweepJob(ctx context.Context, _ *job.Job) error {
	now := s.now()
	next := now.Truncate(s.sweepEvery()).Add(s.sweepEvery())
	if err := s.DB.Write(ctx, func(tx *store.Tx) error {
		_, _, err := job.Enqueue(ctx, tx, now, JobSweep, struct{}{}, job.Options{RunAt: next, UniqueKey: sweepKey(next)})
		return err
	}); err != nil {
		return fmt.Errorf("schedule next notification sweep: %w", err)
	}
	_, err := s.Sweep(ctx)
	return err
}

// SweepResult counts the notifications one sweep recorded.
type SweepResult struct {
	OffersExpiring        int `json:"offersExpiring"`
	AgreementsEnding      int `json:"agreementsEnding"`
	RegistrationReminders int `json:"registrationReminders"`
}

// Sweep records the notifications that time alone causes: offers expiring
// within OfferExpiringWithin (once per offer), agreements ending within 90,
// 60 and 30 days (once per agreement and threshold), and registrations still
// missing RegistrationReminderAfter after the buyer accepted (once per
// license). Their keys make a repeated sweep change nothing.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var r SweepResult
	now := s.now()
	var err error
	if r.OffersExpiring, err = s.sweepOffers(ctx, now); err != nil {
		return r, err
	}
	if r.AgreementsEnding, err = s.sweepAgreements(ctx, now); err != nil {
		return r, err
	}
	if r.RegistrationReminders, err = s.sweepRegistrations(ctx, now); err != nil {
		return r, err
	}
	if r != (SweepResult{}) {
		s.logger().Info("notification sweep", "offersExpiring", r.OffersExpiring, "agreementsEnding", r.AgreementsEnding,
			"registrationReminders", r.RegistrationReminders)
	}
	return r, nil
}

// daysLeft is d in whole days, rounded up.
func daysLeft(d time.Duration) int {
	return int((d + 24*time.Hour - 1) / (24 * time.Hour))
}

func (s *Service) sweepOffers(ctx context.Context, now time.Time) (int, error) {
	today, last := now.UTC().Format(time.DateOnly), now.UTC().Add(OfferExpiringWithin).Format(time.DateOnly)
	return s.sweepPages(ctx, "offers", func(tx *store.Tx, after string, p *page) error {
		type row struct {
			d    OfferExpiringData
			form string
		}
		args := append(append([]any{}, offerStatesOpen...), today, last, after, sweepBatch)
		rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (row, error) {
			var w row
			err := r.Scan(&w.d.ConcordOfferID, &w.d.OfferID, &w.d.OfferType, &w.d.State, &w.d.ProductID, &w.d.BuyerAccountID,
				&w.d.BuyerCompany, &w.d.ExpiresOn, &w.form, &w.d.ProductTitle)
			return w, err
		}, `SELECT o.id, COALESCE(o.offer_id, ''), o.type, o.state, o.product_id, o.buyer_account_id, o.buyer_company, o.expires_on,
				o.form, COALESCE(p.title, '')
				FROM offers o LEFT JOIN products p ON p.product_id = o.product_id
				WHERE o.state IN (?, ?, ?, ?) AND o.expires_on >= ? AND o.expires_on <= ? AND o.id > ?
				AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.dedupe_key = 'offer_expiring:' || o.id)
				ORDER BY o.id LIMIT ?`, args...)
		if err != nil {
			return fmt.Errorf("list offers expiring soon: %w", err)
		}
		p.more = len(rows) == sweepBatch
		for _, w := range rows {
			p.last = w.d.ConcordOfferID
			day, err := time.Parse(time.DateOnly, w.d.ExpiresOn)
			if err != nil {
				continue
			}
			left := day.Add(24 * time.Hour).Sub(now)
			if left <= 0 || left > OfferExpiringWithin {
				continue
			}
			w.d.DaysLeft = daysLeft(left)
			var form struct {
				Name string `json:"name"`
			}
			json.Unmarshal([]byte(w.form), &form)
			w.d.OfferName = form.Name
			_, created, err := s.Emit(ctx, tx, now, Notice{Kind: KindOfferExpiring, Key: KindOfferExpiring + ":" + w.d.ConcordOfferID,
				ProductID: w.d.ProductID, OfferID: w.d.ConcordOfferID, Data: w.d})
			if err != nil {
				return err
			}
			if created {
				p.created++
			}
		}
		return nil
	})
}

// page is what one transaction of a sweep did: the notices it created, the
// key of the last row it read, and whether a full batch came back (more may
// follow).
type page struct {
	created int
	last    string
	more    bool
}

// sweepPages runs batch in one write transaction per page of rows keyed
// after the last one read, until a page is not full, and adds up the notices
// created.
func (s *Service) sweepPages(ctx context.Context, what string, batch func(tx *store.Tx, after string, p *page) error) (int, error) {
	total, after := 0, ""
	for {
		var p page
		err := s.DB.Write(ctx, func(tx *store.Tx) error {
			p = page{last: after}
			return batch(tx, after, &p)
		})
		if err != nil {
			return total, fmt.Errorf("notification sweep: %s: %w", what, err)
		}
		total, after = total+p.created, p.last
		if !p.more {
			return total, nil
		}
	}
}

// endingThreshold is the nearest threshold (in days) left is within, or 0.
func endingThreshold(left time.Duration) int {
	for _, t := range AgreementEndingThresholds {
		if left <= time.Duration(t)*24*time.Hour {
			return t
		}
	}
	return 0
}

func (s *Service) sweepAgreements(ctx context.Context, now time.Time) (int, error) {
	maxDays := AgreementEndingThresholds[len(AgreementEndingThresholds)-1]
	return s.sweepPages(ctx, "agreements", func(tx *store.Tx, after string, p *page) error {
		rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (AgreementEndingData, error) {
			var d AgreementEndingData
			var end int64
			var auto sql.NullBool
			err := r.Scan(&d.AgreementID, &d.ProductID, &d.BuyerAccountID, &d.OfferID, &end, &auto, &d.ProductTitle, &d.BuyerCompany)
			d.EndTime = store.FromMillis(end)
			if auto.Valid {
				d.AutoRenewal = &auto.Bool
			}
			return d, err
		}, `SELECT a.agreement_id, a.product_id, a.acceptor_account_id, a.offer_id, a.end_time, a.auto_renewal, COALESCE(p.title, ''),
				COALESCE((SELECT MIN(o.buyer_company) FROM offers o WHERE o.offer_id = a.offer_id AND o.buyer_company <> ''),
					(SELECT MIN(t.company) FROM tenants t WHERE t.account_id = a.acceptor_account_id AND t.product_id = a.product_id), '')
				FROM agreements a LEFT JOIN products p ON p.product_id = a.product_id
				WHERE a.status = 'ACTIVE' AND a.next_agreement_id IS NULL AND a.end_time > ? AND a.end_time <= ? AND a.agreement_id > ?
				ORDER BY a.agreement_id LIMIT ?`,
			store.Millis(now), store.Millis(now.Add(time.Duration(maxDays)*24*time.Hour)), after, sweepBatch)
		if err != nil {
			return fmt.Errorf("list agreements ending soon: %w", err)
		}
		p.more = len(rows) == sweepBatch
		for _, d := range rows {
			p.last = d.AgreementID
			left := d.EndTime.Sub(now)
			if d.Threshold = endingThreshold(left); d.Threshold == 0 {
				continue
			}
			d.DaysLeft = daysLeft(left)
			_, created, err := s.Emit(ctx, tx, now, Notice{Kind: KindAgreementEnding,
				Key:       KindAgreementEnding + ":" + d.AgreementID + ":" + strconv.Itoa(d.Threshold) + "d",
				ProductID: d.ProductID, OfferID: d.OfferID, AgreementID: d.AgreementID, Data: d})
			if err != nil {
				return err
			}
			if created {
				p.created++
			}
		}
		return nil
	})
}

func (s *Service) sweepRegistrations(ctx context.Context, now time.Time) (int, error) {
	dueBy := store.Millis(now.Add(-RegistrationReminderAfter))
	notBefore := store.Millis(now.Add(-RegistrationReminderAfter - RegistrationReminderWithin))
	return s.sweepPages(ctx, "registrations", func(tx *store.Tx, after string, p *page) error {
		type row struct {
			licenseID string
			d         RegistrationData
		}
		rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (row, error) {
			var w row
			var since int64
			var auto sql.NullInt64
			err := r.Scan(&w.licenseID, &w.d.LicenseArn, &w.d.BuyerAccountID, &w.d.ProductID, &w.d.AgreementID, &w.d.OfferID, &since,
				&w.d.ProductTitle, &w.d.BuyerCompany, &auto)
			w.d.Since, w.d.AutoRegisterAt = store.FromMillis(since), store.FromNullMillis(auto)
			w.d.Deadline = w.d.Since.Add(RegistrationReminderAfter)
			return w, err
		}, `SELECT l.license_id, l.license_arn, l.account_id, COALESCE(NULLIF(l.product_id, ''), a.product_id, ''), l.agreement_id,
				COALESCE(a.offer_id, ''), COALESCE(a.acceptance_time, l.activated_at, l.updated_at), COALESCE(p.title, ''),
				COALESCE((SELECT MIN(o.buyer_company) FROM offers o WHERE o.offer_id = a.offer_id AND o.buyer_company <> ''), ''),
				(SELECT MIN(j.run_at) FROM jobs j WHERE j.unique_key = 'autoreg:' || l.license_id AND j.state = 'available')
				FROM licenses l LEFT JOIN agreements a ON a.agreement_id = l.agreement_id
				LEFT JOIN products p ON p.product_id = COALESCE(NULLIF(l.product_id, ''), a.product_id)
				WHERE l.state IN ('pending', 'active') AND l.license_id > ?
				AND COALESCE(a.acceptance_time, l.activated_at, l.updated_at) <= ?
				AND COALESCE(a.acceptance_time, l.activated_at, l.updated_at) > ?
				AND NOT EXISTS (SELECT 1 FROM tenant_licenses tl WHERE tl.license_id = l.license_id)
				AND NOT EXISTS (SELECT 1 FROM inbox_events ie WHERE ie.license_id = l.license_id AND ie.kind = 'license_imported')
				AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.dedupe_key = 'registration_reminder:' || l.license_id)
				ORDER BY l.license_id LIMIT ?`, after, dueBy, notBefore, sweepBatch)
		if err != nil {
			return fmt.Errorf("list overdue registrations: %w", err)
		}
		p.more = len(rows) == sweepBatch
		for _, w := range rows {
			p.last = w.licenseID
			_, created, err := s.Emit(ctx, tx, now, Notice{Kind: KindRegistrationReminder, Key: KindRegistrationReminder + ":" + w.licenseID,
				ProductID: w.d.ProductID, OfferID: w.d.OfferID, AgreementID: w.d.AgreementID, Data: w.d})
			if err != nil {
				return err
			}
			if created {
				p.created++
			}
		}
		return nil
	})
}
