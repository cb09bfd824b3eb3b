package deploytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestLoadBalancerPassesHostWithPort: the web app builds its IdP login's
// redirect URI from the request's Host (webapp's oidc.go), which must be
// the address the browser used and the IdP has registered, port
// included: http://127.0.0.1:8080/app/login/callback behind compose's lb,
// or a TLS proxy on a port of its own. nginx's $host drops the port, so
// the replica would send the browser back to port 80.
func TestLoadBalancerPassesHostWithPort(t *testing.T) {
	t.Parallel()
	bin := nginxBinary()
	if bin == "" {
		testenv.SkipUnlessCI(t, "no nginx on this machine: deploy/lb/nginx.conf not run")
	}
	// Each replica names itself on /readyz, as startLoadBalancer waits
	// for, and answers every other path with the Host it was sent.
	echo := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/readyz" {
				io.WriteString(w, name)
				return
			}
			io.WriteString(w, r.Host)
		}))
	}
	a, b := echo("a"), echo("b")
	defer a.Close()
	defer b.Close()
	base := startLoadBalancer(t, bin, a, b)
	want := strings.TrimPrefix(base, "http://")
	client := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"/app/login", "/v1/families", "/v1/families/F1/timeline/stream"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != want {
			t.Errorf("%s: the replica sees Host %q, want %q", path, got, want)
		}
	}
}
