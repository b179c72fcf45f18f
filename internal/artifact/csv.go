package artifact

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Columns is the CSV header, in its stable order: the artifact's fields
// (repeated on every row of the artifact), then the line's. New columns are
// only ever added at the end.
var Columns = []string{
	"artifact_id", "agreement_id", "version", "created_at", "kind", "order_type", "channel", "intent", "status",
	"buyer_account_id", "buyer_company", "seller_of_record_account_id", "reseller_account_id", "manufacturer_account_id",
	"product_id", "product_code", "product_title",
	"offer_id", "concord_offer_id", "resale_authorization_id", "license_arns",
	"initial_agreement_id", "previous_agreement_id", "lineage",
	"accepted_at", "starts_at", "ends_at", "ended_at", "duration", "auto_renew",
	"terms_known", "currency", "total_contract_value", "tcv_basis", "payment_schedule", "metadata",
	"line", "dimension", "dimension_name", "line_kind", "pricing_term", "quantity", "unit_price", "line_total",
}

// CSV writes artifacts as CSV: the header (Columns), then one row per line of
// each artifact, the artifact's fields repeated on each; an artifact without
// lines (terms not known yet, or none priced) is one row with the line
// columns empty. Amounts are the exact decimals of the artifact; lists are
// joined with ";"; times are RFC 3339 UTC; metadata is a JSON object.
func CSV(w io.Writer, artifacts []BookableArtifact) error {
	cw := newCSVWriter(w)
	if err := cw.header(); err != nil {
		return err
	}
	for _, a := range artifacts {
		if err := cw.artifact(a); err != nil {
			return err
		}
	}
	return cw.flush()
}

type csvWriter struct{ w *csv.Writer }

func newCSVWriter(w io.Writer) *csvWriter { return &csvWriter{w: csv.NewWriter(w)} }

func (c *csvWriter) header() error { return c.w.Write(Columns) }

func (c *csvWriter) flush() error {
	c.w.Flush()
	return c.w.Error()
}

func (c *csvWriter) artifact(a BookableArtifact) error {
	reseller := ""
	if a.Reseller != nil {
		reseller = a.Reseller.AccountID
	}
	autoRenew := ""
	if a.AutoRenew != nil {
		autoRenew = strconv.FormatBool(*a.AutoRenew)
	}
	schedule := make([]string, len(a.PaymentSchedule))
	for i, in := range a.PaymentSchedule {
		schedule[i] = in.ChargeDate.UTC().Format(time.DateOnly) + "=" + in.Amount
	}
	metadata := ""
	if len(a.Metadata) > 0 {
		b, err := json.Marshal(a.Metadata) // keys sorted
		if err != nil {
			return err
		}
		metadata = string(b)
	}
	head := []string{
		a.ID, a.AgreementID, strconv.Itoa(a.Version), stamp(&a.CreatedAt), a.Kind, a.OrderType, a.Channel, a.Intent, a.Status,
		a.Buyer.AccountID, text(a.Buyer.Company), a.SellerOfRecord.AccountID, reseller, a.Manufacturer.AccountID,
		a.Product.ProductID, a.Product.Code, text(a.Product.Title),
		a.OfferID, a.ConcordOfferID, a.ResaleAuthorizationID, strings.Join(a.LicenseArns, ";"),
		a.Lineage.InitialAgreementID, a.Lineage.PreviousAgreementID, strings.Join(a.Lineage.Chain, ";"),
		stamp(a.AcceptedAt), stamp(a.StartsAt), stamp(a.EndsAt), stamp(a.EndedAt), a.Duration, autoRenew,
		strconv.FormatBool(a.TermsKnown), a.Currency, a.TotalContractValue, a.TCVBasis, strings.Join(schedule, ";"), metadata,
	}
	if len(a.Lines) == 0 {
		return c.w.Write(append(head, "", "", "", "", "", "", "", ""))
	}
	for i, l := range a.Lines {
		qty := ""
		if l.Quantity != nil {
			qty = strconv.FormatInt(*l.Quantity, 10)
		}
		row := append(slices.Clone(head), strconv.Itoa(i+1), l.Dimension, text(l.Name), l.Kind, l.Term, qty, l.UnitPrice, l.LineTotal)
		if err := c.w.Write(row); err != nil {
			return err
		}
	}
	return nil
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// text guards a free-text cell (a company, a title, a dimension name) against
// spreadsheet formula injection: a cell starting with =, +, -, @, tab or
// carriage return is prefixed with a single quote, so a spreadsheet shows it
// as text instead of running it.
func text(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
