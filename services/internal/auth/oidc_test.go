package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/idptest"
	"kk.dk/jobogfamilie/services/internal/problem"
)

const audience = "https://jobogfamilie.kk.dk/api"

// clock is a settable clock for the verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(t *testing.T) (*idptest.IdP, *auth.Authenticator, *auth.Verifier, *clock) {
	t.Helper()
	idp := idptest.New(t, audience)
	clk := &clock{t: time.Now()}
	v, err := auth.NewVerifier(auth.OIDCOptions{Issuer: idp.URL, Audience: audience, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.Load("")
	if err != nil {
		t.Fatal(err)
	}
	a.UseOIDC(v)
	return idp, a, v, clk
}

func authenticate(a *auth.Authenticator, token string) (auth.Principal, error) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return a.Authenticate(r)
}

// refused asserts a 401 that names check and does not echo the token.
func refused(t *testing.T, a *auth.Authenticator, token, check string) {
	t.Helper()
	_, err := authenticate(a, token)
	var te *auth.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("%s: want a TokenError, got %v", check, err)
	}
	if te.Check != check {
		t.Fatalf("want the %s check to fail, got %s (%s)", check, te.Check, te.Detail)
	}
	p := problem.From(err)
	if p.Status != http.StatusUnauthorized || !strings.Contains(p.Detail, check) {
		t.Fatalf("%s: problem %+v", check, p)
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) > 8 && (strings.Contains(p.Detail, part) || strings.Contains(err.Error(), part)) {
			t.Fatalf("%s: the problem echoes the token", check)
		}
	}
}

func TestOIDCAcceptsAccessTokens(t *testing.T) {
	t.Parallel()
	idp, a, _, _ := setup(t)
	tests := []struct {
		claims map[string]any
		want   auth.Principal
	}{
		{map[string]any{"roles": []string{"coordinator", "everyone"}, "employee_id": "E2001", "name": "Mette Jensen", "preferred_username": "mette.jensen@kk.dk"},
			auth.Principal{Name: "oidc:user-1 (mette.jensen@kk.dk)", ID: "oidc:user-1", Kind: auth.Coordinator, EmployeeID: "E2001"}},
		{map[string]any{"roles": "auditor"}, auth.Principal{Name: "oidc:user-1", ID: "oidc:user-1", Kind: auth.Auditor}},
		{map[string]any{"roles": []string{"analyst"}}, auth.Principal{Name: "oidc:user-1", ID: "oidc:user-1", Kind: auth.Analyst}},
		{map[string]any{"roles": []string{"dpo"}}, auth.Principal{Name: "oidc:user-1", ID: "oidc:user-1", Kind: auth.DPO}},
		{map[string]any{"roles": []string{"operator"}}, auth.Principal{Name: "oidc:user-1", ID: "oidc:user-1", Kind: auth.Operator}},
		{map[string]any{"roles": []string{"department:sof"}, "sub": "sof-system"},
			auth.Principal{Name: "oidc:sof-system", ID: "oidc:sof-system", Kind: auth.Department, Department: events.SOF}},
		{map[string]any{"roles": []string{"department:suf"}, "sub": "suf-system"},
			auth.Principal{Name: "oidc:suf-system", ID: "oidc:suf-system", Kind: auth.Department, Department: events.SUF}},
		// The same role twice is one role.
		{map[string]any{"roles": []string{"auditor", "auditor"}}, auth.Principal{Name: "oidc:user-1", ID: "oidc:user-1", Kind: auth.Auditor}},
		// Leeway: expired 50 s ago and valid from 50 s on still pass.
		{map[string]any{"roles": "auditor", "exp": time.Now().Add(-50 * time.Second).Unix(), "nbf": time.Now().Add(50 * time.Second).Unix()},
			auth.Principal{Name: "oidc:user-1", ID: "oidc:user-1", Kind: auth.Auditor}},
		// aud as a list containing the audience.
		{map[string]any{"roles": "auditor", "aud": []string{"other", audience}}, auth.Principal{Name: "oidc:user-1", ID: "oidc:user-1", Kind: auth.Auditor}},
	}
	for _, tc := range tests {
		p, err := authenticate(a, idp.AccessToken(t, tc.claims))
		if err != nil {
			t.Fatalf("%v: %v", tc.claims, err)
		}
		if p != tc.want {
			t.Fatalf("%v: got %+v, want %+v", tc.claims, p, tc.want)
		}
	}
	// The static tokens still work beside the JWTs.
	if p, err := authenticate(a, "dev-sof"); err != nil || p.Department != events.SOF {
		t.Fatalf("static token: %+v %v", p, err)
	}
	// Other algorithms of the allow-list verify too (both keys are
	// published before the refresh that the first of them triggers).
	kids := map[jose.SignatureAlgorithm]string{jose.PS256: idp.AddKey(t, jose.PS256), jose.ES256: idp.AddKey(t, jose.ES256)}
	for alg, kid := range kids {
		tok := idp.Sign(t, idptest.Options{KeyID: kid}, map[string]any{"roles": "auditor"})
		if _, err := authenticate(a, tok); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
	}
}

func TestOIDCRefusesEachFailedCheck(t *testing.T) {
	t.Parallel()
	idp, a, _, _ := setup(t)
	role := map[string]any{"roles": "auditor"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{"roles": "auditor"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	good := idp.AccessToken(t, role)
	parts := strings.Split(good, ".")
	now := time.Now()

	// alg none: an unsigned token with the good claims.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
	refused(t, a, none, "algorithm")
	// HMAC with the issuer's public key as the secret.
	rsaKid := headerKid(t, good)
	der, err := x509.MarshalPKIXPublicKey(idp.PublicKey(rsaKid))
	if err != nil {
		t.Fatal(err)
	}
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: der, KeyID: rsaKid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	hmacTok, err := jwt.Signed(hs).Claims(map[string]any{"iss": idp.URL, "aud": audience, "sub": "x", "roles": "auditor",
		"exp": now.Add(time.Minute).Unix()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	refused(t, a, hmacTok, "algorithm")
	// A tampered payload: the signature does not verify.
	evil := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"` + idp.URL + `","aud":"` + audience + `","sub":"x","roles":"auditor","exp":9999999999}`))
	refused(t, a, parts[0]+"."+evil+"."+parts[2], "signature")
	// Not a JWT at all, shaped like one.
	refused(t, a, "a.b.c", "format")
	// An ID token of the same issuer, or a token without typ.
	refused(t, a, idp.Sign(t, idptest.Options{Typ: "JWT"}, role), "typ")
	refused(t, a, idp.Sign(t, idptest.Options{Typ: "-"}, role), "typ")
	refused(t, a, idp.AccessToken(t, with("iss", "https://idp.example.org")), "iss")
	refused(t, a, idp.AccessToken(t, with("aud", "https://other.example.org")), "aud")
	refused(t, a, idp.AccessToken(t, with("aud", nil)), "aud")
	refused(t, a, idp.AccessToken(t, with("exp", now.Add(-61*time.Second).Unix())), "exp")
	refused(t, a, idp.AccessToken(t, with("exp", nil)), "exp")
	refused(t, a, idp.AccessToken(t, with("nbf", now.Add(61*time.Second).Unix())), "nbf")
	refused(t, a, idp.AccessToken(t, map[string]any{}), "role")
	refused(t, a, idp.AccessToken(t, with("roles", []string{"everyone", "admin"})), "role")
	refused(t, a, idp.AccessToken(t, with("roles", []string{"auditor", "coordinator"})), "role")
	refused(t, a, idp.AccessToken(t, with("roles", "department:xyz")), "role")
	refused(t, a, idp.AccessToken(t, with("roles", 7)), "role")
	refused(t, a, idp.AccessToken(t, with("roles", "coordinator")), "employee")
	refused(t, a, idp.AccessToken(t, with("roles", "coordinator", "employee_id", "")), "employee")
	refused(t, a, idp.AccessToken(t, with("roles", "coordinator", "employee_id", "0101901234")), "employee")
	refused(t, a, idp.AccessToken(t, with("sub", nil)), "sub")
	// A token signed by a key the issuer never published.
	other := idptest.New(t, audience)
	refused(t, a, other.Sign(t, idptest.Options{}, with("iss", idp.URL)), "signature")
	// And without a kid, by a key not in the JWKS.
	refused(t, a, other.Sign(t, idptest.Options{NoKeyID: true}, with("iss", idp.URL)), "signature")
}

func headerKid(t *testing.T, tok string) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, auth.AllowedAlgorithms)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Headers[0].KeyID
}

func TestOIDCConfiguredClaims(t *testing.T) {
	t.Parallel()
	idp := idptest.New(t, audience)
	v, err := auth.NewVerifier(auth.OIDCOptions{Issuer: idp.URL, Audience: audience,
		RoleClaim: "realm_access.roles", EmployeeClaim: "https://kk.dk/employee"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), idp.AccessToken(t, map[string]any{
		"realm_access": map[string]any{"roles": []string{"offline_access", "coordinator"}}, "https://kk.dk/employee": "E3001"}))
	if err != nil || p.Kind != auth.Coordinator || p.EmployeeID != "E3001" {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := v.Verify(context.Background(), idp.AccessToken(t, map[string]any{"roles": "auditor"})); err == nil {
		t.Fatal("the roles claim is not the configured one and must not count")
	}
}

func TestOIDCKeyRotation(t *testing.T) {
	t.Parallel()
	idp, a, v, clk := setup(t)
	role := map[string]any{"roles": "auditor"}
	old := idp.AccessToken(t, role)
	if _, err := authenticate(a, old); err != nil {
		t.Fatal(err)
	}
	if n := v.Fetches(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	// The issuer rotates: a new key signs. Its first token triggers one
	// refresh, and then verifies.
	oldKid := headerKid(t, old)
	newKid := idp.AddKey(t, jose.RS256)
	idp.UseKey(newKid)
	if _, err := authenticate(a, idp.AccessToken(t, role)); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
	if n := v.Fetches(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	// Junk key ids do not flood the issuer: within the refresh interval
	// they trigger no fetch.
	stranger := idptest.New(t, audience)
	for range 20 {
		refused(t, a, stranger.Sign(t, idptest.Options{}, map[string]any{"roles": "auditor", "iss": idp.URL}), "signature")
	}
	if n := idp.JWKSFetches(); n != 2 {
		t.Fatalf("JWKS fetched %d times after junk key ids, want 2", n)
	}
	// After the interval, one more is allowed.
	clk.Add(auth.DefaultJWKSRefreshInterval)
	refused(t, a, stranger.Sign(t, idptest.Options{}, map[string]any{"roles": "auditor", "iss": idp.URL}), "signature")
	if n := idp.JWKSFetches(); n != 3 {
		t.Fatalf("JWKS fetched %d times, want 3", n)
	}
	// The old key leaves the JWKS: cached, it still verifies until the
	// cache's lifetime ends, and then no more.
	idp.Unpublish(oldKid)
	oldAgain := idp.Sign(t, idptest.Options{KeyID: oldKid}, role)
	if _, err := authenticate(a, oldAgain); err != nil {
		t.Fatalf("within the lifetime the cached key verifies: %v", err)
	}
	clk.Add(auth.DefaultJWKSLifetime)
	oldAgain = idp.Sign(t, idptest.Options{KeyID: oldKid}, map[string]any{"roles": "auditor", "exp": clk.Now().Add(time.Minute).Unix()})
	refused(t, a, oldAgain, "signature")
	// Tokens of the current key still pass.
	if _, err := authenticate(a, idp.AccessToken(t, map[string]any{"roles": "auditor", "exp": clk.Now().Add(time.Minute).Unix()})); err != nil {
		t.Fatal(err)
	}
}

func TestOIDCKeysUnavailable(t *testing.T) {
	t.Parallel()
	idp, a, _, clk := setup(t)
	idp.SetDown(true)
	tok := idp.AccessToken(t, map[string]any{"roles": "auditor"})
	_, err := authenticate(a, tok)
	if !errors.Is(err, auth.ErrKeysUnavailable) || problem.StatusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("IdP down: want 503, got %v", err)
	}
	if strings.Contains(problem.From(err).Detail, tok) {
		t.Fatal("the problem echoes the token")
	}
	idp.SetDown(false)
	// Within the refresh interval of the failure the IdP is not asked
	// again; after it, it is.
	if _, err := authenticate(a, tok); !errors.Is(err, auth.ErrKeysUnavailable) {
		t.Fatalf("IdP back within the interval: want ErrKeysUnavailable, got %v", err)
	}
	clk.Add(auth.DefaultJWKSRefreshInterval)
	if _, err := authenticate(a, tok); err != nil {
		t.Fatalf("IdP back: %v", err)
	}
	// Past the lifetime a failed fetch is a 503, not a stale key.
	idp.SetDown(true)
	clk.Add(auth.DefaultJWKSLifetime)
	if _, err := authenticate(a, idp.AccessToken(t, map[string]any{"roles": "auditor", "exp": clk.Now().Add(time.Minute).Unix()})); !errors.Is(err, auth.ErrKeysUnavailable) {
		t.Fatalf("want ErrKeysUnavailable, got %v", err)
	}
	// A static token needs no IdP.
	if _, err := authenticate(a, "dev-auditor"); err != nil {
		t.Fatal(err)
	}
}

func TestOIDCOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []auth.OIDCOptions{
		{Issuer: "", Audience: "a"},
		{Issuer: "idp.example.org", Audience: "a"},
		{Issuer: "ftp://idp.example.org", Audience: "a"},
		{Issuer: "https://idp.example.org"},
	} {
		if _, err := auth.NewVerifier(o); err == nil {
			t.Fatalf("%+v: want an error", o)
		}
	}
	// Without a verifier, a JWT is just an unknown token.
	a, _ := auth.Load("")
	if _, err := authenticate(a, "a.b.c"); !errors.Is(err, auth.ErrUnknownToken) {
		t.Fatalf("got %v", err)
	}
}

// TestOIDCPrincipalName: an IdP user's name, the access log's "who", is
// made from sub, the one stable and unique identifier OIDC gives, in a
// namespace no static principal may use; preferred_username, which two
// people may share in turn and one may change, is only kept beside it to
// be read, and Key, what the web app keeps state by, is without it.
func TestOIDCPrincipalName(t *testing.T) {
	t.Parallel()
	name := func(claims map[string]any) auth.Principal {
		t.Helper()
		claims["roles"] = "auditor"
		p, err := auth.PrincipalFromClaims(claims, "roles", "employee_id")
		if err != nil {
			t.Fatalf("%v: %v", claims, err)
		}
		return p
	}
	a := name(map[string]any{"sub": "11111111-aaaa", "preferred_username": "jens"})
	b := name(map[string]any{"sub": "22222222-bbbb", "preferred_username": "jens"})
	if a.Name != "oidc:11111111-aaaa (jens)" || a.Key() != "oidc:11111111-aaaa" {
		t.Errorf("name %q, key %q", a.Name, a.Key())
	}
	if a.Name == b.Name || a.Key() == b.Key() {
		t.Errorf("two subjects with one user name are one principal: %+v, %+v", a, b)
	}
	// A user name that is a static principal's does not make the user it.
	c := name(map[string]any{"sub": "33333333-cccc", "preferred_username": "auditor"})
	if c.Name != "oidc:33333333-cccc (auditor)" || c.Key() != "oidc:33333333-cccc" {
		t.Errorf("IdP user named auditor: name %q, key %q", c.Name, c.Key())
	}
	// The same subject under a new user name is the same person.
	if d := name(map[string]any{"sub": "33333333-cccc", "preferred_username": "revisor"}); d.Key() != c.Key() {
		t.Errorf("a renamed user has key %q, was %q", d.Key(), c.Key())
	}
	for _, tc := range []struct {
		claims    map[string]any
		name, key string
	}{
		{map[string]any{"sub": "44444444-dddd"}, "oidc:44444444-dddd", "oidc:44444444-dddd"},
		{map[string]any{"sub": "44444444-dddd", "preferred_username": "  "}, "oidc:44444444-dddd", "oidc:44444444-dddd"},
		// A token of the client credentials grant without sub.
		{map[string]any{"client_id": "jf-sof"}, "oidc:client:jf-sof", "oidc:client:jf-sof"},
	} {
		if p := name(tc.claims); p.Name != tc.name || p.Key() != tc.key {
			t.Errorf("%v: name %q, key %q; want %q, %q", tc.claims, p.Name, p.Key(), tc.name, tc.key)
		}
	}
	// A static principal is its name.
	if p := (auth.Principal{Name: "coordinator E1001", Kind: auth.Coordinator}); p.Key() != p.Name {
		t.Errorf("static principal's key %q", p.Key())
	}
}

// TestOIDCFailingIdPNotFlooded: while discovery or the JWKS fails, the
// tokens that keep coming (junk ones too) ask the issuer again at most
// once every refresh interval, as unknown key ids do.
func TestOIDCFailingIdPNotFlooded(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hits := 0
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	count := func() int { mu.Lock(); defer mu.Unlock(); return hits }
	clk := &clock{t: time.Now()}
	v, err := auth.NewVerifier(auth.OIDCOptions{Issuer: failing.URL, Audience: audience, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := auth.Load("")
	a.UseOIDC(v)
	signer := idptest.New(t, audience)
	tok := signer.AccessToken(t, map[string]any{"roles": "auditor", "iss": failing.URL})
	for range 20 {
		if _, err := authenticate(a, tok); !errors.Is(err, auth.ErrKeysUnavailable) {
			t.Fatalf("want ErrKeysUnavailable, got %v", err)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("20 tokens asked the failing issuer %d times, want 1", n)
	}
	clk.Add(auth.DefaultJWKSRefreshInterval)
	if _, err := authenticate(a, tok); !errors.Is(err, auth.ErrKeysUnavailable) {
		t.Fatalf("want ErrKeysUnavailable, got %v", err)
	}
	if n := count(); n != 2 {
		t.Fatalf("after the interval the issuer was asked %d times in all, want 2", n)
	}
}

// TestOIDCCanceledRequestIsNoFailingIdP: a request that ends (its client
// went away) while the keys are fetched is no failure of the issuer: the
// next token is verified at once, not refused for the refresh interval.
func TestOIDCCanceledRequestIsNoFailingIdP(t *testing.T) {
	t.Parallel()
	idp, a, v, _ := setup(t)
	tok := idp.AccessToken(t, map[string]any{"roles": "auditor"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Verify(ctx, tok); err == nil {
		t.Fatal("a canceled request verified a token")
	}
	if _, err := authenticate(a, tok); err != nil {
		t.Fatalf("after a canceled request, with the IdP up: %v", err)
	}
}
