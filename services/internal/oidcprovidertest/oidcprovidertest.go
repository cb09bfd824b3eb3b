// Package oidcprovidertest runs panva's oidc-provider, a real (OpenID
// Certified) OpenID Connect provider, as a Node.js process of the test on
// loopback. Unlike Dex it has the client credentials grant and issues
// RFC 9068 JWT access tokens (typ at+jwt) for resource indicators
// (RFC 8707), so a department system's token goes through the resource
// server's every check. The package is pinned in
// services/internal/auth/testdata/oidcprovider (npm ci there; .ci/run
// does); without node or node_modules a test is skipped, and fails under
// CI=true.
package oidcprovidertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/testenv"
)

// The resources (RFC 8707 resource indicators, absolute URIs) the provider
// knows; each one's access tokens have it as their aud.
const (
	// API is the APIs' audience, as deploy/README.md registers it.
	API = "https://jobogfamilie.kk.dk/api"
	// Other is some other API of the same IdP.
	Other = "https://jobogfamilie.kk.dk/other"
)

// Dir is the npm package of server.js: JF_OIDC_PROVIDER_DIR, else
// services/internal/auth/testdata/oidcprovider next to this source file.
func Dir() string {
	if d := os.Getenv("JF_OIDC_PROVIDER_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "auth", "testdata", "oidcprovider")
}

// Client is a client-credentials client.
type Client struct {
	ID, Secret string
	// Role goes into its access tokens' roles claim as the one value,
	// e.g. "department:bif".
	Role string
	// Post sends the secret in the body (client_secret_post) instead of
	// HTTP Basic (client_secret_basic).
	Post bool
}

// Provider is a running oidc-provider.
type Provider struct {
	// Issuer is http://127.0.0.1:<port>.
	Issuer string

	clients map[string]Client
}

// Start runs oidc-provider with the given clients and the resources API
// and Other; it stops with the test.
func Start(t testing.TB, clients ...Client) *Provider {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.SkipUnlessCI(t, "node is not installed: the oidc-provider test needs it")
	}
	dir := Dir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		testenv.SkipUnlessCI(t, "oidc-provider is not installed (npm ci --prefix services/internal/auth/testdata/oidcprovider); oidc-provider test skipped")
	}

	type clientJSON struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
		Role   string `json:"jf_role,omitempty"`
		Method string `json:"token_endpoint_auth_method"`
	}
	cfg := struct {
		Clients   []clientJSON `json:"clients"`
		Resources []string     `json:"resources"`
	}{Clients: []clientJSON{}, Resources: []string{API, Other}}
	p := &Provider{clients: map[string]Client{}}
	for _, c := range clients {
		m := "client_secret_basic"
		if c.Post {
			m = "client_secret_post"
		}
		cfg.Clients = append(cfg.Clients, clientJSON{ID: c.ID, Secret: c.Secret, Role: c.Role, Method: m})
		p.clients[c.ID] = c
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	cfgPath := filepath.Join(tmp, "config.json")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	// Port 0: server.js listens on a free port and names it in its ready
	// line, so no other process can take the port in between.
	cmd := exec.Command(node, filepath.Join(dir, "server.js"), "0", cfgPath)
	cmd.Dir = dir
	var log syncBuffer
	ready := make(chan string, 1)
	cmd.Stdout = &readyWriter{log: &log, ready: ready}
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("oidc-provider's output (its stderr and stdout):\n%s", log.String())
		}
	})

	select {
	case p.Issuer = <-ready:
	case err := <-exited:
		exited <- err
		t.Fatalf("oidc-provider exited before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("oidc-provider not ready after 30 s")
	}
	res, err := http.Get(p.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("oidc-provider's discovery: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("oidc-provider's discovery: %s", res.Status)
	}
	return p
}

// TokenError is the token endpoint's refusal (RFC 6749 section 5.2).
type TokenError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("token endpoint: %d %s: %s", e.Status, e.Code, e.Description)
}

// ClientCredentials asks the token endpoint for an access token of the
// registered client id for resource (none when ""), authenticating as the
// client is registered to; a refusal is a *TokenError.
func (p *Provider) ClientCredentials(ctx context.Context, id, resource string) (string, error) {
	c, ok := p.clients[id]
	if !ok {
		return "", fmt.Errorf("oidcprovidertest: no client %q", id)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if resource != "" {
		form.Set("resource", resource)
	}
	if c.Post {
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if !c.Post {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		te := &TokenError{Status: res.StatusCode}
		_ = json.Unmarshal(body, te)
		return "", te
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "Bearer") {
		return "", fmt.Errorf("oidcprovidertest: token response %.300s: %v", body, err)
	}
	return tok.AccessToken, nil
}

// Token is ClientCredentials that fails the test on a refusal.
func (p *Provider) Token(t testing.TB, id, resource string) string {
	t.Helper()
	tok, err := p.ClientCredentials(context.Background(), id, resource)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// readyWriter takes the process's stdout: the ready line's issuer goes to
// ready, every other line to log.
type readyWriter struct {
	log     *syncBuffer
	ready   chan string
	partial []byte
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if iss, ok := strings.CutPrefix(line, "oidc-provider ready "); ok {
			select {
			case w.ready <- iss:
			default:
			}
			continue
		}
		_, _ = w.log.Write([]byte(line + "\n"))
	}
}

// syncBuffer is the process's output, written by two goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
