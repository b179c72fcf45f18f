package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
)

const addDocumentsDoc = `Upload documents for an offer's custom EULA (kind=eula) or, for a partner offer, its custom
reseller agreement (kind=reseller, which only the reseller sees). The contract becomes custom and its form
lists the documents, in upload order. Only a draft (or failed) offer's documents can change.

Send the file as the body with its Content-Type (text/plain or application/pdf) and its file name in
` + "`name`" + `, or send multipart/form-data with one or more parts named ` + "`file`" + ` (added together, all or none).

A contract takes up to five TXT or PDF documents, 6 MB in total. Each is checked by its content: a PDF
must start with %PDF- and be readable, a TXT must be UTF-8 text without NUL bytes. The documents are
consolidated into one PDF at once (text rendered as pages, PDFs as they are), which AWS fetches from
Concord's public URL when the offer is published: a document that cannot be consolidated is refused now.`

// maxUploadBytes is the largest upload body: the documents' 6 MB, and room
// for a multipart body's framing.
const maxUploadBytes = offer.MaxEULABytes + 1<<20

// tokenPattern is the shape of a public document token (256 bits, base64url).
var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

type documentFile struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Body               []byte
}

// registerOfferDocuments adds the custom contract document operations under
// /v1/offers/{id}/documents, and mounts on mux the public URLs AWS fetches the
// consolidated contracts from (no API key: the URL's token is the secret).
func (s *Server) registerOfferDocuments(api huma.API, mux *http.ServeMux) {
	o := s.Offers
	op := func(id, method, path, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"Offers"}, Security: security}
	}
	add := op("add-offer-documents", http.MethodPost, "/v1/offers/{id}/documents", "Upload EULA or reseller agreement documents (TXT or PDF) for a draft offer")
	add.Description = addDocumentsDoc
	add.DefaultStatus = http.StatusCreated
	add.MaxBodyBytes = maxUploadBytes
	add.BodyReadTimeout = time.Minute
	add.Errors = []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge}
	huma.Register(api, add, func(ctx context.Context, in *struct {
		ID          string `path:"id" maxLength:"64"`
		Kind        string `query:"kind" enum:"eula,reseller" default:"eula" doc:"eula, or reseller for a partner offer's reseller agreement."`
		Name        string `query:"name" maxLength:"1024" doc:"The file name, e.g. terms.pdf (a body that is the file itself); multipart parts carry their own."`
		ContentType string `header:"Content-Type" doc:"text/plain or application/pdf (guessed from the name for application/octet-stream), or multipart/form-data."`
		RawBody     []byte
	}) (*bodyOutput[offer.Detail], error) {
		files, err := uploads(in.ContentType, in.Name, in.RawBody)
		if err != nil {
			return nil, s.apiError(err)
		}
		d, err := o.AddDocuments(ctx, in.ID, in.Kind, files)
		if err != nil {
			return nil, s.apiError(err)
		}
		return &bodyOutput[offer.Detail]{d}, nil
	})
	if p := api.OpenAPI().Paths["/v1/offers/{id}/documents"]; p != nil && p.Post != nil && p.Post.RequestBody != nil {
		binary := &huma.Schema{Type: "string", Format: "binary"}
		p.Post.RequestBody.Required = true
		p.Post.RequestBody.Content = map[string]*huma.MediaType{
			offer.ContentTypePDF:  {Schema: binary},
			offer.ContentTypeText: {Schema: binary},
			"multipart/form-data": {Schema: &huma.Schema{Type: "object", Properties: map[string]*huma.Schema{
				"file": {Type: "array", Items: binary, Description: "Up to five files, each with its file name and Content-Type."}}}},
		}
	}

	huma.Register(api, op("list-offer-documents", http.MethodGet, "/v1/offers/{id}/documents", "The documents of an offer's custom EULA and reseller agreement, in order"),
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64"`
		}) (*bodyOutput[List[offer.StoredDocument]], error) {
			docs, err := o.Documents(ctx, in.ID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[List[offer.StoredDocument]]{List[offer.StoredDocument]{Items: docs}}, nil
		})

	huma.Register(api, op("remove-offer-document", http.MethodDelete, "/v1/offers/{id}/documents/{document}", "Remove a document from a draft offer's contract"),
		func(ctx context.Context, in *struct {
			ID       string `path:"id" maxLength:"64"`
			Document string `path:"document" maxLength:"64" doc:"The document id (doc_…)."`
		}) (*bodyOutput[offer.Detail], error) {
			d, err := o.RemoveDocument(ctx, in.ID, in.Document)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[offer.Detail]{d}, nil
		})

	get := op("get-offer-document", http.MethodGet, "/v1/offers/{id}/documents/{document}",
		"The consolidated PDF of a custom contract (eula.pdf, reseller.pdf), or one uploaded document as it was uploaded (its id)")
	get.Responses = map[string]*huma.Response{"200": {Description: "The document.", Content: map[string]*huma.MediaType{
		offer.ContentTypePDF: {Schema: &huma.Schema{Type: "string", Format: "binary"}}, offer.ContentTypeText: {Schema: &huma.Schema{Type: "string"}}}}}
	huma.Register(api, get, func(ctx context.Context, in *struct {
		ID       string `path:"id" maxLength:"64"`
		Document string `path:"document" maxLength:"64" doc:"eula.pdf, reseller.pdf (or reseller-agreement.pdf), or a document id (doc_…)."`
	}) (*documentFile, error) {
		kind := ""
		switch in.Document {
		case "eula.pdf":
			kind = offer.KindEULA
		case "reseller.pdf", "reseller-agreement.pdf":
			kind = offer.KindReseller
		}
		if kind == "" {
			d, content, err := o.Document(ctx, in.ID, in.Document)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &documentFile{ContentType: d.ContentType, ContentDisposition: disposition("attachment", d.Name), Body: content}, nil
		}
		pdf, err := o.Consolidated(ctx, in.ID, kind)
		if err != nil {
			return nil, s.apiError(err)
		}
		return &documentFile{ContentType: offer.ContentTypePDF, ContentDisposition: disposition("inline", offer.DocumentFileName(kind)), Body: pdf}, nil
	})

	if mux != nil {
		mux.HandleFunc("GET /documents/{token}/{file}", s.publicDocument)
	}
}

// publicDocument serves a consolidated contract at its public URL,
// /documents/<token>/eula.pdf or /documents/<token>/reseller-agreement.pdf.
// Change sets now carry the S3 URL of the document (--documents-bucket);
// this URL stays for offers published before that, whose change sets named it.
func (s *Server) publicDocument(w http.ResponseWriter, r *http.Request) {
	token, file := r.PathValue("token"), r.PathValue("file")
	kind := ""
	switch file {
	case offer.DocumentFileName(offer.KindEULA):
		kind = offer.KindEULA
	case offer.DocumentFileName(offer.KindReseller):
		kind = offer.KindReseller
	}
	if kind == "" || !tokenPattern.MatchString(token) {
		http.Error(w, "document not found", http.StatusNotFound)
		return
	}
	f, err := s.Offers.PublicDocument(r.Context(), token, kind)
	if marketplace.ErrorCode(err) == marketplace.ENotFound {
		http.Error(w, "document not found", http.StatusNotFound)
		return
	} else if err != nil {
		s.Logger.Error("public document", "err", err)
		http.Error(w, "could not read the document; retry", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", offer.ContentTypePDF)
	h.Set("Content-Disposition", disposition("inline", file))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Robots-Tag", "noindex")
	h.Set("ETag", `"`+f.InputsSHA256+`"`)
	http.ServeContent(w, r, file, f.CreatedAt, bytes.NewReader(f.Content))
}

func disposition(kind, name string) string {
	return mime.FormatMediaType(kind, map[string]string{"filename": name})
}

// uploads reads the files of an upload body: the file itself (named by
// name), or multipart/form-data parts named file.
func uploads(contentType, name string, body []byte) ([]offer.Upload, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	if mt != "multipart/form-data" {
		if name == "" {
			return nil, marketplace.Errorf(marketplace.EInvalid, "give the file name: ?name=terms.pdf")
		}
		switch mt {
		case "", "application/octet-stream", "application/x-www-form-urlencoded":
			// curl --data-binary sends the last unless told otherwise.
			contentType = offer.ContentTypeOf(name, body)
		}
		return []offer.Upload{{Name: name, ContentType: contentType, Content: body}}, nil
	}
	if params["boundary"] == "" {
		return nil, marketplace.Errorf(marketplace.EInvalid, "the multipart/form-data body has no boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var files []offer.Upload
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, marketplace.Errorf(marketplace.EInvalid, "the multipart/form-data body cannot be read: %v", err)
		}
		if p.FormName() != "file" {
			continue
		}
		content, err := io.ReadAll(p)
		if err != nil {
			return nil, marketplace.Errorf(marketplace.EInvalid, "the multipart/form-data body cannot be read: %v", err)
		}
		f := offer.Upload{Name: p.FileName(), ContentType: p.Header.Get("Content-Type"), Content: content}
		if f.Name == "" {
			f.Name = name
		}
		if ct, _, _ := mime.ParseMediaType(f.ContentType); ct == "" || ct == "application/octet-stream" {
			f.ContentType = offer.ContentTypeOf(f.Name, content)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, marketplace.Errorf(marketplace.EInvalid, "the multipart/form-data body has no part named file: send each document as a part named file")
	}
	return files, nil
}
