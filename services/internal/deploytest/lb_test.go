package deploytest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestLoadBalancer runs deploy/lb/nginx.conf with the nginx on this machine
// (.ci/run installs it; skipped without one outside CI), its two upstream
// replicas played by two HTTP servers that name themselves: API reads go to
// both, to the other while one is down or answers 503 (not ready), and the
// web app's requests of one
// session stay on one replica. nginx runs as a process of the test's own,
// with its prefix, pid file, temporary files and error log in the test's
// temporary directory: no nginx service is needed, nor started.
func TestLoadBalancer(t *testing.T) {
	t.Parallel()
	bin := nginxBinary()
	if bin == "" {
		testenv.SkipUnlessCI(t, "no nginx on this machine: deploy/lb/nginx.conf not run")
	}
	// A replica whose read model is not ready answers family reads 503
	// (the projector's ErrNotReady).
	var aNotReady atomic.Bool
	replica := func(name string, notReady *atomic.Bool) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if notReady != nil && notReady.Load() && strings.HasPrefix(r.URL.Path, "/v1/") {
				w.Header().Set("Retry-After", "5")
				http.Error(w, name+" not ready", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, name)
		}))
	}
	a, b := replica("a", &aNotReady), replica("b", nil)
	defer a.Close() // closed below, to take it down; a second Close is harmless
	defer b.Close()
	base := startLoadBalancer(t, bin, a, b)
	// A timeout only so that a hung nginx fails the test, not to time it.
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path, cookie string) (string, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("status %d %s", resp.StatusCode, body)
		}
		return string(body), nil
	}

	served := map[string]int{}
	for range 10 {
		who, err := get("/v1/families/F1/timeline", "")
		if err != nil {
			t.Fatal(err)
		}
		served[who]++
	}
	if served["a"] == 0 || served["b"] == 0 {
		t.Errorf("API reads served %v: want both replicas", served)
	}
	// Sessions are spread by their cookie, jf_session or, with
	// JF_APP_SECURE_COOKIE, __Host-jf_session, wherever it stands in the
	// Cookie header; each stays on its replica. All from one address, so a
	// balancer that fell back to the client's address would send all of
	// them to one replica (16 sessions on one of two: 2^-15 by chance).
	for _, cookie := range []string{"jf_session=%s", "__Host-jf_session=%s", "theme=dark; __Host-jf_session=%s; lang=da"} {
		spread := map[string]int{}
		for i := range 16 {
			c := fmt.Sprintf(cookie, fmt.Sprintf("session-%d", i))
			first, err := get("/app/families", c)
			if err != nil {
				t.Fatal(err)
			}
			spread[first]++
			for range 3 {
				if who, err := get("/app/families", c); err != nil || who != first {
					t.Errorf("session %q went to %s, then %q (%v): the web app's sessions must stay on one replica", c, first, who, err)
				}
			}
		}
		if spread["a"] == 0 || spread["b"] == 0 {
			t.Errorf("16 sessions with cookie %q went to %v: the balancer does not hash the session cookie", cookie, spread)
		}
	}
	// A replica not ready yet (loading its read model): the reads go to
	// the other.
	aNotReady.Store(true)
	for i := range 6 {
		if who, err := get("/v1/families/F1/timeline", ""); err != nil || who != "b" {
			t.Errorf("read %d with a not ready: %q, %v; want b", i, who, err)
		}
	}
	a.Close()
	for i := range 6 {
		if who, err := get("/v1/families/F1/timeline", ""); err != nil || who != "b" {
			t.Errorf("read %d with a down: %q, %v; want b", i, who, err)
		}
	}
}

// startLoadBalancer runs deploy/lb/nginx.conf until the test ends, its
// upstreams a and b, each pair of replace (old, new) applied to the config
// too, and returns its base URL. nginx's port is in its config, picked
// before it starts: another process may take it meanwhile, and then nginx
// starts again on another.
func startLoadBalancer(t *testing.T, bin string, a, b *httptest.Server, replace ...string) string {
	t.Helper()
	dir := t.TempDir()
	var base string
	testenv.RetryAddrInUse(t, 3, func(attempt int) error {
		port := testenv.FreePorts(t, 1)[0]
		conf := strings.NewReplacer(append([]string{
			"server projector-a:8080", "server " + a.Listener.Addr().String(),
			"server projector-b:8080", "server " + b.Listener.Addr().String(),
			"listen 8080;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
			"/tmp/", dir + "/",
		}, replace...)...).Replace(read(t, "deploy", "lb", "nginx.conf"))
		if strings.Count(conf, "server 127.0.0.1:") != 4 {
			t.Fatalf("nginx.conf's upstreams are not the two replicas of compose twice:\n%s", conf)
		}
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		// -p and -e: nothing of the package's own prefix (/etc/nginx,
		// /var/log/nginx) is read or written.
		if out, err := exec.Command(bin, "-p", dir+"/", "-e", "stderr", "-t", "-c", path).CombinedOutput(); err != nil {
			t.Fatalf("nginx -t: %v\n%s", err, out)
		}
		base = fmt.Sprintf("http://127.0.0.1:%d", port)
		return startNginx(t, bin, dir, path, fmt.Sprintf("nginx-%d.log", attempt), base)
	})
	return base
}

// startNginx runs nginx with the config at path, in dir, until the test
// ends, once a replica answers through it at base; an nginx that exits
// first (one that cannot bind its port tries for a while, then exits) is
// the error, with what it wrote to dir/logName.
func startNginx(t *testing.T, bin, dir, path, logName, base string) error {
	t.Helper()
	// A file, not a pipe: nginx's workers would hold a pipe open past the
	// master.
	logs, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cmd := exec.Command(bin, "-p", dir+"/", "-e", "stderr", "-c", path, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		// SIGTERM: the master stops its workers, then itself.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("nginx did not stop on SIGTERM")
		}
	}
	// Ready when a replica names itself through nginx, not when anything
	// answers on the port: that may be whoever took it, and it may never
	// answer.
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := client.Get(base + "/readyz"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if who := string(body); resp.StatusCode == 200 && (who == "a" || who == "b") {
				t.Cleanup(stop)
				return nil
			}
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(logs.Name())
			return fmt.Errorf("nginx exited before it served: %s", out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			out, _ := os.ReadFile(logs.Name())
			return fmt.Errorf("nginx did not serve within 30 s: %s", out)
		}
	}
}

// nginxBinary is nginx's path, or "" without one: on the PATH, or where
// Debian's package puts it, /usr/sbin, which a user's PATH may lack.
func nginxBinary() string {
	if bin, err := exec.LookPath("nginx"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}
