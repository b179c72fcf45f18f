package artifact_test

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/pdfdoc"
)

// sample is a recorded partner order with everything filled in.
func sample() artifact.BookableArtifact {
	accepted := t0
	ends := t0.AddDate(1, 0, 0)
	return artifact.BookableArtifact{
		ID: "art_0193a1b2c3d4e5f60718293a4b5c6d7e", AgreementID: "agmt-3d707cf4d7f3d411543377a6ea", Version: 2,
		Kind: artifact.KindPartnerOrder, OrderType: artifact.OrderPrivate, Channel: artifact.ChannelPartner, Intent: "NEW",
		Buyer:          artifact.ArtifactParty{AccountID: buyer, Company: "Société Générale d'Études™", CompanySource: "offer"},
		SellerOfRecord: artifact.ArtifactParty{AccountID: partner}, Reseller: &artifact.ArtifactParty{AccountID: partner},
		Manufacturer: artifact.ArtifactParty{AccountID: seller},
		Product:      artifact.ArtifactProduct{ProductID: "prod-acme", Code: "acmecode123", Title: "Acme Analytics"},
		OfferID:      "offer-cppo1", ConcordOfferID: "ofr_01a2325a30a37128bfebb5b1f6e5c152", ResaleAuthorizationID: "resaleauth-1",
		LicenseArns: []string{"arn:aws:license-manager::444455556666:license:l-0123456789abcdef"},
		Lineage:     artifact.ArtifactLineage{InitialAgreementID: "agmt-first", PreviousAgreementID: "agmt-first", Chain: []string{"agmt-first", "agmt-3d707cf4d7f3d411543377a6ea"}},
		TermsKnown:  true, Currency: "USD",
		Lines: []artifact.ArtifactLine{
			{Dimension: "seats", Name: "Seats", Kind: artifact.LineContract, Term: "ConfigurableUpfrontPricingTerm", Quantity: qty(10), UnitPrice: "1200.00", LineTotal: "12000.00"},
			{Dimension: "api_calls", Kind: artifact.LineUsage, Term: "UsageBasedPricingTerm", UnitPrice: "0.002"},
		},
		TotalContractValue: "12000.00", TCVBasis: artifact.TCVPaymentSchedule,
		PaymentSchedule: []artifact.ArtifactInstallment{{ChargeDate: t0, Amount: "6000.00"}, {ChargeDate: t0.AddDate(0, 6, 0), Amount: "6000.00"}},
		Duration:        "P12M", AutoRenew: ptr(false), AcceptedAt: &accepted, StartsAt: &accepted, EndsAt: &ends,
		Metadata:    map[string]string{"AWS Account Number": buyer, "CPPO Opportunity ID": "O-4471", "Salesforce Opportunity": "=HYPERLINK(\"x\")"},
		ContentHash: strings.Repeat("ab", 32), CreatedAt: t0.Add(time.Minute),
	}
}

var streamPattern = regexp.MustCompile(`(?s)stream\r?\n(.*?)\r?\nendstream`)

// pdfText returns the PDF's content streams, inflated: the text drawn on
// its pages, in PDF string syntax.
func pdfText(t *testing.T, doc []byte) string {
	t.Helper()
	var b strings.Builder
	for _, m := range streamPattern.FindAllSubmatch(doc, -1) {
		r, err := zlib.NewReader(bytes.NewReader(m[1]))
		if err != nil {
			continue // not a compressed stream (e.g. an image or font)
		}
		text, _ := io.ReadAll(r)
		b.Write(text)
	}
	return b.String()
}

func TestPDF(t *testing.T) {
	t.Parallel()
	a := sample()
	doc, err := artifact.PDF(a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(doc, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", doc[:min(len(doc), 20)])
	}
	if n, err := pdfdoc.PageCount(doc); err != nil || n != 1 {
		t.Fatalf("pages: %d %v", n, err)
	}
	text := pdfText(t, doc)
	for _, s := range []string{"(Bookable artifact: Partner order)", "agmt-3d707cf4d7f3d411543377a6ea", "(12,000.00)", "(Total contract value: USD 12,000.00)",
		"(AWS account 777788889999)", "arn:aws:license-manager::444455556666:license:l-0123456789abcdef", "(2027-05-02)", "(USD 6,000.00)",
		"(O-4471)", "(agmt-first > agmt-3d707cf4d7f3d411543377a6ea)", "Page 1 of 1", "(0.002)"} {
		if !strings.Contains(text, s) {
			t.Errorf("the PDF does not show %q", s)
		}
	}
	// Characters of Windows-1252 are kept (é is 0xE9, ™ is 0x99).
	if !strings.Contains(text, "Soci\xe9t\xe9 G\xe9n\xe9rale d'\xc9tudes\x99") {
		t.Errorf("the buyer's company is not shown in Windows-1252")
	}

	t.Run("terms not known yet", func(t *testing.T) {
		a := sample()
		a.TermsKnown, a.Lines, a.PaymentSchedule, a.TotalContractValue, a.TCVBasis, a.Metadata = false, nil, nil, "", artifact.TCVNone, nil
		a.Buyer.Company = "名前 \x00\x1b[31m"
		doc, err := artifact.PDF(a)
		if err != nil {
			t.Fatal(err)
		}
		text := pdfText(t, doc)
		for _, s := range []string{"have not been fetched from AWS yet", "(None: the order did not come from a Concord offer"} {
			if !strings.Contains(text, s) {
				t.Errorf("the PDF does not say %q", s)
			}
		}
		if strings.Contains(text, "Total contract value") || strings.ContainsAny(text, "\x00\x1b") {
			t.Errorf("unexpected content")
		}
	})

	t.Run("many lines run onto more pages", func(t *testing.T) {
		a := sample()
		for i := range 80 {
			a.Lines = append(a.Lines, artifact.ArtifactLine{Dimension: fmt.Sprintf("dimension_%02d_with_a_rather_long_api_name_that_is_clipped", i), Kind: artifact.LineUsage, Term: "UsageBasedPricingTerm", UnitPrice: "0.01"})
		}
		doc, err := artifact.PDF(a)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := pdfdoc.PageCount(doc); err != nil || n < 2 {
			t.Fatalf("pages: %d %v", n, err)
		}
		if !strings.Contains(pdfText(t, doc), "dimension_79_with_a_rather") {
			t.Error("the last line is missing")
		}
	})
}

func TestFiles(t *testing.T) {
	t.Parallel()
	a := sample()
	files, err := artifact.Files(a)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, contentType, prefix string }{
		{"artifact-agmt-3d707cf4d7f3d411543377a6ea-v2.pdf", "application/pdf", "%PDF-"},
		{"artifact-agmt-3d707cf4d7f3d411543377a6ea-v2.csv", "text/csv; charset=utf-8", "artifact_id,agreement_id,"},
		{"artifact-agmt-3d707cf4d7f3d411543377a6ea-v2.json", "application/json", "{\n  \"id\": \"art_0193a1b2c3d4e5f60718293a4b5c6d7e\""},
	}
	if len(files) != len(want) {
		t.Fatalf("%d files", len(files))
	}
	for i, w := range want {
		f := files[i]
		if f.Name != w.name || f.ContentType != w.contentType || !bytes.HasPrefix(f.Data, []byte(w.prefix)) {
			t.Errorf("file %d: %s %s %q", i, f.Name, f.ContentType, f.Data[:min(len(f.Data), 40)])
		}
	}
	var back artifact.BookableArtifact
	if err := json.Unmarshal(files[2].Data, &back); err != nil {
		t.Fatal(err)
	}
	if mustJSON(t, back) != mustJSON(t, a) {
		t.Errorf("the JSON does not read back:\n%s", files[2].Data)
	}
	if got := artifact.FileName(artifact.BookableArtifact{AgreementID: "../a b/c", Version: 3}, "pdf"); got != "artifact-.._a_b_c-v3.pdf" {
		t.Errorf("file name %q", got)
	}
}

// Free text that a spreadsheet would run as a formula is written as text;
// amounts and ids are written as they are.
func TestCSVGuardsFormulas(t *testing.T) {
	t.Parallel()
	a := sample()
	a.Buyer.Company, a.Product.Title, a.Lines[0].Name = "=cmd|' /C calc'!A0", "+Acme", "@seats"
	var b bytes.Buffer
	if err := artifact.CSV(&b, []artifact.BookableArtifact{a}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{`'=cmd|' /C calc'!A0`, `,'+Acme,`, `,'@seats,`, `"{""AWS Account Number"":""444455556666"",""CPPO Opportunity ID"":""O-4471"",""Salesforce Opportunity"":""=HYPERLINK(\""x\"")""}"`} {
		if !strings.Contains(out, s) {
			t.Errorf("CSV lacks %s:\n%s", s, out)
		}
	}
	if strings.Count(out, "\n") != 3 {
		t.Errorf("want a header and two lines:\n%s", out)
	}
}
