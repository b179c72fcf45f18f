// Package readiness tells a vendor whether a product is ready to opt in to
// AWS Marketplace Concurrent Agreements, from what Concord has recorded.
//
// Opting an existing listing in happens in two rounds with AWS: first AWS
// allow-lists a few test buyer accounts; the vendor completes $0 private-offer
// transactions with them (several concurrent agreements per account, metering
// tested where the listing meters usage) and then sends AWS the Agreement IDs
// and LicenseArns of those transactions to have Concurrent Agreements enabled
// for every buyer. Report lists those test transactions, checks them against
// what AWS asks for, and lays out AWS's integration roadmap step by step with
// the evidence Concord's tables hold for each step. It only reads the
// database: nothing here claims a step done that the data does not show.
package readiness

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Readiness is the whole report: the test transactions, the checks of what
// AWS asks for, and the integration checklist.
type Readiness struct {
	ProductID   string `json:"productId"`
	ProductCode string `json:"productCode,omitempty"`
	Title       string `json:"title,omitempty"`
	// ConcurrentAgreements is Concord's setting for the product: true sends
	// usage by LicenseArn, false by the legacy ProductCode path.
	ConcurrentAgreements bool `json:"concurrentAgreements"`
	// Metered says whether the metering checks apply, and MeteredWhy why.
	Metered     bool      `json:"metered"`
	MeteredWhy  string    `json:"meteredWhy"`
	GeneratedAt time.Time `json:"generatedAt"`
	// AccountsFrom says where the test accounts came from: "given" (the
	// caller named them) or "found" ($0 offers and $0 agreements of the product).
	AccountsFrom string        `json:"accountsFrom" enum:"given,found"`
	Accounts     []TestAccount `json:"accounts"`
	Checks       []CheckResult `json:"checks"`
	// Ready is true when no check fails.
	Ready   bool   `json:"ready"`
	Summary string `json:"summary"`
	// Submission is the text for AWS's Concurrent Agreement Opt-in support
	// case, filled in once Ready.
	Submission string          `json:"submission,omitempty"`
	Checklist  []ChecklistStep `json:"checklist"`
}

// TestAccount is one test buyer account and its agreements for the product.
type TestAccount struct {
	AccountID string `json:"accountId"`
	// Source says why it is a test account: given, zero-dollar offer, zero-dollar agreement.
	Source     []string        `json:"source"`
	Agreements []TestAgreement `json:"agreements"`
}

// TestAgreement is one agreement of a test account for the product.
type TestAgreement struct {
	AgreementID        string     `json:"agreementId"`
	InitialAgreementID string     `json:"initialAgreementId,omitempty"`
	Intent             string     `json:"intent,omitempty"`
	Status             string     `json:"status"`
	OfferID            string     `json:"offerId,omitempty"`
	AcceptedAt         *time.Time `json:"acceptedAt,omitempty"`
	StartsAt           *time.Time `json:"startsAt,omitempty"`
	EndedAt            *time.Time `json:"endedAt,omitempty"`
	// ConcordOffer is the Concord offer (ofr_…) the agreement was made from.
	ConcordOffer string `json:"concordOffer,omitempty"`
	// ZeroDollar is yes, no or unknown; Price says what it rests on.
	ZeroDollar string        `json:"zeroDollar" enum:"yes,no,unknown"`
	Price      string        `json:"price"`
	Licenses   []TestLicense `json:"licenses"`
}

// TestLicense is one license of a test agreement and what Concord did with it.
type TestLicense struct {
	LicenseArn string `json:"licenseArn"`
	LicenseID  string `json:"licenseId"`
	State      string `json:"state"`
	// EntitlementsFetchedAt is the last successful GetEntitlements (LICENSE_ARN
	// filter) for the license; EntitlementsError the last failure.
	EntitlementsFetched   bool       `json:"entitlementsFetched"`
	EntitlementsFetchedAt *time.Time `json:"entitlementsFetchedAt,omitempty"`
	EntitlementsError     string     `json:"entitlementsError,omitempty"`
	// TenantID is the tenant the license is attached to (registration).
	Registered         bool   `json:"registered"`
	TenantID           string `json:"tenantId,omitempty"`
	RegistrationSource string `json:"registrationSource,omitempty"`
	// MeteringTested: AWS accepted (Success) at least one BatchMeterUsage
	// record sent with this LicenseArn.
	MeteringTested bool       `json:"meteringTested"`
	MeteredRecords int        `json:"meteredRecords"`
	MeteredUnits   int64      `json:"meteredUnits"`
	LastMeteredAt  *time.Time `json:"lastMeteredHour,omitempty"`
	// Metering counts this license's records by outcome (license path), and
	// LegacyRecords those that went by the legacy ProductCode path.
	Metering      map[string]int `json:"metering,omitempty"`
	LegacyRecords int            `json:"legacyRecords,omitempty"`
}

// Check statuses.
const (
	Pass          = "pass"
	Fail          = "fail"
	NotApplicable = "not_applicable"
)

// CheckResult is one requirement of the opt-in, passed or failed, with what is
// missing. Source says who asks for it: AWS (the opt-in instructions) or
// Concord (what proves the integration handles concurrent licenses).
type CheckResult struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Account string `json:"account,omitempty"`
	Status  string `json:"status" enum:"pass,fail,not_applicable"`
	Message string `json:"message"`
	Source  string `json:"source" enum:"AWS,Concord"`
}

// Step statuses.
const (
	Done     = "done"
	NotYet   = "not_yet"
	NotApply = "not_applicable"
)

// ChecklistStep is one step of AWS's integration roadmap for Concurrent Agreements,
// with what Concord's data shows of it.
type ChecklistStep struct {
	N        int      `json:"n"`
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Status   string   `json:"status" enum:"done,not_yet,not_applicable"`
	Evidence []string `json:"evidence"`
}

// ParseAccounts reads a comma-separated list of AWS account ids (spaces
// allowed), dropping repeats.
func ParseAccounts(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !marketplace.ValidAccountID(a) {
			return nil, marketplace.Errorf(marketplace.EInvalid, "%q is not an AWS account id (12 digits)", marketplace.Clip(a, 40))
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// MaxAccounts bounds the test accounts of one report.
const MaxAccounts = 100

// Report builds the readiness report of productID. accounts are the test
// buyer accounts given to AWS; when empty, they are the buyers of accepted
// zero-dollar Concord offers for the product and the acceptors of the
// product's agreements whose terms total zero.
func Report(ctx context.Context, db *store.DB, productID string, accounts []string, now time.Time) (Readiness, error) {
	if strings.TrimSpace(productID) == "" {
		return Readiness{}, marketplace.Errorf(marketplace.EInvalid, "the product id is required")
	}
	if len(accounts) > MaxAccounts {
		return Readiness{}, marketplace.Errorf(marketplace.EInvalid, "at most %d test accounts", MaxAccounts)
	}
	for _, a := range accounts {
		if !marketplace.ValidAccountID(a) {
			return Readiness{}, marketplace.Errorf(marketplace.EInvalid, "%q is not an AWS account id (12 digits)", marketplace.Clip(a, 40))
		}
	}
	var d data
	err := db.Read(ctx, func(tx *store.Tx) error {
		var err error
		d, err = load(ctx, tx, productID)
		return err
	})
	if err != nil {
		if marketplace.ErrorCode(err) != marketplace.EInternal {
			return Readiness{}, err
		}
		return Readiness{}, fmt.Errorf("readiness of %s: %w", productID, err)
	}
	return evaluate(d, accounts, now.UTC()), nil
}

// data is everything the report reads, in one snapshot.
type data struct {
	product marketplace.Product
	// agreements of the product, by acceptance.
	agreements []agreementRow
	// licenses of the product's agreements, by agreement id.
	licenses map[string][]licenseRow
	syncs    map[string]syncRow
	tenants  map[string]tenantRow
	// metering of the product by license id: path → status → aggregate.
	metering map[string]map[string]map[string]*meterAgg
	// offers is Concord's accepted offers of the product by agreement id;
	// byOffer the same by AWS offer id.
	offers  map[string]offerRow
	byOffer map[string]offerRow
	// zeroOfferBuyers are the buyers of accepted $0 Concord offers.
	zeroOfferBuyers []string
	events          []eventAgg
	sns             eventAgg
	sessions        struct {
		n, withArn int
		last       *time.Time
	}
	registered    map[string]int // product licenses attached to tenants, by source
	meterTotals   map[string]map[string]*meterAgg
	dualHours     int
	legacySubs    int
	legacyMapped  int
	backfilled    int
	productLicsBy map[string]int // product licenses by state
	endedLicenses int
	multiLicense  int // accounts holding two or more licenses in force
	licenseCount  int
	licenseAccts  int
}

type agreementRow struct {
	id, initial, intent, status, account, offerID string
	accepted, start, end, ended                   *time.Time
	terms                                         string
	termsFetched                                  bool
}

type licenseRow struct {
	id, arn, agreementID, account, state string
	endingAt                             *time.Time
}

type syncRow struct {
	fetched *time.Time
	err     string
}

type tenantRow struct{ tenantID, source string }

type meterAgg struct {
	n     int
	units int64
	last  *time.Time
}

type offerRow struct {
	id, offerID, agreementID, buyer string
	zero                            bool
	why                             string
}

type eventAgg struct {
	door, kind, status string
	n                  int
	first, last        *time.Time
}

func load(ctx context.Context, tx *store.Tx, productID string) (data, error) {
	d := data{licenses: map[string][]licenseRow{}, syncs: map[string]syncRow{}, tenants: map[string]tenantRow{},
		metering: map[string]map[string]map[string]*meterAgg{}, offers: map[string]offerRow{}, byOffer: map[string]offerRow{},
		registered: map[string]int{}, meterTotals: map[string]map[string]*meterAgg{}, productLicsBy: map[string]int{}}
	p, ok, err := inbox.LoadProduct(ctx, tx, productID)
	if err != nil {
		return d, err
	}
	if !ok {
		return d, marketplace.Errorf(marketplace.ENotFound, "product %s is not known to Concord: no event of it arrived and it is not configured (PUT /v1/products/%s)",
			marketplace.Clip(productID, 80), marketplace.Clip(productID, 80))
	}
	d.product = p

	// The product's agreements. Purchase Agreement Created names no product:
	// until License Updated or the Agreement API tells, an agreement is the
	// product's by the Concord offer it was made from.
	d.agreements, err = store.QueryAll(ctx, tx, func(r store.Scanner) (agreementRow, error) {
		var a agreementRow
		var acc, start, end, ended, fetched sql.NullInt64
		err := r.Scan(&a.id, &a.initial, &a.intent, &a.status, &a.account, &a.offerID, &acc, &start, &end, &ended, &a.terms, &fetched)
		a.accepted, a.start, a.end, a.ended = store.FromNullMillis(acc), store.FromNullMillis(start), store.FromNullMillis(end), store.FromNullMillis(ended)
		a.termsFetched = fetched.Valid && a.terms != ""
		return a, err
	}, `SELECT agreement_id, initial_agreement_id, intent, status, acceptor_account_id, offer_id, acceptance_time, start_time, end_time, ended_at,
		COALESCE(terms, ''), terms_fetched_at FROM agreements WHERE product_id = ?
		OR (product_id = '' AND offer_id IN (SELECT offer_id FROM offers WHERE product_id = ? AND offer_id IS NOT NULL))
		ORDER BY COALESCE(acceptance_time, start_time, 0), agreement_id`, productID, productID)
	if err != nil {
		return d, fmt.Errorf("load agreements: %w", err)
	}

	// The product's licenses: those of its agreements, and those the License
	// events name the product for.
	const productLicenses = `SELECT license_id FROM licenses WHERE product_id = ? OR agreement_id IN (SELECT agreement_id FROM agreements WHERE product_id = ?)`
	lics, err := store.QueryAll(ctx, tx, func(r store.Scanner) (licenseRow, error) {
		var l licenseRow
		var ending sql.NullInt64
		err := r.Scan(&l.id, &l.arn, &l.agreementID, &l.account, &l.state, &ending)
		l.endingAt = store.FromNullMillis(ending)
		return l, err
	}, `SELECT license_id, license_arn, agreement_id, account_id, state, ending_at FROM licenses WHERE license_id IN (`+productLicenses+`) ORDER BY license_id`,
		productID, productID)
	if err != nil {
		return d, fmt.Errorf("load licenses: %w", err)
	}
	inForce := map[string]int{}
	accts := map[string]bool{}
	for _, l := range lics {
		d.licenses[l.agreementID] = append(d.licenses[l.agreementID], l)
		d.productLicsBy[l.state]++
		if l.endingAt != nil {
			d.endedLicenses++
		}
		if l.state == marketplace.LicenseActive || l.state == marketplace.LicenseEnding {
			inForce[l.account]++
		}
		accts[l.account] = true
	}
	d.licenseCount, d.licenseAccts = len(lics), len(accts)
	for _, n := range inForce {
		if n > 1 {
			d.multiLicense++
		}
	}

	syncs, err := store.QueryAll(ctx, tx, func(r store.Scanner) (struct {
		id string
		s  syncRow
	}, error) {
		var v struct {
			id string
			s  syncRow
		}
		var fetched sql.NullInt64
		var lastErr sql.NullString
		err := r.Scan(&v.id, &fetched, &lastErr)
		v.s = syncRow{fetched: store.FromNullMillis(fetched), err: lastErr.String}
		return v, err
	}, `SELECT license_id, fetched_at, last_error FROM entitlement_syncs WHERE license_id IN (`+productLicenses+`)`, productID, productID)
	if err != nil {
		return d, fmt.Errorf("load entitlement syncs: %w", err)
	}
	for _, s := range syncs {
		d.syncs[s.id] = s.s
	}

	tenants, err := store.QueryAll(ctx, tx, func(r store.Scanner) ([3]string, error) {
		var v [3]string
		err := r.Scan(&v[0], &v[1], &v[2])
		return v, err
	}, `SELECT license_id, tenant_id, source FROM tenant_licenses WHERE license_id IN (`+productLicenses+`)`, productID, productID)
	if err != nil {
		return d, fmt.Errorf("load tenants: %w", err)
	}
	for _, t := range tenants {
		d.tenants[t[0]] = tenantRow{tenantID: t[1], source: t[2]}
		d.registered[t[2]]++
	}

	// The metering outcome ledger of the product, per license, path and status.
	type meterRow struct {
		arn, path, status string
		n                 int
		units             int64
		last              sql.NullInt64
	}
	meters, err := store.QueryAll(ctx, tx, func(r store.Scanner) (meterRow, error) {
		var m meterRow
		err := r.Scan(&m.arn, &m.path, &m.status, &m.n, &m.units, &m.last)
		return m, err
	}, `SELECT license_arn, path, status, COUNT(*), COALESCE(SUM(quantity), 0), MAX(hour) FROM metering_records WHERE product_id = ?
		GROUP BY license_arn, path, status`, productID)
	if err != nil {
		return d, fmt.Errorf("load metering records: %w", err)
	}
	for _, m := range meters {
		add := func(into map[string]map[string]*meterAgg) {
			if into[m.path] == nil {
				into[m.path] = map[string]*meterAgg{}
			}
			a := into[m.path][m.status]
			if a == nil {
				a = &meterAgg{}
				into[m.path][m.status] = a
			}
			a.n += m.n
			a.units += m.units
			if t := store.FromNullMillis(m.last); t != nil && (a.last == nil || t.After(*a.last)) {
				a.last = t
			}
		}
		add(d.meterTotals)
		if m.arn != "" {
			id := marketplace.LicenseID(m.arn)
			if d.metering[id] == nil {
				d.metering[id] = map[string]map[string]*meterAgg{}
			}
			add(d.metering[id])
		}
	}
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT account_id, hour FROM metering_records WHERE product_id = ?
		GROUP BY account_id, hour HAVING COUNT(DISTINCT path) > 1) AS dual`, productID).Scan(&d.dualHours); err != nil {
		return d, fmt.Errorf("count customer-hours metered by both paths: %w", err)
	}

	// Concord's accepted offers of the product and whether each was $0.
	offers, err := store.QueryAll(ctx, tx, func(r store.Scanner) (offerRow, error) {
		var o offerRow
		var offerID, agreementID sql.NullString
		var form string
		if err := r.Scan(&o.id, &offerID, &agreementID, &o.buyer, &form); err != nil {
			return o, err
		}
		o.offerID, o.agreementID = offerID.String, agreementID.String
		o.zero, o.why = zeroDollarForm(form)
		return o, nil
	}, `SELECT id, offer_id, agreement_id, buyer_account_id, form FROM offers WHERE product_id = ? AND state = 'accepted' ORDER BY id`, productID)
	if err != nil {
		return d, fmt.Errorf("load offers: %w", err)
	}
	for _, o := range offers {
		if o.agreementID != "" {
			d.offers[o.agreementID] = o
		}
		if o.offerID != "" {
			d.byOffer[o.offerID] = o
		}
		if o.zero && o.agreementID != "" && marketplace.ValidAccountID(o.buyer) && !slices.Contains(d.zeroOfferBuyers, o.buyer) {
			d.zeroOfferBuyers = append(d.zeroOfferBuyers, o.buyer)
		}
	}

	// Marketplace events about the product, by door, kind and status.
	d.events, err = store.QueryAll(ctx, tx, scanEventAgg, `SELECT door, kind, status, COUNT(*), MIN(received_at), MAX(received_at) FROM inbox_events
		WHERE agreement_id IN (SELECT agreement_id FROM agreements WHERE product_id = ?) OR license_id IN (`+productLicenses+`)
		GROUP BY door, kind, status`, productID, productID, productID)
	if err != nil {
		return d, fmt.Errorf("load events: %w", err)
	}
	if code := p.ProductCode; code != "" {
		var first, last sql.NullInt64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*), MIN(received_at), MAX(received_at) FROM inbox_events WHERE door = 'sns'
			AND customer_key IN (SELECT customer_key FROM subscriptions WHERE product_code = ?)`, code).Scan(&d.sns.n, &first, &last); err != nil {
			return d, fmt.Errorf("count SNS messages: %w", err)
		}
		d.sns.first, d.sns.last = store.FromNullMillis(first), store.FromNullMillis(last)
		var lastSession sql.NullInt64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN license_arn <> '' THEN 1 ELSE 0 END), 0), MAX(created_at)
			FROM registration_sessions WHERE product_code = ?`, code).Scan(&d.sessions.n, &d.sessions.withArn, &lastSession); err != nil {
			return d, fmt.Errorf("count registration sessions: %w", err)
		}
		d.sessions.last = store.FromNullMillis(lastSession)
		if err := tx.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM licenses l WHERE l.customer_identifier = s.customer_identifier
			AND l.customer_identifier <> '') THEN 1 ELSE 0 END), 0) FROM subscriptions s WHERE s.product_code = ?`, code).Scan(&d.legacySubs, &d.legacyMapped); err != nil {
			return d, fmt.Errorf("count legacy subscriptions: %w", err)
		}
	}
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM inbox_events WHERE door = 'backfill' AND license_id IN (`+productLicenses+`)`,
		productID, productID).Scan(&d.backfilled); err != nil {
		return d, fmt.Errorf("count backfilled licenses: %w", err)
	}
	return d, nil
}

func scanEventAgg(r store.Scanner) (eventAgg, error) {
	var e eventAgg
	var first, last sql.NullInt64
	err := r.Scan(&e.door, &e.kind, &e.status, &e.n, &first, &last)
	e.first, e.last = store.FromNullMillis(first), store.FromNullMillis(last)
	return e, err
}

// zeroDollarForm reads an offer form (offers.form) and says whether it
// offers the product for $0: zero-dollar pricing ticked and every price and
// installment zero.
func zeroDollarForm(form string) (bool, string) {
	var f struct {
		ZeroDollar bool `json:"zeroDollar"`
		Pricing    struct {
			Currency   string `json:"currency"`
			Dimensions []struct {
				Key   string `json:"key"`
				Price string `json:"price"`
			} `json:"dimensions"`
			Schedule []struct {
				Amount string `json:"amount"`
			} `json:"schedule"`
		} `json:"pricing"`
	}
	if err := json.Unmarshal([]byte(form), &f); err != nil {
		return false, "its form could not be read"
	}
	for _, d := range f.Pricing.Dimensions {
		if !isZero(d.Price) {
			return false, fmt.Sprintf("dimension %s is priced at %s %s", d.Key, d.Price, f.Pricing.Currency)
		}
	}
	for _, in := range f.Pricing.Schedule {
		if !isZero(in.Amount) {
			return false, fmt.Sprintf("an installment of %s %s", in.Amount, f.Pricing.Currency)
		}
	}
	if !f.ZeroDollar {
		return false, "zero-dollar pricing is not ticked"
	}
	return true, "priced at $0"
}

// isZero reports whether s is a decimal amount equal to zero.
func isZero(s string) bool {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	return ok && r.Sign() == 0
}

// termsTotal says what an agreement's stored terms (GetAgreementTerms, see
// marketplace.Terms) cost: zero is true when they total zero; known is false
// when the terms carry no price at all.
func termsTotal(raw string) (zero, known bool, what string) {
	var t marketplace.Terms
	if err := json.Unmarshal([]byte(raw), &t); err != nil {
		return false, false, "its terms could not be read"
	}
	if t.EstimatedValue != "" {
		return isZero(t.EstimatedValue), true, strings.TrimSpace("AWS's terms total " + t.EstimatedValue + " " + t.Currency)
	}
	priced := false
	for _, p := range t.Pricing {
		if p.Price == "" {
			continue
		}
		priced = true
		if !isZero(p.Price) {
			return false, true, strings.TrimSpace(fmt.Sprintf("AWS's terms price %s at %s %s", p.Dimension, p.Price, t.Currency))
		}
	}
	for _, in := range t.PaymentSchedule {
		priced = true
		if !isZero(in.Amount) {
			return false, true, strings.TrimSpace(fmt.Sprintf("AWS's terms schedule a payment of %s %s", in.Amount, t.Currency))
		}
	}
	if !priced {
		return false, false, "AWS's terms carry no price"
	}
	return true, true, "every price in AWS's terms is zero"
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
