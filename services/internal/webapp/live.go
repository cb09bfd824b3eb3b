package webapp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/projector"
)

// liveEntry is what the page's script receives of a new entry: the same
// lines the page shows, already in Danish.
type liveEntry struct {
	Sequence   uint64 `json:"sequence"`
	Title      string `json:"title"`
	Department string `json:"department"`
	Time       string `json:"time"`
	DateTime   string `json:"datetime"`
}

// liveHeartbeat is the interval of comment lines that keep proxies from
// closing the stream, and of the check that the session still lives.
var liveHeartbeat = 15 * time.Second

// handleLive streams the family's new timeline entries to the family page
// (Server-Sent Events) on the session: logged, with the session's purpose
// for the family, like every read. It ends with the session or the
// coordinator's assignment, and as soon as the process begins to stop
// (live.Dropped), so that it does not hold the graceful stop.
func (a *App) handleLive(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r.Context())
	fam := r.PathValue("familyId")
	purpose := a.sessions.purpose(ss, fam)
	if purpose == "" {
		http.Error(w, "Åbn familien og angiv en årsag først.", http.StatusForbidden)
		return
	}
	live, err := a.opts.Projector.Subscribe(r, ss.principal, fam, purpose)
	if err != nil {
		a.fail(w, r, ss, err)
		return
	}
	defer live.Close()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	id := cookieValue(r, a.sessionCookieName())
	tick := time.NewTicker(liveHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-live.Dropped():
			return
		case <-tick.C:
			if !a.sessions.alive(id) {
				_, _ = fmt.Fprint(w, "event: expired\ndata: {}\n\n")
				_ = rc.Flush()
				return
			}
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case es := <-live.Entries():
			if !live.StillAllowed(r.Context()) || !a.sessions.alive(id) {
				return
			}
			shown, _ := live.Shown(es)
			for _, e := range shown {
				b, _ := json.Marshal(liveEntry{Sequence: e.Sequence, Title: e.Title, Department: departmentName(e.Department),
					Time: dateTime(e.Time), DateTime: e.Time.Format(time.RFC3339)})
				if _, err := fmt.Fprintf(w, "id: %d\nevent: entry\ndata: %s\n\n", e.Sequence, b); err != nil {
					return
				}
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// accessRow is one read of the family as the access-log page shows it.
type accessRow struct {
	Time      time.Time
	Principal string
	Kind      string
	Employee  string
	Endpoint  string
	Purpose   string
	Bulk      bool
}

type accessView struct {
	page
	FamilyID  string
	Rows      []accessRow
	Total     int
	Truncated bool
}

// maxAccessRows is how many of the newest reads the page lists.
const maxAccessRows = 1000

// handleAccessLog shows auditors who read the family, when, why and
// through which endpoint, newest first. Reading it is itself logged.
func (a *App) handleAccessLog(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r.Context())
	fam := r.PathValue("familyId")
	if ss.principal.Kind != auth.Auditor {
		a.errorPage(w, r, ss, http.StatusForbidden, "Kun revisorer kan se, hvem der har læst en families oplysninger.")
		return
	}
	if err := a.opts.Projector.Authorize(r.Context(), ss.principal, fam); err != nil {
		a.fail(w, r, ss, err)
		return
	}
	purpose, done := a.purposeOf(w, r, ss, fam)
	if done {
		return
	}
	var rows []accessRow
	err := a.opts.Projector.ReadFamily(r, ss.principal, fam, purpose, func(*projector.FamilyRead) error { return nil })
	if err == nil {
		rd := &audit.Reader{NC: a.opts.NC, JS: a.opts.JS}
		err = rd.AccessLog(r.Context(), audit.AccessQuery{FamilyID: fam}, func(s audit.Stored) error {
			var e audit.AccessEntry
			if json.Unmarshal(s.Data, &e) != nil {
				return nil
			}
			rows = append(rows, accessRow{Time: e.Time, Principal: e.Principal, Kind: kindName(string(e.Kind)), Employee: e.EmployeeID,
				Endpoint: e.Endpoint, Purpose: e.Purpose, Bulk: e.FamilyID == audit.BulkFamily})
			return nil
		})
	}
	if err != nil {
		a.fail(w, r, ss, err)
		return
	}
	slices.Reverse(rows)
	v := accessView{page: a.pageOf(r, ss, "Adgangslog for familie "+fam), FamilyID: fam, Total: len(rows)}
	if len(rows) > maxAccessRows {
		rows, v.Truncated = rows[:maxAccessRows], true
	}
	v.Rows = rows
	a.render(w, http.StatusOK, "accesslog", v)
}
