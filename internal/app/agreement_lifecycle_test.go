package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store/storetest"
)

// lifecycleAgreement publishes an offer, has the buyer accept it in the
// emulator, and waits for Concord to hold the agreement as ACTIVE.
func lifecycleAgreement(t *testing.T, b *bundle, buyer string) string {
	t.Helper()
	emu(t, b, func(s *world.State) error {
		if s.Buyers[buyer] != nil {
			return nil
		}
		_, err := s.CreateBuyer(buyer)
		return err
	})
	d := publish(t, b, offerForm(buyer))
	id := accept(t, b, buyer, d.OfferID)
	eventually(t, "agreement "+id+" active", func() bool {
		_, out := b.do(t, "GET", "/v1/agreements/"+id, b.key, nil)
		return strings.Contains(string(out), `"status":"ACTIVE"`)
	})
	return id
}

// cancellations reads the agreement's cancellation requests from Concord.
func cancellations(t *testing.T, b *bundle, id string) []marketplace.CancellationRequest {
	t.Helper()
	code, out := b.do(t, "GET", "/v1/agreements/"+id+"/cancellation-requests", b.key, nil)
	if code != http.StatusOK {
		t.Fatalf("list cancellation requests: %d %s", code, out)
	}
	var l struct {
		Items []marketplace.CancellationRequest `json:"items"`
	}
	if err := json.Unmarshal(out, &l); err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// waitCancellation waits for Concord to hold request acr with status.
func waitCancellation(t *testing.T, b *bundle, agreementID, acr, status string) {
	t.Helper()
	eventually(t, "cancellation request "+acr+" "+status, func() bool {
		for _, c := range cancellations(t, b, agreementID) {
			if c.ID == acr && c.Status == status {
				return true
			}
		}
		return false
	})
}

func requestCancellation(t *testing.T, b *bundle, id string, body map[string]any) marketplace.CancellationRequest {
	t.Helper()
	code, out := b.call(t, "POST", "/v1/agreements/"+id+"/cancellation-requests", body)
	if code != http.StatusCreated {
		t.Fatalf("request cancellation: %d %s", code, out)
	}
	var c marketplace.CancellationRequest
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	if c.ID == "" || c.Status != marketplace.CancellationPendingApproval {
		t.Fatalf("new cancellation request %+v, want an id and PENDING_APPROVAL", c)
	}
	return c
}

// wantNotice waits for a notification of kind whose subject holds every word.
func wantNotice(t *testing.T, b *bundle, kind string, words ...string) {
	t.Helper()
	eventually(t, kind+" notification "+strings.Join(words, " "), func() bool {
		_, out := b.do(t, "GET", "/v1/notifications?kind="+kind, b.key, nil)
		for _, w := range words {
			if !strings.Contains(string(out), w) {
				return false
			}
		}
		return true
	})
}

// TestAgreementCancellationRequests walks a seller's cancellation requests
// through the official SDK against the emulator, on both databases: bad
// input refused before AWS is asked, one withdrawn, one the buyer rejects,
// one the buyer approves (the agreement ends CANCELLED through Purchase
// Agreement Ended and the artifact books the cancellation), and one AWS
// approves when the buyer lets 7 days pass.
func TestAgreementCancellationRequests(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := offersSetup(t, dialect)
			id := lifecycleAgreement(t, b, "123456789012")
			path := "/v1/agreements/" + id + "/cancellation-requests"

			t.Run("bad input changes nothing", func(t *testing.T) {
				code, out := b.call(t, "POST", path, map[string]any{"reasonCode": "BECAUSE"})
				wantRefused(t, "unknown reason", code, out, http.StatusBadRequest, "unknown reasonCode")
				code, out = b.call(t, "POST", path, map[string]any{"reasonCode": "OTHER", "description": strings.Repeat("x", 2001)})
				wantRefused(t, "long description", code, out, http.StatusBadRequest, "longer than 2000")
				code, out = b.call(t, "POST", "/v1/agreements/agmt-nope/cancellation-requests", map[string]any{"reasonCode": "OTHER"})
				wantRefused(t, "unknown agreement", code, out, http.StatusNotFound, "not found")
				if got := cancellations(t, b, id); len(got) != 0 {
					t.Fatalf("refused requests left %+v", got)
				}
				var sent int
				emu(t, b, func(s *world.State) error { sent = len(s.CancellationRequestsOf(id, "")); return nil })
				if sent != 0 {
					t.Fatalf("AWS got %d cancellation requests from refused input", sent)
				}
			})

			// Withdrawn by the seller.
			c := requestCancellation(t, b, id, map[string]any{"reasonCode": "TEST_AGREEMENT", "description": "placed by our QA"})
			code, out := b.call(t, "POST", path, map[string]any{"reasonCode": "OTHER"})
			wantRefused(t, "duplicate request", code, out, http.StatusConflict, "already has a cancellation request pending")
			code, out = b.call(t, "POST", path+"/"+c.ID+"/withdraw", map[string]any{"reason": ""})
			wantRefused(t, "withdraw without reason", code, out, http.StatusBadRequest, "reason is required")
			code, out = b.call(t, "POST", path+"/"+c.ID+"/withdraw", map[string]any{"reason": "sent by mistake"})
			if code != http.StatusOK || !strings.Contains(string(out), `"status":"CANCELLED"`) {
				t.Fatalf("withdraw: %d %s", code, out)
			}
			waitCancellation(t, b, id, c.ID, marketplace.CancellationCancelled)
			// Who asked and who withdrew is in the audit trail, with the request.
			code, out = b.call(t, "GET", "/v1/audit?object=agreement&objectId="+id, nil)
			if code != http.StatusOK || !strings.Contains(string(out), `"action":"agreement.cancellation_request"`) ||
				!strings.Contains(string(out), `"action":"agreement.cancellation_withdraw"`) || !strings.Contains(string(out), `"kind":"api_key"`) ||
				!strings.Contains(string(out), c.ID) {
				t.Fatalf("audit trail of the cancellation request: %d %s", code, out)
			}
			code, out = b.call(t, "POST", path+"/"+c.ID+"/withdraw", map[string]any{"reason": "again"})
			wantRefused(t, "withdraw twice", code, out, http.StatusConflict, "only a request pending approval")
			wantNotice(t, b, "agreement_request", c.ID, "CANCELLED")

			// Rejected by the buyer.
			c = requestCancellation(t, b, id, map[string]any{"reasonCode": "REPLACING_AGREEMENT"})
			emu(t, b, func(s *world.State) error {
				_, err := s.RejectCancellationRequest(id, c.ID, "we still use it")
				return err
			})
			waitCancellation(t, b, id, c.ID, marketplace.CancellationRejected)
			wantNotice(t, b, "agreement_request", c.ID, "REJECTED")

			// Approved by the buyer: the agreement ends as AWS says.
			c = requestCancellation(t, b, id, map[string]any{"reasonCode": "INCORRECT_TERMS_ACCEPTED", "clientToken": "tok-approve-1"})
			wantNotice(t, b, "agreement_request", c.ID, "PENDING_APPROVAL")
			emu(t, b, func(s *world.State) error {
				_, err := s.ApproveCancellationRequest(id, c.ID)
				return err
			})
			waitCancellation(t, b, id, c.ID, marketplace.CancellationApproved)
			eventually(t, "the agreement cancelled", func() bool {
				_, out := b.do(t, "GET", "/v1/agreements/"+id, b.key, nil)
				return strings.Contains(string(out), `"status":"CANCELLED"`)
			})
			eventually(t, "the cancellation artifact", func() bool {
				_, out := b.do(t, "GET", "/v1/agreements/"+id+"/artifacts", b.key, nil)
				return strings.Contains(string(out), `"kind":"cancellation"`)
			})
			code, out = b.call(t, "POST", path, map[string]any{"reasonCode": "OTHER"})
			wantRefused(t, "cancel an ended agreement", code, out, http.StatusConflict, "not ACTIVE")

			// Approved by AWS when the buyer does not answer within 7 days.
			auto := lifecycleAgreement(t, b, "210987654321")
			c = requestCancellation(t, b, auto, map[string]any{"reasonCode": "UNINTENDED_RENEWAL"})
			if err := b.app.Emulator.World.Advance(7*24*time.Hour + time.Minute); err != nil {
				t.Fatal(err)
			}
			waitCancellation(t, b, auto, c.ID, marketplace.CancellationApproved)
			eventually(t, "the auto-approved agreement cancelled", func() bool {
				_, out := b.do(t, "GET", "/v1/agreements/"+auto, b.key, nil)
				return strings.Contains(string(out), `"status":"CANCELLED"`)
			})
			_, counts := b.do(t, "GET", "/v1/agreement-lifecycle/counts", b.key, nil)
			if !strings.Contains(string(counts), `"pendingCancellations":0`) {
				t.Fatalf("counts after every request settled: %s", counts)
			}
		})
	}
}

// emitEvent has the emulator deliver an AWS event of detailType about
// agreement id, dated at the emulator's clock.
func emitEvent(t *testing.T, b *bundle, detailType, source string, detail map[string]any) []byte {
	t.Helper()
	var body []byte
	emu(t, b, func(s *world.State) error {
		body = eventbridge.Custom(detailType, source, "111122223333", s.Now(), detail)
		s.Emit(body)
		return nil
	})
	return body
}

// notices lists the notifications of kind whose key starts with prefix.
func notices(t *testing.T, b *bundle, kind, prefix string) []string {
	t.Helper()
	_, out := b.do(t, "GET", "/v1/notifications?kind="+kind+"&limit=500", b.key, nil)
	var l struct {
		Items []struct {
			Key string `json:"key"`
		} `json:"items"`
	}
	if err := json.Unmarshal(out, &l); err != nil {
		t.Fatalf("notifications: %v %s", err, out)
	}
	var keys []string
	for _, n := range l.Items {
		if strings.HasPrefix(n.Key, prefix) {
			keys = append(keys, n.Key)
		}
	}
	return keys
}

func lifecycleOf(t *testing.T, b *bundle, id string) map[string]any {
	t.Helper()
	code, out := b.do(t, "GET", "/v1/agreements/"+id+"/lifecycle", b.key, nil)
	if code != http.StatusOK {
		t.Fatalf("lifecycle: %d %s", code, out)
	}
	var l map[string]any
	json.Unmarshal(out, &l)
	return l
}

// TestAgreementEndingRenewalAndAdvisories: AWS's Ending, Renewal and
// Advisory events (delivered by the emulator, shapes of the seller guide)
// change what Concord shows of the agreement; an Ending notice and Concord's
// own 90/60/30-day sweep send one notice per threshold whichever comes
// first; Disbursement Paused alerts finance once, however often delivered.
func TestAgreementEndingRenewalAndAdvisories(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := offersSetup(t, dialect)
			id := lifecycleAgreement(t, b, "123456789012")
			agmt := map[string]any{"id": id}
			// The emulator sends AWS's Ending notices as their thresholds pass
			// (180, 120 and 90 days before the end of this 12-month agreement).
			var end time.Time
			emu(t, b, func(s *world.State) error { end = *s.Agreements[id].EndTime; return nil })
			outlookDays := func(days float64) func() bool {
				return func() bool {
					o, _ := lifecycleOf(t, b, id)["outlook"].(map[string]any)
					return o != nil && o["daysBeforeEnd"] == days && o["autoRenewal"] == false
				}
			}
			// Months apart, as they come: notices that arrive together are
			// folded together, and Concord announces the state they leave
			// (notices are keyed by the state they announce).
			for _, step := range []struct{ days, left int }{{180, 170}, {120, 110}, {90, 65}} {
				days := step.days
				if err := b.app.Emulator.World.Advance(end.Sub(b.app.Emulator.World.Now()) - time.Duration(step.left)*24*time.Hour); err != nil {
					t.Fatal(err)
				}
				eventually(t, fmt.Sprintf("AWS's %d-day notice", days), outlookDays(float64(days)))
			}
			// AWS first, then Concord's sweep: one notice per threshold.
			if _, err := b.app.Notify.Sweep(t.Context()); err != nil {
				t.Fatal(err)
			}
			wantKeys := func(days ...string) {
				t.Helper()
				got := notices(t, b, "agreement_ending", "agreement_ending:"+id)
				slices.Sort(got)
				var want []string
				for _, d := range days {
					want = append(want, "agreement_ending:"+id+":"+d+"d")
				}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("ending notices %v, want %v", got, want)
				}
			}
			wantKeys("180", "120", "90")
			// Past 60 days: the sweep and AWS's notice race; one notice still.
			if err := b.app.Emulator.World.Advance(10 * 24 * time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, err := b.app.Notify.Sweep(t.Context()); err != nil {
				t.Fatal(err)
			}
			eventually(t, "AWS's 60-day notice", outlookDays(60))
			if _, err := b.app.Notify.Sweep(t.Context()); err != nil {
				t.Fatal(err)
			}
			wantKeys("180", "120", "90", "60")

			// Renewal terms finalized, then the lockout.
			emitEvent(t, b, "Purchase Agreement Renewal Terms Finalized - Proposer", marketplace.SourceAgreement, map[string]any{"agreement": agmt,
				"renewalSummary": map[string]any{"tcv": "1320.00", "currency": "USD", "termsFinalizedTime": b.app.Emulator.World.Now().UTC().Format(time.RFC3339),
					"lockoutReached": nil, "lockoutStartTime": nil}})
			emitEvent(t, b, "Purchase Agreement Renewal Upcoming - Proposer", marketplace.SourceAgreement, map[string]any{"agreement": agmt,
				"renewalSummary": map[string]any{"lockoutReached": true, "tcv": "1320.00", "currency": "USD"}})
			eventually(t, "the renewal outlook", func() bool {
				o, _ := lifecycleOf(t, b, id)["outlook"].(map[string]any)
				return o != nil && o["renewalValue"] == "1320.00" && o["renewalCurrency"] == "USD" && o["lockoutReached"] == true &&
					o["renewalTermsFinalizedAt"] != nil
			})

			// An advisory, open until resolved (AWS's actions in the emulator).
			emu(t, b, func(s *world.State) error { _, err := s.IssueAdvisory(id); return err })
			eventually(t, "an open advisory", func() bool {
				_, out := b.do(t, "GET", "/v1/agreement-lifecycle/counts", b.key, nil)
				return strings.Contains(string(out), `"openAdvisories":1`)
			})
			wantNotice(t, b, "agreement_advisory", id, "Advisory issued")
			if err := b.app.Emulator.World.Advance(time.Hour); err != nil {
				t.Fatal(err)
			}
			emu(t, b, func(s *world.State) error { _, err := s.ResolveAdvisory(id); return err })
			eventually(t, "the advisory resolved", func() bool {
				_, out := b.do(t, "GET", "/v1/agreement-lifecycle/counts", b.key, nil)
				return strings.Contains(string(out), `"openAdvisories":0`)
			})
			wantNotice(t, b, "agreement_advisory", id, "Advisory resolved")

			// Disbursement Paused, delivered twice: one alert.
			body := emitEvent(t, b, "Disbursement Paused", marketplace.SourceBilling, map[string]any{"catalog": "AWSMarketplace"})
			emu(t, b, func(s *world.State) error { s.Emit(body); return nil })
			wantNotice(t, b, "billing_alert", "paused disbursements")
			time.Sleep(500 * time.Millisecond)
			if got := notices(t, b, "billing_alert", "disbursement_paused:"); len(got) != 1 {
				t.Fatalf("disbursement alerts %v, want one", got)
			}
		})
	}
}

// TestAgreementRefunds: finance refunds part of an invoice through the
// official SDK against the emulator, on both databases: the invoice comes
// from AWS with what is left to refund; too much, an unknown reason or an
// unknown invoice is refused before AWS is asked; a resend with the same
// client token refunds once; the refund completes (a refund version of the
// artifact, a notification to finance) and a second one fails (an emulator
// fault), leaving its amount refundable again.
func TestAgreementRefunds(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := offersSetup(t, dialect)
			id := lifecycleAgreement(t, b, "123456789012")
			code, out := b.do(t, "GET", "/v1/agreements/"+id+"/invoices?refresh=true", b.key, nil)
			var inv struct {
				Items []struct {
					InvoiceID, Type, Amount, Currency, Refundable, Adjusted string
				} `json:"items"`
			}
			if code != http.StatusOK || json.Unmarshal(out, &inv) != nil || len(inv.Items) == 0 {
				t.Fatalf("invoices: %d %s", code, out)
			}
			first := inv.Items[0]
			if first.Type != "INVOICE" || first.Refundable != first.Amount || first.Amount == "" {
				t.Fatalf("first invoice %+v: want an INVOICE fully refundable", first)
			}
			path := "/v1/agreements/" + id + "/refunds"
			refund := func(body map[string]any, want int) map[string]any {
				t.Helper()
				code, out := b.call(t, "POST", path, body)
				if code != want {
					t.Fatalf("refund %v: %d %s, want %d", body, code, out, want)
				}
				var m map[string]any
				json.Unmarshal(out, &m)
				return m
			}
			code, out = b.call(t, "POST", path, map[string]any{"invoiceId": first.InvoiceID, "amount": first.Amount + "1", "reasonCode": "INCORRECT_METERING"})
			wantRefused(t, "too much", code, out, http.StatusBadRequest, "more than the")
			code, out = b.call(t, "POST", path, map[string]any{"invoiceId": first.InvoiceID, "amount": "1.00", "reasonCode": "SORRY"})
			wantRefused(t, "unknown reason", code, out, http.StatusBadRequest, "unknown reasonCode")
			code, out = b.call(t, "POST", path, map[string]any{"invoiceId": "inv-nope", "amount": "1.00", "reasonCode": "OTHER"})
			wantRefused(t, "unknown invoice", code, out, http.StatusNotFound, "has no invoice inv-nope")
			var made int
			emu(t, b, func(s *world.State) error { made = len(s.BillingAdjustmentsOf(id, "")); return nil })
			if made != 0 {
				t.Fatalf("refused refunds reached AWS: %d", made)
			}

			// A partial refund, sent twice with one client token.
			body := map[string]any{"invoiceId": first.InvoiceID, "amount": "10.5", "reasonCode": "INCORRECT_METERING", "clientToken": "fin-2030-1"}
			r := refund(body, http.StatusCreated)
			again := refund(body, http.StatusOK)
			if r["id"] == "" || again["id"] != r["id"] {
				t.Fatalf("resend made another refund: %v then %v", r, again)
			}
			emu(t, b, func(s *world.State) error { made = len(s.BillingAdjustmentsOf(id, "")); return nil })
			if made != 1 {
				t.Fatalf("AWS holds %d refunds after a resend, want 1", made)
			}
			if err := b.app.Emulator.World.Advance(2 * time.Minute); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the refund completed", func() bool {
				_, out := b.do(t, "GET", path, b.key, nil)
				return strings.Contains(string(out), `"status":"COMPLETED"`)
			})
			wantNotice(t, b, "billing_alert", r["id"].(string), "Refund completed")
			eventually(t, "the refund artifact", func() bool {
				_, out := b.do(t, "GET", "/v1/agreements/"+id+"/artifacts", b.key, nil)
				return strings.Contains(string(out), `"kind":"refund"`) && strings.Contains(string(out), `"refundedTotal":"-10.50"`)
			})

			// A refund AWS fails: its amount is refundable again.
			emu(t, b, func(s *world.State) error { return s.SetFailNext(world.FailBillingAdjustment, "invoice is disputed") })
			f := refund(map[string]any{"invoiceId": first.InvoiceID, "amount": "5", "reasonCode": "BUYER_DISSATISFACTION"}, http.StatusCreated)
			if err := b.app.Emulator.World.Advance(2 * time.Minute); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the refund failed", func() bool {
				_, out := b.do(t, "GET", path, b.key, nil)
				return strings.Contains(string(out), `"status":"VALIDATION_FAILED"`)
			})
			wantNotice(t, b, "billing_alert", f["id"].(string), "Refund failed")
			code, out = b.call(t, "POST", "/v1/agreements/"+id+"/refunds/"+f["id"].(string)+"/refresh", nil)
			if code != http.StatusOK || !strings.Contains(string(out), "invoice is disputed") {
				t.Fatalf("refresh the failed refund: %d %s", code, out)
			}
			eventually(t, "the invoice's refundable amount", func() bool {
				_, out := b.do(t, "GET", "/v1/agreements/"+id+"/invoices?refresh=true", b.key, nil)
				json.Unmarshal(out, &inv)
				for _, i := range inv.Items {
					if i.InvoiceID == first.InvoiceID {
						return i.Adjusted == "10.50"
					}
				}
				return false
			})
		})
	}
}

// TestAgreementPaymentRequests: where the accepted terms carry a
// VariablePaymentTerm, RevOps sends payment requests through the official
// SDK against the emulator, on both databases: bad input and an amount
// above what the term still allows are refused before AWS is asked; the
// buyer approves one (Concord learns it from AWS, with its charge), one is
// cancelled by the seller; an agreement without the term takes none.
func TestAgreementPaymentRequests(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := offersSetup(t, dialect)
			const buyer = "123456789012"
			var id string
			emu(t, b, func(s *world.State) error {
				term, err := world.VariablePaymentTerm("5000", "USD", "WAIT_FOR_APPROVAL", "")
				if err != nil {
					return err
				}
				o, err := s.CreatePrivateOffer(world.Offer{ProductID: "prod-offers", Name: "Initech services", BuyerAccounts: []string{buyer},
					Quantities: map[string]int64{"seats": 1}, Terms: []agreementapi.Term{term}})
				if err != nil {
					return err
				}
				a, err := s.Accept(buyer, o.OfferID, world.AcceptOptions{Quantities: map[string]int64{"seats": 1}})
				if err == nil {
					id = a.ID
				}
				return err
			})
			eventually(t, "the agreement's variable payment term", func() bool {
				_, out := b.do(t, "GET", "/v1/agreements/"+id, b.key, nil)
				return strings.Contains(string(out), `"status":"ACTIVE"`) && strings.Contains(string(out), `"variablePayment"`)
			})
			path := "/v1/agreements/" + id + "/payment-requests"
			code, out := b.call(t, "POST", path, map[string]any{"amount": "5000.01", "name": "Milestone one"})
			wantRefused(t, "above the term's maximum", code, out, http.StatusBadRequest, "still allows")
			code, out = b.call(t, "POST", path, map[string]any{"amount": "100", "name": "M1"})
			wantRefused(t, "short name", code, out, http.StatusBadRequest, "name must be 5 to 64 characters")
			var sent int
			emu(t, b, func(s *world.State) error { sent = len(s.PaymentRequestsOf(id, "")); return nil })
			if sent != 0 {
				t.Fatalf("refused payment requests reached AWS: %d", sent)
			}

			send := func(amount, name string) marketplace.PaymentRequest {
				t.Helper()
				code, out := b.call(t, "POST", path, map[string]any{"amount": amount, "name": name, "description": "as agreed"})
				var p marketplace.PaymentRequest
				if code != http.StatusCreated || json.Unmarshal(out, &p) != nil || p.ID == "" || p.Currency != "USD" {
					t.Fatalf("send payment request: %d %s", code, out)
				}
				return p
			}
			p := send("1200.00", "Milestone one")
			emu(t, b, func(s *world.State) error {
				_, err := s.ApprovePaymentRequest(id, p.ID, "PO-77")
				return err
			})
			code, out = b.do(t, "GET", path+"?refresh=true", b.key, nil)
			if code != http.StatusOK || !strings.Contains(string(out), `"status":"APPROVED"`) || !strings.Contains(string(out), `"chargeId":"ch-`) {
				t.Fatalf("payment requests after the buyer approved: %d %s", code, out)
			}
			wantNotice(t, b, "agreement_request", p.ID, "APPROVED")

			code, out = b.call(t, "POST", path, map[string]any{"amount": "3800.01", "name": "Milestone two"})
			wantRefused(t, "above what is left", code, out, http.StatusBadRequest, "3800.00 USD the variable payment term still allows")
			q := send("300", "Milestone two")
			code, out = b.call(t, "POST", path+"/"+q.ID+"/cancel", nil)
			if code != http.StatusOK || !strings.Contains(string(out), `"status":"CANCELLED"`) {
				t.Fatalf("cancel payment request: %d %s", code, out)
			}
			code, out = b.call(t, "POST", path+"/"+q.ID+"/cancel", nil)
			wantRefused(t, "cancel twice", code, out, http.StatusConflict, "has not answered")

			plain := lifecycleAgreement(t, b, "210987654321")
			eventually(t, "the plain agreement's terms", func() bool {
				_, out := b.do(t, "GET", "/v1/agreements/"+plain, b.key, nil)
				return strings.Contains(string(out), `"termsFetchedAt"`)
			})
			code, out = b.call(t, "POST", "/v1/agreements/"+plain+"/payment-requests", map[string]any{"amount": "10", "name": "Milestone one"})
			wantRefused(t, "no variable payment term", code, out, http.StatusConflict, "no variable payment term")
		})
	}
}
