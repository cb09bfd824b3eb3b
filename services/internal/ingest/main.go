package ingest

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/process"
)

// Main is the whole main function of a department binary: flags and
// environment, signals, then Run. It returns the process exit code.
func Main(dept events.Department) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return process.Main(ctx, string(dept), os.Args[1:], func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		return Run(ctx, cfg, []events.Department{dept}, log)
	})
}
