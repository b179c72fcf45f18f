// Package report is what RevOps and finance read from the ledger: buyers by
// company, agreements with their contract values, bookings per month and
// quarter, and the run rate of the contracts in force. The console's pages,
// their CSV downloads and the /v1 API read the same rows from here, so a list
// shows, sorts and exports the same thing everywhere.
//
// Lists are filtered in SQL, then named, valued, sorted and cut into pages
// in Go: company names are folded in Go (SQLite's LOWER and LIKE fold ASCII
// only) and contract values are exact decimals in artifact JSON, neither of
// which SQL can order portably. A seller's ledger holds thousands of
// buyers and agreements, not millions, so this stays fast.
package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Sources of a buyer's company name (Company.Source).
const (
	// SourceManual: set by hand in the console or the API.
	SourceManual = "manual"
	// SourceOffer: the buyer company of the newest Concord offer to the account.
	SourceOffer = "offer"
	// SourceRegistration: the company of the newest tenant the account registered.
	SourceRegistration = "registration"
)

// Company is the name Concord knows a buyer by, and where it came from.
type Company struct {
	Name   string `json:"company,omitempty"`
	Source string `json:"companySource,omitempty" enum:"manual,offer,registration,"`
}

// MaxCompanyLength bounds a company name set by hand (the registration form
// and the offer form take as much).
const MaxCompanyLength = 200

// Companies names every buyer: the name set by hand, else the buyer company
// of the newest offer sent to AWS (of the newest draft when none was: a
// draft, or an offer AWS refused, is not yet what the buyer agreed to be
// called, and must not rename a buyer), else the newest registered tenant's
// company. An account without any is absent.
func Companies(ctx context.Context, tx *store.Tx) (map[string]Company, error) {
	type row struct{ account, manual, offer, tenant string }
	rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (row, error) {
		var x row
		var offer, tenant sql.NullString
		err := r.Scan(&x.account, &x.manual, &offer, &tenant)
		x.offer, x.tenant = offer.String, tenant.String
		return x, err
	}, `SELECT b.account_id, b.company,
		(SELECT o.buyer_company FROM offers o WHERE o.buyer_account_id = b.account_id AND o.buyer_company <> ''
			ORDER BY CASE WHEN o.state IN ('draft', 'failed') THEN 1 ELSE 0 END, o.created_at DESC, o.id DESC LIMIT 1),
		(SELECT t.company FROM tenants t WHERE t.account_id = b.account_id AND t.company <> '' ORDER BY t.created_at DESC, t.tenant_id DESC LIMIT 1)
		FROM buyers b`)
	if err != nil {
		return nil, fmt.Errorf("name buyers: %w", err)
	}
	out := make(map[string]Company, len(rows))
	for _, x := range rows {
		switch {
		case strings.TrimSpace(x.manual) != "":
			out[x.account] = Company{Name: strings.TrimSpace(x.manual), Source: SourceManual}
		case strings.TrimSpace(x.offer) != "":
			out[x.account] = Company{Name: strings.TrimSpace(x.offer), Source: SourceOffer}
		case strings.TrimSpace(x.tenant) != "":
			out[x.account] = Company{Name: strings.TrimSpace(x.tenant), Source: SourceRegistration}
		}
	}
	return out, nil
}

// LoadCompanies is Companies in its own read transaction.
func LoadCompanies(ctx context.Context, db *store.DB) (map[string]Company, error) {
	var out map[string]Company
	err := db.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = Companies(ctx, tx)
		return err
	})
	return out, err
}

// SetCompany names a buyer by hand; an empty name clears it, so the buyer is
// named from its offers or registration again. The buyer must exist.
func SetCompany(ctx context.Context, db *store.DB, account, name string, now time.Time) error {
	name = strings.TrimSpace(name)
	if !marketplace.ValidAccountID(account) {
		return marketplace.Errorf(marketplace.ENotFound, "there is no buyer %q: an AWS account id is 12 digits", marketplace.Clip(account, 40))
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return marketplace.Errorf(marketplace.EInvalid, "the company name must be plain text on one line")
	}
	if utf8.RuneCountInString(name) > MaxCompanyLength {
		return marketplace.Errorf(marketplace.EInvalid, "the company name is longer than %d characters", MaxCompanyLength)
	}
	err := db.Write(ctx, func(tx *store.Tx) error {
		var before sql.NullString
		if err := tx.QueryRow(ctx, `SELECT company FROM buyers WHERE account_id = ?`, account).Scan(&before); errors.Is(err, sql.ErrNoRows) {
			return marketplace.Errorf(marketplace.ENotFound, "there is no buyer %s: Concord knows a buyer once AWS tells it of an agreement", account)
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE buyers SET company = ?, updated_at = ? WHERE account_id = ?`, name, store.Millis(now), account); err != nil {
			return err
		}
		summary := "named buyer " + account + " " + strconv.Quote(name)
		if name == "" {
			summary = "cleared the company name of buyer " + account
		}
		return audit.Record(ctx, tx, audit.Change{Object: "buyer", ObjectID: account, Action: "buyer.company",
			Before: map[string]string{"company": before.String}, After: map[string]string{"company": name}, Summary: summary})
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return fmt.Errorf("set the company of buyer %s: %w", account, err)
	}
	return err
}

// Fold is the form names are compared in (marketplace.Fold): "ÜNÏCODE" and
// "ünïcode" are equal on both databases.
func Fold(s string) string { return marketplace.Fold(s) }

// Matches reports whether a search q (folded or not) is found in name.
func Matches(name, q string) bool { return marketplace.ContainsFold(name, q) }

// cleanSearch trims a search and checks it is plain text of at most 200 bytes.
func cleanSearch(q string) (string, error) {
	q = strings.TrimSpace(q)
	if len(q) > 200 || !marketplace.Storable(q) || strings.ContainsFunc(q, unicode.IsControl) {
		return "", marketplace.Errorf(marketplace.EInvalid, "search for at most 200 characters of plain text")
	}
	return q, nil
}
