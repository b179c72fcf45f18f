package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/readiness"
)

const readinessDoc = `The Concurrent Agreements opt-in readiness of a product: the $0 test transactions (each test buyer
account's agreements for the product, with Agreement ID, LicenseArn, whether entitlements were fetched,
whether the license is registered to a tenant and whether metering was tested), the checks of what AWS asks
for before it enables Concurrent Agreements for all buyers (each pass, fail or not_applicable, with what is
missing), and AWS's integration roadmap step by step with the evidence Concord holds for each.

` + "`accounts`" + ` names the test buyer accounts given to AWS; without it they are the buyers of accepted zero-dollar
Concord offers for the product and the acceptors of its agreements whose terms total zero.
` + "`format=csv`" + ` answers the transactions to send AWS as text/csv: product_id, account_id, agreement_id,
license_arn, metering_tested (yes or no).`

// readinessOutput is JSON (readiness.Readiness) or CSV bytes.
type readinessOutput struct {
	ContentType string `header:"Content-Type"`
	Body        any
}

// registerReadiness adds the opt-in readiness report.
func (s *Server) registerReadiness(api huma.API) {
	op := huma.Operation{OperationID: "product-readiness", Method: http.MethodGet, Path: "/v1/products/{productId}/readiness",
		Summary:     "Concurrent Agreements opt-in readiness: the $0 test transactions, AWS's requirements checked, the integration checklist",
		Description: readinessDoc, Tags: []string{"Products"}, Security: security,
		Errors: []int{http.StatusBadRequest, http.StatusNotFound}}
	huma.Register(api, op, func(ctx context.Context, in *struct {
		ProductID string `path:"productId" maxLength:"255"`
		Accounts  string `query:"accounts" maxLength:"2000" doc:"Comma-separated test buyer AWS account ids (the ones given to AWS)."`
		Format    string `query:"format" enum:"json,csv," doc:"json (default) or csv (the transactions to send AWS)."`
	}) (*readinessOutput, error) {
		accounts, err := readiness.ParseAccounts(in.Accounts)
		if err != nil {
			return nil, s.apiError(err)
		}
		r, err := readiness.Report(ctx, s.DB, in.ProductID, accounts, s.Now())
		if err != nil {
			return nil, s.apiError(err)
		}
		if in.Format == "csv" {
			var b bytes.Buffer
			if err := readiness.WriteCSV(&b, r); err != nil {
				return nil, s.apiError(err)
			}
			return &readinessOutput{ContentType: "text/csv; charset=utf-8", Body: b.Bytes()}, nil
		}
		return &readinessOutput{ContentType: "application/json", Body: r}, nil
	})
	// The body is JSON or CSV; describe both in the OpenAPI document.
	if p := api.OpenAPI().Paths["/v1/products/{productId}/readiness"]; p != nil && p.Get != nil {
		if resp := p.Get.Responses["200"]; resp != nil {
			resp.Content = map[string]*huma.MediaType{
				"application/json": {Schema: api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(readiness.Readiness{}), true, "Readiness")},
				"text/csv":         {Schema: &huma.Schema{Type: "string", Description: "product_id,account_id,agreement_id,license_arn,metering_tested"}},
			}
		}
	}
}
