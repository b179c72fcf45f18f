package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestReviewQuickCancelStillBooksTheOrder: a buyer accepts a private offer
// and the agreement is cancelled before Concord's orders.record job has run
// (or both events arrive together after downtime). Finance must still get the
// new order (a "new" artifact version and the new_order notification) before
// the cancellation that reverses it.
func TestReviewQuickCancelStillBooksTheOrder(t *testing.T) {
	t.Parallel()
	b := offersSetup(t, storetest.Dialects[0])
	d := publish(t, b, offerForm("123456789012"))
	var agreementID string
	emu(t, b, func(s *world.State) error {
		a, err := s.Accept("123456789012", d.OfferID, world.AcceptOptions{})
		if err != nil {
			return err
		}
		agreementID = a.ID
		_, err = s.Cancel(a.ID)
		return err
	})
	eventually(t, "the cancellation artifact", func() bool {
		_, out := b.do(t, "GET", "/v1/agreements/"+agreementID+"/artifacts", b.key, nil)
		return strings.Contains(string(out), `"kind":"cancellation"`)
	})
	time.Sleep(time.Second)
	_, arts := b.do(t, "GET", "/v1/agreements/"+agreementID+"/artifacts", b.key, nil)
	_, orders := b.do(t, "GET", "/v1/notifications?kind=new_order", b.key, nil)
	if !strings.Contains(string(arts), `"kind":"new"`) || !strings.Contains(string(orders), agreementID) {
		t.Fatalf("the order was never booked:\nartifacts %s\nnew_order notifications %s", arts, orders)
	}
}
