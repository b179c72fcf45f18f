package artifact

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/store"
)

// KindRefund is an order AWS refunded part of (a billing adjustment against
// one of its invoices completed): Refunds lists each refund and
// RefundedTotal is their sum, negative, in the order's currency.
const KindRefund = "refund"

// ArtifactRefund is one completed refund (billing adjustment) of an order.
type ArtifactRefund struct {
	// ID is AWS's billing adjustment request id (ba-…).
	ID        string `json:"id"`
	InvoiceID string `json:"invoiceId"`
	// Amount is negative: what the refund takes off the booking.
	Amount      string     `json:"amount"`
	Currency    string     `json:"currency"`
	ReasonCode  string     `json:"reasonCode,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
}

// refunds reads the completed refunds of agreement id, oldest first, and
// their negative total ("" when there are none).
func refunds(ctx context.Context, tx *store.Tx, id string) ([]ArtifactRefund, string, error) {
	rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (ArtifactRefund, error) {
		var a ArtifactRefund
		var at sql.NullInt64
		err := r.Scan(&a.ID, &a.InvoiceID, &a.Amount, &a.Currency, &a.ReasonCode, &at)
		a.CompletedAt = store.FromNullMillis(at)
		return a, err
	}, `SELECT id, invoice_id, amount, currency, reason_code, updated_at FROM billing_adjustments WHERE agreement_id = ? AND status = 'COMPLETED'
		ORDER BY COALESCE(updated_at, 0), id`, id)
	if err != nil || len(rows) == 0 {
		return nil, "", err
	}
	total := new(big.Rat)
	for i, r := range rows {
		v, ok := new(big.Rat).SetString(r.Amount)
		if !ok {
			return nil, "", fmt.Errorf("refund %s of %s has amount %q", r.ID, id, r.Amount)
		}
		v.Neg(v)
		total.Add(total, v)
		rows[i].Amount = ratString(v)
	}
	return rows, ratString(total), nil
}

func ratString(r *big.Rat) string {
	// At least two decimals, as AWS writes amounts ("1200.00"), at most eight.
	t := strings.TrimRight(r.FloatString(8), "0")
	if i := strings.IndexByte(t, '.'); len(t)-i-1 < 2 {
		t += strings.Repeat("0", 2-(len(t)-i-1))
	}
	return t
}
