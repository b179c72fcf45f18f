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
