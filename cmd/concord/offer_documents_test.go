package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/pdfdoc"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestOfferDocumentCommands adds, lists and removes the documents of a draft
// offer's custom EULA with the CLI, on both databases.
func TestOfferDocumentCommands(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := backfillDB(t, d, marketplace.Product{ProductID: "prod-doc", ProductCode: "code-doc", Type: marketplace.ProductSaaSContract,
				Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}}})
			dir := t.TempDir()
			write := func(name string, content []byte) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, content, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			form := write("form.json", []byte(`{"type":"direct","buyerCompany":"Initech","productId":"prod-doc",
				"pricing":{"currency":"USD","duration":"P12M","dimensions":[{"key":"seats","kind":"contract","quantity":5,"price":"100.00"}]},
				"eula":{"kind":"standard"},"metadata":{"AWS Account Number":"123456789012"},"expiresOn":"2099-12-31"}`))
			code, out, errOut := runCLI(append([]string{"offer", "create", "--file", form}, db...)...)
			var o offer.Detail
			if json.Unmarshal([]byte(out), &o); code != 0 || o.ID == "" {
				t.Fatalf("create: %d %s %s", code, out, errOut)
			}
			pdf, err := pdfdoc.TextToPDF("two pages", strings.Repeat("line\n", 80))
			if err != nil {
				t.Fatal(err)
			}
			txt, terms := write("terms.txt", []byte("These terms apply.\n")), write("order-form.pdf", pdf)

			code, out, errOut = runCLI(append([]string{"offer", "document", "add", "--id", o.ID, "--kind", "eula", txt, terms}, db...)...)
			if code != 0 || !strings.Contains(out, "terms.txt") || !strings.Contains(out, "order-form.pdf") || !strings.Contains(out, "PAGES") {
				t.Fatalf("add: %d\n%s%s", code, out, errOut)
			}
			// Flags may follow the files.
			annex := write("annex.txt", []byte("Annex\n"))
			if code, out, errOut := runCLI(append([]string{"offer", "document", "add", annex, "--id", o.ID}, db...)...); code != 0 {
				t.Fatalf("add after the file: %d %s %s", code, out, errOut)
			}
			code, out, _ = runCLI(append([]string{"offer", "document", "list", "--id", o.ID, "--json"}, db...)...)
			var docs []offer.StoredDocument
			if err := json.Unmarshal([]byte(out), &docs); code != 0 || err != nil || len(docs) != 3 {
				t.Fatalf("list: %d %s", code, out)
			}
			if docs[0].Name != "terms.txt" || docs[1].ContentType != "application/pdf" || docs[1].Pages != 2 || docs[2].Name != "annex.txt" {
				t.Errorf("documents %+v", docs)
			}

			// A file that is not what it claims is refused, naming it.
			bin := write("logo.txt", []byte{0x89, 'P', 'N', 'G', 0, 0xff})
			if code, _, errOut := runCLI(append([]string{"offer", "document", "add", "--id", o.ID, bin}, db...)...); code != 1 || !strings.Contains(errOut, `"logo.txt" is not UTF-8 text`) {
				t.Errorf("binary text: %d %s", code, errOut)
			}
			fake := write("fake.pdf", []byte("not a pdf"))
			if code, _, errOut := runCLI(append([]string{"offer", "document", "add", "--id", o.ID, fake}, db...)...); code != 1 || !strings.Contains(errOut, `"fake.pdf" is not a PDF`) {
				t.Errorf("fake PDF: %d %s", code, errOut)
			}
			if code, _, errOut := runCLI(append([]string{"offer", "document", "add", "--id", o.ID, "--kind", "reseller", txt}, db...)...); code != 1 || !strings.Contains(errOut, "only a partner offer has a reseller agreement") {
				t.Errorf("reseller agreement of a direct offer: %d %s", code, errOut)
			}

			code, out, errOut = runCLI(append([]string{"offer", "document", "remove", "--id", o.ID, "--doc", docs[1].ID}, db...)...)
			if code != 0 || strings.Contains(out, "order-form.pdf") || !strings.Contains(out, "annex.txt") {
				t.Fatalf("remove: %d\n%s%s", code, out, errOut)
			}
			code, out, _ = runCLI(append([]string{"offer", "show", "--id", o.ID}, db...)...)
			if code != 0 || !strings.Contains(out, `"kind": "custom"`) || !strings.Contains(out, "document removed") {
				t.Errorf("show: %d %s", code, out)
			}

			for _, args := range [][]string{{"offer", "document"}, {"offer", "document", "frob"}, {"offer", "document", "add", "--id", o.ID},
				{"offer", "document", "add", txt}, {"offer", "document", "remove", "--id", o.ID}, {"offer", "document", "list", "--id", o.ID, "extra"}} {
				if code, _, errOut := runCLI(append(args, db...)...); code != 2 {
					t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
				}
			}
			if code, _, errOut := runCLI("offer", "document", "add", "-h"); code != 0 || !strings.Contains(errOut, "Usage: concord offer document add") {
				t.Errorf("help: %d %s", code, errOut)
			}
		})
	}
}
