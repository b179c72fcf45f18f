package agreementapi

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Payment request operations.
const (
	OpSendAgreementPaymentRequest   = "SendAgreementPaymentRequest"
	OpGetAgreementPaymentRequest    = "GetAgreementPaymentRequest"
	OpListAgreementPaymentRequests  = "ListAgreementPaymentRequests"
	OpCancelAgreementPaymentRequest = "CancelAgreementPaymentRequest"
	OpAcceptAgreementPaymentRequest = "AcceptAgreementPaymentRequest"
	OpRejectAgreementPaymentRequest = "RejectAgreementPaymentRequest"
)

// PaymentRequest is a payment request as the operations return it.
type PaymentRequest struct {
	ID, AgreementID, Name, Description string
	ChargeAmount, Currency, ChargeID   string
	Status, StatusMessage              string
	CreatedAt, UpdatedAt               time.Time
}

// PaymentSend is SendAgreementPaymentRequest's input.
type PaymentSend struct {
	AgreementID, TermID, Name, Description, ChargeAmount, ClientToken string
}

// Payments is what the payment request operations act on.
type Payments interface {
	SendPaymentRequest(in PaymentSend) (PaymentRequest, error)
	GetPaymentRequest(agreementID, id string) (PaymentRequest, error)
	ListPaymentRequests(agreementID, status string) ([]PaymentRequest, error)
	CancelPaymentRequest(agreementID, id string) (PaymentRequest, error)
	AcceptPaymentRequest(agreementID, id, purchaseOrder string) (PaymentRequest, error)
	RejectPaymentRequest(agreementID, id, reason string) (PaymentRequest, error)
}

// paymentRequestIDPattern: API reference GetAgreementPaymentRequest,
// "Length 1-64, Pattern pr-[a-zA-Z0-9]+".
var paymentRequestIDPattern = regexp.MustCompile(`^pr-[a-zA-Z0-9]{1,61}$`)

var paymentStatuses = []string{"VALIDATING", "VALIDATION_FAILED", "PENDING_APPROVAL", "APPROVED", "REJECTED", "CANCELLED"}

func (s *Server) payments() (Payments, *APIError) {
	life, apiErr := s.lifecycleOrErr()
	if apiErr != nil {
		return nil, apiErr
	}
	p, ok := life.(Payments)
	if !ok {
		return nil, &APIError{Code: CodeUnknownOperation, Message: "this agreement API emulator does not model payment requests"}
	}
	return p, nil
}

func paymentKey(in input) (string, string, *APIError) {
	id, ok, apiErr := in.str("paymentRequestId")
	if apiErr != nil {
		return "", "", apiErr
	}
	if !ok {
		return "", "", validationError("MISSING_PAYMENT_REQUEST_ID", "paymentRequestId", "paymentRequestId is required")
	}
	if !paymentRequestIDPattern.MatchString(id) {
		return "", "", validationError("INVALID_PAYMENT_REQUEST_ID", "paymentRequestId", "paymentRequestId must be 1-64 characters matching pr-[a-zA-Z0-9]+")
	}
	agreementID, apiErr := agreementIDParam(in)
	if apiErr != nil {
		return "", "", apiErr
	}
	return agreementID, id, nil
}

func paymentOut(pr PaymentRequest, withMessage, withCharge bool) obj {
	out := obj{"paymentRequestId": pr.ID, "agreementId": pr.AgreementID, "status": pr.Status, "name": pr.Name,
		"description": strOrNil(pr.Description), "chargeAmount": pr.ChargeAmount, "currencyCode": pr.Currency,
		"createdAt": pr.CreatedAt}
	if pr.UpdatedAt != (time.Time{}) {
		out["updatedAt"] = pr.UpdatedAt
	}
	if withMessage {
		out["statusMessage"] = strOrNil(pr.StatusMessage)
	}
	if withCharge {
		out["chargeId"] = strOrNil(pr.ChargeID)
	}
	return out
}

func (s *Server) sendAgreementPaymentRequest(in input) (obj, *APIError) {
	p, apiErr := s.payments()
	if apiErr != nil {
		return nil, apiErr
	}
	id, apiErr := agreementIDParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	var vals [5]string
	for i, name := range []string{"termId", "name", "description", "chargeAmount", "clientToken"} {
		v, ok, apiErr := in.str(name)
		if apiErr != nil {
			return nil, apiErr
		}
		if ok && v == "" && (name == "description" || name == "clientToken") {
			reason := map[string]string{"description": "INVALID_DESCRIPTION", "clientToken": "INVALID_CLIENT_TOKEN"}[name]
			return nil, validationError(reason, name, name+" must not be empty")
		}
		vals[i] = v
	}
	pr, err := p.SendPaymentRequest(PaymentSend{AgreementID: id, TermID: vals[0], Name: vals[1], Description: vals[2], ChargeAmount: vals[3], ClientToken: vals[4]})
	if err != nil {
		return nil, asAPIError(err)
	}
	out := paymentOut(pr, false, false)
	delete(out, "updatedAt") // not in SendAgreementPaymentRequest's output shape
	return out, nil
}

func (s *Server) getAgreementPaymentRequest(in input) (obj, *APIError) {
	p, apiErr := s.payments()
	if apiErr != nil {
		return nil, apiErr
	}
	agreementID, id, apiErr := paymentKey(in)
	if apiErr != nil {
		return nil, apiErr
	}
	pr, err := p.GetPaymentRequest(agreementID, id)
	if err != nil {
		return nil, asAPIError(err)
	}
	return paymentOut(pr, true, true), nil
}

func (s *Server) cancelAgreementPaymentRequest(in input) (obj, *APIError) {
	p, apiErr := s.payments()
	if apiErr != nil {
		return nil, apiErr
	}
	agreementID, id, apiErr := paymentKey(in)
	if apiErr != nil {
		return nil, apiErr
	}
	pr, err := p.CancelPaymentRequest(agreementID, id)
	if err != nil {
		return nil, asAPIError(err)
	}
	return paymentOut(pr, false, false), nil
}

func (s *Server) acceptAgreementPaymentRequest(in input) (obj, *APIError) {
	p, apiErr := s.payments()
	if apiErr != nil {
		return nil, apiErr
	}
	agreementID, id, apiErr := paymentKey(in)
	if apiErr != nil {
		return nil, apiErr
	}
	po, _, apiErr := in.str("purchaseOrderReference")
	if apiErr != nil {
		return nil, apiErr
	}
	pr, err := p.AcceptPaymentRequest(agreementID, id, po)
	if err != nil {
		return nil, asAPIError(err)
	}
	return paymentOut(pr, false, false), nil
}

func (s *Server) rejectAgreementPaymentRequest(in input) (obj, *APIError) {
	p, apiErr := s.payments()
	if apiErr != nil {
		return nil, apiErr
	}
	agreementID, id, apiErr := paymentKey(in)
	if apiErr != nil {
		return nil, apiErr
	}
	reason, ok, apiErr := in.str("rejectionReason")
	if apiErr != nil {
		return nil, apiErr
	}
	if ok && (len([]rune(reason)) < 1 || len([]rune(reason)) > 250) {
		return nil, validationError("INVALID_REJECTION_REASON", "rejectionReason", "rejectionReason must be 1-250 characters")
	}
	pr, err := p.RejectPaymentRequest(agreementID, id, reason)
	if err != nil {
		return nil, asAPIError(err)
	}
	return paymentOut(pr, true, false), nil
}

func (s *Server) listAgreementPaymentRequests(in input) (obj, *APIError) {
	p, apiErr := s.payments()
	if apiErr != nil {
		return nil, apiErr
	}
	party, ok, apiErr := in.str("partyType")
	if apiErr != nil {
		return nil, apiErr
	}
	if !ok {
		return nil, validationError("MISSING_PARTY_TYPE", "partyType", "partyType is required: Proposer or Acceptor")
	}
	if party != "Proposer" && party != "Acceptor" {
		return nil, validationError("INVALID_PARTY_TYPE", "partyType", "partyType must be Proposer or Acceptor")
	}
	id, apiErr := optionalAgreementID(in)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := optionalFilters(in); apiErr != nil {
		return nil, apiErr
	}
	status, ok, apiErr := in.str("status")
	if apiErr != nil {
		return nil, apiErr
	}
	if ok && !slices.Contains(paymentStatuses, status) {
		return nil, validationError("INVALID_STATUS", "status", "status is not a PaymentRequestStatus")
	}
	limit, apiErr := maxResultsParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	key := fmt.Sprintf("party=%s\x00agreement=%s\x00status=%s", party, id, status)
	offset, apiErr := nextTokenParam(in, OpListAgreementPaymentRequests, key)
	if apiErr != nil {
		return nil, apiErr
	}
	all, err := p.ListPaymentRequests(id, status)
	if err != nil {
		return nil, asAPIError(err)
	}
	page, next := paginate(all, offset, limit)
	items := make([]any, len(page))
	for i, pr := range page {
		o := paymentOut(pr, false, true)
		delete(o, "description") // not in PaymentRequestSummary
		items[i] = o
	}
	out := obj{"items": items}
	if next >= 0 {
		out["nextToken"] = encodeToken(OpListAgreementPaymentRequests, key, next)
	}
	return out, nil
}
