// Package entitlement emulates the AWS Marketplace Entitlement Service
// (AWSMPEntitlementService, API version 2017-01-11) on top of the emulator's
// world: GetEntitlements over Smithy RPC v2 CBOR (what the Go SDK sends by
// default since marketplaceentitlementservice v1.37.0) and over AWS JSON 1.1
// (what older SDKs and other languages send).
//
// Entitlements are derived from the world on every call. For each license of
// the product that is active or ending (provisioned and not yet
// deprovisioned) there is one entitlement per contract dimension of the
// product that the license's agreement bought a positive quantity of:
//
//   - Value.IntegerValue is the agreement's quantity (clamped to int32, the
//     model's Integer);
//   - ExpirationDate is the agreement's end time, or when it ended if it ended
//     earlier (a cancelled agreement in its final window), truncated to whole
//     seconds; it is omitted when the agreement has neither;
//   - CustomerAWSAccountId and LicenseArn are always set, CustomerIdentifier
//     only for licenses of legacy (non Concurrent Agreements) products.
//
// Usage dimensions carry no entitlements, so usage-only products have none.
// Results are ordered by license ARN, then dimension key. An unknown product
// code is not an error: the answer is empty, as AWS answers for a product the
// caller has no entitlements on.
//
// Filters: keys CUSTOMER_IDENTIFIER, DIMENSION, CUSTOMER_AWS_ACCOUNT_ID and
// LICENSE_ARN; values are OR-ed within a key and keys are AND-ed. An unknown
// key, a key with no values, and CUSTOMER_IDENTIFIER together with
// CUSTOMER_AWS_ACCOUNT_ID are InvalidParameterExceptions. MaxResults is 1–25
// (default 25). NextToken is opaque, authenticated and bound to the product
// code and filters of the query that produced it (MaxResults may change
// between pages); a token that was not issued for the query is an
// InvalidParameterException. Paging is by position (license ARN, dimension),
// so licenses added or removed between pages neither repeat nor skip
// entitlements that stay. A call examines at most a bounded number of
// licenses; a sparse filter over many licenses may therefore answer a page
// that is short or empty but carries a NextToken, which AWS documents too:
// keep paging until NextToken is absent.
//
// Every call draws the world's fault injection for "GetEntitlements" and,
// unless a fault was injected, takes one request from the seller account's
// quota (world.Config.ThrottleRPS); injected latency is slept outside the
// world's lock.
package entitlement

import (
	"context"
	"math"
	"net/http"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
)

// Service and operation names, as the wire protocols spell them.
const (
	ServiceName              = "AWSMPEntitlementService"
	OperationGetEntitlements = "GetEntitlements"
)

// Error codes the server answers. The first three are the service's modeled
// errors; the others are protocol errors.
const (
	CodeInvalidParameter      = "InvalidParameterException"     // 400
	CodeThrottling            = "ThrottlingException"           // 400
	CodeInternalServiceError  = "InternalServiceErrorException" // 500
	CodeSerialization         = "SerializationException"        // 400: undecodable body or wrongly typed member
	CodeUnknownOperation      = "UnknownOperationException"     // 400/404/405
	CodeUnsupportedMediaType  = "UnsupportedMediaTypeException" // 415
	CodeRequestEntityTooLarge = "RequestEntityTooLargeException"
)

// Filter keys of GetEntitlements.
const (
	FilterCustomerIdentifier   = "CUSTOMER_IDENTIFIER"
	FilterDimension            = "DIMENSION"
	FilterCustomerAWSAccountID = "CUSTOMER_AWS_ACCOUNT_ID"
	FilterLicenseArn           = "LICENSE_ARN"
)

// Limits.
const (
	// MaxBodyBytes is the largest request body accepted (413 beyond).
	MaxBodyBytes = 1 << 20
	// MaxResultsLimit is the largest and default page size.
	MaxResultsLimit = 25
	// ScanBudget is how many licenses one call examines at most before it
	// answers what it has with a NextToken.
	ScanBudget = 1000
	// maxProductCodeLen is the model's length limit of ProductCode.
	maxProductCodeLen = 255
	// maxTokenLen bounds NextToken before it is decoded.
	maxTokenLen = 4096
)

// Server serves the Entitlement Service from a world. It is safe for
// concurrent use.
type Server struct {
	w        *world.World
	tokenKey [32]byte

	// idx is the per-product license index. It is read and rebuilt only
	// inside w.Do, so the world's lock guards it.
	idx *licenseIndex

	sleeping atomic.Int64 // calls sleeping injected latency
}

// Sleeping is how many calls are sleeping injected latency right now, past
// their fault decision: a test waits on it instead of on the wall clock.
func (srv *Server) Sleeping() int64 { return srv.sleeping.Load() }

// New returns a server answering from w.
func New(w *world.World) *Server {
	srv := &Server{w: w}
	randomKey(srv.tokenKey[:])
	return srv
}

// query is a validated GetEntitlements request.
type query struct {
	productCode string
	// Filter values as sets; nil when the key is absent.
	customers, dims, accounts, arns map[string]bool
	arnList                         []string // sorted LICENSE_ARN values
	pageSize                        int
	after                           *cursor
	fingerprint                     [32]byte
}

// validate checks a type-checked request against the model and the service's
// rules and resolves its NextToken.
func (srv *Server) validate(in input) (query, *apiError) {
	q := query{productCode: in.productCode, pageSize: MaxResultsLimit}
	if !in.hasProductCode {
		return q, invalidParameter("ProductCode is required")
	}
	if n := len(in.productCode); n < 1 || n > maxProductCodeLen {
		return q, invalidParameter("ProductCode must be 1 to %d characters long", maxProductCodeLen)
	}
	if in.hasMaxResults {
		if in.maxResults < 1 || in.maxResults > MaxResultsLimit {
			return q, invalidParameter("MaxResults must be between 1 and %d", MaxResultsLimit)
		}
		q.pageSize = int(in.maxResults)
	}
	for key, vals := range in.filter {
		if len(vals) == 0 {
			return q, invalidParameter("Filter %s must have at least one value", quote(key))
		}
		set := make(map[string]bool, len(vals))
		for _, v := range vals {
			set[v] = true
		}
		switch key {
		case FilterCustomerIdentifier:
			q.customers = set
		case FilterDimension:
			q.dims = set
		case FilterCustomerAWSAccountID:
			q.accounts = set
		case FilterLicenseArn:
			q.arns = set
			q.arnList = sortedSet(set)
		default:
			return q, invalidParameter("Filter key %s is not one of %s, %s, %s, %s", quote(key),
				FilterCustomerIdentifier, FilterDimension, FilterCustomerAWSAccountID, FilterLicenseArn)
		}
	}
	if q.customers != nil && q.accounts != nil {
		return q, invalidParameter("Filter keys %s and %s are mutually exclusive", FilterCustomerIdentifier, FilterCustomerAWSAccountID)
	}
	q.fingerprint = fingerprint(q)
	if in.hasNextToken {
		c, err := srv.decodeToken(in.nextToken, q.fingerprint)
		if err != nil {
			return q, err
		}
		q.after = c
	}
	return q, nil
}

func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// getEntitlements runs one call: fault injection and quota inside the world's
// lock, then the query unless an input error or a fault decided the answer;
// injected latency is slept after the lock is released.
func (srv *Server) getEntitlements(ctx context.Context, q query, inputErr *apiError) (*output, *apiError) {
	var (
		dec     world.Decision
		allowed = true
		out     *output
	)
	_ = srv.w.Read(func(s *world.State) error {
		dec = s.Inject(OperationGetEntitlements)
		if dec.Throttle || dec.Fail {
			return nil
		}
		if allowed = s.Allow(s.Config.SellerAccountID, OperationGetEntitlements); !allowed || inputErr != nil {
			return nil
		}
		out = srv.run(s, q)
		return nil
	})
	if dec.Latency > 0 {
		srv.sleeping.Add(1)
		t := time.NewTimer(dec.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		srv.sleeping.Add(-1)
	}
	switch {
	case dec.Throttle || !allowed:
		return nil, &apiError{code: CodeThrottling, status: http.StatusBadRequest, message: "Rate exceeded"}
	case dec.Fail:
		return nil, &apiError{code: CodeInternalServiceError, status: http.StatusInternalServerError,
			message: "An internal error has occurred (injected fault). Retry your request."}
	case inputErr != nil:
		return nil, inputErr
	}
	return out, nil
}

// entitlement is one result row.
type entitlement struct {
	productCode, dimension, customerIdentifier, account, licenseArn string
	value                                                           int32
	expiration                                                      *time.Time
}

// output is a GetEntitlements result.
type output struct {
	entitlements []entitlement
	nextToken    string
}

// run answers a validated query from the state. Called inside Do.
func (srv *Server) run(s *world.State, q query) *output {
	for attempt := 0; ; attempt++ {
		out, stale := srv.runOnce(s, q)
		if !stale || attempt > 0 {
			return out
		}
		srv.idx = nil // the index disagreed with the state: rebuild and retry
	}
}

func (srv *Server) runOnce(s *world.State, q query) (out *output, stale bool) {
	out = &output{}
	var product *world.Product
	for _, p := range s.Products {
		if p.ProductCode == q.productCode {
			product = p
			break
		}
	}
	if product == nil {
		return out, false
	}
	var dims []string
	for _, d := range product.Dimensions {
		if d.Kind == "contract" && (q.dims == nil || q.dims[d.Key]) {
			dims = append(dims, d.Key)
		}
	}
	if len(dims) == 0 {
		return out, false
	}
	slices.Sort(dims)

	fromIndex := q.arns == nil
	cands := q.arnList
	if fromIndex {
		cands = srv.index(s).candidates(q)
	}

	start := 0
	if q.after != nil {
		start = sort.SearchStrings(cands, q.after.arn)
		if q.after.wholeLicense && start < len(cands) && cands[start] == q.after.arn {
			start++
		}
	}

	scanned := 0
	for i := start; i < len(cands); i++ {
		if scanned == ScanBudget {
			out.nextToken = srv.encodeToken(q.fingerprint, cursor{arn: cands[i-1], wholeLicense: true})
			return out, false
		}
		scanned++
		arn := cands[i]
		l := s.Licenses[arn]
		if l == nil || l.ProductCode != q.productCode {
			if fromIndex {
				return nil, true
			}
			continue
		}
		if !q.matches(l) {
			continue
		}
		a := s.Agreements[l.AgreementID]
		if a == nil {
			continue
		}
		for _, dim := range dims {
			if q.after != nil && arn == q.after.arn && !q.after.wholeLicense && dim <= q.after.dim {
				continue
			}
			qty, ok := a.Quantities[dim]
			if !ok || qty <= 0 {
				continue
			}
			if len(out.entitlements) == q.pageSize {
				last := out.entitlements[len(out.entitlements)-1]
				out.nextToken = srv.encodeToken(q.fingerprint, cursor{arn: last.licenseArn, dim: last.dimension})
				return out, false
			}
			out.entitlements = append(out.entitlements, entitlement{
				productCode: product.ProductCode, dimension: dim, customerIdentifier: l.CustomerIdentifier,
				account: l.AccountID, licenseArn: l.Arn, value: clampInt32(qty), expiration: expiration(a),
			})
		}
	}
	return out, false
}

// matches applies the filters other than DIMENSION to a license and checks
// that it is provisioned and not deprovisioned.
func (q *query) matches(l *world.License) bool {
	if l.State != world.LicenseActive && l.State != world.LicenseEnding {
		return false
	}
	if q.arns != nil && !q.arns[l.Arn] {
		return false
	}
	if q.accounts != nil && !q.accounts[l.AccountID] {
		return false
	}
	if q.customers != nil && (l.CustomerIdentifier == "" || !q.customers[l.CustomerIdentifier]) {
		return false
	}
	return true
}

// expiration is when the agreement ends: its end time, or when it ended if
// that was earlier; whole seconds.
func expiration(a *world.Agreement) *time.Time {
	t := a.EndTime
	if a.EndedAt != nil && (t == nil || a.EndedAt.Before(*t)) {
		t = a.EndedAt
	}
	if t == nil {
		return nil
	}
	e := t.UTC().Truncate(time.Second)
	return &e
}

func clampInt32(v int64) int32 {
	switch {
	case v > math.MaxInt32:
		return math.MaxInt32
	case v < math.MinInt32:
		return math.MinInt32
	}
	return int32(v)
}
