package sqs

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrQueueDoesNotExist is matched (errors.Is) by errors returned from the
// in-process methods when the queue is unknown.
var ErrQueueDoesNotExist = errors.New("sqs: queue does not exist")

const (
	nsSQS   = "com.amazonaws.sqs"
	nsCoral = "com.amazon.coral.service"
)

// apiError is an error as it goes over the wire.
type apiError struct {
	status    int
	namespace string // of __type
	typ       string // shape name, the part of __type after '#'
	queryCode string // x-amzn-query-error code, "" to omit the header
	sender    bool   // fault: Sender (true) or Receiver
	msg       string
}

func (e *apiError) Error() string { return e.code() + ": " + e.msg }

// Unwrap lets errors.Is(err, ErrQueueDoesNotExist) work for Go callers.
func (e *apiError) Unwrap() error {
	if e.typ == "QueueDoesNotExist" {
		return ErrQueueDoesNotExist
	}
	return nil
}

// code is the code a query-compatible client reports (and the code used in
// batch Failed entries).
func (e *apiError) code() string {
	if e.queryCode != "" {
		return e.queryCode
	}
	return e.typ
}

func (e *apiError) headerValue() string {
	if e.queryCode == "" {
		return ""
	}
	if e.sender {
		return e.queryCode + ";Sender"
	}
	return e.queryCode + ";Receiver"
}

// sqsErr builds a client error whose shape lives in the SQS namespace.
func sqsErr(typ, queryCode, format string, args ...any) *apiError {
	return &apiError{
		status:    http.StatusBadRequest,
		namespace: nsSQS,
		typ:       typ,
		queryCode: queryCode,
		sender:    true,
		msg:       fmt.Sprintf(format, args...),
	}
}

func errQueueDoesNotExist() *apiError {
	return sqsErr("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
		"The specified queue does not exist.")
}

func errQueueNameExists(attr string) *apiError {
	return sqsErr("QueueNameExists", "QueueAlreadyExists",
		"A queue already exists with the same name and a different value for attribute %s", attr)
}

func errInvalidParameterValue(format string, args ...any) *apiError {
	return sqsErr("InvalidParameterValue", "InvalidParameterValue", format, args...)
}

func errMissingParameter(name string) *apiError {
	return sqsErr("MissingParameter", "MissingParameter",
		"The request must contain the parameter %s.", name)
}

func errInvalidAddress(addr string) *apiError {
	return sqsErr("InvalidAddress", "InvalidAddress",
		"The address %s is not valid for this endpoint.", addr)
}

func errReceiptHandleIsInvalid(handle string) *apiError {
	if len(handle) > 128 {
		handle = handle[:128] + "..."
	}
	return sqsErr("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid",
		"The input receipt handle %q is not a valid receipt handle.", handle)
}

func errMessageNotInflight() *apiError {
	return sqsErr("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight",
		"The specified message isn't in flight.")
}

func errInvalidAttributeName(name string) *apiError {
	if len(name) > 128 {
		name = name[:128] + "..."
	}
	return sqsErr("InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s.", name)
}

func errInvalidAttributeValue(format string, args ...any) *apiError {
	return sqsErr("InvalidAttributeValue", "InvalidAttributeValue", format, args...)
}

func errInvalidMessageContents() *apiError {
	return sqsErr("InvalidMessageContents", "InvalidMessageContents",
		"Invalid binary character in the message body or attributes.")
}

func errEmptyBatchRequest() *apiError {
	return sqsErr("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
		"There should be at least one entry in the request.")
}

func errTooManyEntriesInBatchRequest(n int) *apiError {
	return sqsErr("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
		"Maximum number of entries per request are 10. You have sent %d.", n)
}

func errBatchEntryIdsNotDistinct(id string) *apiError {
	return sqsErr("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
		"Id %s repeated.", truncate(id, 80))
}

func errInvalidBatchEntryID() *apiError {
	return sqsErr("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
		"A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
}

func errBatchRequestTooLong(limit int) *apiError {
	return sqsErr("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong",
		"Batch requests cannot be longer than %d bytes.", limit)
}

func errUnsupportedOperation(op string) *apiError {
	return sqsErr("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation",
		"%s is not supported by the Concord SQS emulator.", op)
}

func errUnknownOperation() *apiError {
	return &apiError{
		status:    http.StatusBadRequest,
		namespace: nsCoral,
		typ:       "UnknownOperationException",
		sender:    true,
		msg:       "The requested operation is not recognized by the service.",
	}
}

func errSerialization(format string, args ...any) *apiError {
	return &apiError{
		status:    http.StatusBadRequest,
		namespace: nsCoral,
		typ:       "SerializationException",
		sender:    true,
		msg:       fmt.Sprintf(format, args...),
	}
}

func errRequestTooLarge(limit int64) *apiError {
	return &apiError{
		status:    http.StatusRequestEntityTooLarge,
		namespace: nsCoral,
		typ:       "RequestEntityTooLargeException",
		sender:    true,
		msg:       fmt.Sprintf("Request body must be at most %d bytes.", limit),
	}
}

func errMethodNotAllowed() *apiError {
	return &apiError{
		status:    http.StatusMethodNotAllowed,
		namespace: nsCoral,
		typ:       "UnknownOperationException",
		sender:    true,
		msg:       "Only POST requests are supported.",
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
