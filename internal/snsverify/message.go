// Package snsverify authenticates Amazon SNS HTTP(S) deliveries.
//
// Concord still accepts AWS Marketplace events on a legacy SNS HTTP(S)
// endpoint. That endpoint is reachable from the internet, so a request body
// that merely looks like an SNS message proves nothing: anyone could post a
// forged "subscription cancelled" or "entitlement updated" event. SNS signs
// every delivery with an RSA key whose X.509 certificate it publishes on an
// AWS-owned HTTPS host; this package rebuilds the canonical string SNS signed,
// checks that the certificate URL really points at AWS, fetches (and caches)
// the certificate and verifies the signature, the message age and the topic.
//
// The package also contains a [Signer] that produces messages in exactly the
// same format with a throw-away key, so that Concord's built-in AWS emulator
// and the tests can exercise the real verification path end to end instead
// of bypassing it.
package snsverify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// MaxBodySize is the largest request body Parse accepts (256 KiB). SNS
// messages are limited to 256 KiB of payload, so anything larger is not a
// genuine delivery and is rejected before any JSON decoding work is spent on
// it. Handlers should also cap their reads (e.g. with http.MaxBytesReader) at
// a little more than this.
const MaxBodySize = 256 << 10

// Message types SNS sends to HTTP(S) subscribers. They select which fields
// are required and which fields are covered by the signature.
const (
	// TypeNotification is an ordinary published message.
	TypeNotification = "Notification"
	// TypeSubscriptionConfirmation asks the endpoint to confirm a new
	// subscription by visiting SubscribeURL.
	TypeSubscriptionConfirmation = "SubscriptionConfirmation"
	// TypeUnsubscribeConfirmation tells the endpoint that it was
	// unsubscribed; SubscribeURL can be used to re-subscribe.
	TypeUnsubscribeConfirmation = "UnsubscribeConfirmation"
)

// Signature versions SNS uses. They select the digest used with RSA
// PKCS#1 v1.5; both are still in use, so both are accepted.
const (
	// SignatureVersion1 is SHA1withRSA, the SNS default.
	SignatureVersion1 = "1"
	// SignatureVersion2 is SHA256withRSA, used by topics configured with
	// SignatureVersion 2.
	SignatureVersion2 = "2"
)

// timestampLayout is the SNS timestamp format: ISO 8601, UTC, milliseconds.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// FormatTimestamp renders t the way SNS writes the Timestamp field
// (e.g. 2026-03-02T15:04:05.123Z), so that the emulator and tests produce
// messages indistinguishable from real ones.
func FormatTimestamp(t time.Time) string {
	return t.UTC().Format(timestampLayout)
}

// MessageAttribute is one entry of an SNS message's MessageAttributes. It is
// decoded so that handlers can read attributes, but note that SNS does not
// include attributes in the signed string: they are not authenticated.
type MessageAttribute struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

// Message is the JSON envelope SNS POSTs to HTTP(S) subscribers. Field names
// follow Go conventions; the JSON tags are exactly the names SNS uses, so the
// struct can be both decoded from and encoded to the wire format (the
// emulator marshals it directly).
//
// Only Message, MessageId, Subject, Timestamp, TopicArn, Type and, for the
// confirmation types, SubscribeURL and Token are covered by the signature.
// UnsubscribeURL and MessageAttributes are not authenticated by SNS and must
// not be trusted for anything security relevant.
type Message struct {
	// Type is one of the Type* constants.
	Type string `json:"Type"`
	// MessageID is the unique SNS message id; useful for de-duplication
	// because SNS delivers at least once.
	MessageID string `json:"MessageId"`
	// TopicArn is the topic the message was published to.
	TopicArn string `json:"TopicArn"`
	// Subject is optional and only present on notifications published with
	// a subject. It is a pointer because presence matters: a present
	// subject (even an empty one) is part of the signed string, an absent
	// (or JSON null) one is not.
	Subject *string `json:"Subject,omitempty"`
	// Message is the payload (for Marketplace, itself a JSON document).
	Message string `json:"Message"`
	// Timestamp is when SNS published the message, kept as the exact
	// string SNS sent because that string is what was signed. Use Time to
	// get it as a time.Time.
	Timestamp string `json:"Timestamp"`
	// SignatureVersion is SignatureVersion1 or SignatureVersion2.
	SignatureVersion string `json:"SignatureVersion"`
	// Signature is the base64 RSA signature over StringToSign.
	Signature string `json:"Signature"`
	// SigningCertURL is where the signing certificate is published. It is
	// attacker controlled until checked, which is why Verifier restricts
	// its scheme and host before fetching it.
	SigningCertURL string `json:"SigningCertURL"`
	// UnsubscribeURL is sent with notifications. Not signed.
	UnsubscribeURL string `json:"UnsubscribeURL,omitempty"`
	// Token is the confirmation token (confirmation types only).
	Token string `json:"Token,omitempty"`
	// SubscribeURL confirms (or re-creates) the subscription when fetched
	// (confirmation types only).
	SubscribeURL string `json:"SubscribeURL,omitempty"`
	// MessageAttributes are optional publisher attributes. Not signed.
	MessageAttributes map[string]MessageAttribute `json:"MessageAttributes,omitempty"`
}

// Parse decodes an SNS request body and checks that it is structurally a
// valid SNS message, so that handlers and Verify only ever see well-formed
// input. It rejects bodies larger than MaxBodySize, invalid JSON, unknown
// types, missing required fields for the type, unparsable timestamps,
// unknown signature versions and line breaks in single-line fields (which
// could otherwise make the newline-delimited signed string ambiguous). All
// errors wrap ErrMalformed. Parse does not verify the signature; call
// Verifier.Verify (or use Verifier.VerifyBody) before trusting the result.
func Parse(body []byte) (*Message, error) {
	if len(body) > MaxBodySize {
		return nil, fmt.Errorf("%w: body is %d bytes, limit is %d", ErrMalformed, len(body), MaxBodySize)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: invalid JSON: %w", ErrMalformed, err)
	}
	if err := m.check(true); err != nil {
		return nil, err
	}
	return &m, nil
}

// Time returns the parsed Timestamp, so callers (and Verify's freshness
// check) do not each re-implement SNS timestamp parsing.
func (m *Message) Time() (time.Time, error) {
	ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: Timestamp %q is not ISO 8601: %w", ErrMalformed, clip(m.Timestamp), err)
	}
	return ts, nil
}

// StringToSign returns the canonical string SNS signs for this message:
// "Key\nValue\n" for each signed field in SNS's fixed order (Notification:
// Message, MessageId, Subject if present, Timestamp, TopicArn, Type;
// confirmations: Message, MessageId, SubscribeURL, Timestamp, Token,
// TopicArn, Type). It is exported so the Signer, the emulator and debugging
// tools all use the one implementation the Verifier checks against. It fails
// (with ErrMalformed) if the type is unknown or a signed field is missing,
// because signing or verifying an incomplete message would be meaningless.
func (m *Message) StringToSign() (string, error) {
	if err := m.check(false); err != nil {
		return "", err
	}
	var b strings.Builder
	add := func(key, value string) {
		b.WriteString(key)
		b.WriteByte('\n')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	add("Message", m.Message)
	add("MessageId", m.MessageID)
	if m.Type == TypeNotification {
		if m.Subject != nil {
			add("Subject", *m.Subject)
		}
		add("Timestamp", m.Timestamp)
		add("TopicArn", m.TopicArn)
		add("Type", m.Type)
		return b.String(), nil
	}
	add("SubscribeURL", m.SubscribeURL)
	add("Timestamp", m.Timestamp)
	add("Token", m.Token)
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String(), nil
}

// check validates the message. With signed=false only the fields that make
// up the string to sign are checked (used before signing); with signed=true
// the signature fields must be present and valid too.
func (m *Message) check(signed bool) error {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrMalformed)
	}
	confirmation := false
	switch m.Type {
	case "":
		return fmt.Errorf("%w: missing Type", ErrMalformed)
	case TypeNotification:
	case TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation:
		confirmation = true
	default:
		return fmt.Errorf("%w: unknown Type %q", ErrMalformed, clip(m.Type))
	}

	type field struct{ name, value string }
	fields := []field{
		{"Message", m.Message},
		{"MessageId", m.MessageID},
		{"Timestamp", m.Timestamp},
		{"TopicArn", m.TopicArn},
	}
	if confirmation {
		fields = append(fields, field{"SubscribeURL", m.SubscribeURL}, field{"Token", m.Token})
	}
	if signed {
		fields = append(fields,
			field{"SignatureVersion", m.SignatureVersion},
			field{"Signature", m.Signature},
			field{"SigningCertURL", m.SigningCertURL})
	}
	var missing []string
	for _, f := range fields {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s is missing required fields: %s", ErrMalformed, m.Type, strings.Join(missing, ", "))
	}

	// Every signed field except Message is single-line in real SNS
	// messages (SNS forbids line breaks in subjects). Enforcing that keeps
	// the newline-delimited string to sign unambiguous: a publisher cannot
	// smuggle "\nTopicArn\n..." into a field to shift the boundaries.
	singleLine := []field{
		{"MessageId", m.MessageID},
		{"Timestamp", m.Timestamp},
		{"TopicArn", m.TopicArn},
	}
	if m.Subject != nil && !confirmation {
		singleLine = append(singleLine, field{"Subject", *m.Subject})
	}
	if confirmation {
		singleLine = append(singleLine, field{"SubscribeURL", m.SubscribeURL}, field{"Token", m.Token})
	}
	for _, f := range singleLine {
		if strings.ContainsAny(f.value, "\r\n") {
			return fmt.Errorf("%w: %s contains a line break", ErrMalformed, f.name)
		}
	}

	if _, err := m.Time(); err != nil {
		return err
	}
	if signed {
		if _, ok := hashFor(m.SignatureVersion); !ok {
			return fmt.Errorf("%w: unsupported SignatureVersion %q", ErrMalformed, clip(m.SignatureVersion))
		}
	}
	return nil
}

// clip shortens attacker-supplied strings before they are echoed into error
// messages and logs.
func clip(s string) string {
	const maxLen = 64
	if len(s) <= maxLen {
		return s
	}
	return s[:maxLen] + "..."
}
