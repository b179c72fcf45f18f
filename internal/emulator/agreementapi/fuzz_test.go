package agreementapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/smithy-go/encoding/cbor"
)

// FuzzServeHTTP posts arbitrary bodies to every operation over both
// protocols and checks that the server never panics and answers 2xx or 4xx.
func FuzzServeHTTP(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"agreementId":"` + agreementID + `","maxResults":2}`))
	f.Add([]byte(`{"agreementId":"` + agreementID + `","nextToken":"djE6MDox"}`))
	f.Add([]byte(`{"catalog":"AWSMarketplace","filters":[{"name":"Status","values":["ACTIVE"]}],"sort":{"sortBy":"EndTime"},"maxResults":1}`))
	f.Add([]byte(`{"filters":[null,{"name":7}],"maxResults":1e400}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add(cbor.Encode(cbor.Map{"agreementId": cbor.String(agreementID), "maxResults": cbor.Uint(3)}))
	f.Add(cbor.Encode(cbor.Map{"agreementId": cbor.String(agreementID), "maxResults": cbor.NegInt(0)}))
	f.Add(cbor.Encode(cbor.Map{
		"catalog": cbor.String("AWSMarketplace"),
		"filters": cbor.List{cbor.Map{"name": cbor.String("BeforeEndTime"), "values": cbor.List{cbor.String("2030-01-01T00:00:00Z")}}},
		"sort":    cbor.Map{"sortOrder": cbor.String("DESCENDING")},
	}))
	f.Add(cbor.Encode(cbor.Map{"agreementId": &cbor.Tag{ID: 1, Value: cbor.Float64(1.5)}, "nextToken": cbor.Slice("x")}))
	f.Add([]byte{0xbf, 0x61, 0x61, 0xff}) // indefinite map with a dangling key

	f.Add([]byte(`{"agreementId":"` + agreementID + `","reasonCode":"OTHER","description":"x","clientToken":"t-1"}`))
	f.Add([]byte(`{"agreementId":"` + agreementID + `","agreementCancellationRequestId":"acr-1","cancellationReason":"","rejectionReason":7}`))
	f.Add([]byte(`{"partyType":"Proposer","status":"APPROVED","catalog":"AWSMarketplace","agreementType":"PurchaseAgreement","maxResults":1,"nextToken":"x"}`))
	f.Add(cbor.Encode(cbor.Map{"agreementId": cbor.String(agreementID), "reasonCode": cbor.String("TEST_AGREEMENT"), "description": cbor.String("")}))
	f.Add([]byte(`{"billingAdjustmentRequestEntries":[{"agreementId":"` + agreementID + `","originalInvoiceId":"inv-1","adjustmentAmount":"1.5","currencyCode":"USD","adjustmentReasonCode":"OTHER","clientToken":"t"},null]}`))
	f.Add([]byte(`{"agreementId":"` + agreementID + `","groupBy":"INVOICE_ID","invoiceBillingPeriod":{"month":13,"year":2026},"afterIssuedTime":1.7e9,"invoiceType":"CREDIT_MEMO"}`))
	f.Add([]byte(`{"agreementId":"` + agreementID + `","billingAdjustmentRequestId":"ba-1","status":"PENDING","createdAfter":"x"}`))
	f.Add([]byte(`{"agreementId":"` + agreementID + `","paymentRequestId":"pr-1","termId":"t","name":"Five!","chargeAmount":"1.5","rejectionReason":"","partyType":"Acceptor"}`))

	srv := New(Options{Lifecycle: stubLifecycle{}})
	a := fixtureAgreement()
	srv.Put(a)

	ops := []string{OpDescribeAgreement, OpGetAgreementTerms, OpSearchAgreements, "Bogus",
		OpSendAgreementCancellationRequest, OpGetAgreementCancellationRequest, OpListAgreementCancellationRequests,
		OpCancelAgreementCancellationRequest, OpAcceptAgreementCancellationRequest, OpRejectAgreementCancellationRequest,
		OpGetAgreementEntitlements, OpListAgreementInvoiceLineItems, OpListAgreementCharges, OpBatchCreateBillingAdjustmentRequest,
		OpGetBillingAdjustmentRequest, OpListBillingAdjustmentRequests,
		OpSendAgreementPaymentRequest, OpGetAgreementPaymentRequest, OpListAgreementPaymentRequests, OpCancelAgreementPaymentRequest,
		OpAcceptAgreementPaymentRequest, OpRejectAgreementPaymentRequest}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, op := range ops {
			for _, proto := range []string{"cbor", "json"} {
				var req *http.Request
				if proto == "cbor" {
					req = httptest.NewRequest(http.MethodPost, "/service/"+ServiceName+"/operation/"+op, bytes.NewReader(body))
					req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
					req.Header.Set("Content-Type", "application/cbor")
				} else {
					req = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
					req.Header.Set("X-Amz-Target", ServiceName+"."+op)
					req.Header.Set("Content-Type", "application/x-amz-json-1.0")
				}
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code < 200 || rec.Code >= 500 {
					t.Fatalf("%s %s: status %d for body %q: %s", proto, op, rec.Code, body, rec.Body.Bytes())
				}
			}
		}
	})
}

// stubLifecycle answers every lifecycle call with one request or
// entitlement, so fuzzing reaches the response encoders.
type stubLifecycle struct{}

func (stubLifecycle) cr(agreementID, id string) CancellationRequest {
	return CancellationRequest{ID: id, AgreementID: agreementID, ReasonCode: "OTHER", Status: "PENDING_APPROVAL", CreatedAt: tStart, UpdatedAt: tStart}
}
func (l stubLifecycle) SendCancellationRequest(agreementID, _, _, _ string) (CancellationRequest, error) {
	return l.cr(agreementID, "acr-1"), nil
}
func (l stubLifecycle) GetCancellationRequest(agreementID, id string) (CancellationRequest, error) {
	return l.cr(agreementID, id), nil
}
func (l stubLifecycle) ListCancellationRequests(f CancellationFilter) ([]CancellationRequest, error) {
	return []CancellationRequest{l.cr(agreementID, "acr-1"), l.cr(agreementID, "acr-2")}, nil
}
func (l stubLifecycle) CancelCancellationRequest(agreementID, id, _ string) (CancellationRequest, error) {
	return l.cr(agreementID, id), nil
}
func (l stubLifecycle) AcceptCancellationRequest(agreementID, id string) (CancellationRequest, error) {
	return l.cr(agreementID, id), nil
}
func (l stubLifecycle) RejectCancellationRequest(agreementID, id, _ string) (CancellationRequest, error) {
	return l.cr(agreementID, id), nil
}
func (stubLifecycle) AgreementEntitlements(agreementID string) ([]Entitlement, error) {
	return []Entitlement{{ResourceID: productID, ResourceType: "SaaSProduct", LicenseArn: licenseArn, Status: "PROVISIONED"}}, nil
}

func (stubLifecycle) Charges(agreementID string) ([]Charge, error) {
	return []Charge{{ID: "ch-1", AgreementID: agreementID, Amount: "1.00", Currency: "USD", Time: tStart}}, nil
}
func (stubLifecycle) Invoices(agreementID string) ([]Invoice, error) {
	return []Invoice{{ID: "inv-1", AgreementID: agreementID, Type: "INVOICE", Issued: tStart, Year: 2025, Month: 1, Amount: "1.00", Currency: "USD", MaxAdjustment: "1.00"}}, nil
}
func (stubLifecycle) CreateBillingAdjustments(entries []AdjustmentEntry) ([]AdjustmentResult, error) {
	out := make([]AdjustmentResult, len(entries))
	for i, e := range entries {
		out[i] = AdjustmentResult{ClientToken: e.ClientToken, RequestID: "ba-1"}
	}
	return out, nil
}
func (stubLifecycle) GetBillingAdjustment(agreementID, id string) (BillingAdjustment, error) {
	return BillingAdjustment{ID: id, AgreementID: agreementID, Status: "PENDING", CreatedAt: tStart, UpdatedAt: tStart}, nil
}
func (stubLifecycle) ListBillingAdjustments(agreementID, status string) ([]BillingAdjustment, error) {
	return []BillingAdjustment{{ID: "ba-1", AgreementID: agreementID, Status: "PENDING", CreatedAt: tStart, UpdatedAt: tStart}}, nil
}

func (stubLifecycle) pr(agreementID, id string) PaymentRequest {
	return PaymentRequest{ID: id, AgreementID: agreementID, Name: "Name", ChargeAmount: "1.00", Currency: "USD", Status: "PENDING_APPROVAL", CreatedAt: tStart, UpdatedAt: tStart}
}
func (l stubLifecycle) SendPaymentRequest(in PaymentSend) (PaymentRequest, error) {
	return l.pr(in.AgreementID, "pr-1"), nil
}
func (l stubLifecycle) GetPaymentRequest(agreementID, id string) (PaymentRequest, error) {
	return l.pr(agreementID, id), nil
}
func (l stubLifecycle) ListPaymentRequests(agreementID, _ string) ([]PaymentRequest, error) {
	return []PaymentRequest{l.pr(agreementID, "pr-1")}, nil
}
func (l stubLifecycle) CancelPaymentRequest(agreementID, id string) (PaymentRequest, error) {
	return l.pr(agreementID, id), nil
}
func (l stubLifecycle) AcceptPaymentRequest(agreementID, id, _ string) (PaymentRequest, error) {
	return l.pr(agreementID, id), nil
}
func (l stubLifecycle) RejectPaymentRequest(agreementID, id, _ string) (PaymentRequest, error) {
	return l.pr(agreementID, id), nil
}
