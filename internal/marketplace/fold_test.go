package marketplace_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	eb "github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/marketplace"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// at is t0 plus h hours.
func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

func tp(h int) *time.Time { t := at(h); return &t }

func bp(b bool) *bool { return &b }

// created is a direct-sale Created - Proposer fact for agreement id at hour h.
func created(id string, h int) marketplace.Fact {
	return marketplace.Fact{EventID: fmt.Sprintf("created-%s-%d", id, h), Kind: marketplace.KindAgreementCreated, Time: at(h),
		Role: "Proposer", AgreementID: id, Intent: marketplace.IntentNew, Status: marketplace.StatusActive,
		AcceptanceTime: tp(h), StartTime: tp(h), EndTime: tp(h + 24*365), AcceptorAccountID: buyer,
		ProposerAccountID: isv, ReceiverAccountID: isv, OfferID: "offer-" + id, ProductID: "prod-1"}
}

func amended(id string, h int) marketplace.Fact {
	f := created(id, h)
	f.EventID, f.Kind, f.Intent = fmt.Sprintf("amended-%s-%d", id, h), marketplace.KindAgreementAmended, marketplace.IntentAmend
	return f
}

// successor is a Created (or Amended for AMEND) fact of agreement id that follows prev.
func successor(id, prev, intent string, h int) marketplace.Fact {
	f := created(id, h)
	if intent == marketplace.IntentAmend {
		f = amended(id, h)
	}
	f.Intent, f.PreviousAgreementID = intent, prev
	return f
}

func ended(id, status string, h int) marketplace.Fact {
	return marketplace.Fact{EventID: fmt.Sprintf("ended-%s-%d", id, h), Kind: marketplace.KindAgreementEnded, Time: at(h),
		Role: "Proposer", AgreementID: id, Status: status, AcceptorAccountID: buyer, ProposerAccountID: isv,
		ReceiverAccountID: isv, OfferID: "offer-" + id}
}

func described(id, status string, h int) marketplace.Fact {
	f := created(id, 0)
	f.EventID, f.Kind, f.Time, f.Status, f.Role, f.ReceiverAccountID = fmt.Sprintf("described-%s-%d", id, h),
		marketplace.KindAgreementDescribed, at(h), status, "", ""
	return f
}

func licenseUpdated(agreementID, arn string, h int) marketplace.Fact {
	return marketplace.Fact{EventID: fmt.Sprintf("lu-%s-%d", agreementID, h), Kind: marketplace.KindLicenseUpdated, Time: at(h),
		Role: "Manufacturer", AgreementID: agreementID, LicenseArn: arn, AcceptorAccountID: buyer, ProposerAccountID: isv,
		ReceiverAccountID: isv, ProductID: "prod-1", ProductCode: "code1", OfferID: "offer-" + agreementID}
}

func licenseDeprovisioned(agreementID, arn string, h int) marketplace.Fact {
	f := licenseUpdated(agreementID, arn, h)
	f.EventID, f.Kind = fmt.Sprintf("ld-%s-%d", agreementID, h), marketplace.KindLicenseDeprovisioned
	return f
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "<nil>"
	}
	return t.Format(time.RFC3339)
}

func TestFoldAgreement(t *testing.T) {
	t.Parallel()
	const A, B = "agmt-A", "agmt-B"
	tests := []struct {
		name    string
		facts   []marketplace.Fact
		ok      bool
		status  string
		endedAt *time.Time
		next    string
	}{
		{"created alone is active", []marketplace.Fact{created(A, 0)}, true, marketplace.StatusActive, nil, ""},
		{"no facts are not an agreement", nil, false, "", nil, ""},
		{"ended alone does not establish the agreement", []marketplace.Fact{ended(A, marketplace.StatusExpired, 5)}, false, "", nil, ""},
		{"license alone does not establish the agreement", []marketplace.Fact{licenseUpdated(A, "l-1", 1)}, false, "", nil, ""},
		{"facts of another agreement are ignored", []marketplace.Fact{created(B, 0)}, false, "", nil, ""},
		{"amended alone establishes the agreement", []marketplace.Fact{amended(A, 2)}, true, marketplace.StatusActive, nil, ""},
		{"described alone establishes the agreement", []marketplace.Fact{described(A, marketplace.StatusActive, 2)}, true, marketplace.StatusActive, nil, ""},
		{"described without status is active", []marketplace.Fact{described(A, "", 2)}, true, marketplace.StatusActive, nil, ""},

		{"ended sets its status and time", []marketplace.Fact{created(A, 0), ended(A, marketplace.StatusExpired, 5)},
			true, marketplace.StatusExpired, tp(5), ""},
		{"ended wins over a later amended", []marketplace.Fact{created(A, 0), ended(A, marketplace.StatusCancelled, 5), amended(A, 10)},
			true, marketplace.StatusCancelled, tp(5), ""},
		{"ended wins over a later amended in any order", []marketplace.Fact{amended(A, 10), ended(A, marketplace.StatusCancelled, 5), created(A, 0)},
			true, marketplace.StatusCancelled, tp(5), ""},
		{"ended before created arrives still ends", []marketplace.Fact{ended(A, marketplace.StatusTerminated, 1), created(A, 3)},
			true, marketplace.StatusTerminated, tp(1), ""},
		{"ended without status is archived", []marketplace.Fact{created(A, 0), ended(A, "", 5)}, true, marketplace.StatusArchived, tp(5), ""},
		{"latest of two ended facts wins", []marketplace.Fact{created(A, 0), ended(A, marketplace.StatusExpired, 7), ended(A, marketplace.StatusCancelled, 5)},
			true, marketplace.StatusExpired, tp(7), ""},

		{"replace successor replaces the previous agreement", []marketplace.Fact{created(A, 0), successor(B, A, marketplace.IntentReplace, 4)},
			true, marketplace.StatusReplaced, tp(4), B},
		{"amend successor replaces the previous agreement", []marketplace.Fact{created(A, 0), successor(B, A, marketplace.IntentAmend, 6)},
			true, marketplace.StatusReplaced, tp(6), B},
		{"successor acceptance time is the end time", func() []marketplace.Fact {
			s := successor(B, A, marketplace.IntentReplace, 6)
			s.AcceptanceTime = tp(5)
			return []marketplace.Fact{created(A, 0), s}
		}(), true, marketplace.StatusReplaced, tp(5), B},
		{"successor without acceptance time ends at its event time", func() []marketplace.Fact {
			s := successor(B, A, marketplace.IntentReplace, 6)
			s.AcceptanceTime = nil
			return []marketplace.Fact{created(A, 0), s}
		}(), true, marketplace.StatusReplaced, tp(6), B},
		{"renew successor does not end the previous agreement", []marketplace.Fact{created(A, 0), successor(B, A, marketplace.IntentRenew, 4)},
			true, marketplace.StatusActive, nil, B},
		{"renewed agreement ends with its ended event", []marketplace.Fact{created(A, 0), successor(B, A, marketplace.IntentRenew, 4), ended(A, marketplace.StatusRenewed, 8)},
			true, marketplace.StatusRenewed, tp(8), B},
		{"ended wins over a replace successor", []marketplace.Fact{created(A, 0), successor(B, A, marketplace.IntentReplace, 4), ended(A, marketplace.StatusReplaced, 5)},
			true, marketplace.StatusReplaced, tp(5), B},
		{"successor license facts do not replace", func() []marketplace.Fact {
			l := licenseUpdated(B, "l-2", 4)
			l.PreviousAgreementID = A
			return []marketplace.Fact{created(A, 0), l}
		}(), true, marketplace.StatusActive, nil, ""},
		{"successor alone does not establish the previous agreement", []marketplace.Fact{successor(B, A, marketplace.IntentReplace, 4)}, false, "", nil, ""},

		{"described terminal status ends without an ended fact", []marketplace.Fact{created(A, 0), described(A, marketplace.StatusExpired, 9)},
			true, marketplace.StatusExpired, tp(9), ""},
		{"ended fact wins over a described terminal status", []marketplace.Fact{created(A, 0), described(A, marketplace.StatusExpired, 9), ended(A, marketplace.StatusCancelled, 5)},
			true, marketplace.StatusCancelled, tp(5), ""},
		{"described terminal status wins over a replace successor", []marketplace.Fact{created(A, 0), described(A, marketplace.StatusSuperseded, 9), successor(B, A, marketplace.IntentReplace, 4)},
			true, marketplace.StatusSuperseded, tp(9), B},
		{"described active status does not end", []marketplace.Fact{created(A, 0), described(A, marketplace.StatusActive, 9)},
			true, marketplace.StatusActive, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, ok := marketplace.FoldAgreement(A, tt.facts)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				if !reflect.DeepEqual(a, marketplace.Agreement{}) {
					t.Errorf("unfolded agreement is not zero: %s", js(a))
				}
				return
			}
			if a.AgreementID != A || a.Status != tt.status || !equalTime(a.EndedAt, tt.endedAt) || a.NextAgreementID != tt.next {
				t.Errorf("got id %s status %s endedAt %s next %q; want status %s endedAt %s next %q",
					a.AgreementID, a.Status, fmtTime(a.EndedAt), a.NextAgreementID, tt.status, fmtTime(tt.endedAt), tt.next)
			}
		})
	}
}

func TestFoldAgreementFields(t *testing.T) {
	t.Parallel()
	const A = "agmt-A"
	t.Run("amendment updates terms and auto-renewal", func(t *testing.T) {
		t.Parallel()
		am := amended(A, 10)
		am.EndTime, am.AutoRenewal, am.OfferID = tp(24*730), bp(false), "offer-2"
		c := created(A, 0)
		c.AutoRenewal = bp(true)
		a, ok := marketplace.FoldAgreement(A, []marketplace.Fact{am, c})
		if !ok {
			t.Fatal("not folded")
		}
		if !equalTime(a.EndTime, tp(24*730)) || a.AutoRenewal == nil || *a.AutoRenewal || a.OfferID != "offer-2" {
			t.Errorf("agreement = %s", js(a))
		}
		// An in-place amendment changes the agreement, not how it came to
		// be: the Created event's intent stays.
		if a.Intent != marketplace.IntentNew || !equalTime(a.StartTime, tp(10)) {
			t.Errorf("intent %s start %s", a.Intent, fmtTime(a.StartTime))
		}
		if !a.LastEventTime.Equal(at(10)) {
			t.Errorf("lastEventTime = %v", a.LastEventTime)
		}
	})
	t.Run("auto-renewal of two amendments in one second follows AWS's terms read after them", func(t *testing.T) {
		t.Parallel()
		on, off := amended(A, 10), amended(A, 10)
		on.EventID, on.AutoRenewal = "z-on", bp(true) // sorts after "off" by id
		off.EventID, off.AutoRenewal = "a-off", bp(false)
		read := described(A, marketplace.StatusActive, 11)
		read.AutoRenewal = bp(false)
		for _, facts := range [][]marketplace.Fact{{created(A, 0), on, off, read}, {read, off, created(A, 0), on}} {
			if a, _ := marketplace.FoldAgreement(A, facts); a.AutoRenewal == nil || *a.AutoRenewal {
				t.Errorf("auto-renewal = %s, want false as AWS's terms say", js(a.AutoRenewal))
			}
		}
		// The agreement ends after the read: the Ended event says nothing of
		// renewal, so the read still decides (the crash test's cancelled
		// agreement, issue 19).
		for _, facts := range [][]marketplace.Fact{{created(A, 0), on, off, read, ended(A, marketplace.StatusCancelled, 12)},
			{ended(A, marketplace.StatusCancelled, 12), read, on, created(A, 0), off}} {
			if a, _ := marketplace.FoldAgreement(A, facts); a.AutoRenewal == nil || *a.AutoRenewal {
				t.Errorf("auto-renewal = %s after the agreement ended, want false as AWS's terms read before its end say", js(a.AutoRenewal))
			}
		}
		// A read older than the latest event says nothing about it.
		read.Time, read.AutoRenewal = at(9), bp(true)
		later := amended(A, 12)
		later.AutoRenewal = bp(false)
		if a, _ := marketplace.FoldAgreement(A, []marketplace.Fact{created(A, 0), later, read}); a.AutoRenewal == nil || *a.AutoRenewal {
			t.Errorf("auto-renewal = %s, want the later event's false", js(a.AutoRenewal))
		}
	})
	t.Run("last event time counts every own fact", func(t *testing.T) {
		t.Parallel()
		a, _ := marketplace.FoldAgreement(A, []marketplace.Fact{created(A, 0), licenseDeprovisioned(A, "l-1", 30), ended(A, marketplace.StatusExpired, 20)})
		if !a.LastEventTime.Equal(at(30)) {
			t.Errorf("lastEventTime = %v, want %v", a.LastEventTime, at(30))
		}
	})
	t.Run("later successor names the next agreement", func(t *testing.T) {
		t.Parallel()
		a, _ := marketplace.FoldAgreement(A, []marketplace.Fact{created(A, 0),
			successor("agmt-C", A, marketplace.IntentReplace, 9), successor("agmt-B", A, marketplace.IntentReplace, 4)})
		if a.NextAgreementID != "agmt-C" || !equalTime(a.EndedAt, tp(4)) {
			t.Errorf("next %q endedAt %s", a.NextAgreementID, fmtTime(a.EndedAt))
		}
	})
	t.Run("does not modify its input", func(t *testing.T) {
		t.Parallel()
		in := []marketplace.Fact{ended(A, marketplace.StatusExpired, 5), created(A, 0)}
		before := js(in)
		marketplace.FoldAgreement(A, in)
		if js(in) != before {
			t.Error("FoldAgreement reordered or changed its input")
		}
	})
}

// TestFoldAgreementManufacturer folds parsed builder events so the role and
// receiving account are exactly what AWS would send.
func TestFoldAgreementManufacturer(t *testing.T) {
	t.Parallel()
	arn := eb.LicenseArn(buyer, licID)
	tests := []struct {
		name         string
		agreement    eb.Agreement
		events       func(a eb.Agreement) [][]byte
		manufacturer string
		proposer     string
		resale       string
	}{
		{"direct sale: proposer is the manufacturer", direct(), func(a eb.Agreement) [][]byte {
			return [][]byte{eb.Created(isv, a, evTime)}
		}, isv, isv, ""},
		{"direct sale with license event", direct(), func(a eb.Agreement) [][]byte {
			return [][]byte{eb.LicenseUpdated(isv, a, arn, evTime.Add(time.Minute)), eb.Created(isv, a, evTime)}
		}, isv, isv, ""},
		{"CPPO seen by the ISV: receiver is the manufacturer", cppo(), func(a eb.Agreement) [][]byte {
			return [][]byte{eb.Created(isv, a, evTime), eb.LicenseUpdated(isv, a, arn, evTime.Add(time.Minute))}
		}, isv, partner, "resaleauthz-1"},
		{"CPPO seen by the partner: manufacturer unknown", cppo(), func(a eb.Agreement) [][]byte {
			b := eb.Created(partner, a, evTime)
			// The partner receives the Proposer variant.
			return [][]byte{mutate(t, b, func(m map[string]any) { m["detail-type"] = "Purchase Agreement Created - Proposer" })}
		}, "", partner, "resaleauthz-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var facts []marketplace.Fact
			for _, b := range tt.events(tt.agreement) {
				facts = append(facts, mustParse(t, b).Fact)
			}
			a, ok := marketplace.FoldAgreement(tt.agreement.ID, facts)
			if !ok {
				t.Fatal("not folded")
			}
			if a.ManufacturerAccountID != tt.manufacturer || a.ProposerAccountID != tt.proposer || a.ResaleAuthorizationID != tt.resale {
				t.Errorf("manufacturer %q proposer %q resale %q; want %q %q %q", a.ManufacturerAccountID, a.ProposerAccountID,
					a.ResaleAuthorizationID, tt.manufacturer, tt.proposer, tt.resale)
			}
			if a.AcceptorAccountID != buyer || a.Status != marketplace.StatusActive {
				t.Errorf("agreement = %s", js(a))
			}
		})
	}
}

func TestFoldLicense(t *testing.T) {
	t.Parallel()
	const A, B = "agmt-A", "agmt-B"
	arn := eb.LicenseArn(buyer, licID)
	docArn := "aws:license-manager:us-east-1:" + buyer + ":" + licID
	now := at(100)
	agreements := map[string]marketplace.Agreement{
		A:           {AgreementID: A, Status: marketplace.StatusActive, StartTime: tp(0), AcceptorAccountID: buyer, ProductID: "prod-1"},
		B:           {AgreementID: B, Status: marketplace.StatusActive, StartTime: tp(50), AcceptorAccountID: buyer, ProductID: "prod-2"},
		"future":    {AgreementID: "future", Status: marketplace.StatusActive, StartTime: tp(200), AcceptorAccountID: buyer},
		"expired":   {AgreementID: "expired", Status: marketplace.StatusExpired, StartTime: tp(0), EndedAt: tp(90), AcceptorAccountID: buyer},
		"nostart":   {AgreementID: "nostart", Status: marketplace.StatusActive, AcceptorAccountID: buyer},
		"cancelled": {AgreementID: "cancelled", Status: marketplace.StatusCancelled, StartTime: tp(200), EndedAt: tp(95), AcceptorAccountID: buyer},
	}
	lookup := func(id string) (marketplace.Agreement, bool) { a, ok := agreements[id]; return a, ok }
	tests := []struct {
		name          string
		facts         []marketplace.Fact
		ok            bool
		state         string
		agreement     string
		endingAt      *time.Time
		deprovisioned *time.Time
	}{
		{"active once updated", []marketplace.Fact{licenseUpdated(A, arn, 1)}, true, marketplace.LicenseActive, A, nil, nil},
		{"active without a start time", []marketplace.Fact{licenseUpdated("nostart", arn, 1)}, true, marketplace.LicenseActive, "nostart", nil, nil},
		{"pending while the agreement starts in the future", []marketplace.Fact{licenseUpdated("future", arn, 1)}, true, marketplace.LicensePending, "future", nil, nil},
		{"ending when the agreement is terminal", []marketplace.Fact{licenseUpdated("expired", arn, 1)}, true, marketplace.LicenseEnding, "expired", tp(90), nil},
		{"ending wins over pending", []marketplace.Fact{licenseUpdated("cancelled", arn, 1)}, true, marketplace.LicenseEnding, "cancelled", tp(95), nil},
		{"deprovisioned after deprovisioning", []marketplace.Fact{licenseUpdated("expired", arn, 1), licenseDeprovisioned("expired", arn, 91)},
			true, marketplace.LicenseDeprovisioned, "expired", tp(90), tp(91)},
		{"deprovisioned wins over a later update", []marketplace.Fact{licenseDeprovisioned(A, arn, 5), licenseUpdated(A, arn, 9)},
			true, marketplace.LicenseDeprovisioned, A, nil, tp(5)},
		{"earliest deprovisioning counts", []marketplace.Fact{licenseDeprovisioned(A, arn, 7), licenseDeprovisioned(A, arn, 5), licenseUpdated(A, arn, 1)},
			true, marketplace.LicenseDeprovisioned, A, nil, tp(5)},
		{"deprovisioned alone", []marketplace.Fact{licenseDeprovisioned(A, arn, 5)}, true, marketplace.LicenseDeprovisioned, A, nil, tp(5)},
		{"follows the agreement of the latest update", []marketplace.Fact{licenseUpdated(A, arn, 1), licenseUpdated(B, arn, 60)},
			true, marketplace.LicenseActive, B, nil, nil},
		{"follows the latest update in any order", []marketplace.Fact{licenseUpdated(B, arn, 60), licenseUpdated(A, arn, 1)},
			true, marketplace.LicenseActive, B, nil, nil},
		{"an older update does not move it back", []marketplace.Fact{licenseUpdated(B, arn, 60), licenseUpdated(A, arn, 70), licenseUpdated(B, arn, 65)},
			true, marketplace.LicenseActive, A, nil, nil},
		{"not folded while its agreement is unknown", []marketplace.Fact{licenseUpdated("agmt-unknown", arn, 1)}, false, "", "", nil, nil},
		{"not folded while the latest agreement is unknown", []marketplace.Fact{licenseUpdated(A, arn, 1), licenseUpdated("agmt-unknown", arn, 2)}, false, "", "", nil, nil},
		{"not folded without license facts", []marketplace.Fact{created(A, 0), ended(A, marketplace.StatusExpired, 1)}, false, "", "", nil, nil},
		{"not folded without facts", nil, false, "", "", nil, nil},
		{"documented arn spelling is folded too", []marketplace.Fact{licenseUpdated(A, docArn, 1)}, true, marketplace.LicenseActive, A, nil, nil},
		{"imported without an agreement is active", []marketplace.Fact{imported("", arn, 1)}, true, marketplace.LicenseActive, "", nil, nil},
		{"imported then deprovisioned for an unknown agreement", []marketplace.Fact{imported("", arn, 1), licenseDeprovisioned("agmt-unknown", arn, 5)},
			true, marketplace.LicenseDeprovisioned, "", nil, tp(5)},
		{"imported then deprovisioned for a known agreement", []marketplace.Fact{imported("", arn, 1), licenseDeprovisioned("expired", arn, 95)},
			true, marketplace.LicenseDeprovisioned, "", nil, tp(95)},
		{"imported with its agreement folds like an update", []marketplace.Fact{imported("expired", arn, 1)}, true, marketplace.LicenseEnding, "expired", tp(90), nil},
		{"a real update wins over an import", []marketplace.Fact{imported("", arn, 1), licenseUpdated(B, arn, 60)}, true, marketplace.LicenseActive, B, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, ok := marketplace.FoldLicense(tt.facts, lookup, now)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (%s)", ok, tt.ok, js(l))
			}
			if !ok {
				return
			}
			if l.State != tt.state || l.AgreementID != tt.agreement || !equalTime(l.EndingAt, tt.endingAt) || !equalTime(l.DeprovisionedAt, tt.deprovisioned) {
				t.Errorf("state %s agreement %s endingAt %s deprovisionedAt %s; want %s %s %s %s", l.State, l.AgreementID,
					fmtTime(l.EndingAt), fmtTime(l.DeprovisionedAt), tt.state, tt.agreement, fmtTime(tt.endingAt), fmtTime(tt.deprovisioned))
			}
			if l.LicenseID != licID {
				t.Errorf("licenseId = %q", l.LicenseID)
			}
			if !marketplace.ValidLicenseState(l.State) {
				t.Errorf("invalid state %q", l.State)
			}
			if !equalTime(l.StartsAt, agreements[l.AgreementID].StartTime) {
				t.Errorf("startsAt = %s, want the agreement's start", fmtTime(l.StartsAt))
			}
		})
	}

	t.Run("prefers the arn spelling", func(t *testing.T) {
		t.Parallel()
		for _, facts := range [][]marketplace.Fact{
			{licenseUpdated(A, docArn, 1), licenseUpdated(A, arn, 2)},
			{licenseUpdated(A, arn, 1), licenseUpdated(A, docArn, 2)},
		} {
			l, _ := marketplace.FoldLicense(facts, lookup, now)
			if l.LicenseArn != arn || l.LicenseID != licID {
				t.Errorf("licenseArn %q licenseId %q", l.LicenseArn, l.LicenseID)
			}
		}
	})
	t.Run("activated at the first update", func(t *testing.T) {
		t.Parallel()
		l, _ := marketplace.FoldLicense([]marketplace.Fact{licenseUpdated(A, arn, 9), licenseUpdated(A, arn, 3)}, lookup, now)
		if !equalTime(l.ActivatedAt, tp(3)) {
			t.Errorf("activatedAt = %s", fmtTime(l.ActivatedAt))
		}
		l, _ = marketplace.FoldLicense([]marketplace.Fact{licenseDeprovisioned(A, arn, 3)}, lookup, now)
		if l.ActivatedAt != nil {
			t.Errorf("deprovisioned-only license has activatedAt %s", fmtTime(l.ActivatedAt))
		}
	})
	t.Run("account and product fall back to the agreement", func(t *testing.T) {
		t.Parallel()
		f := licenseUpdated(A, arn, 1)
		f.AcceptorAccountID, f.ProductID = "", ""
		l, _ := marketplace.FoldLicense([]marketplace.Fact{f}, lookup, now)
		if l.AccountID != buyer || l.ProductID != "prod-1" || l.ProductCode != "code1" {
			t.Errorf("license = %s", js(l))
		}
	})
	t.Run("pending turns active once the start passes", func(t *testing.T) {
		t.Parallel()
		facts := []marketplace.Fact{licenseUpdated("future", arn, 1)}
		for _, c := range []struct {
			now   time.Time
			state string
		}{{at(199), marketplace.LicensePending}, {at(200), marketplace.LicenseActive}, {at(201), marketplace.LicenseActive}} {
			if l, _ := marketplace.FoldLicense(facts, lookup, c.now); l.State != c.state {
				t.Errorf("at %v: state %s, want %s", c.now, l.State, c.state)
			}
		}
	})
}

func TestFoldSubscription(t *testing.T) {
	t.Parallel()
	sns := func(kind marketplace.EventKind, h int) marketplace.Fact {
		return marketplace.Fact{EventID: fmt.Sprintf("sns-%s-%d", kind, h), Kind: kind, Time: at(h), CustomerIdentifier: "cust1", ProductCode: "code1"}
	}
	withOffer := func(f marketplace.Fact, offer string, trial bool) marketplace.Fact {
		f.OfferID, f.FreeTrial = offer, trial
		return f
	}
	const (
		success = marketplace.KindSubscribeSuccess
		fail    = marketplace.KindSubscribeFail
		pending = marketplace.KindUnsubscribePending
		unsub   = marketplace.KindUnsubscribeSuccess
		ent     = marketplace.KindEntitlementUpdated
	)
	tests := []struct {
		name      string
		facts     []marketplace.Fact
		ok        bool
		state     string
		offer     string
		freeTrial bool
		last      int
	}{
		{"subscribe success", []marketplace.Fact{withOffer(sns(success, 1), "offer-1", true)}, true, marketplace.SubscriptionSubscribed, "offer-1", true, 1},
		{"subscribe fail", []marketplace.Fact{withOffer(sns(fail, 1), "offer-1", false)}, true, marketplace.SubscriptionFailed, "offer-1", false, 1},
		{"unsubscribe pending", []marketplace.Fact{sns(success, 1), sns(pending, 2)}, true, marketplace.SubscriptionUnsubscribePending, "", false, 2},
		{"unsubscribed", []marketplace.Fact{sns(success, 1), sns(pending, 2), sns(unsub, 3)}, true, marketplace.SubscriptionUnsubscribed, "", false, 3},
		{"re-subscribe after unsubscribe pending", []marketplace.Fact{withOffer(sns(success, 1), "offer-1", false), sns(pending, 2), withOffer(sns(success, 3), "offer-2", false)},
			true, marketplace.SubscriptionSubscribed, "offer-2", false, 3},
		{"latest action wins whatever the arrival order", []marketplace.Fact{sns(unsub, 3), sns(success, 1), sns(pending, 2)}, true, marketplace.SubscriptionUnsubscribed, "", false, 3},
		{"success after fail", []marketplace.Fact{sns(fail, 1), sns(success, 2)}, true, marketplace.SubscriptionSubscribed, "", false, 2},
		{"entitlement update alone means subscribed", []marketplace.Fact{sns(ent, 4)}, true, marketplace.SubscriptionSubscribed, "", false, 4},
		{"entitlement update keeps the state", []marketplace.Fact{sns(success, 1), sns(pending, 2), sns(ent, 3)}, true, marketplace.SubscriptionUnsubscribePending, "", false, 3},
		{"free trial follows the latest success", []marketplace.Fact{withOffer(sns(success, 1), "offer-1", true), withOffer(sns(success, 2), "", false)},
			true, marketplace.SubscriptionSubscribed, "offer-1", false, 2},
		{"same time breaks ties on event id", []marketplace.Fact{
			{EventID: "b", Kind: pending, Time: at(1), CustomerIdentifier: "cust1", ProductCode: "code1"},
			{EventID: "a", Kind: success, Time: at(1), CustomerIdentifier: "cust1", ProductCode: "code1"}},
			true, marketplace.SubscriptionUnsubscribePending, "", false, 1},
		{"no facts", nil, false, "", "", false, 0},
		{"unknown actions alone are not a subscription", []marketplace.Fact{sns(marketplace.KindUnknown, 1)}, false, "", "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, ok := marketplace.FoldSubscription(tt.facts)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if s.State != tt.state || s.OfferID != tt.offer || s.FreeTrial != tt.freeTrial || !s.LastEventTime.Equal(at(tt.last)) {
				t.Errorf("got %s; want state %s offer %q freeTrial %v last %v", js(s), tt.state, tt.offer, tt.freeTrial, at(tt.last))
			}
			if s.CustomerIdentifier != "cust1" || s.ProductCode != "code1" {
				t.Errorf("customer %q product %q", s.CustomerIdentifier, s.ProductCode)
			}
		})
	}
	t.Run("entitlement time is recorded", func(t *testing.T) {
		t.Parallel()
		s, _ := marketplace.FoldSubscription([]marketplace.Fact{sns(success, 1), sns(ent, 5), sns(ent, 3)})
		if !equalTime(s.EntitlementUpdatedAt, tp(5)) {
			t.Errorf("entitlementUpdatedAt = %s", fmtTime(s.EntitlementUpdatedAt))
		}
	})
}

func TestSortFacts(t *testing.T) {
	t.Parallel()
	const A = "agmt-A"
	facts := []marketplace.Fact{
		licenseDeprovisioned(A, "l-1", 1), ended(A, marketplace.StatusExpired, 0), licenseUpdated(A, "l-1", 9),
		amended(A, 2), created(A, 5), described(A, marketplace.StatusActive, 8),
		{EventID: "b", Kind: marketplace.KindAgreementCreated, Time: at(5)}, {EventID: "a", Kind: marketplace.KindAgreementCreated, Time: at(5)},
	}
	marketplace.SortFacts(facts)
	var got []string
	for _, f := range facts {
		got = append(got, f.EventID)
	}
	want := []string{"described-agmt-A-8", "a", "b", "created-agmt-A-5", "amended-agmt-A-2", "lu-agmt-A-9", "ended-agmt-A-0", "ld-agmt-A-1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order:\n got %v\nwant %v", got, want)
	}
}

// genFacts draws a multiset of facts about agreement "agmt-A" and the agreements
// that follow it. Times come from a small range so ties are common; event ids are
// unique per distinct fact, as in the inbox, but a fact may be delivered twice.
func genFacts(t *rapid.T) []marketplace.Fact {
	const A = "agmt-A"
	kinds := []marketplace.EventKind{marketplace.KindAgreementCreated, marketplace.KindAgreementAmended, marketplace.KindAgreementEnded,
		marketplace.KindAgreementDescribed, marketplace.KindLicenseUpdated, marketplace.KindLicenseDeprovisioned}
	statuses := []string{"", marketplace.StatusActive, marketplace.StatusExpired, marketplace.StatusCancelled, marketplace.StatusReplaced, marketplace.StatusRenewed}
	intents := []string{"", marketplace.IntentNew, marketplace.IntentRenew, marketplace.IntentReplace, marketplace.IntentAmend}
	accounts := []string{"", isv, partner, buyer}
	optTime := func(label string) *time.Time {
		if rapid.Bool().Draw(t, label+"Set") {
			return tp(rapid.IntRange(0, 5).Draw(t, label))
		}
		return nil
	}
	n := rapid.IntRange(0, 12).Draw(t, "n")
	var facts []marketplace.Fact
	for i := range n {
		if len(facts) > 0 && rapid.IntRange(0, 5).Draw(t, "dup") == 0 {
			facts = append(facts, facts[rapid.IntRange(0, len(facts)-1).Draw(t, "dupOf")])
			continue
		}
		f := marketplace.Fact{
			EventID: fmt.Sprintf("ev-%d", i),
			Kind:    rapid.SampledFrom(kinds).Draw(t, "kind"),
			Time:    at(rapid.IntRange(0, 5).Draw(t, "time")),
			Role:    rapid.SampledFrom([]string{"Proposer", "Manufacturer", ""}).Draw(t, "role"),
		}
		f.AgreementID = A
		if rapid.IntRange(0, 3).Draw(t, "other") == 0 {
			f.AgreementID = rapid.SampledFrom([]string{"agmt-B", "agmt-C"}).Draw(t, "successor")
			f.PreviousAgreementID = A
		} else if rapid.IntRange(0, 4).Draw(t, "hasPrevious") == 0 {
			f.PreviousAgreementID = "agmt-0"
		}
		f.Status = rapid.SampledFrom(statuses).Draw(t, "status")
		if f.Kind == marketplace.KindAgreementEnded && !marketplace.IsTerminalStatus(f.Status) {
			f.Status = "" // ParseEventBridge rejects an Ended event with a live status
		}
		f.Intent = rapid.SampledFrom(intents).Draw(t, "intent")
		f.AcceptanceTime, f.StartTime, f.EndTime = optTime("acceptance"), optTime("start"), optTime("end")
		if rapid.Bool().Draw(t, "autoRenewalSet") {
			f.AutoRenewal = bp(rapid.Bool().Draw(t, "autoRenewal"))
		}
		f.AcceptorAccountID = rapid.SampledFrom(accounts).Draw(t, "acceptor")
		f.ProposerAccountID = rapid.SampledFrom(accounts).Draw(t, "proposer")
		f.ReceiverAccountID = rapid.SampledFrom(accounts).Draw(t, "receiver")
		f.ResaleAuthorizationID = rapid.SampledFrom([]string{"", "resaleauthz-1", "resaleauthz-2"}).Draw(t, "resale")
		f.OfferID = rapid.SampledFrom([]string{"", "offer-1", "offer-2"}).Draw(t, "offer")
		f.ProductID = rapid.SampledFrom([]string{"", "prod-1", "prod-2"}).Draw(t, "product")
		f.ProductCode = rapid.SampledFrom([]string{"", "code1"}).Draw(t, "code")
		f.InitialAgreementID = rapid.SampledFrom([]string{"", "agmt-0"}).Draw(t, "initial")
		if f.Kind == marketplace.KindLicenseUpdated || f.Kind == marketplace.KindLicenseDeprovisioned {
			f.LicenseArn = rapid.SampledFrom([]string{eb.LicenseArn(buyer, licID), "aws:license-manager:us-east-1:" + buyer + ":" + licID}).Draw(t, "arn")
		}
		facts = append(facts, f)
	}
	return facts
}

func TestFoldOrderIndependence(t *testing.T) {
	t.Parallel()
	t.Run("FoldAgreement gives the same result for every permutation", func(t *testing.T) {
		t.Parallel()
		rapid.Check(t, func(t *rapid.T) {
			facts := genFacts(t)
			perm := rapid.Permutation(facts).Draw(t, "perm")
			a1, ok1 := marketplace.FoldAgreement("agmt-A", append([]marketplace.Fact(nil), facts...))
			a2, ok2 := marketplace.FoldAgreement("agmt-A", perm)
			if ok1 != ok2 || !reflect.DeepEqual(a1, a2) {
				t.Fatalf("order changed the fold:\n%v %s\n%v %s", ok1, js(a1), ok2, js(a2))
			}
			if ok1 && a1.Status == "" {
				t.Fatalf("folded agreement without status: %s", js(a1))
			}
			if ok1 && a1.EndedAt != nil && !marketplace.IsTerminalStatus(a1.Status) {
				t.Fatalf("ended agreement in status %s", a1.Status)
			}
		})
	})
	t.Run("FoldLicense gives the same result for every permutation", func(t *testing.T) {
		t.Parallel()
		agreements := map[string]marketplace.Agreement{
			"agmt-A": {AgreementID: "agmt-A", Status: marketplace.StatusActive, StartTime: tp(3), AcceptorAccountID: buyer},
			"agmt-B": {AgreementID: "agmt-B", Status: marketplace.StatusExpired, EndedAt: tp(4), AcceptorAccountID: buyer},
		}
		lookup := func(id string) (marketplace.Agreement, bool) { a, ok := agreements[id]; return a, ok }
		rapid.Check(t, func(t *rapid.T) {
			facts := genFacts(t)
			perm := rapid.Permutation(facts).Draw(t, "perm")
			now := at(rapid.IntRange(0, 6).Draw(t, "now"))
			l1, ok1 := marketplace.FoldLicense(append([]marketplace.Fact(nil), facts...), lookup, now)
			l2, ok2 := marketplace.FoldLicense(perm, lookup, now)
			if ok1 != ok2 || !reflect.DeepEqual(l1, l2) {
				t.Fatalf("order changed the fold:\n%v %s\n%v %s", ok1, js(l1), ok2, js(l2))
			}
			if ok1 && !marketplace.ValidLicenseState(l1.State) {
				t.Fatalf("invalid state %q", l1.State)
			}
		})
	})
	t.Run("FoldSubscription gives the same result for every permutation", func(t *testing.T) {
		t.Parallel()
		kinds := []marketplace.EventKind{marketplace.KindSubscribeSuccess, marketplace.KindSubscribeFail, marketplace.KindUnsubscribePending,
			marketplace.KindUnsubscribeSuccess, marketplace.KindEntitlementUpdated}
		rapid.Check(t, func(t *rapid.T) {
			n := rapid.IntRange(0, 10).Draw(t, "n")
			var facts []marketplace.Fact
			for i := range n {
				facts = append(facts, marketplace.Fact{EventID: fmt.Sprintf("sns-%d", i), Kind: rapid.SampledFrom(kinds).Draw(t, "kind"),
					Time: at(rapid.IntRange(0, 3).Draw(t, "time")), CustomerIdentifier: "cust1", ProductCode: "code1",
					OfferID: rapid.SampledFrom([]string{"", "offer-1", "offer-2"}).Draw(t, "offer"), FreeTrial: rapid.Bool().Draw(t, "trial")})
			}
			perm := rapid.Permutation(facts).Draw(t, "perm")
			s1, ok1 := marketplace.FoldSubscription(append([]marketplace.Fact(nil), facts...))
			s2, ok2 := marketplace.FoldSubscription(perm)
			if ok1 != ok2 || !reflect.DeepEqual(s1, s2) {
				t.Fatalf("order changed the fold:\n%v %s\n%v %s", ok1, js(s1), ok2, js(s2))
			}
			if ok1 != (n > 0) {
				t.Fatalf("ok = %v with %d facts", ok1, n)
			}
		})
	})
}

func imported(agreement, arn string, sec int) marketplace.Fact {
	return marketplace.Fact{EventID: fmt.Sprintf("import-%d", sec), Kind: marketplace.KindLicenseImported, Time: at(sec), AgreementID: agreement, LicenseArn: arn}
}
