package entitlement

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
)

// Query asks what a tenant or a license may use now. Exactly one of TenantID and
// License is set; Dimension narrows the answer to one dimension.
type Query struct {
	TenantID string
	// License is a LicenseArn or a license id (l-…).
	License   string
	Dimension string
}

// Value is an entitlement's value as GetEntitlements returned it: exactly one
// field is set (none when AWS sent no value).
type Value struct {
	Integer *int64   `json:"integer,omitempty"`
	Double  *float64 `json:"double,omitempty"`
	Boolean *bool    `json:"boolean,omitempty"`
	String  *string  `json:"string,omitempty"`
}

// decode parses a stored value; the common {"integer":n} is parsed by hand
// because cache misses decode one per entitlement.
func (v *Value) decode(raw string) error {
	if rest, ok := strings.CutPrefix(raw, `{"integer":`); ok {
		if digits, ok := strings.CutSuffix(rest, "}"); ok {
			if n, err := strconv.ParseInt(digits, 10, 64); err == nil {
				v.Integer = &n
				return nil
			}
		}
	}
	return json.Unmarshal([]byte(raw), v)
}

// truthy reports whether the value grants something: a non-zero number, true,
// or a non-empty string.
func (v Value) truthy() bool {
	switch {
	case v.Integer != nil:
		return *v.Integer != 0
	case v.Double != nil:
		return *v.Double != 0
	case v.Boolean != nil:
		return *v.Boolean
	case v.String != nil:
		return *v.String != ""
	}
	return false
}

// Dimension kinds, as products declare them.
const (
	KindContract = "contract"
	KindUsage    = "usage"
)

// EntitlementAnswer is one dimension of one license.
type EntitlementAnswer struct {
	Dimension string `json:"dimension"`
	// Kind is contract (an entitlement AWS returned) or usage (metered; allowed
	// whenever the license is).
	Kind      string     `json:"kind" enum:"contract,usage"`
	Value     *Value     `json:"value,omitempty" doc:"The last fetched value; absent for usage dimensions and dimensions without an entitlement."`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Allowed   bool       `json:"allowed"`
	Reason    string     `json:"reason,omitempty" doc:"Why the dimension is not allowed."`

	expired bool
}

// LicenseAnswer is what one license allows now.
type LicenseAnswer struct {
	LicenseArn  string `json:"licenseArn"`
	LicenseID   string `json:"licenseId"`
	AgreementID string `json:"agreementId,omitempty"`
	// State is the ledger state: pending, active, ending, deprovisioned, or
	// unknown for a tenant's license no event has told Concord about yet.
	State string `json:"state"`
	// Allowed: the license is active and, when the query names a dimension,
	// that dimension is allowed.
	Allowed      bool                `json:"allowed"`
	Reason       string              `json:"reason,omitempty"`
	Entitlements []EntitlementAnswer `json:"entitlements"`
	// SourceTime is when the entitlements were last fetched from AWS (null: never).
	SourceTime *time.Time `json:"sourceTime"`
	// Stale: the license is in force and its entitlements are older than the
	// maximum age (or were never fetched); a refresh has been queued.
	Stale bool `json:"stale"`
	// LastError is the error of the last failed fetch, if it failed after the
	// last successful one.
	LastError string `json:"lastError,omitempty"`
}

// Total is one dimension summed over a tenant's allowed licenses: integers and
// doubles are added, booleans OR-ed, strings listed.
type Total struct {
	Dimension string   `json:"dimension"`
	Kind      string   `json:"kind" enum:"contract,usage"`
	Integer   *int64   `json:"integer,omitempty"`
	Double    *float64 `json:"double,omitempty"`
	Boolean   *bool    `json:"boolean,omitempty"`
	Strings   []string `json:"strings,omitempty"`
	Allowed   bool     `json:"allowed"`
}

// Answer is what a tenant or license may use now.
type Answer struct {
	TenantID  string `json:"tenantId,omitempty"`
	Dimension string `json:"dimension,omitempty"`
	// Allowed is the verdict: for a license, LicenseAnswer.Allowed; for a
	// tenant, whether any of its licenses is allowed (and, with a dimension,
	// whether that dimension's total is allowed).
	Allowed  bool            `json:"allowed"`
	Reason   string          `json:"reason,omitempty"`
	Licenses []LicenseAnswer `json:"licenses"`
	// Totals are a tenant's dimensions over its allowed licenses.
	Totals    []Total   `json:"totals,omitempty"`
	CheckedAt time.Time `json:"checkedAt"`
	// Stale: some license in force answered from data older than the maximum
	// age, or never fetched.
	Stale bool `json:"stale"`
}

const (
	maxIDLen        = 2048
	maxDimensionLen = 255
)

func checkParam(name, v string, max int) error {
	if len(v) > max || !marketplace.Storable(v) {
		return marketplace.Errorf(marketplace.EInvalid, "%s must be at most %d characters of valid UTF-8", name, max)
	}
	return nil
}

// Check answers what a tenant or license may use now, from the cache (reading
// the database on a miss). Time-dependent parts (expiry, staleness) are computed
// at the time of the call. An unknown tenant or license is ENotFound.
func (s *Service) Check(ctx context.Context, q Query) (Answer, error) {
	q.TenantID, q.License, q.Dimension = strings.TrimSpace(q.TenantID), strings.TrimSpace(q.License), strings.TrimSpace(q.Dimension)
	if (q.TenantID == "") == (q.License == "") {
		return Answer{}, marketplace.Errorf(marketplace.EInvalid, "give exactly one of tenant and license")
	}
	if err := checkParam("tenant", q.TenantID, maxIDLen); err != nil {
		return Answer{}, err
	}
	if err := checkParam("license", q.License, maxIDLen); err != nil {
		return Answer{}, err
	}
	if err := checkParam("dimension", q.Dimension, maxDimensionLen); err != nil {
		return Answer{}, err
	}
	c := s.cache()
	now := s.now()
	if q.License != "" {
		id := marketplace.LicenseID(q.License)
		e, err := c.license(ctx, id, now)
		if err != nil {
			return Answer{}, fmt.Errorf("check license %s: %w", id, err)
		}
		if !e.found {
			return Answer{}, marketplace.Errorf(marketplace.ENotFound, "license %s not found", q.License)
		}
		la := s.licenseAnswer(e, q.Dimension, now)
		return Answer{Dimension: q.Dimension, Allowed: la.Allowed, Reason: la.Reason, Licenses: []LicenseAnswer{la}, CheckedAt: now, Stale: la.Stale}, nil
	}
	t, err := c.tenant(ctx, q.TenantID, now)
	if err != nil {
		return Answer{}, fmt.Errorf("check tenant %s: %w", q.TenantID, err)
	}
	if !t.found {
		return Answer{}, marketplace.Errorf(marketplace.ENotFound, "tenant %s not found", q.TenantID)
	}
	ids := make([]string, len(t.licenses))
	for i, l := range t.licenses {
		ids[i] = l.id
	}
	entries, err := c.licenses(ctx, ids, now)
	if err != nil {
		return Answer{}, fmt.Errorf("check tenant %s: %w", q.TenantID, err)
	}
	a := Answer{TenantID: q.TenantID, Dimension: q.Dimension, Licenses: make([]LicenseAnswer, 0, len(ids)), CheckedAt: now}
	for i, e := range entries {
		var la LicenseAnswer
		if e.found {
			la = s.licenseAnswer(e, q.Dimension, now)
		} else {
			la = LicenseAnswer{LicenseArn: t.licenses[i].arn, LicenseID: ids[i], State: marketplace.LicenseUnknown,
				Reason: "no event about this license has reached Concord yet", Entitlements: []EntitlementAnswer{}}
		}
		a.Stale = a.Stale || la.Stale
		a.Licenses = append(a.Licenses, la)
	}
	a.Totals = totals(a.Licenses)
	active := false
	for _, la := range a.Licenses {
		active = active || la.State == marketplace.LicenseActive
	}
	switch {
	case !active:
		a.Reason = "the tenant holds no active license"
	case q.Dimension == "":
		a.Allowed = true
	default:
		for _, t := range a.Totals {
			a.Allowed = a.Allowed || (t.Dimension == q.Dimension && t.Allowed)
		}
		if !a.Allowed {
			a.Reason = "no active license of the tenant allows " + q.Dimension
		}
	}
	return a, nil
}

// licenseAnswer applies the policy to one cached license at time now.
func (s *Service) licenseAnswer(e *licEntry, dim string, now time.Time) LicenseAnswer {
	la := LicenseAnswer{LicenseArn: e.arn, LicenseID: e.id, AgreementID: e.agreementID, State: e.state, SourceTime: e.fetchedAt, LastError: e.lastError}
	active := e.state == marketplace.LicenseActive
	inForce := active || e.state == marketplace.LicenseEnding
	if inForce && (e.fetchedAt == nil || now.Sub(*e.fetchedAt) > orDefault(s.MaxAge, DefaultMaxAge)) {
		la.Stale = true
		s.cache().queueRefresh(e)
	}
	notFetched := ""
	if e.fetchedAt == nil {
		notFetched = "entitlements have not been fetched from AWS yet (a refresh is queued)"
	}
	one := func(dim string) EntitlementAnswer {
		kind := e.prod.kind(dim)
		if i, ok := slices.BinarySearchFunc(e.ents, dim, func(r entRow, d string) int { return strings.Compare(r.dim, d) }); ok && kind != KindUsage {
			r := e.ents[i]
			ea := EntitlementAnswer{Dimension: dim, Kind: KindContract, Value: r.value, ExpiresAt: r.expiresAt}
			ea.expired = r.expiresAt != nil && !now.Before(*r.expiresAt)
			switch {
			case !active:
				ea.Reason = "the license is " + e.state
			case ea.expired:
				ea.Reason = "the entitlement expired at " + r.expiresAt.Format(time.RFC3339)
			case !r.truthy:
				ea.Reason = "the entitlement's value is zero, false or empty"
			default:
				ea.Allowed = true
			}
			return ea
		}
		if kind == KindUsage {
			ea := EntitlementAnswer{Dimension: dim, Kind: KindUsage, Allowed: active}
			if !active {
				ea.Reason = "the license is " + e.state
			}
			return ea
		}
		ea := EntitlementAnswer{Dimension: dim, Kind: KindContract}
		switch {
		case !active:
			ea.Reason = "the license is " + e.state
		case notFetched != "":
			ea.Reason = notFetched
		default:
			ea.Reason = "the license has no entitlement for " + dim
		}
		return ea
	}
	if dim != "" {
		la.Entitlements = []EntitlementAnswer{one(dim)}
	} else {
		la.Entitlements = make([]EntitlementAnswer, 0, len(e.ents)+len(e.prod.usage()))
		for _, r := range e.ents {
			if e.prod.kind(r.dim) != KindUsage {
				la.Entitlements = append(la.Entitlements, one(r.dim))
			}
		}
		for _, u := range e.prod.usage() {
			la.Entitlements = append(la.Entitlements, one(u))
		}
	}
	switch {
	case !active:
		la.Reason = stateReason(e)
	case dim != "" && !la.Entitlements[0].Allowed:
		la.Reason = la.Entitlements[0].Reason
	case dim == "" && notFetched != "":
		la.Allowed, la.Reason = true, "the license is active, but "+notFetched+": contract dimensions are not allowed until then"
	default:
		la.Allowed = true
	}
	return la
}

func stateReason(e *licEntry) string {
	switch e.state {
	case marketplace.LicensePending:
		if e.startsAt != nil {
			return "the license is pending: its agreement starts at " + e.startsAt.Format(time.RFC3339)
		}
		return "the license is pending: its agreement has not started"
	case marketplace.LicenseEnding:
		return "the license's agreement has ended; only usage in its final metering window is accepted"
	case marketplace.LicenseDeprovisioned:
		return "the license was deprovisioned"
	}
	return "the license is " + e.state
}

// totals adds up the dimensions of the allowed (active) licenses. Expired
// entitlements do not count.
func totals(ls []LicenseAnswer) []Total {
	var out []Total
	idx := map[string]int{}
	for _, la := range ls {
		if la.State != marketplace.LicenseActive {
			continue
		}
		for _, ea := range la.Entitlements {
			i, ok := idx[ea.Dimension]
			if !ok {
				i = len(out)
				idx[ea.Dimension] = i
				out = append(out, Total{Dimension: ea.Dimension, Kind: ea.Kind})
			}
			t := &out[i]
			if ea.Kind == KindUsage {
				t.Kind = KindUsage
				t.Allowed = t.Allowed || ea.Allowed
				continue
			}
			if ea.Value == nil || ea.expired {
				continue
			}
			t.Allowed = t.Allowed || ea.Allowed
			v := ea.Value
			switch {
			case v.Integer != nil:
				n := *v.Integer
				if t.Integer != nil {
					n += *t.Integer
				}
				t.Integer = &n
			case v.Double != nil:
				f := *v.Double
				if t.Double != nil {
					f += *t.Double
				}
				t.Double = &f
			case v.Boolean != nil:
				b := *v.Boolean
				if t.Boolean != nil {
					b = b || *t.Boolean
				}
				t.Boolean = &b
			case v.String != nil:
				t.Strings = append(t.Strings, *v.String)
			}
		}
	}
	slices.SortFunc(out, func(a, b Total) int { return strings.Compare(a.Dimension, b.Dimension) })
	return out
}
