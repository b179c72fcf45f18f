package store

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// stmtCache keeps the SQLite writer's statements prepared. Parsing and planning
// a statement costs SQLite (compiled to Go) more than running it: a folded event
// runs some thirty statements, and preparing them was a fifth of the CPU time
// of an ingest. A statement is prepared on the pool the first time it is seen
// and reused by every later transaction (database/sql's Tx.StmtContext reuses a
// statement already prepared on the transaction's connection).
//
// The writer has one connection, held by the open transaction: preparing on
// the pool then would wait for that very connection. So a statement first seen
// in a transaction runs unprepared, and is prepared once the connection is free
// (prepare, called between batches).
type stmtCache struct {
	pool *sql.DB
	// runs counts the statements run through the writer (GroupStats).
	runs atomic.Int64

	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool
}

// Bounds of the cache: statements built per call (an IN list of n keys) are
// many and large; past these they simply run unprepared.
const (
	stmtCacheMax      = 512
	stmtCacheMaxQuery = 4096
)

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, stmts: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// get returns the prepared statement of query, or nil (noting it to prepare).
func (c *stmtCache) get(query string) *sql.Stmt {
	c.runs.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.stmts[query]; s != nil {
		return s
	}
	if len(query) <= stmtCacheMaxQuery && len(c.stmts)+len(c.pending) < stmtCacheMax {
		c.pending[query] = true
	}
	return nil
}

// prepare prepares the statements seen since the last call. The caller must
// make sure no transaction holds the pool's connection.
func (c *stmtCache) prepare() {
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	queries := make([]string, 0, len(c.pending))
	for q := range c.pending {
		queries = append(queries, q)
	}
	clear(c.pending)
	c.mu.Unlock()
	for _, q := range queries {
		s, err := c.pool.PrepareContext(context.Background(), q)
		if err != nil {
			continue // it keeps running unprepared, and fails there if it must
		}
		c.mu.Lock()
		if c.stmts[q] == nil {
			c.stmts[q] = s
			s = nil
		}
		c.mu.Unlock()
		if s != nil {
			s.Close()
		}
	}
}

// close closes the prepared statements.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.stmts {
		s.Close()
		delete(c.stmts, q)
	}
}
