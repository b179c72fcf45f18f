package catalog_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/types"

	"github.com/concordmp/concord/internal/emulator/catalog"
	"github.com/concordmp/concord/internal/emulator/world"
)

// activeRA releases a resale authorization for reseller through the Catalog
// API with the given extra changes (availability, buyer targeting).
func (e *env) activeRA(name, reseller string, extra ...types.Change) string {
	e.t.Helper()
	ref := "$RA.Entity.Identifier"
	changes := []types.Change{
		ch("CreateResaleAuthorization", catalog.EntityTypeResaleAuthorization, "", "RA", map[string]any{"ProductId": e.contract.ProductID,
			"Name": name, "ResellerAccountId": reseller}),
		raCh("ReleaseResaleAuthorization", ref, map[string]any{}),
		raCh("UpdatePricingTerms", ref, map[string]any{"PricingModel": "Contract", "Terms": []any{map[string]any{
			"Type": "ResaleConfigurableUpfrontPricingTerm", "CurrencyCode": "USD",
			"RateCards": []any{map[string]any{"Selector": map[string]any{"Type": "Duration", "Value": "P12M"},
				"RateCard": []any{map[string]any{"DimensionKey": "seats", "Price": "7"}}}}}}}),
	}
	for _, c := range extra {
		c.Entity.Identifier = aws.String(ref)
		changes = append(changes, c)
	}
	out := e.run(name, changes...)
	e.mustSucceed(out)
	return entityID(out, 0)
}

// catalogCPPO makes and releases a channel partner offer for buyerAccount
// through the Catalog API and returns the change set.
func (e *env) catalogCPPO(raID, buyerAccount string) *marketplacecatalog.DescribeChangeSetOutput {
	e.t.Helper()
	ref := "$CPPO.Entity.Identifier"
	return e.run("cppo",
		ch("CreateOfferUsingResaleAuthorization", catalog.EntityTypeOffer, "", "CPPO", map[string]any{"ResaleAuthorizationId": raID}),
		offerCh("UpdateTargeting", ref, map[string]any{"PositiveTargeting": map[string]any{"BuyerAccounts": []any{buyerAccount}}}),
		offerCh("UpdateValidityTerms", ref, map[string]any{"Terms": []any{map[string]any{"Type": "ValidityTerm", "AgreementDuration": "P12M"}}}),
		offerCh("ReleaseOffer", ref, map[string]any{}))
}

// sameRefusal checks that a change set failed with one error, of code, whose
// message is the world's refusal's (a conflict) word for word.
func sameRefusal(t *testing.T, out *marketplacecatalog.DescribeChangeSetOutput, code string, we *world.Error) {
	t.Helper()
	if out.Status != types.ChangeStatusFailed {
		t.Fatalf("change set %s, want FAILED", out.Status)
	}
	var got []types.ErrorDetail
	for _, c := range out.ChangeSet {
		got = append(got, c.ErrorDetailList...)
	}
	if len(got) != 1 {
		t.Fatalf("errors %+v, want one", got)
	}
	if aws.ToString(got[0].ErrorCode) != code || aws.ToString(got[0].ErrorMessage) != we.Message || we.Code != world.CodeConflict {
		t.Fatalf("catalog refused with %s %q, the world with %s %q", aws.ToString(got[0].ErrorCode), aws.ToString(got[0].ErrorMessage), we.Code, we.Message)
	}
}

// playPartner is the console's "play the partner" button: the world's own
// channel partner offer. It returns the world's refusal, or nil.
func (e *env) playPartner(raID, buyerAccount string) *world.Error {
	e.t.Helper()
	var we *world.Error
	before := e.offerCount()
	err := e.w.Do(func(s *world.State) error {
		_, err := s.CreatePartnerOffer(raID, world.Offer{BuyerAccounts: []string{buyerAccount}, Quantities: map[string]int64{"seats": 3}})
		return err
	})
	if err == nil {
		return nil
	}
	if !errors.As(err, &we) {
		e.t.Fatalf("CreatePartnerOffer: %v, want a world error", err)
	}
	if n := e.offerCount(); n != before {
		e.t.Fatalf("%d offers after a refused partner offer, want %d", n, before)
	}
	return we
}

// TestPartnerOfferRulesAreShared: a resale authorization refuses the same
// channel partner offers, with the same message, whether the partner makes
// them through the Catalog API or the world plays the partner (the control
// API's /control/partner-offers and the console's sandbox).
func TestPartnerOfferRulesAreShared(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const reseller = "999988887777"

	t.Run("a one-time resale authorization backs one offer", func(t *testing.T) {
		raID := e.activeRA("one-time", reseller, raCh("UpdateAvailability", "", map[string]any{"OffersMaxQuantity": 1}))
		if we := e.playPartner(raID, buyer); we != nil {
			t.Fatalf("first partner offer refused: %v", we)
		}
		we := e.playPartner(raID, buyer2)
		if we == nil {
			t.Fatal("the world made a second offer from a one-time resale authorization")
		}
		sameRefusal(t, e.catalogCPPO(raID, buyer2), catalog.CodeInvalidResaleAuth, we)
	})

	t.Run("an expired resale authorization backs none", func(t *testing.T) {
		end := e.w.Now().AddDate(0, 0, 1).Format(time.DateOnly)
		raID := e.activeRA("expiring", reseller, raCh("UpdateAvailability", "", map[string]any{"AvailabilityEndDate": end}))
		e.advance(72 * time.Hour)
		we := e.playPartner(raID, buyer)
		if we == nil {
			t.Fatal("the world made an offer from an expired resale authorization")
		}
		sameRefusal(t, e.catalogCPPO(raID, buyer), catalog.CodeInvalidResaleAuth, we)
	})

	t.Run("a resale authorization for named buyers backs offers to them only", func(t *testing.T) {
		raID := e.activeRA("named", reseller, raCh("UpdateBuyerTargetingTerms", "", map[string]any{"Terms": []any{map[string]any{
			"Type": "BuyerTargetingTerm", "PositiveTargeting": map[string]any{"BuyerAccounts": []any{buyer}}}}}))
		we := e.playPartner(raID, buyer2)
		if we == nil {
			t.Fatal("the world made an offer to a buyer the resale authorization does not name")
		}
		sameRefusal(t, e.catalogCPPO(raID, buyer2), catalog.CodeInvalidBuyerAccounts, we)
		if we := e.playPartner(raID, buyer); we != nil {
			t.Fatalf("offer to the named buyer refused: %v", we)
		}
	})

	t.Run("a restricted resale authorization backs none", func(t *testing.T) {
		raID := e.activeRA("restricted", reseller)
		e.mustSucceed(e.run("restrict", raCh("RestrictResaleAuthorization", raID, map[string]any{})))
		we := e.playPartner(raID, buyer)
		if we == nil {
			t.Fatal("the world made an offer from a restricted resale authorization")
		}
		sameRefusal(t, e.catalogCPPO(raID, buyer), catalog.CodeInvalidResaleAuth, we)
	})
}

// TestPartnerOfferCarriesTheAuthorizationsPrice: a channel partner's offer
// starts from its resale authorization's fixed upfront price, granted units
// and payment schedule, whether the partner makes it through the Catalog API
// or the world plays the partner. The played partner's offer used to keep
// only a per-dimension rate card of 0.00, so its agreement cost nothing.
func TestPartnerOfferCarriesTheAuthorizationsPrice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const reseller = "999988887777"
	ref := "$RA.Entity.Identifier"
	out := e.run("fixed-ra",
		ch("CreateResaleAuthorization", catalog.EntityTypeResaleAuthorization, "", "RA", map[string]any{"ProductId": e.contract.ProductID,
			"Name": "fixed", "ResellerAccountId": reseller}),
		raCh("UpdatePricingTerms", ref, map[string]any{"PricingModel": "Contract", "Terms": []any{map[string]any{
			"Type": "ResaleFixedUpfrontPricingTerm", "CurrencyCode": "USD", "Price": "0.00", "Duration": "P12M",
			"Grants": []any{map[string]any{"DimensionKey": "seats", "MaxQuantity": 10}}}}}),
		raCh("UpdatePaymentScheduleTerms", ref, map[string]any{"Terms": []any{map[string]any{
			"Type": "ResalePaymentScheduleTerm", "CurrencyCode": "USD", "Schedule": []any{
				map[string]any{"ChargeDate": time.Now().UTC().AddDate(0, 1, 0).Format(time.DateOnly), "ChargeAmount": "600.00"},
				map[string]any{"ChargeDate": time.Now().UTC().AddDate(0, 7, 0).Format(time.DateOnly), "ChargeAmount": "600.00"}}}}}),
		raCh("ReleaseResaleAuthorization", ref, map[string]any{}))
	e.mustSucceed(out)
	raID := entityID(out, 0)

	check := func(t *testing.T, o *world.Offer) {
		t.Helper()
		if o.Quantities["seats"] != 10 || o.Duration != "P12M" {
			t.Errorf("offer quantities %v duration %q, want the 10 seats for P12M the authorization grants", o.Quantities, o.Duration)
		}
		var schedule []string
		for _, term := range o.Terms {
			for _, it := range term.Schedule {
				schedule = append(schedule, it.ChargeAmount)
			}
		}
		if len(schedule) != 2 || schedule[0] != "600.00" || schedule[1] != "600.00" {
			t.Errorf("offer payment schedule %v, want the authorization's two installments of 600.00", schedule)
		}
	}
	t.Run("played partner", func(t *testing.T) {
		var o *world.Offer
		e.do(func(s *world.State) error {
			var err error
			o, err = s.CreatePartnerOffer(raID, world.Offer{BuyerAccounts: []string{buyer}})
			return err
		})
		check(t, o)
	})
	t.Run("catalog API", func(t *testing.T) {
		out := e.catalogCPPO(raID, buyer2)
		e.mustSucceed(out)
		var o *world.Offer
		e.do(func(s *world.State) error { o = s.Offers[entityID(out, 0)]; return nil })
		check(t, o)
	})
}
