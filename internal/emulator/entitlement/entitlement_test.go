package entitlement_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice/schemas"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/concordmp/concord/internal/emulator/entitlement"
	"github.com/concordmp/concord/internal/emulator/world"
)

// protocols runs every client test over the client's default protocol (RPC
// v2 CBOR) and over AWS JSON 1.1.
var protocols = []struct {
	name string
	opt  func(*mes.Options)
}{
	{"rpcv2Cbor", func(*mes.Options) {}},
	{"awsJson1_1", func(o *mes.Options) { o.Protocol = awsjson.New11(schemas.AWSMPEntitlementService) }},
}

// forEachProtocol marks t parallel and runs fn as parallel subtests, one per
// protocol.
func forEachProtocol(t *testing.T, fn func(t *testing.T, proto func(*mes.Options))) {
	t.Helper()
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			fn(t, p.opt)
		})
	}
}

// recorder is the client's HTTP client; it keeps the last exchange so tests
// can check wire details while still going through the official client.
type recorder struct {
	mu       sync.Mutex
	req      *http.Request
	status   int
	header   http.Header
	requests int
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.req = req
	if err == nil {
		r.status, r.header = resp.StatusCode, resp.Header.Clone()
	}
	return resp, err
}

func (r *recorder) last() (*http.Request, int, http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.req, r.status, r.header
}

type env struct {
	w      *world.World
	srv    *entitlement.Server
	client *mes.Client
	rec    *recorder
}

// newEnv starts a world (request quota off unless cfg sets it), the server
// behind an httptest.Server mounted under a path prefix, and a client.
func newEnv(t testing.TB, proto func(*mes.Options), cfgFns ...func(*world.Config)) *env {
	t.Helper()
	cfg := world.DefaultConfig()
	cfg.ThrottleRPS = 0
	for _, fn := range cfgFns {
		fn(&cfg)
	}
	w := world.New(cfg)
	srv := entitlement.New(w)
	mux := http.NewServeMux()
	mux.Handle("/emulator/entitlement/", srv) // not stripped: the server finds its path anywhere
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	rec := &recorder{}
	client := mes.New(mes.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(ts.URL + "/emulator/entitlement/"),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
		HTTPClient:       rec,
	}, proto)
	return &env{w: w, srv: srv, client: client, rec: rec}
}

func (e *env) do(t *testing.T, fn func(s *world.State) error) {
	t.Helper()
	if err := e.w.Do(fn); err != nil {
		t.Fatal(err)
	}
}

func (e *env) advance(t *testing.T, d time.Duration) {
	t.Helper()
	if err := e.w.Advance(d); err != nil {
		t.Fatal(err)
	}
}

func (e *env) get(t *testing.T, in *mes.GetEntitlementsInput) *mes.GetEntitlementsOutput {
	t.Helper()
	out, err := e.client.GetEntitlements(context.Background(), in)
	if err != nil {
		t.Fatalf("GetEntitlements: %v", err)
	}
	return out
}

// all pages through a query with the SDK paginator.
func (e *env) all(t *testing.T, in *mes.GetEntitlementsInput, limit int32) (ents []types.Entitlement, pages int) {
	t.Helper()
	p := mes.NewGetEntitlementsPaginator(e.client, in, func(o *mes.GetEntitlementsPaginatorOptions) { o.Limit = limit })
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		if limit > 0 && len(out.Entitlements) > int(limit) {
			t.Fatalf("page %d has %d entitlements, limit %d", pages, len(out.Entitlements), limit)
		}
		ents = append(ents, out.Entitlements...)
		if pages > 10000 {
			t.Fatal("paginator does not end")
		}
	}
	return ents, pages
}

var seatsAdmins = []world.Dimension{{Key: "seats", Kind: "contract", Price: "10"}, {Key: "admins", Kind: "contract", Price: "50"}}

func createProduct(t *testing.T, s *world.State, concurrent bool, typ string, dims ...world.Dimension) *world.Product {
	t.Helper()
	if len(dims) == 0 {
		dims = slices.Clone(seatsAdmins)
	}
	p, err := s.CreateProduct(world.Product{Title: "Product", Type: typ, ConcurrentAgreements: concurrent, Dimensions: dims})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// buy has buyer accept a private offer for p with the quantities.
func buy(t *testing.T, s *world.State, p *world.Product, buyer string, q map[string]int64) *world.Agreement {
	t.Helper()
	if _, err := s.CreateBuyer(buyer); err != nil {
		t.Fatal(err)
	}
	o, err := s.CreatePrivateOffer(world.Offer{ProductID: p.ProductID, BuyerAccounts: []string{buyer}, Quantities: q, Duration: "P12M"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Accept(buyer, o.OfferID, world.AcceptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// row is an entitlement in comparable form.
type row struct {
	ProductCode, Dimension, CustomerIdentifier, Account, LicenseArn string
	Value                                                           int32
	Expiration                                                      int64 // unix seconds, 0 when absent
}

func rows(t *testing.T, ents []types.Entitlement) []row {
	t.Helper()
	out := make([]row, 0, len(ents))
	for _, e := range ents {
		r := row{ProductCode: aws.ToString(e.ProductCode), Dimension: aws.ToString(e.Dimension), CustomerIdentifier: aws.ToString(e.CustomerIdentifier),
			Account: aws.ToString(e.CustomerAWSAccountId), LicenseArn: aws.ToString(e.LicenseArn)}
		if e.Value == nil || e.Value.IntegerValue == nil || e.Value.DoubleValue != nil || e.Value.BooleanValue != nil || e.Value.StringValue != nil {
			t.Fatalf("entitlement %+v: Value must hold exactly an IntegerValue, got %+v", r, e.Value)
		}
		r.Value = *e.Value.IntegerValue
		if e.ExpirationDate != nil {
			r.Expiration = e.ExpirationDate.Unix()
		}
		out = append(out, r)
	}
	return out
}

// expect lists the entitlements the world should yield for agreement a.
func expect(s *world.State, p *world.Product, a *world.Agreement, dims ...string) []row {
	l := s.Licenses[a.LicenseArn]
	var out []row
	if len(dims) == 0 {
		for _, d := range p.Dimensions {
			if d.Kind == "contract" {
				dims = append(dims, d.Key)
			}
		}
	}
	slices.Sort(dims)
	for _, d := range dims {
		q, ok := a.Quantities[d]
		if !ok || q <= 0 {
			continue
		}
		r := row{ProductCode: p.ProductCode, Dimension: d, CustomerIdentifier: l.CustomerIdentifier, Account: l.AccountID, LicenseArn: l.Arn, Value: int32(q)}
		if a.EndTime != nil {
			r.Expiration = a.EndTime.Unix()
		}
		out = append(out, r)
	}
	return out
}

func sorted(rs []row) []row {
	slices.SortFunc(rs, func(a, b row) int {
		if c := strings.Compare(a.LicenseArn, b.LicenseArn); c != 0 {
			return c
		}
		return strings.Compare(a.Dimension, b.Dimension)
	})
	return rs
}

func equalRows(t *testing.T, got, want []row) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("entitlements:\n got %d: %+v\nwant %d: %+v", len(got), got, len(want), want)
	}
}

func filter(kv ...string) map[string][]string {
	m := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = append(m[kv[i]], kv[i+1])
	}
	return m
}

// wantAPIError checks the modeled error type, code and HTTP status.
func wantAPIError[E error](t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	var target E
	if !errors.As(err, &target) {
		t.Fatalf("want %T, got %T: %v", target, err, err)
	}
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != code {
		t.Errorf("error code = %v, want %s", err, code)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Errorf("HTTP status of %v, want %d", err, status)
	}
}

func TestGetEntitlements(t *testing.T) {
	t.Parallel()

	t.Run("active license yields one entitlement per purchased contract dimension", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			var want []row
			var code string
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, true, world.ProductSaaSContract)
				code = p.ProductCode
				a := buy(t, s, p, "444455556666", map[string]int64{"seats": 25, "admins": 3})
				want = expect(s, p, a)
				return nil
			})
			out := e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code)})
			got := rows(t, out.Entitlements)
			equalRows(t, got, want)
			if len(got) != 2 || got[0].Dimension != "admins" || got[1].Dimension != "seats" || got[1].Value != 25 {
				t.Errorf("want admins=3 then seats=25, got %+v", got)
			}
			if got[0].CustomerIdentifier != "" || got[0].Expiration == 0 {
				t.Errorf("Concurrent Agreements product: want no CustomerIdentifier and an ExpirationDate, got %+v", got[0])
			}
			if out.NextToken != nil {
				t.Errorf("NextToken = %q, want none", *out.NextToken)
			}
		})
	})

	t.Run("ExpirationDate is the agreement end time in whole seconds", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			var end time.Time
			var code string
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, true, world.ProductSaaSContract)
				code = p.ProductCode
				a := buy(t, s, p, "444455556666", map[string]int64{"seats": 1})
				end = *a.EndTime
				return nil
			})
			out := e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code)})
			if len(out.Entitlements) != 1 || out.Entitlements[0].ExpirationDate == nil {
				t.Fatalf("want one entitlement with an ExpirationDate, got %+v", out.Entitlements)
			}
			if got, want := *out.Entitlements[0].ExpirationDate, end.Truncate(time.Second); !got.Equal(want) {
				t.Errorf("ExpirationDate = %s, want %s", got, want)
			}
		})
	})

	t.Run("dimensions with zero or no quantity and usage dimensions yield nothing", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			var want []row
			var code string
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, true, world.ProductSaaSContractConsumption,
					world.Dimension{Key: "seats", Kind: "contract"}, world.Dimension{Key: "admins", Kind: "contract"},
					world.Dimension{Key: "storage", Kind: "contract"}, world.Dimension{Key: "api_calls", Kind: "usage"})
				code = p.ProductCode
				a := buy(t, s, p, "444455556666", map[string]int64{"seats": 5, "admins": 0})
				want = expect(s, p, a, "seats")
				return nil
			})
			equalRows(t, rows(t, e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code)}).Entitlements), want)
		})
	})

	t.Run("usage-only product has no entitlements", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			var code string
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, true, world.ProductSaaSUsage, world.Dimension{Key: "api_calls", Kind: "usage"})
				code = p.ProductCode
				buy(t, s, p, "444455556666", nil)
				return nil
			})
			out := e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code)})
			if len(out.Entitlements) != 0 || out.NextToken != nil {
				t.Errorf("want no entitlements, got %+v", out)
			}
		})
	})

	t.Run("unknown product code answers an empty result", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, true, world.ProductSaaSContract)
				buy(t, s, p, "444455556666", map[string]int64{"seats": 1})
				return nil
			})
			out := e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String("nosuchproductcode0000000")})
			if len(out.Entitlements) != 0 || out.NextToken != nil {
				t.Errorf("want an empty result, got %+v", out)
			}
		})
	})

	t.Run("legacy product carries CustomerIdentifier and filters by it", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			var code, ci1, ciCA string
			var want1 []row
			var caCode string
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, false, world.ProductSaaSContract)
				code = p.ProductCode
				a1 := buy(t, s, p, "444455556666", map[string]int64{"seats": 4})
				buy(t, s, p, "777788889999", map[string]int64{"seats": 9})
				ci1 = s.Buyers["444455556666"].CustomerIdentifiers[code]
				want1 = expect(s, p, a1)
				ca := createProduct(t, s, true, world.ProductSaaSContract)
				caCode = ca.ProductCode
				buy(t, s, ca, "444455556666", map[string]int64{"seats": 4})
				ciCA = ci1
				return nil
			})
			if ci1 == "" {
				t.Fatal("world gave the legacy buyer no customer identifier")
			}
			all := rows(t, e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code)}).Entitlements)
			if len(all) != 2 {
				t.Fatalf("want 2 entitlements, got %+v", all)
			}
			for _, r := range all {
				if r.CustomerIdentifier == "" {
					t.Errorf("legacy entitlement without CustomerIdentifier: %+v", r)
				}
			}
			got := rows(t, e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code),
				Filter: filter(entitlement.FilterCustomerIdentifier, ci1)}).Entitlements)
			equalRows(t, got, want1)
			if len(got) != 1 || got[0].CustomerIdentifier != ci1 || got[0].Account != "444455556666" {
				t.Errorf("CUSTOMER_IDENTIFIER filter: got %+v", got)
			}
			// Concurrent Agreements licenses have no customer identifier to match.
			out := e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(caCode), Filter: filter(entitlement.FilterCustomerIdentifier, ciCA)})
			if len(out.Entitlements) != 0 {
				t.Errorf("CUSTOMER_IDENTIFIER on a Concurrent Agreements product: got %+v", rows(t, out.Entitlements))
			}
		})
	})

	t.Run("filters OR values within a key and AND keys", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			var code, otherArn string
			byBuyer := map[string][]row{}
			arn := map[string]string{}
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, true, world.ProductSaaSContract)
				code = p.ProductCode
				for i, b := range []string{"111111111111", "222222222222", "333333333333"} {
					a := buy(t, s, p, b, map[string]int64{"seats": int64(10 + i), "admins": int64(1 + i)})
					byBuyer[b] = expect(s, p, a)
					arn[b] = a.LicenseArn
				}
				other := createProduct(t, s, true, world.ProductSaaSContract)
				otherArn = buy(t, s, other, "111111111111", map[string]int64{"seats": 1}).LicenseArn
				return nil
			})
			pick := func(buyers []string, dims ...string) []row {
				var out []row
				for _, b := range buyers {
					for _, r := range byBuyer[b] {
						if len(dims) == 0 || slices.Contains(dims, r.Dimension) {
							out = append(out, r)
						}
					}
				}
				return sorted(out)
			}
			cases := []struct {
				name   string
				filter map[string][]string
				want   []row
			}{
				{"no filter returns every license", nil, pick([]string{"111111111111", "222222222222", "333333333333"})},
				{"CUSTOMER_AWS_ACCOUNT_ID values are OR-ed",
					filter(entitlement.FilterCustomerAWSAccountID, "111111111111", entitlement.FilterCustomerAWSAccountID, "333333333333"),
					pick([]string{"111111111111", "333333333333"})},
				{"DIMENSION selects the dimension", filter(entitlement.FilterDimension, "admins"),
					pick([]string{"111111111111", "222222222222", "333333333333"}, "admins")},
				{"DIMENSION values are OR-ed", filter(entitlement.FilterDimension, "admins", entitlement.FilterDimension, "seats"),
					pick([]string{"111111111111", "222222222222", "333333333333"})},
				{"LICENSE_ARN values are OR-ed and unknown ARNs match nothing",
					filter(entitlement.FilterLicenseArn, arn["222222222222"], entitlement.FilterLicenseArn, "arn:aws:license-manager::999999999999:license:l-nope"),
					pick([]string{"222222222222"})},
				{"LICENSE_ARN of another product matches nothing", filter(entitlement.FilterLicenseArn, otherArn), nil},
				{"account AND dimension",
					filter(entitlement.FilterCustomerAWSAccountID, "222222222222", entitlement.FilterDimension, "seats"),
					pick([]string{"222222222222"}, "seats")},
				{"LICENSE_ARN AND a different account matches nothing",
					filter(entitlement.FilterLicenseArn, arn["111111111111"], entitlement.FilterCustomerAWSAccountID, "222222222222"), nil},
				{"LICENSE_ARN AND its account AND a dimension",
					filter(entitlement.FilterLicenseArn, arn["111111111111"], entitlement.FilterCustomerAWSAccountID, "111111111111",
						entitlement.FilterDimension, "admins"),
					pick([]string{"111111111111"}, "admins")},
				{"unknown dimension matches nothing", filter(entitlement.FilterDimension, "nope"), nil},
				{"unknown account matches nothing", filter(entitlement.FilterCustomerAWSAccountID, "999999999999"), nil},
			}
			for _, c := range cases {
				got := rows(t, e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code), Filter: c.filter}).Entitlements)
				t.Run(c.name, func(t *testing.T) { equalRows(t, got, c.want) })
			}
		})
	})

	t.Run("results are ordered by license ARN then dimension", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			var code string
			var want []row
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, true, world.ProductSaaSContract)
				code = p.ProductCode
				for i := range 8 {
					a := buy(t, s, p, fmt.Sprintf("5555555555%02d", i), map[string]int64{"seats": 1, "admins": 2})
					want = append(want, expect(s, p, a)...)
				}
				return nil
			})
			got := rows(t, e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code)}).Entitlements)
			equalRows(t, got, sorted(want))
		})
	})

	t.Run("concurrent agreements give one buyer two licenses told apart by LICENSE_ARN", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			var code string
			var a1, a2 []row
			var arn2 string
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, true, world.ProductSaaSContract)
				code = p.ProductCode
				x := buy(t, s, p, "444455556666", map[string]int64{"seats": 10})
				y := buy(t, s, p, "444455556666", map[string]int64{"seats": 50, "admins": 5})
				if x.LicenseArn == y.LicenseArn {
					t.Fatal("world gave both agreements one license")
				}
				a1, a2, arn2 = expect(s, p, x), expect(s, p, y), y.LicenseArn
				return nil
			})
			both := rows(t, e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code),
				Filter: filter(entitlement.FilterCustomerAWSAccountID, "444455556666")}).Entitlements)
			equalRows(t, both, sorted(append(slices.Clone(a1), a2...)))
			one := rows(t, e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code),
				Filter: filter(entitlement.FilterLicenseArn, arn2)}).Entitlements)
			equalRows(t, one, a2)
		})
	})

	t.Run("cancelled license stays through the final window then disappears", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			var code, agreement, keep string
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, true, world.ProductSaaSContract)
				code = p.ProductCode
				agreement = buy(t, s, p, "444455556666", map[string]int64{"seats": 10}).ID
				keep = buy(t, s, p, "777788889999", map[string]int64{"seats": 3}).LicenseArn
				return nil
			})
			e.advance(t, 10*time.Minute)
			var endedAt time.Time
			var arn string
			e.do(t, func(s *world.State) error {
				a, err := s.Cancel(agreement)
				if err != nil {
					return err
				}
				endedAt, arn = *a.EndedAt, a.LicenseArn
				return nil
			})
			in := &mes.GetEntitlementsInput{ProductCode: aws.String(code), Filter: filter(entitlement.FilterLicenseArn, arn)}
			ending := e.get(t, in).Entitlements
			if len(ending) != 1 || ending[0].ExpirationDate == nil || !ending[0].ExpirationDate.Equal(endedAt.Truncate(time.Second)) {
				t.Fatalf("during the final window want the entitlement expiring at %s, got %+v", endedAt, rows(t, ending))
			}
			e.advance(t, 59*time.Minute)
			if n := len(e.get(t, in).Entitlements); n != 1 {
				t.Fatalf("59 minutes into the final window: %d entitlements, want 1", n)
			}
			e.advance(t, 2*time.Minute)
			if got := e.get(t, in).Entitlements; len(got) != 0 {
				t.Errorf("after the final window want none, got %+v", rows(t, got))
			}
			rest := rows(t, e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code)}).Entitlements)
			if len(rest) != 1 || rest[0].LicenseArn != keep {
				t.Errorf("other licenses must stay, got %+v", rest)
			}
		})
	})

	t.Run("future-dated agreement appears only at its start", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			var code, agreement string
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, true, world.ProductSaaSContract)
				code = p.ProductCode
				if _, err := s.CreateBuyer("444455556666"); err != nil {
					return err
				}
				o, err := s.CreatePrivateOffer(world.Offer{ProductID: p.ProductID, BuyerAccounts: []string{"444455556666"},
					Quantities: map[string]int64{"seats": 7}, Duration: "P12M"})
				if err != nil {
					return err
				}
				start := s.Now().Add(48 * time.Hour)
				a, err := s.Accept("444455556666", o.OfferID, world.AcceptOptions{StartDate: &start})
				if err != nil {
					return err
				}
				agreement = a.ID
				return nil
			})
			in := &mes.GetEntitlementsInput{ProductCode: aws.String(code)}
			if got := e.get(t, in).Entitlements; len(got) != 0 {
				t.Fatalf("before the start want none, got %+v", rows(t, got))
			}
			e.advance(t, 47*time.Hour)
			if got := e.get(t, in).Entitlements; len(got) != 0 {
				t.Fatalf("an hour before the start want none, got %+v", rows(t, got))
			}
			e.advance(t, 2*time.Hour)
			var want []row
			e.do(t, func(s *world.State) error {
				a := s.Agreements[agreement]
				var p *world.Product
				for _, x := range s.Products {
					p = x
				}
				want = expect(s, p, a)
				return nil
			})
			if len(want) != 1 {
				t.Fatalf("world did not provision the future-dated agreement: %+v", want)
			}
			equalRows(t, rows(t, e.get(t, in).Entitlements), want)
		})
	})
}

func TestPagination(t *testing.T) {
	t.Parallel()

	// setup creates 20 buyers with two dimensions each: 40 entitlements.
	setup := func(t *testing.T, e *env) (code string, want []row) {
		e.do(t, func(s *world.State) error {
			p := createProduct(t, s, true, world.ProductSaaSContract)
			code = p.ProductCode
			for i := range 20 {
				a := buy(t, s, p, fmt.Sprintf("6666666666%02d", i), map[string]int64{"seats": int64(i + 1), "admins": 1})
				want = append(want, expect(s, p, a)...)
			}
			return nil
		})
		return code, sorted(want)
	}

	t.Run("paginator walks more than 25 entitlements with the default page size", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			code, want := setup(t, e)
			first := e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code)})
			if len(first.Entitlements) != entitlement.MaxResultsLimit || first.NextToken == nil {
				t.Fatalf("first page: %d entitlements, NextToken %v; want 25 and a token", len(first.Entitlements), first.NextToken)
			}
			got, pages := e.all(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code)}, 0)
			equalRows(t, rows(t, got), want)
			if pages != 2 {
				t.Errorf("pages = %d, want 2", pages)
			}
		})
	})

	t.Run("paginator honours MaxResults", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			code, want := setup(t, e)
			got, pages := e.all(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code), MaxResults: aws.Int32(7)}, 7)
			equalRows(t, rows(t, got), want)
			if pages != 6 {
				t.Errorf("pages = %d, want 6", pages)
			}
			// A page size that divides the total exactly ends without an empty page.
			_, pages = e.all(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code)}, 20)
			if pages != 2 {
				t.Errorf("MaxResults 20 over 40: pages = %d, want 2", pages)
			}
		})
	})

	t.Run("filtered pagination keeps the filter", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			code, all := setup(t, e)
			var want []row
			for _, r := range all {
				if r.Dimension == "seats" {
					want = append(want, r)
				}
			}
			got, _ := e.all(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code), Filter: filter(entitlement.FilterDimension, "seats")}, 3)
			equalRows(t, rows(t, got), want)
		})
	})

	t.Run("licenses added between pages are neither repeated nor make others skip", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			code, original := setup(t, e)
			in := &mes.GetEntitlementsInput{ProductCode: aws.String(code), MaxResults: aws.Int32(10)}
			page := e.get(t, in)
			seen := map[row]bool{}
			for _, r := range rows(t, page.Entitlements) {
				seen[r] = true
			}
			cursorArn := original[9].LicenseArn
			var added []row
			e.do(t, func(s *world.State) error {
				var p *world.Product
				for _, x := range s.Products {
					p = x
				}
				for i := range 10 {
					a := buy(t, s, p, fmt.Sprintf("8888888888%02d", i), map[string]int64{"seats": 1})
					added = append(added, expect(s, p, a)...)
				}
				return nil
			})
			for page.NextToken != nil {
				in.NextToken = page.NextToken
				page = e.get(t, in)
				for _, r := range rows(t, page.Entitlements) {
					if seen[r] {
						t.Fatalf("entitlement repeated: %+v", r)
					}
					seen[r] = true
				}
			}
			for _, r := range original {
				if !seen[r] {
					t.Errorf("entitlement skipped: %+v", r)
				}
			}
			for _, r := range added {
				if after := r.LicenseArn > cursorArn; seen[r] != after {
					t.Errorf("added entitlement %+v: seen %v, want %v (it sorts after the cursor: %v)", r, seen[r], after, after)
				}
			}
		})
	})

	t.Run("sparse filter over many licenses pages through short pages", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			var code string
			var want []row
			e.do(t, func(s *world.State) error {
				p := createProduct(t, s, true, world.ProductSaaSContract)
				code = p.ProductCode
				if _, err := s.CreateBuyer("444455556666"); err != nil {
					return err
				}
				for i := range entitlement.ScanBudget + 200 {
					q := map[string]int64{"seats": 1}
					if i%600 == 0 {
						q["admins"] = int64(i + 1)
					}
					a, err := s.Accept("444455556666", p.PublicOfferID, world.AcceptOptions{Quantities: q})
					if err != nil {
						return err
					}
					want = append(want, expect(s, p, a, "admins")...)
				}
				return nil
			})
			got, pages := e.all(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code), Filter: filter(entitlement.FilterDimension, "admins")}, 0)
			equalRows(t, rows(t, got), sorted(want))
			if pages < 2 {
				t.Errorf("pages = %d: a scan over %d licenses must stop at the budget of %d", pages, entitlement.ScanBudget+200, entitlement.ScanBudget)
			}
		})
	})

	t.Run("NextToken is bound to the query", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			code, _ := setup(t, e)
			first := e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code), MaxResults: aws.Int32(5)})
			if first.NextToken == nil {
				t.Fatal("want a NextToken")
			}
			// The page size may change between pages.
			if out := e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code), MaxResults: aws.Int32(9), NextToken: first.NextToken}); len(out.Entitlements) != 9 {
				t.Errorf("second page with MaxResults 9 has %d entitlements", len(out.Entitlements))
			}
			other := newEnv(t, proto)
			for name, in := range map[string]*mes.GetEntitlementsInput{
				"with a filter added":      {ProductCode: aws.String(code), NextToken: first.NextToken, Filter: filter(entitlement.FilterDimension, "seats")},
				"with another product":     {ProductCode: aws.String("anotherproductcode"), NextToken: first.NextToken},
				"garbage":                  {ProductCode: aws.String(code), NextToken: aws.String("bm90LWEtdG9rZW4")},
				"whitespace":               {ProductCode: aws.String(code), NextToken: aws.String("a b")},
				"tampered":                 {ProductCode: aws.String(code), NextToken: aws.String(tamper(*first.NextToken))},
				"with an empty string":     {ProductCode: aws.String(code), NextToken: aws.String("")},
				"issued by another server": {ProductCode: aws.String(code), NextToken: first.NextToken},
			} {
				client := e.client
				if strings.Contains(name, "another server") {
					client = other.client
				}
				_, err := client.GetEntitlements(context.Background(), in)
				t.Run(name, func(t *testing.T) {
					wantAPIError[*types.InvalidParameterException](t, err, entitlement.CodeInvalidParameter, 400)
				})
			}
		})
	})
}

func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) - 1
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestInvalidParameters(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
		e := newEnv(t, proto)
		code := "examplecode1234567890abcd"
		cases := map[string]*mes.GetEntitlementsInput{
			"empty ProductCode":     {ProductCode: aws.String("")},
			"ProductCode over 255":  {ProductCode: aws.String(strings.Repeat("p", 256))},
			"unknown filter key":    {ProductCode: aws.String(code), Filter: map[string][]string{"PRODUCT_CODE": {"x"}}},
			"filter with no values": {ProductCode: aws.String(code), Filter: map[string][]string{entitlement.FilterDimension: {}}},
			"customer identifier and account together": {ProductCode: aws.String(code),
				Filter: filter(entitlement.FilterCustomerIdentifier, "abc", entitlement.FilterCustomerAWSAccountID, "444455556666")},
			"MaxResults 0":  {ProductCode: aws.String(code), MaxResults: aws.Int32(0)},
			"MaxResults 26": {ProductCode: aws.String(code), MaxResults: aws.Int32(26)},
			"MaxResults -1": {ProductCode: aws.String(code), MaxResults: aws.Int32(-1)},
			"bad NextToken": {ProductCode: aws.String(code), NextToken: aws.String("x")},
		}
		for name, in := range cases {
			_, err := e.client.GetEntitlements(context.Background(), in)
			_, _, hdr := e.rec.last()
			t.Run(name, func(t *testing.T) {
				wantAPIError[*types.InvalidParameterException](t, err, entitlement.CodeInvalidParameter, 400)
				var ipe *types.InvalidParameterException
				if errors.As(err, &ipe) && ipe.ErrorMessage() == "" {
					t.Error("error has no message")
				}
				if strings.HasPrefix(hdr.Get("Content-Type"), "application/x-amz-json") && hdr.Get("X-Amzn-Errortype") != entitlement.CodeInvalidParameter {
					t.Errorf("JSON error without X-Amzn-ErrorType: %v", hdr)
				}
			})
		}
		// The SDK itself refuses a missing ProductCode before sending.
		if _, err := e.client.GetEntitlements(context.Background(), &mes.GetEntitlementsInput{}); err == nil {
			t.Error("missing ProductCode: want a client-side validation error")
		}
	})
}

func TestFaults(t *testing.T) {
	t.Parallel()

	setFaults := func(t *testing.T, e *env, f world.Fault) string {
		var code string
		e.do(t, func(s *world.State) error {
			p := createProduct(t, s, true, world.ProductSaaSContract)
			code = p.ProductCode
			buy(t, s, p, "444455556666", map[string]int64{"seats": 1})
			s.SetFaults(map[string]world.Fault{entitlement.OperationGetEntitlements: f}, 7)
			return nil
		})
		return code
	}

	t.Run("injected throttling answers ThrottlingException 400", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			code := setFaults(t, e, world.Fault{ThrottleShare: 1})
			_, err := e.client.GetEntitlements(context.Background(), &mes.GetEntitlementsInput{ProductCode: aws.String(code)})
			wantAPIError[*types.ThrottlingException](t, err, entitlement.CodeThrottling, 400)
			// Throttling is decided before the input is validated.
			_, err = e.client.GetEntitlements(context.Background(), &mes.GetEntitlementsInput{ProductCode: aws.String(""), MaxResults: aws.Int32(99)})
			wantAPIError[*types.ThrottlingException](t, err, entitlement.CodeThrottling, 400)
		})
	})

	t.Run("injected errors answer InternalServiceErrorException 500", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			code := setFaults(t, e, world.Fault{ErrorShare: 1})
			_, err := e.client.GetEntitlements(context.Background(), &mes.GetEntitlementsInput{ProductCode: aws.String(code)})
			wantAPIError[*types.InternalServiceErrorException](t, err, entitlement.CodeInternalServiceError, 500)
		})
	})

	t.Run("faults on other operations do not apply", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			code := setFaults(t, e, world.Fault{})
			e.do(t, func(s *world.State) error {
				s.SetFaults(map[string]world.Fault{"BatchMeterUsage": {ThrottleShare: 1, ErrorShare: 1}}, 1)
				return nil
			})
			if n := len(e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String(code)}).Entitlements); n != 1 {
				t.Errorf("want 1 entitlement, got %d", n)
			}
		})
	})

	t.Run("exceeding the seller's request rate is throttled", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto, func(c *world.Config) { c.ThrottleRPS = 1 })
			code := setFaults(t, e, world.Fault{})
			e.do(t, func(s *world.State) error { s.SetFaults(nil, 1); return nil })
			if _, err := e.client.GetEntitlements(context.Background(), &mes.GetEntitlementsInput{ProductCode: aws.String(code)}); err != nil {
				t.Fatalf("first call: %v", err)
			}
			var err error
			for range 3 {
				if _, err = e.client.GetEntitlements(context.Background(), &mes.GetEntitlementsInput{ProductCode: aws.String(code)}); err != nil {
					break
				}
			}
			wantAPIError[*types.ThrottlingException](t, err, entitlement.CodeThrottling, 400)
		})
	})

	t.Run("injected latency is slept without holding the world", func(t *testing.T) {
		forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
			e := newEnv(t, proto)
			// An hour: the call is certainly still sleeping while the world is
			// used below; cancelling its context ends it.
			code := setFaults(t, e, world.Fault{Latency: time.Hour})
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel) // a failure below must not leave the call sleeping
			done := make(chan error, 1)
			go func() {
				_, err := e.client.GetEntitlements(ctx, &mes.GetEntitlementsInput{ProductCode: aws.String(code)})
				done <- err
			}()
			// The server has the call once its fault decision is taken: it
			// then waits for ctx, and a world held meanwhile blocks e.do.
			for e.srv.Sleeping() == 0 {
				runtime.Gosched()
			}
			locked := make(chan struct{})
			go func() {
				e.do(t, func(*world.State) error { return nil })
				close(locked)
			}()
			select {
			case <-locked:
			case err := <-done:
				t.Fatalf("the call ended before its injected latency: %v", err)
			case <-time.After(time.Minute): // a hang detector, not a measurement
				t.Fatal("the world stayed locked while a call slept its injected latency")
			}
			select {
			case err := <-done:
				t.Fatalf("the call ended before its injected latency: %v", err)
			default:
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled call: %v", err)
			}
		})
	})
}

func TestConcurrency(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, proto func(*mes.Options)) {
		e := newEnv(t, proto)
		var p *world.Product
		e.do(t, func(s *world.State) error {
			p = createProduct(t, s, true, world.ProductSaaSContract)
			buy(t, s, p, "444455556666", map[string]int64{"seats": 1})
			return nil
		})
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Add(1)
		go func() { // licenses keep arriving while clients page
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e.w.Do(func(s *world.State) error {
					b := fmt.Sprintf("3%011d", i)
					s.CreateBuyer(b)
					_, err := s.Accept(b, p.PublicOfferID, world.AcceptOptions{Quantities: map[string]int64{"seats": 2}})
					return err
				})
			}
		}()
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pg := mes.NewGetEntitlementsPaginator(e.client, &mes.GetEntitlementsInput{ProductCode: aws.String(p.ProductCode), MaxResults: aws.Int32(3)})
				seen := map[string]bool{}
				for n := 0; pg.HasMorePages() && n < 20; n++ {
					out, err := pg.NextPage(context.Background())
					if err != nil {
						errs <- err
						return
					}
					for _, x := range out.Entitlements {
						k := aws.ToString(x.LicenseArn) + "|" + aws.ToString(x.Dimension)
						if seen[k] {
							errs <- fmt.Errorf("entitlement %s repeated", k)
							return
						}
						seen[k] = true
					}
				}
			}()
		}
		time.Sleep(200 * time.Millisecond)
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestWire(t *testing.T) {
	t.Parallel()

	t.Run("default client speaks RPC v2 CBOR under a path prefix", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, protocols[0].opt)
		e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String("examplecode")})
		req, status, hdr := e.rec.last()
		if want := "/emulator/entitlement/service/AWSMPEntitlementService/operation/GetEntitlements"; req.URL.Path != want {
			t.Errorf("request path %q, want %q", req.URL.Path, want)
		}
		if req.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
			t.Errorf("request headers %v", req.Header)
		}
		if status != 200 || hdr.Get("Smithy-Protocol") != "rpc-v2-cbor" || hdr.Get("Content-Type") != "application/cbor" || hdr.Get("X-Amzn-Requestid") == "" {
			t.Errorf("response %d %v", status, hdr)
		}
		_, err := e.client.GetEntitlements(context.Background(), &mes.GetEntitlementsInput{ProductCode: aws.String("")})
		if _, status, hdr := e.rec.last(); err == nil || status != 400 || hdr.Get("Smithy-Protocol") != "rpc-v2-cbor" || hdr.Get("Content-Type") != "application/cbor" {
			t.Errorf("CBOR error response %d %v (%v)", status, hdr, err)
		}
	})

	t.Run("awsJson1_1 client speaks AWS JSON 1.1", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, protocols[1].opt)
		e.get(t, &mes.GetEntitlementsInput{ProductCode: aws.String("examplecode")})
		req, status, hdr := e.rec.last()
		if req.Header.Get("X-Amz-Target") != "AWSMPEntitlementService.GetEntitlements" || req.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
			t.Errorf("request headers %v", req.Header)
		}
		if status != 200 || hdr.Get("Content-Type") != "application/x-amz-json-1.1" || hdr.Get("Smithy-Protocol") != "" {
			t.Errorf("response %d %v", status, hdr)
		}
	})
}
