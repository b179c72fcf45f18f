package world

import (
	"regexp"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
)

// EndingThresholds are the days before an agreement's end at which AWS sends
// Purchase Agreement Ending (buyer guide agreement-eventbridge: "Sent 180,
// 120, 90, 60, and 30 days before a purchase agreement expires"; the seller
// guide documents daysBeforeEndTime for the Proposer event).
var arnPattern = regexp.MustCompile(`^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]*:.+$`)

var EndingThresholds = []int{180, 120, 90, 60, 30}

// DefaultRenewalLockout is how long before its end an auto-renewing
// agreement reaches its lockout (the renewal decision deadline) unless the
// config says otherwise. AWS sets it per offer (the RenewalTerm's
// LockoutPeriod, e.g. P30D in the Discovery API reference); the emulator's
// offers do not carry one, so this is its default.
const DefaultRenewalLockout = 30 * 24 * time.Hour

func (s *State) renewalLockout() time.Duration {
	if s.Config.RenewalLockout > 0 {
		return s.Config.RenewalLockout
	}
	return DefaultRenewalLockout
}

// tickNotices sends, once each, what AWS announces before an active
// agreement ends: Purchase Agreement Ending at each threshold that falls
// after the agreement was accepted and started, and Purchase Agreement Renewal Upcoming
// at the lockout of an agreement that renews automatically. Both are Proposer
// events: the ISV of a partner's (CPPO) agreement does not receive them.
func (s *State) tickNotices(due func(time.Time) bool) {
	for _, id := range SortedKeys(s.Agreements) {
		a := s.Agreements[id]
		if a.Status != "ACTIVE" || a.EndTime == nil || a.ResaleAuthorizationID != "" {
			continue
		}
		lockout := a.EndTime.Add(-s.renewalLockout())
		// Notices fall after the agreement was accepted and has started: a
		// renewal accepted ahead is not announced before it runs.
		from := a.AcceptanceTime
		if a.StartTime.After(from) {
			from = a.StartTime
		}
		for _, days := range EndingThresholds {
			at := a.EndTime.Add(-time.Duration(days) * 24 * time.Hour)
			key := "ending-" + itoa(days)
			if a.Notices[key] || !at.After(from) || !due(at) {
				continue
			}
			s.notice(a, key)
			s.emit(eventbridge.Ending(s.Config.SellerAccountID, s.ebAgreement(a), days, lockout, s.now))
		}
		if a.AutoRenew && a.RenewedBy == "" && !a.Notices["renewal-upcoming"] && lockout.After(from) && due(lockout) {
			s.notice(a, "renewal-upcoming")
			v := s.agreementAPIView(a)
			s.emit(eventbridge.RenewalUpcoming(s.Config.SellerAccountID, s.ebAgreement(a), v.EstimatedValue, v.Currency, s.now))
		}
	}
}

func (s *State) notice(a *Agreement, key string) {
	if a.Notices == nil {
		a.Notices = map[string]bool{}
	}
	a.Notices[key] = true
}

// IssueAdvisory plays AWS issuing an advisory that may affect an agreement
// (Purchase Agreement Advisory Issued - Manufacturer). There is no AWS API
// that does this: it is a sandbox action.
func (s *State) IssueAdvisory(agreementID string) (*Agreement, error) {
	a := s.Agreements[agreementID]
	if a == nil {
		return nil, Errorf(CodeNotFound, "agreement %s not found", agreementID)
	}
	if a.AdvisoryIssuedAt != nil {
		return nil, Errorf(CodeConflict, "agreement %s already has an open advisory, issued %s", a.ID, a.AdvisoryIssuedAt.Format(time.RFC3339))
	}
	t := s.now
	a.AdvisoryIssuedAt = &t
	s.emit(eventbridge.Advisory(s.Config.SellerAccountID, s.ebAgreement(a), false, t, s.now))
	return a, nil
}

// ResolveAdvisory resolves an agreement's open advisory (Purchase Agreement
// Advisory Resolved - Manufacturer).
func (s *State) ResolveAdvisory(agreementID string) (*Agreement, error) {
	a := s.Agreements[agreementID]
	if a == nil {
		return nil, Errorf(CodeNotFound, "agreement %s not found", agreementID)
	}
	if a.AdvisoryIssuedAt == nil {
		return nil, Errorf(CodeConflict, "agreement %s has no open advisory", a.ID)
	}
	a.AdvisoryIssuedAt = nil
	s.emit(eventbridge.Advisory(s.Config.SellerAccountID, s.ebAgreement(a), true, s.now, s.now))
	return a, nil
}

// PauseDisbursement plays AWS pausing the seller's disbursements (Disbursement
// Paused, source aws.marketplace), as when its bank details fail. A sandbox
// action: no AWS API does it.
func (s *State) PauseDisbursement(paymentInstrumentArn string) error {
	if len(paymentInstrumentArn) > 2048 {
		return Errorf(CodeValidation, "paymentInstrumentArn is too long")
	}
	if paymentInstrumentArn != "" && !arnPattern.MatchString(paymentInstrumentArn) {
		return Errorf(CodeValidation, "paymentInstrumentArn %q is not an ARN", paymentInstrumentArn)
	}
	s.emit(eventbridge.DisbursementPaused(s.Config.SellerAccountID, paymentInstrumentArn, s.now))
	return nil
}
