package agreementapi

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/concordmp/concord/internal/emulator/smithyio"
)

// Protocol constants.
const (
	contentTypeCBOR  = "application/cbor"
	contentTypeJSON  = "application/x-amz-json-1.0"
	smithyProtocol   = "rpc-v2-cbor"
	maxBodyBytes     = 1 << 20
	headerRequestID  = "X-Amzn-Requestid"
	headerErrorType  = "X-Amzn-Errortype"
	headerTarget     = "X-Amz-Target"
	headerSmithyProt = "Smithy-Protocol"
)

type handlerFunc func(s *Server, in input) (obj, *APIError)

var operations = map[string]handlerFunc{
	OpDescribeAgreement: (*Server).describeAgreement,
	OpGetAgreementTerms: (*Server).getAgreementTerms,
	OpSearchAgreements:  (*Server).searchAgreements,

	OpSendAgreementCancellationRequest:   (*Server).sendAgreementCancellationRequest,
	OpGetAgreementCancellationRequest:    (*Server).getAgreementCancellationRequest,
	OpListAgreementCancellationRequests:  (*Server).listAgreementCancellationRequests,
	OpCancelAgreementCancellationRequest: (*Server).cancelAgreementCancellationRequest,
	OpAcceptAgreementCancellationRequest: (*Server).acceptAgreementCancellationRequest,
	OpRejectAgreementCancellationRequest: (*Server).rejectAgreementCancellationRequest,
	OpGetAgreementEntitlements:           (*Server).getAgreementEntitlements,

	OpListAgreementInvoiceLineItems:       (*Server).listAgreementInvoiceLineItems,
	OpListAgreementCharges:                (*Server).listAgreementCharges,
	OpBatchCreateBillingAdjustmentRequest: (*Server).batchCreateBillingAdjustmentRequest,
	OpGetBillingAdjustmentRequest:         (*Server).getBillingAdjustmentRequest,
	OpListBillingAdjustmentRequests:       (*Server).listBillingAdjustmentRequests,

	OpSendAgreementPaymentRequest:   (*Server).sendAgreementPaymentRequest,
	OpGetAgreementPaymentRequest:    (*Server).getAgreementPaymentRequest,
	OpListAgreementPaymentRequests:  (*Server).listAgreementPaymentRequests,
	OpCancelAgreementPaymentRequest: (*Server).cancelAgreementPaymentRequest,
	OpAcceptAgreementPaymentRequest: (*Server).acceptAgreementPaymentRequest,
	OpRejectAgreementPaymentRequest: (*Server).rejectAgreementPaymentRequest,
}

// wire is one of the two protocols.
type wire int

const (
	wireCBOR wire = iota
	wireJSON
)

// ServeHTTP serves Smithy RPC v2 CBOR requests
// (POST .../service/AWSMPCommerceService_v20200301/operation/<Op>) and AWS
// JSON 1.0 requests (POST with X-Amz-Target:
// AWSMPCommerceService_v20200301.<Op>). The path may carry a prefix from the
// client's BaseEndpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set(headerRequestID, reqID)

	target := r.Header.Get(headerTarget)
	_, cborPath := smithyio.CBOROperation(r.URL.Path, ServiceName)
	if r.Header.Get(headerSmithyProt) != "" || (target == "" && cborPath) {
		s.serveCBOR(w, r, reqID)
		return
	}
	if target != "" {
		s.serveJSON(w, r, reqID, target)
		return
	}
	writeError(w, wireJSON, reqID, &APIError{
		Code:    CodeUnknownOperation,
		Status:  http.StatusNotFound,
		Message: "expected POST /service/" + ServiceName + "/operation/<Operation> (rpc-v2-cbor) or POST / with X-Amz-Target (awsJson1_0)",
	})
}

func (s *Server) serveCBOR(w http.ResponseWriter, r *http.Request, reqID string) {
	w.Header().Set(headerSmithyProt, smithyProtocol)
	if p := r.Header.Get(headerSmithyProt); p != "" && p != smithyProtocol {
		writeError(w, wireCBOR, reqID, &APIError{Code: CodeUnknownOperation, Status: http.StatusBadRequest,
			Message: fmt.Sprintf("unsupported Smithy-Protocol %q, expected %q", p, smithyProtocol)})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, wireCBOR, reqID, &APIError{Code: CodeUnknownOperation, Status: http.StatusMethodNotAllowed,
			Message: "method " + r.Method + " not allowed, use POST"})
		return
	}
	opName, ok := smithyio.CBOROperation(r.URL.Path, ServiceName)
	if !ok || opName == "" {
		writeError(w, wireCBOR, reqID, &APIError{Code: CodeUnknownOperation, Status: http.StatusNotFound,
			Message: "unknown service or operation path " + r.URL.Path})
		return
	}
	if !mediaTypeIs(r.Header.Get("Content-Type"), contentTypeCBOR) {
		writeError(w, wireCBOR, reqID, &APIError{Code: CodeUnsupportedMediaType, Status: http.StatusUnsupportedMediaType,
			Message: "Content-Type must be " + contentTypeCBOR})
		return
	}
	s.dispatch(w, r, reqID, wireCBOR, opName, http.StatusNotFound)
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request, reqID, target string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, wireJSON, reqID, &APIError{Code: CodeUnknownOperation, Status: http.StatusMethodNotAllowed,
			Message: "method " + r.Method + " not allowed, use POST"})
		return
	}
	service, opName, ok := strings.Cut(target, ".")
	if !ok || service != ServiceName {
		writeError(w, wireJSON, reqID, &APIError{Code: CodeUnknownOperation, Status: http.StatusBadRequest,
			Message: fmt.Sprintf("unknown X-Amz-Target %q, expected %s.<Operation>", target, ServiceName)})
		return
	}
	ct := r.Header.Get("Content-Type")
	if !mediaTypeIs(ct, contentTypeJSON) && !mediaTypeIs(ct, "application/x-amz-json-1.1") {
		writeError(w, wireJSON, reqID, &APIError{Code: CodeUnsupportedMediaType, Status: http.StatusUnsupportedMediaType,
			Message: "Content-Type must be " + contentTypeJSON})
		return
	}
	s.dispatch(w, r, reqID, wireJSON, opName, http.StatusBadRequest)
}

// mediaTypeIs reports whether the Content-Type header is empty or names want.
func mediaTypeIs(header, want string) bool {
	if header == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(header)
	return err == nil && strings.EqualFold(mt, want)
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, reqID string, wf wire, opName string, unknownStatus int) {
	h, ok := operations[opName]
	if !ok {
		writeError(w, wf, reqID, &APIError{Code: CodeUnknownOperation, Status: unknownStatus,
			Message: fmt.Sprintf("operation %q is not supported by the agreement API emulator", opName)})
		return
	}
	if s.fault != nil {
		if err := s.fault(opName); err != nil {
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				apiErr = &APIError{Code: CodeInternalServer, Status: http.StatusInternalServerError, Message: err.Error()}
			}
			writeError(w, wf, reqID, apiErr)
			return
		}
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, wf, reqID, &APIError{Code: CodeRequestEntityTooLarge, Status: http.StatusRequestEntityTooLarge,
				Message: fmt.Sprintf("request body exceeds %d bytes", maxBodyBytes)})
			return
		}
		writeError(w, wf, reqID, serializationError("reading request body: %v", err))
		return
	}

	var m obj
	if wf == wireCBOR {
		m, err = decodeCBORBody(body)
	} else {
		m, err = decodeJSONBody(body)
	}
	if err != nil {
		writeError(w, wf, reqID, serializationError("malformed %s input: %v", opName, err))
		return
	}

	out, apiErr := h(s, input{m})
	if apiErr != nil {
		writeError(w, wf, reqID, apiErr)
		return
	}
	writeOutput(w, wf, http.StatusOK, out)
}

func writeOutput(w http.ResponseWriter, wf wire, status int, out obj) {
	var body []byte
	if wf == wireCBOR {
		w.Header().Set("Content-Type", contentTypeCBOR)
		body = cbor.Encode(toCBOR(out))
	} else {
		w.Header().Set("Content-Type", contentTypeJSON)
		var err error
		body, err = json.Marshal(toJSON(out))
		if err != nil { // cannot happen: the tree holds only JSON-safe values
			status = http.StatusInternalServerError
			body = []byte(`{"__type":"InternalServerException","message":"encoding response"}`)
		}
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, wf wire, reqID string, e *APIError) {
	code := e.shortCode()
	m := e.body(reqID)
	if wf == wireCBOR {
		m["__type"] = errorNamespace + code
	} else {
		m["__type"] = code
		w.Header().Set(headerErrorType, code)
	}
	writeOutput(w, wf, e.status(), m)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
