// Package egress guards Concord's outbound HTTP requests to URLs its users
// give (webhook endpoints, Slack-compatible notification routes). Such a URL
// must not reach inside the network Concord runs in: the cloud metadata
// service (169.254.169.254), the database on 127.0.0.1:5432, a private
// admin interface. Addresses are refused twice: when a URL is registered (a
// literal IP, or a host that resolves only to refused addresses, gets a clear
// error) and when a connection is made (a net.Dialer Control function sees the
// address actually dialled, so a DNS answer changed after registration cannot
// rebind around the check). Operators with on-premises receivers turn the
// guard off with AllowPrivate (serve's --allow-private-targets).
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every refusal, at registration and at connect time.
var ErrRefused = errors.New("refused")

// refusedPrefixes are the ranges no user-given URL may reach by default,
// beyond what netip's predicates name (loopback, private, link-local,
// unspecified, multicast).
var refusedPrefixes = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},          // RFC 791: "this host on this network"
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"}, // RFC 6598
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
}

// Refused says whether an address is one a user-given URL may not reach, and
// names its kind for the error message. IPv4-mapped IPv6 addresses
// (::ffff:10.0.0.1) are judged as the IPv4 address they carry.
func Refused(a netip.Addr) (kind string, refused bool) {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "invalid", true
	case a.IsUnspecified():
		return "unspecified", true
	case a.IsLoopback():
		return "loopback", true
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "link-local", true
	case a.IsPrivate(): // 10/8, 172.16/12, 192.168/16, fc00::/7 (unique local)
		return "private", true
	case a.IsMulticast() || a.IsInterfaceLocalMulticast():
		return "multicast", true
	}
	for _, p := range refusedPrefixes {
		if p.prefix.Contains(a) {
			return p.name, true
		}
	}
	return "", false
}

// Guard decides whether outbound requests may reach private addresses.
type Guard struct {
	// AllowPrivate turns the guard off, for receivers inside the network.
	AllowPrivate bool
}

// hint is how an operator lets a refused receiver through.
const hint = "start concord serve with --allow-private-targets (CONCORD_ALLOW_PRIVATE_TARGETS=true) for a receiver inside your network"

// control is the net.Dialer Control function: it runs after DNS resolution,
// on the very address about to be connected to.
func (g Guard) control(network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("connect to %s: %w: not an IP address", address, ErrRefused)
	}
	if kind, bad := Refused(ap.Addr()); bad {
		return fmt.Errorf("connect to %s: %w: a %s address; %s", ap.Addr(), ErrRefused, kind, hint)
	}
	return nil
}

// Client returns a copy of base (nil: a default client) for requests to
// user-given URLs: at most timeout per request, redirects never followed (a
// redirect would send the request to a host nobody checked), and, unless
// AllowPrivate, every dial checked by the guard. The guard replaces the
// transport's dialer and its proxy (a request through a proxy would be
// checked against the proxy's address, not the receiver's). A base whose
// Transport is not an *http.Transport is used as it is.
func (g Guard) Client(base *http.Client, timeout time.Duration) *http.Client {
	c := http.Client{Timeout: timeout}
	if base != nil {
		c = *base
		if c.Timeout == 0 || c.Timeout > timeout {
			c.Timeout = timeout
		}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if t, ok := rt.(*http.Transport); ok && !g.AllowPrivate {
		t = t.Clone()
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
		t.DialContext, t.DialTLSContext, t.Proxy = d.DialContext, nil, nil
		c.Transport = t
	}
	return &c
}

// CheckURL refuses, at registration, a URL whose host is a refused IP literal
// or a name that resolves only to refused addresses. A name that does not
// resolve now is accepted: the connect-time check still applies.
func (g Guard) CheckURL(ctx context.Context, raw string) error {
	if g.AllowPrivate {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if kind, bad := Refused(a); bad {
			return fmt.Errorf("%w: %s is a %s address; %s", ErrRefused, host, kind, hint)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil
	}
	for _, a := range addrs {
		if _, bad := Refused(a); !bad {
			return nil
		}
	}
	kind, _ := Refused(addrs[0])
	return fmt.Errorf("%w: %s resolves only to internal addresses (%s, a %s address); %s", ErrRefused, host, addrs[0].Unmap(), kind, hint)
}

// Reason is what Concord stores about a receiver's answer: the status and
// its standard text, never the body (a receiver, or whatever a URL reached,
// must not be able to make Concord keep and show its content).
func Reason(status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("HTTP %d %s", status, t)
	}
	return fmt.Sprintf("HTTP %d", status)
}
