package inbox

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/snsverify"
)

// Metrics counts what arrives at each door.
type Metrics struct {
	Received *prometheus.CounterVec
}

// NewMetrics registers the inbox metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{Received: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "concord_inbox_events_total",
		Help: "Marketplace messages received, by door and result (queued for the folder; applied, deferred: Ingest without it; held, stored, flagged, duplicate, rejected, error).",
	}, []string{"door", "result"})}
	reg.MustRegister(m.Received)
	return m
}

func (m *Metrics) count(door, result string) {
	if m != nil {
		m.Received.WithLabelValues(door, result).Inc()
	}
}

// DefaultSecretHeader is the header an EventBridge API destination connection
// (API key authorization) sends with the shared secret.
const DefaultSecretHeader = "X-Concord-Secret"

// EventBridgeReceiver is the HTTP door for EventBridge API destinations (and the
// emulator): one event per POST, authenticated by a secret header.
type EventBridgeReceiver struct {
	Ledger  *Ledger
	Header  string
	Secret  string
	Logger  *slog.Logger
	Metrics *Metrics
}

// ServeHTTP ingests one EventBridge event.
func (h *EventBridgeReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Secret == "" {
		writeError(w, http.StatusServiceUnavailable, "the EventBridge receiver is disabled: set --eventbridge-secret")
		return
	}
	header := h.Header
	if header == "" {
		header = DefaultSecretHeader
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(header)), []byte(h.Secret)) != 1 {
		h.Metrics.count(DoorHTTP, "rejected")
		h.Logger.Warn("eventbridge: wrong or missing secret", "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "missing or wrong "+header+" header")
		return
	}
	body, ok := readBody(w, r, marketplace.MaxEventSize)
	if !ok {
		h.Metrics.count(DoorHTTP, "rejected")
		return
	}
	ev, err := marketplace.ParseEventBridge(body)
	if err != nil {
		h.Metrics.count(DoorHTTP, "rejected")
		h.Logger.Warn("eventbridge: bad event", "err", err)
		writeError(w, http.StatusBadRequest, marketplace.ErrorMessage(err))
		return
	}
	res, err := h.Ledger.Accept(r.Context(), DoorHTTP, ev)
	if err != nil {
		h.Metrics.count(DoorHTTP, "error")
		h.Logger.Error("eventbridge: ingest", "event", ev.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "the event could not be stored; retry")
		return
	}
	h.Metrics.count(DoorHTTP, res.Status)
	writeJSON(w, http.StatusOK, res)
}

// readBody reads at most limit bytes, answering 413 beyond it.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", limit))
		return nil, false
	} else if err != nil {
		writeError(w, http.StatusBadRequest, "could not read the request body")
		return nil, false
	}
	return body, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"status": status, "title": http.StatusText(status), "detail": msg})
}

// SNSReceiver is the legacy SNS HTTP(S) endpoint: it verifies every message's
// signature, confirms subscriptions, and ingests marketplace actions.
type SNSReceiver struct {
	Ledger   *Ledger
	Verifier *snsverify.Verifier
	// Confirm visits a SubscribeURL; nil uses http.Get with a timeout.
	Confirm func(ctx context.Context, url string) error
	// HostAllowed checks the SubscribeURL host; nil is the AWS SNS host rule.
	HostAllowed func(host string) bool
	Logger      *slog.Logger
	Metrics     *Metrics
}

// ServeHTTP handles one SNS POST.
func (h *SNSReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, snsverify.MaxBodySize)
	if !ok {
		h.Metrics.count(DoorSNS, "rejected")
		return
	}
	res, status, err := h.Handle(r.Context(), body)
	if err != nil {
		h.Metrics.count(DoorSNS, "rejected")
		if status >= 500 {
			h.Logger.Error("sns: handle", "err", err)
		} else {
			h.Logger.Warn("sns: rejected message", "err", err, "remote", r.RemoteAddr)
		}
		writeError(w, status, err.Error())
		return
	}
	h.Metrics.count(DoorSNS, res.Status)
	writeJSON(w, http.StatusOK, res)
}

// Handle verifies and applies one SNS envelope (from HTTP or from an SQS queue
// subscribed to the topic). status is the HTTP status for err.
func (h *SNSReceiver) Handle(ctx context.Context, body []byte) (Result, int, error) {
	m, err := h.Verifier.VerifyBody(ctx, body)
	switch {
	case errors.Is(err, snsverify.ErrMalformed):
		return Result{}, http.StatusBadRequest, err
	case errors.Is(err, snsverify.ErrCertFetch):
		return Result{}, http.StatusServiceUnavailable, err
	case err != nil:
		return Result{}, http.StatusForbidden, err
	}
	ts, err := m.Time()
	if err != nil {
		return Result{}, http.StatusBadRequest, err
	}
	switch m.Type {
	case snsverify.TypeSubscriptionConfirmation:
		u, err := url.Parse(m.SubscribeURL)
		allowed := h.HostAllowed
		if allowed == nil {
			allowed = snsverify.IsAWSSNSHost
		}
		if err != nil || (u.Scheme != "https" && h.HostAllowed == nil) || !allowed(u.Host) {
			return Result{}, http.StatusForbidden, fmt.Errorf("SubscribeURL %q is not an SNS URL", m.SubscribeURL)
		}
		confirm := h.Confirm
		if confirm == nil {
			confirm = getURL
		}
		if err := confirm(ctx, m.SubscribeURL); err != nil {
			return Result{}, http.StatusBadGateway, fmt.Errorf("confirm subscription to %s: %w", m.TopicArn, err)
		}
		h.Logger.Info("sns: subscription confirmed", "topic", m.TopicArn)
		return h.store(ctx, m, marketplace.KindSubscriptionConfirm, ts)
	case snsverify.TypeUnsubscribeConfirmation:
		h.Logger.Warn("sns: endpoint unsubscribed", "topic", m.TopicArn)
		return h.store(ctx, m, marketplace.KindInformational, ts)
	}
	ev, err := marketplace.ParseSNSAction(m.MessageID, m.TopicArn, m.Message, ts)
	if err != nil {
		return Result{}, http.StatusBadRequest, errors.New(marketplace.ErrorMessage(err))
	}
	res, err := h.Ledger.Accept(ctx, DoorSNS, ev)
	if err != nil {
		return Result{}, http.StatusInternalServerError, errors.New("the message could not be stored; SNS will retry")
	}
	return res, http.StatusOK, nil
}

func (h *SNSReceiver) store(ctx context.Context, m *snsverify.Message, kind marketplace.EventKind, ts time.Time) (Result, int, error) {
	ev := marketplace.Event{ID: m.MessageID, Source: "aws.sns:" + m.TopicArn, DetailType: "SNS " + m.Type, Kind: kind, Time: ts.UTC(),
		Body: []byte(m.Message), Fact: marketplace.Fact{EventID: m.MessageID, Kind: kind, Time: ts.UTC()}}
	res, err := h.Ledger.Accept(ctx, DoorSNS, ev)
	if err != nil {
		return Result{}, http.StatusInternalServerError, errors.New("the message could not be stored")
	}
	return res, http.StatusOK, nil
}

func getURL(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// IsSNSEnvelope reports whether a queue message body is an SNS envelope rather
// than an EventBridge event (an SQS queue subscribed to an SNS topic without raw
// delivery receives envelopes).
func IsSNSEnvelope(body []byte) bool {
	var probe struct {
		Type     string `json:"Type"`
		TopicArn string `json:"TopicArn"`
	}
	if json.Unmarshal(body, &probe) != nil || probe.TopicArn == "" {
		return false
	}
	return probe.Type == "Notification" || strings.HasSuffix(probe.Type, "Confirmation")
}
