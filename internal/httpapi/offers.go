package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/offer"
)

// registerOffers adds the private offer operations.
func (s *Server) registerOffers(api huma.API) {
	o := s.Offers
	op := func(id, method, path, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"Offers"}, Security: security,
			MaxBodyBytes: 256 << 10}
	}
	created := op("create-offer", http.MethodPost, "/v1/offers", "Draft a private offer (direct or partner; an amendment with amends; a renewal with renewal)")
	created.DefaultStatus = http.StatusCreated
	huma.Register(api, created, func(ctx context.Context, in *struct{ Body offer.Offer }) (*bodyOutput[offer.Detail], error) {
		d, err := o.Create(ctx, in.Body)
		if err != nil {
			return nil, s.apiError(err)
		}
		return &bodyOutput[offer.Detail]{d}, nil
	})
	huma.Register(api, op("check-offer", http.MethodPost, "/v1/offers/check", "Check a form against the marketplace's rules without saving it"),
		func(ctx context.Context, in *struct{ Body offer.Offer }) (*bodyOutput[offer.Check], error) {
			c, err := o.Check(ctx, in.Body)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[offer.Check]{c}, nil
		})
	huma.Register(api, op("list-offers", http.MethodGet, "/v1/offers", "List offers, newest first"),
		func(ctx context.Context, in *struct {
			State   string `query:"state" doc:"draft, submitted, published, instructions_sent, viewed, extended, accepted, expired, cancelled or failed"`
			Type    string `query:"type" enum:"direct,partner,"`
			Product string `query:"product"`
			Account string `query:"account" doc:"The buyer's AWS account."`
			Q       string `query:"q" doc:"Search the buyer's company, the offer name and the ids."`
			PageParams
		}) (*listOutput[offer.Offer], error) {
			items, err := o.List(ctx, offer.Filter{State: in.State, Type: in.Type, ProductID: in.Product, BuyerAccountID: in.Account, Query: in.Q,
				Cursor: in.Cursor, Limit: pageLimit(in.Limit)})
			if err != nil {
				return nil, s.apiError(err)
			}
			return page(items, in.Limit, func(x offer.Offer) string { return x.ID }), nil
		})
	huma.Register(api, op("get-offer", http.MethodGet, "/v1/offers/{id}", "An offer with its history"),
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64"`
		}) (*bodyOutput[offer.Detail], error) {
			d, err := o.Get(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[offer.Detail]{d}, nil
		})
	huma.Register(api, op("update-offer", http.MethodPut, "/v1/offers/{id}", "Edit an offer: a draft in full, an offer out with the buyer in its booking data only"),
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64"`
			Body offer.Offer
		}) (*bodyOutput[offer.Detail], error) {
			d, err := o.Update(ctx, in.ID, in.Body)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[offer.Detail]{d}, nil
		})
	cloned := op("clone-offer", http.MethodPost, "/v1/offers/{id}/clone", "A new draft from an offer's form")
	cloned.DefaultStatus = http.StatusCreated
	huma.Register(api, cloned, func(ctx context.Context, in *struct {
		ID string `path:"id" maxLength:"64"`
	}) (*bodyOutput[offer.Detail], error) {
		d, err := o.Clone(ctx, in.ID)
		if err != nil {
			return nil, s.apiError(err)
		}
		return &bodyOutput[offer.Detail]{d}, nil
	})
	huma.Register(api, op("cancel-offer", http.MethodPost, "/v1/offers/{id}/cancel", "Cancel an offer the buyer has not accepted"),
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64"`
			Body *struct {
				Reason string `json:"reason,omitempty" maxLength:"500"`
			} `required:"false"`
		}) (*bodyOutput[offer.Detail], error) {
			reason := ""
			if in.Body != nil {
				reason = in.Body.Reason
			}
			d, err := o.Cancel(ctx, in.ID, reason)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[offer.Detail]{d}, nil
		})
	huma.Register(api, op("submit-offer", http.MethodPost, "/v1/offers/{id}/submit",
		"Publish a draft through the Catalog API (a change set); the offer is submitted, then published or failed"),
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64"`
		}) (*bodyOutput[offer.Detail], error) {
			d, err := o.Submit(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[offer.Detail]{d}, nil
		})
	huma.Register(api, op("partner-offer-extended", http.MethodPost, "/v1/offers/{id}/extended",
		"Record the offer id of the CPPO the partner extended to the buyer (from AWS's CPPO Published email)"),
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64"`
			Body struct {
				OfferID string `json:"offerId" pattern:"^offer-[A-Za-z0-9]+$"`
			}
		}) (*bodyOutput[offer.Detail], error) {
			d, err := o.Extended(ctx, in.ID, in.Body.OfferID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[offer.Detail]{d}, nil
		})
	associated := op("associate-offer", http.MethodPost, "/v1/offers/associate",
		"Track an offer made outside Concord: by its offer id, or a partner offer by its CPPO opportunity id")
	associated.DefaultStatus = http.StatusCreated
	huma.Register(api, associated, func(ctx context.Context, in *struct{ Body offer.Association }) (*bodyOutput[offer.Detail], error) {
		d, err := o.Associate(ctx, in.Body)
		if err != nil {
			return nil, s.apiError(err)
		}
		return &bodyOutput[offer.Detail]{d}, nil
	})
	huma.Register(api, op("send-offer-instructions", http.MethodPost, "/v1/offers/{id}/instructions",
		"Record that purchase instructions went to the buyer of a published direct offer, and get them with the tracked link"),
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64"`
			Body offer.InstructionsRequest
		}) (*bodyOutput[offer.Instructions], error) {
			out, err := o.SendInstructions(ctx, in.ID, in.Body)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[offer.Instructions]{out}, nil
		})
	huma.Register(api, op("amendment-draft", http.MethodGet, "/v1/agreements/{id}/amendment",
		"An amendment of an accepted agreement prefilled from its terms, with what the buyer will owe and, with concurrent agreements on, the alternative of a concurrent offer"),
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"128"`
		}) (*bodyOutput[offer.Draft], error) {
			d, err := o.AmendmentDraft(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[offer.Draft]{d}, nil
		})
}
