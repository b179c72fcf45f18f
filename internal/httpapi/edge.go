package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/concordmp/concord/internal/marketplace"
)

// v1Headers marks every /v1 answer, errors included, as neither cacheable
// (answers carry API data, one of them a new webhook signing secret) nor
// open to content sniffing by a browser.
func v1Headers(ctx huma.Context, next func(huma.Context)) {
	if strings.HasPrefix(ctx.Operation().Path, "/v1/") {
		ctx.SetHeader("X-Content-Type-Options", "nosniff")
		ctx.SetHeader("Cache-Control", "no-store")
	}
	next(ctx)
}

// checkBody reads a /v1 request body before the operation sees it, so that a
// JSON operation's body sent as another media type gets 415, and one
// the client failed to send whole (a malformed chunk, a connection cut short)
// gets 400 rather than the 500 the framework would answer. The operation then
// reads the buffered bytes under its own size limit.
func (s *Server) checkBody(api huma.API) func(ctx huma.Context, next func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		op := ctx.Operation()
		r, _ := humago.Unwrap(ctx)
		if !strings.HasPrefix(op.Path, "/v1/") || op.RequestBody == nil || len(op.RequestBody.Content) == 0 ||
			(r.ContentLength == 0 && len(r.TransferEncoding) == 0) {
			next(ctx)
			return
		}
		if ct := ctx.Header("Content-Type"); ct != "" && op.RequestBody.Content["application/json"] != nil {
			// An operation that takes JSON takes it only as JSON (the document
			// upload reads several media types itself).
			mt, params, err := mime.ParseMediaType(ct)
			if err != nil || mt != "application/json" {
				huma.WriteErr(api, ctx, http.StatusUnsupportedMediaType, "this operation takes Content-Type: application/json, not "+ct)
				return
			}
			// Media types are case-insensitive; the framework matches them exactly.
			r.Header.Set("Content-Type", mime.FormatMediaType(mt, params))
		}
		if op.OperationID == usageOperation && s.usageBytes != nil {
			// Usage batches are large: only so many are read and held at
			// once; the others wait here, their bodies unread.
			n := r.ContentLength
			if n < 0 {
				n = op.MaxBodyBytes // chunked: its size is known once read
			}
			wait, cancel := context.WithTimeout(r.Context(), cmp.Or(s.UsageBodyWait, DefaultUsageBodyWait))
			n, ok := s.usageBytes.acquire(wait, n)
			cancel()
			if !ok {
				ctx.SetHeader("Retry-After", "1")
				huma.WriteErr(api, ctx, http.StatusServiceUnavailable, "too many usage batches are being ingested at once: nothing of this batch was stored; send it again in a second")
				return
			}
			defer s.usageBytes.release(n)
		}
		if op.BodyReadTimeout > 0 {
			ctx.SetReadDeadline(time.Now().Add(op.BodyReadTimeout))
		}
		var body io.Reader = r.Body
		if op.MaxBodyBytes > 0 {
			// One byte past the limit is enough for the operation to answer 413.
			body = io.LimitReader(body, op.MaxBodyBytes)
		}
		buf, err := io.ReadAll(body)
		if err != nil {
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() {
				huma.WriteErr(api, ctx, http.StatusRequestTimeout, "the request body did not arrive in time")
				return
			}
			huma.WriteErr(api, ctx, http.StatusBadRequest, "the request body could not be read: "+err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(buf))
		next(ctx)
	}
}

// cursorPrefix marks a cursor as one this API handed out, so that a mistyped
// or foreign cursor is refused instead of silently starting another page.
const cursorPrefix = "concord:"

// encodeCursor turns the last key of a page into the opaque nextCursor.
func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + key))
}

// Resolve decodes the cursor in place; one this API did not hand out is a 400.
func (p *PageParams) Resolve(huma.Context) []error {
	if p.Cursor == "" {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	key, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if err != nil || !ok || key == "" || !marketplace.Storable(key) {
		return []error{huma.Error400BadRequest("cursor: not a nextCursor this API returned; start without a cursor")}
	}
	p.Cursor = key
	return nil
}
