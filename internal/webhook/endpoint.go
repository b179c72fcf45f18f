package webhook

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Limits on endpoint fields.
const (
	MaxURLLength         = 2048
	MaxDescriptionLength = 500
)

// SecretPrefix starts every signing secret so it is easy to recognise in
// configuration and secret scanners.
const SecretPrefix = "whsec_"

// Endpoint is a URL of the vendor's app that receives events.
type Endpoint struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Events are the types the endpoint receives; empty means all.
	Events      []string  `json:"events"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// Secret signs the requests. It is only filled in by Create (and shown by
	// the API after RotateSecret): it cannot be read back later.
	Secret string `json:"secret,omitempty"`
}

// EndpointInput creates an endpoint.
type EndpointInput struct {
	URL         string
	Events      []string
	Description string
	// Enabled defaults to true.
	Enabled *bool
}

// EndpointPatch changes an endpoint; nil fields stay as they are. Events set to
// an empty list subscribes the endpoint to all types.
type EndpointPatch struct {
	URL         *string
	Events      *[]string
	Description *string
	Enabled     *bool
}

// Delivery is one event on its way to one endpoint, with the outcome of its
// latest attempt.
type Delivery struct {
	ID         string          `json:"id"`
	EndpointID string          `json:"endpointId"`
	EventID    string          `json:"eventId"`
	EventType  string          `json:"eventType"`
	Payload    json.RawMessage `json:"payload"`
	State      string          `json:"state" doc:"pending, delivered, failed (gave up) or cancelled (endpoint deleted or disabled)."`
	Attempts   int             `json:"attempts"`
	// LastStatus is the HTTP status of the latest attempt; nil when none arrived.
	LastStatus  *int       `json:"lastStatus,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	DeliveredAt *time.Time `json:"deliveredAt,omitempty"`
}

// Page bounds a list: at most Limit rows (default 100, at most 500) after Cursor,
// the id of the last row of the previous page.
type Page struct {
	Limit  int
	Cursor string
}

func (p Page) limit() int {
	if p.Limit <= 0 {
		return 100
	}
	return min(p.Limit, 500)
}

func invalid(format string, args ...any) error {
	return marketplace.Errorf(marketplace.EInvalid, format, args...)
}

// checkURL is checkSyntax, then the private-address guard on the host.
func (s *Service) checkURL(ctx context.Context, raw string) (string, error) {
	u, err := checkSyntax(raw)
	if err != nil {
		return "", err
	}
	if err := s.guard().CheckURL(ctx, u); err != nil {
		return "", invalid("url: %v", err)
	}
	return u, nil
}

func checkSyntax(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return "", invalid("url is required")
	case len(raw) > MaxURLLength:
		return "", invalid("url is longer than %d characters", MaxURLLength)
	case !marketplace.Storable(raw):
		return "", invalid("url contains invalid characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", invalid("url is not a valid URL: %v", errors.Unwrap(err))
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", invalid("url must be an absolute http:// or https:// URL")
	case u.Hostname() == "":
		return "", invalid("url must include a host")
	case u.User != nil:
		return "", invalid("url must not contain credentials: requests are authenticated by their signature")
	}
	return raw, nil
}

func checkEvents(events []string) ([]string, error) {
	out := []string{}
	seen := map[string]bool{}
	for _, e := range events {
		if !Known(e) {
			return nil, invalid("unknown event type %q: use %s", e[:min(len(e), 64)], strings.Join(EventTypes, ", "))
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out, nil
}

func checkDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if !marketplace.Storable(d) {
		return "", invalid("description contains invalid characters")
	}
	if utf8.RuneCountInString(d) > MaxDescriptionLength {
		return "", invalid("description is longer than %d characters", MaxDescriptionLength)
	}
	return d, nil
}

func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return SecretPrefix + hex.EncodeToString(b[:]), nil
}

const endpointColumns = `id, url, events, description, enabled, created_at, updated_at`

func scanEndpoint(r store.Scanner) (Endpoint, error) {
	var e Endpoint
	var events string
	var created, updated int64
	if err := r.Scan(&e.ID, &e.URL, &events, &e.Description, &e.Enabled, &created, &updated); err != nil {
		return e, err
	}
	var err error
	if e.Events, err = decodeEvents(events); err != nil {
		return e, fmt.Errorf("endpoint %s: %w", e.ID, err)
	}
	e.CreatedAt, e.UpdatedAt = store.FromMillis(created), store.FromMillis(updated)
	return e, nil
}

func decodeEvents(s string) ([]string, error) {
	events := []string{}
	if err := json.Unmarshal([]byte(s), &events); err != nil {
		return nil, fmt.Errorf("decode subscribed events: %w", err)
	}
	if events == nil {
		events = []string{}
	}
	return events, nil
}

// internal wraps uncoded errors with context; coded ones pass through unchanged.
func internal(err error, what string) error {
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return fmt.Errorf("%s: %w", what, err)
	}
	return err
}

func notFound(id string) error {
	return marketplace.Errorf(marketplace.ENotFound, "webhook endpoint %s not found", id)
}

func getEndpoint(ctx context.Context, tx *store.Tx, id string) (Endpoint, error) {
	if !marketplace.Storable(id) {
		return Endpoint{}, notFound(strings.ToValidUTF8(id, "?"))
	}
	e, err := scanEndpoint(tx.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, notFound(id)
	}
	return e, err
}

// Create adds an endpoint and returns it with its signing secret, which is shown
// only this once (RotateSecret makes a new one).
func (s *Service) Create(ctx context.Context, in EndpointInput) (Endpoint, error) {
	u, err := s.checkURL(ctx, in.URL)
	if err != nil {
		return Endpoint{}, err
	}
	events, err := checkEvents(in.Events)
	if err != nil {
		return Endpoint{}, err
	}
	desc, err := checkDescription(in.Description)
	if err != nil {
		return Endpoint{}, err
	}
	secret, err := newSecret()
	if err != nil {
		return Endpoint{}, err
	}
	now := s.now().Truncate(time.Millisecond)
	e := Endpoint{ID: uuid.Must(uuid.NewV7()).String(), URL: u, Events: events, Description: desc, Enabled: in.Enabled == nil || *in.Enabled,
		CreatedAt: now, UpdatedAt: now, Secret: secret}
	ev, _ := json.Marshal(events)
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO webhook_endpoints (id, url, secret, events, description, enabled, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.URL, secret, string(ev), e.Description, e.Enabled, store.Millis(now), store.Millis(now))
		if err != nil {
			return err
		}
		// The signing secret is redacted by the trail; say none is kept anyway.
		shown := e
		shown.Secret = ""
		return audit.Record(ctx, tx, audit.Change{Object: "webhook", ObjectID: e.ID, Action: "webhook.create", After: shown, Summary: "added endpoint " + e.URL})
	})
	if err != nil {
		return Endpoint{}, fmt.Errorf("create webhook endpoint: %w", err)
	}
	s.logger().Info("webhook endpoint created", "endpoint", e.ID, "url", e.URL)
	return e, nil
}

// List returns every endpoint, oldest first, without secrets.
func (s *Service) List(ctx context.Context) ([]Endpoint, error) {
	var out []Endpoint
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = store.QueryAll(ctx, tx, scanEndpoint, `SELECT `+endpointColumns+` FROM webhook_endpoints ORDER BY created_at, id`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	return out, nil
}

// Get returns one endpoint without its secret.
func (s *Service) Get(ctx context.Context, id string) (Endpoint, error) {
	var e Endpoint
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		e, err = getEndpoint(ctx, tx, id)
		return err
	})
	return e, internal(err, "get webhook endpoint")
}

// Update changes an endpoint. Deliveries still pending go to the new URL; those
// of a disabled endpoint are cancelled when their next attempt comes.
func (s *Service) Update(ctx context.Context, id string, p EndpointPatch) (Endpoint, error) {
	var err error
	var u, desc string
	var events []string
	if p.URL != nil {
		if u, err = s.checkURL(ctx, *p.URL); err != nil {
			return Endpoint{}, err
		}
	}
	if p.Events != nil {
		if events, err = checkEvents(*p.Events); err != nil {
			return Endpoint{}, err
		}
	}
	if p.Description != nil {
		if desc, err = checkDescription(*p.Description); err != nil {
			return Endpoint{}, err
		}
	}
	now := s.now().Truncate(time.Millisecond)
	var e Endpoint
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		if e, err = getEndpoint(ctx, tx, id); err != nil {
			return err
		}
		before := e
		if p.URL != nil {
			e.URL = u
		}
		if p.Events != nil {
			e.Events = events
		}
		if p.Description != nil {
			e.Description = desc
		}
		if p.Enabled != nil {
			e.Enabled = *p.Enabled
		}
		e.UpdatedAt = now
		ev, err := json.Marshal(e.Events)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET url = ?, events = ?, description = ?, enabled = ?, updated_at = ? WHERE id = ?`,
			e.URL, string(ev), e.Description, e.Enabled, store.Millis(now), id); err != nil {
			return err
		}
		if !e.Enabled {
			// Disabled: what has not gone out is cancelled now, so enabling the
			// endpoint again does not release old events (redeliver them by hand).
			_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET state = ?, last_error = ?, updated_at = ? WHERE endpoint_id = ? AND state = ?`,
				StateCancelled, "endpoint disabled", store.Millis(now), id, StatePending)
			if err != nil {
				return err
			}
		}
		action := "webhook.update"
		switch {
		case p.Enabled != nil && *p.Enabled && !before.Enabled:
			action = "webhook.enable"
		case p.Enabled != nil && !*p.Enabled && before.Enabled:
			action = "webhook.disable"
		}
		return audit.Record(ctx, tx, audit.Change{Object: "webhook", ObjectID: id, Action: action, Before: before, After: e, Summary: "endpoint " + e.URL})
	})
	return e, internal(err, "update webhook endpoint")
}

// Delete removes an endpoint and cancels its pending deliveries; their history
// stays readable through GetDelivery.
func (s *Service) Delete(ctx context.Context, id string) error {
	now := store.Millis(s.now())
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		e, err := getEndpoint(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET state = ?, last_error = ?, updated_at = ? WHERE endpoint_id = ? AND state IN (?, ?)`,
			StateCancelled, "endpoint deleted", now, id, StatePending, StateFailed); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Change{Object: "webhook", ObjectID: id, Action: "webhook.delete", Before: e, Summary: "deleted endpoint " + e.URL})
	})
	if err == nil {
		s.logger().Info("webhook endpoint deleted", "endpoint", id)
	}
	return internal(err, "delete webhook endpoint")
}

// RotateSecret replaces an endpoint's signing secret at once and returns the new
// one; attempts from now on, retries included, are signed with it.
func (s *Service) RotateSecret(ctx context.Context, id string) (string, error) {
	secret, err := newSecret()
	if err != nil {
		return "", err
	}
	now := store.Millis(s.now())
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		e, err := getEndpoint(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET secret = ?, updated_at = ? WHERE id = ?`, secret, now, id); err != nil {
			return err
		}
		// The secret itself is never recorded, only that it changed.
		return audit.Record(ctx, tx, audit.Change{Object: "webhook", ObjectID: id, Action: "webhook.rotate_secret", Summary: "rotated the signing secret of " + e.URL})
	})
	if err != nil {
		return "", internal(err, "rotate webhook secret")
	}
	s.logger().Info("webhook secret rotated", "endpoint", id)
	return secret, nil
}

// Ping sends a webhook.ping event to one endpoint, whatever it subscribes to, so
// the vendor can test the receiver and its signature check.
func (s *Service) Ping(ctx context.Context, endpointID string) (Delivery, error) {
	var d Delivery
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		e, err := getEndpoint(ctx, tx, endpointID)
		if err != nil {
			return err
		}
		if !e.Enabled {
			return marketplace.Errorf(marketplace.EConflict, "webhook endpoint %s is disabled: enable it first", endpointID)
		}
		ds, err := emit(ctx, tx, s.now(), Ping, map[string]string{"endpointId": endpointID}, endpointID)
		if err != nil {
			return err
		}
		if len(ds) != 1 {
			return fmt.Errorf("ping made %d deliveries", len(ds))
		}
		d = ds[0]
		return audit.Record(ctx, tx, audit.Change{Object: "webhook", ObjectID: endpointID, Action: "webhook.ping", Summary: "pinged " + e.URL + " (delivery " + d.ID + ")"})
	})
	return d, internal(err, "ping webhook endpoint")
}

// Redeliver sends a delivery again with a fresh set of attempts, whatever its
// state (receivers deduplicate on the event id). If an attempt is already
// scheduled it is moved to now.
func (s *Service) Redeliver(ctx context.Context, deliveryID string) (Delivery, error) {
	now := s.now().Truncate(time.Millisecond)
	var d Delivery
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		if d, err = getDelivery(ctx, tx, deliveryID); err != nil {
			return err
		}
		e, err := getEndpoint(ctx, tx, d.EndpointID)
		if marketplace.ErrorCode(err) == marketplace.ENotFound {
			return marketplace.Errorf(marketplace.EConflict, "the endpoint of delivery %s was deleted", deliveryID)
		} else if err != nil {
			return err
		}
		if !e.Enabled {
			return marketplace.Errorf(marketplace.EConflict, "webhook endpoint %s is disabled: enable it first", e.ID)
		}
		inserted, err := enqueue(ctx, tx, now, d.ID)
		if err != nil {
			return err
		}
		if !inserted {
			// A retry was waiting (Enqueue moved it to now): give it a fresh
			// set of attempts.
			if err := job.Refill(ctx, tx, now, "webhook:"+d.ID, MaxAttempts); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET state = ?, updated_at = ? WHERE id = ?`, StatePending, store.Millis(now), d.ID); err != nil {
			return err
		}
		d.State, d.UpdatedAt = StatePending, now
		return audit.Record(ctx, tx, audit.Change{Object: "webhook_delivery", ObjectID: d.ID, Action: "webhook.redeliver",
			Summary: "redelivered " + d.EventType + " to " + e.URL})
	})
	if err == nil {
		s.logger().Info("webhook redelivery scheduled", "delivery", deliveryID)
	}
	return d, internal(err, "redeliver webhook")
}

const deliveryColumns = `id, endpoint_id, event_id, event_type, payload, state, attempts, last_status, last_error, created_at, updated_at, delivered_at`

func scanDelivery(r store.Scanner) (Delivery, error) {
	var d Delivery
	var payload string
	var status sql.NullInt64
	var lastErr sql.NullString
	var created, updated int64
	var delivered sql.NullInt64
	if err := r.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &payload, &d.State, &d.Attempts, &status, &lastErr,
		&created, &updated, &delivered); err != nil {
		return d, err
	}
	d.Payload = json.RawMessage(payload)
	if status.Valid {
		n := int(status.Int64)
		d.LastStatus = &n
	}
	d.LastError = lastErr.String
	d.CreatedAt, d.UpdatedAt, d.DeliveredAt = store.FromMillis(created), store.FromMillis(updated), store.FromNullMillis(delivered)
	return d, nil
}

func getDelivery(ctx context.Context, tx *store.Tx, id string) (Delivery, error) {
	notFound := marketplace.Errorf(marketplace.ENotFound, "webhook delivery %s not found", strings.ToValidUTF8(id, "?"))
	if !marketplace.Storable(id) {
		return Delivery{}, notFound
	}
	d, err := scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, notFound
	}
	return d, err
}

// GetDelivery returns one delivery with its payload and latest outcome.
func (s *Service) GetDelivery(ctx context.Context, id string) (Delivery, error) {
	var d Delivery
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		d, err = getDelivery(ctx, tx, id)
		return err
	})
	return d, internal(err, "get webhook delivery")
}

func validState(s string) bool {
	switch s {
	case StatePending, StateDelivered, StateFailed, StateCancelled:
		return true
	}
	return false
}

// ListDeliveries returns an endpoint's deliveries, newest first, optionally only
// those in one state, so the vendor can see what was sent and what failed.
func (s *Service) ListDeliveries(ctx context.Context, endpointID, state string, p Page) ([]Delivery, error) {
	if state != "" && !validState(state) {
		return nil, invalid("state %q is invalid: use pending, delivered, failed or cancelled", strings.ToValidUTF8(state, "?"))
	}
	if !marketplace.Storable(p.Cursor) {
		return nil, invalid("cursor is invalid")
	}
	q := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE endpoint_id = ?`
	args := []any{endpointID}
	if state != "" {
		q, args = q+` AND state = ?`, append(args, state)
	}
	if p.Cursor != "" {
		q, args = q+` AND id < ?`, append(args, p.Cursor)
	}
	q, args = q+` ORDER BY id DESC LIMIT ?`, append(args, p.limit())
	var out []Delivery
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		if _, err := getEndpoint(ctx, tx, endpointID); err != nil {
			return err
		}
		var err error
		out, err = store.QueryAll(ctx, tx, scanDelivery, q, args...)
		return err
	})
	if err != nil {
		return nil, internal(err, "list webhook deliveries")
	}
	return out, nil
}
