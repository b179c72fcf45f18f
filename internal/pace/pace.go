// Package pace spaces calls to an outside API evenly at a rate, with no
// bursts, so a steady stream of calls never exceeds a per-second quota.
package pace

import (
	"context"
	"sync"
	"time"
)

// Limiter hands out call times at a fixed interval. It is safe for
// concurrent use; a nil Limiter does not wait.
type Limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

// New returns a limiter for rate calls per second (rate > 0).
func New(rate float64) *Limiter {
	return &Limiter{interval: time.Duration(float64(time.Second) / rate)}
}

// Interval is the time between two calls.
func (l *Limiter) Interval() time.Duration { return l.interval }

// Wait returns when the caller may make its call, or when ctx ends.
func (l *Limiter) Wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Pause holds every caller for d from now (after a throttling answer).
func (l *Limiter) Pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at := time.Now().Add(d); at.After(l.next) {
		l.next = at
	}
}
