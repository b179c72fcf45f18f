// Package notify tells people what happened: finance gets every new, amended,
// renewed or partner order with its bookable artifact, the account team hears
// when an offer is about to expire or an agreement is about to end, and a buyer
// gets a welcome email after registering.
//
// It is an outbox. Emit renders a notification (subject, plain text and HTML)
// and stores it with one delivery per recipient inside the caller's
// transaction, so a notification exists if and only if the change that caused
// it commits, and a once-only key makes replays and repeated sweeps notify
// nobody twice. The "notify.deliver" job sends each delivery by email (SMTP)
// or to a Slack-compatible incoming webhook, retried with the job runner's
// backoff; every notification is also a signed webhook event
// (notification.<kind>) for the vendor's own systems. Delivery status is kept
// and a failed or skipped delivery can be resent.
package notify

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/webhook"
)

// Notification kinds. Each kind has its own Data type (see Notice.Data), its
// own templates, and the webhook event type "notification.<kind>".
const (
	// KindNewOrder: a buyer accepted an offer, a public, direct, partner
	// (CPPO) or amended order (OrderData): finance's booking.
	KindNewOrder = "new_order"
	// KindPartnerOfferExtended: a channel partner extended its own offer (a
	// CPPO) to the buyer from one of the seller's partner offers (PartnerOfferData).
	KindPartnerOfferExtended = "partner_offer_extended"
	// KindOrderModification: a buyer accepted an amended offer (an
	// agreement-based offer), so an existing order changed (OrderData with
	// PreviousAgreementID and PreviousDimensions).
	KindOrderModification = "order_modification"
	// KindRenewal: a buyer renewed (OrderData).
	KindRenewal = "renewal"
	// KindAgreementEnded: an agreement ended, expired or was cancelled
	// (AgreementEndedData).
	KindAgreementEnded = "agreement_ended"
	// KindRegistrationPending: a license is in force but its buyer has not
	// registered yet (RegistrationData).
	KindRegistrationPending = "registration_pending"
	// KindRegistrationReminder: 48 hours have passed and the buyer has still
	// not registered (RegistrationData); the sweep sends it.
	KindRegistrationReminder = "registration_reminder"
	// KindOfferExpiring: a published offer expires within 7 days and nobody
	// has accepted it (OfferExpiringData); the sweep sends it.
	KindOfferExpiring = "offer_expiring"
	// KindAgreementEnding: an agreement ends in 90, 60 or 30 days
	// (AgreementEndingData); the sweep sends it.
	KindAgreementEnding = "agreement_ending"
	// KindMeteringFailed: AWS refused a metering record, so that usage is not
	// billed (MeteringData).
	KindMeteringFailed = "metering_failed"
	// KindMeteringExpired: a metering record could not be sent before AWS's
	// window closed, so that usage is not billed (MeteringData).
	KindMeteringExpired = "metering_expired"
	// KindBuyerWelcome: the buyer registered; a welcome email to the buyer
	// with the product's support URL (WelcomeData, BuyerFacing).
	KindBuyerWelcome = "buyer_welcome"
	// KindPurchaseInstructions: a direct offer's purchase instructions, to
	// the buyer's people, with the tracked link (InstructionsData,
	// BuyerFacing).
	KindPurchaseInstructions = "purchase_instructions"
)

// Kinds lists every kind, in the order the documentation gives them.
var Kinds = []string{KindNewOrder, KindPartnerOfferExtended, KindOrderModification, KindRenewal, KindAgreementEnded,
	KindRegistrationPending, KindRegistrationReminder, KindOfferExpiring, KindAgreementEnding, KindMeteringFailed,
	KindMeteringExpired, KindBuyerWelcome, KindPurchaseInstructions, KindAgreementRequest, KindBillingAlert, KindAgreementAdvisory}

// KnownKind reports whether kind is one of Kinds, so routes cannot name (and
// callers cannot emit) a misspelt kind.
func KnownKind(kind string) bool {
	for _, k := range Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// EventType is the webhook event type that carries notifications of kind.
func EventType(kind string) string { return "notification." + kind }

// Channels a route delivers through.
const (
	// ChannelEmail sends an email (HTML and plain text) over SMTP.
	ChannelEmail = "email"
	// ChannelSlack posts {"text": …} to a Slack-compatible incoming webhook.
	ChannelSlack = "slack"
)

// Delivery statuses.
const (
	// StatusPending: waiting for its first attempt or for a retry.
	StatusPending = "pending"
	// StatusSent: the SMTP server took the message, or the webhook answered 2xx.
	StatusSent = "sent"
	// StatusFailed: every attempt failed; Resend tries again.
	StatusFailed = "failed"
	// StatusSkipped: not sent on purpose (no SMTP server configured); Resend
	// tries again.
	StatusSkipped = "skipped"
)

// StatusNone is the status of a notification with no email or Slack
// recipient (its webhook event, if an endpoint wants it, is still sent).
const StatusNone = "none"

// ReasonNoSMTP is why an email delivery is skipped when Concord has no SMTP
// server: the notification is still stored, readable over the API, and can be
// resent once one is configured.
const ReasonNoSMTP = "no SMTP server configured (--smtp-addr)"

// JobDeliver is the job kind that sends one delivery; JobSweep looks for
// offers about to expire, agreements about to end and overdue registrations.
const (
	JobDeliver = "notify.deliver"
	JobSweep   = "notify.sweep"
)

// MaxAttempts is how often a delivery is tried by default: the webhook
// package's number, so with the runner's backoff the last attempt comes about
// a day after the first and an SMTP server down for hours loses nothing.
const MaxAttempts = webhook.MaxAttempts

// Timeout bounds one delivery attempt (an SMTP conversation or a Slack POST).
const Timeout = 10 * time.Second

// Limits of what one notification may carry.
const (
	MaxRecipients      = 100
	MaxAttachments     = 10
	MaxAttachmentBytes = 20 << 20 // in total: most mail servers refuse larger messages
	MaxKeyLength       = 500
)

// Notice is what a caller emits: what happened (Kind and Data), what it is
// about (ProductID, OfferID, AgreementID, used to find recipients), and who
// else must hear of it (To).
type Notice struct {
	// Kind is one of Kinds.
	Kind string
	// Key makes the notice once-only: a second Emit with the same key changes
	// nothing, so replayed events and repeated sweeps never notify twice.
	// Make it from what the notice is about, e.g. "order:<agreement id>".
	Key string
	// ProductID selects the routes filtered to one product.
	ProductID string
	// OfferID is the Concord offer (ofr_…) or the AWS offer id of one; its
	// form's notifyUsers are recipients.
	OfferID     string
	AgreementID string
	// To are extra email recipients, e.g. the buyer of a welcome email.
	To []string
	// BuyerFacing sends the notice to To alone: no routes, no notifyUsers,
	// no Slack. The webhook event is still emitted.
	BuyerFacing bool
	// Data is the kind's data: OrderData for new_order, order_modification
	// and renewal; PartnerOfferData; AgreementEndedData; RegistrationData for
	// registration_pending and registration_reminder; OfferExpiringData;
	// AgreementEndingData; MeteringData for metering_failed and
	// metering_expired; WelcomeData for buyer_welcome. A value, not a pointer.
	Data any
	// Attachments go with every email of the notice (the order's bookable
	// artifact as PDF, CSV or JSON). They are stored, so a resend sends the
	// same files.
	Attachments []Attachment
}

// Attachment is a file an email carries.
type Attachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// Order types of OrderData.
const (
	OrderPublic  = "public"
	OrderDirect  = "direct"
	OrderPartner = "partner"
	OrderAmended = "amended"
)

// OrderData describes an order: what a buyer bought, from whom, for how much.
// It is the data of new_order, order_modification and renewal.
type OrderData struct {
	// OrderType is public (a public offer), direct (a private offer from the
	// seller), partner (a channel partner's CPPO) or amended (an
	// agreement-based offer replacing an agreement).
	OrderType      string `json:"orderType"`
	BuyerCompany   string `json:"buyerCompany,omitempty"`
	BuyerAccountID string `json:"buyerAccountId"`
	ProductID      string `json:"productId"`
	ProductTitle   string `json:"productTitle,omitempty"`
	// SellerOfRecord is who bills the buyer: the seller, or the reseller of a
	// partner order.
	SellerOfRecord string `json:"sellerOfRecord,omitempty"`
	// Reseller is the channel partner of a partner order.
	Reseller       string `json:"reseller,omitempty"`
	OfferID        string `json:"offerId,omitempty"`
	ConcordOfferID string `json:"concordOfferId,omitempty"`
	// ResaleAuthorizationID is the seller's partner offer a CPPO came from.
	ResaleAuthorizationID string   `json:"resaleAuthorizationId,omitempty"`
	AgreementID           string   `json:"agreementId"`
	PreviousAgreementID   string   `json:"previousAgreementId,omitempty"`
	LicenseArns           []string `json:"licenseArns,omitempty"`
	// Dimensions are what the buyer bought; PreviousDimensions what the
	// replaced agreement had (order modifications).
	Dimensions         []OrderDimension `json:"dimensions,omitempty"`
	PreviousDimensions []OrderDimension `json:"previousDimensions,omitempty"`
	// TotalContractValue is a decimal string in Currency.
	TotalContractValue string            `json:"totalContractValue,omitempty"`
	Currency           string            `json:"currency,omitempty"`
	PaymentSchedule    []Payment         `json:"paymentSchedule,omitempty"`
	Start              *time.Time        `json:"start,omitempty"`
	End                *time.Time        `json:"end,omitempty"`
	AutoRenewal        *bool             `json:"autoRenewal,omitempty"`
	ContractMetadata   map[string]string `json:"contractMetadata,omitempty"`
	// Corrected marks an order sent again after reconciliation changed it;
	// the earlier notification was wrong.
	Corrected bool `json:"corrected,omitempty"`
	// Registration is what the seller entered as the offer's registration
	// details (the buyer's company, contact and email), so the New Order
	// notification carries them, as AWS sellers' tools do (Tackle's guide:
	// "This information appears in the New Order email notification for
	// this offer", shared/seeds/002). Nil when the offer has none.
	Registration *OrderRegistration `json:"registration,omitempty"`
}

// OrderRegistration is an offer's registration details in an order.
type OrderRegistration struct {
	Company     string `json:"company,omitempty"`
	ContactName string `json:"contactName,omitempty"`
	Email       string `json:"email,omitempty"`
}

// OrderDimension is one line of an order.
type OrderDimension struct {
	Key  string `json:"key"`
	Name string `json:"name,omitempty"`
	// Quantity is what the buyer bought (contract dimensions); empty for
	// usage dimensions.
	Quantity string `json:"quantity,omitempty"`
	// Price is the unit price, a decimal string in the order's currency.
	Price string `json:"price,omitempty"`
	Unit  string `json:"unit,omitempty"`
}

// Payment is one instalment of a flexible payment schedule.
type Payment struct {
	Date   time.Time `json:"date"`
	Amount string    `json:"amount"`
}

// PartnerOfferData: a channel partner extended its offer to the buyer.
type PartnerOfferData struct {
	ConcordOfferID        string `json:"concordOfferId,omitempty"`
	OfferName             string `json:"offerName,omitempty"`
	ProductID             string `json:"productId"`
	ProductTitle          string `json:"productTitle,omitempty"`
	ResaleAuthorizationID string `json:"resaleAuthorizationId,omitempty"`
	PartnerAccountID      string `json:"partnerAccountId,omitempty"`
	PartnerName           string `json:"partnerName,omitempty"`
	// PartnerOfferID is the partner's offer (the CPPO) the buyer accepts.
	PartnerOfferID string `json:"partnerOfferId,omitempty"`
	BuyerCompany   string `json:"buyerCompany,omitempty"`
	BuyerAccountID string `json:"buyerAccountId,omitempty"`
	// ExpiresOn is the partner offer's last day, YYYY-MM-DD.
	ExpiresOn string `json:"expiresOn,omitempty"`
}

// AgreementEndedData: an agreement ended.
type AgreementEndedData struct {
	AgreementID string `json:"agreementId"`
	// Status is AWS's: EXPIRED, CANCELLED, TERMINATED, RENEWED, REPLACED, …
	Status         string     `json:"status"`
	Cancelled      bool       `json:"cancelled,omitempty"`
	BuyerCompany   string     `json:"buyerCompany,omitempty"`
	BuyerAccountID string     `json:"buyerAccountId"`
	ProductID      string     `json:"productId"`
	ProductTitle   string     `json:"productTitle,omitempty"`
	OfferID        string     `json:"offerId,omitempty"`
	LicenseArns    []string   `json:"licenseArns,omitempty"`
	EndedAt        *time.Time `json:"endedAt,omitempty"`
	// FinalMeteringUntil is when the final metering window closes: usage up
	// to then must still be reported.
	FinalMeteringUntil *time.Time `json:"finalMeteringUntil,omitempty"`
}

// RegistrationData: a license waits for its buyer to register
// (registration_pending), or has waited 48 hours (registration_reminder).
type RegistrationData struct {
	LicenseArn     string `json:"licenseArn"`
	BuyerAccountID string `json:"buyerAccountId"`
	BuyerCompany   string `json:"buyerCompany,omitempty"`
	ProductID      string `json:"productId,omitempty"`
	ProductTitle   string `json:"productTitle,omitempty"`
	AgreementID    string `json:"agreementId,omitempty"`
	OfferID        string `json:"offerId,omitempty"`
	// Since is when the buyer accepted; Deadline is 48 hours later.
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline"`
	// AutoRegisterAt is when Concord registers the buyer from the offer's
	// registration details, if it will.
	AutoRegisterAt *time.Time `json:"autoRegisterAt,omitempty"`
}

// OfferExpiringData: an offer nobody accepted expires soon.
type OfferExpiringData struct {
	ConcordOfferID string `json:"concordOfferId"`
	OfferID        string `json:"offerId,omitempty"`
	OfferName      string `json:"offerName,omitempty"`
	// OfferType is direct or partner.
	OfferType      string `json:"offerType"`
	State          string `json:"state"`
	BuyerCompany   string `json:"buyerCompany,omitempty"`
	BuyerAccountID string `json:"buyerAccountId,omitempty"`
	ProductID      string `json:"productId"`
	ProductTitle   string `json:"productTitle,omitempty"`
	// ExpiresOn is the last day the offer can be accepted, YYYY-MM-DD (UTC).
	ExpiresOn string `json:"expiresOn"`
	DaysLeft  int    `json:"daysLeft"`
}

// AgreementEndingData: an agreement ends soon.
type AgreementEndingData struct {
	AgreementID    string    `json:"agreementId"`
	BuyerCompany   string    `json:"buyerCompany,omitempty"`
	BuyerAccountID string    `json:"buyerAccountId"`
	ProductID      string    `json:"productId"`
	ProductTitle   string    `json:"productTitle,omitempty"`
	OfferID        string    `json:"offerId,omitempty"`
	EndTime        time.Time `json:"endTime"`
	// DaysLeft is the whole days until EndTime, rounded up; Threshold is the
	// notice it is (90, 60 or 30 days).
	DaysLeft    int   `json:"daysLeft"`
	Threshold   int   `json:"threshold"`
	AutoRenewal *bool `json:"autoRenewal,omitempty"`
}

// MeteringData: usage that will not be billed.
type MeteringData struct {
	RecordID string `json:"recordId"`
	// Outcome is the metering outcome: not_subscribed, duplicate, rejected
	// or expired.
	Outcome      string    `json:"outcome"`
	Reason       string    `json:"reason,omitempty"`
	ProductID    string    `json:"productId"`
	ProductTitle string    `json:"productTitle,omitempty"`
	LicenseArn   string    `json:"licenseArn,omitempty"`
	AccountID    string    `json:"accountId,omitempty"`
	Dimension    string    `json:"dimension"`
	Hour         time.Time `json:"hour"`
	Quantity     int64     `json:"quantity"`
}

// WelcomeData: the buyer registered; the email welcomes them.
type WelcomeData struct {
	BuyerCompany string `json:"buyerCompany,omitempty"`
	ContactName  string `json:"contactName,omitempty"`
	ProductID    string `json:"productId"`
	ProductTitle string `json:"productTitle,omitempty"`
	TenantID     string `json:"tenantId,omitempty"`
	LicenseArn   string `json:"licenseArn,omitempty"`
	// SupportURL is the product's support page (its registration settings).
	SupportURL string `json:"supportUrl,omitempty"`
	// AppURL is where the buyer signs in, if the product has one.
	AppURL string `json:"appUrl,omitempty"`
}

// InstructionsData: how the buyer accepts a direct private offer.
type InstructionsData struct {
	ConcordOfferID string `json:"concordOfferId"`
	OfferID        string `json:"offerId"`
	OfferName      string `json:"offerName,omitempty"`
	BuyerCompany   string `json:"buyerCompany,omitempty"`
	BuyerAccountID string `json:"buyerAccountId"`
	ProductID      string `json:"productId"`
	ProductTitle   string `json:"productTitle,omitempty"`
	// Link is the tracked link: it marks the offer viewed and leads to the
	// offer in AWS Marketplace.
	Link string `json:"link"`
	// ExpiresOn is the last day the offer can be accepted, YYYY-MM-DD (UTC).
	ExpiresOn string `json:"expiresOn,omitempty"`
	// Note is RevOps' personal line.
	Note string `json:"note,omitempty"`
}

// dataMatches reports whether data is the Data type of kind.
func dataMatches(kind string, data any) bool {
	switch data.(type) {
	case OrderData:
		return kind == KindNewOrder || kind == KindOrderModification || kind == KindRenewal
	case PartnerOfferData:
		return kind == KindPartnerOfferExtended
	case AgreementEndedData:
		return kind == KindAgreementEnded
	case RegistrationData:
		return kind == KindRegistrationPending || kind == KindRegistrationReminder
	case OfferExpiringData:
		return kind == KindOfferExpiring
	case AgreementEndingData:
		return kind == KindAgreementEnding
	case MeteringData:
		return kind == KindMeteringFailed || kind == KindMeteringExpired
	case WelcomeData:
		return kind == KindBuyerWelcome
	case InstructionsData:
		return kind == KindPurchaseInstructions
	case LifecycleData:
		return kind == KindAgreementRequest || kind == KindBillingAlert || kind == KindAgreementAdvisory
	}
	return false
}

// Service emits, delivers, lists and resends notifications. Now, Logger,
// HTTPClient and PublicURL may be nil. Mailer nil means no SMTP server: email
// deliveries are stored as skipped (ReasonNoSMTP).
type Service struct {
	DB     *store.DB
	Now    func() time.Time
	Logger *slog.Logger
	// Mailer sends email; serve sets an *SMTPMailer when --smtp-addr is given.
	Mailer Mailer
	// HTTPClient posts to Slack-compatible webhooks; redirects are never
	// followed and private addresses refused (internal/egress) whatever
	// client is given, unless AllowPrivateTargets.
	HTTPClient *http.Client
	// AllowPrivateTargets lets routes post to loopback, private and
	// link-local addresses: on-premises receivers (serve --allow-private-targets).
	AllowPrivateTargets bool
	// PublicURL is where Concord is reached, shown in the emails' footer.
	PublicURL func() string
	// MaxAttempts is how often a delivery is tried (default MaxAttempts).
	MaxAttempts int
	// SweepEvery is how often the sweep runs (default 15m).
	SweepEvery time.Duration
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Service) maxAttempts() int {
	if s.MaxAttempts <= 0 {
		return MaxAttempts
	}
	return s.MaxAttempts
}

func (s *Service) publicURL() string {
	if s.PublicURL == nil {
		return ""
	}
	return strings.TrimRight(s.PublicURL(), "/")
}
