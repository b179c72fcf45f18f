package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/store"
)

// meteringFilters are the flags report and records share.
type meteringFilters struct {
	license, product, from, to, format string
	limit                              int
}

func (f *meteringFilters) register(fs *flag.FlagSet, limit int) {
	fs.StringVar(&f.license, "license", "", "only this license (LicenseArn or l-… id)")
	fs.StringVar(&f.product, "product", "", "only this product id")
	fs.StringVar(&f.from, "from", "", "only hours at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z)")
	fs.StringVar(&f.to, "to", "", "only hours before this time (RFC 3339)")
	fs.StringVar(&f.format, "format", "table", "output: table, csv or json")
	fs.IntVar(&f.limit, "limit", limit, "print at most this many rows")
}

// times parses --from and --to.
func (f *meteringFilters) times() (from, to time.Time, err error) {
	for _, v := range []struct {
		name, s string
		t       *time.Time
	}{{"--from", f.from, &from}, {"--to", f.to, &to}} {
		if v.s == "" {
			continue
		}
		if *v.t, err = time.Parse(time.RFC3339, v.s); err != nil {
			return from, to, usageError{fmt.Errorf("%s %q is not RFC 3339, e.g. 2026-12-01T00:00:00Z", v.name, v.s)}
		}
	}
	switch f.format {
	case "table", "csv", "json":
	default:
		return from, to, usageError{fmt.Errorf("--format must be table, csv or json, not %q", f.format)}
	}
	if f.limit <= 0 {
		return from, to, usageError{errors.New("--limit must be positive")}
	}
	return from, to, nil
}

// reportTotals sums a report; the JSON output has the shape of GET /v1/metering/report.
func meteringReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("metering report", "Reconcile usage per license, dimension and hour, oldest first: what your app reported\n"+
		"(ingested), what arrived after the hour was submitted (late, never sent), what Concord\n"+
		"submitted and what AWS accepted, with the outcome and, where usage was not billed, why (gap).\n"+
		"Reads the database only; safe while serve runs.", stderr)
	var f meteringFilters
	f.register(fs, 1000)
	gaps := fs.Bool("gaps", false, "only rows with usage that was not billed")
	if err := parse(fs, args); err != nil {
		return err
	}
	from, to, err := f.times()
	if err != nil {
		return err
	}
	if f.limit > 10000 {
		return usageError{errors.New("--limit is at most 10000: narrow the report with --from and --to")}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		rep, err := (&metering.Service{DB: db}).Report(ctx, metering.ReportFilter{License: f.license, ProductID: f.product,
			From: from, To: to, GapsOnly: *gaps, Limit: f.limit})
		if err != nil {
			return err
		}
		if rep.Truncated {
			fmt.Fprintf(stderr, "showing the first %d of %d rows (the totals count them all): narrow the report with --from and --to or raise --limit\n",
				len(rep.Rows), rep.Totals.Rows)
		}
		return printReport(stdout, f.format, rep)
	})
}

func printReport(w io.Writer, format string, rep metering.Report) error {
	rows, tot := rep.Rows, rep.Totals
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"license_id", "license_arn", "account_id", "product_id", "dimension", "hour", "ingested", "usage_records", "late",
			"submitted", "accepted", "status", "metering_record_id", "record_id", "gap", "reason"})
		for _, r := range rows {
			cw.Write([]string{r.LicenseID, r.LicenseArn, r.AccountID, r.ProductID, r.Dimension, r.Hour.UTC().Format(time.RFC3339), i64(r.Ingested),
				i64(r.UsageRecords), i64(r.Late), i64(r.Submitted), i64(r.Accepted), r.Status, r.MeteringRecordID, r.RecordID, r.Gap, r.Reason})
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LICENSE\tDIMENSION\tHOUR\tINGESTED\tLATE\tSUBMITTED\tACCEPTED\tSTATUS\tGAP")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", r.LicenseID, r.Dimension, r.Hour.UTC().Format(time.RFC3339),
			r.Ingested, r.Late, r.Submitted, r.Accepted, r.Status, oneLine(r.Gap))
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t%d\t%d\t%d\t%d\t\t%s, %d with gaps\n", tot.Ingested, tot.Late, tot.Submitted, tot.Accepted, plural(int(tot.Rows), "row"), tot.Gaps)
	return tw.Flush()
}

func meteringRecords(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("metering records", "List the outcome ledger: every record Concord sends (or sent) to BatchMeterUsage, oldest\n"+
		"first, with AWS's MeteringRecordId or the reason it was not billed. Statuses: pending (still\n"+
		"to be sent), success, duplicate, not_subscribed, rejected, expired (see docs/metering.md).\n"+
		"Reads the database only; safe while serve runs.", stderr)
	var f meteringFilters
	f.register(fs, 1000)
	status := fs.String("status", "", "only records with this outcome: pending, success, duplicate, not_subscribed, rejected or expired")
	if err := parse(fs, args); err != nil {
		return err
	}
	from, to, err := f.times()
	if err != nil {
		return err
	}
	if *status != "" && !metering.ValidStatus(*status) {
		return usageError{fmt.Errorf("--status %q is invalid: use pending, success, duplicate, not_subscribed, rejected or expired", *status)}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		svc := &metering.Service{DB: db}
		filter := metering.RecordFilter{Status: *status, License: f.license, ProductID: f.product, From: from, To: to}
		var recs []metering.Record
		for len(recs) < f.limit {
			filter.Limit = min(f.limit-len(recs), 1000)
			page, err := svc.Records(ctx, filter)
			if err != nil {
				return err
			}
			recs = append(recs, page...)
			if len(page) < filter.Limit {
				break
			}
			filter.Cursor = page[len(page)-1].RecordID
		}
		if len(recs) == f.limit {
			fmt.Fprintf(stderr, "showing the first %d records only: narrow the list with --from, --to or --status, or raise --limit\n", f.limit)
		}
		return printRecords(stdout, f.format, recs)
	})
}

func printRecords(w io.Writer, format string, recs []metering.Record) error {
	switch format {
	case "json":
		if recs == nil {
			recs = []metering.Record{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Items []metering.Record `json:"items"`
		}{recs})
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"record_id", "product_id", "product_code", "path", "license_arn", "account_id", "customer_identifier", "dimension", "hour",
			"quantity", "status", "metering_record_id", "reason", "attempts", "created_at", "first_sent_at", "finished_at"})
		for _, r := range recs {
			cw.Write([]string{r.RecordID, r.ProductID, r.ProductCode, r.Path, r.LicenseArn, r.AccountID, r.CustomerIdentifier, r.Dimension,
				r.Hour.UTC().Format(time.RFC3339), i64(r.Quantity), r.Status, r.MeteringRecordID, r.Reason, strconv.Itoa(r.Attempts),
				r.CreatedAt.UTC().Format(time.RFC3339), fmtTime(r.FirstSentAt), fmtTime(r.FinishedAt)})
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tPATH\tCUSTOMER\tDIMENSION\tHOUR\tQUANTITY\tSTATUS\tATTEMPTS\tMETERING RECORD ID / REASON")
	counts := map[string]int{}
	var total int64
	for _, r := range recs {
		cust := r.LicenseArn
		if r.Path == metering.PathLegacy {
			cust = r.ProductCode + "/" + r.CustomerIdentifier
			if r.CustomerIdentifier == "" {
				cust = r.ProductCode + "/" + r.AccountID
			}
		}
		detail := r.MeteringRecordID
		if r.Reason != "" {
			detail = strings.TrimSpace(detail + " " + oneLine(r.Reason))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", r.RecordID, r.Path, cust, r.Dimension, r.Hour.UTC().Format(time.RFC3339),
			r.Quantity, r.Status, r.Attempts, detail)
		counts[r.Status]++
		total += r.Quantity
	}
	var parts []string
	for _, s := range []string{metering.StatusPending, metering.StatusSuccess, metering.StatusDuplicate, metering.StatusNotSubscribed,
		metering.StatusRejected, metering.StatusExpired} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t\t\t%d\t%s\t\t%s\n", total, strings.Join(parts, ", "), plural(len(recs), "record"))
	return tw.Flush()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

func fmtTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// oneLine keeps a table row on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func meteringRetry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("metering retry", "Send metering records again once the cause of their failure is fixed: a product code\n"+
		"or dimension now published in AWS, a buyer's account reinstated. Only rejected and\n"+
		"not_subscribed records qualify (they were never billed), and only while AWS's window\n"+
		"for their hour is open. The running submitter (serve) sends them.", stderr)
	id := fs.String("id", "", "one record id")
	product := fs.String("product", "", "every record of this product with --status")
	status := fs.String("status", metering.StatusRejected, "with --product: rejected or not_subscribed")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*id == "") == (*product == "") {
		return usageError{errors.New("give --id, or --product (with --status)")}
	}
	if *id != "" {
		*status = ""
	}
	return c.withDB(ctx, func(db *store.DB) error {
		n, err := (&metering.Service{DB: db}).Requeue(ctx, *id, *product, *status)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s queued to be sent again\n", plural(n, "record"))
		return nil
	})
}
