package notify_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
	"github.com/concordmp/concord/internal/webhook"
)

func TestEmit(t *testing.T) {
	t.Parallel()

	run(t, "a second emit with the same key changes nothing", func(t *testing.T, f *fixture) {
		f.route("*", notify.ChannelEmail, "finance@seller.example", "")
		id, created := f.emit(order())
		if !created || !strings.HasPrefix(id, "ntf_") {
			t.Fatalf("first emit: %s %v", id, created)
		}
		jobs, deliveries := storetest.Count(t, f.db, "jobs"), storetest.Count(t, f.db, "notification_deliveries")
		again := order()
		again.Data = notify.OrderData{OrderType: notify.OrderPublic, AgreementID: "changed"}
		id2, created2 := f.emit(again)
		if id2 != id || created2 {
			t.Fatalf("second emit: %s %v, want %s false", id2, created2, id)
		}
		if storetest.Count(t, f.db, "notifications") != 1 || storetest.Count(t, f.db, "jobs") != jobs ||
			storetest.Count(t, f.db, "notification_deliveries") != deliveries {
			t.Fatal("the second emit changed something")
		}
		if n := f.get(id); !strings.Contains(n.Text, "agmt-1") {
			t.Fatalf("the first notice's content was replaced: %s", n.Text)
		}
	})

	run(t, "a rolled-back transaction leaves no notification and no job", func(t *testing.T, f *fixture) {
		f.route("*", notify.ChannelEmail, "finance@seller.example", "")
		if _, err := f.hooks.Create(f.ctx, webhook.EndpointInput{URL: "https://app.example/hooks"}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("the ledger change failed")
		err := f.db.Write(f.ctx, func(tx *store.Tx) error {
			if _, _, err := f.svc.Emit(f.ctx, tx, f.clock.Now(), order()); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("write: %v", err)
		}
		for _, table := range []string{"notifications", "notification_deliveries", "notification_attachments", "jobs", "webhook_deliveries"} {
			if n := storetest.Count(t, f.db, table); n != 0 {
				t.Errorf("%s holds %d rows after the rollback", table, n)
			}
		}
	})

	run(t, "recipients are routes, the offer's users to notify and To", func(t *testing.T, f *fixture) {
		f.route("*", notify.ChannelEmail, "all@seller.example", "")
		f.route(notify.KindNewOrder, notify.ChannelEmail, "Finance@Seller.example", "")
		f.route(notify.KindNewOrder, notify.ChannelEmail, "acme-only@seller.example", "prod-acme")
		f.route(notify.KindNewOrder, notify.ChannelEmail, "other-product@seller.example", "prod-other")
		f.route(notify.KindRenewal, notify.ChannelEmail, "renewals@seller.example", "")
		f.exec(`INSERT INTO offers (id, type, state, product_id, offer_id, form, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			"ofr_1", "direct", "accepted", "prod-acme", "offer-abc",
			`{"name":"Initech","notifyUsers":["ae@seller.example","finance@seller.example"]}`, store.Millis(t0), store.Millis(t0))
		n := order()
		n.OfferID = "offer-abc" // AWS's id of the Concord offer
		n.To = []string{"extra@seller.example", "not an address"}
		id, _ := f.emit(n)
		got := f.get(id).Recipients
		want := []string{"all@seller.example", "Finance@Seller.example", "acme-only@seller.example", "ae@seller.example", "extra@seller.example"}
		if !slices.Equal(got, want) {
			t.Fatalf("recipients %v, want %v", got, want)
		}
		if d := f.get(id).Deliveries; len(d) != len(want) {
			t.Fatalf("%d deliveries, want one per recipient: %+v", len(d), d)
		}
	})

	run(t, "a buyer-facing notice goes to To alone", func(t *testing.T, f *fixture) {
		f.route("*", notify.ChannelEmail, "all@seller.example", "")
		f.route("*", notify.ChannelSlack, "https://hooks.slack.example/services/T0/B0/secret", "")
		s := samples()[notify.KindBuyerWelcome].notice
		id, _ := f.emit(s)
		n := f.get(id)
		if !slices.Equal(n.Recipients, []string{"ada@initech.example"}) || len(n.Deliveries) != 1 || !n.BuyerFacing {
			t.Fatalf("welcome went to %v (%+v)", n.Recipients, n.Deliveries)
		}
	})

	run(t, "without SMTP an email is skipped and the notification stays readable", func(t *testing.T, f *fixture) {
		f.route("*", notify.ChannelEmail, "finance@seller.example", "")
		id, _ := f.emit(order())
		f.drain()
		n := f.get(id)
		d := delivery(t, n, notify.ChannelEmail, "finance@seller.example")
		if d.Status != notify.StatusSkipped || d.LastError != notify.ReasonNoSMTP || d.Attempts != 0 || n.Status != notify.StatusSkipped {
			t.Fatalf("delivery %+v, notification status %s", d, n.Status)
		}
		if !strings.Contains(n.Subject, "New order") || !strings.Contains(n.Text, "agmt-1") || !strings.Contains(n.HTML, "agmt-1") ||
			len(n.Attachments) != 1 || n.Attachments[0].Name != "booking.pdf" || n.Attachments[0].Size != int64(len(order().Attachments[0].Data)) {
			t.Fatalf("notification content: %+v", n)
		}
		var data notify.OrderData
		if err := json.Unmarshal(n.Data, &data); err != nil || data.AgreementID != "agmt-1" || data.TotalContractValue != "12000" {
			t.Fatalf("data %s: %v", n.Data, err)
		}

		// SMTP configured later: a resend sends it, with the same files.
		m := &fakeMailer{}
		f.svc.Mailer = m
		if _, err := f.svc.Resend(f.ctx, id, ""); err != nil {
			t.Fatal(err)
		}
		f.drain()
		if d := delivery(t, f.get(id), notify.ChannelEmail, "finance@seller.example"); d.Status != notify.StatusSent || d.SentAt == nil {
			t.Fatalf("after resend: %+v", d)
		}
		msgs := m.messages()
		if len(msgs) != 1 || string(msgs[0].Attachments[0].Data) != string(order().Attachments[0].Data) || msgs[0].To[0] != "finance@seller.example" {
			t.Fatalf("sent %+v", msgs)
		}
	})

	run(t, "a failed delivery is retried, then fails, then is resent", func(t *testing.T, f *fixture) {
		m := &fakeMailer{}
		m.fail(errDown)
		f.svc.Mailer, f.svc.MaxAttempts = m, 2
		f.route("*", notify.ChannelEmail, "finance@seller.example", "")
		f.route("*", notify.ChannelEmail, "ops@seller.example", "")
		id, _ := f.emit(order())
		f.drain()
		d := delivery(t, f.get(id), notify.ChannelEmail, "finance@seller.example")
		if d.Status != notify.StatusPending || d.Attempts != 1 || !strings.Contains(d.LastError, "service not available") {
			t.Fatalf("after one attempt: %+v", d)
		}
		f.clock.Advance(time.Hour)
		f.drain()
		n := f.get(id)
		if d := delivery(t, n, notify.ChannelEmail, "finance@seller.example"); d.Status != notify.StatusFailed || d.Attempts != 2 || n.Status != notify.StatusFailed {
			t.Fatalf("after the last attempt: %+v (%s)", d, n.Status)
		}
		if list, err := f.svc.List(f.ctx, notify.Filter{Status: notify.StatusFailed}); err != nil || len(list) != 1 || list[0].ID != id || list[0].Counts[notify.StatusFailed] != 2 {
			t.Fatalf("failed list: %+v %v", list, err)
		}

		m.fail(nil)
		ops := delivery(t, n, notify.ChannelEmail, "ops@seller.example")
		if _, err := f.svc.Resend(f.ctx, id, ops.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Resend(f.ctx, id, ops.ID); marketplace.ErrorCode(err) != marketplace.EConflict {
			t.Fatalf("resending a pending delivery: %v", err)
		}
		f.drain()
		n = f.get(id)
		if delivery(t, n, notify.ChannelEmail, "ops@seller.example").Status != notify.StatusSent ||
			delivery(t, n, notify.ChannelEmail, "finance@seller.example").Status != notify.StatusFailed {
			t.Fatalf("resend of one delivery: %+v", n.Deliveries)
		}
		if _, err := f.svc.Resend(f.ctx, id, ""); err != nil {
			t.Fatal(err)
		}
		f.drain()
		if n = f.get(id); n.Status != notify.StatusSent || len(m.messages()) != 2 {
			t.Fatalf("after resending all: %s, %d sent", n.Status, len(m.messages()))
		}
		if _, err := f.svc.Resend(f.ctx, id, ""); marketplace.ErrorCode(err) != marketplace.EConflict {
			t.Fatalf("nothing to resend: %v", err)
		}
		if _, err := f.svc.Resend(f.ctx, "ntf_nope", ""); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Fatalf("unknown notification: %v", err)
		}
		if _, err := f.svc.Resend(f.ctx, id, "ntd_nope"); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Fatalf("unknown delivery: %v", err)
		}
	})

	run(t, "the webhook channel sends a signed notification event", func(t *testing.T, f *fixture) {
		type got struct {
			header http.Header
			body   []byte
		}
		var mu sync.Mutex
		var reqs []got
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			reqs = append(reqs, got{r.Header.Clone(), b})
			mu.Unlock()
		}))
		t.Cleanup(srv.Close)
		e, err := f.hooks.Create(f.ctx, webhook.EndpointInput{URL: srv.URL, Events: []string{notify.EventType(notify.KindNewOrder)}})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := f.emit(order())
		f.emit(samples()[notify.KindAgreementEnding].notice) // not subscribed
		f.drain()
		mu.Lock()
		defer mu.Unlock()
		if len(reqs) != 1 {
			t.Fatalf("%d webhook requests, want 1", len(reqs))
		}
		r := reqs[0]
		if err := webhook.Verify(e.Secret, r.header.Get(webhook.HeaderSignature), r.body, f.clock.Now(), 0); err != nil {
			t.Fatalf("signature: %v", err)
		}
		if err := webhook.Verify("whsec_wrong", r.header.Get(webhook.HeaderSignature), r.body, f.clock.Now(), 0); err == nil {
			t.Fatal("a wrong secret verifies")
		}
		var ev struct {
			Type string       `json:"type"`
			Data notify.Event `json:"data"`
		}
		if err := json.Unmarshal(r.body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != "notification.new_order" || ev.Data.ID != id || ev.Data.Key != "new_order:agmt-1" ||
			!strings.Contains(ev.Data.Subject, "New order") || len(ev.Data.Attachments) != 1 || ev.Data.Attachments[0].Name != "booking.pdf" {
			t.Fatalf("event %s", r.body)
		}
		data, _ := json.Marshal(ev.Data.Data)
		if !strings.Contains(string(data), `"licenseArns":["arn:aws:license-manager::444455556666:license:l-0123456789abcdef"]`) {
			t.Fatalf("event data %s", data)
		}
	})

	run(t, "bad notices are refused", func(t *testing.T, f *fixture) {
		noKey := order()
		noKey.Key = ""
		tooMany := order()
		for range notify.MaxAttachments {
			tooMany.Attachments = append(tooMany.Attachments, tooMany.Attachments[0])
		}
		tooBig := order()
		tooBig.Attachments = []notify.Attachment{{Name: "x", Data: make([]byte, notify.MaxAttachmentBytes+1)}}
		for name, n := range map[string]notify.Notice{"no key": noKey, "too many attachments": tooMany, "too large": tooBig,
			"wrong data": {Kind: notify.KindRenewal, Key: "k", Data: notify.WelcomeData{}}, "unknown kind": {Kind: "nope", Key: "k"}} {
			err := f.db.Write(f.ctx, func(tx *store.Tx) error {
				_, _, err := f.svc.Emit(f.ctx, tx, f.clock.Now(), n)
				return err
			})
			if c := marketplace.ErrorCode(err); c != marketplace.EInvalid && c != marketplace.ETooLarge {
				t.Errorf("%s: %v", name, err)
			}
		}
		if storetest.Count(t, f.db, "notifications") != 0 {
			t.Fatal("a refused notice was stored")
		}
	})

	run(t, "lists are newest first and filter by kind", func(t *testing.T, f *fixture) {
		var ids []string
		for _, k := range []string{notify.KindNewOrder, notify.KindAgreementEnding, notify.KindOfferExpiring} {
			id, _ := f.emit(samples()[k].notice)
			ids = append(ids, id)
			f.clock.Advance(time.Second)
		}
		all, err := f.svc.List(f.ctx, notify.Filter{})
		if err != nil || len(all) != 3 || all[0].ID != ids[2] || all[2].ID != ids[0] || all[0].Status != notify.StatusNone {
			t.Fatalf("list %+v %v", all, err)
		}
		page, err := f.svc.List(f.ctx, notify.Filter{Limit: 1, Cursor: all[0].ID})
		if err != nil || len(page) != 1 || page[0].ID != ids[1] {
			t.Fatalf("page %+v %v", page, err)
		}
		only, err := f.svc.List(f.ctx, notify.Filter{Kind: notify.KindAgreementEnding})
		if err != nil || len(only) != 1 || only[0].ID != ids[1] {
			t.Fatalf("kind filter %+v %v", only, err)
		}
		for _, bad := range []notify.Filter{{Kind: "nope"}, {Status: "delivered"}, {Cursor: "\xff"}} {
			if _, err := f.svc.List(f.ctx, bad); marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Errorf("List(%+v) = %v, want invalid", bad, err)
			}
		}
	})
}
