package console

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/csvexport"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/report"
)

// mountExports adds the CSV downloads of the lists that have no page of
// their own in this file's neighbours (agreements_page.go and money.go have
// theirs): buyers, offers, partner offers and the metering report. Each has
// the columns of the /v1 API's JSON for the same list.
func (s *Service) mountExports(m Mux) {
	m.HandleFunc("GET "+Prefix+"/buyers.csv", s.signedIn(s.buyersCSV))
	m.HandleFunc("GET "+Prefix+"/offers.csv", s.signedIn(s.offersCSV))
	m.HandleFunc("GET "+Prefix+"/partners.csv", s.signedIn(s.offersCSV))
	m.HandleFunc("GET "+Prefix+"/metering.csv", s.signedIn(s.meteringCSV))
}

func (s *Service) sendCSV(w http.ResponseWriter, r *http.Request, name string, write func(*bytes.Buffer) error) {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		s.fail(w, r, err)
		return
	}
	sendFile(w, csvexport.ContentType, name+"-"+s.now().UTC().Format(time.DateOnly)+".csv", buf.Bytes())
}

func (s *Service) buyersCSV(w http.ResponseWriter, r *http.Request) {
	f, errs := buyerFilter(r.URL.Query())
	if len(errs) > 0 {
		s.fail(w, r, marketplace.Errorf(marketplace.EInvalid, "%s", errs[0].Message))
		return
	}
	f.Page = report.AllRows
	list, err := report.Buyers(r.Context(), s.DB, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.sendCSV(w, r, "buyers", func(b *bytes.Buffer) error { return report.WriteCSV(b, report.BuyerColumns, list.Items) })
}

// OfferColumns are the columns of an offers CSV (report.OfferColumns).
var OfferColumns = report.OfferColumns

// offersCSV downloads every offer the list's filters select, in the list's
// order (state, search and sort; /console/partners.csv keeps partner offers).
func (s *Service) offersCSV(w http.ResponseWriter, r *http.Request) {
	typ, states, name := "", offerStates, "offers"
	if strings.HasSuffix(r.URL.Path, "/partners.csv") {
		typ, states, name = offer.TypePartner, partnerStates, "partner-offers"
	}
	f, errs := offerListFilter(r.URL.Query(), typ, states)
	if len(errs) > 0 {
		s.fail(w, r, marketplace.Errorf(marketplace.EInvalid, "%s", errs[0].Message))
		return
	}
	f.Page = report.AllRows
	list, err := report.Offers(r.Context(), s.DB, s.Offers, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.sendCSV(w, r, name, func(b *bytes.Buffer) error { return report.WriteCSV(b, OfferColumns, list.Items) })
}

// MeteringColumns are the columns of the metering report CSV: the rows of
// GET /v1/metering/report, named as in its JSON.
var MeteringColumns = []string{"licenseId", "licenseArn", "accountId", "productId", "dimension", "hour", "ingested", "usageRecords", "late",
	"submitted", "accepted", "status", "meteringRecordId", "recordId", "gap", "reason"}

type meteringRow metering.ReportRow

func (m meteringRow) Cells() []string {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	return []string{m.LicenseID, m.LicenseArn, m.AccountID, m.ProductID, m.Dimension, m.Hour.UTC().Format(time.RFC3339), n(m.Ingested), n(m.UsageRecords),
		n(m.Late), n(m.Submitted), n(m.Accepted), m.Status, m.MeteringRecordID, m.RecordID, m.Gap, m.Reason}
}

// maxMeteringRows bounds one download of the metering report (the API's
// limit): a longer period is downloaded in parts.
const maxMeteringRows = 10000

// meteringCSV downloads the metering report of the page's period.
func (s *Service) meteringCSV(w http.ResponseWriter, r *http.Request) {
	mq, errs := meteringQuery{period: r.URL.Query().Get("period")}.check()
	if len(errs) > 0 {
		s.fail(w, r, marketplace.Errorf(marketplace.EInvalid, "%s", errs[0].Message))
		return
	}
	f := metering.ReportFilter{Limit: maxMeteringRows}
	for _, p := range meteringPeriods {
		if p.Value == mq.period && p.Span > 0 {
			f.From = s.now().UTC().Add(-p.Span).Truncate(time.Hour)
		}
	}
	rep, err := s.Metering.Report(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if rep.Truncated {
		s.fail(w, r, marketplace.Errorf(marketplace.EInvalid, "the report of this period has more than %d rows: download a shorter period", maxMeteringRows))
		return
	}
	rows := make([]meteringRow, len(rep.Rows))
	for i, x := range rep.Rows {
		rows[i] = meteringRow(x)
	}
	s.sendCSV(w, r, "metering-report", func(b *bytes.Buffer) error { return report.WriteCSV(b, MeteringColumns, rows) })
}
