package projector

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"

	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/problem"
)

// The principal-level reads below are the one way family data leaves the
// read model: the JSON API and the web app both call them, so both
// authorize the same way and both log every read in ACCESS_LOG, with its
// acknowledgement, before any data is handed back.

// openRead is the common start of the API's reads of one family:
// authenticate, honour X-Min-Position, read X-Purpose.
func (p *Projector) openRead(w http.ResponseWriter, r *http.Request) (auth.Principal, string, error) {
	pr, err := p.reader(r)
	if err != nil {
		return pr, "", err
	}
	if err := p.waitMinPosition(w, r); err != nil {
		return pr, "", err
	}
	why, err := accesslog.Purpose(r)
	return pr, why, err
}

// Families lists the families pr may read, with status: a coordinator's
// assigned families, every family for an auditor. Each summary carries the
// family's overview for the caller's own list (it is not part of the JSON
// of GET /v1/families). A list is not a read of one family's data and is
// not access-logged; callers show no more of the overview than the
// assignment and course facts a coordinator's list needs.
func (p *Projector) Families(ctx context.Context, pr auth.Principal) ([]FamilySummary, error) {
	if pr.Kind != auth.Coordinator && pr.Kind != auth.Auditor {
		return nil, problem.Forbidden("only coordinators and auditors read family data")
	}
	m, release, err := p.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	var rows *sql.Rows
	if pr.Kind == auth.Auditor {
		rows, err = m.rdb.QueryContext(ctx, `SELECT family_id, status, events, last_sequence, overview FROM families ORDER BY family_id`)
	} else {
		rows, err = m.rdb.QueryContext(ctx, `SELECT f.family_id, f.status, f.events, f.last_sequence, f.overview
			FROM family_access a JOIN families f ON f.family_id = a.family_id
			WHERE a.employee_id = ? ORDER BY f.family_id`, pr.EmployeeID)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []FamilySummary{}
	for rows.Next() {
		var f FamilySummary
		var ov []byte
		if err := rows.Scan(&f.FamilyID, &f.Status, &f.Events, &f.LastSequence, &ov); err != nil {
			return nil, err
		}
		f.Overview = json.RawMessage(ov)
		out = append(out, f)
	}
	return out, rows.Err()
}

// Authorize tells whether pr may read the family, without reading or
// logging anything: 403 for a coordinator not assigned (or an unknown
// family), 404 for an auditor and an unknown family.
func (p *Projector) Authorize(ctx context.Context, pr auth.Principal, familyID string) error {
	if pr.Kind != auth.Coordinator && pr.Kind != auth.Auditor {
		return problem.Forbidden("only coordinators and auditors read family data")
	}
	m, release, err := p.acquire()
	if err != nil {
		return err
	}
	defer release()
	return authorize(ctx, m, pr, familyID)
}

// FamilyRead is one logged read of one family: its queries run on one
// read model, under one authorization and one access-log entry.
type FamilyRead struct {
	ctx      context.Context
	m        *readModel
	familyID string
}

// ReadFamily authorizes pr for the family, starts its access-log entry
// (endpoint from r, the given purpose), runs read, and returns only once
// the entry is acknowledged: read's results may be shown only when
// ReadFamily returns nil. When the log cannot be written the answer is a
// 503 problem and the results must be thrown away.
func (p *Projector) ReadFamily(r *http.Request, pr auth.Principal, familyID, purpose string, read func(*FamilyRead) error) error {
	if pr.Kind != auth.Coordinator && pr.Kind != auth.Auditor {
		return problem.Forbidden("only coordinators and auditors read family data")
	}
	m, release, err := p.acquire()
	if err != nil {
		return err
	}
	defer release()
	if err := authorize(r.Context(), m, pr, familyID); err != nil {
		return err
	}
	logged := p.startAccessLog(r, pr, familyID, purpose)
	rerr := read(&FamilyRead{ctx: r.Context(), m: m, familyID: familyID})
	if err := logged(); err != nil {
		return err
	}
	return rerr
}

// OverviewJSON is the family overview as stored (family.State.Overview).
func (fr *FamilyRead) OverviewJSON() ([]byte, error) {
	var ov []byte
	err := fr.m.rdb.QueryRowContext(fr.ctx, `SELECT overview FROM families WHERE family_id = ?`, fr.familyID).Scan(&ov)
	return ov, err
}

// LastSequence is the stream sequence of the family's latest event.
func (fr *FamilyRead) LastSequence() (uint64, error) {
	var n uint64
	err := fr.m.rdb.QueryRowContext(fr.ctx, `SELECT last_sequence FROM families WHERE family_id = ?`, fr.familyID).Scan(&n)
	return n, err
}

// Overview is the family overview, decoded.
func (fr *FamilyRead) Overview() (family.Overview, error) {
	var o family.Overview
	b, err := fr.OverviewJSON()
	if err != nil {
		return o, err
	}
	return o, json.Unmarshal(b, &o)
}

// TimelineQuery is a checked request for one page of a family's timeline
// (the parameters of GET /v1/families/{familyId}/timeline).
type TimelineQuery struct{ q timelineQuery }

// ParseTimeline checks the timeline parameters; mistakes are 400 problems.
func ParseTimeline(familyID string, q url.Values) (TimelineQuery, error) {
	tq, err := parseTimeline(familyID, q)
	return TimelineQuery{tq}, err
}

// Limit is the page size.
func (tq TimelineQuery) Limit() int { return tq.q.limit }

// Filtered reports whether the query filters by department, type or time.
func (tq TimelineQuery) Filtered() bool {
	return tq.q.from != nil || tq.q.to != nil || len(tq.q.departments) > 0 || len(tq.q.types) > 0
}

// Timeline runs the query; the query's family must be the read's.
func (fr *FamilyRead) Timeline(tq TimelineQuery) (TimelinePage, error) {
	if tq.q.familyID != fr.familyID {
		return TimelinePage{}, problem.BadRequest("the timeline query is for another family")
	}
	return tq.q.page(fr.ctx, fr.m)
}

// Count is how many entries the query's filters keep (all pages).
func (fr *FamilyRead) Count(tq TimelineQuery) (int, error) {
	q := tq.q
	q.after, q.limit = nil, 0
	query, args := q.sql()
	// The page query ends in ORDER BY … LIMIT ?; count its rows instead.
	query = `SELECT count(*) FROM (` + query + `)`
	args[len(args)-1] = -1
	var n int
	err := fr.m.rdb.QueryRowContext(fr.ctx, query, args...).Scan(&n)
	return n, err
}

// Live is a subscription to a family's new timeline entries.
type Live struct {
	p   *Projector
	sub *subscriber
	pr  auth.Principal
	fam string
	// After is the position from which entries are new.
	After uint64
}

// Entries delivers batches of new entries in stream order.
func (l *Live) Entries() <-chan []Entry { return l.sub.ch }

// Dropped is closed when the subscriber fell behind or the projector
// stops; the client reconnects.
func (l *Live) Dropped() <-chan struct{} { return l.sub.dropped }

// StillAllowed re-checks a coordinator's assignment, so that a live view
// ends with it.
func (l *Live) StillAllowed(ctx context.Context) bool { return l.p.stillAllowed(ctx, l.pr, l.fam) }

// Close ends the subscription.
func (l *Live) Close() { l.p.subs.unsubscribe(l.sub) }

// Subscribe authorizes pr, logs the read with its purpose (acknowledged),
// and subscribes to the family's entries applied from now on.
func (p *Projector) Subscribe(r *http.Request, pr auth.Principal, familyID, purpose string) (*Live, error) {
	if err := p.ReadFamily(r, pr, familyID, purpose, func(*FamilyRead) error { return nil }); err != nil {
		return nil, err
	}
	// Subscribe between two batches, as handleStream does.
	p.applyMu.Lock()
	after := p.Position()
	sub := p.subs.subscribe(familyID)
	p.applyMu.Unlock()
	return &Live{p: p, sub: sub, pr: pr, fam: familyID, After: after}, nil
}
