// Package agreementapi is an in-memory emulation of the AWS Marketplace
// Agreement API (Smithy service AWSMPCommerceService_v20200301).
//
// The official AWS SDK for Go v2 client
// (github.com/aws/aws-sdk-go-v2/service/marketplaceagreement) works against a
// [Server] unchanged when its BaseEndpoint points at it. The pinned client
// speaks Smithy RPC v2 CBOR:
//
//	POST /service/AWSMPCommerceService_v20200301/operation/<Operation>
//	Smithy-Protocol: rpc-v2-cbor
//	Content-Type: application/cbor
//	Accept: application/cbor
//
// Other SDKs (and the Go client with its Protocol option switched to
// awsjson.New10) speak AWS JSON 1.0:
//
//	POST /
//	X-Amz-Target: AWSMPCommerceService_v20200301.<Operation>
//	Content-Type: application/x-amz-json-1.0
//
// Both are served by the same [http.Handler]. DescribeAgreement,
// GetAgreementTerms and SearchAgreements read agreements the rest of the
// emulator sets with [Server.Put]; the operations that act on agreements
// (cancellation requests, GetAgreementEntitlements) check their input and
// call the [Lifecycle] given in [Options].
package agreementapi

import (
	"sync"
	"time"
)

// ServiceName is the Smithy service shape name used in RPC v2 CBOR paths and
// in AWS JSON X-Amz-Target headers.
const ServiceName = "AWSMPCommerceService_v20200301"

// Operation names understood by the server (the values passed to
// [Options.Fault]).
const (
	OpDescribeAgreement = "DescribeAgreement"
	OpGetAgreementTerms = "GetAgreementTerms"
	OpSearchAgreements  = "SearchAgreements"
)

// Defaults applied to empty [Agreement] fields when they are rendered.
const (
	DefaultAgreementType = "PurchaseAgreement"
	DefaultProductType   = "SaaSProduct"
	DefaultStatus        = "ACTIVE"
	// Catalog is the only catalog SearchAgreements accepts.
	Catalog = "AWSMarketplace"
)

// Agreement is the emulator's state for one agreement. Empty strings and nil
// pointers are omitted from responses, except where a default is documented.
type Agreement struct {
	AgreementID       string
	AcceptorAccountID string
	ProposerAccountID string
	// Status is an AgreementStatus such as ACTIVE, CANCELLED, EXPIRED,
	// RENEWED, REPLACED, TERMINATED; DefaultStatus when empty.
	Status string
	// AgreementType defaults to DefaultAgreementType.
	AgreementType string

	AcceptanceTime, StartTime *time.Time
	// EndTime is nil for pay-as-you-go agreements and then omitted.
	EndTime *time.Time
	// LastUpdateTime is reported by SearchAgreements; Put stamps
	// Options.Now() when it is nil.
	LastUpdateTime *time.Time

	OfferID string
	// ProductID becomes proposalSummary.resources[0].id and is matched by
	// the ResourceIdentifier filter.
	ProductID string
	// ProductType is resources[0].type; DefaultProductType when empty.
	ProductType        string
	InitialAgreementID string

	// Currency and EstimatedValue are estimatedCharges.currencyCode and
	// estimatedCharges.agreementValue (a decimal string such as "1200.00").
	Currency, EstimatedValue string

	// LicenseArns are reported as SearchAgreements entitlements.
	LicenseArns []string

	// Terms are returned by GetAgreementTerms in this order.
	Terms []Term
}

// Term types: the value of a term's "type" member. The acceptedTerms union
// member is the same name with a lower-case first letter (LegalTerm ->
// legalTerm).
const (
	TermLegal                      = "LegalTerm"
	TermSupport                    = "SupportTerm"
	TermRenewal                    = "RenewalTerm"
	TermUsageBasedPricing          = "UsageBasedPricingTerm"
	TermConfigurableUpfrontPricing = "ConfigurableUpfrontPricingTerm"
	TermByolPricing                = "ByolPricingTerm"
	TermRecurringPayment           = "RecurringPaymentTerm"
	TermValidity                   = "ValidityTerm"
	TermPaymentSchedule            = "PaymentScheduleTerm"
	TermFreeTrialPricing           = "FreeTrialPricingTerm"
	TermFixedUpfrontPricing        = "FixedUpfrontPricingTerm"
	TermVariablePayment            = "VariablePaymentTerm"
	TermNetPayment                 = "NetPaymentTerm"
)

// Term is one accepted term. Type selects the term kind (one of the Term*
// constants); only the fields that belong to that kind are rendered, the
// others are ignored. A Type that is not one of the constants is rendered as
// a union member carrying only id and type, which the SDK skips.
type Term struct {
	Type string
	ID   string

	// CurrencyCode: UsageBasedPricing, ConfigurableUpfrontPricing,
	// RecurringPayment, PaymentSchedule, FixedUpfrontPricing, VariablePayment.
	CurrencyCode string

	// Documents: Legal.
	Documents []Document
	// RefundPolicy: Support.
	RefundPolicy string

	// EnableAutoRenew: Renewal (configuration.enableAutoRenew).
	EnableAutoRenew *bool

	// RateCards: UsageBasedPricing (only Items is rendered) and
	// ConfigurableUpfrontPricing.
	RateCards []RateCard
	// Configuration: ConfigurableUpfrontPricing.
	Configuration *UpfrontConfiguration

	// AgreementDuration (ISO 8601 duration such as "P12M"),
	// AgreementStartDate, AgreementEndDate: Validity.
	AgreementDuration                    string
	AgreementStartDate, AgreementEndDate *time.Time

	// Schedule: PaymentSchedule.
	Schedule []ScheduleItem

	// Duration: FreeTrialPricing, FixedUpfrontPricing.
	Duration string
	// Price: FixedUpfrontPricing, RecurringPayment.
	Price string
	// Grants: FreeTrialPricing, FixedUpfrontPricing.
	Grants []Grant

	// BillingPeriod: RecurringPayment.
	BillingPeriod string
	// PaymentDuePeriod: NetPayment.
	PaymentDuePeriod string

	// MaxTotalChargeAmount, PaymentRequestApprovalStrategy (AUTO_APPROVE_ON_EXPIRATION
	// or WAIT_FOR_APPROVAL) and ExpirationDuration: VariablePayment.
	MaxTotalChargeAmount           string
	PaymentRequestApprovalStrategy string
	ExpirationDuration             string
}

// Document is a LegalTerm document.
type Document struct {
	Type, URL, Version string
}

// RateCard is one entry of rateCards. Items is rendered as "rateCard".
// Selector and Constraints only apply to ConfigurableUpfrontPricing terms.
type RateCard struct {
	Selector    *Selector
	Constraints *Constraints
	Items       []RateCardItem
}

// Selector of a configurable upfront rate card (for example Type "Duration",
// Value "P12M").
type Selector struct {
	Type, Value string
}

// Constraints of a configurable upfront rate card (values "Allowed" or
// "Disallowed").
type Constraints struct {
	MultipleDimensionSelection, QuantityConfiguration string
}

// RateCardItem is a per-dimension price; Price is a decimal string.
type RateCardItem struct {
	DimensionKey, Price string
}

// UpfrontConfiguration is the buyer's configuration of a
// ConfigurableUpfrontPricing term.
type UpfrontConfiguration struct {
	SelectorValue string
	Dimensions    []Dimension
}

// Dimension is a purchased quantity of a dimension.
type Dimension struct {
	DimensionKey   string
	DimensionValue int32
}

// ScheduleItem is one PaymentSchedule charge.
type ScheduleItem struct {
	ChargeDate   time.Time
	ChargeAmount string
}

// Grant is an entitlement grant of a FreeTrialPricing or FixedUpfrontPricing
// term.
type Grant struct {
	DimensionKey string
	MaxQuantity  *int32
}

// Options configures a Server.
type Options struct {
	// Now is the clock used to stamp LastUpdateTime; time.Now when nil.
	Now func() time.Time
	// Fault, when set, is called with the operation name (Op* constants)
	// before each emulated operation runs. A non-nil result is returned to
	// the client instead of the operation's result: an *APIError is
	// rendered as is, any other error as a 500 InternalServerException.
	Fault func(op string) error
	// Lifecycle serves the operations that act on agreements (cancellation
	// requests, entitlements); without it they answer
	// UnknownOperationException.
	Lifecycle Lifecycle
}

// Server is the emulated service. It is an http.Handler; its methods are safe
// for concurrent use.
type Server struct {
	now   func() time.Time
	fault func(op string) error
	life  Lifecycle

	mu         sync.RWMutex
	agreements map[string]Agreement
}

// New returns an empty Server.
func New(opts Options) *Server {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Server{
		now:        now,
		fault:      opts.Fault,
		life:       opts.Lifecycle,
		agreements: make(map[string]Agreement),
	}
}

// Put stores a copy of a, replacing any agreement with the same AgreementID.
// LastUpdateTime is stamped with Options.Now() when nil. Agreements whose ID
// does not match ^[A-Za-z0-9_/-]{1,64}$ are stored but unreachable through
// DescribeAgreement and GetAgreementTerms (which reject such IDs).
func (s *Server) Put(a Agreement) {
	a = cloneAgreement(a)
	if a.LastUpdateTime == nil {
		t := s.now()
		a.LastUpdateTime = &t
	}
	s.mu.Lock()
	s.agreements[a.AgreementID] = a
	s.mu.Unlock()
}

// Get returns a copy of the stored agreement.
func (s *Server) Get(id string) (Agreement, bool) {
	s.mu.RLock()
	a, ok := s.agreements[id]
	s.mu.RUnlock()
	if !ok {
		return Agreement{}, false
	}
	return cloneAgreement(a), true
}

// Delete removes an agreement and reports whether it existed.
func (s *Server) Delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.agreements[id]
	delete(s.agreements, id)
	return ok
}

// snapshot returns the stored agreements (shared, must not be mutated).
func (s *Server) snapshot() []Agreement {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Agreement, 0, len(s.agreements))
	for _, a := range s.agreements {
		out = append(out, a)
	}
	return out
}

// lookup returns the stored agreement (shared, must not be mutated).
func (s *Server) lookup(id string) (Agreement, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.agreements[id]
	return a, ok
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func cloneSlice[T any](in []T, each func(T) T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i, v := range in {
		if each != nil {
			v = each(v)
		}
		out[i] = v
	}
	return out
}

func cloneAgreement(a Agreement) Agreement {
	a.AcceptanceTime = cloneTime(a.AcceptanceTime)
	a.StartTime = cloneTime(a.StartTime)
	a.EndTime = cloneTime(a.EndTime)
	a.LastUpdateTime = cloneTime(a.LastUpdateTime)
	a.LicenseArns = cloneSlice(a.LicenseArns, nil)
	a.Terms = cloneSlice(a.Terms, cloneTerm)
	return a
}

func cloneTerm(t Term) Term {
	t.Documents = cloneSlice(t.Documents, nil)
	if t.EnableAutoRenew != nil {
		b := *t.EnableAutoRenew
		t.EnableAutoRenew = &b
	}
	t.RateCards = cloneSlice(t.RateCards, func(rc RateCard) RateCard {
		if rc.Selector != nil {
			sel := *rc.Selector
			rc.Selector = &sel
		}
		if rc.Constraints != nil {
			c := *rc.Constraints
			rc.Constraints = &c
		}
		rc.Items = cloneSlice(rc.Items, nil)
		return rc
	})
	if t.Configuration != nil {
		c := *t.Configuration
		c.Dimensions = cloneSlice(c.Dimensions, nil)
		t.Configuration = &c
	}
	t.AgreementStartDate = cloneTime(t.AgreementStartDate)
	t.AgreementEndDate = cloneTime(t.AgreementEndDate)
	t.Schedule = cloneSlice(t.Schedule, nil)
	t.Grants = cloneSlice(t.Grants, func(g Grant) Grant {
		if g.MaxQuantity != nil {
			q := *g.MaxQuantity
			g.MaxQuantity = &q
		}
		return g
	})
	return t
}
