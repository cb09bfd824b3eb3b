package projector

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// Headers of the coordinator API.
const (
	HeaderPosition    = readmodel.HeaderPosition // on every response: the sequence the read model has applied
	HeaderMinPosition = "X-Min-Position"         // on a request: wait until the read model applied it
	HeaderPurpose     = accesslog.HeaderPurpose  // on a request: why the family is read, for the access log
)

const (
	// MinPositionWait is how long a read waits for X-Min-Position.
	MinPositionWait = 5 * time.Second
	// MaxPurpose is the longest X-Purpose accepted, in characters.
	MaxPurpose = accesslog.MaxPurpose
)

// Mount registers the coordinator and admin API on mux.
func (p *Projector) Mount(mux *http.ServeMux) {
	mux.Handle("GET /v1/families", p.handle(p.handleFamilies))
	mux.Handle("GET /v1/families/{familyId}", p.handle(p.handleOverview))
	mux.Handle("GET /v1/families/{familyId}/timeline", p.handle(p.handleTimeline))
	mux.Handle("GET /v1/families/{familyId}/timeline/stream", p.handle(p.handleStream))
	mux.Handle("POST /v1/admin/rebuild", p.handle(p.handleRebuildStart))
	mux.Handle("GET /v1/admin/rebuild", p.handle(p.handleRebuildStatus))
	p.mountEvaluation(mux)
}

// handle turns a handler that returns an error into an http.Handler: the
// error becomes problem details, and every response carries X-Position.
func (p *Projector) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.setPosition(w)
		if err := h(w, r); err != nil {
			var pr *problem.Problem
			if !errors.As(err, &pr) && r.Context().Err() == nil {
				p.log.Error("projector: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			p.setPosition(w)
			problem.Write(w, err)
		}
	})
}

func (p *Projector) setPosition(w http.ResponseWriter) {
	w.Header().Set(HeaderPosition, strconv.FormatUint(p.Position(), 10))
}

// reader authenticates a request that reads family data: coordinators and
// auditors only.
func (p *Projector) reader(r *http.Request) (auth.Principal, error) {
	pr, err := p.opts.Auth.Authenticate(r)
	if err != nil {
		return auth.Principal{}, problem.Unauthorized("send Authorization: Bearer <token> with a token of the configuration")
	}
	switch pr.Kind {
	case auth.Coordinator, auth.Auditor:
		return pr, nil
	}
	return auth.Principal{}, problem.Forbidden("only coordinators and auditors read family data")
}

// waitMinPosition honours X-Min-Position: the read waits (up to
// MinPositionWait) until the read model has applied that sequence, so that
// a client reads its own writes. It comes before authorization, because the
// awaited event may be the assignment that grants access.
func (p *Projector) waitMinPosition(w http.ResponseWriter, r *http.Request) error {
	v := r.Header.Get(HeaderMinPosition)
	if v == "" {
		return nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return problem.BadRequest(HeaderMinPosition + " must be a stream sequence (a non-negative integer)")
	}
	ctx, cancel := context.WithTimeout(r.Context(), MinPositionWait)
	defer cancel()
	if err := p.WaitFor(ctx, n); err != nil {
		pr := problem.Unavailable("the read model has not applied position " + strconv.FormatUint(n, 10) +
			" within " + MinPositionWait.String() + "; it is at " + strconv.FormatUint(p.Position(), 10))
		pr.Position = n
		return pr
	}
	p.setPosition(w)
	return nil
}

// authorize decides whether pr may read the family. A coordinator may read
// the families it is assigned to now (caseworker, makkerpar, team, per the
// family fold's Assigned). For a coordinator an unknown family and one it
// is not assigned to are both 403, so that the answer does not tell whether
// a family exists; an auditor reads every family and gets 404 for unknown
// ones.
func authorize(ctx context.Context, m *readmodel.Model, pr auth.Principal, familyID string) error {
	switch pr.Kind {
	case auth.Auditor:
		if events.ValidID(familyID) {
			if ok, err := m.HasFamily(ctx, familyID); ok || err != nil {
				return err
			}
		}
		return problem.NotFound("no events of family " + strconv.Quote(familyID) + " have been projected")
	case auth.Coordinator:
		if events.ValidID(familyID) {
			if ok, err := m.HasAccess(ctx, familyID, pr.EmployeeID); ok || err != nil {
				return err
			}
		}
		return problem.Forbidden("employee " + pr.EmployeeID + " is not assigned to this family (or it does not exist)")
	}
	return problem.Forbidden("only coordinators and auditors read family data")
}

// logAccess appends the read to ACCESS_LOG and waits for JetStream's
// acknowledgement. It is called after authorization and before any data is
// written; when it fails the read is refused (503): there are no unlogged
// reads.
func (p *Projector) logAccess(r *http.Request, pr auth.Principal, familyID, why string) error {
	if err := accesslog.Record(r.Context(), p.opts.JS, r, pr, familyID, why); err != nil {
		p.metrics.accessFail.Inc()
		p.log.Warn("projector: access log unavailable, read refused", "family", familyID, "err", err)
		return problem.Unavailable("the access log could not be written; family data is never served unlogged")
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

// openFamily is the common start of every read of one family's data:
// authenticate, honour X-Min-Position, take the read model, authorize,
// read X-Purpose. The caller logs the access once its own parameters are
// checked, and must call release.
func (p *Projector) openFamily(w http.ResponseWriter, r *http.Request) (pr auth.Principal, m *readmodel.Model, release func(), why string, err error) {
	if pr, err = p.reader(r); err != nil {
		return
	}
	if err = p.waitMinPosition(w, r); err != nil {
		return
	}
	if why, err = accesslog.Purpose(r); err != nil {
		return
	}
	if m, release, err = p.acquire(); err != nil {
		return
	}
	if err = authorize(r.Context(), m, pr, r.PathValue("familyId")); err != nil {
		release()
		m, release = nil, nil
	}
	return
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// FamilySummary is one family of GET /v1/families.
type FamilySummary = readmodel.FamilySummary

// handleFamilies lists the families the principal may read, with status:
// a coordinator's assigned families, every family for an auditor. The list
// carries no family data beyond the status and is not access-logged.
func (p *Projector) handleFamilies(w http.ResponseWriter, r *http.Request) error {
	pr, err := p.reader(r)
	if err != nil {
		return err
	}
	if len(r.URL.Query()) > 0 {
		return problem.BadRequest("GET /v1/families takes no query parameters")
	}
	if err := p.waitMinPosition(w, r); err != nil {
		return err
	}
	m, release, err := p.acquire()
	if err != nil {
		return err
	}
	defer release()
	out, err := m.Families(r.Context(), pr.EmployeeID, pr.Kind == auth.Auditor)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"families": out})
}

// handleOverview serves the family overview exactly as the family fold
// made it (family.State.Overview), stored at the last applied batch.
func (p *Projector) handleOverview(w http.ResponseWriter, r *http.Request) error {
	pr, m, release, why, err := p.openFamily(w, r)
	if err != nil {
		return err
	}
	defer release()
	if len(r.URL.Query()) > 0 {
		return problem.BadRequest("the overview takes no query parameters")
	}
	familyID := r.PathValue("familyId")
	return p.serveLogged(w, r, pr, familyID, why, func(ctx context.Context) ([]byte, error) {
		ov, err := m.Overview(ctx, familyID)
		return append(ov, '\n'), err
	})
}

// handleTimeline serves one page of a family's timeline.
func (p *Projector) handleTimeline(w http.ResponseWriter, r *http.Request) error {
	pr, m, release, why, err := p.openFamily(w, r)
	if err != nil {
		return err
	}
	defer release()
	familyID := r.PathValue("familyId")
	tq, err := readmodel.ParseTimeline(familyID, r.URL.Query())
	if err != nil {
		return err
	}
	return p.serveLogged(w, r, pr, familyID, why, func(ctx context.Context) ([]byte, error) {
		page, err := m.Timeline(ctx, tq)
		return page.AppendJSON(nil), err
	})
}

// serveLogged runs query beside the access log's round trip and writes
// the JSON it returns once the access is logged: family data is never
// served unlogged.
func (p *Projector) serveLogged(w http.ResponseWriter, r *http.Request, pr auth.Principal, familyID, why string, query func(context.Context) ([]byte, error)) error {
	logged := p.startAccessLog(r, pr, familyID, why)
	body, qerr := query(r.Context())
	if err := logged(); err != nil {
		return err
	}
	if qerr != nil {
		return qerr
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// handleRebuildStart starts a rebuild (operators only): 202 with its
// status, 409 while one runs.
func (p *Projector) handleRebuildStart(w http.ResponseWriter, r *http.Request) error {
	if err := p.operator(r); err != nil {
		return err
	}
	st, err := p.StartRebuild()
	if errors.Is(err, ErrRebuildRunning) {
		return problem.Conflict("rebuild-running", "a rebuild is already running; follow it with GET /v1/admin/rebuild")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/admin/rebuild")
	return writeJSON(w, http.StatusAccepted, st)
}

// handleRebuildStatus reports the latest rebuild (operators only).
func (p *Projector) handleRebuildStatus(w http.ResponseWriter, r *http.Request) error {
	if err := p.operator(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p.RebuildStatus())
}

func (p *Projector) operator(r *http.Request) error {
	pr, err := p.opts.Auth.Authenticate(r)
	if err != nil {
		return problem.Unauthorized("send Authorization: Bearer <token> with a token of the configuration")
	}
	if pr.Kind != auth.Operator {
		return problem.Forbidden("only the operator rebuilds the read model")
	}
	return nil
}
