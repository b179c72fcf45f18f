package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Limits of a route.
const (
	MaxEmailLength     = 254
	MaxURLLength       = 2048
	MaxProductIDLength = 255
	// MaxRoutes bounds the routes table: every notification reads it.
	MaxRoutes = 500
)

// NotificationRoute sends notifications of one kind (or all, "*") to an email
// address or a Slack-compatible incoming webhook, optionally only those about
// one product.
type NotificationRoute struct {
	ID      string `json:"id"`
	Kind    string `json:"kind" doc:"A notification kind, or * for every kind."`
	Channel string `json:"channel" doc:"email or slack"`
	// Target is the email address, or the webhook URL with its secret path
	// hidden (the URL is a credential: anyone holding it can post).
	Target    string    `json:"target"`
	ProductID string    `json:"productId,omitempty" doc:"Only notifications about this product; empty means every product."`
	CreatedAt time.Time `json:"createdAt"`
}

// NotificationRouteInput creates a route.
type NotificationRouteInput struct {
	Kind      string `json:"kind"`
	Channel   string `json:"channel"`
	Target    string `json:"target"`
	ProductID string `json:"productId,omitempty"`
}

// CheckRoute validates a route's input and returns it cleaned (trimmed; an
// email address without a display name). Its errors say what is wrong.
func CheckRoute(in NotificationRouteInput) (NotificationRouteInput, error) {
	in.Kind, in.Channel, in.Target, in.ProductID = strings.TrimSpace(in.Kind), strings.TrimSpace(in.Channel),
		strings.TrimSpace(in.Target), strings.TrimSpace(in.ProductID)
	switch {
	case in.Kind == "":
		return in, invalid("kind is required: a notification kind (%s) or * for every kind", strings.Join(Kinds, ", "))
	case in.Kind != "*" && !KnownKind(in.Kind):
		return in, invalid("unknown kind %q: use one of %s, or * for every kind", clip(in.Kind), strings.Join(Kinds, ", "))
	case len(in.ProductID) > MaxProductIDLength:
		return in, invalid("productId is longer than %d characters", MaxProductIDLength)
	case !marketplace.Storable(in.ProductID) || strings.ContainsFunc(in.ProductID, isControl):
		return in, invalid("productId contains invalid characters")
	}
	var err error
	switch in.Channel {
	case ChannelEmail:
		in.Target, err = checkEmail(in.Target)
	case ChannelSlack:
		in.Target, err = checkSlackURL(in.Target)
	case "":
		return in, invalid("channel is required: email or slack")
	default:
		return in, invalid("unknown channel %q: use email or slack", clip(in.Channel))
	}
	return in, err
}

func clip(s string) string { return marketplace.Clip(strings.ToValidUTF8(s, "?"), 64) }

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkEmail accepts a bare address (user@domain.tld) and returns it as
// net/mail parsed it. Line breaks and display names are refused: the address
// goes into a mail header.
func checkEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", invalid("an email address is required")
	case len(s) > MaxEmailLength:
		return "", invalid("email address is longer than %d characters", MaxEmailLength)
	case !marketplace.Storable(s) || strings.ContainsFunc(s, isControl):
		return "", invalid("email address %q contains invalid characters", clip(s))
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", invalid("%q is not an email address: give one bare address such as finance@example.com", clip(s))
	}
	local, domain, _ := strings.Cut(a.Address, "@")
	if local == "" || !strings.Contains(strings.Trim(domain, "."), ".") || strings.HasPrefix(domain, "[") {
		return "", invalid("%q is not an email address: give one bare address such as finance@example.com", clip(s))
	}
	return a.Address, nil
}

// checkSlackURL accepts an absolute https URL with a host and no credentials:
// a Slack (or Slack-compatible: Mattermost, Rocket.Chat, Teams workflows)
// incoming webhook.
func checkSlackURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", invalid("a Slack incoming-webhook URL is required, such as https://hooks.slack.com/services/…")
	case len(s) > MaxURLLength:
		return "", invalid("the webhook URL is longer than %d characters", MaxURLLength)
	case !marketplace.Storable(s) || strings.ContainsFunc(s, func(r rune) bool { return isControl(r) || r == ' ' }):
		return "", invalid("the webhook URL contains invalid characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", invalid("the webhook URL is not a valid URL: %v", errors.Unwrap(err))
	}
	switch {
	case u.Scheme != "https":
		return "", invalid("the webhook URL must start with https://: it carries notifications (and is itself a secret)")
	case u.Hostname() == "":
		return "", invalid("the webhook URL must include a host")
	case u.User != nil:
		return "", invalid("the webhook URL must not contain credentials")
	case u.Fragment != "" || u.Opaque != "":
		return "", invalid("the webhook URL must be a plain https://host/path URL")
	}
	return s, nil
}

// RedactURL hides all but the start and the last four characters of a
// webhook URL's path and query: the URL is the credential.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "…"
	}
	rest := strings.TrimPrefix(u.RequestURI(), "/")
	if len(rest) <= 4 {
		return u.Scheme + "://" + u.Host + "/…"
	}
	return u.Scheme + "://" + u.Host + "/…" + rest[len(rest)-4:]
}

func displayTarget(channel, target string) string {
	if channel == ChannelSlack {
		return RedactURL(target)
	}
	return target
}

// CreateRoute adds a route. Bad input changes nothing; the same route twice is
// a conflict.
func (s *Service) CreateRoute(ctx context.Context, in NotificationRouteInput) (NotificationRoute, error) {
	in, err := CheckRoute(in)
	if err != nil {
		return NotificationRoute{}, err
	}
	if in.Channel == ChannelSlack {
		if err := s.guard().CheckURL(ctx, in.Target); err != nil {
			return NotificationRoute{}, invalid("the webhook URL: %v", err)
		}
	}
	r := NotificationRoute{ID: newID("ntr_"), Kind: in.Kind, Channel: in.Channel, Target: displayTarget(in.Channel, in.Target),
		ProductID: in.ProductID, CreatedAt: s.now().Truncate(time.Millisecond)}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM notification_routes`).Scan(&n); err != nil {
			return err
		}
		if n >= MaxRoutes {
			return marketplace.Errorf(marketplace.EConflict, "there are already %d notification routes, the most Concord keeps: delete some first", MaxRoutes)
		}
		var existing string
		err := tx.QueryRow(ctx, `SELECT id FROM notification_routes WHERE kind = ? AND channel = ? AND target = ? AND product_id = ?`,
			in.Kind, in.Channel, in.Target, in.ProductID).Scan(&existing)
		if err == nil {
			return marketplace.Errorf(marketplace.EConflict, "the same route exists already: %s", existing)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO notification_routes (id, kind, channel, target, product_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			r.ID, r.Kind, r.Channel, in.Target, r.ProductID, store.Millis(r.CreatedAt))
		if store.IsUniqueViolation(err) {
			return marketplace.Errorf(marketplace.EConflict, "the same route exists already")
		} else if err != nil {
			return err
		}
		// r shows a Slack webhook URL redacted: its path is the secret.
		return audit.Record(ctx, tx, audit.Change{Object: "notification_route", ObjectID: r.ID, Action: "route.create", After: r,
			Summary: "route " + r.Kind + " to " + r.Channel + " " + r.Target})
	})
	if err != nil {
		return NotificationRoute{}, internal(err, "create notification route")
	}
	s.logger().Info("notification route created", "route", r.ID, "kind", r.Kind, "channel", r.Channel, "target", r.Target, "product", r.ProductID)
	return r, nil
}

// ListRoutes returns every route, oldest first.
func (s *Service) ListRoutes(ctx context.Context) ([]NotificationRoute, error) {
	var out []NotificationRoute
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = store.QueryAll(ctx, tx, func(r store.Scanner) (NotificationRoute, error) {
			var nr NotificationRoute
			var created int64
			err := r.Scan(&nr.ID, &nr.Kind, &nr.Channel, &nr.Target, &nr.ProductID, &created)
			nr.Target, nr.CreatedAt = displayTarget(nr.Channel, nr.Target), store.FromMillis(created)
			return nr, err
		}, `SELECT id, kind, channel, target, product_id, created_at FROM notification_routes ORDER BY created_at, id`)
		return err
	})
	return out, internal(err, "list notification routes")
}

// DeleteRoute removes a route. Notifications already recorded keep their
// deliveries.
func (s *Service) DeleteRoute(ctx context.Context, id string) error {
	if !marketplace.Storable(id) {
		return marketplace.Errorf(marketplace.ENotFound, "notification route %s not found", clip(id))
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		var r NotificationRoute
		var created int64
		err := tx.QueryRow(ctx, `SELECT id, kind, channel, target, product_id, created_at FROM notification_routes WHERE id = ?`, id).
			Scan(&r.ID, &r.Kind, &r.Channel, &r.Target, &r.ProductID, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return marketplace.Errorf(marketplace.ENotFound, "notification route %s not found", clip(id))
		} else if err != nil {
			return err
		}
		r.Target, r.CreatedAt = displayTarget(r.Channel, r.Target), store.FromMillis(created)
		if err := audit.Record(ctx, tx, audit.Change{Object: "notification_route", ObjectID: id, Action: "route.delete", Before: r,
			Summary: "deleted route " + r.Kind + " to " + r.Channel + " " + r.Target}); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM notification_routes WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return marketplace.Errorf(marketplace.ENotFound, "notification route %s not found", clip(id))
		}
		return nil
	})
	return internal(err, "delete notification route")
}

// internal wraps uncoded errors with context and leaves application errors as
// they are, so their message reaches the user.
func internal(err error, what string) error {
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return fmt.Errorf("%s: %w", what, err)
	}
	return err
}
