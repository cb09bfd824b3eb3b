package audit

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/server"
)

// Run is `audit serve`: the auditor API alone, with a read model of its
// own under <data>/audit kept by a projector.Follower, and the operational
// endpoints, until ctx ends. Its own model, rather than the projector's
// file, because the two processes may run on different machines, the
// projector's file is written by one process only, and the audit NATS user
// may only read: the follower needs nothing else.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	authn, err := auth.Load(cfg.ConfigPath)
	if err != nil {
		return err
	}
	if authn.UsesDevTokens() {
		log.Warn("DEV TOKENS ACCEPTED: this process runs with the dev config; never expose it. Pass -config with your own token hashes.")
	}
	opts, err := cfg.StoreOptions("audit", log)
	if err != nil {
		return err
	}
	store, err := eventstore.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer store.Close()
	f, err := projector.Follow(ctx, projector.FollowerOptions{
		Dir: filepath.Join(cfg.DataDir, "audit"), JS: store.JS, Log: log.With("component", "follower"),
	})
	if err != nil {
		return err
	}
	defer f.Close()
	svc, err := New(Options{NC: store.NC, JS: store.JS, View: f.AuditView(), Auth: authn, Log: log, DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	ops := server.NewOps()
	svc.Register(ops.Registry)
	ops.AddCheck("eventstore", store.Ready)
	ops.AddCheck("read-model", f.Ready)
	mux := http.NewServeMux()
	ops.Mount(mux)
	svc.Mount(mux)
	srv, err := server.Listen(cfg.HTTPAddr, mux)
	if err != nil {
		return err
	}
	log.Info("audit listening", "http", srv.URL(), "nats", store.ClientURL, "data", cfg.DataDir, "position", f.Position())
	return srv.Serve(ctx)
}
