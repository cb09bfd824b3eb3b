package process

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"runtime/trace"

	"kk.dk/jobogfamilie/services/internal/config"
)

// Run is a process's body, given its settings and logger; it returns when
// ctx ends (SIGINT/SIGTERM) or it fails.
type Run func(ctx context.Context, cfg config.Config, log *slog.Logger) error

// Main is the main function every server binary shares: flags with
// environment fallbacks, the logger, then run until ctx ends. It returns
// the exit code: 0, 1 when run failed, 2 for bad flags.
func Main(ctx context.Context, name string, args []string, run Run) int {
	return mainWith(ctx, name, name, args, os.Stderr, run)
}

// MainCommand is Main for a server that is a subcommand of its binary
// (audit serve): command, the binary and the subcommand, heads the flags'
// usage and names the errors in them; name is still the service's.
func MainCommand(ctx context.Context, name, command string, args []string, run Run) int {
	return mainWith(ctx, name, command, args, os.Stderr, run)
}

// mainWith is Main, the usage and the flags' errors written to stderr.
func mainWith(ctx context.Context, name, command string, args []string, stderr io.Writer, run Run) int {
	cfg, err := config.Parse(command, args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", command, err)
		return 2
	}
	log := cfg.Logger().With("service", name)
	// For measuring a service as deployed, e.g. the projector process that
	// `jfbench projector` starts: a CPU profile and an execution trace (go
	// tool trace: where the goroutines of a pipeline wait for each other)
	// of the whole run, and a heap profile written at the end (its
	// alloc_space: what the whole run allocated, by where).
	var heap io.Writer
	for _, r := range []struct {
		env   string
		start func(io.Writer) error
		stop  func()
	}{
		{"JF_CPUPROFILE", pprof.StartCPUProfile, pprof.StopCPUProfile},
		{"JF_TRACE", trace.Start, trace.Stop},
		{"JF_MEMPROFILE", func(w io.Writer) error { heap = w; return nil },
			func() { _ = pprof.Lookup("allocs").WriteTo(heap, 0) }},
	} {
		path := os.Getenv(r.env)
		if path == "" {
			continue
		}
		f, err := os.Create(path)
		if err == nil {
			err = r.start(f)
		}
		if err != nil {
			log.Error(r.env, "err", err)
			return 1
		}
		defer func() { r.stop(); f.Close() }()
	}
	if err := run(ctx, cfg, log); err != nil {
		log.Error("stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
