package snsverify

import "errors"

// Sentinel errors. Every error returned by Parse, Message methods, Verify and
// VerifyBody wraps exactly one of these (with context added via %w), so that
// an HTTP handler can map failures to status codes with errors.Is without
// parsing messages. A typical mapping:
//
//	ErrMalformed                            -> 400 Bad Request
//	ErrBadCertURL, ErrBadSignature,
//	ErrStale, ErrTopicNotAllowed            -> 403 Forbidden
//	ErrCertFetch                            -> 502/503 (may be transient)
var (
	// ErrMalformed means the body is not a structurally valid SNS message
	// (too large, bad JSON, unknown type, missing or invalid fields). The
	// sender made a mistake or is not SNS; retrying will not help.
	ErrMalformed = errors.New("snsverify: malformed SNS message")

	// ErrBadCertURL means SigningCertURL is not an https URL on an allowed
	// SNS host. Fetching it could let an attacker supply their own key, so
	// the message is rejected without any network access.
	ErrBadCertURL = errors.New("snsverify: untrusted signing certificate URL")

	// ErrCertFetch means the signing certificate could not be retrieved or
	// is not a usable RSA certificate. The failure is not cached, so a
	// later delivery retries the fetch.
	ErrCertFetch = errors.New("snsverify: signing certificate unavailable")

	// ErrBadSignature means the signature does not verify against the
	// certificate, cannot be decoded, or the certificate is not valid at
	// the current time: the message was not (provably) sent by SNS or was
	// modified in transit.
	ErrBadSignature = errors.New("snsverify: invalid SNS signature")

	// ErrStale means the message Timestamp is older than the verifier's
	// MaxAge (or implausibly far in the future), which limits replay of
	// captured, validly signed messages.
	ErrStale = errors.New("snsverify: message timestamp outside accepted window")

	// ErrTopicNotAllowed means the message comes from a topic this
	// endpoint does not serve. SNS signs messages from every topic in
	// every account, so a valid signature alone does not mean the message
	// is meant for Concord.
	ErrTopicNotAllowed = errors.New("snsverify: topic not allowed")
)
