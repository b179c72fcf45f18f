package offer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/clocktest"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// env is a database with product prod-o configured, a ledger whose agreement
// hook is the offer service's, and the service, on a fake clock set to now.
type env struct {
	t      *testing.T
	db     *store.DB
	clock  *clocktest.Clock
	ledger *inbox.Ledger
	svc    *offer.Service
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	e := &env{t: t, db: db, clock: clocktest.New(now)}
	e.svc = &offer.Service{DB: db, Now: e.clock.Now, Logger: logger, DocumentStore: memStore{}}
	e.ledger = &inbox.Ledger{DB: db, Now: e.clock.Now, Logger: logger, AgreementHooks: []inbox.AgreementHook{e.svc.AgreementHook}}
	if _, err := e.ledger.PutProduct(context.Background(), product()); err != nil {
		t.Fatal(err)
	}
	return e
}

// memStore stands in for the S3 bucket in the service's own tests (the app's
// tests upload to the emulator's S3 through the official client).
type memStore struct{}

func (memStore) Publish(_ context.Context, key, _ string, _ []byte) (string, error) {
	return "https://s3.amazonaws.com/test-bucket/" + key, nil
}

// agreement is an active agreement of buyerAccount for prod-o made from offer
// offerID; a resale authorization makes it a partner-sold (CPPO) one.
func agreement(id, offerID, resaleAuthorization string) eventbridge.Agreement {
	a := eventbridge.Agreement{ID: id, Intent: marketplace.IntentNew, AcceptanceTime: now.Add(-time.Hour), StartTime: now.Add(-time.Hour),
		EndTime: now.AddDate(1, 0, 0), AcceptorAccountID: buyerAccount, ProposerAccountID: inboxtest.Seller, OfferID: offerID,
		ProductID: "prod-o", ResaleAuthorizationID: resaleAuthorization}
	if resaleAuthorization != "" {
		a.ProposerAccountID = partnerAccount
	}
	return a
}

// event folds an EventBridge event into the ledger (running the agreement hooks).
func (e *env) event(body []byte) {
	e.t.Helper()
	ev, err := marketplace.ParseEventBridge(body)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.ledger.Ingest(context.Background(), "test", ev); err != nil {
		e.t.Fatal(err)
	}
}

// created ingests "Purchase Agreement Created" for a.
func (e *env) created(a eventbridge.Agreement) {
	e.t.Helper()
	e.event(eventbridge.Created(inboxtest.Seller, a, e.clock.Now()))
}

func (e *env) create(o offer.Offer) offer.Detail {
	e.t.Helper()
	d, err := e.svc.Create(context.Background(), o)
	if err != nil {
		e.t.Fatalf("create: %v", err)
	}
	return d
}

func (e *env) associate(a offer.Association) offer.Detail {
	e.t.Helper()
	d, err := e.svc.Associate(context.Background(), a)
	if err != nil {
		e.t.Fatalf("associate: %v", err)
	}
	return d
}

func (e *env) get(id string) offer.Detail {
	e.t.Helper()
	d, err := e.svc.Get(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get %s: %v", id, err)
	}
	return d
}

func (e *env) count(table string) int {
	e.t.Helper()
	return storetest.Count(e.t, e.db, table)
}

// wantErr fails unless err has the code and its message holds each part.
func wantErr(t *testing.T, err error, code string, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := marketplace.ErrorCode(err); got != code {
		t.Errorf("error %q has code %s, want %s", err, got, code)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

// formJSON is the part of an offer RevOps fills in, as JSON.
func formJSON(t *testing.T, o offer.Offer) string {
	t.Helper()
	o.ID, o.State, o.OfferID, o.ResaleAuthorizationID, o.ChangeSetID, o.AgreementID, o.Failure = "", "", "", "", "", "", ""
	o.Warnings, o.CreatedAt, o.UpdatedAt = nil, time.Time{}, time.Time{}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// steps lists a history as "state/step: message".
func steps(d offer.Detail) []string {
	out := make([]string, len(d.History))
	for i, s := range d.History {
		out[i] = s.State + "/" + s.Step + ": " + s.Message
	}
	return out
}

func wantSteps(t *testing.T, d offer.Detail, want ...string) {
	t.Helper()
	got := steps(d)
	if len(got) != len(want) {
		t.Fatalf("history of %s:\n %s\nwant %d steps:\n %s", d.ID, strings.Join(got, "\n "), len(want), strings.Join(want, "\n "))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("history step %d of %s is %q, want %q…", i, d.ID, got[i], want[i])
		}
	}
}

func TestCreate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()

		// A bad form is refused with all its problems, and nothing is stored.
		bad := partner()
		bad.BuyerCompany, bad.ResellerAgreement, bad.ExpiresOn = "", nil, "2026-10-01"
		bad.Pricing.Dimensions[0].Quantity = 0
		delete(bad.Metadata, offer.MetaPartnerAccount)
		check, err := e.svc.Check(ctx, bad)
		if err != nil {
			t.Fatal(err)
		}
		if len(check.Problems) != 5 {
			t.Fatalf("Check found %d problems, want 5: %s", len(check.Problems), show(check.Problems))
		}
		_, err = e.svc.Create(ctx, bad)
		var parts []string
		for _, p := range check.Problems {
			parts = append(parts, p.Field+": "+p.Message)
		}
		wantErr(t, err, marketplace.EInvalid, parts...)
		unknown := direct()
		unknown.ProductID = "prod-x"
		_, err = e.svc.Create(ctx, unknown)
		wantErr(t, err, marketplace.EInvalid, "productId: product prod-x is not known to Concord")
		if n, h := e.count("offers"), e.count("offer_history"); n != 0 || h != 0 {
			t.Fatalf("refused forms stored %d offers and %d history steps", n, h)
		}

		// A valid form is a draft; what AWS assigns cannot be set by the form;
		// the warnings are kept with it.
		form := direct()
		form.Metadata[offer.MetaCPPOOpportunityID] = "O1"
		form.ID, form.State, form.OfferID, form.AgreementID, form.ResaleAuthorizationID = "ofr_mine", offer.StateAccepted, "offer-x", "agmt-x", "ra-x"
		form.Warnings = []string{"forged"}
		d := e.create(form)
		if !strings.HasPrefix(d.ID, "ofr_") || d.ID == "ofr_mine" || d.State != offer.StateDraft || d.OfferID != "" || d.AgreementID != "" || d.ResaleAuthorizationID != "" {
			t.Fatalf("created %+v", d.Offer)
		}
		if formJSON(t, d.Offer) != formJSON(t, form) {
			t.Errorf("stored form\n %s\nwant\n %s", formJSON(t, d.Offer), formJSON(t, form))
		}
		if want := []string{"metadata.CPPO Opportunity ID: a CPPO opportunity id belongs on a partner offer"}; strings.Join(d.Warnings, "|") != strings.Join(want, "|") {
			t.Errorf("warnings %q, want %q", d.Warnings, want)
		}
		if !d.CreatedAt.Equal(now) || !d.UpdatedAt.Equal(now) {
			t.Errorf("created at %s, updated at %s, want %s", d.CreatedAt, d.UpdatedAt, now)
		}
		wantSteps(t, d, "draft/created: direct offer for Acme Corp (444455556666)")
		if got := e.get(d.ID); formJSON(t, got.Offer) != formJSON(t, d.Offer) || got.State != offer.StateDraft || len(got.History) != 1 {
			t.Errorf("get %+v, want %+v", got, d)
		}

		// Each kind of form: partner, renewal, zero-dollar.
		p := e.create(partner())
		if p.Type != offer.TypePartner || len(p.Warnings) != 0 {
			t.Errorf("partner offer %+v", p.Offer)
		}
		r := direct()
		r.Renewal = true
		wantSteps(t, e.create(r), "draft/created: direct offer (renewal) for Acme Corp")
		z := direct()
		z.ZeroDollar, z.Pricing.Dimensions[0].Price = true, "0"
		e.create(z)
		if _, err := e.svc.Get(ctx, "ofr_none"); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("get of an unknown offer: %v", err)
		}
	})
}

func TestCreateAmendment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		e.created(agreement("agmt-d", "offer-d", ""))
		e.created(agreement("agmt-p", "offer-p", "resaleauthz-p"))

		am, _ := amendment()
		am.Amends = &offer.Amendment{AgreementID: "agmt-d", SourceOfferID: "offer-d"}
		d := e.create(am)
		if len(d.Warnings) != 0 {
			t.Errorf("amendment warnings %q", d.Warnings)
		}
		wantSteps(t, d, "draft/created: amendment of agreement agmt-d for Acme Corp (444455556666)")

		// The ledger's agreement is checked: its last offer, its seller of record.
		am.Amends.SourceOfferID = "offer-old"
		_, err := e.svc.Create(ctx, am)
		wantErr(t, err, marketplace.EInvalid, "amends.sourceOfferId: the offer last accepted for agreement agmt-d is offer-d, not offer-old")
		am.Amends = &offer.Amendment{AgreementID: "agmt-p", SourceOfferID: "offer-p"}
		_, err = e.svc.Create(ctx, am)
		wantErr(t, err, marketplace.EInvalid, "type: agreement agmt-p was sold by a channel partner")
		pam, _ := partnerAmendment()
		pam.Amends = &offer.Amendment{AgreementID: "agmt-p", SourceOfferID: "offer-p"}
		e.create(pam)
		pam.Amends = &offer.Amendment{AgreementID: "agmt-d", SourceOfferID: "offer-d"}
		_, err = e.svc.Create(ctx, pam)
		wantErr(t, err, marketplace.EInvalid, "type: agreement agmt-d was sold directly")

		// An ended agreement cannot be amended.
		e.event(eventbridge.Ended(inboxtest.Seller, agreement("agmt-d", "offer-d", ""), marketplace.StatusCancelled, now))
		am.Amends = &offer.Amendment{AgreementID: "agmt-d", SourceOfferID: "offer-d"}
		_, err = e.svc.Create(ctx, am)
		wantErr(t, err, marketplace.EInvalid, "amends.agreementId: agreement agmt-d is CANCELLED: only an active agreement can be amended")

		// An agreement the ledger does not know is a warning.
		am.Amends = &offer.Amendment{AgreementID: "agmt-unknown", SourceOfferID: "offer-u"}
		d = e.create(am)
		if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "agreement agmt-unknown is not in the ledger") {
			t.Errorf("warnings %q", d.Warnings)
		}
	})
}

func TestUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()

		// A draft changes in full, even its type.
		d := e.create(direct())
		e.clock.Advance(time.Minute)
		next := partner()
		next.Name = "Acme via partner"
		u, err := e.svc.Update(ctx, d.ID, next)
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != d.ID || u.State != offer.StateDraft || formJSON(t, u.Offer) != formJSON(t, next) || !u.CreatedAt.Equal(now) || !u.UpdatedAt.Equal(now.Add(time.Minute)) {
			t.Errorf("updated %+v", u.Offer)
		}
		wantSteps(t, u, "draft/created: ", "draft/edited")

		// A bad form leaves the draft as it was.
		bad := next
		bad.Metadata = map[string]string{offer.MetaBuyerAccount: "1"}
		_, err = e.svc.Update(ctx, d.ID, bad)
		wantErr(t, err, marketplace.EInvalid, "metadata.AWS Account Number: the buyer's AWS account number must be 12 digits")
		if got := e.get(d.ID); formJSON(t, got.Offer) != formJSON(t, next) || len(got.History) != 2 {
			t.Errorf("refused update changed the offer: %+v", got)
		}
		_, err = e.svc.Update(ctx, "ofr_none", next)
		wantErr(t, err, marketplace.ENotFound)

		// An offer out with the buyer changes only in its booking data.
		pub := e.associate(offer.Association{Form: direct(), OfferID: "offer-pub"})
		if pub.State != offer.StatePublished {
			t.Fatalf("associated offer is %s", pub.State)
		}
		booking := direct()
		booking.BuyerCompany = "Acme Corporation"
		booking.Registration = map[string]string{"company": "Acme Corporation", "contactName": "IT desk"}
		booking.Metadata["Salesforce Opportunity"] = "006ABC"
		booking.Metadata["Region"] = "EMEA"
		booking.NotifyUsers = []string{"ae2@seller.example"}
		u, err = e.svc.Update(ctx, pub.ID, booking)
		if err != nil {
			t.Fatal(err)
		}
		if u.State != offer.StatePublished || u.OfferID != "offer-pub" || formJSON(t, u.Offer) != formJSON(t, booking) {
			t.Errorf("booking update gave %+v", u.Offer)
		}
		wantSteps(t, u, "published/associated: offer offer-pub", "published/edited")
		conflict := "offer " + pub.ID + " is published: only the buyer's company, registration details, contract metadata (not the AWS account numbers) and the users to notify can change now; clone it for a new offer"
		for name, edit := range map[string]func(o *offer.Offer){
			"price":           func(o *offer.Offer) { o.Pricing.Dimensions[0].Price = "1000.00" },
			"quantity":        func(o *offer.Offer) { o.Pricing.Dimensions[0].Quantity = 20 },
			"name":            func(o *offer.Offer) { o.Name = "Acme Corp expansion, revised" },
			"expiration":      func(o *offer.Offer) { o.ExpiresOn = "2026-12-15" },
			"EULA":            func(o *offer.Offer) { o.EULA = partner().EULA },
			"buyer account":   func(o *offer.Offer) { o.Metadata[offer.MetaBuyerAccount] = "999988887777" },
			"partner account": func(o *offer.Offer) { o.Metadata[offer.MetaPartnerAccount] = partnerAccount },
			"renewal":         func(o *offer.Offer) { o.Renewal = true },
			"type":            func(o *offer.Offer) { *o = partner() },
		} {
			f := booking
			f.Metadata = map[string]string{}
			for k, v := range booking.Metadata {
				f.Metadata[k] = v
			}
			f.Pricing.Dimensions = append([]offer.PricedDimension(nil), booking.Pricing.Dimensions...)
			edit(&f)
			_, err := e.svc.Update(ctx, pub.ID, f)
			if marketplace.ErrorCode(err) != marketplace.EConflict || !strings.HasSuffix(err.Error(), conflict) {
				t.Errorf("changing the %s of a published offer: %v, want conflict %q", name, err, conflict)
			}
		}
		if got := e.get(pub.ID); formJSON(t, got.Offer) != formJSON(t, booking) || len(got.History) != 2 {
			t.Errorf("refused updates changed the offer: %+v", got)
		}

		// An accepted offer does not change at all.
		e.created(agreement("agmt-pub", "offer-pub", ""))
		if got := e.get(pub.ID); got.State != offer.StateAccepted {
			t.Fatalf("offer is %s after its agreement, want accepted", got.State)
		}
		_, err = e.svc.Update(ctx, pub.ID, booking)
		wantErr(t, err, marketplace.EConflict, "offer "+pub.ID+" is accepted and can no longer change; clone it for a new offer")

		// Nor does a cancelled one.
		c := e.create(direct())
		if _, err := e.svc.Cancel(ctx, c.ID, "typo"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Update(ctx, c.ID, direct())
		wantErr(t, err, marketplace.EConflict, "is cancelled and can no longer change")
	})
}

func TestClone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		src := e.create(partner())
		c, err := e.svc.Clone(ctx, src.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.ID == src.ID || !strings.HasPrefix(c.ID, "ofr_") || c.State != offer.StateDraft || formJSON(t, c.Offer) != formJSON(t, src.Offer) {
			t.Errorf("clone %+v of %+v", c.Offer, src.Offer)
		}
		wantSteps(t, c, "draft/created: partner offer for Acme Corp", "draft/cloned: from offer "+src.ID)
		wantSteps(t, e.get(src.ID), "draft/created")

		// A clone of an accepted offer is a new draft, without what AWS assigned.
		acc := e.associate(offer.Association{Form: direct(), OfferID: "offer-acc"})
		e.created(agreement("agmt-acc", "offer-acc", ""))
		c, err = e.svc.Clone(ctx, acc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != offer.StateDraft || c.OfferID != "" || c.AgreementID != "" || formJSON(t, c.Offer) != formJSON(t, acc.Offer) {
			t.Errorf("clone of an accepted offer: %+v", c.Offer)
		}
		wantSteps(t, c, "draft/created", "draft/cloned: from offer "+acc.ID)
		if _, err := e.svc.Clone(ctx, "ofr_none"); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("clone of an unknown offer: %v", err)
		}
		if n := e.count("offers"); n != 4 {
			t.Errorf("%d offers, want 4", n)
		}
	})
}

// TestCloneAfterExpiry: Update tells RevOps to "clone it for a new offer" once
// an offer is accepted or expired; by then its expiration date has usually
// passed, and the clone must still be made (as a draft to fix).
func TestCloneAfterExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		src := e.create(direct()) // expires on 2026-12-01
		e.clock.Advance(60 * 24 * time.Hour)
		c, err := e.svc.Clone(context.Background(), src.ID)
		if err != nil {
			t.Fatalf("clone of an offer past its expiration date: %v", err)
		}
		if c.State != offer.StateDraft {
			t.Errorf("clone is %s", c.State)
		}
	})
}

func TestCancel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		d := e.create(direct())
		e.clock.Advance(time.Minute)
		c, err := e.svc.Cancel(ctx, d.ID, "wrong buyer")
		if err != nil {
			t.Fatal(err)
		}
		if c.State != offer.StateCancelled || !c.UpdatedAt.Equal(now.Add(time.Minute)) {
			t.Errorf("cancelled %+v", c.Offer)
		}
		wantSteps(t, c, "draft/created", "cancelled/cancelled: wrong buyer")
		_, err = e.svc.Cancel(ctx, d.ID, "again")
		wantErr(t, err, marketplace.EConflict, "offer "+d.ID+" is cancelled and cannot be cancelled")

		// A partner offer the partner extended: the reseller cancels first.
		x := e.associate(offer.Association{Form: partner(), OfferID: "offer-ext"})
		if x.State != offer.StateExtended {
			t.Fatalf("associated partner offer is %s, want extended", x.State)
		}
		_, err = e.svc.Cancel(ctx, x.ID, "")
		wantErr(t, err, marketplace.EConflict, "the partner has already extended offer offer-ext to the buyer: the reseller must cancel its offer first")
		if got := e.get(x.ID); got.State != offer.StateExtended {
			t.Errorf("refused cancel left it %s", got.State)
		}

		// A published offer is withdrawn in AWS first (the job runs in the
		// app tests); a second cancel while it is cancelling is refused.
		p := e.associate(offer.Association{Form: direct(), OfferID: "offer-c"})
		w, err := e.svc.Cancel(ctx, p.ID, "buyer went elsewhere")
		if err != nil {
			t.Fatal(err)
		}
		if w.State != offer.StateCancelling {
			t.Errorf("published offer cancelled to %s, want cancelling", w.State)
		}
		wantSteps(t, w, "published/associated: offer offer-c", "cancelling/cancellation requested: ending offer offer-c's availability in AWS; buyer went elsewhere")
		_, err = e.svc.Cancel(ctx, p.ID, "")
		wantErr(t, err, marketplace.EConflict, "is already being withdrawn in AWS")
		// The buyer accepting meanwhile wins.
		e.created(agreement("agmt-c", "offer-c", ""))
		_, err = e.svc.Cancel(ctx, p.ID, "")
		wantErr(t, err, marketplace.EConflict, "offer "+p.ID+" is accepted and cannot be cancelled")
		_, err = e.svc.Cancel(ctx, "ofr_none", "")
		wantErr(t, err, marketplace.ENotFound)
	})
}

func TestAssociate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()

		// A direct offer by its offer id.
		d := e.associate(offer.Association{Form: direct(), OfferID: "offer-a1"})
		if d.State != offer.StatePublished || d.OfferID != "offer-a1" || d.AgreementID != "" || formJSON(t, d.Offer) != formJSON(t, direct()) {
			t.Errorf("associated %+v", d.Offer)
		}
		wantSteps(t, d, "published/associated: offer offer-a1")

		// A partner offer by its offer id (extended) or by its CPPO opportunity.
		p := e.associate(offer.Association{Form: partner(), OfferID: "offer-a2"})
		if p.State != offer.StateExtended || p.OfferID != "offer-a2" {
			t.Errorf("associated partner offer %+v", p.Offer)
		}
		o := e.associate(offer.Association{Form: partner()})
		if o.State != offer.StatePublished || o.OfferID != "" {
			t.Errorf("associated partner offer by opportunity %+v", o.Offer)
		}
		wantSteps(t, o, "published/associated: CPPO opportunity O1234567")

		// Neither an offer id nor, for a partner offer, a CPPO opportunity id.
		neither := `give the offer id, or for a partner offer the "CPPO Opportunity ID" in the contract metadata`
		_, err := e.svc.Associate(ctx, offer.Association{Form: direct()})
		wantErr(t, err, marketplace.EInvalid, neither)
		noOpp := partner()
		delete(noOpp.Metadata, offer.MetaCPPOOpportunityID)
		noOpp.Metadata["CPPO opportunity id"] = "O1" // the wrong case does not count
		_, err = e.svc.Associate(ctx, offer.Association{Form: noOpp})
		wantErr(t, err, marketplace.EInvalid, neither)
		directOpp := direct()
		directOpp.Metadata[offer.MetaCPPOOpportunityID] = "O2"
		_, err = e.svc.Associate(ctx, offer.Association{Form: directOpp})
		wantErr(t, err, marketplace.EInvalid, neither)
		_, err = e.svc.Associate(ctx, offer.Association{Form: direct(), OfferID: "12345"})
		wantErr(t, err, marketplace.EInvalid, `"12345" is not an AWS offer id (offer-…)`)
		_, err = e.svc.Associate(ctx, offer.Association{Form: direct(), OfferID: "offer-a1"})
		wantErr(t, err, marketplace.EConflict, "offer offer-a1 is already tracked as "+d.ID)
		bad := direct()
		bad.Metadata = nil
		_, err = e.svc.Associate(ctx, offer.Association{Form: bad, OfferID: "offer-a3"})
		wantErr(t, err, marketplace.EInvalid, "metadata.AWS Account Number: the buyer's AWS account number is required")
		if n := e.count("offers"); n != 3 {
			t.Errorf("%d offers, want 3", n)
		}

		// An offer made elsewhere may be past its dates.
		old := direct()
		old.ExpiresOn, old.Pricing.Duration, old.Pricing.EndDate = "2025-01-31", "", "2025-12-31"
		e.associate(offer.Association{Form: old, OfferID: "offer-old"})

		// An offer the buyer already accepted is accepted at once.
		e.created(agreement("agmt-late", "offer-late", ""))
		l := e.associate(offer.Association{Form: direct(), OfferID: "offer-late"})
		if l.State != offer.StateAccepted || l.AgreementID != "agmt-late" {
			t.Errorf("associated accepted offer %+v", l.Offer)
		}
		wantSteps(t, l, "published/associated: offer offer-late",
			"accepted/accepted: agreement agmt-late; the buyer had accepted before Concord knew the offer id; reconciled")
	})
}

func TestAgreementHook(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()

		// The agreement made from an associated offer accepts it.
		d := e.associate(offer.Association{Form: direct(), OfferID: "offer-h1"})
		other := e.associate(offer.Association{Form: direct(), OfferID: "offer-h2"})
		e.clock.Advance(time.Minute)
		a := agreement("agmt-h1", "offer-h1", "")
		e.created(a)
		got := e.get(d.ID)
		if got.State != offer.StateAccepted || got.AgreementID != "agmt-h1" || !got.UpdatedAt.Equal(now.Add(time.Minute)) {
			t.Errorf("after its agreement: %+v", got.Offer)
		}
		wantSteps(t, got, "published/associated", "accepted/accepted: agreement agmt-h1")
		if got.History[1].Message != "agreement agmt-h1" {
			t.Errorf("acceptance note %q", got.History[1].Message)
		}
		if o := e.get(other.ID); o.State != offer.StatePublished || len(o.History) != 1 {
			t.Errorf("another offer changed: %+v", o)
		}
		// Later events of the agreement do not accept it again.
		e.event(eventbridge.Amended(inboxtest.Seller, a, now.Add(2*time.Minute)))
		if got := e.get(d.ID); len(got.History) != 2 || got.AgreementID != "agmt-h1" {
			t.Errorf("after a second event: %v", steps(got))
		}

		// A partner offer whose partner's offer id is not known yet is matched
		// by its resale authorization and learns the offer id. Publishing is
		// not built here, so the resale authorization AWS would assign is set
		// in the offers table directly.
		p := e.create(partner())
		err := db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE offers SET state = ?, resale_authorization_id = ? WHERE id = ?`, offer.StatePublished, "resaleauthz-h3", p.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		e.created(agreement("agmt-h3", "offer-h3", "resaleauthz-h3"))
		got = e.get(p.ID)
		if got.State != offer.StateAccepted || got.OfferID != "offer-h3" || got.AgreementID != "agmt-h3" || got.ResaleAuthorizationID != "resaleauthz-h3" {
			t.Errorf("partner offer after its agreement: %+v", got.Offer)
		}
		wantSteps(t, got, "draft/created",
			"published/partner offer id learnt: offer offer-h3 from agreement agmt-h3",
			"accepted/accepted: agreement agmt-h3; the partner's offer id arrived with the agreement; reconciled")

		// An agreement of no offer Concord knows changes nothing.
		e.created(agreement("agmt-h4", "offer-h4", "resaleauthz-h4"))
		if n, h := e.count("offers"), e.count("offer_history"); n != 3 || h != 6 {
			t.Errorf("%d offers and %d history steps, want 3 and 6", n, h)
		}
	})
}

// TestAssociateTakesNoAssignedFields: as with Create, what AWS assigns (the
// agreement, the change set) and Concord's own failure note are not taken
// from the form; only the association's offer id is.
func TestAssociateTakesNoAssignedFields(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		f := direct()
		f.State, f.AgreementID, f.ChangeSetID, f.Failure = offer.StateAccepted, "agmt-forged", "cs-forged", "forged failure"
		d := e.associate(offer.Association{Form: f, OfferID: "offer-f"})
		if d.State != offer.StatePublished || d.OfferID != "offer-f" {
			t.Errorf("associated %s with offer id %q", d.State, d.OfferID)
		}
		if d.AgreementID != "" || d.ChangeSetID != "" || d.Failure != "" {
			t.Errorf("a published offer took agreement %q, change set %q, failure %q from the form", d.AgreementID, d.ChangeSetID, d.Failure)
		}
	})
}

// TestRenewalChannel: a renewal's channel is filled from the ledger (the
// buyer holds an agreement for the product: bought in AWS Marketplace; else
// brought to the marketplace for the first time), unless RevOps gave one; a
// channel belongs to renewals only, and is one of the two.
func TestRenewalChannel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		e.created(agreement("agmt-r", "offer-r", ""))

		r := direct()
		r.Renewal = true
		if d := e.create(r); d.RenewalChannel != offer.RenewalFromMarketplace {
			t.Errorf("renewal of a buyer with an agreement: channel %q, want %s", d.RenewalChannel, offer.RenewalFromMarketplace)
		}
		n := direct()
		n.Renewal, n.Metadata[offer.MetaBuyerAccount] = true, "999988887777"
		if d := e.create(n); d.RenewalChannel != offer.RenewalFromOutside {
			t.Errorf("renewal of a buyer new to the marketplace: channel %q, want %s", d.RenewalChannel, offer.RenewalFromOutside)
		}
		given := direct()
		given.Renewal, given.RenewalChannel = true, offer.RenewalFromOutside
		if d := e.create(given); d.RenewalChannel != offer.RenewalFromOutside {
			t.Errorf("a given channel became %q", d.RenewalChannel)
		}
		if d := e.create(direct()); d.RenewalChannel != "" {
			t.Errorf("an offer that is no renewal has channel %q", d.RenewalChannel)
		}

		bad := direct()
		bad.RenewalChannel = offer.RenewalFromOutside
		_, err := e.svc.Create(ctx, bad)
		wantErr(t, err, marketplace.EInvalid, "renewalChannel: only a renewal has a renewal channel: tick renewal, or leave the channel empty")
		chk, err := e.svc.Check(ctx, bad)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, chk, []want{{"renewalChannel", "only a renewal has a renewal channel"}}, nil)
		bad.Renewal, bad.RenewalChannel = true, "partner"
		_, err = e.svc.Create(ctx, bad)
		wantErr(t, err, marketplace.EInvalid, `renewalChannel: the renewal channel must be aws_marketplace (the agreement was bought in AWS Marketplace) or external (brought to the marketplace for the first time), not "partner"`)
		if n := e.count("offers"); n != 4 {
			t.Errorf("%d offers, want 4", n)
		}
	})
}

// fakeCatalog answers DescribeOffer from a table of offers (public or not),
// ENotFound for others, and records what it was asked; it publishes nothing.
type fakeCatalog struct {
	mu     sync.Mutex
	public map[string]bool
	asked  []string
}

func (f *fakeCatalog) StartChangeSet(context.Context, string, string, []offer.Change) (string, error) {
	return "", errors.New("not in these tests")
}

func (f *fakeCatalog) DescribeChangeSet(context.Context, string) (offer.ChangeSetStatus, error) {
	return offer.ChangeSetStatus{}, errors.New("not in these tests")
}

func (f *fakeCatalog) DescribeOffer(_ context.Context, id string) (offer.OfferInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, id)
	public, ok := f.public[id]
	if !ok {
		return offer.OfferInfo{}, marketplace.Errorf(marketplace.ENotFound, "DescribeEntity: entity %s not found", id)
	}
	return offer.OfferInfo{OfferID: id, Private: !public}, nil
}

// TestAmendmentOfAPublicOffersAgreement: Concord asks the Catalog API
// whether an amendment's source offer is public (the amendment then makes
// the agreement private and ends its auto-renewal), warns when it cannot
// tell, and does not ask about its own (private) offers.
func TestAmendmentOfAPublicOffersAgreement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		cat := &fakeCatalog{public: map[string]bool{"offer-pub": true, "offer-priv": false}}
		e.svc.Catalog = cat
		amend := func(agreementID, sourceOfferID string) offer.Offer {
			o, _ := amendment()
			o.Amends = &offer.Amendment{AgreementID: agreementID, SourceOfferID: sourceOfferID}
			return o
		}
		for _, id := range []string{"pub", "priv", "gone"} {
			e.created(agreement("agmt-"+id, "offer-"+id, ""))
		}

		public := "agreement agmt-pub came from a public offer: the amendment makes it a private agreement, and it will no longer renew automatically"
		chk, err := e.svc.Check(ctx, amend("agmt-pub", "offer-pub"))
		if err != nil {
			t.Fatal(err)
		}
		expect(t, chk, nil, []want{{"amends", public}})
		if chk.Preview == nil {
			t.Error("the check of an amendment has no preview")
		}
		if d := e.create(amend("agmt-pub", "offer-pub")); strings.Join(d.Warnings, "|") != "amends: "+public {
			t.Errorf("warnings %q", d.Warnings)
		}
		chk, _ = e.svc.Check(ctx, amend("agmt-priv", "offer-priv"))
		expect(t, chk, nil, nil)
		chk, _ = e.svc.Check(ctx, amend("agmt-gone", "offer-gone"))
		expect(t, chk, nil, []want{{"amends.sourceOfferId", "Concord could not ask AWS whether offer offer-gone is public: " +
			"if it is, the amendment makes agreement agmt-gone private and it will no longer renew automatically"}})

		// Concord's own offers are private: AWS is not asked.
		e.associate(offer.Association{Form: direct(), OfferID: "offer-mine"})
		e.created(agreement("agmt-mine", "offer-mine", ""))
		cat.asked = nil
		chk, _ = e.svc.Check(ctx, amend("agmt-mine", "offer-mine"))
		expect(t, chk, nil, nil)
		if len(cat.asked) != 0 {
			t.Errorf("AWS was asked about %q", cat.asked)
		}
	})
}

// TestInstructionsAndViewed: purchase instructions go out for a published
// direct offer only, to valid addresses; they keep one tracked link, which
// marks the offer viewed the first time the buyer opens it.
func TestInstructionsAndViewed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		e.svc.PublicURL = func() string { return "https://concord.example" }
		to := offer.InstructionsRequest{To: []string{"it@acme.example"}}

		draft := e.create(direct())
		_, err := e.svc.SendInstructions(ctx, draft.ID, to)
		wantErr(t, err, marketplace.EConflict, "offer "+draft.ID+" is draft: purchase instructions go out once the offer is published and until the buyer accepts it")
		p := e.associate(offer.Association{Form: partner()})
		_, err = e.svc.SendInstructions(ctx, p.ID, to)
		wantErr(t, err, marketplace.EInvalid, "offer "+p.ID+" is a partner offer: the partner engages the buyer with its own offer, so Concord sends no purchase instructions for it")
		_, err = e.svc.SendInstructions(ctx, "ofr_none", to)
		wantErr(t, err, marketplace.ENotFound)

		d := e.associate(offer.Association{Form: direct(), OfferID: "offer-i1"})
		many := offer.InstructionsRequest{}
		for i := range offer.MaxNotifyUsers + 1 {
			many.To = append(many.To, fmt.Sprintf("user%d@acme.example", i))
		}
		for _, tc := range []struct {
			req offer.InstructionsRequest
			msg string
		}{
			{offer.InstructionsRequest{}, "to: name at least one person at the buyer the purchase instructions go to"},
			{many, "to: at most 20 recipients"},
			{offer.InstructionsRequest{To: []string{"it@acme.example", "bob"}}, `to[1]: "bob" is not an email address`},
			{offer.InstructionsRequest{To: to.To, OfferURL: "http://aws.amazon.com/marketplace"}, `offerUrl: "http://aws.amazon.com/marketplace" is not an https URL`},
			{offer.InstructionsRequest{To: to.To, OfferURL: "https://"}, `offerUrl: "https://" is not an https URL`},
		} {
			_, err := e.svc.SendInstructions(ctx, d.ID, tc.req)
			wantErr(t, err, marketplace.EInvalid, tc.msg)
		}
		wantSteps(t, e.get(d.ID), "published/associated: offer offer-i1")

		in, err := e.svc.SendInstructions(ctx, d.ID, offer.InstructionsRequest{To: to.To, Note: "As discussed."})
		if err != nil {
			t.Fatal(err)
		}
		token, ok := strings.CutPrefix(in.Link, "https://concord.example"+offer.TrackPath)
		if !ok || len(token) != 32 || in.OfferURL != offer.OfferPageURL("prod-o", "offer-i1") || in.Subject != "Your private offer for prod-o on AWS Marketplace" ||
			!strings.Contains(in.Text, "Hello Acme Corp team,\n\nAs discussed.\n") || !strings.Contains(in.Text, "2. Open the offer: "+in.Link+"\n") {
			t.Fatalf("instructions %+v", in)
		}
		wantSteps(t, in.Offer, "published/associated", "instructions_sent/purchase instructions sent: to it@acme.example")

		// Sent again, to more people, with the page the portal shows: the same link.
		portal := "https://aws.amazon.com/marketplace/fp/offers/offer-i1"
		again, err := e.svc.SendInstructions(ctx, d.ID, offer.InstructionsRequest{To: []string{"it@acme.example", "cfo@acme.example"}, OfferURL: portal})
		if err != nil {
			t.Fatal(err)
		}
		if again.Link != in.Link || again.OfferURL != portal || again.Offer.State != offer.StateInstructionsSent {
			t.Fatalf("instructions sent again %+v", again)
		}

		// The buyer opens the link: viewed, once; it leads to the latest page.
		for range 2 {
			page, err := e.svc.Viewed(ctx, token)
			if err != nil || page != portal {
				t.Fatalf("viewed: %q %v", page, err)
			}
		}
		_, err = e.svc.Viewed(ctx, strings.Repeat("0", 32))
		wantErr(t, err, marketplace.ENotFound, "no offer has this link")
		wantSteps(t, e.get(d.ID), "published/associated", "instructions_sent/purchase instructions sent: to it@acme.example",
			"instructions_sent/purchase instructions sent: to it@acme.example, cfo@acme.example", "viewed/viewed: the buyer opened the tracked link")

		// Instructions may go again after the buyer viewed them; not once accepted.
		if in, err := e.svc.SendInstructions(ctx, d.ID, to); err != nil || in.Offer.State != offer.StateViewed {
			t.Fatalf("instructions after viewing: %v %+v", err, in.Offer)
		}
		e.created(agreement("agmt-i1", "offer-i1", ""))
		_, err = e.svc.SendInstructions(ctx, d.ID, to)
		wantErr(t, err, marketplace.EConflict, "is accepted: purchase instructions go out once the offer is published and until the buyer accepts it")
		if page, err := e.svc.Viewed(ctx, token); err != nil || page != portal {
			t.Fatalf("the link of an accepted offer: %q %v", page, err)
		}
		wantSteps(t, e.get(d.ID), "published/associated", "instructions_sent/", "instructions_sent/", "viewed/viewed",
			"viewed/purchase instructions sent", "accepted/accepted: agreement agmt-i1")
	})
}

// TestSubmitAndExtendedRefusals: an offer is submitted once, cannot be
// cancelled while its change set runs, and only a published partner offer
// learns the partner's offer id by hand.
func TestSubmitAndExtendedRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		d := e.create(direct())
		s, err := e.svc.Submit(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantSteps(t, s, "draft/created", "submitted/submitted")
		_, err = e.svc.Submit(ctx, d.ID)
		wantErr(t, err, marketplace.EConflict, "offer "+d.ID+" is submitted: only a draft (or a failed offer) can be submitted")
		_, err = e.svc.Cancel(ctx, d.ID, "")
		wantErr(t, err, marketplace.EConflict, "offer "+d.ID+" is being published: cancel it once the change set has finished")
		err = db.Write(ctx, func(tx *store.Tx) error { // the publishing job started change set cs-1
			_, err := tx.Exec(ctx, `UPDATE offers SET change_set_id = ? WHERE id = ?`, "cs-1", d.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Cancel(ctx, d.ID, "")
		wantErr(t, err, marketplace.EConflict, "offer "+d.ID+" is being published (change set cs-1): cancel it once the change set has finished")

		_, err = e.svc.Extended(ctx, d.ID, "offer-x")
		wantErr(t, err, marketplace.EInvalid, "offer "+d.ID+" is a direct offer: only a partner offer is extended by a partner")
		pd := e.create(partner())
		_, err = e.svc.Extended(ctx, pd.ID, "offer-x")
		wantErr(t, err, marketplace.EConflict, "offer "+pd.ID+" is draft: the partner extends a published partner offer")
		p := e.associate(offer.Association{Form: partner()})
		e.associate(offer.Association{Form: direct(), OfferID: "offer-taken"})
		_, err = e.svc.Extended(ctx, p.ID, "offer-taken")
		wantErr(t, err, marketplace.EConflict, "offer offer-taken is already tracked by another offer")
		x, err := e.svc.Extended(ctx, p.ID, "offer-x1")
		if err != nil {
			t.Fatal(err)
		}
		wantSteps(t, x, "published/associated: CPPO opportunity O1234567", "extended/partner offer extended: offer offer-x1")
		// An extended partner offer is the reseller's to cancel first.
		_, err = e.svc.Cancel(ctx, p.ID, "")
		wantErr(t, err, marketplace.EConflict, "the partner has already extended offer offer-x1 to the buyer: the reseller must cancel its offer first")

		// A draft whose dates passed meanwhile is checked again on submission.
		old := e.create(direct())
		e.clock.Advance(60 * 24 * time.Hour)
		_, err = e.svc.Submit(ctx, old.ID)
		wantErr(t, err, marketplace.EInvalid, "expiresOn: the expiration date 2026-12-01 has passed (AWS uses UTC)")
		wantSteps(t, e.get(old.ID), "draft/created")
	})
}

// TestAmendmentDraftRefusals: only an active agreement the ledger holds has
// an amendment draft.
func TestAmendmentDraftRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		_, err := e.svc.AmendmentDraft(ctx, "agmt-none")
		wantErr(t, err, marketplace.ENotFound, "agreement agmt-none is not in the ledger")
		a := agreement("agmt-c", "offer-c", "")
		e.created(a)
		if _, err := e.svc.AmendmentDraft(ctx, "agmt-c"); err != nil {
			t.Fatalf("draft of an active agreement: %v", err)
		}
		e.event(eventbridge.Ended(inboxtest.Seller, a, marketplace.StatusExpired, now))
		_, err = e.svc.AmendmentDraft(ctx, "agmt-c")
		wantErr(t, err, marketplace.EConflict, "agreement agmt-c is EXPIRED: only an active agreement can be amended")
	})
}
