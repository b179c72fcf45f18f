package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestReviewOfferWithoutRegistrationDetailsIsNotAutoRegistered: a Concord
// direct offer whose form carries no registration answers (only the buyer's
// company, which every direct offer has) should leave registration to the
// buyer, as before this session (docs/registration.md: auto-registration is
// for "a private offer [that] already collected the buyer's details"). Today
// every Concord offer hands {company} to registration, so an hour after
// acceptance a tenant with no contact and no email is created and the buyer
// who comes later only sees "You're all set".
func TestReviewOfferWithoutRegistrationDetailsIsNotAutoRegistered(t *testing.T) {
	t.Parallel()
	dialect := storetest.Dialects[0] // the behaviour does not depend on the database
	b := offersSetup(t, dialect)
	d := publish(t, b, offerForm("123456789012"))
	if len(d.Registration) != 0 {
		t.Fatalf("the form carries registration answers: %v", d.Registration)
	}
	accept(t, b, "123456789012", d.OfferID)
	// Wait for what matters, not for time: the license is folded (its
	// hooks, which would schedule auto-registration, ran in that commit)...
	eventually(t, "the license to be folded", func() bool {
		return count(t, b, `SELECT COUNT(*) FROM licenses WHERE account_id = ? AND state = 'active'`, "123456789012") == 1
	})
	// ...then, past the hour auto-registration waits, every job due has run.
	if err := b.app.Emulator.World.Advance(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every due job to have run", func() bool {
		return count(t, b, `SELECT COUNT(*) FROM jobs WHERE state = 'running' OR (state = 'available' AND run_at <= ?)`,
			b.app.Emulator.World.Now().UnixMilli()) == 0
	})
	if ts := tenantsOf(t, b, "123456789012", "offerscode"); len(ts) > 0 {
		t.Fatalf("a tenant was created without the buyer registering: %+v", ts[0])
	}
	if n := count(t, b, `SELECT COUNT(*) FROM jobs WHERE kind = ?`, "registration.auto"); n != 0 {
		t.Fatalf("%d auto-registration jobs for an offer without registration details", n)
	}
}

// count runs a COUNT(*) query on b's database.
func count(t *testing.T, b *bundle, q string, args ...any) int {
	t.Helper()
	var n int
	if err := b.app.DB.Read(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRow(context.Background(), q, args...).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
