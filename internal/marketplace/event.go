package marketplace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// EventKind says what an inbox event does to the ledger. Only the kinds with a
// ledger effect are folded; the others are stored so nothing AWS sent is lost.
type EventKind string

// Event kinds. The Purchase Agreement and License kinds change the ledger; the
// informational kinds are kept for other features (offers, notifications); Unknown
// marks a detail-type Concord does not know, which is stored and flagged.
const (
	KindAgreementCreated     EventKind = "agreement_created"
	KindAgreementAmended     EventKind = "agreement_amended"
	KindAgreementEnded       EventKind = "agreement_ended"
	KindAgreementDescribed   EventKind = "agreement_described"
	KindLicenseUpdated       EventKind = "license_updated"
	KindLicenseDeprovisioned EventKind = "license_deprovisioned"
	// KindLicenseImported is Concord's own record of a license learnt by a
	// backfill (GetEntitlements or AWS's mapping CSV) rather than from an event.
	// Real License events always take precedence over it.
	KindLicenseImported EventKind = "license_imported"
	// KindAgreementLinked is Concord's own record that an agreement follows
	// another when AWS's events do not say so: a renewal by a new offer
	// (intent NEW) that a Concord offer made to renew the agreement it names.
	// AWS's own previousAgreementId always takes precedence over it.
	KindAgreementLinked EventKind = "agreement_linked"
	KindInformational   EventKind = "informational"
	KindUnknown         EventKind = "unknown"

	// Legacy SNS actions (products that have not opted in to Concurrent Agreements).
	KindSubscribeSuccess    EventKind = "subscribe_success"
	KindSubscribeFail       EventKind = "subscribe_fail"
	KindUnsubscribePending  EventKind = "unsubscribe_pending"
	KindUnsubscribeSuccess  EventKind = "unsubscribe_success"
	KindEntitlementUpdated  EventKind = "entitlement_updated"
	KindSubscriptionConfirm EventKind = "sns_subscription_confirmation"
)

// Event sources as AWS names them.
const (
	SourceAgreement = "aws.agreement-marketplace"
	SourceCatalog   = "aws.marketplacecatalog"
	SourceBilling   = "aws.marketplace"
	// SourceConcord marks facts Concord synthesised itself (enrichment).
	SourceConcord = "concord"
)

// MaxEventSize bounds one event body. EventBridge caps events at 256 KiB.
const MaxEventSize = 256 << 10

// informationalTypes are detail-types AWS documents for sellers that do not change
// the agreement and license ledger.
var informationalTypes = map[string]bool{
	"Purchase Agreement Advisory Issued - Manufacturer":              true,
	"Purchase Agreement Advisory Resolved - Manufacturer":            true,
	"Purchase Agreement Ending - Proposer":                           true,
	"Purchase Agreement Renewal Terms Finalized - Proposer":          true,
	"Purchase Agreement Renewal Upcoming - Proposer":                 true,
	"Agreement Cancellation Request Pending Approval - Proposer":     true,
	"Agreement Cancellation Request Approved - Proposer":             true,
	"Agreement Cancellation Request Rejected - Proposer":             true,
	"Agreement Cancellation Request Cancelled - Proposer":            true,
	"Agreement Cancellation Request Validation Failed - Proposer":    true,
	"Agreement Cancellation Request Pending Approval - Manufacturer": true,
	"Agreement Cancellation Request Approved - Manufacturer":         true,
	"Agreement Cancellation Request Rejected - Manufacturer":         true,
	"Agreement Cancellation Request Cancelled - Manufacturer":        true,
	"Purchase Agreement Billing Adjustment Completed - Proposer":     true,
	"Purchase Agreement Billing Adjustment Failed - Proposer":        true,
	"Offer Released":                   true,
	"OfferSet Released":                true,
	"Change Set Succeeded":             true,
	"Change Set Failed":                true,
	"Change Set Cancelled":             true,
	"Products Security Report Created": true,
	"Disbursement Paused":              true,
}

// Event is one marketplace event as it sits in the inbox: the raw body plus the few
// fields Concord indexes and folds. It comes from EventBridge (HTTP or SQS), from a
// legacy SNS message, or from Concord's own enrichment.
type Event struct {
	ID         string    // envelope id (EventBridge id, SNS MessageId)
	RequestID  string    // detail.requestId: AWS's dedupe key across envelopes
	Source     string    // aws.agreement-marketplace, ...
	DetailType string    // exact detail-type string
	Kind       EventKind // what it does to the ledger
	Time       time.Time // when AWS says it happened
	Body       []byte    // the event exactly as received
	Fact       Fact      // the ledger-relevant content
}

// Fact is the ledger-relevant content of one event, normalised across event shapes
// so the fold does not care where it came from.
type Fact struct {
	EventID               string     `json:"eventId"`
	Kind                  EventKind  `json:"kind"`
	Time                  time.Time  `json:"time"`
	Role                  string     `json:"role,omitempty"` // Proposer or Manufacturer
	AgreementID           string     `json:"agreementId,omitempty"`
	PreviousAgreementID   string     `json:"previousAgreementId,omitempty"`
	InitialAgreementID    string     `json:"initialAgreementId,omitempty"`
	Intent                string     `json:"intent,omitempty"`
	Status                string     `json:"status,omitempty"`
	AcceptanceTime        *time.Time `json:"acceptanceTime,omitempty"`
	StartTime             *time.Time `json:"startTime,omitempty"`
	EndTime               *time.Time `json:"endTime,omitempty"`
	AutoRenewal           *bool      `json:"autoRenewal,omitempty"`
	AcceptorAccountID     string     `json:"acceptorAccountId,omitempty"`
	ProposerAccountID     string     `json:"proposerAccountId,omitempty"`
	ReceiverAccountID     string     `json:"receiverAccountId,omitempty"`
	ResaleAuthorizationID string     `json:"resaleAuthorizationId,omitempty"`
	OfferID               string     `json:"offerId,omitempty"`
	ProductID             string     `json:"productId,omitempty"`
	ProductCode           string     `json:"productCode,omitempty"`
	ProductTitle          string     `json:"productTitle,omitempty"`
	LicenseArn            string     `json:"licenseArn,omitempty"`
	CustomerIdentifier    string     `json:"customerIdentifier,omitempty"`
	FreeTrial             bool       `json:"freeTrial,omitempty"`
	// Lifecycle is set for the lifecycle kinds (IsLifecycleKind).
	Lifecycle *LifecycleFact `json:"lifecycle,omitempty"`
}

// decodeEnvelope decodes body, which must be one JSON value and nothing else
// but whitespace. Almost every body is: json.Unmarshal decodes it as a
// Decoder would, without copying it into the Decoder's buffer. Any other
// body goes the Decoder's way, which tells trailing data from invalid JSON.
func decodeEnvelope(body []byte) (ebEnvelope, error) {
	var env ebEnvelope
	if json.Unmarshal(body, &env) == nil {
		return env, nil
	}
	return decodeEnvelopeByDecoder(body)
}

// decodeEnvelopeByDecoder decodes with a json.Decoder, whose errors say what
// is wrong with a body json.Unmarshal refused.
func decodeEnvelopeByDecoder(body []byte) (ebEnvelope, error) {
	var env ebEnvelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return env, Errorf(EInvalid, "event is not valid JSON: %v", err)
	}
	// Decoder.More reports false for a stray '}' or ']', so check the rest of the
	// body directly: only JSON whitespace may follow the object.
	if rest := bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return env, Errorf(EInvalid, "event has trailing data after the JSON object")
	}
	return env, nil
}

// ebEnvelope is the standard EventBridge envelope.
type ebEnvelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

type idRef struct {
	ID *string `json:"id"`
}

type ebDetail struct {
	RequestID string `json:"requestId"`
	Agreement struct {
		ID                  string `json:"id"`
		Intent              string `json:"intent"`
		Status              string `json:"status"`
		AcceptanceTime      string `json:"acceptanceTime"`
		StartTime           string `json:"startTime"`
		EndTime             string `json:"endTime"`
		PreviousAgreementID string `json:"previousAgreementId"`
		AutoRenewalEnabled  *bool  `json:"autoRenewalEnabled"`
	} `json:"agreement"`
	ResaleAuthorization *idRef `json:"resaleAuthorization"`
	Acceptor            struct {
		AccountID string `json:"accountId"`
	} `json:"acceptor"`
	Proposer struct {
		AccountID string `json:"accountId"`
	} `json:"proposer"`
	Offer struct {
		ID string `json:"id"`
	} `json:"offer"`
	Product struct {
		ID    string `json:"id"`
		Code  string `json:"code"`
		Title string `json:"title"`
	} `json:"product"`
	License struct {
		Arn string `json:"arn"`
	} `json:"license"`
}

// ParseEventBridge parses one EventBridge event. It rejects malformed input with an
// EInvalid error; an unknown detail-type is not an error (the event is kept and
// flagged as KindUnknown), but an agreement event missing its agreement id is.
func ParseEventBridge(body []byte) (Event, error) {
	if len(body) > MaxEventSize {
		return Event{}, Errorf(ETooLarge, "event is %d bytes; the limit is %d", len(body), MaxEventSize)
	}
	if !utf8.Valid(body) {
		return Event{}, Errorf(EInvalid, "event is not valid UTF-8")
	}
	env, err := decodeEnvelope(body)
	if err != nil {
		return Event{}, err
	}
	switch {
	case env.ID == "":
		return Event{}, Errorf(EInvalid, "event has no id")
	case env.DetailType == "":
		return Event{}, Errorf(EInvalid, "event %s has no detail-type", env.ID)
	case env.Source == "":
		return Event{}, Errorf(EInvalid, "event %s has no source", env.ID)
	case len(env.ID) > 256 || len(env.DetailType) > 256 || len(env.Source) > 256:
		return Event{}, Errorf(EInvalid, "event id, source or detail-type is too long")
	case !Storable(env.ID) || !Storable(env.DetailType) || !Storable(env.Source):
		return Event{}, Errorf(EInvalid, "event id, source or detail-type contains a NUL character")
	}
	t, err := parseTime(env.Time)
	if err != nil || t == nil {
		return Event{}, Errorf(EInvalid, "event %s has an invalid time %q", env.ID, env.Time)
	}
	ev := Event{ID: env.ID, Source: env.Source, DetailType: env.DetailType, Time: *t, Body: body}
	var d ebDetail
	if len(env.Detail) > 0 && string(env.Detail) != "null" {
		if err := json.Unmarshal(env.Detail, &d); err != nil {
			return Event{}, Errorf(EInvalid, "event %s has an invalid detail: %v", env.ID, err)
		}
	}
	if !Storable(d.RequestID) || len(d.RequestID) > 256 {
		return Event{}, Errorf(EInvalid, "event %s has an invalid detail.requestId", env.ID)
	}
	ev.RequestID = d.RequestID
	ev.Kind, ev.Fact.Role = classify(env.Source, env.DetailType)
	base, role := splitRole(env.DetailType)
	lcKind, lcStatus, isLifecycle := lifecycleKind(env.Source, base, role)
	if isLifecycle {
		ev.Kind = lcKind
	}
	f := &ev.Fact
	f.EventID, f.Kind, f.Time = ev.ID, ev.Kind, ev.Time
	f.ReceiverAccountID = env.Account
	f.AgreementID = d.Agreement.ID
	f.Intent = strings.ToUpper(d.Agreement.Intent)
	f.Status = strings.ToUpper(d.Agreement.Status)
	f.PreviousAgreementID = d.Agreement.PreviousAgreementID
	f.AutoRenewal = d.Agreement.AutoRenewalEnabled
	f.AcceptorAccountID = d.Acceptor.AccountID
	f.ProposerAccountID = d.Proposer.AccountID
	if d.ResaleAuthorization != nil && d.ResaleAuthorization.ID != nil {
		f.ResaleAuthorizationID = *d.ResaleAuthorization.ID
	}
	f.OfferID, f.ProductID, f.ProductCode, f.ProductTitle = d.Offer.ID, d.Product.ID, d.Product.Code, d.Product.Title
	f.LicenseArn = strings.TrimSpace(d.License.Arn)
	for _, p := range []struct {
		s   string
		dst **time.Time
	}{{d.Agreement.AcceptanceTime, &f.AcceptanceTime}, {d.Agreement.StartTime, &f.StartTime}, {d.Agreement.EndTime, &f.EndTime}} {
		tt, err := parseTime(p.s)
		if err != nil {
			return Event{}, Errorf(EInvalid, "event %s has an invalid agreement time %q", env.ID, p.s)
		}
		*p.dst = tt
	}
	if err := f.validate(); err != nil {
		return Event{}, Errorf(EInvalid, "event %s (%s): %s", env.ID, env.DetailType, err.Message)
	}
	if isLifecycle {
		if err := parseLifecycle(f, lcStatus, env.Detail); err != nil {
			return Event{}, Errorf(EInvalid, "event %s (%s): %s", env.ID, env.DetailType, err.Message)
		}
	}
	return ev, nil
}

// validate checks the fields each kind needs to be folded.
func (f *Fact) validate() *Error {
	switch f.Kind {
	case KindAgreementCreated, KindAgreementAmended, KindAgreementEnded, KindAgreementDescribed:
		if f.AgreementID == "" {
			return Errorf(EInvalid, "detail.agreement.id is required")
		}
	case KindLicenseUpdated, KindLicenseDeprovisioned:
		if f.AgreementID == "" {
			return Errorf(EInvalid, "detail.agreement.id is required")
		}
		if f.LicenseArn == "" {
			return Errorf(EInvalid, "detail.license.arn is required")
		}
	}
	for _, s := range []string{f.AgreementID, f.PreviousAgreementID, f.LicenseArn, f.OfferID, f.ProductID, f.ProductCode, f.AcceptorAccountID,
		f.ProposerAccountID, f.ResaleAuthorizationID, f.ReceiverAccountID, f.Intent, f.Status, f.ProductTitle, f.CustomerIdentifier} {
		if len(s) > 2048 {
			return Errorf(EInvalid, "an identifier is longer than 2048 characters")
		}
		if !Storable(s) {
			return Errorf(EInvalid, "an identifier contains a NUL character or invalid UTF-8")
		}
	}
	if f.Kind == KindAgreementEnded && f.Status != "" && !IsTerminalStatus(f.Status) {
		return Errorf(EInvalid, "agreement.status %q is not an ended status", f.Status)
	}
	return nil
}

// Storable reports whether s can be stored as text by every database Concord
// runs on: PostgreSQL refuses NUL characters and invalid UTF-8, so such input is
// rejected at the door instead of failing (and being redelivered) forever.
func Storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// splitRole splits "Purchase Agreement Created - Proposer" into its base and role.
func splitRole(detailType string) (base, role string) {
	base = detailType
	if i := strings.LastIndex(detailType, " - "); i > 0 {
		base, role = detailType[:i], detailType[i+3:]
	}
	return base, role
}

// classify maps a detail-type to its kind and the role suffix.
func classify(source, detailType string) (EventKind, string) {
	base, role := splitRole(detailType)
	if source == SourceAgreement && (role == "Proposer" || role == "Manufacturer") {
		switch base {
		case "Purchase Agreement Created":
			return KindAgreementCreated, role
		case "Purchase Agreement Amended":
			return KindAgreementAmended, role
		case "Purchase Agreement Ended":
			return KindAgreementEnded, role
		}
		if role == "Manufacturer" {
			switch base {
			case "License Updated":
				return KindLicenseUpdated, role
			case "License Deprovisioned":
				return KindLicenseDeprovisioned, role
			}
		}
	}
	if informationalTypes[detailType] && (source == SourceAgreement || source == SourceCatalog || source == SourceBilling) {
		return KindInformational, role
	}
	return KindUnknown, role
}

func parseTime(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, err
	}
	t = t.UTC()
	if t.Year() < 0 || t.Year() > 9999 {
		// A zone offset can push 0000-01-01 or 9999-12-31 out of the range the
		// stored fact's JSON (and RFC 3339) can represent.
		return nil, fmt.Errorf("time %q is out of range in UTC", s)
	}
	return &t, nil
}

// LicenseID returns the trailing license id ("l-…") of a LicenseArn. AWS documents
// several ARN spellings for the same license (see the API reference), so Concord
// correlates licenses on this id, never on the whole string.
func LicenseID(arn string) string {
	arn = strings.TrimSpace(arn)
	if i := strings.LastIndexAny(arn, ":/"); i >= 0 {
		// Trim again: the part after the separator may start with a space.
		return strings.TrimSpace(arn[i+1:])
	}
	return arn
}

// snsAction is the JSON body AWS Marketplace puts in the SNS Message field.
type snsAction struct {
	Action             string `json:"action"`
	CustomerIdentifier string `json:"customer-identifier"`
	ProductCode        string `json:"product-code"`
	OfferIdentifier    string `json:"offer-identifier"`
	FreeTrial          any    `json:"isFreeTrialTermPresent"`
}

// ParseSNSAction turns the Message of a verified legacy SNS notification into an
// inbox event keyed by the SNS MessageId. Legacy messages carry no LicenseArn and no
// account id, so they fold into subscriptions keyed by CustomerIdentifier.
func ParseSNSAction(messageID, topicArn, message string, ts time.Time) (Event, error) {
	var m snsAction
	if err := json.Unmarshal([]byte(message), &m); err != nil {
		return Event{}, Errorf(EInvalid, "SNS message %s is not a marketplace action: %v", messageID, err)
	}
	kinds := map[string]EventKind{
		"subscribe-success":   KindSubscribeSuccess,
		"subscribe-fail":      KindSubscribeFail,
		"unsubscribe-pending": KindUnsubscribePending,
		"unsubscribe-success": KindUnsubscribeSuccess,
		"entitlement-updated": KindEntitlementUpdated,
	}
	kind, ok := kinds[m.Action]
	if !ok {
		kind = KindUnknown
	} else if m.CustomerIdentifier == "" || m.ProductCode == "" {
		return Event{}, Errorf(EInvalid, "SNS message %s lacks customer-identifier or product-code", messageID)
	}
	if !utf8.ValidString(message) || !Storable(messageID) || !Storable(topicArn) || !Storable(m.CustomerIdentifier) || !Storable(m.ProductCode) || !Storable(m.OfferIdentifier) {
		return Event{}, Errorf(EInvalid, "SNS message %s contains a NUL character or invalid UTF-8", messageID)
	}
	if len(m.CustomerIdentifier) > 255 || len(m.ProductCode) > 255 || len(m.OfferIdentifier) > 255 {
		return Event{}, Errorf(EInvalid, "SNS message %s has an identifier longer than 255 characters", messageID)
	}
	ev := Event{ID: messageID, Source: "aws.sns:" + topicArn, DetailType: "SNS " + m.Action, Kind: kind, Time: ts.UTC(), Body: []byte(message)}
	ev.Fact = Fact{EventID: messageID, Kind: kind, Time: ev.Time, CustomerIdentifier: m.CustomerIdentifier,
		ProductCode: m.ProductCode, OfferID: m.OfferIdentifier}
	switch v := m.FreeTrial.(type) {
	case string:
		ev.Fact.FreeTrial = strings.EqualFold(v, "true")
	case bool:
		ev.Fact.FreeTrial = v
	}
	return ev, nil
}

// IsLedgerKind reports whether events of kind k change the agreement and license
// ledger (as opposed to legacy subscriptions or informational events).
func IsLedgerKind(k EventKind) bool {
	switch k {
	case KindAgreementCreated, KindAgreementAmended, KindAgreementEnded, KindAgreementDescribed,
		KindLicenseUpdated, KindLicenseDeprovisioned, KindLicenseImported, KindAgreementLinked:
		return true
	}
	return false
}

// IsSubscriptionKind reports whether events of kind k change a legacy subscription.
func IsSubscriptionKind(k EventKind) bool {
	switch k {
	case KindSubscribeSuccess, KindSubscribeFail, KindUnsubscribePending, KindUnsubscribeSuccess, KindEntitlementUpdated:
		return true
	}
	return false
}
