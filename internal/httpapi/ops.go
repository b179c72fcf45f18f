package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/report"
)

var security = []map[string][]string{{"apiKey": {}}}

// PageParams are the pagination query parameters every list takes.
type PageParams struct {
	Limit  int    `query:"limit" minimum:"0" maximum:"500" doc:"Rows per page (default 100, at most 500)."`
	Cursor string `query:"cursor" maxLength:"2048" doc:"The nextCursor of the previous page."`
}

func (p PageParams) page() inbox.Page { return inbox.Page{Limit: p.Limit, Cursor: p.Cursor} }

// List is a page of items; NextCursor is empty on the last page.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

type listOutput[T any] struct {
	Body List[T]
}

// pageLimit is the rows a page holds: 100 by default, at most 500.
func pageLimit(n int) int {
	if n <= 0 {
		return 100
	}
	return min(n, 500)
}

func page[T any](items []T, limit int, key func(T) string) *listOutput[T] {
	limit = pageLimit(limit)
	out := &listOutput[T]{Body: List[T]{Items: items}}
	if len(items) == limit {
		out.Body.NextCursor = encodeCursor(key(items[len(items)-1]))
	}
	return out
}

type bodyOutput[T any] struct {
	Body T
}

func (s *Server) register(api huma.API) {
	get := func(id, path, summary, tag string) huma.Operation {
		return huma.Operation{OperationID: id, Method: http.MethodGet, Path: path, Summary: summary, Tags: []string{tag}, Security: security}
	}

	huma.Register(api, get("list-buyers", "/v1/buyers", "List buyers (AWS accounts)", "Ledger"),
		func(ctx context.Context, in *struct {
			Product string `query:"product" doc:"Only buyers holding an agreement or license for this product id."`
			PageParams
		}) (*listOutput[BuyerWithCompany], error) {
			items, err := s.Ledger.ListBuyers(ctx, in.Product, in.page())
			if err != nil {
				return nil, s.apiError(err)
			}
			named, err := s.withCompanies(ctx, items)
			if err != nil {
				return nil, s.apiError(err)
			}
			return page(named, in.Limit, func(b BuyerWithCompany) string { return b.AccountID }), nil
		})

	huma.Register(api, get("get-buyer", "/v1/buyers/{accountId}", "A buyer's concurrent agreements and licenses, per product", "Ledger"),
		func(ctx context.Context, in *struct {
			AccountID string `path:"accountId" maxLength:"64"`
		}) (*bodyOutput[BuyerDetailWithCompany], error) {
			d, err := s.Ledger.GetBuyer(ctx, in.AccountID)
			if err != nil {
				return nil, s.apiError(err)
			}
			companies, err := report.LoadCompanies(ctx, s.DB)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[BuyerDetailWithCompany]{BuyerDetailWithCompany{d, companies[d.AccountID]}}, nil
		})

	huma.Register(api, get("list-agreements", "/v1/agreements", "List agreements", "Ledger"),
		func(ctx context.Context, in *struct {
			Account string `query:"account" doc:"Buyer AWS account id."`
			Product string `query:"product" doc:"Product id."`
			Status  string `query:"status" doc:"ACTIVE, CANCELLED, EXPIRED, RENEWED, REPLACED, TERMINATED, ..."`
			PageParams
		}) (*listOutput[marketplace.Agreement], error) {
			items, err := s.Ledger.ListAgreements(ctx, inbox.AgreementFilter{AccountID: in.Account, ProductID: in.Product, Status: in.Status, Page: in.page()})
			if err != nil {
				return nil, s.apiError(err)
			}
			return page(items, in.Limit, func(a marketplace.Agreement) string { return a.AgreementID }), nil
		})

	huma.Register(api, get("get-agreement", "/v1/agreements/{agreementId}", "An agreement with its lineage, terms and licenses", "Ledger"),
		func(ctx context.Context, in *struct {
			AgreementID string `path:"agreementId" maxLength:"128"`
		}) (*bodyOutput[inbox.AgreementDetail], error) {
			d, err := s.Ledger.GetAgreement(ctx, in.AgreementID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[inbox.AgreementDetail]{d}, nil
		})

	huma.Register(api, get("list-licenses", "/v1/licenses", "List licenses", "Ledger"),
		func(ctx context.Context, in *struct {
			Account   string `query:"account"`
			Product   string `query:"product"`
			Agreement string `query:"agreement"`
			State     string `query:"state" enum:"pending,active,ending,deprovisioned," doc:"pending, active, ending (final metering window) or deprovisioned."`
			PageParams
		}) (*listOutput[marketplace.License], error) {
			items, err := s.Ledger.ListLicenses(ctx, inbox.LicenseFilter{AccountID: in.Account, ProductID: in.Product, AgreementID: in.Agreement, State: in.State, Page: in.page()})
			if err != nil {
				return nil, s.apiError(err)
			}
			return page(items, in.Limit, func(l marketplace.License) string { return l.LicenseID }), nil
		})

	huma.Register(api, get("get-license", "/v1/licenses/{license}", "A license by LicenseArn (URL-encoded) or license id (l-…)", "Ledger"),
		func(ctx context.Context, in *struct {
			License string `path:"license" maxLength:"2048"`
		}) (*bodyOutput[marketplace.License], error) {
			l, err := s.Ledger.GetLicense(ctx, in.License)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.License]{l}, nil
		})

	huma.Register(api, get("list-products", "/v1/products", "List products", "Products"),
		func(ctx context.Context, in *PageParams) (*listOutput[marketplace.Product], error) {
			items, err := s.Ledger.ListProducts(ctx, in.page())
			if err != nil {
				return nil, s.apiError(err)
			}
			return page(items, in.Limit, func(p marketplace.Product) string { return p.ProductID }), nil
		})

	huma.Register(api, get("get-product", "/v1/products/{productId}", "A product", "Products"),
		func(ctx context.Context, in *struct {
			ProductID string `path:"productId" maxLength:"255"`
		}) (*bodyOutput[marketplace.Product], error) {
			p, err := s.Ledger.GetProduct(ctx, in.ProductID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.Product]{p}, nil
		})

	huma.Register(api, huma.Operation{OperationID: "put-product", Method: http.MethodPut, Path: "/v1/products/{productId}",
		Summary: "Create or replace a product's configuration", Tags: []string{"Products"}, Security: security, MaxBodyBytes: 64 << 10},
		func(ctx context.Context, in *struct {
			ProductID string `path:"productId" maxLength:"255"`
			Body      struct {
				ProductCode          string                      `json:"productCode,omitempty" maxLength:"255"`
				Title                string                      `json:"title,omitempty" maxLength:"255"`
				Type                 string                      `json:"type,omitempty" enum:"saas_contract,saas_contract_consumption,saas_usage,professional_services,"`
				ConcurrentAgreements *bool                       `json:"concurrentAgreements,omitempty" doc:"Defaults to true: listings created since 2026-06-01 have Concurrent Agreements on."`
				Dimensions           []marketplace.Dimension     `json:"dimensions,omitempty" maxItems:"200"`
				Registration         *marketplace.Registration   `json:"registration,omitempty" doc:"The registration page and tenant strategy."`
				ZeroUsageDimension   string                      `json:"zeroUsageDimension,omitempty" maxLength:"255" doc:"A usage dimension for which a zero-quantity record is sent every hour to each license in force that reported no usage."`
				ContractMetadata     []marketplace.MetadataField `json:"contractMetadata,omitempty" maxItems:"50" doc:"The contract metadata fields the product's offers carry; a field keyed exactly \"CPPO Opportunity ID\" turns on CPPO tracking."`
			}
		}) (*bodyOutput[marketplace.Product], error) {
			ca := true
			if in.Body.ConcurrentAgreements != nil {
				ca = *in.Body.ConcurrentAgreements
			}
			var reg marketplace.Registration
			if in.Body.Registration != nil {
				reg = *in.Body.Registration
			}
			p, err := s.Ledger.PutProduct(ctx, marketplace.Product{ProductID: in.ProductID, ProductCode: in.Body.ProductCode, Title: in.Body.Title,
				Type: in.Body.Type, ConcurrentAgreements: ca, Dimensions: in.Body.Dimensions, Registration: reg, ZeroUsageDimension: in.Body.ZeroUsageDimension,
				ContractMetadata: in.Body.ContractMetadata})
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.Product]{p}, nil
		})

	huma.Register(api, get("list-subscriptions", "/v1/subscriptions", "Legacy (SNS) subscriptions by CustomerIdentifier", "Ledger"),
		func(ctx context.Context, in *struct {
			ProductCode string `query:"productCode"`
			PageParams
		}) (*listOutput[marketplace.Subscription], error) {
			items, err := s.Ledger.ListSubscriptions(ctx, in.ProductCode, in.page())
			if err != nil {
				return nil, s.apiError(err)
			}
			return page(items, in.Limit, func(x marketplace.Subscription) string { return x.CustomerIdentifier + "|" + x.ProductCode }), nil
		})

	huma.Register(api, get("list-events", "/v1/events", "The inbox: every marketplace event received", "Events"),
		func(ctx context.Context, in *struct {
			Status    string `query:"status" enum:"applied,deferred,held,flagged,stored,queued," doc:"applied, deferred (waiting for what it refers to), held (dated more than 5 minutes ahead: applied when its time is near), flagged (unknown type) or stored (informational); queued lists the events stored but not folded into the ledger yet, whatever their status (the folder folds them moments after they arrive)."`
			Kind      string `query:"kind"`
			Agreement string `query:"agreement"`
			PageParams
		}) (*listOutput[inbox.StoredEvent], error) {
			items, err := s.Ledger.ListEvents(ctx, inbox.EventFilter{Status: in.Status, Kind: in.Kind, AgreementID: in.Agreement, Page: in.page()})
			if err != nil {
				return nil, s.apiError(err)
			}
			return page(items, in.Limit, func(e inbox.StoredEvent) string { return e.ID }), nil
		})

	huma.Register(api, get("get-event", "/v1/events/{eventId}", "One inbox event with its body", "Events"),
		func(ctx context.Context, in *struct {
			EventID string `path:"eventId" maxLength:"256"`
		}) (*bodyOutput[inbox.StoredEvent], error) {
			e, err := s.Ledger.GetEvent(ctx, in.EventID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[inbox.StoredEvent]{e}, nil
		})

	huma.Register(api, huma.Operation{OperationID: "replay-events", Method: http.MethodPost, Path: "/v1/events/replay",
		Summary: "Re-parse the inbox and fold the whole ledger again", Tags: []string{"Events"}, Security: security},
		func(ctx context.Context, in *struct{}) (*bodyOutput[inbox.ReplayStats], error) {
			st, err := s.Ledger.Replay(ctx)
			if err != nil {
				return nil, s.apiError(err)
			}
			// A replay runs in transactions of its own: recorded once it is done.
			if err := audit.RecordNow(ctx, s.DB, audit.Change{Object: "ledger", Action: "events.replay", After: st, Summary: "replayed the inbox"}); err != nil {
				s.Logger.Error("audit of a replay", "err", err)
			}
			return &bodyOutput[inbox.ReplayStats]{st}, nil
		})

	huma.Register(api, get("list-jobs", "/v1/jobs", "Background jobs; state=dead lists the ones that gave up", "Jobs"),
		func(ctx context.Context, in *struct {
			State string `query:"state" enum:"available,running,completed,dead,"`
			Kind  string `query:"kind"`
			Limit int    `query:"limit" minimum:"0" maximum:"500"`
		}) (*bodyOutput[List[job.Job]], error) {
			items, err := job.List(ctx, s.DB, job.Filter{State: in.State, Kind: in.Kind, Limit: in.Limit})
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[List[job.Job]]{List[job.Job]{Items: items}}, nil
		})

	huma.Register(api, get("get-job", "/v1/jobs/{jobId}", "One background job", "Jobs"),
		func(ctx context.Context, in *struct {
			JobID string `path:"jobId" maxLength:"64"`
		}) (*bodyOutput[job.Job], error) {
			j, err := job.Get(ctx, s.DB, in.JobID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[job.Job]{j}, nil
		})

	huma.Register(api, huma.Operation{OperationID: "retry-job", Method: http.MethodPost, Path: "/v1/jobs/{jobId}/retry",
		Summary: "Run a dead job again with a fresh set of attempts", Tags: []string{"Jobs"}, Security: security},
		func(ctx context.Context, in *struct {
			JobID string `path:"jobId" maxLength:"64"`
		}) (*bodyOutput[job.Job], error) {
			if err := job.Retry(ctx, s.DB, in.JobID, s.Now()); err != nil {
				return nil, s.apiError(err)
			}
			j, err := job.Get(ctx, s.DB, in.JobID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[job.Job]{j}, nil
		})
}
