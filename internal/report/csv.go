package report

import (
	"io"
	"strconv"
	"time"

	"github.com/concordmp/concord/internal/csvexport"
)

// The CSV downloads have the columns of the /v1 API's JSON for the same
// list, named as its fields are, in the same order.

// AgreementColumns are the columns of an agreements CSV.
var AgreementColumns = []string{"agreementId", "status", "intent", "productId", "productTitle", "buyerAccountId", "buyerCompany", "channel",
	"resaleAuthorizationId", "acceptedAt", "startsAt", "endsAt", "contractValue", "currency", "valueBasis"}

// Cells is the row's CSV cells, in AgreementColumns' order.
func (a AgreementRow) Cells() []string {
	return []string{a.AgreementID, a.Status, a.Intent, a.ProductID, a.ProductTitle, a.BuyerAccountID, a.BuyerCompany, a.Channel,
		a.ResaleAuthorizationID, stamp(a.AcceptedAt), stamp(a.StartsAt), stamp(a.EndsAt), a.ContractValue, a.Currency, a.ValueBasis}
}

// BuyerColumns are the columns of a buyers CSV.
var BuyerColumns = []string{"accountId", "company", "companySource", "firstSeenAt", "agreements", "agreementsInForce", "licenses", "licensesInForce"}

// Cells is the row's CSV cells, in BuyerColumns' order.
func (b BuyerRow) Cells() []string {
	return []string{b.AccountID, b.Name, b.Source, stamp(&b.FirstSeenAt), strconv.Itoa(b.Agreements), strconv.Itoa(b.AgreementsInForce),
		strconv.Itoa(b.Licenses), strconv.Itoa(b.LicensesInForce)}
}

// BookingColumns are the columns of a bookings CSV.
var BookingColumns = []string{"period", "productId", "productTitle", "channel", "currency", "agreements", "total"}

// Cells is the row's CSV cells, in BookingColumns' order.
func (b BookingRow) Cells() []string {
	return []string{b.Period, b.ProductID, b.ProductTitle, b.Channel, b.Currency, strconv.Itoa(b.Agreements), b.Total}
}

// RunRateColumns are the columns of a run rate CSV.
var RunRateColumns = []string{"productId", "productTitle", "currency", "agreements", "annual"}

// Cells is the row's CSV cells, in RunRateColumns' order.
func (r RunRate) Cells() []string {
	return []string{r.ProductID, r.ProductTitle, r.Currency, strconv.Itoa(r.Agreements), r.Annual}
}

// Celled is a row that writes itself as CSV cells.
type Celled interface{ Cells() []string }

// WriteCSV writes a header and rows as CSV, every cell guarded against
// formula injection (csvexport).
func WriteCSV[T Celled](w io.Writer, columns []string, rows []T) error {
	cw := csvexport.NewWriter(w)
	if err := cw.Write(columns); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write(r.Cells()); err != nil {
			return err
		}
	}
	return cw.Flush()
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
