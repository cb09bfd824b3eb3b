// Command projector runs the projector and the coordinator API against the
// event store (an external NATS with -nats-url, or an embedded one).
// `projector rebuild` asks a running projector to rebuild its read model;
// `projector bench` measures the projector against the raw limits of
// JetStream and SQLite on this machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/projector"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "rebuild":
			os.Exit(projector.RebuildCommand(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
		case "bench":
			os.Exit(projector.BenchCommand(ctx, os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	cfg, err := config.Parse("projector", os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "projector:", err)
		os.Exit(2)
	}
	log := cfg.Logger().With("service", "projector")
	if err := realMain(ctx, cfg, log); err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

func realMain(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return projector.Run(ctx, cfg, log)
}
