package standalone_test

import (
	"context"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestSignalDuringStartIsNotAFailure: SIGINT/SIGTERM ends the
// context a process starts with (signal.NotifyContext). A signal that
// arrives while the standalone is still starting must be a graceful stop,
// not a start-up failure (which cmd/standalone logs as an error and exits 1).
func TestSignalDuringStartIsNotAFailure(t *testing.T) {
	for _, after := range []time.Duration{0, 20 * time.Millisecond, 60 * time.Millisecond} {
		cfg := testenv.Config(t)
		ctx, cancel := context.WithCancel(context.Background())
		if after == 0 {
			cancel()
		} else {
			time.AfterFunc(after, cancel)
		}
		sa, err := standalone.Start(ctx, cfg, testenv.QuietLog())
		if err != nil {
			t.Errorf("signal %s into the start: Start failed: %v", after, err)
			cancel()
			continue
		}
		if err := sa.Wait(); err != nil {
			t.Errorf("signal %s into the start: Wait: %v", after, err)
		}
		cancel()
	}
}
