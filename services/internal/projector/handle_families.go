package projector

import (
	"context"
	"net/http"
	"strconv"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/accesslog"
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
		if !events.ValidID(familyID) {
			// Not repeated: what is no id may be a CPR number.
			return problem.NotFound("no family: the family id is not an id (" + events.IDPattern + ", and no CPR number)")
		}
		if ok, err := m.HasFamily(ctx, familyID); ok || err != nil {
			return err
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
// a coordinator's assigned families, every family for an auditor. The
// list tells which families exist and their status, event counts and
// consent counts, so it is in the access log, as the web app's list of the
// same families is, before it is sent (logList), with X-Purpose.
func (p *Projector) handleFamilies(w http.ResponseWriter, r *http.Request) error {
	if err := accesslog.CheckMethod(r); err != nil {
		return err
	}
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
	why, err := accesslog.Purpose(r)
	if err != nil {
		return err
	}
	out, err := p.families(r.Context(), pr, false)
	if err != nil {
		return err
	}
	if err := p.logList(r, pr, out, why); err != nil {
		return err
	}
	return service.JSON(w, http.StatusOK, map[string]any{"families": out})
}

// logList records the read of a list of families and waits for the
// acknowledgement, as the web app's list does (accesslog.RecordList).
// When the log cannot be written the list is refused (503).
func (p *Projector) logList(r *http.Request, pr auth.Principal, list []FamilySummary, why string) error {
	ids := make([]string, len(list))
	for i, f := range list {
		ids[i] = f.FamilyID
	}
	if err := accesslog.RecordList(r.Context(), p.opts.JS, r, pr, ids, why); err != nil {
		p.metrics.accessFail.Inc()
		p.log.Warn("projector: access log unavailable, list refused", "families", len(list), "err", err)
		return accesslog.Unavailable()
	}
	return nil
}

// handleOverview serves the family overview exactly as the family fold
// made it (family.State.Overview), stored at the last applied batch. It
// reads through ReadFamily, as the web app does.
func (p *Projector) handleOverview(w http.ResponseWriter, r *http.Request) error {
	pr, why, err := p.openRead(w, r)
	if err != nil {
		return err
	}
	if len(r.URL.Query()) > 0 {
		return problem.BadRequest("the overview takes no query parameters")
	}
	var body []byte
	err = p.ReadFamily(r, pr, r.PathValue("familyId"), why, func(fr *FamilyRead) error {
		ov, err := fr.OverviewJSON()
		body = append(ov, '\n')
		return err
	})
	if err != nil {
		return err
	}
	return writeBody(w, body)
}

// handleTimeline serves one page of a family's timeline, through
// ReadFamily.
func (p *Projector) handleTimeline(w http.ResponseWriter, r *http.Request) error {
	pr, why, err := p.openRead(w, r)
	if err != nil {
		return err
	}
	familyID := r.PathValue("familyId")
	tq, err := readmodel.ParseTimeline(familyID, r.URL.Query())
	if err != nil {
		return err
	}
	var body []byte
	err = p.ReadFamily(r, pr, familyID, why, func(fr *FamilyRead) error {
		page, err := fr.CountedTimeline(tq)
		body = page.AppendJSON(nil)
		return err
	})
	if err != nil {
		return err
	}
	return writeBody(w, body)
}

// writeBody writes JSON already encoded, as service.JSON would.
func writeBody(w http.ResponseWriter, body []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}
