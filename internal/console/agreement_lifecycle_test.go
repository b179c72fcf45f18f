package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store/storetest"
)

// fakeAgreementAPI answers the lifecycle operations like AWS would for one
// agreement, and counts what it was asked.
type fakeAgreementAPI struct {
	mu    sync.Mutex
	sent  int
	asked []string
}

func (f *fakeAgreementAPI) SendCancellationRequest(_ context.Context, agreementID, reasonCode, description, _ string) (marketplace.CancellationRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent++
	at := now
	return marketplace.CancellationRequest{ID: "acr-console1", AgreementID: agreementID, ReasonCode: reasonCode, Description: description,
		Status: marketplace.CancellationPendingApproval, CreatedAt: &at, UpdatedAt: &at}, nil
}

func (f *fakeAgreementAPI) GetCancellationRequest(context.Context, string, string) (marketplace.CancellationRequest, error) {
	return marketplace.CancellationRequest{}, marketplace.Errorf(marketplace.ENotFound, "not here")
}

func (f *fakeAgreementAPI) ListCancellationRequests(context.Context, string) ([]marketplace.CancellationRequest, error) {
	return nil, nil
}

func (f *fakeAgreementAPI) CancelCancellationRequest(_ context.Context, agreementID, id, _ string) (marketplace.CancellationRequest, error) {
	at := now.Add(time.Minute)
	return marketplace.CancellationRequest{ID: id, AgreementID: agreementID, Status: marketplace.CancellationCancelled, UpdatedAt: &at}, nil
}

func (f *fakeAgreementAPI) CreateBillingAdjustment(context.Context, marketplace.BillingAdjustment) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, "refund")
	return "", marketplace.Errorf(marketplace.EInvalid, "unexpected")
}

func (f *fakeAgreementAPI) GetBillingAdjustment(context.Context, string, string) (marketplace.BillingAdjustment, error) {
	return marketplace.BillingAdjustment{}, marketplace.Errorf(marketplace.ENotFound, "not here")
}

func (f *fakeAgreementAPI) ListBillingAdjustments(context.Context, string) ([]marketplace.BillingAdjustment, error) {
	return nil, nil
}

func (f *fakeAgreementAPI) ListInvoices(context.Context, string) ([]marketplace.Invoice, error) {
	return []marketplace.Invoice{}, nil
}

func (f *fakeAgreementAPI) ListCharges(context.Context, string) ([]marketplace.Charge, error) {
	return []marketplace.Charge{}, nil
}

func (f *fakeAgreementAPI) SendPaymentRequest(context.Context, marketplace.PaymentRequest, string) (marketplace.PaymentRequest, error) {
	return marketplace.PaymentRequest{}, marketplace.Errorf(marketplace.EInvalid, "unexpected")
}

func (f *fakeAgreementAPI) GetPaymentRequest(context.Context, string, string) (marketplace.PaymentRequest, error) {
	return marketplace.PaymentRequest{}, marketplace.Errorf(marketplace.ENotFound, "not here")
}

func (f *fakeAgreementAPI) ListPaymentRequests(context.Context, string) ([]marketplace.PaymentRequest, error) {
	return nil, nil
}

func (f *fakeAgreementAPI) CancelPaymentRequest(context.Context, string, string) (marketplace.PaymentRequest, error) {
	return marketplace.PaymentRequest{}, marketplace.Errorf(marketplace.EInvalid, "unexpected")
}

// TestAgreementLifecyclePage: the agreement's lifecycle page shows AWS's
// notices and the requests; a cancellation is sent only after its
// confirmation page; roles decide who may cancel (admin, revops) and refund
// (admin, finance); the dashboard counts the pending request.
func TestAgreementLifecyclePage(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, storetest.Dialects[0])
	api := &fakeAgreementAPI{}
	e := setup(t, db)
	e.console.Agreements = e.svc.Agreements
	e.console.Agreements.API = api
	ctx := context.Background()
	for _, u := range []console.NewUser{{Email: "finance@seller.example", Role: console.RoleFinance, Password: password},
		{Email: "revops@seller.example", Role: console.RoleRevOps, Password: password}} {
		if _, err := e.console.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	a := eventbridge.Agreement{ID: "agmt-life", Intent: marketplace.IntentNew, AcceptanceTime: now.Add(-2 * time.Hour), StartTime: now.Add(-2 * time.Hour),
		EndTime: now.AddDate(0, 2, 0), AcceptorAccountID: buyerAccount, ProposerAccountID: inboxtest.Seller, OfferID: "offer-life", ProductID: "prod-life"}
	for _, body := range [][]byte{eventbridge.Created(inboxtest.Seller, a, now.Add(-time.Hour)),
		eventbridge.Custom("Purchase Agreement Advisory Issued - Manufacturer", marketplace.SourceAgreement, inboxtest.Seller, now.Add(-time.Minute),
			map[string]any{"agreement": map[string]any{"id": a.ID}, "advisory": map[string]any{"issuedAt": now.Add(-time.Minute).Format(time.RFC3339)}})} {
		ev, err := marketplace.ParseEventBridge(body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Ledger.Ingest(ctx, "test", ev); err != nil {
			t.Fatal(err)
		}
	}
	path := "/console/agreements/" + a.ID + "/lifecycle"

	admin := e.login("admin@seller.example")
	p := admin.get(path)
	wantHeaders(t, p)
	wantIn(t, p, "Ask AWS to cancel this agreement", "Open", "No refund.", "no variable payment term")
	csrf := csrfOf(t, p)
	form := url.Values{"csrf": {csrf}, "reasonCode": {"TEST_AGREEMENT"}, "description": {"QA <order>"}}
	p = admin.post(path+"/cancel", form)
	wantIn(t, p, "Ask AWS to cancel agreement agmt-life?", "Yes, send it to AWS", "QA &lt;order&gt;")
	if api.sent != 0 {
		t.Fatalf("the confirmation page sent %d requests to AWS", api.sent)
	}
	form.Set("confirm", "yes")
	p = admin.post(path+"/cancel", form)
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "lifecycle?done=") {
		t.Fatalf("confirmed cancel: %d %v\n%s", p.status, p.header, p.body)
	}
	p = admin.get(p.header.Get("Location"))
	wantIn(t, p, "Cancellation request acr-console1 sent", "acr-console1", "Withdraw…")
	if strings.Contains(p.body, "Ask AWS to cancel this agreement") {
		t.Errorf("the page offers a second cancellation while one is pending")
	}
	p = admin.post(path+"/cancel", form)
	if p.status != http.StatusConflict || api.sent != 1 {
		t.Fatalf("a second request: %d (AWS asked %d times)\n%s", p.status, api.sent, p.body)
	}
	wantIn(t, admin.get("/console/"), "Cancellation requests pending</dt><dd>1", "Open advisories</dt><dd><span class=\"bad\">1")

	finance := e.login("finance@seller.example")
	p = finance.post(path+"/cancel", url.Values{"csrf": {csrfOf(t, finance.get(path))}, "reasonCode": {"OTHER"}, "confirm": {"yes"}})
	if p.status != http.StatusForbidden {
		t.Fatalf("finance cancelled: %d", p.status)
	}
	revops := e.login("revops@seller.example")
	p = revops.post(path+"/refund", url.Values{"csrf": {csrfOf(t, revops.get(path))}, "invoiceId": {"inv-1"}, "amount": {"1"}, "reasonCode": {"OTHER"}, "confirm": {"yes"}})
	if p.status != http.StatusForbidden || len(api.asked) != 0 {
		t.Fatalf("revops refunded: %d, AWS asked %v", p.status, api.asked)
	}
	viewer := e.login("viewer@seller.example")
	if p := viewer.get(path); strings.Contains(p.body, "Withdraw…") || strings.Contains(p.body, "/lifecycle/cancel") {
		t.Errorf("the read-only role sees action buttons")
	}
}
