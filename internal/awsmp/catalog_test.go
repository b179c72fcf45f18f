package awsmp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
)

const (
	catBuyer    = "444455556666"
	catReseller = "999988887777"
	// catDelay is the emulator's change-set delay: long enough that real
	// time never applies a set during a test, so each test sees PREPARING.
	catDelay = time.Hour
)

// catalogEnv is an in-process emulator with a SaaS contract-with-consumption
// product (seats and admins by contract, api_calls metered), a SaaS usage
// product and a buyer, and the Catalog adapter pointed at it.
type catalogEnv struct {
	t     *testing.T
	emu   *emulator.Emulator
	cat   *awsmp.Catalog
	ctx   context.Context
	seq   int
	cons  marketplace.Product
	usage marketplace.Product
}

func newCatalogEnv(t *testing.T) *catalogEnv {
	t.Helper()
	cfg := world.DefaultConfig()
	cfg.ThrottleRPS = 0
	cfg.ChangeSetDelay = catDelay
	emu := emulator.New(emulator.Options{Config: cfg})
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { srv.Close(); emu.Close() })
	ctx := context.Background()
	awsCfg, err := awsmp.Load(ctx, awsmp.Config{Endpoint: srv.URL, Anonymous: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	e := &catalogEnv{t: t, emu: emu, cat: awsmp.NewCatalog(awsCfg), ctx: ctx}
	e.do(func(s *world.State) error {
		cons, err := s.CreateProduct(world.Product{Title: "Acme Platform", Type: world.ProductSaaSContractConsumption, Dimensions: []world.Dimension{
			{Key: "seats", Kind: "contract", Price: "10.00"}, {Key: "admins", Kind: "contract", Price: "50.00"}, {Key: "api_calls", Kind: "usage", Price: "0.01"}}})
		if err != nil {
			return err
		}
		usage, err := s.CreateProduct(world.Product{Title: "Acme API", Type: world.ProductSaaSUsage, Dimensions: []world.Dimension{
			{Key: "api_calls", Kind: "usage", Price: "0.01"}}})
		if err != nil {
			return err
		}
		e.cons = concordProduct(cons)
		e.usage = concordProduct(usage)
		_, err = s.CreateBuyer(catBuyer)
		return err
	})
	return e
}

// concordProduct is the product as Concord is configured for it.
func concordProduct(p *world.Product) marketplace.Product {
	out := marketplace.Product{ProductID: p.ProductID, ProductCode: p.ProductCode, Title: p.Title, Type: p.Type}
	for _, d := range p.Dimensions {
		out.Dimensions = append(out.Dimensions, marketplace.Dimension{Key: d.Key, Kind: d.Kind})
	}
	return out
}

func (e *catalogEnv) do(fn func(s *world.State) error) {
	e.t.Helper()
	if err := e.emu.World.Do(fn); err != nil {
		e.t.Fatalf("world: %v", err)
	}
}

func (e *catalogEnv) now() time.Time {
	var now time.Time
	e.do(func(s *world.State) error { now = s.Now(); return nil })
	return now
}

// date is the emulator's day n days from now.
func (e *catalogEnv) date(days int) string {
	return e.now().AddDate(0, 0, days).Format(time.DateOnly)
}

// newOffer is a direct offer for the buyer on the consumption product:
// 25 seats, 2 admins and metered API calls for 12 months.
func (e *catalogEnv) newOffer() offer.Offer {
	e.seq++
	var o offer.Offer
	o.ID = fmt.Sprintf("ofr_test%04d", e.seq)
	o.Type = offer.TypeDirect
	o.BuyerCompany = "Acme Corp"
	o.ProductID = e.cons.ProductID
	o.Name = "Acme 12-month private offer"
	o.Pricing.Currency = "USD"
	o.Pricing.Duration = "P12M"
	e.setDimensions(&o, `[{"key":"seats","kind":"contract","quantity":25,"price":"8.00"},
		{"key":"admins","kind":"contract","quantity":2,"price":"40.00"},{"key":"api_calls","kind":"usage","price":"0.02"}]`)
	o.EULA.Kind = "standard"
	o.Metadata = map[string]string{offer.MetaBuyerAccount: catBuyer}
	o.ExpiresOn = e.date(30)
	return o
}

func (e *catalogEnv) setDimensions(o *offer.Offer, js string) {
	e.t.Helper()
	o.Pricing.Dimensions = nil
	if err := json.Unmarshal([]byte(js), &o.Pricing.Dimensions); err != nil {
		e.t.Fatal(err)
	}
}

func (e *catalogEnv) setSchedule(o *offer.Offer, js string) {
	e.t.Helper()
	if err := json.Unmarshal([]byte(js), &o.Pricing.Schedule); err != nil {
		e.t.Fatal(err)
	}
}

func (e *catalogEnv) describe(id string) offer.ChangeSetStatus {
	e.t.Helper()
	st, err := e.cat.DescribeChangeSet(e.ctx, id)
	if err != nil {
		e.t.Fatalf("DescribeChangeSet %s: %v", id, err)
	}
	return st
}

// run starts a change set, checks it is PREPARING, moves the emulator clock
// past its delay and returns what DescribeChangeSet says then.
func (e *catalogEnv) run(name, token string, changes []offer.Change) (string, offer.ChangeSetStatus) {
	e.t.Helper()
	id, err := e.cat.StartChangeSet(e.ctx, name, token, changes)
	if err != nil {
		e.t.Fatalf("StartChangeSet: %v", err)
	}
	if st := e.describe(id); st.Status != offer.ChangeSetPreparing || st.Done() || st.Failure != "" {
		e.t.Fatalf("a new change set is %+v", st)
	}
	if err := e.emu.World.Advance(catDelay); err != nil {
		e.t.Fatal(err)
	}
	return id, e.describe(id)
}

// publish builds o's change set for p, runs it and returns its status.
func (e *catalogEnv) publish(o offer.Offer, p marketplace.Product, opts ...offer.ChangeSetOption) offer.ChangeSetStatus {
	e.t.Helper()
	name, changes, err := offer.ChangeSet(o, p, append([]offer.ChangeSetOption{offer.WithNow(e.now())}, opts...)...)
	if err != nil {
		e.t.Fatalf("ChangeSet: %v", err)
	}
	_, st := e.run(name, "token-"+o.ID, changes)
	return st
}

func (e *catalogEnv) mustSucceed(st offer.ChangeSetStatus, key string) string {
	e.t.Helper()
	if st.Status != offer.ChangeSetSucceeded || st.Failure != "" || !st.Done() {
		e.t.Fatalf("change set %+v", st)
	}
	id := st.EntityIDs[key]
	if id == "" || strings.Contains(id, "@") {
		e.t.Fatalf("entity ids %v lack %s", st.EntityIDs, key)
	}
	return id
}

func (e *catalogEnv) offer(id string) world.Offer {
	e.t.Helper()
	var o world.Offer
	e.do(func(s *world.State) error {
		p := s.Offers[id]
		if p == nil {
			return fmt.Errorf("offer %s not found", id)
		}
		o = *p
		return nil
	})
	return o
}

// detail decodes a details document the emulator kept.
func detail(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("details %s: %v", raw, err)
	}
	return m
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func endOfDay(t *testing.T, date string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		t.Fatal(err)
	}
	return d.Add(24*time.Hour - time.Millisecond)
}

func TestCatalogDirectOffer(t *testing.T) {
	t.Parallel()
	e := newCatalogEnv(t)
	o := e.newOffer()
	name, changes, err := offer.ChangeSet(o, e.cons)
	if err != nil {
		t.Fatal(err)
	}
	id, st := e.run(name, "token-"+o.ID, changes)
	offerID := e.mustSucceed(st, offer.ChangeNameOffer)
	if !strings.HasPrefix(offerID, "offer-") || st.EntityIDs["ReleaseOffer"] != offerID {
		t.Fatalf("entity ids %v", st.EntityIDs)
	}

	t.Run("the offer is released to the buyer with its prices, quantities, duration and expiry", func(t *testing.T) {
		w := e.offer(offerID)
		if w.State != "Released" || !w.Private || !slices.Equal(w.BuyerAccounts, []string{catBuyer}) || w.ProductID != e.cons.ProductID {
			t.Fatalf("offer %+v", w)
		}
		if w.Name != o.Name || w.Currency != "USD" || w.Duration != "P12M" || w.Quantities["seats"] != 25 || w.Quantities["admins"] != 2 || len(w.Quantities) != 2 {
			t.Fatalf("offer %+v", w)
		}
		if w.ExpirationDate == nil || !w.ExpirationDate.Equal(endOfDay(t, o.ExpiresOn)) {
			t.Fatalf("expiration %v, want the end of %s", w.ExpirationDate, o.ExpiresOn)
		}
		pricing := compact(detail(t, w.Details["UpdatePricingTerms"]))
		// AWS's samples fix contract units with a fixed upfront term whose
		// grants carry the quantities and whose price is the whole contract
		// (25 × 8.00 + 2 × 40.00).
		for _, want := range []string{`"PricingModel":"Contract"`, `"Type":"FixedUpfrontPricingTerm"`, `"Price":"280.00"`,
			`{"DimensionKey":"seats","MaxQuantity":25}`, `{"DimensionKey":"admins","MaxQuantity":2}`,
			`{"DimensionKey":"api_calls","Price":"0.02"}`, `"Type":"UsageBasedPricingTerm"`} {
			if !strings.Contains(pricing, want) {
				t.Fatalf("pricing %s lacks %s", pricing, want)
			}
		}
		if d := detail(t, w.Details["UpdateInformation"]); !strings.Contains(d["Description"].(string), o.ID) {
			t.Fatalf("information %v", d)
		}
		// The fixed upfront term (kept as the agreement will accept it), then the EULA.
		if len(w.Terms) != 2 || w.Terms[0].Type != "FixedUpfrontPricingTerm" || w.Terms[0].Price != "280.00" || len(w.Terms[0].Grants) != 2 ||
			w.Terms[1].Type != "LegalTerm" || w.Terms[1].Documents[0].Type != "StandardEula" || w.Terms[1].Documents[0].Version != "2022-07-14" {
			t.Fatalf("terms %+v", w.Terms)
		}
	})

	t.Run("a retry with the same client token returns the same change set", func(t *testing.T) {
		again, err := e.cat.StartChangeSet(e.ctx, name, "token-"+o.ID, changes)
		if err != nil || again != id {
			t.Fatalf("%q %v, want %s", again, err, id)
		}
	})

	t.Run("the buyer can accept it with its quantities", func(t *testing.T) {
		e.do(func(s *world.State) error {
			a, err := s.Accept(catBuyer, offerID, world.AcceptOptions{})
			if err != nil {
				return err
			}
			if a.Quantities["seats"] != 25 || a.Currency != "USD" || a.EndTime == nil || a.EndTime.Before(a.StartTime.AddDate(0, 11, 27)) {
				return fmt.Errorf("agreement %+v", a)
			}
			return nil
		})
	})
}

func TestCatalogDirectOfferWithPaymentSchedule(t *testing.T) {
	t.Parallel()
	e := newCatalogEnv(t)
	o := e.newOffer()
	o.Pricing.Currency = "EUR"
	o.Pricing.Duration, o.Pricing.EndDate = "", e.date(399)
	e.setDimensions(&o, `[{"key":"seats","kind":"contract","quantity":10,"price":"100.00"}]`)
	e.setSchedule(&o, fmt.Sprintf(`[{"date":%q,"amount":"600.00"},{"date":%q,"amount":"400.00"}]`, e.date(31), e.date(200)))
	o.EULA.Kind = "custom"
	const eula = "https://concord.example.com/v1/offers/ofr_test0001/documents/eula.pdf"
	st := e.publish(o, e.cons, offer.WithEULAURL(eula))
	offerID := e.mustSucceed(st, offer.ChangeNameOffer)

	w := e.offer(offerID)
	if w.State != "Released" || !slices.Equal(w.BuyerAccounts, []string{catBuyer}) || w.Currency != "EUR" || w.Quantities["seats"] != 10 {
		t.Fatalf("offer %+v", w)
	}
	// The emulator turns the end date into days from the day the set applied
	// (an hour after it started).
	applied, _ := time.Parse(time.DateOnly, e.now().Format(time.DateOnly))
	if want := fmt.Sprintf("P%dD", int(endOfDay(t, o.Pricing.EndDate).Sub(applied).Hours()/24)+1); w.Duration != want {
		t.Fatalf("duration %s, want %s (to %s)", w.Duration, want, o.Pricing.EndDate)
	}
	if v := compact(detail(t, w.Details["UpdateValidityTerms"])); !strings.Contains(v, `"AgreementEndDate":"`+o.Pricing.EndDate+`"`) {
		t.Fatalf("validity %s", v)
	}
	var kinds []string
	for _, term := range w.Terms {
		kinds = append(kinds, term.Type)
		switch term.Type {
		case "FixedUpfrontPricingTerm":
			// AWS's flexible payment schedule sample: the schedule carries
			// the charges, the fixed upfront price is "0.0".
			if term.Price != "0.0" || term.CurrencyCode != "EUR" || len(term.Grants) != 1 || *term.Grants[0].MaxQuantity != 10 {
				t.Fatalf("fixed upfront term %+v", term)
			}
		case "PaymentScheduleTerm":
			if len(term.Schedule) != 2 || term.Schedule[0].ChargeAmount != "600.00" || term.Schedule[1].ChargeAmount != "400.00" ||
				term.Schedule[0].ChargeDate.Format(time.DateOnly) != o.Pricing.Schedule[0].Date || term.CurrencyCode != "EUR" {
				t.Fatalf("schedule %+v", term)
			}
		case "LegalTerm":
			if term.Documents[0].Type != "CustomEula" || term.Documents[0].URL != eula {
				t.Fatalf("legal term %+v", term)
			}
		}
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{"FixedUpfrontPricingTerm", "LegalTerm", "PaymentScheduleTerm"}) {
		t.Fatalf("terms %v", kinds)
	}
	e.do(func(s *world.State) error {
		a, err := s.Accept(catBuyer, offerID, world.AcceptOptions{})
		if err == nil && (a.Quantities["seats"] != 10 || a.Currency != "EUR") {
			err = fmt.Errorf("agreement %+v", a)
		}
		return err
	})
}

func TestCatalogUsageOffer(t *testing.T) {
	t.Parallel()
	e := newCatalogEnv(t)
	o := e.newOffer()
	o.ProductID = e.usage.ProductID
	o.Pricing.Duration = "P6M"
	e.setDimensions(&o, `[{"key":"api_calls","kind":"usage","price":"0.015"}]`)
	offerID := e.mustSucceed(e.publish(o, e.usage), offer.ChangeNameOffer)

	w := e.offer(offerID)
	if w.State != "Released" || !slices.Equal(w.BuyerAccounts, []string{catBuyer}) || w.Duration != "P6M" || len(w.Quantities) != 0 ||
		w.ProductID != e.usage.ProductID {
		t.Fatalf("offer %+v", w)
	}
	if p := compact(detail(t, w.Details["UpdatePricingTerms"])); p != `{"PricingModel":"Usage","Terms":[{"CurrencyCode":"USD","RateCards":[{"RateCard":[{"DimensionKey":"api_calls","Price":"0.015"}]}],"Type":"UsageBasedPricingTerm"}]}` {
		t.Fatalf("pricing %s", p)
	}
	if !w.ExpirationDate.Equal(endOfDay(t, o.ExpiresOn)) {
		t.Fatalf("expiration %v", w.ExpirationDate)
	}
}

func TestCatalogPartnerOffer(t *testing.T) {
	t.Parallel()
	e := newCatalogEnv(t)
	o := e.newOffer()
	o.Type = offer.TypePartner
	o.Metadata[offer.MetaPartnerAccount] = catReseller
	var reseller offer.Legal
	reseller.Kind = "custom"
	o.ResellerAgreement = &reseller
	const contract = "https://concord.example.com/v1/offers/ofr_test0001/documents/reseller-agreement.pdf"
	st := e.publish(o, e.cons, offer.WithResellerContractURL(contract))
	raID := e.mustSucceed(st, offer.ChangeNameResaleAuthorization)
	if !strings.HasPrefix(raID, "resaleauthz-") {
		t.Fatalf("resale authorization id %q", raID)
	}

	t.Run("the resale authorization is Active for the partner and the buyer", func(t *testing.T) {
		var ra world.ResaleAuthorization
		e.do(func(s *world.State) error { ra = *s.ResaleAuthorizations[raID]; return nil })
		if ra.State != "Active" || ra.ResellerAccountID != catReseller || !slices.Equal(ra.BuyerAccounts, []string{catBuyer}) ||
			ra.ProductID != e.cons.ProductID || ra.Currency != "USD" || ra.Name != o.Name {
			t.Fatalf("resale authorization %+v", ra)
		}
		if av := compact(detail(t, ra.Details["UpdateAvailability"])); av != `{"AvailabilityEndDate":"`+o.ExpiresOn+`","OffersMaxQuantity":1}` {
			t.Fatalf("availability %s", av)
		}
		pricing := compact(detail(t, ra.Details["UpdatePricingTerms"]))
		for _, want := range []string{`"Type":"ResaleFixedUpfrontPricingTerm"`, `"Price":"280.00"`, `"Duration":"P12M"`,
			`{"DimensionKey":"seats","MaxQuantity":25}`, `{"DimensionKey":"admins","MaxQuantity":2}`,
			`"Type":"ResaleUsageBasedPricingTerm"`, `{"DimensionKey":"api_calls","Price":"0.02"}`} {
			if !strings.Contains(pricing, want) {
				t.Fatalf("pricing %s lacks %s", pricing, want)
			}
		}
		legal := compact(detail(t, ra.Details["UpdateLegalTerms"]))
		if !strings.Contains(legal, `{"Documents":[{"Type":"CustomResellerContract","Url":"`+contract+`"}],"Type":"ResaleLegalTerm"}`) ||
			!strings.Contains(legal, `{"Documents":[{"Type":"StandardEula"}],"Type":"BuyerLegalTerm"}`) {
			t.Fatalf("legal %s", legal)
		}
	})

	t.Run("the partner extends its offer from it, which the buyer accepts", func(t *testing.T) {
		ref := "$CPPO.Entity.Identifier"
		cppo := []offer.Change{
			{ChangeType: "CreateOfferUsingResaleAuthorization", EntityType: offer.EntityTypeOffer, ChangeName: "CPPO",
				Details: map[string]any{"ResaleAuthorizationId": raID, "Name": "Acme via partner"}},
			{ChangeType: "UpdateMarkup", EntityType: offer.EntityTypeOffer, Identifier: ref, Details: map[string]any{"Percentage": "5.0"}},
			{ChangeType: "UpdateTargeting", EntityType: offer.EntityTypeOffer, Identifier: ref,
				Details: map[string]any{"PositiveTargeting": map[string]any{"BuyerAccounts": []any{catBuyer}}}},
			{ChangeType: "ReleaseOffer", EntityType: offer.EntityTypeOffer, Identifier: ref, Details: map[string]any{}},
		}
		_, st := e.run("partner-cppo", "", cppo)
		w := e.offer(e.mustSucceed(st, "CPPO"))
		if w.ProposerAccountID != catReseller || w.ResaleAuthorizationID != raID || w.Duration != "P12M" || w.Quantities["seats"] != 25 ||
			w.Quantities["admins"] != 2 || !slices.Equal(w.BuyerAccounts, []string{catBuyer}) {
			t.Fatalf("partner offer %+v", w)
		}
		e.do(func(s *world.State) error {
			a, err := s.Accept(catBuyer, w.OfferID, world.AcceptOptions{})
			if err == nil && (a.ResaleAuthorizationID != raID || a.ProposerAccountID != catReseller) {
				err = fmt.Errorf("agreement %+v", a)
			}
			return err
		})
		_, st = e.run("partner-cppo-again", "", cppo)
		if st.Status != offer.ChangeSetFailed || !strings.Contains(st.Failure, "one offer only") {
			t.Fatalf("a second offer from a one-time resale authorization: %+v", st)
		}
	})
}

func TestCatalogAmendment(t *testing.T) {
	t.Parallel()
	e := newCatalogEnv(t)
	first := e.newOffer()
	firstID := e.mustSucceed(e.publish(first, e.cons), offer.ChangeNameOffer)
	var agreementID string
	e.do(func(s *world.State) error {
		a, err := s.Accept(catBuyer, firstID, world.AcceptOptions{})
		if a != nil {
			agreementID = a.ID
		}
		return err
	})

	o := e.newOffer()
	o.Name = "Acme upgrade to 40 seats"
	o.Amends = &offer.Amendment{AgreementID: agreementID, SourceOfferID: firstID}
	e.setDimensions(&o, `[{"key":"seats","kind":"contract","quantity":40,"price":"7.50"},
		{"key":"admins","kind":"contract","quantity":3,"price":"40.00"},{"key":"api_calls","kind":"usage","price":"0.02"}]`)
	o.Pricing.Duration = "P24M"
	_, changes, err := offer.ChangeSet(o, e.cons)
	if err != nil {
		t.Fatal(err)
	}
	if changes[0].ChangeType != "CreateReplacementOffer" || slices.ContainsFunc(changes, func(c offer.Change) bool { return c.ChangeType == "UpdateTargeting" }) {
		t.Fatalf("changes %+v", changes)
	}
	st := e.publish(o, e.cons)
	offerID := e.mustSucceed(st, offer.ChangeNameOffer)

	w := e.offer(offerID)
	if w.ReplacesAgreementID != agreementID || !w.Private || !slices.Equal(w.BuyerAccounts, []string{catBuyer}) || w.State != "Released" ||
		w.Name != o.Name || w.Duration != "P24M" || w.Quantities["seats"] != 40 || w.Quantities["admins"] != 3 {
		t.Fatalf("replacement offer %+v", w)
	}
	if p := compact(detail(t, w.Details["UpdatePricingTerms"])); !strings.Contains(p, `"Price":"420.00"`) || !strings.Contains(p, `{"DimensionKey":"seats","MaxQuantity":40}`) {
		t.Fatalf("pricing %s", w.Details["UpdatePricingTerms"])
	}
	e.do(func(s *world.State) error {
		a, err := s.Accept(catBuyer, offerID, world.AcceptOptions{})
		if err != nil {
			return err
		}
		if a.Intent != "REPLACE" || a.PreviousAgreementID != agreementID || a.Quantities["seats"] != 40 {
			return fmt.Errorf("new agreement %+v", a)
		}
		if old := s.Agreements[agreementID]; old.Status != "REPLACED" {
			return fmt.Errorf("old agreement is %s", old.Status)
		}
		return nil
	})
}

func TestCatalogRefusedChangeSet(t *testing.T) {
	t.Parallel()
	e := newCatalogEnv(t)
	before := 0
	e.do(func(s *world.State) error { before = len(s.Offers); return nil })
	o := e.newOffer()
	e.setDimensions(&o, `[{"key":"gpus","kind":"contract","quantity":4,"price":"900.00"}]`)
	st := e.publish(o, e.cons)
	if st.Status != offer.ChangeSetFailed || !st.Done() {
		t.Fatalf("status %+v", st)
	}
	for _, want := range []string{"CLIENT_ERROR", "UpdatePricingTerms: INCOMPATIBLE_TERMS", `no dimension "gpus"`} {
		if !strings.Contains(st.Failure, want) {
			t.Fatalf("failure %q lacks %q", st.Failure, want)
		}
	}
	if id := st.EntityIDs[offer.ChangeNameOffer]; id != "" {
		t.Fatalf("a failed set reports offer %s", id)
	}
	e.do(func(s *world.State) error {
		if len(s.Offers) != before {
			return fmt.Errorf("a failed set created an offer")
		}
		return nil
	})

	t.Run("a change set AWS refuses at once is invalid", func(t *testing.T) {
		_, err := e.cat.StartChangeSet(e.ctx, "bad", "", []offer.Change{{ChangeType: "CreateOffer", EntityType: offer.EntityTypeOffer,
			Identifier: "offer-1234567890123", Details: map[string]any{"ProductId": e.cons.ProductID}}})
		if marketplace.ErrorCode(err) != marketplace.EInvalid || !strings.Contains(err.Error(), "takes no Identifier") {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("an unknown change set is not found", func(t *testing.T) {
		if _, err := e.cat.DescribeChangeSet(e.ctx, "nosuchchangeset"); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Fatalf("err %v", err)
		}
	})
}
