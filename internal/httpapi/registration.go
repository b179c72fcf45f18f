package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/registration"
)

// registerRegistration adds tenants, pending registrations and offer
// registration details.
func (s *Server) registerRegistration(api huma.API) {
	reg := s.Registration
	op := func(id, method, path, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"Tenants"}, Security: security, MaxBodyBytes: 64 << 10}
	}

	huma.Register(api, op("list-tenants", http.MethodGet, "/v1/tenants", "List tenants with their licenses"),
		func(ctx context.Context, in *struct {
			Account     string `query:"account" doc:"Buyer AWS account id."`
			ProductCode string `query:"productCode"`
			License     string `query:"license" doc:"The tenant holding this license (LicenseArn or l-… id)."`
			PageParams
		}) (*listOutput[marketplace.Tenant], error) {
			if in.License != "" {
				t, err := reg.TenantOfLicense(ctx, in.License)
				if marketplace.ErrorCode(err) == marketplace.ENotFound {
					return page([]marketplace.Tenant{}, in.Limit, func(t marketplace.Tenant) string { return t.TenantID }), nil
				} else if err != nil {
					return nil, s.apiError(err)
				}
				return page([]marketplace.Tenant{t}, in.Limit, func(t marketplace.Tenant) string { return t.TenantID }), nil
			}
			items, err := reg.ListTenants(ctx, registration.TenantFilter{AccountID: in.Account, ProductCode: in.ProductCode, Cursor: in.Cursor, Limit: in.Limit})
			if err != nil {
				return nil, s.apiError(err)
			}
			return page(items, in.Limit, func(t marketplace.Tenant) string { return t.TenantID }), nil
		})

	huma.Register(api, huma.Operation{OperationID: "create-tenant", Method: http.MethodPost, Path: "/v1/tenants",
		Summary: "Create a tenant for an existing customer, holding licenses the ledger knows", Tags: []string{"Tenants"},
		Security: security, MaxBodyBytes: 64 << 10, DefaultStatus: http.StatusCreated},
		func(ctx context.Context, in *struct {
			Body registration.NewTenant
		}) (*bodyOutput[marketplace.Tenant], error) {
			t, err := reg.CreateTenant(ctx, in.Body)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.Tenant]{t}, nil
		})

	huma.Register(api, op("get-tenant", http.MethodGet, "/v1/tenants/{tenantId}", "A tenant with its licenses and billing license"),
		func(ctx context.Context, in *struct {
			TenantID string `path:"tenantId" maxLength:"64"`
		}) (*bodyOutput[marketplace.Tenant], error) {
			t, err := reg.GetTenant(ctx, in.TenantID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.Tenant]{t}, nil
		})

	huma.Register(api, op("update-tenant", http.MethodPatch, "/v1/tenants/{tenantId}", "Change a tenant's company, contact or custom answers"),
		func(ctx context.Context, in *struct {
			TenantID string `path:"tenantId" maxLength:"64"`
			Body     registration.TenantUpdate
		}) (*bodyOutput[marketplace.Tenant], error) {
			t, err := reg.UpdateTenant(ctx, in.TenantID, in.Body)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.Tenant]{t}, nil
		})

	huma.Register(api, op("set-billing-license", http.MethodPut, "/v1/tenants/{tenantId}/billing-license",
		"Choose the license the tenant's usage is billed to by default"),
		func(ctx context.Context, in *struct {
			TenantID string `path:"tenantId" maxLength:"64"`
			Body     struct {
				License string `json:"license" minLength:"1" maxLength:"2048" doc:"LicenseArn or l-… id of one of the tenant's licenses."`
			}
		}) (*bodyOutput[marketplace.Tenant], error) {
			t, err := reg.SetBillingLicense(ctx, in.TenantID, in.Body.License)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.Tenant]{t}, nil
		})

	huma.Register(api, op("attach-license", http.MethodPost, "/v1/tenants/{tenantId}/licenses",
		"Attach a license of the same AWS account to a tenant"),
		func(ctx context.Context, in *struct {
			TenantID string `path:"tenantId" maxLength:"64"`
			Body     struct {
				License string `json:"license" minLength:"1" maxLength:"2048" doc:"LicenseArn or l-… id; its AWS account must own the tenant."`
			}
		}) (*bodyOutput[marketplace.Tenant], error) {
			t, err := reg.AttachLicense(ctx, in.TenantID, in.Body.License)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.Tenant]{t}, nil
		})

	huma.Register(api, op("list-pending-registrations", http.MethodGet, "/v1/registrations/pending",
		"Licenses waiting for the buyer to register, with the time left of AWS's 48 hours"),
		func(ctx context.Context, in *struct{}) (*bodyOutput[List[registration.Pending]], error) {
			items, err := reg.ListPending(ctx)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[List[registration.Pending]]{List[registration.Pending]{Items: items}}, nil
		})

	huma.Register(api, op("put-offer-registration", http.MethodPut, "/v1/offers/{offerId}/registration-details",
		"Registration details a private offer carried; the buyer is registered with them if they have not registered in time"),
		func(ctx context.Context, in *struct {
			OfferID string `path:"offerId" maxLength:"255"`
			Body    struct {
				Company     string            `json:"company" minLength:"1" maxLength:"255"`
				ContactName string            `json:"contactName,omitempty" maxLength:"255"`
				Email       string            `json:"email,omitempty" maxLength:"320"`
				Fields      map[string]string `json:"fields,omitempty"`
			}
		}) (*bodyOutput[registration.OfferDetails], error) {
			d, err := reg.PutOfferDetails(ctx, registration.OfferDetails{OfferID: in.OfferID, Company: in.Body.Company,
				ContactName: in.Body.ContactName, Email: in.Body.Email, Fields: in.Body.Fields})
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[registration.OfferDetails]{d}, nil
		})

	huma.Register(api, op("get-offer-registration", http.MethodGet, "/v1/offers/{offerId}/registration-details", "The registration details stored for an offer"),
		func(ctx context.Context, in *struct {
			OfferID string `path:"offerId" maxLength:"255"`
		}) (*bodyOutput[registration.OfferDetails], error) {
			d, err := reg.GetOfferDetails(ctx, in.OfferID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[registration.OfferDetails]{d}, nil
		})
}
