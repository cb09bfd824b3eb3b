package readmodel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/problem"
)

// Timeline limits.
const (
	DefaultLimit = 100
	MaxLimit     = 500
)

// TimelineQuery is one page request of a family's timeline.
type TimelineQuery struct {
	familyID    string
	desc        bool
	limit       int
	from, to    *int64 // Unix ns; from inclusive, to exclusive
	departments []string
	types       []string // CloudEvents types
	after       *cursorPos
	hide        *Hide
	count       bool
}

// WithHide is the query without the entries h hides (a coordinator's
// read). The page's HiddenByConsent is 0 unless WithHiddenCount asks for
// it.
func (tq TimelineQuery) WithHide(h *Hide) TimelineQuery {
	tq.hide = h
	return tq
}

// WithHiddenCount is the query whose page carries, in HiddenByConsent,
// how many of the family's entries its Hide hides (Model.HiddenCount),
// counted in the same read transaction as the page. The count scans the
// whole family: a read asks for it once, where its answer carries it.
func (tq TimelineQuery) WithHiddenCount() TimelineQuery {
	tq.count = true
	return tq
}

type cursorPos struct {
	T int64  `json:"t"`
	S uint64 `json:"s"`
}

// cursor is what nextCursor encodes: base64url of this JSON. It carries the
// query's order and filters besides the position, so that the next page is
// the same query, and the position as (time, sequence) of the last entry
// returned, so that pages follow each other by key and not by offset: new
// events arriving between two pages never shift or repeat entries.
type cursor struct {
	V      int       `json:"v"`
	Family string    `json:"fam"`
	Order  string    `json:"o"`
	From   *int64    `json:"from,omitempty"`
	To     *int64    `json:"to,omitempty"`
	Depts  []string  `json:"d,omitempty"`
	Types  []string  `json:"y,omitempty"`
	Pos    cursorPos `json:"p"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, false
	}
	var c cursor
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if dec.Decode(&c) != nil || c.V != 1 || (c.Order != "asc" && c.Order != "desc") {
		return cursor{}, false
	}
	return c, true
}

var timelineParams = []string{"order", "limit", "cursor", "from", "to", "department", "type"}

// ParseTimeline reads and checks the query parameters; every mistake is a
// 400 that says which parameter is wrong.
func ParseTimeline(familyID string, q url.Values) (TimelineQuery, error) {
	bad := func(detail string) (TimelineQuery, error) { return TimelineQuery{}, problem.BadRequest(detail) }
	for k, vs := range q {
		if !slices.Contains(timelineParams, k) {
			return bad("unknown query parameter " + strconv.Quote(k) + "; the timeline takes " + strings.Join(timelineParams, ", "))
		}
		if len(vs) > 1 {
			return bad("query parameter " + strconv.Quote(k) + " given more than once; separate several values with commas")
		}
	}
	tq := TimelineQuery{familyID: familyID, desc: true, limit: DefaultLimit}
	switch o := q.Get("order"); o {
	case "", "desc":
	case "asc":
		tq.desc = false
	default:
		return bad("order must be asc or desc")
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return bad("limit must be an integer from 1 to " + strconv.Itoa(MaxLimit))
		}
		tq.limit = n
	}
	var err error
	if tq.from, err = timeParam(q, "from"); err != nil {
		return TimelineQuery{}, err
	}
	if tq.to, err = timeParam(q, "to"); err != nil {
		return TimelineQuery{}, err
	}
	if tq.from != nil && tq.to != nil && *tq.from >= *tq.to {
		return bad("from must lie before to")
	}
	if v := q.Get("department"); v != "" {
		if tq.departments, err = parseDepartments(strings.Split(v, ",")); err != nil {
			return TimelineQuery{}, err
		}
	}
	if v := q.Get("type"); v != "" {
		if tq.types, err = parseTypes(strings.Split(v, ",")); err != nil {
			return TimelineQuery{}, err
		}
	}
	if v := q.Get("cursor"); v != "" {
		c, ok := decodeCursor(v)
		if !ok || c.Family != familyID {
			return bad("cursor is not a nextCursor of this family's timeline")
		}
		// The cursor's query wins; parameters given again must agree.
		mismatch := (q.Has("order") && (c.Order == "desc") != tq.desc) ||
			(q.Has("from") && !equalPtr(c.From, tq.from)) ||
			(q.Has("to") && !equalPtr(c.To, tq.to)) ||
			(q.Has("department") && !slices.Equal(c.Depts, tq.departments)) ||
			(q.Has("type") && !slices.Equal(c.Types, tq.types))
		if mismatch {
			return bad("cursor was issued for another order or other filters; repeat them unchanged or leave them out")
		}
		// A cursor is outside input like the parameters: its filters
		// are checked as they are, so a forged one is a 400 too.
		tq.desc, tq.from, tq.to = c.Order == "desc", c.From, c.To
		if tq.from != nil && tq.to != nil && *tq.from >= *tq.to {
			return bad("from must lie before to")
		}
		if tq.departments, err = parseDepartments(c.Depts); err != nil {
			return TimelineQuery{}, err
		}
		if tq.types, err = parseTypes(c.Types); err != nil {
			return TimelineQuery{}, err
		}
		pos := c.Pos
		tq.after = &pos
	}
	return tq, nil
}

// parseDepartments checks department filters (of the parameter or a
// cursor) and returns them sorted and without repeats; nil for none.
func parseDepartments(vals []string) ([]string, error) {
	var out []string
	for _, d := range vals {
		if _, ok := events.ParseDepartment(strings.TrimSpace(d)); !ok {
			return nil, problem.BadRequest("unknown department " + strconv.Quote(d) + "; one of " + events.DepartmentCodes)
		}
		out = append(out, strings.TrimSpace(d))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// parseTypes checks type filters (of the parameter or a cursor), catalog
// names or CloudEvents types, and returns the latest version of each,
// sorted and without repeats; nil for none. Rows hold the latest version
// of each type: a filter on any version selects the type's events,
// however stored.
func parseTypes(vals []string) ([]string, error) {
	var out []string
	for _, t := range vals {
		spec, err := ParseType(t)
		if err != nil {
			return nil, err
		}
		out = append(out, spec.Latest().Type())
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ParseType reads a type filter's value: a catalog name (praktik.started)
// or a CloudEvents type; an unknown one is a 400 problem.
func ParseType(t string) (events.Spec, error) {
	t = strings.TrimSpace(t)
	spec, ok := events.ByType(t)
	if !ok {
		spec, ok = events.ByName(t)
	}
	if !ok {
		return spec, problem.BadRequest("unknown type " + strconv.Quote(t) + "; give a catalog name (praktik.started) or a CloudEvents type")
	}
	return spec, nil
}

func equalPtr(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// timeParam reads an RFC 3339 time or a date, which is that day at 00:00
// in Copenhagen (family.ParseMoment), as the OpenAPI document says.
func timeParam(q url.Values, name string) (*int64, error) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	t, err := family.ParseMoment(v)
	if err != nil {
		return nil, problem.BadRequest(name + " must be an RFC 3339 time (2024-05-01T09:30:00Z) or a date (2024-05-01, a day in Copenhagen)")
	}
	ns := t.UnixNano()
	return &ns, nil
}

func (tq TimelineQuery) order() string {
	if tq.desc {
		return "desc"
	}
	return "asc"
}

// sql builds the page query: one family, the filters, keyset pagination on
// (time_ns, sequence), which the index timeline_family_time serves; the
// entries the query's Hide hides are left out.
func (tq TimelineQuery) sql() (string, []any, error) {
	where, args, err := tq.where()
	if err != nil {
		return "", nil, err
	}
	dir := "ASC"
	if tq.desc {
		dir = "DESC"
	}
	args = append(args, tq.limit+1)
	return `SELECT sequence, event_id, time_ns, recorded_ns, department, type, title, data, actor, stored_type FROM timeline WHERE ` +
		where + ` ORDER BY time_ns ` + dir + `, sequence ` + dir + ` LIMIT ?`, args, nil
}

// where is the query's condition: the rows it shows.
func (tq TimelineQuery) where() (string, []any, error) {
	var b strings.Builder
	args := []any{tq.familyID}
	b.WriteString(`family_id = ?`)
	if tq.from != nil {
		b.WriteString(` AND time_ns >= ?`)
		args = append(args, *tq.from)
	}
	if tq.to != nil {
		b.WriteString(` AND time_ns < ?`)
		args = append(args, *tq.to)
	}
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		b.WriteString(` AND ` + col + ` IN (?` + strings.Repeat(`, ?`, len(vals)-1) + `)`)
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("department", tq.departments)
	in("type", tq.types)
	cmp := ">"
	if tq.desc {
		cmp = "<"
	}
	if tq.after != nil {
		b.WriteString(` AND (time_ns, sequence) ` + cmp + ` (?, ?)`)
		args = append(args, tq.after.T, int64(tq.after.S))
	}
	if tq.hide != nil {
		x, xargs, err := tq.hide.expr()
		if err != nil {
			return "", nil, err
		}
		b.WriteString(` AND NOT ` + x)
		args = append(args, xargs...)
	}
	return b.String(), args, nil
}

// FamilyID is the family the query reads.
func (tq TimelineQuery) FamilyID() string { return tq.familyID }

// Limit is the page size.
func (tq TimelineQuery) Limit() int { return tq.limit }

// Filtered reports whether the query filters by department, type or time.
func (tq TimelineQuery) Filtered() bool {
	return tq.from != nil || tq.to != nil || len(tq.departments) > 0 || len(tq.types) > 0
}

// TimelinePage is the body of GET /v1/families/{familyId}/timeline.
type TimelinePage struct {
	FamilyID   string  `json:"familyId"`
	Entries    []Entry `json:"entries"`
	NextCursor *string `json:"nextCursor"`
	// HiddenByConsent is how many of the family's entries the query's
	// Hide hides at the read: the whole family's, the same on every page
	// and whatever the filters, so that it tells how many, never which.
	HiddenByConsent int `json:"hiddenByConsent"`
}

// Timeline reads one page of a family's timeline; NextCursor is set when
// more entries follow. With WithHiddenCount, the page and its count are
// read in one transaction, of one state of the model.
func (m *Model) Timeline(ctx context.Context, tq TimelineQuery) (TimelinePage, error) {
	query, args, err := tq.sql()
	if err != nil {
		return TimelinePage{}, err
	}
	var (
		entries []Entry
		hidden  int
	)
	switch {
	case tq.hide != nil && tq.count && m.tx != nil:
		// A snapshot's reads are of one state already.
		if hidden, err = m.hiddenCount(ctx, m.tx, tq.familyID, tq.hide); err == nil {
			entries, err = m.entries(ctx, tq.limit+1, query, args...)
		}
	case tq.hide != nil && tq.count:
		entries, hidden, err = m.countedPage(ctx, tq, query, args)
	default:
		entries, err = m.entries(ctx, tq.limit+1, query, args...)
	}
	if err != nil {
		return TimelinePage{}, err
	}
	out := TimelinePage{FamilyID: tq.familyID, Entries: entries, HiddenByConsent: hidden}
	if len(entries) > tq.limit {
		out.Entries = entries[:tq.limit]
		last := out.Entries[tq.limit-1]
		c := cursor{V: 1, Family: tq.familyID, Order: tq.order(), From: tq.from, To: tq.to,
			Depts: tq.departments, Types: tq.types, Pos: cursorPos{T: last.Time.UnixNano(), S: last.Sequence}}
		s := c.encode()
		out.NextCursor = &s
	}
	return out, nil
}

// countedPage reads the page's entries and the family's hidden count in
// one read transaction. The page's statement is taken before the
// transaction: preparing one may wait for a free connection while holding
// the statements' lock, and a transaction holds a connection.
func (m *Model) countedPage(ctx context.Context, tq TimelineQuery, query string, args []any) ([]Entry, int, error) {
	st, done, err := m.stmt(ctx, query)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	tx, err := m.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = tx.Rollback() }()
	n, err := m.hiddenCount(ctx, tx, tq.familyID, tq.hide)
	if err != nil {
		return nil, 0, err
	}
	rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	if err != nil {
		return nil, 0, err
	}
	entries, err := scanEntries(rows, nil, tq.limit+1)
	if err != nil {
		return nil, 0, err
	}
	return entries, n, tx.Commit()
}

// HiddenCount is how many of the family's entries h hides: all of them,
// whatever a query's filters, page or cursor, so that the number says
// nothing about which entries are hidden. It scans the family's rows: a
// read counts once. On a Snapshot, a count kept from an earlier read
// through the same gate answers, with only the rows added since counted
// (gateCounts).
func (m *Model) HiddenCount(ctx context.Context, familyID string, h *Hide) (int, error) {
	return m.hiddenCount(ctx, m.db(), familyID, h)
}

// TimelineCount is how many entries the query's filters keep, on all its
// pages.
func (m *Model) TimelineCount(ctx context.Context, tq TimelineQuery) (int, error) {
	tq.after = nil
	where, args, err := tq.where()
	if err != nil {
		return 0, err
	}
	var n int
	err = m.db().QueryRowContext(ctx, `SELECT count(*) FROM timeline WHERE `+where, args...).Scan(&n)
	return n, err
}

// AppendJSON appends the page as json.Marshal writes it, and a newline as
// writeJSON does. The entries' data is stored compact and valid, so it is
// copied as stored rather than checked and compacted again (json.Marshal
// would also escape <, > and & in it: the same JSON value).
func (tp *TimelinePage) AppendJSON(dst []byte) []byte {
	size := 64 + len(tp.FamilyID)
	for i := range tp.Entries {
		size += entryJSONSize(&tp.Entries[i])
	}
	if tp.NextCursor != nil {
		size += len(*tp.NextCursor)
	}
	dst = slices.Grow(dst, size)
	dst = append(dst, `{"familyId":`...)
	dst = appendString(dst, tp.FamilyID)
	dst = append(dst, `,"entries":`...)
	if tp.Entries == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range tp.Entries {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendEntry(dst, &tp.Entries[i])
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"nextCursor":`...)
	if tp.NextCursor == nil {
		dst = append(dst, "null"...)
	} else {
		dst = appendString(dst, *tp.NextCursor)
	}
	dst = append(dst, `,"hiddenByConsent":`...)
	dst = strconv.AppendInt(dst, int64(tp.HiddenByConsent), 10)
	return append(dst, "}\n"...)
}
