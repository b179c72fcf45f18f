package world

import (
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/emulator/agreementapi"
)

// Payment request statuses (Agreement API PaymentRequestStatus).
const (
	PaymentValidating       = "VALIDATING"
	PaymentValidationFailed = "VALIDATION_FAILED"
	PaymentPendingApproval  = "PENDING_APPROVAL"
	PaymentApproved         = "APPROVED"
	PaymentRejected         = "REJECTED"
	PaymentCancelled        = "CANCELLED"
)

var (
	paymentIDPattern     = regexp.MustCompile(`^pr-[a-zA-Z0-9]+$`)
	chargeAmountPattern  = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,8})?$`)
	paymentStatusesValid = []string{PaymentValidating, PaymentValidationFailed, PaymentPendingApproval, PaymentApproved, PaymentRejected, PaymentCancelled}
)

// PaymentRequest is a seller's request to charge the buyer under the
// agreement's VariablePaymentTerm (SendAgreementPaymentRequest). AWS
// documents no EventBridge event for payment requests, so none is sent.
type PaymentRequest struct {
	ID                     string     `json:"id"`
	AgreementID            string     `json:"agreementId"`
	TermID                 string     `json:"termId"`
	Name                   string     `json:"name"`
	Description            string     `json:"description,omitempty"`
	ChargeAmount           string     `json:"chargeAmount"`
	Currency               string     `json:"currencyCode"`
	Status                 string     `json:"status"`
	StatusMessage          string     `json:"statusMessage,omitempty"`
	ClientToken            string     `json:"clientToken,omitempty"`
	ChargeID               string     `json:"chargeId,omitempty"`
	PurchaseOrderReference string     `json:"purchaseOrderReference,omitempty"`
	CreatedAt              time.Time  `json:"createdAt"`
	UpdatedAt              time.Time  `json:"updatedAt"`
	ExpiresAt              *time.Time `json:"expiresAt,omitempty"`
}

func variableTerm(a *Agreement, termID string) *agreementapi.Term {
	for i := range a.Terms {
		if a.Terms[i].Type == agreementapi.TermVariablePayment && a.Terms[i].ID == termID {
			return &a.Terms[i]
		}
	}
	return nil
}

// SendPaymentRequest plays AWS receiving SendAgreementPaymentRequest: "The
// agreement must be active and have a VariablePaymentTerm to support payment
// requests. The chargeAmount must not exceed the remaining available balance
// under the VariablePaymentTerm maxTotalChargeAmount" (SDK doc comment,
// api_op_SendAgreementPaymentRequest.go). The request is PENDING_APPROVAL;
// under AUTO_APPROVE_ON_EXPIRATION it is approved when the term's
// expirationDuration passes (VariablePaymentTermConfiguration).
func (s *State) SendPaymentRequest(agreementID, termID, name, description, amount, clientToken string) (*PaymentRequest, error) {
	switch {
	case termID == "":
		return nil, reasonError(CodeValidation, "MISSING_TERM_ID", "termId is required")
	case name == "":
		return nil, reasonError(CodeValidation, "MISSING_NAME", "name is required")
	case utf8.RuneCountInString(name) < 5 || utf8.RuneCountInString(name) > 64:
		return nil, reasonError(CodeValidation, "INVALID_NAME", "name must be 5-64 characters")
	case amount == "":
		return nil, reasonError(CodeValidation, "MISSING_CHARGE_AMOUNT", "chargeAmount is required")
	case !chargeAmountPattern.MatchString(amount) || rat(amount).Sign() <= 0:
		return nil, reasonError(CodeValidation, "INVALID_CHARGE_AMOUNT", "chargeAmount %q must be a positive decimal", amount)
	case description != "" && utf8.RuneCountInString(description) > MaxReasonMessage:
		return nil, reasonError(CodeValidation, "INVALID_DESCRIPTION", "description must be 1-%d characters", MaxReasonMessage)
	case clientToken != "" && !clientTokenPattern.MatchString(clientToken):
		return nil, reasonError(CodeValidation, "INVALID_CLIENT_TOKEN", "clientToken must be 1-64 characters matching [a-zA-Z0-9-]+")
	}
	a := s.Agreements[agreementID]
	if a == nil {
		return nil, agreementNotFound(agreementID)
	}
	if clientToken != "" {
		for _, pr := range s.paymentRequestsOf(agreementID, "") {
			if pr.ClientToken != clientToken {
				continue
			}
			if pr.TermID == termID && pr.Name == name && pr.Description == description && rat(pr.ChargeAmount).Cmp(rat(amount)) == 0 {
				return pr, nil
			}
			e := Errorf(CodeConflict, "clientToken %s was already used for payment request %s with other parameters", clientToken, pr.ID)
			e.ResourceType, e.ResourceID = "PaymentRequest", pr.ID
			return nil, e
		}
	}
	if a.Status != "ACTIVE" {
		return nil, reasonError(CodeValidation, "INACTIVE_AGREEMENT", "agreement %s is %s: payment requests need an active agreement", a.ID, a.Status)
	}
	t := variableTerm(a, termID)
	if t == nil {
		return nil, reasonError(CodeValidation, "INVALID_TERM_ID", "agreement %s has no VariablePaymentTerm %s", a.ID, termID)
	}
	used := new(big.Rat)
	for _, pr := range s.paymentRequestsOf(a.ID, "") {
		if pr.TermID == termID && (pr.Status == PaymentApproved || pr.Status == PaymentPendingApproval) {
			used.Add(used, rat(pr.ChargeAmount))
		}
	}
	left := new(big.Rat).Sub(rat(t.MaxTotalChargeAmount), used)
	if rat(amount).Cmp(left) > 0 {
		return nil, reasonError(CodeValidation, "INVALID_CHARGE_AMOUNT", "chargeAmount %s exceeds the balance left under term %s (%s of %s)", amount, termID, money(left), t.MaxTotalChargeAmount)
	}
	cur := t.CurrencyCode
	if cur == "" {
		cur = a.currency()
	}
	pr := &PaymentRequest{ID: NewID("pr-", 26), AgreementID: a.ID, TermID: termID, Name: name, Description: description, ChargeAmount: money(rat(amount)),
		Currency: cur, Status: PaymentPendingApproval, ClientToken: clientToken, CreatedAt: s.now, UpdatedAt: s.now}
	if t.PaymentRequestApprovalStrategy == "AUTO_APPROVE_ON_EXPIRATION" && t.ExpirationDuration != "" {
		if at, err := AddDuration(s.now, t.ExpirationDuration); err == nil {
			pr.ExpiresAt = &at
		}
	}
	s.PaymentRequests[pr.ID] = pr
	return pr, nil
}

// PaymentRequest returns an agreement's payment request.
func (s *State) PaymentRequest(agreementID, id string) (*PaymentRequest, error) {
	pr := s.PaymentRequests[id]
	if pr == nil || pr.AgreementID != agreementID {
		e := Errorf(CodeNotFound, "PaymentRequest %s not found for agreement %s", id, agreementID)
		e.ResourceType, e.ResourceID = "PaymentRequest", id
		return nil, e
	}
	return pr, nil
}

func (s *State) pendingPayment(agreementID, id string) (*PaymentRequest, error) {
	pr, err := s.PaymentRequest(agreementID, id)
	if err != nil {
		return nil, err
	}
	if pr.Status != PaymentPendingApproval {
		// API reference: only PENDING_APPROVAL requests can be accepted,
		// rejected or cancelled; otherwise ConflictException.
		e := Errorf(CodeConflict, "payment request %s is %s: only a request pending approval can change", pr.ID, pr.Status)
		e.ResourceType, e.ResourceID = "PaymentRequest", pr.ID
		return nil, e
	}
	return pr, nil
}

// ApprovePaymentRequest plays the buyer accepting a payment request
// (AcceptAgreementPaymentRequest): APPROVED, with a charge (ch-…) that
// ListAgreementCharges and the invoices then show.
func (s *State) ApprovePaymentRequest(agreementID, id, purchaseOrder string) (*PaymentRequest, error) {
	pr, err := s.pendingPayment(agreementID, id)
	if err != nil {
		return nil, err
	}
	s.approvePayment(pr, "")
	pr.PurchaseOrderReference = purchaseOrder
	return pr, nil
}

func (s *State) approvePayment(pr *PaymentRequest, message string) {
	pr.Status, pr.StatusMessage, pr.UpdatedAt = PaymentApproved, message, s.now
	pr.ChargeID = derivedID("ch-", pr.ID)
}

// RejectPaymentRequest plays the buyer rejecting a payment request, with an
// optional reason of 1-250 characters the seller sees.
func (s *State) RejectPaymentRequest(agreementID, id, reason string) (*PaymentRequest, error) {
	if n := utf8.RuneCountInString(reason); reason != "" && n > 250 {
		return nil, reasonError(CodeValidation, "INVALID_REJECTION_REASON", "rejectionReason must be 1-250 characters")
	}
	pr, err := s.pendingPayment(agreementID, id)
	if err != nil {
		return nil, err
	}
	pr.Status, pr.StatusMessage, pr.UpdatedAt = PaymentRejected, reason, s.now
	return pr, nil
}

// CancelPaymentRequest is the seller withdrawing a pending payment request.
func (s *State) CancelPaymentRequest(agreementID, id string) (*PaymentRequest, error) {
	pr, err := s.pendingPayment(agreementID, id)
	if err != nil {
		return nil, err
	}
	pr.Status, pr.UpdatedAt = PaymentCancelled, s.now
	return pr, nil
}

// PaymentRequestsOf lists payment requests, oldest first, of one agreement
// (all when empty) and one status (all when empty).
func (s *State) PaymentRequestsOf(agreementID, status string) []*PaymentRequest {
	return s.paymentRequestsOf(agreementID, status)
}

func (s *State) paymentRequestsOf(agreementID, status string) []*PaymentRequest {
	var out []*PaymentRequest
	for _, pr := range s.PaymentRequests {
		if (agreementID == "" || pr.AgreementID == agreementID) && (status == "" || pr.Status == status) {
			out = append(out, pr)
		}
	}
	slices.SortFunc(out, func(x, y *PaymentRequest) int {
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// paymentCharges are the charges approved payment requests made.
func (s *State) paymentCharges(a *Agreement) []Charge {
	var out []Charge
	for _, pr := range s.paymentRequestsOf(a.ID, PaymentApproved) {
		out = append(out, Charge{ID: pr.ChargeID, AgreementID: a.ID, Amount: pr.ChargeAmount, Currency: pr.Currency, Time: pr.UpdatedAt})
	}
	return out
}

// tickPayments approves pending requests whose AUTO_APPROVE_ON_EXPIRATION
// deadline passed.
func (s *State) tickPayments(due func(time.Time) bool) {
	for _, pr := range s.paymentRequestsOf("", PaymentPendingApproval) {
		if pr.ExpiresAt != nil && due(*pr.ExpiresAt) {
			s.approvePayment(pr, "Approved automatically: the term's expiration duration passed")
		}
	}
}

func (s *State) checkPayments() error {
	for id, pr := range s.PaymentRequests {
		switch {
		case pr == nil || pr.ID != id || !paymentIDPattern.MatchString(id):
			return Errorf(CodeValidation, "snapshot: payment request %q is null, filed under another id, or not a pr- id", id)
		case s.Agreements[pr.AgreementID] == nil:
			return Errorf(CodeValidation, "snapshot: payment request %s names agreement %q, which is not in the snapshot", id, pr.AgreementID)
		case !slices.Contains(paymentStatusesValid, pr.Status):
			return Errorf(CodeValidation, "snapshot: payment request %s has status %q", id, pr.Status)
		case !chargeAmountPattern.MatchString(pr.ChargeAmount) || rat(pr.ChargeAmount).Sign() <= 0:
			return Errorf(CodeValidation, "snapshot: payment request %s has charge amount %q", id, pr.ChargeAmount)
		}
	}
	return nil
}

// VariablePaymentTerm builds the term an offer needs for payment requests,
// checked as the SDK model has it: a positive maxTotalChargeAmount, the
// approval strategy AUTO_APPROVE_ON_EXPIRATION (with an ISO 8601
// expirationDuration) or WAIT_FOR_APPROVAL.
func VariablePaymentTerm(maxTotal, currency, strategy, expiration string) (agreementapi.Term, error) {
	if !chargeAmountPattern.MatchString(maxTotal) || rat(maxTotal).Sign() <= 0 {
		return agreementapi.Term{}, Errorf(CodeValidation, "variablePayment.maxTotalChargeAmount %q must be a positive decimal", maxTotal)
	}
	switch strategy {
	case "AUTO_APPROVE_ON_EXPIRATION":
		if _, err := AddDuration(time.Time{}, expiration); err != nil {
			return agreementapi.Term{}, Errorf(CodeValidation, "variablePayment.expirationDuration: %v", err)
		}
	case "WAIT_FOR_APPROVAL":
		if expiration != "" {
			return agreementapi.Term{}, Errorf(CodeValidation, "variablePayment.expirationDuration applies only to AUTO_APPROVE_ON_EXPIRATION")
		}
	default:
		return agreementapi.Term{}, Errorf(CodeValidation, "variablePayment.approvalStrategy must be AUTO_APPROVE_ON_EXPIRATION or WAIT_FOR_APPROVAL")
	}
	if currency == "" {
		currency = "USD"
	}
	return agreementapi.Term{Type: agreementapi.TermVariablePayment, ID: NewID("term-", 20), CurrencyCode: currency, MaxTotalChargeAmount: money(rat(maxTotal)),
		PaymentRequestApprovalStrategy: strategy, ExpirationDuration: expiration}, nil
}
