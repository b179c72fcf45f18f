package report

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/money"
	"github.com/concordmp/concord/internal/store"
)

// ChargeRow is what a license's accepted usage of one dimension comes to in
// one month: the quantity AWS accepted (BatchMeterUsage Success) times the
// unit price of the usage rate card of the license's agreement.
type ChargeRow struct {
	LicenseID   string `json:"licenseId"`
	AgreementID string `json:"agreementId"`
	// Month is YYYY-MM (UTC), of the usage hours.
	Month     string `json:"month"`
	Dimension string `json:"dimension"`
	Accepted  int64  `json:"accepted"`
	// UnitPrice is the rate card's price per unit; empty when the terms
	// price no usage of the dimension (or are not known yet).
	UnitPrice string `json:"unitPrice,omitempty"`
	Currency  string `json:"currency,omitempty"`
	// Charge is Accepted × UnitPrice, exact; empty without a unit price.
	Charge string `json:"charge,omitempty"`
}

// MeteredCharges works out a license's metered charges per month and
// dimension, newest month first. Usage is priced with the rate card of the
// agreement the license is under now (an amendment that carried the license
// over prices its earlier usage too).
func MeteredCharges(ctx context.Context, db *store.DB, licenseID string) ([]ChargeRow, error) {
	out := []ChargeRow{}
	err := db.Read(ctx, func(tx *store.Tx) error {
		var agreementID string
		var terms *string
		err := tx.QueryRow(ctx, `SELECT l.agreement_id, a.terms FROM licenses l LEFT JOIN agreements a ON a.agreement_id = l.agreement_id WHERE l.license_id = ?`,
			licenseID).Scan(&agreementID, &terms)
		if err != nil {
			return err
		}
		var t marketplace.Terms
		if terms != nil && *terms != "" {
			if err := json.Unmarshal([]byte(*terms), &t); err != nil {
				return fmt.Errorf("decode the terms of %s: %w", agreementID, err)
			}
		}
		prices := map[string]string{}
		for _, p := range t.Pricing {
			if p.Term == "UsageBasedPricingTerm" {
				prices[p.Dimension] = p.Price
			}
		}
		type hour struct {
			dimension string
			hour, qty int64
		}
		hours, err := store.QueryAll(ctx, tx, func(r store.Scanner) (hour, error) {
			var h hour
			err := r.Scan(&h.dimension, &h.hour, &h.qty)
			return h, err
		}, `SELECT b.dimension, b.hour, b.quantity FROM usage_buckets b JOIN metering_records m ON m.record_id = b.record_id
			WHERE b.license_id = ? AND m.status = 'success'`, licenseID)
		if err != nil {
			return err
		}
		sums := map[[2]string]int64{}
		for _, h := range hours {
			sums[[2]string{store.FromMillis(h.hour).Format("2006-01"), h.dimension}] += h.qty
		}
		for k, n := range sums {
			row := ChargeRow{LicenseID: licenseID, AgreementID: agreementID, Month: k[0], Dimension: k[1], Accepted: n}
			if p, ok := money.Parse(prices[k[1]]); ok {
				row.UnitPrice, row.Currency = prices[k[1]], t.Currency
				row.Charge = money.Plain(p.Mul(decimal.NewFromInt(n)), t.Currency)
			}
			out = append(out, row)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("metered charges of %s: %w", licenseID, err)
	}
	slices.SortFunc(out, func(a, b ChargeRow) int {
		return strings.Compare(b.Month+"\x00"+a.Dimension, a.Month+"\x00"+b.Dimension)
	})
	return out, nil
}
