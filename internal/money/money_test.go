package money

import (
	"strings"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ amount, currency, want string }{
		{"12000", "USD", "USD 12,000.00"},
		{"12000.5", "USD", "USD 12,000.50"},
		{"1234567.891", "EUR", "EUR 1,234,567.891"},
		{"0.002", "USD", "USD 0.002"},
		{"0.240", "USD", "USD 0.24"},
		{"12.5000", "USD", "USD 12.50"},
		{"-1500", "USD", "USD -1,500.00"},
		{"999", "USD", "USD 999.00"},
		{"1000", "JPY", "JPY 1,000"},
		{"0", "GBP", "GBP 0.00"},
		{"007", "USD", "USD 7.00"},
		{"12000", "", "12,000.00"},
		{"", "USD", ""},
		{"about 5", "USD", "USD about 5"},
		{"1e5", "USD", "USD 1e5"},
	} {
		if got := Format(c.amount, c.currency); got != c.want {
			t.Errorf("Format(%q, %q) = %q, want %q", c.amount, c.currency, got, c.want)
		}
	}
}

func FuzzFormat(f *testing.F) {
	for _, s := range []string{"12000", "0.002", "-1", "1e5", "", "١٢"} {
		f.Add(s, "USD")
	}
	f.Fuzz(func(t *testing.T, amount, currency string) {
		got := Format(amount, currency)
		d, ok := Parse(strings.TrimSpace(amount))
		if !ok {
			return
		}
		// Removing the currency and the separators gives the same number back.
		num := strings.ReplaceAll(strings.TrimPrefix(got, strings.TrimSpace(currency)+" "), ",", "")
		back, ok := Parse(strings.TrimSpace(num))
		if !ok || !back.Equal(d) {
			t.Fatalf("Format(%q, %q) = %q does not read back as %s", amount, currency, got, d)
		}
	})
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"P12M": "12 months", "P1M": "1 month", "P1Y": "1 year", "P2Y": "2 years", "P1Y6M": "1 year 6 months",
		"P30D": "30 days", "P1D": "1 day", "P2W": "2 weeks", "": "", "P": "P", "12 months": "12 months", "PT5H": "PT5H",
	} {
		if got := Duration(in); got != want {
			t.Errorf("Duration(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRelative(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{36 * time.Hour, "in 1 day"},
		{24 * time.Hour, "in 1 day"},
		{23 * time.Hour, "in 23 hours"},
		{90 * time.Minute, "in 1 hour"},
		{5 * time.Minute, "in 5 minutes"},
		{10 * time.Second, "now"},
		{72 * time.Hour, "in 3 days"},
		{-48 * time.Hour, "2 days ago"},
		{-time.Hour, "1 hour ago"},
	} {
		if got := Relative(now, now.Add(c.d)); got != c.want {
			t.Errorf("Relative(+%s) = %q, want %q", c.d, got, c.want)
		}
	}
}
