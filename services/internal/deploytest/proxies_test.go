package deploytest

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/webapp"
)

// TestComposeProjectorsTrustTheirProxy: in compose.yaml the web app of
// both projector replicas is reached only through lb (nginx), which sets
// X-Forwarded-For (deploy/lb/nginx.conf). deploy/README.md: "The proxy
// sets X-Forwarded-For, and the projector's JF_APP_TRUSTED_PROXIES names
// the proxy's addresses, so that the web app's login rate limit counts
// failed logins per client and not against the proxy." Without it, ten
// wrong tokens from anyone lock every user out of /app/login for 10 min.
// The setting takes addresses, not names: lb has a fixed address in the
// network's fixed subnet, outside the range the other containers get
// theirs from, and each replica's JF_APP_TRUSTED_PROXIES holds it.
func TestComposeProjectorsTrustTheirProxy(t *testing.T) {
	t.Parallel()
	// Without the header every client's failed logins count against
	// lb's own address: the promise fails, so the test does.
	if !regexp.MustCompile(`(?m)^\s*proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for\s*;`).MatchString(read(t, "deploy", "lb", "nginx.conf")) {
		t.Fatal("deploy/lb/nginx.conf does not set X-Forwarded-For, which deploy/README.md says the proxy sets")
	}
	compose := read(t, "deploy", "compose.yaml")
	field := func(body, key string) string {
		m := regexp.MustCompile(`(?m)^ +(?:- )?` + regexp.QuoteMeta(key) + `: *(\S+)\s*$`).FindStringSubmatch(body)
		if m == nil {
			return ""
		}
		return m[1]
	}
	prefix := func(what, s string) netip.Prefix {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.Fatalf("compose.yaml: %s %q: %v", what, s, err)
		}
		return p
	}
	network := regexp.MustCompile(`(?m)^networks:\n((?:  .*\n|\n)*)`).FindStringSubmatch(compose)
	if network == nil {
		t.Fatal("compose.yaml has no networks: lb has no fixed address to trust")
	}
	subnet, dynamic := prefix("subnet", field(network[1], "subnet")), prefix("ip_range", field(network[1], "ip_range"))

	services := regexp.MustCompile(`(?m)^  ([a-z0-9-]+):\n((?:    .*\n|\n)*)`).FindAllStringSubmatch(compose, -1)
	body := map[string]string{}
	var projectors []string
	for _, m := range services {
		if _, seen := body[m[1]]; seen {
			continue
		}
		body[m[1]] = m[2]
		if strings.HasPrefix(m[1], "projector-") {
			projectors = append(projectors, m[1])
		}
	}
	if len(projectors) == 0 {
		t.Fatal("no projector replicas in compose.yaml")
	}
	lb, err := netip.ParseAddr(field(body["lb"], "ipv4_address"))
	if err != nil {
		t.Fatalf("compose service lb has no fixed ipv4_address: %v", err)
	}
	if !subnet.Contains(lb) || dynamic.Contains(lb) {
		t.Errorf("lb's address %s is not in the subnet %s outside its ip_range %s: another container may get it", lb, subnet, dynamic)
	}
	for _, name := range projectors {
		v := field(body[name], "JF_APP_TRUSTED_PROXIES")
		if v == "" {
			t.Errorf("compose service %s sits behind lb (which sets X-Forwarded-For) but has no JF_APP_TRUSTED_PROXIES: every failed /app login counts against lb's address", name)
			continue
		}
		trusted, err := webapp.ParseProxies(v)
		if err != nil {
			t.Errorf("compose service %s: %v", name, err)
			continue
		}
		if !slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(lb) }) {
			t.Errorf("compose service %s trusts %s, not lb's address %s", name, v, lb)
		}
		if slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Overlaps(dynamic) }) {
			t.Errorf("compose service %s trusts %s, which holds other containers' addresses: they could forge X-Forwarded-For", name, v)
		}
	}
}
