// Package webhook delivers signed events to the vendor's SaaS app: a tenant was
// created, a license was activated, updated, is ending or was deprovisioned.
//
// Emit records one delivery per interested endpoint inside the caller's
// transaction and enqueues a job for each, so an event is sent if and only if the
// change that caused it commits. The "webhook.deliver" job POSTs the event,
// signed with the endpoint's secret (see Sign and Verify), and retries with the
// job runner's exponential backoff for about a day. Delivery is at least once:
// receivers deduplicate on the event id.
package webhook

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/egress"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Event types. Endpoints subscribe to a list of them (an empty list means all).
const (
	// TenantCreated: a buyer registered and Concord created their tenant.
	TenantCreated = "tenant.created"
	// LicenseActivated: a tenant's license became active (provision access).
	LicenseActivated = "license.activated"
	// LicenseUpdated: an active license changed (amendment, upgrade, dates).
	LicenseUpdated = "license.updated"
	// LicenseEnding: the license's agreement ended; the final metering window runs.
	LicenseEnding = "license.ending"
	// LicenseDeprovisioned: the license is gone (remove access).
	LicenseDeprovisioned = "license.deprovisioned"
	// MeteringFailed: AWS refused a metering record (CustomerNotSubscribed,
	// DuplicateRecord, a rejected request), so that usage is not billed.
	MeteringFailed = "metering.failed"
	// MeteringExpired: a metering record could not be sent before AWS's
	// window closed, so that usage is not billed.
	MeteringExpired = "metering.expired"
	// Ping is a test event sent to one endpoint on request (Service.Ping).
	Ping = "webhook.ping"
)

// Notification events: every notification Concord records (package notify)
// is also sent as "notification.<kind>", with the notification as rendered
// and the kind's data, so the vendor's own systems hear what people are told.
const (
	NotificationNewOrder             = "notification.new_order"
	NotificationPartnerOfferExtended = "notification.partner_offer_extended"
	NotificationOrderModification    = "notification.order_modification"
	NotificationRenewal              = "notification.renewal"
	NotificationAgreementEnded       = "notification.agreement_ended"
	NotificationRegistrationPending  = "notification.registration_pending"
	NotificationRegistrationReminder = "notification.registration_reminder"
	NotificationOfferExpiring        = "notification.offer_expiring"
	NotificationAgreementEnding      = "notification.agreement_ending"
	NotificationMeteringFailed       = "notification.metering_failed"
	NotificationMeteringExpired      = "notification.metering_expired"
	NotificationBuyerWelcome         = "notification.buyer_welcome"
	NotificationPurchaseInstructions = "notification.purchase_instructions"
	NotificationAgreementRequest     = "notification.agreement_request"
	NotificationBillingAlert         = "notification.billing_alert"
	NotificationAgreementAdvisory    = "notification.agreement_advisory"
)

// EventTypes lists every event type, in the order the documentation gives them.
var EventTypes = []string{TenantCreated, LicenseActivated, LicenseUpdated, LicenseEnding, LicenseDeprovisioned, MeteringFailed, MeteringExpired,
	NotificationNewOrder, NotificationPartnerOfferExtended, NotificationOrderModification, NotificationRenewal, NotificationAgreementEnded,
	NotificationRegistrationPending, NotificationRegistrationReminder, NotificationOfferExpiring, NotificationAgreementEnding,
	NotificationMeteringFailed, NotificationMeteringExpired, NotificationBuyerWelcome, NotificationPurchaseInstructions,
	NotificationAgreementRequest, NotificationBillingAlert, NotificationAgreementAdvisory, Ping}

// Known reports whether eventType is one this package sends, so endpoints cannot
// subscribe to (and emitters cannot send) misspelt types.
func Known(eventType string) bool {
	for _, t := range EventTypes {
		if t == eventType {
			return true
		}
	}
	return false
}

// JobDeliver is the job kind that sends one delivery.
const JobDeliver = "webhook.deliver"

// MaxAttempts is how often a delivery is tried. With the runner's default backoff
// (1 s doubling to 1 h) the last attempt comes about 24 hours after the first, so a
// receiver that is down for most of a day still gets every event.
const MaxAttempts = 36

// Timeout bounds one delivery attempt: connecting, sending and reading the status.
const Timeout = 10 * time.Second

// UserAgent identifies Concord's requests to receivers.
const UserAgent = "Concord-Webhooks/1"

// Request headers a delivery carries besides the signature.
const (
	HeaderID        = "Concord-Webhook-Id"
	HeaderType      = "Concord-Webhook-Type"
	HeaderTimestamp = "Concord-Webhook-Timestamp"
	HeaderSignature = "Concord-Signature"
)

// Delivery states.
const (
	// StatePending: waiting for its first attempt or for a retry.
	StatePending = "pending"
	// StateDelivered: the endpoint answered 2xx.
	StateDelivered = "delivered"
	// StateFailed: every attempt failed; Redeliver starts again.
	StateFailed = "failed"
	// StateCancelled: the endpoint was deleted or disabled before delivery.
	StateCancelled = "cancelled"
)

// Event is the JSON body of every webhook request.
type Event struct {
	// ID identifies the event ("evt_…"); it is the same on every retry and
	// redelivery, so receivers can deduplicate on it.
	ID   string `json:"id"`
	Type string `json:"type"`
	// CreatedAt is when the event happened, RFC 3339 in UTC.
	CreatedAt string          `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
}

// Service manages endpoints and delivers webhooks through jobs. Now, Logger and
// Client may be nil (real time, no logging, a default client); whatever Client
// is given, redirects are never followed and private addresses are refused
// (internal/egress) unless AllowPrivateTargets.
type Service struct {
	DB     *store.DB
	Now    func() time.Time
	Logger *slog.Logger
	Client *http.Client
	// AllowPrivateTargets lets endpoints point at loopback, private and
	// link-local addresses: on-premises receivers (serve --allow-private-targets).
	AllowPrivateTargets bool
}

func (s *Service) guard() egress.Guard { return egress.Guard{AllowPrivate: s.AllowPrivateTargets} }

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// client returns s.Client (or a default) with redirects turned off (following
// one would send a signed event to wherever the receiver points, possibly
// another host) and the private-address guard on its dials.
func (s *Service) client() *http.Client { return s.guard().Client(s.Client, Timeout) }

// Emit records one event for every enabled endpoint that wants its type and
// enqueues its delivery, inside tx: if tx rolls back, nothing is sent. With no
// endpoints it costs one small query.
func Emit(ctx context.Context, tx *store.Tx, now time.Time, eventType string, data any) error {
	_, err := emit(ctx, tx, now, eventType, data, "")
	return err
}

type target struct {
	id     string
	events string
}

// emit sends eventType to the enabled endpoints that want it or, when only is set,
// to that endpoint alone whatever its subscriptions.
func emit(ctx context.Context, tx *store.Tx, now time.Time, eventType string, data any, only string) ([]Delivery, error) {
	if !Known(eventType) {
		return nil, marketplace.Errorf(marketplace.EInvalid, "unknown webhook event type %q", eventType)
	}
	q, arg := `SELECT id, events FROM webhook_endpoints WHERE enabled = ? ORDER BY created_at, id`, any(true)
	if only != "" {
		q, arg = `SELECT id, events FROM webhook_endpoints WHERE id = ?`, only
	}
	targets, err := store.QueryAll(ctx, tx, func(r store.Scanner) (t target, err error) {
		err = r.Scan(&t.id, &t.events)
		return t, err
	}, q, arg)
	if err != nil {
		return nil, fmt.Errorf("emit %s: list endpoints: %w", eventType, err)
	}
	if len(targets) == 0 {
		return nil, nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("emit %s: encode data: %w", eventType, err)
	}
	now = now.UTC().Truncate(time.Millisecond)
	ev := Event{ID: "evt_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", ""), Type: eventType,
		CreatedAt: now.Format("2006-01-02T15:04:05.000Z07:00"), Data: raw}
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("emit %s: encode event: %w", eventType, err)
	}
	var out []Delivery
	for _, t := range targets {
		if only == "" {
			events, err := decodeEvents(t.events)
			if err != nil {
				return nil, fmt.Errorf("emit %s: endpoint %s: %w", eventType, t.id, err)
			}
			if !wants(events, eventType) {
				continue
			}
		}
		d := Delivery{ID: uuid.Must(uuid.NewV7()).String(), EndpointID: t.id, EventID: ev.ID, EventType: eventType,
			Payload: payload, State: StatePending, CreatedAt: now, UpdatedAt: now}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, state, attempts, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`, d.ID, d.EndpointID, d.EventID, d.EventType, string(payload), d.State, store.Millis(now), store.Millis(now)); err != nil {
			return nil, fmt.Errorf("emit %s: record delivery: %w", eventType, err)
		}
		if _, err := enqueue(ctx, tx, now, d.ID); err != nil {
			return nil, fmt.Errorf("emit %s: %w", eventType, err)
		}
		out = append(out, d)
	}
	return out, nil
}

func wants(events []string, eventType string) bool {
	if len(events) == 0 {
		return true
	}
	for _, e := range events {
		if e == eventType {
			return true
		}
	}
	return false
}

type deliverArgs struct {
	DeliveryID string `json:"deliveryId"`
}

// enqueue schedules an attempt cycle for a delivery. While one is pending it is
// moved to now instead (inserted is then false).
func enqueue(ctx context.Context, tx *store.Tx, now time.Time, deliveryID string) (inserted bool, err error) {
	_, inserted, err = job.Enqueue(ctx, tx, now, JobDeliver, deliverArgs{DeliveryID: deliveryID},
		job.Options{UniqueKey: "webhook:" + deliveryID, MaxAttempts: MaxAttempts})
	if err != nil {
		return false, fmt.Errorf("enqueue delivery %s: %w", deliveryID, err)
	}
	return inserted, nil
}

// Handlers registers the delivery job.
func (s *Service) Handlers(r *job.Runner) { r.Handle(JobDeliver, s.deliver) }

// attemptTarget is what one attempt needs to know.
type attemptTarget struct {
	state, eventID, eventType, payload, endpointID string
	url, secret                                    sql.NullString
	enabled                                        sql.NullBool
}

// deliver is the JobDeliver handler: one attempt at one delivery.
func (s *Service) deliver(ctx context.Context, j *job.Job) error {
	var a deliverArgs
	if err := json.Unmarshal(j.Args, &a); err != nil || a.DeliveryID == "" {
		return job.Permanent(fmt.Errorf("webhook delivery job %s: bad arguments %s", j.ID, j.Args))
	}
	var t attemptTarget
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT d.state, d.event_id, d.event_type, d.payload, d.endpoint_id, e.url, e.secret, e.enabled
			FROM webhook_deliveries d LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = ?`, a.DeliveryID).
			Scan(&t.state, &t.eventID, &t.eventType, &t.payload, &t.endpointID, &t.url, &t.secret, &t.enabled)
	})
	if errors.Is(err, sql.ErrNoRows) {
		s.logger().Warn("webhook delivery vanished; nothing to send", "delivery", a.DeliveryID)
		return nil
	} else if err != nil {
		return fmt.Errorf("load delivery %s: %w", a.DeliveryID, err)
	}
	switch {
	case t.state == StateDelivered || t.state == StateCancelled:
		return nil
	case !t.url.Valid:
		return s.cancel(ctx, a.DeliveryID, "endpoint deleted")
	case !t.enabled.Bool:
		return s.cancel(ctx, a.DeliveryID, "endpoint disabled")
	}

	now := s.now()
	status, sendErr := s.send(ctx, t, now)
	if sendErr != nil && ctx.Err() != nil {
		// Shutting down mid-request: the runner hands the job back without
		// counting the attempt, so do not record it either.
		return sendErr
	}
	state, errText := StateDelivered, ""
	var deliveredAt *time.Time
	if sendErr == nil {
		deliveredAt = &now
	} else {
		errText = truncate(sendErr.Error())
		state = StatePending
		if j.Attempt >= j.MaxAttempts {
			state = StateFailed
		}
	}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?,
			updated_at = ?, delivered_at = COALESCE(?, delivered_at) WHERE id = ? AND state IN (?, ?)`,
			state, sql.NullInt64{Int64: int64(status), Valid: status != 0}, store.NullString(errText),
			store.Millis(now), store.NullMillis(deliveredAt), a.DeliveryID, StatePending, StateFailed)
		return err
	})
	if err != nil {
		return fmt.Errorf("record delivery %s: %w", a.DeliveryID, err)
	}
	if sendErr != nil {
		return fmt.Errorf("deliver %s %s to endpoint %s (attempt %d of %d): %w", t.eventType, t.eventID, t.endpointID, j.Attempt, j.MaxAttempts, sendErr)
	}
	s.logger().Debug("webhook delivered", "delivery", a.DeliveryID, "event", t.eventID, "type", t.eventType, "endpoint", t.endpointID, "status", status)
	return nil
}

func (s *Service) cancel(ctx context.Context, deliveryID, reason string) error {
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET state = ?, last_error = ?, updated_at = ? WHERE id = ? AND state IN (?, ?)`,
			StateCancelled, reason, store.Millis(s.now()), deliveryID, StatePending, StateFailed)
		return err
	})
	if err != nil {
		return fmt.Errorf("cancel delivery %s: %w", deliveryID, err)
	}
	return nil
}

// send makes one attempt. status is 0 when no response arrived.
func (s *Service) send(ctx context.Context, t attemptTarget, now time.Time) (status int, err error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	body := []byte(t.payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url.String, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderID, t.eventID)
	req.Header.Set(HeaderType, t.eventType)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(t.secret.String, now, body))
	resp, err := s.client().Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("no response within %s: %w", Timeout, err)
		}
		return 0, err
	}
	defer resp.Body.Close()
	// Only the status is kept: the body is the receiver's (or whatever the URL
	// reached), and the API would show it to anyone who can read deliveries.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return code, nil
	case code >= 300 && code < 400:
		return code, fmt.Errorf("HTTP %d redirect to %q not followed: set the endpoint URL to the final address", code, resp.Header.Get("Location"))
	default:
		return code, errors.New(egress.Reason(code))
	}
}

// truncate makes an error text storable and short: PostgreSQL rejects invalid
// UTF-8 and NUL bytes, which a receiver's response may contain.
func truncate(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) > 1000 {
		return strings.ToValidUTF8(s[:1000], "") + "…"
	}
	return s
}
