package webapp

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Failed logins are limited per client address (OWASP ASVS 2.2.1): the
// tokens of the configuration are secrets an operator chose, and the login
// form must not let anyone try them at the speed a script asks. After
// LoginFailures wrong tokens from one address within LoginWindow the form
// answers 429, with Retry-After, until the oldest of them is LoginWindow
// old; a correct token is refused too while the address waits.
const (
	LoginFailures = 10
	LoginWindow   = 10 * time.Minute
	// loginAddresses bounds the table; past it the address whose last
	// failure is oldest is forgotten first.
	loginAddresses = 10000
)

// loginLimiter counts failed logins per client address in a sliding
// window. A successful login does not clear the count: a person holding
// one valid token must not be able to reset the count between guesses.
type loginLimiter struct {
	mu       sync.Mutex
	now      func() time.Time
	failures map[netip.Prefix][]time.Time // oldest first, at most LoginFailures
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, failures: map[netip.Prefix][]time.Time{}}
}

// ParseProxies reads a comma-separated list of IP addresses and CIDR
// prefixes (config.Config.AppTrustedProxies).
func ParseProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("webapp: trusted proxy %q is neither an IP address nor a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	return out, nil
}

// clientAddr is the address of the client that sent r: the connection's
// peer, unless the peer is a trusted proxy; then the right-most address
// of X-Forwarded-For that is not a trusted proxy (the left ones are the
// client's to write, and so not believed).
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	isTrusted := func(s string) bool {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		ip = ip.Unmap()
		return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(ip) })
	}
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		peer = r.RemoteAddr
	}
	if !isTrusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" || isTrusted(h) {
			continue
		}
		if _, err := netip.ParseAddr(h); err != nil {
			break // a hop a proxy did not write: stop at the last believed one
		}
		return h
	}
	return peer
}

// clientKey is the address a request is counted under: the client's IP
// address, an IPv6 client's /64 (one host usually holds a whole /64).
func clientKey(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// blocked tells how long the address must wait before it may try again;
// 0 when it may try now.
func (l *loginLimiter) blocked(addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := clientKey(addr)
	fs := l.recent(key, l.now())
	if len(fs) < LoginFailures {
		return 0
	}
	return fs[0].Add(LoginWindow).Sub(l.now())
}

// failed records a failed login from the address.
func (l *loginLimiter) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key, now := clientKey(addr), l.now()
	fs := l.recent(key, now)
	if fs == nil && len(l.failures) >= loginAddresses {
		l.evict(now)
	}
	fs = append(fs, now)
	if len(fs) > LoginFailures {
		fs = fs[len(fs)-LoginFailures:]
	}
	l.failures[key] = fs
}

// recent is the address's failures within the window, dropping older ones.
func (l *loginLimiter) recent(key netip.Prefix, now time.Time) []time.Time {
	fs := l.failures[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= LoginWindow {
		i++
	}
	if i == len(fs) {
		delete(l.failures, key)
		return nil
	}
	fs = fs[i:]
	l.failures[key] = fs
	return fs
}

// evict drops the addresses whose failures are all out of the window and,
// if the table is still full, the one whose last failure is oldest.
func (l *loginLimiter) evict(now time.Time) {
	var (
		oldest   netip.Prefix
		oldestAt time.Time
	)
	for key, fs := range l.failures {
		last := fs[len(fs)-1]
		if now.Sub(last) >= LoginWindow {
			delete(l.failures, key)
			continue
		}
		if oldestAt.IsZero() || last.Before(oldestAt) {
			oldest, oldestAt = key, last
		}
	}
	if len(l.failures) >= loginAddresses {
		delete(l.failures, oldest)
	}
}
