package inbox_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

func imported(account, licenseID, customer, agreement string) marketplace.Fact {
	return marketplace.Fact{Kind: marketplace.KindLicenseImported, LicenseArn: eventbridge.LicenseArn(account, licenseID),
		AcceptorAccountID: account, ProductID: "prod-aaa", ProductCode: "code-aaa", CustomerIdentifier: customer, AgreementID: agreement}
}

func importRows(t *testing.T, db *store.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := db.Read(context.Background(), func(tx *store.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT id, status FROM inbox_events WHERE door = ?`, inbox.DoorBackfill)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, status string
			if err := rows.Scan(&id, &status); err != nil {
				return err
			}
			out[id] = status
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImport(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := t0
		l := &inbox.Ledger{DB: db, Now: func() time.Time { return now }}
		var mu sync.Mutex
		var applied []string
		l.OnApplied = func(ids []string) { mu.Lock(); applied = append(applied, ids...); mu.Unlock() }

		t.Run("RejectsWhatIsNotAnImportedLicense", func(t *testing.T) {
			for name, facts := range map[string][]marketplace.Fact{
				"wrong kind": {{Kind: marketplace.KindLicenseUpdated, LicenseArn: eventbridge.LicenseArn("444455556666", "l-x")}},
				"no arn":     {{Kind: marketplace.KindLicenseImported}},
				"twice":      {imported("444455556666", "l-twice", "", ""), imported("444455556666", "l-twice", "c", "")},
				"nul":        {imported("444455556666", "l-nul", "a\x00b", "")},
			} {
				if _, err := l.Import(ctx, facts); marketplace.ErrorCode(err) != marketplace.EInvalid {
					t.Errorf("%s: err %v, want invalid", name, err)
				}
			}
			if rows := importRows(t, db); len(rows) != 0 {
				t.Fatalf("rejected imports stored %v", rows)
			}
		})

		t.Run("WithoutAgreementFoldsActiveAndIsIdempotent", func(t *testing.T) {
			facts := []marketplace.Fact{imported("100000000001", "l-imp1", "cust-1", ""), imported("100000000002", "l-imp2", "", "")}
			st, err := l.Import(ctx, facts)
			if err != nil {
				t.Fatal(err)
			}
			if st != (inbox.ImportStats{Created: 2}) {
				t.Fatalf("first import: %+v", st)
			}
			lic, err := l.GetLicense(ctx, "l-imp1")
			if err != nil {
				t.Fatal(err)
			}
			if lic.State != marketplace.LicenseActive || lic.CustomerIdentifier != "cust-1" || lic.AccountID != "100000000001" || lic.ProductCode != "code-aaa" ||
				lic.ActivatedAt == nil || !lic.ActivatedAt.Equal(t0) {
				t.Fatalf("imported license: %+v", lic)
			}
			mu.Lock()
			got := slices.Sorted(slices.Values(applied))
			applied = nil
			mu.Unlock()
			if !slices.Equal(got, []string{"l-imp1", "l-imp2"}) {
				t.Fatalf("OnApplied got %v", got)
			}

			now = t0.Add(time.Hour)
			st, err = l.Import(ctx, facts)
			if err != nil || st != (inbox.ImportStats{Unchanged: 2}) {
				t.Fatalf("second import: %+v %v", st, err)
			}
			facts[1].CustomerIdentifier = "cust-2"
			st, err = l.Import(ctx, facts)
			if err != nil || st != (inbox.ImportStats{Updated: 1, Unchanged: 1}) {
				t.Fatalf("changed import: %+v %v", st, err)
			}
			lic, _ = l.GetLicense(ctx, "l-imp2")
			if lic.CustomerIdentifier != "cust-2" || !lic.ActivatedAt.Equal(t0) {
				t.Fatalf("updated license: %+v (activation must stay when Concord first learnt it)", lic)
			}
		})

		t.Run("RealLicenseEventsOverrideTheImport", func(t *testing.T) {
			buyer := "100000000003"
			if _, err := l.Import(ctx, []marketplace.Fact{imported(buyer, "l-imp3", "cust-3", "")}); err != nil {
				t.Fatal(err)
			}
			a := agreementFixture("agmt-imp3", buyer)
			ingest(t, l, eventbridge.Created(seller, a, t0.Add(-time.Hour)))
			ingest(t, l, eventbridge.LicenseUpdated(seller, a, eventbridge.LicenseArn(buyer, "l-imp3"), t0.Add(-time.Hour)))
			lic, err := l.GetLicense(ctx, "l-imp3")
			if err != nil {
				t.Fatal(err)
			}
			if lic.AgreementID != "agmt-imp3" || lic.State != marketplace.LicenseActive || lic.CustomerIdentifier != "cust-3" {
				t.Fatalf("license after its events: %+v", lic)
			}
			ingest(t, l, eventbridge.Ended(seller, a, marketplace.StatusCancelled, t0))
			if lic, _ := l.GetLicense(ctx, "l-imp3"); lic.State != marketplace.LicenseEnding {
				t.Fatalf("the import kept a cancelled license %s", lic.State)
			}
		})

		t.Run("WithUnknownAgreementWaitsThenFoldsWhenItArrives", func(t *testing.T) {
			buyer := "100000000004"
			st, err := l.Import(ctx, []marketplace.Fact{imported(buyer, "l-imp4", "cust-4", "agmt-imp4")})
			if err != nil || st != (inbox.ImportStats{Created: 1, Waiting: 1}) {
				t.Fatalf("import: %+v %v", st, err)
			}
			if _, err := l.GetLicense(ctx, "l-imp4"); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Fatalf("license of an unknown agreement: %v", err)
			}
			if s := importRows(t, db)[inbox.ImportEventID("l-imp4")]; s != inbox.StatusDeferred {
				t.Fatalf("status %q, want deferred", s)
			}
			var jobs int
			db.Read(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE unique_key = ?`, "enrich:agmt-imp4").Scan(&jobs)
			})
			if jobs != 1 {
				t.Fatalf("no enrichment scheduled for the unknown agreement")
			}
			ingest(t, l, eventbridge.Created(seller, agreementFixture("agmt-imp4", buyer), t0.Add(-time.Hour)))
			lic, err := l.GetLicense(ctx, "l-imp4")
			if err != nil || lic.State != marketplace.LicenseActive || lic.AgreementID != "agmt-imp4" || lic.CustomerIdentifier != "cust-4" {
				t.Fatalf("license after its agreement arrived: %+v %v", lic, err)
			}
		})

		t.Run("EverythingOrNothing", func(t *testing.T) {
			boom := errors.New("boom")
			failing := &inbox.Ledger{DB: db, Now: l.Now, LicenseHooks: []inbox.LicenseHook{
				func(_ context.Context, _ *store.Tx, _ *marketplace.License, after marketplace.License, _ time.Time) error {
					if after.LicenseID == "l-imp6" {
						return boom
					}
					return nil
				}}}
			before := inboxtest.Snapshot(t, db)
			_, err := failing.Import(ctx, []marketplace.Fact{imported("100000000005", "l-imp5", "", ""), imported("100000000006", "l-imp6", "", "")})
			if !errors.Is(err, boom) {
				t.Fatalf("err %v", err)
			}
			rows := importRows(t, db)
			if _, ok := rows[inbox.ImportEventID("l-imp5")]; ok || inboxtest.Snapshot(t, db) != before {
				t.Fatal("a failed import left something behind")
			}
		})

		t.Run("ReplayKeepsImportedFacts", func(t *testing.T) {
			before := inboxtest.Snapshot(t, db)
			rows := importRows(t, db)
			if _, err := l.Replay(ctx); err != nil {
				t.Fatal(err)
			}
			if after := inboxtest.Snapshot(t, db); after != before {
				t.Fatalf("replay changed the ledger:\n%s\nvs\n%s", before, after)
			}
			for id, s := range importRows(t, db) {
				if rows[id] != s {
					t.Errorf("%s: %s after replay, %s before", id, s, rows[id])
				}
			}
			lic, err := l.GetLicense(ctx, "l-imp2")
			if err != nil || lic.CustomerIdentifier != "cust-2" || lic.State != marketplace.LicenseActive {
				t.Fatalf("imported license after replay: %+v %v", lic, err)
			}
		})
	})
}
