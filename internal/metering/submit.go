package metering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/background"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// claimed is a record this submitter holds a lease on.
type claimed struct {
	id          string
	owner       string // this claim's lease owner
	productCode string
	path        string
	rec         SendRecord
	attempts    int
}

// Run closes buckets and submits records until ctx ends: one loop closes,
// expires and makes zero records every Tick; InFlight workers claim and send
// batches under the rate limit.
func (s *Service) Run(ctx context.Context) error {
	s.init()
	if s.API == nil {
		return errors.New("metering: no BatchMeterUsage client")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range s.InFlight {
		wg.Go(func() {
			for ctx.Err() == nil {
				var worked bool
				err := background.Guard(s.Logger, "metering sender", func() (err error) {
					worked, err = s.SendOne(ctx)
					return err
				})
				if IsCrash(err) {
					cancel(err)
					return
				}
				if err != nil && ctx.Err() == nil {
					s.Logger.Warn("metering: send", "err", err)
				}
				if !worked || err != nil {
					s.idle(ctx)
				}
			}
		})
	}
	t := time.NewTicker(s.Tick)
	defer t.Stop()
	for ctx.Err() == nil {
		if err := background.Guard(s.Logger, "metering housekeeping", func() error { return s.Housekeep(ctx) }); err != nil && ctx.Err() == nil {
			s.Logger.Warn("metering: close buckets", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); IsCrash(err) {
		return err
	}
	return nil
}

// idle waits for a wake-up or the next tick.
func (s *Service) idle(ctx context.Context) {
	t := time.NewTimer(s.Tick)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-s.wake:
	case <-t.C:
	}
}

// Housekeep makes zero records, closes due buckets and expires records that
// can no longer be sent.
func (s *Service) Housekeep(ctx context.Context) error {
	s.init()
	if err := s.Zero(ctx); err != nil {
		return err
	}
	if _, err := s.Close(ctx); err != nil {
		return err
	}
	_, err := s.Expire(ctx)
	return err
}

// SendOne claims one batch (up to 25 due records of one product and path,
// oldest first), sends it and records AWS's answers. worked is false when
// nothing was due.
func (s *Service) SendOne(ctx context.Context) (worked bool, err error) {
	s.init()
	batch, err := s.claim(ctx)
	if err != nil || len(batch) == 0 {
		return false, err
	}
	if len(batch) == MaxBatch {
		s.Wake() // there may be more: another worker can take it
	}
	if err := s.crash("claimed"); err != nil {
		return true, err
	}
	return true, s.send(ctx, batch)
}

// claim leases the next batch.
func (s *Service) claim(ctx context.Context) ([]claimed, error) {
	var out []claimed
	owner := s.owner + "/" + uuid.NewString()
	err := s.DB.WriteCommitted(ctx, func(tx *store.Tx) error {
		out = nil
		now := store.Millis(s.Now())
		var product, path string
		err := tx.QueryRow(ctx, `SELECT product_id, path FROM metering_records WHERE status = 'pending' AND next_attempt_at <= ? AND lease_until < ?
			ORDER BY hour, record_id LIMIT 1`, now, now).Scan(&product, &path)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		// The batch is picked once, in a materialized CTE: PostgreSQL may
		// evaluate an IN (SELECT … LIMIT) subquery more than once, which
		// leased several batches in one claim.
		lock := ""
		if tx.Dialect() == store.Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		due := `status = 'pending' AND product_id = ? AND path = ? AND next_attempt_at <= ? AND lease_until < ?`
		out, err = store.QueryAll(ctx, tx, func(r store.Scanner) (claimed, error) {
			var c claimed
			var hour int64
			var q int64
			err := r.Scan(&c.id, &c.productCode, &c.path, &c.rec.LicenseArn, &c.rec.AccountID, &c.rec.CustomerIdentifier, &c.rec.Dimension, &hour, &q, &c.attempts)
			if err == nil && (q < 0 || q > MaxQuantity) {
				err = fmt.Errorf("metering record %s holds quantity %d, which no AWS usage record can carry", c.id, q)
			}
			c.rec.Hour, c.rec.Quantity, c.owner = store.FromMillis(hour), int32(q), owner
			return c, err
		}, `WITH picked AS MATERIALIZED (SELECT record_id FROM metering_records WHERE `+due+` ORDER BY hour, record_id LIMIT ?`+lock+`)
			UPDATE metering_records SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, first_sent_at = COALESCE(first_sent_at, ?)
			WHERE record_id IN (SELECT record_id FROM picked) AND `+due+`
			RETURNING record_id, product_code, path, license_arn, account_id, customer_identifier, dimension, hour, quantity, attempts`,
			product, path, now, now, MaxBatch, owner, now+s.Lease.Milliseconds(), now, product, path, now, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim metering records: %w", err)
	}
	return out, nil
}

// send sends a batch and records the answers. A request AWS rejects as a
// whole is split in halves until the records it objects to stand alone.
func (s *Service) send(ctx context.Context, batch []claimed) error {
	return s.sendPart(ctx, batch, false)
}

// split sends the halves of a batch one after the other, each with its lease
// renewed, since the calls may outlast the lease the claim took.
func (s *Service) split(ctx context.Context, batch []claimed) error {
	half := len(batch) / 2
	if err := s.sendPart(ctx, batch[:half], true); err != nil {
		return err
	}
	return s.sendPart(ctx, batch[half:], true)
}

func (s *Service) sendPart(ctx context.Context, batch []claimed, renew bool) error {
	if len(batch) > 1 && requestSize(batch) >= MaxRequestSize {
		return s.split(ctx, batch)
	}
	if err := s.limiter.Wait(ctx); err != nil {
		return err
	}
	if renew {
		if err := s.renew(ctx, batch); err != nil {
			return err
		}
	}
	recs := make([]SendRecord, len(batch))
	for i, c := range batch {
		recs[i] = c.rec
	}
	productCode := ""
	if batch[0].path == PathLegacy {
		productCode = batch[0].productCode
	}
	callCtx, cancel := context.WithTimeout(ctx, min(s.Lease/2, time.Minute))
	results, err := s.API.BatchMeterUsage(callCtx, productCode, recs)
	cancel()
	if cerr := s.crash("called"); cerr != nil {
		return cerr
	}
	var rej *RejectedError
	switch {
	case err == nil && len(results) != len(batch):
		s.Metrics.call("transient")
		return s.retryLater(ctx, batch, fmt.Sprintf("BatchMeterUsage answered %d results for %d records", len(results), len(batch)))
	case err == nil:
		s.Metrics.call("ok")
		if err := s.record(ctx, batch, results); err != nil {
			return err
		}
		return s.crash("recorded")
	case errors.As(err, &rej) && (len(batch) == 1 || (rej.Code == ProductLevelRejection && batch[0].path == PathLegacy)):
		// One record, or a rejection that is about the product (its code), not
		// a record: splitting would not tell anything apart.
		s.Metrics.call("rejected")
		if err := s.reject(ctx, batch, rej); err != nil {
			return err
		}
		return s.crash("recorded")
	case errors.As(err, &rej):
		s.Metrics.call("rejected")
		return s.split(ctx, batch)
	default:
		s.Metrics.call("transient")
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrThrottled) {
			// Over the quota (another replica, another tool): everyone here waits.
			s.limiter.Pause(time.Second)
		} else {
			s.Logger.Warn("metering: BatchMeterUsage failed; the records will be retried", "records", len(batch), "err", err)
		}
		return s.retryLater(ctx, batch, "BatchMeterUsage failed: "+marketplace.Clip(err.Error(), 300))
	}
}

// renew extends the lease of records still held by this claim.
func (s *Service) renew(ctx context.Context, batch []claimed) error {
	return s.DB.WriteCommitted(ctx, func(tx *store.Tx) error {
		until := store.Millis(s.Now().Add(s.Lease))
		for _, c := range batch {
			if _, err := tx.Exec(ctx, `UPDATE metering_records SET lease_until = ? WHERE record_id = ? AND status = 'pending' AND lease_owner = ?`,
				until, c.id, c.owner); err != nil {
				return fmt.Errorf("renew lease: %w", err)
			}
		}
		return nil
	})
}

// requestSize estimates the JSON size of a BatchMeterUsage request.
func requestSize(batch []claimed) int {
	n := 64
	for _, c := range batch {
		n += 160 + len(c.rec.LicenseArn) + len(c.rec.AccountID) + len(c.rec.CustomerIdentifier) + len(c.rec.Dimension) + len(c.productCode)
	}
	return n
}

// backoff is the wait before the nth retry of a record: the job backoff (1 s
// doubling) capped at 5 minutes, with jitter.
func backoff(attempts int) time.Duration {
	d := min(job.DefaultBackoff(attempts), 5*time.Minute)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// retryLater releases records for another try after a backoff.
func (s *Service) retryLater(ctx context.Context, batch []claimed, reason string) error {
	return s.DB.WriteCommitted(ctx, func(tx *store.Tx) error {
		now := s.Now()
		for _, c := range batch {
			if _, err := tx.Exec(ctx, `UPDATE metering_records SET next_attempt_at = ?, lease_owner = NULL, lease_until = 0, reason = ?
				WHERE record_id = ? AND status = 'pending' AND lease_owner = ?`,
				store.Millis(now.Add(backoff(c.attempts))), marketplace.Clip(reason, 500), c.id, c.owner); err != nil {
				return fmt.Errorf("release record: %w", err)
			}
		}
		return nil
	})
}

// record stores AWS's answers for a batch it processed.
func (s *Service) record(ctx context.Context, batch []claimed, results []SendResult) error {
	var retry []claimed
	err := s.DB.WriteCommitted(ctx, func(tx *store.Tx) error {
		retry = retry[:0]
		now := s.Now()
		nowMs := store.Millis(now)
		for i, c := range batch {
			r := results[i]
			var status, reason string
			switch {
			case r.Unprocessed:
				retry = append(retry, c)
				continue
			case r.Status == AWSSuccess:
				status = StatusSuccess
			case r.Status == AWSCustomerNotSubscribed:
				status, reason = StatusNotSubscribed, "AWS answered CustomerNotSubscribed: the customer has no agreement in force for this usage (deprovisioned, not started, or the account is suspended)"
			case r.Status == AWSDuplicateRecord:
				status, reason = StatusDuplicate, "AWS answered DuplicateRecord: it already holds a record with a different quantity for this customer, dimension and hour, and that one stands. "+
					"Concord never resends a different quantity, so the earlier record came from elsewhere (another system, or a Concord database restored from an older backup)"
			default:
				status, reason = StatusRejected, fmt.Sprintf("AWS answered an unknown status %q", marketplace.Clip(r.Status, 60))
			}
			// AWS's answer is the truth even if our lease lapsed or the record
			// expired meanwhile.
			res, err := tx.Exec(ctx, `UPDATE metering_records SET status = ?, metering_record_id = ?, reason = ?, finished_at = ?, lease_owner = NULL, lease_until = 0
				WHERE record_id = ? AND status IN ('pending', 'expired')`, status, r.MeteringRecordID, reason, nowMs, c.id)
			if err != nil {
				return fmt.Errorf("record outcome: %w", err)
			}
			if k, _ := res.RowsAffected(); k == 1 {
				if status == StatusSuccess {
					tx.AfterCommit(func() { s.Metrics.record(StatusSuccess) })
				} else if err := s.alert(ctx, tx, now, c.id, status, reason); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(retry) > 0 {
		return s.retryLater(ctx, retry, "AWS returned it in UnprocessedRecords (a transient failure); retrying")
	}
	return nil
}

// reject records a request-level rejection of records (a single record, or a
// batch the rejection is about as a whole). An out-of-range timestamp past the
// record's deadline is an expiry; otherwise the record is rejected with AWS's
// error. A timestamp AWS calls out of range while Concord's clock says it is
// in time is retried: the clocks disagree.
func (s *Service) reject(ctx context.Context, batch []claimed, rej *RejectedError) error {
	now := s.Now()
	reason := "AWS rejected the request: " + marketplace.Clip(rej.Error(), 500)
	var retry []claimed
	err := s.DB.WriteCommitted(ctx, func(tx *store.Tx) error {
		retry = retry[:0]
		for _, c := range batch {
			status := StatusRejected
			if rej.Code == "TimestampOutOfBoundsException" {
				if now.Before(s.sendDeadline(c.rec.Hour)) && c.rec.Hour.Before(now) {
					retry = append(retry, c)
					continue
				}
				status = StatusExpired
			}
			res, err := tx.Exec(ctx, `UPDATE metering_records SET status = ?, reason = ?, finished_at = ?, lease_owner = NULL, lease_until = 0
				WHERE record_id = ? AND status = 'pending'`, status, reason, store.Millis(now), c.id)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 1 {
				if err := s.alert(ctx, tx, now, c.id, status, reason); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil || len(retry) == 0 {
		return err
	}
	return s.retryLater(ctx, retry, "AWS answered "+rej.Error()+" although Concord's clock says the hour is in time; retrying")
}
