package agreementapi

import (
	"fmt"
	"net/http"
	"strings"
)

// Error codes of the service (the short names of its error shapes) and of
// the protocols.
const (
	CodeAccessDenied          = "AccessDeniedException"
	CodeConflict              = "ConflictException"
	CodeInternalServer        = "InternalServerException"
	CodeResourceNotFound      = "ResourceNotFoundException"
	CodeServiceQuotaExceeded  = "ServiceQuotaExceededException"
	CodeThrottling            = "ThrottlingException"
	CodeValidation            = "ValidationException"
	CodeSerialization         = "SerializationException"
	CodeUnknownOperation      = "UnknownOperationException"
	CodeUnsupportedMediaType  = "UnsupportedMediaTypeException"
	CodeRequestEntityTooLarge = "RequestEntityTooLargeException"
)

// errorNamespace prefixes error codes in RPC v2 CBOR "__type" values.
const errorNamespace = "com.amazonaws.marketplaceagreement#"

// APIError is an error response. Return one from [Options.Fault] to inject
// it; the server also uses it for its own errors.
type APIError struct {
	// Code is the short error shape name, e.g. "ThrottlingException".
	Code string
	// Status is the HTTP status; when 0 it is the modeled status of Code
	// (400 for unknown codes).
	Status  int
	Message string

	// Reason is rendered as "reason" (ValidationException,
	// AccessDeniedException).
	Reason string
	// Fields is rendered as "fields" (ValidationException).
	Fields []FieldError
	// ResourceID and ResourceType are rendered as "resourceId" and
	// "resourceType" (ResourceNotFoundException, ConflictException).
	ResourceID, ResourceType string
}

// FieldError names an invalid input member of a ValidationException.
type FieldError struct {
	Name, Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.Code, e.status(), e.Message)
}

func (e *APIError) status() int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Code {
	case CodeAccessDenied:
		return http.StatusForbidden
	case CodeConflict:
		return http.StatusConflict
	case CodeInternalServer:
		return http.StatusInternalServerError
	case CodeResourceNotFound:
		return http.StatusNotFound
	case CodeServiceQuotaExceeded:
		return http.StatusPaymentRequired
	case CodeThrottling:
		return http.StatusTooManyRequests
	case CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case CodeRequestEntityTooLarge:
		return http.StatusRequestEntityTooLarge
	default:
		return http.StatusBadRequest
	}
}

// shortCode strips a Smithy namespace ("ns#Name" -> "Name").
func (e *APIError) shortCode() string {
	code := e.Code
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if code == "" {
		code = CodeInternalServer
	}
	return code
}

// body returns the error members (without "__type").
func (e *APIError) body(requestID string) obj {
	m := obj{"message": e.Message}
	if requestID != "" {
		m["requestId"] = requestID
	}
	if e.Reason != "" {
		m["reason"] = e.Reason
	}
	if len(e.Fields) > 0 {
		fields := make([]any, len(e.Fields))
		for i, f := range e.Fields {
			fields[i] = obj{"name": f.Name, "message": f.Message}
		}
		m["fields"] = fields
	}
	if e.ResourceID != "" {
		m["resourceId"] = e.ResourceID
	}
	if e.ResourceType != "" {
		m["resourceType"] = e.ResourceType
	}
	return m
}

func validationError(reason, field, msg string) *APIError {
	e := &APIError{Code: CodeValidation, Status: http.StatusBadRequest, Message: msg, Reason: reason}
	if field != "" {
		e.Fields = []FieldError{{Name: field, Message: msg}}
	}
	return e
}

func serializationError(format string, args ...any) *APIError {
	return &APIError{Code: CodeSerialization, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func notFound(id string) *APIError {
	return &APIError{
		Code:         CodeResourceNotFound,
		Status:       http.StatusNotFound,
		Message:      fmt.Sprintf("Agreement %s not found", id),
		ResourceID:   id,
		ResourceType: "Agreement",
	}
}
