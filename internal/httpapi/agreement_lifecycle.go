package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/agreement"
	"github.com/concordmp/concord/internal/marketplace"
)

// Lifecycle is everything Concord knows of what happened to an agreement
// after its acceptance: AWS's Ending, Renewal and Advisory notices, the
// seller's cancellation requests, refunds and payment requests, and the
// invoices and charges AWS lists (cached; refresh=true asks AWS again).
type Lifecycle struct {
	AgreementID          string                            `json:"agreementId"`
	Outlook              *marketplace.AgreementOutlook     `json:"outlook,omitempty"`
	CancellationRequests []marketplace.CancellationRequest `json:"cancellationRequests"`
	Refunds              []marketplace.BillingAdjustment   `json:"refunds"`
	PaymentRequests      []marketplace.PaymentRequest      `json:"paymentRequests"`
	Invoices             []agreement.InvoiceView           `json:"invoices"`
	Charges              []marketplace.Charge              `json:"charges"`
	// BillingRefreshedAt is when the invoices and charges were fetched (absent: never).
	BillingRefreshedAt *time.Time `json:"billingRefreshedAt,omitempty"`
}

// LoadLifecycle reads an agreement's lifecycle; refresh asks AWS first.
func LoadLifecycle(ctx context.Context, svc *agreement.Service, id string, refresh bool) (Lifecycle, error) {
	l := Lifecycle{AgreementID: id}
	if refresh {
		if _, err := svc.RefreshCancellations(ctx, id); err != nil {
			return l, err
		}
		if _, err := svc.RefreshPayments(ctx, id); err != nil {
			return l, err
		}
		if err := svc.RefreshBilling(ctx, id); err != nil {
			return l, err
		}
	}
	var err error
	if o, ok, err := svc.Outlook(ctx, id); err != nil {
		return l, err
	} else if ok {
		l.Outlook = &o
	}
	if l.CancellationRequests, err = svc.RefreshedCancellations(ctx, id); err != nil {
		return l, err
	}
	if l.Refunds, err = svc.Refunds(ctx, id); err != nil {
		return l, err
	}
	if l.PaymentRequests, err = svc.Payments(ctx, id); err != nil {
		return l, err
	}
	if l.Invoices, l.BillingRefreshedAt, err = svc.Invoices(ctx, id); err != nil {
		return l, err
	}
	l.Charges, _, err = svc.Charges(ctx, id)
	l.CancellationRequests, l.Refunds, l.PaymentRequests = nonNil(l.CancellationRequests), nonNil(l.Refunds), nonNil(l.PaymentRequests)
	return l, err
}

type withdrawBody struct {
	Reason string `json:"reason" doc:"Why the request is withdrawn (1-2000 characters); AWS requires it"`
}

type createdOutput[T any] struct {
	Status int
	Body   T
}

// registerAgreementLifecycle adds the /v1 operations of the agreement
// lifecycle (docs/agreements.md).
func (s *Server) registerAgreementLifecycle(api huma.API) {
	if s.Agreements == nil {
		return
	}
	svc := s.Agreements
	op := func(id, method, path, summary string, status int) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"Agreement lifecycle"},
			Security: security, DefaultStatus: status, MaxBodyBytes: 16 << 10}
	}

	huma.Register(api, op("get-agreement-lifecycle", http.MethodGet, "/v1/agreements/{id}/lifecycle",
		"An agreement's Ending/Renewal/Advisory notices, cancellation requests, refunds, payment requests, invoices and charges", 0),
		func(ctx context.Context, in *struct {
			ID      string `path:"id" doc:"Agreement id (agmt-…)."`
			Refresh bool   `query:"refresh" doc:"Ask AWS for the requests, invoices and charges first."`
		}) (*bodyOutput[Lifecycle], error) {
			l, err := LoadLifecycle(ctx, svc, in.ID, in.Refresh)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[Lifecycle]{l}, nil
		})

	huma.Register(api, op("get-lifecycle-counts", http.MethodGet, "/v1/agreement-lifecycle/counts",
		"Pending cancellation requests, refunds and payment requests, and open advisories", 0),
		func(ctx context.Context, in *struct{}) (*bodyOutput[agreement.Counts], error) {
			c, err := svc.Count(ctx)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[agreement.Counts]{c}, nil
		})

	huma.Register(api, op("create-cancellation-request", http.MethodPost, "/v1/agreements/{id}/cancellation-requests",
		"Ask AWS to cancel an active agreement; the buyer approves or rejects (AWS approves after 7 days)", http.StatusCreated),
		func(ctx context.Context, in *struct {
			ID   string `path:"id" doc:"Agreement id (agmt-…)."`
			Body agreement.CancelInput
		}) (*bodyOutput[marketplace.CancellationRequest], error) {
			c, err := svc.RequestCancellation(ctx, in.ID, in.Body)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.CancellationRequest]{c}, nil
		})

	huma.Register(api, op("list-cancellation-requests", http.MethodGet, "/v1/agreements/{id}/cancellation-requests",
		"The agreement's cancellation requests, newest first", 0),
		func(ctx context.Context, in *struct {
			ID      string `path:"id" doc:"Agreement id (agmt-…)."`
			Refresh bool   `query:"refresh" doc:"Ask AWS (ListAgreementCancellationRequests) first."`
		}) (*listOutput[marketplace.CancellationRequest], error) {
			var items []marketplace.CancellationRequest
			var err error
			if in.Refresh {
				items, err = svc.RefreshCancellations(ctx, in.ID)
			} else {
				items, err = svc.RefreshedCancellations(ctx, in.ID)
			}
			if err != nil {
				return nil, s.apiError(err)
			}
			return &listOutput[marketplace.CancellationRequest]{Body: List[marketplace.CancellationRequest]{Items: nonNil(items)}}, nil
		})

	huma.Register(api, op("withdraw-cancellation-request", http.MethodPost, "/v1/agreements/{id}/cancellation-requests/{requestId}/withdraw",
		"Withdraw a cancellation request still pending the buyer's approval", 0),
		func(ctx context.Context, in *struct {
			ID        string `path:"id" doc:"Agreement id (agmt-…)."`
			RequestID string `path:"requestId" doc:"Cancellation request id (acr-…)."`
			Body      withdrawBody
		}) (*bodyOutput[marketplace.CancellationRequest], error) {
			c, err := svc.WithdrawCancellation(ctx, in.ID, in.RequestID, in.Body.Reason)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.CancellationRequest]{c}, nil
		})

	huma.Register(api, op("list-agreement-invoices", http.MethodGet, "/v1/agreements/{id}/invoices",
		"The agreement's invoices with what is left to refund of each (cached from ListAgreementInvoiceLineItems)", 0),
		func(ctx context.Context, in *struct {
			ID      string `path:"id" doc:"Agreement id (agmt-…)."`
			Refresh bool   `query:"refresh" doc:"Ask AWS first."`
		}) (*listOutput[agreement.InvoiceView], error) {
			if in.Refresh {
				if err := svc.RefreshBilling(ctx, in.ID); err != nil {
					return nil, s.apiError(err)
				}
			}
			items, _, err := svc.Invoices(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &listOutput[agreement.InvoiceView]{Body: List[agreement.InvoiceView]{Items: items}}, nil
		})

	huma.Register(api, op("list-agreement-charges", http.MethodGet, "/v1/agreements/{id}/charges",
		"The agreement's charges (cached from ListAgreementCharges)", 0),
		func(ctx context.Context, in *struct {
			ID      string `path:"id" doc:"Agreement id (agmt-…)."`
			Refresh bool   `query:"refresh" doc:"Ask AWS first."`
		}) (*listOutput[marketplace.Charge], error) {
			if in.Refresh {
				if err := svc.RefreshBilling(ctx, in.ID); err != nil {
					return nil, s.apiError(err)
				}
			}
			items, _, err := svc.Charges(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &listOutput[marketplace.Charge]{Body: List[marketplace.Charge]{Items: items}}, nil
		})

	huma.Register(api, op("create-refund", http.MethodPost, "/v1/agreements/{id}/refunds",
		"Refund part of an invoice (a billing adjustment); 201 when requested, 200 when the client token's refund already exists", http.StatusCreated),
		func(ctx context.Context, in *struct {
			ID   string `path:"id" doc:"Agreement id (agmt-…)."`
			Body agreement.RefundInput
		}) (*createdOutput[marketplace.BillingAdjustment], error) {
			b, created, err := svc.Refund(ctx, in.ID, in.Body)
			if err != nil {
				return nil, s.apiError(err)
			}
			status := http.StatusOK
			if created {
				status = http.StatusCreated
			}
			return &createdOutput[marketplace.BillingAdjustment]{Status: status, Body: b}, nil
		})

	huma.Register(api, op("list-refunds", http.MethodGet, "/v1/agreements/{id}/refunds", "The agreement's refunds, newest first", 0),
		func(ctx context.Context, in *struct {
			ID string `path:"id" doc:"Agreement id (agmt-…)."`
		}) (*listOutput[marketplace.BillingAdjustment], error) {
			items, err := svc.Refunds(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &listOutput[marketplace.BillingAdjustment]{Body: List[marketplace.BillingAdjustment]{Items: nonNil(items)}}, nil
		})

	huma.Register(api, op("refresh-refund", http.MethodPost, "/v1/agreements/{id}/refunds/{refundId}/refresh",
		"Ask AWS for a refund's status (GetBillingAdjustmentRequest)", 0),
		func(ctx context.Context, in *struct {
			ID       string `path:"id" doc:"Agreement id (agmt-…)."`
			RefundID string `path:"refundId" doc:"Billing adjustment request id (ba-…)."`
		}) (*bodyOutput[marketplace.BillingAdjustment], error) {
			b, err := svc.RefreshRefund(ctx, in.ID, in.RefundID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.BillingAdjustment]{b}, nil
		})

	huma.Register(api, op("create-payment-request", http.MethodPost, "/v1/agreements/{id}/payment-requests",
		"Ask the buyer to approve a charge under the agreement's variable payment term", http.StatusCreated),
		func(ctx context.Context, in *struct {
			ID   string `path:"id" doc:"Agreement id (agmt-…)."`
			Body agreement.PaymentInput
		}) (*bodyOutput[marketplace.PaymentRequest], error) {
			p, err := svc.RequestPayment(ctx, in.ID, in.Body)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.PaymentRequest]{p}, nil
		})

	huma.Register(api, op("list-payment-requests", http.MethodGet, "/v1/agreements/{id}/payment-requests",
		"The agreement's payment requests, newest first", 0),
		func(ctx context.Context, in *struct {
			ID      string `path:"id" doc:"Agreement id (agmt-…)."`
			Refresh bool   `query:"refresh" doc:"Ask AWS (ListAgreementPaymentRequests) first."`
		}) (*listOutput[marketplace.PaymentRequest], error) {
			var items []marketplace.PaymentRequest
			var err error
			if in.Refresh {
				items, err = svc.RefreshPayments(ctx, in.ID)
			} else {
				items, err = svc.Payments(ctx, in.ID)
			}
			if err != nil {
				return nil, s.apiError(err)
			}
			return &listOutput[marketplace.PaymentRequest]{Body: List[marketplace.PaymentRequest]{Items: nonNil(items)}}, nil
		})

	huma.Register(api, op("cancel-payment-request", http.MethodPost, "/v1/agreements/{id}/payment-requests/{paymentId}/cancel",
		"Withdraw a payment request the buyer has not answered", 0),
		func(ctx context.Context, in *struct {
			ID        string `path:"id" doc:"Agreement id (agmt-…)."`
			PaymentID string `path:"paymentId" doc:"Payment request id."`
		}) (*bodyOutput[marketplace.PaymentRequest], error) {
			p, err := svc.CancelPayment(ctx, in.ID, in.PaymentID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.PaymentRequest]{p}, nil
		})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
