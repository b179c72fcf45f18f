package backfill

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/concordmp/concord/internal/marketplace"
)

// The columns of AWS's usage-only mapping CSV, as AWS names them. Headers are
// matched case-insensitively; other columns are ignored.
const (
	ColCustomerIdentifier = "CustomerIdentifier"
	ColAccountID          = "CustomerAWSAccountId"
	ColAgreementID        = "AgreementId"
	ColLicenseArn         = "LicenseArn"
)

var columns = []string{ColCustomerIdentifier, ColAccountID, ColAgreementID, ColLicenseArn}

// agreementIDPattern is an agreement id: "agmt-" and the Agreement API's id
// characters, 64 in all at most.
var agreementIDPattern = regexp.MustCompile(`^agmt-[A-Za-z0-9_-]{1,59}$`)

// Row is one customer-to-license mapping of the CSV.
type Row struct {
	Line               int    `json:"line"`
	CustomerIdentifier string `json:"customerIdentifier"`
	AccountID          string `json:"accountId"`
	AgreementID        string `json:"agreementId"`
	LicenseArn         string `json:"licenseArn"`
}

func (r Row) same(o Row) bool {
	return r.CustomerIdentifier == o.CustomerIdentifier && r.AccountID == o.AccountID && r.AgreementID == o.AgreementID && r.LicenseArn == o.LicenseArn
}

// Problem is what is wrong with one line of an input file.
type Problem struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Line == 0 {
		return p.Message
	}
	return fmt.Sprintf("line %d: %s", p.Line, p.Message)
}

// BadInputError lists every bad line of an input file; nothing was applied. It
// unwraps to an invalid marketplace.Error.
type BadInputError struct {
	What     string // "CSV" or "accounts file"
	Problems []Problem
}

func (e *BadInputError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the %s has %d problem(s); nothing was imported:", e.What, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap makes the error an invalid-input application error.
func (e *BadInputError) Unwrap() error {
	return &marketplace.Error{Code: marketplace.EInvalid, Message: e.Error()}
}

// ParseCSV reads AWS's mapping CSV: a header row naming the CustomerIdentifier,
// CustomerAWSAccountId, AgreementId and LicenseArn columns (in any order, any
// case, with other columns ignored and a UTF-8 byte order mark tolerated), then
// one mapping per row. It checks every row and returns a *BadInputError listing
// each bad one; otherwise the distinct mappings (a row repeated identically
// counts once) and the number of data rows read.
func ParseCSV(r io.Reader) (rows []Row, read int, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	bad := &BadInputError{What: "CSV"}
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, 0, &BadInputError{What: "CSV", Problems: []Problem{{Message: "it is empty: expected a header row naming " + strings.Join(columns, ", ")}}}
	} else if err != nil {
		return nil, 0, &BadInputError{What: "CSV", Problems: []Problem{csvProblem(err)}}
	}
	idx, p := headerIndex(header)
	if p != "" {
		return nil, 0, &BadInputError{What: "CSV", Problems: []Problem{{Line: 1, Message: p}}}
	}
	need := 0
	for _, i := range idx {
		need = max(need, i+1)
	}
	byLicense := map[string]Row{}
	byCustomer := map[string]Row{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			bad.Problems = append(bad.Problems, csvProblem(err))
			break // the rest of a malformed file cannot be trusted
		}
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			continue
		}
		read++
		if len(rec) < need {
			bad.Problems = append(bad.Problems, Problem{line, fmt.Sprintf("%d field(s), but the header names %d", len(rec), len(header))})
			continue
		}
		row := Row{Line: line, CustomerIdentifier: strings.TrimSpace(rec[idx[0]]), AccountID: strings.TrimSpace(rec[idx[1]]),
			AgreementID: strings.TrimSpace(rec[idx[2]]), LicenseArn: strings.TrimSpace(rec[idx[3]])}
		if msgs := checkRow(row); len(msgs) > 0 {
			bad.Problems = append(bad.Problems, Problem{line, strings.Join(msgs, "; ")})
			continue
		}
		id := marketplace.LicenseID(row.LicenseArn)
		if prev, ok := byLicense[id]; ok {
			if !prev.same(row) {
				bad.Problems = append(bad.Problems, Problem{line, fmt.Sprintf("license %s is also on line %d, with different data", id, prev.Line)})
			}
			continue
		}
		if prev, ok := byCustomer[row.CustomerIdentifier]; ok && prev.AccountID != row.AccountID {
			bad.Problems = append(bad.Problems, Problem{line, fmt.Sprintf("CustomerIdentifier %s belongs to account %s on line %d, not %s",
				row.CustomerIdentifier, prev.AccountID, prev.Line, row.AccountID)})
			continue
		}
		byLicense[id] = row
		byCustomer[row.CustomerIdentifier] = row
		rows = append(rows, row)
	}
	if len(bad.Problems) > 0 {
		return nil, read, bad
	}
	return rows, read, nil
}

func csvProblem(err error) Problem {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Problem{pe.Line, fmt.Sprintf("malformed CSV (%v); the lines after it were not checked", pe.Err)}
	}
	return Problem{Message: fmt.Sprintf("read the CSV: %v", err)}
}

// headerIndex finds the four columns in the header row, in the order of columns.
func headerIndex(header []string) ([]int, string) {
	idx := []int{-1, -1, -1, -1}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = strings.TrimSpace(h)
		for c, name := range columns {
			if strings.EqualFold(h, name) {
				if idx[c] >= 0 {
					return nil, fmt.Sprintf("the header names column %s twice", name)
				}
				idx[c] = i
			}
		}
	}
	var missing []string
	for c, i := range idx {
		if i < 0 {
			missing = append(missing, columns[c])
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Sprintf("the header row lacks column(s) %s: it must name %s", strings.Join(missing, ", "), strings.Join(columns, ", "))
	}
	return idx, ""
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// checkRow says what is wrong with one row.
func checkRow(r Row) []string {
	var out []string
	for _, f := range []struct{ name, v string }{{ColCustomerIdentifier, r.CustomerIdentifier}, {ColAccountID, r.AccountID},
		{ColAgreementID, r.AgreementID}, {ColLicenseArn, r.LicenseArn}} {
		if !marketplace.Storable(f.v) {
			out = append(out, f.name+" is not valid UTF-8 text or holds a NUL character")
		}
	}
	if len(out) > 0 {
		return out
	}
	switch {
	case r.CustomerIdentifier == "":
		out = append(out, "CustomerIdentifier is empty")
	case len(r.CustomerIdentifier) > 255:
		out = append(out, "CustomerIdentifier is longer than 255 characters")
	}
	if !marketplace.ValidAccountID(r.AccountID) {
		out = append(out, fmt.Sprintf("CustomerAWSAccountId %q is not a 12-digit AWS account id", clip(r.AccountID)))
	}
	if !agreementIDPattern.MatchString(r.AgreementID) {
		out = append(out, fmt.Sprintf("AgreementId %q is not an agreement id (agmt-…)", clip(r.AgreementID)))
	}
	if msg := checkLicenseArn(r.LicenseArn); msg != "" {
		out = append(out, msg)
	}
	return out
}

// ImportCSV backfills a usage-only product from the mapping CSV AWS Marketplace
// provides. Every row is checked first; if any is bad nothing is applied and
// the error (a *BadInputError) lists each bad row by line. Licenses whose
// agreement the ledger does not know yet wait for it (Concord asks the
// Agreement API about it, and its events fold it too).
func ImportCSV(ctx context.Context, r io.Reader, o Options) (Summary, error) {
	p, err := product(ctx, o)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{ProductID: p.ProductID, ProductCode: p.ProductCode}
	if p.Type != marketplace.ProductSaaSUsage {
		if isContract(p.Type) {
			return sum, marketplace.Errorf(marketplace.EInvalid, "product %s is a contract product (%s): backfill it from GetEntitlements with `concord backfill entitlements`", p.ProductID, p.Type)
		}
		t := p.Type
		if t == "" {
			t = "not set"
		}
		return sum, marketplace.Errorf(marketplace.EInvalid, "product %s has type %s: the CSV import is for usage-only products (saas_usage); set the product's type first", p.ProductID, t)
	}
	rows, read, err := ParseCSV(r)
	sum.Rows = read
	if err != nil {
		return sum, err
	}
	bar := newBar(o.Progress, len(rows), "rows")
	facts := make([]marketplace.Fact, 0, len(rows))
	for _, row := range rows {
		facts = append(facts, found{arn: row.LicenseArn, account: row.AccountID, customer: row.CustomerIdentifier, agreement: row.AgreementID}.fact(p))
		bar.step()
	}
	bar.done()
	sum.Licenses = len(facts)
	if len(facts) == 0 {
		return sum, nil
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "importing %d licenses in one transaction...\n", len(facts))
	}
	st, err := o.Ledger.Import(ctx, facts)
	if err != nil {
		return sum, err
	}
	sum.ImportStats = st
	return sum, nil
}
