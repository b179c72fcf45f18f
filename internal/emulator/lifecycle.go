package emulator

import (
	"errors"
	"net/http"

	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/world"
)

// lifecycle serves the Agreement API operations that act on agreements from
// the world, under its lock: the same state (and the same events) the control
// API's buyer actions change.
type lifecycle struct{ w *world.World }

var _ agreementapi.Lifecycle = lifecycle{}

// apiError turns a world error into the Agreement API's error shape.
func apiError(err error) error {
	var we *world.Error
	if !errors.As(err, &we) {
		return err
	}
	e := &agreementapi.APIError{Code: we.Code, Message: we.Message, Reason: we.Reason, ResourceType: we.ResourceType, ResourceID: we.ResourceID}
	switch we.Code {
	case world.CodeValidation:
		e.Status = http.StatusBadRequest
		if e.Reason == "" {
			e.Reason = "OTHER"
		}
	case world.CodeNotFound:
		e.Status = http.StatusNotFound
	case world.CodeConflict:
		e.Status = http.StatusConflict
	}
	return e
}

func cancellationView(s *world.State, cr *world.CancellationRequest) agreementapi.CancellationRequest {
	return agreementapi.CancellationRequest{ID: cr.ID, AgreementID: cr.AgreementID, ReasonCode: cr.ReasonCode, Description: cr.Description,
		Status: cr.Status, StatusMessage: cr.StatusMessage, CreatedAt: cr.CreatedAt, UpdatedAt: cr.UpdatedAt,
		AgreementType: agreementapi.DefaultAgreementType, CatalogName: agreementapi.Catalog}
}

func (l lifecycle) one(fn func(s *world.State) (*world.CancellationRequest, error)) (agreementapi.CancellationRequest, error) {
	var out agreementapi.CancellationRequest
	err := l.w.Do(func(s *world.State) error {
		cr, err := fn(s)
		if err != nil {
			return err
		}
		out = cancellationView(s, cr)
		return nil
	})
	return out, apiError(err)
}

func (l lifecycle) SendCancellationRequest(agreementID, reasonCode, description, clientToken string) (agreementapi.CancellationRequest, error) {
	return l.one(func(s *world.State) (*world.CancellationRequest, error) {
		return s.SendCancellationRequest(agreementID, reasonCode, description, clientToken)
	})
}

func (l lifecycle) GetCancellationRequest(agreementID, id string) (agreementapi.CancellationRequest, error) {
	var out agreementapi.CancellationRequest
	err := l.w.Read(func(s *world.State) error {
		if s.Agreements[agreementID] == nil {
			return agreementNotFound(agreementID)
		}
		cr, err := s.CancellationRequest(agreementID, id)
		if err == nil {
			out = cancellationView(s, cr)
		}
		return err
	})
	return out, apiError(err)
}

func (l lifecycle) ListCancellationRequests(f agreementapi.CancellationFilter) ([]agreementapi.CancellationRequest, error) {
	var out []agreementapi.CancellationRequest
	err := l.w.Read(func(s *world.State) error {
		for _, cr := range s.CancellationRequestsOf(f.AgreementID, f.Status) {
			out = append(out, cancellationView(s, cr))
		}
		return nil
	})
	return out, apiError(err)
}

func (l lifecycle) CancelCancellationRequest(agreementID, id, reason string) (agreementapi.CancellationRequest, error) {
	return l.one(func(s *world.State) (*world.CancellationRequest, error) {
		return s.WithdrawCancellationRequest(agreementID, id, reason)
	})
}

func (l lifecycle) AcceptCancellationRequest(agreementID, id string) (agreementapi.CancellationRequest, error) {
	return l.one(func(s *world.State) (*world.CancellationRequest, error) {
		return s.ApproveCancellationRequest(agreementID, id)
	})
}

func (l lifecycle) RejectCancellationRequest(agreementID, id, reason string) (agreementapi.CancellationRequest, error) {
	return l.one(func(s *world.State) (*world.CancellationRequest, error) {
		return s.RejectCancellationRequest(agreementID, id, reason)
	})
}

// AgreementEntitlements reports the agreement's license as AWS's
// AgreementEntitlement: PROVISIONED while it is active (AGREEMENT_ACTIVE, or
// AGREEMENT_INACTIVE in the final metering window after the agreement
// ended), SCHEDULED with FUTURE_START_DATE before a future-dated agreement
// starts, DEPROVISIONED (AGREEMENT_INACTIVE) once revoked. Statuses and
// reason codes: SDK types/enums.go AgreementEntitlementStatus and
// AgreementEntitlementStatusReasonCode.
func (l lifecycle) AgreementEntitlements(agreementID string) ([]agreementapi.Entitlement, error) {
	var out []agreementapi.Entitlement
	err := l.w.Read(func(s *world.State) error {
		a := s.Agreements[agreementID]
		if a == nil {
			return agreementNotFound(agreementID)
		}
		e := agreementapi.Entitlement{ResourceID: a.ProductID, ResourceType: agreementapi.DefaultProductType, LicenseArn: a.LicenseArn}
		lic := s.Licenses[a.LicenseArn]
		switch {
		case lic == nil && a.Status == "ACTIVE":
			e.Status, e.StatusReasonCode = "SCHEDULED", "FUTURE_START_DATE"
		case lic == nil || lic.State == world.LicenseDeprovisioned:
			e.Status, e.StatusReasonCode = "DEPROVISIONED", "AGREEMENT_INACTIVE"
		case lic.State == world.LicenseEnding:
			e.Status, e.StatusReasonCode = "PROVISIONED", "AGREEMENT_INACTIVE"
		default:
			e.Status, e.StatusReasonCode = "PROVISIONED", "AGREEMENT_ACTIVE"
		}
		out = append(out, e)
		return nil
	})
	return out, apiError(err)
}

func agreementNotFound(id string) error {
	e := world.Errorf(world.CodeNotFound, "Agreement %s not found", id)
	e.ResourceType, e.ResourceID = "Agreement", id
	return e
}

var _ agreementapi.Billing = lifecycle{}

func (l lifecycle) Charges(agreementID string) ([]agreementapi.Charge, error) {
	var out []agreementapi.Charge
	err := l.w.Read(func(s *world.State) error {
		ids := []string{agreementID}
		if agreementID == "" {
			ids = world.SortedKeys(s.Agreements)
		} else if s.Agreements[agreementID] == nil {
			return agreementNotFound(agreementID)
		}
		for _, id := range ids {
			for _, c := range s.Charges(s.Agreements[id]) {
				out = append(out, agreementapi.Charge{ID: c.ID, AgreementID: c.AgreementID, Amount: c.Amount, Currency: c.Currency, Time: c.Time})
			}
		}
		return nil
	})
	return out, apiError(err)
}

func (l lifecycle) Invoices(agreementID string) ([]agreementapi.Invoice, error) {
	var out []agreementapi.Invoice
	err := l.w.Read(func(s *world.State) error {
		a := s.Agreements[agreementID]
		if a == nil {
			return agreementNotFound(agreementID)
		}
		for _, inv := range s.Invoices(a) {
			out = append(out, agreementapi.Invoice{ID: inv.ID, AgreementID: inv.AgreementID, Type: inv.Type, Issued: inv.Issued,
				Year: inv.Year, Month: inv.Month, Amount: inv.Amount, Currency: inv.Currency, MaxAdjustment: inv.MaxAdjustment})
		}
		return nil
	})
	return out, apiError(err)
}

func (l lifecycle) CreateBillingAdjustments(entries []agreementapi.AdjustmentEntry) ([]agreementapi.AdjustmentResult, error) {
	var out []agreementapi.AdjustmentResult
	err := l.w.Do(func(s *world.State) error {
		in := make([]world.AdjustmentEntry, len(entries))
		for i, e := range entries {
			in[i] = world.AdjustmentEntry(e)
		}
		results, err := s.CreateBillingAdjustments(in)
		for _, r := range results {
			res := agreementapi.AdjustmentResult{ClientToken: r.ClientToken, ErrorCode: r.ErrorCode, Message: r.Message}
			if r.Request != nil {
				res.RequestID = r.Request.ID
			}
			out = append(out, res)
		}
		return err
	})
	return out, apiError(err)
}

func adjustmentView(ba *world.BillingAdjustment) agreementapi.BillingAdjustment {
	return agreementapi.BillingAdjustment{ID: ba.ID, AgreementID: ba.AgreementID, InvoiceID: ba.InvoiceID, Amount: ba.Amount, Currency: ba.Currency,
		ReasonCode: ba.ReasonCode, Description: ba.Description, Status: ba.Status, StatusMessage: ba.StatusMessage, CreatedAt: ba.CreatedAt, UpdatedAt: ba.UpdatedAt}
}

func (l lifecycle) GetBillingAdjustment(agreementID, id string) (agreementapi.BillingAdjustment, error) {
	var out agreementapi.BillingAdjustment
	err := l.w.Read(func(s *world.State) error {
		if s.Agreements[agreementID] == nil {
			return agreementNotFound(agreementID)
		}
		ba, err := s.BillingAdjustment(agreementID, id)
		if err == nil {
			out = adjustmentView(ba)
		}
		return err
	})
	return out, apiError(err)
}

func (l lifecycle) ListBillingAdjustments(agreementID, status string) ([]agreementapi.BillingAdjustment, error) {
	var out []agreementapi.BillingAdjustment
	err := l.w.Read(func(s *world.State) error {
		for _, ba := range s.BillingAdjustmentsOf(agreementID, status) {
			out = append(out, adjustmentView(ba))
		}
		return nil
	})
	return out, apiError(err)
}

var _ agreementapi.Payments = lifecycle{}

func paymentView(pr *world.PaymentRequest) agreementapi.PaymentRequest {
	return agreementapi.PaymentRequest{ID: pr.ID, AgreementID: pr.AgreementID, Name: pr.Name, Description: pr.Description, ChargeAmount: pr.ChargeAmount,
		Currency: pr.Currency, ChargeID: pr.ChargeID, Status: pr.Status, StatusMessage: pr.StatusMessage, CreatedAt: pr.CreatedAt, UpdatedAt: pr.UpdatedAt}
}

func (l lifecycle) payment(write bool, fn func(s *world.State) (*world.PaymentRequest, error)) (agreementapi.PaymentRequest, error) {
	var out agreementapi.PaymentRequest
	run := l.w.Read
	if write {
		run = l.w.Do
	}
	err := run(func(s *world.State) error {
		pr, err := fn(s)
		if err == nil {
			out = paymentView(pr)
		}
		return err
	})
	return out, apiError(err)
}

func (l lifecycle) SendPaymentRequest(in agreementapi.PaymentSend) (agreementapi.PaymentRequest, error) {
	return l.payment(true, func(s *world.State) (*world.PaymentRequest, error) {
		return s.SendPaymentRequest(in.AgreementID, in.TermID, in.Name, in.Description, in.ChargeAmount, in.ClientToken)
	})
}

func (l lifecycle) GetPaymentRequest(agreementID, id string) (agreementapi.PaymentRequest, error) {
	return l.payment(false, func(s *world.State) (*world.PaymentRequest, error) {
		if s.Agreements[agreementID] == nil {
			return nil, agreementNotFound(agreementID)
		}
		return s.PaymentRequest(agreementID, id)
	})
}

func (l lifecycle) ListPaymentRequests(agreementID, status string) ([]agreementapi.PaymentRequest, error) {
	var out []agreementapi.PaymentRequest
	err := l.w.Read(func(s *world.State) error {
		for _, pr := range s.PaymentRequestsOf(agreementID, status) {
			out = append(out, paymentView(pr))
		}
		return nil
	})
	return out, apiError(err)
}

func (l lifecycle) CancelPaymentRequest(agreementID, id string) (agreementapi.PaymentRequest, error) {
	return l.payment(true, func(s *world.State) (*world.PaymentRequest, error) { return s.CancelPaymentRequest(agreementID, id) })
}

func (l lifecycle) AcceptPaymentRequest(agreementID, id, purchaseOrder string) (agreementapi.PaymentRequest, error) {
	return l.payment(true, func(s *world.State) (*world.PaymentRequest, error) {
		return s.ApprovePaymentRequest(agreementID, id, purchaseOrder)
	})
}

func (l lifecycle) RejectPaymentRequest(agreementID, id, reason string) (agreementapi.PaymentRequest, error) {
	return l.payment(true, func(s *world.State) (*world.PaymentRequest, error) {
		return s.RejectPaymentRequest(agreementID, id, reason)
	})
}
