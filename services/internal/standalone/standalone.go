// Package standalone runs every Job og Familie service in one process on
// one HTTP listener, with an embedded NATS JetStream server: the process
// package's start sequence with all three services, and the web app, on
// the same parts. It is both the `standalone` binary and the end-to-end
// harness of the tests.
package standalone

import (
	"context"
	"log/slog"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/erasure"
	"kk.dk/jobogfamilie/services/internal/ingest"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/webapp"
)

// Standalone is the running system.
type Standalone struct {
	*process.Running
	Config config.Config
	Ingest *ingest.Service
	// Projector maintains the read model and serves the coordinator API.
	Projector *projector.Projector
	// Audit is the auditor API, on the projector's read model.
	Audit *audit.Service
	// App is the coordinators' web app (/app/), reading through Projector.
	App *webapp.App
	// Erasure is the data protection officer's erasure and retention API.
	Erasure *erasure.Service
}

// Start opens the store (embedded unless cfg.NATSURL is set), builds the
// three services and the web app on the same parts (the audit API on the
// projector's read model, the web app through the projector's reads) and
// starts serving HTTP. Stop (or ending ctx) shuts it down. A ctx that
// ends during the start stops it there: Start returns a Standalone that
// is Interrupted (process.Start), whose Wait returns nil.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Standalone, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Standalone{Config: cfg}
	run, err := process.Start(ctx, cfg, "standalone", log,
		func(ctx context.Context, p service.Parts) (service.Service, error) {
			svc, err := ingest.NewService(ctx, p, events.Departments)
			s.Ingest = svc
			return svc, err
		},
		func(ctx context.Context, p service.Parts) (service.Service, error) {
			p.Log = log.With("component", "projector")
			svc, err := projector.NewService(ctx, p)
			s.Projector = svc
			return svc, err
		},
		func(ctx context.Context, p service.Parts) (service.Service, error) {
			p.Log = log.With("component", "audit")
			svc, err := audit.NewService(ctx, p, s.Projector.AuditView(), s.Projector.AccessIndex())
			s.Audit = svc
			return svc, err
		},
		func(ctx context.Context, p service.Parts) (service.Service, error) {
			p.Log = log.With("component", "erasure")
			svc, err := erasure.NewService(ctx, p, s.Projector.AuditView())
			s.Erasure = svc
			return svc, err
		},
		func(ctx context.Context, p service.Parts) (service.Service, error) {
			svc, err := webapp.NewService(ctx, p, s.Projector)
			s.App = svc
			return svc, err
		})
	if err != nil {
		return nil, err
	}
	s.Running = run
	return s, nil
}
