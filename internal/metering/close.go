package metering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/webhook"
)

// closeBatch is how many buckets one closing transaction freezes.
const closeBatch = 500

// dueBucket is an open bucket whose close time has passed, with what sending
// it needs.
type dueBucket struct {
	license, dimension string
	hour               int64
	quantity           int64
	records            int64
	productID          string
	productCode        string
	concurrent         bool
	arn, account, cid  string
}

// Close freezes the buckets whose close time has passed into metering
// records, oldest hour first, and returns how many it froze. Every bucket is
// frozen once: a replica that loses the race sees it closed and skips it.
func (s *Service) Close(ctx context.Context) (int, error) {
	s.init()
	total := 0
	for {
		n, err := s.closeSome(ctx)
		total += n
		if err != nil || n < closeBatch {
			return total, err
		}
	}
}

// dueColumns and dueFrom read buckets with what sending them needs.
const dueColumns = `b.license_id, b.dimension, b.hour, b.quantity, b.records, b.product_id, p.product_code, p.concurrent_agreements,
	COALESCE(l.license_arn, ''), COALESCE(l.account_id, ''), COALESCE(l.customer_identifier, '')`

const dueFrom = ` FROM usage_buckets b LEFT JOIN licenses l ON l.license_id = b.license_id LEFT JOIN products p ON p.product_id = b.product_id`

func scanDue(r store.Scanner) (dueBucket, error) {
	var b dueBucket
	var code sql.NullString
	var conc sql.NullBool
	err := r.Scan(&b.license, &b.dimension, &b.hour, &b.quantity, &b.records, &b.productID, &code, &conc, &b.arn, &b.account, &b.cid)
	b.productCode, b.concurrent = code.String, !conc.Valid || conc.Bool
	return b, err
}

// licenseKey and legacyKey are what AWS deduplicates a record on: the
// license, or (legacy path) the product and customer; dimension; hour.
func licenseKey(license, dimension string, hour int64) string {
	return "license|" + license + "|" + dimension + "|" + strconv.FormatInt(hour, 10)
}

func legacyKey(productID, account, dimension string, hour int64) string {
	return "legacy|" + productID + "|" + account + "|" + dimension + "|" + strconv.FormatInt(hour, 10)
}

func (s *Service) closeSome(ctx context.Context) (int, error) {
	var n int
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		n = 0
		now := s.Now()
		nowMs := store.Millis(now)
		due, err := store.QueryAll(ctx, tx, scanDue, `SELECT `+dueColumns+dueFrom+`
			WHERE b.state = 'open' AND b.close_at <= ? ORDER BY b.hour, b.license_id, b.dimension LIMIT ?`, nowMs, closeBatch)
		if err != nil {
			return fmt.Errorf("due buckets: %w", err)
		}
		made := map[string]bool{} // send keys handled in this transaction
		paths := map[string]string{}
		for _, b := range due {
			path := PathLegacy
			if b.concurrent {
				path = PathLicense
			}
			// One path per customer-hour: the first record of a customer's
			// hour fixes it for the others (both paths would bill twice).
			ch := b.productID + "|" + b.account + "|" + strconv.FormatInt(b.hour, 10)
			if p, ok := paths[ch]; ok {
				path = p
			} else {
				if _, err := tx.Exec(ctx, `INSERT INTO metering_customer_hours (product_id, account_id, hour, path) VALUES (?, ?, ?, ?)
					ON CONFLICT (product_id, account_id, hour) DO NOTHING`, b.productID, b.account, b.hour, path); err != nil {
					return fmt.Errorf("customer hour: %w", err)
				}
				if err := tx.QueryRow(ctx, `SELECT path FROM metering_customer_hours WHERE product_id = ? AND account_id = ? AND hour = ?`,
					b.productID, b.account, b.hour).Scan(&path); err != nil {
					return fmt.Errorf("customer hour: %w", err)
				}
				paths[ch] = path
			}
			key := licenseKey(b.license, b.dimension, b.hour)
			group := []dueBucket{b}
			if path == PathLegacy {
				// AWS keeps one legacy record per product, customer, dimension
				// and hour: all of the customer's licenses' buckets of that
				// hour go into it together, whenever each would have closed.
				key = legacyKey(b.productID, b.account, b.dimension, b.hour)
				if made[key] {
					continue // frozen with the first of its group
				}
				if group, err = store.QueryAll(ctx, tx, scanDue, `SELECT `+dueColumns+dueFrom+`
					WHERE b.state = 'open' AND b.product_id = ? AND l.account_id = ? AND b.dimension = ? AND b.hour = ? ORDER BY b.license_id`,
					b.productID, b.account, b.dimension, b.hour); err != nil {
					return fmt.Errorf("customer's buckets: %w", err)
				}
			}
			if made[key] {
				continue
			}
			made[key] = true
			var quantity int64
			for _, g := range group {
				quantity += g.quantity
			}
			recordID := uuid.Must(uuid.NewV7()).String()
			status, reason := StatusPending, ""
			switch {
			case path == PathLegacy && b.productCode == "":
				status, reason = StatusRejected, "the product has no product code, which the legacy path needs"
			case path == PathLicense && b.arn == "":
				status, reason = StatusRejected, "the license has no LicenseArn"
			case quantity > MaxQuantity:
				status, reason = StatusRejected, fmt.Sprintf("the hour's usage, %d, exceeds %d, the most one AWS usage record can carry", quantity, MaxQuantity)
			}
			res, err := tx.Exec(ctx, `INSERT INTO metering_records (record_id, send_key, product_id, product_code, path, license_arn, account_id,
				customer_identifier, dimension, hour, quantity, status, reason, next_attempt_at, created_at, finished_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (send_key) DO NOTHING`,
				recordID, key, b.productID, b.productCode, path, b.arn, b.account, b.cid, b.dimension, b.hour, quantity, status, reason,
				nowMs, nowMs, finishedAt(status, nowMs))
			if err != nil {
				return fmt.Errorf("create record: %w", err)
			}
			if k, _ := res.RowsAffected(); k == 0 {
				// The customer's hour already went out (legacy, another
				// license's bucket closed earlier): these can no longer be sent.
				for _, g := range group {
					if err := markLate(ctx, tx, g, nowMs); err != nil {
						return err
					}
					n++
				}
				continue
			}
			for _, g := range group {
				res, err := tx.Exec(ctx, `UPDATE usage_buckets SET state = 'closed', record_id = ?, updated_at = ? WHERE license_id = ? AND dimension = ? AND hour = ? AND state = 'open'`,
					recordID, nowMs, g.license, g.dimension, g.hour)
				if err != nil {
					return fmt.Errorf("freeze bucket: %w", err)
				}
				if k, _ := res.RowsAffected(); k != 1 {
					return fmt.Errorf("bucket %s/%s/%d changed while being frozen", g.license, g.dimension, g.hour)
				}
				n++
			}
			if status != StatusPending {
				if err := s.alert(ctx, tx, now, recordID, status, reason); err != nil {
					return err
				}
			}
		}
		if len(made) > 0 {
			tx.AfterCommit(s.Wake)
		}
		return nil
	})
	return n, err
}

func finishedAt(status string, now int64) any {
	if status == StatusPending {
		return nil
	}
	return now
}

// markLate closes a bucket that can no longer be sent, counting its usage as late.
func markLate(ctx context.Context, tx *store.Tx, b dueBucket, now int64) error {
	if _, err := tx.Exec(ctx, `UPDATE usage_buckets SET state = 'closed', late_quantity = late_quantity + quantity, late_records = late_records + records,
		quantity = 0, records = 0, updated_at = ? WHERE license_id = ? AND dimension = ? AND hour = ? AND state = 'open'`, now, b.license, b.dimension, b.hour); err != nil {
		return fmt.Errorf("late bucket: %w", err)
	}
	_, err := tx.Exec(ctx, `UPDATE usage_records SET late = TRUE WHERE license_id = ? AND dimension = ? AND hour = ?`, b.license, b.dimension, b.hour)
	return err
}

// Expire gives up on pending records that can no longer be sent in time
// (older than AWS's window, or a closed month after 06:00 UTC on the 1st),
// with an alert by log, metric and webhook.
func (s *Service) Expire(ctx context.Context) (int, error) {
	s.init()
	var n int
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		n = 0
		now := s.Now()
		nowMs := store.Millis(now)
		ids, err := store.QueryAll(ctx, tx, func(r store.Scanner) (struct {
			id   string
			hour int64
		}, error) {
			var v struct {
				id   string
				hour int64
			}
			return v, r.Scan(&v.id, &v.hour)
		}, `SELECT record_id, hour FROM metering_records WHERE status = 'pending' AND lease_until < ? AND hour <= ? ORDER BY hour LIMIT 1000`,
			nowMs, store.Millis(s.expiryCutoff(now)))
		if err != nil {
			return err
		}
		for _, v := range ids {
			hour := store.FromMillis(v.hour)
			deadline := s.sendDeadline(hour) // passed: expiryCutoff selects exactly those (TestExpiryCutoffAgreesWithSendDeadline)
			reason := fmt.Sprintf("not sent before %s, the last moment AWS accepts usage for %s", deadline.Format(time.RFC3339), hour.Format(time.RFC3339))
			res, err := tx.Exec(ctx, `UPDATE metering_records SET status = 'expired', reason = ?, finished_at = ? WHERE record_id = ? AND status = 'pending'`, reason, nowMs, v.id)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 1 {
				n++
				if err := s.alert(ctx, tx, now, v.id, StatusExpired, reason); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return n, err
}

// expiryCutoff is the newest hour whose records can no longer be sent at now
// (see sendDeadline): past the window, or in a month closed since 06:00 on the 1st.
func (s *Service) expiryCutoff(now time.Time) time.Time {
	cutoff := now.Add(-s.Window + time.Minute)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if !now.Before(monthStart.Add(monthEndCutoff-time.Minute)) && monthStart.Add(-time.Hour).After(cutoff) {
		cutoff = monthStart.Add(-time.Hour)
	}
	return cutoff
}

// MeteringAlert is the data of the metering.failed and metering.expired webhooks.
type MeteringAlert struct {
	RecordID   string    `json:"recordId"`
	Outcome    string    `json:"outcome"`
	Reason     string    `json:"reason"`
	ProductID  string    `json:"productId"`
	LicenseArn string    `json:"licenseArn,omitempty"`
	AccountID  string    `json:"accountId"`
	Dimension  string    `json:"dimension"`
	Hour       time.Time `json:"hour"`
	Quantity   int64     `json:"quantity"`
}

// alert reports a record that will not be billed: log, metric (after commit)
// and webhook (in tx).
func (s *Service) alert(ctx context.Context, tx *store.Tx, now time.Time, recordID, outcome, reason string) error {
	var a MeteringAlert
	var hour int64
	if err := tx.QueryRow(ctx, `SELECT record_id, product_id, license_arn, account_id, dimension, hour, quantity FROM metering_records WHERE record_id = ?`, recordID).
		Scan(&a.RecordID, &a.ProductID, &a.LicenseArn, &a.AccountID, &a.Dimension, &hour, &a.Quantity); err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	a.Outcome, a.Reason, a.Hour = outcome, reason, store.FromMillis(hour)
	typ := webhook.MeteringFailed
	if outcome == StatusExpired {
		typ = webhook.MeteringExpired
	}
	tx.AfterCommit(func() {
		s.Metrics.record(outcome)
		s.Logger.Error("metering: usage will not be billed", "outcome", outcome, "reason", reason, "record", a.RecordID,
			"license", a.LicenseArn, "account", a.AccountID, "dimension", a.Dimension, "hour", a.Hour, "quantity", a.Quantity)
	})
	if s.OnAlert != nil {
		if err := s.OnAlert(ctx, tx, a, now); err != nil {
			return err
		}
	}
	return webhook.Emit(ctx, tx, now, typ, a)
}

// Zero creates the zero-quantity buckets of products that ask for them
// (Product.ZeroUsageDimension): for every closed hour since the last run
// (within AWS's window), each active license without any usage in that hour
// gets a zero record. Licenses in their final window get none: their last
// hours are about to close. One hour of one product per transaction.
func (s *Service) Zero(ctx context.Context) error {
	s.init()
	type prod struct {
		id, dim string
		mark    sql.NullInt64
	}
	var prods []prod
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		prods, err = store.QueryAll(ctx, tx, func(r store.Scanner) (prod, error) {
			var p prod
			return p, r.Scan(&p.id, &p.dim, &p.mark)
		}, `SELECT p.product_id, p.zero_usage_dimension, m.hour FROM products p LEFT JOIN metering_zero_marks m ON m.product_id = p.product_id
			WHERE p.zero_usage_dimension <> ''`)
		return err
	})
	if err != nil {
		return err
	}
	now := s.Now()
	last := now.Add(-time.Hour - s.Grace).Truncate(time.Hour) // the newest closed hour
	for _, p := range prods {
		from := last
		if p.mark.Valid {
			from = store.FromMillis(p.mark.Int64).Add(time.Hour)
		}
		if oldest := now.Add(-s.Window + 2*time.Hour).Truncate(time.Hour); from.Before(oldest) {
			from = oldest
		}
		for h := from; !h.After(last); h = h.Add(time.Hour) {
			if err := s.zeroHour(ctx, p.id, p.dim, h); err != nil {
				return err
			}
		}
	}
	return nil
}

// zeroHour makes one product's zero records of one hour and moves its mark.
func (s *Service) zeroHour(ctx context.Context, productID, dim string, h time.Time) error {
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		nowMs, hm := store.Millis(s.Now()), store.Millis(h)
		var mark sql.NullInt64
		if err := tx.QueryRow(ctx, `SELECT hour FROM metering_zero_marks WHERE product_id = ?`, productID).Scan(&mark); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if mark.Valid && mark.Int64 >= hm {
			return nil // another replica did it
		}
		if _, err := tx.Exec(ctx, `INSERT INTO usage_buckets (license_id, dimension, hour, product_id, quantity, records, late_quantity, late_records, state, close_at, created_at, updated_at)
			SELECT l.license_id, ?, ?, ?, 0, 0, 0, 0, 'open', ?, ?, ? FROM licenses l
			WHERE l.product_id = ? AND l.state = 'active' AND l.license_arn <> '' AND COALESCE(l.activated_at, l.starts_at, 0) < ?
			AND NOT EXISTS (SELECT 1 FROM usage_buckets b WHERE b.license_id = l.license_id AND b.hour = ?)
			ON CONFLICT (license_id, dimension, hour) DO NOTHING`,
			dim, hm, productID, nowMs, nowMs, nowMs, productID, hm+time.Hour.Milliseconds(), hm); err != nil {
			return fmt.Errorf("zero records: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO metering_zero_marks (product_id, hour) VALUES (?, ?) ON CONFLICT (product_id) DO UPDATE SET hour = excluded.hour`, productID, hm)
		return err
	})
}

// Hook is an inbox.LicenseHook that opens the final window. When a license's
// agreement ends, its open usage is flushed: hours already over at once, the
// running hour at its end but no later than FinalWindowClose after the
// agreement ended (so it reaches AWS before License Deprovisioned). When the
// license is deprovisioned, whatever is still open goes at once.
//
// A license can also go back from ending to active: an amendment that keeps
// the LicenseArn ends the old agreement before License Updated moves the
// license to the new one. Its open buckets then get their usual close time back.
func (s *Service) Hook(ctx context.Context, tx *store.Tx, before *marketplace.License, after marketplace.License, now time.Time) error {
	if before != nil && before.State == after.State {
		return nil
	}
	if after.State == marketplace.LicenseActive {
		if before == nil || before.State != marketplace.LicenseEnding {
			return nil
		}
		s.init()
		hour := time.Hour.Milliseconds()
		_, err := tx.Exec(ctx, `UPDATE usage_buckets SET close_at = hour + ? WHERE license_id = ? AND state = 'open'`, hour+s.Grace.Milliseconds(), after.LicenseID)
		return err
	}
	if after.State != marketplace.LicenseEnding && after.State != marketplace.LicenseDeprovisioned {
		return nil
	}
	limit := store.Millis(now)
	if after.State == marketplace.LicenseEnding {
		ended := now
		if after.EndingAt != nil {
			ended = *after.EndingAt
		}
		limit = store.Millis(ended.Add(FinalWindowClose))
	}
	hour := time.Hour.Milliseconds()
	res, err := tx.Exec(ctx, `UPDATE usage_buckets SET close_at = CASE WHEN hour + ? < ? THEN hour + ? ELSE ? END
		WHERE license_id = ? AND state = 'open' AND close_at > CASE WHEN hour + ? < ? THEN hour + ? ELSE ? END`,
		hour, limit, hour, limit, after.LicenseID, hour, limit, hour, limit)
	if err != nil {
		return fmt.Errorf("flush usage of %s: %w", after.LicenseID, err)
	}
	if k, _ := res.RowsAffected(); k > 0 {
		s.init()
		tx.AfterCommit(s.Wake)
	}
	return nil
}
