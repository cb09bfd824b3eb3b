package projector

import (
	"context"

	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// ErrNotReady is in the error of every read of family data refused
// because the projector is not ready (Ready): its read model is still
// loading or catching up, the stream was replaced, or it stopped
// consuming. The reads answer 503 with Retry-After (readmodel.NotReady),
// before anything is read or written to the access log, so that a load
// balancer passes the request to another replica (deploy/lb/nginx.conf):
// a model that has not caught up would answer an assigned coordinator 403
// and list too few families, a wrong answer rather than a stale one. It
// is readmodel.ErrNotReady, which the audit service's reads of its own
// read model answer with too.
var ErrNotReady = readmodel.ErrNotReady

// servable is nil while the projector may serve family data: exactly
// when it is ready. Health, metrics, /readyz and the web app's login pages
// do not ask.
func (p *Projector) servable() error {
	if err := p.Ready(context.Background()); err != nil {
		return readmodel.NotReady(err)
	}
	return nil
}
