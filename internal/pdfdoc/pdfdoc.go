// Package pdfdoc makes the PDF documents Concord hands to others: plain text
// rendered as PDF pages, several PDFs merged into one, and the page count of a
// PDF (which doubles as the check that a PDF can be read at all). Offers use
// it to consolidate custom EULA documents into the one document AWS takes;
// bookable artifacts reuse it.
//
// Text is set with fpdf's core fonts (nothing to install or embed); PDFs are
// read and merged with pdfcpu, which is told never to touch the user's
// configuration directory.
package pdfdoc

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-pdf/fpdf"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// Layout of rendered text: US Letter, Courier 10 pt on 12 pt lines, 0.75 in
// margins. That is 84 characters a line and 54 lines a page.
const (
	pageWidth    = 612.0 // points
	pageHeight   = 792.0
	margin       = 54.0
	footerHeight = 24.0
	fontSize     = 10.0
	lineHeight   = 12.0
	// charWidth is Courier's advance: 600/1000 em.
	charWidth = fontSize * 0.6
	tabWidth  = 8
)

// Columns is how many characters of text fit on a line; longer lines wrap.
const Columns = int((pageWidth - 2*margin) / charWidth)

// ErrUnreadable is returned (wrapped) for a PDF pdfcpu cannot read.
var ErrUnreadable = errors.New("not a PDF that can be read")

// TextToPDF renders UTF-8 text as PDF pages: title as a heading on the first
// page (and in every page's footer, with the page number), the text in a
// monospace font, lines wrapped at Columns characters (at a space where there
// is one), tabs expanded, a form feed starting a new page. Characters the PDF
// core fonts cannot show (outside Windows-1252) become '?', as do control
// characters and invalid UTF-8.
func TextToPDF(title, text string) (out []byte, err error) {
	defer recoverTo(&err, "render text", errRender)
	pdf := fpdf.NewCustom(&fpdf.InitType{OrientationStr: "P", UnitStr: "pt", SizeStr: "Letter"})
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, margin+footerHeight)
	pdf.SetTitle(title, true)
	pdf.SetCreator("Concord", false)
	// The alias holds a control character, which rendered text never does
	// (cp1252 turns them into '?'), so no text is mistaken for it.
	const total = "\x1fnb\x1f"
	pdf.AliasNbPages(total)
	footer := cp1252(title)
	pdf.SetFooterFunc(func() {
		pdf.SetY(pageHeight - margin)
		pdf.SetFont("Helvetica", "", 8)
		pdf.SetTextColor(110, 110, 110)
		label := fmt.Sprintf("Page %d of %s", pdf.PageNo(), total)
		w := pageWidth - 2*margin - pdf.GetStringWidth(label) - 12
		pdf.CellFormat(w, 10, clip(pdf, footer, w), "", 0, "L", false, 0, "")
		pdf.CellFormat(0, 10, label, "", 0, "R", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
	})
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 13)
	pdf.MultiCell(0, 16, cp1252(title), "", "L", false)
	pdf.Ln(lineHeight)
	pdf.SetFont("Courier", "", fontSize)
	text = strings.TrimPrefix(text, "\uFEFF") // a byte order mark is not text
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	for i, page := range strings.Split(text, "\f") {
		if i > 0 {
			pdf.AddPage()
		}
		for _, line := range strings.Split(page, "\n") {
			for _, l := range wrap(expandTabs(line), Columns) {
				pdf.CellFormat(0, lineHeight, cp1252(l), "", 1, "L", false, 0, "")
			}
		}
	}
	if err := pdf.Error(); err != nil {
		return nil, fmt.Errorf("render text: %w", err)
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("render text: %w", err)
	}
	return buf.Bytes(), nil
}

// clip shortens s (already cp1252) to fit width w in the current font.
func clip(pdf *fpdf.Fpdf, s string, w float64) string {
	if pdf.GetStringWidth(s) <= w {
		return s
	}
	for len(s) > 0 && pdf.GetStringWidth(s+"...") > w {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// expandTabs replaces tabs by spaces up to the next tab stop.
func expandTabs(line string) string {
	if !strings.Contains(line, "\t") {
		return line
	}
	var b strings.Builder
	col := 0
	for _, r := range line {
		if r == '\t' {
			n := tabWidth - col%tabWidth
			b.WriteString(strings.Repeat(" ", n))
			col += n
			continue
		}
		b.WriteRune(r)
		col++
	}
	return b.String()
}

// wrap cuts a line into pieces of at most cols characters, at the last space
// that fits where there is one. An empty line is one empty piece.
func wrap(line string, cols int) []string {
	line = strings.TrimRight(line, " ")
	if utf8.RuneCountInString(line) <= cols {
		return []string{line}
	}
	var out []string
	rs := []rune(line)
	for len(rs) > cols {
		cut, next := cols, cols
		for i := cols; i > cols/2; i-- {
			if rs[i] == ' ' {
				// The space the line breaks at starts neither line.
				cut, next = i, i+1
				break
			}
		}
		out = append(out, strings.TrimRight(string(rs[:cut]), " "))
		rs = rs[next:]
	}
	return append(out, string(rs))
}

// cp1252 encodes s in Windows-1252, the encoding of the PDF core fonts;
// anything else becomes '?'.
func cp1252(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			b = append(b, '?')
		case r < 0x20 || r == 0x7f:
			b = append(b, '?')
		case r < 0x80:
			b = append(b, byte(r))
		case r >= 0xa0 && r <= 0xff:
			b = append(b, byte(r))
		default:
			if c, ok := cp1252High[r]; ok {
				b = append(b, c)
			} else {
				b = append(b, '?')
			}
		}
	}
	return string(b)
}

// cp1252High maps the characters Windows-1252 places at 0x80-0x9F.
var cp1252High = map[rune]byte{
	'€': 0x80, '‚': 0x82, 'ƒ': 0x83, '„': 0x84, '…': 0x85, '†': 0x86, '‡': 0x87, 'ˆ': 0x88, '‰': 0x89, 'Š': 0x8a, '‹': 0x8b,
	'Œ': 0x8c, 'Ž': 0x8e, '‘': 0x91, '’': 0x92, '“': 0x93, '”': 0x94, '•': 0x95, '–': 0x96, '—': 0x97, '˜': 0x98, '™': 0x99,
	'š': 0x9a, '›': 0x9b, 'œ': 0x9c, 'ž': 0x9e, 'Ÿ': 0x9f,
}

var configOnce sync.Once

// config is pdfcpu's configuration for reading and merging: relaxed
// validation (as real-world PDFs need), no bookmarks added, and no
// configuration directory (pdfcpu would otherwise create one under the
// user's home on first use).
func config() *model.Configuration {
	configOnce.Do(api.DisableConfigDir)
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	conf.CreateBookmarks = false
	return conf
}

// read parses and validates one PDF.
func read(doc []byte, conf *model.Configuration) (*model.Context, error) {
	if !bytes.HasPrefix(doc, []byte("%PDF-")) {
		return nil, fmt.Errorf("%w: it does not start with %%PDF-", ErrUnreadable)
	}
	ctx, err := api.ReadAndValidate(bytes.NewReader(doc), conf)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	if ctx.PageCount < 1 {
		return nil, fmt.Errorf("%w: it has no pages", ErrUnreadable)
	}
	return ctx, nil
}

// PageCount reads a PDF and returns how many pages it has. An error (wrapping
// ErrUnreadable) means pdfcpu cannot read it, and so Merge could not merge it.
func PageCount(doc []byte) (n int, err error) {
	defer recoverTo(&err, "read PDF", ErrUnreadable)
	ctx, err := read(doc, config())
	if err != nil {
		return 0, err
	}
	return ctx.PageCount, nil
}

// PageSizes reads a PDF and returns the width and height of each page, in
// points, in order: enough to tell documents apart in a merged PDF.
func PageSizes(doc []byte) (sizes [][2]float64, err error) {
	defer recoverTo(&err, "read PDF", ErrUnreadable)
	ctx, err := read(doc, config())
	if err != nil {
		return nil, err
	}
	dims, err := ctx.PageDims()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	for _, d := range dims {
		sizes = append(sizes, [2]float64{d.Width, d.Height})
	}
	return sizes, nil
}

// Merge concatenates PDFs, in order, into one. A PDF 2.0 input makes the
// result PDF 2.0 (pdfcpu's own merge would refuse it after the first input).
func Merge(docs ...[]byte) (out []byte, err error) {
	defer recoverTo(&err, "merge PDFs", ErrUnreadable)
	if len(docs) == 0 {
		return nil, errors.New("merge PDFs: nothing to merge")
	}
	conf := config()
	conf.Cmd = model.MERGECREATE
	ctxs := make([]*model.Context, len(docs))
	v20 := false
	for i, d := range docs {
		ctx, err := read(d, conf)
		if err != nil {
			return nil, fmt.Errorf("merge PDFs: document %d: %w", i+1, err)
		}
		ctxs[i] = ctx
		v20 = v20 || ctx.XRefTable.Version() == model.V20
	}
	dest := ctxs[0]
	dest.EnsureVersionForWriting()
	if v20 {
		v := model.V20
		dest.RootVersion = &v
	}
	for i, src := range ctxs[1:] {
		if err := pdfcpu.MergeXRefTables(fmt.Sprint(i+2), src, dest, false, false); err != nil {
			return nil, fmt.Errorf("merge PDFs: document %d: %w", i+2, err)
		}
	}
	var buf bytes.Buffer
	if err := api.WriteContext(dest, &buf); err != nil {
		return nil, fmt.Errorf("merge PDFs: write: %w", err)
	}
	return buf.Bytes(), nil
}

var errRender = errors.New("the PDF library failed")

// recoverTo turns a panic in the PDF libraries (malformed input reaches code
// paths that panic) into an error wrapping kind.
func recoverTo(err *error, what string, kind error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: %w: %v", what, kind, r)
	}
}
