package chaos

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"
	"time"
)

// lifecycle plays buyers in the emulator while serve is being killed, so
// agreement and license events arrive through the killed process's SQS
// poller: new agreements, auto-renewal turned off, cancellations.
type lifecycle struct {
	emu    *emulator
	rng    *rand.Rand
	next   int
	active []string // agreements this lifecycle created that are still active
	// autoRenew is each agreement's auto-renewal as this lifecycle set it.
	autoRenew map[string]bool
}

func newLifecycle(emu *emulator, rng *rand.Rand) *lifecycle {
	return &lifecycle{emu: emu, rng: rng, autoRenew: map[string]bool{}}
}

// step does one buyer action.
func (l *lifecycle) step(t *testing.T) {
	t.Helper()
	switch n := l.rng.IntN(3); {
	case n == 0 || len(l.active) == 0:
		// A private offer for a new buyer, accepted: an agreement with an end
		// date, whose auto-renewal can be turned off.
		var o struct {
			OfferID string `json:"offerId"`
		}
		var a accepted
		l.next++
		buyer := fmt.Sprintf("3200000000%02d", l.next)
		l.emu.control("POST", "/control/offers", map[string]any{"productId": chaosProduct, "buyerAccounts": []string{buyer}, "duration": "P12M"}, &o)
		l.emu.control("POST", "/control/accept", map[string]any{"buyer": buyer, "offerId": o.OfferID}, &a)
		l.active, l.autoRenew[a.AgreementID] = append(l.active, a.AgreementID), a.AutoRenew
	case n == 1:
		id := l.active[l.rng.IntN(len(l.active))]
		l.autoRenew[id] = !l.autoRenew[id]
		l.emu.control("POST", "/control/agreements/"+id+"/amend", map[string]any{"intent": "AMEND", "autoRenew": l.autoRenew[id]}, nil)
	default:
		i := l.rng.IntN(len(l.active))
		l.emu.control("POST", "/control/agreements/"+l.active[i]+"/cancel", nil, nil)
		l.active = append(l.active[:i], l.active[i+1:]...)
	}
}

// differences waits (bounded) for Concord's ledger to show every agreement
// and license of the emulator as the emulator has them, and returns how many
// still differ, logging each.
func (l *lifecycle) differences(t *testing.T, s *serve) int {
	t.Helper()
	var diffs []string
	deadline := time.Now().Add(time.Minute)
	for {
		diffs = diffs[:0]
		var ags []struct {
			ID         string `json:"agreementId"`
			Status     string `json:"status"`
			AutoRenew  bool   `json:"autoRenew"`
			LicenseArn string `json:"licenseArn"`
		}
		l.emu.control("GET", "/control/agreements", nil, &ags)
		for _, a := range ags {
			var got struct {
				Status      string `json:"status"`
				AutoRenewal *bool  `json:"autoRenewal"`
				Licenses    []struct {
					LicenseArn string `json:"licenseArn"`
				} `json:"licenses"`
			}
			code, raw, err := s.api("GET", "/v1/agreements/"+url.PathEscape(a.ID), nil)
			if err != nil || code != 200 || jsonInto(raw, &got) != nil {
				diffs = append(diffs, fmt.Sprintf("agreement %s: Concord answers %d %v %s", a.ID, code, err, raw))
				continue
			}
			if got.Status != a.Status {
				diffs = append(diffs, fmt.Sprintf("agreement %s: status %s in Concord, %s in the emulator", a.ID, got.Status, a.Status))
			}
			if got.AutoRenewal == nil || *got.AutoRenewal != a.AutoRenew {
				diffs = append(diffs, fmt.Sprintf("agreement %s: auto-renewal %v in Concord, %v in the emulator", a.ID, got.AutoRenewal, a.AutoRenew))
			}
			if a.LicenseArn != "" && (len(got.Licenses) != 1 || got.Licenses[0].LicenseArn != a.LicenseArn) {
				diffs = append(diffs, fmt.Sprintf("agreement %s: licenses %+v in Concord, %s in the emulator", a.ID, got.Licenses, a.LicenseArn))
			}
		}
		if len(diffs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, d := range diffs {
		t.Log("ledger difference: " + d)
	}
	return len(diffs)
}
