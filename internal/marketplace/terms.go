package marketplace

import "time"

// Terms are the accepted terms of an agreement as the Agreement API returns them
// (GetAgreementTerms), normalised for finance and entitlement use. Prices and
// amounts stay decimal strings exactly as AWS sent them: never floats.
type Terms struct {
	Currency string `json:"currency,omitempty"`
	// EstimatedValue is the agreement's estimated total value (estimatedCharges).
	EstimatedValue  string        `json:"estimatedValue,omitempty"`
	Pricing         []PriceItem   `json:"pricing"`
	PaymentSchedule []Installment `json:"paymentSchedule"`
	Validity        *Validity     `json:"validity,omitempty"`
	AutoRenew       *bool         `json:"autoRenew,omitempty"`
	FreeTrial       *FreeTrial    `json:"freeTrial,omitempty"`
	// VariablePayment is the variable payment term, which lets the seller
	// send payment requests (SendAgreementPaymentRequest names its id).
	VariablePayment *VariablePayment `json:"variablePayment,omitempty"`
	// Types lists every accepted term type AWS returned, including ones Concord
	// does not model, so nothing is silently dropped.
	Types []string `json:"types"`
}

// PriceItem is one priced dimension of a pricing term.
type PriceItem struct {
	// Term is the AWS term type (UsageBasedPricingTerm, ConfigurableUpfrontPricingTerm, ...).
	Term      string `json:"term"`
	Dimension string `json:"dimension"`
	Price     string `json:"price,omitempty"`
	// Quantity is the purchased quantity for contract dimensions.
	Quantity *int64 `json:"quantity,omitempty"`
	Selector string `json:"selector,omitempty"`
}

// Installment is one charge of a flexible payment schedule.
type Installment struct {
	ChargeDate time.Time `json:"chargeDate"`
	Amount     string    `json:"amount"`
}

// Validity is the validity term: duration or explicit dates.
type Validity struct {
	Duration string     `json:"duration,omitempty"`
	Start    *time.Time `json:"start,omitempty"`
	End      *time.Time `json:"end,omitempty"`
}

// FreeTrial is the free-trial pricing term.
type FreeTrial struct {
	Duration string `json:"duration,omitempty"`
}

// VariablePayment is the accepted VariablePaymentTerm (marketplaceagreement
// v1.30.7 types.VariablePaymentTerm).
type VariablePayment struct {
	TermID               string `json:"termId"`
	Currency             string `json:"currency,omitempty"`
	MaxTotalChargeAmount string `json:"maxTotalChargeAmount,omitempty"`
	// ApprovalStrategy is AUTO_APPROVE_ON_EXPIRATION or WAIT_FOR_APPROVAL.
	ApprovalStrategy   string `json:"approvalStrategy,omitempty"`
	ExpirationDuration string `json:"expirationDuration,omitempty"`
}

// AgreementDetails is what the Agreement API says about one agreement: the fact to
// fold (as a KindAgreementDescribed fact) and the terms to store.
type AgreementDetails struct {
	Fact  Fact
	Terms Terms
}
