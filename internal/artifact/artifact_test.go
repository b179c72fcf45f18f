package artifact_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// same compares got with want field by field (as JSON), taking the id,
// version, hash and time from got.
func same(t *testing.T, got, want artifact.BookableArtifact) {
	t.Helper()
	if !hashPattern.MatchString(got.ContentHash) {
		t.Errorf("content hash %q", got.ContentHash)
	}
	want.ID, want.ContentHash = got.ID, got.ContentHash
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Fatalf("artifact\n got %s\nwant %s", g, w)
	}
}

func ptr[T any](v T) *T { return &v }

// base is what every artifact of agreement a says before its terms are known.
func base(a eventbridge.Agreement, arn string) artifact.BookableArtifact {
	return artifact.BookableArtifact{
		AgreementID: a.ID, Kind: artifact.KindNew, OrderType: artifact.OrderUnknown, Channel: artifact.ChannelDirect, Intent: a.Intent,
		Buyer: artifact.ArtifactParty{AccountID: buyer}, SellerOfRecord: artifact.ArtifactParty{AccountID: a.ProposerAccountID},
		Manufacturer: artifact.ArtifactParty{AccountID: seller},
		Product:      artifact.ArtifactProduct{ProductID: "prod-acme", Code: "acmecode123", Title: "Acme Analytics"},
		OfferID:      a.OfferID, ResaleAuthorizationID: a.ResaleAuthorizationID, LicenseArns: []string{arn},
		Lineage: artifact.ArtifactLineage{InitialAgreementID: a.ID, Chain: []string{a.ID}},
		Lines:   []artifact.ArtifactLine{}, TCVBasis: artifact.TCVNone, PaymentSchedule: []artifact.ArtifactInstallment{},
		AcceptedAt: ptr(a.AcceptanceTime), StartsAt: ptr(a.StartTime), EndsAt: ptr(a.EndTime), Metadata: map[string]string{},
	}
}

// priced adds the lines of contractTerms(seats, seatPrice) to a.
func priced(a artifact.BookableArtifact, seats int64, seatPrice, seatTotal string) artifact.BookableArtifact {
	a.TermsKnown, a.Currency, a.Duration, a.AutoRenew = true, "USD", "P12M", ptr(false)
	a.Lines = []artifact.ArtifactLine{
		{Dimension: "seats", Name: "Seats", Kind: artifact.LineContract, Term: "ConfigurableUpfrontPricingTerm", Quantity: qty(seats), UnitPrice: seatPrice, LineTotal: seatTotal},
		{Dimension: "api_calls", Name: "API calls", Kind: artifact.LineUsage, Term: "UsageBasedPricingTerm", UnitPrice: "0.002"},
	}
	return a
}

// A direct private order from a Concord offer: the buyer's company and the
// contract metadata come from the offer, the value from its payment
// schedule. Terms arriving make version 2; recording again, or after a
// replay of the inbox, makes nothing.
func TestDirectPrivateOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		d := f.associate("offer-direct1", directForm())
		a := agreement("agmt-direct1", "NEW", "offer-direct1", t0)
		arn := f.buy(a)

		v1, created := f.record(a.ID, t0.Add(2*time.Minute))
		want := base(a, arn)
		want.OrderType, want.ConcordOfferID = artifact.OrderPrivate, d.ID
		want.Buyer.Company, want.Buyer.CompanySource = "Initech", "offer"
		want.Metadata = map[string]string{offer.MetaBuyerAccount: buyer, "Salesforce Opportunity": "006XYZ"}
		want.Version, want.CreatedAt = 1, t0.Add(2*time.Minute)
		if !created {
			t.Fatal("the first record created nothing")
		}
		same(t, v1, want)

		t.Run("the same content makes no new version", func(t *testing.T) {
			again, created := f.record(a.ID, t0.Add(3*time.Minute))
			if created || again.ID != v1.ID || again.Version != 1 || !again.CreatedAt.Equal(v1.CreatedAt) {
				t.Fatalf("recorded again: created=%v %+v", created, again)
			}
		})

		f.enrich(a.ID, contractTerms(10, "1200.00",
			marketplace.Installment{ChargeDate: t0, Amount: "6000.00"}, marketplace.Installment{ChargeDate: t0.AddDate(0, 6, 0), Amount: "6000.00"}))
		v2, created := f.record(a.ID, t0.Add(4*time.Minute))
		if !created || v2.Version != 2 || v2.ID == v1.ID {
			t.Fatalf("terms arriving: created=%v version %d", created, v2.Version)
		}
		want = priced(want, 10, "1200.00", "12000.00")
		want.Version, want.CreatedAt = 2, t0.Add(4*time.Minute)
		want.TotalContractValue, want.TCVBasis = "12000.00", artifact.TCVPaymentSchedule
		want.PaymentSchedule = []artifact.ArtifactInstallment{{ChargeDate: t0, Amount: "6000.00"}, {ChargeDate: t0.AddDate(0, 6, 0), Amount: "6000.00"}}
		same(t, v2, want)

		t.Run("a replay of the inbox makes no new version", func(t *testing.T) {
			if _, err := f.ledger.Replay(context.Background()); err != nil {
				t.Fatal(err)
			}
			f.ingest(eventbridge.Created(seller, a, a.AcceptanceTime)) // the same event, delivered again
			again, created := f.record(a.ID, t0.Add(time.Hour))
			if created || again.ID != v2.ID {
				t.Fatalf("recorded after replay: created=%v version %d", created, again.Version)
			}
		})

		t.Run("list and get read the versions", func(t *testing.T) {
			ctx := context.Background()
			all, err := artifact.List(ctx, db, a.ID)
			if err != nil || len(all) != 2 || all[0].ID != v1.ID || all[1].ID != v2.ID {
				t.Fatalf("list: %v %+v", err, all)
			}
			got, err := artifact.Get(ctx, db, v2.ID)
			if err != nil {
				t.Fatal(err)
			}
			same(t, got, want)
			if _, err := artifact.Get(ctx, db, "art_nope"); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Fatalf("get unknown: %v", err)
			}
			if _, err := artifact.List(ctx, db, "agmt-nope"); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Fatalf("list unknown agreement: %v", err)
			}
		})
	})
}

// A public order: Concord made no offer, so the order type is unknown; the
// company comes from the tenant the buyer registered, the value from the
// contract lines.
func TestPublicOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		a := agreement("agmt-public1", "NEW", "offer-public1", t0)
		arn := f.buy(a)
		registerTenant(t, db, "tnt_globex", "Globex", "l-"+a.ID)
		terms := contractTerms(5, "40.00")
		terms.EstimatedValue = "999.00" // not used: the contract lines are exact
		f.enrich(a.ID, terms)
		got, created := f.record(a.ID, t0.Add(time.Minute))
		want := priced(base(a, arn), 5, "40.00", "200.00")
		want.Buyer.Company, want.Buyer.CompanySource = "Globex", "registration"
		want.TotalContractValue, want.TCVBasis = "200.00", artifact.TCVContractLines
		want.Version, want.CreatedAt = 1, t0.Add(time.Minute)
		if !created {
			t.Fatal("nothing created")
		}
		same(t, got, want)

		t.Run("expiring is not a booking", func(t *testing.T) {
			f.ingest(eventbridge.Ended(seller, a, marketplace.StatusExpired, a.EndTime))
			again, created := f.record(a.ID, t0.AddDate(1, 0, 0))
			if created || again.ID != got.ID {
				t.Fatalf("EXPIRED made version %d (%s)", again.Version, again.Kind)
			}
		})
	})
}

// registerTenant makes a tenant of the buyer hold license licenseID, as the
// registration flow does.
func registerTenant(t *testing.T, db *store.DB, tenantID, company, licenseID string) {
	t.Helper()
	err := db.Write(context.Background(), func(tx *store.Tx) error {
		ms := store.Millis(t0)
		if _, err := tx.Exec(context.Background(), `INSERT INTO tenants (tenant_id, account_id, product_id, product_code, company, source, created_at, updated_at)
			VALUES (?, ?, 'prod-acme', 'acmecode123', ?, 'registration', ?, ?)`, tenantID, buyer, company, ms, ms); err != nil {
			return err
		}
		_, err := tx.Exec(context.Background(), `INSERT INTO tenant_licenses (license_id, tenant_id, license_arn, account_id, product_code, source, attached_at)
			VALUES (?, ?, ?, ?, 'acmecode123', 'registration', ?)`, licenseID, tenantID, eventbridge.LicenseArn(buyer, licenseID), buyer, ms)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// partnerOrder is a CPPO: the partner extended offer-cppo1 from resale
// authorization resaleauth-1 and the buyer accepted it.
func partnerOrder() eventbridge.Agreement {
	a := agreement("agmt-cppo1", "NEW", "offer-cppo1", t0)
	a.ResaleAuthorizationID, a.ProposerAccountID = "resaleauth-1", partner
	return a
}

func partnerForm() offer.Offer {
	o := directForm()
	o.Type, o.BuyerCompany, o.Name = offer.TypePartner, "Umbrella", "Umbrella via partner"
	o.Pricing.Schedule = nil
	o.ResellerAgreement = &offer.Legal{Kind: "standard"}
	o.Metadata = map[string]string{offer.MetaBuyerAccount: buyer, offer.MetaPartnerAccount: partner, offer.MetaCPPOOpportunityID: "O-4471"}
	return o
}

// fixedTerms are a fixed upfront price for 20 seats and 2 admins.
func fixedTerms() marketplace.Terms {
	return marketplace.Terms{Currency: "USD", Pricing: []marketplace.PriceItem{
		{Term: "FixedUpfrontPricingTerm", Dimension: "seats", Price: "9000", Quantity: qty(20)},
		{Term: "FixedUpfrontPricingTerm", Dimension: "admins", Price: "9000", Quantity: qty(2)},
	}, PaymentSchedule: []marketplace.Installment{}, Types: []string{"FixedUpfrontPricingTerm"}}
}

func partnerWant(a eventbridge.Agreement, arn, concordOffer string) artifact.BookableArtifact {
	want := base(a, arn)
	want.Kind, want.OrderType, want.Channel = artifact.KindPartnerOrder, artifact.OrderPrivate, artifact.ChannelPartner
	want.SellerOfRecord, want.Reseller = artifact.ArtifactParty{AccountID: partner}, &artifact.ArtifactParty{AccountID: partner}
	want.ConcordOfferID = concordOffer
	want.Buyer.Company, want.Buyer.CompanySource = "Umbrella", "offer"
	want.Metadata = map[string]string{offer.MetaBuyerAccount: buyer, offer.MetaPartnerAccount: partner, offer.MetaCPPOOpportunityID: "O-4471"}
	want.TermsKnown, want.Currency = true, "USD"
	want.Lines = []artifact.ArtifactLine{
		{Dimension: "seats", Name: "Seats", Kind: artifact.LineFixed, Term: "FixedUpfrontPricingTerm", Quantity: qty(20), LineTotal: "9000.00"},
		{Dimension: "admins", Kind: artifact.LineFixed, Term: "FixedUpfrontPricingTerm", Quantity: qty(2)},
	}
	want.TotalContractValue, want.TCVBasis = "9000.00", artifact.TCVContractLines
	return want
}

// A partner order: the partner is the seller of record and the reseller,
// the ISV the manufacturer; a fixed upfront price counts once.
func TestPartnerOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		d := f.associate("offer-cppo1", partnerForm())
		a := partnerOrder()
		arn := f.buy(a)
		f.enrich(a.ID, fixedTerms())
		got, _ := f.record(a.ID, t0.Add(time.Minute))
		want := partnerWant(a, arn, d.ID)
		want.Version, want.CreatedAt = 1, t0.Add(time.Minute)
		same(t, got, want)
	})
}

// A cancellation is the agreement as booked, with its ended status: a new
// version of the partner order's artifact.
func TestCancellation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		d := f.associate("offer-cppo1", partnerForm())
		a := partnerOrder()
		arn := f.buy(a)
		f.enrich(a.ID, fixedTerms())
		booked, _ := f.record(a.ID, t0.Add(time.Minute))
		ended := t0.Add(48 * time.Hour)
		f.ingest(eventbridge.Ended(seller, a, marketplace.StatusCancelled, ended))
		got, created := f.record(a.ID, ended.Add(time.Minute))
		if !created || got.Version != booked.Version+1 {
			t.Fatalf("cancelling: created=%v version %d", created, got.Version)
		}
		want := partnerWant(a, arn, d.ID)
		want.Kind, want.Status, want.EndedAt = artifact.KindCancellation, marketplace.StatusCancelled, &ended
		want.Version, want.CreatedAt = 2, ended.Add(time.Minute)
		same(t, got, want)
	})
}

// An amendment replaces an agreement: its lineage leads to the initial
// agreement, the LicenseArn carried over is on both, and the replaced
// agreement gets no new artifact from being REPLACED.
func TestAmendment(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		f.associate("offer-direct1", directForm())
		first := agreement("agmt-direct1", "NEW", "offer-direct1", t0)
		arn := f.buy(first)
		f.enrich(first.ID, contractTerms(10, "1200.00"))
		original, _ := f.record(first.ID, t0.Add(time.Minute))

		form := directForm()
		form.Pricing.Dimensions[0].Quantity = 15
		form.Pricing.Schedule = nil
		form.Metadata["Salesforce Opportunity"] = "006AMD"
		form.Amends = &offer.Amendment{AgreementID: first.ID, SourceOfferID: "offer-direct1"}
		d := f.associate("offer-amend1", form)

		at := t0.AddDate(0, 3, 0)
		amd := agreement("agmt-amend1", "REPLACE", "offer-amend1", at)
		amd.PreviousAgreementID, amd.EndTime = first.ID, first.EndTime
		// AWS carries the LicenseArn over to the amending agreement.
		f.ingest(eventbridge.Created(seller, amd, at), eventbridge.LicenseUpdated(seller, amd, arn, at.Add(time.Minute)))
		f.enrich(amd.ID, contractTerms(15, "1200.00"))
		got, created := f.record(amd.ID, at.Add(2*time.Minute))
		if !created {
			t.Fatal("nothing created")
		}
		want := priced(base(amd, arn), 15, "1200.00", "18000.00")
		want.Kind, want.OrderType, want.ConcordOfferID = artifact.KindAmendment, artifact.OrderPrivate, d.ID
		want.Lineage = artifact.ArtifactLineage{InitialAgreementID: first.ID, PreviousAgreementID: first.ID, Chain: []string{first.ID, amd.ID}}
		want.Buyer.Company, want.Buyer.CompanySource = "Initech", "offer"
		want.Metadata = map[string]string{offer.MetaBuyerAccount: buyer, "Salesforce Opportunity": "006AMD"}
		want.TotalContractValue, want.TCVBasis = "18000.00", artifact.TCVContractLines
		want.Version, want.CreatedAt = 1, at.Add(2*time.Minute)
		same(t, got, want)

		t.Run("the replaced agreement gets no new version", func(t *testing.T) {
			f.ingest(eventbridge.Ended(seller, first, marketplace.StatusReplaced, at.Add(time.Minute)))
			again, created := f.record(first.ID, at.Add(time.Hour))
			if created || again.ID != original.ID {
				t.Fatalf("REPLACED made version %d (%s)", again.Version, again.Kind)
			}
			if len(again.LicenseArns) != 1 || again.LicenseArns[0] != arn {
				t.Fatalf("license of the replaced agreement: %v", again.LicenseArns)
			}
		})
	})
}

// A renewal (intent RENEW) links to the renewed agreement; its value is
// AWS's estimate when the terms price usage only. The renewed agreement
// gets no new artifact from being RENEWED. A Concord offer flagged as a
// renewal makes a renewal of an agreement with intent NEW.
func TestRenewal(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		first := agreement("agmt-public2", "NEW", "offer-public1", t0)
		f.buy(first)
		f.enrich(first.ID, contractTerms(5, "40.00"))
		original, _ := f.record(first.ID, t0.Add(time.Minute))

		at := first.EndTime.Add(time.Second)
		ren := agreement("agmt-renew1", "RENEW", "offer-public1", at)
		ren.PreviousAgreementID = first.ID
		arn := f.buy(ren)
		f.ingest(eventbridge.Ended(seller, first, marketplace.StatusRenewed, at))
		f.enrich(ren.ID, marketplace.Terms{Currency: "EUR", EstimatedValue: "1500", Pricing: []marketplace.PriceItem{
			{Term: "UsageBasedPricingTerm", Dimension: "api_calls", Price: "0.0015"}}, Types: []string{"UsageBasedPricingTerm"}})
		got, _ := f.record(ren.ID, at.Add(time.Minute))
		want := base(ren, arn)
		want.Kind = artifact.KindRenewal
		want.Lineage = artifact.ArtifactLineage{InitialAgreementID: first.ID, PreviousAgreementID: first.ID, Chain: []string{first.ID, ren.ID}}
		want.TermsKnown, want.Currency = true, "EUR"
		want.Lines = []artifact.ArtifactLine{{Dimension: "api_calls", Name: "API calls", Kind: artifact.LineUsage, Term: "UsageBasedPricingTerm", UnitPrice: "0.0015"}}
		want.TotalContractValue, want.TCVBasis = "1500.00", artifact.TCVEstimatedValue
		want.Version, want.CreatedAt = 1, at.Add(time.Minute)
		same(t, got, want)

		again, created := f.record(first.ID, at.Add(time.Hour))
		if created || again.ID != original.ID {
			t.Fatalf("RENEWED made version %d (%s)", again.Version, again.Kind)
		}

		t.Run("a renewal-flagged Concord offer", func(t *testing.T) {
			form := directForm()
			form.Renewal, form.RenewalChannel = true, "external"
			f.associate("offer-renewal2", form)
			b := agreement("agmt-renew2", "NEW", "offer-renewal2", t0.Add(time.Hour))
			f.buy(b)
			got, _ := f.record(b.ID, t0.Add(2*time.Hour))
			if got.Kind != artifact.KindRenewal || got.OrderType != artifact.OrderPrivate || got.Lineage.PreviousAgreementID != "" {
				t.Fatalf("renewal-flagged offer: %s %s %+v", got.Kind, got.OrderType, got.Lineage)
			}
		})
	})
}

// Record refuses an agreement the ledger does not hold.
func TestRecordUnknownAgreement(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	err := db.Write(context.Background(), func(tx *store.Tx) error {
		_, _, err := artifact.Record(context.Background(), tx, "agmt-nope", t0)
		return err
	})
	if marketplace.ErrorCode(err) != marketplace.ENotFound {
		t.Fatalf("got %v", err)
	}
}

func TestIsCancellation(t *testing.T) {
	t.Parallel()
	for status, want := range map[string]bool{
		marketplace.StatusCancelled: true, marketplace.StatusTerminated: true, marketplace.StatusRolledBack: true,
		marketplace.StatusExpired: false, marketplace.StatusRenewed: false, marketplace.StatusReplaced: false,
		marketplace.StatusSuperseded: false, marketplace.StatusArchived: false, marketplace.StatusActive: false, "": false,
	} {
		if got := artifact.IsCancellation(status); got != want {
			t.Errorf("IsCancellation(%q) = %v, want %v", status, got, want)
		}
	}
}
