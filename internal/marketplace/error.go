// Package marketplace holds Concord's domain: buyers, products, agreements and
// licenses as AWS Marketplace defines them, the events that change them, and the
// rules that fold those events into a ledger. It imports no database, HTTP or AWS
// package so the rules can be tested on their own.
package marketplace

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Error codes shared by every layer. HTTP status codes are chosen from them only at
// the edge (internal/httpapi), so the domain never speaks HTTP.
const (
	EConflict     = "conflict"
	EInternal     = "internal"
	EInvalid      = "invalid"
	ENotFound     = "not_found"
	EUnauthorized = "unauthorized"
	ETooLarge     = "too_large"
)

// Error is the one application error. Message is safe to show to a user; anything
// that is not an *Error is treated as internal and its text is only logged.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf builds a coded application error with a user-facing message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EInternal for uncoded errors and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user-facing message of err; uncoded errors get a generic
// message so internals never leak to callers.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// Clip shortens s to at most about n bytes for a message, cutting on a
// character boundary and marking the cut with an ellipsis.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
