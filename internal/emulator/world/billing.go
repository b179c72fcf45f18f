package world

import (
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
)

// Invoice types (Agreement API InvoiceType).
const (
	InvoiceTypeInvoice    = "INVOICE"
	InvoiceTypeCreditMemo = "CREDIT_MEMO"
)

// Billing adjustment statuses (Agreement API BillingAdjustmentStatus).
const (
	AdjustmentPending          = "PENDING"
	AdjustmentCompleted        = "COMPLETED"
	AdjustmentValidationFailed = "VALIDATION_FAILED"
)

// AdjustmentReasonCodes are BillingAdjustmentReasonCode (Agreement API
// reference, BatchCreateBillingAdjustmentRequestEntry; SDK types/enums.go).
var AdjustmentReasonCodes = []string{"INCORRECT_TERMS_ACCEPTED", "INCORRECT_METERING", "TEST_ENVIRONMENT_CHARGES",
	"ALTERNATIVE_PROCUREMENT_CHANNEL", "UNINTENDED_RENEWAL", "BUYER_DISSATISFACTION", "OTHER"}

// FailBillingAdjustment is the FailNext kind that fails the next billing
// adjustment request.
const FailBillingAdjustment = "billingAdjustment"

// DefaultAdjustmentDelay is how long the emulator takes to process a billing
// adjustment request. AWS documents the processing as asynchronous (PENDING,
// then COMPLETED or VALIDATION_FAILED with an event) without a duration;
// the emulator's minute is its own choice, tunable in Config.
const DefaultAdjustmentDelay = time.Minute

var (
	adjustmentIDPattern     = regexp.MustCompile(`^ba-[a-zA-Z0-9]+$`)
	adjustmentAmountPattern = regexp.MustCompile(`^[0-9]*(\.[0-9]{0,8})?$`)
	currencyPattern         = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Charge is one amount an agreement's terms charge (ListAgreementCharges):
// the upfront contract price, a fixed upfront price, or a payment schedule
// installment.
type Charge struct {
	ID, AgreementID string
	Amount          string
	Currency        string
	Time            time.Time
}

// Invoice is an invoice (or credit memo) of an agreement
// (ListAgreementInvoiceLineItems grouped by INVOICE_ID). MaxAdjustment is
// what may still be refunded: the amount less the billing adjustments
// pending or completed against it.
type Invoice struct {
	ID, AgreementID, Type       string
	Issued                      time.Time
	Year, Month                 int
	Amount, Currency            string
	MaxAdjustment               string
	amount, adjusted, remaining *big.Rat
}

// BillingAdjustment is a seller's refund request against one invoice
// (BatchCreateBillingAdjustmentRequest).
type BillingAdjustment struct {
	ID            string    `json:"id"`
	AgreementID   string    `json:"agreementId"`
	InvoiceID     string    `json:"originalInvoiceId"`
	Amount        string    `json:"adjustmentAmount"`
	Currency      string    `json:"currencyCode"`
	ReasonCode    string    `json:"adjustmentReasonCode"`
	Description   string    `json:"description,omitempty"`
	ClientToken   string    `json:"clientToken"`
	Status        string    `json:"status"`
	StatusMessage string    `json:"statusMessage,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
	// ProcessAt is when the request completes (or fails).
	ProcessAt time.Time `json:"processAt"`
	// FailValidation, when set, is the status message it fails with (a
	// sandbox fault).
	FailValidation string `json:"failValidation,omitempty"`
}

func derivedID(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return prefix + hex.EncodeToString(h[:])[:24]
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat)
	}
	return r
}

// money renders an amount with at least two and at most eight decimals.
func money(r *big.Rat) string {
	s := r.FloatString(8)
	s = strings.TrimRight(s, "0")
	if i := strings.IndexByte(s, '.'); i < 0 {
		s += ".00"
	} else if len(s)-i-1 < 2 {
		s += strings.Repeat("0", 2-(len(s)-i-1))
	}
	return s
}

func (a *Agreement) currency() string {
	if a.Currency == "" {
		return "USD"
	}
	return a.Currency
}

// Charges are what the agreement's accepted terms charge: the upfront price
// of the contract quantities bought (ConfigurableUpfrontPricingTerm rate card
// × configuration) and a fixed upfront price at its start, and each
// PaymentScheduleTerm installment on its charge date. Usage is not a charge:
// it is invoiced monthly from the metering records (Invoices). A payment
// request the buyer approved is a charge at its approval.
func (s *State) Charges(a *Agreement) []Charge {
	var out []Charge
	add := func(key, amount string, at time.Time) {
		if rat(amount).Sign() <= 0 {
			return
		}
		out = append(out, Charge{ID: derivedID("ch-", a.ID, key), AgreementID: a.ID, Amount: money(rat(amount)), Currency: a.currency(), Time: at})
	}
	for i, t := range a.Terms {
		switch t.Type {
		case agreementapi.TermConfigurableUpfrontPricing:
			if t.Configuration == nil {
				continue
			}
			total := new(big.Rat)
			for _, rc := range t.RateCards {
				for _, item := range rc.Items {
					for _, d := range t.Configuration.Dimensions {
						if d.DimensionKey == item.DimensionKey {
							total.Add(total, new(big.Rat).Mul(rat(item.Price), new(big.Rat).SetInt64(int64(d.DimensionValue))))
						}
					}
				}
			}
			add(t.ID+"/upfront", money(total), a.StartTime)
		case agreementapi.TermFixedUpfrontPricing:
			add(t.ID+"/fixed", t.Price, a.StartTime)
		case agreementapi.TermPaymentSchedule:
			for j, it := range t.Schedule {
				at := it.ChargeDate
				if at.IsZero() {
					at = a.StartTime
				}
				add(t.ID+"/"+itoa(i)+"/"+itoa(j), it.ChargeAmount, at)
			}
		}
	}
	out = append(out, s.paymentCharges(a)...)
	slices.SortStableFunc(out, func(x, y Charge) int { return x.Time.Compare(y.Time) })
	return out
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// usagePrices is the agreement's usage rate card.
func usagePrices(a *Agreement) map[string]*big.Rat {
	out := map[string]*big.Rat{}
	for _, t := range a.Terms {
		if t.Type != agreementapi.TermUsageBasedPricing {
			continue
		}
		for _, rc := range t.RateCards {
			for _, it := range rc.Items {
				out[it.DimensionKey] = rat(it.Price)
			}
		}
	}
	return out
}

// Invoices are the agreement's invoices issued by now: one per charge whose
// time has come, one per calendar month of accepted metering records (the
// records that won their customer-dimension-hour, priced by the usage rate
// card) issued when the month is over, and a credit memo per completed
// billing adjustment. Ids are derived from what they invoice, so they are
// stable.
func (s *State) Invoices(a *Agreement) []Invoice {
	var out []Invoice
	cur := a.currency()
	add := func(id, typ string, at time.Time, amount *big.Rat) {
		inv := Invoice{ID: id, AgreementID: a.ID, Type: typ, Issued: at, Year: at.Year(), Month: int(at.Month()),
			Amount: money(amount), Currency: cur, amount: amount, adjusted: new(big.Rat)}
		out = append(out, inv)
	}
	for _, c := range s.Charges(a) {
		if !c.Time.After(s.now) {
			add(derivedID("inv-", c.ID), InvoiceTypeInvoice, c.Time, rat(c.Amount))
		}
	}
	if lic := s.Licenses[a.LicenseArn]; lic != nil {
		prices := usagePrices(a)
		months := map[time.Time]*big.Rat{}
		for _, idx := range s.MeteringKeys {
			if idx < 0 || idx >= len(s.Metering) {
				continue
			}
			r := s.Metering[idx]
			price, ok := prices[r.Dimension]
			if !ok || r.Status != "Success" {
				continue
			}
			if r.LicenseArn != lic.Arn && (r.LicenseArn != "" || lic.CustomerIdentifier == "" || r.CustomerIdentifier != lic.CustomerIdentifier ||
				r.Timestamp.Before(lic.StartTime.Truncate(time.Hour)) || (lic.EndedAt != nil && r.Timestamp.After(lic.EndedAt.Add(s.Config.FinalWindow)))) {
				continue
			}
			m := time.Date(r.Timestamp.Year(), r.Timestamp.Month(), 1, 0, 0, 0, 0, time.UTC)
			if months[m] == nil {
				months[m] = new(big.Rat)
			}
			months[m].Add(months[m], new(big.Rat).Mul(price, new(big.Rat).SetInt64(r.Quantity)))
		}
		for m, total := range months {
			issued := m.AddDate(0, 1, 0)
			if total.Sign() > 0 && !issued.After(s.now) {
				add(derivedID("inv-", a.ID, "usage", m.Format("2006-01")), InvoiceTypeInvoice, issued, total)
			}
		}
	}
	for _, ba := range s.adjustmentsOf(a.ID, "") {
		for i := range out {
			if out[i].ID == ba.InvoiceID && ba.Status != AdjustmentValidationFailed {
				out[i].adjusted.Add(out[i].adjusted, rat(ba.Amount))
			}
		}
	}
	for i := range out {
		rem := new(big.Rat).Sub(out[i].amount, out[i].adjusted)
		if rem.Sign() < 0 {
			rem.SetInt64(0)
		}
		out[i].remaining, out[i].MaxAdjustment = rem, money(rem)
	}
	for _, ba := range s.adjustmentsOf(a.ID, AdjustmentCompleted) {
		at := ba.UpdatedAt
		out = append(out, Invoice{ID: derivedID("cm-", ba.ID), AgreementID: a.ID, Type: InvoiceTypeCreditMemo, Issued: at, Year: at.Year(),
			Month: int(at.Month()), Amount: ba.Amount, Currency: ba.Currency, MaxAdjustment: "0.00"})
	}
	slices.SortStableFunc(out, func(x, y Invoice) int {
		if c := x.Issued.Compare(y.Issued); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// adjustmentsOf lists an agreement's billing adjustments (all agreements
// when empty), oldest first, of one status (or all).
func (s *State) adjustmentsOf(agreementID, status string) []*BillingAdjustment {
	var out []*BillingAdjustment
	for _, ba := range s.BillingAdjustments {
		if (agreementID == "" || ba.AgreementID == agreementID) && (status == "" || ba.Status == status) {
			out = append(out, ba)
		}
	}
	slices.SortFunc(out, func(x, y *BillingAdjustment) int {
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// BillingAdjustmentsOf is adjustmentsOf for the other packages.
func (s *State) BillingAdjustmentsOf(agreementID, status string) []*BillingAdjustment {
	return s.adjustmentsOf(agreementID, status)
}

// AdjustmentEntry is one BatchCreateBillingAdjustmentRequest entry.
type AdjustmentEntry struct {
	AgreementID, InvoiceID, Amount, Currency, ReasonCode, Description, ClientToken string
}

// AdjustmentResult is one entry's outcome: the request made (or found by its
// client token), or the error code and message of a refused entry
// (BillingAdjustmentErrorCode).
type AdjustmentResult struct {
	ClientToken string
	Request     *BillingAdjustment
	ErrorCode   string
	Message     string
}

// CreateBillingAdjustments plays AWS receiving BatchCreateBillingAdjustmentRequest.
// Input the whole batch cannot be taken with (a missing or malformed member,
// entries of several agreements, an amount above what the invoice can still
// refund) is a ValidationException and changes nothing; an entry whose
// agreement or invoice does not exist, or whose client token was used with
// other parameters, is reported in the batch's errors and the others are
// made. A client token already used with the same parameters returns the
// request it made.
func (s *State) CreateBillingAdjustments(entries []AdjustmentEntry) ([]AdjustmentResult, error) {
	if len(entries) == 0 {
		return nil, reasonError(CodeValidation, "MISSING_BILLING_ADJUSTMENTS", "billingAdjustmentRequestEntries must hold at least one entry")
	}
	for _, e := range entries {
		switch {
		case e.InvoiceID == "":
			return nil, reasonError(CodeValidation, "MISSING_INVOICE_ID", "originalInvoiceId is required")
		case utf8.RuneCountInString(e.InvoiceID) > 255:
			return nil, reasonError(CodeValidation, "MISSING_INVOICE_ID", "originalInvoiceId must be 1-255 characters")
		case e.Amount == "":
			return nil, reasonError(CodeValidation, "MISSING_ADJUSTMENT_AMOUNT", "adjustmentAmount is required")
		case !adjustmentAmountPattern.MatchString(e.Amount) || rat(e.Amount).Sign() <= 0:
			return nil, reasonError(CodeValidation, "INVALID_ADJUSTMENT_AMOUNT", "adjustmentAmount %q must be a positive decimal with at most 8 decimals", e.Amount)
		case e.Currency == "":
			return nil, reasonError(CodeValidation, "MISSING_CURRENCY_CODE", "currencyCode is required")
		case !currencyPattern.MatchString(e.Currency):
			return nil, reasonError(CodeValidation, "INVALID_CURRENCY_CODE", "currencyCode %q must be 3 capital letters", e.Currency)
		case e.ReasonCode == "":
			return nil, reasonError(CodeValidation, "MISSING_REASON_CODE", "adjustmentReasonCode is required")
		case !slices.Contains(AdjustmentReasonCodes, e.ReasonCode):
			return nil, reasonError(CodeValidation, "INVALID_REASON_CODE", "adjustmentReasonCode %q is not one of %v", e.ReasonCode, AdjustmentReasonCodes)
		case utf8.RuneCountInString(e.Description) > 500:
			return nil, reasonError(CodeValidation, "INVALID_DESCRIPTION", "description must be at most 500 characters")
		case !clientTokenPattern.MatchString(e.ClientToken):
			return nil, reasonError(CodeValidation, "INVALID_CLIENT_TOKEN", "clientToken must be 1-64 characters matching [a-zA-Z0-9-]+")
		case e.AgreementID != entries[0].AgreementID:
			// "billing adjustment requests for one or more invoices within an
			// agreement" (API reference); the enum names the refusal.
			return nil, reasonError(CodeValidation, "MULTIPLE_AGREEMENT_IDS", "every entry of a batch must name the same agreement")
		}
	}
	// What each invoice can still refund, counting earlier entries of this batch.
	remaining := map[string]*big.Rat{}
	var invoices []Invoice
	if a := s.Agreements[entries[0].AgreementID]; a != nil {
		invoices = s.Invoices(a)
		for _, inv := range invoices {
			if inv.Type == InvoiceTypeInvoice {
				remaining[inv.ID] = new(big.Rat).Set(inv.remaining)
			}
		}
	}
	results := make([]AdjustmentResult, len(entries))
	var made []*BillingAdjustment
	for i, e := range entries {
		results[i].ClientToken = e.ClientToken
		if prior := s.adjustmentByToken(e.ClientToken); prior != nil {
			if prior.AgreementID == e.AgreementID && prior.InvoiceID == e.InvoiceID && rat(prior.Amount).Cmp(rat(e.Amount)) == 0 &&
				prior.Currency == e.Currency && prior.ReasonCode == e.ReasonCode && prior.Description == e.Description {
				results[i].Request = prior
			} else {
				results[i].ErrorCode, results[i].Message = "CONFLICT_EXCEPTION", "clientToken "+e.ClientToken+" was already used for billing adjustment request "+prior.ID+" with other parameters"
			}
			continue
		}
		a := s.Agreements[e.AgreementID]
		if a == nil {
			results[i].ErrorCode, results[i].Message = "RESOURCE_NOT_FOUND_EXCEPTION", "Agreement "+e.AgreementID+" not found"
			continue
		}
		rem, ok := remaining[e.InvoiceID]
		if !ok {
			results[i].ErrorCode, results[i].Message = "RESOURCE_NOT_FOUND_EXCEPTION", "Invoice "+e.InvoiceID+" not found for agreement "+a.ID
			continue
		}
		if e.Currency != a.currency() {
			return nil, reasonError(CodeValidation, "INVALID_CURRENCY_CODE", "currencyCode %s does not match the agreement's currency %s", e.Currency, a.currency())
		}
		amount := rat(e.Amount)
		if amount.Cmp(rem) > 0 {
			// AWS: "A ValidationException is returned if the adjustment
			// amount exceeds the maximum refundable amount for the invoice."
			return nil, reasonError(CodeValidation, "EXCEEDED_MAXIMUM_ADJUSTMENT_AMOUNT",
				"adjustmentAmount %s exceeds what invoice %s can still refund (%s %s)", e.Amount, e.InvoiceID, money(rem), a.currency())
		}
		rem.Sub(rem, amount)
		ba := &BillingAdjustment{ID: NewID("ba-", 26), AgreementID: a.ID, InvoiceID: e.InvoiceID, Amount: money(amount), Currency: e.Currency,
			ReasonCode: e.ReasonCode, Description: e.Description, ClientToken: e.ClientToken, Status: AdjustmentPending,
			CreatedAt: s.now, UpdatedAt: s.now, ProcessAt: s.now.Add(s.adjustmentDelay())}
		made = append(made, ba)
		results[i].Request = ba
	}
	// Nothing is kept before every entry passed: a refused batch changes nothing.
	for _, ba := range made {
		if msg, ok := s.FailNext[FailBillingAdjustment]; ok {
			ba.FailValidation = msg
			delete(s.FailNext, FailBillingAdjustment)
		}
		s.BillingAdjustments[ba.ID] = ba
	}
	return results, nil
}

func (s *State) adjustmentDelay() time.Duration {
	if s.Config.AdjustmentDelay > 0 {
		return s.Config.AdjustmentDelay
	}
	return 0
}

func (s *State) adjustmentByToken(token string) *BillingAdjustment {
	for _, id := range SortedKeys(s.BillingAdjustments) {
		if ba := s.BillingAdjustments[id]; ba.ClientToken == token {
			return ba
		}
	}
	return nil
}

// BillingAdjustment returns an agreement's billing adjustment request.
func (s *State) BillingAdjustment(agreementID, id string) (*BillingAdjustment, error) {
	ba := s.BillingAdjustments[id]
	if ba == nil || ba.AgreementID != agreementID {
		e := Errorf(CodeNotFound, "BillingAdjustmentRequest %s not found for agreement %s", id, agreementID)
		e.ResourceType, e.ResourceID = "BillingAdjustmentRequest", id
		return nil, e
	}
	return ba, nil
}

// tickAdjustments processes pending billing adjustments that are due:
// COMPLETED (Purchase Agreement Billing Adjustment Completed), or
// VALIDATION_FAILED (… Failed) when a sandbox fault says so.
func (s *State) tickAdjustments(due func(time.Time) bool) {
	// Oldest first, so their events come in the order they were made.
	for _, ba := range s.adjustmentsOf("", AdjustmentPending) {
		if !due(ba.ProcessAt) {
			continue
		}
		ba.UpdatedAt = s.now
		if ba.FailValidation != "" {
			ba.Status, ba.StatusMessage, ba.FailValidation = AdjustmentValidationFailed, ba.FailValidation, ""
		} else {
			ba.Status = AdjustmentCompleted
		}
		a := s.Agreements[ba.AgreementID]
		s.emit(eventbridge.BillingAdjustmentEvent(s.Config.SellerAccountID, s.ebAgreement(a), eventbridge.BillingAdjustment{
			ID: ba.ID, Amount: ba.Amount, Currency: ba.Currency, ReasonCode: ba.ReasonCode, InvoiceID: ba.InvoiceID,
			Completed: ba.Status == AdjustmentCompleted}, s.now))
	}
}

// checkAdjustments refuses restored billing adjustments that are null,
// filed under another id, name an agreement not in the snapshot, or carry a
// status, reason or amount AWS does not have.
func (s *State) checkAdjustments() error {
	for id, ba := range s.BillingAdjustments {
		switch {
		case ba == nil || ba.ID != id || !adjustmentIDPattern.MatchString(id):
			return Errorf(CodeValidation, "snapshot: billing adjustment %q is null, filed under another id, or not a ba- id", id)
		case s.Agreements[ba.AgreementID] == nil:
			return Errorf(CodeValidation, "snapshot: billing adjustment %s names agreement %q, which is not in the snapshot", id, ba.AgreementID)
		case !slices.Contains(AdjustmentReasonCodes, ba.ReasonCode):
			return Errorf(CodeValidation, "snapshot: billing adjustment %s has reason code %q", id, ba.ReasonCode)
		case !slices.Contains([]string{AdjustmentPending, AdjustmentCompleted, AdjustmentValidationFailed}, ba.Status):
			return Errorf(CodeValidation, "snapshot: billing adjustment %s has status %q", id, ba.Status)
		case !adjustmentAmountPattern.MatchString(ba.Amount) || rat(ba.Amount).Sign() <= 0:
			return Errorf(CodeValidation, "snapshot: billing adjustment %s has amount %q", id, ba.Amount)
		}
	}
	return nil
}
