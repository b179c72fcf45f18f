package artifact_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
)

// The accounts of the tests: the ISV (seller and manufacturer), a buyer and
// a channel partner.
const (
	seller  = "111122223333"
	buyer   = "444455556666"
	partner = "777788889999"
)

// t0 is when the buyers accept: 15:00 UTC on 2 November 2026.
var t0 = time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)

// termsAPI is the Agreement API of the tests: it describes every agreement
// as active with the terms the test gave it.
type termsAPI struct{ terms map[string]marketplace.Terms }

func (a *termsAPI) DescribeAgreement(_ context.Context, id string) (marketplace.AgreementDetails, error) {
	t, ok := a.terms[id]
	if !ok {
		return marketplace.AgreementDetails{}, fmt.Errorf("no terms for %s: %w", id, inbox.ErrAgreementNotFound)
	}
	return marketplace.AgreementDetails{Fact: marketplace.Fact{AgreementID: id, Status: marketplace.StatusActive}, Terms: t}, nil
}

// fixture is a ledger fed through the real ingest path, with Concord's
// offers, on one database.
type fixture struct {
	t      *testing.T
	db     *store.DB
	ledger *inbox.Ledger
	offers *offer.Service
	api    *termsAPI
	// clock is Concord's clock: an hour after t0, and moved on to each
	// event ingested later than that, since Concord holds events dated
	// ahead of its clock.
	clock time.Time
}

func setup(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	f := &fixture{t: t, db: db, api: &termsAPI{terms: map[string]marketplace.Terms{}}, clock: t0.Add(time.Hour)}
	now := func() time.Time { return f.clock }
	f.offers = &offer.Service{DB: db, Now: now, Logger: slog.New(slog.DiscardHandler)}
	f.ledger = &inbox.Ledger{DB: db, Now: now, AgreementHooks: []inbox.AgreementHook{f.offers.AgreementHook}}
	if _, err := f.ledger.PutProduct(context.Background(), marketplace.Product{ProductID: "prod-acme", ProductCode: "acmecode123", Title: "Acme Analytics",
		Type: marketplace.ProductSaaSContractConsumption, ConcurrentAgreements: true,
		Dimensions:       []marketplace.Dimension{{Key: "seats", Name: "Seats", Kind: "contract"}, {Key: "admins", Kind: "contract"}, {Key: "api_calls", Name: "API calls", Kind: "usage"}},
		ContractMetadata: []marketplace.MetadataField{{Key: "Salesforce Opportunity"}, {Key: marketplace.CPPOOpportunityField}}}); err != nil {
		t.Fatal(err)
	}
	return f
}

// ingest applies EventBridge events as the doors do.
func (f *fixture) ingest(bodies ...[]byte) {
	f.t.Helper()
	for _, body := range bodies {
		ev, err := marketplace.ParseEventBridge(body)
		if err != nil {
			f.t.Fatalf("parse: %v\n%s", err, body)
		}
		if ev.Time.After(f.clock) {
			f.clock = ev.Time
		}
		if _, err := f.ledger.Ingest(context.Background(), inbox.DoorHTTP, ev); err != nil {
			f.t.Fatalf("ingest: %v", err)
		}
	}
}

// buy ingests Purchase Agreement Created and License Updated for a, with the
// license l-<agreement id>, and returns its LicenseArn.
func (f *fixture) buy(a eventbridge.Agreement) string {
	f.t.Helper()
	arn := eventbridge.LicenseArn(a.AcceptorAccountID, "l-"+a.ID)
	f.ingest(eventbridge.Created(seller, a, a.AcceptanceTime), eventbridge.LicenseUpdated(seller, a, arn, a.AcceptanceTime.Add(time.Minute)))
	return arn
}

// enrich runs the enrichment job's work for agreement id with these terms.
func (f *fixture) enrich(id string, terms marketplace.Terms) {
	f.t.Helper()
	f.api.terms[id] = terms
	if err := f.ledger.Enrich(context.Background(), f.api, id); err != nil {
		f.t.Fatal(err)
	}
}

// record records agreement id's artifact at time at.
func (f *fixture) record(id string, at time.Time) (artifact.BookableArtifact, bool) {
	f.t.Helper()
	var a artifact.BookableArtifact
	var created bool
	err := f.db.Write(context.Background(), func(tx *store.Tx) error {
		var err error
		a, created, err = artifact.Record(context.Background(), tx, id, at)
		return err
	})
	if err != nil {
		f.t.Fatalf("record %s: %v", id, err)
	}
	return a, created
}

// associate tracks a Concord offer for AWS offer offerID.
func (f *fixture) associate(offerID string, form offer.Offer) offer.Detail {
	f.t.Helper()
	d, err := f.offers.Associate(context.Background(), offer.Association{OfferID: offerID, Form: form})
	if err != nil {
		f.t.Fatalf("associate %s: %v", offerID, err)
	}
	return d
}

func agreement(id, intent, offerID string, at time.Time) eventbridge.Agreement {
	return eventbridge.Agreement{ID: id, Intent: intent, AcceptanceTime: at, StartTime: at, EndTime: at.AddDate(1, 0, 0).Add(-time.Second),
		AcceptorAccountID: buyer, ProposerAccountID: seller, OfferID: offerID, ProductID: "prod-acme", ProductCode: "acmecode123", ProductTitle: "Acme Analytics"}
}

// directForm is a direct private offer to the buyer: 10 seats at 1200.00
// and API calls at 0.002, paid in two installments.
func directForm() offer.Offer {
	return offer.Offer{
		Type: offer.TypeDirect, BuyerCompany: "Initech", ProductID: "prod-acme", Name: "Initech annual",
		Pricing: offer.Pricing{Currency: "USD", Duration: "P12M", Dimensions: []offer.PricedDimension{
			{Key: "seats", Kind: "contract", Quantity: 10, Price: "1200.00"}, {Key: "api_calls", Kind: "usage", Price: "0.002"}},
			Schedule: []offer.Installment{{Date: "2026-11-02", Amount: "6000.00"}, {Date: "2027-05-02", Amount: "6000.00"}}},
		EULA:      offer.Legal{Kind: "standard"},
		Metadata:  map[string]string{offer.MetaBuyerAccount: buyer, "Salesforce Opportunity": "006XYZ"},
		ExpiresOn: "2026-12-31",
	}
}

func qty(n int64) *int64 { return &n }

// contractTerms are AWS's terms for contract dimensions and usage prices.
func contractTerms(seats int64, seatPrice string, schedule ...marketplace.Installment) marketplace.Terms {
	auto := false
	t := marketplace.Terms{Currency: "USD", Pricing: []marketplace.PriceItem{
		{Term: "ConfigurableUpfrontPricingTerm", Dimension: "seats", Price: seatPrice, Quantity: qty(seats), Selector: "P12M"},
		{Term: "ConfigurableUpfrontPricingTerm", Dimension: "admins", Price: "50.00", Selector: "P12M"},
		{Term: "UsageBasedPricingTerm", Dimension: "api_calls", Price: "0.002"},
	}, PaymentSchedule: schedule, Validity: &marketplace.Validity{Duration: "P12M"}, AutoRenew: &auto,
		Types: []string{"ConfigurableUpfrontPricingTerm", "UsageBasedPricingTerm", "ValidityTerm", "RenewalTerm"}}
	if len(schedule) > 0 {
		t.Types = append(t.Types, "PaymentScheduleTerm")
	}
	return t
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
