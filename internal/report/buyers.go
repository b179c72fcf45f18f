package report

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/store"
)

// BuyerRow is one buyer as the Buyers list shows it.
type BuyerRow struct {
	AccountID string `json:"accountId"`
	Company
	FirstSeenAt       time.Time `json:"firstSeenAt"`
	Agreements        int       `json:"agreements"`
	AgreementsInForce int       `json:"agreementsInForce"`
	Licenses          int       `json:"licenses"`
	LicensesInForce   int       `json:"licensesInForce"`
}

// BuyerSortKeys are the columns the Buyers list sorts by.
var BuyerSortKeys = []string{"company", "account", "first_seen", "agreements"}

// DefaultBuyerOrder lists buyers by company name.
var DefaultBuyerOrder = Order{Key: "company"}

// BuyerFilter narrows the Buyers list.
type BuyerFilter struct {
	// Query matches the account id (digits) or the company name
	// (case-insensitive, any script).
	Query string
	// ProductID keeps buyers holding an agreement or license of the product.
	ProductID string
	Order     Order
	Page
}

var buyerOrders = map[string]func(a, b BuyerRow) int{
	"company": func(a, b BuyerRow) int { return textCompare(a.Name, b.Name) },
	"account": func(a, b BuyerRow) int { return strings.Compare(a.AccountID, b.AccountID) },
	"first_seen": func(a, b BuyerRow) int {
		return a.FirstSeenAt.Compare(b.FirstSeenAt)
	},
	"agreements": func(a, b BuyerRow) int {
		return cmp.Or(cmp.Compare(a.AgreementsInForce, b.AgreementsInForce), cmp.Compare(a.Agreements, b.Agreements))
	},
}

// Buyers lists buyers with their company names and what they hold,
// filtered, sorted and paged.
func Buyers(ctx context.Context, db *store.DB, f BuyerFilter) (Paged[BuyerRow], error) {
	var err error
	if f.Query, err = cleanSearch(f.Query); err != nil {
		return Paged[BuyerRow]{}, err
	}
	if f.Order.Key == "" {
		f.Order = DefaultBuyerOrder
	}
	var rows []BuyerRow
	err = db.Read(ctx, func(tx *store.Tx) error {
		q := `SELECT b.account_id, b.first_seen_at,
			(SELECT COUNT(*) FROM agreements a WHERE a.acceptor_account_id = b.account_id),
			(SELECT COUNT(*) FROM agreements a WHERE a.acceptor_account_id = b.account_id AND a.status = 'ACTIVE'),
			(SELECT COUNT(*) FROM licenses l WHERE l.account_id = b.account_id),
			(SELECT COUNT(*) FROM licenses l WHERE l.account_id = b.account_id AND l.state = 'active')
			FROM buyers b`
		var args []any
		if f.ProductID != "" {
			q += ` WHERE (EXISTS (SELECT 1 FROM agreements a WHERE a.acceptor_account_id = b.account_id AND a.product_id = ?)
				OR EXISTS (SELECT 1 FROM licenses l WHERE l.account_id = b.account_id AND l.product_id = ?))`
			args = append(args, f.ProductID, f.ProductID)
		}
		all, err := store.QueryAll(ctx, tx, func(r store.Scanner) (BuyerRow, error) {
			var b BuyerRow
			var first int64
			err := r.Scan(&b.AccountID, &first, &b.Agreements, &b.AgreementsInForce, &b.Licenses, &b.LicensesInForce)
			b.FirstSeenAt = store.FromMillis(first)
			return b, err
		}, q, args...)
		if err != nil {
			return err
		}
		companies, err := Companies(ctx, tx)
		if err != nil {
			return err
		}
		for _, b := range all {
			b.Company = companies[b.AccountID]
			if f.Query != "" && !strings.Contains(b.AccountID, f.Query) && !Matches(b.Name, f.Query) {
				continue
			}
			rows = append(rows, b)
		}
		return nil
	})
	if err != nil {
		return Paged[BuyerRow]{}, fmt.Errorf("list buyers: %w", err)
	}
	return sortPage(rows, f.Order, buyerOrders, func(a, b BuyerRow) int { return strings.Compare(a.AccountID, b.AccountID) }, f.Page), nil
}
