package report

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/money"
	"github.com/concordmp/concord/internal/store"
)

// AgreementRow is one agreement as the Agreements list shows it: who, what,
// when, through which channel, and what the contract is worth.
type AgreementRow struct {
	AgreementID    string `json:"agreementId"`
	Status         string `json:"status"`
	Intent         string `json:"intent,omitempty"`
	ProductID      string `json:"productId"`
	ProductTitle   string `json:"productTitle,omitempty"`
	BuyerAccountID string `json:"buyerAccountId"`
	// BuyerCompany is the buyer's company name (see Companies).
	BuyerCompany string `json:"buyerCompany,omitempty"`
	// Channel is direct, or partner for a channel partner's order (CPPO).
	Channel               string     `json:"channel" enum:"direct,partner"`
	ResaleAuthorizationID string     `json:"resaleAuthorizationId,omitempty"`
	AcceptedAt            *time.Time `json:"acceptedAt,omitempty"`
	StartsAt              *time.Time `json:"startsAt,omitempty"`
	EndsAt                *time.Time `json:"endsAt,omitempty"`
	// ContractValue is the total contract value of the agreement's newest
	// bookable artifact (an exact decimal in Currency), worked out by the
	// artifact package; empty until its terms are known.
	ContractValue string `json:"contractValue,omitempty"`
	Currency      string `json:"currency,omitempty"`
	// ValueBasis says what ContractValue is the sum of (artifact.TCV*).
	ValueBasis string `json:"valueBasis,omitempty"`
}

// Channels a list can be filtered by.
var Channels = []string{artifact.ChannelDirect, artifact.ChannelPartner}

// AgreementSortKeys are the columns the Agreements list sorts by.
var AgreementSortKeys = []string{"agreement", "buyer", "product", "status", "channel", "accepted", "start", "end", "value"}

// DefaultAgreementOrder lists the agreements ending soonest first.
var DefaultAgreementOrder = Order{Key: "end"}

// AgreementFilter narrows the Agreements list. Empty fields match all.
type AgreementFilter struct {
	ProductID string
	// Status is an AWS agreement status (ACTIVE, EXPIRED, …).
	Status string
	// Channel is direct or partner.
	Channel string
	// EndingWithinDays keeps active agreements ending between now and that
	// many days from now (0: no such filter).
	EndingWithinDays int
	// Buyer matches the buyer's account id (digits) or company name
	// (case-insensitive, any script).
	Buyer string
	// Account keeps one buyer's agreements (an exact account id).
	Account string
	Order   Order
	Page
}

// MaxEndingWithinDays bounds the ending filter (ten years).
const MaxEndingWithinDays = 3660

// Validate checks a filter as people type it, with a message for each field.
func (f *AgreementFilter) Validate() error {
	var err error
	if f.Buyer, err = cleanSearch(f.Buyer); err != nil {
		return err
	}
	if f.Status != "" && f.Status != marketplace.StatusActive && !marketplace.IsTerminalStatus(f.Status) {
		return marketplace.Errorf(marketplace.EInvalid, "status %q is not an agreement status (ACTIVE, CANCELLED, EXPIRED, RENEWED, REPLACED, TERMINATED, ...)", marketplace.Clip(f.Status, 40))
	}
	if f.Channel != "" && !slices.Contains(Channels, f.Channel) {
		return marketplace.Errorf(marketplace.EInvalid, "channel %q is invalid: use direct or partner", marketplace.Clip(f.Channel, 40))
	}
	if f.EndingWithinDays < 0 || f.EndingWithinDays > MaxEndingWithinDays {
		return marketplace.Errorf(marketplace.EInvalid, "ending within must be between 1 and %d days", MaxEndingWithinDays)
	}
	if f.Account != "" && !marketplace.ValidAccountID(f.Account) {
		return marketplace.Errorf(marketplace.EInvalid, "account %q is not an AWS account id (12 digits)", marketplace.Clip(f.Account, 40))
	}
	if f.Order.Key == "" {
		f.Order = DefaultAgreementOrder
	}
	if !slices.Contains(AgreementSortKeys, f.Order.Key) {
		return marketplace.Errorf(marketplace.EInvalid, "sort %q is not a column of this list", marketplace.Clip(f.Order.Key, 40))
	}
	return nil
}

// Agreements lists agreements with their buyers' companies and contract
// values, filtered, sorted and paged. now decides "ending within".
func Agreements(ctx context.Context, db *store.DB, f AgreementFilter, now time.Time) (Paged[AgreementRow], error) {
	if err := f.Validate(); err != nil {
		return Paged[AgreementRow]{}, err
	}
	var rows []AgreementRow
	err := db.Read(ctx, func(tx *store.Tx) error {
		var err error
		rows, err = agreementRows(ctx, tx, f, now)
		return err
	})
	if err != nil {
		return Paged[AgreementRow]{}, fmt.Errorf("list agreements: %w", err)
	}
	return sortPage(rows, f.Order, agreementOrders, func(a, b AgreementRow) int { return strings.Compare(a.AgreementID, b.AgreementID) }, f.Page), nil
}

var agreementOrders = map[string]func(a, b AgreementRow) int{
	"agreement": func(a, b AgreementRow) int { return strings.Compare(a.AgreementID, b.AgreementID) },
	"buyer": func(a, b AgreementRow) int {
		return cmp.Or(textCompare(a.BuyerCompany, b.BuyerCompany), strings.Compare(a.BuyerAccountID, b.BuyerAccountID))
	},
	"product": func(a, b AgreementRow) int {
		return cmp.Or(textCompare(a.ProductTitle, b.ProductTitle), strings.Compare(a.ProductID, b.ProductID))
	},
	"status":   func(a, b AgreementRow) int { return strings.Compare(a.Status, b.Status) },
	"channel":  func(a, b AgreementRow) int { return strings.Compare(a.Channel, b.Channel) },
	"accepted": func(a, b AgreementRow) int { return timeCompare(a.AcceptedAt, b.AcceptedAt) },
	"start":    func(a, b AgreementRow) int { return timeCompare(a.StartsAt, b.StartsAt) },
	"end":      func(a, b AgreementRow) int { return timeCompare(a.EndsAt, b.EndsAt) },
	"value": func(a, b AgreementRow) int {
		return cmp.Or(strings.Compare(a.Currency, b.Currency), decimalCompare(a.ContractValue, b.ContractValue))
	},
}

// timeCompare orders times, unknown ones last.
func timeCompare(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return a.Compare(*b)
}

// decimalCompare orders decimal strings by value, empty ones first.
func decimalCompare(a, b string) int {
	x, okA := money.Parse(a)
	y, okB := money.Parse(b)
	switch {
	case !okA && !okB:
		return 0
	case !okA:
		return -1
	case !okB:
		return 1
	}
	return x.Cmp(y)
}

func agreementRows(ctx context.Context, tx *store.Tx, f AgreementFilter, now time.Time) ([]AgreementRow, error) {
	q := `SELECT agreement_id, status, intent, product_id, acceptor_account_id, proposer_account_id, manufacturer_account_id,
		resale_authorization_id, acceptance_time, start_time, end_time FROM agreements WHERE 1 = 1`
	var args []any
	if f.ProductID != "" {
		q += ` AND product_id = ?`
		args = append(args, f.ProductID)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Account != "" {
		q += ` AND acceptor_account_id = ?`
		args = append(args, f.Account)
	}
	if f.EndingWithinDays > 0 {
		q += ` AND status = ? AND end_time >= ? AND end_time < ?`
		args = append(args, marketplace.StatusActive, store.Millis(now), store.Millis(now.AddDate(0, 0, f.EndingWithinDays)))
	}
	rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (AgreementRow, error) {
		var a AgreementRow
		var ag marketplace.Agreement
		var accepted, start, end sql.NullInt64
		err := r.Scan(&a.AgreementID, &a.Status, &a.Intent, &a.ProductID, &a.BuyerAccountID, &ag.ProposerAccountID, &ag.ManufacturerAccountID,
			&a.ResaleAuthorizationID, &accepted, &start, &end)
		ag.ResaleAuthorizationID = a.ResaleAuthorizationID
		a.Channel = artifact.ChannelOf(ag)
		a.AcceptedAt, a.StartsAt, a.EndsAt = store.FromNullMillis(accepted), store.FromNullMillis(start), store.FromNullMillis(end)
		return a, err
	}, q, args...)
	if err != nil {
		return nil, err
	}
	companies, err := Companies(ctx, tx)
	if err != nil {
		return nil, err
	}
	titles, err := productTitles(ctx, tx)
	if err != nil {
		return nil, err
	}
	values, err := contractValues(ctx, tx)
	if err != nil {
		return nil, err
	}
	out := rows[:0]
	for _, a := range rows {
		if f.Channel != "" && a.Channel != f.Channel {
			continue
		}
		a.BuyerCompany = companies[a.BuyerAccountID].Name
		if f.Buyer != "" && !strings.Contains(a.BuyerAccountID, f.Buyer) && !Matches(a.BuyerCompany, f.Buyer) {
			continue
		}
		a.ProductTitle = titles[a.ProductID]
		if v, ok := values[a.AgreementID]; ok {
			a.ContractValue, a.Currency, a.ValueBasis = v.TotalContractValue, v.Currency, v.TCVBasis
		}
		out = append(out, a)
	}
	return out, nil
}

func productTitles(ctx context.Context, tx *store.Tx) (map[string]string, error) {
	type row struct{ id, title string }
	rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (row, error) {
		var x row
		err := r.Scan(&x.id, &x.title)
		return x, err
	}, `SELECT product_id, title FROM products`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rows))
	for _, x := range rows {
		out[x.id] = x.title
	}
	return out, nil
}

// contractValues reads the newest bookable artifact of every agreement
// whose terms are known: its total contract value is the agreement's
// (one computation, the artifact package's).
func contractValues(ctx context.Context, tx *store.Tx) (map[string]artifact.BookableArtifact, error) {
	arts, err := store.QueryAll(ctx, tx, func(r store.Scanner) (artifact.BookableArtifact, error) {
		var a artifact.BookableArtifact
		var content string
		if err := r.Scan(&content); err != nil {
			return a, err
		}
		if err := json.Unmarshal([]byte(content), &a); err != nil {
			return a, fmt.Errorf("decode artifact: %w", err)
		}
		return a, nil
	}, `SELECT a.content FROM artifacts a WHERE a.version = (SELECT MAX(x.version) FROM artifacts x WHERE x.agreement_id = a.agreement_id)`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]artifact.BookableArtifact, len(arts))
	for _, a := range arts {
		if a.TermsKnown && a.TotalContractValue != "" {
			out[a.AgreementID] = a
		}
	}
	return out, nil
}
