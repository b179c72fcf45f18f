package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/report"
	"github.com/concordmp/concord/internal/store"
)

// hourOutcome says in plain words what became of an hour of usage (a
// metering report row's status), and the class that colours it.
func hourOutcome(status string) (text, class string) {
	switch status {
	case "open":
		return "Collecting (the hour is not closed yet)", "open"
	case metering.StatusPending:
		return "Pending (waiting to be sent, or retried)", "pending"
	case metering.StatusSuccess:
		return "Sent (billed by AWS)", "sent"
	case metering.StatusDuplicate:
		return "Failed: AWS holds another quantity for this hour", "failed"
	case metering.StatusNotSubscribed:
		return "Failed: customer not subscribed", "failed"
	case metering.StatusRejected:
		return "Failed: rejected", "failed"
	case metering.StatusExpired:
		return "Failed: not sent within AWS's window", "failed"
	case "late":
		return "Not sent: the usage arrived after the hour was sent", "failed"
	}
	return status, "pending"
}

// ---- The usage chart of a license ----

// Chart geometry, in SVG user units (the chart scales to its box).
const (
	chartWidth  = 720
	chartHeight = 200
	chartLeft   = 64.0
	chartRight  = 696.0
	chartTop    = 14.0
	chartBottom = 172.0
)

type chartBar struct {
	X, Y, W, H string
	Class      string
	Title      string
}

type chartLabel struct {
	X, Y, Text, Anchor string
}

// usageChart is one usage dimension's hourly bars, drawn on the server.
type usageChart struct {
	Dimension   string
	ID          string
	Label       string
	Total, Peak int64
	Bars        []chartBar
	Labels      []chartLabel
	// Lines: the axis and the top grid line.
	AxisY, GridY, Left, Right string
}

// usageRow is one hour of one dimension, for the chart's data table.
type usageRow struct {
	Hour                                  time.Time
	Dimension                             string
	Ingested, Late, Submitted, Accepted   int64
	Outcome, Class, Detail, MeteringRecID string
}

type usageData struct {
	Days      int
	From, To  time.Time
	Charts    []usageChart
	Rows      []usageRow
	Truncated bool
	// Metered is false for a product without usage dimensions that never
	// reported usage.
	Metered bool
}

func svgNum(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// usage reads the license's usage per hour over the last days (the current
// hour included) from the metering report, and draws a chart per dimension.
func (s *Service) usage(ctx context.Context, l marketplace.License, p marketplace.Product, days int) (usageData, error) {
	hours := days * 24
	to := s.now().UTC().Truncate(time.Hour).Add(time.Hour)
	from := to.Add(-time.Duration(hours) * time.Hour)
	u := usageData{Days: days, From: from, To: to}
	rep, err := s.Metering.Report(ctx, metering.ReportFilter{License: l.LicenseID, From: from, To: to, Limit: 10000})
	if err != nil {
		return u, err
	}
	u.Truncated = rep.Truncated
	var dims []string
	for _, d := range p.Dimensions {
		if d.Kind == "usage" {
			dims = append(dims, d.Key)
		}
	}
	byDim := map[string]map[int64]usageRow{}
	for _, r := range rep.Rows {
		if !slices.Contains(dims, r.Dimension) {
			dims = append(dims, r.Dimension)
		}
		text, class := hourOutcome(r.Status)
		row := usageRow{Hour: r.Hour, Dimension: r.Dimension, Ingested: r.Ingested, Late: r.Late, Submitted: r.Submitted, Accepted: r.Accepted,
			Outcome: text, Class: class, Detail: r.Gap, MeteringRecID: r.MeteringRecordID}
		if r.Reason != "" && class == "failed" && !strings.Contains(row.Detail, r.Reason) {
			row.Detail = strings.TrimPrefix(row.Detail+"; "+r.Reason, "; ")
		}
		u.Rows = append(u.Rows, row)
		if byDim[r.Dimension] == nil {
			byDim[r.Dimension] = map[int64]usageRow{}
		}
		byDim[r.Dimension][r.Hour.Unix()] = row
	}
	// Newest hour first in the table.
	slices.SortStableFunc(u.Rows, func(a, b usageRow) int {
		if c := b.Hour.Compare(a.Hour); c != 0 {
			return c
		}
		return strings.Compare(a.Dimension, b.Dimension)
	})
	u.Metered = len(dims) > 0
	for i, dim := range dims {
		u.Charts = append(u.Charts, drawChart(dim, "usage-"+strconv.Itoa(i), byDim[dim], from, hours))
	}
	return u, nil
}

// drawChart lays out one dimension's bars: one slot per hour from from,
// heights relative to the busiest hour.
func drawChart(dim, id string, rows map[int64]usageRow, from time.Time, hours int) usageChart {
	c := usageChart{Dimension: dim, ID: id, AxisY: svgNum(chartBottom), GridY: svgNum(chartTop), Left: svgNum(chartLeft), Right: svgNum(chartRight)}
	for _, r := range rows {
		c.Total += r.Ingested
		c.Peak = max(c.Peak, r.Ingested)
	}
	slot := (chartRight - chartLeft) / float64(hours)
	width := max(1, slot*0.75)
	for i := range hours {
		h := from.Add(time.Duration(i) * time.Hour)
		x := chartLeft + float64(i)*slot
		mid := x + slot/2
		if r, ok := rows[h.Unix()]; ok && r.Ingested > 0 {
			height := max(1, float64(r.Ingested)/float64(c.Peak)*(chartBottom-chartTop))
			c.Bars = append(c.Bars, chartBar{X: svgNum(x + (slot-width)/2), Y: svgNum(chartBottom - height), W: svgNum(width), H: svgNum(height), Class: "bar-" + r.Class,
				Title: fmt.Sprintf("%s: %d %s. %s", h.Format("2 Jan 15:04 UTC"), r.Ingested, dim, r.Outcome)})
		}
		// Hour labels every 6 hours over two days; the date at each midnight
		// over a week. They sit a line below the axis, clear of the "0" on
		// it at a phone's text size (license.html's viewBox is 208 high).
		switch {
		case hours <= 48 && h.Hour()%6 == 0:
			text := h.Format("15:04")
			if h.Hour() == 0 {
				text = h.Format("2 Jan")
			}
			c.Labels = append(c.Labels, chartLabel{X: svgNum(mid), Y: svgNum(chartBottom + 28), Text: text, Anchor: "middle"})
		case hours > 48 && h.Hour() == 0:
			c.Labels = append(c.Labels, chartLabel{X: svgNum(mid), Y: svgNum(chartBottom + 28), Text: h.Format("2 Jan"), Anchor: "start"})
		}
	}
	c.Labels = append(c.Labels, chartLabel{X: svgNum(chartLeft - 6), Y: svgNum(chartTop + 4), Text: compactNumber(c.Peak), Anchor: "end"},
		chartLabel{X: svgNum(chartLeft - 6), Y: svgNum(chartBottom), Text: "0", Anchor: "end"})
	to := from.Add(time.Duration(hours) * time.Hour)
	c.Label = fmt.Sprintf("Hourly usage of %s from %s to %s: %d in total, at most %d in one hour.", dim,
		from.Format("2 Jan 15:04"), to.Format("2 Jan 15:04 UTC"), c.Total, c.Peak)
	return c
}

// compactNumber writes n in at most four or five characters for an axis
// label: 950, 12.5k, 3.1M, 2.1G.
func compactNumber(n int64) string {
	for _, u := range []struct {
		size   float64
		suffix string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if float64(n) >= u.size {
			return strconv.FormatFloat(float64(n)/u.size, 'f', 1, 64) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// ---- Metering health ----

type periodOption struct {
	Value, Label string
	Span         time.Duration // 0: all time
}

var meteringPeriods = []periodOption{
	{"24h", "Last 24 hours", 24 * time.Hour},
	{"7d", "Last 7 days", 7 * 24 * time.Hour},
	{"30d", "Last 30 days", 30 * 24 * time.Hour},
	{"all", "All time", 0},
}

// notBilledOutcomes are the outcomes of records AWS did not bill.
var notBilledOutcomes = []string{metering.StatusRejected, metering.StatusNotSubscribed, metering.StatusDuplicate, metering.StatusExpired}

// recordStatuses are the filters of the record list: "" is every record not billed.
var recordStatuses = []string{metering.StatusRejected, metering.StatusNotSubscribed, metering.StatusDuplicate, metering.StatusExpired,
	metering.StatusPending, metering.StatusSuccess}

type recordView struct {
	metering.Record
	Outcome, Class string
	LicenseHref    string
	CanRetry       bool
}

// gapSummary adds up one product's and dimension's hours with gaps.
type gapSummary struct {
	ProductID, Dimension string
	Hours                int
	NotBilled, Late      int64
	Stale                int
}

type gapView struct {
	metering.ReportRow
	Outcome, Class, LicenseHref string
}

type retryGroup struct {
	ProductID, Status string
	Count             int
}

type meteringData struct {
	Periods       []periodOption
	Period        string
	From          time.Time
	Counts        []count
	NotBilled     int
	Pending       int
	LateQuantity  int64
	LateHours     int
	Totals        metering.ReportTotals
	ByDimension   []gapSummary
	Gaps          []gapView
	GapsTruncated bool
	Statuses      []string
	Status        string
	Records       []recordView
	// Headers sort the records; Pager pages them; Sort is the order.
	Headers   []sortHeader
	Pager     pager
	Sort      string
	Offset    int
	Retryable []retryGroup
	Alerts    []notify.NotificationSummary
}

const recordsPage = 50

// meteringQuery is the view the page shows: a period, a record filter, and
// the records' order and offset.
type meteringQuery struct {
	period, status string
	order          report.Order
	offset         int
}

var recordColumns = []column{{Label: "Hour (UTC)", Key: "hour"}, {Label: "License or customer", Key: "license"}, {Label: "Dimension", Key: "dimension"},
	{Label: "Quantity", Key: "quantity", Num: true}, {Label: "Outcome and reason", Key: "status"}, {Label: "Attempts", Key: "attempts"}, {Label: "Actions"}}

// defaultRecordOrder lists the records in time order, as they were made.
var defaultRecordOrder = report.Order{Key: "hour"}

// meteringQueryOf reads the view from a query (or the retry form: list is
// the status filter's name there).
func meteringQueryOf(q url.Values, status string) (meteringQuery, []fieldError) {
	mq, errs := meteringQuery{period: q.Get("period"), status: q.Get(status), offset: offsetOf(q)}.check()
	o, err := report.ParseOrder(q.Get("sort"), metering.RecordSortKeys, defaultRecordOrder)
	if err != nil {
		errs = append(errs, fieldError{ID: "records-table", Message: "The records cannot be sorted that way; they are sorted by hour."})
	}
	mq.order = o
	return mq, errs
}

func (mq meteringQuery) check() (meteringQuery, []fieldError) {
	var errs []fieldError
	if mq.period == "" {
		mq.period = "7d"
	}
	if !slices.ContainsFunc(meteringPeriods, func(p periodOption) bool { return p.Value == mq.period }) {
		errs = append(errs, fieldError{ID: "period", Message: "Choose a period from the list."})
		mq.period = "7d"
	}
	if mq.status != "" && !slices.Contains(recordStatuses, mq.status) {
		errs = append(errs, fieldError{ID: "status", Message: "Choose an outcome from the list."})
		mq.status = ""
	}
	return mq, errs
}

func (s *Service) meteringHealth(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	mq, errs := meteringQueryOf(q, "status")
	d, err := s.meteringView(r.Context(), mq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := view{Title: "Metering", Nav: "metering", Errors: errs, Data: d}
	if n := q.Get("retried"); n != "" {
		switch n {
		case "0":
			v.Status = "Nothing was sent again: each such record is past AWS's window for its hour, or carries more than one AWS record can."
		case "1":
			v.Status = "1 record is queued to be sent again. It shows as pending until AWS answers."
		default:
			if k, err := strconv.Atoi(n); err == nil && k > 1 {
				v.Status = strconv.Itoa(k) + " records are queued to be sent again. They show as pending until AWS answers."
			}
		}
	}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusBadRequest
	}
	s.render(w, r, status, "metering", v)
}

func (s *Service) meteringView(ctx context.Context, mq meteringQuery) (meteringData, error) {
	d := meteringData{Periods: meteringPeriods, Period: mq.period, Statuses: recordStatuses, Status: mq.status, Sort: mq.order.String(), Offset: mq.offset}
	for _, p := range meteringPeriods {
		if p.Value == mq.period && p.Span > 0 {
			d.From = s.now().UTC().Add(-p.Span).Truncate(time.Hour)
		}
	}
	var retryable []retryGroup
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		from := store.Millis(d.From)
		if d.From.IsZero() {
			from = 0
		}
		byStatus, err := store.QueryAll(ctx, tx, func(r store.Scanner) (count, error) {
			var c count
			err := r.Scan(&c.Key, &c.Count)
			return c, err
		}, `SELECT status, COUNT(*) FROM metering_records WHERE hour >= ? GROUP BY status`, from)
		if err != nil {
			return err
		}
		for _, st := range []string{metering.StatusSuccess, metering.StatusDuplicate, metering.StatusPending, metering.StatusRejected,
			metering.StatusNotSubscribed, metering.StatusExpired} {
			c := count{Key: st}
			for _, x := range byStatus {
				if x.Key == st {
					c.Count = x.Count
				}
			}
			d.Counts = append(d.Counts, c)
			switch {
			case slices.Contains(notBilledOutcomes, st):
				d.NotBilled += c.Count
			case st == metering.StatusPending:
				d.Pending += c.Count
			}
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE(SUM(late_quantity), 0), COALESCE(SUM(CASE WHEN late_quantity > 0 THEN 1 ELSE 0 END), 0)
			FROM usage_buckets WHERE hour >= ?`, from).Scan(&d.LateQuantity, &d.LateHours); err != nil {
			return err
		}
		retryable, err = store.QueryAll(ctx, tx, func(r store.Scanner) (retryGroup, error) {
			var g retryGroup
			err := r.Scan(&g.ProductID, &g.Status, &g.Count)
			return g, err
		}, `SELECT product_id, status, COUNT(*) FROM metering_records WHERE status IN (?, ?) GROUP BY product_id, status ORDER BY product_id, status`,
			metering.StatusRejected, metering.StatusNotSubscribed)
		return err
	})
	if err != nil {
		return d, fmt.Errorf("metering health: %w", err)
	}
	d.Retryable = retryable

	all, err := s.Metering.Report(ctx, metering.ReportFilter{From: d.From, Limit: 1})
	if err != nil {
		return d, err
	}
	d.Totals = all.Totals
	gaps, err := s.Metering.Report(ctx, metering.ReportFilter{From: d.From, GapsOnly: true, Limit: 200})
	if err != nil {
		return d, err
	}
	d.GapsTruncated = gaps.Truncated
	for _, row := range gaps.Rows {
		text, class := hourOutcome(row.Status)
		g := gapView{ReportRow: row, Outcome: text, Class: class}
		if row.LicenseArn != "" {
			g.LicenseHref = licenseHref(row.LicenseArn)
		}
		d.Gaps = append(d.Gaps, g)
		i := slices.IndexFunc(d.ByDimension, func(x gapSummary) bool { return x.ProductID == row.ProductID && x.Dimension == row.Dimension })
		if i < 0 {
			d.ByDimension = append(d.ByDimension, gapSummary{ProductID: row.ProductID, Dimension: row.Dimension})
			i = len(d.ByDimension) - 1
		}
		sum := &d.ByDimension[i]
		sum.Hours++
		sum.Late += row.Late
		if slices.Contains(notBilledOutcomes, row.Status) {
			sum.NotBilled += row.Submitted
		}
		if row.Status == "open" || row.Status == metering.StatusPending {
			sum.Stale++
		}
	}
	slices.SortFunc(d.ByDimension, func(a, b gapSummary) int {
		if c := strings.Compare(a.ProductID, b.ProductID); c != 0 {
			return c
		}
		return strings.Compare(a.Dimension, b.Dimension)
	})
	// Newest gaps first.
	slices.Reverse(d.Gaps)

	// Records: one outcome, or every outcome not billed, sorted and paged
	// by the database.
	statuses := []string{d.Status}
	if d.Status == "" {
		statuses = notBilledOutcomes
	}
	page, err := s.Metering.SortedRecords(ctx, metering.RecordFilter{From: d.From}, statuses, mq.order.Key, mq.order.Desc, mq.offset, recordsPage)
	if err != nil {
		return d, err
	}
	recs := page.Items
	paged := report.Paged[metering.Record]{Items: recs, Total: page.Total, Offset: mq.offset, Limit: recordsPage}
	if mq.offset+len(recs) < page.Total {
		paged.NextOffset = mq.offset + len(recs)
	}
	lq := url.Values{"period": {mq.period}, "status": {mq.status}, "sort": {mq.order.String()}}
	if mq.order == defaultRecordOrder {
		lq.Del("sort")
	}
	if mq.offset > 0 {
		lq.Set("offset", strconv.Itoa(mq.offset))
	}
	base := Prefix + "/metering"
	d.Headers, d.Pager = sortHeaders(base, lq, mq.order, recordColumns), pagerOf(base, lq, paged)
	for _, rec := range recs {
		text, class := hourOutcome(rec.Status)
		v := recordView{Record: rec, Outcome: text, Class: class,
			CanRetry: rec.Status == metering.StatusRejected || rec.Status == metering.StatusNotSubscribed}
		if rec.LicenseArn != "" {
			v.LicenseHref = licenseHref(rec.LicenseArn)
		}
		d.Records = append(d.Records, v)
	}
	// The alerts: the latest notifications about usage that will not be
	// billed (the same ones sent by email, Slack and webhook).
	for _, kind := range []string{notify.KindMeteringFailed, notify.KindMeteringExpired} {
		list, err := s.Notify.List(ctx, notify.Filter{Kind: kind, Limit: meteringAlerts})
		if err != nil {
			return d, err
		}
		d.Alerts = append(d.Alerts, list...)
	}
	slices.SortFunc(d.Alerts, func(a, b notify.NotificationSummary) int { return b.CreatedAt.Compare(a.CreatedAt) })
	d.Alerts = d.Alerts[:min(len(d.Alerts), meteringAlerts)]
	return d, nil
}

// meteringAlerts is how many alerts the metering page shows.
const meteringAlerts = 10

// meteringRetry sends rejected or not_subscribed records again: one record,
// or every such record of a product (metering.Service.Requeue decides which
// can be).
func (s *Service) meteringRetry(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	record, product, status := strings.TrimSpace(f.Get("record")), strings.TrimSpace(f.Get("product")), f.Get("status")
	mq, _ := meteringQueryOf(f, "list")
	fieldID := "retry-" + record
	if record == "" {
		fieldID = "retry-" + product + "-" + status
	}
	var n int
	var err error
	switch {
	case record != "" && !ledgerID(record, 100), product != "" && !ledgerID(product, 255), len(status) > 40:
		err = marketplace.Errorf(marketplace.EInvalid, "that is not a metering record or a product")
	default:
		n, err = s.Metering.Requeue(r.Context(), record, product, status)
	}
	if err != nil {
		code := marketplace.ErrorCode(err)
		if code != marketplace.EConflict && code != marketplace.ENotFound && code != marketplace.EInvalid {
			s.fail(w, r, err)
			return
		}
		d, verr := s.meteringView(r.Context(), mq)
		if verr != nil {
			s.fail(w, r, verr)
			return
		}
		httpStatus := map[string]int{marketplace.EConflict: http.StatusConflict, marketplace.ENotFound: http.StatusNotFound, marketplace.EInvalid: http.StatusBadRequest}[code]
		s.render(w, r, httpStatus, "metering", view{Title: "Metering", Nav: "metering", Data: d,
			Errors: []fieldError{{ID: fieldID, Message: "Could not send again: " + marketplace.ErrorMessage(err)}}})
		return
	}
	s.logger().Info("console: metering records sent again", "record", record, "product", product, "status", status, "queued", n, "user", sessionOf(r).User.Email)
	back := url.Values{"period": {mq.period}, "retried": {strconv.Itoa(n)}}
	if mq.status != "" {
		back.Set("status", mq.status)
	}
	if mq.order != defaultRecordOrder {
		back.Set("sort", mq.order.String())
	}
	if mq.offset > 0 {
		back.Set("offset", strconv.Itoa(mq.offset))
	}
	http.Redirect(w, r, Prefix+"/metering?"+back.Encode(), http.StatusSeeOther)
}
