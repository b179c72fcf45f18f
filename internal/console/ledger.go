package console

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/entitlement"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/registration"
	"github.com/concordmp/concord/internal/report"
	"github.com/concordmp/concord/internal/store"
)

// mountLedger adds the pages of the ledger: buyers, agreements (with their
// bookable artifacts), licenses (with their usage), metering health and the
// Concurrent Agreements readiness report.
func (s *Service) mountLedger(m Mux) {
	m.HandleFunc("GET "+Prefix+"/buyers", s.signedIn(s.buyers))
	m.HandleFunc("GET "+Prefix+"/buyers/{account}", s.signedIn(s.buyerDetail))
	m.HandleFunc("GET "+Prefix+"/agreements/{id}", s.signedIn(s.agreementDetail))
	m.HandleFunc("GET "+Prefix+"/artifacts/{id}/{file}", s.signedIn(s.artifactFile))
	m.HandleFunc("GET "+Prefix+"/licenses", s.signedIn(s.licenseDetail))
	m.HandleFunc("GET "+Prefix+"/metering", s.signedIn(s.meteringHealth))
	m.HandleFunc("POST "+Prefix+"/metering/retry", s.signedIn(s.may(AreaSandbox, s.meteringRetry)))
	m.HandleFunc("GET "+Prefix+"/readiness", s.signedIn(s.readinessPage))
	m.HandleFunc("GET "+Prefix+"/readiness.csv", s.signedIn(s.readinessCSV))
}

// licenseHref is the console page of a license (LicenseArns hold slashes and
// colons, so it goes in the query).
func licenseHref(arn string) string {
	return Prefix + "/licenses?arn=" + url.QueryEscape(arn)
}

// plainID reports whether an id from a URL is short printable text.
func ledgerID(id string, max int) bool {
	return id != "" && len(id) <= max && marketplace.Storable(id)
}

// productTitles maps product ids to "Title (id)", or the id alone.
func (s *Service) productTitles(ctx context.Context) (map[string]string, []marketplace.Product, error) {
	products, err := s.Ledger.ListProducts(ctx, inbox.Page{Limit: 500})
	if err != nil {
		return nil, nil, err
	}
	names := map[string]string{}
	for _, p := range products {
		names[p.ProductID] = productLabel(p)
	}
	return names, products, nil
}

func productLabel(p marketplace.Product) string {
	if p.Title == "" {
		return p.ProductID
	}
	return p.Title + " (" + p.ProductID + ")"
}

func productLabelOf(names map[string]string, productID string) string {
	if n, ok := names[productID]; ok {
		return n
	}
	if productID == "" {
		return "Product not known yet"
	}
	return productID
}

// awsWords gives page data a Word method, for templates: AWS's upper-case
// statuses and intents (ACTIVE, ROLLED_BACK, AMEND) in plain words.
type awsWords struct{}

// Word writes an AWS status or intent as a word: "ROLLED_BACK" is "Rolled back".
func (awsWords) Word(s string) string {
	if s == "" {
		return "—"
	}
	s = strings.ToLower(strings.ReplaceAll(s, "_", " "))
	return strings.ToUpper(s[:1]) + s[1:]
}

// ---- Buyers ----

type buyerHoldings struct {
	ProductID, Product            string
	Agreements, AgreementsInForce int
	Licenses, LicensesInForce     int
}

type buyerListRow struct {
	report.BuyerRow
	Products []buyerHoldings
}

var buyerColumns = []column{{Label: "Buyer", Key: "company"}, {Label: "AWS account", Key: "account"}, {Label: "Holdings per product", Key: "agreements"}, {Label: "First seen", Key: "first_seen"}}

type buyersData struct {
	Q, Product string
	Products   []marketplace.Product
	Buyers     []buyerListRow
	Headers    []sortHeader
	Pager      pager
	CSV, Sort  string
}

// buyerFilter reads the Buyers list's filters; errs name the fields that
// were not valid (those filters are then left out).
func buyerFilter(q url.Values) (report.BuyerFilter, []fieldError) {
	f := report.BuyerFilter{Query: strings.TrimSpace(q.Get("q")), ProductID: q.Get("product"), Page: report.Page{Offset: offsetOf(q)}}
	var errs []fieldError
	if len(f.Query) > 200 || !marketplace.Storable(f.Query) || strings.ContainsAny(f.Query, "\r\n\t") {
		errs, f.Query = append(errs, fieldError{ID: "q", Message: "Search for at most 200 characters of plain text."}), ""
	}
	if !ledgerID(f.ProductID, 100) {
		f.ProductID = ""
	}
	o, err := report.ParseOrder(q.Get("sort"), report.BuyerSortKeys, report.DefaultBuyerOrder)
	if err != nil {
		errs = append(errs, fieldError{ID: "buyers-table", Message: "That list cannot be sorted that way; it is sorted by company."})
	}
	f.Order = o
	return f, errs
}

func (s *Service) buyers(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	names, products, err := s.productTitles(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, errs := buyerFilter(q)
	d := buyersData{Q: f.Query, Product: q.Get("product"), Products: products, Sort: f.Order.String()}
	if d.Product != "" && !slices.ContainsFunc(products, func(p marketplace.Product) bool { return p.ProductID == d.Product }) {
		errs = append(errs, fieldError{ID: "product", Message: "Choose a product from the list."})
		f.ProductID, d.Product = "", ""
	}
	list, err := report.Buyers(ctx, s.DB, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := Prefix + "/buyers"
	d.Headers = sortHeaders(base, q, f.Order, buyerColumns)
	d.Pager = pagerOf(base, q, list)
	d.CSV = csvHref(base, q)
	if d.Buyers, err = s.buyerHoldings(ctx, list.Items, names); err != nil {
		s.fail(w, r, err)
		return
	}
	code := http.StatusOK
	if len(errs) > 0 {
		code = http.StatusBadRequest
	}
	s.render(w, r, code, "buyers", view{Title: "Buyers", Nav: "buyers", Errors: errs, Data: d})
}

// buyerHoldings counts the agreements and licenses of one page of buyers
// per product.
func (s *Service) buyerHoldings(ctx context.Context, page []report.BuyerRow, names map[string]string) ([]buyerListRow, error) {
	out := make([]buyerListRow, len(page))
	for i, b := range page {
		out[i].BuyerRow = b
	}
	if len(out) == 0 {
		return out, nil
	}
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		accounts := make([]any, len(out))
		for i, b := range out {
			accounts[i] = b.AccountID
		}
		in := `(?` + strings.Repeat(", ?", len(accounts)-1) + `)`
		type tally struct {
			account, product string
			all, inForce     int
		}
		scanTally := func(r store.Scanner) (tally, error) {
			var t tally
			err := r.Scan(&t.account, &t.product, &t.all, &t.inForce)
			return t, err
		}
		agreements, err := store.QueryAll(ctx, tx, scanTally, `SELECT acceptor_account_id, product_id, COUNT(*), SUM(CASE WHEN status = 'ACTIVE' THEN 1 ELSE 0 END)
			FROM agreements WHERE acceptor_account_id IN `+in+` GROUP BY acceptor_account_id, product_id`, accounts...)
		if err != nil {
			return err
		}
		licenses, err := store.QueryAll(ctx, tx, scanTally, `SELECT account_id, product_id, COUNT(*), SUM(CASE WHEN state = 'active' THEN 1 ELSE 0 END)
			FROM licenses WHERE account_id IN `+in+` GROUP BY account_id, product_id`, accounts...)
		if err != nil {
			return err
		}
		for i := range out {
			b := &out[i]
			get := func(product string) *buyerHoldings {
				for j := range b.Products {
					if b.Products[j].ProductID == product {
						return &b.Products[j]
					}
				}
				b.Products = append(b.Products, buyerHoldings{ProductID: product, Product: productLabelOf(names, product)})
				return &b.Products[len(b.Products)-1]
			}
			for _, t := range agreements {
				if t.account == b.AccountID {
					h := get(t.product)
					h.Agreements, h.AgreementsInForce = t.all, t.inForce
				}
			}
			for _, t := range licenses {
				if t.account == b.AccountID {
					h := get(t.product)
					h.Licenses, h.LicensesInForce = t.all, t.inForce
				}
			}
			slices.SortFunc(b.Products, func(x, y buyerHoldings) int { return strings.Compare(x.ProductID, y.ProductID) })
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list buyers: %w", err)
	}
	return out, nil
}

// ---- One buyer ----

// licenseView is a license with the tenant it is registered to.
type licenseView struct {
	marketplace.License
	Href     string
	TenantID string
	Company  string
}

// chainAgreement is one agreement of a chain, with its licenses.
type chainAgreement struct {
	marketplace.Agreement
	Licenses []licenseView
}

// agreementChain is a new agreement and the renewals and amendments that
// followed it, oldest first.
type agreementChain struct {
	InitialID  string
	InForce    bool
	Agreements []chainAgreement
}

type buyerProductView struct {
	ProductID, Product string
	InForce            int
	Chains             []agreementChain
	// Unlinked are licenses whose agreement the ledger does not hold yet.
	Unlinked []licenseView
}

type buyerData struct {
	awsWords
	buyerMoney
	// CompanyInput is what was typed into the company form when it was refused.
	CompanyInput string
	AccountID    string
	FirstSeen    time.Time
	Products     []buyerProductView
}

func (s *Service) buyerDetail(w http.ResponseWriter, r *http.Request) {
	v := ""
	if r.URL.Query().Get("named") == "1" {
		v = "The buyer's company name is saved."
	}
	s.showBuyerStatus(w, r, http.StatusOK, r.PathValue("account"), nil, "", v)
}

func (s *Service) showBuyer(w http.ResponseWriter, r *http.Request, code int, account string, errs []fieldError, input string) {
	s.showBuyerStatus(w, r, code, account, errs, input, "")
}

func (s *Service) showBuyerStatus(w http.ResponseWriter, r *http.Request, code int, account string, errs []fieldError, input, status string) {
	ctx := r.Context()
	if !marketplace.ValidAccountID(account) {
		s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "there is no buyer %q: an AWS account id is 12 digits", marketplace.Clip(account, 40)))
		return
	}
	b, err := s.Ledger.GetBuyer(ctx, account)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names, _, err := s.productTitles(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tenants, err := s.tenantsOfAccount(ctx, account)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	bm, err := s.buyerMoneyOf(ctx, account)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := buyerData{AccountID: b.AccountID, FirstSeen: b.FirstSeenAt, buyerMoney: bm, CompanyInput: input}
	if input == "" && bm.Company.Source == report.SourceManual {
		d.CompanyInput = bm.Company.Name
	}
	for _, bp := range b.Products {
		pv := buyerProductView{ProductID: bp.ProductID, Product: productLabelOf(names, bp.ProductID), InForce: bp.ConcurrentActive}
		byAgreement := map[string][]licenseView{}
		for _, l := range bp.Licenses {
			byAgreement[l.AgreementID] = append(byAgreement[l.AgreementID], tenants.view(l))
		}
		chains := map[string]*agreementChain{}
		var order []string
		for _, a := range bp.Agreements {
			initial := a.InitialAgreementID
			if initial == "" {
				initial = a.AgreementID
			}
			c, ok := chains[initial]
			if !ok {
				c = &agreementChain{InitialID: initial}
				chains[initial] = c
				order = append(order, initial)
			}
			c.Agreements = append(c.Agreements, chainAgreement{Agreement: a, Licenses: byAgreement[a.AgreementID]})
			c.InForce = c.InForce || a.Status == marketplace.StatusActive
			delete(byAgreement, a.AgreementID)
		}
		for _, id := range order {
			c := chains[id]
			slices.SortStableFunc(c.Agreements, func(x, y chainAgreement) int { return compareAgreements(x.Agreement, y.Agreement) })
			pv.Chains = append(pv.Chains, *c)
		}
		// Chains in force first, then by their first agreement.
		slices.SortStableFunc(pv.Chains, func(x, y agreementChain) int {
			if x.InForce != y.InForce {
				if x.InForce {
					return -1
				}
				return 1
			}
			return strings.Compare(x.InitialID, y.InitialID)
		})
		for _, l := range bp.Licenses {
			if _, left := byAgreement[l.AgreementID]; left {
				pv.Unlinked = append(pv.Unlinked, tenants.view(l))
			}
		}
		d.Products = append(d.Products, pv)
	}
	title := "Buyer " + account
	if bm.Company.Name != "" {
		title = bm.Company.Name + " (" + account + ")"
	}
	s.render(w, r, code, "buyer", view{Title: title, Nav: "buyers", Data: d, Errors: errs, Status: status})
}

// compareAgreements orders a chain as the ledger does: by acceptance, then start, then id.
func compareAgreements(x, y marketplace.Agreement) int {
	ms := func(t *time.Time) int64 {
		if t == nil {
			return 0
		}
		return t.UnixMilli()
	}
	if c := ms(x.AcceptanceTime) - ms(y.AcceptanceTime); c != 0 {
		return int(max(-1, min(1, c)))
	}
	if c := ms(x.StartTime) - ms(y.StartTime); c != 0 {
		return int(max(-1, min(1, c)))
	}
	return strings.Compare(x.AgreementID, y.AgreementID)
}

// licenseTenants maps license ids to the tenant they are registered to.
type licenseTenants map[string]marketplace.Tenant

func (t licenseTenants) view(l marketplace.License) licenseView {
	v := licenseView{License: l, Href: licenseHref(l.LicenseArn)}
	if tn, ok := t[l.LicenseID]; ok {
		v.TenantID, v.Company = tn.TenantID, tn.Company
	}
	return v
}

func (s *Service) tenantsOfAccount(ctx context.Context, account string) (licenseTenants, error) {
	out := licenseTenants{}
	if s.Registration == nil || account == "" {
		return out, nil
	}
	tenants, err := s.Registration.ListTenants(ctx, registration.TenantFilter{AccountID: account, Limit: 500})
	if err != nil {
		return nil, err
	}
	for _, t := range tenants {
		for _, l := range t.Licenses {
			out[l.LicenseID] = t
		}
	}
	return out, nil
}

// ---- One agreement ----

// termLine is one priced dimension of the accepted terms.
type termLine struct {
	Dimension, Name, Kind, Quantity, UnitPrice, LineTotal string
}

type artifactLink struct {
	Label, Name, Href string
}

type artifactView struct {
	ID, Kind, Title    string
	Version            int
	Total, Currency    string
	TermsKnown         bool
	CreatedAt          time.Time
	Files              []artifactLink
	LicenseArns        []string
	ConcordOfferID     string
	TotalContractBasis string
}

type agreementData struct {
	awsWords
	inbox.AgreementDetail
	Product string
	// Company is the buyer's company name (report.Companies).
	Company string
	Active  bool
	// Renewal is "On" or "Off" when AWS said whether the agreement renews.
	Renewal     string
	Offer       *offer.Offer
	TermsKnown  bool
	Accepted    marketplace.Terms
	Lines       []termLine
	Total       string
	TotalBasis  string
	Schedule    []marketplace.Installment
	LicenseList []licenseView
	Artifacts   []artifactView
}

// tcvBasis says in plain words what a total contract value is the sum of.
var tcvBasis = map[string]string{
	artifact.TCVPaymentSchedule: "the sum of the payment schedule",
	artifact.TCVContractLines:   "the sum of the contract lines",
	artifact.TCVEstimatedValue:  "AWS's estimate of the agreement's value",
}

// termKinds names AWS's pricing terms in plain words.
var termKinds = map[string]string{
	"ConfigurableUpfrontPricingTerm": "contract",
	"FixedUpfrontPricingTerm":        "fixed",
	"UsageBasedPricingTerm":          "usage",
	"RecurringPaymentTerm":           "recurring",
}

func (s *Service) agreementDetail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	if !ledgerID(id, 128) {
		s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "agreement not found"))
		return
	}
	a, err := s.Ledger.GetAgreement(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names, _, err := s.productTitles(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := agreementData{AgreementDetail: a, Product: productLabelOf(names, a.ProductID), Active: a.Status == marketplace.StatusActive}
	companies, err := report.LoadCompanies(ctx, s.DB)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Company = companies[a.AcceptorAccountID].Name
	if a.AutoRenewal != nil {
		d.Renewal = map[bool]string{true: "On", false: "Off"}[*a.AutoRenewal]
	}
	if d.Offer, err = s.offerOf(ctx, a.Agreement); err != nil {
		s.fail(w, r, err)
		return
	}
	tenants, err := s.tenantsOfAccount(ctx, a.AcceptorAccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, l := range a.Licenses {
		d.LicenseList = append(d.LicenseList, tenants.view(l))
	}
	arts, err := artifact.List(ctx, s.DB, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for i := len(arts) - 1; i >= 0; i-- { // newest first
		x := arts[i]
		v := artifactView{ID: x.ID, Kind: x.Kind, Title: artifact.KindTitle(x.Kind), Version: x.Version, Total: x.TotalContractValue, Currency: x.Currency,
			TermsKnown: x.TermsKnown, CreatedAt: x.CreatedAt, LicenseArns: x.LicenseArns, ConcordOfferID: x.ConcordOfferID, TotalContractBasis: tcvBasis[x.TCVBasis]}
		for _, f := range []struct{ label, ext string }{{"PDF", "pdf"}, {"CSV", "csv"}, {"JSON", "json"}} {
			name := artifact.FileName(x, f.ext)
			v.Files = append(v.Files, artifactLink{Label: f.label, Name: name, Href: Prefix + "/artifacts/" + url.PathEscape(x.ID) + "/" + url.PathEscape(name)})
		}
		d.Artifacts = append(d.Artifacts, v)
	}
	if a.TermsFetchedAt != nil && len(a.Terms) > 0 {
		if err := json.Unmarshal(a.Terms, &d.Accepted); err != nil {
			s.fail(w, r, fmt.Errorf("decode the terms of agreement %s: %w", id, err))
			return
		}
		d.TermsKnown = true
		d.Schedule = d.Accepted.PaymentSchedule
		d.pricing(arts)
	}
	s.render(w, r, http.StatusOK, "agreement", view{Title: "Agreement " + id, Nav: "buyers", Data: d})
}

// pricing fills in the priced lines and the total: from the latest bookable
// artifact when it was recorded from these terms (it holds the line totals
// and the total contract value, worked out by the artifact package), else
// from the terms as AWS sent them.
func (d *agreementData) pricing(arts []artifact.BookableArtifact) {
	if n := len(arts); n > 0 {
		last := arts[n-1]
		if last.TermsKnown && !last.CreatedAt.Before(d.TermsFetchedAt.Truncate(time.Millisecond)) {
			for _, l := range last.Lines {
				d.Lines = append(d.Lines, termLine{Dimension: l.Dimension, Name: l.Name, Kind: l.Kind, Quantity: termQuantity(l.Quantity), UnitPrice: l.UnitPrice, LineTotal: l.LineTotal})
			}
			if last.TotalContractValue != "" {
				d.Total, d.TotalBasis = last.TotalContractValue, tcvBasis[last.TCVBasis]
			}
			return
		}
	}
	for _, p := range d.Accepted.Pricing {
		kind, ok := termKinds[p.Term]
		if !ok {
			kind = p.Term
		}
		d.Lines = append(d.Lines, termLine{Dimension: p.Dimension, Kind: kind, Quantity: termQuantity(p.Quantity), UnitPrice: p.Price})
	}
	if d.Accepted.EstimatedValue != "" {
		d.Total, d.TotalBasis = d.Accepted.EstimatedValue, tcvBasis[artifact.TCVEstimatedValue]
	}
}

func termQuantity(q *int64) string {
	if q == nil {
		return ""
	}
	return strconv.FormatInt(*q, 10)
}

// offerOf finds the Concord offer an agreement was made from: the offer
// accepted as this agreement, else the one AWS published as its offer id.
func (s *Service) offerOf(ctx context.Context, a marketplace.Agreement) (*offer.Offer, error) {
	if s.Offers == nil {
		return nil, nil
	}
	for _, q := range []struct {
		value string
		match func(offer.Offer) bool
	}{
		{a.AgreementID, func(o offer.Offer) bool { return o.AgreementID == a.AgreementID }},
		{a.OfferID, func(o offer.Offer) bool { return o.OfferID == a.OfferID }},
		{a.ResaleAuthorizationID, func(o offer.Offer) bool { return o.ResaleAuthorizationID == a.ResaleAuthorizationID }},
	} {
		if q.value == "" {
			continue
		}
		// The search also matches offers that merely mention the id (an
		// amendment names the agreement it replaces): keep exact matches.
		list, err := s.Offers.List(ctx, offer.Filter{Query: q.value, Limit: 500})
		if err != nil {
			return nil, err
		}
		for _, o := range list {
			if q.match(o) {
				return &o, nil
			}
		}
	}
	return nil, nil
}

// artifactFile downloads one rendering of a bookable artifact (PDF, CSV or JSON).
func (s *Service) artifactFile(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("file")
	if !ledgerID(id, 100) || !ledgerID(name, 300) {
		s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "artifact not found"))
		return
	}
	a, err := artifact.Get(r.Context(), s.DB, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	files, err := artifact.Files(a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, f := range files {
		if f.Name != name {
			continue
		}
		sendFile(w, f.ContentType, f.Name, f.Data)
		return
	}
	s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "artifact %s has no file %s: download it from its agreement's page", id, marketplace.Clip(name, 80)))
}

// ---- One license ----

// entitlementView is one entitlement as GetEntitlements returned it.
type entitlementView struct {
	Dimension, Value string
	ExpiresAt        *time.Time
}

type licenseData struct {
	awsWords
	License   licenseView
	Agreement *marketplace.Agreement
	Product   string
	// Tenant is the tenant the license is registered to; Pending says how
	// long the buyer has had to register when there is none.
	Tenant                *marketplace.Tenant
	Pending               *registration.Pending
	Entitlements          []entitlementView
	EntitlementsFetchedAt *time.Time
	EntitlementsError     string
	Usage                 usageData
	// Charges are the license's metered charges per month (report.MeteredCharges).
	Charges []chargeView
}

type chargeView struct {
	report.ChargeRow
	MonthLabel string
}

func (s *Service) licenseDetail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	arn := strings.TrimSpace(q.Get("arn"))
	if arn == "" {
		// Licenses are reached from their buyer or agreement.
		http.Redirect(w, r, Prefix+"/buyers", http.StatusSeeOther)
		return
	}
	if !ledgerID(arn, 2048) {
		s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "license not found"))
		return
	}
	days := 2
	switch q.Get("days") {
	case "", "2":
	case "7":
		days = 7
	default:
		s.fail(w, r, marketplace.Errorf(marketplace.EInvalid, "the usage chart covers 2 or 7 days: use days=2 or days=7"))
		return
	}
	l, err := s.Ledger.GetLicense(ctx, arn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := licenseData{License: licenseView{License: l, Href: licenseHref(l.LicenseArn)}}
	var product marketplace.Product
	err = s.DB.Read(ctx, func(tx *store.Tx) error {
		a, ok, err := inbox.LoadAgreement(ctx, tx, l.AgreementID)
		if err != nil {
			return err
		}
		if ok {
			d.Agreement = &a
		}
		if product, _, err = inbox.LoadProduct(ctx, tx, l.ProductID); err != nil {
			return err
		}
		d.Entitlements, err = store.QueryAll(ctx, tx, func(r store.Scanner) (entitlementView, error) {
			var e entitlementView
			var value string
			var expires sql.NullInt64
			err := r.Scan(&e.Dimension, &value, &expires)
			e.Value, e.ExpiresAt = entitlementValue(value), store.FromNullMillis(expires)
			return e, err
		}, `SELECT dimension, value, expires_at FROM entitlements WHERE license_id = ? ORDER BY dimension`, l.LicenseID)
		if err != nil {
			return err
		}
		var fetched sql.NullInt64
		var lastErr sql.NullString
		err = tx.QueryRow(ctx, `SELECT fetched_at, last_error FROM entitlement_syncs WHERE license_id = ?`, l.LicenseID).Scan(&fetched, &lastErr)
		if err == nil {
			d.EntitlementsFetchedAt, d.EntitlementsError = store.FromNullMillis(fetched), lastErr.String
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, fmt.Errorf("read license %s: %w", l.LicenseID, err))
		return
	}
	d.Product = l.ProductID
	if product.ProductID != "" {
		d.Product = productLabel(product)
	}
	if s.Registration != nil {
		t, err := s.Registration.TenantOfLicense(ctx, l.LicenseID)
		switch {
		case err == nil:
			d.Tenant = &t
			d.License.TenantID, d.License.Company = t.TenantID, t.Company
		case marketplace.ErrorCode(err) == marketplace.ENotFound:
			pending, err := s.Registration.ListPending(ctx)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			for _, p := range pending {
				if p.LicenseID == l.LicenseID {
					d.Pending = &p
					break
				}
			}
		default:
			s.fail(w, r, err)
			return
		}
	}
	if d.Usage, err = s.usage(ctx, l, product, days); err != nil {
		s.fail(w, r, err)
		return
	}
	charges, err := report.MeteredCharges(ctx, s.DB, l.LicenseID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, c := range charges {
		d.Charges = append(d.Charges, chargeView{ChargeRow: c, MonthLabel: periodLabel(c.Month)})
	}
	s.render(w, r, http.StatusOK, "license", view{Title: "License " + l.LicenseID, Nav: "buyers", Data: d})
}

// entitlementValue writes a stored entitlement value (entitlement.Value as JSON) for people.
func entitlementValue(raw string) string {
	var v entitlement.Value
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return raw
	}
	switch {
	case v.Integer != nil:
		return strconv.FormatInt(*v.Integer, 10)
	case v.Double != nil:
		return strconv.FormatFloat(*v.Double, 'f', -1, 64)
	case v.Boolean != nil:
		if *v.Boolean {
			return "yes"
		}
		return "no"
	case v.String != nil:
		return *v.String
	}
	return "no value"
}
