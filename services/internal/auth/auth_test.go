package auth_test

import (
	"net/http"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
)

func TestDevConfigPrincipals(t *testing.T) {
	t.Parallel()
	a, err := auth.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !a.UsesDevTokens() {
		t.Fatal("the dev config must be recognised as using dev tokens")
	}
	tests := []struct {
		header string
		kind   auth.Kind
		dept   events.Department
		emp    string
		err    error
	}{
		{header: "Bearer dev-sof", kind: auth.Department, dept: events.SOF},
		{header: "Bearer dev-suf", kind: auth.Department, dept: events.SUF},
		{header: "bearer dev-coordinator", kind: auth.Coordinator, emp: "E1001"},
		{header: "Bearer dev-coordinator-2", kind: auth.Coordinator, emp: "E1002"},
		{header: "Bearer dev-auditor", kind: auth.Auditor},
		{header: "Bearer dev-operator", kind: auth.Operator},
		{header: "Bearer dev-analyst", kind: auth.Analyst},
		{header: "Bearer dev-dpo", kind: auth.DPO},
		{header: "", err: auth.ErrNoToken},
		{header: "Basic dev-sof", err: auth.ErrNoToken},
		{header: "Bearer ", err: auth.ErrNoToken},
		{header: "Bearer dev-sof2", err: auth.ErrUnknownToken},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			p, err := a.Authenticate(r)
			if err != tc.err {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil && (p.Kind != tc.kind || p.Department != tc.dept || p.EmployeeID != tc.emp) {
				t.Fatalf("principal %+v", p)
			}
		})
	}
}

func TestConfigRejectsBadEntries(t *testing.T) {
	t.Parallel()
	h := auth.Hash("secret")
	tests := map[string]string{
		"not json":          `{`,
		"no principals":     `{"principals":[]}`,
		"short hash":        `{"principals":[{"name":"x","kind":"auditor","tokenSha256":"abc"}]}`,
		"unknown kind":      `{"principals":[{"name":"x","kind":"root","tokenSha256":"` + h + `"}]}`,
		"unknown dept":      `{"principals":[{"name":"x","kind":"department","department":"xyz","tokenSha256":"` + h + `"}]}`,
		"CPR employee id":   `{"principals":[{"name":"x","kind":"coordinator","employeeId":"0102031234","tokenSha256":"` + h + `"}]}`,
		"same hash twice":   `{"principals":[{"name":"x","kind":"auditor","tokenSha256":"` + h + `"},{"name":"y","kind":"auditor","tokenSha256":"` + h + `"}]}`,
		"plain token field": `{"principals":[{"name":"x","kind":"auditor","token":"secret","tokenSha256":"` + h + `"}]}`,
		// IdP users' names are oidc:<sub>; none may be taken for a static principal.
		"IdP name":            `{"principals":[{"name":"oidc:user-1","kind":"auditor","tokenSha256":"` + h + `"}]}`,
		"IdP name, uppercase": `{"principals":[{"name":" OIDC:user-1","kind":"auditor","tokenSha256":"` + h + `"}]}`,
		// A command-line tool's reads are logged as cli:<tool> (<user>).
		"CLI name": `{"principals":[{"name":"CLI:audit (root)","kind":"auditor","tokenSha256":"` + h + `"}]}`,
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := auth.Parse([]byte(cfg))
			if err == nil {
				t.Fatalf("accepted %s", cfg)
			}
			if strings.HasPrefix(name, "IdP name") && !strings.Contains(err.Error(), `"oidc:"`) ||
				name == "CLI name" && !strings.Contains(err.Error(), `"cli:"`) {
				t.Errorf("the error does not say why: %v", err)
			}
		})
	}
	a, err := auth.Parse([]byte(`{"principals":[{"name":"x","kind":"auditor","tokenSha256":"` + strings.ToUpper(h) + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.UsesDevTokens() {
		t.Fatal("a config without dev tokens reported dev tokens")
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer secret")
	if p, err := a.Authenticate(r); err != nil || p.Kind != auth.Auditor {
		t.Fatalf("%+v %v", p, err)
	}
}
