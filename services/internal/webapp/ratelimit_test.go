package webapp

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

// TestLoginLimiter: failures count per client address (an IPv6 client's
// /64), in a sliding window, in a table of bounded size.
func TestLoginLimiter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	l := newLoginLimiter(func() time.Time { return now })
	fail := func(addr string, n int) {
		for range n {
			l.failed(addr)
		}
	}
	fail("192.0.2.1:5000", LoginFailures-1)
	if d := l.blocked("192.0.2.1:6000"); d != 0 {
		t.Fatalf("blocked below the limit: %v", d)
	}
	fail("192.0.2.1:6000", 1)
	if d := l.blocked("192.0.2.1:7000"); d != LoginWindow {
		t.Fatalf("at the limit: %v, want %v", d, LoginWindow)
	}
	for _, other := range []string{"192.0.2.2:5000", "[2001:db8:0:2::1]:5000", "not an address"} {
		if d := l.blocked(other); d != 0 {
			t.Errorf("%s blocked by another's failures: %v", other, d)
		}
	}
	// An IPv6 client's /64 is one address; an IPv4-mapped one is its IPv4.
	fail("[2001:db8:0:1::1]:5000", LoginFailures)
	if d := l.blocked("[2001:db8:0:1:ffff::2]:5000"); d == 0 {
		t.Error("another host of the same /64 not blocked")
	}
	if d := l.blocked("[::ffff:192.0.2.1]:5000"); d == 0 {
		t.Error("IPv4-mapped address not counted as its IPv4 address")
	}
	now = now.Add(LoginWindow)
	if d := l.blocked("192.0.2.1:5000"); d != 0 {
		t.Errorf("blocked after the window: %v", d)
	}
	if n := len(l.failures); n != 1 {
		t.Errorf("%d addresses kept after their window, want the /64's 1", n)
	}
	// The table stays bounded under failures from many addresses.
	for i := range loginAddresses + 100 {
		l.failed(fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255))
		if i%1000 == 0 {
			now = now.Add(time.Second)
		}
	}
	if n := len(l.failures); n > loginAddresses {
		t.Errorf("%d addresses in the table, at most %d", n, loginAddresses)
	}
}

// TestClientAddr: X-Forwarded-For is believed only from a trusted proxy,
// and only its right-most hop that is not itself a trusted proxy.
func TestClientAddr(t *testing.T) {
	t.Parallel()
	trusted, err := ParseProxies(" 127.0.0.1, 10.1.0.0/16 ,::1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProxies("proxy.example"); err == nil {
		t.Error("a host name accepted as a trusted proxy")
	}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"direct", "192.0.2.7:4000", nil, "192.0.2.7"},
		{"direct, forged header", "192.0.2.7:4000", []string{"198.51.100.1"}, "192.0.2.7"},
		{"proxy", "127.0.0.1:4000", []string{"192.0.2.8"}, "192.0.2.8"},
		{"proxy, client forged a hop", "127.0.0.1:4000", []string{"198.51.100.1, 192.0.2.8"}, "192.0.2.8"},
		{"two proxies", "[::1]:4000", []string{"192.0.2.9, 10.1.2.3"}, "192.0.2.9"},
		{"two header lines", "127.0.0.1:4000", []string{"198.51.100.1", "192.0.2.10"}, "192.0.2.10"},
		{"proxy without header", "127.0.0.1:4000", nil, "127.0.0.1"},
		{"proxy, garbage hop", "127.0.0.1:4000", []string{"192.0.2.11, junk"}, "127.0.0.1"},
	} {
		r := httptest.NewRequest("POST", "/app/login", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientAddr(r, trusted); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
