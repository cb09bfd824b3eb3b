package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/problem"
)

// Defaults of the OIDC resource server.
const (
	DefaultRoleClaim     = "roles"
	DefaultEmployeeClaim = "employee_id"
	// DefaultJWKSLifetime is how long fetched keys are trusted before the
	// JWKS is fetched again: a key gone from the issuer's JWKS stops
	// verifying within it.
	DefaultJWKSLifetime = 10 * time.Minute
	// DefaultJWKSRefreshInterval is the least time between two fetches
	// that a token with an unknown key id triggers, so that junk key ids
	// cannot flood the issuer.
	DefaultJWKSRefreshInterval = 10 * time.Second
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway = 60 * time.Second
)

// AllowedAlgorithms are the signature algorithms a token may use: never
// "none", never HMAC (a public key used as an HMAC secret).
var AllowedAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256}

// OIDCOptions configure a Verifier.
type OIDCOptions struct {
	// Issuer is the IdP's issuer URL: discovery
	// (<issuer>/.well-known/openid-configuration) names the JWKS, and
	// every token's iss must equal it.
	Issuer string
	// Audience is the aud every token must contain.
	Audience string
	// RoleClaim and EmployeeClaim name the claims with the role and the
	// employee id; a dotted name reaches into objects
	// ("realm_access.roles").
	RoleClaim, EmployeeClaim string
	// JWKSLifetime: DefaultJWKSLifetime when zero.
	JWKSLifetime time.Duration
	// RefreshInterval: DefaultJWKSRefreshInterval when zero.
	RefreshInterval time.Duration
	// Client fetches discovery and the JWKS; a client with a 10 s
	// timeout when nil.
	Client *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Verifier checks JWT access tokens (RFC 9068) of one issuer and turns
// them into principals.
type Verifier struct {
	opts OIDCOptions

	mu          sync.Mutex
	jwksURI     string
	keys        jose.JSONWebKeySet
	fetched     time.Time // when keys were fetched; zero: never
	lastRefresh time.Time // the last fetch an unknown key id triggered
	failed      time.Time // the last fetch that failed; zero after a success
	fetches     int
}

// NewVerifier checks the options; it fetches nothing until the first token
// comes, so a process starts while the IdP is down (and answers 503 then).
func NewVerifier(o OIDCOptions) (*Verifier, error) {
	u, err := url.Parse(o.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("auth: oidc issuer %q is not an http(s) URL", o.Issuer)
	}
	if o.Audience == "" {
		return nil, errors.New("auth: oidc audience is required with an issuer")
	}
	if o.RoleClaim == "" {
		o.RoleClaim = DefaultRoleClaim
	}
	if o.EmployeeClaim == "" {
		o.EmployeeClaim = DefaultEmployeeClaim
	}
	if o.JWKSLifetime <= 0 {
		o.JWKSLifetime = DefaultJWKSLifetime
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultJWKSRefreshInterval
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Verifier{opts: o}, nil
}

// Issuer is the issuer the verifier trusts.
func (v *Verifier) Issuer() string { return v.opts.Issuer }

// Fetches is how many times the JWKS has been fetched.
func (v *Verifier) Fetches() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.fetches
}

// TokenError is a refused token: Check names the check that failed. It
// never holds the token.
type TokenError struct {
	Check  string
	Detail string
}

func (e *TokenError) Error() string { return "auth: token refused: " + e.Check + ": " + e.Detail }

// Problem is the 401 the API answers: it names the failed check.
func (e *TokenError) Problem() *problem.Problem {
	return problem.New(http.StatusUnauthorized, "unauthorized", "Token refused",
		fmt.Sprintf("the bearer token failed the %s check: %s", e.Check, e.Detail))
}

func refuse(check, format string, a ...any) error {
	return &TokenError{Check: check, Detail: fmt.Sprintf(format, a...)}
}

// ErrKeysUnavailable is a JWKS (or discovery) that cannot be fetched: the
// token can be neither accepted nor refused, so the API answers 503.
var ErrKeysUnavailable error = keysError("auth: the identity provider's keys cannot be fetched")

type keysError string

func (e keysError) Error() string { return string(e) }

func (keysError) Problem() *problem.Problem {
	return problem.Unavailable("the identity provider's signing keys cannot be fetched; try again shortly")
}

// LooksLikeJWT reports whether token has the three dot-separated parts of
// a JWS compact serialization.
func LooksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }

// Verify checks an access token and returns its principal. The checks, in
// order: algorithm, signature (against the issuer's JWKS), typ (at+jwt),
// iss, aud, exp, nbf, role, employee id.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	tok, err := jwt.ParseSigned(raw, AllowedAlgorithms)
	if err != nil {
		if strings.Contains(err.Error(), "unexpected signature algorithm") {
			return Principal{}, refuse("algorithm", "the token must be signed with one of RS256, PS256, ES256")
		}
		return Principal{}, refuse("format", "not a signed JWT")
	}
	if len(tok.Headers) != 1 {
		return Principal{}, refuse("format", "a token must have exactly one signature")
	}
	h := tok.Headers[0]
	keys, err := v.keysFor(ctx, h.KeyID)
	if err != nil {
		return Principal{}, err
	}
	var std jwt.Claims
	var all map[string]any
	verified := false
	for _, k := range keys {
		if !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
			continue
		}
		if tok.Claims(k.Key, &std, &all) == nil {
			verified = true
			break
		}
	}
	if !verified {
		if len(keys) == 0 {
			return Principal{}, refuse("signature", "the issuer's JWKS has no key %q", h.KeyID)
		}
		return Principal{}, refuse("signature", "the signature does not verify with the issuer's key")
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if t := strings.ToLower(typ); t != "at+jwt" && t != "application/at+jwt" {
		return Principal{}, refuse("typ", "the token's typ is %q, not at+jwt: only an access token (RFC 9068) is accepted, never an ID token", typ)
	}
	if subtle.ConstantTimeCompare([]byte(std.Issuer), []byte(v.opts.Issuer)) != 1 {
		return Principal{}, refuse("iss", "the token's issuer is not %s", v.opts.Issuer)
	}
	if !std.Audience.Contains(v.opts.Audience) {
		return Principal{}, refuse("aud", "the token's audience does not contain %s", v.opts.Audience)
	}
	now := v.opts.Now()
	if std.Expiry == nil {
		return Principal{}, refuse("exp", "the token has no exp")
	}
	if now.After(std.Expiry.Time().Add(Leeway)) {
		return Principal{}, refuse("exp", "the token expired at %s", std.Expiry.Time().UTC().Format(time.RFC3339))
	}
	if std.NotBefore != nil && now.Add(Leeway).Before(std.NotBefore.Time()) {
		return Principal{}, refuse("nbf", "the token is not valid before %s", std.NotBefore.Time().UTC().Format(time.RFC3339))
	}
	return PrincipalFromClaims(all, v.opts.RoleClaim, v.opts.EmployeeClaim)
}

// PrincipalFromClaims maps a verified token's claims to a principal: the
// one known role in roleClaim (a string or a list; values that are no role
// are ignored), for a coordinator the employee id in employeeClaim, and
// the name and ID of the token's sub (oidcName). The web app uses it for an
// ID token's claims too.
func PrincipalFromClaims(claims map[string]any, roleClaim, employeeClaim string) (Principal, error) {
	var roles []string
	switch r := claimAt(claims, roleClaim).(type) {
	case string:
		roles = strings.Fields(r)
	case []any:
		for _, x := range r {
			if s, ok := x.(string); ok {
				roles = append(roles, s)
			}
		}
	case nil:
		return Principal{}, refuse("role", "the token has no %s claim", roleClaim)
	default:
		return Principal{}, refuse("role", "the %s claim is neither a string nor a list", roleClaim)
	}
	var p Principal
	known := 0
	for _, r := range roles {
		var q Principal
		switch Kind(r) {
		case Coordinator, Auditor, Analyst, DPO, Operator:
			q.Kind = Kind(r)
		default:
			dept, ok := strings.CutPrefix(r, "department:")
			if !ok {
				continue
			}
			d, ok := events.ParseDepartment(dept)
			if !ok {
				return Principal{}, refuse("role", "unknown department %q", dept)
			}
			q.Kind, q.Department = Department, d
		}
		if known > 0 && q != p {
			return Principal{}, refuse("role", "the %s claim holds more than one known role", roleClaim)
		}
		p, known = q, known+1
	}
	if known == 0 {
		return Principal{}, refuse("role", "the %s claim holds no known role (coordinator, auditor, analyst, dpo, operator, department:<dept>)", roleClaim)
	}
	if p.Kind == Coordinator {
		emp, _ := claimAt(claims, employeeClaim).(string)
		if emp == "" {
			return Principal{}, refuse("employee", "a coordinator's token needs the %s claim", employeeClaim)
		}
		if !events.ValidID(emp) {
			return Principal{}, refuse("employee", "the %s claim is not a valid employee id", employeeClaim)
		}
		p.EmployeeID = emp
	}
	p.ID, p.Name = oidcName(claims)
	if p.ID == "" {
		return Principal{}, refuse("sub", "the token has no sub")
	}
	return p, nil
}

// OIDCPrefix begins the name of every principal of the IdP; a static
// principal's name may not begin with it (Parse), so that no IdP user can
// be taken for one.
const OIDCPrefix = "oidc:"

// CLIPrefix begins the name of a reader through a command-line tool in
// the access log (accesslog.CommandPrincipal); a static principal's name
// may not begin with it either (Parse).
const CLIPrefix = "cli:"

// oidcName is an IdP principal's identity and name. The name is what the
// access log records as who read, and the web app keeps "last seen" by
// the identity, so it must be one person's for good: OIDC Core makes only
// the issuer's sub a stable, unique identifier (one issuer is configured),
// while preferred_username may be shared, reused or changed, and any
// display name is. The identity is OIDCPrefix and sub, or, in a token
// without one, the client_id (as "oidc:client:<client_id>"); the name is
// the identity with preferred_username beside it, in parentheses, for the
// people who read the log.
func oidcName(claims map[string]any) (id, name string) {
	if sub, _ := claims["sub"].(string); sub != "" {
		id = OIDCPrefix + sub
	} else if client, _ := claims["client_id"].(string); client != "" {
		id = OIDCPrefix + "client:" + client
	} else {
		return "", ""
	}
	name = id
	if user, _ := claims["preferred_username"].(string); strings.TrimSpace(user) != "" {
		name += " (" + strings.TrimSpace(user) + ")"
	}
	return id, name
}

// claimAt finds a claim by a dotted name. A claim whose own name has a
// dot (as namespaced claims often do) is found first.
func claimAt(claims map[string]any, name string) any {
	if v, ok := claims[name]; ok {
		return v
	}
	cur := any(claims)
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// keysFor returns the keys that may have signed a token with kid (every
// key when kid is empty). Keys older than the lifetime are fetched again;
// an unknown kid triggers one fetch, at most one per RefreshInterval.
// After a failed fetch the issuer is not asked again within
// RefreshInterval either: until then tokens are answered
// ErrKeysUnavailable at once, so that a failing issuer is not asked once
// per request.
func (v *Verifier) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.opts.Now()
	fresh := false
	if v.fetched.IsZero() || now.Sub(v.fetched) >= v.opts.JWKSLifetime {
		if !v.failed.IsZero() && now.Sub(v.failed) < v.opts.RefreshInterval {
			return nil, fmt.Errorf("%w: the last fetch failed %s ago", ErrKeysUnavailable, now.Sub(v.failed).Round(time.Millisecond))
		}
		if err := v.fetch(ctx); err != nil {
			return nil, err
		}
		fresh = true
	}
	find := func() []jose.JSONWebKey {
		if kid == "" {
			return v.keys.Keys
		}
		return v.keys.Key(kid)
	}
	keys := find()
	if len(keys) == 0 && kid != "" && !fresh && (v.lastRefresh.IsZero() || now.Sub(v.lastRefresh) >= v.opts.RefreshInterval) {
		v.lastRefresh = now
		if err := v.fetch(ctx); err != nil {
			return nil, err
		}
		keys = find()
	}
	return keys, nil
}

// fetch reads discovery (once) and the JWKS, noting a failure of the
// issuer; v.mu is held. A fetch canceled with its own request (the
// client went away) says nothing of the issuer and is not noted: it
// would refuse every other token for RefreshInterval. One that ran out
// the request's deadline is noted: the issuer was that slow.
func (v *Verifier) fetch(ctx context.Context) error {
	if err := v.fetchKeys(ctx); err != nil {
		if !errors.Is(ctx.Err(), context.Canceled) {
			v.failed = v.opts.Now()
		}
		return err
	}
	v.failed = time.Time{}
	return nil
}

func (v *Verifier) fetchKeys(ctx context.Context) error {
	if v.jwksURI == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := v.getJSON(ctx, strings.TrimSuffix(v.opts.Issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
			return err
		}
		if doc.Issuer != v.opts.Issuer || doc.JWKSURI == "" {
			return fmt.Errorf("%w: discovery names issuer %q and jwks_uri %q", ErrKeysUnavailable, doc.Issuer, doc.JWKSURI)
		}
		v.jwksURI = doc.JWKSURI
	}
	var set jose.JSONWebKeySet
	if err := v.getJSON(ctx, v.jwksURI, &set); err != nil {
		return err
	}
	v.keys, v.fetched = set, v.opts.Now()
	v.fetches++
	return nil
}

func (v *Verifier) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET %s: %s", ErrKeysUnavailable, u, res.Status)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("%w: GET %s: %v", ErrKeysUnavailable, u, err)
	}
	return nil
}
