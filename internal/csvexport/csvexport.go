// Package csvexport writes the console's and the API's CSV downloads, every
// cell guarded against spreadsheet formula injection.
//
// OWASP's "CSV Injection" page: a cell that starts with =, +, -, @, a tab
// (0x09) or a carriage return (0x0D) may be run as a formula by a
// spreadsheet; prefix such a cell with a single quote so it is read as text
// (and quote cells, which encoding/csv does for cells that need it). Plain
// numbers ("-12.50") cannot be formulas and are written as they are, so
// negative amounts stay numbers.
package csvexport

import (
	"encoding/csv"
	"io"
	"regexp"
	"strings"
)

// number is a plain decimal number: never a formula.
var number = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// Cell returns s as it is safe to put in a cell: prefixed with a single
// quote when a spreadsheet could take it for a formula.
func Cell(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) || number.MatchString(s) {
		return s
	}
	return "'" + s
}

// Writer writes CSV rows, guarding every cell (Cell).
type Writer struct {
	w   *csv.Writer
	row []string
}

// NewWriter writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one row.
func (w *Writer) Write(cells []string) error {
	w.row = w.row[:0]
	for _, c := range cells {
		w.row = append(w.row, Cell(c))
	}
	return w.w.Write(w.row)
}

// Flush writes what is buffered and returns the first error of any write.
func (w *Writer) Flush() error {
	w.w.Flush()
	return w.w.Error()
}

// ContentType is the media type of the downloads.
const ContentType = "text/csv; charset=utf-8"
