// Package backfill maps a listing's existing customers to their LicenseArns when
// the listing moves to Concurrent Agreements, as AWS asks sellers to before they
// meter and check entitlements by LicenseArn. Contract products are backfilled
// from the Entitlement Service (GetEntitlements by CUSTOMER_AWS_ACCOUNT_ID);
// usage-only products from the CSV AWS Marketplace provides (CustomerIdentifier,
// CustomerAWSAccountId, AgreementId, LicenseArn). Either way the result enters
// the ledger as license_imported facts through inbox.Ledger.Import, in one
// transaction, so a run applies completely or not at all, a second run changes
// nothing, and real License events always override what was imported.
package backfill

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
)

// API is what the entitlements backfill needs from the AWS Marketplace
// Entitlement Service; awsmp.Entitlements implements it with the official client.
type API interface {
	// GetEntitlements returns every page of entitlements for one product code.
	GetEntitlements(ctx context.Context, productCode string, f awsmp.EntitlementFilter) ([]marketplace.Entitlement, error)
}

// Options configure a backfill run.
type Options struct {
	// Product is the Concord product id to backfill; it must be configured with
	// its product code and type.
	Product string
	// Accounts are extra buyer accounts to query (Entitlements only), for
	// customers Concord has never heard of (see ParseAccounts).
	Accounts []string
	// API is the Entitlement Service (Entitlements only).
	API API
	// Ledger applies the result.
	Ledger *inbox.Ledger
	// Progress, when set, receives a progress bar (a terminal's stderr).
	Progress io.Writer
	// Rate is how many GetEntitlements calls per second to make at most: 0 is
	// DefaultRate, a negative rate does not pace the calls.
	Rate float64
}

// Summary says what a run found and did; the command prints it.
type Summary struct {
	ProductID   string `json:"productId"`
	ProductCode string `json:"productCode"`
	// Accounts counts the accounts queried with CUSTOMER_AWS_ACCOUNT_ID.
	Accounts int `json:"accounts,omitempty"`
	// LegacyCustomers counts the legacy subscriptions (CustomerIdentifiers)
	// looked up; LegacyMapped those GetEntitlements mapped to an account.
	LegacyCustomers int `json:"legacyCustomers,omitempty"`
	LegacyMapped    int `json:"legacyMapped,omitempty"`
	// Rows counts the CSV data rows read (ImportCSV only).
	Rows int `json:"rows,omitempty"`
	// Licenses counts the distinct licenses found.
	Licenses int `json:"licenses"`
	inbox.ImportStats
}

// String is the summary as the command prints it.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "product %s (code %s)\n", s.ProductID, s.ProductCode)
	if s.Rows > 0 {
		fmt.Fprintf(&b, "rows read:               %d\n", s.Rows)
	}
	if s.Accounts > 0 || s.LegacyCustomers > 0 {
		fmt.Fprintf(&b, "legacy customers mapped: %d of %d\n", s.LegacyMapped, s.LegacyCustomers)
		fmt.Fprintf(&b, "accounts queried:        %d\n", s.Accounts)
	}
	fmt.Fprintf(&b, "licenses found:          %d\n", s.Licenses)
	fmt.Fprintf(&b, "  created:               %d\n", s.Created)
	fmt.Fprintf(&b, "  updated:               %d\n", s.Updated)
	fmt.Fprintf(&b, "  unchanged:             %d\n", s.Unchanged)
	if s.Waiting > 0 {
		fmt.Fprintf(&b, "  waiting for agreement: %d (they fold when the agreement's events or its Agreement API lookup arrive)\n", s.Waiting)
	}
	return b.String()
}

// licenseArnPattern is LicenseArn as the Metering and Entitlement models define
// it, `^arn:aws[a-zA-Z-]*:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:
// [A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.-]{0,1023}$`, except that
// Go's regexp repeats at most 1000 times: the resource's length is checked apart.
var licenseArnPattern = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]{0,63}:([A-Za-z0-9][A-Za-z0-9:_/+=,@.-]*)$`)

// checkLicenseArn says what is wrong with a LicenseArn ("" if nothing): it must
// match AWS's pattern and end in a license id (l-…), which the ledger keys on.
func checkLicenseArn(arn string) string {
	if m := licenseArnPattern.FindStringSubmatch(arn); m == nil || len(m[1]) > 1024 {
		return fmt.Sprintf("LicenseArn %q is not a valid ARN", clip(arn))
	}
	if !strings.HasPrefix(marketplace.LicenseID(arn), "l-") {
		return fmt.Sprintf("LicenseArn %q does not end in a license id (l-…)", clip(arn))
	}
	return ""
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	if !marketplace.Storable(s) {
		return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\\x00"), "\ufffd")
	}
	return s
}

// product loads the product a run backfills and checks it can be.
func product(ctx context.Context, o Options) (marketplace.Product, error) {
	if o.Ledger == nil {
		return marketplace.Product{}, fmt.Errorf("backfill: no ledger")
	}
	if o.Product == "" {
		return marketplace.Product{}, marketplace.Errorf(marketplace.EInvalid, "give the product id to backfill")
	}
	p, err := o.Ledger.GetProduct(ctx, o.Product)
	if marketplace.ErrorCode(err) == marketplace.ENotFound {
		return p, marketplace.Errorf(marketplace.ENotFound, "product %s is not configured in Concord: configure it (PUT /v1/products/%s) with its product code and type first", o.Product, o.Product)
	} else if err != nil {
		return p, err
	}
	if p.ProductCode == "" {
		return p, marketplace.Errorf(marketplace.EInvalid, "product %s has no product code: configure it (PUT /v1/products/%s) first", o.Product, o.Product)
	}
	return p, nil
}

func isContract(t string) bool {
	return t == marketplace.ProductSaaSContract || t == marketplace.ProductSaaSContractConsumption
}

// found is one license a backfill learnt.
type found struct {
	arn, account, customer, agreement string
}

func (f found) fact(p marketplace.Product) marketplace.Fact {
	return marketplace.Fact{Kind: marketplace.KindLicenseImported, LicenseArn: f.arn, AcceptorAccountID: f.account,
		ProductCode: p.ProductCode, ProductID: p.ProductID, CustomerIdentifier: f.customer, AgreementID: f.agreement}
}

// Entitlements backfills a contract product from the Entitlement Service. It
// queries, with the CUSTOMER_AWS_ACCOUNT_ID filter, every buyer the ledger knows
// for the product, every legacy customer (subscriptions of the product code,
// resolved to an account with the CUSTOMER_IDENTIFIER filter) and o.Accounts,
// and imports every distinct LicenseArn found. All API calls are made before
// anything is applied: a failed call applies nothing.
func Entitlements(ctx context.Context, o Options) (Summary, error) {
	p, err := product(ctx, o)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{ProductID: p.ProductID, ProductCode: p.ProductCode}
	if !isContract(p.Type) {
		t := p.Type
		if t == "" {
			t = "not set"
		}
		return sum, marketplace.Errorf(marketplace.EInvalid, "product %s has type %s: the entitlements backfill is for contract products (saas_contract, saas_contract_consumption), "+
			"whose licenses GetEntitlements lists; for a usage-only product import the CSV AWS Marketplace provides with `concord backfill import-csv`", p.ProductID, t)
	}
	if o.API == nil {
		return sum, fmt.Errorf("backfill: no Entitlement Service client")
	}
	for i, a := range o.Accounts {
		if !marketplace.ValidAccountID(a) {
			return sum, marketplace.Errorf(marketplace.EInvalid, "account %d (%q) is not a 12-digit AWS account id", i+1, clip(a))
		}
	}
	accounts := map[string]bool{}
	for _, a := range o.Accounts {
		accounts[a] = true
	}
	known, err := knownAccounts(ctx, o.Ledger, p.ProductID)
	if err != nil {
		return sum, err
	}
	for _, a := range known {
		accounts[a] = true
	}
	legacy, err := legacyCustomers(ctx, o.Ledger, p.ProductCode)
	if err != nil {
		return sum, err
	}
	sum.LegacyCustomers = len(legacy)

	// The legacy mapping: CustomerIdentifier → account (and the licenses
	// GetEntitlements names for it).
	customerOf := map[string]string{} // license id → CustomerIdentifier
	pacer := newPacer(o.Rate)
	bar := newBar(o.Progress, len(legacy), "legacy customers")
	for _, ci := range legacy {
		if err := pacer.Wait(ctx); err != nil {
			bar.abort()
			return sum, err
		}
		ents, err := o.API.GetEntitlements(ctx, p.ProductCode, awsmp.EntitlementFilter{CustomerIdentifier: ci})
		if err != nil {
			bar.abort()
			return sum, fmt.Errorf("look up legacy customer %s: %w", ci, err)
		}
		mapped := false
		for _, e := range ents {
			if e.AccountID != "" && marketplace.ValidAccountID(e.AccountID) {
				accounts[e.AccountID] = true
				mapped = true
			}
			if e.LicenseArn != "" {
				customerOf[marketplace.LicenseID(e.LicenseArn)] = ci
			}
		}
		if mapped {
			sum.LegacyMapped++
		}
		bar.step()
	}
	bar.done()

	list := make([]string, 0, len(accounts))
	for a := range accounts {
		list = append(list, a)
	}
	slices.Sort(list)
	sum.Accounts = len(list)
	licenses := map[string]found{}
	var order []string
	bar = newBar(o.Progress, len(list), "accounts")
	for _, account := range list {
		if err := pacer.Wait(ctx); err != nil {
			bar.abort()
			return sum, err
		}
		ents, err := o.API.GetEntitlements(ctx, p.ProductCode, awsmp.EntitlementFilter{AccountID: account})
		if err != nil {
			bar.abort()
			return sum, fmt.Errorf("get entitlements of account %s: %w", account, err)
		}
		for _, e := range ents {
			if e.LicenseArn == "" {
				continue // an entitlement from before LicenseArns: nothing to map
			}
			if msg := checkLicenseArn(e.LicenseArn); msg != "" {
				bar.abort()
				return sum, fmt.Errorf("GetEntitlements for account %s: %s", account, msg)
			}
			id := marketplace.LicenseID(e.LicenseArn)
			f, seen := licenses[id]
			if !seen {
				f = found{arn: e.LicenseArn, account: account}
				order = append(order, id)
			}
			if e.AccountID != "" && marketplace.ValidAccountID(e.AccountID) {
				f.account = e.AccountID
			}
			if ci := e.CustomerID; ci != "" && marketplace.Storable(ci) && len(ci) <= 255 {
				f.customer = ci
			} else if ci := customerOf[id]; ci != "" && f.customer == "" {
				f.customer = ci
			}
			licenses[id] = f
		}
		bar.step()
	}
	bar.done()

	facts := make([]marketplace.Fact, 0, len(order))
	for _, id := range order {
		facts = append(facts, licenses[id].fact(p))
	}
	sum.Licenses = len(facts)
	if len(facts) == 0 {
		return sum, nil
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "importing %d licenses in one transaction...\n", len(facts))
	}
	st, err := o.Ledger.Import(ctx, facts)
	if err != nil {
		return sum, err
	}
	sum.ImportStats = st
	return sum, nil
}

// knownAccounts lists the buyers the ledger knows for a product.
func knownAccounts(ctx context.Context, l *inbox.Ledger, productID string) ([]string, error) {
	var out []string
	pg := inbox.Page{Limit: 500}
	for {
		bs, err := l.ListBuyers(ctx, productID, pg)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			out = append(out, b.AccountID)
		}
		if len(bs) < pg.Limit {
			return out, nil
		}
		pg.Cursor = bs[len(bs)-1].AccountID
	}
}

// legacyCustomers lists the CustomerIdentifiers of a product code's legacy
// (SNS) subscriptions.
func legacyCustomers(ctx context.Context, l *inbox.Ledger, productCode string) ([]string, error) {
	var out []string
	pg := inbox.Page{Limit: 500}
	for {
		subs, err := l.ListSubscriptions(ctx, productCode, pg)
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			if s.CustomerIdentifier != "" {
				out = append(out, s.CustomerIdentifier)
			}
		}
		if len(subs) < pg.Limit {
			return out, nil
		}
		last := subs[len(subs)-1]
		pg.Cursor = last.CustomerIdentifier + "|" + last.ProductCode
	}
}
