package readiness

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
)

// Where test accounts come from.
const (
	SourceGiven         = "given"
	SourceZeroOffer     = "zero-dollar offer"
	SourceZeroAgreement = "zero-dollar agreement"
)

// evaluate turns what load read into the report.
func evaluate(d data, given []string, now time.Time) Readiness {
	p := d.product
	r := Readiness{ProductID: p.ProductID, ProductCode: p.ProductCode, Title: p.Title, ConcurrentAgreements: p.ConcurrentAgreements,
		GeneratedAt: now, Accounts: []TestAccount{}}
	r.Metered, r.MeteredWhy = metered(d)

	// Which accounts are the test accounts, and why.
	sources := map[string][]string{}
	var order []string
	addAccount := func(a, src string) {
		if _, ok := sources[a]; !ok {
			order = append(order, a)
		}
		if !slices.Contains(sources[a], src) {
			sources[a] = append(sources[a], src)
		}
	}
	agreements := make([]TestAgreement, 0, len(d.agreements))
	byAccount := map[string][]int{}
	for _, row := range d.agreements {
		a := d.agreement(row)
		agreements = append(agreements, a)
		byAccount[row.account] = append(byAccount[row.account], len(agreements)-1)
	}
	if len(given) > 0 {
		r.AccountsFrom = SourceGiven
		for _, a := range given {
			addAccount(a, SourceGiven)
		}
	} else {
		r.AccountsFrom = "found"
		for _, a := range d.zeroOfferBuyers {
			addAccount(a, SourceZeroOffer)
		}
		for i, row := range d.agreements {
			if a := agreements[i]; a.ZeroDollar == "yes" && marketplace.ValidAccountID(row.account) {
				src := SourceZeroAgreement
				if a.ConcordOffer != "" {
					src = SourceZeroOffer
				}
				addAccount(row.account, src)
			}
		}
	}
	spans := map[string]span{}
	for _, acct := range order {
		acc := TestAccount{AccountID: acct, Source: sources[acct], Agreements: []TestAgreement{}}
		for _, i := range byAccount[acct] {
			acc.Agreements = append(acc.Agreements, agreements[i])
			spans[agreements[i].AgreementID] = spanOf(d.agreements[i])
		}
		r.Accounts = append(r.Accounts, acc)
	}

	r.Checks = d.checks(r, spans, now)
	failed := 0
	for _, c := range r.Checks {
		if c.Status == Fail {
			failed++
		}
	}
	r.Ready = failed == 0
	if r.Ready {
		r.Summary = fmt.Sprintf("ready: no check fails; send AWS the Agreement IDs and LicenseArns of the %s below", plural(countAgreements(r), "test transaction"))
		r.Submission = submission(r)
	} else {
		r.Summary = fmt.Sprintf("not ready: %d of %d checks fail", failed, len(r.Checks))
	}
	r.Checklist = d.checklist(r)
	return r
}

func countAgreements(r Readiness) int {
	n := 0
	for _, a := range r.Accounts {
		n += len(a.Agreements)
	}
	return n
}

// agreement builds the report's view of one agreement: its price and its
// licenses with what Concord did with each.
func (d data) agreement(row agreementRow) TestAgreement {
	a := TestAgreement{AgreementID: row.id, InitialAgreementID: row.initial, Intent: row.intent, Status: row.status, OfferID: row.offerID,
		AcceptedAt: row.accepted, StartsAt: row.start, EndedAt: row.ended, ZeroDollar: "unknown", Licenses: []TestLicense{}}
	o, ok := d.offers[row.id]
	if !ok && row.offerID != "" {
		o, ok = d.byOffer[row.offerID]
	}
	var terms string
	var termsZero, termsKnown bool
	if row.termsFetched {
		termsZero, termsKnown, terms = termsTotal(row.terms)
	}
	switch {
	case ok:
		// Concord's own offer is what the seller priced and published.
		a.ConcordOffer = o.id
		a.ZeroDollar, a.Price = "no", "Concord offer "+o.id+": "+o.why
		if o.zero {
			a.ZeroDollar = "yes"
		}
		if termsKnown && termsZero != o.zero {
			a.Price += "; but " + terms
		}
	case termsKnown:
		a.ZeroDollar, a.Price = "no", terms
		if termsZero {
			a.ZeroDollar = "yes"
		}
	case row.termsFetched:
		a.Price = terms + ", and no Concord offer made it"
	default:
		a.Price = "Concord has not fetched its terms yet (agreement.enrich job), and no Concord offer made it"
	}
	for _, l := range d.licenses[row.id] {
		lic := TestLicense{LicenseArn: l.arn, LicenseID: l.id, State: l.state}
		if s, ok := d.syncs[l.id]; ok {
			lic.EntitlementsFetched, lic.EntitlementsFetchedAt, lic.EntitlementsError = s.fetched != nil, s.fetched, s.err
		}
		if t, ok := d.tenants[l.id]; ok {
			lic.Registered, lic.TenantID, lic.RegistrationSource = true, t.tenantID, t.source
		}
		for path, byStatus := range d.metering[l.id] {
			for status, m := range byStatus {
				if path == metering.PathLegacy {
					lic.LegacyRecords += m.n
					continue
				}
				if lic.Metering == nil {
					lic.Metering = map[string]int{}
				}
				lic.Metering[status] += m.n
				if status == metering.StatusSuccess {
					lic.MeteringTested = true
					lic.MeteredRecords += m.n
					lic.MeteredUnits += m.units
					if m.last != nil && (lic.LastMeteredAt == nil || m.last.After(*lic.LastMeteredAt)) {
						lic.LastMeteredAt = m.last
					}
				}
			}
		}
		a.Licenses = append(a.Licenses, lic)
	}
	return a
}

// metered says whether the product meters usage, so that AWS asks for a
// metering test, and why Concord thinks so.
func metered(d data) (bool, string) {
	p := d.product
	n := 0
	for _, byStatus := range d.meterTotals {
		for _, m := range byStatus {
			n += m.n
		}
	}
	var usage []string
	for _, dim := range p.Dimensions {
		if dim.Kind == "usage" {
			usage = append(usage, dim.Key)
		}
	}
	switch {
	case len(usage) > 0:
		return true, "the product has usage dimensions (" + strings.Join(usage, ", ") + ")"
	case n > 0:
		return true, fmt.Sprintf("Concord has sent %s for the product", plural(n, "metering record"))
	case p.Type == marketplace.ProductSaaSUsage || p.Type == marketplace.ProductSaaSContractConsumption:
		return true, "the product is a " + strings.ReplaceAll(p.Type, "_", " ") + " product"
	case len(p.Dimensions) > 0 || p.Type != "":
		return false, "the product has no usage dimensions, so AWS asks for no metering test"
	}
	return true, fmt.Sprintf("Concord does not know the product's dimensions, so it assumes the listing meters usage; if it does not, configure them (PUT /v1/products/%s) and the metering checks no longer apply", p.ProductID)
}

// span is when an agreement was in force: from its acceptance to its end
// (zero To: still in force).
type span struct{ From, To time.Time }

func spanOf(a agreementRow) span {
	var s span
	switch {
	case a.accepted != nil:
		s.From = *a.accepted
	case a.start != nil:
		s.From = *a.start
	}
	switch {
	case a.ended != nil:
		s.To = *a.ended
	case marketplace.IsTerminalStatus(a.status) && a.end != nil:
		s.To = *a.end
	}
	return s
}

func (s span) overlaps(o span) bool {
	if s.From.IsZero() || o.From.IsZero() {
		return false
	}
	return (s.To.IsZero() || o.From.Before(s.To)) && (o.To.IsZero() || s.From.Before(o.To))
}

// concurrent returns the agreements of acc that were in force at the same
// time as another agreement of acc of a different lineage (an amendment or
// renewal continues its agreement; it is not a concurrent one).
func concurrent(acc TestAccount, spans map[string]span) []string {
	var out []string
	for i, a := range acc.Agreements {
		for j, b := range acc.Agreements {
			if i == j || lineage(a) == lineage(b) {
				continue
			}
			if spans[a.AgreementID].overlaps(spans[b.AgreementID]) {
				out = append(out, a.AgreementID)
				break
			}
		}
	}
	return out
}

func lineage(a TestAgreement) string {
	if a.InitialAgreementID != "" {
		return a.InitialAgreementID
	}
	return a.AgreementID
}

// checks encodes what AWS asks for before it enables Concurrent Agreements
// for all buyers (the opt-in instructions): test buyer accounts, $0 private
// offer transactions with them, several concurrent agreements per account,
// the Agreement ID and LicenseArn of each, and a metering test when the
// listing meters usage.
func (d data) checks(r Readiness, spans map[string]span, now time.Time) []CheckResult {
	var out []CheckResult
	add := func(id, title, account, status, source, format string, args ...any) {
		out = append(out, CheckResult{ID: id, Title: title, Account: account, Status: status, Source: source, Message: fmt.Sprintf(format, args...)})
	}

	const accountsTitle = "Test buyer accounts"
	if len(r.Accounts) == 0 {
		add("test-accounts", accountsTitle, "", Fail, "AWS", "no test buyer accounts: name the accounts you gave AWS in the opt-in request (--accounts, ?accounts=), "+
			"or have them accept $0 private offers created with Concord (zeroDollar)")
	} else {
		var parts []string
		for _, a := range r.Accounts {
			parts = append(parts, a.AccountID+" ("+strings.Join(a.Source, ", ")+")")
		}
		add("test-accounts", accountsTitle, "", Pass, "AWS", "%s: %s", plural(len(r.Accounts), "test account"), strings.Join(parts, "; "))
	}

	// Several agreements at once for the same buyer: the point of the test.
	const concTitle = "Concurrent agreements for the same buyer"
	for _, acc := range r.Accounts {
		id := acc.AccountID
		lineages := map[string][]string{}
		var names []string
		for _, a := range acc.Agreements {
			lineages[lineage(a)] = append(lineages[lineage(a)], a.AgreementID)
			names = append(names, a.AgreementID)
		}
		switch conc := concurrent(acc, spans); {
		case len(acc.Agreements) == 0:
			add("concurrent-agreements", concTitle, id, Fail, "AWS", "account %s has no agreement for product %s: accept two $0 private offers with it to test concurrency", id, r.ProductID)
		case len(acc.Agreements) == 1:
			add("concurrent-agreements", concTitle, id, Fail, "AWS", "account %s has only one agreement (%s): accept a second $0 private offer to test concurrency", id, names[0])
		case len(lineages) == 1:
			add("concurrent-agreements", concTitle, id, Fail, "AWS", "account %s has only one agreement lineage (%s): an amendment or renewal continues an agreement; "+
				"accept a second, separate $0 private offer to test concurrency", id, strings.Join(names, " → "))
		case len(conc) < 2:
			add("concurrent-agreements", concTitle, id, Fail, "AWS", "account %s's agreements (%s) were never in force at the same time: accept a second $0 private offer "+
				"while the first is active", id, strings.Join(names, ", "))
		default:
			add("concurrent-agreements", concTitle, id, Pass, "AWS", "account %s holds %d concurrent agreements: %s", id, len(conc), strings.Join(conc, ", "))
		}
	}

	// An Agreement ID and a LicenseArn for every test transaction.
	var missing []string
	nLicenses, nAgreements := 0, 0
	var tested, inForce, untested, skipped []string
	var legacyOnly, pending []string
	for _, acc := range r.Accounts {
		for _, a := range acc.Agreements {
			nAgreements++
			if len(a.Licenses) == 0 {
				switch {
				case a.StartsAt != nil && a.StartsAt.After(now):
					missing = append(missing, fmt.Sprintf("agreement %s (account %s) starts %s: AWS issues its LicenseArn on the start date",
						a.AgreementID, acc.AccountID, a.StartsAt.Format(time.RFC3339)))
				case marketplace.IsTerminalStatus(a.Status):
					missing = append(missing, fmt.Sprintf("agreement %s (account %s) is %s and Concord never received its LicenseArn",
						a.AgreementID, acc.AccountID, a.Status))
				default:
					missing = append(missing, fmt.Sprintf("agreement %s (account %s) has no LicenseArn yet: Concord has not received its License Updated event",
						a.AgreementID, acc.AccountID))
				}
			}
			for _, l := range a.Licenses {
				nLicenses++
				name := fmt.Sprintf("license %s (agreement %s, account %s)", l.LicenseID, a.AgreementID, acc.AccountID)
				switch {
				case l.MeteringTested:
					tested = append(tested, fmt.Sprintf("%s: %s accepted", l.LicenseID, plural(l.MeteredRecords, "record")))
				case l.State == marketplace.LicenseActive || l.State == marketplace.LicenseEnding:
					untested = append(untested, name+" has no accepted metering record yet")
				default:
					skipped = append(skipped, fmt.Sprintf("%s (%s)", l.LicenseID, l.State))
				}
				if l.State == marketplace.LicenseActive || l.State == marketplace.LicenseEnding || l.MeteringTested {
					inForce = append(inForce, l.LicenseID)
				}
				if !l.MeteringTested && l.LegacyRecords > 0 {
					legacyOnly = append(legacyOnly, l.LicenseID)
				}
				if n := l.Metering[metering.StatusPending]; n > 0 && !l.MeteringTested {
					pending = append(pending, fmt.Sprintf("%s (%s pending)", l.LicenseID, plural(n, "record")))
				}
			}
		}
	}
	const arnTitle = "Agreement ID and LicenseArn of every test transaction"
	switch {
	case nAgreements == 0:
		add("license-arns", arnTitle, "", Fail, "AWS", "no test transactions yet: nothing to send AWS")
	case len(missing) > 0:
		add("license-arns", arnTitle, "", Fail, "AWS", "%s", strings.Join(missing, "; "))
	default:
		add("license-arns", arnTitle, "", Pass, "AWS", "%s with %s", plural(nAgreements, "test agreement"), plural(nLicenses, "LicenseArn"))
	}

	// $0 private offers.
	var notZero []string
	for _, acc := range r.Accounts {
		for _, a := range acc.Agreements {
			switch a.ZeroDollar {
			case "no":
				notZero = append(notZero, fmt.Sprintf("agreement %s (account %s) is not a $0 offer: %s", a.AgreementID, acc.AccountID, a.Price))
			case "unknown":
				notZero = append(notZero, fmt.Sprintf("cannot tell whether agreement %s (account %s) cost $0: %s", a.AgreementID, acc.AccountID, a.Price))
			}
		}
	}
	const zeroTitle = "Test transactions are $0 private offers"
	switch {
	case nAgreements == 0:
		add("zero-dollar", zeroTitle, "", Fail, "AWS", "no test transactions yet: create $0 private offers (zeroDollar) for the test accounts and have them accept")
	case len(notZero) > 0:
		add("zero-dollar", zeroTitle, "", Fail, "AWS", "%s", strings.Join(notZero, "; "))
	default:
		add("zero-dollar", zeroTitle, "", Pass, "AWS", "every test agreement is a $0 offer")
	}

	// A metering test, when the listing meters usage.
	hint := ""
	if len(legacyOnly) > 0 {
		hint += fmt.Sprintf(" (%s went by the legacy ProductCode path only: turn concurrentAgreements on for the product, PUT /v1/products/%s)",
			strings.Join(legacyOnly, ", "), r.ProductID)
	}
	if len(pending) > 0 {
		hint += " (still on its way to AWS: " + strings.Join(pending, ", ") + ")"
	}
	const meterTitle = "Metering tested with a LicenseArn"
	const eachTitle = "Every concurrent license metered by its own LicenseArn"
	switch {
	case !r.Metered:
		add("metering-tested", meterTitle, "", NotApplicable, "AWS", "%s", r.MeteredWhy)
		add("metering-each-license", eachTitle, "", NotApplicable, "Concord", "%s", r.MeteredWhy)
		return out
	case len(tested) > 0:
		add("metering-tested", meterTitle, "", Pass, "AWS", "BatchMeterUsage accepted records sent with the LicenseArn of %s", strings.Join(tested, "; "))
	default:
		add("metering-tested", meterTitle, "", Fail, "AWS", "no test license has a BatchMeterUsage record AWS accepted with its LicenseArn: report usage for one "+
			"(POST /v1/usage) and let its hour close; AWS requires a metering test when the listing meters usage%s", hint)
	}
	// Concord's own bar: with several licenses per account, each must be
	// billed by its own LicenseArn (the legacy per-customer path would take
	// the second license's hour for a duplicate of the first).
	switch {
	case len(inForce) == 0:
		add("metering-each-license", eachTitle, "", Fail, "Concord", "no test license is in force to meter")
	case len(untested) > 0:
		which := "it"
		if len(untested) > 1 {
			which = "each"
		}
		add("metering-each-license", eachTitle, "", Fail, "Concord", "%s: report usage for %s to show each concurrent agreement is billed by its own LicenseArn%s",
			strings.Join(untested, "; "), which, hint)
	default:
		msg := fmt.Sprintf("every test license in force was metered by its own LicenseArn (%s)", plural(len(tested), "license"))
		if len(skipped) > 0 {
			msg += "; not counted: " + strings.Join(skipped, ", ")
		}
		add("metering-each-license", eachTitle, "", Pass, "Concord", "%s", msg)
	}
	return out
}

// submission is the text for AWS's "Concurrent Agreement Opt-in" support
// case once the tests are done.
func submission(r Readiness) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Product ID: %s", r.ProductID)
	if r.Title != "" {
		fmt.Fprintf(&b, " (%s)", r.Title)
	}
	b.WriteString("\nTest transactions (Agreement ID, LicenseArn):\n")
	for _, acc := range r.Accounts {
		for _, a := range acc.Agreements {
			for _, l := range a.Licenses {
				fmt.Fprintf(&b, "  %s  %s  (buyer account %s)\n", a.AgreementID, l.LicenseArn, acc.AccountID)
			}
		}
	}
	b.WriteString("\nWe have completed the required integration updates and tested them with the transactions above. " +
		"We have tested and verified that we are ready to support concurrent agreements and understand this cannot be rolled back once enabled. " +
		"Please enable concurrent agreements for our products.\n")
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
