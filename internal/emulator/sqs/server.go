package sqs

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// MaxRequestBytes is the largest request body the server reads. It leaves
	// room for a maximum-size (1 MiB) message plus JSON escaping; larger
	// bodies get HTTP 413.
	MaxRequestBytes = 2 << 20

	// pollInterval is how often, in real time, a long poll re-checks the
	// (possibly injected) clock for delayed messages and expired visibility
	// timeouts.
	pollInterval = 100 * time.Millisecond

	targetPrefix = "AmazonSQS."
	contentType  = "application/x-amz-json-1.0"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Now is the clock used for delays, visibility timeouts, retention and
	// timestamps. Default time.Now.
	Now func() time.Time
	// AccountID is the account in queue URLs and ARNs. Default
	// "000000000000".
	AccountID string
	// Region is used in queue ARNs. Default "us-east-1".
	Region string
	// BaseURL returns the scheme://host[:port] prefix of queue URLs. It is
	// called with the HTTP request for wire calls and with nil for the
	// in-process methods (CreateQueue). The default derives
	// http(s)://<Host> from the request and returns "http://localhost" for
	// nil.
	BaseURL func(r *http.Request) string
}

// Server is an in-memory SQS emulator. It implements http.Handler and is
// safe for concurrent use.
type Server struct {
	now       func() time.Time
	accountID string
	region    string
	baseURL   func(*http.Request) string
	key       []byte // authenticates receipt handles

	mu     sync.Mutex
	queues map[string]*queue

	closed    chan struct{}
	closeOnce sync.Once
}

// New returns a Server with no queues.
func New(opts Options) *Server {
	s := &Server{
		now:       opts.Now,
		accountID: opts.AccountID,
		region:    opts.Region,
		baseURL:   opts.BaseURL,
		key:       make([]byte, 32),
		queues:    map[string]*queue{},
		closed:    make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.accountID == "" {
		s.accountID = "000000000000"
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.baseURL == nil {
		s.baseURL = defaultBaseURL
	}
	_, _ = rand.Read(s.key)
	return s
}

func defaultBaseURL(r *http.Request) string {
	if r == nil || r.Host == "" {
		return "http://localhost"
	}
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// Close makes pending and future long polls return at once. The Server keeps
// serving other requests.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// CreateQueue creates the named standard queue (or returns the existing one)
// and returns its URL. It returns "" if name is not a valid queue name.
func (s *Server) CreateQueue(name string) (url string) {
	u, err := s.CreateQueueWithAttributes(name, nil)
	if err != nil {
		return ""
	}
	return u
}

// CreateQueueWithAttributes is CreateQueue with queue attributes, as the
// CreateQueue API takes them (for example "VisibilityTimeout": "60").
func (s *Server) CreateQueueWithAttributes(name string, attrs map[string]string) (string, error) {
	if err := s.createQueue(name, attrs); err != nil {
		return "", err
	}
	return s.queueURL(nil, name), nil
}

// Send enqueues body on the queue identified by queueURL (a queue URL or a
// bare queue name) with the queue's default delay, and returns the message
// ID. Unknown queues give an error matching ErrQueueDoesNotExist.
func (s *Server) Send(queueURL, body string) (id string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(&queueURL)
	if aerr != nil {
		return "", aerr
	}
	out, aerr := s.sendLocked(q, sendParams{body: &body})
	if aerr != nil {
		return "", aerr
	}
	return out.MessageId, nil
}

// Depth returns the number of messages available for retrieval and the
// number in flight (received but neither deleted nor visible again). Delayed
// messages are in neither. Unknown queues report 0, 0.
func (s *Server) Depth(queueURL string) (visible, inflight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(&queueURL)
	if aerr != nil {
		return 0, 0
	}
	visible, inflight, _ = q.counts(s.now())
	return visible, inflight
}

// ServeHTTP implements the AWS JSON 1.0 protocol endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newUUID()
	if r.Method != http.MethodPost {
		writeError(w, reqID, errMethodNotAllowed())
		return
	}
	opName, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	h := handlers[opName]
	if !ok || h == nil {
		if ok && unsupportedOps[opName] {
			writeError(w, reqID, errUnsupportedOperation(opName))
			return
		}
		writeError(w, reqID, errUnknownOperation())
		return
	}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
		if err != nil {
			if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
				writeError(w, reqID, errRequestTooLarge(MaxRequestBytes))
				return
			}
			writeError(w, reqID, errSerialization("Could not read the request body."))
			return
		}
	}
	out, aerr := h(s, r, body)
	if aerr != nil {
		writeError(w, reqID, aerr)
		return
	}
	writeJSON(w, reqID, http.StatusOK, out)
}

type handlerFunc func(s *Server, r *http.Request, body []byte) (any, *apiError)

// op adapts a typed operation to a handlerFunc that decodes the JSON body.
func op[In any](f func(*Server, *http.Request, *In) (any, *apiError)) handlerFunc {
	return func(s *Server, r *http.Request, body []byte) (any, *apiError) {
		in := new(In)
		if err := decodeInput(body, in); err != nil {
			return nil, err
		}
		return f(s, r, in)
	}
}

var handlers = map[string]handlerFunc{
	"CreateQueue":                  op((*Server).opCreateQueue),
	"GetQueueUrl":                  op((*Server).opGetQueueURL),
	"ListQueues":                   op((*Server).opListQueues),
	"DeleteQueue":                  op((*Server).opDeleteQueue),
	"GetQueueAttributes":           op((*Server).opGetQueueAttributes),
	"SetQueueAttributes":           op((*Server).opSetQueueAttributes),
	"PurgeQueue":                   op((*Server).opPurgeQueue),
	"SendMessage":                  op((*Server).opSendMessage),
	"SendMessageBatch":             op((*Server).opSendMessageBatch),
	"ReceiveMessage":               op((*Server).opReceiveMessage),
	"DeleteMessage":                op((*Server).opDeleteMessage),
	"DeleteMessageBatch":           op((*Server).opDeleteMessageBatch),
	"ChangeMessageVisibility":      op((*Server).opChangeMessageVisibility),
	"ChangeMessageVisibilityBatch": op((*Server).opChangeMessageVisibilityBatch),
}

// unsupportedOps are real SQS operations the emulator does not implement.
var unsupportedOps = map[string]bool{
	"AddPermission":              true,
	"RemovePermission":           true,
	"TagQueue":                   true,
	"UntagQueue":                 true,
	"ListQueueTags":              true,
	"ListDeadLetterSourceQueues": true,
	"StartMessageMoveTask":       true,
	"CancelMessageMoveTask":      true,
	"ListMessageMoveTasks":       true,
}

func decodeInput(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		if field == "" {
			field = "request body"
		}
		return errSerialization("Unexpected %s value for %s.", te.Value, truncate(field, 256))
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return errSerialization("Malformed JSON at offset %d.", se.Offset)
	}
	return errSerialization("The request body could not be parsed.")
}

func writeJSON(w http.ResponseWriter, reqID string, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Cannot happen for the types used here; answer with a valid error.
		buf.Reset()
		status = http.StatusInternalServerError
		fmt.Fprintf(&buf, `{"__type":"%s#InternalFailure","message":"response encoding failed"}`, nsCoral)
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("x-amzn-RequestId", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, reqID string, e *apiError) {
	if v := e.headerValue(); v != "" {
		w.Header().Set("x-amzn-query-error", v)
	}
	writeJSON(w, reqID, e.status, struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.namespace + "#" + e.typ, e.msg})
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Server) queueURL(r *http.Request, name string) string {
	return strings.TrimRight(s.baseURL(r), "/") + "/" + s.accountID + "/" + name
}

func (s *Server) queueARN(name string) string {
	return "arn:aws:sqs:" + s.region + ":" + s.accountID + ":" + name
}

// lookupLocked resolves a QueueUrl (or bare queue name) to a queue.
func (s *Server) lookupLocked(queueURL *string) (*queue, *apiError) {
	if queueURL == nil || *queueURL == "" {
		return nil, errMissingParameter("QueueUrl")
	}
	u, err := url.Parse(*queueURL)
	if err != nil {
		return nil, errInvalidAddress(truncate(*queueURL, 256))
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	name := segs[len(segs)-1]
	if name == "" {
		return nil, errInvalidAddress(truncate(*queueURL, 256))
	}
	if len(segs) >= 2 && segs[len(segs)-2] != s.accountID {
		return nil, errQueueDoesNotExist()
	}
	q := s.queues[name]
	if q == nil {
		return nil, errQueueDoesNotExist()
	}
	return q, nil
}

// receiptHandle returns the handle of one receive of a message: the queue
// name, message ID and receive sequence, authenticated with the server key.
func (s *Server) receiptHandle(queueName, id string, seq uint64) string {
	payload := queueName + "\n" + id + "\n" + strconv.FormatUint(seq, 10)
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." +
		base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

func (s *Server) parseReceiptHandle(h string) (queueName, id string, seq uint64, ok bool) {
	p64, m64, found := strings.Cut(h, ".")
	if !found {
		return "", "", 0, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return "", "", 0, false
	}
	sum, err := base64.RawURLEncoding.DecodeString(m64)
	if err != nil {
		return "", "", 0, false
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write(payload)
	if !hmac.Equal(sum, mac.Sum(nil)[:16]) {
		return "", "", 0, false
	}
	parts := strings.Split(string(payload), "\n")
	if len(parts) != 3 {
		return "", "", 0, false
	}
	seq, err = strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return "", "", 0, false
	}
	return parts[0], parts[1], seq, true
}
