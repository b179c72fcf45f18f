package console

import (
	"crypto/sha256"
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
// An attempt is counted as a failure when it is let through (admit), before
// its password is checked, and a success gives it back (succeed): so many
// sign-ins sent at once cannot all pass the check before the first failure
// is counted. IPv6 addresses are counted by their /64, which one client
// usually holds whole.
//
// The counts live in memory: each replica counts on its own, and a restart
// forgets them.
const (
	LoginWindow                     = 15 * time.Minute
	LoginFailuresPerEmailAndAddress = 5
	LoginFailuresPerEmail           = 20
	LoginFailuresPerAddress         = 50
	// loginKeys bounds the memory the counts can take; when full, windows
	// that ended are dropped first, then the one with the fewest failures
	// (so a flood of one-off guesses cannot push out a real count).
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

// loginKeysOf returns the keys of the three counts. The email is hashed, so
// a key stays small however long the typed email is.
func loginKeysOf(email, addr string) (pair, mail, ip string) {
	h := sha256.Sum256([]byte(email))
	e := string(h[:16])
	return "p\x00" + e + "\x00" + addr, "e\x00" + e, "a\x00" + addr
}

// admit says how long sign-in stays refused for email from addr (0: it is
// not). When it is not, the attempt is counted as a failure at once, in the
// same critical section; succeed gives it back.
func (l *loginLimiter) admit(email, addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.refused(email, addr, now); d > 0 {
		return d
	}
	l.count(email, addr, now)
	return 0
}

// refused says how long sign-in stays refused for email from addr (0: it
// is not). l.mu is held.
func (l *loginLimiter) refused(email, addr string, now time.Time) time.Duration {
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

// count counts a failed sign-in. l.mu is held.
func (l *loginLimiter) count(email, addr string, now time.Time) {
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

// succeed forgets the failures of email from addr (the person got it
// right) and gives back the attempt admit counted against the email and the
// address.
func (l *loginLimiter) succeed(email, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pair, mail, ip := loginKeysOf(email, addr)
	delete(l.counts, pair)
	for _, k := range []string{mail, ip} {
		if c := l.counts[k]; c != nil && c.n > 0 {
			c.n--
		}
	}
}

// evict makes room: windows that ended go, and if none had, the one with
// the fewest failures (of those, the one ending first).
func (l *loginLimiter) evict(now time.Time) {
	var least string
	for k, c := range l.counts {
		if !now.Before(c.until) {
			delete(l.counts, k)
			continue
		}
		if m := l.counts[least]; least == "" || c.n < m.n || (c.n == m.n && c.until.Before(m.until)) {
			least = k
		}
	}
	if len(l.counts) >= loginKeys && least != "" {
		delete(l.counts, least)
	}
}

// clientAddr is the address a request came from (the TCP peer: Concord does
// not trust forwarding headers). An IPv6 address is cut to its /64: one
// client usually holds a whole /64, and would otherwise get a fresh count
// with every address in it.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
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
