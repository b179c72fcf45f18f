// Package world is the state of Concord's AWS Marketplace emulator: products,
// buyers, offers, resale authorizations, agreements, licenses, registration
// tokens and metering records, with a controllable clock. The service packages
// (metering, entitlement, catalog, agreement API) read and change it under one
// lock through Do; the simulation methods play the buyer, the partner and AWS,
// and every change that AWS would announce emits the EventBridge (and, for legacy
// products, SNS) message AWS would send.
package world

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/concordmp/concord/internal/emulator/agreementapi"
)

// Product types, as Concord names them.
const (
	ProductSaaSContract            = "saas_contract"
	ProductSaaSContractConsumption = "saas_contract_consumption"
	ProductSaaSUsage               = "saas_usage"
	ProductProfessionalServices    = "professional_services"
)

// License states.
const (
	LicensePending       = "pending"
	LicenseActive        = "active"
	LicenseEnding        = "ending"
	LicenseDeprovisioned = "deprovisioned"
)

// Dimension is a pricing dimension. Kind "contract" dimensions carry purchased
// quantities (entitlements); "usage" dimensions are metered.
type Dimension struct {
	Key  string `json:"key"`
	Name string `json:"name,omitempty"`
	Kind string `json:"kind"`
	// Price is the list price per unit (contract: per term; usage: per unit).
	Price string `json:"price,omitempty"`
}

// Product is a listing of the emulated seller.
type Product struct {
	ProductID            string      `json:"productId"`
	ProductCode          string      `json:"productCode"`
	Title                string      `json:"title"`
	Type                 string      `json:"type"`
	ConcurrentAgreements bool        `json:"concurrentAgreements"`
	Dimensions           []Dimension `json:"dimensions"`
	PublicOfferID        string      `json:"publicOfferId"`
	// CreatedAt is when the product was listed (the Catalog API's
	// LastModifiedDate of the SaaSProduct entity).
	CreatedAt *time.Time `json:"createdAt,omitempty"`
}

// Dimension returns the product's dimension by key.
func (p *Product) Dimension(key string) (Dimension, bool) {
	for _, d := range p.Dimensions {
		if d.Key == key {
			return d, true
		}
	}
	return Dimension{}, false
}

// Buyer is an AWS account that buys.
type Buyer struct {
	AccountID string `json:"accountId"`
	// CustomerIdentifiers holds the legacy identifier per product code.
	CustomerIdentifiers map[string]string `json:"customerIdentifiers"`
}

// Offer is a public or private offer (or a partner's CPPO offer).
type Offer struct {
	OfferID               string           `json:"offerId"`
	ProductID             string           `json:"productId"`
	Name                  string           `json:"name"`
	State                 string           `json:"state"` // Draft, Released, Expired
	Private               bool             `json:"private"`
	BuyerAccounts         []string         `json:"buyerAccounts,omitempty"`
	ProposerAccountID     string           `json:"proposerAccountId"`
	ResaleAuthorizationID string           `json:"resaleAuthorizationId,omitempty"`
	ReplacesAgreementID   string           `json:"replacesAgreementId,omitempty"`
	ExpirationDate        *time.Time       `json:"expirationDate,omitempty"`
	Duration              string           `json:"duration,omitempty"` // ISO 8601, e.g. P12M
	StartDate             *time.Time       `json:"startDate,omitempty"`
	EndDate               *time.Time       `json:"endDate,omitempty"` // AgreementEndDate (the day); see AgreementEnd
	Quantities            map[string]int64 `json:"quantities,omitempty"`
	// Prices are the offer's own rate card (dimension → price); nil means the
	// product's list prices (a public offer).
	Prices    map[string]string `json:"prices,omitempty"`
	Currency  string            `json:"currency,omitempty"`
	AutoRenew bool              `json:"autoRenew"`
	// Terms are extra accepted terms (payment schedule, legal, ...).
	Terms []agreementapi.Term `json:"terms,omitempty"`
	// Details keeps the Catalog API details documents applied to the offer.
	Details map[string]json.RawMessage `json:"details,omitempty"`
	// ReleasedAt is when the world released an offer it made itself (the
	// Catalog API's ListEntities ReleaseDate and LastModifiedDate; change
	// sets date the offers they make).
	ReleasedAt *time.Time `json:"releasedAt,omitempty"`
}

// ResaleAuthorization lets a channel partner resell a product (CPPO).
type ResaleAuthorization struct {
	ID                string `json:"id"`
	ProductID         string `json:"productId"`
	Name              string `json:"name"`
	ResellerAccountID string `json:"resellerAccountId"`
	State             string `json:"state"` // Draft, Active, Restricted
	Currency          string `json:"currency,omitempty"`
	// Prices are the rate card the partner buys at (dimension → price).
	Prices map[string]string `json:"prices,omitempty"`
	// Quantities, Duration and Terms are the rest of what its pricing and
	// payment schedule terms make of a partner's offer: the units a fixed
	// upfront term grants, its duration, and the accepted terms it carries
	// (the fixed upfront price, the payment schedule). A partner's offer
	// starts from them, whichever path makes it (PartnerOfferFrom).
	Quantities    map[string]int64           `json:"quantities,omitempty"`
	Duration      string                     `json:"duration,omitempty"`
	Terms         []agreementapi.Term        `json:"terms,omitempty"`
	BuyerAccounts []string                   `json:"buyerAccounts,omitempty"`
	Details       map[string]json.RawMessage `json:"details,omitempty"`
	// CreatedAt is when the world made a resale authorization itself
	// (ListEntities CreatedDate and LastModifiedDate).
	CreatedAt *time.Time `json:"createdAt,omitempty"`
}

// Agreement is an accepted offer.
type Agreement struct {
	ID                    string              `json:"agreementId"`
	OfferID               string              `json:"offerId"`
	ProductID             string              `json:"productId"`
	AcceptorAccountID     string              `json:"acceptorAccountId"`
	ProposerAccountID     string              `json:"proposerAccountId"`
	ResaleAuthorizationID string              `json:"resaleAuthorizationId,omitempty"`
	Intent                string              `json:"intent"`
	Status                string              `json:"status"`
	PreviousAgreementID   string              `json:"previousAgreementId,omitempty"`
	InitialAgreementID    string              `json:"initialAgreementId"`
	AcceptanceTime        time.Time           `json:"acceptanceTime"`
	StartTime             time.Time           `json:"startTime"`
	EndTime               *time.Time          `json:"endTime,omitempty"`
	EndedAt               *time.Time          `json:"endedAt,omitempty"`
	Quantities            map[string]int64    `json:"quantities,omitempty"`
	AutoRenew             bool                `json:"autoRenew"`
	LicenseArn            string              `json:"licenseArn,omitempty"`
	Currency              string              `json:"currency,omitempty"`
	Terms                 []agreementapi.Term `json:"terms,omitempty"`

	// AutoRenewDisabledBy is who turned auto-renewal off, ACCEPTOR or
	// PROPOSER (AWS's renewalSummary.disabledBy); empty while it is on.
	AutoRenewDisabledBy string `json:"autoRenewDisabledBy,omitempty"`
	// RenewedBy is the renewal agreement (intent RENEW) already accepted to
	// start when this one ends; this one runs until then.
	RenewedBy string `json:"renewedBy,omitempty"`

	// Notices are the announcements AWS makes once before the end that
	// were sent (ending-180 … ending-30, renewal-upcoming).
	Notices map[string]bool `json:"notices,omitempty"`
	// AdvisoryIssuedAt is when the open advisory was issued; nil when none.
	AdvisoryIssuedAt *time.Time `json:"advisoryIssuedAt,omitempty"`
}

// License is the buyer's entitlement under one agreement.
type License struct {
	Arn                string     `json:"licenseArn"`
	AgreementID        string     `json:"agreementId"`
	ProductID          string     `json:"productId"`
	ProductCode        string     `json:"productCode"`
	AccountID          string     `json:"accountId"`
	CustomerIdentifier string     `json:"customerIdentifier,omitempty"`
	State              string     `json:"state"`
	StartTime          time.Time  `json:"startTime"`
	EndedAt            *time.Time `json:"endedAt,omitempty"`
	// DeprovisionAt is when the final metering window closes.
	DeprovisionAt   *time.Time `json:"deprovisionAt,omitempty"`
	DeprovisionedAt *time.Time `json:"deprovisionedAt,omitempty"`
}

// Token is a registration token ResolveCustomer accepts.
type Token struct {
	Value              string    `json:"token"`
	LicenseArn         string    `json:"licenseArn"`
	AccountID          string    `json:"accountId"`
	ProductCode        string    `json:"productCode"`
	CustomerIdentifier string    `json:"customerIdentifier,omitempty"`
	ExpiresAt          time.Time `json:"expiresAt"`
}

// MeteringRecord is one usage record as the metering service received it, with
// its outcome, for inspection and reconciliation.
type MeteringRecord struct {
	MeteringRecordID   string          `json:"meteringRecordId,omitempty"`
	ReceivedAt         time.Time       `json:"receivedAt"`
	Operation          string          `json:"operation"` // BatchMeterUsage or MeterUsage
	ProductCode        string          `json:"productCode"`
	LicenseArn         string          `json:"licenseArn,omitempty"`
	CustomerAWSAccount string          `json:"customerAwsAccountId,omitempty"`
	CustomerIdentifier string          `json:"customerIdentifier,omitempty"`
	Dimension          string          `json:"dimension"`
	Quantity           int64           `json:"quantity"`
	Timestamp          time.Time       `json:"timestamp"`
	Status             string          `json:"status"` // Success, DuplicateRecord, CustomerNotSubscribed, Unprocessed, Rejected
	Reason             string          `json:"reason,omitempty"`
	Allocations        json.RawMessage `json:"allocations,omitempty"`
}

// Config holds the emulator's rules that tests and operators tune.
type Config struct {
	SellerAccountID string        `json:"sellerAccountId"`
	Region          string        `json:"region"`
	TokenTTL        time.Duration `json:"tokenTtl"`
	FinalWindow     time.Duration `json:"finalWindow"`
	// MeteringWindow is how old a usage timestamp may be: 24 h today, 6 h before
	// mid-2026. MonthEndGrace accepts the previous month until 06:00 UTC on the 1st.
	MeteringWindow time.Duration `json:"meteringWindow"`
	MonthEndGrace  bool          `json:"monthEndGrace"`
	// ThrottleRPS is the per-account request rate for metering calls (0 = off).
	ThrottleRPS float64 `json:"throttleRps"`
	// ChangeSetDelay is how long a change set stays PREPARING/APPLYING.
	ChangeSetDelay time.Duration `json:"changeSetDelay"`
	// AdjustmentDelay is how long a billing adjustment request stays PENDING.
	AdjustmentDelay time.Duration `json:"adjustmentDelay"`
	// RenewalLockout is how long before its end an auto-renewing agreement
	// reaches its lockout (Purchase Agreement Renewal Upcoming).
	RenewalLockout time.Duration `json:"renewalLockout"`
}

// DefaultConfig is AWS's behaviour as documented in 2026.
func DefaultConfig() Config {
	return Config{SellerAccountID: "111122223333", Region: "us-east-1", TokenTTL: 4 * time.Hour, FinalWindow: time.Hour,
		MeteringWindow: 24 * time.Hour, MonthEndGrace: true, ThrottleRPS: 10, ChangeSetDelay: time.Second,
		AdjustmentDelay: DefaultAdjustmentDelay, RenewalLockout: DefaultRenewalLockout}
}

// Fault is injected into one operation.
type Fault struct {
	Latency time.Duration `json:"latency"`
	// Shares are probabilities in [0, 1].
	ThrottleShare    float64 `json:"throttleShare"`
	ErrorShare       float64 `json:"errorShare"`       // 500 InternalServiceError
	UnprocessedShare float64 `json:"unprocessedShare"` // BatchMeterUsage records left unprocessed
}

// State is everything the emulator knows. Read and change it only inside Do.
type State struct {
	Config               Config                          `json:"config"`
	ClockOffset          time.Duration                   `json:"clockOffset"`
	Products             map[string]*Product             `json:"products"`
	Buyers               map[string]*Buyer               `json:"buyers"`
	Offers               map[string]*Offer               `json:"offers"`
	ResaleAuthorizations map[string]*ResaleAuthorization `json:"resaleAuthorizations"`
	Agreements           map[string]*Agreement           `json:"agreements"`
	Licenses             map[string]*License             `json:"licenses"`
	Tokens               map[string]*Token               `json:"tokens"`
	Metering             []*MeteringRecord               `json:"metering"`
	// MeteringKeys maps a dedupe key (customer, license, dimension, hour) to
	// the index in Metering of the record that won.
	MeteringKeys map[string]int        `json:"meteringKeys"`
	ChangeSets   map[string]*ChangeSet `json:"changeSets"`
	Faults       map[string]Fault      `json:"faults"`
	FaultSeed    uint64                `json:"faultSeed"`
	// CancellationRequests are sellers' requests to cancel agreements
	// (Agreement API SendAgreementCancellationRequest), by id. Snapshots
	// written before they existed restore with none.
	CancellationRequests map[string]*CancellationRequest `json:"cancellationRequests"`
	// BillingAdjustments are sellers' refund requests against invoices
	// (BatchCreateBillingAdjustmentRequest), by id.
	BillingAdjustments map[string]*BillingAdjustment `json:"billingAdjustments"`
	// PaymentRequests are sellers' requests to charge under a
	// VariablePaymentTerm (SendAgreementPaymentRequest), by id.
	PaymentRequests map[string]*PaymentRequest `json:"paymentRequests"`
	// FailNext makes the next request of a kind fail AWS's asynchronous
	// validation (kind → status message): a sandbox fault, see FailNextKinds.
	FailNext map[string]string `json:"failNext,omitempty"`
	// Events is the log of every message emitted, oldest first.
	Events []EmittedEvent `json:"events"`

	now     time.Time
	pending []EmittedEvent
	touched map[string]bool
	rng     *mrand.Rand
	buckets map[string]*bucket
}

// ChangeSet is a Catalog API change set. The catalog package owns its details;
// the world only keeps it and its clock.
type ChangeSet struct {
	ID                 string          `json:"changeSetId"`
	Name               string          `json:"changeSetName"`
	Intent             string          `json:"intent"`
	Status             string          `json:"status"` // PREPARING, APPLYING, SUCCEEDED, FAILED, CANCELLED
	StartTime          time.Time       `json:"startTime"`
	EndTime            *time.Time      `json:"endTime,omitempty"`
	ApplyAt            time.Time       `json:"applyAt"`
	FailureCode        string          `json:"failureCode,omitempty"`
	FailureDescription string          `json:"failureDescription,omitempty"`
	ClientRequestToken string          `json:"clientRequestToken,omitempty"`
	Changes            json.RawMessage `json:"changes"`
	// Result is what the catalog package recorded when it applied the set.
	Result json.RawMessage `json:"result,omitempty"`
}

// EmittedEvent is one message the emulator sent (or will send).
type EmittedEvent struct {
	Kind string          `json:"kind"` // eventbridge or sns
	Time time.Time       `json:"time"`
	Body json.RawMessage `json:"body"`
	// TopicArn is set for SNS messages.
	TopicArn string `json:"topicArn,omitempty"`
}

// Now is the emulator clock's current time inside Do.
func (s *State) Now() time.Time { return s.now }

// Rand is the seeded source fault injection uses, so runs are reproducible.
func (s *State) Rand() *mrand.Rand { return s.rng }

// World guards the state and delivers what it emits.
type World struct {
	mu sync.Mutex
	s  *State

	// nextDue is the earliest scheduled transition seen by the last tick, and
	// dirty says a write happened since; together they let reads skip the scan.
	nextDue time.Time
	dirty   bool
	// version counts changes (writes, transitions that ran, clock moves), so
	// the state file is written only when there is something new to keep.
	version uint64
	onClock []func()

	subMu       sync.Mutex
	onEvent     []func(EmittedEvent)
	agreements  *agreementapi.Server
	applyChange func(s *State, cs *ChangeSet) // set by the catalog package
	// clock is the real time the clock offset is added to; nil is time.Now.
	clock func() time.Time
}

// SetClock replaces the real time under the emulator clock (nil restores
// time.Now). Call it before the world is used. A test that compares answers
// across runs (the three-SDK conformance suite) stops the clock, so every
// time the world stamps is the same in each run; the clock offset (control
// API clock/advance) still moves it.
func (w *World) SetClock(fn func() time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.clock = fn
}

// realNow is the time under the clock offset.
func (w *World) realNow() time.Time {
	if w.clock != nil {
		return w.clock().UTC()
	}
	return time.Now().UTC()
}

// New returns an empty world.
func New(cfg Config) *World {
	if cfg.SellerAccountID == "" {
		cfg = DefaultConfig()
	}
	return &World{s: newState(cfg)}
}

func newState(cfg Config) *State {
	s := &State{Config: cfg, Products: map[string]*Product{}, Buyers: map[string]*Buyer{}, Offers: map[string]*Offer{},
		ResaleAuthorizations: map[string]*ResaleAuthorization{}, Agreements: map[string]*Agreement{}, Licenses: map[string]*License{},
		Tokens: map[string]*Token{}, MeteringKeys: map[string]int{}, ChangeSets: map[string]*ChangeSet{}, Faults: map[string]Fault{}, FaultSeed: 1,
		CancellationRequests: map[string]*CancellationRequest{}, BillingAdjustments: map[string]*BillingAdjustment{},
		PaymentRequests: map[string]*PaymentRequest{}}
	s.rng = newRand(s.FaultSeed)
	return s
}

func newRand(seed uint64) *mrand.Rand { return mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// AttachAgreementAPI keeps the Agreement API emulator in step with the world.
func (w *World) AttachAgreementAPI(srv *agreementapi.Server) { w.agreements = srv }

// SetChangeSetApplier is how the catalog package applies change sets on ticks.
func (w *World) SetChangeSetApplier(fn func(s *State, cs *ChangeSet)) { w.applyChange = fn }

// OnEvent registers a sink for every emitted message (SQS queues, HTTP targets).
func (w *World) OnEvent(fn func(EmittedEvent)) {
	w.subMu.Lock()
	defer w.subMu.Unlock()
	w.onEvent = append(w.onEvent, fn)
}

// Now is the emulator clock: the real time shifted by the clock offset.
func (w *World) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.realNow().Add(w.s.ClockOffset)
}

// Do runs fn with the state locked. Scheduled transitions that are due run
// first, so every operation sees the world as of now. Messages fn emits are
// delivered after the lock is released, in order.
func (w *World) Do(fn func(s *State) error) error {
	out, err := w.locked(fn, true)
	w.deliver(out)
	return err
}

// Read runs fn with the state locked, for operations that change nothing (they
// must not call the simulation methods). Due transitions still run first.
func (w *World) Read(fn func(s *State) error) error {
	out, err := w.locked(fn, false)
	w.deliver(out)
	return err
}

// locked runs fn under the lock; a panic in fn releases it (the HTTP server
// recovers the panic) so one bad request cannot wedge the emulator.
func (w *World) locked(fn func(s *State) error, write bool) ([]EmittedEvent, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.s
	s.now = w.realNow().Add(s.ClockOffset)
	s.touched = map[string]bool{}
	if w.tickLocked() {
		// What ran may have made new transitions due (a renewal's end).
		w.dirty = true
		w.version++
	}
	defer func() {
		if write {
			w.dirty = true
			w.version++
		}
	}()
	err := fn(s)
	w.syncAgreementsLocked()
	out := s.pending
	s.pending = nil
	return out, err
}

// Advance moves the emulator clock forward and runs what became due.
func (w *World) Advance(d time.Duration) error {
	if d < 0 {
		return Errorf(CodeValidation, "the clock only moves forward")
	}
	w.mu.Lock()
	w.s.ClockOffset += d
	w.mu.Unlock()
	err := w.Do(func(*State) error { return nil })
	w.subMu.Lock()
	hooks := slices.Clone(w.onClock)
	w.subMu.Unlock()
	for _, fn := range hooks {
		fn()
	}
	return err
}

// OnClockMove registers fn to run after Advance, outside the lock: the
// sandbox saves its state at once, so commands reading the clock offset from
// the state file agree with the emulator.
func (w *World) OnClockMove(fn func()) {
	w.subMu.Lock()
	defer w.subMu.Unlock()
	w.onClock = append(w.onClock, fn)
}

// Version is a counter that moves whenever the state may have changed.
func (w *World) Version() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.version
}

// Tick runs due transitions; the emulator calls it every second. A tick that
// runs nothing changes nothing (and so writes no state file).
func (w *World) Tick() { w.Read(func(*State) error { return nil }) }

func (w *World) deliver(evs []EmittedEvent) {
	if len(evs) == 0 {
		return
	}
	w.subMu.Lock()
	sinks := slices.Clone(w.onEvent)
	w.subMu.Unlock()
	for _, ev := range evs {
		for _, fn := range sinks {
			fn(ev)
		}
	}
}

// emit queues an EventBridge event body for delivery after the current Do.
func (s *State) emit(body []byte) {
	s.log(EmittedEvent{Kind: "eventbridge", Time: s.now, Body: body})
}

// MaxEventLog is how many emitted messages the inspection log keeps.
const MaxEventLog = 10000

func (s *State) log(ev EmittedEvent) {
	s.Events = append(s.Events, ev)
	if len(s.Events) > MaxEventLog {
		s.Events = slices.Clone(s.Events[len(s.Events)-MaxEventLog:])
	}
	s.pending = append(s.pending, ev)
}

// emitSNS queues a legacy SNS action message for a legacy product.
func (s *State) emitSNS(topic string, msg map[string]string) {
	b, _ := json.Marshal(msg)
	s.log(EmittedEvent{Kind: "sns", Time: s.now, Body: b, TopicArn: topic})
}

// Emit queues an EventBridge event built by another package (catalog events).
func (s *State) Emit(body []byte) { s.emit(body) }

// Touch marks an agreement changed so the Agreement API is updated.
func (s *State) Touch(agreementID string) { s.touched[agreementID] = true }

func (w *World) syncAgreementsLocked() {
	if w.agreements == nil {
		return
	}
	for id := range w.s.touched {
		a := w.s.Agreements[id]
		if a == nil {
			continue
		}
		w.agreements.Put(w.s.agreementAPIView(a))
	}
}

func (s *State) agreementAPIView(a *Agreement) agreementapi.Agreement {
	acc, start := a.AcceptanceTime, a.StartTime
	v := agreementapi.Agreement{AgreementID: a.ID, AcceptorAccountID: a.AcceptorAccountID, ProposerAccountID: a.ProposerAccountID,
		Status: a.Status, AcceptanceTime: &acc, StartTime: &start, EndTime: a.EndTime, OfferID: a.OfferID, ProductID: a.ProductID,
		InitialAgreementID: a.InitialAgreementID, Currency: a.Currency, Terms: slices.Clone(a.Terms)}
	// Stamped here: Put would ask the world's clock, whose lock we hold.
	now := s.now
	v.LastUpdateTime = &now
	if a.LicenseArn != "" {
		v.LicenseArns = []string{a.LicenseArn}
	}
	if p := s.Products[a.ProductID]; p != nil {
		// The estimate is what the accepted terms charge: the offer's own
		// rate card (the product's list prices for a public offer) for the
		// quantities bought, plus its fixed upfront prices and installments.
		var prices map[string]string
		if o := s.Offers[a.OfferID]; o != nil {
			prices = o.Prices
		}
		total := new(big.Rat)
		add := func(amount string, q int64) {
			if r, ok := new(big.Rat).SetString(amount); ok {
				total.Add(total, r.Mul(r, new(big.Rat).SetInt64(q)))
			}
		}
		for _, d := range p.Dimensions {
			price := d.Price
			if prices != nil {
				price = prices[d.Key]
			}
			if q, ok := a.Quantities[d.Key]; ok && price != "" {
				add(price, q)
			}
		}
		for _, t := range a.Terms {
			switch t.Type {
			case agreementapi.TermFixedUpfrontPricing:
				add(t.Price, 1)
			case agreementapi.TermPaymentSchedule:
				for _, it := range t.Schedule {
					add(it.ChargeAmount, 1)
				}
			}
		}
		v.EstimatedValue = total.FloatString(2)
		if v.Currency == "" {
			v.Currency = "USD"
		}
	}
	return v
}

// Snapshot returns the whole state as JSON.
func (w *World) Snapshot() ([]byte, error) {
	b, _, err := w.SnapshotVersion()
	return b, err
}

// SnapshotVersion returns the whole state as JSON with the Version it is of.
func (w *World) SnapshotVersion() ([]byte, uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, err := json.MarshalIndent(w.s, "", "  ")
	return b, w.version, err
}

// ReadClockOffset reads only the clock offset from a snapshot (the second
// member, so a large state file is not decoded whole): commands that run
// beside a sandbox stamp their changes with the sandbox's clock.
func ReadClockOffset(r io.Reader) (time.Duration, error) {
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, fmt.Errorf("not an emulator snapshot")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, fmt.Errorf("not an emulator snapshot: %w", err)
		}
		if t == "clockOffset" {
			var d time.Duration
			if err := dec.Decode(&d); err != nil {
				return 0, fmt.Errorf("snapshot clockOffset: %w", err)
			}
			return d, nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return 0, fmt.Errorf("not an emulator snapshot: %w", err)
		}
	}
	return 0, nil
}

// Restore replaces the state with a snapshot. The snapshot is checked whole
// first (every section present, every reference resolving) and refused with a
// validation error, the world unchanged, when it is not one the emulator could
// have written: a half-valid world would panic in the clock's next tick.
func (w *World) Restore(b []byte) error {
	s := newState(DefaultConfig())
	if err := json.Unmarshal(b, s); err != nil {
		return Errorf(CodeValidation, "not an emulator snapshot: %v", err)
	}
	if err := s.checkSections(); err != nil {
		return err
	}
	// Sections added after the first snapshots were written: an older state
	// file restores with them empty.
	if s.CancellationRequests == nil {
		s.CancellationRequests = map[string]*CancellationRequest{}
	}
	if s.BillingAdjustments == nil {
		s.BillingAdjustments = map[string]*BillingAdjustment{}
	}
	if s.PaymentRequests == nil {
		s.PaymentRequests = map[string]*PaymentRequest{}
	}
	if err := s.checkReferences(); err != nil {
		return err
	}
	s.rng = newRand(s.FaultSeed)
	w.mu.Lock()
	w.s, w.dirty = s, true
	w.mu.Unlock()
	return w.Do(func(s *State) error {
		for id := range s.Agreements {
			s.Touch(id)
		}
		return nil
	})
}

// Error codes the control API and services map to AWS exceptions and statuses.
const (
	CodeValidation = "ValidationException"
	CodeNotFound   = "ResourceNotFoundException"
	CodeConflict   = "ConflictException"
)

// Error is a world error with an AWS-style code.
type Error struct {
	Code    string
	Message string
	// Reason, ResourceType and ResourceID, when set, are the Agreement API's
	// ValidationException reason and the resource a ResourceNotFoundException
	// or ConflictException names; the control API ignores them.
	Reason, ResourceType, ResourceID string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds a world error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of a world error, or "" for other errors.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// NewID returns a random id with a prefix, shaped like AWS's.
func NewID(prefix string, n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)[:n]
}

// SortedKeys returns a map's keys in order, for deterministic listings.
func SortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// checkSections refuses a snapshot with a section missing or null. Each map is
// compared with nil on its own: a nil map stored in an interface is not nil.
func (s *State) checkSections() error {
	for _, sec := range []struct {
		name  string
		isNil bool
	}{{"products", s.Products == nil}, {"buyers", s.Buyers == nil}, {"offers", s.Offers == nil},
		{"resaleAuthorizations", s.ResaleAuthorizations == nil}, {"agreements", s.Agreements == nil}, {"licenses", s.Licenses == nil},
		{"tokens", s.Tokens == nil}, {"meteringKeys", s.MeteringKeys == nil}, {"changeSets", s.ChangeSets == nil}, {"faults", s.Faults == nil}} {
		if sec.isNil {
			return Errorf(CodeValidation, "snapshot is missing its %q section", sec.name)
		}
	}
	return nil
}
