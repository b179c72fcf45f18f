package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestReviewBackfilledLicenseIsNotRegistrationPending: a backfilled existing
// customer (license_imported) is not waiting to register: GET
// /v1/registrations/pending and the 48-hour reminder sweep both leave such
// licenses out. Importing the existing customers of a listing must not send a
// registration_pending notification per license.
func TestReviewBackfilledLicenseIsNotRegistrationPending(t *testing.T) {
	t.Parallel()
	b := offersSetup(t, storetest.Dialects[0])
	account := "100000000007"
	arn := eventbridge.LicenseArn(account, "l-backfilled0000000000000000000001")
	if _, err := b.app.Ledger.Import(context.Background(), []marketplace.Fact{{Kind: marketplace.KindLicenseImported,
		Time: time.Now(), LicenseArn: arn, AcceptorAccountID: account, ProductCode: "offerscode", ProductID: "prod-offers"}}); err != nil {
		t.Fatal(err)
	}
	_, lic := b.do(t, "GET", "/v1/licenses?account="+account, b.key, nil)
	_, out := b.do(t, "GET", "/v1/notifications?kind=registration_pending", b.key, nil)
	if strings.Contains(string(out), account) {
		t.Fatalf("a backfilled existing customer was announced as pending registration:\n%s\nlicenses: %s", out, lic)
	}
}
