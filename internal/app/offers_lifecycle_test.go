package app_test

// The lifecycle of every kind of offer, end to end: Concord's HTTP API for
// what RevOps does, the emulator's world for what the buyer, the partner and
// AWS do, on both databases.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store/storetest"
)

const (
	// lcPartner is the channel partner of the partner offers.
	lcPartner = "999988887777"
	// legacyProduct has concurrent agreements off.
	legacyProduct = "prod-legacy"
)

// lifecycleSetup is offersSetup with a second product, legacyProduct, whose
// concurrent agreements are off, and the given buyers in the emulator, whose
// change sets apply on its next tick (the tests wait for a dozen of them).
func lifecycleSetup(t *testing.T, dialect string, buyers ...string) *bundle {
	t.Helper()
	b := offersSetup(t, dialect)
	emu(t, b, func(s *world.State) error {
		s.Config.ChangeSetDelay = 0
		if _, err := s.CreateProduct(world.Product{ProductID: legacyProduct, ProductCode: "legacycode", Type: world.ProductSaaSContract,
			Dimensions: []world.Dimension{{Key: "seats", Kind: "contract", Price: "10.00"}}}); err != nil {
			return err
		}
		for _, a := range buyers {
			if _, err := s.CreateBuyer(a); err != nil {
				return err
			}
		}
		return nil
	})
	body := `{"productCode":"legacycode","type":"saas_contract","concurrentAgreements":false,"dimensions":[{"key":"seats","kind":"contract"}]}`
	if code, out := b.do(t, "PUT", "/v1/products/"+legacyProduct, b.key, []byte(body)); code != 200 {
		t.Fatalf("configure %s: %d %s", legacyProduct, code, out)
	}
	return b
}

// emu runs fn on the emulator's world, failing the test on error.
func emu(t *testing.T, b *bundle, fn func(s *world.State) error) {
	t.Helper()
	if err := b.app.Emulator.World.Do(fn); err != nil {
		t.Fatal(err)
	}
}

// call sends v as JSON with the API key.
func (b *bundle) call(t *testing.T, method, path string, v any) (int, []byte) {
	t.Helper()
	var raw []byte
	if v != nil {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	return b.do(t, method, path, b.key, raw)
}

// detail is the message of an API error.
func detail(out []byte) string {
	var e struct {
		Detail string `json:"detail"`
	}
	json.Unmarshal(out, &e)
	return e.Detail
}

// wantRefused fails unless the call was answered code with a message holding msg.
func wantRefused(t *testing.T, what string, code int, out []byte, wantCode int, msg string) {
	t.Helper()
	if code != wantCode || !strings.Contains(detail(out), msg) {
		t.Fatalf("%s: %d %s, want %d with %q", what, code, out, wantCode, msg)
	}
}

func createOffer(t *testing.T, b *bundle, form any) offer.Detail {
	t.Helper()
	code, out := b.call(t, "POST", "/v1/offers", form)
	var d offer.Detail
	if json.Unmarshal(out, &d); code != 201 || d.State != offer.StateDraft {
		t.Fatalf("create: %d %s", code, out)
	}
	return d
}

func submitOffer(t *testing.T, b *bundle, id string) {
	t.Helper()
	if code, out := b.call(t, "POST", "/v1/offers/"+id+"/submit", nil); code != 200 || !strings.Contains(string(out), `"state":"submitted"`) {
		t.Fatalf("submit %s: %d %s", id, code, out)
	}
}

// waitOffer waits until offer id is in state, failing at once if it failed
// when that was not what was awaited.
func waitOffer(t *testing.T, b *bundle, id, state string) offer.Detail {
	t.Helper()
	var d offer.Detail
	eventually(t, "offer "+id+" to be "+state, func() bool {
		d = getOffer(t, b, id)
		if d.State == offer.StateFailed && state != offer.StateFailed {
			t.Fatalf("offer %s failed: %s", id, d.Failure)
		}
		return d.State == state
	})
	return d
}

// publish creates, submits and waits for an offer to be published.
func publish(t *testing.T, b *bundle, form any) offer.Detail {
	t.Helper()
	d := createOffer(t, b, form)
	submitOffer(t, b, d.ID)
	return waitOffer(t, b, d.ID, offer.StatePublished)
}

// wantHistory fails unless d's history is exactly the steps, each given as
// "state/step: message" (the message's beginning).
func wantHistory(t *testing.T, d offer.Detail, want ...string) {
	t.Helper()
	got := make([]string, len(d.History))
	for i, s := range d.History {
		got[i] = s.State + "/" + s.Step + ": " + s.Message
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Fatalf("history of %s:\n  %s\nwant:\n  %s", d.ID, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// publishedSteps are the history of a direct offer from creation to published.
func publishedSteps(d offer.Detail, kind string) []string {
	return []string{"draft/created: " + kind + " for Initech (" + d.Metadata[offer.MetaBuyerAccount] + ")", "submitted/submitted: ",
		"submitted/change set started: change set ", "published/published: "}
}

// accept plays the buyer accepting an offer in the emulator.
func accept(t *testing.T, b *bundle, buyer, offerID string) string {
	t.Helper()
	var id string
	emu(t, b, func(s *world.State) error {
		a, err := s.Accept(buyer, offerID, world.AcceptOptions{Quantities: map[string]int64{"seats": 5}})
		if err == nil {
			id = a.ID
		}
		return err
	})
	return id
}

// waitAccepted waits for offer id to be accepted with agreement agreementID.
func waitAccepted(t *testing.T, b *bundle, id, agreementID string) offer.Detail {
	t.Helper()
	d := waitOffer(t, b, id, offer.StateAccepted)
	if d.AgreementID != agreementID {
		t.Fatalf("offer %s accepted with agreement %q, want %s", id, d.AgreementID, agreementID)
	}
	return d
}

// waitTerms waits until the ledger holds agreement id with its terms, and
// returns them.
func waitTerms(t *testing.T, b *bundle, id string) marketplace.Terms {
	t.Helper()
	var a inbox.AgreementDetail
	eventually(t, "the terms of "+id, func() bool {
		code, out := b.do(t, "GET", "/v1/agreements/"+id, b.key, nil)
		a = inbox.AgreementDetail{}
		return code == 200 && json.Unmarshal(out, &a) == nil && a.TermsFetchedAt != nil
	})
	var terms marketplace.Terms
	if err := json.Unmarshal(a.Terms, &terms); err != nil {
		t.Fatalf("terms of %s: %v", id, err)
	}
	return terms
}

// pricing lists the priced dimensions of terms as "term dimension price×quantity".
func pricing(terms marketplace.Terms) string {
	var out []string
	for _, p := range terms.Pricing {
		q := "-"
		if p.Quantity != nil {
			q = fmt.Sprint(*p.Quantity)
		}
		out = append(out, p.Term+" "+p.Dimension+" "+p.Price+"×"+q)
	}
	return strings.Join(out, ", ")
}

func partnerForm(buyer string) map[string]any {
	f := offerForm(buyer)
	f["type"] = "partner"
	f["name"] = "Initech via partner"
	f["resellerAgreement"] = map[string]any{"kind": "standard"}
	f["metadata"] = map[string]any{"AWS Account Number": buyer, "Partner AWS Account Number": lcPartner}
	return f
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestOfferLifecycle runs each kind of offer through its lifecycle against
// the emulator, on both databases.
func TestOfferLifecycle(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := lifecycleSetup(t, dialect, "210000000001", "210000000002", "210000000003", "210000000004", "210000000005",
				"210000000006", "210000000007", "210000000008", "210000000009", "210000000010", "210000000011")
			t.Run("DirectInstructionsViewedAccepted", func(t *testing.T) { t.Parallel(); lcDirect(t, b, "210000000001") })
			t.Run("DirectCancelledAfterPublishing", func(t *testing.T) { t.Parallel(); lcDirectCancel(t, b, "210000000002") })
			t.Run("PartnerExtendedAccepted", func(t *testing.T) { t.Parallel(); lcPartnerOffer(t, b, "210000000003") })
			t.Run("PartnerCancelledBeforeExtension", func(t *testing.T) { t.Parallel(); lcPartnerCancel(t, b, "210000000004") })
			t.Run("PartnerAssociatedByOpportunity", func(t *testing.T) { t.Parallel(); lcPartnerByOpportunity(t, b, "210000000005") })
			t.Run("PartnerReconciledFromTheAgreement", func(t *testing.T) { t.Parallel(); lcPartnerOutOfOrder(t, b, "210000000006") })
			t.Run("Amendment", func(t *testing.T) { t.Parallel(); lcAmend(t, b, "210000000007") })
			t.Run("AmendmentOfAPaymentSchedule", func(t *testing.T) { t.Parallel(); lcAmendSchedule(t, b, "210000000008") })
			t.Run("AmendmentOfAPublicOfferAgreement", func(t *testing.T) { t.Parallel(); lcAmendPublic(t, b, "210000000009") })
			t.Run("Renewal", func(t *testing.T) { t.Parallel(); lcRenew(t, b, "210000000010", "210000000011") })
		})
	}
}

// lcDirect: a direct offer is published, its purchase instructions go out
// with a tracked link, the buyer opens it (viewed, once) and accepts.
func lcDirect(t *testing.T, b *bundle, buyer string) {
	d := createOffer(t, b, offerForm(buyer))
	to := map[string]any{"to": []string{"buyer@initech.example"}}
	code, out := b.call(t, "POST", "/v1/offers/"+d.ID+"/instructions", to)
	wantRefused(t, "instructions for a draft", code, out, 409,
		"offer "+d.ID+" is draft: purchase instructions go out once the offer is published and until the buyer accepts it")

	submitOffer(t, b, d.ID)
	p := waitOffer(t, b, d.ID, offer.StatePublished)
	if !strings.HasPrefix(p.OfferID, "offer-") || p.ChangeSetID == "" {
		t.Fatalf("published %+v", p.Offer)
	}
	wantHistory(t, p, append(publishedSteps(p, "direct offer")[:3], "published/published: offer "+p.OfferID)...)

	// A bad address is refused and changes nothing.
	code, out = b.call(t, "POST", "/v1/offers/"+d.ID+"/instructions", map[string]any{"to": []string{"buyer@initech.example", "not-an-email"}})
	wantRefused(t, "instructions to a bad address", code, out, 400, `to[1]: "not-an-email" is not an email address`)
	code, out = b.call(t, "POST", "/v1/offers/"+d.ID+"/instructions", map[string]any{"to": []string{}})
	wantRefused(t, "instructions to nobody", code, out, 400, "name at least one person at the buyer")
	if got := getOffer(t, b, d.ID); got.State != offer.StatePublished || len(got.History) != 4 {
		t.Fatalf("refused instructions changed the offer: %s %d steps", got.State, len(got.History))
	}

	code, out = b.call(t, "POST", "/v1/offers/"+d.ID+"/instructions", to)
	var in offer.Instructions
	if json.Unmarshal(out, &in); code != 200 || in.Offer.State != offer.StateInstructionsSent {
		t.Fatalf("instructions: %d %s", code, out)
	}
	if !strings.HasPrefix(in.Link, b.app.URL()+offer.TrackPath) || len(in.Link) != len(b.app.URL()+offer.TrackPath)+32 {
		t.Fatalf("tracked link %q is not under %s", in.Link, b.app.URL()+offer.TrackPath)
	}
	page := offer.OfferPageURL("prod-offers", p.OfferID)
	if in.OfferURL != page || !strings.Contains(in.Text, in.Link) || !strings.Contains(in.Text, "AWS account "+buyer) ||
		!strings.Contains(in.Subject, "private offer for prod-offers") || strings.Join(in.To, ",") != "buyer@initech.example" {
		t.Fatalf("instructions %+v", in)
	}
	wantHistory(t, in.Offer, append(publishedSteps(p, "direct offer"), "instructions_sent/purchase instructions sent: to buyer@initech.example")...)

	// The buyer opens the link (no API key): viewed, once, and sent on to AWS.
	for i := range 2 {
		resp, err := noRedirect.Get(in.Link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != page {
			t.Fatalf("open %d of the tracked link: %d to %q, want 302 to %s", i+1, resp.StatusCode, resp.Header.Get("Location"), page)
		}
	}
	v := getOffer(t, b, d.ID)
	if v.State != offer.StateViewed {
		t.Fatalf("after the buyer opened the link the offer is %s", v.State)
	}
	wantHistory(t, v, append(publishedSteps(p, "direct offer"), "instructions_sent/purchase instructions sent: ",
		"viewed/viewed: the buyer opened the tracked link")...)
	if resp, err := noRedirect.Get(b.app.URL() + offer.TrackPath + strings.Repeat("0", 32)); err != nil || resp.StatusCode != 404 {
		t.Fatalf("unknown tracked link: %v %v", resp, err)
	}

	agreementID := accept(t, b, buyer, p.OfferID)
	a := waitAccepted(t, b, d.ID, agreementID)
	wantHistory(t, a, append(publishedSteps(p, "direct offer"), "instructions_sent/purchase instructions sent: ",
		"viewed/viewed: ", "accepted/accepted: agreement "+agreementID)...)
	code, out = b.call(t, "POST", "/v1/offers/"+d.ID+"/instructions", to)
	wantRefused(t, "instructions for an accepted offer", code, out, 409, "is accepted: purchase instructions go out once the offer is published")
}

// lcDirectCancel: a published direct offer is withdrawn in AWS (its
// availability ends yesterday) and the buyer can no longer accept it.
func lcDirectCancel(t *testing.T, b *bundle, buyer string) {
	p := publish(t, b, offerForm(buyer))
	code, out := b.call(t, "POST", "/v1/offers/"+p.ID+"/cancel", map[string]any{"reason": "the buyer chose another plan"})
	var c offer.Detail
	if json.Unmarshal(out, &c); code != 200 || c.State != offer.StateCancelling {
		t.Fatalf("cancel: %d %s", code, out)
	}
	code, out = b.call(t, "POST", "/v1/offers/"+p.ID+"/cancel", nil)
	wantRefused(t, "cancel twice", code, out, 409, "is already being withdrawn in AWS")
	d := waitOffer(t, b, p.ID, offer.StateCancelled)
	wantHistory(t, d, append(publishedSteps(p, "direct offer"),
		"cancelling/cancellation requested: ending offer "+p.OfferID+"'s availability in AWS; the buyer chose another plan",
		"cancelling/change set started: change set ",
		"cancelled/cancelled: offer "+p.OfferID+" is no longer available to the buyer")...)
	yesterday := b.app.Emulator.World.Now().AddDate(0, 0, -1).Format(time.DateOnly)
	err := b.app.Emulator.World.Do(func(s *world.State) error {
		o := s.Offers[p.OfferID]
		if o.ExpirationDate == nil || o.ExpirationDate.Format(time.DateOnly) != yesterday || o.State != "Expired" {
			return fmt.Errorf("the emulator's offer after the withdrawal: state %s, expiration %v, want Expired on %s", o.State, o.ExpirationDate, yesterday)
		}
		_, err := s.Accept(buyer, p.OfferID, world.AcceptOptions{})
		if err == nil || !strings.Contains(err.Error(), "cannot be accepted") {
			return fmt.Errorf("accepting a withdrawn offer: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	code, out = b.call(t, "POST", "/v1/offers/"+p.ID+"/cancel", nil)
	wantRefused(t, "cancel a cancelled offer", code, out, 409, "is cancelled and cannot be cancelled")
}

// lcPartnerOffer: a partner offer publishes a resale authorization, the
// partner extends its offer (Offer Released), the buyer accepts it.
func lcPartnerOffer(t *testing.T, b *bundle, buyer string) {
	p := publish(t, b, partnerForm(buyer))
	if !strings.HasPrefix(p.ResaleAuthorizationID, "resaleauthz-") || p.OfferID != "" {
		t.Fatalf("published partner offer %+v", p.Offer)
	}
	wantHistory(t, p, "draft/created: partner offer for Initech ("+buyer+")", "submitted/submitted", "submitted/change set started",
		"published/published: resale authorization "+p.ResaleAuthorizationID+" (the partner can now extend an offer to the buyer)")
	code, out := b.call(t, "POST", "/v1/offers/"+p.ID+"/instructions", map[string]any{"to": []string{"buyer@initech.example"}})
	wantRefused(t, "instructions for a partner offer", code, out, 400,
		"offer "+p.ID+" is a partner offer: the partner engages the buyer with its own offer, so Concord sends no purchase instructions for it")

	var partnerOfferID string
	emu(t, b, func(s *world.State) error {
		if ra := s.ResaleAuthorizations[p.ResaleAuthorizationID]; ra == nil || ra.State != "Active" || ra.ResellerAccountID != lcPartner {
			return fmt.Errorf("the emulator holds resale authorization %+v", ra)
		}
		o, err := s.CreatePartnerOffer(p.ResaleAuthorizationID, world.Offer{BuyerAccounts: []string{buyer}, Quantities: map[string]int64{"seats": 10}})
		if err == nil {
			partnerOfferID = o.OfferID
		}
		return err
	})
	x := waitOffer(t, b, p.ID, offer.StateExtended)
	if x.OfferID != partnerOfferID {
		t.Fatalf("extended with offer %q, want %s", x.OfferID, partnerOfferID)
	}
	code, out = b.call(t, "POST", "/v1/offers/"+p.ID+"/cancel", nil)
	wantRefused(t, "cancel an extended partner offer", code, out, 409,
		"the partner has already extended offer "+partnerOfferID+" to the buyer: the reseller must cancel its offer first")

	agreementID := accept(t, b, buyer, partnerOfferID)
	a := waitAccepted(t, b, p.ID, agreementID)
	wantHistory(t, a, "draft/created", "submitted/submitted", "submitted/change set started", "published/published",
		"extended/partner offer extended: offer "+partnerOfferID+" (from the Offer Released event)",
		"accepted/accepted: agreement "+agreementID)
}

// lcPartnerCancel: a partner offer cancelled before the partner extends it
// restricts its resale authorization, and the partner can no longer use it.
func lcPartnerCancel(t *testing.T, b *bundle, buyer string) {
	p := publish(t, b, partnerForm(buyer))
	code, out := b.call(t, "POST", "/v1/offers/"+p.ID+"/cancel", map[string]any{"reason": "deal lost"})
	if code != 200 || !strings.Contains(string(out), `"state":"cancelling"`) {
		t.Fatalf("cancel: %d %s", code, out)
	}
	d := waitOffer(t, b, p.ID, offer.StateCancelled)
	wantHistory(t, d, "draft/created", "submitted/submitted", "submitted/change set started", "published/published",
		"cancelling/cancellation requested: restricting resale authorization "+p.ResaleAuthorizationID+" in AWS; deal lost",
		"cancelling/change set started: change set ",
		"cancelled/cancelled: resale authorization "+p.ResaleAuthorizationID+" is restricted: the partner can no longer extend it")
	emu(t, b, func(s *world.State) error {
		if ra := s.ResaleAuthorizations[p.ResaleAuthorizationID]; ra.State != "Restricted" {
			return fmt.Errorf("resale authorization %s is %s, want Restricted", ra.ID, ra.State)
		}
		_, err := s.CreatePartnerOffer(p.ResaleAuthorizationID, world.Offer{BuyerAccounts: []string{buyer}, Quantities: map[string]int64{"seats": 10}})
		if world.CodeOf(err) != world.CodeConflict {
			return fmt.Errorf("extending a restricted resale authorization: %v", err)
		}
		return nil
	})
}

// lcPartnerByOpportunity: a partner offer made outside Concord, tracked by
// its CPPO opportunity id only, is found by product, buyer and partner when
// the partner's offer is released, then accepted.
func lcPartnerByOpportunity(t *testing.T, b *bundle, buyer string) {
	form := partnerForm(buyer)
	form["metadata"].(map[string]any)["CPPO Opportunity ID"] = "O-" + buyer
	code, out := b.call(t, "POST", "/v1/offers/associate", map[string]any{"form": form})
	var d offer.Detail
	if json.Unmarshal(out, &d); code != 201 || d.State != offer.StatePublished || d.OfferID != "" || d.ResaleAuthorizationID != "" {
		t.Fatalf("associate by opportunity: %d %s", code, out)
	}
	var partnerOfferID string
	emu(t, b, func(s *world.State) error {
		ra, err := s.CreateResaleAuthorization("prod-offers", lcPartner, "made in the partner's portal")
		if err != nil {
			return err
		}
		o, err := s.CreatePartnerOffer(ra.ID, world.Offer{BuyerAccounts: []string{buyer}, Quantities: map[string]int64{"seats": 10}})
		if err == nil {
			partnerOfferID = o.OfferID
		}
		return err
	})
	x := waitOffer(t, b, d.ID, offer.StateExtended)
	if x.OfferID != partnerOfferID {
		t.Fatalf("extended with %q, want %s", x.OfferID, partnerOfferID)
	}
	agreementID := accept(t, b, buyer, partnerOfferID)
	a := waitAccepted(t, b, d.ID, agreementID)
	wantHistory(t, a, "published/associated: CPPO opportunity O-"+buyer,
		"extended/partner offer extended: offer "+partnerOfferID+" (from the Offer Released event)",
		"accepted/accepted: agreement "+agreementID)
}

// lcPartnerOutOfOrder: the partner's Offer Released is lost (and delivered
// only after the agreement): the agreement brings the partner's offer id, and
// the partner offer ends accepted, reconciled; the late event changes nothing.
func lcPartnerOutOfOrder(t *testing.T, b *bundle, buyer string) {
	p := publish(t, b, partnerForm(buyer))
	var partnerOfferID, agreementID string
	emu(t, b, func(s *world.State) error {
		ra := s.ResaleAuthorizations[p.ResaleAuthorizationID]
		// The partner's offer, without its Offer Released event.
		o, err := s.CreatePrivateOffer(world.Offer{ProductID: ra.ProductID, ResaleAuthorizationID: ra.ID, ProposerAccountID: ra.ResellerAccountID,
			BuyerAccounts: []string{buyer}, Quantities: map[string]int64{"seats": 10}})
		if err != nil {
			return err
		}
		partnerOfferID = o.OfferID
		a, err := s.Accept(buyer, o.OfferID, world.AcceptOptions{})
		if err == nil {
			agreementID = a.ID
		}
		return err
	})
	a := waitAccepted(t, b, p.ID, agreementID)
	if a.OfferID != partnerOfferID {
		t.Fatalf("reconciled with offer %q, want %s", a.OfferID, partnerOfferID)
	}
	reconciled := []string{"draft/created", "submitted/submitted", "submitted/change set started", "published/published",
		"published/partner offer id learnt: offer " + partnerOfferID + " from agreement " + agreementID,
		"accepted/accepted: agreement " + agreementID + "; the partner's offer id arrived with the agreement; reconciled"}
	wantHistory(t, a, reconciled...)

	// The Offer Released event arrives late.
	late := eventbridge.Custom("Offer Released", "aws.marketplacecatalog", "111122223333", b.app.Emulator.World.Now(), map[string]any{
		"catalog": "AWSMarketplace", "offer": map[string]any{"id": partnerOfferID}, "product": map[string]any{"id": "prod-offers"},
		"manufacturer": map[string]any{"accountId": "111122223333"}, "sellerOfRecord": map[string]any{"accountId": lcPartner},
		"resaleAuthorization": map[string]any{"id": p.ResaleAuthorizationID}, "targetedBuyerAccountIds": []string{buyer}})
	if res := b.send(t, late); res.Duplicate {
		t.Fatalf("late Offer Released: %+v", res)
	}
	d := getOffer(t, b, p.ID)
	if d.State != offer.StateAccepted || d.OfferID != partnerOfferID || d.AgreementID != agreementID {
		t.Fatalf("after the late Offer Released: %+v", d.Offer)
	}
	wantHistory(t, d, reconciled...)
}

// draftOf reads the amendment draft of an agreement.
func draftOf(t *testing.T, b *bundle, agreementID string) offer.Draft {
	t.Helper()
	code, out := b.do(t, "GET", "/v1/agreements/"+agreementID+"/amendment", b.key, nil)
	var d offer.Draft
	if json.Unmarshal(out, &d); code != 200 {
		t.Fatalf("amendment draft of %s: %d %s", agreementID, code, out)
	}
	return d
}

// lcAmend: an accepted direct offer's agreement is amended: the draft is
// prefilled from its terms with a preview and, concurrent agreements being on,
// the alternative of a concurrent offer; the replacement offer is published
// and the buyer's acceptance replaces the agreement.
func lcAmend(t *testing.T, b *bundle, buyer string) {
	src := publish(t, b, offerForm(buyer))
	agreementID := accept(t, b, buyer, src.OfferID)
	waitAccepted(t, b, src.ID, agreementID)
	// AWS's accepted terms are the offer's: the whole contract upfront, the
	// quantity granted.
	terms := waitTerms(t, b, agreementID)
	if got := pricing(terms); got != "FixedUpfrontPricingTerm seats 1200.00×10" || terms.EstimatedValue != "1200.00" || terms.Currency != "USD" {
		t.Fatalf("accepted terms: %s, estimated %s %s", got, terms.EstimatedValue, terms.Currency)
	}
	var end time.Time
	emu(t, b, func(s *world.State) error { end = *s.Agreements[agreementID].EndTime; return nil })

	dr := draftOf(t, b, agreementID)
	f := dr.Form
	if f.Type != offer.TypeDirect || f.ProductID != "prod-offers" || f.Amends == nil || f.Amends.AgreementID != agreementID ||
		f.Amends.SourceOfferID != src.OfferID || f.BuyerCompany != "Initech" || f.Metadata[offer.MetaBuyerAccount] != buyer ||
		f.Pricing.Currency != "USD" || f.Pricing.EndDate != end.UTC().Format(time.DateOnly) || f.Pricing.Duration != "" ||
		len(f.Pricing.Dimensions) != 1 || f.Pricing.Dimensions[0].Key != "seats" || f.Pricing.Dimensions[0].Kind != "contract" ||
		f.Pricing.Dimensions[0].Quantity != 10 || f.Pricing.Dimensions[0].Price != "120.00" || len(f.Pricing.Schedule) != 0 {
		t.Fatalf("prefilled amendment %+v (dimensions %+v)", f, f.Pricing.Dimensions)
	}
	pv := dr.Preview
	if pv == nil || pv.Currency != "USD" || pv.PaidToDate != "1200.00" || pv.UpfrontCharged != "1200.00" || len(pv.Replaced) != 0 || pv.NewChargesTotal != "1200.00" ||
		fmt.Sprint(pv.NewCharges) != "[{at acceptance 1200.00}]" ||
		!strings.HasPrefix(pv.Summary, "Agreement "+agreementID+" has charged 1200.00 USD so far (1200.00 USD upfront at acceptance); those invoices remain unchanged. Once the buyer accepts, the amendment charges 1200.00 USD at acceptance") {
		t.Fatalf("preview %+v", pv)
	}
	alt := dr.Alternative
	if alt == nil || alt.Kind != "concurrent_offer" || !strings.Contains(alt.Explanation, "Product prod-offers has concurrent agreements on") ||
		alt.Form.Amends != nil || alt.Form.Pricing.EndDate != f.Pricing.EndDate {
		t.Fatalf("alternative %+v", alt)
	}

	f.Pricing.Dimensions[0].Quantity = 25
	code, out := b.call(t, "POST", "/v1/offers/check", f)
	var chk offer.Check
	if json.Unmarshal(out, &chk); code != 200 || !chk.OK() || len(chk.Warnings) != 0 || chk.Preview == nil || chk.Preview.NewChargesTotal != "3000.00" {
		t.Fatalf("check of the amendment: %d %s", code, out)
	}
	am := publish(t, b, f)
	wantHistory(t, am, "draft/created: amendment of agreement "+agreementID+" for Initech ("+buyer+")", "submitted/submitted",
		"submitted/change set started", "published/published: offer "+am.OfferID)
	var replacement string
	emu(t, b, func(s *world.State) error {
		o := s.Offers[am.OfferID]
		if o == nil || o.ReplacesAgreementID != agreementID || o.Details["CreateReplacementOffer"] == nil || o.Quantities["seats"] != 25 {
			return fmt.Errorf("the emulator's replacement offer %+v", o)
		}
		a, err := s.Accept(buyer, am.OfferID, world.AcceptOptions{})
		if err != nil {
			return err
		}
		if a.PreviousAgreementID != agreementID || s.Agreements[agreementID].Status != "REPLACED" {
			return fmt.Errorf("the replacement agreement %+v", a)
		}
		replacement = a.ID
		return nil
	})
	a := waitAccepted(t, b, am.ID, replacement)
	wantHistory(t, a, "draft/created", "submitted/submitted", "submitted/change set started", "published/published",
		"accepted/accepted: agreement "+replacement)
	// The replaced agreement can no longer be amended.
	eventually(t, "agreement "+agreementID+" to be replaced", func() bool {
		code, out := b.do(t, "GET", "/v1/agreements/"+agreementID+"/amendment", b.key, nil)
		return code == 409 && strings.Contains(detail(out), "is REPLACED: only an active agreement can be amended")
	})
}

// lcAmendSchedule: an agreement with a payment schedule is amended: the
// installments not charged yet are carried forward and replaced.
func lcAmendSchedule(t *testing.T, b *bundle, buyer string) {
	today := b.app.Emulator.World.Now().UTC()
	day := func(d int) string { return today.AddDate(0, 0, d).Format(time.DateOnly) }
	form := offerForm(buyer)
	form["pricing"].(map[string]any)["schedule"] = []map[string]any{
		{"date": day(0), "amount": "400.00"}, {"date": day(90), "amount": "400.00"}, {"date": day(180), "amount": "400.00"}}
	src := publish(t, b, form)
	agreementID := accept(t, b, buyer, src.OfferID)
	waitAccepted(t, b, src.ID, agreementID)
	// The installments carry the charges; the upfront term grants the seats.
	terms := waitTerms(t, b, agreementID)
	if got := pricing(terms); got != "FixedUpfrontPricingTerm seats 0.0×10" || len(terms.PaymentSchedule) != 3 || terms.EstimatedValue != "1200.00" {
		t.Fatalf("accepted terms: %s, %d installments, estimated %s", got, len(terms.PaymentSchedule), terms.EstimatedValue)
	}

	dr := draftOf(t, b, agreementID)
	f := dr.Form
	if len(f.Pricing.Dimensions) != 1 || f.Pricing.Dimensions[0].Quantity != 10 || f.Pricing.Dimensions[0].Price != "120.00" {
		t.Fatalf("prefilled dimensions %+v", f.Pricing.Dimensions)
	}
	if got := fmt.Sprint(f.Pricing.Schedule); got != fmt.Sprintf("[{%s 400.00} {%s 400.00}]", day(90), day(180)) {
		t.Fatalf("carried-forward installments %s", got)
	}
	pv := dr.Preview
	if pv == nil || pv.PaidToDate != "400.00" || pv.ReplacedTotal != "800.00" || len(pv.Replaced) != 2 || pv.NewChargesTotal != "800.00" ||
		pv.Difference != "0.00" || !strings.Contains(pv.Summary, "its 2 pending installments (800.00 USD) are replaced by the amendment") {
		t.Fatalf("preview %+v", pv)
	}
	if !strings.Contains(strings.Join(dr.Notes, "\n"), "the 2 installments not charged yet are carried forward") {
		t.Fatalf("notes %q", dr.Notes)
	}

	// Five more seats, paid with the last installment.
	f.Pricing.Dimensions[0].Quantity = 15
	f.Pricing.Schedule[1].Amount = "1000.00"
	d := createOffer(t, b, f)
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "pricing.schedule: the installments add up to 1400.00 and the contract dimensions to 1800.00: "+
		"an amendment's payment schedule replaces the agreement's pending installments only") {
		t.Fatalf("warnings %q", d.Warnings)
	}
	submitOffer(t, b, d.ID)
	am := waitOffer(t, b, d.ID, offer.StatePublished)
	replacement := accept(t, b, buyer, am.OfferID)
	waitAccepted(t, b, am.ID, replacement)
	waitTerms(t, b, replacement)
	if got := fmt.Sprint(draftOf(t, b, replacement).Form.Pricing.Schedule); got != fmt.Sprintf("[{%s 400.00} {%s 1000.00}]", day(90), day(180)) {
		t.Fatalf("the replacement agreement's pending installments %s", got)
	}
}

// lcAmendPublic: amending an agreement made from the product's public offer
// (on a product with concurrent agreements off) warns that the agreement
// turns private and stops renewing; there is no concurrent alternative.
func lcAmendPublic(t *testing.T, b *bundle, buyer string) {
	var public, agreementID string
	emu(t, b, func(s *world.State) error {
		public = s.Products[legacyProduct].PublicOfferID
		return nil
	})
	agreementID = accept(t, b, buyer, public)
	waitTerms(t, b, agreementID)
	dr := draftOf(t, b, agreementID)
	if dr.Alternative != nil {
		t.Fatalf("a product with concurrent agreements off has an alternative: %+v", dr.Alternative)
	}
	f := dr.Form
	if f.Amends == nil || f.Amends.SourceOfferID != public || f.BuyerCompany != "" || len(f.Pricing.Dimensions) != 1 || f.Pricing.Dimensions[0].Quantity != 5 {
		t.Fatalf("prefilled amendment %+v", f)
	}
	f.BuyerCompany = "Initech"
	code, out := b.call(t, "POST", "/v1/offers/check", f)
	var chk offer.Check
	if json.Unmarshal(out, &chk); code != 200 || !chk.OK() || len(chk.Warnings) != 1 || chk.Warnings[0].Field != "amends" ||
		chk.Warnings[0].Message != "agreement "+agreementID+" came from a public offer: the amendment makes it a private agreement, and it will no longer renew automatically" {
		t.Fatalf("check of an amendment of a public offer's agreement: %d %s", code, out)
	}
	// Creating it keeps the warning.
	d := createOffer(t, b, f)
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "came from a public offer") {
		t.Fatalf("warnings %q", d.Warnings)
	}
}

// lcRenew: a renewal for a buyer whose agreement was bought in AWS
// Marketplace, and one for a buyer brought to the marketplace for the first
// time: AWS is told the pre-existing agreement's channel.
func lcRenew(t *testing.T, b *bundle, existing, newcomer string) {
	var public string
	emu(t, b, func(s *world.State) error { public = s.Products["prod-offers"].PublicOfferID; return nil })
	prior := accept(t, b, existing, public)
	waitTerms(t, b, prior)
	var priorEnd time.Time
	emu(t, b, func(s *world.State) error { priorEnd = *s.Agreements[prior].EndTime; return nil })
	// A renewal of prior that would start at acceptance, while prior is in
	// force, is refused unless the overlap is confirmed.
	over := offerForm(existing)
	over["renewal"], over["renews"] = true, prior
	code, out := b.call(t, "POST", "/v1/offers/check", over)
	var chk offer.Check
	if json.Unmarshal(out, &chk); code != 200 || chk.OK() || !strings.Contains(fmt.Sprint(chk.Problems), "agreement "+prior+" runs until "+priorEnd.UTC().Format(time.DateOnly)+
		": without a start date the renewal starts at acceptance and overlaps it; start it on "+offer.RenewalStart(priorEnd)) {
		t.Fatalf("check of an overlapping renewal: %d %s", code, out)
	}
	over["allowOverlap"] = true
	if code, out := b.call(t, "POST", "/v1/offers/check", over); code != 200 || !strings.Contains(string(out), `"problems":[]`) {
		t.Fatalf("check of a confirmed overlap: %d %s", code, out)
	}
	for _, tc := range []struct{ buyer, channel, acquisition, renews string }{
		{existing, offer.RenewalFromMarketplace, "AwsMarketplace", prior},
		{newcomer, offer.RenewalFromOutside, "External", ""},
	} {
		form := offerForm(tc.buyer)
		form["renewal"] = true
		if tc.renews != "" {
			form["renews"] = tc.renews
			form["pricing"].(map[string]any)["startDate"] = offer.RenewalStart(priorEnd)
		}
		d := createOffer(t, b, form)
		if d.RenewalChannel != tc.channel {
			t.Fatalf("renewal for %s: channel %q, want %s", tc.buyer, d.RenewalChannel, tc.channel)
		}
		submitOffer(t, b, d.ID)
		p := waitOffer(t, b, d.ID, offer.StatePublished)
		emu(t, b, func(s *world.State) error {
			var info struct {
				PreExistingAgreement struct{ AcquisitionChannel, PricingModel string }
			}
			json.Unmarshal(s.Offers[p.OfferID].Details["UpdateInformation"], &info)
			if info.PreExistingAgreement.AcquisitionChannel != tc.acquisition || info.PreExistingAgreement.PricingModel != "Contract" {
				return fmt.Errorf("the emulator's offer %s holds UpdateInformation %s", p.OfferID, s.Offers[p.OfferID].Details["UpdateInformation"])
			}
			return nil
		})
		agreementID := accept(t, b, tc.buyer, p.OfferID)
		a := waitAccepted(t, b, d.ID, agreementID)
		wantHistory(t, a, "draft/created: direct offer (renewal) for Initech ("+tc.buyer+")", "submitted/submitted", "submitted/change set started",
			"published/published", "accepted/accepted: agreement "+agreementID)
		if tc.renews == "" {
			continue
		}
		// AWS names no previous agreement for a new offer's agreement (intent
		// NEW): Concord links the renewal into prior's chain.
		eventually(t, agreementID+" to follow "+prior, func() bool {
			var got, before inbox.AgreementDetail
			_, out := b.do(t, "GET", "/v1/agreements/"+agreementID, b.key, nil)
			json.Unmarshal(out, &got)
			_, out = b.do(t, "GET", "/v1/agreements/"+prior, b.key, nil)
			json.Unmarshal(out, &before)
			return got.Intent == "NEW" && got.PreviousAgreementID == prior && got.InitialAgreementID == prior && before.NextAgreementID == agreementID &&
				before.Status == marketplace.StatusActive
		})
	}
	// A channel is for renewals only, and must be one of the two.
	form := offerForm(newcomer)
	form["renewalChannel"] = "external"
	code, out = b.call(t, "POST", "/v1/offers", form)
	wantRefused(t, "a channel without renewal", code, out, 400, "renewalChannel: only a renewal has a renewal channel")
	form["renewal"], form["renewalChannel"] = true, "reseller"
	code, out = b.call(t, "POST", "/v1/offers", form)
	wantRefused(t, "an unknown channel", code, out, 400, `renewalChannel: the renewal channel must be aws_marketplace`)
}

// TestOfferLifecycleExpiry: a published direct offer nobody accepts expires
// when the clock passes its expiration date, in Concord and in the emulator.
func TestOfferLifecycleExpiry(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			const buyer = "220000000001"
			b := lifecycleSetup(t, dialect, buyer)
			now := b.app.Emulator.World.Now()
			if midnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour); midnight.Sub(now) < 10*time.Minute {
				b.app.Emulator.World.Advance(midnight.Sub(now) + time.Minute) // not across midnight while publishing
				now = b.app.Emulator.World.Now()
			}
			form := offerForm(buyer)
			form["expiresOn"] = now.Format(time.DateOnly)
			p := publish(t, b, form)
			midnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
			if err := b.app.Emulator.World.Advance(midnight.Sub(b.app.Emulator.World.Now()) + time.Minute); err != nil {
				t.Fatal(err)
			}
			d := waitOffer(t, b, p.ID, offer.StateExpired)
			wantHistory(t, d, append(publishedSteps(p, "direct offer"), "expired/expired: not accepted by its expiration date")...)
			emu(t, b, func(s *world.State) error {
				if o := s.Offers[p.OfferID]; o.State != "Expired" {
					return fmt.Errorf("the emulator's offer is %s", o.State)
				}
				if _, err := s.Accept(buyer, p.OfferID, world.AcceptOptions{}); err == nil {
					return fmt.Errorf("the buyer accepted an expired offer")
				}
				return nil
			})
			code, out := b.call(t, "POST", "/v1/offers/"+p.ID+"/cancel", nil)
			wantRefused(t, "cancel an expired offer", code, out, 409, "is expired and cannot be cancelled")
		})
	}
}

// TestOfferAcceptedBeforeConcordSawItPublished: Concord cannot see its
// change sets end (DescribeChangeSet fails, as while Concord is down) while
// AWS has published the offers, the partner extends its offer and both buyers
// accept; once Concord sees the change sets succeed, the direct offer and the
// partner offer end accepted, reconciled with the agreements in the ledger.
func TestOfferAcceptedBeforeConcordSawItPublished(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			const directBuyer, partnerBuyer = "240000000001", "240000000002"
			b := lifecycleSetup(t, dialect, directBuyer, partnerBuyer)
			emu(t, b, func(s *world.State) error {
				s.SetFaults(map[string]world.Fault{"DescribeChangeSet": {ErrorShare: 1}}, 1)
				return nil
			})
			direct, partner := createOffer(t, b, offerForm(directBuyer)), createOffer(t, b, partnerForm(partnerBuyer))
			submitOffer(t, b, direct.ID)
			submitOffer(t, b, partner.ID)
			// created is what AWS created for an offer, once its change set succeeded.
			created := func(id string) string {
				var entity string
				eventually(t, "the change set of "+id+" to succeed in AWS", func() bool {
					cs := getOffer(t, b, id).ChangeSetID
					b.app.Emulator.World.Read(func(s *world.State) error {
						if c := s.ChangeSets[cs]; c != nil && c.Status == "SUCCEEDED" {
							var r struct {
								Changes []struct {
									EntityID string `json:"entityId"`
									Created  bool   `json:"created"`
								} `json:"changes"`
							}
							json.Unmarshal(c.Result, &r)
							for _, ch := range r.Changes {
								if ch.Created {
									entity = ch.EntityID
								}
							}
						}
						return nil
					})
					return entity != ""
				})
				return entity
			}
			offerID, resaleAuthorizationID := created(direct.ID), created(partner.ID)
			var partnerOfferID, directAgreement, partnerAgreement string
			emu(t, b, func(s *world.State) error {
				a, err := s.Accept(directBuyer, offerID, world.AcceptOptions{})
				if err != nil {
					return err
				}
				directAgreement = a.ID
				o, err := s.CreatePartnerOffer(resaleAuthorizationID, world.Offer{BuyerAccounts: []string{partnerBuyer}, Quantities: map[string]int64{"seats": 10}})
				if err != nil {
					return err
				}
				partnerOfferID = o.OfferID
				if a, err = s.Accept(partnerBuyer, o.OfferID, world.AcceptOptions{}); err == nil {
					partnerAgreement = a.ID
				}
				return err
			})
			// The agreements are in the ledger before Concord knows its offers are out.
			for _, id := range []string{directAgreement, partnerAgreement} {
				eventually(t, "agreement "+id+" in the ledger", func() bool {
					code, _ := b.do(t, "GET", "/v1/agreements/"+id, b.key, nil)
					return code == 200
				})
			}
			for _, id := range []string{direct.ID, partner.ID} {
				if d := getOffer(t, b, id); d.State != offer.StateSubmitted {
					t.Fatalf("offer %s is %s before Concord saw its change set end", id, d.State)
				}
			}
			emu(t, b, func(s *world.State) error { s.SetFaults(nil, 1); return nil })
			b.app.Emulator.World.Advance(time.Minute) // past the tracking jobs' backoff

			d := waitAccepted(t, b, direct.ID, directAgreement)
			wantHistory(t, d, "draft/created", "submitted/submitted", "submitted/change set started", "published/published: offer "+offerID,
				"accepted/accepted: agreement "+directAgreement+"; the buyer had accepted before Concord knew the offer id; reconciled")
			p := waitAccepted(t, b, partner.ID, partnerAgreement)
			if p.OfferID != partnerOfferID || p.ResaleAuthorizationID != resaleAuthorizationID {
				t.Fatalf("partner offer %+v", p.Offer)
			}
			wantHistory(t, p, "draft/created", "submitted/submitted", "submitted/change set started",
				"published/published: resale authorization "+resaleAuthorizationID,
				"published/partner offer id learnt: offer "+partnerOfferID+" from agreement "+partnerAgreement,
				"accepted/accepted: agreement "+partnerAgreement+"; the partner's offer id arrived with the agreement; reconciled")
		})
	}
}
