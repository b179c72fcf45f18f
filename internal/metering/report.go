package metering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Record is one entry of the outcome ledger: a record Concord sends (or sent)
// to BatchMeterUsage, with AWS's MeteringRecordId or the reason it was not billed.
type Record struct {
	RecordID           string     `json:"recordId"`
	ProductID          string     `json:"productId"`
	ProductCode        string     `json:"productCode,omitempty"`
	Path               string     `json:"path" doc:"license (LicenseArn + CustomerAWSAccountId) or legacy (ProductCode + customer)"`
	LicenseArn         string     `json:"licenseArn,omitempty"`
	AccountID          string     `json:"accountId"`
	CustomerIdentifier string     `json:"customerIdentifier,omitempty"`
	Dimension          string     `json:"dimension"`
	Hour               time.Time  `json:"hour"`
	Quantity           int64      `json:"quantity"`
	Status             string     `json:"status" enum:"pending,success,duplicate,not_subscribed,rejected,expired"`
	MeteringRecordID   string     `json:"meteringRecordId,omitempty"`
	Reason             string     `json:"reason,omitempty"`
	Attempts           int        `json:"attempts"`
	NextAttemptAt      *time.Time `json:"nextAttemptAt,omitempty"`
	CreatedAt          time.Time  `json:"createdAt"`
	FirstSentAt        *time.Time `json:"firstSentAt,omitempty"`
	FinishedAt         *time.Time `json:"finishedAt,omitempty"`
}

const recordColumns = `record_id, product_id, product_code, path, license_arn, account_id, customer_identifier, dimension, hour, quantity,
	status, metering_record_id, reason, attempts, next_attempt_at, created_at, first_sent_at, finished_at`

func scanRecord(r store.Scanner) (Record, error) {
	var rec Record
	var hour, next, created int64
	var first, fin sql.NullInt64
	err := r.Scan(&rec.RecordID, &rec.ProductID, &rec.ProductCode, &rec.Path, &rec.LicenseArn, &rec.AccountID, &rec.CustomerIdentifier, &rec.Dimension,
		&hour, &rec.Quantity, &rec.Status, &rec.MeteringRecordID, &rec.Reason, &rec.Attempts, &next, &created, &first, &fin)
	rec.Hour, rec.CreatedAt = store.FromMillis(hour), store.FromMillis(created)
	rec.FirstSentAt, rec.FinishedAt = store.FromNullMillis(first), store.FromNullMillis(fin)
	if rec.Status == StatusPending {
		t := store.FromMillis(next)
		rec.NextAttemptAt = &t
	}
	return rec, err
}

// RecordFilter selects outcome ledger entries; empty fields do not filter.
type RecordFilter struct {
	Status    string
	License   string // LicenseArn or l-… id
	ProductID string
	From, To  time.Time // hour range [From, To)
	Cursor    string    // record id to continue after
	Limit     int
}

// ValidStatus reports whether s is a record status.
func ValidStatus(s string) bool {
	switch s {
	case StatusPending, StatusSuccess, StatusDuplicate, StatusNotSubscribed, StatusRejected, StatusExpired:
		return true
	}
	return false
}

// RecordSortKeys are the columns the list of records sorts by.
var RecordSortKeys = []string{"hour", "license", "dimension", "quantity", "status", "attempts"}

// recordSortExprs are the SQL each sort key orders by: fixed text, never
// built from input.
var recordSortExprs = map[string]string{
	"hour": "hour", "license": "license_arn || customer_identifier", "dimension": "dimension", "quantity": "quantity",
	"status": "status", "attempts": "attempts",
}

// RecordPage is one page of a sorted list of records, with the number of
// records the filter selects.
type RecordPage struct {
	Items []Record
	Total int
}

// SortedRecords lists the records f selects (Cursor and Limit aside) with
// one of the statuses given (any when none), ordered by one of
// RecordSortKeys (in time order among equals), offset rows skipped and at
// most limit shown (at most 1000). The database sorts and counts: a seller
// meters many licenses every hour, so the ledger grows without bound.
func (s *Service) SortedRecords(ctx context.Context, f RecordFilter, statuses []string, key string, desc bool, offset, limit int) (RecordPage, error) {
	s.init()
	var out RecordPage
	for _, st := range append(slices.Clone(statuses), f.Status) {
		if st != "" && !ValidStatus(st) {
			return out, marketplace.Errorf(marketplace.EInvalid, "status %q is invalid: use pending, success, duplicate, not_subscribed, rejected or expired", st)
		}
	}
	expr, ok := recordSortExprs[key]
	if !ok {
		return out, marketplace.Errorf(marketplace.EInvalid, "sort %q is not a column of this list: use one of %s", marketplace.Clip(key, 40), strings.Join(RecordSortKeys, ", "))
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	f.Cursor = ""
	conds, args := recordConds(f)
	if len(statuses) > 0 {
		conds = append(conds, "status IN (?"+strings.Repeat(", ?", len(statuses)-1)+")")
		for _, st := range statuses {
			args = append(args, st)
		}
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM metering_records`+where, args...).Scan(&out.Total); err != nil {
			return err
		}
		var err error
		out.Items, err = store.QueryAll(ctx, tx, scanRecord, `SELECT `+recordColumns+` FROM metering_records`+where+
			` ORDER BY `+expr+dir+`, record_id LIMIT ? OFFSET ?`, append(args, limit, max(offset, 0))...)
		return err
	})
	if err != nil {
		return RecordPage{}, fmt.Errorf("list metering records: %w", err)
	}
	return out, nil
}

// recordConds are the SQL conditions of a record filter.
func recordConds(f RecordFilter) ([]string, []any) {
	var conds []string
	var args []any
	add := func(c string, v any) { conds = append(conds, c); args = append(args, v) }
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.License != "" {
		add("record_id IN (SELECT record_id FROM usage_buckets WHERE license_id = ?)", marketplace.LicenseID(f.License))
	}
	if f.ProductID != "" {
		add("product_id = ?", f.ProductID)
	}
	if !f.From.IsZero() {
		add("hour >= ?", store.Millis(f.From))
	}
	if !f.To.IsZero() {
		add("hour < ?", store.Millis(f.To))
	}
	if f.Cursor != "" {
		add("record_id > ?", f.Cursor)
	}
	return conds, args
}

// Records lists the outcome ledger, by record id (time-ordered).
func (s *Service) Records(ctx context.Context, f RecordFilter) ([]Record, error) {
	s.init()
	if f.Status != "" && !ValidStatus(f.Status) {
		return nil, marketplace.Errorf(marketplace.EInvalid, "status %q is invalid: use pending, success, duplicate, not_subscribed, rejected or expired", f.Status)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	conds, args := recordConds(f)
	q := `SELECT ` + recordColumns + ` FROM metering_records`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY record_id LIMIT ?"
	var out []Record
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = store.QueryAll(ctx, tx, scanRecord, q, append(args, f.Limit)...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list metering records: %w", err)
	}
	return out, nil
}

// ReportRow reconciles one (license, dimension, hour): what the app reported,
// what Concord sent and what AWS accepted.
type ReportRow struct {
	LicenseID  string    `json:"licenseId"`
	LicenseArn string    `json:"licenseArn,omitempty"`
	AccountID  string    `json:"accountId,omitempty"`
	ProductID  string    `json:"productId"`
	Dimension  string    `json:"dimension"`
	Hour       time.Time `json:"hour"`
	// Ingested is all usage received for the hour (UsageRecords records).
	Ingested     int64 `json:"ingested"`
	UsageRecords int64 `json:"usageRecords"`
	// Late is usage received after the hour was frozen: kept, never sent.
	Late int64 `json:"late"`
	// Submitted is the quantity frozen for sending (zero while the bucket is open).
	Submitted int64 `json:"submitted"`
	// Accepted is what AWS billed (Success).
	Accepted int64 `json:"accepted"`
	// Status is open (still collecting), or the outcome of its metering record.
	Status           string `json:"status"`
	MeteringRecordID string `json:"meteringRecordId,omitempty"`
	RecordID         string `json:"recordId,omitempty"`
	// Gap says why ingested usage was not (or will not be) billed; empty when
	// all of it was, or while it is still on its way.
	Gap    string `json:"gap,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// ReportFilter selects report rows.
type ReportFilter struct {
	License   string // LicenseArn or l-… id
	ProductID string
	From, To  time.Time // hour range [From, To)
	GapsOnly  bool
	Limit     int
}

// Report is the reconciliation: rows oldest first, and totals over every
// row the filter selects (not only the rows shown).
type Report struct {
	Totals ReportTotals `json:"totals"`
	Rows   []ReportRow  `json:"rows"`
	// Truncated: more rows match than Limit; the totals still count them all.
	Truncated bool `json:"truncated"`
}

// ReportTotals add up the selected rows.
type ReportTotals struct {
	Ingested  int64 `json:"ingested"`
	Late      int64 `json:"late"`
	Submitted int64 `json:"submitted"`
	Accepted  int64 `json:"accepted"`
	Rows      int64 `json:"rows"`
	Gaps      int64 `json:"gaps"`
}

// staleOpen: an open bucket this long past its close time means no submitter
// is closing buckets (every replica runs --no-metering, or they are down).
const staleOpen = 5 * time.Minute

// staleMargin: a record still pending this close to its deadline is at risk.
const staleMargin = 2 * time.Hour

// Report reconciles usage per license, dimension and hour, oldest first.
func (s *Service) Report(ctx context.Context, f ReportFilter) (Report, error) {
	s.init()
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 1000
	}
	now := s.Now()
	openBefore := store.Millis(now.Add(-staleOpen))
	pendingBefore := store.Millis(s.expiryCutoff(now.Add(staleMargin)))
	var conds []string
	var args []any
	add := func(c string, v any) { conds = append(conds, c); args = append(args, v) }
	if f.License != "" {
		add("b.license_id = ?", marketplace.LicenseID(f.License))
	}
	if f.ProductID != "" {
		add("b.product_id = ?", f.ProductID)
	}
	if !f.From.IsZero() {
		add("b.hour >= ?", store.Millis(f.From.Truncate(time.Hour)))
	}
	if !f.To.IsZero() {
		add("b.hour < ?", store.Millis(f.To))
	}
	gapSQL := `(b.late_quantity > 0 OR r.status IN ('duplicate', 'not_subscribed', 'rejected', 'expired')
		OR (b.state = 'open' AND b.close_at < ?) OR (r.status = 'pending' AND r.hour <= ?))`
	gapArgs := []any{openBefore, pendingBefore}
	if f.GapsOnly {
		conds = append(conds, gapSQL)
		args = append(args, gapArgs...)
	}
	from := ` FROM usage_buckets b LEFT JOIN metering_records r ON r.record_id = b.record_id LEFT JOIN licenses l ON l.license_id = b.license_id`
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var out Report
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out.Rows, err = store.QueryAll(ctx, tx, func(r store.Scanner) (ReportRow, error) {
			var row ReportRow
			var hour, q, n, lq, ln, closeAt int64
			var state, status string
			err := r.Scan(&row.LicenseID, &row.LicenseArn, &row.AccountID, &row.ProductID, &row.Dimension, &hour, &q, &n, &lq, &ln, &state, &closeAt, &status,
				&row.MeteringRecordID, &row.RecordID, &row.Reason)
			row.Hour = store.FromMillis(hour)
			row.Ingested, row.UsageRecords, row.Late = q+lq, n+ln, lq
			row.Status = status
			switch {
			case state == bucketOpen:
				row.Status = bucketOpen
			case row.RecordID == "":
				row.Status = "late"
			default:
				row.Submitted = q
			}
			if status == StatusSuccess {
				row.Accepted = q
			}
			row.Gap = gap(row, status)
			if state == bucketOpen && closeAt < openBefore {
				row.Gap = join(row.Gap, fmt.Sprintf("still open %s after it should have closed: is a submitter running (not --no-metering)?",
					now.Sub(store.FromMillis(closeAt)).Truncate(time.Minute)))
			}
			if status == StatusPending && hour <= pendingBefore {
				row.Gap = join(row.Gap, "not yet accepted, and AWS's window for it closes "+s.sendDeadline(row.Hour).Format(time.RFC3339))
			}
			return row, err
		}, `SELECT b.license_id, COALESCE(l.license_arn, ''), COALESCE(l.account_id, ''), b.product_id, b.dimension, b.hour,
			b.quantity, b.records, b.late_quantity, b.late_records, b.state, b.close_at, COALESCE(r.status, ''), COALESCE(r.metering_record_id, ''),
			COALESCE(r.record_id, ''), COALESCE(r.reason, '')`+from+where+` ORDER BY b.hour, b.license_id, b.dimension LIMIT ?`, append(args, f.Limit+1)...)
		if err != nil {
			return err
		}
		if len(out.Rows) > f.Limit {
			out.Rows, out.Truncated = out.Rows[:f.Limit], true
		}
		t := &out.Totals
		return tx.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(b.quantity + b.late_quantity), 0), COALESCE(SUM(b.late_quantity), 0),
			COALESCE(SUM(CASE WHEN b.state = 'closed' AND r.record_id IS NOT NULL THEN b.quantity ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN r.status = 'success' THEN b.quantity ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN `+gapSQL+` THEN 1 ELSE 0 END), 0)`+from+where, append(gapArgs, args...)...).
			Scan(&t.Rows, &t.Ingested, &t.Late, &t.Submitted, &t.Accepted, &t.Gaps)
	})
	if err != nil {
		return Report{}, fmt.Errorf("metering report: %w", err)
	}
	if out.Rows == nil {
		out.Rows = []ReportRow{}
	}
	return out, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// gap explains usage of a row that was not billed.
func gap(r ReportRow, status string) string {
	var parts []string
	switch status {
	case StatusDuplicate:
		parts = append(parts, fmt.Sprintf("%d not billed: AWS already held a different quantity for this hour", r.Submitted))
	case StatusNotSubscribed:
		parts = append(parts, fmt.Sprintf("%d not billed: customer not subscribed", r.Submitted))
	case StatusRejected:
		parts = append(parts, fmt.Sprintf("%d not billed: rejected", r.Submitted))
	case StatusExpired:
		parts = append(parts, fmt.Sprintf("%d not billed: not sent within AWS's window", r.Submitted))
	}
	if r.Late > 0 {
		parts = append(parts, fmt.Sprintf("%d late (arrived after the hour was submitted)", r.Late))
	}
	return strings.Join(parts, "; ")
}

// Requeue sends rejected or not_subscribed records again, once the cause is
// fixed (a product code or dimension published in AWS, a buyer's account
// reinstated). Such a record was never billed, so sending it again cannot bill
// twice; a record whose hour is past AWS's window cannot be sent and is left
// alone. The product code is read again from the product's configuration.
// Give a record id, or a product id and a status; it returns how many records
// were queued.
func (s *Service) Requeue(ctx context.Context, recordID, productID, status string) (int, error) {
	s.init()
	if status == "" {
		status = StatusRejected
	}
	if status != StatusRejected && status != StatusNotSubscribed {
		return 0, marketplace.Errorf(marketplace.EInvalid, "only rejected and not_subscribed records can be sent again, not %s: the others were billed, or AWS holds another quantity for their hour, or it is too late", status)
	}
	if (recordID == "") == (productID == "") {
		return 0, marketplace.Errorf(marketplace.EInvalid, "give a record id, or a product id (with a status)")
	}
	var n int
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		now := s.Now()
		q := `UPDATE metering_records SET status = 'pending', attempts = 0, next_attempt_at = ?, finished_at = NULL, lease_owner = NULL, lease_until = 0,
			reason = 'sent again on request after: ' || reason,
			product_code = COALESCE((SELECT p.product_code FROM products p WHERE p.product_id = metering_records.product_id), product_code)
			WHERE hour > ? AND quantity <= ` + strconv.Itoa(MaxQuantity) + ` AND `
		args := []any{store.Millis(now), store.Millis(s.expiryCutoff(now))}
		if recordID != "" {
			var st string
			err := tx.QueryRow(ctx, `SELECT status FROM metering_records WHERE record_id = ?`, recordID).Scan(&st)
			if errors.Is(err, sql.ErrNoRows) {
				return marketplace.Errorf(marketplace.ENotFound, "metering record %s not found", recordID)
			} else if err != nil {
				return err
			}
			if st != StatusRejected && st != StatusNotSubscribed {
				return marketplace.Errorf(marketplace.EConflict, "metering record %s is %s: only rejected and not_subscribed records can be sent again", recordID, st)
			}
			q += `record_id = ? AND status IN ('rejected', 'not_subscribed')`
			args = append(args, recordID)
		} else {
			q += `product_id = ? AND status = ?`
			args = append(args, productID, status)
		}
		res, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("requeue: %w", err)
		}
		k, _ := res.RowsAffected()
		n = int(k)
		if recordID != "" && n == 0 {
			return marketplace.Errorf(marketplace.EConflict, "metering record %s cannot be sent again: it is past AWS's window, or its quantity exceeds %d, the most one AWS usage record can carry",
				recordID, MaxQuantity)
		}
		if n > 0 {
			tx.AfterCommit(s.Wake)
		}
		c := audit.Change{Object: "metering_record", ObjectID: recordID, Action: "metering.retry", Summary: "sent metering record " + recordID + " again"}
		if recordID == "" {
			c.Object, c.ObjectID = "product", productID
			c.Summary = fmt.Sprintf("sent %d %s metering records of product %s again", n, status, productID)
		}
		return audit.Record(ctx, tx, c)
	})
	return n, err
}
