// Command audit is the auditor API (`audit serve`) and the auditors' CLI
// (`audit replay`, `audit verify`, `audit export`, `audit verify-export`);
// see services/internal/audit and CONTRACT.md, "Auditor API".
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

	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, audit.Usage)
		os.Exit(2)
	}
	if sub := os.Args[1]; sub != "serve" {
		code := audit.Command(ctx, sub, os.Args[2:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	cfg, err := config.Parse("audit serve", os.Args[2:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit serve:", err)
		os.Exit(2)
	}
	log := cfg.Logger().With("service", "audit")
	if err := realMain(ctx, cfg, log); err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

func realMain(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return audit.Run(ctx, cfg, log)
}
