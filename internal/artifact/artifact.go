// Package artifact makes finance's bookable artifacts: one versioned record
// per agreement event (a new order, an amendment, a renewal, a partner order,
// a cancellation) with the parties, the ids, the LicenseArns, the lineage, the
// priced lines, the total contract value, the payment schedule, the dates and
// the contract metadata, as the ledger holds them when the artifact is
// recorded.
//
// Record builds an agreement's artifact and stores it as a new version only
// when its content differs from the latest version (a content hash), so a
// replayed event or a repeated fold records nothing new, and terms arriving
// after the event (the enrichment job fetches them) make the next version.
// The artifact renders as JSON, CSV (one row per priced line) and a PDF that
// finance can file; Files bundles the three for the order email, and Export
// streams every version created in a period as one CSV.
package artifact

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Kinds of artifact: what happened to the agreement, as finance books it.
const (
	// KindNew is a new order: a buyer accepted a public or direct private offer.
	KindNew = "new"
	// KindAmendment is an agreement replacing another (intent REPLACE, or
	// AMEND with a previous agreement), or one made from a Concord amendment
	// offer: an existing order changed.
	KindAmendment = "amendment"
	// KindRenewal is an agreement renewing another (intent RENEW), or one made
	// from a Concord offer flagged as a renewal.
	KindRenewal = "renewal"
	// KindPartnerOrder is a new order sold by a channel partner (CPPO): the
	// agreement has a resale authorization, or its proposer is not the
	// manufacturer.
	KindPartnerOrder = "partner_order"
	// KindCancellation is an agreement that ended before its term ran out:
	// status CANCELLED, TERMINATED or ROLLED_BACK (see IsCancellation).
	KindCancellation = "cancellation"
)

// Kinds lists every kind, in the order they are decided.
var Kinds = []string{KindCancellation, KindRefund, KindAmendment, KindRenewal, KindPartnerOrder, KindNew}

// ValidKind reports whether k is one of Kinds.
func ValidKind(k string) bool { return slices.Contains(Kinds, k) }

// Order types: whether the order came from a private offer.
const (
	// OrderPrivate: a private offer. Concord's offers table knows the offer,
	// or the order is one AWS only makes from private offers (a partner's
	// CPPO, an agreement-based replacement offer).
	OrderPrivate = "private"
	// OrderUnknown: an offer Concord did not make. It may be the product's
	// public offer or a private offer made in the AWS console; the ledger
	// cannot tell them apart without asking the Catalog API.
	OrderUnknown = "unknown"
)

// Channels: who sold the order.
const (
	ChannelDirect  = "direct"
	ChannelPartner = "partner"
)

// Bases of the total contract value (BookableArtifact.TCVBasis).
const (
	// TCVPaymentSchedule: the sum of the payment schedule's installments.
	TCVPaymentSchedule = "payment_schedule"
	// TCVContractLines: the sum of the contract lines (unit price × quantity,
	// and fixed upfront prices).
	TCVContractLines = "contract_lines"
	// TCVEstimatedValue: AWS's estimated agreement value (estimatedCharges).
	TCVEstimatedValue = "estimated_value"
	// TCVNone: no value is known (terms not fetched yet, or usage only).
	TCVNone = "none"
)

// Line kinds (ArtifactLine.Kind), from the AWS pricing term of the line.
const (
	// LineContract: a contract dimension bought in a quantity
	// (ConfigurableUpfrontPricingTerm); its total is unit price × quantity.
	LineContract = "contract"
	// LineFixed: a fixed upfront price (FixedUpfrontPricingTerm); the first
	// line of the term carries the price as its total, later grants of the
	// same term (the lines right after it with the same price) only their
	// quantity.
	LineFixed = "fixed"
	// LineUsage: a metered dimension priced per unit (UsageBasedPricingTerm);
	// no total, usage is billed as used.
	LineUsage = "usage"
	// LineRecurring: a recurring charge per billing period
	// (RecurringPaymentTerm); the dimension is the period.
	LineRecurring = "recurring"
	// LineOther: a pricing term Concord does not model.
	LineOther = "other"
)

// BookableArtifact is one version of an agreement's booking record: what
// finance books, as the ledger held it when the version was recorded.
type BookableArtifact struct {
	// ID names this version (art_…).
	ID          string `json:"id"`
	AgreementID string `json:"agreementId"`
	// Version counts from 1 per agreement.
	Version int `json:"version"`
	// Kind is new, amendment, renewal, partner_order or cancellation.
	Kind string `json:"kind" enum:"new,amendment,renewal,partner_order,cancellation,refund"`
	// OrderType is private or unknown (see OrderPrivate, OrderUnknown).
	OrderType string `json:"orderType" enum:"private,unknown"`
	// Channel is direct, or partner for an order sold by a channel partner.
	Channel string `json:"channel" enum:"direct,partner"`
	// Intent is the agreement's intent as AWS sent it (NEW, RENEW, REPLACE, AMEND).
	Intent string `json:"intent,omitempty"`
	// Status is the agreement's ended status, on cancellations only: other
	// status changes (REPLACED, RENEWED, EXPIRED, …) are not bookings.
	Status string `json:"status,omitempty"`

	Buyer ArtifactParty `json:"buyer"`
	// SellerOfRecord bills the buyer: the proposer of the agreement (the
	// channel partner of a partner order).
	SellerOfRecord ArtifactParty `json:"sellerOfRecord"`
	// Reseller is the channel partner of a partner order.
	Reseller     *ArtifactParty  `json:"reseller,omitempty"`
	Manufacturer ArtifactParty   `json:"manufacturer"`
	Product      ArtifactProduct `json:"product"`

	// OfferID is the AWS offer id the buyer accepted.
	OfferID string `json:"offerId,omitempty"`
	// ConcordOfferID is the Concord offer (ofr_…) it was made from.
	ConcordOfferID        string `json:"concordOfferId,omitempty"`
	ResaleAuthorizationID string `json:"resaleAuthorizationId,omitempty"`
	// LicenseArns are the licenses AWS issued under the agreement (a license
	// carried over to an amending agreement is listed on both).
	LicenseArns []string        `json:"licenseArns"`
	Lineage     ArtifactLineage `json:"lineage"`

	// TermsKnown is false until the agreement's terms have been fetched from
	// the Agreement API; Lines, TotalContractValue and PaymentSchedule are
	// then empty, and the next version will carry them.
	TermsKnown bool   `json:"termsKnown"`
	Currency   string `json:"currency,omitempty"`
	// Lines are the priced dimensions of the accepted terms.
	Lines []ArtifactLine `json:"lines"`
	// TotalContractValue is an exact decimal in Currency; TCVBasis says what
	// it is the sum of.
	TotalContractValue string `json:"totalContractValue,omitempty"`
	TCVBasis           string `json:"tcvBasis" enum:"payment_schedule,contract_lines,estimated_value,none"`
	// PaymentSchedule is the flexible payment schedule; empty means AWS
	// charges upfront (or as used).
	PaymentSchedule []ArtifactInstallment `json:"paymentSchedule"`
	// Duration is the validity term's duration (ISO 8601, e.g. P12M).
	Duration  string `json:"duration,omitempty"`
	AutoRenew *bool  `json:"autoRenew,omitempty"`

	AcceptedAt *time.Time `json:"acceptedAt,omitempty"`
	StartsAt   *time.Time `json:"startsAt,omitempty"`
	EndsAt     *time.Time `json:"endsAt,omitempty"`
	// EndedAt is when a cancelled agreement ended (cancellations only).
	EndedAt *time.Time `json:"endedAt,omitempty"`

	// Metadata is the contract metadata of the Concord offer (booking fields
	// such as the CRM opportunity).
	Metadata map[string]string `json:"metadata"`

	// Refunds are the completed refunds of the order (kind refund), with
	// negative amounts; RefundedTotal is their sum (refund.go).
	Refunds       []ArtifactRefund `json:"refunds,omitempty"`
	RefundedTotal string           `json:"refundedTotal,omitempty"`

	// ContentHash is the SHA-256 of everything above except the id and
	// version: a version is recorded only when it changes.
	ContentHash string    `json:"contentHash"`
	CreatedAt   time.Time `json:"createdAt"`
}

// ArtifactParty is an AWS account taking part in an order.
type ArtifactParty struct {
	AccountID string `json:"accountId,omitempty"`
	// Company is the buyer's company: from the Concord offer, else from the
	// tenant the buyer registered.
	Company string `json:"company,omitempty"`
	// CompanySource says where Company came from: offer or registration.
	CompanySource string `json:"companySource,omitempty" enum:"offer,registration,"`
}

// ArtifactProduct is the product sold.
type ArtifactProduct struct {
	ProductID string `json:"productId,omitempty"`
	Code      string `json:"code,omitempty"`
	Title     string `json:"title,omitempty"`
}

// ArtifactLineage places the agreement in its chain of renewals and
// amendments.
type ArtifactLineage struct {
	InitialAgreementID  string `json:"initialAgreementId,omitempty"`
	PreviousAgreementID string `json:"previousAgreementId,omitempty"`
	// Chain is every agreement from the initial one to this one, oldest
	// first. Later agreements are left out, so recording an old agreement
	// again after a renewal changes nothing.
	Chain []string `json:"chain"`
}

// ArtifactLine is one priced dimension of the accepted terms.
type ArtifactLine struct {
	Dimension string `json:"dimension"`
	// Name is the product's name for the dimension, when configured.
	Name string `json:"name,omitempty"`
	// Kind is contract, fixed, usage, recurring or other.
	Kind string `json:"kind" enum:"contract,fixed,usage,recurring,other"`
	// Term is the AWS pricing term the line comes from.
	Term     string `json:"term"`
	Quantity *int64 `json:"quantity,omitempty"`
	// UnitPrice is the price per unit as AWS sent it (per unit for the whole
	// duration on contract lines, per unit used on usage lines, per period
	// on recurring lines).
	UnitPrice string `json:"unitPrice,omitempty"`
	// LineTotal is unit price × quantity on contract lines, the fixed price
	// on the first line of a fixed term; empty where there is no total.
	LineTotal string `json:"lineTotal,omitempty"`
}

// ArtifactInstallment is one charge of the payment schedule.
type ArtifactInstallment struct {
	ChargeDate time.Time `json:"chargeDate"`
	Amount     string    `json:"amount"`
}

// ChannelOf says who sold an agreement: partner when it has a resale
// authorization or its proposer is not the manufacturer (a channel partner's
// CPPO), else direct. Reports that split bookings by channel use it, so they
// agree with the artifacts.
func ChannelOf(ag marketplace.Agreement) string {
	if ag.ResaleAuthorizationID != "" || (ag.ManufacturerAccountID != "" && ag.ProposerAccountID != "" && ag.ProposerAccountID != ag.ManufacturerAccountID) {
		return ChannelPartner
	}
	return ChannelDirect
}

// IsCancellation reports whether an agreement ending in status s is a
// cancellation for finance: CANCELLED (cancelled by the buyer or seller),
// TERMINATED (ended early, e.g. by AWS) and ROLLED_BACK (the acceptance was
// undone, so the booking must be reversed). EXPIRED (the term ran out),
// RENEWED, REPLACED and SUPERSEDED (a later agreement carries the order on,
// with its own artifact) and ARCHIVED are not.
func IsCancellation(status string) bool {
	switch status {
	case marketplace.StatusCancelled, marketplace.StatusTerminated, marketplace.StatusRolledBack:
		return true
	}
	return false
}

// Record builds the artifact of agreement agreementID as the ledger holds it
// in tx and stores it as a new version, created at now, when its content
// differs from the latest version; otherwise it returns the latest version
// and created is false. An agreement the ledger does not hold is a
// not_found error. It reads the agreement, its terms, licenses, lineage,
// product, the Concord offer it came from and the buyer's tenant, so call it
// once those are written: the ledger's agreement hooks run before the
// agreement's licenses are folded and, in enrichment, before its terms are
// stored, so a hook should rather queue a job (or run after the fold) that
// records, and record again after enrichment. Recording is idempotent:
// calling it too often costs a read, never a duplicate version.
func Record(ctx context.Context, tx *store.Tx, agreementID string, now time.Time) (a BookableArtifact, created bool, err error) {
	return record(ctx, tx, agreementID, now, false)
}

// RecordBooking records the agreement as it was booked, ignoring a
// cancellation: for an order cancelled before Concord recorded it, so that
// finance gets the booking before the cancellation that reverses it.
func RecordBooking(ctx context.Context, tx *store.Tx, agreementID string, now time.Time) (a BookableArtifact, created bool, err error) {
	return record(ctx, tx, agreementID, now, true)
}

func record(ctx context.Context, tx *store.Tx, agreementID string, now time.Time, booking bool) (a BookableArtifact, created bool, err error) {
	a, err = build(ctx, tx, agreementID, booking)
	if err != nil {
		return a, false, err
	}
	hash, err := contentHash(a)
	if err != nil {
		return a, false, err
	}
	last, found, err := latest(ctx, tx, agreementID)
	if err != nil {
		return a, false, err
	}
	if found && last.ContentHash == hash {
		return last, false, nil
	}
	a.ID = newID()
	a.Version = last.Version + 1
	a.ContentHash = hash
	a.CreatedAt = store.FromMillis(store.Millis(now))
	content, err := json.Marshal(a)
	if err != nil {
		return a, false, fmt.Errorf("encode artifact of %s: %w", agreementID, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO artifacts (id, agreement_id, version, kind, content_hash, content, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.AgreementID, a.Version, a.Kind, a.ContentHash, string(content), store.Millis(a.CreatedAt)); err != nil {
		return a, false, fmt.Errorf("store artifact of %s: %w", agreementID, err)
	}
	return a, true, nil
}

func newID() string { return "art_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "") }

// contentHash digests what a version says, without what names or dates it.
func contentHash(a BookableArtifact) (string, error) {
	a.ID, a.Version, a.ContentHash, a.CreatedAt = "", 0, "", time.Time{}
	b, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encode artifact: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// build reads everything the artifact of agreement id says.
func build(ctx context.Context, tx *store.Tx, id string, booking bool) (BookableArtifact, error) {
	ag, ok, err := inbox.LoadAgreement(ctx, tx, id)
	if err != nil {
		return BookableArtifact{}, err
	} else if !ok {
		return BookableArtifact{}, marketplace.Errorf(marketplace.ENotFound, "agreement %s not found", id)
	}
	a := BookableArtifact{
		AgreementID:           ag.AgreementID,
		Intent:                ag.Intent,
		Buyer:                 ArtifactParty{AccountID: ag.AcceptorAccountID},
		SellerOfRecord:        ArtifactParty{AccountID: ag.ProposerAccountID},
		Manufacturer:          ArtifactParty{AccountID: ag.ManufacturerAccountID},
		Product:               ArtifactProduct{ProductID: ag.ProductID},
		OfferID:               ag.OfferID,
		ResaleAuthorizationID: ag.ResaleAuthorizationID,
		AcceptedAt:            utc(ag.AcceptanceTime),
		StartsAt:              utc(ag.StartTime),
		EndsAt:                utc(ag.EndTime),
		AutoRenew:             ag.AutoRenewal,
		LicenseArns:           []string{},
		Lines:                 []ArtifactLine{},
		PaymentSchedule:       []ArtifactInstallment{},
		Metadata:              map[string]string{},
		TCVBasis:              TCVNone,
	}

	var product marketplace.Product
	if ag.ProductID != "" {
		if product, _, err = inbox.LoadProduct(ctx, tx, ag.ProductID); err != nil {
			return a, err
		}
		a.Product.Code, a.Product.Title = product.ProductCode, product.Title
	}

	licenses, err := agreementLicenses(ctx, tx, id)
	if err != nil {
		return a, err
	}
	for _, l := range licenses {
		a.LicenseArns = append(a.LicenseArns, l.arn)
		if a.Product.Code == "" {
			a.Product.Code = l.productCode
		}
	}

	if a.Lineage, err = lineage(ctx, tx, ag); err != nil {
		return a, err
	}

	offer, found, err := findOffer(ctx, tx, ag)
	if err != nil {
		return a, err
	}
	if found {
		a.ConcordOfferID = offer.ID
		if c := strings.TrimSpace(offer.BuyerCompany); c != "" {
			a.Buyer.Company, a.Buyer.CompanySource = c, "offer"
		}
		for k, v := range offer.Metadata {
			a.Metadata[k] = v
		}
	}
	if a.Buyer.Company == "" {
		company, err := tenantCompany(ctx, tx, ag, licenses)
		if err != nil {
			return a, err
		}
		if company != "" {
			a.Buyer.Company, a.Buyer.CompanySource = company, "registration"
		}
	}

	partner := ChannelOf(ag) == ChannelPartner
	a.Channel = ChannelDirect
	if partner {
		a.Channel = ChannelPartner
		a.Reseller = &ArtifactParty{AccountID: ag.ProposerAccountID}
	}
	amendment := ag.Intent == marketplace.IntentReplace || (ag.Intent == marketplace.IntentAmend && ag.PreviousAgreementID != "") ||
		(found && offer.Amends != nil && offer.Amends.AgreementID != "")
	a.OrderType = OrderUnknown
	if found || partner || amendment {
		a.OrderType = OrderPrivate
	}
	if a.Refunds, a.RefundedTotal, err = refunds(ctx, tx, id); err != nil {
		return a, err
	}
	switch {
	case IsCancellation(ag.Status) && !booking:
		a.Kind = KindCancellation
		a.Status = ag.Status
		a.EndedAt = utc(ag.EndedAt)
	case len(a.Refunds) > 0 && !booking:
		a.Kind = KindRefund
	case amendment:
		a.Kind = KindAmendment
	case ag.Intent == marketplace.IntentRenew || (found && offer.Renewal):
		a.Kind = KindRenewal
	case partner:
		a.Kind = KindPartnerOrder
	default:
		a.Kind = KindNew
	}

	if ag.TermsFetchedAt != nil && len(ag.Terms) > 0 {
		var t marketplace.Terms
		if err := json.Unmarshal(ag.Terms, &t); err != nil {
			return a, fmt.Errorf("decode terms of agreement %s: %w", id, err)
		}
		a.TermsKnown = true
		price(&a, t, product)
	}
	return a, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// price fills in the lines, schedule, currency and total contract value from
// the accepted terms.
func price(a *BookableArtifact, t marketplace.Terms, p marketplace.Product) {
	a.Currency = t.Currency
	if t.Validity != nil {
		a.Duration = t.Validity.Duration
	}
	if a.AutoRenew == nil && t.AutoRenew != nil {
		v := *t.AutoRenew
		a.AutoRenew = &v
	}
	contract, contractOK, contractLines := zero(), true, 0
	for i, it := range t.Pricing {
		l := ArtifactLine{Dimension: it.Dimension, Term: it.Term, UnitPrice: it.Price}
		if d, ok := p.Dimension(it.Dimension); ok {
			l.Name = d.Name
		}
		if it.Quantity != nil {
			q := *it.Quantity
			l.Quantity = &q
		}
		switch it.Term {
		case "ConfigurableUpfrontPricingTerm":
			if it.Quantity == nil {
				continue // a rate card entry the buyer did not configure: not bought
			}
			l.Kind = LineContract
			contractLines++
			if unit, ok := parseDecimal(it.Price); ok {
				total := unit.mulInt(*it.Quantity)
				l.LineTotal = total.String()
				contract = contract.add(total)
			} else {
				contractOK = false
			}
		case "FixedUpfrontPricingTerm":
			l.Kind, l.UnitPrice = LineFixed, ""
			// The grants of one term come one after another, each with the
			// term's price: the first carries it.
			sameTerm := i > 0 && t.Pricing[i-1].Term == it.Term && t.Pricing[i-1].Price == it.Price
			if !sameTerm {
				contractLines++
				if total, ok := parseDecimal(it.Price); ok {
					l.LineTotal = total.String()
					contract = contract.add(total)
				} else {
					contractOK = false
				}
			}
		case "UsageBasedPricingTerm":
			l.Kind = LineUsage
		case "RecurringPaymentTerm":
			l.Kind = LineRecurring
		default:
			l.Kind = LineOther
		}
		a.Lines = append(a.Lines, l)
	}
	schedule, scheduleOK := zero(), len(t.PaymentSchedule) > 0
	for _, in := range t.PaymentSchedule {
		a.PaymentSchedule = append(a.PaymentSchedule, ArtifactInstallment{ChargeDate: in.ChargeDate.UTC(), Amount: in.Amount})
		if amt, ok := parseDecimal(in.Amount); ok {
			schedule = schedule.add(amt)
		} else {
			scheduleOK = false
		}
	}
	switch {
	case scheduleOK:
		a.TotalContractValue, a.TCVBasis = schedule.String(), TCVPaymentSchedule
	case contractLines > 0 && contractOK:
		a.TotalContractValue, a.TCVBasis = contract.String(), TCVContractLines
	case t.EstimatedValue != "":
		a.TotalContractValue, a.TCVBasis = t.EstimatedValue, TCVEstimatedValue
		if v, ok := parseDecimal(t.EstimatedValue); ok {
			a.TotalContractValue = v.String()
		}
	}
}

type licenseRow struct{ id, arn, productCode string }

// agreementLicenses lists the licenses AWS issued under the agreement: the
// licenses the ledger holds for it now, and those a License event named it
// for (a license carried over to an amending agreement stays listed on the
// agreement it was issued under).
func agreementLicenses(ctx context.Context, tx *store.Tx, id string) ([]licenseRow, error) {
	rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (licenseRow, error) {
		var l licenseRow
		err := r.Scan(&l.id, &l.arn, &l.productCode)
		return l, err
	}, `SELECT license_id, license_arn, product_code FROM licenses WHERE agreement_id = ?
		OR license_id IN (SELECT license_id FROM inbox_events WHERE agreement_id = ? AND license_id IS NOT NULL AND kind IN (?, ?))
		ORDER BY license_arn`, id, id, string(marketplace.KindLicenseUpdated), string(marketplace.KindLicenseImported))
	if err != nil {
		return nil, fmt.Errorf("licenses of agreement %s: %w", id, err)
	}
	return rows, nil
}

// maxChain bounds the walk up a lineage (a chain of renewals and amendments).
const maxChain = 1000

// lineage walks from the agreement up to its initial agreement.
func lineage(ctx context.Context, tx *store.Tx, ag marketplace.Agreement) (ArtifactLineage, error) {
	l := ArtifactLineage{InitialAgreementID: ag.InitialAgreementID, PreviousAgreementID: ag.PreviousAgreementID}
	chain := []string{ag.AgreementID}
	seen := map[string]bool{ag.AgreementID: true}
	prev := ag.PreviousAgreementID
	for prev != "" && !seen[prev] && len(chain) < maxChain {
		chain = append(chain, prev)
		seen[prev] = true
		var next sql.NullString
		err := tx.QueryRow(ctx, `SELECT previous_agreement_id FROM agreements WHERE agreement_id = ?`, prev).Scan(&next)
		if errors.Is(err, sql.ErrNoRows) {
			break // an agreement the ledger never saw: the chain starts here as far as Concord knows
		} else if err != nil {
			return l, fmt.Errorf("lineage of agreement %s: %w", ag.AgreementID, err)
		}
		prev = next.String
	}
	slices.Reverse(chain)
	l.Chain = chain
	return l, nil
}

// concordOffer is what an artifact reads from a Concord offer: its id and
// the fields of its form (offers.form) that finance books.
type concordOffer struct {
	ID           string            `json:"-"`
	BuyerCompany string            `json:"buyerCompany"`
	Metadata     map[string]string `json:"metadata"`
	Renewal      bool              `json:"renewal"`
	Amends       *struct {
		AgreementID string `json:"agreementId"`
	} `json:"amends"`
}

// findOffer finds the Concord offer the agreement was made from: by AWS offer
// id (a partner offer's is the partner's offer once extended), by resale
// authorization, or by the agreement the offer was accepted as.
func findOffer(ctx context.Context, tx *store.Tx, ag marketplace.Agreement) (concordOffer, bool, error) {
	for _, q := range []struct{ column, value string }{
		{"offer_id", ag.OfferID}, {"resale_authorization_id", ag.ResaleAuthorizationID}, {"agreement_id", ag.AgreementID},
	} {
		if q.value == "" {
			continue
		}
		var o concordOffer
		var form string
		err := tx.QueryRow(ctx, `SELECT id, form FROM offers WHERE `+q.column+` = ? ORDER BY created_at, id LIMIT 1`, q.value).Scan(&o.ID, &form)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return o, false, fmt.Errorf("find the offer of agreement %s: %w", ag.AgreementID, err)
		}
		if err := json.Unmarshal([]byte(form), &o); err != nil {
			return o, false, fmt.Errorf("decode offer %s: %w", o.ID, err)
		}
		return o, true, nil
	}
	return concordOffer{}, false, nil
}

// tenantCompany is the company of the tenant the buyer registered one of the
// agreement's licenses to, else of the buyer's only tenant for the product.
func tenantCompany(ctx context.Context, tx *store.Tx, ag marketplace.Agreement, licenses []licenseRow) (string, error) {
	if len(licenses) > 0 {
		args := make([]any, len(licenses))
		for i, l := range licenses {
			args[i] = l.id
		}
		q := `SELECT t.company FROM tenant_licenses tl JOIN tenants t ON t.tenant_id = tl.tenant_id
			WHERE tl.license_id IN (?` + strings.Repeat(", ?", len(licenses)-1) + `) ORDER BY tl.attached_at, t.tenant_id LIMIT 1`
		var company string
		err := tx.QueryRow(ctx, q, args...).Scan(&company)
		if err == nil && strings.TrimSpace(company) != "" {
			return strings.TrimSpace(company), nil
		} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("tenant of agreement %s: %w", ag.AgreementID, err)
		}
	}
	if ag.AcceptorAccountID == "" || ag.ProductID == "" {
		return "", nil
	}
	companies, err := store.QueryAll(ctx, tx, store.ScanString, `SELECT company FROM tenants WHERE account_id = ? AND product_id = ? ORDER BY tenant_id LIMIT 2`,
		ag.AcceptorAccountID, ag.ProductID)
	if err != nil {
		return "", fmt.Errorf("tenants of account %s: %w", ag.AcceptorAccountID, err)
	}
	if len(companies) == 1 {
		return strings.TrimSpace(companies[0]), nil
	}
	return "", nil // none, or several: which one is this order's is not known
}

// latest is the newest version of the agreement's artifact.
// Latest is an agreement's latest artifact version, in tx.
func Latest(ctx context.Context, tx *store.Tx, agreementID string) (BookableArtifact, bool, error) {
	return latest(ctx, tx, agreementID)
}

func latest(ctx context.Context, tx *store.Tx, agreementID string) (BookableArtifact, bool, error) {
	a, err := scan(tx.QueryRow(ctx, `SELECT content FROM artifacts WHERE agreement_id = ? ORDER BY version DESC LIMIT 1`, agreementID))
	if errors.Is(err, sql.ErrNoRows) {
		return BookableArtifact{}, false, nil
	} else if err != nil {
		return a, false, fmt.Errorf("latest artifact of %s: %w", agreementID, err)
	}
	return a, true, nil
}

func scan(r store.Scanner) (BookableArtifact, error) {
	var a BookableArtifact
	var content string
	if err := r.Scan(&content); err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(content), &a); err != nil {
		return a, fmt.Errorf("decode artifact: %w", err)
	}
	return a, nil
}
