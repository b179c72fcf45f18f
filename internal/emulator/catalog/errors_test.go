package catalog_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/types"

	"github.com/concordmp/concord/internal/emulator/catalog"
	"github.com/concordmp/concord/internal/emulator/world"
)

func TestStartChangeSetValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	offerID := e.releasedOffer("existing")
	create := ch("CreateOffer", catalog.EntityTypeOffer, "", "O", map[string]any{"ProductId": e.contract.ProductID})
	ref := "$O.Entity.Identifier"
	many := make([]types.Change, 21)
	for i := range many {
		many[i] = ch("CreateOffer", catalog.EntityTypeOffer, "", "", map[string]any{"ProductId": e.contract.ProductID})
	}
	both := offerCh("UpdateInformation", offerID, map[string]any{"Name": "x"})
	both.Details = aws.String(`{"Name":"x"}`)
	notJSON := types.Change{ChangeType: aws.String("UpdateInformation"), Entity: &types.Entity{Type: aws.String(catalog.EntityTypeOffer),
		Identifier: aws.String(offerID)}, Details: aws.String(`{"Name":`)}
	noDetails := types.Change{ChangeType: aws.String("ReleaseOffer"), Entity: &types.Entity{Type: aws.String(catalog.EntityTypeOffer),
		Identifier: aws.String(offerID)}}
	withID := create
	withID.Entity = &types.Entity{Type: aws.String(catalog.EntityTypeOffer), Identifier: aws.String(offerID)}

	cases := map[string]struct {
		catalog string
		intent  types.Intent
		changes []types.Change
		reason  types.ValidationExceptionReason
		message string
	}{
		"wrong catalog":          {catalog: "AWSMarketplaceX", changes: []types.Change{create}, message: "Catalog"},
		"no changes":             {changes: []types.Change{}, message: "1 to 20"},
		"more than 20 changes":   {changes: many, message: "1 to 20"},
		"unknown intent":         {intent: "MAYBE", changes: []types.Change{create}, message: "Intent"},
		"unknown change type":    {changes: []types.Change{offerCh("UpdateColour", offerID, map[string]any{})}, reason: types.ValidationExceptionReasonUnknownOperation},
		"unknown entity type":    {changes: []types.Change{ch("CreateOffer", "AmiProduct@1.0", "", "", map[string]any{})}, reason: types.ValidationExceptionReasonUnknownOperation},
		"lower-case change type": {changes: []types.Change{offerCh("releaseOffer", offerID, map[string]any{})}, message: "ChangeType"},
		"missing ProductId":      {changes: []types.Change{ch("CreateOffer", catalog.EntityTypeOffer, "", "", map[string]any{"Name": "x"})}, message: "ProductId"},
		"wrong JSON type":        {changes: []types.Change{ch("CreateOffer", catalog.EntityTypeOffer, "", "", map[string]any{"ProductId": 7})}, reason: types.ValidationExceptionReasonCannotParse},
		"bad buyer account": {changes: []types.Change{create, offerCh("UpdateTargeting", ref,
			map[string]any{"PositiveTargeting": map[string]any{"BuyerAccounts": []any{"12345"}}})}, message: "12-digit"},
		"bad availability date": {changes: []types.Change{create, offerCh("UpdateAvailability", ref, map[string]any{"AvailabilityEndDate": "31/12/2099"})},
			message: "YYYY-MM-DD"},
		"bad duration": {changes: []types.Change{create, offerCh("UpdateValidityTerms", ref, map[string]any{"Terms": []any{
			map[string]any{"Type": "ValidityTerm", "AgreementDuration": "12 months"}}})}, message: "AgreementDuration"},
		"bad price": {changes: []types.Change{create, offerCh("UpdatePricingTerms", ref, map[string]any{"PricingModel": "Usage", "Terms": []any{
			map[string]any{"Type": "UsageBasedPricingTerm", "CurrencyCode": "USD", "RateCards": []any{map[string]any{
				"RateCard": []any{map[string]any{"DimensionKey": "api_calls", "Price": "-1"}}}}}}})}, message: "price"},
		"ReleaseOffer with details":    {changes: []types.Change{offerCh("ReleaseOffer", offerID, map[string]any{"Now": true})}, message: "{}"},
		"Details and DetailsDocument":  {changes: []types.Change{both}, message: "not both"},
		"Details not JSON":             {changes: []types.Change{notJSON}, reason: types.ValidationExceptionReasonCannotParse},
		"no details":                   {changes: []types.Change{noDetails}, message: "required"},
		"unknown reference":            {changes: []types.Change{create, offerCh("ReleaseOffer", "$Other.Entity.Identifier", map[string]any{})}, message: "$Other"},
		"reference before its creator": {changes: []types.Change{offerCh("ReleaseOffer", ref, map[string]any{}), create}, message: "earlier change"},
		"same change type twice": {changes: []types.Change{offerCh("UpdateInformation", offerID, map[string]any{"Name": "a"}),
			offerCh("UpdateInformation", offerID+"@1", map[string]any{"Name": "b"})}, message: "more than once"},
		"identifier on a create":  {changes: []types.Change{withID}, message: "takes no Identifier"},
		"missing identifier":      {changes: []types.Change{offerCh("ReleaseOffer", "", map[string]any{})}, message: "Identifier is required"},
		"duplicate change names":  {changes: []types.Change{create, create}, message: "used twice"},
		"resale term on an offer": {changes: []types.Change{create, offerCh("UpdateLegalTerms", ref, map[string]any{"Terms": []any{map[string]any{"Type": "BuyerLegalTerm"}}})}, message: "LegalTerm"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cat := tc.catalog
			if cat == "" {
				cat = "AWSMarketplace"
			}
			_, err := e.c.StartChangeSet(ctx, &marketplacecatalog.StartChangeSetInput{Catalog: aws.String(cat), Intent: tc.intent, ChangeSet: tc.changes})
			var ve *types.ValidationException
			if !errors.As(err, &ve) || httpStatus(err) != 422 {
				t.Fatalf("err %v", err)
			}
			if !strings.Contains(aws.ToString(ve.Message), tc.message) {
				t.Fatalf("message %q lacks %q", aws.ToString(ve.Message), tc.message)
			}
			if tc.reason != "" && (len(ve.ValidationExceptionFieldList) == 0 || ve.ValidationExceptionFieldList[0].Reason != tc.reason) {
				t.Fatalf("fields %+v, want reason %s", ve.ValidationExceptionFieldList, tc.reason)
			}
		})
	}

	t.Run("Details as a string is accepted and described back", func(t *testing.T) {
		t.Parallel()
		c := types.Change{ChangeType: aws.String("CreateOffer"), Entity: &types.Entity{Type: aws.String(catalog.EntityTypeOffer)},
			Details: aws.String(`{"ProductId": "` + e.contract.ProductID + `", "Name": "string details"}`)}
		out, err := e.c.StartChangeSet(ctx, &marketplacecatalog.StartChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSet: []types.Change{c}})
		if err != nil {
			t.Fatal(err)
		}
		d := e.describeSet(aws.ToString(out.ChangeSetId))
		if !strings.Contains(aws.ToString(d.ChangeSet[0].Details), "string details") || d.ChangeSet[0].DetailsDocument == nil {
			t.Fatalf("%+v", d.ChangeSet[0])
		}
	})
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	notFound := func(t *testing.T, err error) {
		t.Helper()
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) || httpStatus(err) != 404 || aws.ToString(nf.Message) == "" {
			t.Fatalf("err %v", err)
		}
	}
	t.Run("DescribeEntity of an unknown entity", func(t *testing.T) {
		t.Parallel()
		_, err := e.c.DescribeEntity(ctx, &marketplacecatalog.DescribeEntityInput{Catalog: aws.String("AWSMarketplace"), EntityId: aws.String("offer-nope")})
		notFound(t, err)
	})
	t.Run("DescribeChangeSet of an unknown change set", func(t *testing.T) {
		t.Parallel()
		_, err := e.c.DescribeChangeSet(ctx, &marketplacecatalog.DescribeChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSetId: aws.String("nope")})
		notFound(t, err)
	})
	t.Run("a change on an unknown entity", func(t *testing.T) {
		t.Parallel()
		_, err := e.c.StartChangeSet(ctx, &marketplacecatalog.StartChangeSetInput{Catalog: aws.String("AWSMarketplace"),
			ChangeSet: []types.Change{offerCh("ReleaseOffer", "offer-nope", map[string]any{})}})
		notFound(t, err)
	})
	t.Run("a resale authorization change on an offer", func(t *testing.T) {
		t.Parallel()
		_, err := e.c.StartChangeSet(ctx, &marketplacecatalog.StartChangeSetInput{Catalog: aws.String("AWSMarketplace"),
			ChangeSet: []types.Change{raCh("ReleaseResaleAuthorization", e.contract.PublicOfferID, map[string]any{})}})
		notFound(t, err)
	})
	t.Run("a wrong catalog is a validation error", func(t *testing.T) {
		t.Parallel()
		_, err := e.c.DescribeEntity(ctx, &marketplacecatalog.DescribeEntityInput{Catalog: aws.String("Other"), EntityId: aws.String(e.contract.PublicOfferID)})
		if _, ok := errors.AsType[*types.ValidationException](err); !ok {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a world-made public offer is described", func(t *testing.T) {
		t.Parallel()
		ent, d := e.describeEntity(e.contract.PublicOfferID)
		if aws.ToString(ent.EntityIdentifier) != e.contract.PublicOfferID+"@1" || d["State"] != "Released" ||
			!strings.Contains(aws.ToString(ent.Details), "ConfigurableUpfrontPricingTerm") {
			t.Fatalf("%s %v", aws.ToString(ent.EntityIdentifier), d)
		}
	})
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()

	t.Run("an injected error is a 500 InternalServiceException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.do(func(s *world.State) error {
			s.SetFaults(map[string]world.Fault{"DescribeEntity": {ErrorShare: 1}}, 7)
			return nil
		})
		_, err := e.c.DescribeEntity(ctx, &marketplacecatalog.DescribeEntityInput{Catalog: aws.String("AWSMarketplace"), EntityId: aws.String(e.contract.PublicOfferID)})
		if _, ok := errors.AsType[*types.InternalServiceException](err); !ok || httpStatus(err) != 500 {
			t.Fatalf("err %v", err)
		}
		if _, err := e.c.ListChangeSets(ctx, &marketplacecatalog.ListChangeSetsInput{Catalog: aws.String("AWSMarketplace")}); err != nil {
			t.Fatalf("another operation is faulted: %v", err)
		}
	})

	t.Run("injected throttling is a 429 ThrottlingException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.do(func(s *world.State) error {
			s.SetFaults(map[string]world.Fault{"*": {ThrottleShare: 1}}, 7)
			return nil
		})
		_, err := e.c.ListEntities(ctx, &marketplacecatalog.ListEntitiesInput{Catalog: aws.String("AWSMarketplace"), EntityType: aws.String("Offer")})
		if _, ok := errors.AsType[*types.ThrottlingException](err); !ok || httpStatus(err) != 429 {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("the per-account request rate throttles", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *world.Config) { c.ThrottleRPS = 1 })
		in := &marketplacecatalog.ListChangeSetsInput{Catalog: aws.String("AWSMarketplace")}
		if _, err := e.c.ListChangeSets(ctx, in); err != nil {
			t.Fatal(err)
		}
		_, err := e.c.ListChangeSets(ctx, in)
		if _, ok := errors.AsType[*types.ThrottlingException](err); !ok {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("latency is added", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.do(func(s *world.State) error {
			s.SetFaults(map[string]world.Fault{"ListChangeSets": {Latency: 80 * time.Millisecond}}, 7)
			return nil
		})
		start := time.Now()
		if _, err := e.c.ListChangeSets(ctx, &marketplacecatalog.ListChangeSetsInput{Catalog: aws.String("AWSMarketplace")}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 80*time.Millisecond {
			t.Fatalf("answered in %v", d)
		}
	})

	t.Run("an injected apply fault fails the set with SERVER_FAULT", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.do(func(s *world.State) error {
			s.SetFaults(map[string]world.Fault{catalog.OpApplyChangeSet: {ErrorShare: 1}}, 7)
			return nil
		})
		out := e.run("faulted", privateOfferChanges(e.contract.ProductID, []string{buyer}, "faulted")...)
		if out.Status != types.ChangeStatusFailed || out.FailureCode != types.FailureCodeServerFault {
			t.Fatalf("status %s code %s", out.Status, out.FailureCode)
		}
		if len(e.events("Offer Released")) != 0 {
			t.Fatal("a faulted set released an offer")
		}
	})
}
