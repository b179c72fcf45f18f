package pdfdoc_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"

	"github.com/concordmp/concord/internal/pdfdoc"
)

// pdfOf is a PDF of n pages of the given size (fpdf's names: A4, A5, Letter).
func pdfOf(t testing.TB, size string, n int) []byte {
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

func pages(t testing.TB, doc []byte) int {
	t.Helper()
	n, err := pdfdoc.PageCount(doc)
	if err != nil {
		t.Fatalf("page count: %v", err)
	}
	return n
}

func TestTextToPDF(t *testing.T) {
	t.Parallel()
	t.Run("short text is one page", func(t *testing.T) {
		t.Parallel()
		doc, err := pdfdoc.TextToPDF("terms.txt", "These terms apply.\n\tIndented — “quoted” 5 €.\n")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(doc, []byte("%PDF-")) || pages(t, doc) != 1 {
			t.Fatalf("not a one-page PDF: %q…", doc[:min(20, len(doc))])
		}
	})
	t.Run("long text breaks pages, a form feed starts one", func(t *testing.T) {
		t.Parallel()
		// 54 lines fit a page, fewer on the first (the heading).
		lines := strings.Repeat("a line\n", 200)
		doc, err := pdfdoc.TextToPDF("long.txt", lines)
		if err != nil {
			t.Fatal(err)
		}
		n := pages(t, doc)
		if n != 4 {
			t.Errorf("200 lines take %d pages, want 4", n)
		}
		doc, err = pdfdoc.TextToPDF("long.txt", lines+"\f"+"after the break")
		if err != nil {
			t.Fatal(err)
		}
		if got := pages(t, doc); got != n+1 {
			t.Errorf("a form feed gave %d pages, want %d", got, n+1)
		}
	})
	t.Run("long lines wrap", func(t *testing.T) {
		t.Parallel()
		one, _ := pdfdoc.TextToPDF("w.txt", strings.Repeat("x", pdfdoc.Columns))
		wrapped, _ := pdfdoc.TextToPDF("w.txt", strings.Repeat("word ", 54*pdfdoc.Columns/5))
		if pages(t, one) != 1 || pages(t, wrapped) < 2 {
			t.Errorf("wrapping: %d and %d pages", pages(t, one), pages(t, wrapped))
		}
	})
	t.Run("anything renders", func(t *testing.T) {
		t.Parallel()
		for _, text := range []string{"", "\x00\x01\x7f", "日本語のテキスト", "\xff\xfe bad utf-8", "\r\n\r", "(unbalanced \\ parens", "\x1fnb\x1f"} {
			doc, err := pdfdoc.TextToPDF("odd "+text, text)
			if err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			if pages(t, doc) != 1 {
				t.Errorf("%q: %d pages", text, pages(t, doc))
			}
		}
	})
}

func TestMerge(t *testing.T) {
	t.Parallel()
	txt, err := pdfdoc.TextToPDF("a.txt", strings.Repeat("line\n", 100))
	if err != nil {
		t.Fatal(err)
	}
	a4, a5 := pdfOf(t, "A4", 3), pdfOf(t, "A5", 2)
	merged, err := pdfdoc.Merge(a5, txt, a4)
	if err != nil {
		t.Fatal(err)
	}
	want := pages(t, a5) + pages(t, txt) + pages(t, a4)
	if got := pages(t, merged); got != want || want != 7 {
		t.Fatalf("merged %d pages, want %d (7)", got, want)
	}
	sizes, err := pdfdoc.PageSizes(merged)
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
	if got := strings.Join(order, " "); got != "A5 A5 Letter Letter A4 A4 A4" {
		t.Errorf("page order %s", got)
	}

	t.Run("a PDF 2.0 input after the first", func(t *testing.T) {
		t.Parallel()
		v20 := bytes.Replace(pdfOf(t, "A4", 1), []byte("%PDF-1.3"), []byte("%PDF-2.0"), 1)
		out, err := pdfdoc.Merge(pdfOf(t, "A5", 1), v20)
		if err != nil {
			t.Fatal(err)
		}
		if pages(t, out) != 2 || !bytes.HasPrefix(out, []byte("%PDF-2.0")) {
			t.Errorf("merged %d pages, header %q", pages(t, out), out[:8])
		}
	})
	t.Run("unreadable input", func(t *testing.T) {
		t.Parallel()
		for _, bad := range [][]byte{nil, []byte("hello"), []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF"), pdfOf(t, "A4", 1)[:200]} {
			if _, err := pdfdoc.PageCount(bad); !errors.Is(err, pdfdoc.ErrUnreadable) {
				t.Errorf("PageCount(%q…) = %v, want ErrUnreadable", bad[:min(len(bad), 12)], err)
			}
			if _, err := pdfdoc.Merge(a4, bad); !errors.Is(err, pdfdoc.ErrUnreadable) {
				t.Errorf("Merge(…, %q…) = %v, want ErrUnreadable", bad[:min(len(bad), 12)], err)
			}
		}
		if _, err := pdfdoc.Merge(); err == nil {
			t.Error("merging nothing succeeded")
		}
	})
}

func BenchmarkTextToPDF6MB(b *testing.B) {
	text := strings.Repeat(strings.Repeat("lorem ipsum dolor sit amet ", 3)+"\n", 6<<20/82)
	for b.Loop() {
		if _, err := pdfdoc.TextToPDF("big.txt", text); err != nil {
			b.Fatal(err)
		}
	}
}
