package config_test

import (
	"io"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/config"
)

func TestOIDCSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want config.OIDC
		err  bool
	}{
		{name: "none", want: config.OIDC{RoleClaim: "roles", EmployeeClaim: "employee_id", JWKSLifetime: 10 * time.Minute}},
		{name: "environment", env: map[string]string{"JF_OIDC_ISSUER": "https://idp.kk.dk", "JF_OIDC_AUDIENCE": "jf-api",
			"JF_OIDC_ROLE_CLAIM": "groups", "JF_OIDC_EMPLOYEE_CLAIM": "emp", "JF_OIDC_CLIENT_ID": "jf-app",
			"JF_OIDC_CLIENT_SECRET": "s", "JF_OIDC_JWKS_LIFETIME": "2m"},
			want: config.OIDC{Issuer: "https://idp.kk.dk", Audience: "jf-api", RoleClaim: "groups", EmployeeClaim: "emp",
				ClientID: "jf-app", ClientSecret: "s", JWKSLifetime: 2 * time.Minute}},
		{name: "flags over environment", args: []string{"-oidc-issuer", "https://b", "-oidc-audience", "x", "-oidc-jwks-lifetime", "30s"},
			env:  map[string]string{"JF_OIDC_ISSUER": "https://a", "JF_OIDC_AUDIENCE": "y"},
			want: config.OIDC{Issuer: "https://b", Audience: "x", RoleClaim: "roles", EmployeeClaim: "employee_id", JWKSLifetime: 30 * time.Second}},
		{name: "issuer without audience", args: []string{"-oidc-issuer", "https://a"}, err: true},
		{name: "audience without issuer", args: []string{"-oidc-audience", "x"}, err: true},
		{name: "client without secret", args: []string{"-oidc-issuer", "https://a", "-oidc-audience", "x", "-oidc-client-id", "c"}, err: true},
		{name: "no lifetime", args: []string{"-oidc-issuer", "https://a", "-oidc-audience", "x", "-oidc-jwks-lifetime", "0s"}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Parse("test", tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.err {
				if err == nil {
					t.Fatalf("accepted: %+v", c.OIDC)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.OIDC != tc.want {
				t.Errorf("got %+v, want %+v", c.OIDC, tc.want)
			}
		})
	}
}
