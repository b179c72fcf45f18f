package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/marketplace"
)

const listAuditDoc = `Every change a console user, an API key or a command run on the server made, newest first: who
(actor), when, what object, the action, and for settings the object as it was (before) and became (after), with
secrets redacted. Changes Concord made by itself on events and jobs are not listed (the inbox and the jobs are
their record). The trail is append-only.`

// auditQuery is the filter of GET /v1/audit.
type auditQuery struct {
	Actor    string `query:"actor" maxLength:"320" doc:"An actor's id or name: a console user's e-mail, an API key's name or id, or cli."`
	Object   string `query:"object" maxLength:"64" doc:"The kind of object: offer, product, webhook, notification_route, api_key, user, tenant, job, notification, sandbox, …"`
	ObjectID string `query:"objectId" maxLength:"255" doc:"One object's id."`
	From     string `query:"from" maxLength:"40" doc:"From this time (RFC 3339, or a UTC date YYYY-MM-DD), inclusive."`
	To       string `query:"to" maxLength:"40" doc:"Until this time (RFC 3339, or a UTC date YYYY-MM-DD), exclusive."`
	PageParams
}

func (q auditQuery) filter() (audit.Filter, error) {
	f := audit.Filter{Actor: q.Actor, Object: q.Object, ObjectID: q.ObjectID, After: q.Cursor, Limit: pageLimit(q.Limit)}
	for _, v := range []string{q.Actor, q.Object, q.ObjectID} {
		if !marketplace.Storable(v) {
			return f, huma.Error400BadRequest("actor, object and objectId must be valid UTF-8 without NUL characters")
		}
	}
	var err error
	if f.From, err = parseAuditTime("from", q.From); err != nil {
		return f, err
	}
	if f.To, err = parseAuditTime("to", q.To); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, huma.Error400BadRequest("from must be before to")
	}
	return f, nil
}

func parseAuditTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, huma.Error400BadRequest(name + ": give an RFC 3339 time (2026-12-01T09:00:00Z) or a date (2026-12-01)")
}

func (s *Server) registerAudit(api huma.API) {
	huma.Register(api, huma.Operation{OperationID: "list-audit", Method: http.MethodGet, Path: "/v1/audit",
		Summary: "The audit trail: who changed what, newest first", Description: listAuditDoc, Tags: []string{"Audit"}, Security: security},
		func(ctx context.Context, in *auditQuery) (*listOutput[audit.Entry], error) {
			f, err := in.filter()
			if err != nil {
				return nil, err
			}
			items, err := audit.List(ctx, s.DB, f)
			if err != nil {
				return nil, s.apiError(err)
			}
			if items == nil {
				items = []audit.Entry{}
			}
			return page(items, in.Limit, func(e audit.Entry) string { return e.ID }), nil
		})
}
