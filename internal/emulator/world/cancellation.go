package world

import (
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
)

// Cancellation request statuses (Agreement API AgreementCancellationRequestStatus).
const (
	CancellationPendingApproval  = "PENDING_APPROVAL"
	CancellationApproved         = "APPROVED"
	CancellationRejected         = "REJECTED"
	CancellationCancelled        = "CANCELLED"
	CancellationValidationFailed = "VALIDATION_FAILED"
)

// CancellationReasonCodes are the reasons a seller may give
// (AgreementCancellationRequestReasonCode in the Agreement API reference and
// the SDK model, aws-sdk-go-v2 marketplaceagreement types/enums.go).
var CancellationReasonCodes = []string{"INCORRECT_TERMS_ACCEPTED", "REPLACING_AGREEMENT", "TEST_AGREEMENT",
	"ALTERNATIVE_PROCUREMENT_CHANNEL", "PRODUCT_DISCONTINUED", "UNINTENDED_RENEWAL", "BUYER_DISSATISFACTION", "OTHER"}

// CancellationApprovalPeriod is how long the buyer has to answer a
// cancellation request before AWS approves it: "You have 7 days to approve or
// deny the request. If you don't respond, the cancellation is automatically
// approved." (AWS Marketplace buyer guide, cancellation-adjustment-eventbridge.html).
const CancellationApprovalPeriod = 7 * 24 * time.Hour

// MaxReasonMessage is the length limit of a cancellation request's
// description and of the seller's and buyer's reasons (1-2000 characters,
// Agreement API reference: SendAgreementCancellationRequest,
// CancelAgreementCancellationRequest, RejectAgreementCancellationRequest).
const MaxReasonMessage = 2000

// FailNext kinds: what a sandbox can make fail AWS's asynchronous validation.
const (
	FailCancellationRequest = "cancellationRequest"
)

// FailNextKinds lists the FailNext keys the control API accepts.
var FailNextKinds = []string{FailCancellationRequest, FailBillingAdjustment}

var (
	cancellationIDPattern = regexp.MustCompile(`^acr-[a-zA-Z0-9]+$`)
	clientTokenPattern    = regexp.MustCompile(`^[a-zA-Z0-9-]{1,64}$`)
)

// CancellationRequest is a seller's request to cancel an active agreement,
// which the buyer approves or rejects (or AWS approves after
// CancellationApprovalPeriod). An approved request ends the agreement as
// CANCELLED, as a buyer's own cancellation does.
type CancellationRequest struct {
	ID            string    `json:"id"`
	AgreementID   string    `json:"agreementId"`
	ReasonCode    string    `json:"reasonCode"`
	Description   string    `json:"description,omitempty"`
	Status        string    `json:"status"`
	StatusMessage string    `json:"statusMessage,omitempty"`
	ClientToken   string    `json:"clientToken,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
	// ExpiresAt is the buyer's deadline: a request still pending then is
	// approved.
	ExpiresAt time.Time `json:"expiresAt"`
	// FailValidation, when set, is the status message with which the
	// request fails validation at the next tick (a sandbox fault).
	FailValidation string `json:"failValidation,omitempty"`
}

func reasonError(code, reason, format string, args ...any) *Error {
	e := Errorf(code, format, args...)
	e.Reason = reason
	return e
}

func agreementNotFound(id string) *Error {
	e := Errorf(CodeNotFound, "Agreement %s not found", id)
	e.ResourceType, e.ResourceID = "Agreement", id
	return e
}

// checkMessage checks a free-text member of 1-2000 characters.
func checkMessage(v, member, reason string) error {
	if n := utf8.RuneCountInString(v); n < 1 || n > MaxReasonMessage {
		return reasonError(CodeValidation, reason, "%s must be 1-%d characters", member, MaxReasonMessage)
	}
	return nil
}

// SendCancellationRequest plays AWS receiving the seller's
// SendAgreementCancellationRequest: the request is created PENDING_APPROVAL
// for an ACTIVE agreement with no other pending request, and announced with
// Agreement Cancellation Request Pending Approval. A repeated clientToken
// returns the request it made (the same parameters) or is a conflict.
func (s *State) SendCancellationRequest(agreementID, reasonCode, description, clientToken string) (*CancellationRequest, error) {
	if !slices.Contains(CancellationReasonCodes, reasonCode) {
		if reasonCode == "" {
			return nil, reasonError(CodeValidation, "MISSING_REASON_CODE", "reasonCode is required")
		}
		return nil, reasonError(CodeValidation, "INVALID_REASON_CODE", "reasonCode %q is not one of %v", reasonCode, CancellationReasonCodes)
	}
	if description != "" {
		if err := checkMessage(description, "description", "INVALID_DESCRIPTION"); err != nil {
			return nil, err
		}
	}
	if clientToken != "" && !clientTokenPattern.MatchString(clientToken) {
		return nil, reasonError(CodeValidation, "INVALID_CLIENT_TOKEN", "clientToken must be 1-64 characters matching [a-zA-Z0-9-]+")
	}
	a := s.Agreements[agreementID]
	if a == nil {
		return nil, agreementNotFound(agreementID)
	}
	if clientToken != "" {
		for _, id := range SortedKeys(s.CancellationRequests) {
			cr := s.CancellationRequests[id]
			if cr.ClientToken != clientToken || cr.AgreementID != agreementID {
				continue
			}
			if cr.ReasonCode == reasonCode && cr.Description == description {
				return cr, nil
			}
			e := Errorf(CodeConflict, "clientToken %s was already used for cancellation request %s with other parameters", clientToken, cr.ID)
			e.ResourceType, e.ResourceID = "AgreementCancellationRequest", cr.ID
			return nil, e
		}
	}
	if a.Status != "ACTIVE" {
		return nil, reasonError(CodeValidation, "INACTIVE_AGREEMENT", "agreement %s is %s: only an active agreement can be cancelled", a.ID, a.Status)
	}
	for _, id := range SortedKeys(s.CancellationRequests) {
		if cr := s.CancellationRequests[id]; cr.AgreementID == a.ID && cr.Status == CancellationPendingApproval {
			e := Errorf(CodeConflict, "agreement %s already has cancellation request %s pending approval", a.ID, cr.ID)
			e.ResourceType, e.ResourceID = "AgreementCancellationRequest", cr.ID
			return nil, e
		}
	}
	cr := &CancellationRequest{ID: NewID("acr-", 26), AgreementID: a.ID, ReasonCode: reasonCode, Description: description,
		Status: CancellationPendingApproval, ClientToken: clientToken, CreatedAt: s.now, UpdatedAt: s.now,
		ExpiresAt: s.now.Add(CancellationApprovalPeriod)}
	if msg, ok := s.FailNext[FailCancellationRequest]; ok {
		cr.FailValidation = msg
		delete(s.FailNext, FailCancellationRequest)
	}
	s.CancellationRequests[cr.ID] = cr
	s.emitCancellation(a, cr)
	return cr, nil
}

func (s *State) emitCancellation(a *Agreement, cr *CancellationRequest) {
	s.emit(eventbridge.CancellationRequestEvent(s.Config.SellerAccountID, s.ebAgreement(a), eventbridge.CancellationRequest{
		ID: cr.ID, ReasonCode: cr.ReasonCode, Description: cr.Description, Status: cr.Status, StatusMessage: cr.StatusMessage,
		CreatedAt: cr.CreatedAt, UpdatedAt: cr.UpdatedAt}, s.now))
}

// CancellationRequest returns an agreement's cancellation request; a request
// of another agreement is not found.
func (s *State) CancellationRequest(agreementID, id string) (*CancellationRequest, error) {
	cr := s.CancellationRequests[id]
	if cr == nil || cr.AgreementID != agreementID {
		e := Errorf(CodeNotFound, "AgreementCancellationRequest %s not found for agreement %s", id, agreementID)
		e.ResourceType, e.ResourceID = "AgreementCancellationRequest", id
		return nil, e
	}
	return cr, nil
}

func (s *State) pendingCancellation(agreementID, id string) (*CancellationRequest, error) {
	cr, err := s.CancellationRequest(agreementID, id)
	if err != nil {
		return nil, err
	}
	if cr.Status != CancellationPendingApproval {
		// Agreement API reference: only PENDING_APPROVAL requests can be
		// accepted, rejected or cancelled; otherwise ConflictException.
		e := Errorf(CodeConflict, "cancellation request %s is %s: only a request pending approval can change", cr.ID, cr.Status)
		e.ResourceType, e.ResourceID = "AgreementCancellationRequest", cr.ID
		return nil, e
	}
	return cr, nil
}

func (s *State) settleCancellation(cr *CancellationRequest, status, message string) {
	cr.Status, cr.StatusMessage, cr.UpdatedAt = status, message, s.now
	a := s.Agreements[cr.AgreementID]
	s.emitCancellation(a, cr)
	if status == CancellationApproved {
		// AcceptAgreementCancellationRequest: "the agreement cancellation
		// will be processed": it ends as CANCELLED, announced by Purchase
		// Agreement Ended (and License Deprovisioned after the final
		// metering window), as a buyer's cancellation is.
		s.end(a, "CANCELLED")
	}
}

// ApproveCancellationRequest plays the buyer approving a pending request
// (AcceptAgreementCancellationRequest): the request is APPROVED and the
// agreement ends as CANCELLED.
func (s *State) ApproveCancellationRequest(agreementID, id string) (*CancellationRequest, error) {
	cr, err := s.pendingCancellation(agreementID, id)
	if err != nil {
		return nil, err
	}
	s.settleCancellation(cr, CancellationApproved, "")
	return cr, nil
}

// RejectCancellationRequest plays the buyer rejecting a pending request
// with a reason the seller sees (RejectAgreementCancellationRequest); the
// agreement stays active.
func (s *State) RejectCancellationRequest(agreementID, id, reason string) (*CancellationRequest, error) {
	if reason == "" {
		return nil, reasonError(CodeValidation, "MISSING_REASON", "rejectionReason is required")
	}
	if err := checkMessage(reason, "rejectionReason", "INVALID_REJECTION_REASON"); err != nil {
		return nil, err
	}
	cr, err := s.pendingCancellation(agreementID, id)
	if err != nil {
		return nil, err
	}
	s.settleCancellation(cr, CancellationRejected, reason)
	return cr, nil
}

// WithdrawCancellationRequest is the seller withdrawing a pending request
// (CancelAgreementCancellationRequest): it ends CANCELLED with the seller's
// reason as its status message.
func (s *State) WithdrawCancellationRequest(agreementID, id, reason string) (*CancellationRequest, error) {
	if reason == "" {
		return nil, reasonError(CodeValidation, "MISSING_REASON", "cancellationReason is required")
	}
	if err := checkMessage(reason, "cancellationReason", "INVALID_REASON"); err != nil {
		return nil, err
	}
	cr, err := s.pendingCancellation(agreementID, id)
	if err != nil {
		return nil, err
	}
	s.settleCancellation(cr, CancellationCancelled, reason)
	return cr, nil
}

// CancellationRequestsOf lists cancellation requests, oldest first, of one
// agreement (or all when agreementID is empty) and one status (or all).
func (s *State) CancellationRequestsOf(agreementID, status string) []*CancellationRequest {
	var out []*CancellationRequest
	for _, cr := range s.CancellationRequests {
		if (agreementID == "" || cr.AgreementID == agreementID) && (status == "" || cr.Status == status) {
			out = append(out, cr)
		}
	}
	slices.SortFunc(out, func(x, y *CancellationRequest) int {
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		if x.ID < y.ID {
			return -1
		}
		return 1
	})
	return out
}

// SetFailNext makes the next request of kind fail validation with message
// (empty: a default message).
func (s *State) SetFailNext(kind, message string) error {
	if !slices.Contains(FailNextKinds, kind) {
		return Errorf(CodeValidation, "kind %q is not one of %v", kind, FailNextKinds)
	}
	if message == "" {
		message = "Validation failed (emulator fault)"
	}
	if s.FailNext == nil {
		s.FailNext = map[string]string{}
	}
	s.FailNext[kind] = message
	return nil
}

// tickCancellations settles pending requests that are due: a forced
// validation failure at once, a request the buyer left unanswered at its
// deadline.
func (s *State) tickCancellations(due func(time.Time) bool) {
	// Oldest first, so their events come in the order they were made.
	for _, cr := range s.CancellationRequestsOf("", CancellationPendingApproval) {
		switch {
		case cr.FailValidation != "" && due(cr.CreatedAt):
			msg := cr.FailValidation
			cr.FailValidation = ""
			s.settleCancellation(cr, CancellationValidationFailed, msg)
		case cr.FailValidation == "" && due(cr.ExpiresAt):
			s.settleCancellation(cr, CancellationApproved, "Approved automatically: the buyer did not respond within 7 days")
		}
	}
}

// checkCancellations refuses restored cancellation requests that are null,
// filed under another id, name an agreement not in the snapshot, or carry a
// status or reason AWS does not have.
func (s *State) checkCancellations() error {
	for id, cr := range s.CancellationRequests {
		switch {
		case cr == nil || cr.ID != id || !cancellationIDPattern.MatchString(id):
			return Errorf(CodeValidation, "snapshot: cancellation request %q is null, filed under another id, or not an acr- id", id)
		case s.Agreements[cr.AgreementID] == nil:
			return Errorf(CodeValidation, "snapshot: cancellation request %s names agreement %q, which is not in the snapshot", id, cr.AgreementID)
		case !slices.Contains(CancellationReasonCodes, cr.ReasonCode):
			return Errorf(CodeValidation, "snapshot: cancellation request %s has reason code %q", id, cr.ReasonCode)
		case !slices.Contains([]string{CancellationPendingApproval, CancellationApproved, CancellationRejected, CancellationCancelled, CancellationValidationFailed}, cr.Status):
			return Errorf(CodeValidation, "snapshot: cancellation request %s has status %q", id, cr.Status)
		}
	}
	for k := range s.FailNext {
		if !slices.Contains(FailNextKinds, k) {
			return Errorf(CodeValidation, "snapshot: failNext kind %q is not one of %v", k, FailNextKinds)
		}
	}
	return nil
}
