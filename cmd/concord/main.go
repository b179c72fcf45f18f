// Command concord is the AWS Marketplace seller platform: one binary that serves
// the API, ingests marketplace events, runs background jobs and (by default) the
// built-in marketplace emulator. main only parses flags, handles signals and sets
// the exit code; internal/app does the wiring.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `concord: a self-hosted AWS Marketplace seller platform

Usage: concord <command> [flags]

Commands:
  serve            run Concord (SQLite and the built-in marketplace emulator by default)
  migrate          apply database migrations (required before serve on PostgreSQL)
  apikey create    create an API key for the /v1 API (printed once)
  apikey list      list API keys
  apikey revoke    revoke an API key
  events replay    re-parse the event inbox and rebuild the ledger from it
  backfill entitlements|import-csv
                   map existing customers to LicenseArns: from GetEntitlements (contract
                   products) or from the CSV AWS provides (usage-only products)
  metering report  reconcile usage per license, dimension and hour: ingested, late, submitted, accepted
  metering records list the metering outcome ledger (every record sent to BatchMeterUsage)
  metering retry   send rejected or not_subscribed records again once the cause is fixed
  offer list|show|check|create|edit|clone|submit|cancel|associate|extended|instructions|amend
                   private offers: draft, check, publish through the Catalog API, track
  agreement show|cancel|withdraw|refund|refund-status|pay|payment-cancel
                   act on an accepted agreement through the Agreement API: cancellation
                   requests, refunds against invoices, payment requests (docs/agreements.md)
  offer document add|list|remove
                   the TXT and PDF documents of an offer's custom EULA or reseller agreement
  notifications list|show|resend
                   the notification outbox: what Concord told whom, delivery status, resend
  products sync    read products' title, type and dimensions from the Catalog API (--product ID, or all)
  readiness        Concurrent Agreements opt-in readiness of a product: the $0 test transactions,
                   AWS's requirements checked, the integration checklist, what to send AWS
  artifacts list|show|export|record
                   finance's bookable artifacts: versions per agreement, JSON/CSV/PDF, CSV export of a period
  user create|list seller console users with a role (admin, revops, finance, read-only); the
                   password is read with --password-stdin, or generated and printed once
  bench mixed|memory
                   load a fresh Concord at fixed rates and report latency, or its peak memory
                   under a flood of large usage batches (sizing, see docs/deployment.md)
  emulator         run the AWS Marketplace emulator standalone, or drive one (see "concord emulator help")
  version          print the version

Run "concord <command> -h" for a command's flags. Every flag defaults from a
CONCORD_* environment variable (shown in each command's help).
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, rest := args[0], args[1:]
	if cmd != "serve" && cmd != "emulator" && cmd != "migrate" {
		// A command run on the server acts on the database directly: the
		// audit trail names it (serve names its users and API keys instead).
		name := "concord " + cmd
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			name += " " + rest[0]
		}
		ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.KindSystem, ID: "cli", Name: name})
	}
	if cmd == "offer" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintf(stderr, "concord offer: missing subcommand\n\n%s", usage)
			return 2
		}
		if rest[0] == "document" {
			return finish("offer document", offerDocumentCmd(ctx, rest[1:], stdout, stderr), stderr)
		}
		return finish(cmd+" "+rest[0], offerCmd(ctx, rest[0], rest[1:], stdout, stderr), stderr)
	}
	if cmd == "agreement" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintf(stderr, "concord agreement: missing subcommand\n\n%s", usage)
			return 2
		}
		return finish(cmd+" "+rest[0], agreementCmd(ctx, rest[0], rest[1:], stdout, stderr), stderr)
	}
	if (cmd == "apikey" || cmd == "bench" || cmd == "events" || cmd == "backfill" || cmd == "metering" || cmd == "notifications" || cmd == "user" || cmd == "products") && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		cmd, rest = cmd+" "+rest[0], rest[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, rest, stdout, stderr)
	case "migrate":
		err = migrate(ctx, rest, stdout, stderr)
	case "apikey create":
		err = apikeyCreate(ctx, rest, stdout, stderr)
	case "apikey list":
		err = apikeyList(ctx, rest, stdout, stderr)
	case "apikey revoke":
		err = apikeyRevoke(ctx, rest, stdout, stderr)
	case "events replay":
		err = eventsReplay(ctx, rest, stdout, stderr)
	case "backfill entitlements":
		err = backfillEntitlements(ctx, rest, stdout, stderr)
	case "backfill import-csv":
		err = backfillImportCSV(ctx, rest, stdout, stderr)
	case "metering report":
		err = meteringReport(ctx, rest, stdout, stderr)
	case "metering records":
		err = meteringRecords(ctx, rest, stdout, stderr)
	case "metering retry":
		err = meteringRetry(ctx, rest, stdout, stderr)
	case "notifications list":
		err = notificationsList(ctx, rest, stdout, stderr)
	case "notifications show":
		err = notificationsShow(ctx, rest, stdout, stderr)
	case "notifications resend":
		err = notificationsResend(ctx, rest, stdout, stderr)
	case "user create":
		err = userCreate(ctx, rest, stdout, stderr)
	case "user list":
		err = userList(ctx, rest, stdout, stderr)
	case "products sync":
		err = productsSync(ctx, rest, stdout, stderr)
	case "readiness":
		err = readinessCmd(ctx, rest, stdout, stderr)
	case "artifacts":
		err = artifactsCmd(ctx, rest, stdout, stderr)
	case "emulator":
		err = emulatorCmd(ctx, rest, stdout, stderr)
	case "bench mixed":
		err = benchMixed(ctx, rest, stdout, stderr)
	case "bench memory":
		err = benchMemory(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "concord", app.Version)
		return 0
	case "apikey", "bench", "events", "backfill", "metering", "notifications", "user", "products":
		fmt.Fprintf(stderr, "concord %s: missing subcommand\n\n%s", cmd, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "concord: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	return finish(cmd, err, stderr)
}

// finish turns a command's error into its exit code: 0, 2 for a usage error, 1 otherwise.
func finish(cmd string, err error, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "concord %s: %v\n", cmd, err)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "concord %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

type usageError struct{ error }

// env returns the CONCORD_* variable or a default.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// envErrs collects CONCORD_* values that do not parse, reported before running.
var envErrs []error

func envInt(name string, def int) int {
	if v, ok := os.LookupEnv(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("%s=%q is not a whole number", name, v))
			return def
		}
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("%s=%q is not a duration like 20s", name, v))
			return def
		}
		return d
	}
	return def
}

func envBool(name string, def bool) bool {
	if v, ok := os.LookupEnv(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("%s=%q is not true or false", name, v))
			return def
		}
		return b
	}
	return def
}

func envFloat(name string, def float64) float64 {
	if v, ok := os.LookupEnv(name); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("%s=%q is not a number", name, v))
			return def
		}
		return f
	}
	return def
}

// common holds the flags every database command shares.
type common struct {
	dataDir   string
	database  string
	logFormat string
	logLevel  string
}

func newFlags(name, summary string, stderr io.Writer) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet("concord "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &common{}
	fs.StringVar(&c.dataDir, "data-dir", env("CONCORD_DATA_DIR", "data"), "data directory; the SQLite database lives here (CONCORD_DATA_DIR)")
	fs.StringVar(&c.database, "database", env("CONCORD_DATABASE", ""), "PostgreSQL URL (postgres://...); empty means SQLite in the data directory (CONCORD_DATABASE)")
	fs.StringVar(&c.logFormat, "log-format", env("CONCORD_LOG_FORMAT", "text"), "log format: text or json (CONCORD_LOG_FORMAT)")
	fs.StringVar(&c.logLevel, "log-level", env("CONCORD_LOG_LEVEL", "info"), "log level: debug, info, warn or error (CONCORD_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: concord %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs, c
}

func parse(fs *flag.FlagSet, args []string) error {
	if len(envErrs) > 0 {
		return usageError{errors.Join(envErrs...)}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	return nil
}

func (c *common) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format must be text or json")}
}

// now is the clock commands stamp their changes with: serve's clock, which in
// sandbox mode is the emulator's (its offset is read from the data directory).
func (c *common) now() func() time.Time {
	if env("CONCORD_MARKETPLACE", app.MarketplaceEmulator) != app.MarketplaceEmulator {
		return time.Now
	}
	return app.SandboxClock(c.dataDir)
}

func (c *common) open(ctx context.Context) (*store.DB, error) {
	return store.Open(ctx, store.Config{URL: c.database, DataDir: c.dataDir})
}

// openMigrated opens the database for a one-off command: on SQLite it migrates
// (the file may be new); on PostgreSQL it requires `concord migrate` first.
func (c *common) openMigrated(ctx context.Context) (*store.DB, error) {
	db, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	if db.Dialect() == store.SQLite {
		err = db.Migrate(ctx)
	} else if n, perr := db.Pending(ctx); perr != nil {
		err = perr
	} else if n > 0 {
		err = fmt.Errorf("the PostgreSQL schema is %d migration(s) behind: run `concord migrate` first", n)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// withDB runs fn on the migrated database and closes it.
func (c *common) withDB(ctx context.Context, fn func(db *store.DB) error) error {
	db, err := c.openMigrated(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("serve", "Run Concord: the API, the event doors, background jobs and, by default, the built-in\nAWS Marketplace emulator (sandbox mode). Stops gracefully on SIGINT/SIGTERM.", stderr)
	var cfg app.Config
	fs.StringVar(&cfg.Addr, "addr", env("CONCORD_ADDR", "127.0.0.1:8080"), "listen address HOST:PORT (CONCORD_ADDR)")
	fs.StringVar(&cfg.Marketplace, "marketplace", env("CONCORD_MARKETPLACE", "emulator"), "emulator (built-in sandbox) or aws (CONCORD_MARKETPLACE)")
	fs.StringVar(&cfg.AWSEndpoint, "aws-endpoint", env("CONCORD_AWS_ENDPOINT", ""), "base URL for every AWS client, e.g. a standalone emulator (CONCORD_AWS_ENDPOINT)")
	fs.StringVar(&cfg.AWSRegion, "aws-region", env("CONCORD_AWS_REGION", "us-east-1"), "AWS region (CONCORD_AWS_REGION)")
	fs.StringVar(&cfg.EventBridgeSecret, "eventbridge-secret", env("CONCORD_EVENTBRIDGE_SECRET", ""), "shared secret the EventBridge API destination sends; sandbox mode generates one in the data directory (CONCORD_EVENTBRIDGE_SECRET)")
	fs.StringVar(&cfg.EventBridgeHeader, "eventbridge-header", env("CONCORD_EVENTBRIDGE_HEADER", inbox.DefaultSecretHeader), "header carrying that secret (CONCORD_EVENTBRIDGE_HEADER)")
	fs.StringVar(&cfg.SQSQueueURL, "sqs-queue-url", env("CONCORD_SQS_QUEUE_URL", ""), "SQS queue the EventBridge rule targets; empty disables the poller outside sandbox mode (CONCORD_SQS_QUEUE_URL)")
	topics := fs.String("sns-topics", env("CONCORD_SNS_TOPICS", ""), "comma-separated SNS topic ARNs accepted at /events/sns; empty accepts aws-mp-*-notification-* topics (CONCORD_SNS_TOPICS)")
	fs.IntVar(&cfg.Workers, "workers", envInt("CONCORD_WORKERS", 4), "background job workers (CONCORD_WORKERS)")
	fs.StringVar(&cfg.PublicURL, "public-url", env("CONCORD_PUBLIC_URL", ""), "URL buyers reach Concord at, e.g. https://concord.example.com: tracked offer links are served under it; empty means the listen address (CONCORD_PUBLIC_URL)")
	fs.StringVar(&cfg.DocumentsBucket, "documents-bucket", env("CONCORD_DOCUMENTS_BUCKET", ""), "S3 bucket custom EULAs and reseller agreements are uploaded to, for AWS Marketplace to read (see docs/aws-setup.md); sandbox mode uses the emulator's own; empty refuses custom documents outside it (CONCORD_DOCUMENTS_BUCKET)")
	fs.StringVar(&cfg.RegistrationPath, "registration-path", env("CONCORD_REGISTRATION_PATH", "/marketplace/register"), "path of the fulfillment URL AWS Marketplace posts buyers to (CONCORD_REGISTRATION_PATH)")
	fs.BoolVar(&cfg.SecureCookies, "secure-cookies", env("CONCORD_SECURE_COOKIES", "") == "true", "mark the registration and console cookies Secure; set it when Concord is served over HTTPS behind a proxy (CONCORD_SECURE_COOKIES=true)")
	fs.DurationVar(&cfg.EntitlementCacheTTL, "entitlement-cache-ttl", envDuration("CONCORD_ENTITLEMENT_CACHE_TTL", 30*time.Second), "how long an entitlement answer is served from memory; other replicas see a change within this time (CONCORD_ENTITLEMENT_CACHE_TTL)")
	fs.DurationVar(&cfg.EntitlementMaxAge, "entitlement-max-age", envDuration("CONCORD_ENTITLEMENT_MAX_AGE", 24*time.Hour), "entitlements fetched longer ago than this are answered as stale and refreshed (CONCORD_ENTITLEMENT_MAX_AGE)")
	fs.DurationVar(&cfg.EntitlementRefreshEvery, "entitlement-refresh-every", envDuration("CONCORD_ENTITLEMENT_REFRESH_EVERY", 6*time.Hour), "the sweep refreshes active licenses whose entitlements are older than this (CONCORD_ENTITLEMENT_REFRESH_EVERY)")
	fs.DurationVar(&cfg.MeteringGrace, "metering-grace", envDuration("CONCORD_METERING_GRACE", 10*time.Minute), "how long an hour's usage bucket stays open after the hour ends, for late usage, before it is submitted (CONCORD_METERING_GRACE)")
	fs.DurationVar(&cfg.MeteringWindow, "metering-window", envDuration("CONCORD_METERING_WINDOW", 24*time.Hour), "how old usage AWS accepts: 24h, or 6h for an account still on the old window (CONCORD_METERING_WINDOW)")
	fs.Float64Var(&cfg.MeteringRPS, "metering-rps", envFloat("CONCORD_METERING_RPS", 10), "BatchMeterUsage calls per second at most, for this process; replicas sharing an AWS account split AWS's 10 (CONCORD_METERING_RPS)")
	fs.IntVar(&cfg.MeteringInFlight, "metering-in-flight", envInt("CONCORD_METERING_IN_FLIGHT", 8), "BatchMeterUsage calls in flight at once (CONCORD_METERING_IN_FLIGHT)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", env("CONCORD_METRICS_ADDR", ""), "serve /metrics on this HOST:PORT of its own (e.g. 127.0.0.1:9090) instead of the main listener (CONCORD_METRICS_ADDR)")
	fs.StringVar(&cfg.MetricsToken, "metrics-token", env("CONCORD_METRICS_TOKEN", ""), "require Authorization: Bearer TOKEN on /metrics; prefer the environment variable (CONCORD_METRICS_TOKEN)")
	fs.BoolVar(&cfg.NoMetering, "no-metering", envBool("CONCORD_NO_METERING", false), "do not submit usage to AWS from this process (usage is still taken in and stored) (CONCORD_NO_METERING)")
	fs.DurationVar(&cfg.Lease, "lease", envDuration("CONCORD_LEASE", 0), "how long work a process claimed (a job, a metering record, an SQS message) stays claimed before a replica, or this process restarted after a crash, takes it over; 0 keeps the defaults (jobs 5m, metering 2m, SQS 1m) (CONCORD_LEASE)")
	fs.StringVar(&cfg.SMTP.Addr, "smtp-addr", env("CONCORD_SMTP_ADDR", ""), "SMTP server HOST:PORT for notification emails; empty records them as skipped (CONCORD_SMTP_ADDR)")
	fs.StringVar(&cfg.SMTP.Mode, "smtp-tls", env("CONCORD_SMTP_TLS", "starttls"), "SMTP security: starttls (required, port 587), tls (implicit TLS, port 465) or none (CONCORD_SMTP_TLS)")
	fs.StringVar(&cfg.SMTP.Username, "smtp-user", env("CONCORD_SMTP_USER", ""), "SMTP user for AUTH PLAIN; empty sends without logging in (CONCORD_SMTP_USER)")
	fs.StringVar(&cfg.SMTP.Password, "smtp-password", env("CONCORD_SMTP_PASSWORD", ""), "SMTP password; prefer the environment variable, flags show in the process list (CONCORD_SMTP_PASSWORD)")
	fs.StringVar(&cfg.SMTP.From, "smtp-from", env("CONCORD_SMTP_FROM", ""), "sender of notification emails, e.g. \"Concord <concord@example.com>\" (CONCORD_SMTP_FROM)")
	fs.BoolVar(&cfg.AllowPrivateTargets, "allow-private-targets", envBool("CONCORD_ALLOW_PRIVATE_TARGETS", false), "let webhook endpoints and Slack routes point at loopback, private, link-local and CGNAT addresses, for receivers inside your network (CONCORD_ALLOW_PRIVATE_TARGETS)")
	shutdown := fs.Duration("shutdown-timeout", envDuration("CONCORD_SHUTDOWN_TIMEOUT", 20*time.Second), "how long to wait for in-flight requests and jobs on shutdown (CONCORD_SHUTDOWN_TIMEOUT)")
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, err := c.logger(stderr)
	if err != nil {
		return err
	}
	cfg.DataDir, cfg.Database = c.dataDir, c.database
	exe, _ := os.Executable()
	cfg.Command = selfCommand(os.Args[0], exe, c.dataDir, c.database)
	if *topics != "" {
		cfg.SNSTopics = strings.Split(*topics, ",")
	}
	limit := app.SetDefaultMemoryLimit()
	a, err := app.Start(ctx, cfg, logger)
	if err != nil {
		return err
	}
	logger.Debug("memory limit", "bytes", limit)
	<-ctx.Done()
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
	defer cancel()
	return a.Close(sctx)
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("migrate", "Apply the embedded database migrations. Run it once per release before starting\nreplicas on PostgreSQL; on SQLite, serve migrates by itself.", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	before, err := db.Pending(ctx)
	if err != nil {
		return err
	}
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s) on %s; schema is up to date\n", before, db.Dialect())
	return nil
}

func apikeyCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("apikey create", "Create an API key for the /v1 API. The key is printed once; only its hash is stored.", stderr)
	name := fs.String("name", "", "what the key is for, e.g. the app that uses it (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return usageError{errors.New("--name is required")}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		secret, k, err := apikey.Create(ctx, db, *name, c.now()())
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
		fmt.Fprintf(stderr, "created API key %s (%s). Store it now: it cannot be shown again.\n", k.ID, k.Name)
		return nil
	})
}

func apikeyList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("apikey list", "List API keys (never their secrets).", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	return c.withDB(ctx, func(db *store.DB) error {
		keys, err := apikey.List(ctx, db)
		if err != nil {
			return err
		}
		for _, k := range keys {
			state := "active"
			if k.RevokedAt != nil {
				state = "revoked"
			}
			fmt.Fprintf(stdout, "%s\t%s…\t%s\t%s\t%s\n", k.ID, k.Prefix, state, k.CreatedAt.Format(time.RFC3339), k.Name)
		}
		return nil
	})
}

func apikeyRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("apikey revoke", "Revoke an API key by id (see apikey list).", stderr)
	id := fs.String("id", "", "key id (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return usageError{errors.New("--id is required")}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		if err := apikey.Revoke(ctx, db, *id, c.now()()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", *id)
		return nil
	})
}

func eventsReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("events replay", "Re-parse every event in the inbox and fold the whole ledger again, in one\ntransaction. Safe while serve runs; the ledger ends the same unless the parser changed.", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	return c.withDB(ctx, func(db *store.DB) error {
		l := app.NewServices(db, c.now(), slog.New(slog.DiscardHandler)).Ledger
		st, err := l.Replay(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	})
}

// selfCommand is how to run this concord again for the same database: the
// path it was started by, or "go run ./cmd/concord" when `go run` built it
// into a temporary directory (no concord binary exists then), with the
// --data-dir of a non-default data directory. A PostgreSQL URL is not
// printed (it may hold a password): the hint says to pass the same one.
func selfCommand(arg0, exe, dataDir, database string) string {
	cmd := arg0
	switch {
	case strings.Contains(exe, string(filepath.Separator)+"go-build") || strings.Contains(arg0, string(filepath.Separator)+"go-build"):
		cmd = "go run ./cmd/concord"
	case !strings.ContainsRune(arg0, filepath.Separator):
		cmd = filepath.Base(arg0) // found on the PATH
	}
	if database != "" {
		if os.Getenv("CONCORD_DATABASE") == database {
			return cmd // the command reads the same environment
		}
		return cmd + " --database <the URL serve was given>"
	}
	if dataDir != "" && dataDir != "data" {
		cmd += " --data-dir " + shellQuote(dataDir)
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
