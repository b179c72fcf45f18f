package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/emulator/world"
)

const emulatorUsage = `concord emulator: the built-in AWS Marketplace emulator

Usage:
  concord emulator [serve] [--addr HOST:PORT]      run it standalone
  concord emulator <command> [flags]               drive a running emulator

Commands that drive it (--emulator URL, default the sandbox inside concord serve):
  product create      create a product (and its public offer)
  buyer create        create a buyer account
  offer create        create a private offer for a buyer
  resale create       authorize a channel partner to resell a product (CPPO)
  partner-offer       play the partner: extend a CPPO offer from a resale authorization
  accept              play the buyer: accept an offer (or a product's public offer)
  amend|renew|cancel|expire   change an agreement
  cancellation approve|reject play the buyer: answer a seller's cancellation request
  payment accept|reject       play the buyer: answer a seller's payment request
  fail-next           make the next cancellation request or refund fail AWS's validation
  advisory            play AWS: issue (or --resolve) an advisory on an agreement
  disbursement-paused play AWS: pause the seller's disbursements
  token               mint a registration token
  register            play the buyer's browser: POST the token to a fulfillment URL
  clock               show the clock, or advance it with --by
  faults              inject latency, throttling, 5xx and unprocessed records
  config              change the rules (metering window, throttling, token TTL, ...)
  target              deliver events to an SQS queue, an HTTP endpoint or an SNS endpoint
  show                print products, buyers, offers, agreements, licenses, metering, events or state
  snapshot            save the state to a file, or restore it with --restore

Run "concord emulator <command> -h" for its flags.
`

func emulatorCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") || args[0] == "serve" {
		if len(args) > 0 && args[0] == "serve" {
			args = args[1:]
		}
		return emulatorServe(ctx, args, stdout, stderr)
	}
	if args[0] == "help" {
		fmt.Fprint(stdout, emulatorUsage)
		return nil
	}
	name := args[0]
	if len(args) > 1 && (name == "product" || name == "buyer" || name == "offer" || name == "resale" || name == "cancellation" || name == "payment") && !strings.HasPrefix(args[1], "-") {
		name += " " + args[1]
		args = args[1:]
	}
	c, ok := emulatorCommands[name]
	if !ok {
		return usageError{fmt.Errorf("unknown emulator command %q\n\n%s", name, emulatorUsage)}
	}
	fs := flag.NewFlagSet("concord emulator "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("emulator", env("CONCORD_EMULATOR_URL", "http://127.0.0.1:8080/emulator"), "emulator base URL (CONCORD_EMULATOR_URL)")
	token := fs.String("sandbox-token", env("CONCORD_SANDBOX_TOKEN", ""), "control token of the sandbox inside concord serve; empty reads <data-dir>/"+app.SandboxTokenFile+" (CONCORD_SANDBOX_TOKEN)")
	dataDir := fs.String("data-dir", env("CONCORD_DATA_DIR", "data"), "concord serve's data directory, where the sandbox token is kept (CONCORD_DATA_DIR)")
	vals := map[string]*string{}
	for _, f := range c.flags {
		vals[f.name] = fs.String(f.name, "", f.help)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: concord emulator %s [flags]\n\n%s\n\nFlags:\n", name, c.summary)
		fs.PrintDefaults()
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	get := func(n string) string { return *vals[n] }
	if *token == "" {
		// The standalone emulator needs none; serve's sandbox wrote one here.
		if b, err := os.ReadFile(filepath.Join(*dataDir, app.SandboxTokenFile)); err == nil {
			*token = strings.TrimSpace(string(b))
		}
	}
	method, path, body, err := c.build(get)
	if err != nil {
		return usageError{err}
	}
	if path == "" { // local-only command (snapshot save/restore)
		return c.local(ctx, controlAPI{*base, *token}, get, stdout)
	}
	out, err := controlAPI{*base, *token}.call(ctx, method, path, body)
	if err != nil {
		return err
	}
	stdout.Write(out)
	return nil
}

// controlAPI is where the commands send control API requests: the emulator's
// base URL and the sandbox token (empty for a standalone emulator).
type controlAPI struct{ base, token string }

// call sends one control API request to path and returns the pretty JSON answer.
func (c controlAPI) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	url := strings.TrimRight(c.base, "/") + path
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is the emulator running? %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("%s: %s", resp.Status, out)
	}
	return out, nil
}

type cliFlag struct{ name, help string }

type emulatorCommand struct {
	summary string
	flags   []cliFlag
	build   func(get func(string) string) (method, path string, body any, err error)
	local   func(ctx context.Context, api controlAPI, get func(string) string, stdout io.Writer) error
}

// quantities parses "seats=10,admins=2".
func quantities(s string) (map[string]int64, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]int64{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("quantities %q: use dimension=number,dimension=number", s)
		}
		out[k] = n
	}
	return out, nil
}

// dimensions parses "seats:contract:10.00,api_calls:usage:0.01".
func dimensions(s string) ([]world.Dimension, error) {
	var out []world.Dimension
	for _, d := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(d), ":")
		if parts[0] == "" || len(parts) > 3 {
			return nil, fmt.Errorf("dimensions %q: use key[:contract|usage[:price]],...", s)
		}
		dim := world.Dimension{Key: parts[0]}
		if len(parts) > 1 {
			dim.Kind = parts[1]
		}
		if len(parts) > 2 {
			dim.Price = parts[2]
		}
		out = append(out, dim)
	}
	return out, nil
}

func optTime(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%q is not a date (2026-12-31) or RFC 3339 time", s)
}

func agreementAction(action, summary string) emulatorCommand {
	flags := []cliFlag{{"agreement", "agreement id (required)"}}
	if action == "amend" {
		flags = append(flags, cliFlag{"offer", "replacement offer id (default: the same offer)"},
			cliFlag{"intent", "REPLACE (default: a new agreement replaces this one) or AMEND (this agreement changes in place: --auto-renew)"},
			cliFlag{"quantities", "new contract quantities, e.g. seats=20 (REPLACE)"},
			cliFlag{"auto-renew", "true or false: turn auto-renewal on or off in place (AMEND)"},
			cliFlag{"by", "who changes auto-renewal: ACCEPTOR (the buyer, default) or PROPOSER (the seller)"})
	}
	return emulatorCommand{summary: summary, flags: flags, build: func(get func(string) string) (string, string, any, error) {
		if get("agreement") == "" {
			return "", "", nil, errors.New("--agreement is required")
		}
		var body any
		if action == "amend" {
			q, err := quantities(get("quantities"))
			if err != nil {
				return "", "", nil, err
			}
			in := map[string]any{"offerId": get("offer"), "intent": get("intent"), "quantities": q}
			switch v := get("auto-renew"); v {
			case "":
			case "true", "false":
				in["autoRenew"], in["by"] = v == "true", get("by")
				if get("intent") == "" {
					in["intent"] = "AMEND"
				}
			default:
				return "", "", nil, fmt.Errorf("--auto-renew must be true or false, not %q", v)
			}
			body = in
		}
		return http.MethodPost, "/control/agreements/" + get("agreement") + "/" + action, body, nil
	}}
}

var emulatorCommands = map[string]emulatorCommand{
	"product create": {summary: "Create a product and its public offer.",
		flags: []cliFlag{{"id", "product id (default: generated prod-…)"}, {"code", "product code (default: generated)"}, {"title", "product title"},
			{"type", "saas_contract (default), saas_contract_consumption, saas_usage or professional_services"},
			{"dimensions", "key[:contract|usage[:price]],... (required), e.g. seats:contract:40.00,api_calls:usage:0.01"},
			{"legacy", "true for a product without Concurrent Agreements (CustomerIdentifier, SNS)"}},
		build: func(get func(string) string) (string, string, any, error) {
			dims, err := dimensions(get("dimensions"))
			if err != nil {
				return "", "", nil, err
			}
			return http.MethodPost, "/control/products", map[string]any{"productId": get("id"), "productCode": get("code"), "title": get("title"),
				"type": get("type"), "dimensions": dims, "concurrentAgreements": get("legacy") != "true"}, nil
		}},
	"buyer create": {summary: "Create a buyer AWS account.", flags: []cliFlag{{"account", "12-digit account id (default: random)"}},
		build: func(get func(string) string) (string, string, any, error) {
			return http.MethodPost, "/control/buyers", map[string]any{"accountId": get("account")}, nil
		}},
	"offer create": {summary: "Create a released private offer for one buyer.",
		flags: []cliFlag{{"product", "product id (required)"}, {"buyer", "buyer account (required)"}, {"quantities", "contract quantities, e.g. seats=10"},
			{"duration", "agreement duration, e.g. P12M (default P12M)"}, {"start", "future start date (future-dated agreement)"},
			{"expires", "offer expiration date"}, {"name", "offer name"}},
		build: func(get func(string) string) (string, string, any, error) {
			q, err := quantities(get("quantities"))
			if err != nil {
				return "", "", nil, err
			}
			start, err := optTime(get("start"))
			if err != nil {
				return "", "", nil, err
			}
			exp, err := optTime(get("expires"))
			if err != nil {
				return "", "", nil, err
			}
			return http.MethodPost, "/control/offers", map[string]any{"productId": get("product"), "buyerAccounts": []string{get("buyer")},
				"quantities": q, "duration": get("duration"), "startDate": start, "expirationDate": exp, "name": get("name")}, nil
		}},
	"resale create": {summary: "Authorize a channel partner to resell a product (CPPO).",
		flags: []cliFlag{{"product", "product id (required)"}, {"reseller", "partner AWS account (required)"}, {"name", "name"}},
		build: func(get func(string) string) (string, string, any, error) {
			return http.MethodPost, "/control/resale-authorizations", map[string]any{"productId": get("product"), "resellerAccountId": get("reseller"), "name": get("name")}, nil
		}},
	"partner-offer": {summary: "Play the channel partner: extend a CPPO offer to a buyer from a resale authorization.",
		flags: []cliFlag{{"resale-authorization", "resale authorization id (required)"}, {"buyer", "buyer account (required)"},
			{"quantities", "contract quantities"}, {"duration", "e.g. P12M"}},
		build: func(get func(string) string) (string, string, any, error) {
			q, err := quantities(get("quantities"))
			if err != nil {
				return "", "", nil, err
			}
			return http.MethodPost, "/control/partner-offers", map[string]any{"resaleAuthorizationId": get("resale-authorization"),
				"buyerAccounts": []string{get("buyer")}, "quantities": q, "duration": get("duration")}, nil
		}},
	"accept": {summary: "Play the buyer: accept an offer, or a product's public offer.",
		flags: []cliFlag{{"buyer", "buyer account (created if new; required)"}, {"offer", "offer id"}, {"product", "product id (its public offer)"},
			{"quantities", "contract quantities for a public offer"}, {"start", "future start (future-dated agreement: no license until then)"}},
		build: func(get func(string) string) (string, string, any, error) {
			q, err := quantities(get("quantities"))
			if err != nil {
				return "", "", nil, err
			}
			start, err := optTime(get("start"))
			if err != nil {
				return "", "", nil, err
			}
			return http.MethodPost, "/control/accept", map[string]any{"buyer": get("buyer"), "offerId": get("offer"), "productId": get("product"),
				"quantities": q, "startDate": start}, nil
		}},
	"amend":  agreementAction("amend", "Replace an agreement (REPLACE: the old one ends as REPLACED), or change its auto-renewal in place (AMEND: Purchase Agreement Amended)."),
	"renew":  agreementAction("renew", "Accept a renewal now: a future-dated agreement (RENEW) starts when the old one ends, which then ends as RENEWED."),
	"cancel": agreementAction("cancel", "Cancel an agreement: the final metering window opens."),
	"expire": agreementAction("expire", "Expire an agreement: the final metering window opens."),
	"cancellation approve": {summary: "Play the buyer: approve a seller's cancellation request (the agreement ends as CANCELLED).",
		flags: []cliFlag{{"request", "cancellation request id, acr-… (required)"}},
		build: func(get func(string) string) (string, string, any, error) {
			if get("request") == "" {
				return "", "", nil, errors.New("--request is required")
			}
			return http.MethodPost, "/control/cancellation-requests/" + get("request") + "/approve", nil, nil
		}},
	"cancellation reject": {summary: "Play the buyer: reject a seller's cancellation request (the agreement stays active).",
		flags: []cliFlag{{"request", "cancellation request id, acr-… (required)"}, {"reason", "why, 1-2000 characters, shown to the seller (required)"}},
		build: func(get func(string) string) (string, string, any, error) {
			if get("request") == "" || get("reason") == "" {
				return "", "", nil, errors.New("--request and --reason are required")
			}
			return http.MethodPost, "/control/cancellation-requests/" + get("request") + "/reject", map[string]any{"reason": get("reason")}, nil
		}},
	"payment accept": {summary: "Play the buyer: accept a seller's payment request (a charge is made).",
		flags: []cliFlag{{"request", "payment request id, pr-… (required)"}, {"purchase-order", "the buyer's purchase order reference"}},
		build: func(get func(string) string) (string, string, any, error) {
			if get("request") == "" {
				return "", "", nil, errors.New("--request is required")
			}
			return http.MethodPost, "/control/payment-requests/" + get("request") + "/accept", map[string]any{"purchaseOrderReference": get("purchase-order")}, nil
		}},
	"payment reject": {summary: "Play the buyer: reject a seller's payment request.",
		flags: []cliFlag{{"request", "payment request id, pr-… (required)"}, {"reason", "why, 1-250 characters, shown to the seller"}},
		build: func(get func(string) string) (string, string, any, error) {
			if get("request") == "" {
				return "", "", nil, errors.New("--request is required")
			}
			return http.MethodPost, "/control/payment-requests/" + get("request") + "/reject", map[string]any{"reason": get("reason")}, nil
		}},
	"fail-next": {summary: "Make the next request of a kind fail AWS's asynchronous validation (VALIDATION_FAILED and its event).",
		flags: []cliFlag{{"kind", "cancellationRequest or billingAdjustment (required)"}, {"message", "status message of the failure"}},
		build: func(get func(string) string) (string, string, any, error) {
			return http.MethodPost, "/control/fail-next", map[string]any{"kind": get("kind"), "message": get("message")}, nil
		}},
	"advisory": {summary: "Play AWS: issue an advisory on an agreement (Purchase Agreement Advisory Issued), or resolve it with --resolve true.",
		flags: []cliFlag{{"agreement", "agreement id (required)"}, {"resolve", "true to resolve the open advisory"}},
		build: func(get func(string) string) (string, string, any, error) {
			if get("agreement") == "" {
				return "", "", nil, errors.New("--agreement is required")
			}
			if v := get("resolve"); v != "" && v != "true" && v != "false" {
				return "", "", nil, fmt.Errorf("--resolve must be true or false, not %q", v)
			}
			return http.MethodPost, "/control/agreements/" + get("agreement") + "/advisory", map[string]any{"resolve": get("resolve") == "true"}, nil
		}},
	"disbursement-paused": {summary: "Play AWS: pause the seller's disbursements (Disbursement Paused, source aws.marketplace).",
		flags: []cliFlag{{"payment-instrument", "the payment instrument's ARN (the event's resources)"}},
		build: func(get func(string) string) (string, string, any, error) {
			return http.MethodPost, "/control/disbursement-paused", map[string]any{"paymentInstrumentArn": get("payment-instrument")}, nil
		}},
	"token": {summary: "Mint a registration token for a license or agreement.",
		flags: []cliFlag{{"license", "LicenseArn"}, {"agreement", "agreement id"}},
		build: func(get func(string) string) (string, string, any, error) {
			return http.MethodPost, "/control/tokens", map[string]any{"licenseArn": get("license"), "agreementId": get("agreement")}, nil
		}},
	"register": {summary: "Play the buyer's browser: POST x-amzn-marketplace-token to a fulfillment URL.",
		flags: []cliFlag{{"url", "fulfillment URL (default: Concord's own registration page in sandbox mode)"}, {"agreement", "agreement id"}, {"license", "LicenseArn"}, {"token", "an existing token"}},
		build: func(get func(string) string) (string, string, any, error) {
			return http.MethodPost, "/control/register", map[string]any{"fulfillmentUrl": get("url"), "agreementId": get("agreement"),
				"licenseArn": get("license"), "token": get("token")}, nil
		}},
	"clock": {summary: "Show the emulator clock, or move it forward with --by (e.g. 90m, 48h).",
		flags: []cliFlag{{"by", "how far to advance"}},
		build: func(get func(string) string) (string, string, any, error) {
			if get("by") == "" {
				return http.MethodGet, "/control/clock", nil, nil
			}
			return http.MethodPost, "/control/clock/advance", map[string]any{"duration": get("by")}, nil
		}},
	"faults": {summary: "Inject faults into one operation (or * for all), reproducibly with --seed.",
		flags: []cliFlag{{"op", "operation, e.g. BatchMeterUsage, or * (required)"}, {"latency", "added latency, e.g. 200ms"},
			{"throttle", "share of calls throttled, 0-1"}, {"error", "share of calls failing with 500, 0-1"}, {"unprocessed", "share of records left unprocessed, 0-1"}, {"seed", "random seed"}},
		build: func(get func(string) string) (string, string, any, error) {
			if get("op") == "" {
				return "", "", nil, errors.New("--op is required")
			}
			f := map[string]any{}
			if v := get("latency"); v != "" {
				d, err := time.ParseDuration(v)
				if err != nil {
					return "", "", nil, fmt.Errorf("--latency: %w", err)
				}
				f["latencyMs"] = d.Milliseconds()
			}
			for flagName, key := range map[string]string{"throttle": "throttleShare", "error": "errorShare", "unprocessed": "unprocessedShare"} {
				if v := get(flagName); v != "" {
					x, err := strconv.ParseFloat(v, 64)
					if err != nil {
						return "", "", nil, fmt.Errorf("--%s: %w", flagName, err)
					}
					f[key] = x
				}
			}
			seed, _ := strconv.ParseUint(get("seed"), 10, 64)
			return http.MethodPut, "/control/faults", map[string]any{"seed": seed, "faults": map[string]any{get("op"): f}}, nil
		}},
	"config": {summary: "Change the emulator's rules.",
		flags: []cliFlag{{"metering-window", "how old usage may be, e.g. 6h or 24h"}, {"month-end-grace", "true or false"},
			{"throttle-rps", "requests per second per account (0 turns throttling off)"}, {"token-ttl", "registration token lifetime"},
			{"final-window", "final metering window"}, {"change-set-delay", "how long a change set takes"},
			{"adjustment-delay", "how long a billing adjustment stays PENDING"}, {"renewal-lockout", "how long before its end an auto-renewing agreement locks (Renewal Upcoming)"}},
		build: func(get func(string) string) (string, string, any, error) {
			body := map[string]any{}
			for flagName, key := range map[string]string{"metering-window": "meteringWindow", "token-ttl": "tokenTtl", "final-window": "finalWindow", "change-set-delay": "changeSetDelay",
				"adjustment-delay": "adjustmentDelay", "renewal-lockout": "renewalLockout"} {
				if v := get(flagName); v != "" {
					body[key] = v
				}
			}
			if v := get("month-end-grace"); v != "" {
				body["monthEndGrace"] = v == "true"
			}
			if v := get("throttle-rps"); v != "" {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return "", "", nil, fmt.Errorf("--throttle-rps: %w", err)
				}
				body["throttleRps"] = x
			}
			return http.MethodPut, "/control/config", body, nil
		}},
	"target": {summary: "Deliver emitted events: to an emulated SQS queue, an HTTP endpoint (API destination style) or an SNS HTTP endpoint.",
		flags: []cliFlag{{"type", "sqs, http or sns (required)"}, {"queue", "queue name (sqs)"}, {"url", "endpoint URL (http, sns)"},
			{"header", "secret header name (http; default X-Concord-Secret)"}, {"secret", "secret header value (http)"}},
		build: func(get func(string) string) (string, string, any, error) {
			return http.MethodPost, "/control/targets", map[string]any{"type": get("type"), "queue": get("queue"), "url": get("url"),
				"header": get("header"), "secret": get("secret")}, nil
		}},
	"show": {summary: "Print part of the emulator's state.",
		flags: []cliFlag{{"what", "products, buyers, offers, agreements, licenses, cancellation-requests, billing-adjustments, payment-requests, metering, events, targets or state (required)"}},
		build: func(get func(string) string) (string, string, any, error) {
			switch w := get("what"); w {
			case "products", "buyers", "offers", "agreements", "licenses", "cancellation-requests", "billing-adjustments", "payment-requests", "metering", "events", "targets", "state":
				return http.MethodGet, "/control/" + w, nil, nil
			default:
				return "", "", nil, fmt.Errorf("--what %q: use products, buyers, offers, agreements, licenses, cancellation-requests, billing-adjustments, payment-requests, metering, events, targets or state", w)
			}
		}},
	"snapshot": {summary: "Save the emulator's state to --file, or load it back with --restore.",
		flags: []cliFlag{{"file", "snapshot file (required)"}, {"restore", "true to load the file into the emulator"}},
		build: func(get func(string) string) (string, string, any, error) {
			if get("file") == "" {
				return "", "", nil, errors.New("--file is required")
			}
			return "", "", nil, nil
		},
		local: func(ctx context.Context, api controlAPI, get func(string) string, stdout io.Writer) error {
			const url = "/control/state"
			if get("restore") == "true" {
				b, err := os.ReadFile(get("file"))
				if err != nil {
					return err
				}
				out, err := api.call(ctx, http.MethodPut, url, json.RawMessage(b))
				stdout.Write(out)
				return err
			}
			out, err := api.call(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			if err := os.WriteFile(get("file"), out, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "saved %d bytes to %s\n", len(out), get("file"))
			return nil
		}},
}

func emulatorServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("concord emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", env("CONCORD_EMULATOR_ADDR", "127.0.0.1:8090"), "listen address HOST:PORT (CONCORD_EMULATOR_ADDR)")
	snapshot := fs.String("snapshot", env("CONCORD_EMULATOR_SNAPSHOT", ""), "state file: loaded at start if it exists, rewritten as the state changes (CONCORD_EMULATOR_SNAPSHOT)")
	seller := fs.String("seller-account", env("CONCORD_EMULATOR_SELLER", "111122223333"), "the emulated seller's AWS account (CONCORD_EMULATOR_SELLER)")
	queue := fs.String("sqs-queue", env("CONCORD_EMULATOR_SQS_QUEUE", "marketplace-events"), "emulated SQS queue that receives every EventBridge event; empty for none (CONCORD_EMULATOR_SQS_QUEUE)")
	targetURL := fs.String("event-target", env("CONCORD_EMULATOR_EVENT_TARGET", ""), "also POST every EventBridge event to this URL, as an API destination does (CONCORD_EMULATOR_EVENT_TARGET)")
	worldFile := fs.String("world", env("CONCORD_EMULATOR_WORLD", ""), "world file (products, buyers, offers, agreements; docs/emulator.md) to start from when --snapshot restored nothing (CONCORD_EMULATOR_WORLD)")
	targetSecret := fs.String("event-target-secret", env("CONCORD_EMULATOR_EVENT_TARGET_SECRET", ""), "value of the X-Concord-Secret header sent with it (CONCORD_EMULATOR_EVENT_TARGET_SECRET)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: concord emulator [serve] [flags]\n\nRun the AWS Marketplace emulator standalone. Point SDK clients at it with\nBaseEndpoint or AWS_ENDPOINT_URL=http://ADDR; drive it with the commands\nlisted by `concord emulator help`.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	cfg := world.DefaultConfig()
	cfg.SellerAccountID = *seller
	e := emulator.New(emulator.Options{Config: cfg, Logger: logger, BaseURL: func() string { return base }, StateFile: *snapshot})
	if loaded, err := e.LoadState(); err != nil {
		return err
	} else if loaded {
		logger.Info("restored state", "file", *snapshot)
		if *worldFile != "" {
			logger.Info("world file not loaded: the snapshot's state wins", "world", *worldFile, "snapshot", *snapshot)
		}
	} else if *worldFile != "" {
		b, err := os.ReadFile(*worldFile)
		if err == nil {
			err = e.LoadWorld(b)
		}
		if err != nil {
			ln.Close()
			return fmt.Errorf("load world file %s: %w", *worldFile, err)
		}
		logger.Info("loaded world file", "file", *worldFile)
	}
	if *queue != "" {
		if _, err := e.AddTarget(emulator.Target{Type: "sqs", Queue: *queue}); err != nil {
			return err
		}
	}
	if *targetURL != "" {
		if _, err := e.AddTarget(emulator.Target{Type: "http", URL: *targetURL, Secret: *targetSecret}); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/", e)
	// The same paths as the sandbox inside `concord serve`, so one CLI default works.
	mux.Handle("/emulator/", http.StripPrefix("/emulator", e))
	mux.Handle("/emulator", http.StripPrefix("/emulator", e))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	e.Start(ctx)
	go srv.Serve(ln)
	logger.Warn("SANDBOX: AWS Marketplace emulator listening; this is not AWS", "url", base, "seller", *seller, "queue", e.QueueURL(*queue))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	e.Close() // writes the state file a last time
	if *snapshot != "" {
		logger.Info("saved state", "file", *snapshot)
	}
	return nil
}
