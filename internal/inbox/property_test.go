package inbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// delivery is one thing the inbox is handed: an EventBridge event, a legacy
// SNS notification, or Concord's own read of an agreement (an enrichment job
// running DescribeAgreement).
type delivery struct {
	body     []byte // EventBridge event
	sns      *snsMessage
	describe string // agreement id
}

// snsMessage is a verified legacy SNS notification: its MessageId, TopicArn,
// Message and Timestamp.
type snsMessage struct {
	id, topic, message string
	at                 time.Time
}

// deliver hands d to l through door (EventBridge events), the SNS door, or
// the enrichment job's path with api.
func deliver(l *inbox.Ledger, api inbox.AgreementAPI, door string, d delivery) error {
	ctx := context.Background()
	switch {
	case d.describe != "":
		return l.Enrich(ctx, api, d.describe)
	case d.sns != nil:
		ev, err := marketplace.ParseSNSAction(d.sns.id, d.sns.topic, d.sns.message, d.sns.at)
		if err != nil {
			return err
		}
		_, err = l.Accept(ctx, inbox.DoorSNS, ev)
		return err
	}
	ev, err := marketplace.ParseEventBridge(d.body)
	if err != nil {
		return err
	}
	_, err = l.Accept(ctx, door, ev)
	return err
}

// deliverAll delivers the stream in order, and stops at the first error.
func deliverAll(l *inbox.Ledger, api inbox.AgreementAPI, door string, stream []delivery) error {
	for i, d := range stream {
		if err := deliver(l, api, door, d); err != nil {
			return fmt.Errorf("delivery %d of %d: %w", i+1, len(stream), err)
		}
	}
	return nil
}

// inboxEvents is how many rows the stream leaves in the inbox: one per event
// and notification, one per agreement Concord read (a read again replaces it).
func inboxEvents(stream []delivery) int {
	n, read := 0, map[string]bool{}
	for _, d := range stream {
		if d.describe == "" {
			n++
		} else if !read[d.describe] {
			read[d.describe] = true
			n++
		}
	}
	return n
}

// genStream draws a marketplace history for several buyers holding concurrent
// agreements for one product, with amendments, replacements (some keeping their
// LicenseArn), renewals, cancellations, expiries, future-dated starts, Ended
// events AWS never sent, auto-renewal turned on and off (twice in one second,
// or just after Concord read the terms), Concord's reads of agreements with
// DescribeAgreement, and legacy SNS subscriptions, in the order AWS would send
// it, and the ledger it must end in. Every delivery happens at now, after the
// story: a read of an agreement answers AWS's state at now.
func genStream(t *rapid.T, now time.Time) ([]delivery, *model) {
	var out []delivery
	m := newModel()
	lic := func(arn string) string { return marketplace.LicenseID(arn) }
	at := now.Add(-30 * 24 * time.Hour)
	tick := func() time.Time {
		at = at.Add(time.Duration(rapid.IntRange(1, 120).Draw(t, "gap")) * time.Minute)
		return at
	}
	// send delivers an AWS event about agreement id dated when.
	send := func(id string, when time.Time, body []byte) {
		out = append(out, delivery{body: body})
		if a := m.agreements[id]; when.After(a.lastEvent) {
			a.lastEvent = when
		}
	}
	// read delivers Concord's read of agreement id, if the story has one:
	// the enrichment job each new agreement and each Amended event queues.
	read := func(id string) {
		if m.agreements[id].described {
			out = append(out, delivery{describe: id})
		}
	}
	// open adds agreement a, with AWS's renewal term and whether Concord reads it.
	open := func(a eventbridge.Agreement, prev string) *modelAgreement {
		ma := m.open(a, prev)
		if v := rapid.IntRange(0, 2).Draw(t, "renewalTerm"); v < 2 {
			on := v == 1
			ma.terms = &on
		}
		ma.described = rapid.Bool().Draw(t, "described")
		return ma
	}
	// end sends AWS's Ended event for a, or, now and then, nothing: Concord
	// learns the end only if it reads the agreement.
	end := func(a eventbridge.Agreement, status string) {
		ma := m.agreements[a.ID]
		ma.status = status
		if rapid.IntRange(0, 3).Draw(t, "endedLost") > 0 {
			ma.ended = status
			send(a.ID, tick(), eventbridge.Ended(seller, a, status, at))
		}
	}
	buyers := rapid.IntRange(1, 3).Draw(t, "buyers")
	n := 0
	for b := range buyers {
		buyer := fmt.Sprintf("%012d", 200000000000+b)
		chains := rapid.IntRange(1, 3).Draw(t, "chains")
		for c := range chains {
			n++
			a := eventbridge.Agreement{ID: fmt.Sprintf("agmt-%d-%d", b, c), Intent: "NEW", AcceptorAccountID: buyer, ProposerAccountID: seller,
				OfferID: fmt.Sprintf("offer-%d", n), ProductID: "prod-p", ProductCode: "code-p"}
			if rapid.Bool().Draw(t, "cppo") {
				a.ProposerAccountID, a.ResaleAuthorizationID = partner, fmt.Sprintf("resaleauthz-%d", n)
			}
			// A CPPO's ISV gets Manufacturer events, which carry no auto-renewal.
			direct := a.ResaleAuthorizationID == ""
			accepted := tick()
			a.AcceptanceTime, a.StartTime, a.EndTime = accepted, accepted, accepted.AddDate(1, 0, 0)
			if rapid.IntRange(0, 4).Draw(t, "future") == 0 {
				a.StartTime = now.Add(time.Duration(rapid.IntRange(-48, 240).Draw(t, "startHours")) * time.Hour)
			}
			licIdx := 0
			arn := eventbridge.LicenseArn(buyer, fmt.Sprintf("l-%d-%d-%d", b, c, licIdx))
			open(a, "")
			send(a.ID, accepted, eventbridge.Created(seller, a, accepted))
			read(a.ID)
			send(a.ID, tick(), eventbridge.LicenseUpdated(seller, a, arn, at))
			m.licenses[lic(arn)] = &modelLicense{agreement: a.ID}
			steps := rapid.IntRange(0, 3).Draw(t, "steps")
			ended := false
		chain:
			for s := range steps {
				switch rapid.SampledFrom([]string{"amend", "replace", "renew", "cancel", "expire", "update"}).Draw(t, "step") {
				case "amend", "replace":
					next := a
					next.ID, next.PreviousAgreementID = fmt.Sprintf("%s-%d", a.ID, s), a.ID
					next.Intent = "REPLACE"
					when := tick()
					next.AcceptanceTime, next.StartTime = when, when
					keep := rapid.Bool().Draw(t, "keepLicense")
					nextArn := arn
					if !keep {
						licIdx++
						nextArn = eventbridge.LicenseArn(buyer, fmt.Sprintf("l-%d-%d-%d", b, c, licIdx))
					}
					open(next, a.ID)
					m.agreements[a.ID].replaced = true
					if rapid.Bool().Draw(t, "amendIntent") {
						send(next.ID, when, eventbridge.Amended(seller, next, when))
					} else {
						send(next.ID, when, eventbridge.Created(seller, next, when))
					}
					read(next.ID)
					end(a, marketplace.StatusReplaced)
					send(next.ID, tick(), eventbridge.LicenseUpdated(seller, next, nextArn, at))
					if !keep {
						send(a.ID, tick(), eventbridge.LicenseDeprovisioned(seller, a, arn, at))
						m.licenses[lic(arn)].deprovisioned = true
					}
					m.licenses[lic(nextArn)] = &modelLicense{agreement: next.ID}
					a, arn = next, nextArn
				case "renew":
					next := a
					next.ID, next.PreviousAgreementID, next.Intent = fmt.Sprintf("%s-r%d", a.ID, s), a.ID, "RENEW"
					when := tick()
					next.AcceptanceTime, next.StartTime = when, when
					licIdx++
					nextArn := eventbridge.LicenseArn(buyer, fmt.Sprintf("l-%d-%d-%d", b, c, licIdx))
					open(next, a.ID)
					send(next.ID, when, eventbridge.Created(seller, next, when))
					read(next.ID)
					end(a, marketplace.StatusRenewed)
					send(next.ID, tick(), eventbridge.LicenseUpdated(seller, next, nextArn, at))
					send(a.ID, tick(), eventbridge.LicenseDeprovisioned(seller, a, arn, at))
					m.licenses[lic(arn)].deprovisioned = true
					m.licenses[lic(nextArn)] = &modelLicense{agreement: next.ID}
					a, arn = next, nextArn
				case "update":
					ma := m.agreements[a.ID]
					auto := rapid.Bool().Draw(t, "auto")
					up := a
					up.PreviousAgreementID, up.AutoRenewal = "", &auto
					when := tick()
					if direct && rapid.IntRange(0, 2).Draw(t, "sameSecond") == 0 {
						// Turned the other way and back within one second: the two
						// Amended events cannot be ordered by their facts; AWS's
						// terms, read after them, can (each Amended queues a read).
						first := !auto
						before := up
						before.AutoRenewal = &first
						send(a.ID, when, eventbridge.Amended(seller, before, when))
						ma.renewals = append(ma.renewals, renewalEvent{when, first})
						ma.described = true
					}
					send(a.ID, when, eventbridge.Amended(seller, up, when))
					if direct {
						ma.renewals = append(ma.renewals, renewalEvent{when, auto})
					}
					ma.terms = &auto
					read(a.ID)
					send(a.ID, tick(), eventbridge.LicenseUpdated(seller, a, arn, at))
				case "cancel", "expire":
					status := marketplace.StatusCancelled
					if rapid.Bool().Draw(t, "expired") {
						status = marketplace.StatusExpired
					}
					end(a, status)
					if rapid.Bool().Draw(t, "deprovisioned") {
						send(a.ID, tick(), eventbridge.LicenseDeprovisioned(seller, a, arn, at))
						m.licenses[lic(arn)].deprovisioned = true
					}
					ended = true
					break chain
				}
			}
			if !ended && rapid.IntRange(0, 3).Draw(t, "lateUpdate") == 0 {
				// Auto-renewal changed just after Concord read the terms (within
				// the clock skew the inbox applies at once): the event decides.
				auto := rapid.Bool().Draw(t, "lateAuto")
				up := a
				up.PreviousAgreementID, up.AutoRenewal = "", &auto
				when := now.Add(time.Duration(rapid.IntRange(1, 240).Draw(t, "lateSeconds")) * time.Second)
				send(a.ID, when, eventbridge.Amended(seller, up, when))
				if direct {
					m.agreements[a.ID].renewals = append(m.agreements[a.ID].renewals, renewalEvent{when, auto})
				}
			}
			genLifecycle(t, a, tick, func(body []byte) { out = append(out, delivery{body: body}) }, m)
		}
	}
	return append(out, genLegacy(t, m, now.Add(-20*24*time.Hour))...), m
}

// genLegacy draws legacy SNS stories, one per customer identifier and product
// code, with actions in an order AWS sends them (re-subscribing in time sends
// subscribe-success instead of unsubscribe-success; a contract buyer may be
// told only entitlement-updated), and records in m how each ends: the latest
// action decides the state, entitlement-updated only when nothing else was
// said. Messages follow AWS's SNS message format (seller guide, "Amazon SNS
// notifications for container products"/SaaS: action, customer-identifier,
// product-code, offer-identifier on subscribe-success and subscribe-fail
// only), with values of our own.
func genLegacy(t *rapid.T, m *model, at time.Time) []delivery {
	var out []delivery
	customers := rapid.IntRange(0, 3).Draw(t, "customers")
	for c := range customers {
		code := rapid.SampledFrom([]string{"legacy-a", "legacy-b"}).Draw(t, "productCode")
		customer := fmt.Sprintf("cust%dEXAMPLE", c)
		s := &modelSubscription{}
		m.subscriptions[customer+"|"+code] = s
		actions := rapid.IntRange(1, 5).Draw(t, "actions")
		for i := range actions {
			next := map[string][]string{
				"":                                 {"subscribe-success", "subscribe-fail", "entitlement-updated"},
				marketplace.SubscriptionSubscribed: {"entitlement-updated", "unsubscribe-pending"},
				marketplace.SubscriptionFailed:     {"subscribe-success"},
				marketplace.SubscriptionUnsubscribePending: {"unsubscribe-success", "subscribe-success"},
				marketplace.SubscriptionUnsubscribed:       {"subscribe-success"},
			}[s.state]
			action := rapid.SampledFrom(next).Draw(t, "action")
			at = at.Add(time.Duration(rapid.IntRange(1, 600).Draw(t, "snsGap")) * time.Minute)
			msg := map[string]any{"action": action, "customer-identifier": customer, "product-code": code}
			switch action {
			case "subscribe-success", "subscribe-fail":
				if rapid.IntRange(0, 3).Draw(t, "offerNamed") > 0 {
					// Public offers made before 2024 are not named.
					offer := fmt.Sprintf("offer-legacy-%d-%d", c, i)
					msg["offer-identifier"], s.offer = offer, offer
				}
				trial := rapid.Bool().Draw(t, "freeTrial")
				msg["isFreeTrialTermPresent"] = strconv.FormatBool(trial)
				if action == "subscribe-fail" {
					s.state = marketplace.SubscriptionFailed
				} else {
					s.state, s.freeTrial = marketplace.SubscriptionSubscribed, trial
				}
			case "unsubscribe-pending":
				s.state = marketplace.SubscriptionUnsubscribePending
			case "unsubscribe-success":
				s.state = marketplace.SubscriptionUnsubscribed
			case "entitlement-updated":
				s.entitled = at
				if s.state == "" {
					s.state = marketplace.SubscriptionSubscribed
				}
			}
			body, _ := json.Marshal(msg)
			out = append(out, delivery{sns: &snsMessage{id: fmt.Sprintf("sns-%d-%d", c, i),
				topic: "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-" + code, message: string(body), at: at}})
		}
	}
	return out
}

// perturb shuffles the stream and adds duplicates as AWS and Concord may make
// them: the same envelope again, or the same detail.requestId under a new
// envelope id; the same SNS MessageId again; an agreement read again.
func perturb(t *rapid.T, stream []delivery) []delivery {
	out := append([]delivery(nil), stream...)
	dups := rapid.IntRange(0, len(stream)).Draw(t, "dups")
	for range dups {
		d := stream[rapid.IntRange(0, len(stream)-1).Draw(t, "dupOf")]
		if d.body != nil && rapid.Bool().Draw(t, "newEnvelope") {
			var m map[string]any
			json.Unmarshal(d.body, &m)
			m["id"] = eventbridge.NewID()
			d.body, _ = json.Marshal(m)
		}
		out = append(out, d)
	}
	return rapid.Permutation(out).Draw(t, "order")
}

func truncate(t *rapid.T, db *store.DB) {
	err := db.Write(context.Background(), func(tx *store.Tx) error {
		for _, tbl := range []string{"inbox_events", "inbox_fold_queue", "agreements", "licenses", "buyers", "products", "subscriptions", "jobs",
			"agreement_lifecycle", "cancellation_requests", "billing_adjustments", "payment_requests"} {
			if _, err := tx.Exec(context.Background(), "DELETE FROM "+tbl); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// concurrentSenders is how many senders deliver to the grouped ledger at once.
const concurrentSenders = 4

func TestPropertyOrderAndDuplicatesConverge(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		other, third, fourth := storetest.Open(t, db.Dialect()), storetest.Open(t, db.Dialect()), storetest.Open(t, db.Dialect())
		ordered, shuffled, grouped, later := newLedger(db, t0), newLedger(other, t0), newLedger(third, t0), newLedger(fourth, t0)
		// The third ledger takes the shuffled stream from several senders at
		// once, with group commit (as on PostgreSQL in production): events
		// folded together, concurrent transactions under key locks.
		grouped.Batch, grouped.Batchers = inbox.DefaultBatch, inbox.DefaultBatchers
		// The fourth takes it the same way as concord serve does: the doors
		// answer once an event is queued, and a folder folds the queue
		// while the senders go on (FoldLater).
		later.Batch, later.Batchers = inbox.DefaultBatch, inbox.DefaultBatchers
		later.FoldLater = true
		rapid.Check(t, func(rt *rapid.T) {
			truncate(rt, db)
			truncate(rt, other)
			truncate(rt, third)
			truncate(rt, fourth)
			stream, story := genStream(rt, t0)
			perturbed := perturb(rt, stream)
			// The ledgers have databases of their own: fill them at once.
			folding, stop := context.WithCancel(context.Background())
			folded := make(chan struct{})
			go func() { later.RunFolder(folding); close(folded) }()
			done := make(chan error, 1+2*concurrentSenders)
			go func() { done <- deliverAll(shuffled, story, inbox.DoorSQS, perturbed) }()
			for w := range concurrentSenders {
				var part []delivery
				for i := w; i < len(perturbed); i += concurrentSenders {
					part = append(part, perturbed[i])
				}
				go func() { done <- deliverAll(grouped, story, inbox.DoorHTTP, part) }()
				go func() { done <- deliverAll(later, story, inbox.DoorHTTP, part) }()
			}
			err := deliverAll(ordered, story, inbox.DoorHTTP, stream)
			for range 1 + 2*concurrentSenders {
				if e := <-done; err == nil {
					err = e
				}
			}
			stop()
			<-folded
			if err != nil {
				rt.Fatal(err)
			}
			if _, err := later.Settle(context.Background()); err != nil {
				rt.Fatal(err)
			}
			if n, err := later.FoldQueue(context.Background()); err != nil || n != 0 {
				rt.Fatalf("%d events still queued after Settle (%v)", n, err)
			}
			story.check(rt, db, t0, inboxEvents(stream))
			story.check(rt, other, t0, inboxEvents(stream))
			story.check(rt, third, t0, inboxEvents(stream))
			story.check(rt, fourth, t0, inboxEvents(stream))
			story.checkLifecycle(rt, db)
			story.checkLifecycle(rt, other)
			story.checkLifecycle(rt, third)
			story.checkLifecycle(rt, fourth)
			want, got := inboxtest.Snapshot(t, db), inboxtest.Snapshot(t, other)
			if want != got {
				rt.Fatalf("ledgers differ\nordered:\n%s\nshuffled with duplicates:\n%s", want, got)
			}
			if got := inboxtest.Snapshot(t, third); want != got {
				rt.Fatalf("ledgers differ\nordered:\n%s\nshuffled with duplicates, concurrent senders, group commit:\n%s", want, got)
			}
			if got := inboxtest.Snapshot(t, fourth); want != got {
				rt.Fatalf("ledgers differ\nordered:\n%s\nshuffled with duplicates, concurrent senders, folded later:\n%s", want, got)
			}
			var deferred int
			db.Read(context.Background(), func(tx *store.Tx) error {
				return tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM inbox_events WHERE status = 'deferred'`).Scan(&deferred)
			})
			if deferred != 0 {
				rt.Fatalf("%d events still deferred after the whole stream", deferred)
			}
		})
	})
}
