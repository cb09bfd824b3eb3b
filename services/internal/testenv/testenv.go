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
	"os"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// MasterKeyFile writes a fresh master key (mode 0600) for the processes
// of one test deployment to share, as -master-key-file: each process's
// dev config would otherwise make its own in its data directory, and none
// could open the data keys another made.
func MasterKeyFile(t testing.TB) string {
	t.Helper()
	text, err := shred.NewMasterKeyText()
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/master.key"
	if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

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
	r, err := Try(base, method, path, token, body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Try is Do that returns its error instead of failing the test: for a
// goroutine the test starts, which may not call t.Fatal (it would end that
// goroutine, not the test) and reports with t.Error instead.
func Try(base, method, path, token string, body []byte, hdr map[string]string) (Reply, error) {
	return TryWith(http.DefaultClient, base, method, path, token, body, hdr)
}

// TryWith is Try through client c, such as one with a timeout.
func TryWith(c *http.Client, base, method, path, token string, body []byte, hdr map[string]string) (Reply, error) {
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		return Reply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Reply{}, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
	}
	r := Reply{Status: resp.StatusCode, Raw: string(raw), Header: resp.Header}
	_ = json.Unmarshal(raw, &r.Body)
	return r, nil
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

// System is a running standalone (ingest, projector and the audit API on
// one mux over real HTTP, with an embedded NATS), driven as its clients
// drive it.
type System struct {
	T  testing.TB
	SA *standalone.Standalone
}

// StartSystem starts a standalone with Config(t, mutate...) until the test
// ends.
func StartSystem(t testing.TB, mutate ...func(*config.Config)) *System {
	t.Helper()
	return &System{T: t, SA: Start(t, Config(t, mutate...))}
}

// Do sends one request to the standalone.
func (s *System) Do(method, path, token string, body []byte, hdr map[string]string) Reply {
	s.T.Helper()
	return Do(s.T, s.SA.URL(), method, path, token, body, hdr)
}

// TryDo is Do for a goroutine of the test (see Try).
func (s *System) TryDo(method, path, token string, body []byte, hdr map[string]string) (Reply, error) {
	return Try(s.SA.URL(), method, path, token, body, hdr)
}

// Get sends a GET to the standalone.
func (s *System) Get(path, token string, hdr map[string]string) Reply {
	s.T.Helper()
	return s.Do("GET", path, token, nil, hdr)
}

// TryGet is Get for a goroutine of the test (see Try).
func (s *System) TryGet(path, token string, hdr map[string]string) (Reply, error) {
	return s.TryDo("GET", path, token, nil, hdr)
}

// Posted is an event as its department sent it, with the stream position
// ingest stored it at.
type Posted struct {
	ID       string
	Sequence uint64
	JSON     []byte
}

// Post builds one event and sends it through the real ingest API.
func (s *System) Post(dept events.Department, fam string, data events.Payload, opts ...events.BuildOption) Posted {
	s.T.Helper()
	p, err := s.TryPost(dept, fam, data, opts...)
	if err != nil {
		s.T.Fatal(err)
	}
	return p
}

// TryPost is Post for a goroutine of the test (see Try): an event that
// cannot be built, sent or stored is its error.
func (s *System) TryPost(dept events.Department, fam string, data events.Payload, opts ...events.BuildOption) (Posted, error) {
	ce, err := events.Build(dept, fam, data, opts...)
	if err != nil {
		return Posted{}, err
	}
	b, err := events.Marshal(ce)
	if err != nil {
		return Posted{}, err
	}
	return s.TryPostRaw(dept, b)
}

// PostRaw sends one structured CloudEvent through the real ingest API; it
// must be stored (201).
func (s *System) PostRaw(dept events.Department, b []byte) Posted {
	s.T.Helper()
	p, err := s.TryPostRaw(dept, b)
	if err != nil {
		s.T.Fatal(err)
	}
	return p
}

// TryPostRaw is PostRaw for a goroutine of the test (see Try): anything
// but 201 is its error.
func (s *System) TryPostRaw(dept events.Department, b []byte) (Posted, error) {
	r, err := s.TryDo("POST", "/departments/"+string(dept)+"/v1/events", "dev-"+string(dept), b,
		map[string]string{"Content-Type": "application/cloudevents+json"})
	if err != nil {
		return Posted{}, err
	}
	if r.Status != 201 {
		return Posted{}, fmt.Errorf("POST %s: %d %s", dept, r.Status, r.Raw)
	}
	var id struct{ ID string }
	_ = json.Unmarshal(b, &id)
	pos, ok := r.Body["position"].(float64)
	if !ok {
		return Posted{}, fmt.Errorf("POST %s: 201 without a position: %s", dept, r.Raw)
	}
	return Posted{ID: id.ID, Sequence: uint64(pos), JSON: b}, nil
}

// WaitApplied waits until the projector applied position pos.
func (s *System) WaitApplied(pos uint64) {
	s.T.Helper()
	CheckFor(s.T, 15*time.Second, func() error {
		if got := s.SA.Projector.Position(); got < pos {
			return fmt.Errorf("projector at %d, want %d", got, pos)
		}
		return nil
	})
}

// Enrolment is a family.enrolled payload of a parent and a child.
func Enrolment() *events.FamilyEnrolled {
	return &events.FamilyEnrolled{
		Members:        []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart:    "2024-01-15",
		ChildCaseIDs:   []string{"CASE1"},
		ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	}
}

// SkipUnlessCI skips a test whose tool is missing on a developer's
// machine, and fails it in CI (CI set), where .ci/run installs every tool:
// there a missing tool is a broken set-up, not a reason to test less.
func SkipUnlessCI(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why + " (CI is set: .ci/run should have installed it)")
	}
	t.Skip(why)
}
