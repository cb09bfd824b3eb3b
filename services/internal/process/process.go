// Package process starts every Job og Familie binary the same way: tokens,
// the event store, the operational endpoints, the HTTP listener, and a
// graceful stop in the reverse order. Each binary adds only its own parts.
package process

import (
	"context"
	"log/slog"
	"net/http"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/server"
)

// Parts are what a process builds on.
type Parts struct {
	Auth  *auth.Authenticator
	Store *eventstore.Store
	// Guard checks the streams' integrity; register with Seen what the
	// process reads of them.
	Guard *eventstore.Guard
	// Ops serves /healthz, /readyz and /metrics; add readiness checks and
	// metrics to it.
	Ops *server.Ops
	// Mux is where the process mounts its API.
	Mux *http.ServeMux
	Log *slog.Logger
}

// Build adds a process's own parts; the returned func (may be nil) runs
// at shutdown, after the HTTP server has stopped and before the store
// closes.
type Build func(ctx context.Context, p *Parts) (stop func(), err error)

// Serve runs a process named name until ctx ends.
func Serve(ctx context.Context, cfg config.Config, name string, log *slog.Logger, build Build) error {
	authn, err := auth.Load(cfg.ConfigPath)
	if err != nil {
		return err
	}
	if authn.UsesDevTokens() {
		log.Warn("DEV TOKENS ACCEPTED: this process runs with the dev config; never expose it. Pass -config with your own token hashes.")
	}
	opts, err := cfg.StoreOptions(name, log)
	if err != nil {
		return err
	}
	guard, err := eventstore.NewGuard(cfg.GuardOptions(name, log))
	if err != nil {
		return err
	}
	opts.Guard = guard
	store, err := eventstore.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer store.Close()
	p := &Parts{Auth: authn, Store: store, Guard: guard, Ops: server.NewOps(), Mux: http.NewServeMux(), Log: log}
	p.Ops.AddCheck("eventstore", store.Ready)
	p.Ops.AddCheck("store-integrity", guard.Ready)
	guard.Register(p.Ops.Registry)
	guard.Seen(eventstore.AccessLogStream, "access log entries acknowledged", func() uint64 { return accesslog.Acknowledged(store.JS) })
	stop, err := build(ctx, p)
	if stop != nil {
		defer stop()
	}
	if err != nil {
		return err
	}
	stopGuard := guard.Start(ctx, store.JS)
	defer stopGuard()
	p.Ops.Mount(p.Mux)
	srv, err := server.Listen(cfg.HTTPAddr, p.Mux)
	if err != nil {
		return err
	}
	// With an embedded server that listens, nats_nkey is the operator's
	// read-only key: nats --server <nats> --nkey <nats_nkey> stream info FAMILY_EVENTS.
	log.Info(name+" listening", "http", srv.URL(), "nats", store.ClientURL, "nats_nkey", store.OperatorKey, "data", cfg.DataDir)
	return srv.Serve(ctx)
}
