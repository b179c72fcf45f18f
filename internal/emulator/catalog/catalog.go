// Package catalog emulates the AWS Marketplace Catalog API (Smithy service
// AWSMPSeymour, restJson1) on top of the emulator's world: change sets that
// create and change offers (Offer@1.0) and resale authorizations
// (ResaleAuthorization@1.0), and the entity views DescribeEntity,
// BatchDescribeEntities and ListEntities.
//
// The official client (github.com/aws/aws-sdk-go-v2/service/marketplacecatalog)
// works against a [Server] unchanged when its BaseEndpoint points at it. The
// server matches on the last path segment, so it can be mounted under any
// prefix and share a mux with other services:
//
//	POST  .../StartChangeSet
//	GET   .../DescribeChangeSet?catalog=AWSMarketplace&changeSetId=...
//	POST  .../ListChangeSets
//	PATCH .../CancelChangeSet?catalog=AWSMarketplace&changeSetId=...
//	GET   .../DescribeEntity?catalog=AWSMarketplace&entityId=...
//	POST  .../BatchDescribeEntities
//	POST  .../ListEntities
//
// A change set is validated synchronously when it is started (schema errors:
// 422 ValidationException; unknown entities: 404; entities held by a running
// change set: 423 ResourceInUseException). It is PREPARING, then APPLYING
// after half of Config.ChangeSetDelay, and is applied by the world when the
// delay has passed: atomically, so that when any change fails nothing
// applies and the set is FAILED with CLIENT_ERROR and each failed change's
// ErrorDetailList. Terminal states emit the EventBridge events "Change Set
// Succeeded", "Change Set Failed" and "Change Set Cancelled"; ReleaseOffer
// emits "Offer Released".
package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/emulator/world"
)

// CatalogName is the only catalog the API accepts.
const CatalogName = "AWSMarketplace"

// Entity types (the Entity.Type of a change and the EntityType of DescribeEntity).
const (
	EntityTypeOffer               = "Offer@1.0"
	EntityTypeResaleAuthorization = "ResaleAuthorization@1.0"
	// EntityTypeSaaSProduct is the type DescribeEntity gives a SaaS product
	// (read-only here: the emulator takes no product change sets).
	EntityTypeSaaSProduct = "SaaSProduct@1.0"
)

// Source is the EventBridge source of catalog events.
const Source = "aws.marketplacecatalog"

// Operation names: the keys fault injection (world.State.Inject) and request
// throttling (world.State.Allow) use.
const (
	OpStartChangeSet        = "StartChangeSet"
	OpDescribeChangeSet     = "DescribeChangeSet"
	OpListChangeSets        = "ListChangeSets"
	OpCancelChangeSet       = "CancelChangeSet"
	OpDescribeEntity        = "DescribeEntity"
	OpBatchDescribeEntities = "BatchDescribeEntities"
	OpListEntities          = "ListEntities"
)

// Change set statuses.
const (
	StatusPreparing = "PREPARING"
	StatusApplying  = "APPLYING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusCancelled = "CANCELLED"
)

// Failure codes of a FAILED change set.
const (
	FailureClientError = "CLIENT_ERROR"
	FailureServerFault = "SERVER_FAULT"
)

// MaxRequestBytes is the largest request body read.
const MaxRequestBytes = 4 << 20

// Server is the emulated Catalog API. It is an http.Handler and is safe for
// concurrent use; all state lives in the world.
type Server struct {
	w *world.World
}

// New returns a Server on w and registers it as w's change set applier.
func New(w *world.World) *Server {
	srv := &Server{w: w}
	w.SetChangeSetApplier(srv.applyChangeSet)
	return srv
}

type operation struct {
	name   string
	method string
	// parse decodes the request outside the world lock.
	parse func(r *http.Request, body []byte) (any, *apiError)
	// run executes it inside the lock.
	run func(srv *Server, s *world.State, in any) (any, *apiError)
}

var operations = map[string]*operation{
	"/StartChangeSet":        {OpStartChangeSet, http.MethodPost, parseStartChangeSet, (*Server).startChangeSet},
	"/DescribeChangeSet":     {OpDescribeChangeSet, http.MethodGet, parseChangeSetQuery, (*Server).describeChangeSet},
	"/ListChangeSets":        {OpListChangeSets, http.MethodPost, parseListChangeSets, (*Server).listChangeSets},
	"/CancelChangeSet":       {OpCancelChangeSet, http.MethodPatch, parseChangeSetQuery, (*Server).cancelChangeSet},
	"/DescribeEntity":        {OpDescribeEntity, http.MethodGet, parseDescribeEntity, (*Server).describeEntity},
	"/BatchDescribeEntities": {OpBatchDescribeEntities, http.MethodPost, parseBatchDescribeEntities, (*Server).batchDescribeEntities},
	"/ListEntities":          {OpListEntities, http.MethodPost, parseListEntities, (*Server).listEntities},
}

// ServeHTTP implements the restJson1 endpoint.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := eventbridge.NewID()
	path := strings.TrimRight(r.URL.Path, "/")
	var op *operation
	if i := strings.LastIndex(path, "/"); i >= 0 {
		op = operations[path[i:]]
	}
	if op == nil {
		writeError(w, reqID, &apiError{Status: http.StatusNotFound, Code: "UnknownOperationException",
			Message: "no Catalog API operation at " + r.URL.Path})
		return
	}
	if r.Method != op.method {
		w.Header().Set("Allow", op.method)
		writeError(w, reqID, &apiError{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowedException",
			Message: op.name + " is " + op.method + " " + path[strings.LastIndex(path, "/"):]})
		return
	}
	var body []byte
	if r.Body != nil && op.method != http.MethodGet {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				writeError(w, reqID, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLargeException",
					Message: "the request body is larger than the emulator accepts"})
				return
			}
			writeError(w, reqID, errValidation("could not read the request body"))
			return
		}
	}
	in, perr := op.parse(r, body)
	var (
		out     any
		aerr    *apiError
		latency time.Duration
	)
	srv.w.Do(func(s *world.State) (err error) {
		// world.Do does not release its lock when fn panics: never let a
		// panic escape, answer it as an internal error instead.
		defer func() {
			if p := recover(); p != nil {
				out, aerr = nil, &apiError{Status: http.StatusInternalServerError, Code: "InternalServiceException",
					Message: fmt.Sprintf("internal error in %s: %v", op.name, p)}
			}
		}()
		d := s.Inject(op.name)
		latency = d.Latency
		switch {
		case d.Throttle:
			aerr = errThrottling()
			return nil
		case d.Fail:
			aerr = &apiError{Status: http.StatusInternalServerError, Code: "InternalServiceException",
				Message: "There was an internal service exception (injected fault)."}
			return nil
		}
		if !s.Allow(s.Config.SellerAccountID, op.name) {
			aerr = errThrottling()
			return nil
		}
		if perr != nil {
			aerr = perr
			return nil
		}
		promote(s)
		out, aerr = op.run(srv, s, in)
		return nil
	})
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	if aerr != nil {
		writeError(w, reqID, aerr)
		return
	}
	writeJSON(w, reqID, http.StatusOK, out)
}

// apiError is an error response: {"Message": ...} with the error type in the
// X-Amzn-ErrorType header (and in "__type", which the SDKs also read).
type apiError struct {
	Status  int
	Code    string
	Message string
	Fields  []fieldError
}

// fieldError is one ValidationExceptionFieldList entry.
type fieldError struct {
	ChangeType string `json:"ChangeType,omitempty"`
	EntityId   string `json:"EntityId,omitempty"`
	EntityType string `json:"EntityType,omitempty"`
	Field      string `json:"Field,omitempty"`
	Message    string `json:"Message,omitempty"`
	Reason     string `json:"Reason,omitempty"` // UnknownOperation, CannotParse, FieldValidationFailed, Other
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errValidation(msg string) *apiError {
	return &apiError{Status: http.StatusUnprocessableEntity, Code: "ValidationException", Message: msg}
}

func errNotFound(msg string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "ResourceNotFoundException", Message: msg}
}

func errInUse(msg string) *apiError {
	return &apiError{Status: http.StatusLocked, Code: "ResourceInUseException", Message: msg}
}

func errThrottling() *apiError {
	return &apiError{Status: http.StatusTooManyRequests, Code: "ThrottlingException", Message: "Rate exceeded"}
}

func writeError(w http.ResponseWriter, reqID string, e *apiError) {
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	body := map[string]any{"__type": e.Code, "Message": e.Message}
	if len(e.Fields) > 0 {
		body["ValidationExceptionFieldList"] = e.Fields
	}
	writeJSON(w, reqID, e.Status, body)
}

func writeJSON(w http.ResponseWriter, reqID string, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only plain values are encoded: this cannot happen.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"Message":"could not encode the response"}`)
		w.Header().Set("X-Amzn-ErrorType", "InternalServiceException")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
