// Package auth authenticates bearer tokens: static tokens against the
// principals of the configuration, and, with an issuer configured, the JWT
// access tokens (RFC 9068) of the municipality's IdP (Verifier). The
// configuration holds SHA-256 hashes of tokens, never the tokens, and every
// comparison takes the same time whichever hash matches.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/problem"
)

// Kind is what a principal may do.
type Kind string

// The kinds of principal of CONTRACT.md.
const (
	Department  Kind = "department"  // a department system: emits its types
	Coordinator Kind = "coordinator" // an employee: reads assigned families
	Auditor     Kind = "auditor"     // reads everything, writes nothing
	// Operator runs the system: rebuilds read models. Reads no family data.
	Operator Kind = "operator"
	// Analyst follows the pilot's effects: the evaluation's aggregates
	// only, never a family.
	Analyst Kind = "analyst"
	// DPO is the data protection officer: answers citizens' access
	// requests and erases families whose purpose has ended.
	DPO Kind = "dpo"
)

// Principal is who a request acts as.
type Principal struct {
	Name        string            `json:"name"`
	Kind        Kind              `json:"kind"`
	Department  events.Department `json:"department,omitempty"`
	EmployeeID  string            `json:"employeeId,omitempty"`
	TokenSHA256 string            `json:"tokenSha256"`
	// ID is an IdP principal's stable identity: OIDCPrefix and the
	// token's sub, the start of its name. It is empty for a static
	// principal of the configuration, whose name is its identity (Key).
	ID   string `json:"-"`
	hash [sha256.Size]byte
}

// Key is what identifies the person for good, for state kept about them
// across logins: the ID of an IdP principal, whose name also holds their
// IdP user name (which may change), else the name.
func (p Principal) Key() string {
	if p.ID != "" {
		return p.ID
	}
	return p.Name
}

// Config is the principals file (-config / JF_CONFIG).
type Config struct {
	Comment    string      `json:"comment,omitempty"`
	Principals []Principal `json:"principals"`
}

// Errors of authentication. Both are answered with the same 401, which
// does not say which of the two it was.
var (
	ErrNoToken      error = authError("auth: no bearer token")
	ErrUnknownToken error = authError("auth: unknown token")
)

type authError string

func (e authError) Error() string { return string(e) }

// Problem is the 401 the API answers.
func (authError) Problem() *problem.Problem {
	return problem.Unauthorized("send Authorization: Bearer <token> with a token of the configuration")
}

// Authenticator resolves tokens to principals.
type Authenticator struct {
	principals []Principal
	devTokens  bool
	oidc       *Verifier
}

// UseOIDC makes the authenticator accept the JWT access tokens that v
// verifies, next to the configuration's static tokens.
func (a *Authenticator) UseOIDC(v *Verifier) { a.oidc = v }

// OIDC is the verifier of JWT access tokens; nil when none is configured.
func (a *Authenticator) OIDC() *Verifier { return a.oidc }

// DevTokens are the well-known tokens of the dev config; a server that
// accepts them prints a warning.
var DevTokens = []string{"dev-sof", "dev-bif", "dev-buf", "dev-suf", "dev-coordinator", "dev-coordinator-2", "dev-auditor", "dev-operator", "dev-analyst", "dev-dpo"}

// Hash is the hex SHA-256 of a token, as stored in the configuration.
func Hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Parse reads and checks a principals configuration.
func Parse(b []byte) (*Authenticator, error) {
	var cfg Config
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("auth: config: %w", err)
	}
	if len(cfg.Principals) == 0 {
		return nil, errors.New("auth: config has no principals")
	}
	a := &Authenticator{}
	// Hashes are compared as bytes: one written in upper and in lower
	// case is the same hash.
	seen, names := map[[sha256.Size]byte]bool{}, map[string]int{}
	for i, p := range cfg.Principals {
		raw, err := hex.DecodeString(p.TokenSHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("auth: principal %d (%s): tokenSha256 must be 64 hex digits", i, p.Name)
		}
		copy(p.hash[:], raw)
		if seen[p.hash] {
			return nil, fmt.Errorf("auth: principal %d (%s): token hash used twice", i, p.Name)
		}
		seen[p.hash] = true
		// The access log records who read by name: every principal has
		// one of its own, compared as people read it, without case or
		// surrounding spaces.
		name := strings.ToLower(strings.TrimSpace(p.Name))
		if name == "" {
			return nil, fmt.Errorf("auth: principal %d: a name is required: the access log records who read by it", i)
		}
		if j, ok := names[name]; ok {
			return nil, fmt.Errorf("auth: principal %d (%s): principal %d has the same name; the access log could not tell them apart", i, p.Name, j)
		}
		names[name] = i
		switch {
		case strings.HasPrefix(name, OIDCPrefix):
			return nil, fmt.Errorf("auth: principal %d (%s): a name beginning with %q is an IdP user's; choose another name", i, p.Name, OIDCPrefix)
		case strings.HasPrefix(name, CLIPrefix):
			return nil, fmt.Errorf("auth: principal %d (%s): a name beginning with %q is a command-line tool's reader in the access log; choose another name", i, p.Name, CLIPrefix)
		}
		switch p.Kind {
		case Department:
			if _, ok := events.ParseDepartment(string(p.Department)); !ok {
				return nil, fmt.Errorf("auth: principal %d (%s): unknown department %q", i, p.Name, p.Department)
			}
		case Coordinator:
			if !events.ValidID(p.EmployeeID) {
				return nil, fmt.Errorf("auth: principal %d (%s): employeeId %q is not a valid id", i, p.Name, p.EmployeeID)
			}
		case Auditor, Operator, Analyst, DPO:
		default:
			return nil, fmt.Errorf("auth: principal %d (%s): unknown kind %q", i, p.Name, p.Kind)
		}
		// A field of another kind is a mistake, not a grant: the access
		// log would record a stray employeeId as the employee who read.
		if p.Kind != Department && p.Department != "" {
			return nil, fmt.Errorf("auth: principal %d (%s): department is for kind department only, not %s", i, p.Name, p.Kind)
		}
		if p.Kind != Coordinator && p.EmployeeID != "" {
			return nil, fmt.Errorf("auth: principal %d (%s): employeeId is for kind coordinator only, not %s", i, p.Name, p.Kind)
		}
		a.principals = append(a.principals, p)
	}
	for _, t := range DevTokens {
		if _, err := a.lookup(t); err == nil {
			a.devTokens = true
		}
	}
	return a, nil
}

// Load reads a principals file; an empty path means the dev config.
func Load(path string) (*Authenticator, error) {
	if path == "" {
		return Parse(devConfig)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return Parse(b)
}

// UsesDevTokens reports whether any well-known dev token is accepted.
func (a *Authenticator) UsesDevTokens() bool { return a.devTokens }

// lookup compares the token's hash with every principal's, always all of
// them, so that timing does not tell which principal (or none) matched.
func (a *Authenticator) lookup(token string) (Principal, error) {
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range a.principals {
		if subtle.ConstantTimeCompare(h[:], a.principals[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, ErrUnknownToken
	}
	return a.principals[found], nil
}

// Token resolves a bearer token given some other way than in a header,
// such as the web app's login form.
func (a *Authenticator) Token(token string) (Principal, error) {
	if strings.TrimSpace(token) == "" {
		return Principal{}, ErrNoToken
	}
	return a.lookup(strings.TrimSpace(token))
}

// Authenticate resolves the request's "Authorization: Bearer <token>": a
// static token of the configuration, or, with an OIDC verifier, a JWT
// access token of its issuer (a *TokenError names the check a refused one
// failed; ErrKeysUnavailable when the issuer's keys cannot be fetched).
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Principal{}, ErrNoToken
	}
	token = strings.TrimSpace(token)
	p, err := a.lookup(token)
	if err != nil && a.oidc != nil && LooksLikeJWT(token) {
		return a.oidc.Verify(r.Context(), token)
	}
	return p, err
}
