package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	agtypes "github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/types"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	mtypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/world"
)

// scheduledAgreement makes a private offer with a payment schedule (100.00
// now, 100.00 in 30 days) on top of 10 seats at 40.00, and has the buyer
// accept it.
func (b *bundle) scheduledAgreement(t *testing.T, p product, buyer string) agreement {
	t.Helper()
	var offerID string
	err := b.emu.World.Do(func(s *world.State) error {
		now := s.Now()
		o, err := s.CreatePrivateOffer(world.Offer{ProductID: p.ProductID, BuyerAccounts: []string{buyer}, Quantities: map[string]int64{"seats": 10},
			Duration: "P12M", Terms: []agreementapi.Term{{Type: agreementapi.TermPaymentSchedule, ID: "term-schedule", CurrencyCode: "USD",
				Schedule: []agreementapi.ScheduleItem{{ChargeDate: now, ChargeAmount: "100.00"}, {ChargeDate: now.Add(30 * 24 * time.Hour), ChargeAmount: "100.00"}}}}})
		if err == nil {
			offerID = o.OfferID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var a agreement
	b.control(t, "POST", "/control/accept", map[string]any{"buyer": buyer, "offerId": offerID}, &a)
	return a
}

func invoicesOf(t *testing.T, c *marketplaceagreement.Client, agreementID string, opt func(*marketplaceagreement.ListAgreementInvoiceLineItemsInput)) []agtypes.AgreementInvoiceLineItemGroupSummary {
	t.Helper()
	in := &marketplaceagreement.ListAgreementInvoiceLineItemsInput{AgreementId: &agreementID, GroupBy: agtypes.LineItemGroupByInvoiceId}
	if opt != nil {
		opt(in)
	}
	out, err := c.ListAgreementInvoiceLineItems(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out.AgreementInvoiceLineItemGroupSummaries
}

func TestChargesInvoicesAndRefunds(t *testing.T) {
	t.Parallel()
	for _, proto := range agreementProtocols {
		t.Run(proto.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			c := marketplaceagreement.NewFromConfig(b.cfg, proto.opt)
			p := b.product(t, false)
			a := b.scheduledAgreement(t, p, "444455556666")

			// Charges: the upfront seats (10 × 40.00) and both installments.
			charges, err := c.ListAgreementCharges(ctx, &marketplaceagreement.ListAgreementChargesInput{AgreementId: &a.AgreementID})
			if err != nil {
				t.Fatal(err)
			}
			var amounts []string
			for _, ch := range charges.Items {
				amounts = append(amounts, aws.ToString(ch.Amount))
				if aws.ToString(ch.AgreementId) != a.AgreementID || aws.ToString(ch.CurrencyCode) != "USD" || ch.Time == nil || aws.ToString(ch.Id) == "" {
					t.Fatalf("charge %+v", ch)
				}
			}
			slices.Sort(amounts)
			if strings.Join(amounts, ",") != "100.00,100.00,400.00" {
				t.Fatalf("charges %v", amounts)
			}

			// Invoices: what is due by now; the second installment later.
			invs := invoicesOf(t, c, a.AgreementID, nil)
			if len(invs) != 2 {
				t.Fatalf("invoices now: %+v", invs)
			}
			var seats agtypes.AgreementInvoiceLineItemGroupSummary
			for _, inv := range invs {
				if aws.ToString(inv.PricingCurrencyAmount.Amount) == "400.00" {
					seats = inv
				}
			}
			if seats.InvoiceId == nil || seats.InvoiceType != agtypes.InvoiceTypeInvoice || aws.ToString(seats.PricingCurrencyAmount.MaxAdjustmentAmount) != "400.00" ||
				seats.InvoiceBillingPeriod == nil || aws.ToInt32(seats.InvoiceBillingPeriod.Year) != int32(b.emu.World.Now().Year()) {
				t.Fatalf("the seats invoice %+v", seats)
			}
			invoiceID := aws.ToString(seats.InvoiceId)

			// Usage is invoiced when its month is over.
			now := b.emu.World.Now()
			mout, err := marketplacemetering.NewFromConfig(b.cfg).BatchMeterUsage(ctx, &marketplacemetering.BatchMeterUsageInput{UsageRecords: []mtypes.UsageRecord{{
				CustomerAWSAccountId: aws.String("444455556666"), LicenseArn: &a.LicenseArn, Dimension: aws.String("api_calls"), Quantity: aws.Int32(1000), Timestamp: &now}}})
			if err != nil || mout.Results[0].Status != mtypes.UsageRecordResultStatusSuccess {
				t.Fatalf("meter: %v %+v", err, mout)
			}

			entry := func(amount, token string) agtypes.BatchCreateBillingAdjustmentRequestEntry {
				return agtypes.BatchCreateBillingAdjustmentRequestEntry{AgreementId: &a.AgreementID, OriginalInvoiceId: &invoiceID,
					AdjustmentAmount: aws.String(amount), CurrencyCode: aws.String("USD"), ClientToken: aws.String(token),
					AdjustmentReasonCode: agtypes.BillingAdjustmentReasonCodeBuyerDissatisfaction, Description: aws.String("outage")}
			}
			batch := func(entries ...agtypes.BatchCreateBillingAdjustmentRequestEntry) (*marketplaceagreement.BatchCreateBillingAdjustmentRequestOutput, error) {
				return c.BatchCreateBillingAdjustmentRequest(ctx, &marketplaceagreement.BatchCreateBillingAdjustmentRequestInput{BillingAdjustmentRequestEntries: entries})
			}
			out, err := batch(entry("150.00", "refund-1"))
			if err != nil || len(out.Items) != 1 || len(out.Errors) != 0 || !strings.HasPrefix(aws.ToString(out.Items[0].BillingAdjustmentRequestId), "ba-") {
				t.Fatalf("refund: %v %+v", err, out)
			}
			baID := aws.ToString(out.Items[0].BillingAdjustmentRequestId)
			// A resend is the same request; the token with other parameters is a conflict.
			again, err := batch(entry("150.00", "refund-1"), entry("10", "refund-1"))
			if err != nil || len(again.Items) != 1 || aws.ToString(again.Items[0].BillingAdjustmentRequestId) != baID ||
				len(again.Errors) != 1 || again.Errors[0].Code != agtypes.BillingAdjustmentErrorCodeConflictException {
				t.Fatalf("resend: %v %+v", err, again)
			}
			// More than is left to refund: refused whole, nothing made.
			_, err = batch(entry("1.00", "refund-ok"), entry("250.01", "refund-2"))
			var ve *agtypes.ValidationException
			if !errors.As(err, &ve) || ve.Reason != agtypes.ValidationExceptionReasonExceededMaximumAdjustmentAmount {
				t.Fatalf("over-refund: %v", err)
			}
			unknown := entry("1.00", "refund-3")
			unknown.OriginalInvoiceId = aws.String("inv-nope")
			out, err = batch(unknown)
			if err != nil || len(out.Items) != 0 || len(out.Errors) != 1 || out.Errors[0].Code != agtypes.BillingAdjustmentErrorCodeResourceNotFoundException {
				t.Fatalf("unknown invoice: %v %+v", err, out)
			}

			got, err := c.GetBillingAdjustmentRequest(ctx, &marketplaceagreement.GetBillingAdjustmentRequestInput{AgreementId: &a.AgreementID, BillingAdjustmentRequestId: &baID})
			if err != nil || got.Status != agtypes.BillingAdjustmentStatusPending || aws.ToString(got.AdjustmentAmount) != "150.00" || aws.ToString(got.OriginalInvoiceId) != invoiceID {
				t.Fatalf("get: %v %+v", err, got)
			}
			if inv := invoicesOf(t, c, a.AgreementID, func(in *marketplaceagreement.ListAgreementInvoiceLineItemsInput) { in.InvoiceId = &invoiceID }); len(inv) != 1 ||
				aws.ToString(inv[0].PricingCurrencyAmount.MaxAdjustmentAmount) != "250.00" {
				t.Fatalf("refundable after a pending refund: %+v", inv)
			}

			// The next one fails AWS's validation; its amount is refundable again.
			b.control(t, "POST", "/control/fail-next", map[string]any{"kind": "billingAdjustment", "message": "invoice is not yet paid"}, &struct{}{})
			out, err = batch(entry("50.00", "refund-4"))
			if err != nil || len(out.Items) != 1 {
				t.Fatalf("refund 4: %v %+v", err, out)
			}
			failedID := aws.ToString(out.Items[0].BillingAdjustmentRequestId)
			n := b.eventCount(t)
			b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "2m"}, &struct{}{})
			evs := b.eventsSince(t, n)
			if got := detailTypes(evs); got != "Purchase Agreement Billing Adjustment Completed - Proposer,Purchase Agreement Billing Adjustment Failed - Proposer" {
				t.Fatalf("events: %s", got)
			}
			var d struct {
				Agreement                struct{ ID string }
				BillingAdjustmentRequest struct{ ID, AdjustmentAmount, CurrencyCode, AdjustmentReasonCode string }
				Invoice                  struct{ OriginalInvoiceID string }
			}
			json.Unmarshal(evs[0].Detail, &d)
			if len(evs[0].Resources) != 0 || d.Agreement.ID != a.AgreementID || d.BillingAdjustmentRequest.ID != baID || d.BillingAdjustmentRequest.AdjustmentAmount != "150.00" ||
				d.BillingAdjustmentRequest.CurrencyCode != "USD" || d.BillingAdjustmentRequest.AdjustmentReasonCode != "BUYER_DISSATISFACTION" || d.Invoice.OriginalInvoiceID != invoiceID {
				t.Fatalf("completed event %s", evs[0].Detail)
			}
			failed, err := c.GetBillingAdjustmentRequest(ctx, &marketplaceagreement.GetBillingAdjustmentRequestInput{AgreementId: &a.AgreementID, BillingAdjustmentRequestId: &failedID})
			if err != nil || failed.Status != agtypes.BillingAdjustmentStatusValidationFailed || aws.ToString(failed.StatusMessage) != "invoice is not yet paid" {
				t.Fatalf("failed: %v %+v", err, failed)
			}
			list, err := c.ListBillingAdjustmentRequests(ctx, &marketplaceagreement.ListBillingAdjustmentRequestsInput{AgreementId: &a.AgreementID,
				Status: agtypes.BillingAdjustmentStatusCompleted})
			if err != nil || len(list.Items) != 1 || aws.ToString(list.Items[0].BillingAdjustmentRequestId) != baID {
				t.Fatalf("list completed: %v %+v", err, list)
			}
			// A credit memo for the completed refund; 250.00 left to refund.
			memos := invoicesOf(t, c, a.AgreementID, func(in *marketplaceagreement.ListAgreementInvoiceLineItemsInput) {
				in.InvoiceType = agtypes.InvoiceTypeCreditMemo
			})
			if len(memos) != 1 || aws.ToString(memos[0].PricingCurrencyAmount.Amount) != "150.00" {
				t.Fatalf("credit memos %+v", memos)
			}
			if inv := invoicesOf(t, c, a.AgreementID, func(in *marketplaceagreement.ListAgreementInvoiceLineItemsInput) { in.InvoiceId = &invoiceID }); aws.ToString(inv[0].PricingCurrencyAmount.MaxAdjustmentAmount) != "250.00" {
				t.Fatalf("refundable after a completed and a failed refund: %+v", inv)
			}

			// 31 days on: the second installment and last month's usage (1000 × 0.01) are invoiced.
			b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "744h"}, &struct{}{})
			var all []string
			for _, inv := range invoicesOf(t, c, a.AgreementID, func(in *marketplaceagreement.ListAgreementInvoiceLineItemsInput) {
				in.InvoiceType = agtypes.InvoiceTypeInvoice
			}) {
				all = append(all, aws.ToString(inv.PricingCurrencyAmount.Amount))
			}
			if j := strings.Join(all, ","); !strings.Contains(j, "10.00") || strings.Count(j, "100.00") != 2 || len(all) != 4 {
				t.Fatalf("invoices after a month: %v", all)
			}
		})
	}
}

func TestBillingBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p := b.product(t, false)
	a := b.scheduledAgreement(t, p, "444455556666")
	c := marketplaceagreement.NewFromConfig(b.cfg)
	invs := invoicesOf(t, c, a.AgreementID, nil)
	invoiceID := aws.ToString(invs[0].InvoiceId)
	good := func() agtypes.BatchCreateBillingAdjustmentRequestEntry {
		return agtypes.BatchCreateBillingAdjustmentRequestEntry{AgreementId: &a.AgreementID, OriginalInvoiceId: &invoiceID,
			AdjustmentAmount: aws.String("1.00"), CurrencyCode: aws.String("USD"), ClientToken: aws.String("t-1"),
			AdjustmentReasonCode: agtypes.BillingAdjustmentReasonCodeOther}
	}
	for name, c2 := range map[string]struct {
		change func(e *agtypes.BatchCreateBillingAdjustmentRequestEntry)
		reason agtypes.ValidationExceptionReason
	}{
		"zero amount":     {func(e *agtypes.BatchCreateBillingAdjustmentRequestEntry) { e.AdjustmentAmount = aws.String("0") }, agtypes.ValidationExceptionReasonInvalidAdjustmentAmount},
		"negative amount": {func(e *agtypes.BatchCreateBillingAdjustmentRequestEntry) { e.AdjustmentAmount = aws.String("-5") }, agtypes.ValidationExceptionReasonInvalidAdjustmentAmount},
		"unknown reason":  {func(e *agtypes.BatchCreateBillingAdjustmentRequestEntry) { e.AdjustmentReasonCode = "WHIM" }, agtypes.ValidationExceptionReasonInvalidReasonCode},
		"wrong currency":  {func(e *agtypes.BatchCreateBillingAdjustmentRequestEntry) { e.CurrencyCode = aws.String("EUR") }, agtypes.ValidationExceptionReasonInvalidCurrencyCode},
		"lowercase code":  {func(e *agtypes.BatchCreateBillingAdjustmentRequestEntry) { e.CurrencyCode = aws.String("usd") }, agtypes.ValidationExceptionReasonInvalidCurrencyCode},
		"long description": {func(e *agtypes.BatchCreateBillingAdjustmentRequestEntry) {
			e.Description = aws.String(strings.Repeat("x", 501))
		}, agtypes.ValidationExceptionReasonInvalidDescription},
		"bad token": {func(e *agtypes.BatchCreateBillingAdjustmentRequestEntry) { e.ClientToken = aws.String("a b") }, agtypes.ValidationExceptionReasonInvalidClientToken},
	} {
		e := good()
		c2.change(&e)
		_, err := c.BatchCreateBillingAdjustmentRequest(ctx, &marketplaceagreement.BatchCreateBillingAdjustmentRequestInput{
			BillingAdjustmentRequestEntries: []agtypes.BatchCreateBillingAdjustmentRequestEntry{good(), e}})
		var ve *agtypes.ValidationException
		if !errors.As(err, &ve) || ve.Reason != c2.reason {
			t.Errorf("%s: %v, want %s", name, err, c2.reason)
		}
	}
	other := b.accept(t, "444455556667", p.ProductID, nil)
	e := good()
	e.AgreementId = &other.AgreementID
	_, err := c.BatchCreateBillingAdjustmentRequest(ctx, &marketplaceagreement.BatchCreateBillingAdjustmentRequestInput{
		BillingAdjustmentRequestEntries: []agtypes.BatchCreateBillingAdjustmentRequestEntry{good(), e}})
	var ve *agtypes.ValidationException
	if !errors.As(err, &ve) || ve.Reason != agtypes.ValidationExceptionReasonMultipleAgreementIds {
		t.Errorf("two agreements: %v", err)
	}
	if status, body := b.rawAgreementCall(t, "BatchCreateBillingAdjustmentRequest", map[string]any{"billingAdjustmentRequestEntries": []any{}}); status != 400 || body["reason"] != "MISSING_BILLING_ADJUSTMENTS" {
		t.Errorf("no entries: %d %v", status, body)
	}
	_, err = c.GetBillingAdjustmentRequest(ctx, &marketplaceagreement.GetBillingAdjustmentRequestInput{AgreementId: &a.AgreementID, BillingAdjustmentRequestId: aws.String("ba-nope")})
	var nf *agtypes.ResourceNotFoundException
	if !errors.As(err, &nf) || nf.ResourceType != agtypes.ResourceTypeBillingAdjustmentRequest {
		t.Errorf("unknown request: %v", err)
	}
	_, err = c.ListAgreementInvoiceLineItems(ctx, &marketplaceagreement.ListAgreementInvoiceLineItemsInput{AgreementId: aws.String("agmt-nope"), GroupBy: agtypes.LineItemGroupByInvoiceId})
	if !errors.As(err, &nf) || nf.ResourceType != agtypes.ResourceTypeAgreement {
		t.Errorf("invoices of an unknown agreement: %v", err)
	}
	// Nothing was made by any of it.
	list, err := c.ListBillingAdjustmentRequests(ctx, &marketplaceagreement.ListBillingAdjustmentRequestsInput{})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("bad input made requests: %v %+v", err, list)
	}
}

func TestBillingAdjustmentsSurviveRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	a := b.scheduledAgreement(t, p, "444455556666")
	c := marketplaceagreement.NewFromConfig(b.cfg)
	invoiceID := aws.ToString(invoicesOf(t, c, a.AgreementID, nil)[0].InvoiceId)
	out, err := c.BatchCreateBillingAdjustmentRequest(context.Background(), &marketplaceagreement.BatchCreateBillingAdjustmentRequestInput{
		BillingAdjustmentRequestEntries: []agtypes.BatchCreateBillingAdjustmentRequestEntry{{AgreementId: &a.AgreementID, OriginalInvoiceId: &invoiceID,
			AdjustmentAmount: aws.String("5"), CurrencyCode: aws.String("USD"), ClientToken: aws.String("t-1"), AdjustmentReasonCode: agtypes.BillingAdjustmentReasonCodeOther}}})
	if err != nil || len(out.Items) != 1 {
		t.Fatalf("%v %+v", err, out)
	}
	id := aws.ToString(out.Items[0].BillingAdjustmentRequestId)
	snap, _ := b.emu.World.Snapshot()
	other := setup(t)
	if err := other.emu.World.Restore(snap); err != nil {
		t.Fatal(err)
	}
	got, err := marketplaceagreement.NewFromConfig(other.cfg).GetBillingAdjustmentRequest(context.Background(),
		&marketplaceagreement.GetBillingAdjustmentRequestInput{AgreementId: &a.AgreementID, BillingAdjustmentRequestId: &id})
	if err != nil || aws.ToString(got.AdjustmentAmount) != "5.00" {
		t.Fatalf("restored: %v %+v", err, got)
	}
	var m map[string]any
	json.Unmarshal(snap, &m)
	m["billingAdjustments"].(map[string]any)[id].(map[string]any)["adjustmentAmount"] = "-5"
	bad, _ := json.Marshal(m)
	if err := other.emu.World.Restore(bad); world.CodeOf(err) != world.CodeValidation {
		t.Fatalf("a negative refund restored: %v", err)
	}
}

func TestInvoiceFiltersOverBothProtocols(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	a := b.scheduledAgreement(t, p, "444455556666")
	now := b.emu.World.Now()
	for _, proto := range agreementProtocols {
		c := marketplaceagreement.NewFromConfig(b.cfg, proto.opt)
		count := func(opt func(*marketplaceagreement.ListAgreementInvoiceLineItemsInput)) int {
			return len(invoicesOf(t, c, a.AgreementID, opt))
		}
		if n := count(nil); n != 2 {
			t.Fatalf("%s: %d invoices", proto.name, n)
		}
		if n := count(func(in *marketplaceagreement.ListAgreementInvoiceLineItemsInput) {
			in.AfterIssuedTime = aws.Time(now.Add(time.Hour))
		}); n != 0 {
			t.Errorf("%s: %d invoices issued after an hour from now", proto.name, n)
		}
		if n := count(func(in *marketplaceagreement.ListAgreementInvoiceLineItemsInput) {
			in.BeforeIssuedTime = aws.Time(now.Add(time.Hour))
		}); n != 2 {
			t.Errorf("%s: %d invoices issued before an hour from now", proto.name, n)
		}
		if n := count(func(in *marketplaceagreement.ListAgreementInvoiceLineItemsInput) {
			in.InvoiceBillingPeriod = &agtypes.InvoiceBillingPeriod{Year: aws.Int32(int32(now.Year()) - 1), Month: aws.Int32(1)}
		}); n != 0 {
			t.Errorf("%s: %d invoices last year", proto.name, n)
		}
		if n := count(func(in *marketplaceagreement.ListAgreementInvoiceLineItemsInput) { in.MaxResults = aws.Int32(1) }); n != 1 {
			t.Errorf("%s: a page of one has %d", proto.name, n)
		}
		_, err := c.ListAgreementInvoiceLineItems(context.Background(), &marketplaceagreement.ListAgreementInvoiceLineItemsInput{AgreementId: &a.AgreementID,
			GroupBy: agtypes.LineItemGroupByInvoiceId, InvoiceBillingPeriod: &agtypes.InvoiceBillingPeriod{Year: aws.Int32(2026), Month: aws.Int32(13)}})
		var ve *agtypes.ValidationException
		if !errors.As(err, &ve) {
			t.Errorf("%s: month 13: %v", proto.name, err)
		}
	}
}
