package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/csvexport"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/report"
)

// ReportPage are the parameters of a report list: a whitelisted sort, and
// an offset page.
type ReportPage struct {
	Sort   string `query:"sort" maxLength:"40" doc:"A column to sort by, with a leading - for descending (see each list)."`
	Offset int    `query:"offset" minimum:"0" maximum:"1000000" doc:"Rows to skip: the nextOffset of the previous page."`
	Limit  int    `query:"limit" minimum:"0" maximum:"500" doc:"Rows per page (default 50, at most 500)."`
	Format string `query:"format" enum:"json,csv," doc:"csv answers the whole list (every page) as CSV, with the JSON's fields as columns."`
}

// csvOutput is a CSV answer.
type csvOutput struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Body               []byte
}

func csvAnswer[T report.Celled](name string, columns []string, rows []T) (*csvOutput, error) {
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, columns, rows); err != nil {
		return nil, err
	}
	return &csvOutput{ContentType: csvexport.ContentType, ContentDisposition: `attachment; filename="` + name + `.csv"`, Body: buf.Bytes()}, nil
}

// reportOutput is a page of a report as JSON, or the whole report as CSV.
type reportOutput[T any] struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Body               any
}

// BuyerWithCompany is a buyer of GET /v1/buyers with its company name.
type BuyerWithCompany struct {
	inbox.BuyerSummary
	report.Company
}

// BuyerDetailWithCompany is GET /v1/buyers/{accountId} with the company name.
type BuyerDetailWithCompany struct {
	inbox.BuyerDetail
	report.Company
}

// withCompanies names each buyer of a page.
func (s *Server) withCompanies(ctx context.Context, items []inbox.BuyerSummary) ([]BuyerWithCompany, error) {
	companies, err := report.LoadCompanies(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	out := make([]BuyerWithCompany, len(items))
	for i, b := range items {
		out[i] = BuyerWithCompany{b, companies[b.AccountID]}
	}
	return out, nil
}

func (s *Server) registerReports(api huma.API) {
	op := func(id, method, path, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"Reports"}, Security: security, MaxBodyBytes: 16 << 10}
	}
	csvResponse := func(o huma.Operation, schema string) huma.Operation {
		o.Responses = map[string]*huma.Response{"200": {Description: "The page as JSON (" + schema + "), or with format=csv the whole list as CSV.",
			Content: map[string]*huma.MediaType{"application/json": {}, "text/csv": {}}}}
		return o
	}

	huma.Register(api, csvResponse(op("report-agreements", http.MethodGet, "/v1/reports/agreements",
		"Agreements with their buyers' companies and contract values, filtered, sorted and paged as the console's Agreements list"), "a page of agreements"),
		func(ctx context.Context, in *struct {
			Product string `query:"product" maxLength:"100"`
			Status  string `query:"status" maxLength:"40" doc:"ACTIVE, CANCELLED, EXPIRED, RENEWED, REPLACED, TERMINATED, ..."`
			Channel string `query:"channel" enum:"direct,partner,"`
			Ending  int    `query:"endingWithinDays" minimum:"0" maximum:"3660" doc:"Only active agreements ending within this many days."`
			Buyer   string `query:"buyer" maxLength:"200" doc:"Part of the buyer's company name (any case, any script) or account id."`
			Account string `query:"account" maxLength:"12" doc:"Only this buyer's agreements."`
			ReportPage
		}) (*reportOutput[report.AgreementRow], error) {
			o, err := report.ParseOrder(in.Sort, report.AgreementSortKeys, report.DefaultAgreementOrder)
			if err != nil {
				return nil, s.apiError(err)
			}
			f := report.AgreementFilter{ProductID: in.Product, Status: in.Status, Channel: in.Channel, EndingWithinDays: in.Ending, Buyer: in.Buyer,
				Account: in.Account, Order: o, Page: report.Page{Offset: in.Offset, Limit: in.Limit}}
			if in.Format == "csv" {
				f.Page = report.AllRows
			}
			list, err := report.Agreements(ctx, s.DB, f, s.Now())
			if err != nil {
				return nil, s.apiError(err)
			}
			return answer(in.Format, "agreements", report.AgreementColumns, list)
		})

	huma.Register(api, csvResponse(op("report-buyers", http.MethodGet, "/v1/reports/buyers",
		"Buyers with their company names and holdings, searched, sorted and paged as the console's Buyers list"), "a page of buyers"),
		func(ctx context.Context, in *struct {
			Q       string `query:"q" maxLength:"200" doc:"Part of the company name (any case, any script) or account id."`
			Product string `query:"product" maxLength:"100"`
			ReportPage
		}) (*reportOutput[report.BuyerRow], error) {
			o, err := report.ParseOrder(in.Sort, report.BuyerSortKeys, report.DefaultBuyerOrder)
			if err != nil {
				return nil, s.apiError(err)
			}
			f := report.BuyerFilter{Query: in.Q, ProductID: in.Product, Order: o, Page: report.Page{Offset: in.Offset, Limit: in.Limit}}
			if in.Format == "csv" {
				f.Page = report.AllRows
			}
			list, err := report.Buyers(ctx, s.DB, f)
			if err != nil {
				return nil, s.apiError(err)
			}
			return answer(in.Format, "buyers", report.BuyerColumns, list)
		})

	if s.Offers != nil {
		huma.Register(api, csvResponse(op("report-offers", http.MethodGet, "/v1/reports/offers",
			"Offers with their products' titles, searched (any case, any script), sorted and paged as the console's Offers and Partner offers lists"), "a page of offers"),
			func(ctx context.Context, in *struct {
				State   string `query:"state" maxLength:"40" doc:"draft, submitted, published, instructions_sent, viewed, extended, accepted, expired, cancelling, cancelled or failed"`
				Type    string `query:"type" enum:"direct,partner,"`
				Product string `query:"product" maxLength:"100"`
				Account string `query:"account" maxLength:"12" doc:"Only offers to this buyer account."`
				Q       string `query:"q" maxLength:"200" doc:"Part of the buyer's company (any case, any script), the offer name, a contract field or an id."`
				ReportPage
			}) (*reportOutput[report.OfferRow], error) {
				o, err := report.ParseOrder(in.Sort, report.OfferSortKeys, report.DefaultOfferOrder)
				if err != nil {
					return nil, s.apiError(err)
				}
				f := report.OfferFilter{State: in.State, Type: in.Type, ProductID: in.Product, Account: in.Account, Query: in.Q, Order: o,
					Page: report.Page{Offset: in.Offset, Limit: in.Limit}}
				if in.Format == "csv" {
					f.Page = report.AllRows
				}
				list, err := report.Offers(ctx, s.DB, s.Offers, f)
				if err != nil {
					return nil, s.apiError(err)
				}
				return answer(in.Format, "offers", report.OfferColumns, list)
			})
	}

	// ListPage are the parameters of a list sorted and paged by the database.
	type ListPage struct {
		Sort   string `query:"sort" maxLength:"40" doc:"A column to sort by, with a leading - for descending."`
		Offset int    `query:"offset" minimum:"0" maximum:"1000000" doc:"Rows to skip: the nextOffset of the previous page."`
		Limit  int    `query:"limit" minimum:"0" maximum:"500" doc:"Rows per page (default 50, at most 500)."`
	}
	paged := func(total, offset, limit, n int) report.Paged[struct{}] {
		p := report.Paged[struct{}]{Total: total, Offset: offset, Limit: limit}
		if offset+n < total {
			p.NextOffset = offset + n
		}
		return p
	}
	limitOf := func(l int) int {
		if l <= 0 {
			return report.DefaultLimit
		}
		return min(l, report.MaxLimit)
	}
	if s.Notify != nil {
		huma.Register(api, op("report-notifications", http.MethodGet, "/v1/reports/notifications",
			"Notifications sorted (created, subject, kind, status) and paged by offset, as the console's Notifications list"),
			func(ctx context.Context, in *struct {
				Kind   string `query:"kind" maxLength:"60" doc:"Only this kind."`
				Status string `query:"status" maxLength:"20" doc:"Only notifications with a delivery in this status (pending, sent, failed, skipped), or none."`
				ListPage
			}) (*bodyOutput[report.Paged[notify.NotificationSummary]], error) {
				o, err := report.ParseOrder(in.Sort, notify.SortKeys, report.Order{Key: "created", Desc: true})
				if err != nil {
					return nil, s.apiError(err)
				}
				limit := limitOf(in.Limit)
				list, err := s.Notify.ListSorted(ctx, notify.Filter{Kind: in.Kind, Status: in.Status}, o.Key, o.Desc, in.Offset, limit)
				if err != nil {
					return nil, s.apiError(err)
				}
				p := paged(list.Total, in.Offset, limit, len(list.Items))
				return &bodyOutput[report.Paged[notify.NotificationSummary]]{report.Paged[notify.NotificationSummary]{Items: list.Items,
					Total: p.Total, Offset: p.Offset, Limit: p.Limit, NextOffset: p.NextOffset}}, nil
			})
	}
	if s.Metering != nil {
		huma.Register(api, op("report-metering-records", http.MethodGet, "/v1/reports/metering-records",
			"The outcome ledger sorted (hour, license, dimension, quantity, status, attempts) and paged by offset, as the console's Metering page"),
			func(ctx context.Context, in *struct {
				Status  string    `query:"status" enum:"pending,success,duplicate,not_subscribed,rejected,expired," doc:"Only records with this outcome."`
				License string    `query:"license" maxLength:"2048" doc:"Only records of this license (LicenseArn or l-… id)."`
				Product string    `query:"product" maxLength:"100" doc:"Only records of this product id."`
				From    time.Time `query:"from" doc:"Only hours at or after this time (RFC 3339)."`
				To      time.Time `query:"to" doc:"Only hours before this time (RFC 3339)."`
				ListPage
			}) (*bodyOutput[report.Paged[metering.Record]], error) {
				o, err := report.ParseOrder(in.Sort, metering.RecordSortKeys, report.Order{Key: "hour"})
				if err != nil {
					return nil, s.apiError(err)
				}
				limit := limitOf(in.Limit)
				list, err := s.Metering.SortedRecords(ctx, metering.RecordFilter{Status: in.Status, License: in.License, ProductID: in.Product, From: in.From, To: in.To},
					nil, o.Key, o.Desc, in.Offset, limit)
				if err != nil {
					return nil, s.apiError(err)
				}
				p := paged(list.Total, in.Offset, limit, len(list.Items))
				return &bodyOutput[report.Paged[metering.Record]]{report.Paged[metering.Record]{Items: list.Items,
					Total: p.Total, Offset: p.Offset, Limit: p.Limit, NextOffset: p.NextOffset}}, nil
			})
	}

	huma.Register(api, csvResponse(op("report-bookings", http.MethodGet, "/v1/reports/bookings",
		"Bookings per month or quarter, by product and channel (agreements accepted, valued at their total contract value)"), "the report"),
		func(ctx context.Context, in *struct {
			From    string `query:"from" maxLength:"7" doc:"First month, YYYY-MM (default: eleven months before to)."`
			To      string `query:"to" maxLength:"7" doc:"Last month, YYYY-MM, inclusive (default: this month)."`
			By      string `query:"by" enum:"month,quarter," doc:"Group by month (default) or quarter."`
			Product string `query:"product" maxLength:"100"`
			Format  string `query:"format" enum:"json,csv,"`
		}) (*reportOutput[report.BookingRow], error) {
			f, err := report.ParseBookingFilter(in.From, in.To, in.By, in.Product, s.Now())
			if err != nil {
				return nil, s.apiError(err)
			}
			b, err := report.LoadBookings(ctx, s.DB, f)
			if err != nil {
				return nil, s.apiError(err)
			}
			if in.Format == "csv" {
				c, err := csvAnswer("bookings", report.BookingColumns, b.Rows)
				if err != nil {
					return nil, s.apiError(err)
				}
				return &reportOutput[report.BookingRow]{ContentType: c.ContentType, ContentDisposition: c.ContentDisposition, Body: c.Body}, nil
			}
			return &reportOutput[report.BookingRow]{ContentType: "application/json", Body: b}, nil
		})

	huma.Register(api, op("report-run-rate", http.MethodGet, "/v1/reports/run-rate",
		"The annual run rate of the contracts in force, per product and currency"),
		func(ctx context.Context, in *struct {
			Product string `query:"product" maxLength:"100"`
		}) (*bodyOutput[List[report.RunRate]], error) {
			rates, err := report.LoadRunRates(ctx, s.DB, in.Product)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[List[report.RunRate]]{List[report.RunRate]{Items: rates}}, nil
		})

	huma.Register(api, op("set-buyer-company", http.MethodPut, "/v1/buyers/{accountId}/company",
		"Name a buyer by hand (an empty name goes back to the name from its offers or registration)"),
		func(ctx context.Context, in *struct {
			AccountID string `path:"accountId" maxLength:"64"`
			Body      struct {
				Company string `json:"company" maxLength:"800" doc:"The company name, at most 200 characters; empty clears it."`
			}
		}) (*bodyOutput[report.Company], error) {
			if err := report.SetCompany(ctx, s.DB, in.AccountID, in.Body.Company, s.Now()); err != nil {
				return nil, s.apiError(err)
			}
			companies, err := report.LoadCompanies(ctx, s.DB)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[report.Company]{companies[in.AccountID]}, nil
		})
}

// answer writes a report page as JSON, or (format=csv) the list as CSV.
func answer[T report.Celled](format, name string, columns []string, list report.Paged[T]) (*reportOutput[T], error) {
	if strings.EqualFold(format, "csv") {
		c, err := csvAnswer(name, columns, list.Items)
		if err != nil {
			return nil, err
		}
		return &reportOutput[T]{ContentType: c.ContentType, ContentDisposition: c.ContentDisposition, Body: c.Body}, nil
	}
	return &reportOutput[T]{ContentType: "application/json", Body: list}, nil
}
