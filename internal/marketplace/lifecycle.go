package marketplace

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lifecycle event kinds (issue 16): what AWS tells a seller about an agreement
// besides its creation, amendment and end, and what Concord itself observed of
// the requests it sent through the Agreement API. They fold into the tables of
// the agreement's lifecycle (FoldLifecycle), not into the agreement row, so the
// agreement and license folds are unchanged by them.
const (
	// KindCancellationRequest: Agreement Cancellation Request Pending Approval /
	// Approved / Rejected / Cancelled / Validation Failed, or Concord's own
	// observation of a request (SendAgreementCancellationRequest, Get, List).
	KindCancellationRequest EventKind = "cancellation_request"
	// KindBillingAdjustment: Purchase Agreement Billing Adjustment Completed /
	// Failed, or Concord's observation of a request it sent.
	KindBillingAdjustment EventKind = "billing_adjustment"
	// KindPaymentRequest: Concord's observation of a payment request
	// (AWS documents no seller event for them).
	KindPaymentRequest EventKind = "payment_request"
	// KindAgreementEnding: Purchase Agreement Ending (180/120/90/60/30 days).
	KindAgreementEnding EventKind = "agreement_ending"
	// KindRenewalUpcoming: Purchase Agreement Renewal Upcoming (lockout reached).
	KindRenewalUpcoming EventKind = "renewal_upcoming"
	// KindRenewalTermsFinalized: Purchase Agreement Renewal Terms Finalized.
	KindRenewalTermsFinalized EventKind = "renewal_terms_finalized"
	// KindAdvisoryIssued and KindAdvisoryResolved: Purchase Agreement Advisory
	// Issued / Resolved.
	KindAdvisoryIssued   EventKind = "advisory_issued"
	KindAdvisoryResolved EventKind = "advisory_resolved"
	// KindDisbursementPaused: Disbursement Paused (source aws.marketplace),
	// about the seller's bank account, not an agreement.
	KindDisbursementPaused EventKind = "disbursement_paused"
)

// Cancellation request statuses and reason codes, from the Agreement API's
// enums (aws-sdk-go-v2/service/marketplaceagreement v1.30.7 types/enums.go:
// AgreementCancellationRequestStatus, AgreementCancellationRequestReasonCode).
const (
	CancellationPendingApproval  = "PENDING_APPROVAL"
	CancellationApproved         = "APPROVED"
	CancellationRejected         = "REJECTED"
	CancellationCancelled        = "CANCELLED"
	CancellationValidationFailed = "VALIDATION_FAILED"
)

// CancellationReasonCodes are AgreementCancellationRequestReasonCode's values.
var CancellationReasonCodes = []string{"INCORRECT_TERMS_ACCEPTED", "REPLACING_AGREEMENT", "TEST_AGREEMENT",
	"ALTERNATIVE_PROCUREMENT_CHANNEL", "PRODUCT_DISCONTINUED", "UNINTENDED_RENEWAL", "BUYER_DISSATISFACTION", "OTHER"}

// Billing adjustment statuses (BillingAdjustmentStatus) and reason codes
// (BillingAdjustmentReasonCode), same source.
const (
	AdjustmentPending          = "PENDING"
	AdjustmentCompleted        = "COMPLETED"
	AdjustmentValidationFailed = "VALIDATION_FAILED"
)

// AdjustmentReasonCodes are BillingAdjustmentReasonCode's values.
var AdjustmentReasonCodes = []string{"INCORRECT_TERMS_ACCEPTED", "INCORRECT_METERING", "TEST_ENVIRONMENT_CHARGES",
	"ALTERNATIVE_PROCUREMENT_CHANNEL", "UNINTENDED_RENEWAL", "BUYER_DISSATISFACTION", "OTHER"}

// Payment request statuses (PaymentRequestStatus), same source.
const (
	PaymentValidating       = "VALIDATING"
	PaymentValidationFailed = "VALIDATION_FAILED"
	PaymentPendingApproval  = "PENDING_APPROVAL"
	PaymentApproved         = "APPROVED"
	PaymentRejected         = "REJECTED"
	PaymentCancelled        = "CANCELLED"
)

var cancellationStatuses = []string{CancellationPendingApproval, CancellationApproved, CancellationRejected, CancellationCancelled, CancellationValidationFailed}

// IsLifecycleKind reports whether events of kind k fold into an agreement's
// lifecycle (FoldLifecycle).
func IsLifecycleKind(k EventKind) bool {
	switch k {
	case KindCancellationRequest, KindBillingAdjustment, KindPaymentRequest, KindAgreementEnding, KindRenewalUpcoming,
		KindRenewalTermsFinalized, KindAdvisoryIssued, KindAdvisoryResolved, KindDisbursementPaused:
		return true
	}
	return false
}

// LifecycleFact is the lifecycle content of one event or observation; which
// fields are set depends on the kind.
type LifecycleFact struct {
	// ObjectID is the request's id: acr-… (cancellation), ba-… (billing
	// adjustment) or the payment request id.
	ObjectID      string     `json:"objectId,omitempty"`
	ReasonCode    string     `json:"reasonCode,omitempty"`
	Description   string     `json:"description,omitempty"`
	Status        string     `json:"status,omitempty"`
	StatusMessage string     `json:"statusMessage,omitempty"`
	CreatedAt     *time.Time `json:"createdAt,omitempty"`
	UpdatedAt     *time.Time `json:"updatedAt,omitempty"`
	// Billing adjustments.
	InvoiceID   string `json:"invoiceId,omitempty"`
	Amount      string `json:"amount,omitempty"`
	Currency    string `json:"currency,omitempty"`
	ClientToken string `json:"clientToken,omitempty"`
	// Payment requests.
	TermID   string `json:"termId,omitempty"`
	Name     string `json:"name,omitempty"`
	ChargeID string `json:"chargeId,omitempty"`
	// Ending and renewal events.
	DaysBeforeEnd    *int       `json:"daysBeforeEnd,omitempty"`
	LockoutStart     *time.Time `json:"lockoutStart,omitempty"`
	DisabledBy       string     `json:"disabledBy,omitempty"`
	RenewalValue     string     `json:"renewalValue,omitempty"`
	RenewalCurrency  string     `json:"renewalCurrency,omitempty"`
	TermsFinalizedAt *time.Time `json:"termsFinalizedAt,omitempty"`
	LockoutReached   *bool      `json:"lockoutReached,omitempty"`
	// Advisories.
	IssuedAt   *time.Time `json:"issuedAt,omitempty"`
	ResolvedAt *time.Time `json:"resolvedAt,omitempty"`
}

// lifecycleKind classifies the lifecycle detail-types of AWS's seller event
// catalogue (seller guide, "Amazon EventBridge events",
// https://docs.aws.amazon.com/marketplace/latest/userguide/notifications-eventbridge.html).
// status is the cancellation or billing adjustment status the detail-type
// itself states.
func lifecycleKind(source, base, role string) (k EventKind, status string, ok bool) {
	if source == SourceBilling && base == "Disbursement Paused" && role == "" {
		return KindDisbursementPaused, "", true
	}
	if source != SourceAgreement || (role != "Proposer" && role != "Manufacturer") {
		return "", "", false
	}
	switch base {
	case "Agreement Cancellation Request Pending Approval":
		return KindCancellationRequest, CancellationPendingApproval, true
	case "Agreement Cancellation Request Approved":
		return KindCancellationRequest, CancellationApproved, true
	case "Agreement Cancellation Request Rejected":
		return KindCancellationRequest, CancellationRejected, true
	case "Agreement Cancellation Request Cancelled":
		return KindCancellationRequest, CancellationCancelled, true
	case "Agreement Cancellation Request Validation Failed":
		return KindCancellationRequest, CancellationValidationFailed, true
	case "Purchase Agreement Billing Adjustment Completed":
		return KindBillingAdjustment, AdjustmentCompleted, true
	case "Purchase Agreement Billing Adjustment Failed":
		// "async validation failed": GetBillingAdjustmentRequest then says
		// VALIDATION_FAILED (BillingAdjustmentStatus has no FAILED).
		return KindBillingAdjustment, AdjustmentValidationFailed, true
	}
	if role != "Proposer" && role != "Manufacturer" {
		return "", "", false
	}
	switch base {
	case "Purchase Agreement Ending":
		return KindAgreementEnding, "", true
	case "Purchase Agreement Renewal Upcoming":
		return KindRenewalUpcoming, "", true
	case "Purchase Agreement Renewal Terms Finalized":
		return KindRenewalTermsFinalized, "", true
	case "Purchase Agreement Advisory Issued":
		return KindAdvisoryIssued, "", true
	case "Purchase Agreement Advisory Resolved":
		return KindAdvisoryResolved, "", true
	}
	return "", "", false
}

// decimalText is a decimal amount AWS sends as a string ("1200.00"); a JSON
// number is accepted too and kept as written, never through a float.
type decimalText string

func (d *decimalText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*d = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = decimalText(strings.TrimSpace(s))
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*d = decimalText(n.String())
	}
	return nil
}

// lifecycleDetail is the part of detail only lifecycle events carry (seller
// guide, "Amazon EventBridge events"; shapes in
// shared/reference/aws-marketplace-api.md §1.3). Cancellation events name the
// agreement's parties flat (agreement.acceptorId, productId, offerId).
type lifecycleDetail struct {
	Agreement struct {
		AcceptorID        string       `json:"acceptorId"`
		ProductID         string       `json:"productId"`
		OfferID           string       `json:"offerId"`
		DaysBeforeEndTime *json.Number `json:"daysBeforeEndTime"`
	} `json:"agreement"`
	CancellationRequest struct {
		ID            string `json:"id"`
		ReasonCode    string `json:"reasonCode"`
		ReasonMessage string `json:"reasonMessage"`
		StatusCode    string `json:"statusCode"`
		StatusMessage string `json:"statusMessage"`
		CreatedAt     string `json:"createdAt"`
		UpdatedAt     string `json:"updatedAt"`
	} `json:"agreementCancellationRequest"`
	BillingAdjustmentRequest struct {
		ID                   string      `json:"id"`
		AdjustmentAmount     decimalText `json:"adjustmentAmount"`
		CurrencyCode         string      `json:"currencyCode"`
		AdjustmentReasonCode string      `json:"adjustmentReasonCode"`
	} `json:"billingAdjustmentRequest"`
	Invoice struct {
		OriginalInvoiceID string `json:"originalInvoiceId"`
	} `json:"invoice"`
	RenewalSummary struct {
		LockoutStartTime   *string     `json:"lockoutStartTime"`
		DisabledBy         *string     `json:"disabledBy"`
		Tcv                decimalText `json:"tcv"`
		Currency           string      `json:"currency"`
		TermsFinalizedTime *string     `json:"termsFinalizedTime"`
		LockoutReached     *bool       `json:"lockoutReached"`
	} `json:"renewalSummary"`
	Advisory struct {
		IssuedAt   string `json:"issuedAt"`
		ResolvedAt string `json:"resolvedAt"`
	} `json:"advisory"`
}

// parseLifecycle fills f.Lifecycle from an event's detail.
func parseLifecycle(f *Fact, status string, detail json.RawMessage) *Error {
	var d lifecycleDetail
	if len(detail) > 0 && string(detail) != "null" {
		if err := json.Unmarshal(detail, &d); err != nil {
			return Errorf(EInvalid, "invalid lifecycle detail: %v", err)
		}
	}
	lf := &LifecycleFact{}
	f.Lifecycle = lf
	if f.AcceptorAccountID == "" {
		f.AcceptorAccountID = d.Agreement.AcceptorID
	}
	if f.ProductID == "" {
		f.ProductID = d.Agreement.ProductID
	}
	if f.OfferID == "" {
		f.OfferID = d.Agreement.OfferID
	}
	type timeField struct {
		s   string
		dst **time.Time
	}
	var times []timeField
	opt := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	switch f.Kind {
	case KindCancellationRequest:
		c := d.CancellationRequest
		lf.ObjectID, lf.ReasonCode, lf.Description, lf.StatusMessage = c.ID, strings.ToUpper(c.ReasonCode), c.ReasonMessage, c.StatusMessage
		lf.Status = status
		if c.StatusCode != "" {
			lf.Status = strings.ToUpper(c.StatusCode)
		}
		if !slices.Contains(cancellationStatuses, lf.Status) {
			return Errorf(EInvalid, "agreementCancellationRequest.statusCode %q is not one AWS documents", Clip(lf.Status, 64))
		}
		times = append(times, timeField{c.CreatedAt, &lf.CreatedAt}, timeField{c.UpdatedAt, &lf.UpdatedAt})
	case KindBillingAdjustment:
		b := d.BillingAdjustmentRequest
		lf.ObjectID, lf.Amount, lf.Currency, lf.ReasonCode = b.ID, string(b.AdjustmentAmount), b.CurrencyCode, strings.ToUpper(b.AdjustmentReasonCode)
		lf.InvoiceID, lf.Status = d.Invoice.OriginalInvoiceID, status
	case KindAgreementEnding:
		if n := d.Agreement.DaysBeforeEndTime; n != nil {
			v, err := strconv.Atoi(n.String())
			if err != nil || v < 0 || v > 10000 {
				return Errorf(EInvalid, "agreement.daysBeforeEndTime %q is not a number of days", Clip(n.String(), 32))
			}
			lf.DaysBeforeEnd = &v
		}
		lf.DisabledBy = strings.ToUpper(opt(d.RenewalSummary.DisabledBy))
		times = append(times, timeField{opt(d.RenewalSummary.LockoutStartTime), &lf.LockoutStart})
	case KindRenewalUpcoming, KindRenewalTermsFinalized:
		r := d.RenewalSummary
		lf.RenewalValue, lf.RenewalCurrency, lf.LockoutReached = string(r.Tcv), r.Currency, r.LockoutReached
		if f.Kind == KindRenewalUpcoming && lf.LockoutReached == nil {
			// Sent when the lockout is reached (seller guide): say so even
			// if the payload leaves it out.
			t := true
			lf.LockoutReached = &t
		}
		times = append(times, timeField{opt(r.LockoutStartTime), &lf.LockoutStart}, timeField{opt(r.TermsFinalizedTime), &lf.TermsFinalizedAt})
	case KindAdvisoryIssued:
		times = append(times, timeField{d.Advisory.IssuedAt, &lf.IssuedAt})
	case KindAdvisoryResolved:
		times = append(times, timeField{d.Advisory.ResolvedAt, &lf.ResolvedAt})
	}
	for _, p := range times {
		t, err := parseTime(p.s)
		if err != nil {
			return Errorf(EInvalid, "invalid time %q", Clip(p.s, 64))
		}
		*p.dst = t
	}
	return lf.validate(f)
}

// validate checks what each lifecycle kind needs to be folded.
func (lf *LifecycleFact) validate(f *Fact) *Error {
	switch f.Kind {
	case KindCancellationRequest, KindBillingAdjustment, KindPaymentRequest:
		if f.AgreementID == "" {
			return Errorf(EInvalid, "detail.agreement.id is required")
		}
		if lf.ObjectID == "" {
			return Errorf(EInvalid, "the request's id is required")
		}
	case KindAgreementEnding, KindRenewalUpcoming, KindRenewalTermsFinalized, KindAdvisoryIssued, KindAdvisoryResolved:
		if f.AgreementID == "" {
			return Errorf(EInvalid, "detail.agreement.id is required")
		}
	}
	for _, s := range []string{lf.ObjectID, lf.ReasonCode, lf.Status, lf.InvoiceID, lf.Amount, lf.Currency, lf.ClientToken,
		lf.TermID, lf.Name, lf.ChargeID, lf.DisabledBy, lf.RenewalValue, lf.RenewalCurrency} {
		if len(s) > 2048 || !Storable(s) {
			return Errorf(EInvalid, "an identifier is longer than 2048 characters, contains a NUL character or is not UTF-8")
		}
	}
	for _, s := range []string{lf.Description, lf.StatusMessage} {
		if len(s) > 8192 || !Storable(s) {
			return Errorf(EInvalid, "a message is longer than 8192 bytes, contains a NUL character or is not UTF-8")
		}
	}
	return nil
}

// CancellationRequest is a seller's request to cancel an agreement, as AWS
// last said (GetAgreementCancellationRequest's fields).
type CancellationRequest struct {
	ID            string     `json:"id"`
	AgreementID   string     `json:"agreementId"`
	ReasonCode    string     `json:"reasonCode,omitempty"`
	Description   string     `json:"description,omitempty"`
	Status        string     `json:"status" enum:"PENDING_APPROVAL,APPROVED,REJECTED,CANCELLED,VALIDATION_FAILED"`
	StatusMessage string     `json:"statusMessage,omitempty"`
	CreatedAt     *time.Time `json:"createdAt,omitempty"`
	UpdatedAt     *time.Time `json:"updatedAt,omitempty"`
}

// BillingAdjustment is a refund requested against an invoice
// (GetBillingAdjustmentRequest's fields, and the client token Concord sent).
type BillingAdjustment struct {
	ID            string     `json:"id"`
	AgreementID   string     `json:"agreementId"`
	InvoiceID     string     `json:"invoiceId,omitempty"`
	Amount        string     `json:"amount,omitempty"`
	Currency      string     `json:"currency,omitempty"`
	ReasonCode    string     `json:"reasonCode,omitempty"`
	Description   string     `json:"description,omitempty"`
	ClientToken   string     `json:"clientToken,omitempty"`
	Status        string     `json:"status" enum:"PENDING,COMPLETED,VALIDATION_FAILED"`
	StatusMessage string     `json:"statusMessage,omitempty"`
	CreatedAt     *time.Time `json:"createdAt,omitempty"`
	UpdatedAt     *time.Time `json:"updatedAt,omitempty"`
}

// PaymentRequest is a charge the seller asked the buyer to approve under a
// variable payment term (GetAgreementPaymentRequest's fields).
type PaymentRequest struct {
	ID            string     `json:"id"`
	AgreementID   string     `json:"agreementId"`
	TermID        string     `json:"termId,omitempty"`
	Name          string     `json:"name,omitempty"`
	Description   string     `json:"description,omitempty"`
	ChargeAmount  string     `json:"chargeAmount,omitempty"`
	Currency      string     `json:"currency,omitempty"`
	ChargeID      string     `json:"chargeId,omitempty"`
	Status        string     `json:"status" enum:"VALIDATING,VALIDATION_FAILED,PENDING_APPROVAL,APPROVED,REJECTED,CANCELLED"`
	StatusMessage string     `json:"statusMessage,omitempty"`
	CreatedAt     *time.Time `json:"createdAt,omitempty"`
	UpdatedAt     *time.Time `json:"updatedAt,omitempty"`
}

// AgreementOutlook is what the Ending, Renewal and Advisory events say about
// an agreement.
type AgreementOutlook struct {
	AgreementID string `json:"agreementId"`
	// DaysBeforeEnd is the nearest notice AWS sent (180, 120, 90, 60 or 30).
	DaysBeforeEnd *int       `json:"daysBeforeEnd,omitempty"`
	AutoRenewal   *bool      `json:"autoRenewal,omitempty"`
	LockoutStart  *time.Time `json:"lockoutStart,omitempty"`
	// RenewalDisabledBy is ACCEPTOR or PROPOSER when auto-renewal was turned off.
	RenewalDisabledBy string `json:"renewalDisabledBy,omitempty"`
	// RenewalValue is the renewal's total contract value (decimal text).
	RenewalValue            string     `json:"renewalValue,omitempty"`
	RenewalCurrency         string     `json:"renewalCurrency,omitempty"`
	RenewalTermsFinalizedAt *time.Time `json:"renewalTermsFinalizedAt,omitempty"`
	LockoutReached          bool       `json:"lockoutReached"`
	AdvisoryOpen            bool       `json:"advisoryOpen"`
	AdvisoryIssuedAt        *time.Time `json:"advisoryIssuedAt,omitempty"`
	AdvisoryResolvedAt      *time.Time `json:"advisoryResolvedAt,omitempty"`
}

// Lifecycle is everything FoldLifecycle derives for one agreement.
type Lifecycle struct {
	// Outlook is nil when no Ending, Renewal or Advisory fact exists.
	Outlook       *AgreementOutlook
	Cancellations []CancellationRequest
	Adjustments   []BillingAdjustment
	Payments      []PaymentRequest
}

// statusRank orders a request's statuses: a later stage always wins over an
// earlier one whatever order the facts arrive in (a Pending Approval event
// delivered after Approved must not reopen the request).
func statusRank(k EventKind, status string) int {
	switch k {
	case KindCancellationRequest:
		if status == CancellationPendingApproval {
			return 0
		}
	case KindBillingAdjustment:
		if status == AdjustmentPending {
			return 0
		}
	case KindPaymentRequest:
		switch status {
		case PaymentValidating:
			return 0
		case PaymentPendingApproval:
			return 1
		}
		return 2
	}
	return 1
}

func factWhen(f Fact) time.Time {
	if f.Lifecycle != nil && f.Lifecycle.UpdatedAt != nil {
		return *f.Lifecycle.UpdatedAt
	}
	return f.Time
}

// lifecycleLess is the canonical order of one request's facts: status rank,
// then time, then event id. The last one is what AWS last said.
func lifecycleLess(a, b Fact) int {
	ra, rb := statusRank(a.Kind, a.Lifecycle.Status), statusRank(b.Kind, b.Lifecycle.Status)
	if ra != rb {
		return ra - rb
	}
	if c := factWhen(a).Compare(factWhen(b)); c != 0 {
		return c
	}
	return strings.Compare(a.EventID, b.EventID)
}

// merged is a request's facts in canonical order, folded: the status fields
// come from the last fact, every other field from the last fact that has it.
func merged(facts []Fact) LifecycleFact {
	slices.SortFunc(facts, lifecycleLess)
	last := *facts[len(facts)-1].Lifecycle
	out := last
	for i := len(facts) - 1; i >= 0; i-- {
		lf := facts[i].Lifecycle
		fill := func(dst *string, v string) {
			if *dst == "" {
				*dst = v
			}
		}
		fill(&out.ReasonCode, lf.ReasonCode)
		fill(&out.Description, lf.Description)
		fill(&out.InvoiceID, lf.InvoiceID)
		fill(&out.Amount, lf.Amount)
		fill(&out.Currency, lf.Currency)
		fill(&out.ClientToken, lf.ClientToken)
		fill(&out.TermID, lf.TermID)
		fill(&out.Name, lf.Name)
		fill(&out.ChargeID, lf.ChargeID)
		if out.CreatedAt == nil {
			out.CreatedAt = lf.CreatedAt
		}
		if out.UpdatedAt == nil {
			out.UpdatedAt = lf.UpdatedAt
		}
	}
	if out.UpdatedAt == nil {
		t := facts[len(facts)-1].Time
		out.UpdatedAt = &t
	}
	return out
}

// FoldLifecycle derives an agreement's cancellation requests, billing
// adjustments, payment requests and outlook from all of its lifecycle facts.
// Like FoldAgreement it is a pure function of the set of facts: order and
// duplicates do not change the result.
func FoldLifecycle(agreementID string, facts []Fact) Lifecycle {
	var out Lifecycle
	byObject := map[EventKind]map[string][]Fact{}
	var outlook []Fact
	for _, f := range facts {
		if f.AgreementID != agreementID || f.Lifecycle == nil || !IsLifecycleKind(f.Kind) {
			continue
		}
		switch f.Kind {
		case KindCancellationRequest, KindBillingAdjustment, KindPaymentRequest:
			if f.Lifecycle.ObjectID == "" {
				continue
			}
			if byObject[f.Kind] == nil {
				byObject[f.Kind] = map[string][]Fact{}
			}
			byObject[f.Kind][f.Lifecycle.ObjectID] = append(byObject[f.Kind][f.Lifecycle.ObjectID], f)
		case KindDisbursementPaused:
		default:
			outlook = append(outlook, f)
		}
	}
	for _, id := range sortedKeys(byObject[KindCancellationRequest]) {
		m := merged(byObject[KindCancellationRequest][id])
		out.Cancellations = append(out.Cancellations, CancellationRequest{ID: id, AgreementID: agreementID, ReasonCode: m.ReasonCode,
			Description: m.Description, Status: m.Status, StatusMessage: m.StatusMessage, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt})
	}
	for _, id := range sortedKeys(byObject[KindBillingAdjustment]) {
		m := merged(byObject[KindBillingAdjustment][id])
		out.Adjustments = append(out.Adjustments, BillingAdjustment{ID: id, AgreementID: agreementID, InvoiceID: m.InvoiceID, Amount: m.Amount,
			Currency: m.Currency, ReasonCode: m.ReasonCode, Description: m.Description, ClientToken: m.ClientToken, Status: m.Status,
			StatusMessage: m.StatusMessage, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt})
	}
	for _, id := range sortedKeys(byObject[KindPaymentRequest]) {
		m := merged(byObject[KindPaymentRequest][id])
		out.Payments = append(out.Payments, PaymentRequest{ID: id, AgreementID: agreementID, TermID: m.TermID, Name: m.Name,
			Description: m.Description, ChargeAmount: m.Amount, Currency: m.Currency, ChargeID: m.ChargeID, Status: m.Status,
			StatusMessage: m.StatusMessage, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt})
	}
	if len(outlook) > 0 {
		out.Outlook = foldOutlook(agreementID, outlook)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func laterTime(a *time.Time, b time.Time) *time.Time {
	if a == nil || b.After(*a) {
		return &b
	}
	return a
}

// foldOutlook: the nearest Ending notice (the smallest daysBeforeEndTime)
// and the latest event's renewal settings, the latest renewal value, and an
// advisory open while the latest Issued is after the latest Resolved.
func foldOutlook(agreementID string, facts []Fact) *AgreementOutlook {
	slices.SortFunc(facts, func(a, b Fact) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.EventID, b.EventID)
	})
	o := &AgreementOutlook{AgreementID: agreementID}
	for _, f := range facts {
		lf := f.Lifecycle
		switch f.Kind {
		case KindAgreementEnding:
			if lf.DaysBeforeEnd != nil && (o.DaysBeforeEnd == nil || *lf.DaysBeforeEnd < *o.DaysBeforeEnd) {
				v := *lf.DaysBeforeEnd
				o.DaysBeforeEnd = &v
			}
			if f.AutoRenewal != nil {
				v := *f.AutoRenewal
				o.AutoRenewal = &v
			}
			o.RenewalDisabledBy = lf.DisabledBy
			if lf.LockoutStart != nil {
				o.LockoutStart = lf.LockoutStart
			}
		case KindRenewalUpcoming, KindRenewalTermsFinalized:
			if lf.RenewalValue != "" {
				o.RenewalValue, o.RenewalCurrency = lf.RenewalValue, lf.RenewalCurrency
			}
			if lf.LockoutReached != nil && *lf.LockoutReached {
				o.LockoutReached = true
			}
			if lf.LockoutStart != nil {
				o.LockoutStart = lf.LockoutStart
			}
			if f.Kind == KindRenewalTermsFinalized {
				at := f.Time
				if lf.TermsFinalizedAt != nil {
					at = *lf.TermsFinalizedAt
				}
				o.RenewalTermsFinalizedAt = laterTime(o.RenewalTermsFinalizedAt, at)
			}
		case KindAdvisoryIssued:
			at := f.Time
			if lf.IssuedAt != nil {
				at = *lf.IssuedAt
			}
			o.AdvisoryIssuedAt = laterTime(o.AdvisoryIssuedAt, at)
		case KindAdvisoryResolved:
			at := f.Time
			if lf.ResolvedAt != nil {
				at = *lf.ResolvedAt
			}
			o.AdvisoryResolvedAt = laterTime(o.AdvisoryResolvedAt, at)
		}
	}
	o.AdvisoryOpen = o.AdvisoryIssuedAt != nil && (o.AdvisoryResolvedAt == nil || o.AdvisoryIssuedAt.After(*o.AdvisoryResolvedAt))
	return o
}
