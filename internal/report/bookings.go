package report

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/money"
	"github.com/concordmp/concord/internal/store"
)

// Periods bookings are grouped by.
const (
	ByMonth   = "month"
	ByQuarter = "quarter"
)

// BookingFilter chooses the bookings report: agreements accepted in
// [From, To) (UTC), grouped by month or quarter, of one product or all.
type BookingFilter struct {
	From, To  time.Time
	By        string
	ProductID string
}

// BookingRow is what one product sold through one channel in one period,
// in one currency.
type BookingRow struct {
	// Period is a month (2026-11) or a quarter (2026-Q4).
	Period       string `json:"period"`
	ProductID    string `json:"productId"`
	ProductTitle string `json:"productTitle,omitempty"`
	Channel      string `json:"channel" enum:"direct,partner"`
	Currency     string `json:"currency"`
	// Agreements is how many agreements were accepted.
	Agreements int `json:"agreements"`
	// Total is the sum of their total contract values, an exact decimal.
	Total string `json:"total"`
}

// PeriodTotal is one period's bookings in one currency, by channel.
type PeriodTotal struct {
	Period   string          `json:"period"`
	Currency string          `json:"currency"`
	Direct   decimal.Decimal `json:"-"`
	Partner  decimal.Decimal `json:"-"`
	Total    decimal.Decimal `json:"-"`
}

// Bookings is the bookings report: its rows, each period's totals (every
// period of the range, empty ones too, so a chart has no gaps), and the
// agreements left out because their value is not known yet.
type Bookings struct {
	Filter   BookingFilter `json:"-"`
	Periods  []string      `json:"periods"`
	Rows     []BookingRow  `json:"rows"`
	Totals   []PeriodTotal `json:"-"`
	Unvalued int           `json:"unvalued"`
}

// MaxBookingMonths bounds a report's range (five years).
const MaxBookingMonths = 60

// ParseBookingFilter reads the report's parameters as the console and API
// take them: from and to are months (YYYY-MM, to inclusive), by is month or
// quarter. Empty from/to are the twelve months up to now's month.
func ParseBookingFilter(from, to, by, product string, now time.Time) (BookingFilter, error) {
	f := BookingFilter{By: strings.TrimSpace(by), ProductID: strings.TrimSpace(product)}
	if f.By == "" {
		f.By = ByMonth
	}
	if f.By != ByMonth && f.By != ByQuarter {
		return f, marketplace.Errorf(marketplace.EInvalid, "by %q is invalid: group by month or quarter", marketplace.Clip(f.By, 40))
	}
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	var err error
	last := thisMonth
	if strings.TrimSpace(to) != "" {
		if last, err = parseMonth("to", to); err != nil {
			return f, err
		}
	}
	first := last.AddDate(0, -11, 0)
	if strings.TrimSpace(from) != "" {
		if first, err = parseMonth("from", from); err != nil {
			return f, err
		}
	}
	if last.Before(first) {
		return f, marketplace.Errorf(marketplace.EInvalid, "to (%s) is before from (%s)", last.Format("2006-01"), first.Format("2006-01"))
	}
	if first.AddDate(0, MaxBookingMonths, 0).Before(last.AddDate(0, 1, 0)) {
		return f, marketplace.Errorf(marketplace.EInvalid, "the report covers at most %d months at a time", MaxBookingMonths)
	}
	if f.By == ByQuarter {
		first = time.Date(first.Year(), first.Month()-(first.Month()-1)%3, 1, 0, 0, 0, 0, time.UTC)
		last = time.Date(last.Year(), last.Month()-(last.Month()-1)%3+2, 1, 0, 0, 0, 0, time.UTC)
	}
	f.From, f.To = first, last.AddDate(0, 1, 0)
	return f, nil
}

func parseMonth(name, s string) (time.Time, error) {
	t, err := time.Parse("2006-01", strings.TrimSpace(s))
	if err != nil || t.Year() < 2000 || t.Year() > 9998 {
		return time.Time{}, marketplace.Errorf(marketplace.EInvalid, "%s %q is not a month: use YYYY-MM, e.g. 2026-11", name, marketplace.Clip(s, 40))
	}
	return t, nil
}

// PeriodOf names the period t falls in.
func PeriodOf(t time.Time, by string) string {
	t = t.UTC()
	if by == ByQuarter {
		return strconv.Itoa(t.Year()) + "-Q" + strconv.Itoa((int(t.Month())-1)/3+1)
	}
	return t.Format("2006-01")
}

// LoadBookings works out the bookings report. A booking is an agreement
// accepted in the period, valued at the total contract value of its newest
// bookable artifact (the value the agreement's page shows); amendments and
// renewals are bookings of their whole new contract, as their artifacts are.
// Amounts in different currencies are never added together.
func LoadBookings(ctx context.Context, db *store.DB, f BookingFilter) (Bookings, error) {
	b := Bookings{Filter: f, Rows: []BookingRow{}}
	for t := f.From; t.Before(f.To); t = t.AddDate(0, 1, 0) {
		if p := PeriodOf(t, f.By); !slices.Contains(b.Periods, p) {
			b.Periods = append(b.Periods, p)
		}
	}
	type key struct{ period, product, channel, currency string }
	sums := map[key]*struct {
		n     int
		total decimal.Decimal
	}{}
	var titles map[string]string
	err := db.Read(ctx, func(tx *store.Tx) error {
		q := `SELECT agreement_id, acceptance_time FROM agreements WHERE acceptance_time >= ? AND acceptance_time < ?`
		args := []any{store.Millis(f.From), store.Millis(f.To)}
		if f.ProductID != "" {
			q += ` AND product_id = ?`
			args = append(args, f.ProductID)
		}
		type accepted struct {
			id string
			at int64
		}
		rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (accepted, error) {
			var a accepted
			err := r.Scan(&a.id, &a.at)
			return a, err
		}, q, args...)
		if err != nil {
			return err
		}
		values, err := contractValues(ctx, tx)
		if err != nil {
			return err
		}
		if titles, err = productTitles(ctx, tx); err != nil {
			return err
		}
		for _, r := range rows {
			v, ok := values[r.id]
			if !ok {
				b.Unvalued++
				continue
			}
			d, ok := money.Parse(v.TotalContractValue)
			if !ok {
				b.Unvalued++
				continue
			}
			k := key{PeriodOf(store.FromMillis(r.at), f.By), v.Product.ProductID, v.Channel, v.Currency}
			s := sums[k]
			if s == nil {
				s = &struct {
					n     int
					total decimal.Decimal
				}{}
				sums[k] = s
			}
			s.n++
			s.total = s.total.Add(d)
		}
		return nil
	})
	if err != nil {
		return b, fmt.Errorf("bookings: %w", err)
	}
	totals := map[[2]string]*PeriodTotal{}
	for k, s := range sums {
		b.Rows = append(b.Rows, BookingRow{Period: k.period, ProductID: k.product, ProductTitle: titles[k.product], Channel: k.channel,
			Currency: k.currency, Agreements: s.n, Total: money.Plain(s.total, k.currency)})
		t := totals[[2]string{k.period, k.currency}]
		if t == nil {
			t = &PeriodTotal{Period: k.period, Currency: k.currency}
			totals[[2]string{k.period, k.currency}] = t
		}
		if k.channel == artifact.ChannelPartner {
			t.Partner = t.Partner.Add(s.total)
		} else {
			t.Direct = t.Direct.Add(s.total)
		}
		t.Total = t.Total.Add(s.total)
	}
	slices.SortFunc(b.Rows, func(x, y BookingRow) int {
		return strings.Compare(x.Period+"\x00"+x.Currency+"\x00"+x.ProductID+"\x00"+x.Channel, y.Period+"\x00"+y.Currency+"\x00"+y.ProductID+"\x00"+y.Channel)
	})
	currencies := map[string]bool{}
	for k := range totals {
		currencies[k[1]] = true
	}
	if len(currencies) == 0 {
		currencies["USD"] = true // an empty chart still has an axis
	}
	for _, p := range b.Periods {
		for _, c := range slices.Sorted(maps.Keys(currencies)) {
			if t := totals[[2]string{p, c}]; t != nil {
				b.Totals = append(b.Totals, *t)
			} else {
				b.Totals = append(b.Totals, PeriodTotal{Period: p, Currency: c})
			}
		}
	}
	return b, nil
}

// RunRate is the annual run rate of the contracts in force of one product,
// in one currency.
type RunRate struct {
	ProductID    string `json:"productId"`
	ProductTitle string `json:"productTitle,omitempty"`
	Currency     string `json:"currency"`
	Agreements   int    `json:"agreements"`
	// Annual is each active agreement's total contract value spread over a
	// year of its term (value × 365 / the term's days), summed and rounded
	// to the currency's decimals.
	Annual string `json:"annual"`
}

// LoadRunRates works out the annual run rate of the active agreements that
// have a contract value, a start and an end (pay-as-you-go agreements have
// no term to spread a value over and are left out).
func LoadRunRates(ctx context.Context, db *store.DB, productID string) ([]RunRate, error) {
	type key struct{ product, currency string }
	sums := map[key]*RunRate{}
	var titles map[string]string
	err := db.Read(ctx, func(tx *store.Tx) error {
		q := `SELECT agreement_id, start_time, end_time FROM agreements WHERE status = ? AND start_time IS NOT NULL AND end_time IS NOT NULL AND end_time > start_time`
		args := []any{marketplace.StatusActive}
		if productID != "" {
			q += ` AND product_id = ?`
			args = append(args, productID)
		}
		type term struct {
			id         string
			start, end int64
		}
		rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (term, error) {
			var t term
			err := r.Scan(&t.id, &t.start, &t.end)
			return t, err
		}, q, args...)
		if err != nil {
			return err
		}
		values, err := contractValues(ctx, tx)
		if err != nil {
			return err
		}
		if titles, err = productTitles(ctx, tx); err != nil {
			return err
		}
		for _, t := range rows {
			v, ok := values[t.id]
			if !ok {
				continue
			}
			d, ok := money.Parse(v.TotalContractValue)
			if !ok {
				continue
			}
			annual := AnnualRate(d, time.Duration(t.end-t.start)*time.Millisecond)
			k := key{v.Product.ProductID, v.Currency}
			r := sums[k]
			if r == nil {
				r = &RunRate{ProductID: k.product, Currency: k.currency, Annual: "0"}
				sums[k] = r
			}
			r.Agreements++
			total, _ := money.Parse(r.Annual)
			r.Annual = total.Add(annual).String()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("run rate: %w", err)
	}
	out := []RunRate{}
	for _, r := range sums {
		r.ProductTitle = titles[r.ProductID]
		d, _ := money.Parse(r.Annual)
		r.Annual = money.Round(d, r.Currency).StringFixed(money.Decimals(r.Currency))
		out = append(out, *r)
	}
	slices.SortFunc(out, func(x, y RunRate) int {
		return strings.Compare(x.Currency+"\x00"+x.ProductID, y.Currency+"\x00"+y.ProductID)
	})
	return out, nil
}

// AnnualRate spreads value over a year of a term lasting d: value × 365
// days / d. A term of a year (or a leap year) gives the value itself; d
// under a day counts as a day.
func AnnualRate(value decimal.Decimal, d time.Duration) decimal.Decimal {
	days := decimal.NewFromInt(int64(max(d.Round(24*time.Hour)/(24*time.Hour), 1)))
	if days.Equal(decimal.NewFromInt(366)) {
		days = decimal.NewFromInt(365)
	}
	return value.Mul(decimal.NewFromInt(365)).DivRound(days, 12)
}
