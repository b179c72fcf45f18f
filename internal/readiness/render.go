package readiness

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// CSVHeader is the first row of WriteCSV: what AWS asks for, one row per
// license of a test agreement.
var CSVHeader = []string{"product_id", "account_id", "agreement_id", "license_arn", "metering_tested"}

// WriteCSV writes the test transactions as CSV, ready to attach to the
// support case: one row per LicenseArn (an agreement without one yet gets a
// row with the LicenseArn empty), metering_tested yes or no.
func WriteCSV(w io.Writer, r Readiness) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, acc := range r.Accounts {
		for _, a := range acc.Agreements {
			if len(a.Licenses) == 0 {
				cw.Write([]string{r.ProductID, acc.AccountID, a.AgreementID, "", "no"})
			}
			for _, l := range a.Licenses {
				cw.Write([]string{r.ProductID, acc.AccountID, a.AgreementID, l.LicenseArn, yesNo(l.MeteringTested)})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteText writes the report for a person: the test transactions, the
// checks, the integration checklist, and the text to send AWS once ready.
func WriteText(w io.Writer, r Readiness) error {
	title := r.ProductID
	if r.ProductCode != "" {
		title += " (" + r.ProductCode + ")"
	}
	if r.Title != "" {
		title += " " + r.Title
	}
	fmt.Fprintf(w, "Concurrent Agreements readiness of %s, %s\n", title, r.GeneratedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "Metering checks: %s (%s)\n\n", map[bool]string{true: "apply", false: "do not apply"}[r.Metered], r.MeteredWhy)

	fmt.Fprintln(w, "TEST TRANSACTIONS")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tAGREEMENT\tSTATUS\tOFFER\tACCEPTED\t$0\tLICENSE ARN\tLICENSE\tENTITLEMENTS\tTENANT\tMETERING TESTED")
	rows := 0
	for _, acc := range r.Accounts {
		if len(acc.Agreements) == 0 {
			fmt.Fprintf(tw, "%s\t(none)\t\t\t\t\t\t\t\t\t\n", acc.AccountID)
			rows++
		}
		for _, a := range acc.Agreements {
			offer := a.OfferID
			accepted := ""
			if a.AcceptedAt != nil {
				accepted = a.AcceptedAt.UTC().Format(time.RFC3339)
			}
			lics := a.Licenses
			if len(lics) == 0 {
				lics = []TestLicense{{}}
			}
			for _, l := range lics {
				ent, tenant, meter := "-", "-", "no"
				switch {
				case l.EntitlementsFetched:
					ent = "fetched"
				case l.EntitlementsError != "":
					ent = "failing"
				}
				if l.Registered {
					tenant = l.TenantID
				}
				if l.MeteringTested {
					meter = fmt.Sprintf("yes (%s, %d units)", plural(l.MeteredRecords, "record"), l.MeteredUnits)
				} else if l.LegacyRecords > 0 {
					meter = "no (legacy path only)"
				}
				arn, state := l.LicenseArn, l.State
				if arn == "" {
					arn, state, meter = "(none yet)", "-", "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", acc.AccountID, a.AgreementID, a.Status, offer, accepted,
					a.ZeroDollar, arn, state, ent, tenant, meter)
				rows++
			}
		}
	}
	if rows == 0 {
		fmt.Fprintln(tw, "(no test accounts)\t\t\t\t\t\t\t\t\t\t")
	}
	tw.Flush()

	fmt.Fprintln(w, "\nCHECKS")
	for _, c := range r.Checks {
		label := map[string]string{Pass: "PASS", Fail: "FAIL", NotApplicable: "N/A "}[c.Status]
		fmt.Fprintf(w, "%s  %s (%s): %s\n", label, c.Title, c.Source, oneLine(c.Message))
	}

	fmt.Fprintln(w, "\nINTEGRATION CHECKLIST (AWS's Concurrent Agreements migration guide)")
	for _, s := range r.Checklist {
		label := map[string]string{Done: "done", NotYet: "not yet", NotApply: "n/a"}[s.Status]
		fmt.Fprintf(w, "%2d. %-8s %s\n", s.N, label, s.Title)
		for _, e := range s.Evidence {
			fmt.Fprintf(w, "    %8s - %s\n", "", oneLine(e))
		}
	}

	if r.Ready {
		fmt.Fprintln(w, "\nREADY. Send this to AWS: AWS Marketplace Management Portal > Contact Us > Commercial Marketplace >")
		fmt.Fprintln(w, "Product Configuration / Integration > Concurrent Agreement Opt-in:")
		fmt.Fprintln(w)
		for _, line := range strings.Split(strings.TrimRight(r.Submission, "\n"), "\n") {
			if line != "" {
				line = "  " + line
			}
			fmt.Fprintln(w, line)
		}
		return nil
	}
	_, err := fmt.Fprintf(w, "\nNOT READY: %s.\n", strings.TrimPrefix(r.Summary, "not ready: "))
	return err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// oneLine keeps a message on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
