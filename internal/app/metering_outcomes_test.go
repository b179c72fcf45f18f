package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	mtypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store/storetest"
	"github.com/concordmp/concord/internal/webhook"
)

// TestMeteringOutcomes follows usage from POST /v1/usage to AWS (the emulator)
// for every outcome Concord's submitter reaches on its own, checking both
// Concord's outcome ledger and report and what AWS recorded. One Concord per
// database runs the scenarios in turn, each with its own product and buyers,
// moving the emulator clock (which is Concord's clock) hour by hour.
func TestMeteringOutcomes(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := moStart(t, d, app.Config{})

			t.Run("SuccessIsOneRecordPerLicenseDimensionHour", func(t *testing.T) {
				e.product(t, "prod-mo-ok", true, []string{"api_calls"}, nil, "")
				hour := e.alignHour(t)
				const account = "100000000001"
				_, arn1 := e.accept(t, account, "prod-mo-ok")
				_, arn2 := e.accept(t, account, "prod-mo-ok")
				if arn1 == arn2 {
					t.Fatal("two concurrent agreements share a LicenseArn")
				}
				// 40 usage records over two batches, alternating licenses; the
				// second license is named by its l-… id.
				want := map[string]int64{}
				var batch [][]map[string]any
				batch = make([][]map[string]any, 2)
				for i := range 40 {
					arn, name := arn1, arn1
					if i%2 == 1 {
						arn, name = arn2, marketplace.LicenseID(arn2)
					}
					want[arn] += int64(i + 1)
					batch[i/20] = append(batch[i/20], moUse(name, "api_calls", i+1, hour.Add(time.Duration(i)*7*time.Second), fmt.Sprintf("ok-%d", i)))
				}
				for _, recs := range batch {
					if res := e.ingest(t, recs...); res.Accepted != 20 || res.Rejected+res.Duplicates+res.Late != 0 {
						t.Fatalf("ingest: %+v", res)
					}
				}
				e.closeHour(t, hour)
				for _, arn := range []string{arn1, arn2} {
					recs := e.finished(t, arn, 1)
					r := recs[0]
					if r.Status != metering.StatusSuccess || r.Quantity != want[arn] || !r.Hour.Equal(hour) || r.Path != metering.PathLicense ||
						r.LicenseArn != arn || r.AccountID != account || r.MeteringRecordID == "" || r.Reason != "" {
						t.Fatalf("outcome ledger for %s: %+v (want success, quantity %d, hour %s)", arn, r, want[arn], hour)
					}
					got := e.emu(t, func(m world.MeteringRecord) bool { return m.LicenseArn == arn })
					// The emulator refuses LicenseArn together with ProductCode
					// (InvalidProductCodeException), so a Success here means the
					// record went by LicenseArn alone.
					if len(got) != 1 || got[0].Status != "Success" || got[0].Quantity != want[arn] || !got[0].Timestamp.Equal(hour) ||
						got[0].CustomerAWSAccount != account || got[0].CustomerIdentifier != "" || got[0].MeteringRecordID != r.MeteringRecordID {
						t.Fatalf("AWS received for %s: %+v (Concord's record %+v)", arn, got, r)
					}
					rep := e.report(t, "license="+url.QueryEscape(arn))
					if len(rep.Rows) != 1 {
						t.Fatalf("report rows for %s: %+v", arn, rep.Rows)
					}
					row := rep.Rows[0]
					if row.Status != metering.StatusSuccess || row.Ingested != want[arn] || row.UsageRecords != 20 || row.Submitted != want[arn] ||
						row.Accepted != want[arn] || row.Late != 0 || row.Gap != "" || !row.Hour.Equal(hour) || row.MeteringRecordID != r.MeteringRecordID {
						t.Fatalf("report row for %s: %+v", arn, row)
					}
				}
				r1, r2 := e.finished(t, arn1, 1)[0], e.finished(t, arn2, 1)[0]
				if r1.MeteringRecordID == r2.MeteringRecordID {
					t.Fatal("two licenses of one buyer were billed as one record")
				}
			})

			t.Run("DuplicateRecordIsFlaggedAndAlerted", func(t *testing.T) {
				e.product(t, "prod-mo-dup", true, []string{"api_calls"}, nil, "")
				hour := e.alignHour(t)
				const account = "100000000002"
				_, arn := e.accept(t, account, "prod-mo-dup")
				// Another system already metered this license's hour with another quantity.
				out, err := e.meter(t).BatchMeterUsage(context.Background(), &marketplacemetering.BatchMeterUsageInput{UsageRecords: []mtypes.UsageRecord{{
					LicenseArn: aws.String(arn), CustomerAWSAccountId: aws.String(account), Dimension: aws.String("api_calls"),
					Quantity: aws.Int32(999), Timestamp: aws.Time(hour.Add(time.Minute))}}})
				if err != nil || len(out.Results) != 1 || out.Results[0].Status != mtypes.UsageRecordResultStatusSuccess {
					t.Fatalf("plant a record: %v %+v", err, out)
				}
				e.ingest(t, moUse(arn, "api_calls", 2, hour, "dup-1"), moUse(arn, "api_calls", 3, hour.Add(time.Minute), "dup-2"),
					moUse(arn, "api_calls", 4, hour.Add(2*time.Minute), "dup-3"))
				e.closeHour(t, hour)
				r := e.finished(t, arn, 1)[0]
				if r.Status != metering.StatusDuplicate || r.Quantity != 9 || r.MeteringRecordID != "" || !strings.Contains(r.Reason, "DuplicateRecord") ||
					!strings.Contains(r.Reason, "different quantity") {
					t.Fatalf("outcome ledger: %+v", r)
				}
				got := e.emu(t, func(m world.MeteringRecord) bool { return m.LicenseArn == arn })
				if len(got) != 2 || got[0].Quantity != 999 || got[0].Status != "Success" || got[1].Quantity != 9 || got[1].Status != "DuplicateRecord" ||
					!got[1].Timestamp.Equal(hour) {
					t.Fatalf("AWS received: %+v", got)
				}
				rep := e.report(t, "gaps=true&license="+url.QueryEscape(arn))
				if len(rep.Rows) != 1 || rep.Totals.Gaps != 1 {
					t.Fatalf("gap report: %+v", rep)
				}
				row := rep.Rows[0]
				if row.Status != metering.StatusDuplicate || row.Ingested != 9 || row.Submitted != 9 || row.Accepted != 0 ||
					!strings.Contains(row.Gap, "9 not billed") || !strings.Contains(row.Reason, "DuplicateRecord") {
					t.Fatalf("report row: %+v", row)
				}
				a := e.hooks.wait(t, webhook.MeteringFailed, arn)
				if a.Outcome != metering.StatusDuplicate || a.Quantity != 9 || a.Dimension != "api_calls" || !a.Hour.Equal(hour) || a.RecordID != r.RecordID ||
					!strings.Contains(a.Reason, "DuplicateRecord") {
					t.Fatalf("metering.failed webhook: %+v", a)
				}
			})

			t.Run("RequestRejectionIsIsolatedBySplitting", func(t *testing.T) {
				// Concord's configuration declares "ghost" a usage dimension;
				// the listing on AWS does not have it.
				e.product(t, "prod-mo-split", true, []string{"api_calls"}, []string{"api_calls", "ghost"}, "")
				hour := e.alignHour(t)
				_, arnA := e.accept(t, "100000000004", "prod-mo-split")
				_, arnB := e.accept(t, "100000000014", "prod-mo-split")
				if res := e.ingest(t, moUse(arnA, "api_calls", 5, hour, "split-1"), moUse(arnB, "api_calls", 6, hour, "split-2"),
					moUse(arnA, "ghost", 7, hour, "split-3")); res.Accepted != 3 {
					t.Fatalf("ingest: %+v", res)
				}
				e.closeHour(t, hour)
				byKey := map[string]metering.Record{}
				for _, r := range append(e.finished(t, arnA, 2), e.finished(t, arnB, 1)...) {
					byKey[r.LicenseArn+"|"+r.Dimension] = r
				}
				okA, okB, bad := byKey[arnA+"|api_calls"], byKey[arnB+"|api_calls"], byKey[arnA+"|ghost"]
				if okA.Status != metering.StatusSuccess || okA.Quantity != 5 || okB.Status != metering.StatusSuccess || okB.Quantity != 6 {
					t.Fatalf("good records: %+v %+v", okA, okB)
				}
				if bad.Status != metering.StatusRejected || !strings.Contains(bad.Reason, "InvalidUsageDimensionException") || bad.MeteringRecordID != "" {
					t.Fatalf("bad record: %+v", bad)
				}
				all := e.emu(t, func(m world.MeteringRecord) bool { return m.LicenseArn == arnA || m.LicenseArn == arnB })
				rejectedGood, success := 0, map[string]int64{}
				for _, m := range all {
					switch {
					case m.Dimension == "ghost" && m.Status != "Rejected":
						t.Fatalf("AWS accepted the bad record: %+v", m)
					case m.Status == "Rejected" && m.Dimension == "api_calls":
						rejectedGood++
					case m.Status == "Success":
						success[m.LicenseArn] += m.Quantity
					}
				}
				// The good records first went out with the bad one (and were
				// refused with it), then again without it.
				if rejectedGood == 0 || success[arnA] != 5 || success[arnB] != 6 || len(success) != 2 {
					t.Fatalf("AWS received %+v", all)
				}
				rep := e.report(t, "gaps=true&product=prod-mo-split")
				if len(rep.Rows) != 1 || rep.Rows[0].Dimension != "ghost" || !strings.Contains(rep.Rows[0].Gap, "7 not billed: rejected") ||
					!strings.Contains(rep.Rows[0].Reason, "InvalidUsageDimensionException") {
					t.Fatalf("gap report: %+v", rep)
				}
				if a := e.hooks.wait(t, webhook.MeteringFailed, arnA); a.Outcome != metering.StatusRejected || a.Dimension != "ghost" {
					t.Fatalf("metering.failed webhook: %+v", a)
				}
			})

			t.Run("LateUsageIsReportedAndNeverSent", func(t *testing.T) {
				e.product(t, "prod-mo-late", true, []string{"api_calls"}, nil, "")
				hour := e.alignHour(t)
				_, arn := e.accept(t, "100000000006", "prod-mo-late")
				e.ingest(t, moUse(arn, "api_calls", 4, hour.Add(time.Minute), "late-1"))
				e.closeHour(t, hour)
				if r := e.finished(t, arn, 1)[0]; r.Status != metering.StatusSuccess || r.Quantity != 4 {
					t.Fatalf("on-time usage: %+v", r)
				}
				// Usage for the hour already submitted: kept, late, never sent.
				res := e.ingest(t, moUse(arn, "api_calls", 6, hour.Add(30*time.Minute), "late-2"))
				if res.Accepted != 0 || res.Late != 1 || len(res.Records) != 1 || res.Records[0].Status != metering.UsageLate ||
					res.Records[0].IdempotencyKey != "late-2" || !strings.Contains(res.Records[0].Reason, "already submitted") {
					t.Fatalf("late usage answer: %+v", res)
				}
				rep := e.report(t, "license="+url.QueryEscape(arn))
				if len(rep.Rows) != 1 {
					t.Fatalf("report: %+v", rep)
				}
				row := rep.Rows[0]
				if row.Status != metering.StatusSuccess || row.Ingested != 10 || row.Late != 6 || row.Submitted != 4 || row.Accepted != 4 || row.UsageRecords != 2 ||
					!strings.Contains(row.Gap, "6 late") {
					t.Fatalf("report row: %+v", row)
				}
				// Meter the next hour: the submitter sends oldest first, so once
				// that is billed anything still due for the late hour would have gone too.
				next := hour.Add(time.Hour)
				e.ingest(t, moUse(arn, "api_calls", 1, e.w.Now(), "late-3"))
				e.closeHour(t, next)
				recs := e.finished(t, arn, 2)
				got := e.emu(t, func(m world.MeteringRecord) bool { return m.LicenseArn == arn })
				if len(got) != 2 || got[0].Quantity != 4 || !got[0].Timestamp.Equal(hour) || got[1].Quantity != 1 || !got[1].Timestamp.Equal(next) {
					t.Fatalf("AWS received %+v (Concord's records %+v)", got, recs)
				}
			})

			t.Run("FinalWindowSendsTheRunningHourBeforeDeprovisioning", func(t *testing.T) {
				e.product(t, "prod-mo-final", true, []string{"api_calls"}, nil, "")
				hour := e.alignHour(t)
				agreement, arn := e.accept(t, "100000000007", "prod-mo-final")
				e.ingest(t, moUse(arn, "api_calls", 3, e.w.Now(), "final-1"))
				// The buyer cancels: Purchase Agreement Ended opens the final window.
				if err := e.w.Do(func(s *world.State) error { _, err := s.Cancel(agreement); return err }); err != nil {
					t.Fatal(err)
				}
				var deprovisionAt time.Time
				e.w.Read(func(s *world.State) error { deprovisionAt = *s.Licenses[arn].DeprovisionAt; return nil })
				eventually(t, "the license to be ending", func() bool { return e.licenseState(t, arn) == marketplace.LicenseEnding })
				// The tail of the hour's usage still counts.
				if res := e.ingest(t, moUse(arn, "api_calls", 2, e.w.Now(), "final-tail")); res.Accepted != 1 {
					t.Fatalf("usage in the final window: %+v", res)
				}
				if err := e.w.Advance(metering.FinalWindowClose + time.Second); err != nil {
					t.Fatal(err)
				}
				e.b.app.Metering.Wake()
				r := e.finished(t, arn, 1)[0]
				got := e.emu(t, func(m world.MeteringRecord) bool { return m.LicenseArn == arn })
				if r.Status != metering.StatusSuccess || r.Quantity != 5 || !r.Hour.Equal(hour) || len(got) != 1 || got[0].Status != "Success" ||
					got[0].Quantity != 5 || !got[0].Timestamp.Equal(hour) {
					t.Fatalf("final hour: Concord %+v, AWS %+v", r, got)
				}
				// AWS got the running hour before it ended and before the license went.
				if !got[0].ReceivedAt.Before(hour.Add(time.Hour)) || !got[0].ReceivedAt.Before(deprovisionAt) {
					t.Fatalf("the open hour was sent at %s (hour ends %s, deprovisioned at %s)", got[0].ReceivedAt, hour.Add(time.Hour), deprovisionAt)
				}
				if st := e.licenseState(t, arn); st != marketplace.LicenseEnding {
					t.Fatalf("license state %q after Purchase Agreement Ended", st)
				}
				// The final window closes: License Deprovisioned.
				if err := e.w.Advance(deprovisionAt.Add(time.Second).Sub(e.w.Now())); err != nil {
					t.Fatal(err)
				}
				eventually(t, "the license to be deprovisioned", func() bool { return e.licenseState(t, arn) == marketplace.LicenseDeprovisioned })
				res := e.ingest(t, moUse(arn, "api_calls", 5, e.w.Now(), "final-2"))
				if res.Accepted != 0 || res.Rejected != 1 || !strings.Contains(res.Records[0].Reason, "deprovisioned") {
					t.Fatalf("usage after deprovisioning: %+v", res)
				}
				if rep := e.report(t, "license="+url.QueryEscape(arn)); len(rep.Rows) != 1 || rep.Totals.Ingested != 5 {
					t.Fatalf("refused usage was stored: %+v", rep)
				}
			})

			t.Run("UsageInTheFinalWindowsNextHourIsBilled", func(t *testing.T) {
				e.product(t, "prod-mo-fw2", true, []string{"api_calls"}, nil, "")
				hour := e.alignHour(t)
				agreement, arn := e.accept(t, "100000000017", "prod-mo-fw2")
				if err := e.w.Do(func(s *world.State) error { _, err := s.Cancel(agreement); return err }); err != nil {
					t.Fatal(err)
				}
				var deprovisionAt time.Time
				e.w.Read(func(s *world.State) error { deprovisionAt = *s.Licenses[arn].DeprovisionAt; return nil })
				eventually(t, "the license to be ending", func() bool { return e.licenseState(t, arn) == marketplace.LicenseEnding })
				// The final window (an hour from Purchase Agreement Ended) runs
				// into the next hour: usage there is billable until it closes.
				next := hour.Add(time.Hour)
				if err := e.w.Advance(next.Add(30 * time.Second).Sub(e.w.Now())); err != nil {
					t.Fatal(err)
				}
				if res := e.ingest(t, moUse(arn, "api_calls", 2, e.w.Now(), "fw2-1")); res.Accepted != 1 {
					t.Fatalf("usage in the final window: %+v", res)
				}
				// A minute before the window closes, Concord must have sent it.
				if err := e.w.Advance(deprovisionAt.Add(-time.Minute).Sub(e.w.Now())); err != nil {
					t.Fatal(err)
				}
				e.b.app.Metering.Wake()
				r := e.finished(t, arn, 1)[0]
				got := e.emu(t, func(m world.MeteringRecord) bool { return m.LicenseArn == arn })
				if r.Status != metering.StatusSuccess || !r.Hour.Equal(next) || len(got) != 1 || got[0].Status != "Success" || got[0].Quantity != 2 {
					t.Fatalf("usage in the final window: Concord %+v, AWS %+v", r, got)
				}
			})

			t.Run("LegacyProductGoesByProductCode", func(t *testing.T) {
				code := e.product(t, "prod-mo-legacy", false, []string{"api_calls"}, nil, "")
				hour := e.alignHour(t)
				const account = "100000000008"
				_, arn := e.accept(t, account, "prod-mo-legacy")
				e.ingest(t, moUse(arn, "api_calls", 11, e.w.Now(), "legacy-1"))
				e.closeHour(t, hour)
				r := e.finished(t, arn, 1)[0]
				if r.Status != metering.StatusSuccess || r.Path != metering.PathLegacy || r.ProductCode != code || r.Quantity != 11 || r.MeteringRecordID == "" {
					t.Fatalf("outcome ledger: %+v", r)
				}
				// Without ProductCode the emulator requires a LicenseArn, so a
				// record with none went by ProductCode.
				got := e.emu(t, func(m world.MeteringRecord) bool { return m.ProductCode == code })
				if len(got) != 1 || got[0].LicenseArn != "" || got[0].Status != "Success" || got[0].Quantity != 11 || !got[0].Timestamp.Equal(hour) ||
					got[0].MeteringRecordID != r.MeteringRecordID || (got[0].CustomerIdentifier == "") == (got[0].CustomerAWSAccount == "") {
					t.Fatalf("AWS received %+v", got)
				}
				if got[0].CustomerAWSAccount != "" && got[0].CustomerAWSAccount != account {
					t.Fatalf("metered on account %s", got[0].CustomerAWSAccount)
				}
			})

			t.Run("TenantUsageIsMeteredOnItsBillingLicense", func(t *testing.T) {
				code := e.product(t, "prod-mo-tenant", true, []string{"api_calls"}, nil, "")
				hour := e.alignHour(t)
				const account = "100000000009"
				_, arn := e.accept(t, account, "prod-mo-tenant")
				body, _ := json.Marshal(map[string]any{"accountId": account, "productCode": code, "company": "Tenant Co", "licenses": []string{arn}})
				status, out := e.b.do(t, "POST", "/v1/tenants", e.b.key, body)
				var tn marketplace.Tenant
				if json.Unmarshal(out, &tn); status != 201 || tn.TenantID == "" || tn.BillingLicenseID != marketplace.LicenseID(arn) {
					t.Fatalf("create tenant: %d %s", status, out)
				}
				res := e.ingest(t, map[string]any{"tenant": tn.TenantID, "dimension": "api_calls", "quantity": 8, "timestamp": e.w.Now().Format(time.RFC3339), "idempotencyKey": "tenant-1"},
					map[string]any{"tenant": "no-such-tenant", "dimension": "api_calls", "quantity": 1, "timestamp": e.w.Now().Format(time.RFC3339), "idempotencyKey": "tenant-2"})
				if res.Accepted != 1 || res.Rejected != 1 || res.Records[0].Index != 1 || res.Records[0].Reason == "" {
					t.Fatalf("ingest: %+v", res)
				}
				e.closeHour(t, hour)
				r := e.finished(t, arn, 1)[0]
				got := e.emu(t, func(m world.MeteringRecord) bool { return m.LicenseArn == arn })
				if r.Status != metering.StatusSuccess || r.Quantity != 8 || len(got) != 1 || got[0].Quantity != 8 || got[0].Status != "Success" {
					t.Fatalf("tenant usage: Concord %+v, AWS %+v", r, got)
				}
			})

			t.Run("ZeroRecordsForLicensesWithoutUsage", func(t *testing.T) {
				e.product(t, "prod-mo-zero", true, []string{"api_calls"}, nil, "api_calls")
				hour := e.alignHour(t)
				_, z1 := e.accept(t, "100000000010", "prod-mo-zero")
				_, z2 := e.accept(t, "100000000020", "prod-mo-zero")
				_, used := e.accept(t, "100000000030", "prod-mo-zero")
				e.ingest(t, moUse(used, "api_calls", 7, e.w.Now(), "zero-1"))
				e.closeHour(t, hour)
				for _, arn := range []string{z1, z2} {
					r := e.finished(t, arn, 1)[0]
					got := e.emu(t, func(m world.MeteringRecord) bool { return m.LicenseArn == arn })
					if r.Status != metering.StatusSuccess || r.Quantity != 0 || !r.Hour.Equal(hour) || r.Dimension != "api_calls" ||
						len(got) != 1 || got[0].Quantity != 0 || got[0].Status != "Success" || !got[0].Timestamp.Equal(hour) {
						t.Fatalf("zero record for %s: Concord %+v, AWS %+v", arn, r, got)
					}
				}
				r := e.finished(t, used, 1)[0]
				got := e.emu(t, func(m world.MeteringRecord) bool { return m.LicenseArn == used })
				if r.Quantity != 7 || len(got) != 1 || got[0].Quantity != 7 {
					t.Fatalf("a license with usage got a zero record too: Concord %+v, AWS %+v", r, got)
				}
			})

			t.Run("InvalidUsageIsRefusedAndNotStored", func(t *testing.T) {
				e.product(t, "prod-mo-valid", true, []string{"api_calls", "seats"}, nil, "")
				hour := e.alignHour(t)
				_, arn := e.accept(t, "100000000011", "prod-mo-valid")
				now := e.w.Now()
				unknown := "arn:aws:license-manager::100000000011:license:l-00000000000000000000000000000bad"
				recs := []map[string]any{
					moUse(arn, "api_calls", 2, now, "valid-ok"),
					moUse(unknown, "api_calls", 1, now, "valid-1"),
					moUse(arn, "seats", 1, now, "valid-2"),
					moUse(arn, "api_calls", 1, now.Add(10*time.Minute), "valid-3"),
					moUse(arn, "api_calls", 1, now.Add(-25*time.Hour), "valid-4"),
					moUse(arn, "api_calls", json.RawMessage("1.5"), now, "valid-5"),
					{"license": arn, "dimension": "api_calls", "quantity": 1, "timestamp": now.Format(time.RFC3339)},
				}
				wantReason := []string{"", "not known", "contract", "in the future", "too old", "not a whole number", "idempotencyKey is required"}
				res := e.ingest(t, recs...)
				if res.Accepted != 1 || res.Rejected != 6 || len(res.Records) != 6 {
					t.Fatalf("ingest: %+v", res)
				}
				for i, r := range res.Records {
					if r.Index != i+1 || r.Status != metering.UsageRejected || !strings.Contains(r.Reason, wantReason[i+1]) {
						t.Errorf("record %d: %+v, want the reason to mention %q", i+1, r, wantReason[i+1])
					}
				}
				// Only the good record reached a bucket.
				rep := e.report(t, "license="+url.QueryEscape(arn))
				if len(rep.Rows) != 1 || rep.Rows[0].Dimension != "api_calls" || !rep.Rows[0].Hour.Equal(hour) || rep.Rows[0].Ingested != 2 || rep.Rows[0].UsageRecords != 1 {
					t.Fatalf("report: %+v", rep)
				}
				if rep := e.report(t, "license="+url.QueryEscape(unknown)); len(rep.Rows) != 0 {
					t.Fatalf("report for an unknown license: %+v", rep)
				}
			})
		})
	}
}

// TestMeteringOutcomesHandDriven drives a metering.Service by hand (the app's
// own submitter is off) to reach the outcomes that need a precise order of
// events: a license deprovisioned between freezing and sending, and a record
// that could not be sent within AWS's window.
func TestMeteringOutcomesHandDriven(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := moStart(t, d, app.Config{NoMetering: true})
			cfg, err := awsmp.Load(context.Background(), awsmp.Config{Endpoint: e.b.app.URL() + "/emulator", Anonymous: true, Region: "us-east-1"})
			if err != nil {
				t.Fatal(err)
			}
			svc := &metering.Service{DB: e.b.app.DB, Now: e.w.Now, Logger: testLogger(), API: awsmp.NewMeter(cfg)}
			ctx := context.Background()

			t.Run("CustomerNotSubscribed", func(t *testing.T) {
				e.product(t, "prod-mo-ns", true, []string{"api_calls"}, nil, "")
				hour := e.alignHour(t)
				agreement, arn := e.accept(t, "100000000003", "prod-mo-ns")
				e.ingest(t, moUse(arn, "api_calls", 5, e.w.Now(), "ns-1"))
				e.closeHour(t, hour)
				if err := svc.Housekeep(ctx); err != nil {
					t.Fatal(err)
				}
				if recs := e.records(t, arn); len(recs) != 1 || recs[0].Status != metering.StatusPending || recs[0].Quantity != 5 {
					t.Fatalf("frozen record: %+v", recs)
				}
				// The buyer cancels and the final window closes before Concord sends.
				err := e.w.Do(func(s *world.State) error { _, err := s.Cancel(agreement); return err })
				if err == nil {
					err = e.w.Advance(61 * time.Minute)
				}
				if err != nil {
					t.Fatal(err)
				}
				e.w.Read(func(s *world.State) error {
					if st := s.Licenses[arn].State; st != world.LicenseDeprovisioned {
						t.Fatalf("emulator license state %s", st)
					}
					return nil
				})
				if worked, err := svc.SendOne(ctx); !worked || err != nil {
					t.Fatalf("send: %v %v", worked, err)
				}
				r := e.finished(t, arn, 1)[0]
				if r.Status != metering.StatusNotSubscribed || r.MeteringRecordID != "" || !strings.Contains(r.Reason, "CustomerNotSubscribed") {
					t.Fatalf("outcome ledger: %+v", r)
				}
				got := e.emu(t, func(m world.MeteringRecord) bool { return m.LicenseArn == arn })
				if len(got) != 1 || got[0].Status != "CustomerNotSubscribed" || got[0].Quantity != 5 || !got[0].Timestamp.Equal(hour) {
					t.Fatalf("AWS received %+v", got)
				}
				rep := e.report(t, "gaps=true&license="+url.QueryEscape(arn))
				if len(rep.Rows) != 1 || rep.Rows[0].Status != metering.StatusNotSubscribed || !strings.Contains(rep.Rows[0].Gap, "5 not billed: customer not subscribed") {
					t.Fatalf("gap report: %+v", rep)
				}
				if a := e.hooks.wait(t, webhook.MeteringFailed, arn); a.Outcome != metering.StatusNotSubscribed || a.Quantity != 5 {
					t.Fatalf("metering.failed webhook: %+v", a)
				}
			})

			t.Run("ExpiredBeforeAnySend", func(t *testing.T) {
				e.product(t, "prod-mo-exp", true, []string{"api_calls"}, nil, "")
				hour := e.alignHour(t)
				_, arn := e.accept(t, "100000000005", "prod-mo-exp")
				e.ingest(t, moUse(arn, "api_calls", 4, e.w.Now(), "exp-1"))
				if err := e.w.Advance(25 * time.Hour); err != nil {
					t.Fatal(err)
				}
				if err := svc.Housekeep(ctx); err != nil {
					t.Fatal(err)
				}
				recs := e.records(t, arn)
				if len(recs) != 1 || recs[0].Status != metering.StatusExpired || recs[0].Quantity != 4 || !recs[0].Hour.Equal(hour) ||
					!strings.Contains(recs[0].Reason, "not sent before") || recs[0].FirstSentAt != nil {
					t.Fatalf("outcome ledger: %+v", recs)
				}
				if worked, err := svc.SendOne(ctx); worked || err != nil {
					t.Fatalf("an expired record was sent: %v %v", worked, err)
				}
				if got := e.emu(t, func(m world.MeteringRecord) bool { return m.LicenseArn == arn }); len(got) != 0 {
					t.Fatalf("AWS received %+v", got)
				}
				rep := e.report(t, "gaps=true&license="+url.QueryEscape(arn))
				if len(rep.Rows) != 1 || !strings.Contains(rep.Rows[0].Gap, "4 not billed: not sent within AWS's window") {
					t.Fatalf("gap report: %+v", rep)
				}
				if a := e.hooks.wait(t, webhook.MeteringExpired, arn); a.Outcome != metering.StatusExpired || a.Quantity != 4 {
					t.Fatalf("metering.expired webhook: %+v", a)
				}
			})
		})
	}
}

// moEnv is a running Concord with its sandbox emulator and a webhook receiver.
type moEnv struct {
	b     *bundle
	w     *world.World
	hooks *moHooks
}

func moStart(t *testing.T, dialect string, cfg app.Config) *moEnv {
	t.Helper()
	cfg.AllowPrivateTargets = true // the webhook receiver is on loopback
	b := setup(t, dialect, cfg)
	e := &moEnv{b: b, w: b.app.Emulator.World}
	e.hooks = moNewHooks(t, e)
	return e
}

// product lists a usage product in the emulator with emuDims and configures
// it in Concord with concordDims (emuDims when nil); a dimension named "seats"
// is a contract dimension. It returns the product code.
func (e *moEnv) product(t *testing.T, id string, concurrent bool, emuDims, concordDims []string, zero string) string {
	t.Helper()
	code := strings.TrimPrefix(id, "prod-") + "-code"
	kind := func(k string) string {
		if k == "seats" {
			return "contract"
		}
		return "usage"
	}
	var dims []world.Dimension
	for _, k := range emuDims {
		dims = append(dims, world.Dimension{Key: k, Kind: kind(k), Price: "0.01"})
	}
	err := e.w.Do(func(s *world.State) error {
		_, err := s.CreateProduct(world.Product{ProductID: id, ProductCode: code, Type: world.ProductSaaSUsage, ConcurrentAgreements: concurrent, Dimensions: dims})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if concordDims == nil {
		concordDims = emuDims
	}
	var cd []marketplace.Dimension
	for _, k := range concordDims {
		cd = append(cd, marketplace.Dimension{Key: k, Kind: kind(k)})
	}
	if zero != "" {
		// PUT /v1/products does not take zeroUsageDimension (yet): configure
		// the product through the ledger.
		if _, err := e.b.app.Ledger.PutProduct(context.Background(), marketplace.Product{ProductID: id, ProductCode: code, Type: "saas_usage",
			ConcurrentAgreements: concurrent, Dimensions: cd, ZeroUsageDimension: zero}); err != nil {
			t.Fatal(err)
		}
		return code
	}
	body, _ := json.Marshal(map[string]any{"productCode": code, "type": "saas_usage", "concurrentAgreements": concurrent, "dimensions": cd})
	if status, out := e.b.do(t, "PUT", "/v1/products/"+id, e.b.key, body); status != 200 {
		t.Fatalf("configure product: %d %s", status, out)
	}
	return code
}

// accept has account accept the product's public offer and waits for the
// license to be active in Concord.
func (e *moEnv) accept(t *testing.T, account, productID string) (agreementID, licenseArn string) {
	t.Helper()
	err := e.w.Do(func(s *world.State) error {
		if _, err := s.CreateBuyer(account); err != nil {
			return err
		}
		a, err := s.Accept(account, s.Products[productID].PublicOfferID, world.AcceptOptions{})
		if err == nil {
			agreementID, licenseArn = a.ID, a.LicenseArn
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "license "+licenseArn+" to be active", func() bool { return e.licenseState(t, licenseArn) == marketplace.LicenseActive })
	return agreementID, licenseArn
}

func (e *moEnv) licenseState(t *testing.T, arn string) string {
	t.Helper()
	_, out := e.b.do(t, "GET", "/v1/licenses/"+url.PathEscape(arn), e.b.key, nil)
	var l struct {
		State string `json:"state"`
	}
	json.Unmarshal(out, &l)
	return l.State
}

// alignHour moves the clock to five past the next hour and returns that hour,
// so a scenario has most of an hour before the clock turns on its own.
func (e *moEnv) alignHour(t *testing.T) time.Time {
	t.Helper()
	now := e.w.Now()
	hour := now.Truncate(time.Hour).Add(time.Hour)
	if err := e.w.Advance(hour.Add(5 * time.Minute).Sub(now)); err != nil {
		t.Fatal(err)
	}
	return hour
}

// closeHour moves the clock past the end of hour and its grace (10 minutes).
func (e *moEnv) closeHour(t *testing.T, hour time.Time) {
	t.Helper()
	if d := hour.Add(time.Hour + 11*time.Minute).Sub(e.w.Now()); d > 0 {
		if err := e.w.Advance(d); err != nil {
			t.Fatal(err)
		}
	}
	e.b.app.Metering.Wake()
}

func moUse(license, dimension string, quantity any, ts time.Time, key string) map[string]any {
	return map[string]any{"license": license, "dimension": dimension, "quantity": quantity, "timestamp": ts.UTC().Format(time.RFC3339), "idempotencyKey": key}
}

func (e *moEnv) ingest(t *testing.T, recs ...map[string]any) metering.IngestResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"records": recs})
	status, out := e.b.do(t, "POST", "/v1/usage", e.b.key, body)
	var res metering.IngestResult
	if err := json.Unmarshal(out, &res); status != 200 || err != nil {
		t.Fatalf("POST /v1/usage: %d %s", status, out)
	}
	return res
}

// records is the outcome ledger of a license.
func (e *moEnv) records(t *testing.T, license string) []metering.Record {
	t.Helper()
	status, out := e.b.do(t, "GET", "/v1/metering/records?limit=500&license="+url.QueryEscape(license), e.b.key, nil)
	var list struct {
		Items []metering.Record `json:"items"`
	}
	if err := json.Unmarshal(out, &list); status != 200 || err != nil {
		t.Fatalf("GET /v1/metering/records: %d %s", status, out)
	}
	return list.Items
}

// finished waits until the license has n records in the outcome ledger, none
// of them pending, and returns them.
func (e *moEnv) finished(t *testing.T, license string, n int) []metering.Record {
	t.Helper()
	var recs []metering.Record
	eventually(t, fmt.Sprintf("%d finished metering records for %s", n, license), func() bool {
		recs = e.records(t, license)
		for _, r := range recs {
			if r.Status == metering.StatusPending {
				return false
			}
		}
		return len(recs) == n
	})
	return recs
}

type moReport struct {
	Totals struct {
		Ingested, Late, Submitted, Accepted int64
		Gaps                                int
	} `json:"totals"`
	Rows []metering.ReportRow `json:"rows"`
}

func (e *moEnv) report(t *testing.T, query string) moReport {
	t.Helper()
	status, out := e.b.do(t, "GET", "/v1/metering/report?"+query, e.b.key, nil)
	var rep moReport
	if err := json.Unmarshal(out, &rep); status != 200 || err != nil {
		t.Fatalf("GET /v1/metering/report: %d %s", status, out)
	}
	return rep
}

// emu returns copies of the usage records the emulator received that match, oldest first.
func (e *moEnv) emu(t *testing.T, match func(world.MeteringRecord) bool) []world.MeteringRecord {
	t.Helper()
	var out []world.MeteringRecord
	e.w.Read(func(s *world.State) error {
		for _, m := range s.Metering {
			if match(*m) {
				out = append(out, *m)
			}
		}
		return nil
	})
	return out
}

// meter is the official Marketplace Metering client pointed at the emulator.
func (e *moEnv) meter(t *testing.T) *marketplacemetering.Client {
	t.Helper()
	cfg, err := awsmp.Load(context.Background(), awsmp.Config{Endpoint: e.b.app.URL() + "/emulator", Anonymous: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return marketplacemetering.NewFromConfig(cfg)
}

// moHooks receives Concord's metering webhooks.
type moHooks struct {
	mu     sync.Mutex
	secret string
	alerts map[string][]metering.MeteringAlert // by event type
}

func moNewHooks(t *testing.T, e *moEnv) *moHooks {
	h := &moHooks{alerts: map[string][]metering.MeteringAlert{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		// Signed on Concord's clock, which is the emulator's; the tests move
		// it by hours between signing and here.
		if err := webhook.Verify(h.secret, r.Header.Get("Concord-Signature"), body, e.w.Now(), 48*time.Hour); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(400)
			return
		}
		var ev struct {
			Type string                 `json:"type"`
			Data metering.MeteringAlert `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		h.alerts[ev.Type] = append(h.alerts[ev.Type], ev.Data)
	}))
	t.Cleanup(srv.Close)
	status, out := e.b.do(t, "POST", "/v1/webhooks", e.b.key, []byte(`{"url":"`+srv.URL+`/hooks","events":["metering.failed","metering.expired"]}`))
	var ep struct {
		Secret string `json:"secret"`
	}
	if json.Unmarshal(out, &ep); status != 201 || ep.Secret == "" {
		t.Fatalf("create webhook: %d %s", status, out)
	}
	h.mu.Lock()
	h.secret = ep.Secret
	h.mu.Unlock()
	return h
}

// wait returns the first alert of type typ for licenseArn, waiting for it.
func (h *moHooks) wait(t *testing.T, typ, licenseArn string) metering.MeteringAlert {
	t.Helper()
	var got metering.MeteringAlert
	eventually(t, typ+" webhook for "+licenseArn, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, a := range h.alerts[typ] {
			if a.LicenseArn == licenseArn {
				got = a
				return true
			}
		}
		return false
	})
	return got
}
