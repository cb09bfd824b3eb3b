package webapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/sse"
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
// (Server-Sent Events, id: = the entry's sequence) on the session: logged,
// with the session's purpose for the family, like every read. The page's
// URL carries ?after=, the family's last sequence the page showed; a
// reconnect's Last-Event-ID overrides it. The entries stored after it
// (applied between the page and the stream, or while it reconnected) are
// sent first, through the same consent gate, then the new ones, each
// once. Without either, the stream starts at the position it subscribed
// at. It ends with the session or the coordinator's assignment, and
// says so first: an event "expired" when the session ended (logout, idle,
// lifetime), "forbidden" when the coordinator is no longer assigned,
// before anything more of the family is sent; the page stops its live view
// and tells the person, instead of reconnecting into a 401 or 403. When a
// rebuild swapped in a read model over a replaced, shorter stream
// (live.Reset), or the view resumes after a position beyond the stream's
// end (live.Beyond), it ends with an event "reset": the page's entries are
// of the old stream, and the page says to reload it. It also ends as soon
// as the process begins to stop (live.Dropped), so that it
// does not hold the graceful stop; the page then reconnects. A browser
// that stops reading is disconnected too, as on the API's timeline
// stream: every write has a deadline (sse.WriteTimeout), and a write
// still blocked when the stream is dropped or the process begins to stop
// is cut off at once.
func (a *App) handleLive(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r.Context())
	fam := r.PathValue("familyId")
	after, resume, err := liveAfter(r)
	if err != nil {
		a.errorPage(w, r, ss, http.StatusBadRequest, "Adressen på den levende tidslinje er ikke gyldig. Genindlæs familiens side.")
		return
	}
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
	// Each write has a deadline of its own, and one blocked on a browser
	// that stopped reading is cut off when the stream is dropped or the
	// process begins to stop (sse.Writer).
	sw := sse.NewWriter(w, time.Duration(a.liveWriteTimeout.Load()))
	defer sw.InterruptOn(live.Dropped())()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	if sw.Write(func() error {
		w.WriteHeader(http.StatusOK)
		_, err := fmt.Fprint(w, "retry: 3000\n\n")
		return err
	}) != nil {
		return
	}
	id := cookieValue(r, a.sessionCookieName())
	// end tells the page why its live view ends; it does not reconnect.
	end := func(event string) {
		_ = sw.Write(func() error {
			_, err := fmt.Fprintf(w, "event: %s\ndata: {}\n\n", event)
			return err
		})
	}
	// send writes entries while the session lives: also those stored after
	// the page, which may be read a moment after the connect was let in.
	send := func(shown []readmodel.Entry) error {
		if !a.sessions.alive(id) {
			end("expired")
			return errSessionEnded
		}
		return sw.Write(func() error {
			for _, e := range shown {
				b, _ := json.Marshal(liveEntry{Sequence: e.Sequence, Title: e.Title, Department: departmentName(e.Department),
					Time: dateTime(e.Time), DateTime: e.Time.Format(time.RFC3339)})
				if _, err := fmt.Fprintf(w, "id: %d\nevent: entry\ndata: %s\n\n", e.Sequence, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// reset ends a view whose positions name nothing of the stream, which
	// was replaced and the read model rebuilt over it: the page reads the
	// family again. Its empty id clears the browser's Last-Event-ID.
	reset := func() {
		_ = sw.Write(func() error {
			_, err := fmt.Fprint(w, "id:\nevent: reset\ndata: {}\n\n")
			return err
		})
	}
	if resume && live.Beyond(r.Context(), after) {
		reset()
		return
	}
	if resume {
		if live.Stored(r.Context(), after, send) != nil {
			return
		}
	}
	tick := time.NewTicker(time.Duration(a.heartbeat.Load()))
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-live.Dropped():
			return
		case <-live.Reset():
			reset()
			return
		case <-tick.C:
			if !a.sessions.alive(id) {
				end("expired")
				return
			}
			if sw.Write(func() error {
				_, err := fmt.Fprint(w, ": heartbeat\n\n")
				return err
			}) != nil {
				return
			}
		case es := <-live.Entries():
			if err := live.Allowed(r.Context()); err != nil {
				var pr *problem.Problem
				if errors.As(err, &pr) && pr.Status == http.StatusForbidden {
					end("forbidden")
				}
				// Otherwise the read model could not tell: the page
				// reconnects and is authorized afresh.
				return
			}
			shown, _ := live.Shown(es)
			if send(shown) != nil {
				return
			}
		}
	}
}

// errSessionEnded ends a live view whose session ended.
var errSessionEnded = errors.New("webapp: the session ended")

// liveAfter is the sequence after which a live view starts: the
// Last-Event-ID of a reconnect, else the page's ?after=. Each, when
// given, must be a sequence (a non-negative integer); resume is false
// when neither is.
func liveAfter(r *http.Request) (after uint64, resume bool, err error) {
	q := r.URL.Query()
	if vs, ok := q["after"]; ok {
		if len(vs) != 1 {
			return 0, false, errors.New("after is given more than once")
		}
		if after, err = strconv.ParseUint(vs[0], 10, 64); err != nil {
			return 0, false, err
		}
		resume = true
	}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		if after, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64); err != nil {
			return 0, false, err
		}
		resume = true
	}
	return after, resume, nil
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
		rd := &audit.Reader{NC: a.opts.NC, JS: a.opts.JS, Access: a.opts.Projector.AccessIndex()}
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
