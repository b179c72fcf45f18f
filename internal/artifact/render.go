package artifact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/concordmp/concord/internal/money"
)

// Content types of the renderings.
const (
	ContentTypeJSON = "application/json"
	ContentTypeCSV  = "text/csv; charset=utf-8"
	ContentTypePDF  = "application/pdf"
)

// File is one rendering of an artifact, to attach to an email. Its fields
// are those of notify.Attachment, so notify.Attachment(f) converts it.
type File struct {
	Name        string
	ContentType string
	Data        []byte
}

// JSON renders the artifact as indented JSON, the shape the API answers.
func JSON(a BookableArtifact) ([]byte, error) {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render artifact %s as JSON: %w", a.ID, err)
	}
	return append(b, '\n'), nil
}

// FileName is the name of the artifact's rendering with extension ext (pdf,
// csv or json): artifact-<agreement id>-v<version>.<ext>, with anything
// unsafe in a file name replaced.
func FileName(a BookableArtifact, ext string) string {
	return "artifact-" + unsafeName.ReplaceAllString(a.AgreementID, "_") + "-v" + strconv.Itoa(a.Version) + "." + ext
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// Files renders the artifact as PDF, CSV and JSON, in that order, for the
// order email.
func Files(a BookableArtifact) ([]File, error) {
	pdf, err := PDF(a)
	if err != nil {
		return nil, err
	}
	var csv bytes.Buffer
	if err := CSV(&csv, []BookableArtifact{a}); err != nil {
		return nil, fmt.Errorf("render artifact %s as CSV: %w", a.ID, err)
	}
	js, err := JSON(a)
	if err != nil {
		return nil, err
	}
	return []File{
		{Name: FileName(a, "pdf"), ContentType: ContentTypePDF, Data: pdf},
		{Name: FileName(a, "csv"), ContentType: ContentTypeCSV, Data: csv.Bytes()},
		{Name: FileName(a, "json"), ContentType: ContentTypeJSON, Data: js},
	}, nil
}

// KindTitle is how a kind reads in a heading.
func KindTitle(kind string) string {
	switch kind {
	case KindNew:
		return "New order"
	case KindAmendment:
		return "Amendment"
	case KindRenewal:
		return "Renewal"
	case KindPartnerOrder:
		return "Partner order"
	case KindCancellation:
		return "Cancellation"
	case KindRefund:
		return "Refund"
	}
	return kind
}

var tcvBasisText = map[string]string{
	TCVPaymentSchedule: "the sum of the payment schedule",
	TCVContractLines:   "the sum of the contract lines",
	TCVEstimatedValue:  "AWS's estimated agreement value",
	TCVNone:            "no value known",
}

// Layout of the PDF: US Letter in points, 0.75 in margins.
const (
	pageW   = 612.0
	pageH   = 792.0
	margin  = 54.0
	bodyW   = pageW - 2*margin
	keyW    = 132.0
	rowH    = 13.0
	footerH = 24.0
)

// PDF renders the artifact as a document finance can file: the parties, the
// ids, the dates, a table of the lines, the total contract value, the payment
// schedule and the contract metadata. It fits one or two pages unless the
// artifact has very many lines. Text is set in the PDF core fonts, so
// characters outside Windows-1252 show as '?'.
func PDF(a BookableArtifact) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("render artifact %s as PDF: the PDF library failed: %v", a.ID, r)
		}
	}()
	pdf := fpdf.NewCustom(&fpdf.InitType{OrientationStr: "P", UnitStr: "pt", SizeStr: "Letter"})
	tr := translator(pdf)
	title := "Bookable artifact: " + KindTitle(a.Kind)
	pdf.SetTitle(title+" "+a.AgreementID, true)
	pdf.SetSubject("Agreement "+a.AgreementID+" version "+strconv.Itoa(a.Version), true)
	pdf.SetCreator("Concord", false)
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, margin+footerH)
	// The alias holds a control character, which translated text never does,
	// so no text is mistaken for it.
	const total = "\x1fnb\x1f"
	pdf.AliasNbPages(total)
	pdf.SetFooterFunc(func() {
		pdf.SetY(pageH - margin)
		pdf.SetFont("Helvetica", "", 7)
		pdf.SetTextColor(110, 110, 110)
		hash := a.ContentHash
		if len(hash) > 16 {
			hash = hash[:16] + "..."
		}
		left := tr(fmt.Sprintf("Concord %s, version %d, content SHA-256 %s", a.ID, a.Version, hash))
		label := fmt.Sprintf("Page %d of %s", pdf.PageNo(), total)
		pdf.CellFormat(bodyW-60, 10, clip(pdf, left, bodyW-66), "", 0, "L", false, 0, "")
		pdf.CellFormat(60, 10, label, "", 0, "R", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
	})
	pdf.AddPage()

	pdf.SetFont("Helvetica", "B", 16)
	pdf.CellFormat(bodyW, 20, tr(title), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	pdf.SetTextColor(70, 70, 70)
	sub := fmt.Sprintf("Agreement %s, version %d, recorded %s", a.AgreementID, a.Version, day(&a.CreatedAt, true))
	pdf.MultiCell(bodyW, 14, tr(sub), "", "L", false)
	pdf.SetTextColor(0, 0, 0)
	if !a.TermsKnown {
		pdf.Ln(4)
		pdf.SetFillColor(255, 243, 205)
		pdf.SetFont("Helvetica", "", 9)
		pdf.MultiCell(bodyW, 13, tr("The agreement's terms have not been fetched from AWS yet: its lines, total contract value and payment "+
			"schedule will be in the next version of this artifact."), "", "L", true)
	}

	section(pdf, tr, "Parties")
	kv(pdf, tr, "Buyer", party(a.Buyer))
	kv(pdf, tr, "Seller of record", party(a.SellerOfRecord))
	if a.Reseller != nil {
		kv(pdf, tr, "Reseller (channel partner)", party(*a.Reseller))
	}
	kv(pdf, tr, "Manufacturer", party(a.Manufacturer))

	section(pdf, tr, "Order")
	kv(pdf, tr, "Kind", KindTitle(a.Kind))
	kv(pdf, tr, "Order type", a.OrderType+", "+a.Channel)
	kv(pdf, tr, "Intent", a.Intent)
	kv(pdf, tr, "Status", a.Status)
	product := a.Product.Title
	var ids []string
	for _, s := range []string{a.Product.ProductID, a.Product.Code} {
		if s != "" {
			ids = append(ids, s)
		}
	}
	if len(ids) > 0 {
		if product != "" {
			product += " (" + strings.Join(ids, ", ") + ")"
		} else {
			product = strings.Join(ids, ", ")
		}
	}
	kv(pdf, tr, "Product", product)
	kv(pdf, tr, "Agreement", a.AgreementID)
	kv(pdf, tr, "AWS offer", a.OfferID)
	kv(pdf, tr, "Concord offer", a.ConcordOfferID)
	kv(pdf, tr, "Resale authorization", a.ResaleAuthorizationID)
	kv(pdf, tr, "LicenseArn", strings.Join(a.LicenseArns, "\n"))
	kv(pdf, tr, "Initial agreement", a.Lineage.InitialAgreementID)
	kv(pdf, tr, "Previous agreement", a.Lineage.PreviousAgreementID)
	if len(a.Lineage.Chain) > 1 {
		kv(pdf, tr, "Lineage", strings.Join(a.Lineage.Chain, " > "))
	}

	section(pdf, tr, "Dates")
	kv(pdf, tr, "Accepted", day(a.AcceptedAt, true))
	kv(pdf, tr, "Starts", day(a.StartsAt, true))
	kv(pdf, tr, "Ends", day(a.EndsAt, true))
	kv(pdf, tr, "Ended", day(a.EndedAt, true))
	kv(pdf, tr, "Duration", a.Duration)
	if a.AutoRenew != nil {
		kv(pdf, tr, "Auto-renewal", map[bool]string{true: "on", false: "off"}[*a.AutoRenew])
	}

	if a.TermsKnown {
		section(pdf, tr, "Lines")
		if len(a.Lines) == 0 {
			note(pdf, tr, "The accepted terms price no dimension.")
		} else {
			cur := ""
			if a.Currency != "" {
				cur = " (" + a.Currency + ")"
			}
			cols := []column{{"Dimension", 170, "L"}, {"Kind", 66, "L"}, {"Quantity", 60, "R"}, {"Unit price" + cur, 104, "R"}, {"Line total" + cur, 104, "R"}}
			tableHeader(pdf, tr, cols)
			for _, l := range a.Lines {
				dim := l.Dimension
				if l.Name != "" && l.Name != l.Dimension {
					dim += " (" + l.Name + ")"
				}
				qty := ""
				if l.Quantity != nil {
					qty = strconv.FormatInt(*l.Quantity, 10)
				}
				tableRow(pdf, tr, cols, dim, l.Kind, qty, amount(l.UnitPrice, ""), amount(l.LineTotal, ""))
			}
		}
		pdf.Ln(6)
		pdf.SetFont("Helvetica", "B", 11)
		tcv := "Total contract value: "
		if a.TotalContractValue != "" {
			tcv += amount(a.TotalContractValue, a.Currency)
		} else {
			tcv += "not known"
		}
		pdf.CellFormat(bodyW, 16, tr(tcv), "", 1, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 9)
		pdf.SetTextColor(70, 70, 70)
		pdf.CellFormat(bodyW, 12, tr("Basis: "+tcvBasisText[a.TCVBasis]+"."), "", 1, "L", false, 0, "")
		pdf.SetTextColor(0, 0, 0)

		section(pdf, tr, "Payment schedule")
		if len(a.PaymentSchedule) == 0 {
			note(pdf, tr, "No payment schedule: AWS charges upfront, or as used.")
		} else {
			cols := []column{{"Charge date", 200, "L"}, {"Amount", 304, "R"}}
			tableHeader(pdf, tr, cols)
			for _, in := range a.PaymentSchedule {
				t := in.ChargeDate
				tableRow(pdf, tr, cols, day(&t, false), amount(in.Amount, a.Currency))
			}
		}
	}

	section(pdf, tr, "Contract metadata")
	if len(a.Metadata) == 0 {
		note(pdf, tr, "None: the order did not come from a Concord offer with contract metadata.")
	} else {
		keys := make([]string, 0, len(a.Metadata))
		for k := range a.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			kv(pdf, tr, k, a.Metadata[k])
		}
	}

	if err := pdf.Error(); err != nil {
		return nil, fmt.Errorf("render artifact %s as PDF: %w", a.ID, err)
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("render artifact %s as PDF: %w", a.ID, err)
	}
	if buf.Len() == 0 {
		return nil, errors.New("render artifact as PDF: empty output")
	}
	return buf.Bytes(), nil
}

// translator encodes text for the core fonts (Windows-1252): control
// characters become spaces, other characters it cannot show '?'.
func translator(pdf *fpdf.Fpdf) func(string) string {
	enc := pdf.UnicodeTranslatorFromDescriptor("")
	return func(s string) string {
		var b strings.Builder
		for _, r := range s {
			switch {
			case r == '\n':
				b.WriteRune(r)
			case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
				b.WriteByte(' ')
			case r < 0x80:
				b.WriteRune(r)
			default:
				if e := enc(string(r)); e != "." || r == '.' {
					b.WriteString(e)
				} else {
					b.WriteByte('?')
				}
			}
		}
		return b.String()
	}
}

func section(pdf *fpdf.Fpdf, tr func(string) string, name string) {
	pdf.Ln(8)
	pdf.SetFont("Helvetica", "B", 11)
	pdf.CellFormat(bodyW, 16, tr(name), "B", 1, "L", false, 0, "")
	pdf.Ln(3)
}

// kv writes one labelled value; nothing when the value is empty.
func kv(pdf *fpdf.Fpdf, tr func(string) string, key, value string) {
	if strings.TrimSpace(value) == "" {
		return
	}
	pdf.SetFont("Helvetica", "B", 9)
	pdf.CellFormat(keyW, rowH, clip(pdf, tr(key), keyW-6), "", 0, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 9)
	pdf.MultiCell(bodyW-keyW, rowH, tr(value), "", "L", false)
}

func note(pdf *fpdf.Fpdf, tr func(string) string, s string) {
	pdf.SetFont("Helvetica", "I", 9)
	pdf.MultiCell(bodyW, rowH, tr(s), "", "L", false)
}

type column struct {
	title string
	width float64
	align string
}

func tableHeader(pdf *fpdf.Fpdf, tr func(string) string, cols []column) {
	pdf.SetFont("Helvetica", "B", 9)
	pdf.SetFillColor(238, 238, 238)
	for _, c := range cols {
		pdf.CellFormat(c.width, rowH+2, tr(c.title), "", 0, c.align, true, 0, "")
	}
	pdf.Ln(-1)
}

func tableRow(pdf *fpdf.Fpdf, tr func(string) string, cols []column, cells ...string) {
	pdf.SetFont("Helvetica", "", 9)
	pdf.SetDrawColor(220, 220, 220)
	for i, c := range cols {
		pdf.CellFormat(c.width, rowH+2, clip(pdf, tr(cells[i]), c.width-4), "B", 0, c.align, false, 0, "")
	}
	pdf.Ln(-1)
	pdf.SetDrawColor(0, 0, 0)
}

// clip shortens s to fit width w in the current font.
func clip(pdf *fpdf.Fpdf, s string, w float64) string {
	if pdf.GetStringWidth(s) <= w {
		return s
	}
	for len(s) > 0 && pdf.GetStringWidth(s+"...") > w {
		s = s[:len(s)-1]
	}
	return s + "..."
}

func party(p ArtifactParty) string {
	switch {
	case p.Company != "" && p.AccountID != "":
		return p.Company + " (AWS account " + p.AccountID + ")"
	case p.AccountID != "":
		return "AWS account " + p.AccountID
	}
	return p.Company
}

func day(t *time.Time, withTime bool) string {
	if t == nil || t.IsZero() {
		return ""
	}
	if withTime {
		return t.UTC().Format("2006-01-02 15:04 UTC")
	}
	return t.UTC().Format(time.DateOnly)
}

// amount shows an exact decimal the way the console and the order emails
// do (money.Format): "12000.5", "USD" is "USD 12,000.50".
func amount(s, currency string) string { return money.Format(s, currency) }
