// Package agreement is what a seller does to an agreement after the buyer
// accepted it, through the Agreement API AWS opened in 2026: ask AWS to cancel
// it (the buyer approves or rejects, or AWS approves after 7 days), refund an
// invoice (a billing adjustment), send payment requests under a variable
// payment term, and read its invoices and charges. What AWS answers is stored
// as facts in the inbox (inbox.Ledger.Observe) and folded with AWS's events,
// so a request's state is the same whichever of the two Concord hears first.
// See docs/agreements.md.
package agreement

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store"
)

// API is what the service needs from the Agreement API; internal/awsmp
// implements it with the official client. A refusal by AWS is a coded
// application error whose message is AWS's own.
type API interface {
	SendCancellationRequest(ctx context.Context, agreementID, reasonCode, description, clientToken string) (marketplace.CancellationRequest, error)
	GetCancellationRequest(ctx context.Context, agreementID, id string) (marketplace.CancellationRequest, error)
	ListCancellationRequests(ctx context.Context, agreementID string) ([]marketplace.CancellationRequest, error)
	CancelCancellationRequest(ctx context.Context, agreementID, id, reason string) (marketplace.CancellationRequest, error)
	CreateBillingAdjustment(ctx context.Context, b marketplace.BillingAdjustment) (string, error)
	GetBillingAdjustment(ctx context.Context, agreementID, id string) (marketplace.BillingAdjustment, error)
	ListBillingAdjustments(ctx context.Context, agreementID string) ([]marketplace.BillingAdjustment, error)
	ListInvoices(ctx context.Context, agreementID string) ([]marketplace.Invoice, error)
	ListCharges(ctx context.Context, agreementID string) ([]marketplace.Charge, error)
	SendPaymentRequest(ctx context.Context, r marketplace.PaymentRequest, clientToken string) (marketplace.PaymentRequest, error)
	GetPaymentRequest(ctx context.Context, agreementID, id string) (marketplace.PaymentRequest, error)
	ListPaymentRequests(ctx context.Context, agreementID string) ([]marketplace.PaymentRequest, error)
	CancelPaymentRequest(ctx context.Context, agreementID, id string) (marketplace.PaymentRequest, error)
}

// JobRefreshBilling refreshes an agreement's cached invoices and charges
// (and the state of its refunds) after a billing event.
const JobRefreshBilling = "agreement.billing"

// Limits from the Agreement API reference (SendAgreementCancellationRequest
// description "1-2000 characters", CancelAgreementCancellationRequest
// cancellationReason "1-2000 characters", SendAgreementPaymentRequest name
// "5-64 characters" and description "1-2000 characters"; api_op_*.go of
// marketplaceagreement v1.30.7).
const (
	MaxMessage     = 2000
	MinPaymentName = 5
	MaxPaymentName = 64
	MaxClientToken = 64
)

// Service acts on agreements. Notify may be nil (no notifications).
type Service struct {
	DB     *store.DB
	Ledger *inbox.Ledger
	API    API
	Notify *notify.Service
	Now    func() time.Time
	Logger *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func invalid(format string, args ...any) error {
	return marketplace.Errorf(marketplace.EInvalid, format, args...)
}

func conflict(format string, args ...any) error {
	return marketplace.Errorf(marketplace.EConflict, format, args...)
}

var amountPattern = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,8})?$`)

// parseAmount reads a positive decimal amount ("12.50"): never a float.
func parseAmount(field, s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	if !amountPattern.MatchString(s) {
		return nil, invalid("%s %q is not a decimal amount such as 12.50", field, marketplace.Clip(s, 40))
	}
	r, _ := new(big.Rat).SetString(s)
	if r.Sign() <= 0 {
		return nil, invalid("%s must be more than 0", field)
	}
	return r, nil
}

// ratText formats r as decimal text with 2 to 8 decimals.
func ratText(r *big.Rat) string {
	// At least two decimals, as AWS writes amounts ("1200.00"), at most eight.
	t := strings.TrimRight(r.FloatString(8), "0")
	if i := strings.IndexByte(t, '.'); len(t)-i-1 < 2 {
		t += strings.Repeat("0", 2-(len(t)-i-1))
	}
	return t
}

func checkMessage(field, s string, required bool) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" && required:
		return "", invalid("%s is required", field)
	case utf8.RuneCountInString(s) > MaxMessage:
		return "", invalid("%s is longer than %d characters", field, MaxMessage)
	case !marketplace.Storable(s):
		return "", invalid("%s contains invalid characters", field)
	}
	return s, nil
}

func checkToken(t string) (string, error) {
	t = strings.TrimSpace(t)
	if t == "" {
		return strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", ""), nil
	}
	if len(t) > MaxClientToken || !marketplace.Storable(t) || strings.ContainsAny(t, " \t\r\n") {
		return "", invalid("clientToken must be at most %d characters without spaces", MaxClientToken)
	}
	return t, nil
}

// loadAgreement reads agreement id or returns not_found.
func (s *Service) loadAgreement(ctx context.Context, id string) (marketplace.Agreement, error) {
	var a marketplace.Agreement
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var ok bool
		var err error
		a, ok, err = inbox.LoadAgreement(ctx, tx, id)
		if err == nil && !ok {
			return marketplace.Errorf(marketplace.ENotFound, "agreement %s not found", marketplace.Clip(id, 80))
		}
		return err
	})
	return a, err
}

// observe stores what AWS answered and folds it.
// rec, when a person asked for the change, is recorded in the audit trail in
// the same transaction.
func (s *Service) observe(ctx context.Context, kind marketplace.EventKind, agreementID string, lf marketplace.LifecycleFact, rec ...audit.Change) error {
	f := marketplace.Fact{Kind: kind, AgreementID: agreementID, Lifecycle: &lf}
	if lf.UpdatedAt != nil {
		f.Time = *lf.UpdatedAt
	}
	if now := s.now(); f.Time.IsZero() || f.Time.After(now) {
		f.Time = now
	}
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		if err := s.Ledger.Observe(ctx, tx, f); err != nil {
			return err
		}
		for _, c := range rec {
			if err := audit.Record(ctx, tx, c); err != nil {
				return err
			}
		}
		return nil
	})
}

// CancelInput is a cancellation request as the seller writes it.
type CancelInput struct {
	// ReasonCode is one of marketplace.CancellationReasonCodes.
	ReasonCode string `json:"reasonCode" doc:"AWS's reason code: INCORRECT_TERMS_ACCEPTED, REPLACING_AGREEMENT, TEST_AGREEMENT, ALTERNATIVE_PROCUREMENT_CHANNEL, PRODUCT_DISCONTINUED, UNINTENDED_RENEWAL, BUYER_DISSATISFACTION or OTHER"`
	// Description is the message to the buyer (up to 2000 characters).
	Description string `json:"description,omitempty" doc:"Why the seller asks to cancel, shown to the buyer"`
	// ClientToken makes a resend return the same request (AWS's idempotency token).
	ClientToken string `json:"clientToken,omitempty" doc:"Idempotency token passed to AWS; a resend with the same token creates nothing new"`
}

// RequestCancellation asks AWS to cancel an active agreement
// (SendAgreementCancellationRequest). It refuses, before calling AWS, an
// unknown reason code, an agreement that is not active and an agreement
// with a request still pending; AWS's own refusal comes back verbatim and
// stores nothing.
func (s *Service) RequestCancellation(ctx context.Context, agreementID string, in CancelInput) (marketplace.CancellationRequest, error) {
	in.ReasonCode = strings.ToUpper(strings.TrimSpace(in.ReasonCode))
	if !slices.Contains(marketplace.CancellationReasonCodes, in.ReasonCode) {
		return marketplace.CancellationRequest{}, invalid("unknown reasonCode %q: use one of %s", marketplace.Clip(in.ReasonCode, 64),
			strings.Join(marketplace.CancellationReasonCodes, ", "))
	}
	desc, err := checkMessage("description", in.Description, false)
	if err != nil {
		return marketplace.CancellationRequest{}, err
	}
	token, err := checkToken(in.ClientToken)
	if err != nil {
		return marketplace.CancellationRequest{}, err
	}
	a, err := s.loadAgreement(ctx, agreementID)
	if err != nil {
		return marketplace.CancellationRequest{}, err
	}
	if a.Status != marketplace.StatusActive {
		return marketplace.CancellationRequest{}, conflict("agreement %s is %s, not ACTIVE: AWS cancels only active agreements", a.AgreementID, a.Status)
	}
	pending, err := s.listCancellations(ctx, agreementID, marketplace.CancellationPendingApproval)
	if err != nil {
		return marketplace.CancellationRequest{}, err
	}
	if len(pending) > 0 {
		return marketplace.CancellationRequest{}, conflict("agreement %s already has a cancellation request pending the buyer's approval (%s): withdraw it first",
			a.AgreementID, pending[0].ID)
	}
	got, err := s.API.SendCancellationRequest(ctx, agreementID, in.ReasonCode, desc, token)
	if err != nil {
		return marketplace.CancellationRequest{}, err
	}
	if got.ReasonCode == "" {
		got.ReasonCode = in.ReasonCode
	}
	if got.Description == "" {
		got.Description = desc
	}
	if err := s.observeCancellation(ctx, got, audit.Change{Object: "agreement", ObjectID: agreementID, Action: "agreement.cancellation_request",
		After: got, Summary: "asked AWS to cancel agreement " + agreementID + " (" + got.ReasonCode + "), request " + got.ID}); err != nil {
		return got, err
	}
	return s.Cancellation(ctx, agreementID, got.ID)
}

func (s *Service) observeCancellation(ctx context.Context, c marketplace.CancellationRequest, rec ...audit.Change) error {
	if c.ID == "" || c.Status == "" {
		return fmt.Errorf("AWS answered a cancellation request without id or status: %+v", c)
	}
	return s.observe(ctx, marketplace.KindCancellationRequest, c.AgreementID, marketplace.LifecycleFact{ObjectID: c.ID, ReasonCode: c.ReasonCode,
		Description: c.Description, Status: c.Status, StatusMessage: c.StatusMessage, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}, rec...)
}

// WithdrawCancellation withdraws a pending cancellation request
// (CancelAgreementCancellationRequest; AWS requires a reason).
func (s *Service) WithdrawCancellation(ctx context.Context, agreementID, id, reason string) (marketplace.CancellationRequest, error) {
	reason, err := checkMessage("reason", reason, true)
	if err != nil {
		return marketplace.CancellationRequest{}, err
	}
	c, err := s.Cancellation(ctx, agreementID, id)
	if err != nil {
		return c, err
	}
	if c.Status != marketplace.CancellationPendingApproval {
		return c, conflict("cancellation request %s is %s: only a request pending approval can be withdrawn", id, c.Status)
	}
	got, err := s.API.CancelCancellationRequest(ctx, agreementID, id, reason)
	if err != nil {
		return c, err
	}
	got.AgreementID = agreementID
	if err := s.observeCancellation(ctx, got, audit.Change{Object: "agreement", ObjectID: agreementID, Action: "agreement.cancellation_withdraw",
		Before: c, After: got, Summary: "withdrew cancellation request " + id + ": " + reason}); err != nil {
		return got, err
	}
	return s.Cancellation(ctx, agreementID, id)
}

// RefreshCancellations asks AWS for the agreement's cancellation requests
// and folds what it says (a request made outside Concord is learnt too).
func (s *Service) RefreshCancellations(ctx context.Context, agreementID string) ([]marketplace.CancellationRequest, error) {
	if _, err := s.loadAgreement(ctx, agreementID); err != nil {
		return nil, err
	}
	list, err := s.API.ListCancellationRequests(ctx, agreementID)
	if err != nil {
		return nil, err
	}
	for _, c := range list {
		c.AgreementID = agreementID
		if err := s.observeCancellation(ctx, c); err != nil {
			return nil, err
		}
	}
	return s.listCancellations(ctx, agreementID, "")
}

// RefreshedCancellations lists the agreement's cancellation requests as the
// ledger holds them (an unknown agreement is not_found).
func (s *Service) RefreshedCancellations(ctx context.Context, agreementID string) ([]marketplace.CancellationRequest, error) {
	if _, err := s.loadAgreement(ctx, agreementID); err != nil {
		return nil, err
	}
	return s.listCancellations(ctx, agreementID, "")
}

// Cancellation reads one cancellation request of an agreement.
func (s *Service) Cancellation(ctx context.Context, agreementID, id string) (marketplace.CancellationRequest, error) {
	list, err := s.listCancellations(ctx, agreementID, "")
	if err != nil {
		return marketplace.CancellationRequest{}, err
	}
	for _, c := range list {
		if c.ID == id {
			return c, nil
		}
	}
	return marketplace.CancellationRequest{}, marketplace.Errorf(marketplace.ENotFound, "cancellation request %s of agreement %s not found",
		marketplace.Clip(id, 80), marketplace.Clip(agreementID, 80))
}

func (s *Service) listCancellations(ctx context.Context, agreementID, status string) ([]marketplace.CancellationRequest, error) {
	var out []marketplace.CancellationRequest
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = store.QueryAll(ctx, tx, func(r store.Scanner) (marketplace.CancellationRequest, error) {
			var c marketplace.CancellationRequest
			var created, updated sql.NullInt64
			err := r.Scan(&c.ID, &c.AgreementID, &c.ReasonCode, &c.Description, &c.Status, &c.StatusMessage, &created, &updated)
			c.CreatedAt, c.UpdatedAt = store.FromNullMillis(created), store.FromNullMillis(updated)
			return c, err
		}, `SELECT id, agreement_id, reason_code, description, status, status_message, created_at, updated_at FROM cancellation_requests
			WHERE agreement_id = ? AND (? = '' OR status = ?) ORDER BY COALESCE(created_at, 0) DESC, id`, agreementID, status, status)
		return err
	})
	return out, err
}

// RefundInput is a refund as finance writes it: an amount of one invoice.
type RefundInput struct {
	InvoiceID string `json:"invoiceId" doc:"The invoice to refund (ListAgreementInvoiceLineItems' invoiceId)"`
	// Amount is decimal text, at most what the invoice still allows.
	Amount      string `json:"amount" doc:"Decimal amount in the invoice's currency, e.g. 120.50"`
	ReasonCode  string `json:"reasonCode" doc:"AWS's billing adjustment reason code: INCORRECT_TERMS_ACCEPTED, INCORRECT_METERING, TEST_ENVIRONMENT_CHARGES, ALTERNATIVE_PROCUREMENT_CHANNEL, UNINTENDED_RENEWAL, BUYER_DISSATISFACTION or OTHER"`
	Description string `json:"description,omitempty"`
	// ClientToken makes a resend return the refund already made instead of
	// refunding twice; without one Concord makes one up (then a resend is a
	// new refund, bounded by what is left to refund).
	ClientToken string `json:"clientToken,omitempty" doc:"Idempotency token: a resend with the same token never refunds twice"`
}

// InvoiceView is an invoice with what is left to refund of it.
type InvoiceView struct {
	marketplace.Invoice
	// Adjusted is what refunds pending or completed take from it.
	Adjusted string `json:"adjusted"`
	// Refundable is what a new refund may take: the invoice's amount (or
	// AWS's maxAdjustmentAmount, if lower) less Adjusted; "0" for a credit memo.
	Refundable string `json:"refundable"`
}

// Refund requests a billing adjustment against one invoice
// (BatchCreateBillingAdjustmentRequest). It refuses, before calling AWS, an
// unknown reason code, an unknown invoice, and an amount above what is left
// to refund; a resend with the same client token returns the refund already
// requested.
func (s *Service) Refund(ctx context.Context, agreementID string, in RefundInput) (marketplace.BillingAdjustment, bool, error) {
	in.ReasonCode = strings.ToUpper(strings.TrimSpace(in.ReasonCode))
	if !slices.Contains(marketplace.AdjustmentReasonCodes, in.ReasonCode) {
		return marketplace.BillingAdjustment{}, false, invalid("unknown reasonCode %q: use one of %s", marketplace.Clip(in.ReasonCode, 64),
			strings.Join(marketplace.AdjustmentReasonCodes, ", "))
	}
	amount, err := parseAmount("amount", in.Amount)
	if err != nil {
		return marketplace.BillingAdjustment{}, false, err
	}
	desc, err := checkMessage("description", in.Description, false)
	if err != nil {
		return marketplace.BillingAdjustment{}, false, err
	}
	explicitToken := strings.TrimSpace(in.ClientToken) != ""
	token, err := checkToken(in.ClientToken)
	if err != nil {
		return marketplace.BillingAdjustment{}, false, err
	}
	in.InvoiceID = strings.TrimSpace(in.InvoiceID)
	if in.InvoiceID == "" || len(in.InvoiceID) > 256 || !marketplace.Storable(in.InvoiceID) {
		return marketplace.BillingAdjustment{}, false, invalid("invoiceId is required")
	}
	if _, err := s.loadAgreement(ctx, agreementID); err != nil {
		return marketplace.BillingAdjustment{}, false, err
	}
	adjustments, err := s.Refunds(ctx, agreementID)
	if err != nil {
		return marketplace.BillingAdjustment{}, false, err
	}
	if explicitToken {
		for _, b := range adjustments {
			if b.ClientToken == token {
				if b.InvoiceID != in.InvoiceID || b.Amount != ratText(amount) && b.Amount != strings.TrimSpace(in.Amount) {
					return b, false, conflict("clientToken %s was already used for refund %s of %s against invoice %s", token, b.ID, b.Amount, b.InvoiceID)
				}
				return b, false, nil
			}
		}
	}
	invoices, _, err := s.Invoices(ctx, agreementID)
	if err != nil {
		return marketplace.BillingAdjustment{}, false, err
	}
	idx := slices.IndexFunc(invoices, func(v InvoiceView) bool { return v.InvoiceID == in.InvoiceID })
	if idx < 0 {
		// The cache may predate the invoice: ask AWS once.
		if err := s.RefreshBilling(ctx, agreementID); err != nil {
			return marketplace.BillingAdjustment{}, false, err
		}
		if invoices, _, err = s.Invoices(ctx, agreementID); err != nil {
			return marketplace.BillingAdjustment{}, false, err
		}
		idx = slices.IndexFunc(invoices, func(v InvoiceView) bool { return v.InvoiceID == in.InvoiceID })
	}
	if idx < 0 {
		return marketplace.BillingAdjustment{}, false, marketplace.Errorf(marketplace.ENotFound, "agreement %s has no invoice %s", agreementID,
			marketplace.Clip(in.InvoiceID, 80))
	}
	inv := invoices[idx]
	refundable, _ := new(big.Rat).SetString(inv.Refundable)
	if refundable == nil || amount.Cmp(refundable) > 0 {
		return marketplace.BillingAdjustment{}, false, invalid("a refund of %s %s is more than the %s %s left to refund of invoice %s (invoiced %s, already adjusted %s)",
			ratText(amount), inv.Currency, inv.Refundable, inv.Currency, inv.InvoiceID, inv.Amount, inv.Adjusted)
	}
	b := marketplace.BillingAdjustment{AgreementID: agreementID, InvoiceID: inv.InvoiceID, Amount: ratText(amount), Currency: inv.Currency,
		ReasonCode: in.ReasonCode, Description: desc, ClientToken: token, Status: marketplace.AdjustmentPending}
	id, err := s.API.CreateBillingAdjustment(ctx, b)
	if err != nil {
		return marketplace.BillingAdjustment{}, false, err
	}
	b.ID = id
	now := s.now()
	b.CreatedAt, b.UpdatedAt = &now, &now
	if got, err := s.API.GetBillingAdjustment(ctx, agreementID, id); err == nil {
		// AWS's own view (it may already be processed); our request's
		// fields stay when AWS leaves them out.
		b.Status, b.StatusMessage, b.CreatedAt, b.UpdatedAt = got.Status, got.StatusMessage, got.CreatedAt, got.UpdatedAt
	} else {
		s.logger().Warn("refund requested; its status could not be read yet", "agreement", agreementID, "refund", id, "err", err)
	}
	if err := s.observeAdjustment(ctx, b, audit.Change{Object: "agreement", ObjectID: agreementID, Action: "agreement.refund",
		After: b, Summary: "refunded " + b.Currency + " " + b.Amount + " of invoice " + b.InvoiceID + " (" + b.ReasonCode + "), request " + b.ID}); err != nil {
		return b, false, err
	}
	got, err := s.RefundByID(ctx, agreementID, id)
	return got, true, err
}

func (s *Service) observeAdjustment(ctx context.Context, b marketplace.BillingAdjustment, rec ...audit.Change) error {
	if b.ID == "" || b.Status == "" {
		return fmt.Errorf("AWS answered a billing adjustment without id or status: %+v", b)
	}
	return s.observe(ctx, marketplace.KindBillingAdjustment, b.AgreementID, marketplace.LifecycleFact{ObjectID: b.ID, InvoiceID: b.InvoiceID,
		Amount: b.Amount, Currency: b.Currency, ReasonCode: b.ReasonCode, Description: b.Description, ClientToken: b.ClientToken,
		Status: b.Status, StatusMessage: b.StatusMessage, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}, rec...)
}

// RefreshRefund asks AWS for a refund's status (GetBillingAdjustmentRequest).
func (s *Service) RefreshRefund(ctx context.Context, agreementID, id string) (marketplace.BillingAdjustment, error) {
	if _, err := s.RefundByID(ctx, agreementID, id); err != nil {
		return marketplace.BillingAdjustment{}, err
	}
	got, err := s.API.GetBillingAdjustment(ctx, agreementID, id)
	if err != nil {
		return marketplace.BillingAdjustment{}, err
	}
	got.AgreementID = agreementID
	if err := s.observeAdjustment(ctx, got); err != nil {
		return got, err
	}
	return s.RefundByID(ctx, agreementID, id)
}

// Refunds lists an agreement's refunds, newest first.
func (s *Service) Refunds(ctx context.Context, agreementID string) ([]marketplace.BillingAdjustment, error) {
	var out []marketplace.BillingAdjustment
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = LoadRefunds(ctx, tx, agreementID)
		return err
	})
	return out, err
}

// LoadRefunds reads an agreement's refunds inside tx, newest first.
func LoadRefunds(ctx context.Context, tx *store.Tx, agreementID string) ([]marketplace.BillingAdjustment, error) {
	return store.QueryAll(ctx, tx, func(r store.Scanner) (marketplace.BillingAdjustment, error) {
		var b marketplace.BillingAdjustment
		var created, updated sql.NullInt64
		err := r.Scan(&b.ID, &b.AgreementID, &b.InvoiceID, &b.Amount, &b.Currency, &b.ReasonCode, &b.Description, &b.ClientToken, &b.Status,
			&b.StatusMessage, &created, &updated)
		b.CreatedAt, b.UpdatedAt = store.FromNullMillis(created), store.FromNullMillis(updated)
		return b, err
	}, `SELECT id, agreement_id, invoice_id, amount, currency, reason_code, description, client_token, status, status_message, created_at, updated_at
		FROM billing_adjustments WHERE agreement_id = ? ORDER BY COALESCE(created_at, 0) DESC, id`, agreementID)
}

// RefundByID reads one refund of an agreement.
func (s *Service) RefundByID(ctx context.Context, agreementID, id string) (marketplace.BillingAdjustment, error) {
	list, err := s.Refunds(ctx, agreementID)
	if err != nil {
		return marketplace.BillingAdjustment{}, err
	}
	for _, b := range list {
		if b.ID == id {
			return b, nil
		}
	}
	return marketplace.BillingAdjustment{}, marketplace.Errorf(marketplace.ENotFound, "refund %s of agreement %s not found",
		marketplace.Clip(id, 80), marketplace.Clip(agreementID, 80))
}

// RefreshBilling asks AWS for the agreement's invoices and charges and
// caches them; it also asks for the status of refunds still pending.
func (s *Service) RefreshBilling(ctx context.Context, agreementID string) error {
	invoices, err := s.API.ListInvoices(ctx, agreementID)
	if err != nil {
		return err
	}
	charges, err := s.API.ListCharges(ctx, agreementID)
	if err != nil {
		return err
	}
	ib, err := json.Marshal(invoices)
	if err != nil {
		return err
	}
	cb, err := json.Marshal(charges)
	if err != nil {
		return err
	}
	if err := s.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO agreement_billing (agreement_id, invoices, charges, refreshed_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (agreement_id) DO UPDATE SET invoices = excluded.invoices, charges = excluded.charges, refreshed_at = excluded.refreshed_at`,
			agreementID, string(ib), string(cb), store.Millis(s.now()))
		return err
	}); err != nil {
		return fmt.Errorf("cache billing of %s: %w", agreementID, err)
	}
	refunds, err := s.Refunds(ctx, agreementID)
	if err != nil {
		return err
	}
	for _, b := range refunds {
		if b.Status == marketplace.AdjustmentPending {
			if _, err := s.RefreshRefund(ctx, agreementID, b.ID); err != nil {
				s.logger().Warn("refresh refund status", "agreement", agreementID, "refund", b.ID, "err", err)
			}
		}
	}
	return nil
}

// Invoices returns the cached invoices with what is left to refund of each,
// the cached charges, and when they were fetched (nil: never).
func (s *Service) Invoices(ctx context.Context, agreementID string) ([]InvoiceView, *time.Time, error) {
	views, _, at, err := s.billing(ctx, agreementID)
	return views, at, err
}

// Charges returns the cached charges of an agreement.
func (s *Service) Charges(ctx context.Context, agreementID string) ([]marketplace.Charge, *time.Time, error) {
	_, charges, at, err := s.billing(ctx, agreementID)
	return charges, at, err
}

func (s *Service) billing(ctx context.Context, agreementID string) ([]InvoiceView, []marketplace.Charge, *time.Time, error) {
	var ib, cb string
	var at int64
	var refunds []marketplace.BillingAdjustment
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		err := tx.QueryRow(ctx, `SELECT invoices, charges, refreshed_at FROM agreement_billing WHERE agreement_id = ?`, agreementID).Scan(&ib, &cb, &at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		refunds, err = LoadRefunds(ctx, tx, agreementID)
		return err
	})
	if err != nil || ib == "" {
		return []InvoiceView{}, []marketplace.Charge{}, nil, err
	}
	var invoices []marketplace.Invoice
	charges := []marketplace.Charge{}
	if err := json.Unmarshal([]byte(ib), &invoices); err != nil {
		return nil, nil, nil, fmt.Errorf("decode cached invoices: %w", err)
	}
	if err := json.Unmarshal([]byte(cb), &charges); err != nil {
		return nil, nil, nil, fmt.Errorf("decode cached charges: %w", err)
	}
	views := make([]InvoiceView, 0, len(invoices))
	for _, inv := range invoices {
		views = append(views, view(inv, refunds))
	}
	t := store.FromMillis(at)
	return views, charges, &t, nil
}

// view computes what is left to refund of inv: its amount less the refunds
// pending or completed against it (a failed refund takes nothing), and at
// most AWS's maxAdjustmentAmount ("the maximum refundable amount",
// types.PricingCurrencyAmount), which already counts the refunds AWS knew of
// when the cache was filled.
func view(inv marketplace.Invoice, refunds []marketplace.BillingAdjustment) InvoiceView {
	adjusted := new(big.Rat)
	for _, b := range refunds {
		if b.InvoiceID != inv.InvoiceID || b.Status == marketplace.AdjustmentValidationFailed {
			continue
		}
		if r, ok := new(big.Rat).SetString(b.Amount); ok {
			adjusted.Add(adjusted, r)
		}
	}
	v := InvoiceView{Invoice: inv, Adjusted: ratText(adjusted), Refundable: "0"}
	if inv.Type == "CREDIT_MEMO" {
		return v
	}
	amount, ok := new(big.Rat).SetString(inv.Amount)
	if !ok {
		return v
	}
	left := new(big.Rat).Sub(amount, adjusted)
	if m, ok := new(big.Rat).SetString(inv.MaxAdjustmentAmount); ok && inv.MaxAdjustmentAmount != "" && m.Cmp(left) < 0 {
		left = m
	}
	if left.Sign() > 0 {
		v.Refundable = ratText(left)
	}
	return v
}

// PaymentInput is a payment request as the seller writes it.
type PaymentInput struct {
	Amount      string `json:"amount" doc:"Decimal amount in the term's currency, e.g. 500.00"`
	Name        string `json:"name" doc:"A name the buyer sees (5-64 characters)"`
	Description string `json:"description,omitempty"`
	ClientToken string `json:"clientToken,omitempty" doc:"Idempotency token passed to AWS"`
}

// variablePayment returns the agreement's variable payment term.
func variablePayment(a marketplace.Agreement) (*marketplace.VariablePayment, error) {
	var t marketplace.Terms
	if len(a.Terms) > 0 {
		if err := json.Unmarshal(a.Terms, &t); err != nil {
			return nil, fmt.Errorf("decode terms of %s: %w", a.AgreementID, err)
		}
	}
	if t.VariablePayment == nil || t.VariablePayment.TermID == "" {
		return nil, conflict("agreement %s has no variable payment term, so it takes no payment requests (terms fetched: %v)", a.AgreementID, a.TermsFetchedAt != nil)
	}
	return t.VariablePayment, nil
}

// RequestPayment sends a payment request under the agreement's variable
// payment term (SendAgreementPaymentRequest). It refuses, before calling
// AWS, an agreement that is not active or has no such term, a bad name, and
// an amount above what the term still allows.
func (s *Service) RequestPayment(ctx context.Context, agreementID string, in PaymentInput) (marketplace.PaymentRequest, error) {
	amount, err := parseAmount("amount", in.Amount)
	if err != nil {
		return marketplace.PaymentRequest{}, err
	}
	name := strings.TrimSpace(in.Name)
	if n := utf8.RuneCountInString(name); n < MinPaymentName || n > MaxPaymentName || !marketplace.Storable(name) {
		return marketplace.PaymentRequest{}, invalid("name must be %d to %d characters", MinPaymentName, MaxPaymentName)
	}
	desc, err := checkMessage("description", in.Description, false)
	if err != nil {
		return marketplace.PaymentRequest{}, err
	}
	token, err := checkToken(in.ClientToken)
	if err != nil {
		return marketplace.PaymentRequest{}, err
	}
	a, err := s.loadAgreement(ctx, agreementID)
	if err != nil {
		return marketplace.PaymentRequest{}, err
	}
	if a.Status != marketplace.StatusActive {
		return marketplace.PaymentRequest{}, conflict("agreement %s is %s, not ACTIVE", a.AgreementID, a.Status)
	}
	vp, err := variablePayment(a)
	if err != nil {
		return marketplace.PaymentRequest{}, err
	}
	if maxTotal, ok := new(big.Rat).SetString(vp.MaxTotalChargeAmount); ok && vp.MaxTotalChargeAmount != "" {
		payments, err := s.Payments(ctx, agreementID)
		if err != nil {
			return marketplace.PaymentRequest{}, err
		}
		used := new(big.Rat)
		for _, p := range payments {
			switch p.Status {
			case marketplace.PaymentRejected, marketplace.PaymentCancelled, marketplace.PaymentValidationFailed:
				continue
			}
			if r, ok := new(big.Rat).SetString(p.ChargeAmount); ok {
				used.Add(used, r)
			}
		}
		if left := new(big.Rat).Sub(maxTotal, used); amount.Cmp(left) > 0 {
			return marketplace.PaymentRequest{}, invalid("a payment request of %s %s is more than the %s %s the variable payment term still allows (maximum %s, requested so far %s)",
				ratText(amount), vp.Currency, ratText(left), vp.Currency, vp.MaxTotalChargeAmount, ratText(used))
		}
	}
	got, err := s.API.SendPaymentRequest(ctx, marketplace.PaymentRequest{AgreementID: agreementID, TermID: vp.TermID, Name: name,
		Description: desc, ChargeAmount: ratText(amount)}, token)
	if err != nil {
		return marketplace.PaymentRequest{}, err
	}
	got.AgreementID, got.TermID = agreementID, vp.TermID
	if got.Currency == "" {
		got.Currency = vp.Currency
	}
	if err := s.observePayment(ctx, got, audit.Change{Object: "agreement", ObjectID: agreementID, Action: "agreement.payment_request",
		After: got, Summary: "requested a payment of " + got.Currency + " " + got.ChargeAmount + ", request " + got.ID}); err != nil {
		return got, err
	}
	return s.Payment(ctx, agreementID, got.ID)
}

func (s *Service) observePayment(ctx context.Context, p marketplace.PaymentRequest, rec ...audit.Change) error {
	if p.ID == "" || p.Status == "" {
		return fmt.Errorf("AWS answered a payment request without id or status: %+v", p)
	}
	return s.observe(ctx, marketplace.KindPaymentRequest, p.AgreementID, marketplace.LifecycleFact{ObjectID: p.ID, TermID: p.TermID, Name: p.Name,
		Description: p.Description, Amount: p.ChargeAmount, Currency: p.Currency, ChargeID: p.ChargeID, Status: p.Status,
		StatusMessage: p.StatusMessage, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}, rec...)
}

// CancelPayment withdraws a payment request the buyer has not answered
// (CancelAgreementPaymentRequest).
func (s *Service) CancelPayment(ctx context.Context, agreementID, id string) (marketplace.PaymentRequest, error) {
	p, err := s.Payment(ctx, agreementID, id)
	if err != nil {
		return p, err
	}
	if p.Status != marketplace.PaymentPendingApproval && p.Status != marketplace.PaymentValidating {
		return p, conflict("payment request %s is %s: only a request the buyer has not answered can be cancelled", id, p.Status)
	}
	got, err := s.API.CancelPaymentRequest(ctx, agreementID, id)
	if err != nil {
		return p, err
	}
	got.AgreementID = agreementID
	if err := s.observePayment(ctx, got, audit.Change{Object: "agreement", ObjectID: agreementID, Action: "agreement.payment_cancel",
		Before: p, After: got, Summary: "cancelled payment request " + id}); err != nil {
		return got, err
	}
	return s.Payment(ctx, agreementID, id)
}

// RefreshPayments asks AWS for the agreement's payment requests and the
// details of each, and folds what it says.
func (s *Service) RefreshPayments(ctx context.Context, agreementID string) ([]marketplace.PaymentRequest, error) {
	if _, err := s.loadAgreement(ctx, agreementID); err != nil {
		return nil, err
	}
	list, err := s.API.ListPaymentRequests(ctx, agreementID)
	if err != nil {
		return nil, err
	}
	for _, p := range list {
		if full, err := s.API.GetPaymentRequest(ctx, agreementID, p.ID); err == nil {
			p = full
		}
		p.AgreementID = agreementID
		if err := s.observePayment(ctx, p); err != nil {
			return nil, err
		}
	}
	return s.Payments(ctx, agreementID)
}

// Payments lists an agreement's payment requests, newest first.
func (s *Service) Payments(ctx context.Context, agreementID string) ([]marketplace.PaymentRequest, error) {
	var out []marketplace.PaymentRequest
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = store.QueryAll(ctx, tx, func(r store.Scanner) (marketplace.PaymentRequest, error) {
			var p marketplace.PaymentRequest
			var created, updated sql.NullInt64
			err := r.Scan(&p.ID, &p.AgreementID, &p.TermID, &p.Name, &p.Description, &p.ChargeAmount, &p.Currency, &p.ChargeID, &p.Status,
				&p.StatusMessage, &created, &updated)
			p.CreatedAt, p.UpdatedAt = store.FromNullMillis(created), store.FromNullMillis(updated)
			return p, err
		}, `SELECT id, agreement_id, term_id, name, description, charge_amount, currency, charge_id, status, status_message, created_at, updated_at
			FROM payment_requests WHERE agreement_id = ? ORDER BY COALESCE(created_at, 0) DESC, id`, agreementID)
		return err
	})
	return out, err
}

// Payment reads one payment request of an agreement.
func (s *Service) Payment(ctx context.Context, agreementID, id string) (marketplace.PaymentRequest, error) {
	list, err := s.Payments(ctx, agreementID)
	if err != nil {
		return marketplace.PaymentRequest{}, err
	}
	for _, p := range list {
		if p.ID == id {
			return p, nil
		}
	}
	return marketplace.PaymentRequest{}, marketplace.Errorf(marketplace.ENotFound, "payment request %s of agreement %s not found",
		marketplace.Clip(id, 80), marketplace.Clip(agreementID, 80))
}

// Outlook reads what the Ending, Renewal and Advisory events said about an
// agreement; ok is false when AWS sent none.
func (s *Service) Outlook(ctx context.Context, agreementID string) (o marketplace.AgreementOutlook, ok bool, err error) {
	err = s.DB.Read(ctx, func(tx *store.Tx) error {
		var days sql.NullInt64
		var auto sql.NullBool
		var lockout, finalized, issued, resolved sql.NullInt64
		err := tx.QueryRow(ctx, `SELECT agreement_id, days_before_end, auto_renewal, lockout_start_time, renewal_disabled_by, renewal_value,
			renewal_currency, renewal_terms_finalized_at, lockout_reached, advisory_open, advisory_issued_at, advisory_resolved_at
			FROM agreement_lifecycle WHERE agreement_id = ?`, agreementID).Scan(&o.AgreementID, &days, &auto, &lockout, &o.RenewalDisabledBy,
			&o.RenewalValue, &o.RenewalCurrency, &finalized, &o.LockoutReached, &o.AdvisoryOpen, &issued, &resolved)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		ok = true
		if days.Valid {
			d := int(days.Int64)
			o.DaysBeforeEnd = &d
		}
		if auto.Valid {
			o.AutoRenewal = &auto.Bool
		}
		o.LockoutStart, o.RenewalTermsFinalizedAt = store.FromNullMillis(lockout), store.FromNullMillis(finalized)
		o.AdvisoryIssuedAt, o.AdvisoryResolvedAt = store.FromNullMillis(issued), store.FromNullMillis(resolved)
		return nil
	})
	return o, ok, err
}

// Counts is what the dashboard shows of the lifecycle: requests waiting for
// the buyer or AWS, and open advisories.
type Counts struct {
	PendingCancellations int `json:"pendingCancellations"`
	PendingRefunds       int `json:"pendingRefunds"`
	PendingPayments      int `json:"pendingPayments"`
	OpenAdvisories       int `json:"openAdvisories"`
}

// Count counts pending requests and open advisories over every agreement.
func (s *Service) Count(ctx context.Context) (Counts, error) {
	var c Counts
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT
			(SELECT COUNT(*) FROM cancellation_requests WHERE status = 'PENDING_APPROVAL'),
			(SELECT COUNT(*) FROM billing_adjustments WHERE status = 'PENDING'),
			(SELECT COUNT(*) FROM payment_requests WHERE status IN ('PENDING_APPROVAL', 'VALIDATING')),
			(SELECT COUNT(*) FROM agreement_lifecycle WHERE advisory_open = ?)`, true).
			Scan(&c.PendingCancellations, &c.PendingRefunds, &c.PendingPayments, &c.OpenAdvisories)
	})
	return c, err
}

// Handlers registers the billing refresh job.
func (s *Service) Handlers(r *job.Runner) {
	r.Handle(JobRefreshBilling, func(ctx context.Context, j *job.Job) error {
		var a billingArgs
		if err := json.Unmarshal(j.Args, &a); err != nil || a.AgreementID == "" {
			return job.Permanent(fmt.Errorf("bad %s job arguments %s", j.Kind, j.Args))
		}
		return s.RefreshBilling(ctx, a.AgreementID)
	})
}

type billingArgs struct {
	AgreementID string `json:"agreementId"`
}
