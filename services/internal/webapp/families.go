package webapp

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/accesslog"
)

// DueSoonDays is how many calendar days ahead a goal's due date counts
// as soon ("inden 14 dage").
const DueSoonDays = 14

// familyRow is one family of the list.
type familyRow struct {
	FamilyID    string
	Status      string
	CourseStart string
	PlannedEnd  string
	Caseworker  string
	Makkerpar   *family.Makkerpar
	DueSoon     int
	Overdue     int
	// New is the number of events since the person last opened the
	// family; Seen is false when they never did.
	New  int
	Seen bool
	// Erased: the family's personal data is erased (family.erased).
	Erased bool
}

type familiesView struct {
	page
	Families []familyRow
	Total    int
	Status   string
	Sort     string
	Query    string
	Statuses []option
	Sorts    []option
}

type option struct{ Value, Label string }

var statusOptions = []option{{"", "Alle"}, {"enrolled", "I forløb"}, {"referred", "Visiteret"}, {"ended", "Afsluttet"}, {"known", "Kendt"}}

var sortOptions = []option{{"family", "Familie-id"}, {"status", "Status"}, {"start", "Forløbsstart"}, {"due", "Mål der forfalder"}, {"new", "Nye hændelser"}}

// handleFamilies is the person's families: a coordinator's assigned ones,
// every family for an auditor (who can search by id). The list shows
// family data (course dates, caseworker, makkerpar, goals' due state), so
// its read is in the access log before it is rendered (recordList).
func (a *App) handleFamilies(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r.Context())
	// A query the access log may not store is refused before anything is
	// read (recordList logs the page with it).
	if err := accesslog.CheckQuery(r); err != nil {
		a.fail(w, r, ss, err)
		return
	}
	list, err := a.opts.Projector.Families(r.Context(), ss.principal)
	if err != nil {
		a.fail(w, r, ss, err)
		return
	}
	q := r.URL.Query()
	v := familiesView{page: a.pageOf(r, ss, "Mine familier"), Status: q.Get("status"), Sort: q.Get("sort"),
		Query: strings.TrimSpace(q.Get("q")), Statuses: statusOptions, Sorts: sortOptions, Total: len(list)}
	if v.Auditor {
		v.Title = "Alle familier"
	}
	if !slices.ContainsFunc(statusOptions, func(o option) bool { return o.Value == v.Status }) {
		v.Status = ""
	}
	if !slices.ContainsFunc(sortOptions, func(o option) bool { return o.Value == v.Sort }) {
		v.Sort = "family"
	}
	seenBy := a.sessions.seenOf(ss.principal.Key())
	today := a.opts.Now()
	for _, f := range list {
		if v.Status != "" && f.Status != v.Status {
			continue
		}
		if v.Auditor && v.Query != "" && !strings.Contains(strings.ToLower(f.FamilyID), strings.ToLower(v.Query)) {
			continue
		}
		var ov family.Overview
		if err := json.Unmarshal(f.Overview, &ov); err != nil {
			a.fail(w, r, ss, err)
			return
		}
		row := familyRow{FamilyID: f.FamilyID, Status: f.Status, CourseStart: ov.CourseStart, PlannedEnd: ov.PlannedEnd,
			Caseworker: ov.Caseworker, Makkerpar: ov.Makkerpar, Erased: ov.Erased}
		for _, g := range ov.Goals {
			switch dueState(g, today) {
			case "overdue":
				row.Overdue++
			case "soon":
				row.DueSoon++
			}
		}
		if s, ok := seenBy[f.FamilyID]; ok {
			row.Seen, row.New = true, max(0, f.Events-s.events)
		} else {
			row.New = f.Events
		}
		v.Families = append(v.Families, row)
	}
	if err := a.recordList(r, ss, v.Families); err != nil {
		a.fail(w, r, ss, err)
		return
	}
	slices.SortStableFunc(v.Families, func(x, y familyRow) int {
		switch v.Sort {
		case "status":
			return cmp.Compare(x.Status, y.Status)
		case "start":
			return cmp.Compare(y.CourseStart, x.CourseStart)
		case "due":
			return cmp.Compare(y.Overdue*1000+y.DueSoon, x.Overdue*1000+x.DueSoon)
		case "new":
			return cmp.Compare(y.New, x.New)
		}
		return cmp.Compare(x.FamilyID, y.FamilyID)
	})
	a.render(w, http.StatusOK, "families", v)
}

// recordList records the list's read in the access log, as every view of
// family data is, and waits for the acknowledgement
// (accesslog.RecordList: the families listed after the status filter). No
// purpose is asked for a list: the entries' purpose is empty, and their
// endpoint (with the query) names the page. It fails with a 503 problem
// when the log cannot be written, so that the list is not shown.
func (a *App) recordList(r *http.Request, ss *session, rows []familyRow) error {
	ids := make([]string, len(rows))
	for i, f := range rows {
		ids[i] = f.FamilyID
	}
	if err := accesslog.RecordList(r.Context(), a.opts.JS, r, ss.principal, ids, ""); err != nil {
		a.opts.Log.Warn("webapp: access log unavailable, list refused", "err", err)
		return accesslog.Unavailable()
	}
	return nil
}

// dueState is "overdue", "soon" (within DueSoonDays) or "" for an open
// goal's due date; closed goals are never due. It compares calendar
// dates, today's being Copenhagen's: counted in hours, the days up to a
// due date are one hour longer or shorter when the clocks change between.
func dueState(g family.Goal, now time.Time) string {
	if g.Closed || g.Due == "" {
		return ""
	}
	due, err := time.Parse(time.DateOnly, g.Due)
	if err != nil {
		return ""
	}
	y, m, d := now.In(copenhagen).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // a date, as due is
	switch {
	case due.Before(today):
		return "overdue"
	case !due.After(today.AddDate(0, 0, DueSoonDays)):
		return "soon"
	}
	return ""
}
