package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/service"
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

// Run is a department process: the ingest API of depts, its operational
// endpoints, until ctx ends.
func Run(ctx context.Context, cfg config.Config, depts []events.Department, log *slog.Logger) error {
	return process.Serve(ctx, cfg, fmt.Sprintf("ingest-%v", depts), log, func(ctx context.Context, p service.Parts) (service.Service, error) {
		return NewService(ctx, p, depts)
	})
}
