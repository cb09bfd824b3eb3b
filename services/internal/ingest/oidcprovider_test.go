package ingest_test

import (
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/oidcprovidertest"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestOIDCProviderIngest: a department system posts an event through the
// real ingest API with a client-credentials access token of oidc-provider,
// a real OIDC provider process, as deploy/README.md's "Department
// systems" describes; its token for another resource is answered 401 with
// the failed check, and its department is the one of its role.
func TestOIDCProviderIngest(t *testing.T) {
	t.Parallel()
	op := oidcprovidertest.Start(t, oidcprovidertest.Client{ID: "jf-bif", Secret: "bif-secret", Role: "department:bif"})
	sys := testenv.StartSystem(t, func(c *config.Config) {
		c.OIDC = config.OIDC{Issuer: op.Issuer, Audience: oidcprovidertest.API, RoleClaim: "roles", EmployeeClaim: "employee_id",
			JWKSLifetime: auth.DefaultJWKSLifetime}
	})
	ct := map[string]string{"Content-Type": "application/cloudevents+json"}
	body := ev(t, events.BIF, "F-OP1", praktik("PR1"))

	if r := sys.Do("POST", "/departments/bif/v1/events", op.Token(t, "jf-bif", oidcprovidertest.API), body, ct); r.Status != 201 {
		t.Fatalf("POST with jf-bif's access token: %d %s", r.Status, r.Raw)
	}
	if r := sys.Do("POST", "/departments/bif/v1/events", op.Token(t, "jf-bif", oidcprovidertest.Other), ev(t, events.BIF, "F-OP1", praktik("PR2")), ct); r.Status != 401 ||
		!strings.Contains(r.Raw, "aud check") {
		t.Fatalf("POST with jf-bif's token for another resource: %d %s, want 401 naming the aud check", r.Status, r.Raw)
	}
	if r := sys.Do("POST", "/departments/sof/v1/events", op.Token(t, "jf-bif", oidcprovidertest.API), ev(t, events.SOF, "F-OP1", testenv.Enrolment()), ct); r.Status != 403 ||
		!strings.Contains(r.Raw, `principal \"oidc:jf-bif\" may not emit events for department sof`) {
		t.Fatalf("POST to sof with jf-bif's access token: %d %s, want 403", r.Status, r.Raw)
	}
}
