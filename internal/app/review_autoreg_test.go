package app_test

import (
	"testing"
	"time"

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
	time.Sleep(500 * time.Millisecond) // the license folded
	if err := b.app.Emulator.World.Advance(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ts := tenantsOf(t, b, "123456789012", "offerscode"); len(ts) > 0 {
			t.Fatalf("a tenant was created without the buyer registering: %+v", ts[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
}
