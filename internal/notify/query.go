package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// NotificationAttachment describes a stored attachment (its bytes stay in
// the database and go out with every email of the notification).
type NotificationAttachment struct {
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size" doc:"Bytes."`
}

// NotificationDelivery is one message to one target with its latest outcome.
type NotificationDelivery struct {
	ID      string `json:"id"`
	Channel string `json:"channel" doc:"email or slack"`
	// Target is the address, or the webhook URL with its secret path hidden.
	Target    string     `json:"target"`
	Status    string     `json:"status" doc:"pending, sent, failed (gave up) or skipped (e.g. no SMTP server configured)."`
	Attempts  int        `json:"attempts"`
	LastError string     `json:"lastError,omitempty" doc:"Why the latest attempt failed, or why the delivery was skipped."`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
	SentAt    *time.Time `json:"sentAt,omitempty"`
}

// NotificationSummary is a notification in a list.
type NotificationSummary struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	Key         string `json:"key"`
	Subject     string `json:"subject"`
	ProductID   string `json:"productId,omitempty"`
	OfferID     string `json:"offerId,omitempty"`
	AgreementID string `json:"agreementId,omitempty"`
	BuyerFacing bool   `json:"buyerFacing,omitempty"`
	// Status sums up the deliveries: failed if one failed, else pending if one
	// is pending, else skipped if one was skipped, else sent; none without any.
	Status string `json:"status" doc:"failed, pending, skipped, sent, or none (no email or Slack recipient)."`
	// Counts are the deliveries per status.
	Counts    map[string]int `json:"counts" doc:"Deliveries per status."`
	CreatedAt time.Time      `json:"createdAt"`
}

// Notification is one notification as rendered, with its recipients,
// attachments and deliveries.
type Notification struct {
	NotificationSummary
	Text string `json:"text"`
	HTML string `json:"html"`
	// Data is the kind's data (OrderData, AgreementEndingData, …) as JSON.
	Data        json.RawMessage          `json:"data"`
	Recipients  []string                 `json:"recipients" doc:"The email recipients."`
	Attachments []NotificationAttachment `json:"attachments"`
	Deliveries  []NotificationDelivery   `json:"deliveries"`
}

// Filter narrows List.
type Filter struct {
	// Kind is one of Kinds, or empty for all.
	Kind string
	// Status keeps notifications with at least one delivery in this status
	// (pending, sent, failed, skipped), or none: without deliveries.
	Status string
	// Limit is the page size (default 100, at most 500); Cursor the id of the
	// last notification of the previous page.
	Limit  int
	Cursor string
}

func validStatus(s string) bool {
	switch s {
	case StatusPending, StatusSent, StatusFailed, StatusSkipped, StatusNone:
		return true
	}
	return false
}

const summaryColumns = `n.id, n.kind, n.dedupe_key, n.subject, n.product_id, n.offer_id, n.agreement_id, n.buyer_facing, n.created_at`

func scanSummary(r store.Scanner) (NotificationSummary, error) {
	var n NotificationSummary
	var created int64
	err := r.Scan(&n.ID, &n.Kind, &n.Key, &n.Subject, &n.ProductID, &n.OfferID, &n.AgreementID, &n.BuyerFacing, &created)
	n.CreatedAt = store.FromMillis(created)
	return n, err
}

// check refuses a filter naming an unknown kind or delivery status.
func (f Filter) check() error {
	if f.Kind != "" && !KnownKind(f.Kind) {
		return invalid("unknown kind %q: use one of %s", clip(f.Kind), strings.Join(Kinds, ", "))
	}
	if f.Status != "" && !validStatus(f.Status) {
		return invalid("status %q is invalid: use pending, sent, failed, skipped or none", clip(f.Status))
	}
	return nil
}

// where is the SQL condition (on notifications n) of f's kind and delivery
// status, and its arguments.
func (f Filter) where() ([]string, []any) {
	var where []string
	var args []any
	if f.Kind != "" {
		where, args = append(where, "n.kind = ?"), append(args, f.Kind)
	}
	switch f.Status {
	case "":
	case StatusNone:
		where = append(where, "NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.notification_id = n.id)")
	default:
		where, args = append(where, "EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.notification_id = n.id AND d.status = ?)"), append(args, f.Status)
	}
	return where, args
}

// List returns notifications, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]NotificationSummary, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if !marketplace.Storable(f.Cursor) {
		return nil, invalid("cursor is invalid")
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 500)
	where, args := f.where()
	if f.Cursor != "" {
		where, args = append(where, "n.id < ?"), append(args, f.Cursor)
	}
	q := `SELECT ` + summaryColumns + ` FROM notifications n`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY n.id DESC LIMIT ?"
	args = append(args, f.Limit)
	var out []NotificationSummary
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		if out, err = store.QueryAll(ctx, tx, scanSummary, q, args...); err != nil {
			return err
		}
		for i := range out {
			if err := countDeliveries(ctx, tx, &out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, internal(err, "list notifications")
	}
	return out, nil
}

func countDeliveries(ctx context.Context, tx *store.Tx, n *NotificationSummary) error {
	rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (struct {
		status string
		n      int
	}, error) {
		var v struct {
			status string
			n      int
		}
		err := r.Scan(&v.status, &v.n)
		return v, err
	}, `SELECT status, COUNT(*) FROM notification_deliveries WHERE notification_id = ? GROUP BY status`, n.ID)
	if err != nil {
		return err
	}
	n.Counts = map[string]int{}
	for _, r := range rows {
		n.Counts[r.status] = r.n
	}
	n.Status = StatusNone
	for _, st := range []string{StatusFailed, StatusPending, StatusSkipped, StatusSent} {
		if n.Counts[st] > 0 {
			n.Status = st
			break
		}
	}
	return nil
}

// Get returns one notification with its content, recipients, attachments
// and deliveries.
func (s *Service) Get(ctx context.Context, id string) (Notification, error) {
	var n Notification
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		n, err = getNotification(ctx, tx, id, true)
		return err
	})
	return n, internal(err, "get notification")
}

func getNotification(ctx context.Context, tx *store.Tx, id string, full bool) (Notification, error) {
	var n Notification
	if !marketplace.Storable(id) {
		return n, marketplace.Errorf(marketplace.ENotFound, "notification %s not found", clip(id))
	}
	var data, recipients string
	var created int64
	err := tx.QueryRow(ctx, `SELECT `+summaryColumns+`, n.text_body, n.html_body, n.data, n.recipients FROM notifications n WHERE n.id = ?`, id).
		Scan(&n.ID, &n.Kind, &n.Key, &n.Subject, &n.ProductID, &n.OfferID, &n.AgreementID, &n.BuyerFacing, &created, &n.Text, &n.HTML, &data, &recipients)
	if errors.Is(err, sql.ErrNoRows) {
		return n, marketplace.Errorf(marketplace.ENotFound, "notification %s not found", clip(id))
	} else if err != nil {
		return n, fmt.Errorf("load notification %s: %w", id, err)
	}
	n.CreatedAt, n.Data = store.FromMillis(created), json.RawMessage(data)
	if !full {
		return n, nil
	}
	if err := json.Unmarshal([]byte(recipients), &n.Recipients); err != nil {
		return n, fmt.Errorf("decode recipients of notification %s: %w", id, err)
	}
	if n.Attachments, err = store.QueryAll(ctx, tx, func(r store.Scanner) (NotificationAttachment, error) {
		var a NotificationAttachment
		err := r.Scan(&a.Name, &a.ContentType, &a.Size)
		return a, err
	}, `SELECT name, content_type, size FROM notification_attachments WHERE notification_id = ? ORDER BY position`, id); err != nil {
		return n, fmt.Errorf("load attachments of notification %s: %w", id, err)
	}
	if n.Deliveries, err = store.QueryAll(ctx, tx, scanDelivery,
		`SELECT id, channel, target, status, attempts, last_error, created_at, updated_at, sent_at FROM notification_deliveries
		WHERE notification_id = ? ORDER BY channel, id`, id); err != nil {
		return n, fmt.Errorf("load deliveries of notification %s: %w", id, err)
	}
	return n, countDeliveries(ctx, tx, &n.NotificationSummary)
}

func scanDelivery(r store.Scanner) (NotificationDelivery, error) {
	var d NotificationDelivery
	var lastErr sql.NullString
	var created, updated int64
	var sent sql.NullInt64
	err := r.Scan(&d.ID, &d.Channel, &d.Target, &d.Status, &d.Attempts, &lastErr, &created, &updated, &sent)
	d.Target, d.LastError = displayTarget(d.Channel, d.Target), lastErr.String
	d.CreatedAt, d.UpdatedAt, d.SentAt = store.FromMillis(created), store.FromMillis(updated), store.FromNullMillis(sent)
	return d, err
}

// Attachments returns the stored files of a notification, bytes included.
func (s *Service) Attachments(ctx context.Context, notificationID string) ([]Attachment, error) {
	var out []Attachment
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		if _, err := getNotification(ctx, tx, notificationID, false); err != nil {
			return err
		}
		var err error
		out, err = store.QueryAll(ctx, tx, func(r store.Scanner) (Attachment, error) {
			var a Attachment
			err := r.Scan(&a.Name, &a.ContentType, &a.Data)
			return a, err
		}, `SELECT name, content_type, content FROM notification_attachments WHERE notification_id = ? ORDER BY position`, notificationID)
		return err
	})
	return out, internal(err, "read notification attachments")
}

// SortKeys are the columns the notification list sorts by.
var SortKeys = []string{"created", "subject", "kind", "status"}

// sortExprs are the SQL each sort key orders by: fixed text, never built
// from input. status orders as the summary reads: failed, pending,
// skipped, sent, none.
var sortExprs = map[string]string{
	"created": "n.created_at",
	"subject": "LOWER(n.subject)",
	"kind":    "n.kind",
	"status": `CASE WHEN EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.notification_id = n.id AND d.status = 'failed') THEN 0
		WHEN EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.notification_id = n.id AND d.status = 'pending') THEN 1
		WHEN EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.notification_id = n.id AND d.status = 'skipped') THEN 2
		WHEN EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.notification_id = n.id) THEN 3 ELSE 4 END`,
}

// Sorted is one page of a sorted notification list, with the number of
// notifications the filter selects.
type Sorted struct {
	Items []NotificationSummary
	Total int
}

// ListSorted returns the notifications f selects (Cursor and Limit aside),
// ordered by one of SortKeys (newest first among equals), offset rows
// skipped and at most limit shown (at most 500).
func (s *Service) ListSorted(ctx context.Context, f Filter, key string, desc bool, offset, limit int) (Sorted, error) {
	var out Sorted
	if err := f.check(); err != nil {
		return out, err
	}
	expr, ok := sortExprs[key]
	if !ok {
		return out, invalid("sort %q is not a column of this list: use one of %s", clip(key), strings.Join(SortKeys, ", "))
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	offset = max(offset, 0)
	where, args := f.where()
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM notifications n`+cond, args...).Scan(&out.Total); err != nil {
			return err
		}
		var err error
		out.Items, err = store.QueryAll(ctx, tx, scanSummary, `SELECT `+summaryColumns+` FROM notifications n`+cond+
			` ORDER BY `+expr+dir+`, n.id DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
		if err != nil {
			return err
		}
		for i := range out.Items {
			if err := countDeliveries(ctx, tx, &out.Items[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Sorted{}, internal(err, "list notifications")
	}
	return out, nil
}
