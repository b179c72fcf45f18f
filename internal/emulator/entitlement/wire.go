package entitlement

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/concordmp/concord/internal/emulator/smithyio"
)

// Wire constants of the two protocols the service speaks.
const (
	contentTypeCBOR   = "application/cbor"
	contentTypeJSON11 = "application/x-amz-json-1.1"
	contentTypeJSON10 = "application/x-amz-json-1.0"
	smithyProtocol    = "rpc-v2-cbor"
	headerSmithyProt  = "Smithy-Protocol"
	headerTarget      = "X-Amz-Target"
	headerRequestID   = "X-Amzn-Requestid"
	headerErrorType   = "X-Amzn-Errortype"
	errorNamespace    = "com.amazonaws.marketplaceentitlementservice#"
)

// wire is one of the two protocols.
type wire int

const (
	wireCBOR wire = iota
	wireJSON
)

// apiError is an error response.
type apiError struct {
	code    string
	status  int
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (%d): %s", e.code, e.status, e.message) }

func invalidParameter(format string, args ...any) *apiError {
	return &apiError{code: CodeInvalidParameter, status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

func serializationError(format string, args ...any) *apiError {
	return &apiError{code: CodeSerialization, status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

// ServeHTTP serves GetEntitlements over Smithy RPC v2 CBOR
// (POST …/service/AWSMPEntitlementService/operation/GetEntitlements, the
// default of the Go SDK since marketplaceentitlementservice v1.37.0) and over
// AWS JSON 1.1 (POST with X-Amz-Target: AWSMPEntitlementService.GetEntitlements).
// The RPC v2 path may follow any prefix (the emulator is mounted under one);
// JSON requests are recognised by their X-Amz-Target header on any path.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set(headerRequestID, reqID)

	target := r.Header.Get(headerTarget)
	_, isCBORPath := smithyio.CBOROperation(r.URL.Path, ServiceName)
	switch {
	case r.Header.Get(headerSmithyProt) != "" || (target == "" && isCBORPath):
		srv.serveCBOR(w, r, reqID)
	case target != "":
		srv.serveJSON(w, r, reqID, target)
	default:
		writeError(w, wireJSON, &apiError{code: CodeUnknownOperation, status: http.StatusNotFound,
			message: "expected POST /service/" + ServiceName + "/operation/" + OperationGetEntitlements +
				" (rpc-v2-cbor) or POST / with X-Amz-Target: " + ServiceName + "." + OperationGetEntitlements + " (awsJson1_1)"})
	}
}

func (srv *Server) serveCBOR(w http.ResponseWriter, r *http.Request, reqID string) {
	w.Header().Set(headerSmithyProt, smithyProtocol)
	if p := r.Header.Get(headerSmithyProt); p != "" && p != smithyProtocol {
		writeError(w, wireCBOR, &apiError{code: CodeUnknownOperation, status: http.StatusBadRequest,
			message: fmt.Sprintf("unsupported Smithy-Protocol %q, expected %q", p, smithyProtocol)})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, wireCBOR, &apiError{code: CodeUnknownOperation, status: http.StatusMethodNotAllowed,
			message: "method " + r.Method + " not allowed, use POST"})
		return
	}
	op, ok := smithyio.CBOROperation(r.URL.Path, ServiceName)
	if !ok || op != OperationGetEntitlements {
		writeError(w, wireCBOR, &apiError{code: CodeUnknownOperation, status: http.StatusNotFound,
			message: fmt.Sprintf("unknown service or operation path %q", r.URL.Path)})
		return
	}
	if !mediaTypeIs(r.Header.Get("Content-Type"), contentTypeCBOR) {
		writeError(w, wireCBOR, &apiError{code: CodeUnsupportedMediaType, status: http.StatusUnsupportedMediaType,
			message: "Content-Type must be " + contentTypeCBOR})
		return
	}
	srv.dispatch(w, r, reqID, wireCBOR)
}

func (srv *Server) serveJSON(w http.ResponseWriter, r *http.Request, reqID, target string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, wireJSON, &apiError{code: CodeUnknownOperation, status: http.StatusMethodNotAllowed,
			message: "method " + r.Method + " not allowed, use POST"})
		return
	}
	if target != ServiceName+"."+OperationGetEntitlements {
		writeError(w, wireJSON, &apiError{code: CodeUnknownOperation, status: http.StatusBadRequest,
			message: fmt.Sprintf("unknown X-Amz-Target %q, expected %s.%s", target, ServiceName, OperationGetEntitlements)})
		return
	}
	ct := r.Header.Get("Content-Type")
	if !mediaTypeIs(ct, contentTypeJSON11) && !mediaTypeIs(ct, contentTypeJSON10) {
		writeError(w, wireJSON, &apiError{code: CodeUnsupportedMediaType, status: http.StatusUnsupportedMediaType,
			message: "Content-Type must be " + contentTypeJSON11})
		return
	}
	srv.dispatch(w, r, reqID, wireJSON)
}

// mediaTypeIs reports whether the Content-Type header is empty or names want.
func mediaTypeIs(header, want string) bool {
	if header == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(header)
	return err == nil && strings.EqualFold(mt, want)
}

func (srv *Server) dispatch(w http.ResponseWriter, r *http.Request, reqID string, wf wire) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, wf, &apiError{code: CodeRequestEntityTooLarge, status: http.StatusRequestEntityTooLarge,
				message: fmt.Sprintf("request body exceeds %d bytes", MaxBodyBytes)})
			return
		}
		writeError(w, wf, serializationError("reading the request body: %v", err))
		return
	}
	// Input errors are decided here, outside the world's lock, but answered
	// only after fault injection and the request quota have had their say, as
	// AWS's front door throttles before the service validates.
	var m map[string]any
	if wf == wireCBOR {
		m, err = decodeCBORBody(body)
	} else {
		m, err = decodeJSONBody(body)
	}
	var q query
	var inputErr *apiError
	if err != nil {
		inputErr = serializationError("malformed GetEntitlements input: %v", err)
	} else if in, perr := parseInput(m); perr != nil {
		inputErr = perr
	} else {
		q, inputErr = srv.validate(in)
	}
	out, apiErr := srv.getEntitlements(r.Context(), q, inputErr)
	if apiErr != nil {
		writeError(w, wf, apiErr)
		return
	}
	writeOutput(w, wf, http.StatusOK, out)
}

// ---- requests ----

// The wire conversions are shared with the other emulated services.
var (
	decodeCBORBody = smithyio.DecodeCBOR
	decodeJSONBody = smithyio.DecodeJSON
	kindOf         = smithyio.KindOf
)

// input is a GetEntitlements request after type checking.
type input struct {
	productCode    string
	hasProductCode bool
	filter         map[string][]string
	nextToken      string
	hasNextToken   bool
	maxResults     int64
	hasMaxResults  bool
}

// parseInput type-checks the members of a decoded request. Wrong member types
// are SerializationExceptions; unknown members are ignored, as Smithy servers do.
func parseInput(m map[string]any) (input, *apiError) {
	var in input
	switch v := m["ProductCode"].(type) {
	case nil:
	case string:
		in.productCode, in.hasProductCode = v, true
	default:
		return in, serializationError("member ProductCode: expected a string, got %s", kindOf(v))
	}
	switch v := m["NextToken"].(type) {
	case nil:
	case string:
		in.nextToken, in.hasNextToken = v, true
	default:
		return in, serializationError("member NextToken: expected a string, got %s", kindOf(v))
	}
	switch v := m["MaxResults"].(type) {
	case nil:
	case int64:
		in.maxResults, in.hasMaxResults = v, true
	case float64:
		switch {
		case math.IsInf(v, 1) || v > math.MaxInt32:
			in.maxResults = math.MaxInt32 + 1 // out of range, rejected by validation
		case math.IsInf(v, -1) || v < math.MinInt32:
			in.maxResults = math.MinInt32 - 1
		case v != math.Trunc(v): // fractions and NaN
			return in, serializationError("member MaxResults: expected an integer, got %v", v)
		default:
			in.maxResults = int64(v)
		}
		in.hasMaxResults = true
	default:
		return in, serializationError("member MaxResults: expected an integer, got %s", kindOf(v))
	}
	switch f := m["Filter"].(type) {
	case nil:
	case map[string]any:
		in.filter = make(map[string][]string, len(f))
		for k, v := range f {
			list, ok := v.([]any)
			if !ok {
				return in, serializationError("member Filter.%s: expected a list of strings, got %s", quote(k), kindOf(v))
			}
			vals := make([]string, 0, len(list))
			for i, e := range list {
				s, ok := e.(string)
				if !ok {
					return in, serializationError("member Filter.%s[%d]: expected a string, got %s", quote(k), i, kindOf(e))
				}
				vals = append(vals, s)
			}
			in.filter[k] = vals
		}
	default:
		return in, serializationError("member Filter: expected a map, got %s", kindOf(f))
	}
	return in, nil
}

// quote renders client input in messages safely (valid UTF-8, bounded).
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

// ---- responses ----

func writeOutput(w http.ResponseWriter, wf wire, status int, out *output) {
	var body []byte
	if wf == wireCBOR {
		w.Header().Set("Content-Type", contentTypeCBOR)
		body = cbor.Encode(out.cbor())
	} else {
		w.Header().Set("Content-Type", contentTypeJSON11)
		body = out.json()
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError renders an error: in RPC v2 CBOR "__type" is the error's full
// shape ID (clients strip the namespace); in AWS JSON 1.1 it is the bare name,
// also sent as X-Amzn-ErrorType.
func writeError(w http.ResponseWriter, wf wire, e *apiError) {
	var body []byte
	if wf == wireCBOR {
		w.Header().Set("Content-Type", contentTypeCBOR)
		body = cbor.Encode(cbor.Map{"__type": cbor.String(errorNamespace + e.code), "message": cbor.String(e.message)})
	} else {
		w.Header().Set("Content-Type", contentTypeJSON11)
		w.Header().Set(headerErrorType, e.code)
		body, _ = json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}{e.code, e.message})
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
