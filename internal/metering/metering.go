// Package metering meters usage exactly once per LicenseArn through
// BatchMeterUsage.
//
// Usage records come in over the API with an idempotency key each and are
// summed into (license, dimension, hour) buckets. A bucket closes at the end of
// its hour plus a grace for late usage (at once when the license's agreement
// ends) and is then frozen into a metering record whose fields never change
// again: every send of it is identical, so AWS, for which an identical record
// is idempotent, bills it once however often a crash makes Concord send it.
// Usage arriving for a frozen bucket is kept and reported as late, never sent.
//
// Records go out oldest first, at most 25 per call and one product per call,
// under a client-side rate limit, with UnprocessedRecords, throttling and
// server errors retried until the record's hour falls out of AWS's window
// (then it is expired, with an alert). A request AWS rejects as a whole is
// split until the bad records are isolated. Each record ends in the outcome
// ledger (metering_records) with AWS's MeteringRecordId or the reason.
package metering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/concordmp/concord/internal/pace"
	"github.com/concordmp/concord/internal/store"
)

// Outcomes of a metering record. Pending records are still to be sent.
const (
	StatusPending       = "pending"
	StatusSuccess       = "success"
	StatusDuplicate     = "duplicate"
	StatusNotSubscribed = "not_subscribed"
	StatusRejected      = "rejected"
	StatusExpired       = "expired"
)

// Paths a record is sent by. PathLicense (Concurrent Agreements products):
// LicenseArn + CustomerAWSAccountId, no ProductCode. PathLegacy: ProductCode +
// CustomerIdentifier (or CustomerAWSAccountId when no identifier is known).
const (
	PathLicense = "license"
	PathLegacy  = "legacy"
)

// Limits of BatchMeterUsage.
const (
	MaxBatch       = 25
	MaxRequestSize = 1 << 20
	MaxQuantity    = math.MaxInt32
	// MaxIngest is the largest batch POST /v1/usage takes.
	MaxIngest = 10000
	// FutureSkew is how far ahead of Concord's clock a usage timestamp may be.
	FutureSkew = 5 * time.Minute
	// monthEndCutoff: a month's usage is accepted until 06:00 UTC on the 1st.
	monthEndCutoff = 6 * time.Hour
)

// SendRecord is one UsageRecord as sent to AWS.
type SendRecord struct {
	LicenseArn         string
	AccountID          string
	CustomerIdentifier string
	Dimension          string
	Hour               time.Time
	Quantity           int32
}

// SendResult is AWS's answer for one record of a call.
type SendResult struct {
	// Unprocessed: AWS returned it in UnprocessedRecords (or not at all).
	Unprocessed bool
	// Status is Success, CustomerNotSubscribed or DuplicateRecord.
	Status           string
	MeteringRecordID string
}

// AWS's per-record statuses.
const (
	AWSSuccess               = "Success"
	AWSCustomerNotSubscribed = "CustomerNotSubscribed"
	AWSDuplicateRecord       = "DuplicateRecord"
)

// BatchAPI is BatchMeterUsage. productCode is set on the legacy path only.
// The results are in the order of recs. An error that is a *RejectedError is
// AWS refusing the whole request; any other error is transient.
type BatchAPI interface {
	BatchMeterUsage(ctx context.Context, productCode string, recs []SendRecord) ([]SendResult, error)
}

// RejectedError is a request-level rejection (InvalidLicenseException,
// TimestampOutOfBoundsException, ...): resending the same request fails again.
type RejectedError struct {
	Code    string
	Message string
}

func (e *RejectedError) Error() string { return e.Code + ": " + e.Message }

// ProductLevelRejection is the rejection that concerns the request's product
// (its code), not its records: the whole batch is rejected without splitting.
const ProductLevelRejection = "InvalidProductCodeException"

// ErrThrottled marks a BatchMeterUsage call AWS throttled: the submitter
// pauses all its calls for a second, then retries the records.
var ErrThrottled = errors.New("throttled")

// Metrics are the metering counters on /metrics.
type Metrics struct {
	Usage   *prometheus.CounterVec
	Records *prometheus.CounterVec
	Calls   *prometheus.CounterVec
}

// NewMetrics registers the metering metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Usage: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "concord_usage_records_total",
			Help: "Usage records received over the API, by result (accepted, late, duplicate, rejected)."}, []string{"result"}),
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "concord_metering_records_total",
			Help: "Metering records that reached an outcome (success, duplicate, not_subscribed, rejected, expired)."}, []string{"outcome"}),
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "concord_metering_calls_total",
			Help: "BatchMeterUsage calls, by result (ok, rejected, transient)."}, []string{"result"}),
	}
	reg.MustRegister(m.Usage, m.Records, m.Calls)
	return m
}

func (m *Metrics) usage(result string, n int) {
	if m != nil && n > 0 {
		m.Usage.WithLabelValues(result).Add(float64(n))
	}
}

func (m *Metrics) record(outcome string) {
	if m != nil {
		m.Records.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) call(result string) {
	if m != nil {
		m.Calls.WithLabelValues(result).Inc()
	}
}

// Service ingests usage and submits it.
type Service struct {
	DB     *store.DB
	Now    func() time.Time
	Logger *slog.Logger
	// API is BatchMeterUsage (the official client in awsmp).
	API BatchAPI
	// BillingLicense returns the license a tenant's usage is metered on
	// (registration.BillingLicense; license, when given, must be the tenant's).
	BillingLicense func(ctx context.Context, tx *store.Tx, tenantID, license string) (string, error)
	// Grace keeps a bucket open after its hour ends, for late usage (default 10 min).
	Grace time.Duration
	// Window is how old usage AWS accepts (default 24 h; set 6 h for an
	// account still on the old window).
	Window time.Duration
	// RPS is the client-side rate limit of BatchMeterUsage calls (default 10,
	// AWS's quota per account and region). Replicas sharing an account should
	// split it.
	RPS float64
	// InFlight is how many calls may be in flight at once (default 8).
	InFlight int
	// Lease is how long a claimed record is held before another submitter may
	// send it again (default 2 min).
	Lease time.Duration
	// Tick is how often buckets are closed and due records looked for (default 1 s).
	Tick    time.Duration
	Metrics *Metrics
	// OnAlert, when set, is told in the same transaction about usage that
	// will not be billed (the metering failure notifications).
	OnAlert func(ctx context.Context, tx *store.Tx, a MeteringAlert, now time.Time) error
	// Crash, when set, is called at the submitter's crash points ("claimed",
	// "called", "recorded"); an error stops the submitter there, as a crash
	// would. Tests use it.
	Crash func(point string) error

	initOnce sync.Once
	owner    string
	limiter  *pace.Limiter
	wake     chan struct{}
	// large bounds the large usage batches ingested at once (bounded.go).
	largeOnce sync.Once
	large     chan struct{}
}

func (s *Service) init() {
	s.initOnce.Do(func() {
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
		if s.Grace <= 0 {
			s.Grace = 10 * time.Minute
		}
		if s.Window <= 0 {
			s.Window = 24 * time.Hour
		}
		if s.RPS <= 0 {
			s.RPS = 10
		}
		if s.InFlight <= 0 {
			s.InFlight = 8
		}
		if s.Lease <= 0 {
			s.Lease = 2 * time.Minute
		}
		if s.Tick <= 0 {
			s.Tick = time.Second
		}
		s.owner = uuid.NewString()
		s.limiter = pace.New(s.RPS)
		s.wake = make(chan struct{}, 1)
	})
}

// Check reports a configuration that cannot work: an hour must close (end
// plus grace) well before AWS's window for it closes.
func (s *Service) Check() error {
	s.init()
	if s.Grace > s.Window-2*time.Hour {
		return fmt.Errorf("--metering-grace %s leaves no time to send an hour within the %s metering window: keep it under %s",
			s.Grace, s.Window, s.Window-2*time.Hour)
	}
	return nil
}

// Wake makes the submitter look for work now.
func (s *Service) Wake() {
	s.init()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// errCrashed stops a submitter at an injected crash point.
var errCrashed = errors.New("metering: injected crash")

func (s *Service) crash(point string) error {
	if s.Crash == nil {
		return nil
	}
	if err := s.Crash(point); err != nil {
		return fmt.Errorf("%w at %s: %v", errCrashed, point, err)
	}
	return nil
}

// IsCrash reports whether err is an injected crash.
func IsCrash(err error) bool { return errors.Is(err, errCrashed) }

// sendDeadline is the last moment a record for hour may be sent at: AWS takes
// usage less than Window old, and a month's usage only until 06:00 UTC on the
// 1st. A minute is kept in hand for the call itself.
func (s *Service) sendDeadline(hour time.Time) time.Time {
	d := hour.Add(s.Window - time.Minute)
	next := time.Date(hour.Year(), hour.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0).Add(monthEndCutoff - time.Minute)
	if next.Before(d) {
		d = next
	}
	return d
}
