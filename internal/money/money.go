// Package money writes amounts, durations and relative times the one way
// Concord shows them to people: the console, the PDF of a bookable artifact
// and the order emails all call it, so the same amount reads the same
// everywhere ("USD 12,000.00").
//
// Amounts are exact decimals (shopspring/decimal), never floats: they arrive
// from AWS as decimal strings and are summed and multiplied exactly.
package money

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// plainDecimal is the only shape Parse accepts: digits with an optional sign
// and fraction, as AWS writes prices ("40", "0.002", "12000.50").
var plainDecimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// maxLength bounds what Parse accepts, so a hostile value cannot make the
// arithmetic expensive.
const maxLength = 64

// Parse reads a plain decimal; ok is false for anything else (exponents,
// spaces, separators, empty).
func Parse(s string) (decimal.Decimal, bool) {
	if len(s) > maxLength || !plainDecimal.MatchString(s) {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(s)
	return d, err == nil
}

// minorUnits are the currencies whose minor unit is not two digits, from
// ISO 4217's list of currency codes (column "Minor unit"), among those AWS
// bills in (AWS knowledge center, "What currencies does AWS support?":
// AED AUD BRL CAD CHF CLP CNY COP DKK EGP EUR GBP HKD IDR JPY KRW MYR NGN NOK
// NZD PLN RON SEK SGD TRY USD UAH UYU ZAR). Every other code has two.
var minorUnits = map[string]int32{"JPY": 0, "KRW": 0, "CLP": 0}

// Decimals is how many digits after the point amounts in currency show.
func Decimals(currency string) int32 {
	if n, ok := minorUnits[strings.ToUpper(strings.TrimSpace(currency))]; ok {
		return n
	}
	return 2
}

// Format writes a decimal string as an amount of currency: "12000.5", "USD"
// is "USD 12,000.50". It shows at least the currency's decimals and more
// when the amount has them (a unit price of "0.002" stays "USD 0.002"), so
// nothing is rounded away. Text that is not a plain decimal is shown as it
// is; an empty amount is empty.
func Format(amount, currency string) string {
	amount = strings.TrimSpace(amount)
	if amount == "" {
		return ""
	}
	d, ok := Parse(amount)
	if !ok {
		return strings.TrimSpace(currency + " " + amount)
	}
	return FormatDecimal(d, currency)
}

// Plain writes d as a plain decimal with at least currency's decimals and
// more only where they are not zero ("800.00", "0.002", and 0.240 as
// "0.24"): how amounts Concord works out go into JSON and CSV.
func Plain(d decimal.Decimal, currency string) string {
	places := int32(0)
	if _, frac, ok := strings.Cut(d.String(), "."); ok { // String drops trailing zeros
		places = int32(len(frac))
	}
	return d.StringFixed(max(Decimals(currency), places))
}

// FormatDecimal is Format for a decimal already parsed (a sum).
func FormatDecimal(d decimal.Decimal, currency string) string {
	s := Plain(d, currency)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	out := b.String()
	if currency = strings.TrimSpace(currency); currency != "" {
		out = currency + " " + out
	}
	return out
}

// Round rounds d to currency's decimals (half away from zero), for amounts
// Concord works out itself (a run rate), not for amounts AWS sent.
func Round(d decimal.Decimal, currency string) decimal.Decimal {
	return d.Round(Decimals(currency))
}

// isoDuration is the ISO 8601 durations AWS writes in terms (P12M, P1Y,
// P30D, P2W, and combinations such as P1Y6M).
var isoDuration = regexp.MustCompile(`^P(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)W)?(?:([0-9]+)D)?$`)

// Duration writes an ISO 8601 duration in words: "P12M" is "12 months",
// "P1Y6M" is "1 year 6 months", "P30D" is "30 days". Anything else is shown
// as it is.
func Duration(iso string) string {
	m := isoDuration.FindStringSubmatch(strings.TrimSpace(iso))
	if m == nil || iso == "P" {
		return iso
	}
	var parts []string
	for i, unit := range []string{"year", "month", "week", "day"} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return iso
		}
		parts = append(parts, plural(n, unit))
	}
	if len(parts) == 0 {
		return iso
	}
	return strings.Join(parts, " ")
}

func plural(n int, unit string) string {
	s := strconv.Itoa(n) + " " + unit
	if n != 1 {
		s += "s"
	}
	return s
}

// Relative says how far t is from now in words: "in 3 days", "in 5 hours",
// "in 12 minutes", "2 days ago". Whole units are counted down (a day and a
// half left is "in 1 day"), and anything under a day is written in hours or
// minutes, so a day that is left is never "0 days".
func Relative(now, t time.Time) string {
	d := t.Sub(now)
	ago := d < 0
	if ago {
		d = -d
	}
	var s string
	switch {
	case d >= 24*time.Hour:
		s = plural(int(d/(24*time.Hour)), "day")
	case d >= time.Hour:
		s = plural(int(d/time.Hour), "hour")
	case d >= time.Minute:
		s = plural(int(d/time.Minute), "minute")
	default:
		return "now"
	}
	if ago {
		return s + " ago"
	}
	return "in " + s
}
