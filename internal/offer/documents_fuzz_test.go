package offer_test

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/pdfdoc"
)

// FuzzDocumentUpload: the check of an uploaded document never panics, refuses
// with a clear invalid error, and what it accepts can be consolidated: text
// renders to PDF pages, a PDF merges.
func FuzzDocumentUpload(f *testing.F) {
	pdf := samplePDF(f, "A4", 2)
	f.Add("terms.pdf", "application/pdf", pdf)
	f.Add("terms.pdf", "application/pdf", pdf[:len(pdf)/2])
	f.Add("terms.pdf", "application/pdf", []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF"))
	f.Add("terms.txt", "text/plain; charset=utf-8", []byte("These terms apply.\n\tIndented\fNew page “quoted” €\r\n"))
	f.Add("terms.txt", "text/plain", []byte{0xff, 0xfe, 't', 0, 'e', 0})
	f.Add("../../etc/passwd", "text/plain", []byte("x"))
	f.Add("a.txt", "", []byte("x"))
	f.Add("a.bin", "application/octet-stream", []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, name, contentType string, content []byte) {
		u, err := offer.CheckUpload(offer.Upload{Name: name, ContentType: contentType, Content: content})
		if err != nil {
			if marketplace.ErrorCode(err) != marketplace.EInvalid || marketplace.ErrorMessage(err) == "" {
				t.Fatalf("refusal %v is not a clear invalid error", err)
			}
			return
		}
		if u.Name == "" || !utf8.ValidString(u.Name) || len(content) == 0 || len(content) > offer.MaxEULABytes {
			t.Fatalf("accepted %q (%d bytes)", u.Name, len(content))
		}
		switch u.ContentType {
		case offer.ContentTypeText:
			if !utf8.Valid(content) || bytes.IndexByte(content, 0) >= 0 {
				t.Fatalf("accepted binary text %q", content)
			}
			doc, err := pdfdoc.TextToPDF(u.Name, string(content))
			if err != nil {
				t.Fatalf("accepted text does not render: %v", err)
			}
			if n, err := pdfdoc.PageCount(doc); err != nil || n < 1 {
				t.Fatalf("rendered text: %d pages, %v", n, err)
			}
		case offer.ContentTypePDF:
			if !bytes.HasPrefix(content, []byte("%PDF-")) {
				t.Fatalf("accepted a PDF that does not start with %%PDF-: %q", content)
			}
			// AddDocuments consolidates at once and refuses what does not
			// merge; merging must at least not panic.
			pdfdoc.Merge(pdf, content)
		default:
			t.Fatalf("accepted content type %q", u.ContentType)
		}
	})
}
