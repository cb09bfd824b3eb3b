// Package testenv is what the services' tests share: polling for a
// condition, a quiet logger, HTTP calls with a token, and a running
// standalone (real embedded NATS, real SQLite, real HTTP on loopback).
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// QuietLog discards everything: test output stays readable.
func QuietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// CheckFor polls cond until it returns nil, failing the test with cond's
// last error when the time is up. Tests wait for conditions, never sleep
// and hope.
func CheckFor(t testing.TB, total time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", total, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Reply is an HTTP answer, with the body also decoded as a JSON object
// when it is one.
type Reply struct {
	Status int
	Raw    string
	Body   map[string]any
	Header http.Header
}

// Do sends one request to base+path, with a bearer token unless it is "".
func Do(t testing.TB, base, method, path, token string, body []byte, hdr map[string]string) Reply {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	r := Reply{Status: resp.StatusCode, Raw: string(raw), Header: resp.Header}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// WaitReady waits until base/readyz answers 200.
func WaitReady(t testing.TB, base string) {
	t.Helper()
	CheckFor(t, 30*time.Second, func() error {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d %s", resp.StatusCode, b)
		}
		return nil
	})
}

// Config is a standalone's settings for a test: a free HTTP port, a fresh
// data directory, NATS in-process only; mutate adjusts them.
func Config(t testing.TB, mutate ...func(*config.Config)) config.Config {
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.DataDir, cfg.NATSListen = "127.0.0.1:0", t.TempDir(), "off"
	for _, m := range mutate {
		m(&cfg)
	}
	return cfg
}

// Start runs a standalone with cfg until the test ends and waits until it
// is ready.
func Start(t testing.TB, cfg config.Config) *standalone.Standalone {
	t.Helper()
	sa, err := standalone.Start(context.Background(), cfg, QuietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sa.Stop() })
	WaitReady(t, sa.URL())
	return sa
}
