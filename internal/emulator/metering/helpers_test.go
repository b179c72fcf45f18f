package metering_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/aws/smithy-go"

	"github.com/concordmp/concord/internal/emulator/metering"
	"github.com/concordmp/concord/internal/emulator/world"
)

// tb is what the helpers need of *testing.T, *testing.B and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// env is one world, the metering service over it, and the official client
// pointed at it.
type env struct {
	t   tb
	w   *world.World
	url string
	c   *marketplacemetering.Client
}

// newEnv starts a world (throttling off unless a config function turns it
// on) and the metering service on an httptest server.
func newEnv(t tb, configure ...func(*world.Config)) *env {
	t.Helper()
	cfg := world.DefaultConfig()
	cfg.ThrottleRPS = 0
	for _, f := range configure {
		f(&cfg)
	}
	w := world.New(cfg)
	srv := httptest.NewServer(metering.New(w))
	t.Cleanup(srv.Close)
	return &env{t: t, w: w, url: srv.URL, c: newClient(srv.URL)}
}

// newClient is the official client with the SDK's own HTTP client, making
// one attempt per call (tests assert the first answer, throttling included).
// Its transport hides the request body's WriteTo from net/http; see
// noBodyWriteTo for why.
func newClient(url string) *marketplacemetering.Client { return newClientWith(url) }

// newClientWith is newClient with options for the SDK's http.Transport.
func newClientWith(url string, transport ...func(*http.Transport)) *marketplacemetering.Client {
	hc := awshttp.NewBuildableClient().WithTransportOptions(transport...)
	return marketplacemetering.New(marketplacemetering.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: noBodyWriteTo{hc.GetTransport()}},
	})
}

// noBodyWriteTo works around a client-side race of the Go SDK (smithy-go
// v1.28.8) with net/http that made `-benchtime 3s` of BenchmarkBatchMeterUsage
// fail with "deserialization failed, read tcp ...: use of closed network
// connection" on a 200 response (aws/aws-sdk-go-v2#1825 and #2737 describe it
// against AWS).
//
// net/http writes a request body of ContentLength n, then reads the body once
// more to check that it has no extra bytes. When headers and body exceed the
// 4 KiB write buffer (a 25-record batch does), the end of the body goes
// straight to the socket, so the server can read it and answer before that
// check runs. smithy-go closes the request body as soon as the response
// headers arrive (transport/http/client.go), and its body, once closed,
// answers WriteTo with io.EOF (transport/http/internal/io/safe.go), which
// io.Copy does not treat as the end of the data but as a write error: the
// transport's writeLoop then closes the connection while the SDK is still
// reading the response body. Close stacks captured with a tracing dialer
// showed exactly that (persistConn.writeLoop closing with io.EOF), about once
// per hundred calls on a loaded machine; the server had answered correctly.
//
// Against AWS the network round trip makes the window rare (the issues are
// reports of it), and the SDK's default retryer retries "use of closed
// network connection" (aws/retry/retryable_error.go); these tests make one
// attempt, so they saw it. Read on the closed body returns (0, io.EOF), which
// the check takes as the end of the body, so hiding WriteTo closes the window
// without changing what is sent.
type noBodyWriteTo struct{ rt http.RoundTripper }

func (t noBodyWriteTo) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = bodyWithoutWriteTo{r.Body}
	}
	return t.rt.RoundTrip(r)
}

// bodyWithoutWriteTo exposes only Read and Close of the body it wraps.
type bodyWithoutWriteTo struct{ rc io.ReadCloser }

func (b bodyWithoutWriteTo) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b bodyWithoutWriteTo) Close() error               { return b.rc.Close() }

func (e *env) do(fn func(s *world.State) error) {
	e.t.Helper()
	if err := e.w.Do(fn); err != nil {
		e.t.Fatal(err)
	}
}

// Dimensions every test product has.
const (
	dimAPI     = "api_calls"
	dimStorage = "storage_gb"
	dimSeats   = "seats" // a contract dimension
)

// product creates a pay-as-you-go product (no agreement end date, so the
// clock can be moved far ahead).
func (e *env) product(concurrent bool) *world.Product {
	e.t.Helper()
	var p *world.Product
	e.do(func(s *world.State) error {
		var err error
		p, err = s.CreateProduct(world.Product{Type: world.ProductSaaSUsage, ConcurrentAgreements: concurrent, Dimensions: []world.Dimension{
			{Key: dimAPI, Kind: "usage", Price: "0.01"}, {Key: dimStorage, Kind: "usage", Price: "0.10"}, {Key: dimSeats, Kind: "contract", Price: "10"},
		}})
		return err
	})
	return p
}

// subscribe makes buyer accept the product's public offer and returns the
// agreement and its license.
func (e *env) subscribe(p *world.Product, buyer string) (world.Agreement, world.License) {
	e.t.Helper()
	var a world.Agreement
	var l world.License
	e.do(func(s *world.State) error {
		if _, err := s.CreateBuyer(buyer); err != nil {
			return err
		}
		ag, err := s.Accept(buyer, p.PublicOfferID, world.AcceptOptions{})
		if err != nil {
			return err
		}
		a, l = *ag, *s.Licenses[ag.LicenseArn]
		return nil
	})
	return a, l
}

func (e *env) token(licenseArn string) string {
	e.t.Helper()
	var tok string
	e.do(func(s *world.State) error {
		t, err := s.MintToken(licenseArn)
		if err != nil {
			return err
		}
		tok = t.Value
		return nil
	})
	return tok
}

// advanceTo moves the emulator clock to (just after) target.
func (e *env) advanceTo(target time.Time) {
	e.t.Helper()
	d := target.Sub(e.w.Now())
	if d < 0 {
		e.t.Fatalf("cannot move the clock back to %s", target)
	}
	if err := e.w.Advance(d); err != nil {
		e.t.Fatal(err)
	}
}

// midMonth is the 15th, 12:00 UTC, of the month after next: far enough that
// licenses created now are active, and away from the month-end rules.
func midMonth(now time.Time) time.Time {
	return time.Date(now.Year(), now.Month()+2, 15, 12, 0, 0, 0, time.UTC)
}

// firstOfMonth is the 1st, 00:00 UTC, of the month after next, plus d.
func firstOfMonth(now time.Time, d time.Duration) time.Time {
	return time.Date(now.Year(), now.Month()+2, 1, 0, 0, 0, 0, time.UTC).Add(d)
}

func (e *env) setFaults(f map[string]world.Fault) {
	e.do(func(s *world.State) error { s.SetFaults(f, 7); return nil })
}

func (e *env) batch(in *marketplacemetering.BatchMeterUsageInput) (*marketplacemetering.BatchMeterUsageOutput, error) {
	return e.c.BatchMeterUsage(context.Background(), in)
}

// mustBatch meters records by license (no ProductCode).
func (e *env) mustBatch(recs ...types.UsageRecord) *marketplacemetering.BatchMeterUsageOutput {
	e.t.Helper()
	if recs == nil {
		recs = []types.UsageRecord{}
	}
	out, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: recs})
	if err != nil {
		e.t.Fatalf("BatchMeterUsage: %v", err)
	}
	return out
}

// rec is a license-based usage record.
func rec(l world.License, dim string, qty int32, ts time.Time) types.UsageRecord {
	return types.UsageRecord{LicenseArn: aws.String(l.Arn), CustomerAWSAccountId: aws.String(l.AccountID), Dimension: aws.String(dim),
		Quantity: aws.Int32(qty), Timestamp: aws.Time(ts)}
}

// legacyRec is a CustomerIdentifier usage record.
func legacyRec(customer, dim string, qty int32, ts time.Time) types.UsageRecord {
	return types.UsageRecord{CustomerIdentifier: aws.String(customer), Dimension: aws.String(dim), Quantity: aws.Int32(qty), Timestamp: aws.Time(ts)}
}

// wantErr asserts err is (or wraps) the typed error T and returns it.
func wantErr[T error](t testing.TB, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error = %v (%T), want %T", err, err, target)
	}
	return target
}

// wantCode asserts the API error code and HTTP status of err.
func wantCode(t testing.TB, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want API error %s", err, err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %q (%v), want %q", ae.ErrorCode(), err, code)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no HTTP response", err)
	}
	if re.HTTPStatusCode() != status {
		t.Fatalf("HTTP status = %d, want %d (%v)", re.HTTPStatusCode(), status, err)
	}
}

func statuses(out *marketplacemetering.BatchMeterUsageOutput) []types.UsageRecordResultStatus {
	var s []types.UsageRecordResultStatus
	for _, r := range out.Results {
		s = append(s, r.Status)
	}
	return s
}

// recordsSince returns the inspection records after the first n.
func recordsSince(w *world.World, n int) []world.MeteringRecord {
	all := metering.Records(w)
	if n > len(all) {
		return nil
	}
	return all[n:]
}

func hourKey(who, dim string, ts time.Time) string {
	return who + "|" + dim + "|" + ts.UTC().Truncate(time.Hour).Format(time.RFC3339)
}
