package projector

import (
	"context"
	"errors"
	"fmt"

	"kk.dk/jobogfamilie/services/internal/problem"
)

// ErrNotReady is in the error of every read of family data refused
// because the projector is not ready (Ready): its read model is still
// loading or catching up, the stream was replaced, or it stopped
// consuming. The reads answer 503 with Retry-After, before anything is
// read or written to the access log, so that a load balancer passes the
// request to another replica (deploy/lb/nginx.conf): a model that has
// not caught up would answer an assigned coordinator 403 and list too few
// families, a wrong answer rather than a stale one.
var ErrNotReady = errors.New("projector: the read model is not ready")

// notReadyRetry is the Retry-After of a read refused as not ready, in
// seconds.
const notReadyRetry = 5

// servable is nil while the projector may serve family data: exactly
// when it is ready. Health, metrics, /readyz and the web app's login pages
// do not ask.
func (p *Projector) servable() error {
	err := p.Ready(context.Background())
	if err == nil {
		return nil
	}
	pr := problem.Unavailable(fmt.Sprintf("this replica's read model is not ready (%v); another replica may answer", err))
	pr.RetryAfter = notReadyRetry
	return fmt.Errorf("%w: %w", ErrNotReady, pr)
}
