package metering

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Usage is one usage record as the vendor's app reports it.
type Usage struct {
	// License is a LicenseArn or license id (l-…); or give Tenant, whose
	// billing license is metered. With both, the license must be the tenant's.
	License string `json:"license,omitempty"`
	Tenant  string `json:"tenant,omitempty"`
	// Dimension is a usage dimension of the license's product.
	Dimension string `json:"dimension"`
	// Quantity is a whole number from 0 to 2,147,483,647.
	Quantity int64 `json:"quantity"`
	// Timestamp is when the usage happened (RFC 3339).
	Timestamp time.Time `json:"timestamp"`
	// IdempotencyKey makes a resend of the record harmless: a key is counted once.
	IdempotencyKey string `json:"idempotencyKey"`
}

// Usage record results.
const (
	UsageAccepted  = "accepted"
	UsageLate      = "late"
	UsageDuplicate = "duplicate"
	UsageRejected  = "rejected"
)

// IngestResult says what became of a batch. Records lists the records that
// were not simply accepted (late, duplicate or rejected), by their index in
// the batch.
type IngestResult struct {
	Accepted   int           `json:"accepted"`
	Late       int           `json:"late"`
	Duplicates int           `json:"duplicates"`
	Rejected   int           `json:"rejected"`
	Records    []UsageResult `json:"records"`
}

// UsageResult is the fate of one record that was not simply accepted.
type UsageResult struct {
	Index          int    `json:"index"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	Status         string `json:"status"`
	Reason         string `json:"reason"`
}

// wireUsage is a record as it arrives, before its fields are checked.
type wireUsage struct {
	License        string          `json:"license"`
	Tenant         string          `json:"tenant"`
	Dimension      string          `json:"dimension"`
	Quantity       json.RawMessage `json:"quantity"`
	Timestamp      string          `json:"timestamp"`
	IdempotencyKey string          `json:"idempotencyKey"`
}

// ParseUsage decodes and shape-checks one record of a batch: everything that
// does not need the ledger. The error says what is wrong, for the vendor.
func ParseUsage(raw []byte) (Usage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var w wireUsage
	if err := dec.Decode(&w); err != nil {
		return Usage{}, notARecord(err)
	}
	if dec.More() {
		return Usage{}, errors.New("not a usage record: trailing data")
	}
	return w.usage()
}

// Parsed is one record of a batch as ParseBatch read it: the usage, or why it
// is not a usage record.
type Parsed struct {
	Usage Usage
	Err   error
}

// ParseBatch reads a batch body, {"records": [...]}, in one pass. A record
// that is not a well-formed usage record (a wrong type, an unknown field, a
// missing value) gets its own error; only a body that is not JSON, or not of
// that shape, is an error as a whole.
func ParseBatch(body []byte) ([]Parsed, error) {
	if out, ok := parseBatchFast(body); ok {
		return out, nil
	}
	return decodeBatch(body)
}

// decodeBatch is ParseBatch with encoding/json, for every body.
func decodeBatch(body []byte) ([]Parsed, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	bad := func(format string, args ...any) error {
		return marketplace.Errorf(marketplace.EInvalid, "the body must be {\"records\": [ ... ]}: "+format, args...)
	}
	if tok, err := dec.Token(); err != nil {
		return nil, bad("%s", strings.TrimPrefix(err.Error(), "json: "))
	} else if tok != json.Delim('{') {
		return nil, bad("it does not start with {")
	}
	var out []Parsed
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad("%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		if key, _ := tok.(string); key != "records" || seen {
			return nil, bad("unexpected field %q", marketplace.Clip(fmt.Sprint(tok), 40))
		}
		seen = true
		if tok, err := dec.Token(); err != nil {
			return nil, bad("%s", strings.TrimPrefix(err.Error(), "json: "))
		} else if tok != json.Delim('[') {
			return nil, bad("records must be a list")
		}
		out = []Parsed{}
		for dec.More() {
			if len(out) == MaxIngest {
				return nil, marketplace.Errorf(marketplace.ETooLarge, "a batch holds at most %d records", MaxIngest)
			}
			var w wireUsage
			if err := dec.Decode(&w); err != nil {
				var syn *json.SyntaxError
				if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
					return nil, bad("%s", strings.TrimPrefix(err.Error(), "json: "))
				}
				out = append(out, Parsed{Err: notARecord(err)})
				continue
			}
			u, err := w.usage()
			out = append(out, Parsed{Usage: u, Err: err})
		}
		if _, err := dec.Token(); err != nil {
			return nil, bad("%s", strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, bad("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return nil, bad("trailing data")
	}
	if !seen {
		return nil, bad("records is required")
	}
	return out, nil
}

func notARecord(err error) error {
	return fmt.Errorf("not a usage record: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// usage checks a decoded record's fields.
func (w *wireUsage) usage() (Usage, error) {
	u := Usage{License: strings.TrimSpace(w.License), Tenant: strings.TrimSpace(w.Tenant), Dimension: w.Dimension, IdempotencyKey: w.IdempotencyKey}
	for _, f := range []struct{ name, v string }{{"idempotencyKey", w.IdempotencyKey}, {"license", w.License}, {"tenant", w.Tenant}, {"dimension", w.Dimension}} {
		if !utf8.ValidString(f.v) || strings.ContainsRune(f.v, 0) {
			return u, fmt.Errorf("%s contains a NUL character or invalid UTF-8", f.name)
		}
		if len(f.v) > 2048 {
			return u, fmt.Errorf("%s is longer than 2048 bytes", f.name)
		}
	}
	switch {
	case u.IdempotencyKey == "":
		return u, errors.New("idempotencyKey is required: it makes a resent record count once")
	case len(u.IdempotencyKey) > 255:
		return u, errors.New("idempotencyKey is longer than 255 bytes")
	case u.License == "" && u.Tenant == "":
		return u, errors.New("give license (a LicenseArn or l-… id) or tenant")
	case u.Dimension == "":
		return u, errors.New("dimension is required")
	case len(u.Dimension) > 255:
		return u, errors.New("dimension is longer than 255 bytes")
	}
	q := strings.TrimSpace(string(w.Quantity))
	if q == "" || q == "null" {
		return u, errors.New("quantity is required")
	}
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		return u, fmt.Errorf("quantity %s is not a whole number", marketplace.Clip(q, 40))
	}
	if n < 0 || n > MaxQuantity {
		return u, fmt.Errorf("quantity %d is out of range: AWS takes 0 to %d", n, MaxQuantity)
	}
	u.Quantity = n
	if w.Timestamp == "" {
		return u, errors.New("timestamp is required (RFC 3339, e.g. 2026-12-01T10:15:00Z)")
	}
	ts, err := time.Parse(time.RFC3339Nano, w.Timestamp)
	if err != nil {
		return u, fmt.Errorf("timestamp %q is not RFC 3339 (e.g. 2026-12-01T10:15:00Z)", marketplace.Clip(w.Timestamp, 64))
	}
	if y := ts.UTC().Year(); y < 2000 || y > 9998 {
		return u, fmt.Errorf("timestamp %s is out of range", marketplace.Clip(w.Timestamp, 64))
	}
	u.Timestamp = ts.UTC()
	return u, nil
}

// target is a license usage may be metered on, with its product.
type target struct {
	license marketplace.License
	product marketplace.Product
	err     error
}

type bucketKey struct {
	license, dimension string
	hour               int64
}

type bucketAdd struct {
	product           string
	quantity, records int64
	late              bool
	closeAt           int64
}

// Ingest checks and stores a batch of raw records in one transaction: when it
// returns without error, every accepted record is committed. Rejected records
// change nothing and get their reason.
func (s *Service) Ingest(ctx context.Context, raws []json.RawMessage) (IngestResult, error) {
	if len(raws) > MaxIngest {
		return IngestResult{}, marketplace.Errorf(marketplace.ETooLarge, "a batch holds at most %d records, this one has %d", MaxIngest, len(raws))
	}
	batch := make([]Parsed, len(raws))
	for i, raw := range raws {
		batch[i].Usage, batch[i].Err = ParseUsage(raw)
	}
	return s.IngestParsed(ctx, batch)
}

// IngestBatch ingests a batch body, {"records": [...]} (see ParseBatch).
func (s *Service) IngestBatch(ctx context.Context, body []byte) (IngestResult, error) {
	release, err := s.largeSlot(ctx, len(body))
	if err != nil {
		return IngestResult{}, err
	}
	defer release()
	batch, err := ParseBatch(body)
	if err != nil {
		return IngestResult{}, err
	}
	return s.IngestParsed(ctx, batch)
}

// IngestParsed ingests parsed records (see Ingest).
func (s *Service) IngestParsed(ctx context.Context, batch []Parsed) (IngestResult, error) {
	s.init()
	if len(batch) > MaxIngest {
		return IngestResult{}, marketplace.Errorf(marketplace.ETooLarge, "a batch holds at most %d records, this one has %d", MaxIngest, len(batch))
	}
	now := s.Now().UTC()
	var res IngestResult
	err := s.DB.WriteLocked(ctx, bucketLocks(batch), func(tx *store.Tx) error {
		res = IngestResult{Records: []UsageResult{}}
		status := make([]string, len(batch))
		reasons := make([]string, len(batch))
		for i, b := range batch {
			if b.Err != nil {
				status[i], reasons[i] = UsageRejected, sentence(b.Err)
			}
		}
		var refused []int // records the checks refused: duplicates if their key is stored
		targets := map[string]*target{}
		if err := s.preload(ctx, tx, targets, batch); err != nil {
			return err
		}
		tenants := map[string]*target{}
		rows := make([]usageRow, 0, len(batch))
		seen := make(map[string]int, len(batch))
		buckets, err := loadBuckets(ctx, tx, batch)
		if err != nil {
			return err
		}
		for i := range batch {
			if status[i] != "" {
				continue
			}
			u := &batch[i].Usage
			if j, dup := seen[u.IdempotencyKey]; dup {
				status[i], reasons[i] = UsageDuplicate, fmt.Sprintf("idempotencyKey %q repeats record %d of this batch; counted once", marketplace.Clip(u.IdempotencyKey, 80), j)
				if o := batch[j].Usage; o.License != u.License || o.Tenant != u.Tenant || o.Dimension != u.Dimension || o.Quantity != u.Quantity || !o.Timestamp.Equal(u.Timestamp) {
					reasons[i] += fmt.Sprintf(" (record %d differs: quantity %d of %s at %s; this one was not counted)", j, o.Quantity, o.Dimension, o.Timestamp.Format(time.RFC3339Nano))
				}
				continue
			}
			if why := s.checkTime(now, u.Timestamp); why != "" {
				status[i], reasons[i] = UsageRejected, why
				refused = append(refused, i)
				continue
			}
			t, err := s.resolve(ctx, tx, targets, tenants, u.License, u.Tenant)
			if err != nil {
				return err
			}
			if t.err != nil {
				status[i], reasons[i] = UsageRejected, sentence(t.err)
				refused = append(refused, i)
				continue
			}
			if why := checkUsage(t, u); why != "" {
				status[i], reasons[i] = UsageRejected, why
				refused = append(refused, i)
				continue
			}
			k := bucketKey{t.license.LicenseID, u.Dimension, store.Millis(u.Timestamp.Truncate(time.Hour))}
			b := buckets[k]
			if b == nil {
				if b, err = loadBucket(ctx, tx, k, t, buckets); err != nil {
					return err
				}
				buckets[k] = b
			}
			// One AWS record carries at most MaxQuantity: an hour cannot hold more.
			if !b.late && b.quantity+u.Quantity > MaxQuantity {
				status[i], reasons[i] = UsageRejected, fmt.Sprintf("the hour %s of %s on license %s would exceed %d, the most one AWS usage record can carry",
					store.FromMillis(k.hour).Format(time.RFC3339), k.dimension, k.license, MaxQuantity)
				refused = append(refused, i)
				continue
			}
			seen[u.IdempotencyKey] = i
			if !b.late {
				b.quantity += u.Quantity
			}
			rows = append(rows, usageRow{index: i, key: u.IdempotencyKey, license: t.license.LicenseID, tenant: u.Tenant, product: t.product.ProductID,
				dimension: u.Dimension, quantity: u.Quantity, ts: store.Millis(u.Timestamp), hour: k.hour, late: b.late,
				closeAt: s.closeAt(k.hour, t.license)})
		}
		inserted, err := insertUsage(ctx, tx, rows, store.Millis(now))
		if err != nil {
			return err
		}
		adds := map[bucketKey]*bucketAdd{}
		var order []bucketKey
		var raced []string
		for _, r := range rows {
			if !inserted[r.key] {
				raced = append(raced, r.key) // stored before: a duplicate
				continue
			}
			k := bucketKey{r.license, r.dimension, r.hour}
			a := adds[k]
			if a == nil {
				a = &bucketAdd{product: r.product, late: r.late, closeAt: r.closeAt}
				adds[k] = a
				order = append(order, k)
			}
			a.quantity += r.quantity
			a.records++
			if r.late {
				status[r.index] = UsageLate
				reasons[r.index] = fmt.Sprintf("hour %s of %s on license %s was already submitted; this usage is kept and reported as late, never sent",
					store.FromMillis(r.hour).Format(time.RFC3339), r.dimension, r.license)
			} else {
				status[r.index] = UsageAccepted
			}
		}
		// A key already stored is a duplicate whatever else may have changed
		// since (the license deprovisioned, the hour too old): that usage is
		// committed and counted. Stored keys show up as conflicts at the
		// insert; the records the checks refused are looked up here.
		for _, i := range refused {
			raced = append(raced, batch[i].Usage.IdempotencyKey)
		}
		if len(raced) > 0 {
			stored, err := storedUsage(ctx, tx, raced)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if st, ok := stored[r.key]; ok && !inserted[r.key] {
					status[r.index], reasons[r.index] = UsageDuplicate, st.describe(&batch[r.index].Usage)
				}
			}
			for _, i := range refused {
				if st, ok := stored[batch[i].Usage.IdempotencyKey]; ok {
					status[i], reasons[i] = UsageDuplicate, st.describe(&batch[i].Usage)
				}
			}
			for _, r := range rows {
				if status[r.index] == "" { // its key conflicted, so it is stored, if not visible here
					status[r.index], reasons[r.index] = UsageDuplicate, fmt.Sprintf("idempotencyKey %q was already received; counted once", marketplace.Clip(r.key, 80))
				}
			}
		}
		// Buckets are written in one order (as Close reads them), so two
		// batches on PostgreSQL never wait on each other's rows in a cycle.
		slices.SortFunc(order, func(a, b bucketKey) int {
			return cmp.Or(cmp.Compare(a.hour, b.hour), cmp.Compare(a.license, b.license), cmp.Compare(a.dimension, b.dimension))
		})
		if err := addToBuckets(ctx, tx, order, adds, store.Millis(now)); err != nil {
			return err
		}
		for i := range batch {
			r := UsageResult{Index: i, IdempotencyKey: batch[i].Usage.IdempotencyKey, Status: status[i], Reason: reasons[i]}
			switch status[i] {
			case UsageAccepted:
				res.Accepted++
				continue
			case UsageLate:
				res.Late++
			case UsageDuplicate:
				res.Duplicates++
			default:
				res.Rejected++
			}
			res.Records = append(res.Records, r)
		}
		return nil
	})
	if err != nil {
		return IngestResult{}, err
	}
	s.Metrics.usage(UsageAccepted, res.Accepted)
	s.Metrics.usage(UsageLate, res.Late)
	s.Metrics.usage(UsageDuplicate, res.Duplicates)
	s.Metrics.usage(UsageRejected, res.Rejected)
	return res, nil
}

// addBucketsSQL adds a batch's usage to its buckets, from rows of
// (license_id, dimension, hour, product_id, quantity, records,
// late_quantity, late_records, close_at). A frozen bucket never changes: the
// CASEs keep it so even if the state the batch read were stale (the
// transaction would then fail to commit on PostgreSQL's SERIALIZABLE anyway).
const addBucketsSQL = `INSERT INTO usage_buckets (license_id, dimension, hour, product_id, quantity, records, late_quantity, late_records, state, close_at, created_at, updated_at) %s
	ON CONFLICT (license_id, dimension, hour) DO UPDATE SET
	quantity = usage_buckets.quantity + CASE WHEN usage_buckets.state = 'open' THEN excluded.quantity ELSE 0 END,
	records = usage_buckets.records + CASE WHEN usage_buckets.state = 'open' THEN excluded.records ELSE 0 END,
	late_quantity = usage_buckets.late_quantity + excluded.late_quantity + CASE WHEN usage_buckets.state = 'open' THEN 0 ELSE excluded.quantity END,
	late_records = usage_buckets.late_records + excluded.late_records + CASE WHEN usage_buckets.state = 'open' THEN 0 ELSE excluded.records END,
	updated_at = excluded.updated_at`

// addToBuckets writes adds to their buckets in order: many buckets to a
// statement, one round trip, not one a bucket. PostgreSQL gets one statement
// of arrays whatever the number of buckets, so its text (and prepared plan)
// is always the same; SQLite statements of up to 100 VALUES rows.
func addToBuckets(ctx context.Context, tx *store.Tx, order []bucketKey, adds map[bucketKey]*bucketAdd, now int64) error {
	if len(order) == 0 {
		return nil
	}
	values := func(k bucketKey) (q, n, lq, ln int64) {
		a := adds[k]
		if a.late {
			return 0, 0, a.quantity, a.records
		}
		return a.quantity, a.records, 0, 0
	}
	if tx.Dialect() == store.Postgres {
		m := len(order)
		ls, ds, ps := make([]string, m), make([]string, m), make([]string, m)
		hs, qs, ns, lqs, lns, cs := make([]int64, m), make([]int64, m), make([]int64, m), make([]int64, m), make([]int64, m), make([]int64, m)
		for i, k := range order {
			ls[i], ds[i], hs[i], ps[i], cs[i] = k.license, k.dimension, k.hour, adds[k].product, adds[k].closeAt
			qs[i], ns[i], lqs[i], lns[i] = values(k)
		}
		// WITH ORDINALITY ... ORDER BY keeps the buckets' order.
		if _, err := tx.Exec(ctx, fmt.Sprintf(addBucketsSQL, `SELECT l, d, h, p, q, n, lq, ln, 'open', c, ?, ?
			FROM unnest(?::text[], ?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[]) WITH ORDINALITY AS u (l, d, h, p, q, n, lq, ln, c, o)
			ORDER BY o`), now, now, ls, ds, hs, ps, qs, ns, lqs, lns, cs); err != nil {
			return fmt.Errorf("add to bucket: %w", err)
		}
		return nil
	}
	const chunk = 100
	for start := 0; start < len(order); start += chunk {
		part := order[start:min(start+chunk, len(order))]
		args := make([]any, 0, len(part)*11)
		for _, k := range part {
			q, n, lq, ln := values(k)
			args = append(args, k.license, k.dimension, k.hour, adds[k].product, q, n, lq, ln, adds[k].closeAt, now, now)
		}
		rows := "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)" + strings.Repeat(", (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)", len(part)-1)
		if _, err := tx.Exec(ctx, fmt.Sprintf(addBucketsSQL, rows), args...); err != nil {
			return fmt.Errorf("add to bucket: %w", err)
		}
	}
	return nil
}

// bucketLocks names the buckets a batch adds to, as far as the records say
// without the database (a tenant's license is looked up inside the
// transaction): on PostgreSQL, batches adding to the same buckets take turns
// (store.DB.WriteLocked) instead of failing each other's SERIALIZABLE
// transactions with serialization errors until one gives up.
func bucketLocks(batch []Parsed) []string {
	seen := make(map[string]bool, len(batch))
	var keys []string
	for i := range batch {
		u := &batch[i].Usage
		if batch[i].Err != nil || u.Tenant != "" || u.License == "" {
			continue
		}
		k := "usage:" + marketplace.LicenseID(u.License) + "|" + u.Dimension + "|" + strconv.FormatInt(store.Millis(u.Timestamp.Truncate(time.Hour)), 10)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// checkTime says why usage at ts cannot be metered at now, or "".
func (s *Service) checkTime(now, ts time.Time) string {
	if ts.After(now.Add(FutureSkew)) {
		return fmt.Sprintf("timestamp %s is in the future (Concord's clock says %s)", ts.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if hour := ts.Truncate(time.Hour); !now.Before(s.sendDeadline(hour)) {
		return fmt.Sprintf("timestamp %s is too old: AWS accepts usage for %s until %s, and it is %s",
			ts.Format(time.RFC3339), hour.Format(time.RFC3339), s.sendDeadline(hour).Format(time.RFC3339), now.Format(time.RFC3339))
	}
	return ""
}

// bucketState is what a batch needs to know of a bucket it adds to.
type bucketState struct {
	late     bool  // closed: what comes now is late
	quantity int64 // on-time usage so far
}

// loadBucket reads a bucket's state. A bucket that does not exist yet on the
// legacy path is late already when its customer's record for the hour went
// out (AWS keeps one record per customer, dimension and hour).
// known holds the buckets loadBuckets read, and nil for those it found
// missing.
func loadBucket(ctx context.Context, tx *store.Tx, k bucketKey, t *target, known map[bucketKey]*bucketState) (*bucketState, error) {
	if b, asked := known[k]; !asked {
		var st string
		var q int64
		err := tx.QueryRow(ctx, `SELECT state, quantity FROM usage_buckets WHERE license_id = ? AND dimension = ? AND hour = ?`, k.license, k.dimension, k.hour).Scan(&st, &q)
		if err == nil {
			return &bucketState{late: st == bucketClosed, quantity: q}, nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("read bucket: %w", err)
		}
	} else if b != nil {
		return b, nil
	}
	if t.product.ConcurrentAgreements {
		return &bucketState{}, nil
	}
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM metering_records WHERE send_key = ?`, legacyKey(t.product.ProductID, t.license.AccountID, k.dimension, k.hour)).Scan(&one)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read customer hour: %w", err)
	}
	return &bucketState{late: err == nil}, nil
}

// loadBuckets reads, in a few statements, the buckets a batch names (as
// bucketLocks finds them): the map holds each one read, and nil for each one
// not stored yet. loadBucket reads those it leaves out.
func loadBuckets(ctx context.Context, tx *store.Tx, batch []Parsed) (map[bucketKey]*bucketState, error) {
	out := map[bucketKey]*bucketState{}
	var keys []bucketKey
	for i := range batch {
		u := &batch[i].Usage
		if batch[i].Err != nil || u.Tenant != "" || u.License == "" {
			continue
		}
		k := bucketKey{marketplace.LicenseID(u.License), u.Dimension, store.Millis(u.Timestamp.Truncate(time.Hour))}
		if _, ok := out[k]; !ok {
			out[k] = nil
			keys = append(keys, k)
		}
	}
	// PostgreSQL reads them in one statement of arrays, whatever their
	// number (one text, one prepared plan); SQLite in lists of 300.
	var queries []string
	var argss [][]any
	if tx.Dialect() == store.Postgres && len(keys) > 0 {
		ls, ds, hs := make([]string, len(keys)), make([]string, len(keys)), make([]int64, len(keys))
		for i, k := range keys {
			ls[i], ds[i], hs[i] = k.license, k.dimension, k.hour
		}
		queries = append(queries, `SELECT b.license_id, b.dimension, b.hour, b.state, b.quantity FROM usage_buckets b
			JOIN unnest(?::text[], ?::text[], ?::bigint[]) AS k (l, d, h) ON b.license_id = k.l AND b.dimension = k.d AND b.hour = k.h`)
		argss = append(argss, []any{ls, ds, hs})
		keys = nil
	}
	const chunk = 300
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		args := make([]any, 0, 3*len(part))
		for _, k := range part {
			args = append(args, k.license, k.dimension, k.hour)
		}
		queries = append(queries, `SELECT license_id, dimension, hour, state, quantity FROM usage_buckets WHERE (license_id, dimension, hour) IN ((?, ?, ?)`+
			strings.Repeat(", (?, ?, ?)", len(part)-1)+`)`)
		argss = append(argss, args)
	}
	for i, query := range queries {
		rows, err := tx.Query(ctx, query, argss[i]...)
		if err != nil {
			return nil, fmt.Errorf("read buckets: %w", err)
		}
		for rows.Next() {
			var k bucketKey
			var st string
			var q int64
			if err := rows.Scan(&k.license, &k.dimension, &k.hour, &st, &q); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read buckets: %w", err)
			}
			out[k] = &bucketState{late: st == bucketClosed, quantity: q}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read buckets: %w", err)
		}
	}
	return out, nil
}

// storedRecord is a usage record already stored under an idempotency key.
type storedRecord struct {
	key, license, dimension string
	quantity, ts, at        int64
}

// storedUsage reads the records stored under keys: on PostgreSQL in one
// statement (= ANY of an array), on SQLite in lists of 500.
func storedUsage(ctx context.Context, tx *store.Tx, keys []string) (map[string]storedRecord, error) {
	out := map[string]storedRecord{}
	const columns = `SELECT idempotency_key, license_id, dimension, quantity, ts, received_at FROM usage_records WHERE idempotency_key `
	var queries []string
	var argss [][]any
	if tx.Dialect() == store.Postgres && len(keys) > 0 {
		queries = append(queries, columns+`= ANY(?::text[])`)
		argss = append(argss, []any{keys})
		keys = nil
	}
	const chunk = 500
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		args := make([]any, len(part))
		for i, k := range part {
			args[i] = k
		}
		queries = append(queries, columns+`IN (?`+strings.Repeat(", ?", len(part)-1)+`)`)
		argss = append(argss, args)
	}
	for i, query := range queries {
		recs, err := store.QueryAll(ctx, tx, func(r store.Scanner) (storedRecord, error) {
			var s storedRecord
			return s, r.Scan(&s.key, &s.license, &s.dimension, &s.quantity, &s.ts, &s.at)
		}, query, argss[i]...)
		if err != nil {
			return nil, fmt.Errorf("look up idempotency keys: %w", err)
		}
		for _, r := range recs {
			out[r.key] = r
		}
	}
	return out, nil
}

// describe explains a duplicate of st, saying whether u differs from it.
func (st storedRecord) describe(u *Usage) string {
	reason := fmt.Sprintf("idempotencyKey %q was received at %s; counted once", marketplace.Clip(st.key, 80), store.FromMillis(st.at).Format(time.RFC3339))
	differs := st.dimension != u.Dimension || st.quantity != u.Quantity || st.ts != store.Millis(u.Timestamp) ||
		(u.License != "" && st.license != marketplace.LicenseID(u.License))
	if differs {
		reason += fmt.Sprintf(" (the stored record differs: quantity %d of %s at %s on %s; this one was not counted)",
			st.quantity, st.dimension, store.FromMillis(st.ts).Format(time.RFC3339Nano), st.license)
	}
	return reason
}

// Bucket states.
const (
	bucketOpen   = "open"
	bucketClosed = "closed"
)

// FinalWindowClose is how long after its agreement ended a license's running
// hour is sent. AWS takes usage for about an hour after Purchase Agreement
// Ended (until License Deprovisioned); sending half way through leaves time
// for retries while still collecting the tail of the hour.
const FinalWindowClose = 30 * time.Minute

// closeAt is when a bucket of hour closes: the end of the hour plus the grace;
// for a license in its final window, the end of the hour but no later than
// FinalWindowClose after the agreement ended (hours already over close at once).
func (s *Service) closeAt(hour int64, l marketplace.License) int64 {
	end := hour + time.Hour.Milliseconds()
	if l.State != marketplace.LicenseEnding {
		return end + s.Grace.Milliseconds()
	}
	if l.EndingAt != nil {
		end = min(end, store.Millis(l.EndingAt.Add(FinalWindowClose)))
	}
	return end
}

// resolve finds the license a record meters, caching per batch (tenants by
// tenant and license given, licenses by id).
func (s *Service) resolve(ctx context.Context, tx *store.Tx, targets map[string]*target, tenants map[string]*target, license, tenant string) (*target, error) {
	if tenant != "" {
		ck := tenant + "\x00" + license
		if t, ok := tenants[ck]; ok {
			return t, nil
		}
		if s.BillingLicense == nil {
			t := &target{err: marketplace.Errorf(marketplace.EInvalid, "tenants are not available here: give license")}
			tenants[ck] = t
			return t, nil
		}
		lid, err := s.BillingLicense(ctx, tx, tenant, license)
		if c := marketplace.ErrorCode(err); err != nil && (c == marketplace.EInvalid || c == marketplace.ENotFound) {
			t := &target{err: err}
			tenants[ck] = t
			return t, nil
		} else if err != nil {
			return nil, err
		}
		t, err := s.resolve(ctx, tx, targets, tenants, lid, "")
		if err == nil {
			tenants[ck] = t
		}
		return t, err
	}
	lid := marketplace.LicenseID(license)
	if t, ok := targets[lid]; ok {
		return t, nil
	}
	t := &target{}
	targets[lid] = t
	l, ok, err := inbox.LoadLicense(ctx, tx, lid)
	if err != nil {
		return nil, err
	}
	if ok && tx.Dialect() == store.Postgres {
		// A row lock orders this transaction against the ledger's folds of
		// the license (inbox's projector), whichever isolation they run in.
		// A fold committed since this snapshot makes this transaction retry
		// with the license's new state; a fold after it waits, and its
		// metering Hook then sees the buckets added here.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM licenses WHERE license_id = ? FOR SHARE`, lid); err != nil {
			return nil, fmt.Errorf("lock license %s: %w", lid, err)
		}
	}
	return t, s.fill(ctx, tx, t, license, l, ok, nil)
}

// fill completes target t of license (as the record named it), whose row l
// was found if ok, with its product; products caches them for a batch.
func (s *Service) fill(ctx context.Context, tx *store.Tx, t *target, license string, l marketplace.License, ok bool, products map[string]*marketplace.Product) error {
	if !ok {
		t.err = fmt.Errorf("license %s is not known to Concord (its License Updated event has not arrived)", marketplace.Clip(license, 120))
		return nil
	}
	t.license = l
	p, cached := products[l.ProductID]
	if !cached {
		found, ok, err := inbox.LoadProduct(ctx, tx, l.ProductID)
		if err != nil {
			return err
		}
		if ok {
			p = &found
		}
		if products != nil {
			products[l.ProductID] = p
		}
	}
	if p == nil {
		t.err = fmt.Errorf("product %s of license %s is not configured: declare its usage dimensions with PUT /v1/products/%s", l.ProductID, l.LicenseArn, l.ProductID)
		return nil
	}
	t.product = *p
	return nil
}

// preload resolves the licenses a batch names directly (not through a
// tenant) in one statement, with their products once each, where resolve
// would take three round trips a license; the row locks are the same.
func (s *Service) preload(ctx context.Context, tx *store.Tx, targets map[string]*target, batch []Parsed) error {
	first := map[string]string{}
	var ids []string
	for i := range batch {
		u := &batch[i].Usage
		if batch[i].Err != nil || u.Tenant != "" || u.License == "" {
			continue
		}
		if lid := marketplace.LicenseID(u.License); first[lid] == "" {
			first[lid] = u.License
			ids = append(ids, lid)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids) // rows are locked in one order
	found, err := inbox.LoadLicenses(ctx, tx, ids, tx.Dialect() == store.Postgres)
	if err != nil {
		return err
	}
	products := map[string]*marketplace.Product{}
	for _, lid := range ids {
		t := &target{}
		targets[lid] = t
		l, ok := found[lid]
		if err := s.fill(ctx, tx, t, first[lid], l, ok, products); err != nil {
			return err
		}
	}
	return nil
}

// checkUsage says why a record cannot be metered on its license, or "".
func checkUsage(t *target, u *Usage) string {
	l, p := t.license, t.product
	d, ok := p.Dimension(u.Dimension)
	switch {
	case !ok && len(p.Dimensions) == 0:
		return fmt.Sprintf("product %s has no dimensions configured: declare its usage dimensions with PUT /v1/products/%s", p.ProductID, p.ProductID)
	case !ok:
		return fmt.Sprintf("dimension %q is not a dimension of product %s", marketplace.Clip(u.Dimension, 80), p.ProductID)
	case d.Kind == "contract":
		return fmt.Sprintf("dimension %q of product %s is a contract (entitlement) dimension; only usage dimensions are metered", u.Dimension, p.ProductID)
	}
	switch l.State {
	case marketplace.LicenseDeprovisioned:
		at := "?"
		if l.DeprovisionedAt != nil {
			at = l.DeprovisionedAt.Format(time.RFC3339)
		}
		return fmt.Sprintf("license %s was deprovisioned at %s: AWS no longer accepts usage for it", l.LicenseArn, at)
	case marketplace.LicensePending:
		at := "a future date"
		if l.StartsAt != nil {
			at = l.StartsAt.Format(time.RFC3339)
		}
		return fmt.Sprintf("license %s starts at %s: usage before its start is not billable", l.LicenseArn, at)
	}
	start := l.ActivatedAt
	if l.StartsAt != nil && (start == nil || l.StartsAt.After(*start)) {
		start = l.StartsAt
	}
	if start != nil && u.Timestamp.Before(start.Truncate(time.Hour)) {
		return fmt.Sprintf("timestamp %s is before license %s started (%s)", u.Timestamp.Format(time.RFC3339), l.LicenseArn, start.Format(time.RFC3339))
	}
	if p.ConcurrentAgreements && l.LicenseArn == "" {
		return fmt.Sprintf("license %s has no LicenseArn yet", l.LicenseID)
	}
	return ""
}

type usageRow struct {
	index                         int
	key, license, tenant, product string
	dimension                     string
	quantity, ts, hour, closeAt   int64
	late                          bool
}

const insertUsageSQL = `INSERT INTO usage_records (idempotency_key, license_id, tenant_id, dimension, quantity, ts, hour, late, received_at) VALUES `

// insertUsage inserts rows, skipping idempotency keys already stored, and
// returns the keys it inserted. SQLite (in process) runs one prepared
// statement per row, which it does faster than it parses a statement of many
// rows; PostgreSQL gets one statement for the whole batch, its columns as
// arrays (unnest): one round trip, nine parameters instead of nine a row,
// which PostgreSQL binds and plans much faster than a VALUES list of
// hundreds of rows.
func insertUsage(ctx context.Context, tx *store.Tx, rows []usageRow, now int64) (map[string]bool, error) {
	inserted := make(map[string]bool, len(rows))
	if len(rows) == 0 {
		return inserted, nil
	}
	if tx.Dialect() == store.SQLite {
		stmt, err := tx.Prepare(ctx, insertUsageSQL+`(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`)
		if err != nil {
			return nil, fmt.Errorf("insert usage: %w", err)
		}
		defer stmt.Close()
		for _, r := range rows {
			res, err := stmt.Exec(ctx, r.key, r.license, r.tenant, r.dimension, r.quantity, r.ts, r.hour, r.late, now)
			if err != nil {
				return nil, fmt.Errorf("insert usage: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				inserted[r.key] = true
			}
		}
		return inserted, nil
	}
	keys, licenses, tenants, dims := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows))
	quantities, tss, hours, lates := make([]int64, len(rows)), make([]int64, len(rows)), make([]int64, len(rows)), make([]bool, len(rows))
	for i, r := range rows {
		keys[i], licenses[i], tenants[i], dims[i] = r.key, r.license, r.tenant, r.dimension
		quantities[i], tss[i], hours[i], lates[i] = r.quantity, r.ts, r.hour, r.late
	}
	stored, err := store.QueryAll(ctx, tx, store.ScanString, `INSERT INTO usage_records (idempotency_key, license_id, tenant_id, dimension, quantity, ts, hour, late, received_at)
		SELECT k, l, t, d, q, ts, h, late, ? FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::boolean[]) AS u (k, l, t, d, q, ts, h, late)
		ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key`,
		now, keys, licenses, tenants, dims, quantities, tss, hours, lates)
	if err != nil {
		return nil, fmt.Errorf("insert usage: %w", err)
	}
	for _, k := range stored {
		inserted[k] = true
	}
	return inserted, nil
}

// sentence is why a record was refused, as a person reads it: a coded
// error's message ("tenant t-1 not found"), never its code in front
// ("not_found: tenant t-1 not found").
func sentence(err error) string {
	var e *marketplace.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
