package audit

import (
	"context"
	"log/slog"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/service"
)

// Run is `audit serve`: the auditor API alone, with a read model of its
// own under <data>/audit kept by a readmodel.Follower, and the operational
// endpoints, until ctx ends. Its own model, rather than the projector's
// file, because the two processes may run on different machines, the
// projector's file is written by one process only, and the audit NATS user
// may only read: the follower needs nothing else.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return process.Serve(ctx, cfg, "audit", log, func(ctx context.Context, p service.Parts) (service.Service, error) {
		return NewService(ctx, p, nil)
	})
}
