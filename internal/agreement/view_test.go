package agreement

import (
	"testing"

	"github.com/concordmp/concord/internal/marketplace"
)

// TestRefundable: what is left to refund of an invoice is its amount less
// the refunds pending or completed against it, never more than AWS's
// maxAdjustmentAmount, and nothing of a credit memo.
func TestRefundable(t *testing.T) {
	t.Parallel()
	refunds := []marketplace.BillingAdjustment{
		{InvoiceID: "inv-1", Amount: "100.00", Status: marketplace.AdjustmentCompleted},
		{InvoiceID: "inv-1", Amount: "50", Status: marketplace.AdjustmentPending},
		{InvoiceID: "inv-1", Amount: "400.00", Status: marketplace.AdjustmentValidationFailed},
		{InvoiceID: "inv-2", Amount: "1.00", Status: marketplace.AdjustmentCompleted},
	}
	for _, tt := range []struct {
		name                 string
		inv                  marketplace.Invoice
		adjusted, refundable string
	}{
		{"amount less pending and completed", marketplace.Invoice{InvoiceID: "inv-1", Type: "INVOICE", Amount: "1200.00"}, "150.00", "1050.00"},
		{"capped by AWS's maximum", marketplace.Invoice{InvoiceID: "inv-1", Type: "INVOICE", Amount: "1200.00", MaxAdjustmentAmount: "900.00"}, "150.00", "900.00"},
		{"AWS's stale maximum above what is left", marketplace.Invoice{InvoiceID: "inv-1", Type: "INVOICE", Amount: "1200.00", MaxAdjustmentAmount: "1200.00"}, "150.00", "1050.00"},
		{"fully refunded", marketplace.Invoice{InvoiceID: "inv-1", Type: "INVOICE", Amount: "150.00"}, "150.00", "0"},
		{"a credit memo", marketplace.Invoice{InvoiceID: "cm-1", Type: "CREDIT_MEMO", Amount: "10.00"}, "0.00", "0"},
		{"no refund yet", marketplace.Invoice{InvoiceID: "inv-3", Type: "INVOICE", Amount: "0.5"}, "0.00", "0.50"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := view(tt.inv, refunds)
			if v.Adjusted != tt.adjusted || v.Refundable != tt.refundable {
				t.Errorf("adjusted %s, refundable %s; want %s, %s", v.Adjusted, v.Refundable, tt.adjusted, tt.refundable)
			}
		})
	}
}
