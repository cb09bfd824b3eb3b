package auth_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/oidcprovidertest"
)

// TestOIDCProvider runs the resource server against oidc-provider, a real
// OpenID Certified provider in its own process: a department system's
// client-credentials token for the API's resource is an RFC 9068 access
// token (typ at+jwt) that passes every check and is the department; the
// same client's token for another resource is refused at aud, and a
// client whose role is none of ours at role.
func TestOIDCProvider(t *testing.T) {
	t.Parallel()
	op := oidcprovidertest.Start(t,
		oidcprovidertest.Client{ID: "jf-bif", Secret: "bif-secret", Role: "department:bif"},
		oidcprovidertest.Client{ID: "jf-janitor", Secret: "janitor-secret", Role: "janitor", Post: true})
	ctx := context.Background()
	v, err := auth.NewVerifier(auth.OIDCOptions{Issuer: op.Issuer, Audience: oidcprovidertest.API})
	if err != nil {
		t.Fatal(err)
	}
	refused := func(what, token, check string) {
		t.Helper()
		_, err := v.Verify(ctx, token)
		var te *auth.TokenError
		if !errors.As(err, &te) || te.Check != check {
			t.Errorf("%s: want the %s check to refuse it, got %v", what, check, err)
		}
	}

	tok := op.Token(t, "jf-bif", oidcprovidertest.API)
	sig, err := jose.ParseSigned(tok, auth.AllowedAlgorithms)
	if err != nil {
		t.Fatal(err)
	}
	h := sig.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" || h.Algorithm != "RS256" || h.KeyID == "" {
		t.Fatalf("access token header: alg %s, typ %q, kid %q; want RS256, at+jwt and a kid", h.Algorithm, typ, h.KeyID)
	}
	want := auth.Principal{Name: "oidc:jf-bif", ID: "oidc:jf-bif", Kind: auth.Department, Department: "bif"}
	if p, err := v.Verify(ctx, tok); err != nil || p != want {
		t.Fatalf("jf-bif's access token: %+v %v, want %+v", p, err, want)
	}
	// As the APIs take it: a bearer token next to the static ones.
	a, err := auth.Load("")
	if err != nil {
		t.Fatal(err)
	}
	a.UseOIDC(v)
	r := httptest.NewRequest("POST", "/departments/bif/v1/events", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if p, err := a.Authenticate(r); err != nil || p != want {
		t.Fatalf("Authenticate with jf-bif's access token: %+v %v", p, err)
	}

	refused("jf-bif's token for another resource", op.Token(t, "jf-bif", oidcprovidertest.Other), "aud")
	refused("jf-janitor's token", op.Token(t, "jf-janitor", oidcprovidertest.API), "role")
	// Without a resource indicator the provider issues an opaque token:
	// a department system must name the API's resource.
	refused("a token without resource", op.Token(t, "jf-bif", ""), "format")
	// A resource the provider does not know gets no token at all.
	var te *oidcprovidertest.TokenError
	if _, err := op.ClientCredentials(ctx, "jf-bif", "https://jobogfamilie.kk.dk/unknown"); !errors.As(err, &te) || te.Code != "invalid_target" {
		t.Errorf("unknown resource: %v", err)
	}
	if n := v.Fetches(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}
}
