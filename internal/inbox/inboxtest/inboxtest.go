// Package inboxtest has helpers for tests that compare ledgers: a comparable
// snapshot of the ledger tables and a deterministic marketplace event stream.
package inboxtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// Seller is the ISV account the streams are sent to.
const Seller = "111122223333"

// Snapshot is the ledger as a comparable string, without the columns that record
// when Concord did something (rather than what the events say).
func Snapshot(tb testing.TB, db *store.DB) string {
	tb.Helper()
	var b strings.Builder
	err := db.Read(context.Background(), func(tx *store.Tx) error {
		for _, q := range []string{
			`SELECT agreement_id, initial_agreement_id, COALESCE(previous_agreement_id, ''), COALESCE(next_agreement_id, ''), intent, status,
				COALESCE(acceptance_time, 0), COALESCE(start_time, 0), COALESCE(end_time, 0), COALESCE(ended_at, 0), acceptor_account_id,
				proposer_account_id, manufacturer_account_id, resale_authorization_id, offer_id, product_id, last_event_time FROM agreements ORDER BY agreement_id`,
			`SELECT license_id, license_arn, agreement_id, product_id, product_code, account_id, state, COALESCE(activated_at, 0),
				COALESCE(starts_at, 0), COALESCE(ending_at, 0), COALESCE(deprovisioned_at, 0) FROM licenses ORDER BY license_id`,
			`SELECT account_id FROM buyers ORDER BY account_id`,
			`SELECT product_id, COALESCE(product_code, '') FROM products ORDER BY product_id`,
			`SELECT customer_key, state, offer_id FROM subscriptions ORDER BY customer_key`,
			`SELECT kind, status FROM inbox_events WHERE status = 'deferred' ORDER BY kind`,
			`SELECT agreement_id, COALESCE(days_before_end, -1), COALESCE(auto_renewal, FALSE), COALESCE(lockout_start_time, 0), renewal_disabled_by,
				renewal_value, renewal_currency, COALESCE(renewal_terms_finalized_at, 0), lockout_reached, advisory_open,
				COALESCE(advisory_issued_at, 0), COALESCE(advisory_resolved_at, 0) FROM agreement_lifecycle ORDER BY agreement_id`,
			`SELECT id, agreement_id, reason_code, description, status, status_message, COALESCE(created_at, 0), COALESCE(updated_at, 0)
				FROM cancellation_requests ORDER BY id`,
			`SELECT id, agreement_id, invoice_id, amount, currency, reason_code, client_token, status, status_message, COALESCE(updated_at, 0)
				FROM billing_adjustments ORDER BY id`,
			`SELECT id, agreement_id, term_id, name, charge_amount, currency, charge_id, status, COALESCE(updated_at, 0) FROM payment_requests ORDER BY id`,
		} {
			lines, err := storetest.Rows(context.Background(), tx, q)
			if err != nil {
				return err
			}
			for _, l := range lines {
				b.WriteString(l + "\n")
			}
			b.WriteString("--\n")
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

// Stream is a deterministic history for n buyers: each buys a product, renews it,
// and the renewed agreement's license is deprovisioned. seed keeps ids distinct.
func Stream(now time.Time, n int, seed int) [][]byte {
	var out [][]byte
	for i := range n {
		buyer := fmt.Sprintf("%012d", 100000000000+seed*100000+i)
		a := eventbridge.Agreement{ID: fmt.Sprintf("agmt-s%d-%d", seed, i), Intent: "NEW", AcceptanceTime: now.Add(-4 * time.Hour),
			StartTime: now.Add(-4 * time.Hour), EndTime: now.AddDate(1, 0, 0), AcceptorAccountID: buyer, ProposerAccountID: Seller,
			OfferID: fmt.Sprintf("offer-s%d-%d", seed, i), ProductID: "prod-aaa", ProductCode: "code-aaa"}
		arn := eventbridge.LicenseArn(buyer, fmt.Sprintf("l-s%d-%d", seed, i))
		out = append(out, eventbridge.Created(Seller, a, now.Add(-3*time.Hour)), eventbridge.LicenseUpdated(Seller, a, arn, now.Add(-3*time.Hour)))
		r := a
		r.ID, r.Intent, r.PreviousAgreementID = a.ID+"-r", "RENEW", a.ID
		out = append(out, eventbridge.Created(Seller, r, now.Add(-2*time.Hour)), eventbridge.Ended(Seller, a, "RENEWED", now.Add(-2*time.Hour)),
			eventbridge.LicenseUpdated(Seller, r, eventbridge.LicenseArn(buyer, fmt.Sprintf("l-s%d-%d-r", seed, i)), now.Add(-2*time.Hour)),
			eventbridge.LicenseDeprovisioned(Seller, a, arn, now.Add(-time.Hour)))
	}
	return out
}
