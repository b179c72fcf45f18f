package inbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

const (
	seller  = "111122223333"
	partner = "999988887777"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func newLedger(db *store.DB, now time.Time) *inbox.Ledger {
	return &inbox.Ledger{DB: db, Now: func() time.Time { return now }}
}

func ingest(t *testing.T, l *inbox.Ledger, body []byte) inbox.Result {
	t.Helper()
	ev, err := marketplace.ParseEventBridge(body)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	res, err := l.Ingest(context.Background(), inbox.DoorHTTP, ev)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return res
}

func agreementFixture(id, buyer string) eventbridge.Agreement {
	return eventbridge.Agreement{ID: id, Intent: "NEW", AcceptanceTime: t0.Add(-time.Hour), StartTime: t0.Add(-time.Hour),
		EndTime: t0.AddDate(1, 0, 0), AcceptorAccountID: buyer, ProposerAccountID: seller, OfferID: "offer-" + id,
		ProductID: "prod-aaa", ProductCode: "code-aaa"}
}

func TestLedger(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(db, t0)
		buyer := "444455556666"

		t.Run("ConcurrentAgreementsForOneProduct", func(t *testing.T) {
			a1, a2 := agreementFixture("agmt-c1", buyer), agreementFixture("agmt-c2", buyer)
			for _, a := range []eventbridge.Agreement{a1, a2} {
				ingest(t, l, eventbridge.Created(seller, a, t0.Add(-time.Hour)))
				ingest(t, l, eventbridge.LicenseUpdated(seller, a, eventbridge.LicenseArn(buyer, "l-"+a.ID), t0.Add(-time.Hour)))
			}
			d, err := l.GetBuyer(ctx, buyer)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Products) != 1 || d.Products[0].ConcurrentActive != 2 || len(d.Products[0].Licenses) != 2 {
				t.Fatalf("want one product with 2 active agreements and 2 licenses, got %+v", d.Products)
			}
			for _, lic := range d.Products[0].Licenses {
				if lic.State != marketplace.LicenseActive || lic.ProductCode != "code-aaa" {
					t.Errorf("license %s: state %s code %s", lic.LicenseID, lic.State, lic.ProductCode)
				}
			}
		})

		t.Run("LicenseBeforeAgreementIsDeferredThenApplied", func(t *testing.T) {
			a := agreementFixture("agmt-late", "555566667777")
			arn := eventbridge.LicenseArn(a.AcceptorAccountID, "l-late")
			res := ingest(t, l, eventbridge.LicenseUpdated(seller, a, arn, t0))
			if res.Status != inbox.StatusDeferred {
				t.Fatalf("license before agreement: status %q, want deferred", res.Status)
			}
			if _, err := l.GetLicense(ctx, arn); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Fatalf("license visible before its agreement: %v", err)
			}
			ingest(t, l, eventbridge.Created(seller, a, t0.Add(-time.Minute)))
			lic, err := l.GetLicense(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			if lic.State != marketplace.LicenseActive || lic.AgreementID != a.ID {
				t.Fatalf("got %+v", lic)
			}
			evs, err := l.ListEvents(ctx, inbox.EventFilter{AgreementID: a.ID})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 2 {
				t.Fatalf("events of %s: %d, want its License Updated and Created", a.ID, len(evs))
			}
			for _, e := range evs {
				if e.Status != inbox.StatusApplied {
					t.Errorf("event %s %s is %s after its agreement arrived", e.ID, e.Kind, e.Status)
				}
			}
		})

		t.Run("EndedOpensFinalWindowDeprovisionedClosesIt", func(t *testing.T) {
			a := agreementFixture("agmt-end", "666677778888")
			arn := eventbridge.LicenseArn(a.AcceptorAccountID, "l-end")
			ingest(t, l, eventbridge.Created(seller, a, t0.Add(-time.Hour)))
			ingest(t, l, eventbridge.LicenseUpdated(seller, a, arn, t0.Add(-time.Hour)))
			ingest(t, l, eventbridge.Ended(seller, a, "CANCELLED", t0))
			lic, _ := l.GetLicense(ctx, arn)
			if lic.State != marketplace.LicenseEnding {
				t.Fatalf("after Ended: %s, want ending", lic.State)
			}
			ingest(t, l, eventbridge.LicenseDeprovisioned(seller, a, arn, t0.Add(time.Minute)))
			lic, _ = l.GetLicense(ctx, arn)
			if lic.State != marketplace.LicenseDeprovisioned {
				t.Fatalf("after Deprovisioned: %s", lic.State)
			}
			// A stale Created arriving late changes nothing.
			ingest(t, l, eventbridge.Created(seller, a, t0.Add(-2*time.Hour)))
			ag, _ := l.GetAgreement(ctx, a.ID)
			if ag.Status != marketplace.StatusCancelled {
				t.Fatalf("stale Created overwrote status: %s", ag.Status)
			}
		})

		t.Run("AmendmentReplacesAndKeepsLineage", func(t *testing.T) {
			buyer := "777788889999"
			old := agreementFixture("agmt-old", buyer)
			ingest(t, l, eventbridge.Created(seller, old, t0.Add(-48*time.Hour)))
			ingest(t, l, eventbridge.LicenseUpdated(seller, old, eventbridge.LicenseArn(buyer, "l-old"), t0.Add(-48*time.Hour)))
			nu := agreementFixture("agmt-new", buyer)
			nu.Intent, nu.PreviousAgreementID = "REPLACE", old.ID
			ingest(t, l, eventbridge.Created(seller, nu, t0))
			ingest(t, l, eventbridge.LicenseUpdated(seller, nu, eventbridge.LicenseArn(buyer, "l-new"), t0))
			o, _ := l.GetAgreement(ctx, old.ID)
			if o.Status != marketplace.StatusReplaced || o.NextAgreementID != nu.ID {
				t.Fatalf("old agreement: status %s next %s", o.Status, o.NextAgreementID)
			}
			n, _ := l.GetAgreement(ctx, nu.ID)
			if n.Status != marketplace.StatusActive || n.InitialAgreementID != old.ID || len(n.Lineage) != 2 {
				t.Fatalf("new agreement: %+v lineage %+v", n.Agreement, n.Lineage)
			}
			oldLic, _ := l.GetLicense(ctx, "l-old")
			if oldLic.State != marketplace.LicenseEnding {
				t.Fatalf("old license %s, want ending", oldLic.State)
			}
		})

		t.Run("FutureDatedLicenseIsPending", func(t *testing.T) {
			a := agreementFixture("agmt-fda", "888899990000")
			a.StartTime = t0.Add(72 * time.Hour)
			ingest(t, l, eventbridge.Created(seller, a, t0))
			ingest(t, l, eventbridge.LicenseUpdated(seller, a, eventbridge.LicenseArn(a.AcceptorAccountID, "l-fda"), t0))
			lic, _ := l.GetLicense(ctx, "l-fda")
			if lic.State != marketplace.LicensePending {
				t.Fatalf("got %s, want pending", lic.State)
			}
			later := newLedger(db, a.StartTime.Add(time.Second))
			if err := later.RefreshLicense(ctx, "l-fda"); err != nil {
				t.Fatal(err)
			}
			lic, _ = l.GetLicense(ctx, "l-fda")
			if lic.State != marketplace.LicenseActive {
				t.Fatalf("after start: %s, want active", lic.State)
			}
		})

		t.Run("DuplicateByRequestIDWithNewEnvelopeID", func(t *testing.T) {
			a := agreementFixture("agmt-dup", "123412341234")
			body := eventbridge.Created(seller, a, t0)
			first := ingest(t, l, body)
			var m map[string]any
			json.Unmarshal(body, &m)
			m["id"] = "another-envelope-id"
			again, _ := json.Marshal(m)
			res := ingest(t, l, again)
			if first.Duplicate || !res.Duplicate {
				t.Fatalf("first %+v second %+v", first, res)
			}
			if res := ingest(t, l, body); !res.Duplicate {
				t.Fatalf("same envelope twice not a duplicate")
			}
		})

		t.Run("UnknownDetailTypeIsFlagged", func(t *testing.T) {
			res := ingest(t, l, eventbridge.Custom("Something New - Proposer", "aws.agreement-marketplace", seller, t0, map[string]any{"agreement": map[string]any{"id": "agmt-x"}}))
			if res.Status != inbox.StatusFlagged {
				t.Fatalf("got %s", res.Status)
			}
			if _, err := l.GetAgreement(ctx, "agmt-x"); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Fatalf("unknown event was applied: %v", err)
			}
		})
	})
}

func TestReplayEndsInSameLedger(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(db, t0)
		stream := inboxtest.Stream(t0, 3, 42)
		for _, body := range stream {
			ingest(t, l, body)
		}
		// The story of inboxtest.Stream, told independently of the folds:
		// each buyer's agreement was renewed (its license deprovisioned), the
		// renewal is active with a license of its own.
		story := newModel()
		for i := range 3 {
			a := eventbridge.Agreement{ID: fmt.Sprintf("agmt-s42-%d", i), StartTime: t0.Add(-4 * time.Hour)}
			story.open(a, "").ended = marketplace.StatusRenewed
			r := a
			r.ID = a.ID + "-r"
			story.open(r, a.ID)
			story.licenses[fmt.Sprintf("l-s42-%d", i)] = &modelLicense{agreement: a.ID, deprovisioned: true}
			story.licenses[fmt.Sprintf("l-s42-%d-r", i)] = &modelLicense{agreement: r.ID}
		}
		story.check(t, db, t0, len(stream))
		before := inboxtest.Snapshot(t, db)
		st, err := l.Replay(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Reparsed == 0 || st.Agreements == 0 {
			t.Fatalf("replay did nothing: %+v", st)
		}
		if after := inboxtest.Snapshot(t, db); after != before {
			t.Fatalf("replay changed the ledger:\nbefore\n%s\nafter\n%s", before, after)
		}
		story.check(t, db, t0, len(stream))
	})
}
