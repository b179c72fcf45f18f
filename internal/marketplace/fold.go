package marketplace

import (
	"sort"
	"time"
)

// The ledger is a pure function of the set of facts the inbox holds: every fold
// below sorts its facts into one canonical order before reading them, so duplicate
// and out-of-order delivery, and a replay of the inbox, all end in the same state.

// rank orders facts of one agreement by lifecycle, so an event that arrives late
// (or carries a skewed clock) can never put an ended agreement back to ACTIVE.
func rank(k EventKind) int {
	switch k {
	case KindAgreementDescribed:
		return 0
	case KindAgreementCreated:
		return 1
	case KindAgreementAmended:
		return 2
	case KindLicenseImported:
		return 3
	case KindLicenseUpdated:
		return 3
	case KindAgreementEnded:
		return 4
	case KindLicenseDeprovisioned:
		return 5
	}
	return 6
}

// SortFacts puts facts in the canonical fold order: lifecycle rank, then event
// time, then event id as a deterministic tie-breaker.
func SortFacts(facts []Fact) {
	sort.SliceStable(facts, func(i, j int) bool {
		a, b := facts[i], facts[j]
		if ra, rb := rank(a.Kind), rank(b.Kind); ra != rb {
			return ra < rb
		}
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		return a.EventID < b.EventID
	})
}

// IsSuccessorIntent reports whether a new agreement with this intent ends its
// previous agreement at once (amendments and replacement offers). A renewal does not:
// the renewed agreement runs to its end and AWS then ends it as RENEWED.
func IsSuccessorIntent(intent string) bool { return intent == IntentReplace || intent == IntentAmend }

// establishes reports whether a fact proves that its agreement exists. License and
// Ended facts alone do not: they wait in the inbox until the agreement is known.
func establishes(f Fact) bool {
	return f.Kind == KindAgreementCreated || f.Kind == KindAgreementAmended || f.Kind == KindAgreementDescribed
}

// FoldAgreement folds the facts about agreement id into its state. facts holds the
// facts whose AgreementID is id and, for lineage, the facts of other agreements
// whose PreviousAgreementID is id. ok is false while no fact establishes the
// agreement. InitialAgreementID is left to the caller, which can walk the chain.
func FoldAgreement(id string, facts []Fact) (a Agreement, ok bool) {
	own := make([]Fact, 0, len(facts))
	var successors []Fact
	for _, f := range facts {
		switch {
		case f.AgreementID == id:
			own = append(own, f)
		case f.PreviousAgreementID == id && (establishes(f) || f.Kind == KindAgreementLinked):
			successors = append(successors, f)
		}
	}
	SortFacts(own)
	a = Agreement{AgreementID: id}
	var ended, described, linked *Fact
	// renewalSet is the time of the latest event that said whether the
	// agreement renews.
	var renewalSet time.Time
	for i := range own {
		f := &own[i]
		if establishes(*f) {
			ok = true
		}
		if f.Kind == KindAgreementLinked {
			linked = f
			continue
		}
		if f.Time.After(a.LastEventTime) && f.Kind != KindAgreementDescribed && f.Kind != KindLicenseImported {
			// Only what AWS sent counts: Described and Imported facts are stamped with the time
			// Concord asked, which would make the ledger depend on job timing.
			a.LastEventTime = f.Time
		}
		switch f.Kind {
		case KindAgreementCreated, KindAgreementAmended, KindAgreementDescribed:
			if f.Kind != KindAgreementAmended || f.PreviousAgreementID != "" || a.Intent == "" {
				// An in-place amendment (Amended naming no previous
				// agreement, e.g. auto-renewal turned off) changes the
				// agreement, not how it came to be: keep its intent.
				setStr(&a.Intent, f.Intent)
			}
			setStr(&a.PreviousAgreementID, f.PreviousAgreementID)
			setStr(&a.InitialAgreementID, f.InitialAgreementID)
			setTime(&a.AcceptanceTime, f.AcceptanceTime)
			setTime(&a.StartTime, f.StartTime)
			setTime(&a.EndTime, f.EndTime)
			if f.AutoRenewal != nil {
				v := *f.AutoRenewal
				a.AutoRenewal = &v
				if f.Kind != KindAgreementDescribed && f.Time.After(renewalSet) {
					renewalSet = f.Time
				}
			}
			if f.Kind == KindAgreementDescribed {
				described = f
				if !IsTerminalStatus(f.Status) {
					setStr(&a.Status, f.Status)
				}
			} else {
				a.Status = StatusActive
				if f.Status != "" && !IsTerminalStatus(f.Status) {
					a.Status = f.Status
				}
			}
		case KindAgreementEnded:
			ended = f
		}
		setStr(&a.AcceptorAccountID, f.AcceptorAccountID)
		setStr(&a.OfferID, f.OfferID)
		setStr(&a.ProductID, f.ProductID)
		if f.Kind != KindLicenseUpdated && f.Kind != KindLicenseDeprovisioned {
			setStr(&a.ProposerAccountID, f.ProposerAccountID)
			setStr(&a.ResaleAuthorizationID, f.ResaleAuthorizationID)
		}
		if f.Role == "Manufacturer" {
			setStr(&a.ManufacturerAccountID, f.ReceiverAccountID)
		}
	}
	if !ok {
		return Agreement{}, false
	}
	if a.PreviousAgreementID == "" && linked != nil {
		a.PreviousAgreementID = linked.PreviousAgreementID
	}
	if described != nil && described.AutoRenewal != nil && described.Time.After(renewalSet) {
		// AWS stamps events to the second, so two Amended events of one
		// second (auto-renewal turned on, then off) cannot be ordered by
		// their facts. AWS's terms read after the latest event that set
		// auto-renewal can: each Amended fold queues such a read, so the
		// ledger ends on AWS's state. Later events that say nothing of
		// renewal (the agreement Ended, say) do not make that read stale.
		v := *described.AutoRenewal
		a.AutoRenewal = &v
	}
	if a.ManufacturerAccountID == "" && a.ResaleAuthorizationID == "" {
		// A direct sale: the ISV is both proposer and manufacturer, and AWS sends it
		// only the Proposer event.
		a.ManufacturerAccountID = a.ProposerAccountID
	}
	if a.Status == "" {
		a.Status = StatusActive
	}
	SortFacts(successors)
	for _, s := range successors {
		// Last successor in canonical order names the next link of the chain.
		a.NextAgreementID = s.AgreementID
	}
	switch {
	case ended != nil:
		a.Status = ended.Status
		if a.Status == "" {
			a.Status = StatusArchived
		}
		t := ended.Time
		a.EndedAt = &t
	case described != nil && IsTerminalStatus(described.Status):
		a.Status = described.Status
		t := described.Time
		a.EndedAt = &t
	default:
		for _, s := range successors {
			if IsSuccessorIntent(s.Intent) {
				// The amendment or replacement was accepted: the old agreement is
				// replaced now, even before its own Ended event arrives.
				a.Status = StatusReplaced
				t := s.Time
				if s.AcceptanceTime != nil {
					t = *s.AcceptanceTime
				}
				a.EndedAt = &t
				break
			}
		}
	}
	return a, true
}

// FoldLicense folds the License facts about one license (matched on LicenseID)
// into its state. agreementOf returns the folded agreement a license fact refers
// to; ok is false while the license's agreement is not known yet.
func FoldLicense(facts []Fact, agreementOf func(id string) (Agreement, bool), now time.Time) (l License, ok bool) {
	SortFacts(facts)
	var latest *Fact
	var deprovisioned *time.Time
	for i := range facts {
		f := &facts[i]
		switch f.Kind {
		case KindLicenseImported:
			// A backfilled license counts only until a real License event says
			// more: AWS's events are the source of truth.
			if latest == nil || latest.Kind == KindLicenseImported {
				latest = f
			}
		case KindLicenseUpdated:
			if latest == nil || latest.Kind != KindLicenseUpdated || f.Time.After(latest.Time) || (f.Time.Equal(latest.Time) && f.EventID > latest.EventID) {
				latest = f
			}
			if l.ActivatedAt == nil || f.Time.Before(*l.ActivatedAt) {
				t := f.Time
				l.ActivatedAt = &t
			}
		case KindLicenseDeprovisioned:
			if latest == nil {
				latest = f
			}
			if deprovisioned == nil || f.Time.Before(*deprovisioned) {
				t := f.Time
				deprovisioned = &t
			}
		default:
			continue
		}
		// Prefer the documented arn: spelling when events disagree on the form.
		if l.LicenseArn == "" || (len(f.LicenseArn) > 4 && f.LicenseArn[:4] == "arn:") {
			l.LicenseArn = f.LicenseArn
		}
		setStr(&l.ProductID, f.ProductID)
		setStr(&l.ProductCode, f.ProductCode)
		setStr(&l.AccountID, f.AcceptorAccountID)
		setStr(&l.CustomerIdentifier, f.CustomerIdentifier)
	}
	if latest == nil {
		return License{}, false
	}
	l.LicenseID = LicenseID(l.LicenseArn)
	if latest.Kind == KindLicenseImported && latest.AgreementID == "" {
		// Backfilled from GetEntitlements, which names no agreement: the
		// entitlement proves the license is in force, until AWS deprovisions
		// it (whether or not Concord knows the agreement that event names).
		l.State = LicenseActive
		if deprovisioned != nil {
			l.State, l.DeprovisionedAt = LicenseDeprovisioned, deprovisioned
		}
		if l.ActivatedAt == nil {
			t := latest.Time
			l.ActivatedAt = &t
		}
		return l, true
	}
	ag, found := agreementOf(latest.AgreementID)
	if !found {
		return License{}, false
	}
	l.AgreementID = ag.AgreementID
	setStr(&l.AccountID, ag.AcceptorAccountID)
	setStr(&l.ProductID, ag.ProductID)
	l.StartsAt = ag.StartTime
	switch {
	case deprovisioned != nil:
		l.State = LicenseDeprovisioned
		l.DeprovisionedAt = deprovisioned
		l.EndingAt = ag.EndedAt
	case IsTerminalStatus(ag.Status):
		l.State = LicenseEnding
		l.EndingAt = ag.EndedAt
	case ag.StartTime != nil && ag.StartTime.After(now):
		l.State = LicensePending
	default:
		l.State = LicenseActive
	}
	return l, true
}

// FoldSubscription folds legacy SNS facts about one CustomerIdentifier and product
// code: the latest action wins, which matches AWS re-sending subscribe-success
// instead of unsubscribe-success when a buyer re-subscribes in time.
func FoldSubscription(facts []Fact) (s Subscription, ok bool) {
	sort.SliceStable(facts, func(i, j int) bool {
		if !facts[i].Time.Equal(facts[j].Time) {
			return facts[i].Time.Before(facts[j].Time)
		}
		return facts[i].EventID < facts[j].EventID
	})
	for _, f := range facts {
		s.CustomerIdentifier, s.ProductCode = f.CustomerIdentifier, f.ProductCode
		if f.Time.After(s.LastEventTime) {
			s.LastEventTime = f.Time
		}
		switch f.Kind {
		case KindSubscribeSuccess:
			s.State = SubscriptionSubscribed
			setStr(&s.OfferID, f.OfferID)
			s.FreeTrial = f.FreeTrial
		case KindSubscribeFail:
			s.State = SubscriptionFailed
			setStr(&s.OfferID, f.OfferID)
		case KindUnsubscribePending:
			s.State = SubscriptionUnsubscribePending
		case KindUnsubscribeSuccess:
			s.State = SubscriptionUnsubscribed
		case KindEntitlementUpdated:
			t := f.Time
			s.EntitlementUpdatedAt = &t
		default:
			continue
		}
		ok = true
	}
	if ok && s.State == "" {
		// Only entitlement-updated so far: the buyer holds a contract.
		s.State = SubscriptionSubscribed
	}
	return s, ok
}

func setStr(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func setTime(dst **time.Time, v *time.Time) {
	if v != nil {
		t := *v
		*dst = &t
	}
}
