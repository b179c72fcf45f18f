package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/entitlement"
)

// entitlementPolicy is the OpenAPI description of GET /v1/entitlements.
const entitlementPolicy = `What a tenant or a license may use now. Give exactly one of ` + "`tenant`" + ` and ` + "`license`" + `; ` +
	"`dimension`" + ` narrows the answer to one dimension.

Policy:

- A license is allowed only while its ledger state is **active**. Pending, ending (the final metering
  window after its agreement ended) and deprovisioned licenses are not, whatever entitlements were
  cached: the state comes from AWS's events.
- A contract dimension is allowed when the last entitlement fetched from AWS for it exists, has not
  expired and its value is non-zero (or true, or a non-empty string). A dimension the product declares
  with kind ` + "`usage`" + ` (metered, not an entitlement) is allowed whenever the license is.
- Until a license's entitlements have been fetched once, its contract dimensions are not allowed and
  ` + "`reason`" + ` says why.
- Entitlements older than the maximum age (24 h by default) are still used but the answer says
  ` + "`stale: true`" + ` and a refresh is queued.
- For a tenant, ` + "`totals`" + ` add up each dimension over its active licenses (integers and doubles
  summed, booleans OR-ed, strings listed); ` + "`allowed`" + ` is true when any active license allows
  (the dimension).

Answers come from an in-memory cache (30 s by default) that this instance drops as soon as it commits
a change; another instance sharing the same PostgreSQL may answer from its cache for up to that long
after a change.`

type entitlementsInput struct {
	Tenant    string `query:"tenant" doc:"A tenant id. Give this or license."`
	License   string `query:"license" doc:"A LicenseArn or license id (l-…). Give this or tenant."`
	Dimension string `query:"dimension" doc:"Only this dimension; allowed then answers for it."`
}

// registerEntitlements adds the /v1 operations of s.Entitlements.
func (s *Server) registerEntitlements(api huma.API) {
	huma.Register(api, huma.Operation{OperationID: "check-entitlements", Method: http.MethodGet, Path: "/v1/entitlements",
		Summary: "Check what a tenant or license is entitled to now", Description: entitlementPolicy, Tags: []string{"Entitlements"}, Security: security,
		Errors: []int{http.StatusBadRequest, http.StatusNotFound}},
		func(ctx context.Context, in *entitlementsInput) (*bodyOutput[entitlement.Answer], error) {
			a, err := s.Entitlements.Check(ctx, entitlement.Query{TenantID: in.Tenant, License: in.License, Dimension: in.Dimension})
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[entitlement.Answer]{a}, nil
		})
}
