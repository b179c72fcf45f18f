package artifact_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

const header = "artifact_id,agreement_id,version,created_at,kind,order_type,channel,intent,status," +
	"buyer_account_id,buyer_company,seller_of_record_account_id,reseller_account_id,manufacturer_account_id," +
	"product_id,product_code,product_title,offer_id,concord_offer_id,resale_authorization_id,license_arns," +
	"initial_agreement_id,previous_agreement_id,lineage,accepted_at,starts_at,ends_at,ended_at,duration,auto_renew," +
	"terms_known,currency,total_contract_value,tcv_basis,payment_schedule,metadata," +
	"line,dimension,dimension_name,line_kind,pricing_term,quantity,unit_price,line_total\n"

// The rows of the export test's artifacts, {tokens} replaced by the ids the
// test recorded.
const (
	directV1 = "{direct1},agmt-direct1,1,2026-11-02T15:02:00Z,new,private,direct,NEW,,444455556666,Initech,111122223333,,111122223333," +
		"prod-acme,acmecode123,Acme Analytics,offer-direct1,{offer},,arn:aws:license-manager::444455556666:license:l-agmt-direct1," +
		"agmt-direct1,,agmt-direct1,2026-11-02T15:00:00Z,2026-11-02T15:00:00Z,2027-11-02T14:59:59Z,,,," +
		`false,,,none,,"{""AWS Account Number"":""444455556666"",""Salesforce Opportunity"":""006XYZ""}",,,,,,,,` + "\n"
	directV2 = "{direct2},agmt-direct1,2,2026-11-02T15:04:00Z,new,private,direct,NEW,,444455556666,Initech,111122223333,,111122223333," +
		"prod-acme,acmecode123,Acme Analytics,offer-direct1,{offer},,arn:aws:license-manager::444455556666:license:l-agmt-direct1," +
		"agmt-direct1,,agmt-direct1,2026-11-02T15:00:00Z,2026-11-02T15:00:00Z,2027-11-02T14:59:59Z,,P12M,false," +
		`true,USD,12000.00,payment_schedule,2026-11-02=6000.00;2027-05-02=6000.00,"{""AWS Account Number"":""444455556666"",""Salesforce Opportunity"":""006XYZ""}",` +
		"1,seats,Seats,contract,ConfigurableUpfrontPricingTerm,10,1200.00,12000.00\n" +
		"{direct2},agmt-direct1,2,2026-11-02T15:04:00Z,new,private,direct,NEW,,444455556666,Initech,111122223333,,111122223333," +
		"prod-acme,acmecode123,Acme Analytics,offer-direct1,{offer},,arn:aws:license-manager::444455556666:license:l-agmt-direct1," +
		"agmt-direct1,,agmt-direct1,2026-11-02T15:00:00Z,2026-11-02T15:00:00Z,2027-11-02T14:59:59Z,,P12M,false," +
		`true,USD,12000.00,payment_schedule,2026-11-02=6000.00;2027-05-02=6000.00,"{""AWS Account Number"":""444455556666"",""Salesforce Opportunity"":""006XYZ""}",` +
		"2,api_calls,API calls,usage,UsageBasedPricingTerm,,0.002,\n"
	publicV1 = "{public1},agmt-public1,1,2026-11-03T09:00:00Z,new,unknown,direct,NEW,,444455556666,Globex,111122223333,,111122223333," +
		"prod-acme,acmecode123,Acme Analytics,offer-public1,,,arn:aws:license-manager::444455556666:license:l-agmt-public1," +
		"agmt-public1,,agmt-public1,2026-11-03T08:00:00Z,2026-11-03T08:00:00Z,2027-11-03T07:59:59Z,,P12M,false," +
		"true,USD,200.00,contract_lines,,,1,seats,Seats,contract,ConfigurableUpfrontPricingTerm,5,40.00,200.00\n" +
		"{public1},agmt-public1,1,2026-11-03T09:00:00Z,new,unknown,direct,NEW,,444455556666,Globex,111122223333,,111122223333," +
		"prod-acme,acmecode123,Acme Analytics,offer-public1,,,arn:aws:license-manager::444455556666:license:l-agmt-public1," +
		"agmt-public1,,agmt-public1,2026-11-03T08:00:00Z,2026-11-03T08:00:00Z,2027-11-03T07:59:59Z,,P12M,false," +
		"true,USD,200.00,contract_lines,,,2,api_calls,API calls,usage,UsageBasedPricingTerm,,0.002,\n"
	cancelled = "{public2},agmt-public1,2,2026-12-01T10:01:00Z,cancellation,unknown,direct,NEW,CANCELLED,444455556666,Globex,111122223333,,111122223333," +
		"prod-acme,acmecode123,Acme Analytics,offer-public1,,,arn:aws:license-manager::444455556666:license:l-agmt-public1," +
		"agmt-public1,,agmt-public1,2026-11-03T08:00:00Z,2026-11-03T08:00:00Z,2027-11-03T07:59:59Z,2026-12-01T10:00:00Z,P12M,false," +
		"true,USD,200.00,contract_lines,,,1,seats,Seats,contract,ConfigurableUpfrontPricingTerm,5,40.00,200.00\n" +
		"{public2},agmt-public1,2,2026-12-01T10:01:00Z,cancellation,unknown,direct,NEW,CANCELLED,444455556666,Globex,111122223333,,111122223333," +
		"prod-acme,acmecode123,Acme Analytics,offer-public1,,,arn:aws:license-manager::444455556666:license:l-agmt-public1," +
		"agmt-public1,,agmt-public1,2026-11-03T08:00:00Z,2026-11-03T08:00:00Z,2027-11-03T07:59:59Z,2026-12-01T10:00:00Z,P12M,false," +
		"true,USD,200.00,contract_lines,,,2,api_calls,API calls,usage,UsageBasedPricingTerm,,0.002,\n"
)

// exportLedger records the export test's artifacts: a direct private order
// (version 1 before its terms, version 2 with them) on 2 November, a public
// order on 3 November, and its cancellation on 1 December. It returns the
// replacements of the rows' {tokens}.
func exportLedger(t *testing.T, db *store.DB) *strings.Replacer {
	f := setup(t, db)
	d := f.associate("offer-direct1", directForm())
	direct := agreement("agmt-direct1", "NEW", "offer-direct1", t0)
	f.buy(direct)
	d1, _ := f.record(direct.ID, t0.Add(2*time.Minute))
	f.enrich(direct.ID, contractTerms(10, "1200.00",
		marketplace.Installment{ChargeDate: t0, Amount: "6000.00"}, marketplace.Installment{ChargeDate: t0.AddDate(0, 6, 0), Amount: "6000.00"}))
	d2, _ := f.record(direct.ID, t0.Add(4*time.Minute))

	public := agreement("agmt-public1", "NEW", "offer-public1", time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC))
	f.buy(public)
	registerTenant(t, db, "tnt_globex", "Globex", "l-"+public.ID)
	f.enrich(public.ID, contractTerms(5, "40.00"))
	p1, _ := f.record(public.ID, time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC))
	f.ingest(eventbridge.Ended(seller, public, marketplace.StatusCancelled, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)))
	p2, created := f.record(public.ID, time.Date(2026, 12, 1, 10, 1, 0, 0, time.UTC))
	if !created || p2.Kind != artifact.KindCancellation {
		t.Fatalf("cancellation: created=%v kind %s", created, p2.Kind)
	}
	return strings.NewReplacer("{direct1}", d1.ID, "{direct2}", d2.ID, "{public1}", p1.ID, "{public2}", p2.ID, "{offer}", d.ID)
}

// The export is every version created in [from, to), one row per line, on
// both databases.
func TestExport(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ids := exportLedger(t, db)
		for _, tc := range []struct {
			name, from, to, kind string
			want                 string
		}{
			{"November", "2026-11-01", "2026-12-01", "", header + directV1 + directV2 + publicV1},
			{"to is exclusive, from inclusive", "2026-11-02", "2026-11-03", "", header + directV1 + directV2},
			{"the whole quarter", "2026-10-01", "2027-01-01", "", header + directV1 + directV2 + publicV1 + cancelled},
			{"cancellations only", "2026-10-01", "2027-01-01", "cancellation", header + cancelled},
			{"new orders only", "2026-10-01", "2027-01-01", "new", header + directV1 + directV2 + publicV1},
			{"a kind with nothing", "2026-10-01", "2027-01-01", "renewal", header},
			{"an empty period", "2027-01-01", "2027-02-01", "", header},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, err := artifact.ParseExportParams(tc.from, tc.to, tc.kind)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				if err := artifact.Export(context.Background(), db, &b, p.From, p.To, p.Kind); err != nil {
					t.Fatal(err)
				}
				want := ids.Replace(tc.want)
				if b.String() != want {
					t.Fatalf("export\n got:\n%s\nwant:\n%s", b.String(), want)
				}
			})
		}
		t.Run("CSV of the versions of one agreement is the same rows", func(t *testing.T) {
			all, err := artifact.List(context.Background(), db, "agmt-direct1")
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := artifact.CSV(&b, all); err != nil {
				t.Fatal(err)
			}
			if want := ids.Replace(header + directV1 + directV2); b.String() != want {
				t.Fatalf("CSV\n got:\n%s\nwant:\n%s", b.String(), want)
			}
		})
		t.Run("a bad kind or period is refused", func(t *testing.T) {
			var b bytes.Buffer
			from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			if err := artifact.Export(context.Background(), db, &b, from, from.AddDate(0, 1, 0), "gift"); marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Fatalf("bad kind: %v", err)
			}
			if err := artifact.Export(context.Background(), db, &b, from, from, ""); marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Fatalf("empty period: %v", err)
			}
			if b.Len() != 0 {
				t.Fatalf("wrote %q", b.String())
			}
		})
	})
}

func TestParseExportParams(t *testing.T) {
	t.Parallel()
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	for _, tc := range []struct {
		from, to, kind string
		want           artifact.ExportParams
		err            string
	}{
		{from: "2026-11-01", to: "2026-12-01", want: artifact.ExportParams{From: day("2026-11-01"), To: day("2026-12-01")}},
		{from: " 2026-01-01 ", to: "2027-01-01", kind: "partner_order", want: artifact.ExportParams{From: day("2026-01-01"), To: day("2027-01-01"), Kind: "partner_order"}},
		{from: "2028-02-29", to: "2029-02-28", want: artifact.ExportParams{From: day("2028-02-29"), To: day("2029-02-28")}},
		{from: "", to: "2026-12-01", err: "from is required: a date, YYYY-MM-DD (UTC)"},
		{from: "2026-11-01", to: "", err: "to is required"},
		{from: "2026-13-01", to: "2026-12-01", err: `from "2026-13-01" is not a date: use YYYY-MM-DD (UTC), e.g. 2026-11-01`},
		{from: "2026-11-01T00:00:00Z", to: "2026-12-01", err: "is not a date"},
		{from: "01/11/2026", to: "2026-12-01", err: "is not a date"},
		{from: "2026-11-01", to: "2026-11-01", err: "to (2026-11-01) must be after from (2026-11-01): to is exclusive"},
		{from: "2026-12-01", to: "2026-11-01", err: "must be after from"},
		{from: "2026-01-01", to: "2027-01-02", err: "the period from 2026-01-01 to 2027-01-02 is longer than a year"},
		{from: "2026-11-01", to: "2026-12-01", kind: "gift", err: `kind "gift" is invalid: use cancellation, refund, amendment, renewal, partner_order, new`},
		{from: "2026-11-01", to: "2026-12-01", kind: "NEW", err: "is invalid"},
	} {
		got, err := artifact.ParseExportParams(tc.from, tc.to, tc.kind)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q %q %q: %v", tc.from, tc.to, tc.kind, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("%q %q %q: got %+v", tc.from, tc.to, tc.kind, got)
		case tc.err != "" && (marketplace.ErrorCode(err) != marketplace.EInvalid || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q %q %q: got %v, want an invalid error with %q", tc.from, tc.to, tc.kind, err, tc.err)
		}
	}
}

// FuzzArtifactExportParams feeds the export's query parameters anything: no
// panic, an error is always an invalid error with a message, and a period
// accepted is one to four hundred days of whole UTC days.
func FuzzArtifactExportParams(f *testing.F) {
	f.Add("2026-11-01", "2026-12-01", "")
	f.Add("2026-11-01", "2027-11-01", "cancellation")
	f.Add("2026-02-30", "2026-03-01", "new")
	f.Add("", "", "renewal")
	f.Add("9999-12-31", "10000-01-01", "x")
	f.Add("2026-11-01\x00", "2026-12-01", "new\n")
	f.Fuzz(func(t *testing.T, from, to, kind string) {
		p, err := artifact.ParseExportParams(from, to, kind)
		if err != nil {
			if marketplace.ErrorCode(err) != marketplace.EInvalid || marketplace.ErrorMessage(err) == "" {
				t.Fatalf("%q %q %q: %v is not an invalid error with a message", from, to, kind, err)
			}
			return
		}
		if !p.To.After(p.From) || p.To.After(p.From.AddDate(1, 0, 0)) {
			t.Fatalf("%q %q: period %v .. %v", from, to, p.From, p.To)
		}
		for _, d := range []time.Time{p.From, p.To} {
			if d.Location() != time.UTC || !d.Equal(d.Truncate(24*time.Hour)) {
				t.Fatalf("%v is not a UTC day", d)
			}
		}
		if p.Kind != "" && !artifact.ValidKind(p.Kind) {
			t.Fatalf("kind %q accepted", p.Kind)
		}
		if p.From.Format(time.DateOnly) != strings.TrimSpace(from) || p.To.Format(time.DateOnly) != strings.TrimSpace(to) {
			t.Fatalf("%q %q read as %v %v", from, to, p.From, p.To)
		}
	})
}
