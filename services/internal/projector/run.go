package projector

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/process"
)

// Run is the projector process: the projector, the coordinator and admin
// API and the operational endpoints, until ctx ends.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return RunWith(nil)(ctx, cfg, log)
}

// RunWith is Run that also calls mount, when not nil, to add routes that
// read through the projector (the web app).
func RunWith(mount func(*Projector, *process.Parts, config.Config) error) func(context.Context, config.Config, *slog.Logger) error {
	return func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		tuneGC(os.Getenv)
		return process.Serve(ctx, cfg, "projector", log, func(ctx context.Context, ps *process.Parts) (func(), error) {
			p, err := New(ctx, Options{DataDir: cfg.DataDir, NC: ps.Store.NC, JS: ps.Store.JS, Auth: ps.Auth, Log: log})
			if err != nil {
				return nil, err
			}
			p.Start(ctx)
			p.Register(ps.Ops.Registry)
			ps.Ops.AddCheck("projector", p.Ready)
			ps.Guard.Seen(eventstore.FamilyStream, "projector read model", p.Position)
			p.Mount(ps.Mux)
			if mount != nil {
				if err := mount(p, ps, cfg); err != nil {
					_ = p.Close()
					return nil, err
				}
			}
			return func() { _ = p.Close() }, nil
		})
	}
}

// tuneGC trades memory for speed while catching up, unless the operator
// set GOGC or GOMEMLIMIT: decoding and applying a backlog allocates fast,
// and with the default GOGC=100 the collector took a quarter of the CPU.
// GOGC=300 under a 176 MiB soft limit keeps the process inside its 300 MB
// budget: SQLite's page caches and sorts come on top of the Go heap.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(176 << 20)
	}
}
