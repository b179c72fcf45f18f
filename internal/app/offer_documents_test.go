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
	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/emulator/world"
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

// inS3 returns the object a change set's document URL names in the
// emulator's S3, checking that it is the offer's consolidated contract byte
// for byte, under the key its SHA-256 gives, and returns its page count.
func inS3(t *testing.T, b *bundle, url, offerID, kind string) int {
	t.Helper()
	consolidated, err := b.app.Offers.Consolidated(context.Background(), offerID, kind)
	if err != nil {
		t.Fatal(err)
	}
	want := "https://s3.amazonaws.com/" + emulator.SandboxBucket + "/" + offer.DocumentKey(kind, consolidated)
	if url != want {
		t.Fatalf("the %s URL is %s, want %s", kind, url, want)
	}
	obj, ok := b.app.Emulator.S3.ObjectAtURL(url)
	if !ok {
		t.Fatalf("the emulator's S3 holds nothing at %s", url)
	}
	if !bytes.Equal(obj.Content, consolidated) || obj.ContentType != "application/pdf" {
		t.Fatalf("the object at %s is %d bytes of %s, not the consolidated %s (%d bytes)", url, len(obj.Content), obj.ContentType, kind, len(consolidated))
	}
	n, err := pdfdoc.PageCount(obj.Content)
	if err != nil {
		t.Fatalf("%s: not a PDF: %v", url, err)
	}
	return n
}

// s3Faults makes the emulator's S3 PutObject fail (share 1) or work (0).
func s3Faults(t *testing.T, b *bundle, share float64) {
	t.Helper()
	b.app.Emulator.World.Do(func(s *world.State) error {
		s.SetFaults(map[string]world.Fault{"PutObject": {ErrorShare: share}}, 1)
		return nil
	})
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
// API; the entities carry the S3 URLs of the consolidated PDFs, uploaded,
// content-addressed, to the emulator's S3 with every page of their documents.
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
			if len(docs) != 1 || docs[0]["Type"] != "CustomEula" {
				t.Fatalf("the offer's legal term: %v", docs)
			}
			eulaURL := fmt.Sprint(docs[0]["Url"])
			if n := inS3(t, b, eulaURL, d.ID, offer.KindEULA); n != txtPages+2 {
				t.Errorf("the published EULA has %d pages, want %d", n, txtPages+2)
			}
			// The same documents again (a clone) reuse the object: nothing is
			// uploaded, so even a failing PutObject does not stop it.
			s3Faults(t, b, 1)
			code, out := b.do(t, "POST", "/v1/offers/"+d.ID+"/clone", b.key, nil)
			var clone offer.Detail
			if json.Unmarshal(out, &clone); code != 201 {
				t.Fatalf("clone: %d %s", code, out)
			}
			again := submit(clone.ID, offer.StatePublished)
			if docs := legalDocuments(t, b, again.OfferID)["LegalTerm"]; len(docs) != 1 || fmt.Sprint(docs[0]["Url"]) != eulaURL {
				t.Fatalf("the clone's legal term %v, want the same URL %s", docs, eulaURL)
			}
			s3Faults(t, b, 0)
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
			if len(buyer) != 1 || buyer[0]["Type"] != "CustomEula" || len(resale) != 1 || resale[0]["Type"] != "CustomResellerContract" {
				t.Fatalf("the resale authorization's legal terms: %v", legal)
			}
			if n := inS3(t, b, fmt.Sprint(buyer[0]["Url"]), p.ID, offer.KindEULA); n != 1 {
				t.Errorf("the partner offer's EULA has %d pages, want 1", n)
			}
			if n := inS3(t, b, fmt.Sprint(resale[0]["Url"]), p.ID, offer.KindReseller); n != 3+1 || n != pagesOf(t, b, p.ID, "reseller") {
				t.Errorf("the reseller agreement has %d pages, want 4", n)
			}

			// A form naming a document that was never uploaded is refused at
			// submit, saying why, and stays a draft.
			form = offerForm("123456789012")
			form["eula"] = map[string]any{"kind": "custom", "documents": []map[string]any{{"name": "eula.pdf", "contentType": "application/pdf", "size": 1000}}}
			bad := create(form)
			code, out = b.do(t, "POST", "/v1/offers/"+bad.ID+"/submit", b.key, nil)
			want := `the custom EULA cannot be published: the custom EULA of offer ` + bad.ID + ` lists "eula.pdf", which Concord does not hold`
			var refusal struct{ Detail string }
			if json.Unmarshal(out, &refusal); code != 400 || !strings.Contains(refusal.Detail, want) {
				t.Errorf("submitting a form naming a missing document: %d %s", code, out)
			}
			if d := getOffer(t, b, bad.ID); d.State != offer.StateDraft || !strings.Contains(d.Failure, want) {
				t.Errorf("after the refusal: %s %q", d.State, d.Failure)
			}
		})
	}
}

// TestOfferDocumentUploadFails: when S3 refuses the upload, submitting
// answers why, and the offer stays a draft saying so, with no change set and
// no publishing job; once S3 works, the same draft is published and the
// failure is gone.
func TestOfferDocumentUploadFails(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := offersSetup(t, dialect)
			d := createOffer(t, b, offerForm("123456789012"))
			upload(t, b, d.ID, "eula", "terms.txt", "text/plain", []byte("Terms only this test uses: "+d.ID+"\n"))
			s3Faults(t, b, 1)
			code, out := b.do(t, "POST", "/v1/offers/"+d.ID+"/submit", b.key, nil)
			if code != 409 || !strings.Contains(string(out), "the custom EULA could not be uploaded: S3 PutObject s3://"+emulator.SandboxBucket+"/concord/documents/") ||
				!strings.Contains(string(out), "InternalError") {
				t.Fatalf("submit while S3 fails: %d %s", code, out)
			}
			got := getOffer(t, b, d.ID)
			if got.State != offer.StateDraft || got.ChangeSetID != "" || !strings.Contains(got.Failure, "InternalError") {
				t.Fatalf("after the failed upload: %s, change set %q, failure %q", got.State, got.ChangeSetID, got.Failure)
			}
			if last := got.History[len(got.History)-1]; last.State != offer.StateDraft || last.Step != "not submitted" {
				t.Errorf("history ends with %+v", last)
			}
			if code, out := b.do(t, "GET", "/v1/jobs?kind="+offer.JobPublish, b.key, nil); code != 200 || strings.Contains(string(out), d.ID) {
				t.Errorf("a publishing job for the refused offer: %d %s", code, out)
			}

			s3Faults(t, b, 0)
			if code, out := b.do(t, "POST", "/v1/offers/"+d.ID+"/submit", b.key, nil); code != 200 {
				t.Fatalf("submit again: %d %s", code, out)
			}
			eventually(t, "the offer to be published", func() bool {
				if got = getOffer(t, b, d.ID); got.State == offer.StateFailed {
					t.Fatalf("the offer failed: %s", got.Failure)
				}
				return got.State == offer.StatePublished
			})
			if got.Failure != "" {
				t.Errorf("the published offer still says %q", got.Failure)
			}
			docs := legalDocuments(t, b, got.OfferID)["LegalTerm"]
			if len(docs) != 1 {
				t.Fatalf("legal term: %v", docs)
			}
			inS3(t, b, fmt.Sprint(docs[0]["Url"]), d.ID, offer.KindEULA)
		})
	}
}
