package metering

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
)

// Protocol and limits.
const (
	// TargetPrefix is the X-Amz-Target prefix of the service.
	TargetPrefix = "AWSMPMeteringService."
	// ContentType is the awsJson1_1 media type of requests and responses.
	ContentType = "application/x-amz-json-1.1"

	// MaxRequestBytes is the first request size that is rejected: AWS says a
	// BatchMeterUsage request "must be less than 1 MB", and the emulator
	// reads MB as 10^6 bytes, the stricter reading, so a client that passes
	// here passes AWS.
	MaxRequestBytes = 1_000_000
	// MaxRecords is the most usage records one BatchMeterUsage call takes.
	MaxRecords = 25
	// FutureSkew is how far in the future a usage timestamp may be.
	FutureSkew = 5 * time.Minute
	// MonthEndCutoff is how long after the month ends its records are still
	// accepted when Config.MonthEndGrace is on (06:00 UTC on the 1st).
	MonthEndCutoff = 6 * time.Hour

	// drainBytes is how much of an oversized body is read and thrown away so
	// the client finishes writing and can read the error (closing on a
	// half-read body makes the client see a reset instead).
	drainBytes = 16 << 20
)

// Operation names.
const (
	OpBatchMeterUsage = "BatchMeterUsage"
	OpMeterUsage      = "MeterUsage"
	OpResolveCustomer = "ResolveCustomer"
	OpRegisterUsage   = "RegisterUsage"
)

// Record statuses in world.MeteringRecord.Status.
const (
	StatusSuccess               = "Success"
	StatusDuplicateRecord       = "DuplicateRecord"
	StatusCustomerNotSubscribed = "CustomerNotSubscribed"
	StatusUnprocessed           = "Unprocessed"
	StatusRejected              = "Rejected"
)

// Server is the AWS Marketplace Metering Service emulator over a world. It
// implements http.Handler and is safe for concurrent use.
type Server struct {
	w *world.World

	// tokens remembers successful MeterUsage calls by ClientToken (the
	// world has no place for them; see doc.go).
	mu     sync.Mutex
	tokens map[string]clientTokenEntry
}

type clientTokenEntry struct {
	fingerprint string
	recordID    string
}

// New returns a metering service over w.
func New(w *world.World) *Server {
	return &Server{w: w, tokens: map[string]clientTokenEntry{}}
}

type handler func(srv *Server, ctx context.Context, body []byte) (any, *apiError)

var handlers = map[string]handler{
	OpBatchMeterUsage: (*Server).batchMeterUsage,
	OpMeterUsage:      (*Server).meterUsage,
	OpResolveCustomer: (*Server).resolveCustomer,
	OpRegisterUsage:   (*Server).registerUsage,
}

// ServeHTTP answers awsJson1_1 requests: POST with X-Amz-Target:
// AWSMPMeteringService.<Operation>. The path is not checked, so the server
// can be mounted under a prefix that the client's BaseEndpoint carries.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newUUID()
	defer func() {
		// Never let a bug take the process down; the fuzz test treats any
		// 500 it did not inject as a failure, so this hides nothing.
		if p := recover(); p != nil {
			writeError(w, reqID, newError(CodeInternalServiceError, "internal error: %v", p))
		}
	}()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		e := newError(CodeUnknownOperation, "Method %s is not allowed; the service takes POST.", clip(r.Method, 32))
		e.status = http.StatusMethodNotAllowed
		writeError(w, reqID, e)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	opName, ok := strings.CutPrefix(target, TargetPrefix)
	h := handlers[opName]
	if !ok || h == nil {
		writeError(w, reqID, newError(CodeUnknownOperation, "Unknown operation %q; expected X-Amz-Target %s<Operation>.", clip(target, 128), TargetPrefix))
		return
	}
	body, aerr := readBody(r)
	if aerr != nil {
		w.Header().Set("Connection", "close")
		writeError(w, reqID, aerr)
		return
	}
	out, aerr := h(srv, r.Context(), body)
	if aerr != nil {
		writeError(w, reqID, aerr)
		return
	}
	writeJSON(w, reqID, http.StatusOK, out)
}

// readBody reads at most MaxRequestBytes-1 bytes. A larger body is a
// ValidationException (see doc.go); what is left of it is drained, up to a
// limit, so the client can read the answer.
func readBody(r *http.Request) ([]byte, *apiError) {
	if r.Body == nil {
		return nil, nil
	}
	tooLarge := newError(CodeValidation, "The request must be less than 1 MB (%d bytes); split the usage records over more calls.", MaxRequestBytes)
	if r.ContentLength >= MaxRequestBytes {
		if r.ContentLength <= drainBytes {
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, drainBytes))
		}
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes))
	if err != nil {
		return nil, newError(CodeSerialization, "Could not read the request body.")
	}
	if len(body) >= MaxRequestBytes {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, drainBytes))
		return nil, tooLarge
	}
	return body, nil
}

func writeJSON(w http.ResponseWriter, reqID string, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		status = http.StatusInternalServerError
		buf.WriteString(`{"__type":"InternalServiceErrorException","message":"response encoding failed"}`)
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, reqID string, e *apiError) {
	w.Header().Set("X-Amzn-Errortype", e.code)
	writeJSON(w, reqID, e.status, struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.code, e.msg})
}

// newUUID returns a random (version 4) UUID, the shape of AWS request and
// metering record ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// gate draws the injected faults and takes a request from the seller's
// quota for op, inside one Do. onReject, when the call is throttled or
// failed, runs in the same Do (to record the rejected records). The
// injected latency is slept outside the lock; the call then fails as
// decided, or goes on.
func (srv *Server) gate(ctx context.Context, op string, onReject func(s *world.State, e *apiError)) *apiError {
	var d world.Decision
	var reject *apiError
	_ = srv.w.Do(func(s *world.State) error {
		d = s.Inject(op)
		allowed := s.Allow(s.Config.SellerAccountID, op)
		switch {
		case d.Throttle || !allowed:
			reject = newError(CodeThrottling, "Rate exceeded for %s.", op)
		case d.Fail:
			reject = newError(CodeInternalServiceError, "An internal error occurred (injected).")
		}
		if reject != nil && onReject != nil {
			onReject(s, reject)
		}
		return nil
	})
	if d.Latency > 0 {
		t := time.NewTimer(d.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return reject
}

// registerUsage answers RegisterUsage as AWS does for a caller that is not
// an ECS, EKS or Fargate task: the emulator is not a container platform.
func (srv *Server) registerUsage(ctx context.Context, body []byte) (any, *apiError) {
	var in struct {
		ProductCode      *string `json:"ProductCode"`
		PublicKeyVersion *number `json:"PublicKeyVersion"`
		Nonce            *string `json:"Nonce"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return nil, newError(CodePlatformNotSupported, "AWS Marketplace does not support metering usage from the underlying platform. Currently, Amazon ECS, Amazon EKS, and AWS Fargate are supported.")
}
