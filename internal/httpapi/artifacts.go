package httpapi

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/store"
)

const exportArtifactsDoc = `Every bookable artifact version created in the period [from, to), as one CSV: a header row, then
one row per priced line of each version with the version's fields repeated (a version without lines is one
row with the line columns empty), ordered by creation time, agreement and version. The columns are
documented in docs/artifacts.md; amounts are exact decimals.

` + "`from`" + ` and ` + "`to`" + ` are UTC dates (YYYY-MM-DD); ` + "`to`" + ` is exclusive, so from=2026-11-01&to=2026-12-01
is November. A period is at most one year. ` + "`kind`" + ` keeps one kind: new, amendment, renewal, partner_order or
cancellation.`

const recordArtifactDoc = `Build the agreement's bookable artifact from the ledger as it is now and store it as a new version
when its content differs from the latest version: 201 with the new version, or 200 with the latest version
when nothing changed. Recording is idempotent; call it again once the agreement's terms have been fetched
(the artifact's termsKnown is false until then).`

// artifactRecordOutput is the answer to recording an artifact: 201 for a
// new version, 200 for the unchanged latest one.
type artifactRecordOutput struct {
	Status   int
	Location string `header:"Location"`
	Body     artifact.BookableArtifact
}

// artifactFileOutput is an artifact rendered as a file.
type artifactFileOutput struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Body               []byte
}

func attachment(name string) string {
	return mime.FormatMediaType("attachment", map[string]string{"filename": name})
}

// registerArtifacts adds the bookable artifact operations.
func (s *Server) registerArtifacts(api huma.API) {
	op := func(id, method, path, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"Artifacts"}, Security: security,
			Errors: []int{http.StatusBadRequest, http.StatusNotFound}}
	}

	huma.Register(api, op("list-agreement-artifacts", http.MethodGet, "/v1/agreements/{id}/artifacts", "Every version of an agreement's bookable artifact, oldest first"),
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"255"`
		}) (*listOutput[artifact.BookableArtifact], error) {
			items, err := artifact.List(ctx, s.DB, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &listOutput[artifact.BookableArtifact]{List[artifact.BookableArtifact]{Items: items}}, nil
		})

	record := op("record-agreement-artifact", http.MethodPost, "/v1/agreements/{id}/artifacts", "Record the agreement's bookable artifact now (a new version only when it changed)")
	record.Description = recordArtifactDoc
	record.DefaultStatus = http.StatusCreated
	record.Responses = map[string]*huma.Response{"200": {Description: "Nothing changed: the latest version."}}
	huma.Register(api, record, func(ctx context.Context, in *struct {
		ID string `path:"id" maxLength:"255"`
	}) (*artifactRecordOutput, error) {
		var a artifact.BookableArtifact
		var created bool
		err := s.DB.Write(ctx, func(tx *store.Tx) error {
			var err error
			a, created, err = artifact.Record(ctx, tx, in.ID, s.Now())
			if err != nil || !created {
				return err
			}
			return audit.Record(ctx, tx, audit.Change{Object: "artifact", ObjectID: a.ID, Action: "artifact.record", Summary: "recorded the bookable artifact of agreement " + in.ID})
		})
		if err != nil {
			return nil, s.apiError(err)
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		return &artifactRecordOutput{Status: status, Location: "/v1/artifacts/" + a.ID, Body: a}, nil
	})

	// The export is registered before /v1/artifacts/{id}: the mux prefers the
	// literal path whatever the order, the OpenAPI document lists it first.
	export := op("export-artifacts", http.MethodGet, "/v1/artifacts/export", "Export the bookable artifacts created in a period as CSV")
	export.Description = exportArtifactsDoc
	export.Responses = map[string]*huma.Response{"200": {Description: "The CSV.", Content: map[string]*huma.MediaType{
		"text/csv": {Schema: &huma.Schema{Type: "string", Description: "artifact_id,agreement_id,version,created_at,kind,… (docs/artifacts.md)"}}}}}
	huma.Register(api, export, func(ctx context.Context, in *struct {
		From string `query:"from" maxLength:"40" doc:"First day, YYYY-MM-DD (UTC), inclusive."`
		To   string `query:"to" maxLength:"40" doc:"Day after the last, YYYY-MM-DD (UTC): exclusive."`
		Kind string `query:"kind" maxLength:"40" doc:"Only this kind: new, amendment, renewal, partner_order or cancellation."`
	}) (*huma.StreamResponse, error) {
		p, err := artifact.ParseExportParams(in.From, in.To, in.Kind)
		if err != nil {
			return nil, s.apiError(err)
		}
		name := "artifacts-" + p.From.Format(time.DateOnly) + "-" + p.To.Format(time.DateOnly)
		if p.Kind != "" {
			name += "-" + p.Kind
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			w := &lazyCSV{ctx: hctx, name: name + ".csv"}
			err := artifact.Export(hctx.Context(), s.DB, w, p.From, p.To, p.Kind)
			if err == nil && !w.started {
				w.start() // an export always has its header; this only guards a change in Export
			}
			if err == nil {
				return
			}
			if !w.started {
				var se huma.StatusError
				if errors.As(s.apiError(err), &se) {
					huma.WriteErr(api, hctx, se.GetStatus(), se.Error())
				}
				return
			}
			// The status is sent: break the connection so the client sees a
			// failed download rather than a CSV that silently stops.
			s.Logger.Error("export artifacts: failed mid-stream", "err", err)
			panic(http.ErrAbortHandler)
		}}, nil
	})

	huma.Register(api, op("get-artifact", http.MethodGet, "/v1/artifacts/{id}", "One version of a bookable artifact (JSON)"),
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"255"`
		}) (*bodyOutput[artifact.BookableArtifact], error) {
			a, err := artifact.Get(ctx, s.DB, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[artifact.BookableArtifact]{a}, nil
		})

	file := func(id, path, summary, contentType string, schema *huma.Schema, render func(artifact.BookableArtifact) ([]byte, string, error)) {
		o := op(id, http.MethodGet, path, summary)
		o.Responses = map[string]*huma.Response{"200": {Description: summary + ".", Content: map[string]*huma.MediaType{contentType: {Schema: schema}}}}
		huma.Register(api, o, func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"255"`
		}) (*artifactFileOutput, error) {
			a, err := artifact.Get(ctx, s.DB, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			data, ext, err := render(a)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &artifactFileOutput{ContentType: contentType, ContentDisposition: attachment(artifact.FileName(a, ext)), Body: data}, nil
		})
	}
	file("get-artifact-pdf", "/v1/artifacts/{id}/pdf", "A bookable artifact as a PDF to file", artifact.ContentTypePDF,
		&huma.Schema{Type: "string", Format: "binary"}, func(a artifact.BookableArtifact) ([]byte, string, error) {
			b, err := artifact.PDF(a)
			return b, "pdf", err
		})
	file("get-artifact-csv", "/v1/artifacts/{id}/csv", "A bookable artifact as CSV, one row per line", artifact.ContentTypeCSV,
		&huma.Schema{Type: "string"}, func(a artifact.BookableArtifact) ([]byte, string, error) {
			var b bytes.Buffer
			err := artifact.CSV(&b, []artifact.BookableArtifact{a})
			return b.Bytes(), "csv", err
		})
}

// lazyCSV sends the CSV headers and status with the first bytes, so an
// export that fails before writing anything is still answered with an error.
type lazyCSV struct {
	ctx     huma.Context
	name    string
	started bool
}

func (w *lazyCSV) start() {
	w.started = true
	w.ctx.SetHeader("Content-Type", artifact.ContentTypeCSV)
	w.ctx.SetHeader("Content-Disposition", attachment(w.name))
	w.ctx.SetStatus(http.StatusOK)
}

func (w *lazyCSV) Write(p []byte) (int, error) {
	if !w.started {
		w.start()
	}
	return w.ctx.BodyWriter().Write(p)
}
