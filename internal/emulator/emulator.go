// Package emulator is Concord's AWS Marketplace emulator: one HTTP handler that
// speaks the Metering, Entitlement, Agreement, Catalog and SQS wire protocols so
// the official AWS SDK clients work against it unchanged, plus a control API that
// plays the buyer, the channel partner and AWS itself (accept, amend, renew,
// cancel, expire, register, advance the clock, inject faults) and delivers the
// EventBridge and SNS messages AWS would send.
//
// It runs standalone (`concord emulator`) and in-process as the sandbox
// marketplace of `concord serve`.
package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/concordmp/concord/internal/background"
	"github.com/concordmp/concord/internal/emulator/agreementapi"
	emus3 "github.com/concordmp/concord/internal/emulator/s3"
	"github.com/concordmp/concord/internal/emulator/smithyio"
	emusqs "github.com/concordmp/concord/internal/emulator/sqs"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/snsverify"
)

// Options configure an emulator.
type Options struct {
	Config world.Config
	Logger *slog.Logger
	// BaseURL returns the emulator's external base URL (for queue URLs, the SNS
	// certificate and SubscribeURLs). It is called after the listener is bound,
	// never during New. Nil means http://localhost.
	BaseURL func() string
	// HTTPClient delivers events to HTTP targets and performs the buyer's
	// registration POST; nil is a client with a 10 s timeout.
	HTTPClient *http.Client
	// FulfillmentURL, when set, is where Register sends the buyer if the
	// request names no URL (in sandbox mode: Concord's own registration page).
	FulfillmentURL func() string
	// ControlToken, when set, is the bearer token every control API request
	// must carry (Authorization: Bearer …). The sandbox inside `concord serve`
	// sets it, so whoever can reach the listener cannot rewrite the world;
	// the standalone emulator leaves it empty, its control API being the point.
	ControlToken string
	// StateFile, when set, is where the world is kept between runs: LoadState
	// reads it, and it is rewritten (write to a temporary file, then rename)
	// within a second of every change, at once when the clock moves, and on
	// Close. The sandbox of `concord serve` keeps it in the data directory.
	StateFile string
	// Clock, when set, is the real time under the emulator clock (nil is
	// time.Now): tests that must see the same times in every run stop it.
	Clock func() time.Time
}

// SandboxBucket is the S3 bucket every emulator has: sandbox Concord uploads
// custom EULA and reseller agreement documents to it.
const SandboxBucket = "concord-sandbox-documents"

// S3Prefix is the path the emulator serves its S3 subset below: an S3
// client's BaseEndpoint is the emulator's URL plus S3Prefix.
const S3Prefix = "/s3"

// Target is where emitted messages are delivered.
type Target struct {
	ID string `json:"id"`
	// Type is "sqs" (EventBridge events into an emulated queue), "http"
	// (EventBridge events POSTed as an API destination would, with a secret
	// header) or "sns" (legacy SNS notifications POSTed, signed, to an HTTP
	// endpoint that first receives a SubscriptionConfirmation).
	Type   string `json:"type"`
	Queue  string `json:"queue,omitempty"`
	URL    string `json:"url,omitempty"`
	Header string `json:"header,omitempty"`
	Secret string `json:"secret,omitempty"`
	// Confirmed is set once an SNS endpoint visited its SubscribeURL.
	Confirmed bool `json:"confirmed"`
	token     string
	queueURL  string
}

// Delivery records one delivery attempt to a target, for inspection.
type Delivery struct {
	Target string    `json:"target"`
	Time   time.Time `json:"time"`
	Status int       `json:"status"`
	Error  string    `json:"error,omitempty"`
}

// Emulator is the whole emulated marketplace.
type Emulator struct {
	World      *world.World
	Agreements *agreementapi.Server
	SQS        *emusqs.Server
	// S3 holds the sellers' contract documents (custom EULAs); its
	// ObjectAtURL tells whether a change set's document URL names an object.
	S3 *emus3.Server

	signerOnce sync.Once
	signer     *snsverify.Signer
	signerErr  error

	o        Options
	services []service
	ctl      http.Handler
	mu       sync.Mutex
	targets  []*Target
	log      []Delivery
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	saveMu sync.Mutex
	saved  uint64 // the world version last written to StateFile
}

// service is one AWS service endpoint: match picks the requests it answers.
type service struct {
	name  string
	match func(r *http.Request) bool
	h     http.Handler
}

// New builds an emulator. Call Start to run its clock ticks and Close to stop.
func New(o Options) *Emulator {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Config.SellerAccountID == "" {
		o.Config = world.DefaultConfig()
	}
	e := &Emulator{World: world.New(o.Config), o: o}
	e.World.SetClock(o.Clock)
	e.Agreements = agreementapi.New(agreementapi.Options{Now: e.World.Now, Fault: func(op string) error {
		var d world.Decision
		e.World.Read(func(s *world.State) error { d = s.Inject(op); return nil })
		time.Sleep(d.Latency)
		switch {
		case d.Throttle:
			return &agreementapi.APIError{Code: agreementapi.CodeThrottling, Message: "Rate exceeded"}
		case d.Fail:
			return &agreementapi.APIError{Code: agreementapi.CodeInternalServer, Message: "injected failure"}
		}
		return nil
	}, Lifecycle: lifecycle{e.World}})
	e.World.AttachAgreementAPI(e.Agreements)
	e.SQS = emusqs.New(emusqs.Options{Now: e.World.Now, AccountID: o.Config.SellerAccountID, BaseURL: func(r *http.Request) string {
		return e.base(r)
	}})
	e.S3 = emus3.New(emus3.Options{Now: e.World.Now, Fault: func(op string) *emus3.Error {
		var d world.Decision
		e.World.Read(func(s *world.State) error { d = s.Inject(op); return nil })
		time.Sleep(d.Latency)
		switch {
		case d.Throttle:
			return emus3.ErrSlowDown
		case d.Fail:
			return emus3.ErrInternal
		}
		return nil
	}})
	// The sandbox's documents bucket exists from the start, so a sandbox
	// Concord publishes custom EULAs with no setup.
	if err := e.S3.CreateBucket(SandboxBucket); err != nil {
		panic(err)
	}
	e.World.OnEvent(e.deliver)
	e.World.OnClockMove(func() {
		if err := e.SaveState(); err != nil {
			e.o.Logger.Error("emulator: save state", "file", e.o.StateFile, "err", err)
		}
	})
	e.services = e.buildServices()
	e.ctl = e.controlHandler()
	return e
}

// Start runs the clock: due transitions (future-dated starts, end dates, final
// metering windows, change sets) happen even when nobody calls.
func (e *Emulator) Start(ctx context.Context) {
	ctx, e.cancel = context.WithCancel(ctx)
	e.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				background.Guard(e.o.Logger, "emulator clock", func() error { e.World.Tick(); return nil })
				if err := background.Guard(e.o.Logger, "emulator state file", e.SaveState); err != nil {
					e.o.Logger.Error("emulator: save state", "file", e.o.StateFile, "err", err)
				}
			}
		}
	})
}

// Close stops the clock and releases long polls.
func (e *Emulator) Close() {
	if e.cancel != nil {
		e.cancel()
	}
	e.SQS.Close()
	e.wg.Wait()
	if err := e.SaveState(); err != nil {
		e.o.Logger.Error("emulator: save state", "file", e.o.StateFile, "err", err)
	}
}

// LoadState restores the world from Options.StateFile; a missing file is a
// fresh world (loaded false). A file that is not a whole world is an error:
// starting empty beside a ledger that remembers it would be worse.
func (e *Emulator) LoadState() (loaded bool, err error) {
	if e.o.StateFile == "" {
		return false, nil
	}
	b, err := os.ReadFile(e.o.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("read emulator state: %w", err)
	}
	if err := e.World.Restore(b); err != nil {
		return false, fmt.Errorf("restore emulator state from %s: %w", e.o.StateFile, err)
	}
	e.saveMu.Lock()
	e.saved = e.World.Version()
	e.saveMu.Unlock()
	return true, nil
}

// SaveState writes the world to Options.StateFile if it changed since the
// last write: to a temporary file in the same directory, synced, then renamed
// over the old one, so a crash leaves the old state or the new, never half.
func (e *Emulator) SaveState() error {
	if e.o.StateFile == "" {
		return nil
	}
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	if e.World.Version() == e.saved {
		return nil
	}
	b, v, err := e.World.SnapshotVersion()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(e.o.StateFile), filepath.Base(e.o.StateFile)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write emulator state: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename, there is nothing left to remove
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), e.o.StateFile)
	}
	if err != nil {
		return fmt.Errorf("write emulator state: %w", err)
	}
	e.saved = v
	return nil
}

func (e *Emulator) base(*http.Request) string {
	if e.o.BaseURL != nil {
		return strings.TrimRight(e.o.BaseURL(), "/")
	}
	return "http://localhost"
}

// CertURL is where the SNS signing certificate is served.
func (e *Emulator) CertURL() string { return e.base(nil) + "/sns/signing-cert.pem" }

// Signer returns the SNS signer, made on first use so the base URL (and so the
// certificate URL) is known by then.
func (e *Emulator) Signer() (*snsverify.Signer, error) {
	e.signerOnce.Do(func() { e.signer, e.signerErr = snsverify.NewSigner(e.CertURL()) })
	return e.signer, e.signerErr
}

// ServeHTTP routes a request to the service whose protocol it speaks.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/control/") || r.URL.Path == "/control":
		if e.controlAllowed(w, r) {
			e.ctl.ServeHTTP(w, r)
		}
		return
	case r.URL.Path == "/sns/signing-cert.pem":
		signer, err := e.Signer()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(signer.CertPEM())
		return
	case r.URL.Path == "/sns/confirm":
		e.confirmSNS(w, r)
		return
	}
	for _, s := range e.services {
		if s.match(r) {
			s.h.ServeHTTP(w, r)
			return
		}
	}
	if r.Method == http.MethodGet && (r.URL.Path == "/" || r.URL.Path == "") {
		writeJSON(w, http.StatusOK, map[string]any{"emulator": "Concord AWS Marketplace emulator (SANDBOX: not AWS)",
			"services": []string{"metering", "entitlement", "agreement", "catalog", "sqs", "s3 (below " + S3Prefix + ")"}, "control": "/control/", "now": e.World.Now()})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]any{"__type": "UnknownOperationException",
		"message": fmt.Sprintf("the emulator does not serve %s %s (X-Amz-Target %q)", r.Method, r.URL.Path, r.Header.Get("X-Amz-Target"))})
}

func target(prefix string) func(r *http.Request) bool {
	return func(r *http.Request) bool { return strings.HasPrefix(r.Header.Get("X-Amz-Target"), prefix) }
}

func cborService(name string) func(r *http.Request) bool {
	return func(r *http.Request) bool {
		op, _ := smithyio.CBOROperation(r.URL.Path, name)
		return op != ""
	}
}

// AddTarget registers a delivery target. For SNS targets the emulator sends a
// signed SubscriptionConfirmation first, as SNS does.
func (e *Emulator) AddTarget(t Target) (*Target, error) {
	switch t.Type {
	case "sqs":
		if t.Queue == "" {
			t.Queue = "marketplace-events"
		}
		t.queueURL = e.SQS.CreateQueue(t.Queue)
		if t.queueURL == "" {
			return nil, world.Errorf(world.CodeValidation, "queue name %q is invalid", t.Queue)
		}
	case "http", "sns":
		u, err := url.Parse(t.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, world.Errorf(world.CodeValidation, "url %q must be an http(s) URL", t.URL)
		}
		if t.Type == "http" && t.Header == "" {
			t.Header = "X-Concord-Secret"
		}
	default:
		return nil, world.Errorf(world.CodeValidation, "target type %q must be sqs, http or sns", t.Type)
	}
	t.ID = world.NewID("target-", 8)
	if t.Type == "sns" {
		t.token = world.NewID("", 32)
	}
	e.mu.Lock()
	e.targets = append(e.targets, &t)
	e.mu.Unlock()
	if t.Type == "sns" {
		e.sendSNS(&t, snsverify.TypeSubscriptionConfirmation, "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-emulator",
			"You have chosen to subscribe to the topic. To confirm the subscription, visit the SubscribeURL included in this message.")
	}
	return &t, nil
}

// Targets lists the delivery targets.
func (e *Emulator) Targets() []Target {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Target, 0, len(e.targets))
	for _, t := range e.targets {
		out = append(out, *t)
	}
	return out
}

// QueueURL returns the URL of an SQS target's queue.
func (e *Emulator) QueueURL(name string) string { return e.SQS.CreateQueue(name) }

// deliver sends one emitted message to every matching target.
func (e *Emulator) deliver(ev world.EmittedEvent) {
	e.mu.Lock()
	var targets []*Target
	for _, t := range e.targets {
		// As SNS does, nothing is delivered to an endpoint that has not confirmed.
		if t.Type != "sns" || t.Confirmed {
			cp := *t
			targets = append(targets, &cp)
		}
	}
	e.mu.Unlock()
	for _, t := range targets {
		switch {
		case ev.Kind == "eventbridge" && t.Type == "sqs":
			_, err := e.SQS.Send(t.queueURL, string(ev.Body))
			e.record(t, 200, err)
		case ev.Kind == "eventbridge" && t.Type == "http":
			e.post(t, ev.Body, func(req *http.Request) { req.Header.Set(t.Header, t.Secret) })
		case ev.Kind == "sns" && t.Type == "sns":
			e.sendSNS(t, snsverify.TypeNotification, ev.TopicArn, string(ev.Body))
		}
	}
}

// post delivers a body to an HTTP target in order, retrying with backoff like
// EventBridge does for an API destination (up to 5 attempts here).
func (e *Emulator) post(t *Target, body []byte, decorate func(*http.Request)) {
	var err error
	status := 0
	for attempt := range 5 {
		if attempt > 0 {
			time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
		}
		req, rerr := http.NewRequest(http.MethodPost, t.URL, bytes.NewReader(body))
		if rerr != nil {
			err = rerr
			break
		}
		req.Header.Set("Content-Type", "application/json")
		decorate(req)
		resp, derr := e.o.HTTPClient.Do(req)
		if derr != nil {
			err = derr
			continue
		}
		resp.Body.Close()
		status, err = resp.StatusCode, nil
		if status < 500 && status != http.StatusTooManyRequests {
			break
		}
	}
	if err != nil || status/100 != 2 {
		e.o.Logger.Warn("emulator: delivery failed", "target", t.URL, "status", status, "err", err)
	}
	e.record(t, status, err)
}

func (e *Emulator) record(t *Target, status int, err error) {
	d := Delivery{Target: t.ID, Time: time.Now().UTC(), Status: status}
	if err != nil {
		d.Error = err.Error()
	}
	e.mu.Lock()
	e.log = append(e.log, d)
	if len(e.log) > 1000 {
		e.log = e.log[len(e.log)-1000:]
	}
	e.mu.Unlock()
}

// Deliveries returns the recent delivery log.
func (e *Emulator) Deliveries() []Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Delivery(nil), e.log...)
}

// sendSNS signs and posts one SNS message to an SNS target.
func (e *Emulator) sendSNS(t *Target, typ, topic, message string) {
	m := &snsverify.Message{Type: typ, MessageID: world.NewID("", 32), TopicArn: topic, Message: message,
		Timestamp: snsverify.FormatTimestamp(e.World.Now())}
	base := e.base(nil)
	switch typ {
	case snsverify.TypeSubscriptionConfirmation:
		m.Token = t.token
		m.SubscribeURL = base + "/sns/confirm?target=" + url.QueryEscape(t.ID) + "&token=" + url.QueryEscape(t.token)
	case snsverify.TypeNotification:
		m.UnsubscribeURL = base + "/sns/unsubscribe?target=" + url.QueryEscape(t.ID)
	}
	signer, err := e.Signer()
	if err == nil {
		err = signer.Sign(m, "2")
	}
	if err != nil {
		e.record(t, 0, err)
		return
	}
	body, _ := json.Marshal(m)
	e.post(t, body, func(req *http.Request) {
		req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
		req.Header.Set("x-amz-sns-message-type", typ)
		req.Header.Set("x-amz-sns-message-id", m.MessageID)
		req.Header.Set("x-amz-sns-topic-arn", topic)
	})
}

func (e *Emulator) confirmSNS(w http.ResponseWriter, r *http.Request) {
	id, tok := r.URL.Query().Get("target"), r.URL.Query().Get("token")
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.targets {
		if t.ID == id && t.Type == "sns" && t.token != "" && t.token == tok {
			t.Confirmed = true
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprintf(w, "<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>arn:aws:sns:us-east-1:287250355862:emulator:%s</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>", t.ID)
			return
		}
	}
	http.Error(w, "unknown subscription or token", http.StatusNotFound)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
