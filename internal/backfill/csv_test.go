package backfill_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/backfill"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

const seller = "111122223333"

func arn(account, id string) string { return eventbridge.LicenseArn(account, id) }

func agreement(id, buyer, productID string) eventbridge.Agreement {
	at := time.Now().Add(-time.Hour)
	return eventbridge.Agreement{ID: id, Intent: "NEW", AcceptanceTime: at, StartTime: at, AcceptorAccountID: buyer,
		ProposerAccountID: seller, OfferID: "offer-" + id, ProductID: productID}
}

func ingest(t *testing.T, l *inbox.Ledger, body []byte) {
	t.Helper()
	ev, err := marketplace.ParseEventBridge(body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ingest(context.Background(), inbox.DoorHTTP, ev); err != nil {
		t.Fatal(err)
	}
}

func problemLines(t *testing.T, err error) []int {
	t.Helper()
	var bad *backfill.BadInputError
	if !errors.As(err, &bad) {
		t.Fatalf("err %v, want a *BadInputError", err)
	}
	var out []int
	for _, p := range bad.Problems {
		out = append(out, p.Line)
	}
	return out
}

func TestImportCSV(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := &inbox.Ledger{DB: db, Now: time.Now, Logger: discard()}
		const product, code = "prod-meter", "code-meter"
		if _, err := l.PutProduct(ctx, marketplace.Product{ProductID: product, ProductCode: code, Type: marketplace.ProductSaaSUsage}); err != nil {
			t.Fatal(err)
		}
		known := agreement("agmt-known1", "310000000001", product)
		ingest(t, l, eventbridge.Created(seller, known, time.Now().Add(-time.Hour)))
		csv := "\ufeffNotes,licensearn,AgreementID,CUSTOMERAWSACCOUNTID,CustomerIdentifier\r\n" +
			"first," + arn("310000000001", "l-csv1") + ",agmt-known1,310000000001,cust-A\r\n" +
			",,,,\r\n" +
			"late," + arn("310000000002", "l-csv2") + ",agmt-later2,310000000002,cust-B\r\n" +
			"repeat," + arn("310000000001", "l-csv1") + ",agmt-known1,310000000001,cust-A\r\n"

		t.Run("HappyPath", func(t *testing.T) {
			sum, err := backfill.ImportCSV(ctx, strings.NewReader(csv), backfill.Options{Product: product, Ledger: l})
			if err != nil {
				t.Fatal(err)
			}
			want := backfill.Summary{ProductID: product, ProductCode: code, Rows: 3, Licenses: 2, ImportStats: inbox.ImportStats{Created: 2, Waiting: 1}}
			if sum != want {
				t.Fatalf("summary\n got %+v\nwant %+v", sum, want)
			}
			lic, err := l.GetLicense(ctx, "l-csv1")
			if err != nil || lic.State != marketplace.LicenseActive || lic.AgreementID != "agmt-known1" || lic.CustomerIdentifier != "cust-A" ||
				lic.AccountID != "310000000001" || lic.ProductCode != code {
				t.Fatalf("license of a known agreement: %+v %v", lic, err)
			}
			if _, err := l.GetLicense(ctx, "l-csv2"); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Fatalf("a license of an unknown agreement is in the ledger: %v", err)
			}
			if !strings.Contains(sum.String(), "waiting for agreement: 1") {
				t.Errorf("summary text:\n%s", sum)
			}
		})

		t.Run("SecondRunChangesNothing", func(t *testing.T) {
			sum, err := backfill.ImportCSV(ctx, strings.NewReader(csv), backfill.Options{Product: product, Ledger: l})
			if err != nil || sum.ImportStats != (inbox.ImportStats{Unchanged: 2, Waiting: 1}) {
				t.Fatalf("second run: %+v %v", sum, err)
			}
		})

		t.Run("LicenseFoldsActiveWhenItsAgreementArrives", func(t *testing.T) {
			ingest(t, l, eventbridge.Created(seller, agreement("agmt-later2", "310000000002", product), time.Now()))
			lic, err := l.GetLicense(ctx, "l-csv2")
			if err != nil || lic.State != marketplace.LicenseActive || lic.AgreementID != "agmt-later2" || lic.CustomerIdentifier != "cust-B" {
				t.Fatalf("license after its agreement arrived: %+v %v", lic, err)
			}
		})

		t.Run("BadRowsApplyNothing", func(t *testing.T) {
			bad := "CustomerIdentifier,CustomerAWSAccountId,AgreementId,LicenseArn\n" +
				"cust-C,310000000003,agmt-ok3," + arn("310000000003", "l-csv3") + "\n" + // line 2: good
				",310000000004,agmt-ok4," + arn("310000000004", "l-csv4") + "\n" + // 3: no customer
				"cust-E,3100000005,agmt-ok5," + arn("310000000005", "l-csv5") + "\n" + // 4: short account
				"cust-F,310000000006,agreement-6," + arn("310000000006", "l-csv6") + "\n" + // 5: agreement id
				"cust-G,310000000007,agmt-ok7,arn:aws:s3:::bucket\n" + // 6: not a license
				"cust-H,310000000008,agmt-ok8,not an arn\n" + // 7
				"cust-\x00,310000000009,agmt-ok9," + arn("310000000009", "l-csv9") + "\n" + // 8: NUL
				"cust-J,310000000010,agmt-other," + arn("310000000003", "l-csv3") + "\n" + // 9: conflicting duplicate
				"cust-C,310000000011,agmt-ok11," + arn("310000000011", "l-csv11") + "\n" + // 10: customer on another account
				"cust-K,310000000012\n" // 11: short row
			_, err := backfill.ImportCSV(ctx, strings.NewReader(bad), backfill.Options{Product: product, Ledger: l})
			if got := fmt.Sprint(problemLines(t, err)); got != "[3 4 5 6 7 8 9 10 11]" {
				t.Fatalf("problem lines %s:\n%v", got, err)
			}
			for _, s := range []string{"line 3: CustomerIdentifier is empty", `line 4: CustomerAWSAccountId "3100000005" is not a 12-digit`,
				"line 5: AgreementId", "line 6: LicenseArn", "line 7: LicenseArn \"not an arn\" is not a valid ARN", "line 8: CustomerIdentifier is not valid UTF-8",
				"line 9: license l-csv3 is also on line 2", "line 10: CustomerIdentifier cust-C belongs to account 310000000003 on line 2", "line 11: 2 field(s)"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q:\n%v", s, err)
				}
			}
			if marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Errorf("code %s", marketplace.ErrorCode(err))
			}
			if _, err := l.GetLicense(ctx, "l-csv3"); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Fatalf("the good row of a bad file was applied: %v", err)
			}
		})

		t.Run("RefusesContractProducts", func(t *testing.T) {
			if _, err := l.PutProduct(ctx, marketplace.Product{ProductID: "prod-contract", ProductCode: "code-contract", Type: marketplace.ProductSaaSContract}); err != nil {
				t.Fatal(err)
			}
			_, err := backfill.ImportCSV(ctx, strings.NewReader(csv), backfill.Options{Product: "prod-contract", Ledger: l})
			if marketplace.ErrorCode(err) != marketplace.EInvalid || !strings.Contains(err.Error(), "backfill entitlements") {
				t.Fatalf("contract product: %v", err)
			}
		})
	})
}

func TestParseCSV(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in    string
		rows  int
		lines string // problem lines
		msg   string
	}{
		"HeaderOnly":        {in: "CustomerIdentifier,CustomerAWSAccountId,AgreementId,LicenseArn\n"},
		"Empty":             {in: "", lines: "[0]", msg: "it is empty"},
		"MissingColumn":     {in: "CustomerIdentifier,AgreementId,LicenseArn\n", lines: "[1]", msg: "lacks column(s) CustomerAWSAccountId"},
		"DuplicateColumn":   {in: "CustomerIdentifier,customeridentifier,CustomerAWSAccountId,AgreementId,LicenseArn\n", lines: "[1]", msg: "twice"},
		"QuotedAndTrimmed":  {in: "CustomerIdentifier,CustomerAWSAccountId,AgreementId,LicenseArn\n\"c, 1\", 310000000001 ,agmt-1,\"" + arn("310000000001", "l-1") + "\"\n", rows: 1},
		"MalformedStops":    {in: "CustomerIdentifier,CustomerAWSAccountId,AgreementId,LicenseArn\nc\"x,310000000001,agmt-1,a\nc,1,a,b\n", lines: "[2]", msg: "malformed CSV"},
		"MultilineLineNums": {in: "CustomerIdentifier,CustomerAWSAccountId,AgreementId,LicenseArn\n\"c\n1\",310000000001,agmt-1," + arn("310000000001", "l-1") + "\nc2,1,agmt-2," + arn("310000000001", "l-2") + "\n", lines: "[4]", msg: "line 4: CustomerAWSAccountId"},
		"LongResource":      {in: "CustomerIdentifier,CustomerAWSAccountId,AgreementId,LicenseArn\nc,310000000001,agmt-1,arn:aws:license-manager::1:license/" + strings.Repeat("a", 1020) + "/l-1\n", lines: "[2]", msg: "not a valid ARN"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rows, _, err := backfill.ParseCSV(strings.NewReader(tc.in))
			if tc.lines == "" {
				if err != nil || len(rows) != tc.rows {
					t.Fatalf("rows %v err %v", rows, err)
				}
				return
			}
			if got := fmt.Sprint(problemLines(t, err)); got != tc.lines || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("lines %s, err %v", got, err)
			}
		})
	}
}

func FuzzParseCSV(f *testing.F) {
	header := "CustomerIdentifier,CustomerAWSAccountId,AgreementId,LicenseArn\n"
	f.Add(header + "c1,310000000001,agmt-1," + arn("310000000001", "l-1") + "\n")
	f.Add("\ufefflicensearn,x,agreementid,customerawsaccountid,customeridentifier\n" + arn("310000000001", "l-1") + ",,agmt-1,310000000001,c\n")
	f.Add(header + "\"c\n\",310000000001,agmt-1," + arn("310000000001", "l-1") + "\n\"unterminated")
	f.Add(header + "c,310000000001,agmt-1," + arn("310000000001", "l-1") + "\nd,310000000001,agmt-1," + arn("310000000001", "l-1") + "\n")
	f.Add(header + "\xff,\x00,,\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, read, err := backfill.ParseCSV(strings.NewReader(in))
		if err != nil {
			var bad *backfill.BadInputError
			if !errors.As(err, &bad) || len(bad.Problems) == 0 || marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Fatalf("err %v is not a list of problems", err)
			}
			if rows != nil {
				t.Fatal("rows returned with an error")
			}
			return
		}
		if read < len(rows) {
			t.Fatalf("read %d rows, returned %d", read, len(rows))
		}
		seen := map[string]bool{}
		for _, r := range rows {
			id := marketplace.LicenseID(r.LicenseArn)
			if seen[id] || r.CustomerIdentifier == "" || !marketplace.ValidAccountID(r.AccountID) || !strings.HasPrefix(r.AgreementID, "agmt-") ||
				!strings.HasPrefix(id, "l-") || !marketplace.Storable(r.CustomerIdentifier+r.LicenseArn+r.AgreementID) || r.Line < 2 {
				t.Fatalf("accepted a bad row %+v", r)
			}
			seen[id] = true
		}
	})
}
