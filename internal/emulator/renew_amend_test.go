package emulator_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	agtypes "github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/types"

	"github.com/concordmp/concord/internal/marketplace"
)

// describe asks the emulator's Agreement API about an agreement through the
// official client.
func (b *bundle) describe(t *testing.T, id string) *marketplaceagreement.DescribeAgreementOutput {
	t.Helper()
	out, err := marketplaceagreement.NewFromConfig(b.cfg).DescribeAgreement(context.Background(), &marketplaceagreement.DescribeAgreementInput{AgreementId: aws.String(id)})
	if err != nil {
		t.Fatalf("DescribeAgreement %s: %v", id, err)
	}
	return out
}

// autoRenewTerm is the enableAutoRenew of an agreement's accepted renewal
// term, through GetAgreementTerms.
func (b *bundle) autoRenewTerm(t *testing.T, id string) *bool {
	t.Helper()
	out, err := marketplaceagreement.NewFromConfig(b.cfg).GetAgreementTerms(context.Background(), &marketplaceagreement.GetAgreementTermsInput{AgreementId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	for _, term := range out.AcceptedTerms {
		if r, ok := term.(*agtypes.AcceptedTermMemberRenewalTerm); ok && r.Value.Configuration != nil {
			return r.Value.Configuration.EnableAutoRenew
		}
	}
	return nil
}

// TestRenewIsAFutureDatedAgreement: a renewal accepted now does not end the
// agreement it renews. The new agreement (intent RENEW, naming the old one)
// is created now and starts when the old one ends; at that end the old one
// ends as RENEWED and the new one's license is provisioned.
func TestRenewIsAFutureDatedAgreement(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.control(t, "POST", "/control/targets", map[string]any{"type": "sqs", "queue": "q"}, &struct{}{})
	q := b.emu.QueueURL("q")
	p := b.product(t, false)
	old := b.accept(t, "444455556666", p.ProductID, nil)
	b.receiveAll(t, q)
	oldEnd := aws.ToTime(b.describe(t, old.AgreementID).EndTime)

	var renewal agreement
	b.control(t, "POST", "/control/agreements/"+old.AgreementID+"/renew", nil, &renewal)
	if renewal.Intent != "RENEW" || renewal.PreviousAgreementID != old.AgreementID || renewal.LicenseArn != "" {
		t.Fatalf("renewal %+v", renewal)
	}
	evs := b.receiveAll(t, q)
	if got := strings.Join(types(evs), ","); got != "Purchase Agreement Created - Proposer" {
		t.Fatalf("events when the renewal is accepted: %s (the old agreement must run to its end)", got)
	}
	if f := evs[0].Fact; f.Intent != "RENEW" || f.PreviousAgreementID != old.AgreementID || !f.AcceptanceTime.Before(*f.StartTime) ||
		!f.StartTime.Equal(oldEnd.Add(time.Second).Truncate(time.Second)) {
		t.Fatalf("Created fact %+v, want a future-dated renewal starting after %s", f, oldEnd)
	}
	if st := b.describe(t, old.AgreementID).Status; st != agtypes.AgreementStatusActive {
		t.Fatalf("the renewed agreement is %s before its end", st)
	}
	if code := b.control(t, "POST", "/control/agreements/"+old.AgreementID+"/renew", nil, nil); code != 409 {
		t.Fatalf("a second renewal: %d", code)
	}

	// The clock reaches the old end: AWS ends it as RENEWED, the renewal starts.
	until := oldEnd.Add(2*time.Second).Sub(b.emu.World.Now()).Round(time.Second) + time.Second
	b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": until.String()}, &struct{}{})
	// The month on the clock also crossed the old agreement's 30-day
	// Purchase Agreement Ending notice; this test is about what happens at
	// the end.
	evs = slices.DeleteFunc(b.receiveAll(t, q), func(e marketplace.Event) bool {
		return e.DetailType == "Purchase Agreement Ending - Proposer" && e.Fact.AgreementID == old.AgreementID
	})
	if got := strings.Join(types(evs), ","); got != "Purchase Agreement Ended - Proposer,License Updated - Manufacturer" {
		t.Fatalf("events at the end: %s", got)
	}
	if evs[0].Fact.AgreementID != old.AgreementID || evs[0].Fact.Status != "RENEWED" || evs[1].Fact.AgreementID != renewal.AgreementID {
		t.Fatalf("at the end: %+v then %+v", evs[0].Fact, evs[1].Fact)
	}
	if st := b.describe(t, old.AgreementID).Status; st != agtypes.AgreementStatusRenewed {
		t.Fatalf("the renewed agreement is %s after its end", st)
	}
}

// TestAmendInPlace: intent AMEND changes the agreement itself (auto-renewal,
// the change AWS documents as an amendment of an existing agreement) and
// sends Purchase Agreement Amended with autoRenewalEnabled and
// renewalSummary.disabledBy; no new agreement, nothing ends. A change of
// quantities is a replacement (intent REPLACE), never AMEND.
func TestAmendInPlace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.control(t, "POST", "/control/targets", map[string]any{"type": "sqs", "queue": "q"}, &struct{}{})
	q := b.emu.QueueURL("q")
	p := b.product(t, false)
	a := b.accept(t, "444455556666", p.ProductID, nil)
	b.receiveAll(t, q)
	if v := b.autoRenewTerm(t, a.AgreementID); v == nil || !*v {
		t.Fatalf("the public offer's agreement renews automatically: %v", v)
	}

	for _, body := range []map[string]any{
		{"intent": "AMEND", "quantities": map[string]int64{"seats": 20}},
		{"intent": "AMEND"},
		{"autoRenew": false, "offerId": p.PublicOfferID},
		{"autoRenew": false, "by": "BROKER"},
		{"autoRenew": true},
	} {
		if code := b.control(t, "POST", "/control/agreements/"+a.AgreementID+"/amend", body, nil); code != 400 && code != 409 {
			t.Errorf("amend %v: %d, want a refusal", body, code)
		}
	}
	if evs := b.receiveAll(t, q); len(evs) != 0 {
		t.Fatalf("a refused amendment sent %v", types(evs))
	}

	var got agreement
	b.control(t, "POST", "/control/agreements/"+a.AgreementID+"/amend", map[string]any{"intent": "AMEND", "autoRenew": false, "by": "ACCEPTOR"}, &got)
	if got.AgreementID != a.AgreementID || got.Status != "ACTIVE" || got.Intent != "NEW" {
		t.Fatalf("amended in place: %+v", got)
	}
	evs := b.receiveAll(t, q)
	if strings.Join(types(evs), ",") != "Purchase Agreement Amended - Proposer" {
		t.Fatalf("events %v", types(evs))
	}
	var body struct {
		Detail struct {
			Agreement struct {
				ID, Intent          string
				PreviousAgreementID *string `json:"previousAgreementId"`
				AutoRenewalEnabled  *bool   `json:"autoRenewalEnabled"`
			}
			RenewalSummary struct {
				DisabledBy *string `json:"disabledBy"`
			} `json:"renewalSummary"`
		}
	}
	if err := json.Unmarshal(evs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	ag := body.Detail.Agreement
	if ag.ID != a.AgreementID || ag.Intent != "AMEND" || ag.PreviousAgreementID != nil || ag.AutoRenewalEnabled == nil || *ag.AutoRenewalEnabled ||
		aws.ToString(body.Detail.RenewalSummary.DisabledBy) != "ACCEPTOR" {
		t.Fatalf("Amended detail %s", evs[0].Body)
	}
	if evs[0].Kind != marketplace.KindAgreementAmended {
		t.Fatalf("kind %s", evs[0].Kind)
	}
	if v := b.autoRenewTerm(t, a.AgreementID); v == nil || *v {
		t.Fatalf("GetAgreementTerms after the opt-out: enableAutoRenew %v", v)
	}
	// The seller opts out too: AWS reports PROPOSER when both did.
	if code := b.control(t, "POST", "/control/agreements/"+a.AgreementID+"/amend", map[string]any{"autoRenew": false, "by": "PROPOSER"}, nil); code != 409 {
		t.Fatalf("opting out twice: %d", code)
	}

	// A change of quantities replaces the agreement.
	var repl agreement
	b.control(t, "POST", "/control/agreements/"+a.AgreementID+"/amend", map[string]any{"quantities": map[string]int64{"seats": 20}}, &repl)
	if repl.AgreementID == a.AgreementID || repl.Intent != "REPLACE" || repl.PreviousAgreementID != a.AgreementID {
		t.Fatalf("replacement %+v", repl)
	}
	if got := strings.Join(types(b.receiveAll(t, q)), ","); !strings.HasPrefix(got, "Purchase Agreement Created - Proposer,") || !strings.Contains(got, "Purchase Agreement Ended - Proposer") {
		t.Fatalf("replacement events %s", got)
	}
}

// TestAmendInPlaceCPPO: the ISV of a partner-sold agreement receives the
// Manufacturer twin of Purchase Agreement Amended, without the Proposer's
// renewal fields (as AWS's example shows).
func TestAmendInPlaceCPPO(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.control(t, "POST", "/control/targets", map[string]any{"type": "sqs", "queue": "q"}, &struct{}{})
	q := b.emu.QueueURL("q")
	a, _, _ := b.cppo(t)
	// A private offer does not renew automatically here: the partner turns it on.
	b.receiveAll(t, q)
	b.control(t, "POST", "/control/agreements/"+a.AgreementID+"/amend", map[string]any{"autoRenew": true, "by": "PROPOSER"}, &agreement{})
	evs := b.receiveAll(t, q)
	if strings.Join(types(evs), ",") != "Purchase Agreement Amended - Manufacturer" || evs[0].Fact.AgreementID != a.AgreementID ||
		strings.Contains(string(evs[0].Body), "autoRenewalEnabled") || strings.Contains(string(evs[0].Body), "renewalSummary") {
		t.Fatalf("events %v: %s", types(evs), evs[0].Body)
	}
}

// cppo plays a channel partner reselling a new product to buyer
// 444455556666: the resale authorization, the partner's offer, the agreement.
func (b *bundle) cppo(t *testing.T) (a agreement, resaleAuthorizationID, offerID string) {
	t.Helper()
	p := b.product(t, false)
	var ra struct{ ID string }
	b.control(t, "POST", "/control/resale-authorizations", map[string]any{"productId": p.ProductID, "resellerAccountId": "999988887777"}, &ra)
	var off struct{ OfferID string }
	b.control(t, "POST", "/control/partner-offers", map[string]any{"resaleAuthorizationId": ra.ID, "buyerAccounts": []string{"444455556666"},
		"quantities": map[string]int64{"seats": 5}}, &off)
	return b.accept(t, "444455556666", "", map[string]any{"offerId": off.OfferID, "productId": ""}), ra.ID, off.OfferID
}
