package webapp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"kk.dk/jobogfamilie/services/internal/auth"
)

// OIDCLogin is the web app's client at the municipality's IdP: people log
// in with the authorization code flow, PKCE (S256), state and nonce.
type OIDCLogin struct {
	Issuer, ClientID, ClientSecret string
	// RoleClaim and EmployeeClaim name the ID token's claims with the
	// role and the employee id (auth.PrincipalFromClaims).
	RoleClaim, EmployeeClaim string
	// Client talks to the IdP; a client with a 10 s timeout when nil.
	Client *http.Client
}

// oidcFlowLifetime bounds a login between the app and the IdP.
const oidcFlowLifetime = 10 * time.Minute

// oidcClient discovers the IdP on first use, so that the app starts while
// the IdP is down (and a login then says so).
type oidcClient struct {
	cfg OIDCLogin

	mu         sync.Mutex
	provider   *oidc.Provider
	endSession string
}

func newOIDCClient(cfg OIDCLogin) (*oidcClient, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("webapp: oidc login needs an issuer and a client id")
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = auth.DefaultRoleClaim
	}
	if cfg.EmployeeClaim == "" {
		cfg.EmployeeClaim = auth.DefaultEmployeeClaim
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &oidcClient{cfg: cfg}, nil
}

func (o *oidcClient) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.cfg.Client)
}

// discover returns the provider, fetching discovery once it works.
func (o *oidcClient) discover() (*oidc.Provider, string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, o.endSession, nil
	}
	// The provider keeps the context for its key set's later fetches.
	p, err := oidc.NewProvider(o.ctx(context.Background()), o.cfg.Issuer)
	if err != nil {
		return nil, "", err
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&extra)
	o.provider, o.endSession = p, extra.EndSession
	return p, extra.EndSession, nil
}

func (o *oidcClient) oauth2(p *oidc.Provider, redirect string) *oauth2.Config {
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "profile", "email", "groups"}}
}

// oidcFlow is what the browser carries between the app and the IdP, in a
// cookie signed with the process's key: the IdP must send back state,
// the ID token must carry nonce, and only this browser knows verifier.
type oidcFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	Expires  int64  `json:"e"`
}

func (a *App) oidcCookieName() string {
	if a.opts.SecureCookie {
		return "__Host-jf_oidc"
	}
	return "jf_oidc"
}

func (a *App) sealFlow(f oidcFlow) string {
	b, _ := json.Marshal(f)
	payload := base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, a.loginKey)
	m.Write([]byte("oidc:" + payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *App) openFlow(v string) (oidcFlow, bool) {
	payload, sig, ok := strings.Cut(v, ".")
	if !ok {
		return oidcFlow{}, false
	}
	m := hmac.New(sha256.New, a.loginKey)
	m.Write([]byte("oidc:" + payload))
	want := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return oidcFlow{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	var f oidcFlow
	if err != nil || json.Unmarshal(b, &f) != nil || a.opts.Now().Unix() > f.Expires {
		return oidcFlow{}, false
	}
	return f, true
}

// baseURL is where the browser reaches the app: https behind TLS (the
// secure cookie setting says so), the request's host. The IdP accepts only
// the redirect URIs registered for the client, so a forged Host goes
// nowhere.
func (a *App) baseURL(r *http.Request) string {
	scheme := "http"
	if a.opts.SecureCookie {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// handleOIDCStart sends the browser to the IdP's login.
func (a *App) handleOIDCStart(w http.ResponseWriter, r *http.Request) {
	if a.oidc == nil {
		a.errorPage(w, r, nil, http.StatusNotFound, "")
		return
	}
	p, _, err := a.oidc.discover()
	if err != nil {
		a.opts.Log.Warn("webapp: oidc discovery failed", "issuer", a.oidc.cfg.Issuer, "err", err)
		a.errorPage(w, r, nil, http.StatusServiceUnavailable, "Kommunens login svarer ikke lige nu. Prøv igen om lidt.")
		return
	}
	f := oidcFlow{State: random(32), Nonce: random(32), Verifier: oauth2.GenerateVerifier(),
		Next: safeNext(r.URL.Query().Get("next")), Expires: a.opts.Now().Add(oidcFlowLifetime).Unix()}
	a.setCookie(w, a.oidcCookieName(), a.sealFlow(f), int(oidcFlowLifetime.Seconds()))
	to := a.oidc.oauth2(p, a.baseURL(r)+"/app/login/callback").AuthCodeURL(f.State,
		oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// handleOIDCCallback ends the login: the state must match the browser's
// flow, the code is exchanged with the PKCE verifier, and the ID token
// must verify (issuer, audience, expiry, signature) and carry the nonce.
// Its claims give the person's role and employee id.
func (a *App) handleOIDCCallback(w http.ResponseWriter, r *http.Request) {
	if a.oidc == nil {
		a.errorPage(w, r, nil, http.StatusNotFound, "")
		return
	}
	q := r.URL.Query()
	f, ok := a.openFlow(cookieValue(r, a.oidcCookieName()))
	a.setCookie(w, a.oidcCookieName(), "", -1)
	if !ok || subtle.ConstantTimeCompare([]byte(f.State), []byte(q.Get("state"))) != 1 {
		a.showLogin(w, r, http.StatusBadRequest, loginView{Error: "Login blev ikke afsluttet, eller det tog for lang tid. Prøv igen."})
		return
	}
	if e := q.Get("error"); e != "" {
		a.opts.Log.Info("webapp: the IdP refused the login", "error", e, "description", q.Get("error_description"))
		a.showLogin(w, r, http.StatusUnauthorized, loginView{Next: f.Next, Error: "Kommunens login afviste at logge dig ind."})
		return
	}
	p, _, err := a.oidc.discover()
	if err != nil {
		a.errorPage(w, r, nil, http.StatusServiceUnavailable, "Kommunens login svarer ikke lige nu. Prøv igen om lidt.")
		return
	}
	ctx := a.oidc.ctx(r.Context())
	tok, err := a.oidc.oauth2(p, a.baseURL(r)+"/app/login/callback").Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		a.opts.Log.Warn("webapp: oidc code exchange failed", "err", err)
		a.showLogin(w, r, http.StatusUnauthorized, loginView{Next: f.Next, Error: "Login kunne ikke afsluttes. Prøv igen."})
		return
	}
	pr, rawID, err := a.oidcPrincipal(ctx, p, tok, f.Nonce)
	if err != nil {
		a.opts.Log.Warn("webapp: oidc login refused", "err", err)
		msg := "Login kunne ikke afsluttes. Prøv igen."
		var te *auth.TokenError
		if errors.As(err, &te) && (te.Check == "role" || te.Check == "employee") {
			msg = "Dit login giver ikke adgang til Job og Familie. Kontakt den, der tildeler roller i kommunens login."
		}
		a.showLogin(w, r, http.StatusForbidden, loginView{Next: f.Next, Error: msg})
		return
	}
	a.startSession(w, r, pr, f.Next, rawID)
}

func (a *App) oidcPrincipal(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, nonce string) (auth.Principal, string, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return auth.Principal{}, "", errors.New("the token response has no id_token")
	}
	// The same algorithm allow-list as the APIs' access tokens.
	algs := make([]string, len(auth.AllowedAlgorithms))
	for i, alg := range auth.AllowedAlgorithms {
		algs[i] = string(alg)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: a.oidc.cfg.ClientID, Now: a.opts.Now, SupportedSigningAlgs: algs}).Verify(ctx, raw)
	if err != nil {
		return auth.Principal{}, "", err
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return auth.Principal{}, "", errors.New("the ID token's nonce is not this login's")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return auth.Principal{}, "", err
	}
	pr, err := auth.PrincipalFromClaims(claims, a.oidc.cfg.RoleClaim, a.oidc.cfg.EmployeeClaim)
	if err != nil {
		return auth.Principal{}, "", err
	}
	return pr, raw, nil
}

// endSessionURL is where logout sends the browser when the IdP supports
// RP-initiated logout; empty otherwise. idToken, the hint, is empty for a
// session that ended here before the logout: the client id names the
// client then.
func (a *App) endSessionURL(r *http.Request, idToken string) string {
	if a.oidc == nil {
		return ""
	}
	_, end, err := a.oidc.discover()
	if err != nil || end == "" {
		return ""
	}
	u, err := url.Parse(end)
	if err != nil {
		return ""
	}
	q := u.Query()
	if idToken != "" {
		q.Set("id_token_hint", idToken)
	}
	q.Set("client_id", a.oidc.cfg.ClientID)
	q.Set("post_logout_redirect_uri", a.baseURL(r)+"/app/login?out=1")
	u.RawQuery = q.Encode()
	return u.String()
}

// issuerOrigin is the IdP's origin, for the CSP's form-action: logout is a
// form whose answer redirects there.
func issuerOrigin(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("webapp: oidc issuer %q is not an http(s) URL", issuer)
	}
	return u.Scheme + "://" + u.Host, nil
}
