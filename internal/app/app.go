// Package app wires Concord together: it opens the store, builds the ledger, job
// runner, event doors, HTTP API and (in sandbox mode) the built-in marketplace
// emulator, runs them, and shuts them down gracefully. Tests start it on port 0
// with a temporary database, exactly as `concord serve` does.
package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/concordmp/concord/internal/agreement"
	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/background"
	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/entitlement"
	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/orders"
	"github.com/concordmp/concord/internal/registration"
	"github.com/concordmp/concord/internal/snsverify"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/webhook"
)

// Version is set at build time with -ldflags "-X .../internal/app.Version=...".
var Version = "dev"

// DefaultMemoryLimit is the Go runtime's soft memory limit `concord serve`
// sets when the environment sets no GOMEMLIMIT (issue 19: a server with
// 100,000 licenses and 1,000,000 usage rows stays under 200 MB resident
// while flooded with 10,000-record usage batches). The garbage collector runs
// more often as the heap nears it, instead of letting garbage double the
// heap; it does not cover SQLite's page caches or the binary's own pages,
// which is why it sits below the 200 MB. A server that needs more heap
// (a very large working set) only spends more CPU on collection; set
// GOMEMLIMIT (e.g. GOMEMLIMIT=512MiB, or off) to change it.
const DefaultMemoryLimit = 150 << 20

// SetDefaultMemoryLimit applies DefaultMemoryLimit unless the environment
// chose a limit (GOMEMLIMIT); it returns the limit in force.
func SetDefaultMemoryLimit() int64 {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
	return debug.SetMemoryLimit(-1)
}

// Marketplace modes.
const (
	MarketplaceEmulator = "emulator"
	MarketplaceAWS      = "aws"
)

// Config is everything `concord serve` can be told.
type Config struct {
	// Command is how a person runs this Concord's CLI again, e.g. "concord",
	// "./bin/concord" or "go run ./cmd/concord" (with --data-dir when not the
	// default): the first-admin hint prints it. Empty is "concord".
	Command     string
	Addr        string
	DataDir     string
	Database    string
	Marketplace string // emulator (default) or aws
	AWSEndpoint string // overrides every AWS client's endpoint
	AWSRegion   string
	// AWSAnonymous sends unsigned requests (for a standalone emulator at AWSEndpoint).
	AWSAnonymous      bool
	EventBridgeSecret string
	EventBridgeHeader string
	SQSQueueURL       string
	SNSTopics         []string // allowed topic ARNs; empty allows the marketplace topics
	Workers           int
	// PublicURL is where buyers reach this Concord (https://…, no trailing
	// slash): tracked purchase-instruction links are served under it.
	// Empty: the listener's own URL.
	PublicURL string
	// DocumentsBucket is the S3 bucket custom EULAs and reseller agreements
	// are uploaded to (AWS Marketplace reads them there). Sandbox mode
	// defaults to the emulator's own bucket; elsewhere, empty refuses
	// custom documents at submit.
	DocumentsBucket string
	// RegistrationPath is the fulfillment URL path (default /marketplace/register).
	RegistrationPath string
	// SecureCookies marks the registration and console cookies Secure (behind HTTPS).
	SecureCookies bool
	// EntitlementCacheTTL, EntitlementMaxAge and EntitlementRefreshEvery tune
	// entitlement checks (zero: the entitlement package's defaults).
	EntitlementCacheTTL     time.Duration
	EntitlementMaxAge       time.Duration
	EntitlementRefreshEvery time.Duration
	// MeteringGrace, MeteringWindow, MeteringRPS and MeteringInFlight tune
	// usage metering (zero: the metering package's defaults).
	MeteringGrace    time.Duration
	MeteringWindow   time.Duration
	MeteringRPS      float64
	MeteringInFlight int
	// MetricsAddr, when set, serves /metrics on a listener of its own
	// (HOST:PORT) instead of the main one.
	MetricsAddr string
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// NoMetering leaves the metering submitter off (usage is still taken in).
	NoMetering bool
	// Lease, when set, is how long work a process claimed (a job, a metering
	// record, an SQS message) stays claimed before a replica, or the process
	// restarted after a crash, may take it over (zero: each one's default,
	// jobs 5 min, metering 2 min, SQS 1 min). Crash tests shorten it.
	Lease time.Duration
	// Now is the clock; nil is time.Now. Tests pass a fake.
	Now func() time.Time
	// AutoMigrate applies migrations on start (default for SQLite).
	AutoMigrate bool
	// SMTP sends notification emails; with no Addr they are stored as skipped.
	SMTP notify.SMTPMailer
	// AllowPrivateTargets lets webhook endpoints and Slack routes point at
	// loopback, private, link-local and CGNAT addresses (on-premises receivers).
	AllowPrivateTargets bool
}

// App is a running Concord.
type App struct {
	Config   Config
	Logger   *slog.Logger
	DB       *store.DB
	Ledger   *inbox.Ledger
	Runner   *job.Runner
	Registry *prometheus.Registry
	// Registration, Entitlements and Webhooks are the buyer-facing services.
	Registration *registration.Service
	Entitlements *entitlement.Service
	Webhooks     *webhook.Service
	Metering     *metering.Service
	Offers       *offer.Service
	Notify       *notify.Service
	Orders       *orders.Desk
	Agreements   *agreement.Service
	// Console is the seller console under /console.
	Console *console.Service
	// Emulator is the in-process marketplace, in sandbox mode.
	Emulator *emulator.Emulator

	listener net.Listener
	metrics  *http.Server // on its own listener (MetricsAddr), or nil
	metricsL net.Listener
	lock     *os.File // the data directory's lock (SQLite or sandbox)
	server   *http.Server
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the HTTP server
	bg       sync.WaitGroup // background work stopped before the server
}

// Sandbox reports whether the built-in emulator stands in for AWS.
func (a *App) Sandbox() bool { return a.Config.Marketplace == MarketplaceEmulator }

// MetricsURL is where /metrics is served: the metrics listener's, or the main one.
func (a *App) MetricsURL() string {
	if a.metricsL != nil {
		return "http://" + a.metricsL.Addr().String() + "/metrics"
	}
	return a.URL() + "/metrics"
}

// URL is the base URL the app listens on.
func (a *App) URL() string { return "http://" + a.listener.Addr().String() }

// PublicURL is where buyers and AWS reach this Concord: Config.PublicURL, or
// the listener's URL.
func (a *App) PublicURL() string {
	if a.Config.PublicURL != "" {
		return strings.TrimRight(a.Config.PublicURL, "/")
	}
	return a.URL()
}

// Start opens everything and starts serving. It returns once the listener is
// bound; call Close to stop.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (*App, error) {
	clockGiven := cfg.Now != nil
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Marketplace == "" {
		cfg.Marketplace = MarketplaceEmulator
	}
	if cfg.Marketplace != MarketplaceEmulator && cfg.Marketplace != MarketplaceAWS {
		return nil, fmt.Errorf("--marketplace must be %q or %q, not %q", MarketplaceEmulator, MarketplaceAWS, cfg.Marketplace)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.RegistrationPath == "" {
		cfg.RegistrationPath = "/marketplace/register"
	}
	if p := cfg.RegistrationPath; !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " {}?#") || p == "/" ||
		strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/events/") || strings.HasPrefix(p, "/emulator") {
		return nil, fmt.Errorf("--registration-path %q must be a path of its own such as /marketplace/register", p)
	}
	a := &App{Config: cfg, Logger: logger, Registry: prometheus.NewRegistry()}
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ok := false
	defer func() {
		if !ok {
			a.Close(context.Background())
		}
	}()
	if cfg.Database == "" || a.Sandbox() { // SQLite lives in the data directory
		// Before the database opens: a second serve must not migrate or read it.
		lock, err := lockDataDir(cmp.Or(cfg.DataDir, "."))
		if err != nil {
			return nil, err
		}
		a.lock = lock
	}
	db, err := store.Open(ctx, store.Config{URL: cfg.Database, DataDir: cfg.DataDir})
	if err != nil {
		return nil, err
	}
	a.DB = db
	if db.Dialect() == store.SQLite || cfg.AutoMigrate {
		if err := db.Migrate(ctx); err != nil {
			return nil, err
		}
	} else if n, err := db.Pending(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, fmt.Errorf("the PostgreSQL schema is %d migration(s) behind: run `concord migrate --database ...` first (replicas never migrate on their own, so they cannot race)", n)
	}
	a.listener, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	metrics := inbox.NewMetrics(a.Registry)

	// AWS clients: the in-process emulator in sandbox mode, AWS otherwise.
	awsCfg := awsmp.Config{Region: cfg.AWSRegion, Endpoint: cfg.AWSEndpoint, Anonymous: cfg.AWSAnonymous}
	var emuHandler http.Handler
	if a.Sandbox() {
		// The control API rewrites the sandbox world: only holders of the token
		// kept in the data directory (the CLI reads it there) may call it.
		token, err := dataDirSecret(cfg.DataDir, SandboxTokenFile)
		if err != nil {
			return nil, err
		}
		a.Emulator = emulator.New(emulator.Options{Logger: logger, BaseURL: func() string { return a.URL() + "/emulator" },
			FulfillmentURL: func() string { return a.URL() + a.Registration.Path }, ControlToken: token,
			StateFile: SandboxStateFile(cfg.DataDir)})
		// The sandbox is the same world after a restart as the ledger is.
		if loaded, err := a.Emulator.LoadState(); err != nil {
			return nil, fmt.Errorf("%w (move the file away to start the sandbox afresh)", err)
		} else if loaded {
			logger.Info("sandbox: emulator state restored", "file", SandboxStateFile(cfg.DataDir), "clock", a.Emulator.World.Now())
		}
		if !clockGiven {
			// Concord lives on the emulator's clock, so advancing it moves both
			// (a future-dated license turns active when the emulator says so).
			cfg.Now = a.Emulator.World.Now
		}
		// Every SDK client posts to the bare endpoint (JSON protocols) or below it.
		emuHandler = http.StripPrefix("/emulator", a.Emulator)
		awsCfg.Anonymous = true
		if awsCfg.Endpoint == "" {
			awsCfg.Endpoint = a.URL() + "/emulator"
		}
		if cfg.DocumentsBucket == "" {
			cfg.DocumentsBucket = emulator.SandboxBucket
		}
		if cfg.SQSQueueURL == "" {
			t, err := a.Emulator.AddTarget(emulator.Target{Type: "sqs", Queue: "concord-events"})
			if err != nil {
				return nil, err
			}
			cfg.SQSQueueURL = a.Emulator.QueueURL(t.Queue)
		}
		if cfg.EventBridgeSecret == "" {
			if cfg.EventBridgeSecret, err = dataDirSecret(cfg.DataDir, "eventbridge.secret"); err != nil {
				return nil, err
			}
		}
		logger.Warn("SANDBOX MODE: Concord is talking to its built-in AWS Marketplace emulator, not to AWS", "emulator", a.URL()+"/emulator")
	}
	a.Config = cfg
	a.Runner = job.NewRunner(db, job.RunnerOptions{Logger: logger, Now: cfg.Now, Workers: cfg.Workers, Lease: cfg.Lease})
	awsConf, err := awsmp.Load(ctx, awsCfg)
	if err != nil {
		return nil, err
	}
	svc := NewServices(db, cfg.Now, logger)
	a.Ledger, a.Registration, a.Entitlements, a.Webhooks, a.Metering, a.Offers = svc.Ledger, svc.Registration, svc.Entitlements, svc.Webhooks, svc.Metering, svc.Offers
	a.Webhooks.AllowPrivateTargets, svc.Notify.AllowPrivateTargets = cfg.AllowPrivateTargets, cfg.AllowPrivateTargets
	a.Registration.Resolver = awsmp.NewMetering(awsConf)
	a.Registration.Path, a.Registration.SecureCookies = cfg.RegistrationPath, cfg.SecureCookies
	a.Entitlements.API = awsmp.NewEntitlements(awsConf)
	a.Entitlements.CacheTTL, a.Entitlements.MaxAge, a.Entitlements.RefreshEvery = cfg.EntitlementCacheTTL, cfg.EntitlementMaxAge, cfg.EntitlementRefreshEvery
	a.Metering.API = awsmp.NewMeter(awsConf)
	a.Metering.Grace, a.Metering.Window, a.Metering.RPS, a.Metering.InFlight = cfg.MeteringGrace, cfg.MeteringWindow, cfg.MeteringRPS, cfg.MeteringInFlight
	a.Metering.Lease = cfg.Lease
	a.Metering.Metrics = metering.NewMetrics(a.Registry)
	if err := a.Metering.Check(); err != nil {
		return nil, err
	}
	catalog := awsmp.NewCatalog(awsConf)
	a.Offers.Catalog = catalog
	// Products come from the Catalog API: when Concord first meets one (an
	// event, an offer form) and on demand.
	a.Ledger.ProductHandlers(a.Runner, catalog)
	a.Offers.SyncProduct = func(ctx context.Context, productID string) error {
		_, err := a.Ledger.SyncProduct(ctx, catalog, productID)
		return err
	}
	a.Offers.PublicURL = a.PublicURL
	if cfg.DocumentsBucket != "" {
		a.Offers.DocumentStore = awsmp.NewDocuments(awsConf, cfg.DocumentsBucket)
	}
	a.Offers.Handlers(a.Runner)
	// Notifications: email when an SMTP server is configured, Slack, signed
	// webhooks, and the sweep for expiring offers, ending agreements and late
	// registrations.
	a.Notify = svc.Notify
	a.Notify.PublicURL = a.PublicURL
	if cfg.SMTP.Addr != "" {
		if err := cfg.SMTP.Check(); err != nil {
			return nil, err
		}
		mailer := cfg.SMTP
		a.Notify.Mailer = &mailer
	} else {
		logger.Info("no SMTP server configured (--smtp-addr): notification emails are recorded as skipped, readable at /v1/notifications")
	}
	a.Notify.Handlers(a.Runner)
	a.Orders = svc.Orders
	a.Orders.Catalog = a.Offers.Catalog
	a.Orders.Handlers(a.Runner)
	if err := a.Notify.Start(ctx); err != nil {
		logger.Warn("notifications: could not schedule the sweep", "err", err)
	}
	agreementAPI := awsmp.NewAgreements(awsConf)
	a.Ledger.Handlers(a.Runner, agreementAPI)
	a.Agreements = svc.Agreements
	a.Agreements.API = agreementAPI
	a.Agreements.Handlers(a.Runner)
	a.Webhooks.Handlers(a.Runner)
	a.Entitlements.Handlers(a.Runner)
	a.Registration.Handlers(a.Runner)

	a.Console = &console.Service{DB: db, Now: cfg.Now, Logger: logger, Offers: a.Offers, Registration: a.Registration, Notify: a.Notify,
		Ledger: a.Ledger, Metering: a.Metering, Webhooks: a.Webhooks, Emulator: a.Emulator, Products: catalog, Agreements: a.Agreements,
		FulfillmentURL: func() string { return a.PublicURL() + a.Registration.Path },
		SecureCookies:  cfg.SecureCookies, Sandbox: a.Sandbox()}

	// The doors answer once an event is stored and queued; the folder (run
	// below) folds it into the ledger moments later (inbox/fold.go).
	a.Ledger.FoldLater = true
	a.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "concord_inbox_fold_queue",
		Help: "Events the doors accepted that the folder has not folded into the ledger yet (-1: the database did not answer).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := a.Ledger.FoldQueue(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	var ebHandler, snsHandler http.Handler
	ebHandler = &inbox.EventBridgeReceiver{Ledger: a.Ledger, Header: cfg.EventBridgeHeader, Secret: cfg.EventBridgeSecret, Logger: logger, Metrics: metrics}
	verify := snsverify.Options{Now: cfg.Now, TopicAllowed: topicAllowed(cfg.SNSTopics)}
	sns := &inbox.SNSReceiver{Ledger: a.Ledger, Logger: logger, Metrics: metrics}
	if a.Sandbox() {
		// The emulator signs SNS messages with its own certificate, served over
		// plain HTTP from this address: trust that host, and nothing else new.
		self := a.listener.Addr().String()
		allowed := func(host string) bool { return host == self || snsverify.IsAWSSNSHost(host) }
		verify.AllowedHosts, verify.AllowHTTP, sns.HostAllowed = allowed, true, allowed
	}
	sns.Verifier = snsverify.New(verify)
	snsHandler = sns

	srv := &httpapi.Server{DB: db, Ledger: a.Ledger, Logger: logger, Now: cfg.Now, Version: Version, Registry: a.Registry,
		MetricsToken: cfg.MetricsToken, MetricsElsewhere: cfg.MetricsAddr != "",
		Sandbox: a.Sandbox(), EventBridge: ebHandler, SNS: snsHandler,
		Webhooks: a.Webhooks, Entitlements: a.Entitlements, Registration: a.Registration, Metering: a.Metering, Offers: a.Offers, Notify: a.Notify,
		Products: catalog, Agreements: a.Agreements,
		Extra: func(m *http.ServeMux, api huma.API) {
			a.Registration.Mount(m)
			a.Offers.Mount(m)
			a.Console.Mount(m)
			if emuHandler != nil {
				m.Handle("/emulator", emuHandler)
				m.Handle("/emulator/", emuHandler)
			}
		}}
	a.server = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	if cfg.MetricsAddr != "" {
		if a.metricsL, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return nil, fmt.Errorf("listen on --metrics-addr %s: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		a.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
		a.wg.Go(func() {
			if err := a.metrics.Serve(a.metricsL); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("metrics server", "err", err)
			}
		})
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	a.wg.Go(func() {
		if err := a.server.Serve(a.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server", "err", err)
		}
	})
	// Each background loop guards its own steps (internal/background): a
	// panic in one step is logged and the loop goes on.
	a.bg.Go(func() { a.Runner.Run(runCtx) })
	a.bg.Go(func() { a.Ledger.RunFolder(runCtx) })
	if err := a.Entitlements.Start(runCtx); err != nil {
		logger.Warn("entitlements: could not schedule the refresh sweep", "err", err)
	}
	if !cfg.NoMetering {
		a.bg.Go(func() {
			if err := a.Metering.Run(runCtx); err != nil {
				logger.Error("metering submitter stopped", "err", err)
			}
		})
	}
	if a.Emulator != nil {
		a.Emulator.Start(runCtx)
		// Legacy products' SNS notifications go to our own SNS endpoint; the
		// subscription is confirmed by Concord as it would be with AWS.
		a.bg.Go(func() {
			err := background.Guard(logger, "sandbox SNS subscription", func() error {
				_, err := a.Emulator.AddTarget(emulator.Target{Type: "sns", URL: a.URL() + "/events/sns"})
				return err
			})
			if err != nil {
				logger.Warn("sandbox: SNS target", "err", err)
			}
		})
	}
	if cfg.SQSQueueURL != "" {
		q := awsmp.NewQueue(awsConf, cfg.SQSQueueURL)
		poller := &inbox.Poller{Ledger: a.Ledger, Queue: q, SNS: sns, Logger: logger, Metrics: metrics, Visibility: cfg.Lease}
		if a.Sandbox() {
			poller.Wait = 2 * time.Second
		}
		a.bg.Go(func() { poller.Run(runCtx) })
		logger.Info("polling SQS for marketplace events", "queue", cfg.SQSQueueURL)
	}
	if !a.Sandbox() && cfg.EventBridgeSecret == "" && cfg.SQSQueueURL == "" {
		logger.Warn("no event door is configured: set --sqs-queue-url (EventBridge rule to SQS) or --eventbridge-secret (API destination); only SNS at /events/sns can deliver events")
	}
	logger.Info("concord listening", "url", a.URL(), "database", db.Dialect(), "marketplace", cfg.Marketplace, "version", Version)
	if users, err := a.Console.ListUsers(ctx); err == nil && len(users) == 0 {
		logger.Info("the seller console has no user yet: create the first admin with `"+cmp.Or(cfg.Command, "concord")+" user create --email you@example.com --role admin`", "console", a.URL()+console.Prefix+"/")
	} else {
		logger.Info("seller console", "url", a.URL()+console.Prefix+"/")
	}
	ok = true
	return a, nil
}

// Close stops accepting requests, lets in-flight requests and jobs finish (until
// ctx ends), and closes the database.
func (a *App) Close(ctx context.Context) error {
	var errs []error
	// Background work first (poller, job runner, emulator clock), while the
	// listener still serves the in-process emulator their calls may need; then
	// in-flight requests; then the emulator and the database.
	if a.cancel != nil {
		a.cancel()
	}
	a.bg.Wait()
	if a.server != nil {
		if err := a.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	} else if a.listener != nil {
		a.listener.Close()
	}
	if a.metrics != nil {
		if err := a.metrics.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("metrics shutdown: %w", err))
		}
	} else if a.metricsL != nil {
		a.metricsL.Close()
	}
	if a.Emulator != nil {
		a.Emulator.Close()
	}
	a.wg.Wait()
	if a.DB != nil {
		errs = append(errs, a.DB.Close())
	}
	if a.lock != nil {
		a.lock.Close() // releases the lock
	}
	return errors.Join(errs...)
}

// Services are the ledger and the services its license hooks belong to. Every
// command that writes the ledger (serve, events replay, backfill) builds them
// here, so each fold runs the same hooks: tenant links, webhooks and
// entitlement refreshes are queued whichever process folded the license, and
// serve's job runner carries them out.
type Services struct {
	Ledger       *inbox.Ledger
	Registration *registration.Service
	Entitlements *entitlement.Service
	Webhooks     *webhook.Service
	Metering     *metering.Service
	Offers       *offer.Service
	// Notify records notifications in the caller's transaction (Emit); the
	// triggers in the ledger's hooks, offers, metering and registration call it.
	Notify *notify.Service
	// Orders turns agreement events into bookable artifacts and order
	// notifications, and offer, registration and metering events into theirs.
	Orders *orders.Desk
	// Agreements acts on agreements (cancellation, refunds, payment
	// requests) and announces their lifecycle from the ledger's hooks.
	Agreements *agreement.Service
}

// NewServices wires the ledger to its hooks. AWS clients are left nil: the
// hooks only write to the database; serve adds the clients its jobs need.
func NewServices(db *store.DB, now func() time.Time, logger *slog.Logger) Services {
	s := Services{
		Ledger:       &inbox.Ledger{DB: db, Now: now, Logger: logger},
		Registration: &registration.Service{DB: db, Now: now, Logger: logger},
		Entitlements: &entitlement.Service{DB: db, Now: now, Logger: logger},
		Webhooks:     &webhook.Service{DB: db, Now: now, Logger: logger},
		Metering:     &metering.Service{DB: db, Now: now, Logger: logger, BillingLicense: registration.BillingLicense},
		Offers:       &offer.Service{DB: db, Now: now, Logger: logger},
		Notify:       &notify.Service{DB: db, Now: now, Logger: logger},
	}
	s.Orders = &orders.Desk{DB: db, Notify: s.Notify, Now: now, Logger: logger}
	if db.Dialect() == store.Postgres {
		// Events that arrive together share a transaction (issue 19): each
		// agreement is folded once for all its events, and one commit
		// answers them all. SQLite's writer groups commits in the store.
		s.Ledger.Batch, s.Ledger.Batchers = inbox.DefaultBatch, inbox.DefaultBatchers
	}
	s.Agreements = &agreement.Service{DB: db, Ledger: s.Ledger, Notify: s.Notify, Now: now, Logger: logger}
	s.Offers.OnEvent = s.Orders.OfferEvent
	s.Offers.OnInstructions = s.Orders.Instructions
	s.Registration.OnTenantCreated = s.Orders.TenantCreated
	s.Metering.OnAlert = s.Orders.MeteringAlert
	// A Concord offer's registration details are the buyer's, once AWS gave
	// the offer its id: the buyer who accepts it is registered with them.
	s.Offers.OfferRegistration = func(ctx context.Context, tx *store.Tx, o offer.Offer, now time.Time) error {
		if o.Registration[marketplace.FieldContactName] == "" && o.Registration[marketplace.FieldEmail] == "" {
			// Only the buyer's company is known: the buyer registers, so the
			// vendor gets a contact. Auto-registration is for offers that
			// collected the buyer's details.
			return nil
		}
		d := registration.OfferDetails{OfferID: o.OfferID, Company: o.BuyerCompany, Fields: map[string]string{}}
		for k, v := range o.Registration {
			switch k {
			case marketplace.FieldCompany:
				d.Company = v
			case marketplace.FieldContactName:
				d.ContactName = v
			case marketplace.FieldEmail:
				d.Email = v
			default:
				d.Fields[k] = v
			}
		}
		_, err := s.Registration.PutOfferDetailsTx(ctx, tx, d, now)
		if marketplace.ErrorCode(err) == marketplace.EInvalid {
			// The buyer registers by hand instead; the offer goes on.
			logger.Warn("offer registration details not usable for auto-registration", "offer", o.ID, "err", marketplace.ErrorMessage(err))
			return nil
		}
		return err
	}
	s.Entitlements.OnChange = s.Registration.OnEntitlementsChanged
	s.Registration.OnTenantChange = s.Entitlements.InvalidateTenants
	// Registration first: a renewal joins its tenant before its entitlements are fetched.
	// Metering flushes a license's open usage when its final window opens.
	// Orders last: a license registration attached to a tenant is not pending.
	s.Ledger.LicenseHooks = []inbox.LicenseHook{s.Registration.Hook, s.Entitlements.Hook, s.Metering.Hook, s.Orders.LicenseHook}
	// An agreement made from one of Concord's offers accepts it; every
	// agreement event is recorded for finance and announced.
	s.Ledger.AgreementHooks = []inbox.AgreementHook{s.Offers.AgreementHook, s.Orders.AgreementHook}
	s.Ledger.Lineage = s.Offers.Lineage
	// A partner's offer released from a partner offer extends it; a change
	// set's end is tracked at once.
	s.Ledger.EventHooks = []inbox.EventHook{s.Offers.EventHook, s.Orders.EventHook, s.Agreements.EventHook}
	// Cancellation, refund and payment requests and AWS's lifecycle notices
	// are announced, refunds booked (internal/agreement).
	s.Ledger.LifecycleHooks = []inbox.LifecycleHook{s.Agreements.LifecycleHook}
	return s
}

// topicAllowed accepts the configured topic ARNs, or by default the AWS
// Marketplace subscription and entitlement topics.
func topicAllowed(topics []string) func(string) bool {
	if len(topics) == 0 {
		return func(arn string) bool {
			name := arn[strings.LastIndex(arn, ":")+1:]
			return strings.HasPrefix(name, "aws-mp-subscription-notification-") || strings.HasPrefix(name, "aws-mp-entitlement-notification-")
		}
	}
	set := map[string]bool{}
	for _, t := range topics {
		set[strings.TrimSpace(t)] = true
	}
	return func(arn string) bool { return set[arn] }
}

// SandboxStateFile is where the sandbox emulator keeps its world (products,
// offers, agreements, licenses, metering records, clock offset) between runs.
func SandboxStateFile(dataDir string) string {
	if dataDir == "" {
		dataDir = "."
	}
	return filepath.Join(dataDir, "sandbox-emulator.json")
}

// SandboxClock is the sandbox's clock for commands that run beside `concord
// serve`: the real time moved by the clock offset in the data directory's
// sandbox state, or the real time when there is none (or the marketplace is
// AWS). Offers, artifacts and keys stamped by the CLI then line up with what
// serve stamps on the emulator's clock.
func SandboxClock(dataDir string) func() time.Time {
	f, err := os.Open(SandboxStateFile(dataDir))
	if err != nil {
		return time.Now
	}
	defer f.Close()
	off, err := world.ReadClockOffset(f)
	if err != nil || off == 0 {
		return time.Now
	}
	return func() time.Time { return time.Now().UTC().Add(off) }
}

// SandboxTokenFile is the file in the data directory holding the token the
// sandbox emulator's control API requires; `concord emulator` commands read it.
const SandboxTokenFile = "sandbox.token"

// dataDirSecret returns a random secret kept in the data directory for sandbox
// use (the EventBridge receiver secret, the control API token), creating it on
// first run so it survives restarts.
func dataDirSecret(dir, name string) (string, error) {
	if dir == "" {
		dir = "."
	}
	path := filepath.Join(dir, name)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	var b [16]byte
	rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write sandbox secret %s: %w", path, err)
	}
	return s, nil
}
