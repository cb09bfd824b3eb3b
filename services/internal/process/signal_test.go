package process_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/openapi"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/service"
)

// TestSIGTERMDuringStartExitsZero: bin/projector's main hands
// process.Main a signal.NotifyContext; a SIGTERM while the process is still
// starting ends that context. CONTRACT.md: "SIGINT/SIGTERM shut down
// gracefully". Main's own doc: exit code "0, 1 when run failed, 2 for bad
// flags". A stop asked for is not a failed run: want 0.
func TestSIGTERMDuringStartExitsZero(t *testing.T) {
	for _, after := range []time.Duration{0, 30 * time.Millisecond} {
		ctx, cancel := context.WithCancel(context.Background())
		if after == 0 {
			cancel()
		} else {
			time.AfterFunc(after, cancel)
		}
		args := []string{"-data", t.TempDir(), "-http", "127.0.0.1:0", "-nats-listen", "off"}
		if code := process.Main(ctx, "projector", args, projector.Run); code != 0 {
			t.Errorf("SIGTERM %s into the start: exit code %d, want 0 (see the log above)", after, code)
		}
		cancel()
	}
}

// A start that fails for another reason than the stop still fails: exit
// code 1.
func TestStartFailureExitsOne(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	args := []string{"-data", t.TempDir(), "-http", l.Addr().String(), "-nats-listen", "off", "-log-level", "error"}
	if code := process.Main(context.Background(), "projector", args, projector.Run); code != 1 {
		t.Errorf("HTTP address in use: exit code %d, want 1", code)
	}
}

// stubService is a service that records its Stop.
type stubService struct{ stopped *bool }

func (s stubService) Routes() []service.Route          { return nil }
func (s stubService) Checks() map[string]service.Check { return nil }
func (s stubService) API() openapi.Fragment            { return openapi.Fragment{} }
func (s stubService) Stop()                            { *s.stopped = true }

// A stop during a service's construction: the services built so far are
// stopped and the store closed, Start logs "stopped during start" at
// INFO and returns a Running that is Interrupted, whose Wait is nil;
// the next service is not built.
func TestStartInterruptedStopsWhatStarted(t *testing.T) {
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.DataDir, cfg.NATSListen = "127.0.0.1:0", t.TempDir(), "off"
	var out lockedBuf
	log := slog.New(slog.NewJSONHandler(&out, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopped, third bool
	run, err := process.Start(ctx, cfg, "test", log,
		func(context.Context, service.Parts) (service.Service, error) {
			return stubService{&stopped}, nil
		},
		func(ctx context.Context, _ service.Parts) (service.Service, error) {
			cancel() // SIGTERM while this service starts
			<-ctx.Done()
			return nil, errors.New("interrupted: " + ctx.Err().Error())
		},
		func(context.Context, service.Parts) (service.Service, error) {
			third = true
			return stubService{new(bool)}, nil
		})
	if err != nil {
		t.Fatalf("Start: %v, want an interrupted Running", err)
	}
	if !run.Interrupted() || run.URL() != "" {
		t.Errorf("Interrupted %v, URL %q: want an interrupted Running that serves nothing", run.Interrupted(), run.URL())
	}
	if err := run.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
	if !stopped || third {
		t.Errorf("the first service stopped %v, the third built %v: want true, false", stopped, third)
	}
	if run.Store.NC == nil || !run.Store.NC.IsClosed() {
		t.Error("the event store's connection is open")
	}
	if !strings.Contains(out.String(), `"level":"INFO","msg":"stopped during start"`) {
		t.Errorf("no INFO \"stopped during start\" in the log:\n%s", out.String())
	}
}
