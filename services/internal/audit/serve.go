package audit

import (
	"context"
	"log/slog"
	"path/filepath"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// Run is `audit serve`: the auditor API alone, with a read model of its
// own under <data>/audit kept by a readmodel.Follower, and the operational
// endpoints, until ctx ends. Its own model, rather than the projector's
// file, because the two processes may run on different machines, the
// projector's file is written by one process only, and the audit NATS user
// may only read: the follower needs nothing else.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return process.Serve(ctx, cfg, "audit", log, func(ctx context.Context, p *process.Parts) (func(), error) {
		f, err := readmodel.Follow(ctx, readmodel.FollowerOptions{
			Dir: filepath.Join(cfg.DataDir, "audit"), JS: p.Store.JS, Log: log.With("component", "follower"),
		})
		if err != nil {
			return nil, err
		}
		svc, err := New(Options{NC: p.Store.NC, JS: p.Store.JS, View: f.View(), Auth: p.Auth, Log: log, DataDir: cfg.DataDir})
		if err != nil {
			return func() { f.Close() }, err
		}
		svc.Register(p.Ops.Registry)
		p.Ops.AddCheck("read-model", f.Ready)
		p.Guard.Seen(eventstore.FamilyStream, "audit read model", f.Position)
		svc.Mount(p.Mux)
		return func() { f.Close() }, nil
	})
}
