package agreementapi

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Operations that act on agreements. The Server checks their input shapes
// (required members, lengths, patterns, enums: the Agreement API reference
// and the SDK model) and leaves the rest to its [Lifecycle].
const (
	OpSendAgreementCancellationRequest   = "SendAgreementCancellationRequest"
	OpGetAgreementCancellationRequest    = "GetAgreementCancellationRequest"
	OpListAgreementCancellationRequests  = "ListAgreementCancellationRequests"
	OpCancelAgreementCancellationRequest = "CancelAgreementCancellationRequest"
	OpAcceptAgreementCancellationRequest = "AcceptAgreementCancellationRequest"
	OpRejectAgreementCancellationRequest = "RejectAgreementCancellationRequest"
	OpGetAgreementEntitlements           = "GetAgreementEntitlements"
)

// CancellationRequest is an agreement cancellation request as the operations
// return it.
type CancellationRequest struct {
	ID, AgreementID            string
	ReasonCode, Description    string
	Status, StatusMessage      string
	CreatedAt, UpdatedAt       time.Time
	AgreementType, CatalogName string
}

// CancellationFilter selects ListAgreementCancellationRequests results; empty
// members match everything.
type CancellationFilter struct {
	AgreementID, AgreementType, Catalog, Status string
}

// Entitlement is one GetAgreementEntitlements item.
type Entitlement struct {
	ResourceID, ResourceType string
	LicenseArn               string
	// Status is PROVISIONED, SCHEDULED, PENDING, FAILED or DEPROVISIONED;
	// StatusReasonCode one of AgreementEntitlementStatusReasonCode.
	Status, StatusReasonCode string
}

// Lifecycle is what the agreement-changing operations act on: the emulator's
// world. Its errors are *APIError values (anything else is a 500).
type Lifecycle interface {
	SendCancellationRequest(agreementID, reasonCode, description, clientToken string) (CancellationRequest, error)
	GetCancellationRequest(agreementID, id string) (CancellationRequest, error)
	ListCancellationRequests(f CancellationFilter) ([]CancellationRequest, error)
	CancelCancellationRequest(agreementID, id, reason string) (CancellationRequest, error)
	AcceptCancellationRequest(agreementID, id string) (CancellationRequest, error)
	RejectCancellationRequest(agreementID, id, reason string) (CancellationRequest, error)
	AgreementEntitlements(agreementID string) ([]Entitlement, error)
}

// cancellationRequestIDPattern: Agreement API reference,
// agreementCancellationRequestId "Length 1-64, Pattern acr-[a-zA-Z0-9]+".
var cancellationRequestIDPattern = regexp.MustCompile(`^acr-[a-zA-Z0-9]+$`)

// cancellationStatuses is AgreementCancellationRequestStatus (SDK types/enums.go).
var cancellationStatuses = []string{"PENDING_APPROVAL", "APPROVED", "REJECTED", "CANCELLED", "VALIDATION_FAILED"}

func (s *Server) lifecycleOrErr() (Lifecycle, *APIError) {
	if s.life == nil {
		return nil, &APIError{Code: CodeUnknownOperation, Status: http.StatusBadRequest,
			Message: "this agreement API emulator has no world behind it: agreement lifecycle operations are served by `concord emulator`"}
	}
	return s.life, nil
}

func asAPIError(err error) *APIError {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	return &APIError{Code: CodeInternalServer, Status: http.StatusInternalServerError, Message: err.Error()}
}

// cancellationIDParam reads agreementCancellationRequestId.
func cancellationIDParam(in input) (string, *APIError) {
	id, ok, apiErr := in.str("agreementCancellationRequestId")
	if apiErr != nil {
		return "", apiErr
	}
	if !ok {
		return "", validationError("MISSING_AGREEMENT_CANCELLATION_REQUEST_ID", "agreementCancellationRequestId", "agreementCancellationRequestId is required")
	}
	if len(id) > 64 || !cancellationRequestIDPattern.MatchString(id) {
		return "", validationError("INVALID_AGREEMENT_CANCELLATION_REQUEST_ID", "agreementCancellationRequestId",
			"agreementCancellationRequestId must be 1-64 characters matching acr-[a-zA-Z0-9]+")
	}
	return id, nil
}

// messageParam reads a 1-2000 character free-text member (description,
// cancellationReason, rejectionReason).
func messageParam(in input, name, missing, invalid string, required bool) (string, *APIError) {
	v, ok, apiErr := in.str(name)
	if apiErr != nil {
		return "", apiErr
	}
	if !ok {
		if required {
			return "", validationError(missing, name, name+" is required")
		}
		return "", nil
	}
	if n := len([]rune(v)); n < 1 || n > 2000 {
		return "", validationError(invalid, name, name+" must be 1-2000 characters")
	}
	return v, nil
}

func cancellationOut(cr CancellationRequest, withMessage bool) obj {
	out := obj{
		"agreementCancellationRequestId": cr.ID,
		"agreementId":                    cr.AgreementID,
		"reasonCode":                     cr.ReasonCode,
		"description":                    strOrNil(cr.Description),
		"status":                         cr.Status,
		"createdAt":                      cr.CreatedAt,
		"updatedAt":                      cr.UpdatedAt,
	}
	if withMessage {
		out["statusMessage"] = strOrNil(cr.StatusMessage)
	}
	return out
}

// ---- SendAgreementCancellationRequest ----

func (s *Server) sendAgreementCancellationRequest(in input) (obj, *APIError) {
	life, apiErr := s.lifecycleOrErr()
	if apiErr != nil {
		return nil, apiErr
	}
	id, apiErr := agreementIDParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	reason, ok, apiErr := in.str("reasonCode")
	if apiErr != nil {
		return nil, apiErr
	}
	if !ok {
		return nil, validationError("MISSING_REASON_CODE", "reasonCode", "reasonCode is required")
	}
	desc, apiErr := messageParam(in, "description", "MISSING_DESCRIPTION", "INVALID_DESCRIPTION", false)
	if apiErr != nil {
		return nil, apiErr
	}
	token, ok, apiErr := in.str("clientToken")
	if apiErr != nil {
		return nil, apiErr
	}
	if ok && token == "" {
		return nil, validationError("INVALID_CLIENT_TOKEN", "clientToken", "clientToken must be 1-64 characters matching [a-zA-Z0-9-]+")
	}
	cr, err := life.SendCancellationRequest(id, reason, desc, token)
	if err != nil {
		return nil, asAPIError(err)
	}
	return cancellationOut(cr, false), nil
}

// ---- GetAgreementCancellationRequest ----

func (s *Server) getAgreementCancellationRequest(in input) (obj, *APIError) {
	life, apiErr := s.lifecycleOrErr()
	if apiErr != nil {
		return nil, apiErr
	}
	agreementID, crID, apiErr := cancellationKey(in)
	if apiErr != nil {
		return nil, apiErr
	}
	cr, err := life.GetCancellationRequest(agreementID, crID)
	if err != nil {
		return nil, asAPIError(err)
	}
	return cancellationOut(cr, true), nil
}

func cancellationKey(in input) (string, string, *APIError) {
	crID, apiErr := cancellationIDParam(in)
	if apiErr != nil {
		return "", "", apiErr
	}
	agreementID, apiErr := agreementIDParam(in)
	if apiErr != nil {
		return "", "", apiErr
	}
	return agreementID, crID, nil
}

// ---- CancelAgreementCancellationRequest (seller withdraws) ----

func (s *Server) cancelAgreementCancellationRequest(in input) (obj, *APIError) {
	life, apiErr := s.lifecycleOrErr()
	if apiErr != nil {
		return nil, apiErr
	}
	agreementID, crID, apiErr := cancellationKey(in)
	if apiErr != nil {
		return nil, apiErr
	}
	reason, apiErr := messageParam(in, "cancellationReason", "MISSING_REASON", "INVALID_REASON", true)
	if apiErr != nil {
		return nil, apiErr
	}
	cr, err := life.CancelCancellationRequest(agreementID, crID, reason)
	if err != nil {
		return nil, asAPIError(err)
	}
	return cancellationOut(cr, true), nil
}

// ---- AcceptAgreementCancellationRequest / RejectAgreementCancellationRequest (buyer) ----

func (s *Server) acceptAgreementCancellationRequest(in input) (obj, *APIError) {
	life, apiErr := s.lifecycleOrErr()
	if apiErr != nil {
		return nil, apiErr
	}
	agreementID, crID, apiErr := cancellationKey(in)
	if apiErr != nil {
		return nil, apiErr
	}
	cr, err := life.AcceptCancellationRequest(agreementID, crID)
	if err != nil {
		return nil, asAPIError(err)
	}
	// The accept response has no statusMessage (API reference, SDK output shape).
	return cancellationOut(cr, false), nil
}

func (s *Server) rejectAgreementCancellationRequest(in input) (obj, *APIError) {
	life, apiErr := s.lifecycleOrErr()
	if apiErr != nil {
		return nil, apiErr
	}
	agreementID, crID, apiErr := cancellationKey(in)
	if apiErr != nil {
		return nil, apiErr
	}
	reason, apiErr := messageParam(in, "rejectionReason", "MISSING_REASON", "INVALID_REJECTION_REASON", true)
	if apiErr != nil {
		return nil, apiErr
	}
	cr, err := life.RejectCancellationRequest(agreementID, crID, reason)
	if err != nil {
		return nil, asAPIError(err)
	}
	return cancellationOut(cr, true), nil
}

// ---- ListAgreementCancellationRequests ----

func (s *Server) listAgreementCancellationRequests(in input) (obj, *APIError) {
	life, apiErr := s.lifecycleOrErr()
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
	var f CancellationFilter
	if v, ok, apiErr := in.str("agreementId"); apiErr != nil {
		return nil, apiErr
	} else if ok {
		if !validAgreementID(v) {
			return nil, validationError("INVALID_AGREEMENT_ID", "agreementId", "agreementId must be 1-64 characters matching ^[A-Za-z0-9_/-]+$")
		}
		f.AgreementID = v
	}
	if v, ok, apiErr := in.str("agreementType"); apiErr != nil {
		return nil, apiErr
	} else if ok {
		if v != DefaultAgreementType {
			return nil, validationError("INVALID_AGREEMENT_TYPE", "agreementType", "agreementType must be "+DefaultAgreementType)
		}
		f.AgreementType = v
	}
	if v, ok, apiErr := in.str("catalog"); apiErr != nil {
		return nil, apiErr
	} else if ok {
		if v != Catalog {
			return nil, validationError("INVALID_CATALOG", "catalog", "catalog must be "+Catalog)
		}
		f.Catalog = v
	}
	if v, ok, apiErr := in.str("status"); apiErr != nil {
		return nil, apiErr
	} else if ok {
		if !slices.Contains(cancellationStatuses, v) {
			return nil, validationError("INVALID_STATUS", "status", "status must be one of "+strings.Join(cancellationStatuses, ", "))
		}
		f.Status = v
	}
	limit, apiErr := maxResultsParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	key := fmt.Sprintf("party=%s\x00agreement=%s\x00type=%s\x00catalog=%s\x00status=%s", party, f.AgreementID, f.AgreementType, f.Catalog, f.Status)
	offset, apiErr := nextTokenParam(in, OpListAgreementCancellationRequests, key)
	if apiErr != nil {
		return nil, apiErr
	}
	all, err := life.ListCancellationRequests(f)
	if err != nil {
		return nil, asAPIError(err)
	}
	page, next := paginate(all, offset, limit)
	items := make([]any, len(page))
	for i, cr := range page {
		items[i] = obj{
			"agreementCancellationRequestId": cr.ID,
			"agreementId":                    cr.AgreementID,
			"agreementType":                  orDefault(cr.AgreementType, DefaultAgreementType),
			"catalog":                        orDefault(cr.CatalogName, Catalog),
			"reasonCode":                     cr.ReasonCode,
			"status":                         cr.Status,
			"createdAt":                      cr.CreatedAt,
			"updatedAt":                      cr.UpdatedAt,
		}
	}
	out := obj{"items": items}
	if next >= 0 {
		out["nextToken"] = encodeToken(OpListAgreementCancellationRequests, key, next)
	}
	return out, nil
}

// ---- GetAgreementEntitlements ----

func (s *Server) getAgreementEntitlements(in input) (obj, *APIError) {
	life, apiErr := s.lifecycleOrErr()
	if apiErr != nil {
		return nil, apiErr
	}
	id, apiErr := agreementIDParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	limit, apiErr := maxResultsParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	key := "agreementId=" + id
	offset, apiErr := nextTokenParam(in, OpGetAgreementEntitlements, key)
	if apiErr != nil {
		return nil, apiErr
	}
	ents, err := life.AgreementEntitlements(id)
	if err != nil {
		return nil, asAPIError(err)
	}
	page, next := paginate(ents, offset, limit)
	items := make([]any, len(page))
	for i, e := range page {
		items[i] = obj{
			"resource":         obj{"id": strOrNil(e.ResourceID), "type": strOrNil(e.ResourceType)},
			"licenseArn":       strOrNil(e.LicenseArn),
			"status":           strOrNil(e.Status),
			"statusReasonCode": strOrNil(e.StatusReasonCode),
		}
	}
	out := obj{"agreementEntitlements": items}
	if next >= 0 {
		out["nextToken"] = encodeToken(OpGetAgreementEntitlements, key, next)
	}
	return out, nil
}
