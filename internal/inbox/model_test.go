package inbox_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// model is the ledger a generated story must end in, worked out from the
// story itself while it is drawn: an oracle independent of Concord's folds.
type model struct {
	agreements    map[string]*modelAgreement
	licenses      map[string]*modelLicense      // by license id (l-…)
	subscriptions map[string]*modelSubscription // by customer identifier|product code
	lifecycle     []string                      // rows the lifecycle fold must end in (property_lifecycle_test.go)
}

func newModel() *model {
	return &model{agreements: map[string]*modelAgreement{}, licenses: map[string]*modelLicense{}, subscriptions: map[string]*modelSubscription{}}
}

type modelAgreement struct {
	aws                     eventbridge.Agreement // as AWS describes it
	previous, next, initial string
	start                   time.Time
	// ended is the status of the Ended event AWS sent, "" while it sent none.
	ended string
	// status is AWS's status at now: what DescribeAgreement answers.
	status string
	// replaced: a successor that ends it at once (amendment, replacement) was accepted.
	replaced bool
	// described: Concord read it with DescribeAgreement (at now).
	described bool
	// terms is AWS's auto-renewal term at now (nil: the terms have none).
	terms *bool
	// lastEvent is the latest time on an event AWS sent about it.
	lastEvent time.Time
	// renewals are the auto-renewal values AWS's events carried.
	renewals []renewalEvent
}

type renewalEvent struct {
	at time.Time
	on bool
}

type modelLicense struct {
	agreement     string
	deprovisioned bool
}

// modelSubscription is a legacy SNS subscription as its story left it.
type modelSubscription struct {
	state, offer string
	freeTrial    bool
	entitled     time.Time
}

// statusOf is the status the story gives an agreement: the one AWS's Ended
// event said; else the ended status DescribeAgreement said; else replaced
// once a successor that ends it at once was accepted; else active.
func (a *modelAgreement) statusOf() string {
	switch {
	case a.ended != "":
		return a.ended
	case a.described && a.status != marketplace.StatusActive:
		return a.status
	case a.replaced:
		return marketplace.StatusReplaced
	}
	return marketplace.StatusActive
}

// autoRenewal is what the story says of an agreement's auto-renewal: AWS's
// terms when Concord read them (at now) after the latest event AWS sent about
// it; else the latest event that carried a value (AWS stamps events to the
// second: two of one second that disagree cannot be told apart); else the
// terms read before that event; "-" when nothing said.
func (a *modelAgreement) autoRenewal(now time.Time) string {
	onOff := func(v bool) string {
		if v {
			return "on"
		}
		return "off"
	}
	if a.described && a.terms != nil && now.After(a.lastEvent) {
		return onOff(*a.terms)
	}
	if len(a.renewals) > 0 {
		latest := a.renewals[0]
		for _, r := range a.renewals[1:] {
			if !r.at.Before(latest.at) {
				latest = r
			}
		}
		for _, r := range a.renewals {
			if r.at.Equal(latest.at) && r.on != latest.on {
				return "unknowable (the story has two same-second events and no later read of the terms)"
			}
		}
		return onOff(latest.on)
	}
	if a.described && a.terms != nil {
		return onOff(*a.terms)
	}
	return "-"
}

// licenseState is what the story says of a license at now: deprovisioned
// once AWS said so; ending once its agreement ended; pending before its
// agreement starts; active otherwise (docs/architecture.md, flow 1).
func (m *model) licenseState(l *modelLicense, now time.Time) string {
	a := m.agreements[l.agreement]
	switch {
	case l.deprovisioned:
		return marketplace.LicenseDeprovisioned
	case a.statusOf() != marketplace.StatusActive:
		return marketplace.LicenseEnding
	case a.start.After(now):
		return marketplace.LicensePending
	}
	return marketplace.LicenseActive
}

// open adds agreement a to the model, following prev ("" for a chain's first).
func (m *model) open(a eventbridge.Agreement, prev string) *modelAgreement {
	ma := &modelAgreement{aws: a, previous: prev, initial: a.ID, start: a.StartTime, status: marketplace.StatusActive}
	if p := m.agreements[prev]; p != nil {
		p.next, ma.initial = a.ID, p.initial
	}
	m.agreements[a.ID] = ma
	return ma
}

// describe is what DescribeAgreement answers at now for agreement id, as
// internal/awsmp maps it (status, times, parties, offer, product; the
// renewal term in the terms).
func (m *model) describe(id string) (marketplace.AgreementDetails, bool) {
	a := m.agreements[id]
	if a == nil || !a.described {
		return marketplace.AgreementDetails{}, false
	}
	acc, start, end := a.aws.AcceptanceTime, a.aws.StartTime, a.aws.EndTime
	return marketplace.AgreementDetails{
		Fact: marketplace.Fact{AgreementID: id, InitialAgreementID: a.initial, Status: a.status, AcceptanceTime: &acc, StartTime: &start,
			EndTime: &end, AcceptorAccountID: a.aws.AcceptorAccountID, ProposerAccountID: a.aws.ProposerAccountID, OfferID: a.aws.OfferID,
			ProductID: a.aws.ProductID},
		Terms: marketplace.Terms{AutoRenew: a.terms},
	}, true
}

// DescribeAgreement answers for the story: an AgreementAPI that knows only
// the agreements the story describes.
func (m *model) DescribeAgreement(_ context.Context, id string) (marketplace.AgreementDetails, error) {
	if d, ok := m.describe(id); ok {
		return d, nil
	}
	return marketplace.AgreementDetails{}, fmt.Errorf("story: %s: %w", id, inbox.ErrAgreementNotFound)
}

// failer is what check needs of *testing.T and *rapid.T.
type failer interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// check compares db's ledger with the model: every agreement's status,
// lineage and auto-renewal, every license's agreement and state, every
// legacy subscription, nothing more, and each distinct event stored once in
// the inbox.
func (m *model) check(t failer, db *store.DB, now time.Time, events int) {
	t.Helper()
	ctx := context.Background()
	var want, got []string
	for id, a := range m.agreements {
		want = append(want, fmt.Sprintf("agreement %s %s prev=%s next=%s initial=%s auto=%s", id, a.statusOf(), a.previous, a.next, a.initial, a.autoRenewal(now)))
	}
	for id, l := range m.licenses {
		want = append(want, fmt.Sprintf("license %s on %s %s", id, l.agreement, m.licenseState(l, now)))
	}
	for key, s := range m.subscriptions {
		entitled := "-"
		if !s.entitled.IsZero() {
			entitled = fmt.Sprint(store.Millis(s.entitled))
		}
		want = append(want, fmt.Sprintf("subscription %s %s offer=%s trial=%v entitled=%s", key, s.state, s.offer, s.freeTrial, entitled))
	}
	want = append(want, fmt.Sprintf("inbox events %d", events))
	err := db.Read(ctx, func(tx *store.Tx) error {
		for _, q := range []string{
			`SELECT 'agreement ' || agreement_id || ' ' || status || ' prev=' || COALESCE(previous_agreement_id, '') ||
				' next=' || COALESCE(next_agreement_id, '') || ' initial=' || initial_agreement_id ||
				' auto=' || CASE WHEN auto_renewal IS NULL THEN '-' WHEN auto_renewal THEN 'on' ELSE 'off' END FROM agreements`,
			`SELECT 'license ' || license_id || ' on ' || agreement_id || ' ' || state FROM licenses`,
			`SELECT 'subscription ' || customer_key || ' ' || state || ' offer=' || offer_id || ' trial=' ||
				CASE WHEN free_trial THEN 'true' ELSE 'false' END || ' entitled=' || COALESCE(CAST(entitlement_updated_at AS TEXT), '-') FROM subscriptions`,
			`SELECT 'inbox events ' || CAST(COUNT(*) AS TEXT) FROM inbox_events`,
		} {
			rows, err := storetest.Rows(ctx, tx, q)
			if err != nil {
				return err
			}
			got = append(got, rows...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Fatalf("the ledger is not what the story says\nstory only:\n%s\nledger only:\n%s\nstory:\n%s\nledger:\n%s",
			strings.Join(missing(want, got), "\n"), strings.Join(missing(got, want), "\n"), strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}

// missing lists the lines of a that b lacks.
func missing(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}
