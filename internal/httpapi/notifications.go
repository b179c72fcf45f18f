package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/notify"
)

// notificationRouteBody is the JSON of a new route. Fields carry no schema
// limits on purpose: the service checks them and answers 400 with a precise
// message.
type notificationRouteBody struct {
	Kind      string `json:"kind,omitempty" doc:"A notification kind (new_order, partner_offer_extended, order_modification, renewal, agreement_ended, registration_pending, registration_reminder, offer_expiring, agreement_ending, metering_failed, metering_expired, buyer_welcome, purchase_instructions, agreement_request, billing_alert, agreement_advisory), or * for every kind."`
	Channel   string `json:"channel,omitempty" doc:"email or slack"`
	Target    string `json:"target,omitempty" doc:"The email address (finance@example.com), or the https URL of a Slack-compatible incoming webhook."`
	ProductID string `json:"productId,omitempty" doc:"Only notifications about this product; empty means every product."`
}

// registerNotifications adds the /v1 operations of s.Notify: the notification
// outbox (list, read, resend) and the routes that say who hears what.
func (s *Server) registerNotifications(api huma.API) {
	if s.Notify == nil {
		return
	}
	op := func(id, method, path, summary string, status int) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"Notifications"},
			Security: security, DefaultStatus: status, MaxBodyBytes: 16 << 10}
	}
	n := s.Notify

	huma.Register(api, op("list-notifications", http.MethodGet, "/v1/notifications", "Notifications, newest first", 0),
		func(ctx context.Context, in *struct {
			Kind   string `query:"kind" doc:"Only this kind."`
			Status string `query:"status" doc:"Only notifications with a delivery in this status (pending, sent, failed, skipped), or none: without email or Slack recipients."`
			PageParams
		}) (*listOutput[notify.NotificationSummary], error) {
			items, err := n.List(ctx, notify.Filter{Kind: in.Kind, Status: in.Status, Limit: in.Limit, Cursor: in.Cursor})
			if err != nil {
				return nil, s.apiError(err)
			}
			return page(items, in.Limit, func(x notify.NotificationSummary) string { return x.ID }), nil
		})

	huma.Register(api, op("get-notification", http.MethodGet, "/v1/notifications/{id}",
		"A notification: subject, text, HTML, recipients, attachments and its deliveries", 0),
		func(ctx context.Context, in *struct {
			ID string `path:"id" doc:"Notification id (ntf_…)."`
		}) (*bodyOutput[notify.Notification], error) {
			x, err := n.Get(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[notify.Notification]{x}, nil
		})

	huma.Register(api, op("resend-notification", http.MethodPost, "/v1/notifications/{id}/resend",
		"Send a notification's failed and skipped deliveries again, or one delivery, with a fresh set of attempts", http.StatusAccepted),
		func(ctx context.Context, in *struct {
			ID       string `path:"id" doc:"Notification id (ntf_…)."`
			Delivery string `query:"delivery" doc:"Only this delivery (ntd_…), whatever its status unless it is pending."`
		}) (*bodyOutput[notify.Notification], error) {
			x, err := n.Resend(ctx, in.ID, in.Delivery)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[notify.Notification]{x}, nil
		})

	huma.Register(api, op("list-notification-routes", http.MethodGet, "/v1/notification-routes",
		"Notification routes: who hears about which kind, by email or Slack", 0),
		func(ctx context.Context, in *struct{}) (*listOutput[notify.NotificationRoute], error) {
			items, err := n.ListRoutes(ctx)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &listOutput[notify.NotificationRoute]{Body: List[notify.NotificationRoute]{Items: items}}, nil
		})

	huma.Register(api, op("create-notification-route", http.MethodPost, "/v1/notification-routes",
		"Add a route: notifications of a kind (or *) to an email address or a Slack-compatible incoming webhook", http.StatusCreated),
		func(ctx context.Context, in *struct{ Body notificationRouteBody }) (*bodyOutput[notify.NotificationRoute], error) {
			r, err := n.CreateRoute(ctx, notify.NotificationRouteInput{Kind: in.Body.Kind, Channel: in.Body.Channel,
				Target: in.Body.Target, ProductID: in.Body.ProductID})
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[notify.NotificationRoute]{r}, nil
		})

	huma.Register(api, op("delete-notification-route", http.MethodDelete, "/v1/notification-routes/{id}",
		"Delete a route; notifications already recorded keep their deliveries", http.StatusNoContent),
		func(ctx context.Context, in *struct {
			ID string `path:"id" doc:"Route id (ntr_…)."`
		}) (*struct{}, error) {
			if err := n.DeleteRoute(ctx, in.ID); err != nil {
				return nil, s.apiError(err)
			}
			return &struct{}{}, nil
		})
}
