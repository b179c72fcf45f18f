package marketplace

import "time"

// Invoice is one invoice (or credit memo) of an agreement, as
// ListAgreementInvoiceLineItems groups its line items by invoice id
// (aws-sdk-go-v2/service/marketplaceagreement v1.30.7,
// types.AgreementInvoiceLineItemGroupSummary). Amounts are decimal text.
type Invoice struct {
	InvoiceID string `json:"invoiceId"`
	// Type is INVOICE or CREDIT_MEMO.
	Type string `json:"type,omitempty"`
	// Amount is the amount before tax.
	Amount   string `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
	// MaxAdjustmentAmount is what AWS says may still be refunded of it.
	MaxAdjustmentAmount string     `json:"maxAdjustmentAmount,omitempty"`
	IssuedAt            *time.Time `json:"issuedAt,omitempty"`
	// BillingPeriod is YYYY-MM.
	BillingPeriod   string `json:"billingPeriod,omitempty"`
	InvoicingEntity string `json:"invoicingEntity,omitempty"`
}

// Charge is one charge of an agreement (ListAgreementCharges, types.Charge).
type Charge struct {
	ChargeID               string     `json:"chargeId"`
	Amount                 string     `json:"amount,omitempty"`
	Currency               string     `json:"currency,omitempty"`
	Time                   *time.Time `json:"time,omitempty"`
	PurchaseOrderReference string     `json:"purchaseOrderReference,omitempty"`
	Revision               int64      `json:"revision,omitempty"`
}
