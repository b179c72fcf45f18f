package httpapi

import (
	"context"
	"sync"
	"time"
)

// DefaultUsageBodyBudget bounds the usage batch bodies (POST /v1/usage) that
// are read and ingested at once, in bytes of body: a 10,000-record batch is
// about 2 MB of JSON and takes several times that in memory while it is
// decoded and stored, so 16 clients each sending one at once would hold a
// few hundred MB. SQLite has one writer anyway, so a few batches in flight
// keep it busy; the others wait (DefaultUsageBodyWait) before their bodies
// are read.
const DefaultUsageBodyBudget = 8 << 20

// DefaultUsageBodyWait is how long a usage batch waits for room in the
// budget before it is answered 503 with Retry-After.
const DefaultUsageBodyWait = 5 * time.Second

// bodyBudget is a weighted semaphore of body bytes.
type bodyBudget struct {
	mu    sync.Mutex
	total int64
	free  int64
	wake  chan struct{} // closed when room is given back
}

func newBodyBudget(total int64) *bodyBudget {
	return &bodyBudget{total: total, free: total, wake: make(chan struct{})}
}

// acquire takes n bytes of the budget (at most all of it: a body larger
// than the budget waits until it is the only one), or gives up when ctx
// ends (false).
func (b *bodyBudget) acquire(ctx context.Context, n int64) (int64, bool) {
	n = min(max(n, 1), b.total)
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return n, true
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, false
		}
	}
}

// release gives n bytes back.
func (b *bodyBudget) release(n int64) {
	b.mu.Lock()
	b.free += n
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}
