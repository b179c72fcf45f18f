// Package httpapi is Concord's HTTP edge: the JSON API under /v1 (described by an
// OpenAPI 3.1 document at /openapi.json, every call authenticated by an API key),
// health and readiness probes, Prometheus metrics, and the doors through which
// marketplace events arrive. Application error codes become HTTP statuses here and
// nowhere else.
package httpapi

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/concordmp/concord/internal/agreement"
	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/entitlement"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/registration"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/webhook"
)

// Server holds what the handlers need. main (internal/app) fills it in.
type Server struct {
	DB       *store.DB
	Ledger   *inbox.Ledger
	Logger   *slog.Logger
	Now      func() time.Time
	Version  string
	Registry *prometheus.Registry
	// MetricsToken, when set, is the bearer token GET /metrics requires (the
	// metrics name products, routes and error rates).
	MetricsToken string
	// MetricsElsewhere leaves /metrics off this handler: the app serves
	// MetricsHandler on a listener of its own (--metrics-addr).
	MetricsElsewhere bool
	// Sandbox is true when the built-in emulator stands in for AWS.
	Sandbox bool
	// EventBridge and SNS are the event doors; nil disables a door.
	EventBridge http.Handler
	SNS         http.Handler
	// Extra lets other features mount routes (emulator, registration pages).
	Extra func(mux *http.ServeMux, api huma.API)
	// Webhooks, Entitlements and Registration serve their /v1 operations; nil
	// leaves them out.
	Webhooks     *webhook.Service
	Entitlements *entitlement.Service
	Registration *registration.Service
	Metering     *metering.Service
	Offers       *offer.Service
	// Notify serves the notification outbox and its routes; nil leaves them out.
	Notify *notify.Service
	// Products reads products from the Catalog API (POST /v1/products/{id}/sync).
	Products inbox.ProductAPI
	// Agreements serves the agreement lifecycle operations; nil leaves them out.
	Agreements *agreement.Service
	// UsageBodyBudget bounds, in bytes of body, the usage batches read and
	// ingested at once (DefaultUsageBodyBudget when zero); a batch that
	// finds no room within UsageBodyWait (DefaultUsageBodyWait when zero)
	// is answered 503 with Retry-After before its body is read.
	UsageBodyBudget int64
	UsageBodyWait   time.Duration

	requests   *prometheus.HistogramVec
	usageBytes *bodyBudget
}

// Handler builds the whole HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	cfg := huma.DefaultConfig("Concord", s.Version)
	cfg.CreateHooks = nil // no $schema links injected into response bodies
	cfg.DocsPath = ""     // the docs renderer loads scripts from a CDN; serve the spec only
	cfg.Info.Description = "Concord: a self-hosted AWS Marketplace seller platform. Every /v1 call needs an API key " +
		"(`Authorization: Bearer ck_…`), created with `concord apikey create`."
	if s.Sandbox {
		cfg.Info.Description += "\n\n**Sandbox:** this instance talks to Concord's built-in AWS Marketplace emulator, not to AWS."
	}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"apiKey": {Type: "http", Scheme: "bearer", Description: "A Concord API key (ck_…)."},
	}
	api := humago.New(mux, cfg)
	s.usageBytes = newBodyBudget(cmp.Or(s.UsageBodyBudget, DefaultUsageBodyBudget))
	api.UseMiddleware(v1Headers, s.authenticate(api), s.checkBody(api))
	s.register(api)
	s.registerProducts(api)
	if s.Webhooks != nil {
		s.registerWebhooks(api)
	}
	if s.Entitlements != nil {
		s.registerEntitlements(api)
	}
	if s.Registration != nil {
		s.registerRegistration(api)
	}
	if s.Metering != nil {
		s.registerMetering(api)
	}
	if s.Offers != nil {
		s.registerOffers(api)
		s.registerOfferDocuments(api, mux)
	}
	s.registerReadiness(api)
	s.registerArtifacts(api)
	s.registerNotifications(api)
	s.registerReports(api)
	s.registerAgreementLifecycle(api)
	s.registerAudit(api)

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": s.Version, "sandbox": s.Sandbox})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.DB.Ping(ctx); err != nil {
			s.Logger.Warn("readyz: database unreachable", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "database": "unreachable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "database": s.DB.Dialect()})
	})
	if s.Registry != nil {
		if !s.MetricsElsewhere {
			mux.Handle("GET /metrics", s.MetricsHandler())
		}
		s.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "concord_http_request_duration_seconds", Help: "HTTP request latency by route and status class.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "code"})
		s.Registry.MustRegister(s.requests)
	}
	if s.EventBridge != nil {
		mux.Handle("POST /events/eventbridge", s.EventBridge)
	}
	if s.SNS != nil {
		mux.Handle("POST /events/sns", s.SNS)
	}
	if s.Extra != nil {
		s.Extra(mux, api)
	}
	return s.observe(mux)
}

// MetricsHandler serves the Prometheus metrics, behind MetricsToken when set.
func (s *Server) MetricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
	if s.MetricsToken == "" {
		return h
	}
	want := sha256.Sum256([]byte(s.MetricsToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")))
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "title": "Unauthorized", "detail": "/metrics needs Authorization: Bearer <the --metrics-token>"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// authenticate guards every /v1 operation with an API key. Verified keys are
// cached for apikey.DefaultCacheTTL (a key revoked on another replica keeps
// working here for up to that long) and their use is recorded at most once a
// minute.
func (s *Server) authenticate(api huma.API) func(ctx huma.Context, next func(huma.Context)) {
	keys := &apikey.Cache{DB: s.DB, Now: s.Now, Logger: s.Logger}
	return func(ctx huma.Context, next func(huma.Context)) {
		if !strings.HasPrefix(ctx.Operation().Path, "/v1/") {
			next(ctx)
			return
		}
		secret := strings.TrimSpace(strings.TrimPrefix(ctx.Header("Authorization"), "Bearer "))
		if secret == "" {
			secret = ctx.Header("X-API-Key")
		}
		if secret == "" {
			huma.WriteErr(api, ctx, http.StatusUnauthorized, "an API key is required: send Authorization: Bearer ck_… (create one with `concord apikey create`)")
			return
		}
		key, err := keys.Verify(ctx.Context(), secret)
		if err != nil {
			if marketplace.ErrorCode(err) == marketplace.EInternal {
				s.Logger.Error("api key check", "err", err)
				huma.WriteErr(api, ctx, http.StatusServiceUnavailable, "could not check the API key; retry")
				return
			}
			huma.WriteErr(api, ctx, http.StatusUnauthorized, marketplace.ErrorMessage(err))
			return
		}
		// Every change made under this call names the key in the audit trail.
		next(huma.WithContext(ctx, audit.WithActor(ctx.Context(), audit.Actor{Kind: audit.KindAPIKey, ID: key.ID, Name: key.Name})))
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe logs each request, records its latency and turns panics into 500s.
func (s *Server) observe(next *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Logger.Error("panic serving request", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeJSON(sw, http.StatusInternalServerError, map[string]any{"status": 500, "title": "Internal Server Error", "detail": "Internal error."})
				}
			}
			_, pattern := next.Handler(r)
			if pattern == "" {
				pattern = "unmatched"
			}
			d := time.Since(start)
			if s.requests != nil {
				s.requests.WithLabelValues(pattern, statusClass(sw.status)).Observe(d.Seconds())
			}
			level := slog.LevelDebug
			if sw.status >= 500 {
				level = slog.LevelWarn
			}
			s.Logger.Log(r.Context(), level, "http", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", d)
		}()
		next.ServeHTTP(sw, r)
	})
}

func statusClass(code int) string {
	switch {
	case code >= 500:
		return "5xx"
	case code >= 400:
		return "4xx"
	case code >= 300:
		return "3xx"
	}
	return "2xx"
}

// apiError maps an application error onto an HTTP problem response.
func (s *Server) apiError(err error) error {
	status := http.StatusInternalServerError
	switch marketplace.ErrorCode(err) {
	case marketplace.EInvalid:
		status = http.StatusBadRequest
	case marketplace.ENotFound:
		status = http.StatusNotFound
	case marketplace.EConflict:
		status = http.StatusConflict
	case marketplace.EUnauthorized:
		status = http.StatusUnauthorized
	case marketplace.ETooLarge:
		status = http.StatusRequestEntityTooLarge
	default:
		if store.IsInvalidText(err) {
			return huma.NewError(http.StatusBadRequest, "a parameter contains a NUL character or invalid UTF-8")
		}
		if errors.Is(err, context.Canceled) {
			status = 499
		}
		s.Logger.Error("api", "err", err)
	}
	return huma.NewError(status, marketplace.ErrorMessage(err))
}
