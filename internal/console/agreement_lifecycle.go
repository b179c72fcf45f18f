package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/agreement"
	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/marketplace"
)

// AreaRefunds: refund part of an invoice (a billing adjustment). Admin and
// finance: refunds move money, cancellations and payment requests are
// RevOps' (AreaOffers).
const AreaRefunds = "refunds"

// mountAgreementLifecycle adds the agreement's lifecycle page (requests,
// refunds, invoices and AWS's notices) and its actions. Each action asks
// for a confirmation first (a page that repeats what will be sent), since
// AWS cannot take a request back once the buyer acts on it.
func (s *Service) mountAgreementLifecycle(m Mux) {
	m.HandleFunc("GET "+Prefix+"/agreements/{id}/lifecycle", s.signedIn(s.lifecyclePage))
	m.HandleFunc("POST "+Prefix+"/agreements/{id}/lifecycle/refresh", s.signedIn(s.may(AreaSandbox, s.lifecycleAction("refresh"))))
	m.HandleFunc("POST "+Prefix+"/agreements/{id}/lifecycle/cancel", s.signedIn(s.may(AreaOffers, s.lifecycleAction("cancel"))))
	m.HandleFunc("POST "+Prefix+"/agreements/{id}/lifecycle/withdraw", s.signedIn(s.may(AreaOffers, s.lifecycleAction("withdraw"))))
	m.HandleFunc("POST "+Prefix+"/agreements/{id}/lifecycle/pay", s.signedIn(s.may(AreaOffers, s.lifecycleAction("pay"))))
	m.HandleFunc("POST "+Prefix+"/agreements/{id}/lifecycle/payment-cancel", s.signedIn(s.may(AreaOffers, s.lifecycleAction("payment-cancel"))))
	m.HandleFunc("POST "+Prefix+"/agreements/{id}/lifecycle/refund", s.signedIn(s.may(AreaRefunds, s.lifecycleAction("refund"))))
}

type lifecycleData struct {
	httpapi.Lifecycle
	Status           string
	Active           bool
	CancelReasons    []string
	RefundReasons    []string
	VariablePayments bool
	HasPending       bool
	// RefundToken is the client token of the refund form: a form sent
	// twice (a double click, a resubmission) refunds once.
	RefundToken string
}

// confirmData is the confirmation page of an action: what will be sent.
type confirmData struct {
	AgreementID string
	Action      string
	Title       string
	Summary     []confirmLine
	Fields      []confirmLine
	Danger      bool
}

type confirmLine struct{ Name, Value string }

func (s *Service) lifecycleData(r *http.Request, id string) (lifecycleData, error) {
	ctx := r.Context()
	a, err := s.Ledger.GetAgreement(ctx, id)
	if err != nil {
		return lifecycleData{}, err
	}
	l, err := httpapi.LoadLifecycle(ctx, s.Agreements, id, false)
	if err != nil {
		return lifecycleData{}, err
	}
	d := lifecycleData{Lifecycle: l, Status: a.Status, Active: a.Status == marketplace.StatusActive,
		CancelReasons: marketplace.CancellationReasonCodes, RefundReasons: marketplace.AdjustmentReasonCodes,
		RefundToken: "console-" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")}
	d.VariablePayments = strings.Contains(string(a.Terms), `"variablePayment"`)
	for _, c := range l.CancellationRequests {
		d.HasPending = d.HasPending || c.Status == marketplace.CancellationPendingApproval
	}
	return d, nil
}

func (s *Service) lifecyclePage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ledgerID(id, 128) || s.Agreements == nil {
		s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "agreement not found"))
		return
	}
	d, err := s.lifecycleData(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "agreement_lifecycle", view{Title: "Agreement " + id + ": requests, refunds and invoices", Nav: "buyers",
		Data: d, Status: r.URL.Query().Get("done")})
}

// lifecycleAction runs one action: without confirm=yes it shows what will
// be sent and asks; with it, it calls AWS and goes back to the page, or
// shows the page again with AWS's (or Concord's) refusal.
func (s *Service) lifecycleAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := r.PathValue("id")
		if !ledgerID(id, 128) || s.Agreements == nil {
			s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "agreement not found"))
			return
		}
		f := func(k string) string { return strings.TrimSpace(r.PostForm.Get(k)) }
		c := confirmData{AgreementID: id, Action: action}
		var fields []string
		switch action {
		case "refresh":
		case "cancel":
			c.Title, c.Danger, fields = "Ask AWS to cancel agreement "+id, true, []string{"reasonCode", "description", "clientToken"}
			c.Summary = []confirmLine{{"Reason", f("reasonCode")}, {"Message to the buyer", f("description")},
				{"What happens", "AWS asks the buyer to approve. If the buyer approves, or does not answer within 7 days, AWS cancels the agreement; if the buyer rejects, it stays active."}}
		case "withdraw":
			c.Title, fields = "Withdraw cancellation request "+f("requestId"), []string{"requestId", "reason"}
			c.Summary = []confirmLine{{"Request", f("requestId")}, {"Why", f("reason")}}
		case "refund":
			c.Title, c.Danger, fields = "Refund "+f("amount")+" of invoice "+f("invoiceId"), true, []string{"invoiceId", "amount", "reasonCode", "description", "clientToken"}
			c.Summary = []confirmLine{{"Invoice", f("invoiceId")}, {"Amount", f("amount")}, {"Reason", f("reasonCode")}, {"Description", f("description")}}
		case "pay":
			c.Title, fields = "Send payment request \""+f("name")+"\"", []string{"amount", "name", "description", "clientToken"}
			c.Summary = []confirmLine{{"Amount", f("amount")}, {"Name", f("name")}, {"Description", f("description")}}
		case "payment-cancel":
			c.Title, c.Danger, fields = "Cancel payment request "+f("paymentId"), true, []string{"paymentId"}
			c.Summary = []confirmLine{{"Payment request", f("paymentId")}}
		}
		for _, k := range fields {
			c.Fields = append(c.Fields, confirmLine{k, f(k)})
		}
		if action != "refresh" && f("confirm") != "yes" {
			s.render(w, r, http.StatusOK, "agreement_confirm", view{Title: c.Title, Nav: "buyers", Data: c})
			return
		}
		var err error
		done := ""
		svc := s.Agreements
		switch action {
		case "refresh":
			_, err = httpapi.LoadLifecycle(ctx, svc, id, true)
			done = "Read again from AWS."
		case "cancel":
			var got marketplace.CancellationRequest
			got, err = svc.RequestCancellation(ctx, id, agreement.CancelInput{ReasonCode: f("reasonCode"), Description: f("description"), ClientToken: f("clientToken")})
			done = "Cancellation request " + got.ID + " sent: it waits for the buyer."
		case "withdraw":
			_, err = svc.WithdrawCancellation(ctx, id, f("requestId"), f("reason"))
			done = "Cancellation request " + f("requestId") + " withdrawn."
		case "refund":
			var got marketplace.BillingAdjustment
			got, _, err = svc.Refund(ctx, id, agreement.RefundInput{InvoiceID: f("invoiceId"), Amount: f("amount"), ReasonCode: f("reasonCode"),
				Description: f("description"), ClientToken: f("clientToken")})
			done = "Refund " + got.ID + " requested: " + got.Status + "."
		case "pay":
			var got marketplace.PaymentRequest
			got, err = svc.RequestPayment(ctx, id, agreement.PaymentInput{Amount: f("amount"), Name: f("name"), Description: f("description"), ClientToken: f("clientToken")})
			done = "Payment request " + got.ID + " sent: " + got.Status + "."
		case "payment-cancel":
			_, err = svc.CancelPayment(ctx, id, f("paymentId"))
			done = "Payment request " + f("paymentId") + " cancelled."
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		http.Redirect(w, r, Prefix+"/agreements/"+url.PathEscape(id)+"/lifecycle?done="+url.QueryEscape(done), http.StatusSeeOther)
	}
}
