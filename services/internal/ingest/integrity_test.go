package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/ingest"
	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

const fastChecks = 50 * time.Millisecond

func referral(t *testing.T, id, reason string) []byte {
	t.Helper()
	return ev(t, events.SOF, "F1", &events.FamilyReferred{Reason: reason},
		events.WithID(id), events.WithTime(time.Date(2024, 1, 2, 9, 0, 0, 0, time.UTC)))
}

// postReferrals stores n events through the API: ids ref-0 … ref-(n-1).
func postReferrals(t *testing.T, base string, n int) {
	t.Helper()
	for i := range n {
		r := postTo(t, base, referral(t, fmt.Sprintf("ref-%d", i), "Skolefravær"))
		if r.Status != http.StatusCreated {
			t.Fatalf("event %d: %d %s", i, r.Status, r.Raw)
		}
	}
}

func postTo(t *testing.T, base string, body []byte) testenv.Reply {
	t.Helper()
	return testenv.Do(t, base, "POST", "/departments/sof/v1/events", "dev-sof", body,
		map[string]string{"Content-Type": ingest.ContentStructured})
}

// waitDamageReported waits until base is not ready for reason and its
// metric marks stream/check failed, then checks that a write of body is
// refused with 503 saying so (never stored, never 201).
func waitDamageReported(t *testing.T, base, stream, check, reason string, body []byte) {
	t.Helper()
	testenv.CheckFor(t, 20*time.Second, func() error {
		r := testenv.Do(t, base, "GET", "/readyz", "", nil, nil)
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Raw, reason) {
			return fmt.Errorf("readyz %d %s", r.Status, r.Raw)
		}
		return nil
	})
	metric := fmt.Sprintf(`jf_store_integrity_ok{check=%q,stream=%q} 0`, check, stream)
	if m := testenv.Do(t, base, "GET", "/metrics", "", nil, nil); !strings.Contains(m.Raw, metric) {
		t.Errorf("metrics lack %s", metric)
	}
	r := postTo(t, base, body)
	if r.Status != http.StatusServiceUnavailable || r.Body["type"] != "https://jobogfamilie.kk.dk/problems/store-integrity" ||
		!strings.Contains(fmt.Sprint(r.Body["detail"]), reason) || !strings.Contains(fmt.Sprint(r.Body["detail"]), "writes are refused") ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("write: %d %s %s, want a 503 problem naming %q", r.Status, r.Header.Get("Content-Type"), r.Raw, reason)
	}
}

func update(t *testing.T, js jetstream.JetStream, name string, change func(*jetstream.StreamConfig)) {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	change(&cfg)
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("update %s: %v", name, err)
	}
}

func deleteStream(t *testing.T, js jetstream.JetStream, name string) {
	t.Helper()
	if err := js.DeleteStream(context.Background(), name); err != nil {
		t.Fatal(err)
	}
}

func createStream(t *testing.T, js jetstream.JetStream, cfg jetstream.StreamConfig) {
	t.Helper()
	if _, err := js.CreateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
}

// While the service runs, whoever truncates, strips or replaces a stream
// (here a client without any restriction) makes /readyz 503 with the
// reason, sets the metric, and ingest refuses writes.
func TestDamagedStoreIsReportedAndWritesRefused(t *testing.T) {
	t.Parallel()
	famCfg := eventstore.FamilyStreamConfig(eventstore.StreamOptions{})
	tests := []struct {
		name string
		// empty: no event is stored first.
		empty          bool
		damage         func(t *testing.T, js jetstream.JetStream)
		stream, check  string
		reason         string
		recover        func(t *testing.T, js jetstream.JetStream)
		recoverToReady bool
	}{
		{
			name: "truncated by MaxMsgs=5",
			damage: func(t *testing.T, js jetstream.JetStream) {
				update(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxMsgs, c.Discard = 5, jetstream.DiscardOld })
			},
			stream: eventstore.FamilyStream, check: eventstore.CheckFirstSequence,
			reason: "FAMILY_EVENTS first sequence is 16, not 1",
		},
		{
			name: "MaxBytes set",
			damage: func(t *testing.T, js jetstream.JetStream) {
				update(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxBytes = 1 << 30 })
			},
			stream: eventstore.FamilyStream, check: eventstore.CheckLimits,
			reason: "FAMILY_EVENTS has limits that delete messages: MaxBytes=1073741824",
			// The operator lifts the limit: the next check passes.
			recover: func(t *testing.T, js jetstream.JetStream) {
				update(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxBytes = -1 })
			},
		},
		{
			name: "MaxAge set",
			damage: func(t *testing.T, js jetstream.JetStream) {
				update(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxAge = 30 * 24 * time.Hour })
			},
			stream: eventstore.FamilyStream, check: eventstore.CheckLimits,
			reason: "FAMILY_EVENTS has limits that delete messages: MaxAge=720h0m0s",
		},
		{
			name:   "FAMILY_EVENTS deleted",
			damage: func(t *testing.T, js jetstream.JetStream) { deleteStream(t, js, eventstore.FamilyStream) },
			stream: eventstore.FamilyStream, check: eventstore.CheckPresent,
			reason: "FAMILY_EVENTS is missing",
		},
		{
			name: "FAMILY_EVENTS recreated empty",
			damage: func(t *testing.T, js jetstream.JetStream) {
				deleteStream(t, js, eventstore.FamilyStream)
				createStream(t, js, famCfg)
			},
			stream: eventstore.FamilyStream, check: eventstore.CheckLastSequence,
			reason: "FAMILY_EVENTS last sequence is 0, below 20, which this process has seen",
		},
		{
			name:  "FAMILY_EVENTS recreated without deny delete",
			empty: true,
			damage: func(t *testing.T, js jetstream.JetStream) {
				deleteStream(t, js, eventstore.FamilyStream)
				c := famCfg
				c.DenyDelete = false
				createStream(t, js, c)
			},
			stream: eventstore.FamilyStream, check: eventstore.CheckDenyDelete,
			reason: "FAMILY_EVENTS allows deleting messages (deny delete is off)",
		},
		{
			name:   "ACCESS_LOG deleted",
			damage: func(t *testing.T, js jetstream.JetStream) { deleteStream(t, js, eventstore.AccessLogStream) },
			stream: eventstore.AccessLogStream, check: eventstore.CheckPresent,
			reason: "ACCESS_LOG is missing",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *config.Config) { c.StoreCheckInterval = fastChecks })
			base := h.sa.URL()
			if !tc.empty {
				postReferrals(t, base, 20)
			}
			admin := adminJS(t, h.ns.ClientURL())
			tc.damage(t, admin)
			waitDamageReported(t, base, tc.stream, tc.check, tc.reason, referral(t, "new-1", "Ledighed"))
			if tc.recover == nil {
				return
			}
			tc.recover(t, admin)
			testenv.WaitReady(t, base)
			if r := postTo(t, base, referral(t, "new-1", "Ledighed")); r.Status != http.StatusCreated {
				t.Fatalf("write after recovery: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// natsOnly is a NATS server of its own for a test, and an admin client
// of it.
func natsOnly(t *testing.T) (url string, admin jetstream.JetStream) {
	t.Helper()
	ns := startNATS(t, t.TempDir(), -1)
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL(), adminJS(t, ns.ClientURL())
}

// startStandalone runs a standalone on cfg (without waiting for it to be
// ready) until the returned stop is called or the test ends.
func startStandalone(t *testing.T, cfg config.Config) (*standalone.Standalone, func()) {
	t.Helper()
	sa, err := standalone.Start(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := sa.Stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return sa, stop
}

// The attack that was shown: truncate FAMILY_EVENTS, then let the service
// restart (which puts the stream's settings back). The index, rebuilt from
// the five messages left, no longer knows ref-0; re-sending ref-0 with
// other content must not be stored as new.
func TestTruncatedStoreRefusesReusedIDAfterRestart(t *testing.T) {
	t.Parallel()
	url, js := natsOnly(t)
	nkey := testenv.ServiceKeyFile(t)
	cfg := testenv.Config(t, func(c *config.Config) { c.NATSURL, c.NATSNKey, c.StoreCheckInterval = url, nkey, fastChecks })
	sa, stop := startStandalone(t, cfg)
	testenv.WaitReady(t, sa.URL())
	postReferrals(t, sa.URL(), 20)
	update(t, js, eventstore.FamilyStream, func(c *jetstream.StreamConfig) { c.MaxMsgs, c.Discard = 5, jetstream.DiscardOld })
	stop()

	sa, _ = startStandalone(t, cfg)
	waitDamageReported(t, sa.URL(), eventstore.FamilyStream, eventstore.CheckFirstSequence,
		"FAMILY_EVENTS first sequence is 16, not 1", referral(t, "ref-0", "Andet indhold"))
}

// A department process keeps its index in memory; its high-water mark on
// disk is what remembers, across a restart, how far the stream went.
func TestDepartmentProcessHighWaterMarkCatchesStreamReplacedWhileDown(t *testing.T) {
	t.Parallel()
	url, js := natsOnly(t)
	nkey := testenv.ServiceKeyFile(t)
	cfg := testenv.Config(t, func(c *config.Config) { c.NATSURL, c.NATSNKey, c.StoreCheckInterval = url, nkey, fastChecks })
	mark := filepath.Join(cfg.DataDir, "ingest-sof", "store-highwater.json")

	sof := runDepartment(t, cfg)
	testenv.WaitReady(t, sof.url)
	postReferrals(t, sof.url, 12)
	// The mark is written by the check after the index has seen the events.
	testenv.CheckFor(t, 10*time.Second, func() error {
		b, err := os.ReadFile(mark)
		if err != nil || !strings.Contains(string(b), `"FAMILY_EVENTS": 12`) {
			return fmt.Errorf("high-water file %q: %v", b, err)
		}
		return nil
	})
	sof.stop()

	// While it is down, FAMILY_EVENTS is deleted and created again empty.
	deleteStream(t, js, eventstore.FamilyStream)
	createStream(t, js, eventstore.FamilyStreamConfig(eventstore.StreamOptions{}))
	sof = runDepartment(t, cfg)
	waitDamageReported(t, sof.url, eventstore.FamilyStream, eventstore.CheckLastSequence,
		"FAMILY_EVENTS last sequence is 0, below 12, which this process has seen (its high-water mark in "+mark+")",
		referral(t, "ref-0", "Andet indhold"))
	sof.stop()

	// Deleted while down: the process does not create it again empty.
	deleteStream(t, js, eventstore.FamilyStream)
	sof = runDepartment(t, cfg)
	waitDamageReported(t, sof.url, eventstore.FamilyStream, eventstore.CheckPresent,
		"FAMILY_EVENTS is missing, but this process has seen it hold sequence 12", referral(t, "ref-0", "Andet indhold"))
	if _, err := js.Stream(context.Background(), eventstore.FamilyStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("the stream was created again: %v", err)
	}
	sof.stop()
}

type deptProcess struct {
	url  string
	stop func()
}

// runDepartment runs the SOF process (what bin/sof runs) until stop. It
// returns once the process answers /healthz, ready or not.
func runDepartment(t *testing.T, cfg config.Config) deptProcess {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr = l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ingest.Run(ctx, cfg, []events.Department{events.SOF}, quietLog()) }()
	p := deptProcess{url: "http://" + cfg.HTTPAddr}
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("sof process: %v", err)
			}
		})
	}
	t.Cleanup(p.stop)
	testenv.CheckFor(t, 20*time.Second, func() error {
		resp, err := http.Get(p.url + "/healthz")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	})
	return p
}
