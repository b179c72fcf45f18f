package console_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/pdfdoc"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// upload posts files (name → content) as the offer page's upload form does.
func (c *client) upload(path, csrf, kind string, files map[string][]byte) page {
	c.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf)
	mw.WriteField("kind", kind)
	for name, content := range files {
		w, err := mw.CreateFormFile("file", name)
		if err != nil {
			c.e.t.Fatal(err)
		}
		w.Write(content)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.e.srv.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

// TestOfferDocumentsFromTheConsole: RevOps uploads a custom EULA (a text and
// a PDF) to a draft, sees them and the consolidated PDF AWS will fetch,
// removes one; bad files, a published offer, other roles and oversized
// uploads change nothing.
func TestOfferDocumentsFromTheConsole(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		d := e.data()
		ctx := context.Background()
		c := e.login("admin@seller.example")
		path := "/console/offers/" + d.offer.ID
		p := c.get(path)
		wantIn(t, p, `<h2 id="documents-title">Contract documents</h2>`, "AWS's standard contract.", `enctype="multipart/form-data"`, `<label for="documents-file">Files</label>`)
		token := csrfOf(t, p)

		pdf, err := pdfdoc.TextToPDF("security.txt", "Security addendum.\n")
		if err != nil {
			t.Fatal(err)
		}
		p = c.upload(path+"/documents", token, "eula", map[string][]byte{"terms.txt": []byte("These terms apply to Acme Corp.\n"), "security.pdf": pdf})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != path+"?done=documents" {
			t.Fatalf("upload: %d %v\n%s", p.status, p.header, p.body)
		}
		got, err := e.svc.Offers.Get(ctx, d.offer.ID)
		if err != nil || got.EULA.Kind != "custom" || len(got.EULA.Documents) != 2 {
			t.Fatalf("after the upload: %+v %v", got.EULA, err)
		}
		p = c.get(path + "?done=documents")
		wantIn(t, p, "The documents are added", "terms.txt", "security.pdf", `href="`+path+`/contract/eula.pdf"`)
		var txt offer.Document
		for _, doc := range got.EULA.Documents {
			if doc.Name == "terms.txt" {
				txt = doc
			}
		}
		if f := c.get(path + "/documents/" + txt.ID); f.status != 200 || f.body != "These terms apply to Acme Corp.\n" ||
			!strings.Contains(f.header.Get("Content-Disposition"), `filename=terms.txt`) {
			t.Fatalf("document download: %d %v %q", f.status, f.header, f.body)
		}
		if f := c.get(path + "/contract/eula.pdf"); f.status != 200 || !strings.HasPrefix(f.body, "%PDF-") || f.header.Get("Content-Type") != "application/pdf" {
			t.Fatalf("consolidated PDF: %d %v", f.status, f.header)
		}
		if f := c.get(path + "/contract/reseller.pdf"); f.status != 404 {
			t.Fatalf("a direct offer's reseller PDF: %d", f.status)
		}

		// Refused: a file that is not text or PDF, no file, an unknown kind.
		before := storetest.Count(t, db, "offer_documents")
		for _, tc := range []struct {
			kind  string
			files map[string][]byte
			want  string
		}{
			{"eula", map[string][]byte{"logo.png": {0x89, 'P', 'N', 'G', 0, 0, 0}}, "The files were not added"},
			{"eula", nil, "Choose one or more TXT or PDF files"},
			{"nda", map[string][]byte{"a.txt": []byte("x")}, "Choose which contract the files belong to."},
			{"reseller", map[string][]byte{"a.txt": []byte("x")}, "only a partner offer has a reseller agreement"},
		} {
			p := c.upload(path+"/documents", token, tc.kind, tc.files)
			if p.status < 400 || p.status >= 500 {
				t.Fatalf("%s %v: %d", tc.kind, tc.files, p.status)
			}
			wantIn(t, p, tc.want, `href="#documents-file"`)
		}
		if n := storetest.Count(t, db, "offer_documents"); n != before {
			t.Fatalf("refused uploads changed the documents: %d → %d", before, n)
		}
		// Too large: 413, nothing stored.
		p = c.upload(path+"/documents", token, "eula", map[string][]byte{"big.txt": bytes.Repeat([]byte("a"), offer.MaxEULABytes+2<<20)})
		if p.status != http.StatusRequestEntityTooLarge || storetest.Count(t, db, "offer_documents") != before {
			t.Fatalf("oversized upload: %d", p.status)
		}
		// Files are refused where no form takes them.
		if p := c.upload(path+"/cancel", token, "eula", map[string][]byte{"a.txt": []byte("x")}); p.status != http.StatusForbidden {
			t.Fatalf("multipart to the cancel form: %d", p.status)
		}

		// Another role, and no CSRF token.
		if _, err := e.console.CreateUser(ctx, console.NewUser{Email: "fin@seller.example", Role: console.RoleFinance, Password: password}); err != nil {
			t.Fatal(err)
		}
		fin := e.login("fin@seller.example")
		fp := fin.get(path)
		if strings.Contains(fp.body, `id="upload-documents"`) || strings.Contains(fp.body, ">Remove<") {
			t.Fatal("finance is shown the upload form or remove buttons")
		}
		if p := fin.upload(path+"/documents", csrfOf(t, fp), "eula", map[string][]byte{"a.txt": []byte("x")}); p.status != http.StatusForbidden {
			t.Fatalf("finance upload: %d", p.status)
		}
		if p := c.upload(path+"/documents", "not-the-token", "eula", map[string][]byte{"a.txt": []byte("x")}); p.status != http.StatusForbidden {
			t.Fatalf("upload without the CSRF token: %d", p.status)
		}
		if p := fin.post(path+"/documents/"+txt.ID+"/remove", url.Values{"csrf": {csrfOf(t, fp)}}); p.status != http.StatusForbidden {
			t.Fatalf("finance remove: %d", p.status)
		}
		if n := storetest.Count(t, db, "offer_documents"); n != before {
			t.Fatalf("refused requests changed the documents: %d → %d", before, n)
		}

		// Remove one.
		p = c.post(path+"/documents/"+txt.ID+"/remove", url.Values{"csrf": {token}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("remove: %d\n%s", p.status, p.body)
		}
		if got, err = e.svc.Offers.Get(ctx, d.offer.ID); err != nil || len(got.EULA.Documents) != 1 || got.EULA.Documents[0].Name != "security.pdf" {
			t.Fatalf("after removing: %+v %v", got.EULA, err)
		}

		// Once submitted, the documents are fixed: no form, and a clear refusal.
		if _, err := e.svc.Offers.Submit(ctx, d.offer.ID); err != nil {
			t.Fatal(err)
		}
		p = c.get(path)
		if strings.Contains(p.body, `id="upload-documents"`) {
			t.Fatal("a submitted offer shows the upload form")
		}
		p = c.upload(path+"/documents", token, "eula", map[string][]byte{"more.txt": []byte("More terms.\n")})
		if p.status != http.StatusConflict {
			t.Fatalf("upload to a submitted offer: %d", p.status)
		}
		wantIn(t, p, "its documents can change only while it is a draft")
	})
}

// TestCloneAsksBeforeCopyingACustomEULA: cloning an offer with a custom EULA
// opens a form that names the EULA's documents and asks, unticked, whether
// to copy them. Nothing is stored before the form is saved; saved without
// the tick, the clone uses AWS's standard contract; with it, the same
// documents.
func TestCloneAsksBeforeCopyingACustomEULA(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		src, err := e.svc.Offers.AddDocument(ctx, e.data().offer.ID, offer.KindEULA, "terms.txt", "text/plain", []byte("These terms apply to Acme Corp.\n"))
		if err != nil {
			t.Fatal(err)
		}
		c := e.login("admin@seller.example")
		n := storetest.Count(t, db, "offers")
		form := c.get("/console/offers/new?clone=" + src.ID)
		wantIn(t, form, `<label for="copy-eula">Copy the custom EULA of offer `+src.ID+` (terms.txt) to this offer</label>`,
			"A clone does not copy it unless you tick the box: left unticked, this offer uses AWS's standard contract.")
		if strings.Contains(form.body, `name="copy-eula" value="on" checked`) || strings.Contains(form.body, `id="eula-custom"`) {
			t.Fatal("the clone form copies the custom EULA unless told not to")
		}
		if got := storetest.Count(t, db, "offers"); got != n {
			t.Fatalf("the clone form stored %d offers", got-n)
		}
		post := func(copyEULA bool) offer.Detail {
			t.Helper()
			v := url.Values{"csrf": {csrfOf(t, form)}, "clone-of": {src.ID}, "type": {"direct"}, "buyer-company": {"Acme Corp"}, "product": {"prod-o"},
				"rows-product": {"prod-o"}, "buyer-account": {buyerAccount}, "currency": {"USD"}, "duration": {"P12M"},
				"dim-0-key": {"seats"}, "dim-0-kind": {"contract"}, "dim-0-qty": {"10"}, "dim-0-price": {"1200.00"}, "expires-on": {"2026-12-01"},
				// A forged choice of the custom EULA does not copy it without the tick.
				"eula": {"custom"}}
			if copyEULA {
				v.Set("copy-eula", "on")
			}
			return created(t, e, c.post("/console/offers/new", v), "cloned")
		}
		plain := post(false)
		if plain.EULA.Kind == "custom" && len(plain.EULA.Documents) > 0 {
			t.Fatalf("saved without consent, the clone has the custom EULA %+v", plain.EULA)
		}
		copied := post(true)
		if copied.EULA.Kind != "custom" || len(copied.EULA.Documents) != 1 || copied.EULA.Documents[0].ID != src.EULA.Documents[0].ID {
			t.Fatalf("saved with consent, the clone's EULA is %+v, want %+v", copied.EULA, src.EULA)
		}
		if got := storetest.Count(t, db, "offers"); got != n+2 {
			t.Fatalf("%d offers, want %d", got, n+2)
		}
		wantIn(t, c.get("/console/offers/"+copied.ID), "terms.txt")
	})
}
