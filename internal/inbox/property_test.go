package inbox_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// genStream draws a marketplace history for several buyers holding concurrent
// agreements for one product, with amendments, replacements (some keeping their
// LicenseArn), renewals, cancellations, expiries and future-dated starts, in the
// order AWS would send it.
func genStream(t *rapid.T, now time.Time) [][]byte {
	var out [][]byte
	at := now.Add(-30 * 24 * time.Hour)
	tick := func() time.Time {
		at = at.Add(time.Duration(rapid.IntRange(1, 120).Draw(t, "gap")) * time.Minute)
		return at
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
			accepted := tick()
			a.AcceptanceTime, a.StartTime, a.EndTime = accepted, accepted, accepted.AddDate(1, 0, 0)
			if rapid.IntRange(0, 4).Draw(t, "future") == 0 {
				a.StartTime = now.Add(time.Duration(rapid.IntRange(-48, 240).Draw(t, "startHours")) * time.Hour)
			}
			licIdx := 0
			arn := eventbridge.LicenseArn(buyer, fmt.Sprintf("l-%d-%d-%d", b, c, licIdx))
			out = append(out, eventbridge.Created(seller, a, accepted), eventbridge.LicenseUpdated(seller, a, arn, tick()))
			steps := rapid.IntRange(0, 3).Draw(t, "steps")
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
					if rapid.Bool().Draw(t, "amendIntent") {
						out = append(out, eventbridge.Amended(seller, next, when))
					} else {
						out = append(out, eventbridge.Created(seller, next, when))
					}
					out = append(out, eventbridge.Ended(seller, a, "REPLACED", tick()), eventbridge.LicenseUpdated(seller, next, nextArn, tick()))
					if !keep {
						out = append(out, eventbridge.LicenseDeprovisioned(seller, a, arn, tick()))
					}
					a, arn = next, nextArn
				case "renew":
					next := a
					next.ID, next.PreviousAgreementID, next.Intent = fmt.Sprintf("%s-r%d", a.ID, s), a.ID, "RENEW"
					when := tick()
					next.AcceptanceTime, next.StartTime = when, when
					licIdx++
					nextArn := eventbridge.LicenseArn(buyer, fmt.Sprintf("l-%d-%d-%d", b, c, licIdx))
					out = append(out, eventbridge.Created(seller, next, when), eventbridge.Ended(seller, a, "RENEWED", tick()),
						eventbridge.LicenseUpdated(seller, next, nextArn, tick()), eventbridge.LicenseDeprovisioned(seller, a, arn, tick()))
					a, arn = next, nextArn
				case "update":
					auto := rapid.Bool().Draw(t, "auto")
					up := a
					up.PreviousAgreementID, up.AutoRenewal = "", &auto
					out = append(out, eventbridge.Amended(seller, up, tick()), eventbridge.LicenseUpdated(seller, a, arn, tick()))
				case "cancel", "expire":
					status := "CANCELLED"
					if rapid.Bool().Draw(t, "expired") {
						status = "EXPIRED"
					}
					out = append(out, eventbridge.Ended(seller, a, status, tick()))
					if rapid.Bool().Draw(t, "deprovisioned") {
						out = append(out, eventbridge.LicenseDeprovisioned(seller, a, arn, tick()))
					}
					break chain
				}
			}
		}
	}
	return out
}

// perturb shuffles the stream and adds duplicates: the same envelope again, or the
// same detail.requestId under a new envelope id, as AWS may deliver.
func perturb(t *rapid.T, stream [][]byte) [][]byte {
	out := append([][]byte(nil), stream...)
	dups := rapid.IntRange(0, len(stream)).Draw(t, "dups")
	for range dups {
		body := stream[rapid.IntRange(0, len(stream)-1).Draw(t, "dupOf")]
		if rapid.Bool().Draw(t, "newEnvelope") {
			var m map[string]any
			json.Unmarshal(body, &m)
			m["id"] = eventbridge.NewID()
			body, _ = json.Marshal(m)
		}
		out = append(out, body)
	}
	return rapid.Permutation(out).Draw(t, "order")
}

func truncate(t *rapid.T, db *store.DB) {
	err := db.Write(context.Background(), func(tx *store.Tx) error {
		for _, tbl := range []string{"inbox_events", "agreements", "licenses", "buyers", "products", "subscriptions", "jobs"} {
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

func TestPropertyOrderAndDuplicatesConverge(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		other := storetest.Open(t, db.Dialect())
		ordered, shuffled := newLedger(db, t0), newLedger(other, t0)
		rapid.Check(t, func(rt *rapid.T) {
			truncate(rt, db)
			truncate(rt, other)
			stream := genStream(rt, t0)
			for _, body := range stream {
				ev, err := marketplace.ParseEventBridge(body)
				if err != nil {
					rt.Fatal(err)
				}
				if _, err := ordered.Ingest(context.Background(), inbox.DoorHTTP, ev); err != nil {
					rt.Fatal(err)
				}
			}
			for _, body := range perturb(rt, stream) {
				ev, err := marketplace.ParseEventBridge(body)
				if err != nil {
					rt.Fatal(err)
				}
				if _, err := shuffled.Ingest(context.Background(), inbox.DoorSQS, ev); err != nil {
					rt.Fatal(err)
				}
			}
			want, got := inboxtest.Snapshot(t, db), inboxtest.Snapshot(t, other)
			if want != got {
				rt.Fatalf("ledgers differ\nordered:\n%s\nshuffled with duplicates:\n%s", want, got)
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
