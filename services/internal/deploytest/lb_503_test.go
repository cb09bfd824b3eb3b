package deploytest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestLoadBalancerAppSession503: the web app keeps a session in the memory
// of the replica that made it, and lb pins /app/ to it by the cookie. When
// that replica answers a page 503 (its access-log write failed, or its
// read model is not ready), the person should get that answer (the web
// app's "Prøv igen om lidt" page), not be passed to the other replica,
// which does not know the session and sends them to the login page; nor
// should their next request, which the replica can answer, go elsewhere.
func TestLoadBalancerAppSession503(t *testing.T) {
	t.Parallel()
	bin := nginxBinary()
	if bin == "" {
		testenv.SkipUnlessCI(t, "no nginx on this machine")
	}
	var mu sync.Mutex
	owner := map[string]string{} // session cookie -> replica that made it
	var failing atomic.Value     // name of the replica whose family page answers 503
	failing.Store("")
	replica := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, "/app/") {
				fmt.Fprint(w, name)
				return
			}
			c, err := r.Cookie("jf_session")
			if err != nil {
				http.Error(w, "no session", http.StatusBadRequest)
				return
			}
			mu.Lock()
			o, ok := owner[c.Value]
			if !ok {
				owner[c.Value], o = name, name
			}
			mu.Unlock()
			if o != name { // withSession: no such session here
				http.Redirect(w, r, "/app/login", http.StatusSeeOther)
				return
			}
			if failing.Load() == name && r.URL.Path == "/app/families/F1" {
				w.Header().Set("Retry-After", "5")
				http.Error(w, name+": access log not written, try again", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, name)
		}))
	}
	a, b := replica("a"), replica("b")
	defer a.Close()
	defer b.Close()
	base := startLoadBalancer(t, bin, a, b)
	client := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, cookie string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Cookie", cookie)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	cookie := "jf_session=session-1"
	if st, _ := get("/app/families", cookie); st != 200 {
		t.Fatalf("first page: %d", st)
	}
	mu.Lock()
	home := owner["session-1"]
	mu.Unlock()
	failing.Store(home)
	st, loc := get("/app/families/F1", cookie)
	if st != http.StatusServiceUnavailable {
		t.Errorf("the session's replica answered the family page 503; the person got %d %q (another replica's answer), want the 503", st, loc)
	}
	failing.Store("")
	if st, loc := get("/app/families", cookie); st != 200 {
		t.Errorf("right after one 503, the next page of the same session: %d %q, want 200 from its replica %s", st, loc, home)
	}
}

// TestLoadBalancerMinPosition503: a replica that has not reached a read's
// X-Min-Position answers 503 after waiting for it. lb hands that answer to
// the client, rather than waiting as long again on the other replica, and
// does not count it against the replica, which goes on serving the reads
// it can. (A 503 that comes at once, from a replica not ready, is passed
// to the other replica: TestLoadBalancer.) The config's retry window,
// shorter than the wait, is shortened here with the wait, to keep the
// test quick.
func TestLoadBalancerMinPosition503(t *testing.T) {
	t.Parallel()
	bin := nginxBinary()
	if bin == "" {
		testenv.SkipUnlessCI(t, "no nginx on this machine")
	}
	const window, wait = 200 * time.Millisecond, 500 * time.Millisecond
	var waited atomic.Int32 // reads that waited for their X-Min-Position in vain
	replica := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get(projector.HeaderMinPosition) != "" {
				waited.Add(1)
				time.Sleep(wait)
				w.Header().Set("Retry-After", "1")
				http.Error(w, name+": position not applied", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, name)
		}))
	}
	a, b := replica("a"), replica("b")
	defer a.Close()
	defer b.Close()
	base := startLoadBalancer(t, bin, a, b,
		"proxy_next_upstream_timeout 4s;", fmt.Sprintf("proxy_next_upstream_timeout %dms;", window.Milliseconds()))
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(hdr map[string]string) (int, string) {
		req, _ := http.NewRequest("GET", base+"/v1/families/F1/timeline", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	st, body := get(map[string]string{projector.HeaderMinPosition: "42"})
	if st != http.StatusServiceUnavailable {
		t.Errorf("a read no replica has reached the position of: %d %q, want the replica's 503", st, body)
	}
	if n := waited.Load(); n != 1 {
		t.Errorf("the read waited on %d replicas, want 1: the wait's 503 goes to the client", n)
	}
	served := map[string]int{}
	for range 6 {
		st, who := get(nil)
		if st != 200 {
			t.Fatalf("a read without X-Min-Position: %d %q", st, who)
		}
		served[who]++
	}
	if served["a"] == 0 || served["b"] == 0 {
		t.Errorf("reads after one replica's X-Min-Position 503 went to %v: want both, the replica is not down", served)
	}
}

// TestLoadBalancerRetryWindow: lb retries a read on the other replica only
// within proxy_next_upstream_timeout of the first attempt: longer than it
// takes to find a replica unreachable (proxy_connect_timeout), shorter
// than a read waits for its X-Min-Position before it answers 503.
func TestLoadBalancerRetryWindow(t *testing.T) {
	t.Parallel()
	conf := read(t, "deploy", "lb", "nginx.conf")
	value := func(directive string) time.Duration {
		m := regexp.MustCompile(`(?m)^\s*`+directive+` (\d+s);`).FindAllStringSubmatch(conf, -1)
		if len(m) != 1 {
			t.Fatalf("nginx.conf sets %s %d times, want once", directive, len(m))
		}
		d, err := time.ParseDuration(m[0][1])
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	window, connect := value("proxy_next_upstream_timeout"), value("proxy_connect_timeout")
	if window >= projector.MinPositionWait {
		t.Errorf("proxy_next_upstream_timeout %s: not below the X-Min-Position wait, %s", window, projector.MinPositionWait)
	}
	if connect >= window {
		t.Errorf("proxy_connect_timeout %s: not below proxy_next_upstream_timeout, %s", connect, window)
	}
}
