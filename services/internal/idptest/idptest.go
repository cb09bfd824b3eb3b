// Package idptest is an OpenID Connect provider in the test process, on
// real HTTP on loopback: discovery, a JWKS with rotating keys, the
// authorization code flow with PKCE (S256), the client credentials grant,
// and RP-initiated logout. Tests use it to sign any token they need,
// including wrong ones.
package idptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Client is a registered OAuth client.
type Client struct {
	ID, Secret   string
	RedirectURIs []string
	// Claims go into the access tokens of its client credentials grant
	// (e.g. "roles": "department:sof").
	Claims map[string]any
}

type key struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

type grant struct {
	client, redirect, challenge, nonce string
	user                               map[string]any
}

// IdP is the provider. Its zero value is not usable; call New.
type IdP struct {
	// URL is the issuer.
	URL string
	// Audience is the aud of the access tokens it issues.
	Audience string

	srv *httptest.Server

	mu          sync.Mutex
	keys        map[string]key
	published   []string // key ids in the JWKS
	signer      string   // key id that signs
	clients     map[string]Client
	user        map[string]any
	codes       map[string]grant
	down        bool
	jwksFetches int
	logouts     []url.Values
}

// New starts a provider with one RS256 key; it stops with the test.
func New(t testing.TB, audience string) *IdP {
	t.Helper()
	p := &IdP{Audience: audience, keys: map[string]key{}, clients: map[string]Client{}, codes: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /logout", p.logout)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.URL = p.srv.URL
	p.signer = p.AddKey(t, jose.RS256)
	return p
}

// AddKey makes a key of alg, publishes it in the JWKS, and returns its id.
// It does not sign until UseKey.
func (p *IdP) AddKey(t testing.TB, alg jose.SignatureAlgorithm) string {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.PS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("idptest: no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	kid := fmt.Sprintf("%s-%x", alg, b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[kid] = key{alg: alg, priv: priv}
	p.published = append(p.published, kid)
	return kid
}

// UseKey makes kid the key that signs from now on.
func (p *IdP) UseKey(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signer = kid
}

// Unpublish removes kid from the JWKS (it can still sign, as a stolen or
// retired key would).
func (p *IdP) Unpublish(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = slices.DeleteFunc(p.published, func(k string) bool { return k == kid })
}

// PublicKey is kid's public key.
func (p *IdP) PublicKey(kid string) crypto.PublicKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[kid].priv.Public()
}

// SetDown makes discovery and the JWKS answer 500 (down) or work again.
func (p *IdP) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// JWKSFetches is how many times the JWKS was served.
func (p *IdP) JWKSFetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jwksFetches
}

// AddClient registers a client.
func (p *IdP) AddClient(c Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[c.ID] = c
}

// SetUser is the person the authorization endpoint signs in (it asks
// nothing): the claims of their ID and access tokens.
func (p *IdP) SetUser(claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = maps.Clone(claims)
}

// Logouts are the query parameters of the end-session requests so far.
func (p *IdP) Logouts() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.logouts)
}

// Options shape a token that Sign makes.
type Options struct {
	// Typ is the typ header; "at+jwt" when empty, "-" for none.
	Typ string
	// KeyID signs; the current signing key when empty.
	KeyID string
	// NoKeyID leaves kid out of the header.
	NoKeyID bool
}

// AccessToken signs an access token: iss, sub, aud (the provider's
// audience), iat, exp (in 5 minutes) and jti, then claims over them (a nil
// value removes a claim).
func (p *IdP) AccessToken(t testing.TB, claims map[string]any) string {
	return p.Sign(t, Options{}, claims)
}

// Sign signs the standard claims of AccessToken with claims over them.
func (p *IdP) Sign(t testing.TB, o Options, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	all := map[string]any{
		"iss": p.URL, "sub": "user-1", "aud": p.Audience,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": rand.Text(),
	}
	for k, v := range claims {
		if v == nil {
			delete(all, k)
		} else {
			all[k] = v
		}
	}
	s, err := p.sign(o, all)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (p *IdP) sign(o Options, claims map[string]any) (string, error) {
	p.mu.Lock()
	kid := o.KeyID
	if kid == "" {
		kid = p.signer
	}
	k, ok := p.keys[kid]
	p.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("idptest: no key %q", kid)
	}
	so := &jose.SignerOptions{}
	switch o.Typ {
	case "":
		so = so.WithType("at+jwt")
	case "-":
	default:
		so = so.WithType(jose.ContentType(o.Typ))
	}
	sk := jose.SigningKey{Algorithm: k.alg, Key: k.priv}
	if !o.NoKeyID {
		sk.Key = jose.JSONWebKey{Key: k.priv, KeyID: kid, Algorithm: string(k.alg)}
	}
	signer, err := jose.NewSigner(sk, so)
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *IdP) isDown(w http.ResponseWriter) bool {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusInternalServerError)
	}
	return down
}

func (p *IdP) discovery(w http.ResponseWriter, _ *http.Request) {
	if p.isDown(w) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"jwks_uri":                              p.URL + "/jwks",
		"end_session_endpoint":                  p.URL + "/logout",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "PS256", "ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials"},
	})
}

func (p *IdP) jwks(w http.ResponseWriter, _ *http.Request) {
	if p.isDown(w) {
		return
	}
	p.mu.Lock()
	p.jwksFetches++
	var set jose.JSONWebKeySet
	for _, kid := range p.published {
		k := p.keys[kid]
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: kid, Algorithm: string(k.alg), Use: "sig"})
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

func (p *IdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	c, ok := p.clients[q.Get("client_id")]
	user := maps.Clone(p.user)
	p.mu.Unlock()
	redirect := q.Get("redirect_uri")
	if !ok || !slices.Contains(c.RedirectURIs, redirect) {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(redirect)
	bq := back.Query()
	bq.Set("state", q.Get("state"))
	switch {
	case q.Get("response_type") != "code":
		bq.Set("error", "unsupported_response_type")
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		bq.Set("error", "invalid_request")
		bq.Set("error_description", "PKCE with S256 is required")
	case user == nil:
		bq.Set("error", "access_denied")
	default:
		code := rand.Text()
		p.mu.Lock()
		p.codes[code] = grant{client: c.ID, redirect: redirect, challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), user: user}
		p.mu.Unlock()
		bq.Set("code", code)
	}
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *IdP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	p.mu.Lock()
	c, known := p.clients[id]
	p.mu.Unlock()
	if !known || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	now := time.Now()
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
		claims := map[string]any{"iss": p.URL, "sub": c.ID, "client_id": c.ID, "aud": p.Audience,
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": rand.Text()}
		maps.Copy(claims, c.Claims)
		at, err := p.sign(Options{}, claims)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 300})
	case "authorization_code":
		code := r.PostForm.Get("code")
		p.mu.Lock()
		g, ok := p.codes[code]
		delete(p.codes, code)
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case !ok || g.client != id || g.redirect != r.PostForm.Get("redirect_uri"):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verifier does not match"})
			return
		}
		base := map[string]any{"iss": p.URL, "sub": "user-1", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		maps.Copy(base, g.user)
		idc := maps.Clone(base)
		idc["aud"] = id
		if _, ok := idc["nonce"]; !ok { // a user's "nonce" claim plays a replayed ID token
			idc["nonce"] = g.nonce
		}
		atc := maps.Clone(base)
		delete(atc, "nonce")
		atc["aud"], atc["client_id"], atc["jti"] = p.Audience, id, rand.Text()
		idt, err := p.sign(Options{Typ: "JWT"}, idc)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
			return
		}
		at, _ := p.sign(Options{}, atc)
		writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "id_token": idt, "token_type": "Bearer", "expires_in": 300})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
	}
}

func (p *IdP) logout(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	p.logouts = append(p.logouts, q)
	p.mu.Unlock()
	if u := q.Get("post_logout_redirect_uri"); u != "" {
		http.Redirect(w, r, u, http.StatusFound)
		return
	}
	_, _ = w.Write([]byte("logged out"))
}
