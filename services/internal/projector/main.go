package projector

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/service"
)

// Run is the projector process: the projector, the coordinator and admin
// API and the operational endpoints, until ctx ends.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return RunWith()(ctx, cfg, log)
}

// RunWith is Run with further services that read through the projector
// (the web app): each is built after the projector, on the same parts,
// and stops before it.
func RunWith(with ...func(context.Context, service.Parts, *Projector) (service.Service, error)) process.Run {
	return func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		tuneGC(os.Getenv)
		var pj *Projector
		builds := []service.Build{func(ctx context.Context, p service.Parts) (service.Service, error) {
			var err error
			pj, err = NewService(ctx, p)
			return pj, err
		}}
		for _, build := range with {
			builds = append(builds, func(ctx context.Context, p service.Parts) (service.Service, error) {
				return build(ctx, p, pj)
			})
		}
		return process.Serve(ctx, cfg, "projector", log, builds...)
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
