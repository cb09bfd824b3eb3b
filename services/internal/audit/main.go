package audit

import (
	"context"
	"log/slog"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/erasure"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/service"
)

// Run is `audit serve`: the auditor API, with a read model of its own
// under <data>/audit kept by a readmodel.Follower, the data protection
// officer's erasure API on that model (package erasure), and the
// operational endpoints, until ctx ends. Its own model, rather than the
// projector's file, because the two processes may run on different
// machines and the projector's file is written by one process only.
//
// Erasure lives here, in the split deployment, because it is the process
// the privacy roles already use (the citizen's access report) and the one
// whose NATS user may record family.erased and destroy a data key
// (deploy/nats/accounts.conf); the standalone runs the same service.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	var a *Service
	return process.Serve(ctx, cfg, "audit", log,
		func(ctx context.Context, p service.Parts) (service.Service, error) {
			svc, err := NewService(ctx, p, nil, nil)
			a = svc
			return svc, err
		},
		func(ctx context.Context, p service.Parts) (service.Service, error) {
			p.Log = p.Log.With("component", "erasure")
			return erasure.NewService(ctx, p, a.view)
		})
}
