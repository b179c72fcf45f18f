package inbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// describedAPI answers DescribeAgreement with fixed terms.
type describedAPI struct{ terms marketplace.Terms }

func (api describedAPI) DescribeAgreement(_ context.Context, id string) (marketplace.AgreementDetails, error) {
	return marketplace.AgreementDetails{Fact: marketplace.Fact{AgreementID: id, Status: marketplace.StatusActive}, Terms: api.terms}, nil
}

// enrichJobs counts the agreement.enrich jobs waiting for agreement id.
func enrichJobs(t *testing.T, db *store.DB, id string) int {
	t.Helper()
	var n int
	err := db.Read(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM jobs WHERE kind = ? AND state = 'available' AND unique_key = ?`,
			inbox.JobEnrichAgreement, "enrich:"+id).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAmendedInPlace: Purchase Agreement Amended for an existing agreement
// (no previous agreement: auto-renewal turned off) updates that agreement,
// keeps how it came to be (its intent), ends nothing, and asks the Agreement
// API for its terms again. For a CPPO the Manufacturer's event has no
// autoRenewalEnabled: the re-read renewal term says it.
func TestAmendedInPlace(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(db, t0)
		off, on := false, true
		for _, cppo := range []bool{false, true} {
			a := agreementFixture("agmt-direct", "444455556666")
			if cppo {
				a = agreementFixture("agmt-cppo", "444455556666")
				a.ProposerAccountID, a.ResaleAuthorizationID = partner, "resaleauthz-1"
			}
			a.Intent, a.PreviousAgreementID = "RENEW", "agmt-before-"+a.ID
			ingest(t, l, eventbridge.Created(seller, a, t0))
			if err := l.Enrich(ctx, describedAPI{marketplace.Terms{AutoRenew: &on}}, a.ID); err != nil {
				t.Fatal(err)
			}
			// The first enrichment has run: its job is done.
			if err := db.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `DELETE FROM jobs WHERE unique_key = ?`, "enrich:"+a.ID)
				return err
			}); err != nil {
				t.Fatal(err)
			}

			up := a
			up.Intent, up.PreviousAgreementID, up.AutoRenewal, up.DisabledBy = "AMEND", "", &off, "ACCEPTOR"
			ingest(t, l, eventbridge.Amended(seller, up, t0.Add(time.Minute)))
			if n := enrichJobs(t, db, a.ID); n != 1 {
				t.Fatalf("cppo %v: %d enrichment jobs after the amendment, want 1", cppo, n)
			}
			if cppo {
				// The Manufacturer event said nothing of auto-renewal: the terms do.
				if err := l.Enrich(ctx, describedAPI{marketplace.Terms{AutoRenew: &off}}, a.ID); err != nil {
					t.Fatal(err)
				}
			}
			d, err := l.GetAgreement(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != marketplace.StatusActive || d.Intent != "RENEW" || d.PreviousAgreementID != a.PreviousAgreementID ||
				d.AutoRenewal == nil || *d.AutoRenewal || d.NextAgreementID != "" {
				t.Fatalf("cppo %v: after the in-place amendment %+v (auto-renewal %v)", cppo, d.Agreement, d.AutoRenewal)
			}
		}
	})
}
