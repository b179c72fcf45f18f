package catalog_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/types"

	"github.com/concordmp/concord/internal/emulator/catalog"
	"github.com/concordmp/concord/internal/emulator/world"
)

func TestPrivateOfferLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.start("po-acme-2026", privateOfferChanges(e.contract.ProductID, []string{buyer}, "Acme 12-month private offer")...)

	t.Run("the set is PREPARING, then APPLYING after half the delay", func(t *testing.T) {
		out := e.describeSet(id)
		if out.Status != types.ChangeStatusPreparing || out.Intent != types.IntentApply || aws.ToString(out.ChangeSetName) != "po-acme-2026" {
			t.Fatalf("status %s intent %s name %q", out.Status, out.Intent, aws.ToString(out.ChangeSetName))
		}
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(aws.ToString(out.StartTime)) || out.EndTime != nil {
			t.Fatalf("StartTime %q EndTime %v", aws.ToString(out.StartTime), out.EndTime)
		}
		if got := aws.ToString(out.ChangeSetArn); got != "arn:aws:aws-marketplace:us-east-1:"+seller+":AWSMarketplace/ChangeSet/"+id {
			t.Fatalf("ChangeSetArn %s", got)
		}
		if len(out.ChangeSet) != 7 || aws.ToString(out.ChangeSet[1].Entity.Identifier) != "$NewOffer.Entity.Identifier" {
			t.Fatalf("changes %+v", out.ChangeSet)
		}
		e.advance(delay / 2)
		if out := e.describeSet(id); out.Status != types.ChangeStatusApplying {
			t.Fatalf("after half the delay: %s", out.Status)
		}
	})

	e.advance(delay / 2)
	out := e.describeSet(id)
	e.mustSucceed(out)
	offerID := entityID(out, 0)

	t.Run("DescribeChangeSet shows the created entity with its revision", func(t *testing.T) {
		if out.EndTime == nil || out.FailureCode != "" {
			t.Fatalf("EndTime %v FailureCode %q", out.EndTime, out.FailureCode)
		}
		for i, c := range out.ChangeSet {
			if got := aws.ToString(c.Entity.Identifier); got != offerID+"@1" {
				t.Fatalf("change %d identifier %q, want %s@1", i, got, offerID)
			}
			if len(c.ErrorDetailList) != 0 {
				t.Fatalf("change %d errors %v", i, c.ErrorDetailList)
			}
		}
		if !strings.HasPrefix(offerID, "offer-") {
			t.Fatalf("offer id %q", offerID)
		}
		var details map[string]any
		b, _ := out.ChangeSet[0].DetailsDocument.MarshalSmithyDocument()
		if err := jsonUnmarshal(b, &details); err != nil || details["ProductId"] != e.contract.ProductID {
			t.Fatalf("DetailsDocument %s (%v)", b, err)
		}
	})

	t.Run("DescribeEntity shows the released offer", func(t *testing.T) {
		ent, d := e.describeEntity(offerID)
		if aws.ToString(ent.EntityType) != "Offer@1.0" || aws.ToString(ent.EntityIdentifier) != offerID+"@1" ||
			aws.ToString(ent.EntityArn) != "arn:aws:aws-marketplace:us-east-1:"+seller+":AWSMarketplace/Offer/"+offerID || ent.LastModifiedDate == nil {
			t.Fatalf("entity %+v", ent)
		}
		if d["Id"] != offerID || d["ProductId"] != e.contract.ProductID || d["State"] != "Released" || d["Name"] != "Acme 12-month private offer" {
			t.Fatalf("details %v", d)
		}
		rules := fmt.Sprint(d["Rules"])
		if !strings.Contains(rules, "TargetingRule") || !strings.Contains(rules, buyer) || !strings.Contains(rules, "2099-12-31T23:59:59.999Z") {
			t.Fatalf("rules %s", rules)
		}
		var types []string
		for _, term := range d["Terms"].([]any) {
			types = append(types, term.(map[string]any)["Type"].(string))
		}
		for _, want := range []string{"LegalTerm", "FixedUpfrontPricingTerm", "ValidityTerm"} {
			if !slices.Contains(types, want) {
				t.Fatalf("terms %v lack %s", types, want)
			}
		}
		if aws.ToString(ent.Details) == "" {
			t.Fatal("Details string is empty")
		}
	})

	t.Run("the world offer carries targeting, quantities, duration and terms", func(t *testing.T) {
		o := e.offer(offerID)
		if o.State != "Released" || !o.Private || !slices.Equal(o.BuyerAccounts, []string{buyer}) || o.ProposerAccountID != seller {
			t.Fatalf("offer %+v", o)
		}
		if o.Duration != "P12M" || o.Currency != "USD" || o.Quantities["seats"] != 25 || o.Quantities["admins"] != 2 || o.AutoRenew {
			t.Fatalf("offer %+v", o)
		}
		want := time.Date(2099, 12, 31, 23, 59, 59, int(999*time.Millisecond), time.UTC)
		if o.ExpirationDate == nil || !o.ExpirationDate.Equal(want) {
			t.Fatalf("ExpirationDate %v", o.ExpirationDate)
		}
		if len(o.Terms) != 2 || o.Terms[0].Type != "FixedUpfrontPricingTerm" || o.Terms[0].Price != "280.00" ||
			o.Terms[1].Type != "LegalTerm" || o.Terms[1].Documents[0].Version != "2022-07-14" {
			t.Fatalf("terms %+v", o.Terms)
		}
		if o.Details["UpdatePricingTerms"] == nil {
			t.Fatalf("raw pricing terms not kept: %v", o.Details)
		}
	})

	t.Run("Offer Released and Change Set Succeeded are emitted", func(t *testing.T) {
		rel := e.events("Offer Released")
		if len(rel) != 1 {
			t.Fatalf("%d Offer Released events", len(rel))
		}
		ev := rel[0]
		d := ev["detail"].(map[string]any)
		offer := d["offer"].(map[string]any)
		if ev["source"] != "aws.marketplacecatalog" || ev["account"] != seller || offer["id"] != offerID ||
			offer["expirationDate"] != "2099-12-31T23:59:59Z" || d["catalog"] != "AWSMarketplace" || d["requestId"] == nil {
			t.Fatalf("event %v", ev)
		}
		if fmt.Sprint(d["targetedBuyerAccountIds"]) != "["+buyer+"]" || d["product"].(map[string]any)["title"] != "Acme Contract" ||
			d["sellerOfRecord"].(map[string]any)["accountId"] != seller || d["manufacturer"].(map[string]any)["accountId"] != seller {
			t.Fatalf("detail %v", d)
		}
		if fmt.Sprint(ev["resources"]) != "["+offer["arn"].(string)+"]" {
			t.Fatalf("resources %v", ev["resources"])
		}
		ok := e.events("Change Set Succeeded")
		if len(ok) != 1 {
			t.Fatalf("%d Change Set Succeeded events", len(ok))
		}
		cd := ok[0]["detail"].(map[string]any)
		if cd["ChangeSetId"] != id || cd["Catalog"] != "AWSMarketplace" || cd["ChangeSetName"] != "po-acme-2026" || cd["StartTime"] == nil ||
			cd["EndTime"] == nil || cd["requestId"] == nil || cd["FailureCode"] != nil {
			t.Fatalf("detail %v", cd)
		}
		if fmt.Sprint(ok[0]["resources"]) != "[arn:aws:aws-marketplace:us-east-1:"+seller+":AWSMarketplace/ChangeSet/"+id+"]" {
			t.Fatalf("resources %v", ok[0]["resources"])
		}
	})

	t.Run("the buyer accepts the private offer with its quantities", func(t *testing.T) {
		e.do(func(s *world.State) error {
			a, err := s.Accept(buyer, offerID, world.AcceptOptions{})
			if err != nil {
				return err
			}
			if a.Quantities["seats"] != 25 || a.EndTime == nil {
				return fmt.Errorf("agreement %+v", a)
			}
			return nil
		})
	})

	t.Run("a later change bumps the revision", func(t *testing.T) {
		e.mustSucceed(e.run("rename", offerCh("UpdateInformation", offerID, map[string]any{"Name": "Renamed", "Description": "Now with more seats"})))
		ent, d := e.describeEntity(offerID + "@1")
		if aws.ToString(ent.EntityIdentifier) != offerID+"@2" || d["Name"] != "Renamed" || d["Description"] != "Now with more seats" {
			t.Fatalf("entity %s %v", aws.ToString(ent.EntityIdentifier), d)
		}
	})
}

func TestFailingChangeSets(t *testing.T) {
	t.Parallel()

	t.Run("an unknown product fails the set and applies nothing", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		before := e.offerCount()
		out := e.run("bad-product", privateOfferChanges("prod-doesnotexist1", []string{buyer}, "x")...)
		if out.Status != types.ChangeStatusFailed || out.FailureCode != types.FailureCodeClientError || aws.ToString(out.FailureDescription) == "" {
			t.Fatalf("status %s code %s", out.Status, out.FailureCode)
		}
		if codes := failedCodes(out); !slices.Equal(codes[0], []string{catalog.CodeIncompatibleProduct}) || len(codes) != 1 {
			t.Fatalf("error codes %v", codes)
		}
		if msg := aws.ToString(out.ChangeSet[0].ErrorDetailList[0].ErrorMessage); !strings.Contains(msg, "prod-doesnotexist1") {
			t.Fatalf("message %q", msg)
		}
		if e.offerCount() != before {
			t.Fatal("a failed set created an offer")
		}
		if len(e.events("Offer Released")) != 0 {
			t.Fatal("Offer Released for a failed set")
		}
		failed := e.events("Change Set Failed")
		if len(failed) != 1 || failed[0]["detail"].(map[string]any)["FailureCode"] != "CLIENT_ERROR" {
			t.Fatalf("Change Set Failed events %v", failed)
		}
	})

	t.Run("targeting after release fails and the set's other changes do not apply", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		offerID := e.releasedOffer("first")
		out := e.run("retarget",
			offerCh("UpdateInformation", offerID, map[string]any{"Name": "Changed"}),
			offerCh("UpdateTargeting", offerID, map[string]any{"PositiveTargeting": map[string]any{"BuyerAccounts": []any{buyer2}}}))
		if out.Status != types.ChangeStatusFailed {
			t.Fatalf("status %s", out.Status)
		}
		if codes := failedCodes(out); len(codes) != 1 || !slices.Equal(codes[1], []string{catalog.CodeInvalidState}) {
			t.Fatalf("codes %v", codes)
		}
		o := e.offer(offerID)
		if o.Name != "first" || !slices.Equal(o.BuyerAccounts, []string{buyer}) {
			t.Fatalf("offer changed: %+v", o)
		}
		if ent, _ := e.describeEntity(offerID); aws.ToString(ent.EntityIdentifier) != offerID+"@1" {
			t.Fatalf("revision moved: %s", aws.ToString(ent.EntityIdentifier))
		}
	})

	t.Run("amending a usage product's agreement fails", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		var agreementID string
		e.do(func(s *world.State) error {
			a, err := s.Accept(buyer, e.usage.PublicOfferID, world.AcceptOptions{})
			if a != nil {
				agreementID = a.ID
			}
			return err
		})
		out := e.run("amend-usage", ch("CreateReplacementOffer", catalog.EntityTypeOffer, "", "Amend", map[string]any{"AgreementId": agreementID}),
			offerCh("ReleaseOffer", "$Amend.Entity.Identifier", map[string]any{}))
		if out.Status != types.ChangeStatusFailed || out.FailureCode != types.FailureCodeClientError {
			t.Fatalf("status %s", out.Status)
		}
		if codes := failedCodes(out); !slices.Equal(codes[0], []string{catalog.CodeIncompatibleProduct}) {
			t.Fatalf("codes %v", codes)
		}
		if msg := aws.ToString(out.ChangeSet[0].ErrorDetailList[0].ErrorMessage); !strings.Contains(msg, "only SaaS contract") {
			t.Fatalf("message %q", msg)
		}
	})

	t.Run("releasing without pricing terms fails", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		out := e.run("no-pricing", ch("CreateOffer", catalog.EntityTypeOffer, "", "O", map[string]any{"ProductId": e.contract.ProductID}),
			offerCh("UpdateTargeting", "$O.Entity.Identifier", map[string]any{"PositiveTargeting": map[string]any{"BuyerAccounts": []any{buyer}}}),
			offerCh("ReleaseOffer", "$O.Entity.Identifier", map[string]any{}))
		if codes := failedCodes(out); !slices.Equal(codes[2], []string{catalog.CodeMissingMandatoryTerms}) {
			t.Fatalf("codes %v", codes)
		}
	})

	t.Run("releasing a private offer without targeting fails", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		changes := privateOfferChanges(e.contract.ProductID, []string{buyer}, "untargeted")
		changes = slices.Delete(changes, 2, 3) // drop UpdateTargeting
		out := e.run("no-targeting", changes...)
		if codes := failedCodes(out); !slices.Equal(codes[1], []string{catalog.CodeMissingMandatoryTerms}) {
			t.Fatalf("codes %v", codes)
		}
	})

	t.Run("pricing a dimension the product lacks fails", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		out := e.run("bad-dim", ch("CreateOffer", catalog.EntityTypeOffer, "", "O", map[string]any{"ProductId": e.contract.ProductID}),
			offerCh("UpdatePricingTerms", "$O.Entity.Identifier", map[string]any{"PricingModel": "Contract", "Terms": []any{map[string]any{
				"Type": "FixedUpfrontPricingTerm", "CurrencyCode": "USD", "Price": "100", "Duration": "P12M",
				"Grants": []any{map[string]any{"DimensionKey": "gpus", "MaxQuantity": 1}}}}}))
		if codes := failedCodes(out); !slices.Equal(codes[1], []string{catalog.CodeIncompatibleTerms}) {
			t.Fatalf("codes %v", codes)
		}
	})
}

func TestCancelChangeSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := e.offerCount()
	id := e.start("to-cancel", privateOfferChanges(e.contract.ProductID, []string{buyer}, "cancelled")...)

	t.Run("a PREPARING set is cancelled", func(t *testing.T) {
		out, err := e.c.CancelChangeSet(ctx, &marketplacecatalog.CancelChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSetId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ChangeSetId) != id || !strings.HasSuffix(aws.ToString(out.ChangeSetArn), "/ChangeSet/"+id) {
			t.Fatalf("output %+v", out)
		}
		e.advance(delay)
		d := e.describeSet(id)
		if d.Status != types.ChangeStatusCancelled || d.EndTime == nil {
			t.Fatalf("status %s", d.Status)
		}
		if e.offerCount() != before {
			t.Fatal("a cancelled set applied")
		}
		ev := e.events("Change Set Cancelled")
		if len(ev) != 1 || ev[0]["detail"].(map[string]any)["ChangeSetId"] != id {
			t.Fatalf("events %v", ev)
		}
	})

	t.Run("a finished set cannot be cancelled", func(t *testing.T) {
		_, err := e.c.CancelChangeSet(ctx, &marketplacecatalog.CancelChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSetId: aws.String(id)})
		if _, ok := errors.AsType[*types.ResourceInUseException](err); !ok || httpStatus(err) != 423 {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("an APPLYING set cannot be cancelled", func(t *testing.T) {
		id := e.start("applying", privateOfferChanges(e.contract.ProductID, []string{buyer}, "applying")...)
		e.advance(delay * 3 / 4)
		_, err := e.c.CancelChangeSet(ctx, &marketplacecatalog.CancelChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSetId: aws.String(id)})
		if _, ok := errors.AsType[*types.ResourceInUseException](err); !ok {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("an unknown set is not found", func(t *testing.T) {
		_, err := e.c.CancelChangeSet(ctx, &marketplacecatalog.CancelChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSetId: aws.String("nosuchset")})
		if _, ok := errors.AsType[*types.ResourceNotFoundException](err); !ok || httpStatus(err) != 404 {
			t.Fatalf("err %v", err)
		}
	})
}

func TestClientRequestTokenIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := func(name string) *marketplacecatalog.StartChangeSetInput {
		return &marketplacecatalog.StartChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSetName: aws.String(name),
			ClientRequestToken: aws.String("token-1"), ChangeSet: privateOfferChanges(e.contract.ProductID, []string{buyer}, "idem")}
	}
	first, err := e.c.StartChangeSet(ctx, in("idem"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the same request returns the same change set", func(t *testing.T) {
		again, err := e.c.StartChangeSet(ctx, in("idem"))
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(again.ChangeSetId) != aws.ToString(first.ChangeSetId) || aws.ToString(again.ChangeSetArn) != aws.ToString(first.ChangeSetArn) {
			t.Fatalf("%s != %s", aws.ToString(again.ChangeSetId), aws.ToString(first.ChangeSetId))
		}
		list, err := e.c.ListChangeSets(ctx, &marketplacecatalog.ListChangeSetsInput{Catalog: aws.String("AWSMarketplace")})
		if err != nil || len(list.ChangeSetSummaryList) != 1 {
			t.Fatalf("%v %+v", err, list)
		}
	})

	t.Run("a different request with the same token is rejected", func(t *testing.T) {
		_, err := e.c.StartChangeSet(ctx, in("other-name"))
		if _, ok := errors.AsType[*types.ValidationException](err); !ok || httpStatus(err) != 422 {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("the token still answers after the set applied", func(t *testing.T) {
		e.advance(delay)
		again, err := e.c.StartChangeSet(ctx, in("idem"))
		if err != nil || aws.ToString(again.ChangeSetId) != aws.ToString(first.ChangeSetId) {
			t.Fatalf("%v %+v", err, again)
		}
		e.mustSucceed(e.describeSet(aws.ToString(first.ChangeSetId)))
		if n := len(e.events("Offer Released")); n != 1 {
			t.Fatalf("%d offers released", n)
		}
	})
}

func TestValidateIntent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := e.offerCount()
	start := func(changes []types.Change) string {
		out, err := e.c.StartChangeSet(ctx, &marketplacecatalog.StartChangeSetInput{Catalog: aws.String("AWSMarketplace"),
			Intent: types.IntentValidate, ChangeSet: changes})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ChangeSetId)
	}
	good := start(privateOfferChanges(e.contract.ProductID, []string{buyer}, "validate only"))
	bad := start(privateOfferChanges("prod-unknown0000", []string{buyer}, "validate bad"))
	e.advance(delay)

	t.Run("a valid set succeeds and applies nothing", func(t *testing.T) {
		out := e.describeSet(good)
		e.mustSucceed(out)
		if out.Intent != types.IntentValidate || e.offerCount() != before || len(e.events("Offer Released")) != 0 {
			t.Fatalf("intent %s, offers %d -> %d", out.Intent, before, e.offerCount())
		}
		if id := aws.ToString(out.ChangeSet[0].Entity.Identifier); id != "" {
			t.Fatalf("a VALIDATE set reports entity %q", id)
		}
	})

	t.Run("an invalid set fails with its errors", func(t *testing.T) {
		out := e.describeSet(bad)
		if out.Status != types.ChangeStatusFailed || !slices.Equal(failedCodes(out)[0], []string{catalog.CodeIncompatibleProduct}) {
			t.Fatalf("status %s codes %v", out.Status, failedCodes(out))
		}
	})

	t.Run("a VALIDATE set does not lock entities", func(t *testing.T) {
		offerID := e.releasedOffer("lockless")
		start([]types.Change{offerCh("UpdateInformation", offerID, map[string]any{"Name": "a"})})
		e.start("apply", offerCh("UpdateInformation", offerID, map[string]any{"Name": "b"}))
	})
}

func TestResourceInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	offerID := e.releasedOffer("locked")
	first := e.start("first", offerCh("UpdateInformation", offerID, map[string]any{"Name": "first"}))
	_, err := e.c.StartChangeSet(ctx, &marketplacecatalog.StartChangeSetInput{Catalog: aws.String("AWSMarketplace"),
		ChangeSet: []types.Change{offerCh("UpdateAvailability", offerID, map[string]any{"AvailabilityEndDate": "2099-01-01"})}})

	t.Run("a second set on a locked entity is refused", func(t *testing.T) {
		var inUse *types.ResourceInUseException
		if !errors.As(err, &inUse) || httpStatus(err) != 423 || !strings.Contains(aws.ToString(inUse.Message), first) {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("the entity is free once the first set finished", func(t *testing.T) {
		e.advance(delay)
		e.mustSucceed(e.describeSet(first))
		e.mustSucceed(e.run("second", offerCh("UpdateAvailability", offerID, map[string]any{"AvailabilityEndDate": "2099-01-01"})))
		if o := e.offer(offerID); o.Name != "first" || o.ExpirationDate.Year() != 2099 || o.ExpirationDate.Month() != 1 {
			t.Fatalf("offer %+v", o)
		}
	})

	t.Run("a past availability date expires the offer", func(t *testing.T) {
		e.mustSucceed(e.run("expire", offerCh("UpdateAvailability", offerID, map[string]any{"AvailabilityEndDate": "2020-01-01"})))
		if o := e.offer(offerID); o.State != "Expired" {
			t.Fatalf("state %s", o.State)
		}
		e.do(func(s *world.State) error {
			if _, err := s.Accept(buyer, offerID, world.AcceptOptions{}); err == nil {
				return fmt.Errorf("an expired offer was accepted")
			}
			return nil
		})
		if _, d := e.describeEntity(offerID); d["State"] != "Released" || !strings.Contains(fmt.Sprint(d["Rules"]), "2020-01-01T23:59:59.999Z") {
			t.Fatalf("details %v", d)
		}
	})
}

func TestResaleAuthorizationLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const reseller = "999988887777"
	ref := "$RA.Entity.Identifier"
	out := e.run("ra",
		ch("CreateResaleAuthorization", catalog.EntityTypeResaleAuthorization, "", "RA", map[string]any{"ProductId": e.contract.ProductID,
			"Name": "Acme via Partner", "Description": "Worldwide", "ResellerAccountId": reseller}),
		raCh("ReleaseResaleAuthorization", ref, map[string]any{}),
		raCh("UpdatePricingTerms", ref, map[string]any{"PricingModel": "Contract", "Terms": []any{map[string]any{
			"Type": "ResaleConfigurableUpfrontPricingTerm", "CurrencyCode": "USD",
			"RateCards": []any{map[string]any{"Selector": map[string]any{"Type": "Duration", "Value": "P12M"},
				"RateCard": []any{map[string]any{"DimensionKey": "seats", "Price": "7"}}}}}}}),
		raCh("UpdateLegalTerms", ref, map[string]any{"Terms": []any{map[string]any{"Type": "BuyerLegalTerm",
			"Documents": []any{map[string]any{"Type": "CustomEula", "Url": "https://example.com/eula.pdf"}}}}}),
		raCh("UpdateBuyerTargetingTerms", ref, map[string]any{"Terms": []any{map[string]any{"Type": "BuyerTargetingTerm",
			"PositiveTargeting": map[string]any{"BuyerAccounts": []any{buyer}}}}}),
		raCh("UpdateAvailability", ref, map[string]any{"AvailabilityEndDate": "2099-06-30"}))
	e.mustSucceed(out)
	raID := entityID(out, 0)

	t.Run("the resale authorization is Active with its currency", func(t *testing.T) {
		ent, d := e.describeEntity(raID)
		if aws.ToString(ent.EntityType) != "ResaleAuthorization@1.0" || d["Status"] != "Active" || d["ResellerAccountId"] != reseller ||
			d["ProductId"] != e.contract.ProductID || d["Description"] != "Worldwide" {
			t.Fatalf("entity %v", d)
		}
		var ra world.ResaleAuthorization
		e.do(func(s *world.State) error { ra = *s.ResaleAuthorizations[raID]; return nil })
		if ra.State != "Active" || ra.Currency != "USD" || !slices.Equal(ra.BuyerAccounts, []string{buyer}) {
			t.Fatalf("world %+v", ra)
		}
	})

	t.Run("the partner extends a CPPO from it", func(t *testing.T) {
		out := e.run("cppo",
			ch("CreateOfferUsingResaleAuthorization", catalog.EntityTypeOffer, "", "CPPO", map[string]any{"ResaleAuthorizationId": raID,
				"Name": "Acme via Partner for Buyer", "Description": "CPPO"}),
			offerCh("UpdateMarkup", "$CPPO.Entity.Identifier", map[string]any{"Percentage": "5.0"}),
			offerCh("UpdateTargeting", "$CPPO.Entity.Identifier", map[string]any{"PositiveTargeting": map[string]any{"BuyerAccounts": []any{buyer}}}),
			offerCh("UpdateValidityTerms", "$CPPO.Entity.Identifier", map[string]any{"Terms": []any{map[string]any{"Type": "ValidityTerm", "AgreementDuration": "P450D"}}}),
			offerCh("ReleaseOffer", "$CPPO.Entity.Identifier", map[string]any{}))
		e.mustSucceed(out)
		o := e.offer(entityID(out, 0))
		if o.ProposerAccountID != reseller || o.ResaleAuthorizationID != raID || o.Currency != "USD" || o.State != "Released" || o.Duration != "P450D" {
			t.Fatalf("offer %+v", o)
		}
		_, d := e.describeEntity(o.OfferID)
		if d["MarkupPercentage"] != "5.0" || d["ResaleAuthorizationId"] != raID || !strings.Contains(fmt.Sprint(d["Terms"]), "ConfigurableUpfrontPricingTerm") {
			t.Fatalf("details %v", d)
		}
		rel := e.events("Offer Released")
		last := rel[len(rel)-1]["detail"].(map[string]any)
		if last["sellerOfRecord"].(map[string]any)["accountId"] != reseller || last["resaleAuthorization"].(map[string]any)["id"] != raID {
			t.Fatalf("event %v", last)
		}
		e.do(func(s *world.State) error {
			a, err := s.Accept(buyer, o.OfferID, world.AcceptOptions{})
			if err == nil && (a.ResaleAuthorizationID != raID || a.ProposerAccountID != reseller) {
				return fmt.Errorf("agreement %+v", a)
			}
			return err
		})
	})

	t.Run("a CPPO outside the authorized buyers fails", func(t *testing.T) {
		out := e.run("cppo-bad",
			ch("CreateOfferUsingResaleAuthorization", catalog.EntityTypeOffer, "", "CPPO", map[string]any{"ResaleAuthorizationId": raID}),
			offerCh("UpdateTargeting", "$CPPO.Entity.Identifier", map[string]any{"PositiveTargeting": map[string]any{"BuyerAccounts": []any{buyer2}}}))
		if codes := failedCodes(out); !slices.Equal(codes[1], []string{catalog.CodeInvalidBuyerAccounts}) {
			t.Fatalf("codes %v", codes)
		}
	})

	t.Run("restricting is irreversible", func(t *testing.T) {
		e.mustSucceed(e.run("restrict", raCh("RestrictResaleAuthorization", raID, map[string]any{})))
		if _, d := e.describeEntity(raID); d["Status"] != "Restricted" {
			t.Fatalf("status %v", d["Status"])
		}
		for name, c := range map[string]types.Change{
			"release":  raCh("ReleaseResaleAuthorization", raID, map[string]any{}),
			"restrict": raCh("RestrictResaleAuthorization", raID, map[string]any{}),
			"avail":    raCh("UpdateAvailability", raID, map[string]any{"AvailabilityEndDate": "2099-12-31"}),
		} {
			if codes := failedCodes(e.run("after-restrict-"+name, c)); !slices.Equal(codes[0], []string{catalog.CodeInvalidState}) {
				t.Fatalf("%s: codes %v", name, codes)
			}
		}
		out := e.run("cppo-restricted", ch("CreateOfferUsingResaleAuthorization", catalog.EntityTypeOffer, "", "", map[string]any{"ResaleAuthorizationId": raID}))
		if codes := failedCodes(out); !slices.Equal(codes[0], []string{catalog.CodeInvalidResaleAuth}) {
			t.Fatalf("codes %v", codes)
		}
	})

	t.Run("a resale authorization cannot be released without pricing", func(t *testing.T) {
		out := e.run("ra-bare", ch("CreateResaleAuthorization", catalog.EntityTypeResaleAuthorization, "", "R", map[string]any{
			"ProductId": e.contract.ProductID, "Name": "bare", "ResellerAccountId": reseller}),
			raCh("ReleaseResaleAuthorization", "$R.Entity.Identifier", map[string]any{}))
		if codes := failedCodes(out); !slices.Equal(codes[1], []string{catalog.CodeMissingMandatoryTerms}) {
			t.Fatalf("codes %v", codes)
		}
	})
}

func TestReplacementOffer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var old *world.Agreement
	e.do(func(s *world.State) error {
		var err error
		old, err = s.Accept(buyer, e.contract.PublicOfferID, world.AcceptOptions{Quantities: map[string]int64{"seats": 5}})
		return err
	})
	ref := "$Amend.Entity.Identifier"
	out := e.run("amend",
		ch("CreateReplacementOffer", catalog.EntityTypeOffer, "", "Amend", map[string]any{"AgreementId": old.ID, "Name": "Upgrade to 20 seats"}),
		offerCh("UpdatePricingTerms", ref, map[string]any{"PricingModel": "Contract", "Terms": []any{map[string]any{
			"Type": "FixedUpfrontPricingTerm", "CurrencyCode": "USD", "Price": "1500.00", "Duration": "P12M",
			"Grants": []any{map[string]any{"DimensionKey": "seats", "MaxQuantity": 20}}}}}),
		offerCh("UpdatePaymentScheduleTerms", ref, map[string]any{"Terms": []any{map[string]any{"Type": "PaymentScheduleTerm", "CurrencyCode": "USD",
			"Schedule": []any{map[string]any{"ChargeDate": "2099-01-01", "ChargeAmount": "1500.00"}}}}}),
		offerCh("ReleaseOffer", ref, map[string]any{}))
	e.mustSucceed(out)
	offerID := entityID(out, 0)

	t.Run("the replacement offer is private to the agreement's buyer", func(t *testing.T) {
		o := e.offer(offerID)
		if !o.Private || !slices.Equal(o.BuyerAccounts, []string{buyer}) || o.ReplacesAgreementID != old.ID || o.AutoRenew ||
			o.Quantities["seats"] != 20 || o.Duration != "P12M" {
			t.Fatalf("offer %+v", o)
		}
		var kinds []string
		for _, term := range o.Terms {
			kinds = append(kinds, term.Type)
		}
		if !slices.Equal(kinds, []string{"FixedUpfrontPricingTerm", "PaymentScheduleTerm"}) {
			t.Fatalf("terms %v", kinds)
		}
		if _, d := e.describeEntity(offerID); !strings.Contains(fmt.Sprint(d["Rules"]), buyer) {
			t.Fatalf("rules %v", d["Rules"])
		}
	})

	t.Run("its targeting cannot change", func(t *testing.T) {
		id := e.start("retarget-draft", ch("CreateReplacementOffer", catalog.EntityTypeOffer, "", "A", map[string]any{"AgreementId": old.ID}),
			offerCh("UpdateTargeting", "$A.Entity.Identifier", map[string]any{"PositiveTargeting": map[string]any{"BuyerAccounts": []any{buyer2}}}))
		e.advance(delay)
		if codes := failedCodes(e.describeSet(id)); !slices.Equal(codes[1], []string{catalog.CodeInvalidBuyerAccounts}) {
			t.Fatalf("codes %v", codes)
		}
	})

	t.Run("accepting it replaces the agreement", func(t *testing.T) {
		e.do(func(s *world.State) error {
			a, err := s.Accept(buyer, offerID, world.AcceptOptions{})
			if err != nil {
				return err
			}
			if a.Intent != "REPLACE" || a.PreviousAgreementID != old.ID || a.Quantities["seats"] != 20 || a.OfferID != offerID {
				return fmt.Errorf("new agreement %+v", a)
			}
			if st := s.Agreements[old.ID].Status; st != "REPLACED" {
				return fmt.Errorf("old agreement is %s", st)
			}
			return nil
		})
	})

	t.Run("a replaced agreement cannot be amended again", func(t *testing.T) {
		out := e.run("amend-replaced", ch("CreateReplacementOffer", catalog.EntityTypeOffer, "", "", map[string]any{"AgreementId": old.ID}))
		if codes := failedCodes(out); !slices.Equal(codes[0], []string{catalog.CodeIncompatibleAgreement}) {
			t.Fatalf("codes %v", codes)
		}
	})
}
