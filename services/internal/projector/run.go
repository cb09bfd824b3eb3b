package projector

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/server"
)

// Run is the projector process: the projector, the coordinator and admin
// API and the operational endpoints, until ctx ends.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	tuneGC(os.Getenv)
	authn, err := auth.Load(cfg.ConfigPath)
	if err != nil {
		return err
	}
	if authn.UsesDevTokens() {
		log.Warn("DEV TOKENS ACCEPTED: this process runs with the dev config; never expose it. Pass -config with your own token hashes.")
	}
	opts, err := cfg.StoreOptions("projector", log)
	if err != nil {
		return err
	}
	store, err := eventstore.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := New(ctx, Options{DataDir: cfg.DataDir, NC: store.NC, JS: store.JS, Auth: authn, Log: log})
	if err != nil {
		return err
	}
	p.Start(ctx)
	defer p.Close()
	ops := server.NewOps()
	p.Register(ops.Registry)
	ops.AddCheck("eventstore", store.Ready)
	ops.AddCheck("projector", p.Ready)
	mux := http.NewServeMux()
	ops.Mount(mux)
	p.Mount(mux)
	srv, err := server.Listen(cfg.HTTPAddr, mux)
	if err != nil {
		return err
	}
	log.Info("projector listening", "http", srv.URL(), "nats", store.ClientURL, "data", cfg.DataDir, "position", p.Position())
	return srv.Serve(ctx)
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
