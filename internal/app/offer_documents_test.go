package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"
	"github.com/go-pdf/fpdf"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/pdfdoc"
	"github.com/concordmp/concord/internal/store/storetest"
)

// pdfPages is an A4 PDF of n pages.
func pdfPages(t *testing.T, n int) []byte {
	t.Helper()
	p := fpdf.New("P", "mm", "A4", "")
	p.SetFont("Helvetica", "", 12)
	for i := range n {
		p.AddPage()
		p.Cell(40, 10, fmt.Sprintf("Order form, page %d", i+1))
	}
	var b bytes.Buffer
	if err := p.Output(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upload posts one file as the raw body of POST /v1/offers/{id}/documents.
func upload(t *testing.T, b *bundle, id, kind, name, contentType string, content []byte) offer.Detail {
	t.Helper()
	req, _ := http.NewRequest("POST", b.app.URL()+"/v1/offers/"+id+"/documents?kind="+kind+"&name="+name, bytes.NewReader(content))
	req.Header.Set("Authorization", "Bearer "+b.key)
	req.Header.Set("Content-Type", contentType)
	return sendUpload(t, req)
}

func sendUpload(t *testing.T, req *http.Request) offer.Detail {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var d offer.Detail
	if err := json.Unmarshal(out, &d); resp.StatusCode != 201 || err != nil {
		t.Fatalf("upload: %d %s", resp.StatusCode, out)
	}
	return d
}

// legalDocuments reads, through the official Catalog API client, the legal
// documents of an offer or resale authorization the emulator holds, by term
// type.
func legalDocuments(t *testing.T, b *bundle, entityID string) map[string][]map[string]any {
	t.Helper()
	cfg, err := awsmp.Load(context.Background(), awsmp.Config{Anonymous: true, Endpoint: b.app.URL() + "/emulator"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := awsmp.NewCatalog(cfg).Client.DescribeEntity(context.Background(), &marketplacecatalog.DescribeEntityInput{
		Catalog: aws.String("AWSMarketplace"), EntityId: aws.String(entityID)})
	if err != nil {
		t.Fatalf("DescribeEntity %s: %v", entityID, err)
	}
	raw, err := out.DetailsDocument.MarshalSmithyDocument()
	if err != nil {
		t.Fatal(err)
	}
	var details struct {
		Terms []struct {
			Type      string
			Documents []map[string]any
		}
	}
	if err := json.Unmarshal(raw, &details); err != nil {
		t.Fatal(err)
	}
	docs := map[string][]map[string]any{}
	for _, term := range details.Terms {
		if strings.HasSuffix(term.Type, "LegalTerm") {
			docs[term.Type] = term.Documents
		}
	}
	return docs
}

// fetchPublic gets a public document URL with no API key and returns its
// page count.
func fetchPublic(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("GET %s: %d %s %.200s", url, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	n, err := pdfdoc.PageCount(body)
	if err != nil {
		t.Fatalf("GET %s: not a PDF: %v", url, err)
	}
	return n
}

func pagesOf(t *testing.T, b *bundle, id, kind string) int {
	t.Helper()
	_, out := b.do(t, "GET", "/v1/offers/"+id+"/documents", b.key, nil)
	var list struct{ Items []offer.StoredDocument }
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("documents: %s", out)
	}
	n := 0
	for _, d := range list.Items {
		if d.Kind == kind {
			n += d.Pages
		}
	}
	return n
}

// TestOfferCustomDocumentsPublished: a direct offer with a custom EULA (a TXT
// and a PDF uploaded over HTTP) and a partner offer with a custom EULA and a
// custom reseller agreement are published through the emulator's Catalog
// API; the entities carry Concord's public URLs, and AWS (no API key) gets
// each consolidated PDF there, with every page of its documents.
func TestOfferCustomDocumentsPublished(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := offersSetup(t, dialect)
			create := func(form map[string]any) offer.Detail {
				t.Helper()
				raw, _ := json.Marshal(form)
				code, out := b.do(t, "POST", "/v1/offers", b.key, raw)
				var d offer.Detail
				if json.Unmarshal(out, &d); code != 201 {
					t.Fatalf("create: %d %s", code, out)
				}
				return d
			}
			submit := func(id string, want string) offer.Detail {
				t.Helper()
				if code, out := b.do(t, "POST", "/v1/offers/"+id+"/submit", b.key, nil); code != 200 {
					t.Fatalf("submit: %d %s", code, out)
				}
				var d offer.Detail
				eventually(t, "offer "+id+" to be "+want, func() bool {
					d = getOffer(t, b, id)
					if d.State == offer.StateFailed && want != offer.StateFailed {
						t.Fatalf("offer failed: %s", d.Failure)
					}
					return d.State == want
				})
				return d
			}
			terms := strings.Repeat("The buyer may use the software for its own business.\n", 120)

			// Direct: a TXT and a PDF, one consolidated EULA.
			d := create(offerForm("123456789012"))
			upload(t, b, d.ID, "eula", "terms.txt", "text/plain; charset=utf-8", []byte(terms))
			up := upload(t, b, d.ID, "eula", "order-form.pdf", "application/pdf", pdfPages(t, 2))
			if up.EULA.Kind != "custom" || len(up.EULA.Documents) != 2 {
				t.Fatalf("EULA after uploads: %+v", up.EULA)
			}
			txtPages := pagesOf(t, b, d.ID, "eula") - 2
			if txtPages != 3 {
				t.Fatalf("terms.txt takes %d pages, want 3", txtPages)
			}
			published := submit(d.ID, offer.StatePublished)
			docs := legalDocuments(t, b, published.OfferID)["LegalTerm"]
			prefix := b.app.URL() + "/documents/"
			if len(docs) != 1 || docs[0]["Type"] != "CustomEula" || !strings.HasPrefix(fmt.Sprint(docs[0]["Url"]), prefix) ||
				!strings.HasSuffix(fmt.Sprint(docs[0]["Url"]), "/eula.pdf") {
				t.Fatalf("the offer's legal term: %v", docs)
			}
			eulaURL := fmt.Sprint(docs[0]["Url"])
			if n := fetchPublic(t, eulaURL); n != txtPages+2 {
				t.Errorf("the published EULA has %d pages, want %d", n, txtPages+2)
			}
			if code, _ := b.do(t, "GET", strings.TrimPrefix(strings.TrimSuffix(eulaURL, "eula.pdf")+"reseller-agreement.pdf", b.app.URL()), "", nil); code != 404 {
				t.Errorf("the EULA's token as a reseller agreement: %d", code)
			}
			// Published: the documents can no longer change.
			if code, out := b.do(t, "DELETE", "/v1/offers/"+d.ID+"/documents/"+up.EULA.Documents[0].ID, b.key, nil); code != 409 {
				t.Errorf("removing a published offer's document: %d %s", code, out)
			}

			// Partner: a custom EULA and a custom reseller agreement (multipart).
			form := offerForm("123456789012")
			form["type"] = "partner"
			form["resellerAgreement"] = map[string]any{"kind": "standard"}
			form["metadata"] = map[string]any{"AWS Account Number": "123456789012", "Partner AWS Account Number": "999988887777"}
			p := create(form)
			upload(t, b, p.ID, "eula", "eula.txt", "text/plain", []byte("End user license agreement.\n"))
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			for i, f := range [][]byte{pdfPages(t, 3), []byte("Reseller terms, annex.\n")} {
				h := textproto.MIMEHeader{}
				name, ct := "reseller.pdf", "application/pdf"
				if i == 1 {
					name, ct = "annex.txt", "text/plain"
				}
				h.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
				h.Set("Content-Type", ct)
				w, _ := mw.CreatePart(h)
				w.Write(f)
			}
			mw.Close()
			req, _ := http.NewRequest("POST", b.app.URL()+"/v1/offers/"+p.ID+"/documents?kind=reseller", &body)
			req.Header.Set("Authorization", "Bearer "+b.key)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			if got := sendUpload(t, req); got.ResellerAgreement == nil || got.ResellerAgreement.Kind != "custom" || len(got.ResellerAgreement.Documents) != 2 {
				t.Fatalf("reseller agreement after upload: %+v", got.ResellerAgreement)
			}
			pp := submit(p.ID, offer.StatePublished)
			legal := legalDocuments(t, b, pp.ResaleAuthorizationID)
			buyer, resale := legal["BuyerLegalTerm"], legal["ResaleLegalTerm"]
			if len(buyer) != 1 || buyer[0]["Type"] != "CustomEula" || len(resale) != 1 || resale[0]["Type"] != "CustomResellerContract" ||
				!strings.HasPrefix(fmt.Sprint(resale[0]["Url"]), prefix) || !strings.HasSuffix(fmt.Sprint(resale[0]["Url"]), "/reseller-agreement.pdf") {
				t.Fatalf("the resale authorization's legal terms: %v", legal)
			}
			if n := fetchPublic(t, fmt.Sprint(buyer[0]["Url"])); n != 1 {
				t.Errorf("the partner offer's EULA has %d pages, want 1", n)
			}
			resellerURL := fmt.Sprint(resale[0]["Url"])
			if n := fetchPublic(t, resellerURL); n != 3+1 || n != pagesOf(t, b, p.ID, "reseller") {
				t.Errorf("the reseller agreement has %d pages, want 4", n)
			}
			if code, _ := b.do(t, "GET", strings.TrimPrefix(strings.TrimSuffix(resellerURL, "reseller-agreement.pdf")+"eula.pdf", b.app.URL()), "", nil); code != 404 {
				t.Errorf("the reseller agreement's token as a EULA: %d", code)
			}

			// A form naming a document that was never uploaded fails to
			// publish, saying why.
			form = offerForm("123456789012")
			form["eula"] = map[string]any{"kind": "custom", "documents": []map[string]any{{"name": "eula.pdf", "contentType": "application/pdf", "size": 1000}}}
			failed := submit(create(form).ID, offer.StateFailed)
			if !strings.Contains(failed.Failure, `the custom EULA cannot be published: the custom EULA of offer `+failed.ID+` lists "eula.pdf", which Concord does not hold`) {
				t.Errorf("failure %q", failed.Failure)
			}
		})
	}
}
