package notify_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store"
)

// sweep runs one sweep and returns what it recorded.
func (f *fixture) sweep() notify.SweepResult {
	f.t.Helper()
	r, err := f.svc.Sweep(f.ctx)
	if err != nil {
		f.t.Fatalf("sweep: %v", err)
	}
	return r
}

func (f *fixture) product(id, title string) {
	f.exec(`INSERT INTO products (product_id, title, created_at, updated_at) VALUES (?, ?, ?, ?)`, id, title, store.Millis(t0), store.Millis(t0))
}

func (f *fixture) offer(id, state, expiresOn string) {
	f.exec(`INSERT INTO offers (id, type, state, product_id, buyer_account_id, buyer_company, offer_id, expires_on, form, created_at, updated_at)
		VALUES (?, 'direct', ?, 'prod-acme', '444455556666', 'Initech', ?, ?, ?, ?, ?)`, id, state, "offer-"+id, expiresOn,
		`{"name":"Initech 2030","notifyUsers":["ae@seller.example"]}`, store.Millis(t0), store.Millis(t0))
}

func (f *fixture) agreement(id, status string, end time.Time, next string) {
	f.exec(`INSERT INTO agreements (agreement_id, initial_agreement_id, next_agreement_id, status, acceptance_time, start_time, end_time,
		acceptor_account_id, product_id, offer_id, auto_renewal, last_event_time, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, '444455556666', 'prod-acme', 'offer-x', ?, ?, ?)`,
		id, id, store.NullString(next), status, store.Millis(t0), store.Millis(t0), store.Millis(end), false, store.Millis(t0), store.Millis(t0))
}

func (f *fixture) license(id, agreementID, state string) {
	f.exec(`INSERT INTO licenses (license_id, license_arn, agreement_id, product_id, account_id, state, activated_at, updated_at)
		VALUES (?, ?, ?, 'prod-acme', '444455556666', ?, ?, ?)`, id, "arn:aws:license-manager::444455556666:license:"+id, agreementID, state,
		store.Millis(t0), store.Millis(t0))
}

func (f *fixture) kinds(kind string) []notify.NotificationSummary {
	f.t.Helper()
	l, err := f.svc.List(f.ctx, notify.Filter{Kind: kind})
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

func TestSweep(t *testing.T) {
	t.Parallel()

	run(t, "an offer expiring within 7 days is announced once", func(t *testing.T, f *fixture) {
		f.product("prod-acme", "Acme Analytics")
		// t0 is 2030-03-04 05:06 UTC; an offer expires at the end of its day.
		f.offer("ofr_soon", "published", "2030-03-14")
		f.offer("ofr_draft", "draft", "2030-03-05")
		f.offer("ofr_done", "accepted", "2030-03-05")
		f.offer("ofr_gone", "viewed", "2030-03-03")
		if r := f.sweep(); r.OffersExpiring != 0 {
			t.Fatalf("10 days ahead: %+v", r)
		}
		f.clock.Set(time.Date(2030, 3, 8, 0, 0, 0, 0, time.UTC)) // 7 days before the end of 03-14
		if r := f.sweep(); r.OffersExpiring != 1 {
			t.Fatalf("7 days ahead: %+v", r)
		}
		f.clock.Advance(24 * time.Hour)
		if r := f.sweep(); r.OffersExpiring != 0 {
			t.Fatalf("a second sweep: %+v", r)
		}
		l := f.kinds(notify.KindOfferExpiring)
		if len(l) != 1 || l[0].OfferID != "ofr_soon" || l[0].Key != "offer_expiring:ofr_soon" {
			t.Fatalf("notifications %+v", l)
		}
		n := f.get(l[0].ID)
		var d notify.OfferExpiringData
		json.Unmarshal(n.Data, &d)
		if d.DaysLeft != 7 || d.OfferName != "Initech 2030" || d.ProductTitle != "Acme Analytics" || d.ExpiresOn != "2030-03-14" ||
			len(n.Recipients) != 1 || n.Recipients[0] != "ae@seller.example" {
			t.Fatalf("notification %+v data %+v", n, d)
		}
	})

	run(t, "an agreement is announced 90, 60 and 30 days before its end, once each", func(t *testing.T, f *fixture) {
		end := t0.Add(100 * 24 * time.Hour)
		f.agreement("agmt-1", "ACTIVE", end, "")
		f.agreement("agmt-renewed", "ACTIVE", end, "agmt-next")
		f.agreement("agmt-cancelled", "CANCELLED", end, "")
		if r := f.sweep(); r.AgreementsEnding != 0 {
			t.Fatalf("at t0: %+v", r)
		}
		for _, step := range []struct {
			at        time.Time
			want      int
			threshold int
		}{
			{end.Add(-91 * 24 * time.Hour), 0, 0},
			{end.Add(-90 * 24 * time.Hour), 1, 90},
			{end.Add(-89 * 24 * time.Hour), 0, 0},
			{end.Add(-60 * 24 * time.Hour), 1, 60},
			{end.Add(-45 * 24 * time.Hour), 0, 0},
			{end.Add(-30*24*time.Hour + time.Hour), 1, 30},
			{end.Add(-time.Hour), 0, 0},
			{end.Add(time.Hour), 0, 0},
		} {
			f.clock.Set(step.at)
			r := f.sweep()
			if r.AgreementsEnding != step.want {
				t.Fatalf("at %s: %+v, want %d", step.at, r, step.want)
			}
			if step.want == 0 {
				continue
			}
			// The newest notice is the one this sweep made.
			var d notify.AgreementEndingData
			json.Unmarshal(f.get(f.kinds(notify.KindAgreementEnding)[0].ID).Data, &d)
			if d.AgreementID != "agmt-1" || d.Threshold != step.threshold || d.DaysLeft > step.threshold || d.DaysLeft < step.threshold-1 {
				t.Fatalf("at %s: %+v", step.at, d)
			}
		}
		if got := len(f.kinds(notify.KindAgreementEnding)); got != 3 {
			t.Fatalf("%d agreement-ending notices, want 3", got)
		}
	})

	run(t, "an agreement first seen 45 days before its end gets the 60-day notice only", func(t *testing.T, f *fixture) {
		f.agreement("agmt-near", "ACTIVE", t0.Add(45*24*time.Hour), "")
		if r := f.sweep(); r.AgreementsEnding != 1 {
			t.Fatalf("%+v", r)
		}
		l := f.kinds(notify.KindAgreementEnding)
		if len(l) != 1 || l[0].Key != "agreement_ending:agmt-near:60d" {
			t.Fatalf("%+v", l)
		}
		f.clock.Advance(15 * 24 * time.Hour)
		if r := f.sweep(); r.AgreementsEnding != 1 || f.kinds(notify.KindAgreementEnding)[0].Key != "agreement_ending:agmt-near:30d" {
			t.Fatalf("at 30 days: %+v", r)
		}
	})

	run(t, "a registration missing after 48 hours is reminded once", func(t *testing.T, f *fixture) {
		f.agreement("agmt-1", "ACTIVE", t0.AddDate(1, 0, 0), "")
		f.license("l-waiting", "agmt-1", "active")
		f.license("l-registered", "agmt-1", "active")
		f.license("l-gone", "agmt-1", "deprovisioned")
		f.exec(`INSERT INTO tenants (tenant_id, account_id, product_id, company, source, created_at, updated_at) VALUES ('tnt_1', '444455556666', 'prod-acme', 'Initech', 'registration', ?, ?)`,
			store.Millis(t0), store.Millis(t0))
		f.exec(`INSERT INTO tenant_licenses (license_id, tenant_id, license_arn, account_id, source, attached_at) VALUES ('l-registered', 'tnt_1', 'arn', '444455556666', 'registration', ?)`,
			store.Millis(t0))
		f.clock.Set(t0.Add(47 * time.Hour))
		if r := f.sweep(); r.RegistrationReminders != 0 {
			t.Fatalf("after 47 hours: %+v", r)
		}
		f.clock.Set(t0.Add(48 * time.Hour))
		if r := f.sweep(); r.RegistrationReminders != 1 {
			t.Fatalf("after 48 hours: %+v", r)
		}
		f.clock.Set(t0.Add(50 * time.Hour))
		if r := f.sweep(); r.RegistrationReminders != 0 {
			t.Fatalf("a second sweep: %+v", r)
		}
		l := f.kinds(notify.KindRegistrationReminder)
		if len(l) != 1 || l[0].Key != "registration_reminder:l-waiting" {
			t.Fatalf("reminders %+v", l)
		}
		var d notify.RegistrationData
		json.Unmarshal(f.get(l[0].ID).Data, &d)
		if !d.Since.Equal(t0) || !d.Deadline.Equal(t0.Add(48*time.Hour)) || d.BuyerAccountID != "444455556666" || d.AgreementID != "agmt-1" {
			t.Fatalf("data %+v", d)
		}
	})

	run(t, "licenses long overdue when Concord starts are not reminded", func(t *testing.T, f *fixture) {
		f.agreement("agmt-old", "ACTIVE", t0.AddDate(1, 0, 0), "")
		f.license("l-old", "agmt-old", "active")
		f.clock.Set(t0.Add(notify.RegistrationReminderAfter + notify.RegistrationReminderWithin + time.Hour))
		if r := f.sweep(); r.RegistrationReminders != 0 {
			t.Fatalf("%+v", r)
		}
	})

	run(t, "the sweep job reschedules itself", func(t *testing.T, f *fixture) {
		f.agreement("agmt-1", "ACTIVE", t0.Add(10*24*time.Hour), "")
		if err := f.svc.Start(f.ctx); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Start(f.ctx); err != nil { // a second replica
			t.Fatal(err)
		}
		f.drain()
		if got := len(f.kinds(notify.KindAgreementEnding)); got != 1 {
			t.Fatalf("%d notices after the first sweep", got)
		}
		var n int
		f.db.Read(f.ctx, func(tx *store.Tx) error {
			return tx.QueryRow(f.ctx, `SELECT COUNT(*) FROM jobs WHERE kind = ? AND state = 'available'`, notify.JobSweep).Scan(&n)
		})
		if n != 1 {
			t.Fatalf("%d sweeps waiting, want the next one", n)
		}
	})
}

// TestSweepPages: a sweep reads more rows than one batch, page by page, and
// announces each once.
func TestSweepPages(t *testing.T) {
	t.Parallel()
	run(t, "more offers and agreements than a batch", func(t *testing.T, f *fixture) {
		f.product("prod-acme", "Acme Analytics")
		const n = 230 // more than two batches of 100
		for i := range n {
			f.offer(fmt.Sprintf("ofr_%03d", i), "published", "2030-03-06")
			f.agreement(fmt.Sprintf("agmt-%03d", i), "ACTIVE", t0.Add(20*24*time.Hour), "")
		}
		if r := f.sweep(); r.OffersExpiring != n || r.AgreementsEnding != n {
			t.Fatalf("first sweep: %+v, want %d of each", r, n)
		}
		if r := f.sweep(); r != (notify.SweepResult{}) {
			t.Fatalf("second sweep: %+v", r)
		}
	})
}
