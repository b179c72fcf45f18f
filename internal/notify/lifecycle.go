package notify

import "time"

// Notification kinds of the agreement lifecycle (issue 16). Each carries
// LifecycleData; routes send them to the people who act on them.
const (
	// KindAgreementRequest: a cancellation request or a payment request the
	// seller sent changed state (sent, approved, rejected, withdrawn, failed
	// validation): RevOps follows them.
	KindAgreementRequest = "agreement_request"
	// KindBillingAlert: a refund (billing adjustment) completed or failed, or
	// AWS paused disbursements: finance acts on them.
	KindBillingAlert = "billing_alert"
	// KindAgreementAdvisory: AWS issued or resolved an advisory on an agreement.
	KindAgreementAdvisory = "agreement_advisory"
)

// Topics of LifecycleData: what the notice is about.
const (
	TopicCancellation       = "cancellation_request"
	TopicPaymentRequest     = "payment_request"
	TopicRefund             = "refund"
	TopicDisbursementPaused = "disbursement_paused"
	TopicAdvisory           = "advisory"
)

// LifecycleData describes one step of an agreement's lifecycle: a request
// and its status as AWS gave it, a refund, an advisory, or paused
// disbursements (no agreement then).
type LifecycleData struct {
	Topic          string `json:"topic"`
	AgreementID    string `json:"agreementId,omitempty"`
	BuyerAccountID string `json:"buyerAccountId,omitempty"`
	BuyerCompany   string `json:"buyerCompany,omitempty"`
	ProductID      string `json:"productId,omitempty"`
	ProductTitle   string `json:"productTitle,omitempty"`
	// RequestID is the request's id (acr-…, ba-…, the payment request's).
	RequestID     string `json:"requestId,omitempty"`
	Status        string `json:"status,omitempty"`
	StatusMessage string `json:"statusMessage,omitempty"`
	ReasonCode    string `json:"reasonCode,omitempty"`
	Description   string `json:"description,omitempty"`
	Name          string `json:"name,omitempty"`
	Amount        string `json:"amount,omitempty"`
	Currency      string `json:"currency,omitempty"`
	InvoiceID     string `json:"invoiceId,omitempty"`
	// Open says, for an advisory, whether it is still open.
	Open bool       `json:"open,omitempty"`
	At   *time.Time `json:"at,omitempty"`
}
