// Package standalone runs every Job og Familie service in one process on
// one HTTP listener, with an embedded NATS JetStream server. It is both the
// `standalone` binary and the end-to-end harness of the tests.
package standalone

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/ingest"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/server"
	"kk.dk/jobogfamilie/services/internal/webapp"
)

// Standalone is the running system.
type Standalone struct {
	Config config.Config
	Store  *eventstore.Store
	// Guard checks the streams' integrity.
	Guard  *eventstore.Guard
	Ingest *ingest.Service
	// Projector maintains the read model and serves the coordinator API.
	Projector *projector.Projector
	// Audit is the auditor API, on the projector's read model.
	Audit *audit.Service
	Auth  *auth.Authenticator
	HTTP  *server.Server
	Log   *slog.Logger

	cancel    context.CancelFunc
	stopGuard func()
	served    chan error
	once      sync.Once
}

// Start opens the store (embedded unless cfg.NATSURL is set), mounts the
// services and starts serving HTTP. Stop (or ending ctx) shuts it down.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Standalone, error) {
	if log == nil {
		log = slog.Default()
	}
	authn, err := auth.Load(cfg.ConfigPath)
	if err != nil {
		return nil, err
	}
	opts, err := cfg.StoreOptions("standalone", log)
	if err != nil {
		return nil, err
	}
	guard, err := eventstore.NewGuard(cfg.GuardOptions("standalone", log))
	if err != nil {
		return nil, err
	}
	opts.Guard = guard
	ctx, cancel := context.WithCancel(ctx)
	store, err := eventstore.Open(ctx, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Standalone{Config: cfg, Store: store, Guard: guard, Auth: authn, Log: log, cancel: cancel, served: make(chan error, 1)}
	guard.Seen(eventstore.AccessLogStream, "access log entries acknowledged", func() uint64 { return accesslog.Acknowledged(store.JS) })
	s.Ingest, err = ingest.New(ctx, store, authn, events.Departments, log)
	if err != nil {
		s.abort()
		return nil, err
	}
	s.Ingest.Guard(guard)
	s.Projector, err = projector.New(ctx, projector.Options{
		DataDir: cfg.DataDir, NC: store.NC, JS: store.JS, Auth: authn, Log: log.With("component", "projector"),
	})
	if err != nil {
		s.abort()
		return nil, err
	}
	s.Projector.Start(ctx)
	guard.Seen(eventstore.FamilyStream, "projector read model", s.Projector.Position)
	s.Audit, err = audit.New(audit.Options{
		NC: store.NC, JS: store.JS, View: s.Projector.AuditView(), Auth: authn,
		Log: log.With("component", "audit"), DataDir: cfg.DataDir,
	})
	if err != nil {
		s.abort()
		return nil, err
	}
	ops := server.NewOps()
	s.Ingest.Register(ops.Registry)
	s.Projector.Register(ops.Registry)
	s.Audit.Register(ops.Registry)
	ops.AddCheck("eventstore", store.Ready)
	ops.AddCheck("ingest-index", s.Ingest.Ready)
	ops.AddCheck("projector", s.Projector.Ready)
	guard.Register(ops.Registry)
	ops.AddCheck("store-integrity", guard.Ready)
	s.stopGuard = guard.Start(ctx, store.JS)
	mux := http.NewServeMux()
	ops.Mount(mux)
	s.Ingest.Mount(mux)
	s.Projector.Mount(mux)
	s.Audit.Mount(mux)
	if err := webapp.MountProjector(s.Projector, &process.Parts{Auth: authn, Store: store, Mux: mux, Log: log}, cfg); err != nil {
		s.abort()
		return nil, err
	}
	s.HTTP, err = server.Listen(cfg.HTTPAddr, mux)
	if err != nil {
		s.abort()
		return nil, err
	}
	go func() { s.served <- s.HTTP.Serve(ctx) }()
	return s, nil
}

func (s *Standalone) abort() {
	s.cancel()
	if s.stopGuard != nil {
		s.stopGuard()
	}
	if s.Projector != nil {
		_ = s.Projector.Close()
	}
	s.Store.Close()
}

// URL is the HTTP base URL.
func (s *Standalone) URL() string { return s.HTTP.URL() }

// Wait blocks until the HTTP server stopped (after ctx ended), then closes
// the store.
func (s *Standalone) Wait() error {
	err := <-s.served
	s.once.Do(func() {
		s.cancel()
		s.stopGuard()
		// The projector stops before the store it reads from closes.
		if perr := s.Projector.Close(); perr != nil && err == nil {
			err = perr
		}
		s.Store.Close()
	})
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Stop shuts everything down gracefully.
func (s *Standalone) Stop() error {
	s.cancel()
	return s.Wait()
}
