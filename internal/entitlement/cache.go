package entitlement

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/concordmp/concord/internal/background"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// The cache answers checks from memory. Entries are immutable once built (apart
// from the refresh bookkeeping) and replaced whole, so readers need no lock
// beyond the shard's. A miss joins the pending batch of a loader goroutine,
// which reads every missing license of the batch in one transaction: under
// load, concurrent misses share their database round trips.
//
// Invalidation bumps a generation counter and drops the entries; a load that
// overlapped an invalidation still answers its waiters (they asked before the
// commit was visible to them) but is not cached, and requests arriving after
// the invalidation do not join it.

const (
	nShards      = 64
	maxLoadBatch = 256
	// requeueAfter spaces the refreshes one replica queues for a stale license.
	requeueAfter = 5 * time.Minute
	loadTimeout  = 30 * time.Second
)

type entRow struct {
	dim       string
	value     *Value
	expiresAt *time.Time
	truthy    bool
}

// licEntry is one license as the cache holds it.
type licEntry struct {
	expires int64 // UnixNano on the service clock
	found   bool

	id, arn, agreementID, state, productCode string
	startsAt                                 *time.Time
	fetchedAt                                *time.Time
	lastError                                string
	ents                                     []entRow // sorted by dimension
	prod                                     *productInfo

	// refreshAt is when this replica last queued a refresh of the license
	// (UnixNano), carried over from the entry this one replaced.
	refreshAt atomic.Int64
}

func (e *licEntry) fresh(now int64) bool { return now < e.expires }

// productInfo is what the policy needs of a product: its dimensions' kinds.
type productInfo struct {
	expires int64
	kinds   map[string]string
	usages  []string // usage dimensions, sorted
}

func (p *productInfo) kind(dim string) string {
	if p == nil {
		return ""
	}
	return p.kinds[dim]
}

func (p *productInfo) usage() []string {
	if p == nil {
		return nil
	}
	return p.usages
}

type tenantLicense struct{ id, arn string }

type tenEntry struct {
	expires  int64
	found    bool
	licenses []tenantLicense
}

func (e *tenEntry) fresh(now int64) bool { return now < e.expires }

// shards is a map split in lock shards, so concurrent readers of different
// keys do not meet on one lock.
type shards[T any] struct {
	seed maphash.Seed
	s    [nShards]shard[T]
}

type shard[T any] struct {
	mu      sync.RWMutex
	m       map[string]*T
	inserts int
}

func (m *shards[T]) init() {
	m.seed = maphash.MakeSeed()
	for i := range m.s {
		m.s[i].m = map[string]*T{}
	}
}

func (m *shards[T]) shard(k string) *shard[T] { return &m.s[maphash.String(m.seed, k)%nShards] }

func (m *shards[T]) get(k string) *T {
	sh := m.shard(k)
	sh.mu.RLock()
	v := sh.m[k]
	sh.mu.RUnlock()
	return v
}

// put stores v and, every so many inserts, drops the shard's expired entries
// so that keys nobody asks for again (unknown ids, say) do not pile up.
func (m *shards[T]) put(k string, v *T, expired func(*T) bool) {
	sh := m.shard(k)
	sh.mu.Lock()
	sh.m[k] = v
	sh.inserts++
	if sh.inserts > len(sh.m)/2+64 {
		sh.inserts = 0
		for k, e := range sh.m {
			if expired(e) {
				delete(sh.m, k)
			}
		}
	}
	sh.mu.Unlock()
}

func (m *shards[T]) del(k string) {
	sh := m.shard(k)
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
}

type call[T any] struct {
	id      string
	started bool
	done    chan struct{}
	e       *T
	err     error
}

type cache struct {
	s   *Service
	ttl time.Duration
	gen atomic.Uint64

	lics shards[licEntry]
	tens shards[tenEntry]

	prodMu sync.RWMutex
	prods  map[string]*productInfo

	lmu     sync.Mutex
	calls   map[string]*call[licEntry] // pending or loading, by license id
	pending []*call[licEntry]
	loading bool

	tmu    sync.Mutex
	tcalls map[string]*call[tenEntry]

	refresh    chan string
	refreshing atomic.Bool
	refreshWG  sync.WaitGroup
}

func (s *Service) cache() *cache {
	s.initOnce.Do(func() {
		c := &cache{s: s, ttl: orDefault(s.CacheTTL, DefaultCacheTTL), prods: map[string]*productInfo{},
			calls: map[string]*call[licEntry]{}, tcalls: map[string]*call[tenEntry]{}, refresh: make(chan string, 4096)}
		c.lics.init()
		c.tens.init()
		s.c = c
	})
	return s.c
}

// Invalidate drops cached answers for these licenses (after a local commit).
func (s *Service) Invalidate(licenseIDs []string) {
	c := s.cache()
	c.gen.Add(1)
	for _, id := range licenseIDs {
		c.lics.del(id)
	}
	c.lmu.Lock()
	for _, id := range licenseIDs {
		if cl := c.calls[id]; cl != nil && cl.started {
			delete(c.calls, id)
		}
	}
	c.lmu.Unlock()
}

// InvalidateTenant drops the cached license list of a tenant (after a local
// commit attached or detached one of its licenses).
func (s *Service) InvalidateTenant(tenantID string) { s.InvalidateTenants([]string{tenantID}) }

// InvalidateTenants is InvalidateTenant for several tenants; it fits
// registration.Service.OnTenantChange.
func (s *Service) InvalidateTenants(tenantIDs []string) {
	c := s.cache()
	c.gen.Add(1)
	for _, id := range tenantIDs {
		c.tens.del(id)
	}
	c.tmu.Lock()
	for _, id := range tenantIDs {
		if cl := c.tcalls[id]; cl != nil && cl.started {
			delete(c.tcalls, id)
		}
	}
	c.tmu.Unlock()
}

// license returns one license's entry (found false when the ledger has none).
func (c *cache) license(ctx context.Context, id string, now time.Time) (*licEntry, error) {
	if e := c.lics.get(id); e != nil && e.fresh(now.UnixNano()) {
		return e, nil
	}
	es, err := c.licenses(ctx, []string{id}, now)
	if err != nil {
		return nil, err
	}
	return es[0], nil
}

// licenses returns the entries of ids, in order, loading the missing ones.
func (c *cache) licenses(ctx context.Context, ids []string, now time.Time) ([]*licEntry, error) {
	out := make([]*licEntry, len(ids))
	var missing []int
	n := now.UnixNano()
	for i, id := range ids {
		if e := c.lics.get(id); e != nil && e.fresh(n) {
			out[i] = e
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	calls := make([]*call[licEntry], len(missing))
	c.lmu.Lock()
	for j, i := range missing {
		cl := c.calls[ids[i]]
		if cl == nil {
			cl = &call[licEntry]{id: ids[i], done: make(chan struct{})}
			c.calls[cl.id] = cl
			c.pending = append(c.pending, cl)
		}
		calls[j] = cl
	}
	if !c.loading {
		c.loading = true
		go c.loadLoop()
	}
	c.lmu.Unlock()
	for j, cl := range calls {
		select {
		case <-cl.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if cl.err != nil {
			return nil, cl.err
		}
		out[missing[j]] = cl.e
	}
	return out, nil
}

// loadLoop loads pending licenses in batches until none is left.
func (c *cache) loadLoop() {
	for {
		c.lmu.Lock()
		if len(c.pending) == 0 {
			c.loading = false
			c.lmu.Unlock()
			return
		}
		k := min(len(c.pending), maxLoadBatch)
		batch := slices.Clone(c.pending[:k])
		c.pending = slices.Delete(c.pending, 0, k)
		for _, cl := range batch {
			cl.started = true
		}
		c.lmu.Unlock()

		g := c.gen.Load()
		ids := make([]string, len(batch))
		for i, cl := range batch {
			ids[i] = cl.id
		}
		ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
		var entries []*licEntry
		err := background.Guard(c.s.logger(), "entitlement load", func() (err error) {
			entries, err = c.load(ctx, ids)
			return err
		})
		cancel()
		if err != nil {
			c.s.logger().Error("load entitlements", "licenses", len(ids), "err", err)
		}
		cacheable := err == nil && c.gen.Load() == g
		for i, cl := range batch {
			if err != nil {
				cl.err = err
				continue
			}
			cl.e = entries[i]
			if cacheable {
				if old := c.lics.get(cl.id); old != nil {
					cl.e.refreshAt.Store(old.refreshAt.Load())
				}
				c.lics.put(cl.id, cl.e, c.licExpired)
			}
		}
		if cacheable && c.gen.Load() != g {
			// An invalidation ran between the check and the puts: what was read
			// may predate its commit, so it must not stay cached.
			for _, cl := range batch {
				c.lics.del(cl.id)
			}
		}
		c.lmu.Lock()
		for _, cl := range batch {
			if c.calls[cl.id] == cl {
				delete(c.calls, cl.id)
			}
			close(cl.done)
		}
		c.lmu.Unlock()
	}
}

func (c *cache) licExpired(e *licEntry) bool { return !e.fresh(c.s.now().UnixNano()) }

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// load reads licenses, their sync state, entitlements and products in one
// read transaction.
func (c *cache) load(ctx context.Context, ids []string) ([]*licEntry, error) {
	now := c.s.now()
	expires := now.Add(c.ttl).UnixNano()
	byID := make(map[string]*licEntry, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	in := placeholders(len(ids))
	err := c.s.DB.Read(ctx, func(tx *store.Tx) error {
		clear(byID)
		// One statement: each license once per entitlement (or once with NULLs).
		rows, err := tx.Query(ctx, `SELECT l.license_id, l.license_arn, l.agreement_id, l.product_code, l.state, l.starts_at, s.fetched_at, s.last_error,
			e.dimension, e.value, e.expires_at
			FROM licenses l LEFT JOIN entitlement_syncs s ON s.license_id = l.license_id LEFT JOIN entitlements e ON e.license_id = l.license_id
			WHERE l.license_id IN (`+in+`)`, args...)
		if err != nil {
			return fmt.Errorf("load licenses: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, arn, agreement, code, state string
			var starts, fetched, exp sql.NullInt64
			var lastErr, dim, raw sql.NullString
			if err := rows.Scan(&id, &arn, &agreement, &code, &state, &starts, &fetched, &lastErr, &dim, &raw, &exp); err != nil {
				return err
			}
			e := byID[id]
			if e == nil {
				e = &licEntry{expires: expires, found: true, id: id, arn: arn, agreementID: agreement, productCode: code, state: state,
					startsAt: store.FromNullMillis(starts), fetchedAt: store.FromNullMillis(fetched), lastError: lastErr.String}
				byID[id] = e
			}
			if !dim.Valid {
				continue
			}
			r := entRow{dim: dim.String, value: &Value{}, expiresAt: store.FromNullMillis(exp)}
			if err := r.value.decode(raw.String); err != nil {
				c.s.logger().Warn("undecodable entitlement value", "license", id, "dimension", r.dim, "err", err)
			}
			r.truthy = r.value.truthy()
			e.ents = append(e.ents, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		return c.loadProducts(ctx, tx, byID, now)
	})
	if err != nil {
		return nil, err
	}
	out := make([]*licEntry, len(ids))
	for i, id := range ids {
		e := byID[id]
		if e == nil {
			e = &licEntry{expires: expires, id: id}
		}
		slices.SortFunc(e.ents, func(a, b entRow) int { return strings.Compare(a.dim, b.dim) })
		out[i] = e
	}
	return out, nil
}

// loadProducts attaches product information to the entries, reading the
// products the cache does not hold fresh.
func (c *cache) loadProducts(ctx context.Context, tx *store.Tx, byID map[string]*licEntry, now time.Time) error {
	n := now.UnixNano()
	var need []any
	seen := map[string]bool{}
	c.prodMu.RLock()
	for _, e := range byID {
		if p := c.prods[e.productCode]; p != nil && n < p.expires {
			e.prod = p
		} else if e.productCode != "" && !seen[e.productCode] {
			seen[e.productCode] = true
			need = append(need, e.productCode)
		}
	}
	c.prodMu.RUnlock()
	if len(need) == 0 {
		return nil
	}
	loaded := map[string]*productInfo{}
	rows, err := tx.Query(ctx, `SELECT product_code, dimensions FROM products WHERE product_code IN (`+placeholders(len(need))+`)`, need...)
	if err != nil {
		return fmt.Errorf("load products: %w", err)
	}
	for rows.Next() {
		var code, raw string
		if err := rows.Scan(&code, &raw); err != nil {
			rows.Close()
			return err
		}
		var dims []marketplace.Dimension
		if err := json.Unmarshal([]byte(raw), &dims); err != nil {
			c.s.logger().Warn("undecodable product dimensions", "productCode", code, "err", err)
		}
		p := &productInfo{expires: now.Add(c.ttl).UnixNano(), kinds: map[string]string{}}
		for _, d := range dims {
			p.kinds[d.Key] = d.Kind
			if d.Kind == KindUsage {
				p.usages = append(p.usages, d.Key)
			}
		}
		slices.Sort(p.usages)
		loaded[code] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, code := range need {
		if loaded[code.(string)] == nil {
			loaded[code.(string)] = &productInfo{expires: now.Add(c.ttl).UnixNano()}
		}
	}
	c.prodMu.Lock()
	for code, p := range loaded {
		c.prods[code] = p
	}
	// Products are few; drop the expired ones now and then.
	if len(c.prods) > 1024 {
		for code, p := range c.prods {
			if n >= p.expires {
				delete(c.prods, code)
			}
		}
	}
	c.prodMu.Unlock()
	for _, e := range byID {
		if e.prod == nil {
			e.prod = loaded[e.productCode]
		}
	}
	return nil
}

// tenant returns a tenant's license list (found false for an unknown tenant).
func (c *cache) tenant(ctx context.Context, id string, now time.Time) (*tenEntry, error) {
	if e := c.tens.get(id); e != nil && e.fresh(now.UnixNano()) {
		return e, nil
	}
	c.tmu.Lock()
	cl := c.tcalls[id]
	if cl == nil {
		cl = &call[tenEntry]{id: id, started: true, done: make(chan struct{})}
		c.tcalls[id] = cl
		go c.loadTenant(cl)
	}
	c.tmu.Unlock()
	select {
	case <-cl.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return cl.e, cl.err
}

func (c *cache) loadTenant(cl *call[tenEntry]) {
	g := c.gen.Load()
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	e := &tenEntry{expires: c.s.now().Add(c.ttl).UnixNano()}
	err := background.Guard(c.s.logger(), "entitlement tenant load", func() error {
		return c.s.DB.Read(ctx, func(tx *store.Tx) error {
			e.found, e.licenses = false, nil
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM tenants WHERE tenant_id = ?`, cl.id).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			} else if err != nil {
				return err
			}
			e.found = true
			rows, err := tx.Query(ctx, `SELECT license_id, license_arn FROM tenant_licenses WHERE tenant_id = ? ORDER BY attached_at, license_id`, cl.id)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var l tenantLicense
				if err := rows.Scan(&l.id, &l.arn); err != nil {
					return err
				}
				e.licenses = append(e.licenses, l)
			}
			return rows.Err()
		})
	})
	if err != nil {
		cl.err = fmt.Errorf("load tenant: %w", err)
		c.s.logger().Error("load tenant for entitlement check", "tenant", cl.id, "err", err)
	} else {
		cl.e = e
		if c.gen.Load() == g {
			c.tens.put(cl.id, e, func(e *tenEntry) bool { return !e.fresh(c.s.now().UnixNano()) })
			if c.gen.Load() != g { // invalidated meanwhile: see the license loader
				c.tens.del(cl.id)
			}
		}
	}
	c.tmu.Lock()
	if c.tcalls[cl.id] == cl {
		delete(c.tcalls, cl.id)
	}
	close(cl.done)
	c.tmu.Unlock()
}

// queueRefresh asks, without waiting, for a refresh of a stale license; a
// background goroutine enqueues the jobs in batches. One replica asks at most
// once per requeueAfter per license (the job's unique key dedupes across
// replicas).
func (c *cache) queueRefresh(e *licEntry) {
	now := c.s.now().UnixNano()
	last := e.refreshAt.Load()
	if last != 0 && now-last < int64(requeueAfter) || !e.refreshAt.CompareAndSwap(last, now) {
		return
	}
	select {
	case c.refresh <- e.id:
	default:
		e.refreshAt.Store(last) // full: a later check asks again
		return
	}
	if c.refreshing.CompareAndSwap(false, true) {
		c.refreshWG.Add(1)
		go c.refreshLoop()
	}
}

func (c *cache) refreshLoop() {
	defer c.refreshWG.Done()
	for {
		var ids []string
	drain:
		for len(ids) < 200 {
			select {
			case id := <-c.refresh:
				ids = append(ids, id)
			default:
				break drain
			}
		}
		if len(ids) == 0 {
			c.refreshing.Store(false)
			// A sender may have queued after the drain and seen the flag still set.
			if len(c.refresh) > 0 && c.refreshing.CompareAndSwap(false, true) {
				continue
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
		now := c.s.now()
		err := background.Guard(c.s.logger(), "entitlement refresh queue", func() error {
			return c.s.DB.Write(ctx, func(tx *store.Tx) error {
				for _, id := range ids {
					if err := enqueueRefresh(ctx, tx, now, id); err != nil {
						return err
					}
				}
				return nil
			})
		})
		cancel()
		if err != nil {
			c.s.logger().Warn("queue refreshes of stale entitlements", "licenses", len(ids), "err", err)
		}
	}
}
