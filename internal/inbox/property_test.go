package inbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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

// model is the ledger a generated story must end in, worked out from the
// story itself while it is drawn: an oracle independent of Concord's folds.
type model struct {
	agreements map[string]*modelAgreement
	licenses   map[string]*modelLicense // by license id (l-…)
}

type modelAgreement struct {
	status, previous, next, initial string
	start                           time.Time
}

type modelLicense struct {
	agreement     string
	deprovisioned bool
}

// licenseState is what the story says of a license at now: deprovisioned
// once AWS said so; ending once its agreement ended; pending before its
// agreement starts; active otherwise (docs/architecture.md, flow 1).
func (m *model) licenseState(l *modelLicense, now time.Time) string {
	a := m.agreements[l.agreement]
	switch {
	case l.deprovisioned:
		return marketplace.LicenseDeprovisioned
	case a.status != marketplace.StatusActive:
		return marketplace.LicenseEnding
	case a.start.After(now):
		return marketplace.LicensePending
	}
	return marketplace.LicenseActive
}

// failer is what check needs of *testing.T and *rapid.T.
type failer interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// check compares db's ledger with the model: every agreement's status and
// lineage, every license's agreement and state, nothing more, and each
// distinct event stored once in the inbox.
func (m *model) check(t failer, db *store.DB, now time.Time, events int) {
	t.Helper()
	ctx := context.Background()
	var want, got []string
	for id, a := range m.agreements {
		want = append(want, fmt.Sprintf("agreement %s %s prev=%s next=%s initial=%s", id, a.status, a.previous, a.next, a.initial))
	}
	for id, l := range m.licenses {
		want = append(want, fmt.Sprintf("license %s on %s %s", id, l.agreement, m.licenseState(l, now)))
	}
	want = append(want, fmt.Sprintf("inbox events %d", events))
	err := db.Read(ctx, func(tx *store.Tx) error {
		rows, err := storetest.Rows(ctx, tx, `SELECT 'agreement ' || agreement_id || ' ' || status || ' prev=' || COALESCE(previous_agreement_id, '') ||
			' next=' || COALESCE(next_agreement_id, '') || ' initial=' || initial_agreement_id FROM agreements`)
		if err != nil {
			return err
		}
		got = append(got, rows...)
		if rows, err = storetest.Rows(ctx, tx, `SELECT 'license ' || license_id || ' on ' || agreement_id || ' ' || state FROM licenses`); err != nil {
			return err
		}
		got = append(got, rows...)
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM inbox_events`).Scan(&n); err != nil {
			return err
		}
		got = append(got, fmt.Sprintf("inbox events %d", n))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Fatalf("the ledger is not what the story says\nstory:\n%s\nledger:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}

// genStream draws a marketplace history for several buyers holding concurrent
// agreements for one product, with amendments, replacements (some keeping their
// LicenseArn), renewals, cancellations, expiries and future-dated starts, in the
// order AWS would send it, and the ledger it must end in.
func genStream(t *rapid.T, now time.Time) ([][]byte, *model) {
	var out [][]byte
	m := &model{agreements: map[string]*modelAgreement{}, licenses: map[string]*modelLicense{}}
	lic := func(arn string) string { return marketplace.LicenseID(arn) }
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
			m.agreements[a.ID] = &modelAgreement{status: marketplace.StatusActive, initial: a.ID, start: a.StartTime}
			m.licenses[lic(arn)] = &modelLicense{agreement: a.ID}
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
						m.licenses[lic(arn)].deprovisioned = true
					}
					m.succeed(a.ID, next.ID, marketplace.StatusReplaced, next.StartTime)
					m.licenses[lic(nextArn)] = &modelLicense{agreement: next.ID}
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
					m.licenses[lic(arn)].deprovisioned = true
					m.succeed(a.ID, next.ID, marketplace.StatusRenewed, next.StartTime)
					m.licenses[lic(nextArn)] = &modelLicense{agreement: next.ID}
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
					m.agreements[a.ID].status = status
					if rapid.Bool().Draw(t, "deprovisioned") {
						out = append(out, eventbridge.LicenseDeprovisioned(seller, a, arn, tick()))
						m.licenses[lic(arn)].deprovisioned = true
					}
					break chain
				}
			}
		}
	}
	return out, m
}

// succeed records in the model that next follows prev, which ends with status.
func (m *model) succeed(prev, next, status string, start time.Time) {
	p := m.agreements[prev]
	p.status, p.next = status, next
	m.agreements[next] = &modelAgreement{status: marketplace.StatusActive, previous: prev, initial: p.initial, start: start}
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
			stream, story := genStream(rt, t0)
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
			story.check(rt, db, t0, len(stream))
			story.check(rt, other, t0, len(stream))
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
