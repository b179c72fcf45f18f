package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	agtypes "github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/types"
)

// variableAgreement accepts a private offer with a VariablePaymentTerm and
// returns the agreement and the term's id (from GetAgreementTerms).
func (b *bundle) variableAgreement(t *testing.T, p product, buyer string, variable map[string]any) (agreement, string) {
	t.Helper()
	var o struct{ OfferID string }
	b.control(t, "POST", "/control/offers", map[string]any{"productId": p.ProductID, "buyerAccounts": []string{buyer},
		"quantities": map[string]int64{"seats": 1}, "variablePayment": variable}, &o)
	var a agreement
	b.control(t, "POST", "/control/accept", map[string]any{"buyer": buyer, "offerId": o.OfferID}, &a)
	terms, err := marketplaceagreement.NewFromConfig(b.cfg).GetAgreementTerms(context.Background(), &marketplaceagreement.GetAgreementTermsInput{AgreementId: &a.AgreementID})
	if err != nil {
		t.Fatal(err)
	}
	for _, term := range terms.AcceptedTerms {
		if v, ok := term.(*agtypes.AcceptedTermMemberVariablePaymentTerm); ok {
			return a, aws.ToString(v.Value.Id)
		}
	}
	t.Fatalf("agreement %s has no VariablePaymentTerm", a.AgreementID)
	return a, ""
}

func TestPaymentRequests(t *testing.T) {
	t.Parallel()
	for _, proto := range agreementProtocols {
		t.Run(proto.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			c := marketplaceagreement.NewFromConfig(b.cfg, proto.opt)
			p := b.product(t, false)
			a, termID := b.variableAgreement(t, p, "444455556666", map[string]any{"maxTotalChargeAmount": "1000", "approvalStrategy": "WAIT_FOR_APPROVAL"})
			send := func(amount, token string) (*marketplaceagreement.SendAgreementPaymentRequestOutput, error) {
				in := &marketplaceagreement.SendAgreementPaymentRequestInput{AgreementId: &a.AgreementID, TermId: &termID,
					Name: aws.String("March services"), ChargeAmount: aws.String(amount)}
				if token != "" {
					in.ClientToken = &token
				}
				return c.SendAgreementPaymentRequest(ctx, in)
			}
			first, err := send("600", "pay-1")
			if err != nil || first.Status != agtypes.PaymentRequestStatusPendingApproval || aws.ToString(first.ChargeAmount) != "600.00" ||
				aws.ToString(first.CurrencyCode) != "USD" || aws.ToString(first.Name) != "March services" {
				t.Fatalf("send: %v %+v", err, first)
			}
			id := aws.ToString(first.PaymentRequestId)
			if again, err := send("600", "pay-1"); err != nil || aws.ToString(again.PaymentRequestId) != id {
				t.Fatalf("resend: %v %+v", err, again)
			}
			// 600 pending of 1000: 401 more is over the balance.
			_, err = send("401", "")
			var ve *agtypes.ValidationException
			if !errors.As(err, &ve) || ve.Reason != agtypes.ValidationExceptionReasonInvalidChargeAmount {
				t.Fatalf("over the balance: %v", err)
			}
			_, err = c.SendAgreementPaymentRequest(ctx, &marketplaceagreement.SendAgreementPaymentRequestInput{AgreementId: &a.AgreementID,
				TermId: aws.String("term-nope"), Name: aws.String("March services"), ChargeAmount: aws.String("1")})
			if !errors.As(err, &ve) || ve.Reason != agtypes.ValidationExceptionReasonInvalidTermId {
				t.Fatalf("unknown term: %v", err)
			}
			_, err = c.SendAgreementPaymentRequest(ctx, &marketplaceagreement.SendAgreementPaymentRequestInput{AgreementId: &a.AgreementID,
				TermId: &termID, Name: aws.String("Mar"), ChargeAmount: aws.String("1")})
			if !errors.As(err, &ve) || ve.Reason != agtypes.ValidationExceptionReasonInvalidName {
				t.Fatalf("short name: %v", err)
			}

			// The buyer accepts: a charge appears.
			acc, err := c.AcceptAgreementPaymentRequest(ctx, &marketplaceagreement.AcceptAgreementPaymentRequestInput{AgreementId: &a.AgreementID,
				PaymentRequestId: &id, PurchaseOrderReference: aws.String("PO-7")})
			if err != nil || acc.Status != agtypes.PaymentRequestStatusApproved {
				t.Fatalf("accept: %v %+v", err, acc)
			}
			got, err := c.GetAgreementPaymentRequest(ctx, &marketplaceagreement.GetAgreementPaymentRequestInput{AgreementId: &a.AgreementID, PaymentRequestId: &id})
			if err != nil || got.Status != agtypes.PaymentRequestStatusApproved || aws.ToString(got.ChargeId) == "" {
				t.Fatalf("get: %v %+v", err, got)
			}
			charges, err := c.ListAgreementCharges(ctx, &marketplaceagreement.ListAgreementChargesInput{AgreementId: &a.AgreementID})
			found := false
			for _, ch := range charges.Items {
				found = found || aws.ToString(ch.Id) == aws.ToString(got.ChargeId) && aws.ToString(ch.Amount) == "600.00"
			}
			if err != nil || !found {
				t.Fatalf("the approved request's charge: %v %+v", err, charges)
			}
			_, err = c.CancelAgreementPaymentRequest(ctx, &marketplaceagreement.CancelAgreementPaymentRequestInput{AgreementId: &a.AgreementID, PaymentRequestId: &id})
			var ce *agtypes.ConflictException
			if !errors.As(err, &ce) {
				t.Fatalf("cancel an approved request: %v", err)
			}

			// One rejected by the buyer through the control API, one withdrawn.
			second, err := send("100", "")
			if err != nil {
				t.Fatal(err)
			}
			b.control(t, "POST", "/control/payment-requests/"+aws.ToString(second.PaymentRequestId)+"/reject", map[string]any{"reason": "not agreed"}, &struct{}{})
			third, err := send("100", "")
			if err != nil {
				t.Fatal(err)
			}
			if out, err := c.CancelAgreementPaymentRequest(ctx, &marketplaceagreement.CancelAgreementPaymentRequestInput{AgreementId: &a.AgreementID,
				PaymentRequestId: third.PaymentRequestId}); err != nil || out.Status != agtypes.PaymentRequestStatusCancelled {
				t.Fatalf("withdraw: %v %+v", err, out)
			}
			list, err := c.ListAgreementPaymentRequests(ctx, &marketplaceagreement.ListAgreementPaymentRequestsInput{PartyType: aws.String("Proposer"), AgreementId: &a.AgreementID})
			if err != nil || len(list.Items) != 3 || list.Items[0].Status != agtypes.PaymentRequestStatusApproved ||
				list.Items[1].Status != agtypes.PaymentRequestStatusRejected || list.Items[2].Status != agtypes.PaymentRequestStatusCancelled {
				t.Fatalf("list: %v %+v", err, list)
			}
			r, err := c.GetAgreementPaymentRequest(ctx, &marketplaceagreement.GetAgreementPaymentRequestInput{AgreementId: &a.AgreementID, PaymentRequestId: second.PaymentRequestId})
			if err != nil || aws.ToString(r.StatusMessage) != "not agreed" {
				t.Fatalf("rejected: %v %+v", err, r)
			}
		})
	}
}

func TestPaymentRequestAutoApprovedAndRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := marketplaceagreement.NewFromConfig(b.cfg)
	p := b.product(t, false)
	a, termID := b.variableAgreement(t, p, "444455556666", map[string]any{"maxTotalChargeAmount": "500", "approvalStrategy": "AUTO_APPROVE_ON_EXPIRATION", "expirationDuration": "P10D"})
	out, err := c.SendAgreementPaymentRequest(ctx, &marketplaceagreement.SendAgreementPaymentRequestInput{AgreementId: &a.AgreementID,
		TermId: &termID, Name: aws.String("Onboarding"), ChargeAmount: aws.String("250.5")})
	if err != nil {
		t.Fatal(err)
	}
	b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "239h"}, &struct{}{})
	get := func() *marketplaceagreement.GetAgreementPaymentRequestOutput {
		got, err := c.GetAgreementPaymentRequest(ctx, &marketplaceagreement.GetAgreementPaymentRequestInput{AgreementId: &a.AgreementID, PaymentRequestId: out.PaymentRequestId})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if st := get().Status; st != agtypes.PaymentRequestStatusPendingApproval {
		t.Fatalf("before the expiration: %s", st)
	}
	b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "2h"}, &struct{}{})
	if got := get(); got.Status != agtypes.PaymentRequestStatusApproved || aws.ToString(got.ChargeId) == "" {
		t.Fatalf("after the expiration: %+v", got)
	}

	// An agreement without a variable payment term, and one that ended.
	plain := b.accept(t, "444455556667", p.ProductID, nil)
	_, err = c.SendAgreementPaymentRequest(ctx, &marketplaceagreement.SendAgreementPaymentRequestInput{AgreementId: &plain.AgreementID,
		TermId: &termID, Name: aws.String("Onboarding"), ChargeAmount: aws.String("1")})
	var ve *agtypes.ValidationException
	if !errors.As(err, &ve) || ve.Reason != agtypes.ValidationExceptionReasonInvalidTermId {
		t.Fatalf("no variable payment term: %v", err)
	}
	b.control(t, "POST", "/control/agreements/"+a.AgreementID+"/cancel", nil, &struct{}{})
	_, err = c.SendAgreementPaymentRequest(ctx, &marketplaceagreement.SendAgreementPaymentRequestInput{AgreementId: &a.AgreementID,
		TermId: &termID, Name: aws.String("Onboarding"), ChargeAmount: aws.String("1")})
	if !errors.As(err, &ve) || ve.Reason != agtypes.ValidationExceptionReasonInactiveAgreement {
		t.Fatalf("ended agreement: %v", err)
	}
	if code := b.control(t, "POST", "/control/offers", map[string]any{"productId": p.ProductID, "buyerAccounts": []string{"444455556668"},
		"variablePayment": map[string]any{"maxTotalChargeAmount": "-1", "approvalStrategy": "WAIT_FOR_APPROVAL"}}, nil); code != 400 {
		t.Fatalf("a negative maximum: %d", code)
	}
}

func TestFutureDatedEntitlementIsScheduled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	start := b.emu.World.Now().Add(48 * time.Hour)
	a := b.accept(t, "444455556666", p.ProductID, map[string]any{"startDate": start})
	for _, proto := range agreementProtocols {
		out, err := marketplaceagreement.NewFromConfig(b.cfg, proto.opt).GetAgreementEntitlements(context.Background(),
			&marketplaceagreement.GetAgreementEntitlementsInput{AgreementId: &a.AgreementID})
		if err != nil || len(out.AgreementEntitlements) != 1 || out.AgreementEntitlements[0].Status != agtypes.AgreementEntitlementStatusScheduled ||
			out.AgreementEntitlements[0].StatusReasonCode != agtypes.AgreementEntitlementStatusReasonCodeFutureStartDate ||
			aws.ToString(out.AgreementEntitlements[0].Resource.Id) != p.ProductID {
			t.Fatalf("%s: %v %+v", proto.name, err, out)
		}
	}
	b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "49h"}, &struct{}{})
	out, err := marketplaceagreement.NewFromConfig(b.cfg).GetAgreementEntitlements(context.Background(), &marketplaceagreement.GetAgreementEntitlementsInput{AgreementId: &a.AgreementID})
	if err != nil || out.AgreementEntitlements[0].Status != agtypes.AgreementEntitlementStatusProvisioned || aws.ToString(out.AgreementEntitlements[0].LicenseArn) == "" {
		t.Fatalf("after the start: %v %+v", err, out)
	}
}

func TestPaymentRequestsSurviveRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	a, termID := b.variableAgreement(t, p, "444455556666", map[string]any{"maxTotalChargeAmount": "50", "approvalStrategy": "WAIT_FOR_APPROVAL"})
	out, err := marketplaceagreement.NewFromConfig(b.cfg).SendAgreementPaymentRequest(context.Background(), &marketplaceagreement.SendAgreementPaymentRequestInput{
		AgreementId: &a.AgreementID, TermId: &termID, Name: aws.String("Consulting"), ChargeAmount: aws.String("5")})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := b.emu.World.Snapshot()
	other := setup(t)
	if err := other.emu.World.Restore(snap); err != nil {
		t.Fatal(err)
	}
	got, err := marketplaceagreement.NewFromConfig(other.cfg).GetAgreementPaymentRequest(context.Background(),
		&marketplaceagreement.GetAgreementPaymentRequestInput{AgreementId: &a.AgreementID, PaymentRequestId: out.PaymentRequestId})
	if err != nil || got.Status != agtypes.PaymentRequestStatusPendingApproval {
		t.Fatalf("restored: %v %+v", err, got)
	}
	var m map[string]any
	json.Unmarshal(snap, &m)
	m["paymentRequests"].(map[string]any)[aws.ToString(out.PaymentRequestId)].(map[string]any)["status"] = "MAYBE"
	bad, _ := json.Marshal(m)
	if err := other.emu.World.Restore(bad); err == nil {
		t.Fatal("a payment request with an unknown status restored")
	}
}
