package readiness

import (
	"fmt"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
)

// checklist walks AWS's integration roadmap for Concurrent Agreements, in the
// guide's order (opt in; move from SNS to EventBridge and handle its four
// event types; ResolveCustomer, GetEntitlements and BatchMeterUsage with
// LicenseArn; LicenseArn as the key; the registration experience; metering
// by CustomerAWSAccountId and the final metering window; SDKs; backfill), and
// says for each what Concord's tables show. A step is done only when the data
// shows it happened.
func (d data) checklist(r Readiness) []ChecklistStep {
	var steps []ChecklistStep
	step := func(id, title, status string, evidence ...string) {
		steps = append(steps, ChecklistStep{N: len(steps) + 1, ID: id, Title: title, Status: status, Evidence: evidence})
	}
	p := d.product

	// Opt in. Only AWS knows the setting; what Concord sees is its effect:
	// one account holding two agreements at once, which AWS refuses otherwise.
	setting := fmt.Sprintf("Concord's setting for the product: concurrentAgreements %t (usage goes by %s)", p.ConcurrentAgreements,
		map[bool]string{true: "LicenseArn + CustomerAWSAccountId", false: "the legacy ProductCode + CustomerIdentifier path"}[p.ConcurrentAgreements])
	if acct, ids := d.concurrentAnywhere(); acct != "" {
		step("opt-in", "Enable Concurrent Agreements for the product", Done,
			fmt.Sprintf("AWS let account %s hold %d agreements at once (%s)", acct, len(ids), strings.Join(ids, ", ")), setting)
	} else {
		step("opt-in", "Enable Concurrent Agreements for the product", NotYet,
			"no account holds two agreements for the product at the same time yet (AWS refuses a second one until Concurrent Agreements is on for the account)", setting)
	}

	// EventBridge.
	eb := map[string]*eventAgg{} // by kind, over the EventBridge doors
	byDoor := map[string]int{}
	var ebAll eventAgg
	deferred, flagged := 0, 0
	for _, e := range d.events {
		if e.door != inbox.DoorHTTP && e.door != inbox.DoorSQS {
			continue
		}
		byDoor[e.door] += e.n
		merge(&ebAll, e)
		k := eb[e.kind]
		if k == nil {
			k = &eventAgg{}
			eb[e.kind] = k
		}
		merge(k, e)
		switch e.status {
		case inbox.StatusDeferred:
			deferred += e.n
		case inbox.StatusFlagged:
			flagged += e.n
		}
	}
	if ebAll.n > 0 {
		var doors []string
		if n := byDoor[inbox.DoorSQS]; n > 0 {
			doors = append(doors, fmt.Sprintf("%d from the SQS queue", n))
		}
		if n := byDoor[inbox.DoorHTTP]; n > 0 {
			doors = append(doors, fmt.Sprintf("%d at the HTTP receiver (API destination)", n))
		}
		ev := []string{fmt.Sprintf("%s received for the product (%s), last at %s", plural(ebAll.n, "EventBridge event"), strings.Join(doors, ", "), ts(ebAll.last))}
		handled := "every one applied to the ledger"
		if deferred+flagged > 0 {
			handled = fmt.Sprintf("%d waiting for what they refer to (deferred), %d of an unknown type (flagged)", deferred, flagged)
		}
		ev = append(ev, "event handlers: "+handled)
		step("eventbridge-rule", "Create the EventBridge rule (us-east-1) and its target (SQS queue or API destination); handle the new events", Done, ev...)
	} else {
		step("eventbridge-rule", "Create the EventBridge rule (us-east-1) and its target (SQS queue or API destination); handle the new events", NotYet,
			"no EventBridge event about the product has reached Concord: point the rule at the SQS queue Concord polls (--sqs-queue-url) or at /events/eventbridge (docs/aws-setup.md)")
	}
	for _, t := range []struct{ id, kind, name, waiting string }{
		{"event-agreement-created", string(marketplace.KindAgreementCreated), "Purchase Agreement Created", "it arrives when a buyer accepts an offer"},
		{"event-agreement-ended", string(marketplace.KindAgreementEnded), "Purchase Agreement Ended", "it arrives when an agreement ends: cancel a test agreement to see it and the final metering window"},
		{"event-license-updated", string(marketplace.KindLicenseUpdated), "License Updated", "it carries the LicenseArn and arrives when a license is provisioned or changed"},
		{"event-license-deprovisioned", string(marketplace.KindLicenseDeprovisioned), "License Deprovisioned", "it arrives about an hour after an agreement ends, when its license is revoked"},
	} {
		title := "Handle " + t.name + " events"
		if k := eb[t.kind]; k != nil && k.n > 0 {
			step(t.id, title, Done, fmt.Sprintf("EventBridge events received: %d %s, last at %s", k.n, t.name, ts(k.last)))
		} else {
			step(t.id, title, NotYet, fmt.Sprintf("no %s event received yet: %s", t.name, t.waiting))
		}
	}

	// Off SNS, which carries no LicenseArn.
	const snsTitle = "Move subscription notifications off Amazon SNS (no LicenseArn)"
	switch {
	case ebAll.n == 0:
		ev := "EventBridge does not deliver the product's events yet"
		if d.sns.n > 0 {
			ev += fmt.Sprintf("; SNS legacy subscription still receiving: %s, last at %s", plural(d.sns.n, "message"), ts(d.sns.last))
		}
		step("sns-retired", snsTitle, NotYet, ev)
	case d.sns.n > 0 && d.sns.last != nil && ebAll.first != nil && d.sns.last.After(*ebAll.first):
		step("sns-retired", snsTitle, NotYet, fmt.Sprintf("SNS legacy subscription still receiving: %s, last at %s, after EventBridge started on %s; "+
			"rely on EventBridge and unsubscribe Concord's /events/sns endpoint once AWS enables Concurrent Agreements", plural(d.sns.n, "message"), ts(d.sns.last), ts(ebAll.first)))
	case d.sns.n > 0:
		step("sns-retired", snsTitle, Done, fmt.Sprintf("no SNS message since EventBridge started (%s earlier, last at %s)", plural(d.sns.n, "message"), ts(d.sns.last)))
	default:
		code := p.ProductCode
		if code == "" {
			code = "(unknown)"
		}
		step("sns-retired", snsTitle, Done, "no SNS notification for product code "+code+"; its events come by EventBridge")
	}

	// The three APIs.
	reg := d.registered[marketplace.SourceRegistration]
	switch {
	case d.sessions.withArn > 0 || reg > 0:
		var ev []string
		if d.sessions.withArn > 0 {
			ev = append(ev, fmt.Sprintf("ResolveCustomer returned LicenseArn for %s (kept a week), last at %s", plural(d.sessions.withArn, "registration"), ts(d.sessions.last)))
		}
		if reg > 0 {
			ev = append(ev, fmt.Sprintf("%s attached to tenants through the registration page by the LicenseArn ResolveCustomer returned", plural(reg, "license")))
		}
		step("resolve-customer", "ResolveCustomer: keep the LicenseArn it returns", Done, ev...)
	default:
		step("resolve-customer", "ResolveCustomer: keep the LicenseArn it returns", NotYet,
			"no buyer of the product has come through the fulfillment URL yet: open the registration link of a test agreement (docs/registration.md)")
	}
	var fetched, failing int
	var lastFetch *time.Time
	lastErr := ""
	for _, s := range d.syncs {
		if s.fetched != nil {
			fetched++
			if lastFetch == nil || s.fetched.After(*lastFetch) {
				lastFetch = s.fetched
			}
		}
		if s.err != "" {
			failing++
			lastErr = s.err
		}
	}
	if fetched > 0 {
		ev := []string{fmt.Sprintf("GetEntitlements with LICENSE_ARN filter: %s fetched, last at %s", plural(fetched, "license"), ts(lastFetch))}
		if failing > 0 {
			ev = append(ev, fmt.Sprintf("%d failing, e.g. %s", failing, marketplace.Clip(lastErr, 200)))
		}
		step("get-entitlements", "GetEntitlements: filter by LICENSE_ARN", Done, ev...)
	} else {
		ev := "no license of the product has had its entitlements fetched yet (entitlement.refresh jobs run when a license is provisioned)"
		if failing > 0 {
			ev = fmt.Sprintf("GetEntitlements failed for %s: %s", plural(failing, "license"), marketplace.Clip(lastErr, 200))
		}
		step("get-entitlements", "GetEntitlements: filter by LICENSE_ARN", NotYet, ev)
	}
	lic, legacy := d.meterTotals[metering.PathLicense], d.meterTotals[metering.PathLegacy]
	count := func(m map[string]*meterAgg, status string) (int, int64, *time.Time) {
		if a := m[status]; a != nil {
			return a.n, a.units, a.last
		}
		return 0, 0, nil
	}
	total := func(m map[string]*meterAgg) int {
		n := 0
		for _, a := range m {
			n += a.n
		}
		return n
	}
	accepted, units, lastHour := count(lic, metering.StatusSuccess)
	const bmuTitle = "BatchMeterUsage: send LicenseArn, no ProductCode"
	switch {
	case !r.Metered:
		step("batch-meter-usage", bmuTitle, NotApply, r.MeteredWhy)
	case accepted > 0:
		ev := []string{fmt.Sprintf("BatchMeterUsage with LicenseArn: %s (%d units), last hour %s", plural(accepted, "accepted record"), units, ts(lastHour))}
		if rest := outcomes(lic, metering.StatusSuccess); rest != "" {
			ev = append(ev, "other outcomes: "+rest)
		}
		if n := total(legacy); n > 0 {
			ev = append(ev, fmt.Sprintf("%s by the legacy ProductCode path", plural(n, "record")))
		}
		step("batch-meter-usage", bmuTitle, Done, ev...)
	default:
		ev := "AWS has not accepted a record sent with a LicenseArn for the product yet"
		if n := total(lic); n > 0 {
			ev += " (" + outcomes(lic, "") + ")"
		}
		if n := total(legacy); n > 0 {
			ev += fmt.Sprintf("; %s went by the legacy ProductCode path", plural(n, "record"))
		}
		step("batch-meter-usage", bmuTitle, NotYet, ev)
	}

	// LicenseArn as the key.
	if d.licenseCount > 0 {
		ev := []string{fmt.Sprintf("%s of the product keyed by LicenseArn, held by %s", plural(d.licenseCount, "license"), plural(d.licenseAccts, "account"))}
		if d.multiLicense > 0 {
			ev = append(ev, fmt.Sprintf("%s %s more than one license in force", plural(d.multiLicense, "account"), map[bool]string{true: "holds", false: "hold"}[d.multiLicense == 1]))
		}
		step("license-arn-key", "Key the data by LicenseArn", Done, ev...)
	} else {
		step("license-arn-key", "Key the data by LicenseArn", NotYet, "no license of the product yet: License Updated events bring them")
	}

	// Registration experience.
	strategy := p.Registration.Normalized().Strategy
	how := fmt.Sprintf("tenant strategy: %s", strategy)
	if p.Registration.Strategy == "" {
		how += " (the default; configure it with PUT /v1/products/" + p.ProductID + ")"
	}
	attached := 0
	for _, n := range d.registered {
		attached += n
	}
	if attached > 0 {
		var by []string
		for _, src := range sortedKeys(d.registered) {
			by = append(by, fmt.Sprintf("%d by %s", d.registered[src], src))
		}
		step("registration", "Design the registration experience (separate, unified or buyer's-choice tenants)", Done, how,
			fmt.Sprintf("%d of %s attached to tenants (%s)", attached, plural(d.licenseCount, "license"), strings.Join(by, ", ")))
	} else {
		step("registration", "Design the registration experience (separate, unified or buyer's-choice tenants)", NotYet, how, "no license of the product is attached to a tenant yet")
	}

	// Metering by CustomerAWSAccountId, never both paths in one hour.
	const custTitle = "Meter by CustomerAWSAccountId (not CustomerIdentifier), never by both paths in one hour"
	switch {
	case !r.Metered:
		step("customer-aws-account-id", custTitle, NotApply, r.MeteredWhy)
	case d.dualHours > 0:
		step("customer-aws-account-id", custTitle, NotYet, fmt.Sprintf("%s metered by both LicenseArn and ProductCode: AWS bills each path separately", plural(d.dualHours, "customer-hour")))
	case total(lic) > 0:
		ev := []string{fmt.Sprintf("%s sent with CustomerAWSAccountId and LicenseArn", plural(total(lic), "record")), "no customer-hour metered by both paths"}
		if n := total(legacy); n > 0 {
			ev = append(ev, fmt.Sprintf("%s by the legacy path (ProductCode + CustomerIdentifier) in other hours", plural(n, "record")))
		}
		step("customer-aws-account-id", custTitle, Done, ev...)
	default:
		ev := "no record has been sent with CustomerAWSAccountId for the product yet"
		if n := total(legacy); n > 0 {
			ev += fmt.Sprintf("; %s by the legacy path (ProductCode + CustomerIdentifier)", plural(n, "record"))
		}
		step("customer-aws-account-id", custTitle, NotYet, ev)
	}

	// The final metering window: Purchase Agreement Ended has no LicenseArn,
	// so the license must be found from the License Updated mapping.
	const windowTitle = "Map Purchase Agreement Ended to its LicenseArn (final metering window)"
	if d.endedLicenses > 0 {
		ev := []string{fmt.Sprintf("%s entered the final metering window when %s agreement ended", plural(d.endedLicenses, "license"),
			map[bool]string{true: "its", false: "their"}[d.endedLicenses == 1])}
		if n := d.productLicsBy[marketplace.LicenseDeprovisioned]; n > 0 {
			ev = append(ev, fmt.Sprintf("%s deprovisioned (window closed)", plural(n, "license")))
		}
		step("final-metering-window", windowTitle, Done, ev...)
	} else {
		step("final-metering-window", windowTitle, NotYet, "no agreement of the product has ended with a known license yet: cancel a test agreement to see the window open and close")
	}

	// SDKs: the LicenseArn has gone through the official clients.
	var sdk []string
	if d.sessions.withArn > 0 || reg > 0 {
		sdk = append(sdk, "ResolveCustomer returned LicenseArns")
	}
	if fetched > 0 {
		sdk = append(sdk, "GetEntitlements took the LICENSE_ARN filter")
	}
	if accepted > 0 {
		sdk = append(sdk, "BatchMeterUsage took LicenseArn")
	}
	if len(sdk) > 0 {
		step("sdk", "Use AWS SDKs that support LicenseArn", Done, strings.Join(sdk, "; ")+" (AWS SDK for Go v2, pinned in go.mod)")
	} else {
		step("sdk", "Use AWS SDKs that support LicenseArn", NotYet, "no AWS call has carried a LicenseArn for the product yet")
	}

	// Backfill.
	const backfillTitle = "Backfill LicenseArns for existing (SNS-era) customers"
	switch {
	case d.legacySubs == 0 && d.backfilled == 0:
		step("backfill", backfillTitle, NotApply, "no legacy (SNS-era) subscription of the product: nobody to backfill")
	case d.legacyMapped >= d.legacySubs:
		step("backfill", backfillTitle, Done, fmt.Sprintf("%d of %s mapped to LicenseArns (%s learnt by backfill)",
			d.legacyMapped, plural(d.legacySubs, "legacy customer"), plural(d.backfilled, "license")))
	default:
		step("backfill", backfillTitle, NotYet, fmt.Sprintf("%d of %s mapped to LicenseArns: run concord backfill entitlements --product %s (contract pricing) or concord backfill import-csv (usage only)",
			d.legacyMapped, plural(d.legacySubs, "legacy customer"), p.ProductID))
	}
	return steps
}

// concurrentAnywhere finds an account of the product holding agreements of
// two lineages in force at the same time.
func (d data) concurrentAnywhere() (string, []string) {
	byAccount := map[string]*TestAccount{}
	spans := map[string]span{}
	for _, row := range d.agreements {
		acc := byAccount[row.account]
		if acc == nil {
			acc = &TestAccount{AccountID: row.account}
			byAccount[row.account] = acc
		}
		acc.Agreements = append(acc.Agreements, TestAgreement{AgreementID: row.id, InitialAgreementID: row.initial})
		spans[row.id] = spanOf(row)
	}
	for _, id := range sortedKeys(byAccount) {
		if ids := concurrent(*byAccount[id], spans); len(ids) >= 2 {
			return id, ids
		}
	}
	return "", nil
}

func merge(into *eventAgg, e eventAgg) {
	into.n += e.n
	if e.first != nil && (into.first == nil || e.first.Before(*into.first)) {
		into.first = e.first
	}
	if e.last != nil && (into.last == nil || e.last.After(*into.last)) {
		into.last = e.last
	}
}

// outcomes lists record counts by outcome, leaving out skip.
func outcomes(m map[string]*meterAgg, skip string) string {
	var parts []string
	for _, s := range sortedKeys(m) {
		if s != skip {
			parts = append(parts, fmt.Sprintf("%d %s", m[s].n, s))
		}
	}
	return strings.Join(parts, ", ")
}

func ts(t *time.Time) string {
	if t == nil {
		return "(unknown)"
	}
	return t.UTC().Format(time.RFC3339)
}
