package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/server"
)

// New makes the ingest service for depts on an open store and starts
// following the stream in the background until ctx ends.
func New(ctx context.Context, store *eventstore.Store, authn *auth.Authenticator, depts []events.Department, log *slog.Logger) (*Service, error) {
	pub, err := eventstore.NewPublisher(store.NC)
	if err != nil {
		return nil, err
	}
	idx := NewIndex(log)
	go func() {
		if err := idx.Run(ctx, store.JS); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("ingest index stopped", "err", err)
		}
	}()
	return &Service{Departments: depts, Auth: authn, Writer: &Writer{Index: idx, Publisher: pub}, Log: log}, nil
}

// Ready is nil once the index has caught up with the stream.
func (s *Service) Ready(context.Context) error {
	if !s.Writer.Index.Ready() {
		return fmt.Errorf("catching up with the event store (at sequence %d)", s.Writer.Index.Applied())
	}
	return nil
}

// Run is a department process: the ingest API of depts, its operational
// endpoints, until ctx ends.
func Run(ctx context.Context, cfg config.Config, depts []events.Department, log *slog.Logger) error {
	authn, err := auth.Load(cfg.ConfigPath)
	if err != nil {
		return err
	}
	if authn.UsesDevTokens() {
		log.Warn("DEV TOKENS ACCEPTED: this process runs with the dev config; never expose it. Pass -config with your own token hashes.")
	}
	opts, err := cfg.StoreOptions(fmt.Sprintf("ingest-%v", depts), log)
	if err != nil {
		return err
	}
	store, err := eventstore.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer store.Close()
	svc, err := New(ctx, store, authn, depts, log)
	if err != nil {
		return err
	}
	ops := server.NewOps()
	svc.Register(ops.Registry)
	ops.AddCheck("eventstore", store.Ready)
	ops.AddCheck("ingest-index", svc.Ready)
	mux := http.NewServeMux()
	ops.Mount(mux)
	svc.Mount(mux)
	srv, err := server.Listen(cfg.HTTPAddr, mux)
	if err != nil {
		return err
	}
	log.Info("ingest listening", "departments", depts, "http", srv.URL(), "nats", store.ClientURL, "data", cfg.DataDir)
	return srv.Serve(ctx)
}
