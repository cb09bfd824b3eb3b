package projector

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/openapi"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/service"
)

// Headers of the coordinator API.
const (
	HeaderPosition    = readmodel.HeaderPosition    // on every response: the sequence the read model has applied
	HeaderMinPosition = readmodel.HeaderMinPosition // on a request: wait until the read model applied it
	HeaderPurpose     = accesslog.HeaderPurpose     // on a request: why the family is read, for the access log
)

const (
	// MinPositionWait is how long a read waits for X-Min-Position.
	MinPositionWait = readmodel.MinPositionWait
	// MaxPurpose is the longest X-Purpose accepted, in characters.
	MaxPurpose = accesslog.MaxPurpose
)

// NewService is the projector service on p: it opens the read model
// under <data>/projector (<data>/projector-<instance> with -instance),
// claims its consumer for this process (Claim: it fails when another
// process holds it), starts consuming until ctx ends or Stop, and
// registers its metrics and what it reads of the stream with the guard.
func NewService(ctx context.Context, p service.Parts) (*Projector, error) {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	pj, err := New(ctx, Options{DataDir: p.Config.DataDir, Instance: p.Config.Instance, NC: p.Store.NC, JS: p.Store.JS, Auth: p.Auth, Log: log, Keys: p.Keys,
		EvaluationTarget: p.Config.EvaluationTarget, EvaluationThreshold: p.Config.EvaluationThreshold,
		EvaluationKeepEvery: p.Config.EvaluationKeepEvery, CacheFamilies: p.Config.ProjectorCacheFamilies,
		CatchUpFamilies: p.Config.ProjectorCatchUpFamilies})
	if err != nil {
		return nil, err
	}
	if err := pj.Claim(ctx); err != nil {
		_ = pj.Close()
		return nil, err
	}
	pj.Start(ctx)
	if p.Metrics != nil {
		pj.Register(p.Metrics)
	}
	if p.Guard != nil {
		p.Guard.Seen(eventstore.FamilyStream, "projector read model", pj.Position)
	}
	return pj, nil
}

// Routes are the coordinator API, the admin API and the evaluation API.
func (p *Projector) Routes() []service.Route {
	routes := []service.Route{
		// Coordinator API.
		{Method: "GET", Pattern: "/v1/families", Handle: p.handleFamilies, GetOnly: true},
		{Method: "GET", Pattern: "/v1/families/{familyId}", Handle: p.handleOverview, GetOnly: true},
		{Method: "GET", Pattern: "/v1/families/{familyId}/timeline", Handle: p.handleTimeline, GetOnly: true},
		{Method: "GET", Pattern: "/v1/families/{familyId}/timeline/stream", Handle: p.handleStream, GetOnly: true},
		// Admin API.
		{Method: "POST", Pattern: "/v1/admin/rebuild", Handle: p.handleRebuildStart},
		{Method: "GET", Pattern: "/v1/admin/rebuild", Handle: p.handleRebuildStatus},
		{Method: "POST", Pattern: "/v1/admin/quarantine/redrive", Handle: p.handleRedrive},
		// Evaluation API (analysts and auditors).
		{Method: "GET", Pattern: "/v1/evaluation", Handle: p.handleEvaluation},
		{Method: "GET", Pattern: "/v1/evaluation/series", Handle: p.handleEvaluationSeries},
	}
	// Further route families of the projector are appended here, each with
	// its handle_<thing>.go and its paths in the OpenAPI fragment of API.
	return service.Positioned(routes, HeaderPosition, p.Position)
}

// Checks: ready once the read model is open, a consumer runs, the model
// has caught up with the stream as it was at start, and this process
// holds its consumer (Ready).
func (p *Projector) Checks() map[string]service.Check {
	return map[string]service.Check{"projector": p.Ready}
}

// API is the OpenAPI description of Routes.
func (p *Projector) API() openapi.Fragment { return openapi.Coordinator() }

// Stop stops consuming and closes the read model.
func (p *Projector) Stop() {
	if err := p.Close(); err != nil {
		p.log.Error("projector: closing", "err", err)
	}
}

func (p *Projector) setPosition(w http.ResponseWriter) {
	w.Header().Set(HeaderPosition, strconv.FormatUint(p.Position(), 10))
}

// reader authenticates a request that reads family data: coordinators and
// auditors only.
func (p *Projector) reader(r *http.Request) (auth.Principal, error) {
	pr, err := p.opts.Auth.Authenticate(r)
	if err != nil {
		return auth.Principal{}, err
	}
	switch pr.Kind {
	case auth.Coordinator, auth.Auditor:
		return pr, nil
	}
	return auth.Principal{}, problem.Forbidden("only coordinators and auditors read family data")
}

// waitMinPosition refuses every read while the projector is not ready
// (503) and honours X-Min-Position: the read waits (up to
// MinPositionWait) until the read model has applied that sequence, so that
// a client reads its own writes. It comes before authorization, because the
// awaited event may be the assignment that grants access.
func (p *Projector) waitMinPosition(w http.ResponseWriter, r *http.Request) error {
	// A replica that is not ready answers at once, rather than after the
	// wait, so that the balancer passes the read on (servable).
	if err := p.servable(); err != nil {
		return err
	}
	return readmodel.WaitMinPosition(w, r, p)
}

// logAccess appends the read to ACCESS_LOG and waits for JetStream's
// acknowledgement. It is called after authorization and before any data is
// written; when it fails the read is refused (503): there are no unlogged
// reads.
func (p *Projector) logAccess(r *http.Request, pr auth.Principal, familyID, why string) error {
	if err := accesslog.Record(r.Context(), p.opts.JS, r, pr, familyID, why); err != nil {
		p.metrics.accessFail.Inc()
		p.log.Warn("projector: access log unavailable, read refused", "family", familyID, "err", err)
		return accesslog.Unavailable()
	}
	return nil
}

// startAccessLog starts logAccess and returns a wait for its outcome, so
// that the access log's round trip to JetStream overlaps the query; the
// data is still written only after the acknowledgement.
func (p *Projector) startAccessLog(r *http.Request, pr auth.Principal, familyID, why string) func() error {
	done := make(chan error, 1)
	go func() { done <- p.logAccess(r, pr, familyID, why) }()
	return func() error { return <-done }
}
