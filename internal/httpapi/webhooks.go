package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/webhook"
)

// webhookBody is the JSON of a create or update. Fields carry no schema limits on
// purpose: the service checks them and answers 400 with a precise message.
type webhookBody struct {
	URL         *string   `json:"url,omitempty" doc:"Absolute http(s) URL of the receiver, at most 2048 characters. Required on create."`
	Events      *[]string `json:"events,omitempty" doc:"Event types to receive (tenant.created, license.activated, license.updated, license.ending, license.deprovisioned, metering.failed, metering.expired, notification.<kind> for each notification kind, webhook.ping); empty or absent means all."`
	Description *string   `json:"description,omitempty" doc:"A note for humans, at most 500 characters."`
	Enabled     *bool     `json:"enabled,omitempty" doc:"Whether events are sent; defaults to true."`
}

type endpointIDParam struct {
	ID string `path:"id" doc:"Webhook endpoint id."`
}

// registerWebhooks adds the /v1 operations of s.Webhooks: endpoints, their
// secrets, test pings and the delivery log.
func (s *Server) registerWebhooks(api huma.API) {
	op := func(id, method, path, summary string, status int) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"Webhooks"},
			Security: security, DefaultStatus: status, MaxBodyBytes: 64 << 10}
	}
	w := s.Webhooks

	huma.Register(api, op("create-webhook", http.MethodPost, "/v1/webhooks",
		"Add a webhook endpoint; the response holds its signing secret, shown only this once", http.StatusCreated),
		func(ctx context.Context, in *struct{ Body webhookBody }) (*bodyOutput[webhook.Endpoint], error) {
			b := in.Body
			ei := webhook.EndpointInput{Enabled: b.Enabled}
			if b.URL != nil {
				ei.URL = *b.URL
			}
			if b.Events != nil {
				ei.Events = *b.Events
			}
			if b.Description != nil {
				ei.Description = *b.Description
			}
			e, err := w.Create(ctx, ei)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[webhook.Endpoint]{e}, nil
		})

	huma.Register(api, op("list-webhooks", http.MethodGet, "/v1/webhooks", "List webhook endpoints (without secrets)", 0),
		func(ctx context.Context, in *struct{}) (*listOutput[webhook.Endpoint], error) {
			items, err := w.List(ctx)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &listOutput[webhook.Endpoint]{Body: List[webhook.Endpoint]{Items: items}}, nil
		})

	huma.Register(api, op("get-webhook", http.MethodGet, "/v1/webhooks/{id}", "A webhook endpoint (without its secret)", 0),
		func(ctx context.Context, in *endpointIDParam) (*bodyOutput[webhook.Endpoint], error) {
			e, err := w.Get(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[webhook.Endpoint]{e}, nil
		})

	huma.Register(api, op("update-webhook", http.MethodPatch, "/v1/webhooks/{id}",
		"Change a webhook endpoint's URL, events, description or enabled flag", 0),
		func(ctx context.Context, in *struct {
			ID   string `path:"id" doc:"Webhook endpoint id."`
			Body webhookBody
		}) (*bodyOutput[webhook.Endpoint], error) {
			e, err := w.Update(ctx, in.ID, webhook.EndpointPatch{URL: in.Body.URL, Events: in.Body.Events,
				Description: in.Body.Description, Enabled: in.Body.Enabled})
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[webhook.Endpoint]{e}, nil
		})

	huma.Register(api, op("delete-webhook", http.MethodDelete, "/v1/webhooks/{id}",
		"Delete a webhook endpoint; its pending deliveries are cancelled", http.StatusNoContent),
		func(ctx context.Context, in *endpointIDParam) (*struct{}, error) {
			if err := w.Delete(ctx, in.ID); err != nil {
				return nil, s.apiError(err)
			}
			return &struct{}{}, nil
		})

	huma.Register(api, op("rotate-webhook-secret", http.MethodPost, "/v1/webhooks/{id}/rotate-secret",
		"Replace the signing secret at once; the response holds the new one, shown only this once", 0),
		func(ctx context.Context, in *endpointIDParam) (*bodyOutput[webhook.Endpoint], error) {
			secret, err := w.RotateSecret(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			e, err := w.Get(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			e.Secret = secret
			return &bodyOutput[webhook.Endpoint]{e}, nil
		})

	huma.Register(api, op("ping-webhook", http.MethodPost, "/v1/webhooks/{id}/ping",
		"Send a webhook.ping event to this endpoint to test the receiver", http.StatusAccepted),
		func(ctx context.Context, in *endpointIDParam) (*bodyOutput[webhook.Delivery], error) {
			d, err := w.Ping(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[webhook.Delivery]{d}, nil
		})

	huma.Register(api, op("list-webhook-deliveries", http.MethodGet, "/v1/webhooks/{id}/deliveries",
		"An endpoint's deliveries, newest first", 0),
		func(ctx context.Context, in *struct {
			ID    string `path:"id" doc:"Webhook endpoint id."`
			State string `query:"state" doc:"pending, delivered, failed (gave up) or cancelled."`
			PageParams
		}) (*listOutput[webhook.Delivery], error) {
			items, err := w.ListDeliveries(ctx, in.ID, in.State, webhook.Page{Limit: in.Limit, Cursor: in.Cursor})
			if err != nil {
				return nil, s.apiError(err)
			}
			return page(items, in.Limit, func(d webhook.Delivery) string { return d.ID }), nil
		})

	huma.Register(api, op("get-webhook-delivery", http.MethodGet, "/v1/webhook-deliveries/{id}",
		"One delivery with its payload and latest outcome", 0),
		func(ctx context.Context, in *struct {
			ID string `path:"id" doc:"Delivery id."`
		}) (*bodyOutput[webhook.Delivery], error) {
			d, err := w.GetDelivery(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[webhook.Delivery]{d}, nil
		})

	huma.Register(api, op("redeliver-webhook", http.MethodPost, "/v1/webhook-deliveries/{id}/redeliver",
		"Send a delivery again with a fresh set of attempts", http.StatusAccepted),
		func(ctx context.Context, in *struct {
			ID string `path:"id" doc:"Delivery id."`
		}) (*bodyOutput[webhook.Delivery], error) {
			d, err := w.Redeliver(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[webhook.Delivery]{d}, nil
		})
}
