package ingest

import (
	"context"
	"errors"
	"fmt"
	"kk.dk/jobogfamilie/services/internal/process"
	"log/slog"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
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

// Guard makes the service refuse writes while g finds the event store
// damaged, and tells g what the index has seen of the stream.
func (s *Service) Guard(g *eventstore.Guard) {
	s.guard = g
	g.Seen(eventstore.FamilyStream, "ingest index", s.Writer.Index.Applied)
}

// Run is a department process: the ingest API of depts, its operational
// endpoints, until ctx ends.
func Run(ctx context.Context, cfg config.Config, depts []events.Department, log *slog.Logger) error {
	return process.Serve(ctx, cfg, fmt.Sprintf("ingest-%v", depts), log, func(ctx context.Context, p *process.Parts) (func(), error) {
		svc, err := New(ctx, p.Store, p.Auth, depts, log)
		if err != nil {
			return nil, err
		}
		svc.Register(p.Ops.Registry)
		svc.Guard(p.Guard)
		p.Ops.AddCheck("ingest-index", svc.Ready)
		svc.Mount(p.Mux)
		return nil, nil
	})
}
