package console

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits on failed sign-ins, counted in fixed windows of LoginWindow. Past a
// limit, sign-in is refused (even with the right password) until the window
// ends:
//   - the same email from the same address: LoginFailuresPerEmailAndAddress;
//   - the same email from anywhere: LoginFailuresPerEmail (slows guessing
//     spread over many addresses without letting one stranger lock a user
//     out from everywhere as fast);
//   - the same address, whatever the email: LoginFailuresPerAddress
//     (password spraying).
//
// The counts live in memory: each replica counts on its own, and a restart
// forgets them.
const (
	LoginWindow                     = 15 * time.Minute
	LoginFailuresPerEmailAndAddress = 5
	LoginFailuresPerEmail           = 20
	LoginFailuresPerAddress         = 50
	// loginKeys bounds the memory the counts can take; when full, windows
	// that ended are dropped first, then the oldest.
	loginKeys = 100_000
)

type loginCount struct {
	n     int
	until time.Time // the window's end
}

// loginLimiter counts failed sign-ins.
type loginLimiter struct {
	mu     sync.Mutex
	counts map[string]*loginCount
}

func loginKeysOf(email, addr string) (pair, mail, ip string) {
	return "p\x00" + email + "\x00" + addr, "e\x00" + email, "a\x00" + addr
}

// wait says how long sign-in stays refused for email from addr (0: it is not).
func (l *loginLimiter) wait(email, addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	pair, mail, ip := loginKeysOf(email, addr)
	var longest time.Duration
	for _, k := range []struct {
		key   string
		limit int
	}{{pair, LoginFailuresPerEmailAndAddress}, {mail, LoginFailuresPerEmail}, {ip, LoginFailuresPerAddress}} {
		c := l.counts[k.key]
		if c != nil && c.n >= k.limit && now.Before(c.until) {
			longest = max(longest, c.until.Sub(now))
		}
	}
	return longest
}

// fail counts a failed sign-in.
func (l *loginLimiter) fail(email, addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string]*loginCount{}
	}
	pair, mail, ip := loginKeysOf(email, addr)
	for _, k := range []string{pair, mail, ip} {
		c := l.counts[k]
		if c == nil || !now.Before(c.until) {
			if c == nil && len(l.counts) >= loginKeys {
				l.evict(now)
			}
			c = &loginCount{until: now.Add(LoginWindow)}
			l.counts[k] = c
		}
		c.n++
	}
}

// succeed forgets the failures of email from addr: the person got it right.
func (l *loginLimiter) succeed(email, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pair, _, _ := loginKeysOf(email, addr)
	delete(l.counts, pair)
}

// evict makes room: windows that ended go, and if none had, the one ending
// first.
func (l *loginLimiter) evict(now time.Time) {
	var oldest string
	for k, c := range l.counts {
		if !now.Before(c.until) {
			delete(l.counts, k)
			continue
		}
		if oldest == "" || c.until.Before(l.counts[oldest].until) {
			oldest = k
		}
	}
	if len(l.counts) >= loginKeys && oldest != "" {
		delete(l.counts, oldest)
	}
}

// clientAddr is the address a request came from (the TCP peer: Concord does
// not trust forwarding headers).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// minutes says d in whole minutes, rounded up, for people.
func minutes(d time.Duration) string {
	m := int((d + time.Minute - 1) / time.Minute)
	if m <= 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}
