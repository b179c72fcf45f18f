package inbox_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"pgregory.net/rapid"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// genLifecycle draws the lifecycle story of agreement a as AWS would send it
// (seller guide, "Amazon EventBridge events"; shapes in
// shared/reference/aws-marketplace-api.md §1.3): Ending notices at some of
// the documented thresholds, Renewal Terms Finalized and Renewal Upcoming,
// advisories issued and resolved, a cancellation request that may be
// answered, and a refund that completes or fails. It records in m.lifecycle
// the rows the fold must end in.
func genLifecycle(t *rapid.T, a eventbridge.Agreement, tick func() time.Time, emit func([]byte), m *model) {
	agmt := map[string]any{"id": a.ID}
	outlook := false
	var days *int
	var auto *bool
	for _, d := range []int{180, 120, 90, 60, 30} {
		if rapid.IntRange(0, 3).Draw(t, "endingNotice") != 0 {
			continue
		}
		outlook = true
		on := rapid.Bool().Draw(t, "endingAuto")
		d := d
		days, auto = &d, &on
		emit(eventbridge.Custom("Purchase Agreement Ending - Proposer", marketplace.SourceAgreement, seller, tick(), map[string]any{
			"agreement": map[string]any{"id": a.ID, "startTime": a.StartTime.UTC().Format(time.RFC3339), "endTime": a.EndTime.UTC().Format(time.RFC3339),
				"status": "ACTIVE", "daysBeforeEndTime": d, "autoRenewalEnabled": on},
			"renewalSummary": map[string]any{"lockoutStartTime": nil, "disabledBy": nil},
			"acceptor":       map[string]any{"accountId": a.AcceptorAccountID}, "offer": map[string]any{"id": a.OfferID}}))
	}
	value, lockout := "", false
	for range rapid.IntRange(0, 2).Draw(t, "renewalNotices") {
		outlook = true
		value = rapid.SampledFrom([]string{"1000.00", "1200.50", "99"}).Draw(t, "tcv")
		upcoming := rapid.Bool().Draw(t, "upcoming")
		dt := "Purchase Agreement Renewal Terms Finalized - Proposer"
		summary := map[string]any{"tcv": value, "currency": "USD", "lockoutReached": nil, "lockoutStartTime": nil}
		if upcoming {
			dt, lockout = "Purchase Agreement Renewal Upcoming - Proposer", true
			summary = map[string]any{"tcv": value, "currency": "USD", "lockoutReached": true}
		}
		when := tick()
		if !upcoming {
			summary["termsFinalizedTime"] = when.UTC().Format(time.RFC3339)
		}
		emit(eventbridge.Custom(dt, marketplace.SourceAgreement, seller, when, map[string]any{"agreement": agmt, "renewalSummary": summary,
			"acceptor": map[string]any{"accountId": a.AcceptorAccountID}}))
	}
	advisories := rapid.IntRange(0, 3).Draw(t, "advisories")
	for i := range advisories {
		outlook = true
		when := tick()
		dt, field, key := "Purchase Agreement Advisory Issued - Manufacturer", "issuedAt", "advisory"
		if i%2 == 1 {
			dt, field = "Purchase Agreement Advisory Resolved - Manufacturer", "resolvedAt"
		}
		emit(eventbridge.Custom(dt, marketplace.SourceAgreement, seller, when, map[string]any{"agreement": agmt,
			"product": map[string]any{"id": a.ProductID}, key: map[string]any{field: when.UTC().Format(time.RFC3339)}}))
	}
	if outlook {
		m.lifecycle = append(m.lifecycle, fmt.Sprintf("outlook %s days=%s auto=%s value=%s lockout=%v open=%v", a.ID, intText(days), boolText(auto),
			value, lockout, advisories%2 == 1))
	}
	if rapid.Bool().Draw(t, "cancellationRequest") {
		id := "acr-" + a.ID
		reason := rapid.SampledFrom(marketplace.CancellationReasonCodes).Draw(t, "reason")
		created := tick()
		status := marketplace.CancellationPendingApproval
		cancellation := func(dt, status string, when time.Time) {
			emit(eventbridge.Custom(dt, marketplace.SourceAgreement, seller, when, map[string]any{
				"agreement": map[string]any{"id": a.ID, "acceptorId": a.AcceptorAccountID, "productId": a.ProductID, "offerId": a.OfferID},
				"agreementCancellationRequest": map[string]any{"id": id, "reasonCode": reason, "reasonMessage": "story", "statusCode": status,
					"createdAt": created.UTC().Format(time.RFC3339), "updatedAt": when.UTC().Format(time.RFC3339)}}))
		}
		cancellation("Agreement Cancellation Request Pending Approval - Proposer", status, created)
		if rapid.IntRange(0, 3).Draw(t, "answered") > 0 {
			end := rapid.SampledFrom([][2]string{{"Approved", marketplace.CancellationApproved}, {"Rejected", marketplace.CancellationRejected},
				{"Cancelled", marketplace.CancellationCancelled}, {"Validation Failed", marketplace.CancellationValidationFailed}}).Draw(t, "answer")
			status = end[1]
			cancellation("Agreement Cancellation Request "+end[0]+" - Proposer", status, tick())
		}
		m.lifecycle = append(m.lifecycle, fmt.Sprintf("cancellation %s on %s %s %s", id, a.ID, status, reason))
	}
	if rapid.Bool().Draw(t, "refund") {
		id, status, dt := "ba-"+a.ID, marketplace.AdjustmentCompleted, "Purchase Agreement Billing Adjustment Completed - Proposer"
		if rapid.Bool().Draw(t, "refundFailed") {
			status, dt = marketplace.AdjustmentValidationFailed, "Purchase Agreement Billing Adjustment Failed - Proposer"
		}
		emit(eventbridge.Custom(dt, marketplace.SourceAgreement, seller, tick(), map[string]any{"agreement": agmt,
			"billingAdjustmentRequest": map[string]any{"id": id, "adjustmentAmount": "12.50", "currencyCode": "USD", "adjustmentReasonCode": "INCORRECT_METERING"},
			"invoice":                  map[string]any{"originalInvoiceId": "inv-" + a.ID}}))
		m.lifecycle = append(m.lifecycle, fmt.Sprintf("adjustment %s on %s %s 12.50 inv-%s", id, a.ID, status, a.ID))
	}
	if rapid.IntRange(0, 4).Draw(t, "disbursementPaused") == 0 {
		emit(eventbridge.Custom("Disbursement Paused", marketplace.SourceBilling, seller, tick(), map[string]any{"catalog": "AWSMarketplace"}))
	}
}

func intText(p *int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func boolText(p *bool) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// checkLifecycle compares the lifecycle tables with what the story predicts.
func (m *model) checkLifecycle(t failer, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	want := slices.Clone(m.lifecycle)
	var got []string
	err := db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT agreement_id, days_before_end, auto_renewal, renewal_value, lockout_reached, advisory_open FROM agreement_lifecycle`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, value string
			var days *int
			var auto *bool
			var lockout, open bool
			if err := rows.Scan(&id, &days, &auto, &value, &lockout, &open); err != nil {
				rows.Close()
				return err
			}
			got = append(got, fmt.Sprintf("outlook %s days=%s auto=%s value=%s lockout=%v open=%v", id, intText(days), boolText(auto), value, lockout, open))
		}
		rows.Close()
		for _, q := range []string{
			`SELECT 'cancellation ' || id || ' on ' || agreement_id || ' ' || status || ' ' || reason_code FROM cancellation_requests`,
			`SELECT 'adjustment ' || id || ' on ' || agreement_id || ' ' || status || ' ' || amount || ' ' || invoice_id FROM billing_adjustments`,
		} {
			lines, err := store.QueryAll(ctx, tx, store.ScanString, q)
			if err != nil {
				return err
			}
			got = append(got, lines...)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read lifecycle: %v", err)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Fatalf("lifecycle differs from the story\nwant:\n%v\ngot:\n%v", want, got)
	}
}
