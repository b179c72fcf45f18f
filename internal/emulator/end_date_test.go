package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/document"
	ctypes "github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/types"

	"github.com/concordmp/concord/internal/emulator"
)

// setupAt is setup with the emulator clock stopped at now.
func setupAt(t *testing.T, now time.Time) *bundle {
	t.Helper()
	b := &bundle{}
	b.srv = httptest.NewUnstartedServer(nil)
	b.emu = emulator.New(emulator.Options{BaseURL: func() string { return "http://" + b.srv.Listener.Addr().String() },
		Clock: func() time.Time { return now }})
	b.srv.Config.Handler = b.emu
	b.srv.Start()
	t.Cleanup(func() { b.emu.Close(); b.srv.Close() })
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(aws.AnonymousCredentials{}), config.WithBaseEndpoint(b.srv.URL), config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	b.cfg = cfg
	return b
}

// publishWithValidity publishes, through the Catalog API, a private offer of
// productID for buyers with the given ValidityTerm and returns its ID.
func (b *bundle) publishWithValidity(t *testing.T, productID string, buyers []string, validity map[string]any) string {
	t.Helper()
	ctx := context.Background()
	c := marketplacecatalog.NewFromConfig(b.cfg)
	ref := "$NewOffer.Entity.Identifier"
	change := func(typ, id string, details map[string]any) ctypes.Change {
		ch := ctypes.Change{ChangeType: aws.String(typ), Entity: &ctypes.Entity{Type: aws.String("Offer@1.0")}, DetailsDocument: document.NewLazyDocument(details)}
		if id == "" {
			ch.ChangeName = aws.String("NewOffer")
		} else {
			ch.Entity.Identifier = aws.String(id)
		}
		return ch
	}
	accounts := make([]any, len(buyers))
	for i, a := range buyers {
		accounts[i] = a
	}
	validity["Type"] = "ValidityTerm"
	out, err := c.StartChangeSet(ctx, &marketplacecatalog.StartChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSet: []ctypes.Change{
		change("CreateOffer", "", map[string]any{"ProductId": productID, "Name": "End-dated offer"}),
		change("UpdateTargeting", ref, map[string]any{"PositiveTargeting": map[string]any{"BuyerAccounts": accounts}}),
		change("UpdatePricingTerms", ref, map[string]any{"PricingModel": "Contract", "Terms": []any{map[string]any{
			"Type": "FixedUpfrontPricingTerm", "CurrencyCode": "USD", "Price": "400.00",
			"Grants": []any{map[string]any{"DimensionKey": "seats", "MaxQuantity": 10}}}}}),
		change("UpdateValidityTerms", ref, map[string]any{"Terms": []any{validity}}),
		change("UpdateLegalTerms", ref, map[string]any{"Terms": []any{map[string]any{"Type": "LegalTerm",
			"Documents": []any{map[string]any{"Type": "StandardEula", "Version": "2022-07-14"}}}}}),
		change("UpdateAvailability", ref, map[string]any{"AvailabilityEndDate": "2027-01-31"}),
		change("ReleaseOffer", ref, map[string]any{}),
	}})
	if err != nil {
		t.Fatalf("StartChangeSet: %v", err)
	}
	b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "1m"}, &struct{}{})
	set, err := c.DescribeChangeSet(ctx, &marketplacecatalog.DescribeChangeSetInput{Catalog: aws.String("AWSMarketplace"), ChangeSetId: out.ChangeSetId})
	if err != nil {
		t.Fatal(err)
	}
	if set.Status != ctypes.ChangeStatusSucceeded {
		t.Fatalf("change set %s: %s", set.Status, aws.ToString(set.FailureDescription))
	}
	id := aws.ToString(set.ChangeSet[0].Entity.Identifier)
	if i := bytes.IndexByte([]byte(id), '@'); i >= 0 {
		id = id[:i]
	}
	return id
}

// endTime is the agreement's endTime as DescribeAgreement answers it.
func (b *bundle) endTime(t *testing.T, agreementID string) time.Time {
	t.Helper()
	out, err := marketplaceagreement.NewFromConfig(b.cfg).DescribeAgreement(context.Background(), &marketplaceagreement.DescribeAgreementInput{AgreementId: &agreementID})
	if err != nil {
		t.Fatal(err)
	}
	if out.EndTime == nil {
		t.Fatalf("agreement %s has no endTime", agreementID)
	}
	return out.EndTime.UTC()
}

// AWS ends an agreement at 23:59:59(.999) UTC on the offer's AgreementEndDate,
// whatever time of day the buyer accepts (Agreement API reference,
// ValidityTerm agreementEndDate).
func TestAgreementEndDateEndsTheAgreementThatDay(t *testing.T) {
	t.Parallel()
	b := setupAt(t, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	p := b.product(t, false)
	buyers := []string{"444455556666", "555566667777", "666677778888"}
	offerID := b.publishWithValidity(t, p.ProductID, buyers, map[string]any{"AgreementEndDate": "2027-03-01"})
	want := time.Date(2027, 3, 1, 23, 59, 59, 0, time.UTC)
	// Accept at 00:01, 15:03:59 and 23:59:59 of different days.
	for i, step := range []string{"0s", "15h2m59s", "32h56m0s"} {
		b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": step}, &struct{}{})
		a := b.accept(t, buyers[i], "", map[string]any{"offerId": offerID})
		if got := b.endTime(t, a.AgreementID); !got.Equal(want) {
			var clock struct{ Now time.Time }
			b.control(t, "GET", "/control/clock", nil, &clock)
			t.Errorf("accepted at %s: endTime %s, want %s", clock.Now.Format(time.RFC3339), got.Format(time.RFC3339), want.Format(time.RFC3339))
		}
	}

	t.Run("an agreement starting after the end date is refused", func(t *testing.T) {
		var out map[string]any
		status := b.control(t, "POST", "/control/accept", map[string]any{"buyer": buyers[0], "offerId": offerID,
			"quantities": map[string]int64{"seats": 10}, "startDate": "2027-03-02T00:00:00Z"}, nil)
		if status == http.StatusOK {
			t.Fatalf("accepted with a start after the end date: %v", out)
		}
	})

	t.Run("a snapshot from before the end date was kept still runs the duration", func(t *testing.T) {
		snap, err := b.emu.World.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(snap, &m); err != nil {
			t.Fatal(err)
		}
		o := m["offers"].(map[string]any)[offerID].(map[string]any)
		if o["endDate"] == nil {
			t.Fatalf("the snapshot does not keep the offer's end date: %v", o)
		}
		delete(o, "endDate")
		old, _ := json.Marshal(m)
		other := setupAt(t, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
		req, _ := http.NewRequest("PUT", other.srv.URL+"/control/state", bytes.NewReader(old))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("restore: %v %v", err, resp.Status)
		}
		resp.Body.Close()
		var clock struct{ Now time.Time }
		other.control(t, "GET", "/control/clock", nil, &clock)
		a := other.accept(t, buyers[0], "", map[string]any{"offerId": offerID})
		// The offer was published on 2026-03-02: 365 days to 2027-03-01.
		if got, want := other.endTime(t, a.AgreementID), clock.Now.AddDate(0, 0, 365).Add(-time.Second); !got.Equal(want) {
			t.Fatalf("endTime %s, want %s (the old P365D from acceptance at %s)", got.Format(time.RFC3339), want.Format(time.RFC3339), clock.Now.Format(time.RFC3339))
		}
	})
}

// A duration runs from acceptance: two buyers accepting at different times
// of day get different end times.
func TestAgreementDurationRunsFromAcceptance(t *testing.T) {
	t.Parallel()
	b := setupAt(t, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	p := b.product(t, false)
	buyers := []string{"444455556666", "555566667777"}
	offerID := b.publishWithValidity(t, p.ProductID, buyers, map[string]any{"AgreementDuration": "P12M"})
	for i, step := range []string{"3h", "12h30m"} {
		b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": step}, &struct{}{})
		var clock struct{ Now time.Time }
		b.control(t, "GET", "/control/clock", nil, &clock)
		a := b.accept(t, buyers[i], "", map[string]any{"offerId": offerID})
		if got, want := b.endTime(t, a.AgreementID), clock.Now.AddDate(1, 0, 0).Add(-time.Second); !got.Equal(want) {
			t.Errorf("accepted at %s: endTime %s, want %s", clock.Now.Format(time.RFC3339), got.Format(time.RFC3339), want.Format(time.RFC3339))
		}
	}
}
