// Command standalone runs the whole Job og Familie backend in one process:
// an embedded NATS JetStream server, the four department ingest services,
// and (as they land) the projector and audit APIs, on one HTTP listener.
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

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

func main() {
	cfg, err := config.Parse("standalone", os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "standalone:", err)
		os.Exit(2)
	}
	log := cfg.Logger().With("service", "standalone")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, cfg, log); err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	s, err := standalone.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\nJob og Familie standalone\n")
	fmt.Fprintf(os.Stderr, "  API          %s  (POST /departments/{sof,bif,buf,suf}/v1/events)\n", s.URL())
	if s.Store.ClientURL != "" {
		fmt.Fprintf(os.Stderr, "  NATS         %s  (nats --server %s stream info FAMILY_EVENTS)\n", s.Store.ClientURL, s.Store.ClientURL)
	} else {
		fmt.Fprintf(os.Stderr, "  NATS         in-process only (-nats-listen off)\n")
	}
	fmt.Fprintf(os.Stderr, "  data         %s\n", cfg.DataDir)
	if s.Auth.UsesDevTokens() {
		fmt.Fprintf(os.Stderr, "  WARNING      dev tokens accepted: %v\n               never expose this process; pass -config with your own token hashes\n", auth.DevTokens)
	}
	fmt.Fprintln(os.Stderr)
	log.Info("standalone running", "http", s.URL(), "nats", s.Store.ClientURL, "data", cfg.DataDir)
	return s.Wait()
}
