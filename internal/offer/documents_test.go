package offer_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/pdfdoc"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// samplePDF is a PDF of n pages of the given size (A4, A5, Letter…), so a
// consolidated PDF shows where each document went.
func samplePDF(t testing.TB, size string, n int) []byte {
	t.Helper()
	p := fpdf.New("P", "pt", size, "")
	p.SetFont("Helvetica", "", 12)
	for i := range n {
		p.AddPage()
		p.Cell(100, 20, fmt.Sprintf("page %d", i+1))
	}
	var b bytes.Buffer
	if err := p.Output(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// draft creates a draft with the standard EULA (and, for a partner offer,
// the standard reseller agreement).
func (e *env) draft(o offer.Offer) offer.Detail {
	e.t.Helper()
	o.EULA = offer.Legal{Kind: "standard"}
	if o.Type == offer.TypePartner {
		o.ResellerAgreement = &offer.Legal{Kind: "standard"}
	}
	return e.create(o)
}

func (e *env) add(id, kind, name, contentType string, content []byte) offer.Detail {
	e.t.Helper()
	d, err := e.svc.AddDocument(context.Background(), id, kind, name, contentType, content)
	if err != nil {
		e.t.Fatalf("add %s: %v", name, err)
	}
	return d
}

// snapshot is what a refused change must leave as it was.
func (e *env) snapshot(id string) string {
	e.t.Helper()
	d := e.get(id)
	return fmt.Sprintf("%s %s %d steps; %d documents, %d consolidations, token %s", d.State, formJSON(e.t, d.Offer), len(d.History),
		e.count("offer_documents"), e.count("offer_consolidations"), e.token(id, offer.KindEULA))
}

// token is the public token of an offer's consolidated contract, or "".
func (e *env) token(id, kind string) string {
	e.t.Helper()
	var tok string
	e.db.Read(context.Background(), func(tx *store.Tx) error {
		tx.QueryRow(context.Background(), `SELECT token FROM offer_consolidations WHERE offer_id = ? AND kind = ?`, id, kind).Scan(&tok)
		return nil
	})
	return tok
}

func TestAddDocumentRefusals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		d := e.draft(direct())
		e.add(d.ID, offer.KindEULA, "terms.txt", "text/plain", []byte("These terms apply.\n"))
		before := e.snapshot(d.ID)

		big := bytes.Repeat([]byte("x"), offer.MaxEULABytes+1)
		for _, c := range []struct {
			name, kind, file, contentType string
			content                       []byte
			code                          string
			message                       string
		}{
			{"empty", offer.KindEULA, "empty.txt", "text/plain", nil, marketplace.EInvalid, `"empty.txt" is empty`},
			{"fake PDF", offer.KindEULA, "fake.pdf", "application/pdf", []byte("I am not a PDF"), marketplace.EInvalid, `"fake.pdf" is not a PDF: a PDF starts with %PDF-`},
			{"broken PDF", offer.KindEULA, "broken.pdf", "application/pdf", []byte("%PDF-1.7\nthis is no PDF body\n%%EOF\n"), marketplace.EInvalid,
				`"broken.pdf" is a PDF Concord cannot read (damaged, or protected by a password?), so it could not be consolidated`},
			{"binary TXT", offer.KindEULA, "logo.txt", "text/plain", []byte{0x89, 'P', 'N', 'G', 0xff, 0xfe}, marketplace.EInvalid, `"logo.txt" is not UTF-8 text`},
			{"TXT with NUL bytes", offer.KindEULA, "nul.txt", "text/plain", []byte("terms\x00\x00"), marketplace.EInvalid, `"nul.txt" holds NUL bytes: it is a binary file, not text`},
			{"PDF sent as text", offer.KindEULA, "terms.txt", "text/plain", samplePDF(t, "A4", 1), marketplace.EInvalid, `"terms.txt" is a PDF, not text: upload it as application/pdf`},
			{"another type", offer.KindEULA, "terms.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", []byte("PK\x03\x04"), marketplace.EInvalid,
				`"terms.docx" is application/vnd.openxmlformats-officedocument.wordprocessingml.document: only TXT (text/plain) and PDF (application/pdf) documents can be uploaded`},
			{"no file name", offer.KindEULA, " ", "text/plain", []byte("x"), marketplace.EInvalid, "give the document a file name"},
			{"over 6 MB alone", offer.KindEULA, "huge.txt", "text/plain", big, marketplace.EInvalid, `"huge.txt" is 6.0 MB; the documents of a contract come to at most 6 MB in total`},
			{"unknown kind", "addendum", "terms.txt", "text/plain", []byte("x"), marketplace.EInvalid, `the kind of document must be eula or reseller, not "addendum"`},
			{"reseller agreement on a direct offer", offer.KindReseller, "reseller.txt", "text/plain", []byte("x"), marketplace.EInvalid,
				"is a direct offer: only a partner offer has a reseller agreement"},
		} {
			_, err := e.svc.AddDocument(ctx, d.ID, c.kind, c.file, c.contentType, c.content)
			wantErr(t, err, c.code, c.message)
			if got := e.snapshot(d.ID); got != before {
				t.Errorf("%s: refused upload changed the offer:\n %s\nwas\n %s", c.name, got, before)
			}
		}
		if _, err := e.svc.AddDocument(ctx, "ofr_none", offer.KindEULA, "a.txt", "text/plain", []byte("x")); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("adding to an unknown offer: %v", err)
		}

		// A sixth document.
		for i := 2; i <= offer.MaxEULADocuments; i++ {
			e.add(d.ID, offer.KindEULA, fmt.Sprintf("part-%d.txt", i), "text/plain", []byte("part\n"))
		}
		before = e.snapshot(d.ID)
		_, err := e.svc.AddDocument(ctx, d.ID, offer.KindEULA, "sixth.txt", "text/plain", []byte("six\n"))
		wantErr(t, err, marketplace.EInvalid, "the custom EULA of offer "+d.ID+" has 5 documents already and takes at most 5 (they are consolidated into one): remove one before adding \"sixth.txt\"")
		if got := e.snapshot(d.ID); got != before {
			t.Errorf("a sixth document changed the offer:\n %s\nwas\n %s", got, before)
		}
		_, err = e.svc.AddDocuments(ctx, e.draft(direct()).ID, offer.KindEULA, make([]offer.Upload, 6))
		wantErr(t, err, marketplace.EInvalid, "give the document a file name")

		// Over 6 MB in total: 4 MB, then 2.5 MB more.
		s := e.draft(direct())
		four := bytes.Repeat([]byte(strings.Repeat("lorem ipsum ", 8)+"\n"), 4<<20/97)
		e.add(s.ID, offer.KindEULA, "four.txt", "text/plain", four)
		before = e.snapshot(s.ID)
		_, err = e.svc.AddDocument(ctx, s.ID, offer.KindEULA, "more.txt", "text/plain", bytes.Repeat([]byte("more\n"), (5<<20)/10))
		wantErr(t, err, marketplace.EInvalid, `adding "more.txt" would bring the documents of the custom EULA to 6.5 MB; at most 6 MB in total`)
		if got := e.snapshot(s.ID); got != before {
			t.Errorf("going over 6 MB changed the offer:\n %s\nwas\n %s", got, before)
		}

		// Not while the offer is out with AWS: submitted here.
		if _, err := e.svc.Submit(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		before = e.snapshot(d.ID)
		_, err = e.svc.AddDocument(ctx, d.ID, offer.KindEULA, "late.txt", "text/plain", []byte("late\n"))
		wantErr(t, err, marketplace.EConflict, "offer "+d.ID+" is submitted: its documents can change only while it is a draft (or failed); clone it for a new offer")
		_, err = e.svc.RemoveDocument(ctx, d.ID, e.get(d.ID).EULA.Documents[0].ID)
		wantErr(t, err, marketplace.EConflict, "is submitted: its documents can change only while it is a draft")
		if got := e.snapshot(d.ID); got != before {
			t.Errorf("refused changes to a submitted offer changed it:\n %s\nwas\n %s", got, before)
		}
		_, err = e.svc.RemoveDocument(ctx, s.ID, "doc_none")
		wantErr(t, err, marketplace.ENotFound, "document doc_none is not one of offer "+s.ID+"'s documents")
	})
}

// TestDocumentsConsolidated: documents are kept in upload order, text is
// rendered as pages and PDFs are merged as they are, and the consolidated PDF
// is made again only when the documents change.
func TestDocumentsConsolidated(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		d := e.draft(direct())
		text := strings.Repeat("The licensee may use the software.\n", 120) // 3 pages
		a5, a4 := samplePDF(t, "A5", 2), samplePDF(t, "A4", 1)
		e.add(d.ID, offer.KindEULA, "terms.txt", "text/plain; charset=utf-8", []byte(text))
		first := e.token(d.ID, offer.KindEULA)
		e.add(d.ID, offer.KindEULA, "C:\\contracts\\order-form.pdf", "application/pdf", a5)
		e.add(d.ID, offer.KindEULA, "annex.txt", "text/plain", []byte("Annex A\n"))
		got := e.add(d.ID, offer.KindEULA, "dpa.pdf", "application/pdf", a4)

		// The form lists them, in order, and the history says what came.
		if got.EULA.Kind != "custom" || len(got.EULA.Documents) != 4 {
			t.Fatalf("EULA %+v", got.EULA)
		}
		var names []string
		for _, doc := range got.EULA.Documents {
			names = append(names, doc.Name)
			if !strings.HasPrefix(doc.ID, "doc_") {
				t.Errorf("document id %q", doc.ID)
			}
		}
		if strings.Join(names, " ") != "terms.txt order-form.pdf annex.txt dpa.pdf" {
			t.Errorf("documents %s", names)
		}
		if got.EULA.Documents[1].Size != int64(len(a5)) || got.EULA.Documents[0].ContentType != "text/plain" {
			t.Errorf("document %+v", got.EULA.Documents)
		}
		wantSteps(t, got, "draft/created", `draft/document added: EULA: "terms.txt" (text/plain, 4.1 KB, 3 pages)`,
			`draft/document added: EULA: "order-form.pdf" (application/pdf,`, `draft/document added: EULA: "annex.txt" (text/plain, 8 bytes, 1 page)`,
			`draft/document added: EULA: "dpa.pdf" (application/pdf,`)
		if chk := offer.Validate(got.Offer, baseContext()); !chk.OK() {
			t.Errorf("the form with documents breaks the rules: %s", show(chk.Problems))
		}
		list, err := e.svc.Documents(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		for i, doc := range list {
			if doc.ID != got.EULA.Documents[i].ID || doc.Kind != offer.KindEULA || len(doc.SHA256) != 64 || doc.CreatedAt.IsZero() {
				t.Errorf("listed %+v", doc)
			}
			sum += doc.Pages
		}
		if len(list) != 4 || sum != 3+2+1+1 {
			t.Fatalf("listed %d documents of %d pages: %+v", len(list), sum, list)
		}
		stored, content, err := e.svc.Document(ctx, d.ID, list[1].ID)
		if err != nil || !bytes.Equal(content, a5) || stored.Name != "order-form.pdf" {
			t.Errorf("document %+v (%d bytes): %v", stored, len(content), err)
		}

		// One PDF, the pages in upload order: text pages are Letter.
		pdf, err := e.svc.Consolidated(ctx, d.ID, offer.KindEULA)
		if err != nil {
			t.Fatal(err)
		}
		sizes, err := pdfdoc.PageSizes(pdf)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, s := range sizes {
			switch {
			case s[0] < 500:
				order = append(order, "A5")
			case s[0] == 612:
				order = append(order, "Letter")
			default:
				order = append(order, "A4")
			}
		}
		if strings.Join(order, " ") != "Letter Letter Letter A5 A5 Letter A4" {
			t.Errorf("consolidated pages: %s", order)
		}

		// Made once: asking again, or publishing, reuses it; a change makes a
		// new one under a new token.
		tok := e.token(d.ID, offer.KindEULA)
		if tok == "" || tok == first || len(tok) < 43 {
			t.Fatalf("tokens %q then %q", first, tok)
		}
		again, _ := e.svc.Consolidated(ctx, d.ID, offer.KindEULA)
		if e.token(d.ID, offer.KindEULA) != tok || !bytes.Equal(again, pdf) {
			t.Error("an unchanged consolidation was made again")
		}
		pub, err := e.svc.PublicDocument(ctx, tok, offer.KindEULA)
		if err != nil || !bytes.Equal(pub.Content, pdf) {
			t.Errorf("public document: %v", err)
		}
		if _, err := e.svc.PublicDocument(ctx, tok, offer.KindReseller); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("the EULA's token as a reseller agreement: %v", err)
		}
		if _, err := e.svc.PublicDocument(ctx, first, offer.KindEULA); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("an outdated token: %v", err)
		}

		removed, err := e.svc.RemoveDocument(ctx, d.ID, list[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		wantSteps(t, removed, "draft/created", "draft/document added", "draft/document added", "draft/document added", "draft/document added",
			`draft/document removed: EULA: "order-form.pdf"`)
		if e.count("offer_documents") != 3 || e.token(d.ID, offer.KindEULA) != "" {
			t.Errorf("after removal: %d documents, token %q", e.count("offer_documents"), e.token(d.ID, offer.KindEULA))
		}
		pdf, err = e.svc.Consolidated(ctx, d.ID, offer.KindEULA)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := pdfdoc.PageCount(pdf); n != 3+1+1 {
			t.Errorf("consolidated %d pages after removal, want 5", n)
		}
		rebuilt := e.token(d.ID, offer.KindEULA)
		if rebuilt == "" || rebuilt == tok {
			t.Errorf("token after removal %q (was %q)", rebuilt, tok)
		}
		e.svc.Consolidated(ctx, d.ID, offer.KindEULA)
		if e.token(d.ID, offer.KindEULA) != rebuilt {
			t.Error("an unchanged consolidation was made again")
		}

		// The last document removed: the EULA stays custom, with nothing to
		// publish, which Validate refuses.
		for _, doc := range removed.EULA.Documents {
			if doc.ID != list[1].ID {
				removed, err = e.svc.RemoveDocument(ctx, d.ID, doc.ID)
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		if removed.EULA.Kind != "custom" || len(removed.EULA.Documents) != 0 || e.count("offer_documents") != 0 {
			t.Errorf("EULA %+v, %d documents stored", removed.EULA, e.count("offer_documents"))
		}
		wantSteps(t, removed, "draft/created", "draft/document added", "draft/document added", "draft/document added", "draft/document added",
			"draft/document removed", "draft/document removed", "draft/document removed",
			`draft/document removed: EULA: "dpa.pdf"; the custom EULA has no documents left: upload one, or choose the standard one`)
		_, err = e.svc.Consolidated(ctx, d.ID, offer.KindEULA)
		wantErr(t, err, marketplace.EInvalid, "the custom EULA of offer "+d.ID+" has no documents: upload them")
		_, err = e.svc.Submit(ctx, d.ID)
		wantErr(t, err, marketplace.EInvalid, "eula: a custom EULA needs at least one document")

		// The standard EULA has no consolidated document.
		std := e.draft(direct())
		_, err = e.svc.Consolidated(ctx, std.ID, offer.KindEULA)
		wantErr(t, err, marketplace.ENotFound, "has the standard EULA: there is no custom document")
	})
}

// TestResellerAgreementDocuments: a partner offer's custom reseller
// agreement is its own consolidated PDF, reachable by its own token only.
func TestResellerAgreementDocuments(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		p := e.draft(partner())
		e.add(p.ID, offer.KindEULA, "eula.txt", "text/plain", []byte("EULA\n"))
		d := e.add(p.ID, offer.KindReseller, "reseller.pdf", "application/pdf", samplePDF(t, "A4", 3))
		if d.ResellerAgreement == nil || d.ResellerAgreement.Kind != "custom" || len(d.ResellerAgreement.Documents) != 1 || len(d.EULA.Documents) != 1 {
			t.Fatalf("partner offer %+v / %+v", d.EULA, d.ResellerAgreement)
		}
		if chk := offer.Validate(d.Offer, baseContext()); !chk.OK() {
			t.Errorf("the form breaks the rules: %s", show(chk.Problems))
		}
		eula, reseller := e.token(p.ID, offer.KindEULA), e.token(p.ID, offer.KindReseller)
		if eula == "" || reseller == "" || eula == reseller {
			t.Fatalf("tokens %q and %q", eula, reseller)
		}
		pdf, err := e.svc.Consolidated(ctx, p.ID, offer.KindReseller)
		if n, _ := pdfdoc.PageCount(pdf); err != nil || n != 3 {
			t.Errorf("reseller agreement: %d pages, %v", n, err)
		}
		if _, err := e.svc.PublicDocument(ctx, reseller, offer.KindEULA); marketplace.ErrorCode(err) != marketplace.ENotFound {
			t.Errorf("the reseller agreement's token as a EULA: %v", err)
		}
		if f, err := e.svc.PublicDocument(ctx, reseller, offer.KindReseller); err != nil || !bytes.Equal(f.Content, pdf) {
			t.Errorf("the reseller agreement by its token: %v", err)
		}
		list, _ := e.svc.Documents(ctx, p.ID)
		if len(list) != 2 || list[0].Kind != offer.KindEULA || list[1].Kind != offer.KindReseller {
			t.Errorf("documents %+v", list)
		}
	})
}

// TestDocumentsOfAClone: a clone lists its source's documents, which stay
// stored while any form lists them.
func TestDocumentsOfAClone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		src := e.draft(direct())
		src = e.add(src.ID, offer.KindEULA, "terms.txt", "text/plain", []byte("terms\n"))
		clone, err := e.svc.Clone(ctx, src.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(clone.EULA.Documents) != 1 || clone.EULA.Documents[0].ID != src.EULA.Documents[0].ID {
			t.Fatalf("clone's EULA %+v", clone.EULA)
		}
		if _, err := e.svc.RemoveDocument(ctx, src.ID, src.EULA.Documents[0].ID); err != nil {
			t.Fatal(err)
		}
		if e.count("offer_documents") != 1 {
			t.Fatal("a document the clone lists was deleted")
		}
		pdf, err := e.svc.Consolidated(ctx, clone.ID, offer.KindEULA)
		if n, _ := pdfdoc.PageCount(pdf); err != nil || n != 1 {
			t.Fatalf("clone's EULA: %d pages, %v", n, err)
		}
		clone = e.add(clone.ID, offer.KindEULA, "more.txt", "text/plain", []byte("more\n"))
		if clone, err = e.svc.RemoveDocument(ctx, clone.ID, clone.EULA.Documents[0].ID); err != nil {
			t.Fatal(err)
		}
		if e.count("offer_documents") != 1 {
			t.Errorf("%d documents stored, want the clone's own one", e.count("offer_documents"))
		}

		// A form edited to list a document Concord does not hold.
		form := clone.Offer
		form.EULA.Documents = append(form.EULA.Documents, offer.Document{ID: "doc_forged", Name: "forged.pdf", ContentType: "application/pdf", Size: 10})
		if _, err := e.svc.Update(ctx, clone.ID, form); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Consolidated(ctx, clone.ID, offer.KindEULA)
		wantErr(t, err, marketplace.EInvalid, `the custom EULA of offer `+clone.ID+` lists "forged.pdf", which Concord does not hold`)
	})
}

// TestSubmitWithoutDocumentsBucket: with no S3 bucket, an offer with a custom
// EULA is refused at submit naming --documents-bucket, and stays a draft
// saying so; one with the standard EULA needs no bucket.
func TestSubmitWithoutDocumentsBucket(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.svc.DocumentStore = nil
		ctx := context.Background()
		d := e.draft(direct())
		e.add(d.ID, offer.KindEULA, "terms.txt", "text/plain", []byte("These terms apply.\n"))
		_, err := e.svc.Submit(ctx, d.ID)
		wantErr(t, err, marketplace.EInvalid, "the custom EULA cannot be published", "--documents-bucket (CONCORD_DOCUMENTS_BUCKET)")
		got := e.get(d.ID)
		if got.State != offer.StateDraft || !strings.Contains(got.Failure, "--documents-bucket") || got.History[len(got.History)-1].Step != "not submitted" {
			t.Errorf("after the refusal: %s %q %+v", got.State, got.Failure, got.History[len(got.History)-1])
		}
		if _, err := e.svc.Submit(ctx, e.draft(direct()).ID); err != nil {
			t.Errorf("an offer with the standard EULA: %v", err)
		}
	})
}
