package console

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/csvexport"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/money"
	"github.com/concordmp/concord/internal/report"
)

// mountMoney adds finance's pages: bookings per month or quarter with their
// chart and run rate, and their CSV downloads.
func (s *Service) mountMoney(m Mux) {
	m.HandleFunc("GET "+Prefix+"/bookings", s.signedIn(s.bookingsPage))
	m.HandleFunc("GET "+Prefix+"/bookings.csv", s.signedIn(s.bookingsCSV))
	m.HandleFunc("GET "+Prefix+"/runrate.csv", s.signedIn(s.runRateCSV))
	m.HandleFunc("GET "+Prefix+"/artifacts.csv", s.signedIn(s.artifactsCSV))
}

// moneyOf is money.Format: the one way the console writes an amount.
func moneyOf(amount, currency string) string { return money.Format(amount, currency) }

// endsIn says when an agreement ends, relative to now: "ends in 1 day".
func endsIn(now, end time.Time) string {
	if end.Before(now) {
		return "ended " + money.Relative(now, end)
	}
	return "ends " + money.Relative(now, end)
}

type bookingTotalRow struct {
	Period, Currency, Direct, Partner, Total string
}

type bookingDetailRow struct {
	report.BookingRow
	Product, Amount string
}

type runRateRow struct {
	report.RunRate
	Product, Amount string
}

// bookingChart is one currency's bookings per period: a stacked bar
// (direct, then partner) per period, drawn on the server.
type bookingChart struct {
	Currency, Label           string
	Bars                      []chartBar
	Labels                    []chartLabel
	AxisY, GridY, Left, Right string
}

type bookingsData struct {
	From, To, By, Product string
	Products              []marketplace.Product
	Charts                []bookingChart
	Totals                []bookingTotalRow
	Rows                  []bookingDetailRow
	RunRates              []runRateRow
	Unvalued              int
	CSV, RunRateCSV       string
	ArtifactsCSV          string
	Range                 string
}

// bookingParams reads the report's parameters; errors name the field.
func bookingParams(q url.Values, now time.Time) (report.BookingFilter, []fieldError) {
	f, err := report.ParseBookingFilter(q.Get("from"), q.Get("to"), q.Get("by"), q.Get("product"), now)
	if err == nil {
		return f, nil
	}
	id := "from"
	switch msg := marketplace.ErrorMessage(err); {
	case len(msg) > 2 && msg[:2] == "to":
		id = "to"
	case len(msg) > 2 && msg[:2] == "by":
		id = "by"
	}
	def, _ := report.ParseBookingFilter("", "", "", q.Get("product"), now)
	return def, []fieldError{{ID: id, Message: marketplace.ErrorMessage(err)}}
}

func (s *Service) bookingsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	names, products, err := s.productTitles(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, errs := bookingParams(q, s.now())
	if f.ProductID != "" && !slices.ContainsFunc(products, func(p marketplace.Product) bool { return p.ProductID == f.ProductID }) {
		errs, f.ProductID = append(errs, fieldError{ID: "product", Message: "Choose a product from the list."}), ""
	}
	b, err := report.LoadBookings(ctx, s.DB, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rates, err := report.LoadRunRates(ctx, s.DB, f.ProductID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	last := f.To.AddDate(0, -1, 0)
	d := bookingsData{From: f.From.Format("2006-01"), To: last.Format("2006-01"), By: f.By, Product: f.ProductID, Products: products, Unvalued: b.Unvalued,
		Range: f.From.Format("January 2006") + " to " + last.Format("January 2006")}
	params := url.Values{"from": {d.From}, "to": {d.To}, "by": {d.By}, "product": {d.Product}}
	d.CSV = csvHref(Prefix+"/bookings", params)
	d.RunRateCSV = csvHref(Prefix+"/runrate", url.Values{"product": {d.Product}})
	d.ArtifactsCSV = csvHref(Prefix+"/artifacts", url.Values{"from": {f.From.Format(time.DateOnly)}, "to": {f.To.Format(time.DateOnly)}})
	for _, t := range b.Totals {
		d.Totals = append(d.Totals, bookingTotalRow{Period: periodLabel(t.Period), Currency: t.Currency, Direct: money.FormatDecimal(t.Direct, t.Currency),
			Partner: money.FormatDecimal(t.Partner, t.Currency), Total: money.FormatDecimal(t.Total, t.Currency)})
	}
	for _, row := range b.Rows {
		d.Rows = append(d.Rows, bookingDetailRow{BookingRow: row, Product: productLabelOf(names, row.ProductID), Amount: money.Format(row.Total, row.Currency)})
	}
	for _, rr := range rates {
		d.RunRates = append(d.RunRates, runRateRow{RunRate: rr, Product: productLabelOf(names, rr.ProductID), Amount: money.Format(rr.Annual, rr.Currency)})
	}
	d.Charts = bookingCharts(b)
	code := http.StatusOK
	if len(errs) > 0 {
		code = http.StatusBadRequest
	}
	s.render(w, r, code, "bookings", view{Title: "Bookings", Nav: "bookings", Errors: errs, Data: d})
}

// periodLabel writes a period for people: "Nov 2026", "Q4 2026".
func periodLabel(p string) string {
	if t, err := time.Parse("2006-01", p); err == nil {
		return t.Format("Jan 2006")
	}
	if len(p) == 7 && p[4:6] == "-Q" {
		return p[5:] + " " + p[:4]
	}
	return p
}

// chartPhoneFont is the size of chart text on a phone (30-ledger.css), in
// the chart's units, the widest it gets.
const chartPhoneFont = 22.0

// bookingCharts draws one chart per currency (amounts in different
// currencies are never added or scaled together).
func bookingCharts(b report.Bookings) []bookingChart {
	var currencies []string
	for _, t := range b.Totals {
		if !slices.Contains(currencies, t.Currency) {
			currencies = append(currencies, t.Currency)
		}
	}
	var out []bookingChart
	for _, cur := range currencies {
		var totals []report.PeriodTotal
		peak := decimal.Zero
		for _, t := range b.Totals {
			if t.Currency == cur {
				totals = append(totals, t)
				peak = decimal.Max(peak, t.Total)
			}
		}
		c := bookingChart{Currency: cur, AxisY: svgNum(chartBottom), GridY: svgNum(chartTop), Left: svgNum(chartLeft), Right: svgNum(chartRight)}
		slot := (chartRight - chartLeft) / float64(max(len(totals), 1))
		width := slot * 0.6
		height := func(v decimal.Decimal) float64 {
			if peak.IsZero() || v.IsZero() {
				return 0
			}
			h, _ := v.Div(peak).Mul(decimal.NewFromFloat(chartBottom - chartTop)).Float64() // drawing only: amounts stay exact
			return max(h, 1)
		}
		// The period labels sit a line below the axis (the "0" of the
		// amounts sits on it, left of the first bar: the two must not meet
		// at a phone's text size; bookings.html's viewBox is 208 high).
		// Label every period whose label fits beside the previous one: a
		// label is about 0.62 em a character, at the 22 px a phone's
		// stylesheet gives chart text, with room either side (so a year of
		// months is labelled quarterly: the table has every month).
		widest := 0
		for _, t := range totals {
			widest = max(widest, len(periodLabel(t.Period)))
		}
		every := max(1, int(math.Ceil((float64(widest)*0.62*chartPhoneFont+12)/slot)))
		for i, t := range totals {
			x := chartLeft + float64(i)*slot + (slot-width)/2
			label := periodLabel(t.Period)
			hd, hp := height(t.Direct), height(t.Partner)
			if hd > 0 {
				c.Bars = append(c.Bars, chartBar{X: svgNum(x), Y: svgNum(chartBottom - hd), W: svgNum(width), H: svgNum(hd), Class: "bar-direct",
					Title: label + ": " + money.FormatDecimal(t.Direct, cur) + " direct"})
			}
			if hp > 0 {
				c.Bars = append(c.Bars, chartBar{X: svgNum(x), Y: svgNum(chartBottom - hd - hp), W: svgNum(width), H: svgNum(hp), Class: "bar-partner",
					Title: label + ": " + money.FormatDecimal(t.Partner, cur) + " through partners"})
			}
			if i%every == 0 {
				c.Labels = append(c.Labels, chartLabel{X: svgNum(x + width/2), Y: svgNum(chartBottom + 28), Text: label, Anchor: "middle"})
			}
		}
		c.Labels = append(c.Labels, chartLabel{X: svgNum(chartLeft - 6), Y: svgNum(chartTop + 4), Text: compactAmount(peak), Anchor: "end"},
			chartLabel{X: svgNum(chartLeft - 6), Y: svgNum(chartBottom), Text: "0", Anchor: "end"})
		c.Label = fmt.Sprintf("Bookings in %s per %s, direct and through partners, at most %s in one %s. The table below has every amount.",
			cur, b.Filter.By, money.FormatDecimal(peak, cur), b.Filter.By)
		out = append(out, c)
	}
	return out
}

// compactAmount writes an axis label: 950, 12.5k, 3.1M.
func compactAmount(d decimal.Decimal) string {
	for _, u := range []struct {
		size   int64
		suffix string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if d.GreaterThanOrEqual(decimal.NewFromInt(u.size)) {
			return d.Div(decimal.NewFromInt(u.size)).StringFixed(1) + u.suffix
		}
	}
	return d.StringFixed(0)
}

func (s *Service) bookingsCSV(w http.ResponseWriter, r *http.Request) {
	f, errs := bookingParams(r.URL.Query(), s.now())
	if len(errs) > 0 {
		s.fail(w, r, marketplace.Errorf(marketplace.EInvalid, "%s", errs[0].Message))
		return
	}
	b, err := report.LoadBookings(r.Context(), s.DB, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, report.BookingColumns, b.Rows); err != nil {
		s.fail(w, r, err)
		return
	}
	name := "bookings-" + f.From.Format("2006-01") + "-to-" + f.To.AddDate(0, -1, 0).Format("2006-01")
	if f.ProductID != "" {
		name += "-" + f.ProductID
	}
	sendFile(w, csvexport.ContentType, name+".csv", buf.Bytes())
}

func (s *Service) runRateCSV(w http.ResponseWriter, r *http.Request) {
	product := r.URL.Query().Get("product")
	if len(product) > 100 || !marketplace.Storable(product) {
		s.fail(w, r, marketplace.Errorf(marketplace.EInvalid, "product is not a product id"))
		return
	}
	rates, err := report.LoadRunRates(r.Context(), s.DB, product)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, report.RunRateColumns, rates); err != nil {
		s.fail(w, r, err)
		return
	}
	sendFile(w, csvexport.ContentType, "run-rate-"+s.now().UTC().Format(time.DateOnly)+".csv", buf.Bytes())
}

// artifactsCSV downloads every bookable artifact version created in a period
// (the CSV of GET /v1/artifacts/export: from and to are dates, to exclusive).
func (s *Service) artifactsCSV(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := artifact.ParseExportParams(q.Get("from"), q.Get("to"), q.Get("kind"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := artifact.Export(r.Context(), s.DB, &buf, p.From, p.To, p.Kind); err != nil {
		s.fail(w, r, err)
		return
	}
	sendFile(w, csvexport.ContentType, "artifacts-"+p.From.Format(time.DateOnly)+"-to-"+p.To.Format(time.DateOnly)+".csv", buf.Bytes())
}
