package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/webhook"
)

func newID(prefix string) string {
	return prefix + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

func invalid(format string, args ...any) error {
	return marketplace.Errorf(marketplace.EInvalid, format, args...)
}

// recipient is one delivery target.
type recipient struct {
	channel, target string
}

// Event is the data of a notification.<kind> webhook event: the notification
// as rendered, with the kind's data, so the vendor's systems can act on it
// (file the order in the CRM, page someone) without calling back.
type Event struct {
	ID          string                   `json:"id"`
	Kind        string                   `json:"kind"`
	Key         string                   `json:"key"`
	ProductID   string                   `json:"productId,omitempty"`
	OfferID     string                   `json:"offerId,omitempty"`
	AgreementID string                   `json:"agreementId,omitempty"`
	BuyerFacing bool                     `json:"buyerFacing,omitempty"`
	Subject     string                   `json:"subject"`
	Text        string                   `json:"text"`
	Attachments []NotificationAttachment `json:"attachments,omitempty"`
	Data        any                      `json:"data"`
	CreatedAt   time.Time                `json:"createdAt"`
}

// Emit records a notification inside tx, the caller's transaction: it renders
// the notice, resolves its recipients (the routes for its kind and product, the
// offer's notifyUsers, and To; only To when BuyerFacing), stores it with its
// attachments and one delivery per (channel, target), enqueues a delivery job
// for each, and emits the notification.<kind> webhook event. If tx rolls back,
// nothing is sent.
//
// Emit is once-only per n.Key: when a notification with that key exists it
// returns its id with created false and changes nothing. Bad input (an
// unknown kind, data of the wrong type, no key, too many or too large
// attachments) is an invalid application error.
func (s *Service) Emit(ctx context.Context, tx *store.Tx, now time.Time, n Notice) (id string, created bool, err error) {
	if err := checkNotice(n); err != nil {
		return "", false, err
	}
	err = tx.QueryRow(ctx, `SELECT id FROM notifications WHERE dedupe_key = ?`, n.Key).Scan(&id)
	if err == nil {
		return id, false, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return "", false, fmt.Errorf("emit %s notification: look up key: %w", n.Kind, err)
	}
	content, err := Render(n, s.publicURL())
	if err != nil {
		return "", false, err
	}
	rcpts, err := s.recipients(ctx, tx, n)
	if err != nil {
		return "", false, fmt.Errorf("emit %s notification: %w", n.Kind, err)
	}
	data, err := json.Marshal(n.Data)
	if err != nil {
		return "", false, fmt.Errorf("emit %s notification: encode data: %w", n.Kind, err)
	}
	var emails []string
	for _, r := range rcpts {
		if r.channel == ChannelEmail {
			emails = append(emails, r.target)
		}
	}
	emailsJSON, _ := json.Marshal(nonNil(emails))
	now = now.UTC().Truncate(time.Millisecond)
	id = newID("ntf_")
	res, err := tx.Exec(ctx, `INSERT INTO notifications (id, kind, dedupe_key, product_id, offer_id, agreement_id, buyer_facing,
		subject, text_body, html_body, data, recipients, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		id, n.Kind, n.Key, n.ProductID, n.OfferID, n.AgreementID, n.BuyerFacing, content.Subject, content.Text, content.HTML,
		string(data), string(emailsJSON), store.Millis(now))
	if err != nil {
		return "", false, fmt.Errorf("emit %s notification: %w", n.Kind, err)
	}
	if k, err := res.RowsAffected(); err != nil {
		return "", false, fmt.Errorf("emit %s notification: %w", n.Kind, err)
	} else if k == 0 {
		// The same key was stored meanwhile (another replica's transaction).
		if err := tx.QueryRow(ctx, `SELECT id FROM notifications WHERE dedupe_key = ?`, n.Key).Scan(&id); err != nil {
			return "", false, fmt.Errorf("emit %s notification: look up key: %w", n.Kind, err)
		}
		return id, false, nil
	}
	var infos []NotificationAttachment
	for i, a := range n.Attachments {
		info := NotificationAttachment{Name: attachmentName(a.Name), ContentType: attachmentType(a.ContentType), Size: int64(len(a.Data))}
		if _, err := tx.Exec(ctx, `INSERT INTO notification_attachments (notification_id, position, name, content_type, size, content)
			VALUES (?, ?, ?, ?, ?, ?)`, id, i, info.Name, info.ContentType, info.Size, nonNilBytes(a.Data)); err != nil {
			return "", false, fmt.Errorf("emit %s notification: store attachment %d: %w", n.Kind, i, err)
		}
		infos = append(infos, info)
	}
	for _, r := range rcpts {
		did := newID("ntd_")
		if _, err := tx.Exec(ctx, `INSERT INTO notification_deliveries (id, notification_id, channel, target, status, attempts, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 0, ?, ?)`, did, id, r.channel, r.target, StatusPending, store.Millis(now), store.Millis(now)); err != nil {
			return "", false, fmt.Errorf("emit %s notification: record delivery: %w", n.Kind, err)
		}
		if _, err := s.enqueue(ctx, tx, now, did); err != nil {
			return "", false, fmt.Errorf("emit %s notification: %w", n.Kind, err)
		}
	}
	ev := Event{ID: id, Kind: n.Kind, Key: n.Key, ProductID: n.ProductID, OfferID: n.OfferID, AgreementID: n.AgreementID,
		BuyerFacing: n.BuyerFacing, Subject: content.Subject, Text: content.Text, Attachments: infos, Data: n.Data, CreatedAt: now}
	if err := webhook.Emit(ctx, tx, now, EventType(n.Kind), ev); err != nil {
		return "", false, fmt.Errorf("emit %s notification: %w", n.Kind, err)
	}
	s.logger().Debug("notification recorded", "notification", id, "kind", n.Kind, "key", n.Key, "deliveries", len(rcpts))
	return id, true, nil
}

func checkNotice(n Notice) error {
	if !KnownKind(n.Kind) {
		return invalid("unknown notification kind %q: use one of %s", marketplace.Clip(n.Kind, 64), strings.Join(Kinds, ", "))
	}
	switch {
	case n.Key == "":
		return invalid("a %s notification needs a key (what makes it once-only)", n.Kind)
	case len(n.Key) > MaxKeyLength || !marketplace.Storable(n.Key):
		return invalid("notification key is longer than %d bytes or not valid UTF-8", MaxKeyLength)
	case !dataMatches(n.Kind, n.Data):
		return invalid("notification kind %s cannot carry data of type %T", n.Kind, n.Data)
	case len(n.Attachments) > MaxAttachments:
		return invalid("a notification carries at most %d attachments, not %d", MaxAttachments, len(n.Attachments))
	}
	for _, v := range []string{n.ProductID, n.OfferID, n.AgreementID} {
		if len(v) > 1024 || !marketplace.Storable(v) {
			return invalid("notification ids must be valid UTF-8 of at most 1024 bytes")
		}
	}
	total := 0
	for _, a := range n.Attachments {
		total += len(a.Data)
	}
	if total > MaxAttachmentBytes {
		return marketplace.Errorf(marketplace.ETooLarge, "a notification's attachments total at most %d MiB, not %d bytes", MaxAttachmentBytes>>20, total)
	}
	return nil
}

// recipients resolves who gets n: the routes for its kind (or *) and product
// (or every product), the users to notify of its offer, and To. A buyer-facing
// notice goes to To alone. Email addresses are deduplicated without regard to
// case; those that are not addresses are dropped with a warning.
func (s *Service) recipients(ctx context.Context, tx *store.Tx, n Notice) ([]recipient, error) {
	var out []recipient
	seen := map[string]bool{}
	add := func(channel, target, source string) {
		if channel == ChannelEmail {
			addr, err := checkEmail(target)
			if err != nil {
				s.logger().Warn("notification recipient dropped", "kind", n.Kind, "key", n.Key, "from", source, "err", marketplace.ErrorMessage(err))
				return
			}
			target = addr
		}
		k := channel + " " + strings.ToLower(target)
		if seen[k] || len(out) >= MaxRecipients {
			return
		}
		seen[k] = true
		out = append(out, recipient{channel, target})
	}
	if !n.BuyerFacing {
		routes, err := store.QueryAll(ctx, tx, func(r store.Scanner) (recipient, error) {
			var rc recipient
			err := r.Scan(&rc.channel, &rc.target)
			return rc, err
		}, `SELECT channel, target FROM notification_routes WHERE (kind = ? OR kind = '*') AND (product_id = '' OR product_id = ?)
			ORDER BY created_at, id`, n.Kind, n.ProductID)
		if err != nil {
			return nil, fmt.Errorf("list routes: %w", err)
		}
		for _, r := range routes {
			add(r.channel, r.target, "route")
		}
		if n.OfferID != "" {
			users, err := offerUsers(ctx, tx, n.OfferID)
			if err != nil {
				return nil, err
			}
			for _, u := range users {
				add(ChannelEmail, u, "offer "+n.OfferID)
			}
		}
	}
	for _, to := range n.To {
		add(ChannelEmail, to, "to")
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].channel < out[j].channel })
	return out, nil
}

// offerUsers reads the notifyUsers of a Concord offer, found by its own id or
// by the id AWS gave it.
func offerUsers(ctx context.Context, tx *store.Tx, offerID string) ([]string, error) {
	forms, err := store.QueryAll(ctx, tx, store.ScanString,
		`SELECT form FROM offers WHERE id = ? OR offer_id = ? ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END, created_at LIMIT 1`,
		offerID, offerID, offerID)
	if err != nil {
		return nil, fmt.Errorf("read the users to notify of offer %s: %w", offerID, err)
	}
	if len(forms) == 0 {
		return nil, nil
	}
	var form struct {
		NotifyUsers []string `json:"notifyUsers"`
	}
	if err := json.Unmarshal([]byte(forms[0]), &form); err != nil {
		return nil, fmt.Errorf("decode the form of offer %s: %w", offerID, err)
	}
	return form.NotifyUsers, nil
}

// enqueue schedules an attempt cycle for a delivery; while one is pending it is
// moved to now instead (inserted is then false).
func (s *Service) enqueue(ctx context.Context, tx *store.Tx, now time.Time, deliveryID string) (inserted bool, err error) {
	_, inserted, err = job.Enqueue(ctx, tx, now, JobDeliver, deliverArgs{DeliveryID: deliveryID},
		job.Options{UniqueKey: deliveryKey(deliveryID), MaxAttempts: s.maxAttempts()})
	if err != nil {
		return false, fmt.Errorf("enqueue delivery %s: %w", deliveryID, err)
	}
	return inserted, nil
}

func deliveryKey(id string) string { return "notify:" + id }

type deliverArgs struct {
	DeliveryID string `json:"deliveryId"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Emitted reports whether a notice with this key was emitted (in tx).
func Emitted(ctx context.Context, tx *store.Tx, key string) (bool, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM notifications WHERE dedupe_key = ?`, key).Scan(&n)
	return n > 0, err
}
