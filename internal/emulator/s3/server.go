package s3

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Error is an S3 error answer: an HTTP status and S3's XML <Error> body.
// The codes and statuses are those of the Amazon S3 API Reference's
// "Error responses" list (NoSuchKey 404, NoSuchBucket 404, AccessDenied 403,
// EntityTooLarge 400, BadDigest 400, InvalidBucketName 400,
// MethodNotAllowed 405, NotImplemented 501, InternalError 500, SlowDown 503).
type Error struct {
	Status   int
	Code     string
	Message  string
	Resource string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errNoSuchBucket(b string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "NoSuchBucket", Message: "The specified bucket does not exist", Resource: b}
}

func errNoSuchKey(k string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "NoSuchKey", Message: "The specified key does not exist.", Resource: k}
}

func errEntityTooLarge(max int64) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "EntityTooLarge",
		Message: fmt.Sprintf("Your proposed upload exceeds the maximum allowed size (the emulator takes %d bytes per object)", max)}
}

// ErrInternal and ErrSlowDown are what an injected fault answers.
var (
	ErrInternal = &Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: "We encountered an internal error. Please try again."}
	ErrSlowDown = &Error{Status: http.StatusServiceUnavailable, Code: "SlowDown", Message: "Please reduce your request rate."}
)

type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
}

func requestID() string {
	var b [8]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

func writeError(w http.ResponseWriter, r *http.Request, id string, e *Error) {
	w.Header().Set("x-amz-request-id", id)
	if r.Method == http.MethodHead {
		// A HEAD answer has no body: the status is all the client gets.
		w.WriteHeader(e.Status)
		return
	}
	body, _ := xml.Marshal(errorBody{Code: e.Code, Message: e.Message, Resource: e.Resource, RequestID: id})
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	io.WriteString(w, xml.Header)
	w.Write(body)
}

// request is an S3 request as the server understands it.
type request struct {
	op          string // PutObject, GetObject, HeadObject, HeadBucket, CreateBucket
	bucket, key string
}

// parseRequest names the operation and its bucket and key. A host whose first
// label is an existing bucket is virtual-hosted style; otherwise the path's
// first segment is the bucket.
func (s *Server) parseRequest(r *http.Request) (request, *Error) {
	var req request
	for k := range r.URL.Query() {
		if k != "x-id" {
			// Subresources (?acl, ?tagging, ?uploads, ?list-type ...) are
			// operations the emulator does not serve.
			return req, &Error{Status: http.StatusNotImplemented, Code: "NotImplemented",
				Message: fmt.Sprintf("A header or query you provided implies functionality that is not implemented (the emulator's S3 does not serve ?%s)", k)}
		}
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	if b := s.virtualBucket(r.Host); b != "" {
		req.bucket, req.key = b, path
	} else {
		req.bucket, req.key, _ = strings.Cut(path, "/")
	}
	if req.bucket == "" {
		return req, &Error{Status: http.StatusNotImplemented, Code: "NotImplemented", Message: "The emulator's S3 does not list buckets"}
	}
	if !ValidBucketName(req.bucket) {
		return req, &Error{Status: http.StatusBadRequest, Code: "InvalidBucketName", Message: "The specified bucket is not valid.", Resource: req.bucket}
	}
	if len(req.key) > 1024 {
		return req, &Error{Status: http.StatusBadRequest, Code: "KeyTooLongError", Message: "Your key is too long"}
	}
	switch {
	case r.Method == http.MethodPut && req.key != "":
		req.op = "PutObject"
	case r.Method == http.MethodPut:
		req.op = "CreateBucket"
	case r.Method == http.MethodGet && req.key != "":
		req.op = "GetObject"
	case r.Method == http.MethodHead && req.key != "":
		req.op = "HeadObject"
	case r.Method == http.MethodHead:
		req.op = "HeadBucket"
	case r.Method == http.MethodGet:
		return req, &Error{Status: http.StatusNotImplemented, Code: "NotImplemented", Message: "The emulator's S3 does not list objects"}
	default:
		return req, &Error{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed", Message: "The specified method is not allowed against this resource.", Resource: r.URL.Path}
	}
	return req, nil
}

// virtualBucket returns the bucket a virtual-hosted request names in its
// host, or "".
func (s *Server) virtualBucket(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, rest, ok := strings.Cut(host, ".")
	if !ok || rest == "" || net.ParseIP(host) != nil {
		return ""
	}
	if s.BucketExists(label) {
		return label
	}
	return ""
}

// signed reports whether r carries a SigV4 signature, in the Authorization
// header or presigned in the query.
func signed(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") || r.URL.Query().Get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256"
}

// ServeHTTP answers one S3 REST request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := requestID()
	req, e := s.parseRequest(r)
	if e == nil && (req.op == "PutObject" || req.op == "CreateBucket") && !signed(r) {
		e = &Error{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Access Denied (a write needs a SigV4-signed request)"}
	}
	if e == nil && s.o.Fault != nil {
		e = s.o.Fault(req.op)
	}
	if e != nil {
		writeError(w, r, id, e)
		return
	}
	w.Header().Set("x-amz-request-id", id)
	switch req.op {
	case "CreateBucket":
		s.mu.Lock()
		exists := s.buckets[req.bucket] != nil
		if !exists {
			s.buckets[req.bucket] = map[string]*Object{}
		}
		s.mu.Unlock()
		if exists {
			writeError(w, r, id, &Error{Status: http.StatusConflict, Code: "BucketAlreadyOwnedByYou",
				Message: "Your previous request to create the named bucket succeeded and you already own it.", Resource: req.bucket})
			return
		}
		w.Header().Set("Location", "/"+req.bucket)
		w.WriteHeader(http.StatusOK)
	case "HeadBucket":
		if !s.BucketExists(req.bucket) {
			writeError(w, r, id, errNoSuchBucket(req.bucket))
			return
		}
		w.WriteHeader(http.StatusOK)
	case "PutObject":
		s.putObject(w, r, id, req)
	case "GetObject", "HeadObject":
		if !s.BucketExists(req.bucket) {
			writeError(w, r, id, errNoSuchBucket(req.bucket))
			return
		}
		o, ok := s.Object(req.bucket, req.key)
		if !ok {
			writeError(w, r, id, errNoSuchKey(req.key))
			return
		}
		h := w.Header()
		h.Set("Content-Type", o.ContentType)
		h.Set("Content-Length", strconv.Itoa(len(o.Content)))
		h.Set("ETag", o.ETag)
		h.Set("Last-Modified", o.LastModified.Format(http.TimeFormat))
		h.Set("Accept-Ranges", "bytes")
		w.WriteHeader(http.StatusOK)
		if req.op == "GetObject" {
			w.Write(o.Content)
		}
	}
}

func (s *Server) putObject(w http.ResponseWriter, r *http.Request, id string, req request) {
	body, e := readBody(r, s.o.MaxObjectBytes)
	if e != nil {
		writeError(w, r, id, e)
		return
	}
	if e := checkDigests(r.Header, body); e != nil {
		writeError(w, r, id, e)
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "binary/octet-stream" // what S3 stores when no type is sent
	}
	o, e := s.put(req.bucket, req.key, ct, body)
	if e != nil {
		writeError(w, r, id, e)
		return
	}
	w.Header().Set("ETag", o.ETag)
	w.WriteHeader(http.StatusOK)
}

// readBody reads a PutObject payload: plain, or aws-chunked (the SDK's
// streaming encoding, "<hex size>[;chunk-signature=...]\r\n<data>\r\n" ...
// ending in a zero-size chunk and optional trailers) when Content-Encoding or
// x-amz-content-sha256 says so.
func readBody(r *http.Request, max int64) ([]byte, *Error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 2*max+64<<10))
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: "You did not provide the number of bytes specified by the Content-Length HTTP header."}
	}
	if strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") || strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		body, trailers, err := DecodeChunked(raw)
		if err != nil {
			return nil, &Error{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: "The aws-chunked body is malformed: " + err.Error()}
		}
		if dl := r.Header.Get("X-Amz-Decoded-Content-Length"); dl != "" && dl != strconv.Itoa(len(body)) {
			return nil, &Error{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: "x-amz-decoded-content-length does not match the body"}
		}
		for k, v := range trailers {
			if strings.HasPrefix(k, "X-Amz-Checksum-") {
				r.Header.Set(k, v) // a trailing checksum is checked like a header one
			}
		}
		raw = body
	}
	if int64(len(raw)) > max {
		return nil, errEntityTooLarge(max)
	}
	return raw, nil
}

// DecodeChunked decodes an aws-chunked body into its payload and trailing
// headers.
func DecodeChunked(b []byte) (payload []byte, trailers map[string]string, err error) {
	var out bytes.Buffer
	for {
		line, rest, ok := bytes.Cut(b, []byte("\r\n"))
		if !ok {
			return nil, nil, errors.New("a chunk header has no CRLF")
		}
		sizeHex, _, _ := bytes.Cut(line, []byte(";"))
		n, perr := strconv.ParseUint(string(sizeHex), 16, 31)
		if perr != nil {
			return nil, nil, fmt.Errorf("chunk size %q", clip(sizeHex))
		}
		if n == 0 {
			b = rest
			break
		}
		if uint64(len(rest)) < n+2 || !bytes.Equal(rest[n:n+2], []byte("\r\n")) {
			return nil, nil, errors.New("a chunk is shorter than its size")
		}
		out.Write(rest[:n])
		b = rest[n+2:]
	}
	trailers = map[string]string{}
	for len(b) > 0 {
		line, rest, ok := bytes.Cut(b, []byte("\r\n"))
		if !ok {
			line, rest = b, nil
		}
		b = rest
		if len(line) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, nil, fmt.Errorf("trailer %q has no colon", clip(line))
		}
		trailers[http.CanonicalHeaderKey(strings.TrimSpace(string(k)))] = strings.TrimSpace(string(v))
	}
	return out.Bytes(), trailers, nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// checkDigests verifies the integrity checks a PutObject may carry
// (Content-MD5, x-amz-checksum-crc32); a mismatch is S3's BadDigest.
func checkDigests(h http.Header, body []byte) *Error {
	bad := &Error{Status: http.StatusBadRequest, Code: "BadDigest", Message: "The Content-MD5 or checksum value that you specified did not match what the server received."}
	if v := h.Get("Content-Md5"); v != "" {
		sum := md5.Sum(body)
		if v != base64.StdEncoding.EncodeToString(sum[:]) {
			return bad
		}
	}
	if v := h.Get("X-Amz-Checksum-Crc32"); v != "" {
		var b [4]byte
		c := crc32.ChecksumIEEE(body)
		b[0], b[1], b[2], b[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
		if v != base64.StdEncoding.EncodeToString(b[:]) {
			return bad
		}
	}
	return nil
}
