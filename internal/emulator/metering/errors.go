package metering

import (
	"fmt"
	"net/http"
)

// Error codes: the short names of the service's error shapes (what the SDK
// resolves to its typed errors) and of the protocol-level errors AWS's JSON
// front end returns for requests that never reach the service.
const (
	CodeCustomerNotEntitled       = "CustomerNotEntitledException"
	CodeDuplicateRequest          = "DuplicateRequestException"
	CodeExpiredToken              = "ExpiredTokenException"
	CodeIdempotencyConflict       = "IdempotencyConflictException"
	CodeInternalServiceError      = "InternalServiceErrorException"
	CodeInvalidCustomerIdentifier = "InvalidCustomerIdentifierException"
	CodeInvalidLicense            = "InvalidLicenseException"
	CodeInvalidProductCode        = "InvalidProductCodeException"
	CodeInvalidTag                = "InvalidTagException"
	CodeInvalidToken              = "InvalidTokenException"
	CodeInvalidUsageAllocations   = "InvalidUsageAllocationsException"
	CodeInvalidUsageDimension     = "InvalidUsageDimensionException"
	CodePlatformNotSupported      = "PlatformNotSupportedException"
	CodeThrottling                = "ThrottlingException"
	CodeTimestampOutOfBounds      = "TimestampOutOfBoundsException"

	// Protocol-level (not modeled by the service; the SDK surfaces them as
	// *smithy.GenericAPIError with this code).
	CodeSerialization    = "SerializationException"
	CodeValidation       = "ValidationException"
	CodeUnknownOperation = "UnknownOperationException"
)

// apiError is an error answer: a code, an HTTP status and a message.
type apiError struct {
	code   string
	status int
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func newError(code string, format string, args ...any) *apiError {
	status := http.StatusBadRequest
	switch code {
	case CodeInternalServiceError:
		status = http.StatusInternalServerError
	case CodeIdempotencyConflict:
		status = http.StatusConflict
	}
	return &apiError{code: code, status: status, msg: fmt.Sprintf(format, args...)}
}
