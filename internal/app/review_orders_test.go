package app_test

import (
	"context"
	"encoding/json"
	"github.com/concordmp/concord/internal/store"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestReviewRenewalNotifiedWithPreviousDimensions: a renewed agreement gets a
// renewal notification and artifact on both databases, and the notification
// carries the previous agreement's dimensions (orders.latest reads them).
func TestReviewRenewalNotifiedWithPreviousDimensions(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := offersSetup(t, dialect)
			d := publish(t, b, offerForm("123456789012"))
			first := accept(t, b, "123456789012", d.OfferID)
			eventually(t, "the order of "+first, func() bool {
				_, out := b.do(t, "GET", "/v1/notifications?kind=new_order", b.key, nil)
				return strings.Contains(string(out), first)
			})
			var renewed string
			emu(t, b, func(s *world.State) error {
				a, err := s.Renew(first)
				if err == nil {
					renewed = a.ID
				}
				return err
			})
			var id string
			t.Cleanup(func() {
				if !t.Failed() {
					return
				}
				b.app.DB.Read(context.Background(), func(tx *store.Tx) error {
					rows, err := tx.Query(context.Background(), `SELECT state, attempt, COALESCE(last_error, '') FROM jobs WHERE kind = 'orders.record'`)
					if err != nil {
						return err
					}
					defer rows.Close()
					for rows.Next() {
						var st, le string
						var n int
						rows.Scan(&st, &n, &le)
						t.Logf("orders.record job: %s attempt %d: %s", st, n, le)
					}
					return nil
				})
			})
			eventually(t, "the renewal notification of "+renewed, func() bool {
				_, out := b.do(t, "GET", "/v1/notifications?kind=renewal", b.key, nil)
				var l struct {
					Items []notify.NotificationSummary `json:"items"`
				}
				json.Unmarshal(out, &l)
				for _, n := range l.Items {
					if n.AgreementID == renewed {
						id = n.ID
						return true
					}
				}
				return false
			})
			_, out := b.do(t, "GET", "/v1/notifications/"+id, b.key, nil)
			var n notify.Notification
			json.Unmarshal(out, &n)
			var data notify.OrderData
			json.Unmarshal(n.Data, &data)
			if data.PreviousAgreementID != first || len(data.PreviousDimensions) == 0 {
				t.Fatalf("renewal data lacks the previous dimensions: previous %q dims %+v", data.PreviousAgreementID, data.PreviousDimensions)
			}
		})
	}
}
