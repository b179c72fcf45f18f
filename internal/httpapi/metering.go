package httpapi

import (
	"context"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/metering"
)

const usageDoc = `Report usage. A batch holds up to 10,000 records; each names a license (LicenseArn or l-… id) or a
tenant (its billing license is metered), a usage dimension of the license's product, a whole quantity
(0 to 2,147,483,647), the time the usage happened (RFC 3339) and an idempotency key.

The answer comes only after the batch is committed. Each record is accepted, late, a duplicate or
rejected; ` + "`records`" + ` lists every record that was not simply accepted, by its index in the batch, with the
reason. Rejected records change nothing; the others are committed together.

- A repeated idempotency key (in this batch or an earlier one) is counted once and reported as a duplicate.
- Usage is summed per license, dimension and hour. An hour is submitted to AWS once it has ended and the
  grace for late usage has passed (10 minutes by default; at once when the license's agreement has ended).
  Usage for an hour already submitted is kept and reported as **late**; it is never sent.
- Refused: unknown licenses, dimensions the product does not declare as usage dimensions, licenses not
  started or deprovisioned (AWS no longer accepts their usage), timestamps more than 5 minutes ahead, and
  usage too old for AWS to accept (24 hours by default; a month's usage until 06:00 UTC on the 1st).`

// usageOperation is POST /v1/usage, whose bodies share a memory budget
// (Server.UsageBodyBudget).
const usageOperation = "report-usage"

// usageBody documents the body of POST /v1/usage.
type usageBody struct {
	Records []metering.Usage `json:"records" maxItems:"10000" doc:"Usage records."`
}

// registerMetering adds the usage and metering operations.
func (s *Server) registerMetering(api huma.API) {
	m := s.Metering
	op := func(id, method, path, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"Metering"}, Security: security}
	}
	ingest := op(usageOperation, http.MethodPost, "/v1/usage", "Report usage (up to 10,000 records per batch)")
	ingest.Description = usageDoc
	ingest.MaxBodyBytes = 8 << 20
	// Records are checked one by one, each with its own reason (IngestBatch).
	ingest.SkipValidateBody = true
	ingest.Errors = []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable}
	huma.Register(api, ingest, func(ctx context.Context, in *struct {
		RawBody []byte `contentType:"application/json"`
	}) (*bodyOutput[metering.IngestResult], error) {
		// One pass over the body: each record is decoded once and gets its
		// own reason if it is not a usage record.
		res, err := m.IngestBatch(ctx, in.RawBody)
		if err != nil {
			return nil, s.apiError(err)
		}
		return &bodyOutput[metering.IngestResult]{res}, nil
	})
	// The body is read raw; describe its shape in the OpenAPI document.
	if p := api.OpenAPI().Paths["/v1/usage"]; p != nil && p.Post != nil && p.Post.RequestBody != nil {
		p.Post.RequestBody.Content["application/json"] = &huma.MediaType{
			Schema: api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(usageBody{}), true, "UsageBatch")}
	}

	huma.Register(api, op("list-metering-records", http.MethodGet, "/v1/metering/records",
		"The outcome ledger: every record sent to BatchMeterUsage with its MeteringRecordId or reason"),
		func(ctx context.Context, in *struct {
			Status  string    `query:"status" enum:"pending,success,duplicate,not_subscribed,rejected,expired," doc:"Only records with this outcome."`
			License string    `query:"license" doc:"Only records of this license (LicenseArn or l-… id)."`
			Product string    `query:"product" doc:"Only records of this product id."`
			From    time.Time `query:"from" doc:"Only hours at or after this time (RFC 3339)."`
			To      time.Time `query:"to" doc:"Only hours before this time (RFC 3339)."`
			PageParams
		}) (*listOutput[metering.Record], error) {
			items, err := m.Records(ctx, metering.RecordFilter{Status: in.Status, License: in.License, ProductID: in.Product,
				From: in.From, To: in.To, Cursor: in.Cursor, Limit: pageLimit(in.Limit)})
			if err != nil {
				return nil, s.apiError(err)
			}
			return page(items, in.Limit, func(r metering.Record) string { return r.RecordID }), nil
		})

	huma.Register(api, op("metering-report", http.MethodGet, "/v1/metering/report",
		"Reconciliation per license, dimension and hour: ingested, late, submitted, accepted, with gaps flagged"),
		func(ctx context.Context, in *struct {
			License string    `query:"license" doc:"Only this license (LicenseArn or l-… id)."`
			Product string    `query:"product" doc:"Only this product id."`
			From    time.Time `query:"from" doc:"Only hours at or after this time (RFC 3339)."`
			To      time.Time `query:"to" doc:"Only hours before this time (RFC 3339)."`
			Gaps    bool      `query:"gaps" doc:"Only rows with usage that was not billed."`
			Limit   int       `query:"limit" minimum:"0" maximum:"10000" doc:"Rows (default 1000)."`
		}) (*bodyOutput[metering.Report], error) {
			rep, err := m.Report(ctx, metering.ReportFilter{License: in.License, ProductID: in.Product, From: in.From, To: in.To, GapsOnly: in.Gaps, Limit: in.Limit})
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[metering.Report]{rep}, nil
		})
	huma.Register(api, op("retry-metering-record", http.MethodPost, "/v1/metering/records/{recordId}/retry",
		"Send a rejected or not_subscribed record again, once its cause is fixed (it was never billed)"),
		func(ctx context.Context, in *struct {
			RecordID string `path:"recordId" maxLength:"64"`
		}) (*bodyOutput[requeued], error) {
			n, err := m.Requeue(ctx, in.RecordID, "", "")
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[requeued]{requeued{n}}, nil
		})
	huma.Register(api, op("retry-metering-records", http.MethodPost, "/v1/metering/retry",
		"Send a product's rejected (or not_subscribed) records again, once the cause is fixed; records past AWS's window are left alone"),
		func(ctx context.Context, in *struct {
			Product string `query:"product" required:"true" doc:"The product id."`
			Status  string `query:"status" enum:"rejected,not_subscribed," doc:"rejected (default) or not_subscribed."`
		}) (*bodyOutput[requeued], error) {
			n, err := m.Requeue(ctx, "", in.Product, in.Status)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[requeued]{requeued{n}}, nil
		})
}

type requeued struct {
	Requeued int `json:"requeued" doc:"How many records were queued to be sent again."`
}
