package awsmp

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/types"
	smithy "github.com/aws/smithy-go"

	"github.com/concordmp/concord/internal/marketplace"
)

// The seller-side lifecycle operations of the Agreement API (2026):
// cancellation requests, billing adjustments, payment requests, invoices and
// charges. Shapes and enums are those of aws-sdk-go-v2/service/
// marketplaceagreement v1.30.7 (api_op_*.go, types/types.go); the results are
// Concord's domain types so callers never see the SDK.

// partyProposer is the PartyType a seller lists its own requests with
// (ListAgreementCancellationRequestsInput.PartyType: "Use Proposer to list
// cancellation requests where you are the seller").
const partyProposer = "Proposer"

// refusal turns an error of the Agreement API into a coded application
// error carrying AWS's own words: a refusal (4xx) keeps its code and message
// verbatim so the seller sees why AWS said no; anything else stays internal.
func refusal(op string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%s: %w", op, err)
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	msg := fmt.Sprintf("AWS refused %s: %s: %s", op, ae.ErrorCode(), ae.ErrorMessage())
	switch {
	case ae.ErrorCode() == "ResourceNotFoundException" || status == http.StatusNotFound:
		return marketplace.Errorf(marketplace.ENotFound, "%s", msg)
	case ae.ErrorCode() == "ConflictException" || status == http.StatusConflict:
		return marketplace.Errorf(marketplace.EConflict, "%s", msg)
	case ae.ErrorCode() == "ValidationException" || ae.ErrorCode() == "ServiceQuotaExceededException" || status == http.StatusBadRequest:
		return marketplace.Errorf(marketplace.EInvalid, "%s", msg)
	case ae.ErrorCode() == "AccessDeniedException" || status == http.StatusForbidden:
		return marketplace.Errorf(marketplace.EUnauthorized, "%s", msg)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// SendCancellationRequest asks AWS to cancel an agreement
// (SendAgreementCancellationRequest); the request starts PENDING_APPROVAL.
func (a *Agreements) SendCancellationRequest(ctx context.Context, agreementID, reasonCode, description, clientToken string) (marketplace.CancellationRequest, error) {
	in := &marketplaceagreement.SendAgreementCancellationRequestInput{AgreementId: aws.String(agreementID),
		ReasonCode: types.AgreementCancellationRequestReasonCode(reasonCode), ClientToken: optional(clientToken), Description: optional(description)}
	out, err := a.Client.SendAgreementCancellationRequest(ctx, in)
	if err != nil {
		return marketplace.CancellationRequest{}, refusal("SendAgreementCancellationRequest", err)
	}
	return marketplace.CancellationRequest{ID: aws.ToString(out.AgreementCancellationRequestId), AgreementID: agreementID,
		ReasonCode: string(out.ReasonCode), Description: aws.ToString(out.Description), Status: string(out.Status),
		CreatedAt: utc(out.CreatedAt), UpdatedAt: utc(out.UpdatedAt)}, nil
}

// GetCancellationRequest reads one cancellation request.
func (a *Agreements) GetCancellationRequest(ctx context.Context, agreementID, id string) (marketplace.CancellationRequest, error) {
	out, err := a.Client.GetAgreementCancellationRequest(ctx, &marketplaceagreement.GetAgreementCancellationRequestInput{
		AgreementId: aws.String(agreementID), AgreementCancellationRequestId: aws.String(id)})
	if err != nil {
		return marketplace.CancellationRequest{}, refusal("GetAgreementCancellationRequest", err)
	}
	return marketplace.CancellationRequest{ID: aws.ToString(out.AgreementCancellationRequestId), AgreementID: agreementID,
		ReasonCode: string(out.ReasonCode), Description: aws.ToString(out.Description), Status: string(out.Status),
		StatusMessage: aws.ToString(out.StatusMessage), CreatedAt: utc(out.CreatedAt), UpdatedAt: utc(out.UpdatedAt)}, nil
}

// ListCancellationRequests lists the seller's cancellation requests of an
// agreement, every page.
func (a *Agreements) ListCancellationRequests(ctx context.Context, agreementID string) ([]marketplace.CancellationRequest, error) {
	var out []marketplace.CancellationRequest
	p := marketplaceagreement.NewListAgreementCancellationRequestsPaginator(a.Client, &marketplaceagreement.ListAgreementCancellationRequestsInput{
		PartyType: aws.String(partyProposer), AgreementId: aws.String(agreementID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, refusal("ListAgreementCancellationRequests", err)
		}
		for _, it := range page.Items {
			out = append(out, marketplace.CancellationRequest{ID: aws.ToString(it.AgreementCancellationRequestId), AgreementID: aws.ToString(it.AgreementId),
				ReasonCode: string(it.ReasonCode), Status: string(it.Status), CreatedAt: utc(it.CreatedAt), UpdatedAt: utc(it.UpdatedAt)})
		}
	}
	return out, nil
}

// CancelCancellationRequest withdraws a pending cancellation request
// (CancelAgreementCancellationRequest; reason is required, 1-2000 characters).
func (a *Agreements) CancelCancellationRequest(ctx context.Context, agreementID, id, reason string) (marketplace.CancellationRequest, error) {
	out, err := a.Client.CancelAgreementCancellationRequest(ctx, &marketplaceagreement.CancelAgreementCancellationRequestInput{
		AgreementId: aws.String(agreementID), AgreementCancellationRequestId: aws.String(id), CancellationReason: aws.String(reason)})
	if err != nil {
		return marketplace.CancellationRequest{}, refusal("CancelAgreementCancellationRequest", err)
	}
	return marketplace.CancellationRequest{ID: aws.ToString(out.AgreementCancellationRequestId), AgreementID: agreementID,
		ReasonCode: string(out.ReasonCode), Description: aws.ToString(out.Description), Status: string(out.Status),
		StatusMessage: aws.ToString(out.StatusMessage), CreatedAt: utc(out.CreatedAt), UpdatedAt: utc(out.UpdatedAt)}, nil
}

// CreateBillingAdjustment requests one refund against an invoice
// (BatchCreateBillingAdjustmentRequest with one entry). The client token makes
// a resend return the same request instead of refunding twice. An entry AWS
// refuses (the batch's errors) is an application error with AWS's code and
// message.
func (a *Agreements) CreateBillingAdjustment(ctx context.Context, b marketplace.BillingAdjustment) (string, error) {
	out, err := a.Client.BatchCreateBillingAdjustmentRequest(ctx, &marketplaceagreement.BatchCreateBillingAdjustmentRequestInput{
		BillingAdjustmentRequestEntries: []types.BatchCreateBillingAdjustmentRequestEntry{{
			AgreementId: aws.String(b.AgreementID), OriginalInvoiceId: aws.String(b.InvoiceID), AdjustmentAmount: aws.String(b.Amount),
			CurrencyCode: aws.String(b.Currency), AdjustmentReasonCode: types.BillingAdjustmentReasonCode(b.ReasonCode),
			ClientToken: aws.String(b.ClientToken), Description: optional(b.Description)}}})
	if err != nil {
		return "", refusal("BatchCreateBillingAdjustmentRequest", err)
	}
	for _, e := range out.Errors {
		code := marketplace.EInvalid
		switch e.Code {
		case types.BillingAdjustmentErrorCodeConflictException:
			code = marketplace.EConflict
		case types.BillingAdjustmentErrorCodeResourceNotFoundException:
			code = marketplace.ENotFound
		case types.BillingAdjustmentErrorCodeInternalFailure:
			return "", fmt.Errorf("BatchCreateBillingAdjustmentRequest: %s: %s", e.Code, aws.ToString(e.Message))
		}
		return "", marketplace.Errorf(code, "AWS refused BatchCreateBillingAdjustmentRequest: %s: %s", e.Code, aws.ToString(e.Message))
	}
	for _, it := range out.Items {
		if aws.ToString(it.ClientToken) == b.ClientToken {
			return aws.ToString(it.BillingAdjustmentRequestId), nil
		}
	}
	return "", fmt.Errorf("BatchCreateBillingAdjustmentRequest answered neither an item nor an error for client token %s", b.ClientToken)
}

// GetBillingAdjustment reads one billing adjustment request.
func (a *Agreements) GetBillingAdjustment(ctx context.Context, agreementID, id string) (marketplace.BillingAdjustment, error) {
	out, err := a.Client.GetBillingAdjustmentRequest(ctx, &marketplaceagreement.GetBillingAdjustmentRequestInput{
		AgreementId: aws.String(agreementID), BillingAdjustmentRequestId: aws.String(id)})
	if err != nil {
		return marketplace.BillingAdjustment{}, refusal("GetBillingAdjustmentRequest", err)
	}
	return marketplace.BillingAdjustment{ID: aws.ToString(out.BillingAdjustmentRequestId), AgreementID: agreementID,
		InvoiceID: aws.ToString(out.OriginalInvoiceId), Amount: aws.ToString(out.AdjustmentAmount), Currency: aws.ToString(out.CurrencyCode),
		ReasonCode: string(out.AdjustmentReasonCode), Description: aws.ToString(out.Description), Status: string(out.Status),
		StatusMessage: aws.ToString(out.StatusMessage), CreatedAt: utc(out.CreatedAt), UpdatedAt: utc(out.UpdatedAt)}, nil
}

// ListBillingAdjustments lists an agreement's billing adjustment requests, every page.
func (a *Agreements) ListBillingAdjustments(ctx context.Context, agreementID string) ([]marketplace.BillingAdjustment, error) {
	var out []marketplace.BillingAdjustment
	p := marketplaceagreement.NewListBillingAdjustmentRequestsPaginator(a.Client, &marketplaceagreement.ListBillingAdjustmentRequestsInput{
		AgreementId: aws.String(agreementID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, refusal("ListBillingAdjustmentRequests", err)
		}
		for _, it := range page.Items {
			out = append(out, marketplace.BillingAdjustment{ID: aws.ToString(it.BillingAdjustmentRequestId), AgreementID: aws.ToString(it.AgreementId),
				InvoiceID: aws.ToString(it.OriginalInvoiceId), Amount: aws.ToString(it.AdjustmentAmount), Currency: aws.ToString(it.CurrencyCode),
				Status: string(it.Status), CreatedAt: utc(it.CreatedAt), UpdatedAt: utc(it.UpdatedAt)})
		}
	}
	return out, nil
}

// ListInvoices lists an agreement's invoices and credit memos
// (ListAgreementInvoiceLineItems grouped by INVOICE_ID, the only grouping
// AWS supports), every page.
func (a *Agreements) ListInvoices(ctx context.Context, agreementID string) ([]marketplace.Invoice, error) {
	out := []marketplace.Invoice{}
	p := marketplaceagreement.NewListAgreementInvoiceLineItemsPaginator(a.Client, &marketplaceagreement.ListAgreementInvoiceLineItemsInput{
		AgreementId: aws.String(agreementID), GroupBy: types.LineItemGroupByInvoiceId})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, refusal("ListAgreementInvoiceLineItems", err)
		}
		for _, g := range page.AgreementInvoiceLineItemGroupSummaries {
			in := marketplace.Invoice{InvoiceID: aws.ToString(g.InvoiceId), Type: string(g.InvoiceType), IssuedAt: utc(g.IssuedTime)}
			if m := g.PricingCurrencyAmount; m != nil {
				in.Amount, in.Currency, in.MaxAdjustmentAmount = aws.ToString(m.Amount), aws.ToString(m.CurrencyCode), aws.ToString(m.MaxAdjustmentAmount)
			}
			if bp := g.InvoiceBillingPeriod; bp != nil && bp.Year != nil && bp.Month != nil {
				in.BillingPeriod = fmt.Sprintf("%04d-%02d", *bp.Year, *bp.Month)
			}
			if e := g.InvoicingEntity; e != nil {
				in.InvoicingEntity = aws.ToString(e.LegalName)
			}
			out = append(out, in)
		}
	}
	return out, nil
}

// ListCharges lists an agreement's charges (ListAgreementCharges), every page.
func (a *Agreements) ListCharges(ctx context.Context, agreementID string) ([]marketplace.Charge, error) {
	out := []marketplace.Charge{}
	p := marketplaceagreement.NewListAgreementChargesPaginator(a.Client, &marketplaceagreement.ListAgreementChargesInput{AgreementId: aws.String(agreementID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, refusal("ListAgreementCharges", err)
		}
		for _, c := range page.Items {
			out = append(out, marketplace.Charge{ChargeID: aws.ToString(c.Id), Amount: aws.ToString(c.Amount), Currency: aws.ToString(c.CurrencyCode),
				Time: utc(c.Time), PurchaseOrderReference: aws.ToString(c.PurchaseOrderReference), Revision: aws.ToInt64(c.Revision)})
		}
	}
	return out, nil
}

// SendPaymentRequest asks the buyer to approve a charge under the
// agreement's variable payment term (SendAgreementPaymentRequest).
func (a *Agreements) SendPaymentRequest(ctx context.Context, r marketplace.PaymentRequest, clientToken string) (marketplace.PaymentRequest, error) {
	out, err := a.Client.SendAgreementPaymentRequest(ctx, &marketplaceagreement.SendAgreementPaymentRequestInput{AgreementId: aws.String(r.AgreementID),
		ChargeAmount: aws.String(r.ChargeAmount), Name: aws.String(r.Name), TermId: aws.String(r.TermID), ClientToken: optional(clientToken),
		Description: optional(r.Description)})
	if err != nil {
		return marketplace.PaymentRequest{}, refusal("SendAgreementPaymentRequest", err)
	}
	return marketplace.PaymentRequest{ID: aws.ToString(out.PaymentRequestId), AgreementID: r.AgreementID, TermID: r.TermID, Name: aws.ToString(out.Name),
		Description: aws.ToString(out.Description), ChargeAmount: aws.ToString(out.ChargeAmount), Currency: aws.ToString(out.CurrencyCode),
		Status: string(out.Status), CreatedAt: utc(out.CreatedAt), UpdatedAt: utc(out.CreatedAt)}, nil
}

// GetPaymentRequest reads one payment request.
func (a *Agreements) GetPaymentRequest(ctx context.Context, agreementID, id string) (marketplace.PaymentRequest, error) {
	out, err := a.Client.GetAgreementPaymentRequest(ctx, &marketplaceagreement.GetAgreementPaymentRequestInput{AgreementId: aws.String(agreementID),
		PaymentRequestId: aws.String(id)})
	if err != nil {
		return marketplace.PaymentRequest{}, refusal("GetAgreementPaymentRequest", err)
	}
	return marketplace.PaymentRequest{ID: aws.ToString(out.PaymentRequestId), AgreementID: agreementID, Name: aws.ToString(out.Name),
		Description: aws.ToString(out.Description), ChargeAmount: aws.ToString(out.ChargeAmount), Currency: aws.ToString(out.CurrencyCode),
		ChargeID: aws.ToString(out.ChargeId), Status: string(out.Status), StatusMessage: aws.ToString(out.StatusMessage),
		CreatedAt: utc(out.CreatedAt), UpdatedAt: utc(out.UpdatedAt)}, nil
}

// ListPaymentRequests lists the seller's payment requests of an agreement, every page.
func (a *Agreements) ListPaymentRequests(ctx context.Context, agreementID string) ([]marketplace.PaymentRequest, error) {
	var out []marketplace.PaymentRequest
	p := marketplaceagreement.NewListAgreementPaymentRequestsPaginator(a.Client, &marketplaceagreement.ListAgreementPaymentRequestsInput{
		PartyType: aws.String(partyProposer), AgreementId: aws.String(agreementID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, refusal("ListAgreementPaymentRequests", err)
		}
		for _, it := range page.Items {
			out = append(out, marketplace.PaymentRequest{ID: aws.ToString(it.PaymentRequestId), AgreementID: aws.ToString(it.AgreementId),
				Name: aws.ToString(it.Name), ChargeAmount: aws.ToString(it.ChargeAmount), Currency: aws.ToString(it.CurrencyCode),
				ChargeID: aws.ToString(it.ChargeId), Status: string(it.Status), CreatedAt: utc(it.CreatedAt), UpdatedAt: utc(it.UpdatedAt)})
		}
	}
	return out, nil
}

// CancelPaymentRequest withdraws a payment request (CancelAgreementPaymentRequest).
func (a *Agreements) CancelPaymentRequest(ctx context.Context, agreementID, id string) (marketplace.PaymentRequest, error) {
	out, err := a.Client.CancelAgreementPaymentRequest(ctx, &marketplaceagreement.CancelAgreementPaymentRequestInput{AgreementId: aws.String(agreementID),
		PaymentRequestId: aws.String(id)})
	if err != nil {
		return marketplace.PaymentRequest{}, refusal("CancelAgreementPaymentRequest", err)
	}
	return marketplace.PaymentRequest{ID: aws.ToString(out.PaymentRequestId), AgreementID: agreementID, Name: aws.ToString(out.Name),
		Description: aws.ToString(out.Description), ChargeAmount: aws.ToString(out.ChargeAmount), Currency: aws.ToString(out.CurrencyCode),
		Status: string(out.Status), CreatedAt: utc(out.CreatedAt), UpdatedAt: utc(out.UpdatedAt)}, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
