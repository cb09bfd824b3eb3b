package projector

import (
	"context"
	"net/http"
	"strconv"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/service"
)

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
	return service.JSON(w, http.StatusOK, map[string]any{"families": out})
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
