package process_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/process"
)

// lockedBuf is a log's output, read while the process writes it.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNATSPasswordIsNotLogged: deploy/ puts each service's NATS
// password into JF_NATS_URL (tls://sof:PW@nats-1:4222,…), and
// deploy/README.md says "the plain password goes only into the service's
// own env file, inside its JF_NATS_URL" (mode 0640, "it holds a secret").
// process.Serve logs the URL it connects to without it, so the password
// stays out of every service's journal.
func TestNATSPasswordIsNotLogged(t *testing.T) {
	const secret = "S3cret-nats-pw-7f2c"
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.NATSURL = "nats://sof:" + secret + "@127.0.0.1:1,nats://sof:" + secret + "@127.0.0.1:2"
	var out lockedBuf
	log := slog.New(slog.NewJSONHandler(&out, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- process.Serve(ctx, cfg, "ingest-[sof]", log) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "listening") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, secret) {
			t.Errorf("the NATS password is in the log: %s", line)
		}
	}
}

// TestNATSNKeyIsLogged: with -nats-url and -nats-nkey, the start's log
// names the seed file the process authenticates with, never its seed.
func TestNATSNKeyIsLogged(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.NATSURL = "nats://127.0.0.1:1"
	cfg.NATSNKey = filepath.Join(t.TempDir(), "svc.nk")
	if err := os.WriteFile(cfg.NATSNKey, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	var out lockedBuf
	log := slog.New(slog.NewJSONHandler(&out, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- process.Serve(ctx, cfg, "audit", log) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "listening") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	var start map[string]any
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, string(seed)) {
			t.Errorf("the NKey seed is in the log: %s", line)
		}
		if strings.Contains(line, "listening") {
			_ = json.Unmarshal([]byte(line), &start)
		}
	}
	if start["nats_nkey"] != cfg.NATSNKey {
		t.Errorf("the start's log gives nats_nkey %q, want %s: %v", start["nats_nkey"], cfg.NATSNKey, start)
	}
}
