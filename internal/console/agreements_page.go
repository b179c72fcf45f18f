package console

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/csvexport"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/report"
)

// mountAgreements adds the Agreements list and its CSV download.
func (s *Service) mountAgreements(m Mux) {
	m.HandleFunc("GET "+Prefix+"/agreements", s.signedIn(s.agreementsPage))
	m.HandleFunc("GET "+Prefix+"/agreements.csv", s.signedIn(s.agreementsCSV))
}

// agreementStatuses are the statuses the list filters by, in-force first.
var agreementStatuses = []string{marketplace.StatusActive, marketplace.StatusExpired, marketplace.StatusRenewed, marketplace.StatusReplaced,
	marketplace.StatusCancelled, marketplace.StatusTerminated, marketplace.StatusRolledBack, marketplace.StatusSuperseded, marketplace.StatusArchived}

var agreementColumns = []column{
	{Label: "Agreement", Key: "agreement"}, {Label: "Buyer", Key: "buyer"}, {Label: "Product", Key: "product"},
	{Label: "Channel", Key: "channel"}, {Label: "Status", Key: "status"}, {Label: "Accepted", Key: "accepted"},
	{Label: "Ends", Key: "end"}, {Label: "Contract value", Key: "value", Num: true},
}

type agreementListRow struct {
	report.AgreementRow
	Value, Ends string
}

type agreementsData struct {
	awsWords
	Buyer, Product, Status, Channel, Ending, Sort string
	Products                                      []marketplace.Product
	Statuses                                      []string
	Headers                                       []sortHeader
	Rows                                          []agreementListRow
	Pager                                         pager
	CSV                                           string
	Filtered                                      bool
}

// agreementFilter reads the list's filters from a query; errs name the
// fields that were not valid (those filters are then left out).
func agreementFilter(q url.Values, products []marketplace.Product) (report.AgreementFilter, []fieldError) {
	f := report.AgreementFilter{ProductID: q.Get("product"), Status: q.Get("status"), Channel: q.Get("channel"), Buyer: strings.TrimSpace(q.Get("buyer"))}
	var errs []fieldError
	if f.ProductID != "" && products != nil && !slices.ContainsFunc(products, func(p marketplace.Product) bool { return p.ProductID == f.ProductID }) {
		errs, f.ProductID = append(errs, fieldError{ID: "product", Message: "Choose a product from the list."}), ""
	}
	if f.Status != "" && !slices.Contains(agreementStatuses, f.Status) {
		errs, f.Status = append(errs, fieldError{ID: "status", Message: "Choose a status from the list."}), ""
	}
	if f.Channel != "" && !slices.Contains(report.Channels, f.Channel) {
		errs, f.Channel = append(errs, fieldError{ID: "channel", Message: "Choose direct or partner."}), ""
	}
	if e := strings.TrimSpace(q.Get("ending")); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 1 || n > report.MaxEndingWithinDays {
			errs = append(errs, fieldError{ID: "ending", Message: "Enter a number of days from 1 to " + strconv.Itoa(report.MaxEndingWithinDays) + "."})
		} else {
			f.EndingWithinDays = n
		}
	}
	if len(f.Buyer) > 200 || !marketplace.Storable(f.Buyer) {
		errs, f.Buyer = append(errs, fieldError{ID: "buyer", Message: "Search for at most 200 characters of plain text."}), ""
	}
	o, err := report.ParseOrder(q.Get("sort"), report.AgreementSortKeys, report.DefaultAgreementOrder)
	if err != nil {
		errs = append(errs, fieldError{ID: "agreements-table", Message: "That list cannot be sorted that way; it is sorted by end date."})
	}
	f.Order = o
	f.Offset = offsetOf(q)
	return f, errs
}

func (s *Service) agreementsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	_, products, err := s.productTitles(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, errs := agreementFilter(q, products)
	d := agreementsData{Buyer: q.Get("buyer"), Product: f.ProductID, Status: f.Status, Channel: f.Channel, Ending: q.Get("ending"),
		Products: products, Statuses: agreementStatuses, Sort: f.Order.String()}
	d.Filtered = f.ProductID != "" || f.Status != "" || f.Channel != "" || f.EndingWithinDays > 0 || f.Buyer != ""
	now := s.now()
	list, err := report.Agreements(ctx, s.DB, f, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := Prefix + "/agreements"
	d.Headers = sortHeaders(base, q, f.Order, agreementColumns)
	d.Pager = pagerOf(base, q, list)
	d.CSV = csvHref(base, q)
	for _, a := range list.Items {
		row := agreementListRow{AgreementRow: a, Value: moneyOf(a.ContractValue, a.Currency)}
		if a.EndsAt != nil && a.Status == marketplace.StatusActive {
			row.Ends = endsIn(now, *a.EndsAt)
		}
		d.Rows = append(d.Rows, row)
	}
	code := http.StatusOK
	if len(errs) > 0 {
		code = http.StatusBadRequest
	}
	s.render(w, r, code, "agreements", view{Title: "Agreements", Nav: "agreements", Errors: errs, Data: d})
}

func (s *Service) agreementsCSV(w http.ResponseWriter, r *http.Request) {
	f, errs := agreementFilter(r.URL.Query(), nil)
	if len(errs) > 0 {
		s.fail(w, r, marketplace.Errorf(marketplace.EInvalid, "%s", errs[0].Message))
		return
	}
	f.Page = report.AllRows
	list, err := report.Agreements(r.Context(), s.DB, f, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, report.AgreementColumns, list.Items); err != nil {
		s.fail(w, r, err)
		return
	}
	sendFile(w, csvexport.ContentType, "agreements-"+s.now().UTC().Format(time.DateOnly)+".csv", buf.Bytes())
}
