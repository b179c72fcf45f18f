package notify

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/egress"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// UserAgent identifies Concord's posts to Slack-compatible webhooks.
const UserAgent = "Concord-Notifications/1"

// Handlers registers the delivery and sweep jobs.
func (s *Service) Handlers(r *job.Runner) {
	r.Handle(JobDeliver, s.deliver)
	r.Handle(JobSweep, s.sweepJob)
}

// attempt is what one delivery attempt needs.
type attempt struct {
	id, notificationID, channel, target, status string
	subject, text, html                         string
	created                                     int64
	attachments                                 []Attachment
}

func loadAttempt(ctx context.Context, tx *store.Tx, deliveryID string) (attempt, error) {
	var a attempt
	a.id = deliveryID
	err := tx.QueryRow(ctx, `SELECT d.notification_id, d.channel, d.target, d.status, n.subject, n.text_body, n.html_body, n.created_at
		FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id WHERE d.id = ?`, deliveryID).
		Scan(&a.notificationID, &a.channel, &a.target, &a.status, &a.subject, &a.text, &a.html, &a.created)
	if err != nil {
		return a, err
	}
	if a.channel != ChannelEmail {
		return a, nil
	}
	a.attachments, err = store.QueryAll(ctx, tx, func(r store.Scanner) (Attachment, error) {
		var at Attachment
		err := r.Scan(&at.Name, &at.ContentType, &at.Data)
		return at, err
	}, `SELECT name, content_type, content FROM notification_attachments WHERE notification_id = ? ORDER BY position`, a.notificationID)
	return a, err
}

// deliver is the JobDeliver handler: one attempt at one delivery.
func (s *Service) deliver(ctx context.Context, j *job.Job) error {
	var args deliverArgs
	if err := json.Unmarshal(j.Args, &args); err != nil || args.DeliveryID == "" {
		return job.Permanent(fmt.Errorf("notification delivery job %s: bad arguments %s", j.ID, j.Args))
	}
	var a attempt
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		a, err = loadAttempt(ctx, tx, args.DeliveryID)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		s.logger().Warn("notification delivery vanished; nothing to send", "delivery", args.DeliveryID)
		return nil
	} else if err != nil {
		return fmt.Errorf("load notification delivery %s: %w", args.DeliveryID, err)
	}
	if a.status == StatusSent || a.status == StatusSkipped {
		return nil
	}
	if a.channel == ChannelEmail && s.Mailer == nil {
		return s.record(ctx, a.id, StatusSkipped, ReasonNoSMTP, false)
	}

	var sendErr error
	switch a.channel {
	case ChannelEmail:
		sendErr = s.Mailer.Send(ctx, Message{To: []string{a.target}, Subject: a.subject, Text: a.text, HTML: a.html,
			Attachments: a.attachments, MessageID: a.id, Date: store.FromMillis(a.created)})
	case ChannelSlack:
		sendErr = s.postSlack(ctx, a.target, a.subject, a.text)
	default:
		sendErr = fmt.Errorf("%w: unknown channel %q", errBadTarget, a.channel)
	}
	if sendErr != nil && ctx.Err() != nil {
		// Shutting down mid-attempt: the runner hands the job back without
		// counting it, so do not record it either.
		return sendErr
	}
	if sendErr == nil {
		if err := s.record(ctx, a.id, StatusSent, "", true); err != nil {
			return err
		}
		s.logger().Debug("notification delivered", "delivery", a.id, "notification", a.notificationID, "channel", a.channel)
		return nil
	}
	permanent := errors.Is(sendErr, errBadTarget)
	status := StatusPending
	if j.Attempt >= j.MaxAttempts || permanent {
		status = StatusFailed
	}
	if err := s.record(ctx, a.id, status, sendErr.Error(), true); err != nil {
		return err
	}
	err = fmt.Errorf("deliver notification %s by %s to %s (attempt %d of %d): %w",
		a.notificationID, a.channel, displayTarget(a.channel, a.target), j.Attempt, j.MaxAttempts, sendErr)
	if permanent {
		return job.Permanent(err)
	}
	return err
}

// errBadTarget marks a delivery that no retry can send.
var errBadTarget = errors.New("cannot be delivered")

// record stores the outcome of an attempt (counted says whether one was made).
func (s *Service) record(ctx context.Context, deliveryID, status, errText string, counted bool) error {
	now := s.now()
	var sentAt *time.Time
	if status == StatusSent {
		sentAt = &now
	}
	inc := 0
	if counted {
		inc = 1
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE notification_deliveries SET status = ?, attempts = attempts + ?, last_error = ?, updated_at = ?,
			sent_at = COALESCE(?, sent_at) WHERE id = ? AND status IN (?, ?)`,
			status, inc, store.NullString(storable(errText)), store.Millis(now), store.NullMillis(sentAt), deliveryID, StatusPending, StatusFailed)
		return err
	})
	if err != nil {
		return fmt.Errorf("record notification delivery %s: %w", deliveryID, err)
	}
	return nil
}

// storable makes an error text storable and short: PostgreSQL rejects invalid
// UTF-8 and NUL bytes, which a server's answer may contain.
func storable(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) > 1000 {
		return strings.ToValidUTF8(s[:1000], "") + "…"
	}
	return s
}

// slackEscape escapes what Slack's mrkdwn treats as markup, so data such as a
// company name cannot turn into a link or an @channel mention.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackBody is the JSON posted to a Slack-compatible incoming webhook.
func SlackBody(subject, text string) []byte {
	b, _ := json.Marshal(struct {
		Text string `json:"text"`
	}{slackEscape.Replace("*" + subject + "*\n\n" + strings.TrimSpace(text))})
	return b
}

func (s *Service) guard() egress.Guard { return egress.Guard{AllowPrivate: s.AllowPrivateTargets} }

// client returns s.HTTPClient (or a default) with redirects turned off (the
// notification goes to the URL the route names, nowhere else) and the
// private-address guard on its dials.
func (s *Service) client() *http.Client { return s.guard().Client(s.HTTPClient, Timeout) }

// postSlack makes one attempt: 2xx is delivered, anything else (a redirect
// included) is a failure.
func (s *Service) postSlack(ctx context.Context, target, subject, text string) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(SlackBody(subject, text)))
	if err != nil {
		return fmt.Errorf("%w: the URL does not make a request", errBadTarget)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	resp, err := s.client().Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no response within %s", Timeout)
		}
		// The URL is a credential: keep it out of logs and the API.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("post to %s: %w", RedactURL(target), ue.Err)
		}
		return fmt.Errorf("post to %s: %w", RedactURL(target), err)
	}
	defer resp.Body.Close()
	// Only the status is kept, never the body (see egress.Reason).
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		return fmt.Errorf("HTTP %d redirect not followed: set the route's URL to the final address", code)
	default:
		return errors.New(egress.Reason(code))
	}
}

// Resend sends a notification's failed and skipped deliveries again, or only
// deliveryID when it is given (whatever its status, unless it is pending),
// with a fresh set of attempts. It returns the notification.
func (s *Service) Resend(ctx context.Context, notificationID, deliveryID string) (Notification, error) {
	now := s.now().Truncate(time.Millisecond)
	var ids []string
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		ids = nil
		if _, err := getNotification(ctx, tx, notificationID, false); err != nil {
			return err
		}
		ds, err := store.QueryAll(ctx, tx, func(r store.Scanner) ([2]string, error) {
			var d [2]string
			err := r.Scan(&d[0], &d[1])
			return d, err
		}, `SELECT id, status FROM notification_deliveries WHERE notification_id = ? ORDER BY channel, id`, notificationID)
		if err != nil {
			return err
		}
		for _, d := range ds {
			switch {
			case deliveryID != "" && d[0] != deliveryID:
			case deliveryID != "" && d[1] == StatusPending:
				return marketplace.Errorf(marketplace.EConflict, "delivery %s is pending already", deliveryID)
			case deliveryID != "" || d[1] == StatusFailed || d[1] == StatusSkipped:
				ids = append(ids, d[0])
			}
		}
		switch {
		case deliveryID != "" && len(ids) == 0:
			return marketplace.Errorf(marketplace.ENotFound, "notification %s has no delivery %s", notificationID, clip(deliveryID))
		case len(ids) == 0:
			return marketplace.Errorf(marketplace.EConflict, "notification %s has no failed or skipped delivery to resend", notificationID)
		}
		for _, id := range ids {
			inserted, err := s.enqueue(ctx, tx, now, id)
			if err != nil {
				return err
			}
			if !inserted {
				// A retry was waiting (Enqueue moved it to now): give it a
				// fresh set of attempts.
				if err := job.Refill(ctx, tx, now, deliveryKey(id), s.maxAttempts()); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE notification_deliveries SET status = ?, updated_at = ? WHERE id = ?`,
				StatusPending, store.Millis(now), id); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, audit.Change{Object: "notification", ObjectID: notificationID, Action: "notification.resend",
			Summary: fmt.Sprintf("resent %d deliveries (%s)", len(ids), strings.Join(ids, ", "))})
	})
	if err != nil {
		return Notification{}, internal(err, "resend notification")
	}
	s.logger().Info("notification resend scheduled", "notification", notificationID, "deliveries", len(ids))
	return s.Get(ctx, notificationID)
}
