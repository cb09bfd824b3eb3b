package projector

import (
	"net/http"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/service"
)

// handleRebuildStart starts a rebuild (operators only): 202 with its
// status, 409 while one runs.
func (p *Projector) handleRebuildStart(w http.ResponseWriter, r *http.Request) error {
	if err := p.operator(r, "rebuilds the read model"); err != nil {
		return err
	}
	st, err := p.StartRebuild()
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/admin/rebuild")
	return service.JSON(w, http.StatusAccepted, st)
}

// handleRebuildStatus reports the latest rebuild (operators only).
func (p *Projector) handleRebuildStatus(w http.ResponseWriter, r *http.Request) error {
	if err := p.operator(r, "follows a rebuild"); err != nil {
		return err
	}
	return service.JSON(w, http.StatusOK, p.RebuildStatus())
}

// operator authenticates a request of the admin API: the operator only;
// does says what the request does, for the refusal.
func (p *Projector) operator(r *http.Request, does string) error {
	pr, err := p.opts.Auth.Authenticate(r)
	if err != nil {
		return err
	}
	if pr.Kind != auth.Operator {
		return problem.Forbidden("only the operator " + does)
	}
	return nil
}
