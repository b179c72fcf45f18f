// Package eventbridge builds AWS Marketplace EventBridge events in the exact
// envelopes and detail shapes AWS documents, for the emulator and for tests.
package eventbridge

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// Agreement describes the agreement an event is about.
type Agreement struct {
	ID                  string
	Intent              string // NEW, RENEW, REPLACE, AMEND
	Status              string // ACTIVE, or an ended status for Ended events
	AcceptanceTime      time.Time
	StartTime           time.Time
	EndTime             time.Time // zero for pay-as-you-go
	PreviousAgreementID string
	AutoRenewal         *bool
	// DisabledBy is who turned auto-renewal off (ACCEPTOR or PROPOSER),
	// AWS's renewalSummary.disabledBy; empty while it is on.
	DisabledBy            string
	ResaleAuthorizationID string // CPPO
	AcceptorAccountID     string
	ProposerAccountID     string
	OfferID               string
	ProductID             string
	ProductCode           string
	ProductTitle          string
}

// NewID returns a random UUID-shaped id, as AWS uses for event ids and requestIds.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func envelope(detailType, source, account string, at time.Time, resources []string, detail map[string]any) []byte {
	if resources == nil {
		resources = []string{}
	}
	b, err := json.Marshal(map[string]any{
		"version":     "0",
		"id":          NewID(),
		"detail-type": detailType,
		"source":      source,
		"account":     account,
		"time":        at.UTC().Format(time.RFC3339),
		"region":      "us-east-1",
		"resources":   resources,
		"detail":      detail,
	})
	if err != nil {
		panic(err) // only plain maps and strings: cannot fail
	}
	return b
}

func agreementARN(id string) string { return "arn:aws:aws-marketplace::aws:agreement:" + id }

func resale(a Agreement) map[string]any {
	if a.ResaleAuthorizationID == "" {
		return map[string]any{"id": nil}
	}
	return map[string]any{"id": a.ResaleAuthorizationID}
}

// Role is the suffix AWS puts on Purchase Agreement detail-types: the ISV selling
// direct gets Proposer events; an ISV whose product a partner resells (CPPO) gets
// Manufacturer events.
func Role(a Agreement) string {
	if a.ResaleAuthorizationID != "" {
		return "Manufacturer"
	}
	return "Proposer"
}

// Created builds "Purchase Agreement Created - <role>" as received by account.
func Created(account string, a Agreement, at time.Time) []byte {
	ag := map[string]any{"id": a.ID, "intent": a.Intent, "status": "ACTIVE",
		"acceptanceTime": ts(a.AcceptanceTime), "startTime": ts(a.StartTime)}
	if !a.EndTime.IsZero() {
		ag["endTime"] = ts(a.EndTime)
	}
	if a.PreviousAgreementID != "" {
		ag["previousAgreementId"] = a.PreviousAgreementID
	}
	d := map[string]any{"requestId": NewID(), "catalog": "AWSMarketplace", "agreement": ag, "resaleAuthorization": resale(a),
		"acceptor": map[string]any{"accountId": a.AcceptorAccountID}, "proposer": map[string]any{"accountId": a.ProposerAccountID},
		"offer": map[string]any{"id": a.OfferID}}
	if a.ProductID != "" {
		d["product"] = map[string]any{"id": a.ProductID, "title": a.ProductTitle}
	}
	return envelope("Purchase Agreement Created - "+Role(a), "aws.agreement-marketplace", account, at, []string{agreementARN(a.ID)}, d)
}

// Amended builds "Purchase Agreement Amended - <role>": a change to an
// existing agreement, same id, intent AMEND. As AWS's seller guide
// (notifications-eventbridge, "Events for agreements") documents, the
// Proposer variant carries agreement.autoRenewalEnabled, renewalSummary
// (lockoutStartTime, disabledBy) and product; the Manufacturer variant a
// CPPO's ISV receives carries neither. previousAgreementId is added when
// set, for tests of ledgers that must cope with it.
func Amended(account string, a Agreement, at time.Time) []byte {
	ag := map[string]any{"id": a.ID, "intent": "AMEND", "status": "ACTIVE",
		"acceptanceTime": ts(a.AcceptanceTime), "startTime": ts(a.StartTime)}
	if !a.EndTime.IsZero() {
		ag["endTime"] = ts(a.EndTime)
	}
	if a.PreviousAgreementID != "" {
		ag["previousAgreementId"] = a.PreviousAgreementID
	}
	d := map[string]any{"requestId": NewID(), "catalog": "AWSMarketplace", "agreement": ag, "resaleAuthorization": resale(a),
		"acceptor": map[string]any{"accountId": a.AcceptorAccountID}, "proposer": map[string]any{"accountId": a.ProposerAccountID},
		"offer": map[string]any{"id": a.OfferID}}
	if Role(a) == "Proposer" {
		if a.AutoRenewal != nil {
			ag["autoRenewalEnabled"] = *a.AutoRenewal
		}
		var by any
		if a.DisabledBy != "" && (a.AutoRenewal == nil || !*a.AutoRenewal) {
			by = a.DisabledBy
		}
		d["renewalSummary"] = map[string]any{"lockoutStartTime": nil, "disabledBy": by}
		if a.ProductID != "" {
			d["product"] = map[string]any{"id": a.ProductID, "title": a.ProductTitle}
		}
	}
	return envelope("Purchase Agreement Amended - "+Role(a), "aws.agreement-marketplace", account, at, []string{agreementARN(a.ID)}, d)
}

// Ended builds "Purchase Agreement Ended - <role>" with an ended status. As AWS
// documents, it carries no license, product or times.
func Ended(account string, a Agreement, status string, at time.Time) []byte {
	d := map[string]any{"requestId": NewID(), "catalog": "AWSMarketplace", "agreement": map[string]any{"id": a.ID, "status": status},
		"resaleAuthorization": resale(a), "acceptor": map[string]any{"accountId": a.AcceptorAccountID},
		"proposer": map[string]any{"accountId": a.ProposerAccountID}, "offer": map[string]any{"id": a.OfferID}}
	return envelope("Purchase Agreement Ended - "+Role(a), "aws.agreement-marketplace", account, at, []string{agreementARN(a.ID)}, d)
}

func licenseDetail(a Agreement, licenseArn string) map[string]any {
	return map[string]any{"requestId": NewID(), "catalog": "AWSMarketplace", "agreement": map[string]any{"id": a.ID},
		"product": map[string]any{"code": a.ProductCode, "id": a.ProductID}, "license": map[string]any{"arn": licenseArn},
		"acceptor": map[string]any{"accountId": a.AcceptorAccountID}, "proposer": map[string]any{"accountId": a.ProposerAccountID},
		"offer": map[string]any{"id": a.OfferID}}
}

// LicenseUpdated builds "License Updated - Manufacturer": the only event, with
// License Deprovisioned, that carries the LicenseArn.
func LicenseUpdated(account string, a Agreement, licenseArn string, at time.Time) []byte {
	return envelope("License Updated - Manufacturer", "aws.agreement-marketplace", account, at, []string{agreementARN(a.ID)}, licenseDetail(a, licenseArn))
}

// LicenseDeprovisioned builds "License Deprovisioned - Manufacturer".
func LicenseDeprovisioned(account string, a Agreement, licenseArn string, at time.Time) []byte {
	return envelope("License Deprovisioned - Manufacturer", "aws.agreement-marketplace", account, at, []string{agreementARN(a.ID)}, licenseDetail(a, licenseArn))
}

// Custom builds an event of any detail-type, for informational and unknown types.
func Custom(detailType, source, account string, at time.Time, detail map[string]any) []byte {
	if detail == nil {
		detail = map[string]any{}
	}
	if _, ok := detail["requestId"]; !ok {
		detail["requestId"] = NewID()
	}
	return envelope(detailType, source, account, at, nil, detail)
}

// LicenseArn returns a LicenseArn in the form ResolveCustomer returns.
func LicenseArn(account, licenseID string) string {
	return "arn:aws:license-manager::" + account + ":license:" + licenseID
}

// CancellationRequest is the agreementCancellationRequest member of the
// Agreement Cancellation Request events.
type CancellationRequest struct {
	ID, ReasonCode, Description, Status, StatusMessage string
	CreatedAt, UpdatedAt                               time.Time
}

// cancellationStatusWords names each cancellation request status in its
// event's detail-type.
var cancellationStatusWords = map[string]string{
	"PENDING_APPROVAL":  "Pending Approval",
	"APPROVED":          "Approved",
	"REJECTED":          "Rejected",
	"CANCELLED":         "Cancelled",
	"VALIDATION_FAILED": "Validation Failed",
}

// CancellationRequestEvent builds "Agreement Cancellation Request <status> -
// <role>", sent when a seller's cancellation request is created (Pending
// Approval), approved by the buyer or automatically after 7 days, rejected,
// withdrawn by the seller (Cancelled), or fails AWS's asynchronous validation.
// As the seller guide documents (userguide/notifications-eventbridge.html,
// "Agreement cancellation request events"; buyer guide
// cancellation-adjustment-eventbridge.html for the twin Acceptor events),
// resources is empty, the agreement member is flat (acceptorId, productId,
// offerId, unlike the other agreement events), and the request carries
// statusCode and reasonMessage rather than the API's status and description.
func CancellationRequestEvent(account string, a Agreement, cr CancellationRequest, at time.Time) []byte {
	words := cancellationStatusWords[cr.Status]
	if words == "" {
		panic("eventbridge: no event for cancellation request status " + cr.Status)
	}
	str := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	d := map[string]any{"requestId": NewID(), "catalog": "AWSMarketplace",
		"agreement": map[string]any{"id": a.ID, "acceptorId": a.AcceptorAccountID, "productId": a.ProductID, "offerId": a.OfferID},
		"agreementCancellationRequest": map[string]any{"id": cr.ID, "reasonCode": cr.ReasonCode, "reasonMessage": str(cr.Description),
			"statusCode": cr.Status, "statusMessage": str(cr.StatusMessage), "createdAt": ts(cr.CreatedAt), "updatedAt": ts(cr.UpdatedAt)},
	}
	return envelope("Agreement Cancellation Request "+words+" - "+Role(a), "aws.agreement-marketplace", account, at, nil, d)
}

// BillingAdjustment is what the Billing Adjustment events carry.
type BillingAdjustment struct {
	ID, Amount, Currency, ReasonCode, InvoiceID string
	// Completed selects Completed, else Failed.
	Completed bool
}

// BillingAdjustmentEvent builds "Purchase Agreement Billing Adjustment
// Completed|Failed - <role>", sent when a seller's refund is processed or
// fails AWS's asynchronous validation. As the seller guide documents
// (userguide/notifications-eventbridge.html, billing adjustment events),
// resources is empty and the detail carries agreement{id},
// billingAdjustmentRequest{id, adjustmentAmount, currencyCode,
// adjustmentReasonCode} and invoice{originalInvoiceId}.
func BillingAdjustmentEvent(account string, a Agreement, ba BillingAdjustment, at time.Time) []byte {
	outcome := "Failed"
	if ba.Completed {
		outcome = "Completed"
	}
	d := map[string]any{"requestId": NewID(), "catalog": "AWSMarketplace",
		"agreement": map[string]any{"id": a.ID},
		"billingAdjustmentRequest": map[string]any{"id": ba.ID, "adjustmentAmount": ba.Amount, "currencyCode": ba.Currency,
			"adjustmentReasonCode": ba.ReasonCode},
		"invoice": map[string]any{"originalInvoiceId": ba.InvoiceID},
	}
	return envelope("Purchase Agreement Billing Adjustment "+outcome+" - "+Role(a), "aws.agreement-marketplace", account, at, nil, d)
}

// Ending builds "Purchase Agreement Ending - Proposer", sent 180, 120, 90,
// 60 and 30 days before an agreement's end (seller guide,
// notifications-eventbridge.html; buyer guide agreement-eventbridge: "Sent
// 180, 120, 90, 60, and 30 days before a purchase agreement expires"):
// agreement{id, startTime, endTime, status, daysBeforeEndTime,
// autoRenewalEnabled}, renewalSummary{lockoutStartTime, disabledBy},
// product, acceptor, proposer, offer.
func Ending(account string, a Agreement, days int, lockoutStart time.Time, at time.Time) []byte {
	auto := a.AutoRenewal != nil && *a.AutoRenewal
	var by any
	if a.DisabledBy != "" && !auto {
		by = a.DisabledBy
	}
	d := map[string]any{"requestId": NewID(), "catalog": "AWSMarketplace",
		"agreement": map[string]any{"id": a.ID, "startTime": ts(a.StartTime), "endTime": ts(a.EndTime), "status": "ACTIVE",
			"daysBeforeEndTime": days, "autoRenewalEnabled": auto},
		"renewalSummary": map[string]any{"lockoutStartTime": ts(lockoutStart), "disabledBy": by},
		"product":        map[string]any{"id": a.ProductID, "title": a.ProductTitle},
		"acceptor":       map[string]any{"accountId": a.AcceptorAccountID},
		"proposer":       map[string]any{"accountId": a.ProposerAccountID},
		"offer":          map[string]any{"id": a.OfferID}}
	return envelope("Purchase Agreement Ending - Proposer", "aws.agreement-marketplace", account, at, []string{agreementARN(a.ID)}, d)
}

// RenewalUpcoming builds "Purchase Agreement Renewal Upcoming - Proposer",
// sent when an auto-renewing agreement reaches its lockout (the renewal
// decision deadline): agreement{id, startTime, endTime},
// renewalSummary{lockoutReached: true, tcv, currency}, product, acceptor,
// proposer (seller guide, notifications-eventbridge.html).
func RenewalUpcoming(account string, a Agreement, tcv, currency string, at time.Time) []byte {
	d := map[string]any{"requestId": NewID(), "catalog": "AWSMarketplace",
		"agreement":      map[string]any{"id": a.ID, "startTime": ts(a.StartTime), "endTime": ts(a.EndTime)},
		"renewalSummary": map[string]any{"lockoutReached": true, "tcv": tcv, "currency": currency},
		"product":        map[string]any{"id": a.ProductID, "title": a.ProductTitle},
		"acceptor":       map[string]any{"accountId": a.AcceptorAccountID},
		"proposer":       map[string]any{"accountId": a.ProposerAccountID}}
	return envelope("Purchase Agreement Renewal Upcoming - Proposer", "aws.agreement-marketplace", account, at, []string{agreementARN(a.ID)}, d)
}

// Advisory builds "Purchase Agreement Advisory Issued|Resolved -
// Manufacturer": agreement.id, product.id, acceptor.accountId,
// proposer.accountId, offer.id and advisory.issuedAt (Issued) or
// advisory.resolvedAt (Resolved) (seller guide, notifications-eventbridge.html).
func Advisory(account string, a Agreement, resolved bool, when time.Time, at time.Time) []byte {
	kind, member := "Issued", "issuedAt"
	if resolved {
		kind, member = "Resolved", "resolvedAt"
	}
	d := map[string]any{"requestId": NewID(), "catalog": "AWSMarketplace",
		"agreement": map[string]any{"id": a.ID}, "product": map[string]any{"id": a.ProductID},
		"acceptor": map[string]any{"accountId": a.AcceptorAccountID}, "proposer": map[string]any{"accountId": a.ProposerAccountID},
		"offer": map[string]any{"id": a.OfferID}, "advisory": map[string]any{member: ts(when)}}
	return envelope("Purchase Agreement Advisory "+kind+" - Manufacturer", "aws.agreement-marketplace", account, at, []string{agreementARN(a.ID)}, d)
}

// DisbursementPaused builds "Disbursement Paused" (source aws.marketplace):
// requestId and catalog, the payment instrument's ARN in resources (seller
// guide, notifications-eventbridge.html, "Events for disbursements").
func DisbursementPaused(account, paymentInstrumentArn string, at time.Time) []byte {
	var resources []string
	if paymentInstrumentArn != "" {
		resources = []string{paymentInstrumentArn}
	}
	return envelope("Disbursement Paused", "aws.marketplace", account, at, resources, map[string]any{"requestId": NewID(), "catalog": "AWSMarketplace"})
}
