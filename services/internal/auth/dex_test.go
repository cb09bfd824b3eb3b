package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/dextest"
)

// TestDex runs the verifier against Dex, a real OIDC provider. Dex signs
// its access tokens as ID tokens (no typ at+jwt, aud the client), so the
// resource server refuses them at the typ check, after the algorithm and
// the signature against Dex's JWKS have passed; Dex's ID tokens carry the
// role (groups) and employee id (preferred_username) that the web app's
// login maps to a principal.
func TestDex(t *testing.T) {
	t.Parallel()
	dex := dextest.Start(t, []dextest.Client{{ID: "jf-app", Secret: "app-secret", RedirectURIs: []string{"http://127.0.0.1:1/cb"}}},
		[]dextest.User{{Email: "mette@kk.dk", Password: "pw-mette", Name: "Mette Jensen", Username: "E1001", Groups: []string{"coordinator"}}})
	res, err := http.PostForm(dex.Issuer+"/token", url.Values{"grant_type": {"password"}, "client_id": {"jf-app"}, "client_secret": {"app-secret"},
		"username": {"mette@kk.dk"}, "password": {"pw-mette"}, "scope": {"openid profile email groups"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 || tok.AccessToken == "" || tok.IDToken == "" {
		t.Fatalf("password grant: %d %v %+v", res.StatusCode, err, tok)
	}
	hdr, err := jose.ParseSigned(tok.AccessToken, auth.AllowedAlgorithms)
	if err != nil {
		t.Fatalf("Dex's access token: %v", err)
	}
	typ, _ := hdr.Signatures[0].Header.ExtraHeaders[jose.HeaderType].(string)
	t.Logf("Dex access token: alg %s, typ %q", hdr.Signatures[0].Header.Algorithm, typ)

	v, err := auth.NewVerifier(auth.OIDCOptions{Issuer: dex.Issuer, Audience: "jf-app", RoleClaim: "groups", EmployeeClaim: "preferred_username"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), tok.AccessToken)
	var te *auth.TokenError
	if !errors.As(err, &te) || te.Check != "typ" {
		t.Fatalf("Dex's access token: want the typ check to refuse it (it is not at+jwt), got %v", err)
	}
	if v.Fetches() != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", v.Fetches())
	}
	// A token whose payload is changed fails Dex's signature.
	parts := strings.Split(tok.AccessToken, ".")
	other := strings.Split(tok.IDToken, ".")
	if parts[1] != other[1] {
		if _, err := v.Verify(context.Background(), parts[0]+"."+other[1]+"."+parts[2]); !errors.As(err, &te) || te.Check != "signature" {
			t.Fatalf("tampered Dex token: %v", err)
		}
	}

	// The ID token, as the web app's login checks it.
	p, err := oidc.NewProvider(context.Background(), dex.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: "jf-app"}).Verify(context.Background(), tok.IDToken)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	pr, err := auth.PrincipalFromClaims(claims, "groups", "preferred_username")
	sub, _ := claims["sub"].(string)
	if err != nil || sub == "" || pr.Kind != auth.Coordinator || pr.EmployeeID != "E1001" || pr.Name != "oidc:"+sub+" (E1001)" || pr.Key() != "oidc:"+sub {
		t.Fatalf("principal of Dex's ID token: %+v %v (claims %v)", pr, err, claims)
	}
}

// passwordGrant logs user in at Dex as client and returns the ID token.
func passwordGrant(t *testing.T, issuer, client, secret, user, password string) string {
	t.Helper()
	res, err := http.PostForm(issuer+"/token", url.Values{"grant_type": {"password"}, "client_id": {client}, "client_secret": {secret},
		"username": {user}, "password": {password}, "scope": {"openid profile email groups"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 || tok.IDToken == "" {
		t.Fatalf("password grant for %s: %d %v", user, res.StatusCode, err)
	}
	return tok.IDToken
}

// TestDexDeployConfig runs Dex on the compose file's idp config and logs
// each of the five persons in with the claims settings the compose file
// gives the standalone (groups, preferred_username).
func TestDexDeployConfig(t *testing.T) {
	t.Parallel()
	dex := dextest.StartConfig(t, filepath.Join("..", "..", "..", "deploy", "dex", "config.yaml"), "JF_OIDC_CLIENT_SECRET=s3cret")
	p, err := oidc.NewProvider(context.Background(), dex.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	ver := p.Verifier(&oidc.Config{ClientID: "jf-app"})
	// Each is named by Dex's sub, with the user name beside it: the
	// auditor is not the static principal "auditor".
	subs := map[string]bool{}
	for _, tc := range []struct {
		user, username string
		want           auth.Principal
	}{
		{"coordinator@jobogfamilie.test", "E1001", auth.Principal{Kind: auth.Coordinator, EmployeeID: "E1001"}},
		{"auditor@jobogfamilie.test", "auditor", auth.Principal{Kind: auth.Auditor}},
		{"analyst@jobogfamilie.test", "analyst", auth.Principal{Kind: auth.Analyst}},
		{"dpo@jobogfamilie.test", "dpo", auth.Principal{Kind: auth.DPO}},
		{"operator@jobogfamilie.test", "operator", auth.Principal{Kind: auth.Operator}},
	} {
		idt, err := ver.Verify(context.Background(), passwordGrant(t, dex.Issuer, "jf-app", "s3cret", tc.user, "dev-password"))
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		sub, _ := claims["sub"].(string)
		if sub == "" || subs[sub] {
			t.Fatalf("%s: sub %q missing or another user's", tc.user, sub)
		}
		subs[sub] = true
		tc.want.ID, tc.want.Name = "oidc:"+sub, "oidc:"+sub+" ("+tc.username+")"
		pr, err := auth.PrincipalFromClaims(claims, "groups", "preferred_username")
		if err != nil || pr != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.user, pr, err, tc.want)
		}
	}
	// The departments' clients are registered with their secrets.
	res, err := http.PostForm(dex.Issuer+"/token", url.Values{"grant_type": {"password"}, "client_id": {"jf-sof"}, "client_secret": {"wrong"},
		"username": {"auditor@jobogfamilie.test"}, "password": {"dev-password"}, "scope": {"openid"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("jf-sof with a wrong secret: %d", res.StatusCode)
	}
	passwordGrant(t, dex.Issuer, "jf-sof", "dev-sof-secret", "auditor@jobogfamilie.test", "dev-password")
}
