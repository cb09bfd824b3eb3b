// Command standalone runs the whole Job og Familie backend in one process:
// an embedded NATS JetStream server, the four department ingest services,
// the projector and the audit API, on one HTTP listener.
// With -demo it also loads the demo data through its own ingest API once it
// is ready (with the dev tokens, erasing one family as make demo does), and
// keeps running. `standalone setup-streams -nats-url URL` is
// the setup step of a deployment on an external NATS: it creates or
// updates the streams as the admin user (deploy/README.md).
// `standalone rotate-master-key` rewraps the data keys with a new master
// key (docs/PRIVACY.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/demo"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// demoFlags ask the standalone to load the demo data once it is ready.
type demoFlags struct {
	load     bool
	seed     int64
	families int
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "setup-streams" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := standalone.SetupStreamsCommand(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	if len(os.Args) > 1 && os.Args[1] == "rotate-master-key" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := standalone.RotateMasterKeyCommand(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	cfg, df, err := parse(os.Args[1:])
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
	// As process.Main ends the other binaries: "stopped", an error with it
	// when the run failed.
	if err := realMain(ctx, cfg, df, log); err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

// parse is config.Parse plus the standalone's own -demo flags.
func parse(args []string) (config.Config, demoFlags, error) {
	var cfg config.Config
	var df demoFlags
	fs := cfg.FlagSet("standalone", os.Getenv)
	fs.SetOutput(os.Stderr)
	fs.BoolVar(&df.load, "demo", false, "load the demo data (synthetic families, through the ingest API) once ready and, with the dev tokens, erase one of them as dev-dpo; loading again stores nothing new")
	fs.Int64Var(&df.seed, "demo-seed", 1, "seed of the demo data")
	fs.IntVar(&df.families, "demo-families", demo.DefaultFamilies, "number of demo families")
	if err := fs.Parse(args); err != nil {
		return cfg, df, err
	}
	if fs.NArg() > 0 {
		return cfg, df, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if df.families < 1 {
		return cfg, df, fmt.Errorf("-demo-families must be at least 1, not %d", df.families)
	}
	return cfg, df, nil
}

func realMain(ctx context.Context, cfg config.Config, df demoFlags, log *slog.Logger) error {
	s, err := standalone.Start(ctx, cfg, log)
	if err != nil || s.Interrupted() {
		// Interrupted: SIGINT or SIGTERM during the start, a clean stop.
		return err
	}
	fmt.Fprintf(os.Stderr, "\nJob og Familie standalone\n")
	fmt.Fprintf(os.Stderr, "  ingest       %s/departments/{%s}/v1/events\n", s.URL(),
		strings.ReplaceAll(events.DepartmentCodes, " ", ""))
	fmt.Fprintf(os.Stderr, "  coordinator  %s/v1/families\n", s.URL())
	fmt.Fprintf(os.Stderr, "  auditor      %s/v1/audit/events\n", s.URL())
	fmt.Fprintf(os.Stderr, "  operations   %s/healthz  /readyz  /metrics  /openapi.json\n", s.URL())
	// An external NATS's URL may carry this process's password.
	natsURL := eventstore.RedactURL(s.Store.ClientURL)
	if s.Store.OperatorKey != "" {
		fmt.Fprintf(os.Stderr, "  NATS         %s  (read-only: nats --server %s --nkey %s stream info FAMILY_EVENTS)\n", natsURL, natsURL, s.Store.OperatorKey)
		fmt.Fprintf(os.Stderr, "  NATS keys    %s  (operator.nk reads; audit.nk reads and records the audit CLI's reads in the access log; sof.nk, bif.nk, buf.nk, suf.nk publish their department's events)\n", filepath.Dir(s.Store.OperatorKey))
	} else if natsURL != "" {
		fmt.Fprintf(os.Stderr, "  NATS         %s\n", natsURL)
	} else {
		fmt.Fprintf(os.Stderr, "  NATS         in-process only (-nats-listen off)\n")
	}
	fmt.Fprintf(os.Stderr, "  data         %s\n", cfg.DataDir)
	if s.Auth.UsesDevTokens() {
		fmt.Fprintf(os.Stderr, "  WARNING      dev tokens accepted: %v\n               never expose this process; pass -config with your own token hashes\n", auth.DevTokens)
	}
	fmt.Fprintln(os.Stderr)
	log.Info("standalone running", "http", s.URL(), "nats", natsURL, "nats_nkey", process.LoggedNKey(cfg, s.Store), "data", cfg.DataDir)
	if df.load {
		// The demo goes through the HTTP API like any department system,
		// so it exercises what a newcomer will use; the server keeps
		// running whatever the outcome.
		o := demo.Options{BaseURL: s.URL(), Seed: df.seed, Families: df.families, Progress: os.Stderr}
		if s.Auth.UsesDevTokens() {
			// As make demo does: one family erased by the dev dpo.
			o.DPOToken = "dev-dpo"
		}
		go func() {
			st, err := demo.Load(ctx, o)
			if err != nil {
				log.Error("demo data not loaded", "err", err)
				return
			}
			log.Info("demo data loaded", "families", st.Families, "events", st.Events, "new", st.Stored(), "duplicates", st.Duplicates, "erased", st.Erased)
			fmt.Fprintf(os.Stderr, "demo: try  curl -s -H 'Authorization: Bearer dev-coordinator' %s/v1/families\n", s.URL())
		}()
	}
	return s.Wait()
}
