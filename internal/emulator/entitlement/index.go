package entitlement

import (
	"slices"

	"github.com/concordmp/concord/internal/emulator/world"
)

// licenseIndex lists the license ARNs of each product code, sorted, overall
// and per buyer account and per customer identifier, so that a query touches
// only the licenses it can return instead of every license in the world.
//
// It is derived from the state and rebuilt lazily. The world only ever adds
// licenses (their ARN, product code, account and customer identifier never
// change afterwards; only their state does, and that is read from the state
// at query time), and Restore swaps in a new State, so the index is current
// while it was built from the same *State and len(s.Licenses) is unchanged.
// Should a license nevertheless be removed or replaced, a query that meets an
// indexed ARN missing from the state (or of another product) drops the index
// and runs again on a fresh one.
type licenseIndex struct {
	state    *world.State // kept referenced so that its address is not reused
	licenses int          // len(state.Licenses) when built
	products map[string]*productLicenses
}

type productLicenses struct {
	all        []string
	byAccount  map[string][]string
	byCustomer map[string][]string
}

var noLicenses = &productLicenses{}

// index returns the current index, rebuilding it if the state changed.
// Called inside Do.
func (srv *Server) index(s *world.State) *licenseIndex {
	if idx := srv.idx; idx != nil && idx.state == s && idx.licenses == len(s.Licenses) {
		return idx
	}
	idx := &licenseIndex{state: s, licenses: len(s.Licenses), products: map[string]*productLicenses{}}
	for arn, l := range s.Licenses {
		p := idx.products[l.ProductCode]
		if p == nil {
			p = &productLicenses{byAccount: map[string][]string{}, byCustomer: map[string][]string{}}
			idx.products[l.ProductCode] = p
		}
		p.all = append(p.all, arn)
		p.byAccount[l.AccountID] = append(p.byAccount[l.AccountID], arn)
		if l.CustomerIdentifier != "" {
			p.byCustomer[l.CustomerIdentifier] = append(p.byCustomer[l.CustomerIdentifier], arn)
		}
	}
	for _, p := range idx.products {
		slices.Sort(p.all)
		for _, l := range p.byAccount {
			slices.Sort(l)
		}
		for _, l := range p.byCustomer {
			slices.Sort(l)
		}
	}
	srv.idx = idx
	return idx
}

// candidates returns the sorted license ARNs of the query's product that its
// account or customer filter allows (all of the product's without either).
// The caller must not modify the result.
func (idx *licenseIndex) candidates(q query) []string {
	p := idx.products[q.productCode]
	if p == nil {
		p = noLicenses
	}
	var by map[string][]string
	var keys map[string]bool
	switch {
	case q.accounts != nil:
		by, keys = p.byAccount, q.accounts
	case q.customers != nil:
		by, keys = p.byCustomer, q.customers
	default:
		return p.all
	}
	if len(keys) == 1 {
		for k := range keys {
			return by[k]
		}
	}
	var out []string
	for k := range keys {
		out = append(out, by[k]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
