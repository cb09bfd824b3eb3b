package readmodel

// What a consent gate (package consent) hides from a coordinator's reads,
// applied in SQL so that the timeline's filters, counts and pages are
// those of the entries shown. The read model knows no policy: the
// projector turns its gate into a Hide.

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/consent"
)

// HideOf is what the consent gate g leaves out of a query: its groups,
// the departments it hides whole, the references it hides or does not
// know, and everything stored after what it has read (Through).
func HideOf(g *consent.Gate) *Hide {
	groups, whole := g.Groups()
	h := &Hide{Whole: whole, Fields: consent.PersonFields, Through: g.Through(),
		Departments: policyDepartments, RefFields: consent.ReferenceFields, Refs: g.HiddenReferences(),
		Known: g.KnownReferences(), HideUnknown: g.HidesUnknown(), AllRefs: g.IsClosed()}
	for _, gr := range groups {
		h.Groups = append(h.Groups, HideGroup{Departments: gr.Departments, Shown: gr.Shown})
	}
	return h
}

// policyDepartments are the consent policy's departments as the read
// model names them.
var policyDepartments = func() []string {
	out := make([]string, len(events.Departments))
	for i, d := range events.Departments {
		out[i] = string(d)
	}
	return out
}()

// Hide is what a query leaves out: every entry of Whole, and the entries
// of each group's departments whose data names, in one of Fields, a person
// not in the group's Shown, or that were stored after Through (their
// consents were not read yet). An entry of a department (Departments)
// that names no person in Fields but names an id in one of RefFields is
// left out when Refs holds that id under that field (the event it refers
// to is hidden), when Known does not hold it and the field is in
// HideUnknown (no event it refers to can be judged), when it was stored
// after Through, or, with AllRefs, in any case (a closed gate). Any other
// entry that names no person in Fields is kept unless its department is
// in Whole.
type Hide struct {
	Groups  []HideGroup
	Whole   []string
	Fields  []string
	Through uint64

	Departments []string
	RefFields   []string
	Refs        map[string][]string
	Known       map[string][]string
	HideUnknown []string
	AllRefs     bool
}

// HideGroup is one consent scope: its departments and the persons who
// have it in force.
type HideGroup struct {
	Departments []string
	Shown       []string
}

// expr is the SQL condition true of a hidden timeline row, with its
// arguments.
func (h *Hide) expr() (string, []any, error) {
	var (
		b    strings.Builder
		args []any
	)
	in := func(vals []string) {
		b.WriteString(`department IN (?` + strings.Repeat(`, ?`, len(vals)-1) + `)`)
		for _, v := range vals {
			args = append(args, v)
		}
	}
	for _, f := range append(slices.Clone(h.Fields), h.RefFields...) {
		if !simpleField(f) {
			return "", nil, fmt.Errorf("readmodel: field %q", f)
		}
	}
	b.WriteString(`(0`)
	if len(h.Whole) > 0 {
		b.WriteString(` OR `)
		in(h.Whole)
	}
	for _, g := range h.Groups {
		if len(g.Departments) == 0 {
			continue
		}
		shown, err := json.Marshal(append([]string{}, g.Shown...))
		if err != nil {
			return "", nil, err
		}
		b.WriteString(` OR (`)
		in(g.Departments)
		b.WriteString(` AND (0`)
		for _, f := range h.Fields {
			x := fieldExpr(f)
			b.WriteString(` OR (` + x + ` IS NOT NULL AND (sequence > ? OR ` + x + ` NOT IN (SELECT value FROM json_each(?))))`)
			args = append(args, int64(h.Through), string(shown))
		}
		b.WriteString(`))`)
	}
	if len(h.RefFields) > 0 && len(h.Departments) > 0 {
		b.WriteString(` OR (`)
		in(h.Departments)
		for _, f := range h.Fields {
			b.WriteString(` AND ` + fieldExpr(f) + ` IS NULL`)
		}
		b.WriteString(` AND (0`)
		for _, f := range h.RefFields {
			x := fieldExpr(f)
			ids, err := json.Marshal(append([]string{}, h.Refs[f]...))
			if err != nil {
				return "", nil, err
			}
			if h.AllRefs {
				b.WriteString(` OR ` + x + ` IS NOT NULL`)
				continue
			}
			b.WriteString(` OR (` + x + ` IS NOT NULL AND (sequence > ? OR ` + x + ` IN (SELECT value FROM json_each(?))`)
			args = append(args, int64(h.Through), string(ids))
			if slices.Contains(h.HideUnknown, f) {
				known, err := json.Marshal(append([]string{}, h.Known[f]...))
				if err != nil {
					return "", nil, err
				}
				b.WriteString(` OR ` + x + ` NOT IN (SELECT value FROM json_each(?))`)
				args = append(args, string(known))
			}
			b.WriteString(`))`)
		}
		b.WriteString(`))`)
	}
	b.WriteString(`)`)
	return b.String(), args, nil
}

// fieldExpr is the SQL value of member f of a timeline row's data: its
// generated column (fieldColumns), or, for a member without one, the
// member read from the data. f must be a simpleField.
func fieldExpr(f string) string {
	if c, ok := fieldColumns[f]; ok {
		return c
	}
	return `json_extract(data, '$.` + f + `')`
}

func simpleField(f string) bool {
	if f == "" {
		return false
	}
	for _, c := range f {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// ConsentRead is what a gate is folded from: the family's consent
// decisions as its row holds them at the family's last flush, and the consent
// events stored after it, up to Through, the family's last sequence when
// they were read.
type ConsentRead struct {
	// Decided are the family's consent decisions as its row holds them.
	Decided []family.ConsentDecision
	Later   []ConsentRow
	Through uint64
}

// ConsentRow is a stored consent event.
type ConsentRow struct {
	Sequence uint64
	Type     string
	Data     []byte
	// Time is the event's time, by which consents are decided.
	Time time.Time
}

// OverviewAt is the family's overview JSON and the sequence it was
// folded up to.
func (m *Model) OverviewAt(ctx context.Context, familyID string) ([]byte, uint64, error) {
	var (
		ov   []byte
		last uint64
	)
	err := m.db().QueryRowContext(ctx, `SELECT overview, last_sequence FROM families WHERE family_id = ?`, familyID).Scan(&ov, &last)
	return ov, last, err
}

// ErrNoFamily is a family the model holds no overview of.
var ErrNoFamily = errors.New("readmodel: no such family")

// Consents reads the family's consents: every decision kept in its row,
// then the events stored since its flush that isConsent picks.
func (m *Model) Consents(ctx context.Context, familyID string, isConsent func(typ string) bool) (ConsentRead, error) {
	var out ConsentRead
	last, decided, err := m.consentDecisions(ctx, familyID)
	if err != nil {
		return out, err
	}
	out.Decided = decided
	out.Through = uint64(last)
	rows, err := m.query(ctx, `SELECT sequence, type, data, time_ns FROM timeline WHERE family_id = ? AND sequence > ? ORDER BY sequence`, familyID, last)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq, ns int64
			typ     string
			data    []byte
		)
		if err := rows.Scan(&seq, &typ, &data, &ns); err != nil {
			return out, err
		}
		out.Through = uint64(seq)
		if isConsent(typ) {
			out.Later = append(out.Later, ConsentRow{Sequence: uint64(seq), Type: typ, Data: data, Time: time.Unix(0, ns).UTC()})
		}
	}
	return out, rows.Err()
}

// consentDecisions reads the family's last sequence and its consent
// decisions at it, in one statement, so that both are of the same write of
// the row.
func (m *Model) consentDecisions(ctx context.Context, familyID string) (int64, []family.ConsentDecision, error) {
	var (
		last int64
		raw  []byte
	)
	if err := m.queryRow(ctx, `SELECT last_sequence, consents FROM families WHERE family_id = ?`, familyID).Scan(&last, &raw); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil, ErrNoFamily
		}
		return 0, nil, err
	}
	var decided []family.ConsentDecision
	if err := json.Unmarshal(raw, &decided); err != nil {
		return 0, nil, fmt.Errorf("readmodel: the family's consents: %w", err)
	}
	return last, decided, nil
}

// referencesQuery is References' statement for n types.
func referencesQuery(n int) string {
	return `SELECT sequence, type, department, data FROM timeline WHERE family_id = ? AND sequence <= ? AND type IN (?` +
		strings.Repeat(`, ?`, n-1) + `)`
}

// RefRow is a stored event that begins what a later event may refer to.
type RefRow struct {
	Sequence   uint64
	Type       string
	Department string
	Data       []byte
}

// References reads, in stream order, the family's events up to sequence
// through of the types (CloudEvents types, as rows hold them) that begin
// what a follow-up refers to: what the consent gate judges the follow-ups
// by. The rows are found by type (timeline_family_type), which
// visits only them, and put in stream order here: ordered by sequence,
// SQLite would walk every row of the family instead.
func (m *Model) References(ctx context.Context, familyID string, through uint64, types []string) ([]RefRow, error) {
	if len(types) == 0 {
		return nil, nil
	}
	args := []any{familyID, int64(through)}
	for _, t := range types {
		args = append(args, t)
	}
	rows, err := m.query(ctx, referencesQuery(len(types)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RefRow
	for rows.Next() {
		var (
			r   RefRow
			seq int64
		)
		if err := rows.Scan(&seq, &r.Type, &r.Department, &r.Data); err != nil {
			return nil, err
		}
		r.Sequence = uint64(seq)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b RefRow) int { return cmp.Compare(a.Sequence, b.Sequence) })
	return out, nil
}

// HiddenRow is a hidden timeline row as the overview's filter needs it.
type HiddenRow struct {
	Department, Type string
	Data             []byte
}

// HiddenScan is one read of a family's rows through a Hide.
type HiddenScan struct {
	// Rows are the hidden rows up to the scan's sequence (the overview's,
	// whose fold they are taken out of).
	Rows []HiddenRow
	// Shown, LastTime and LastSeq are the number, latest time and
	// latest sequence of the rows shown up to that sequence.
	Shown    int
	LastTime time.Time
	LastSeq  uint64
	// Total is how many of all the family's stored rows are hidden: the
	// read's hiddenByConsent, as HiddenCount counts it.
	Total int
}

// Hidden reads, in one statement, the family's rows through h: the hidden
// rows up to sequence until, the rows shown up to it, and how many of all
// its rows are hidden. On a Snapshot, a scan kept from an earlier read
// through the same gate answers, with only the rows after it read
// (gateCounts); its rows' data is shared and only to be read.
func (m *Model) Hidden(ctx context.Context, familyID string, until uint64, h *Hide) (HiddenScan, error) {
	x, xargs, err := h.expr()
	if err != nil {
		return HiddenScan{}, err
	}
	c, key, err := m.kept(ctx, m.db(), familyID, h)
	if err != nil {
		return HiddenScan{}, err
	}
	if c != nil {
		if hs, ok := c.scanOf(familyID, key, until); ok {
			return hs, nil
		}
		if old, ok := c.scanBefore(familyID, key, until); ok {
			hs, err := m.extendScan(ctx, familyID, until, x, xargs, old)
			if err == nil {
				c.keepScan(familyID, key, until, hs, m.erasures)
			}
			return hs, err
		}
	}
	hs, err := m.hiddenScan(ctx, familyID, until, x, xargs, 0, 0, HiddenScan{})
	if err == nil && c != nil {
		c.keepScan(familyID, key, until, hs, m.erasures)
	}
	return hs, err
}

// extendScan is Hidden's answer from a kept scan of the family through
// the same gate, old, up to an earlier sequence or before rows were added
// (gateCounts.scanBefore): only the rows after its sequence are read.
func (m *Model) extendScan(ctx context.Context, familyID string, until uint64, x string, xargs []any, old gateCount) (HiddenScan, error) {
	out := *old.scan
	out.Rows = slices.Clip(out.Rows) // shared: appending copies them
	out.Total = old.hidden
	return m.hiddenScan(ctx, familyID, until, x, xargs, old.scanUntil, uint64(old.last), out)
}

// hiddenScan is Hidden's statement, through the gate's expression x, over
// the family's rows after sequence from, added to out: those up to until
// join its rows, and the hidden ones after totalFrom its total. A scan of
// every row starts from 0 with nothing in out; extendScan goes on from a
// kept one. The rows come in stream order, as an extension appends them.
func (m *Model) hiddenScan(ctx context.Context, familyID string, until uint64, x string, xargs []any, from, totalFrom uint64, out HiddenScan) (HiddenScan, error) {
	rows, err := m.query(ctx, `SELECT department, type, CASE WHEN h AND sequence <= ? THEN data END, h, time_ns, sequence FROM (
		SELECT department, type, data, time_ns, sequence, `+x+` AS h FROM timeline WHERE family_id = ? AND sequence > ?)
		ORDER BY sequence`,
		append(append([]any{int64(until)}, xargs...), familyID, int64(from))...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r        HiddenRow
			isHidden bool
			tns, seq int64
		)
		if err := rows.Scan(&r.Department, &r.Type, &r.Data, &isHidden, &tns, &seq); err != nil {
			return out, err
		}
		if isHidden && uint64(seq) > totalFrom {
			out.Total++
		}
		if uint64(seq) > until {
			continue
		}
		if isHidden {
			out.Rows = append(out.Rows, r)
			continue
		}
		out.Shown++
		if t := time.Unix(0, tns).UTC(); out.Shown == 1 || t.After(out.LastTime) {
			out.LastTime = t
		}
		out.LastSeq = max(out.LastSeq, uint64(seq))
	}
	return out, rows.Err()
}

// Persons lists, sorted, the persons a family's data is about: the
// members of its overview and every personId or childId its events name.
// It is ErrUnknownFamily when the model holds no events of the family.
func (v *View) Persons(ctx context.Context, familyID string) ([]string, error) {
	m, release, err := v.src.Acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := m.query(ctx, `SELECT json_extract(value, '$.personId') FROM families, json_each(families.overview, '$.members')
		WHERE family_id = ?
		UNION SELECT json_extract(data, '$.personId') FROM timeline WHERE family_id = ?
		UNION SELECT json_extract(data, '$.childId') FROM timeline WHERE family_id = ?`, familyID, familyID, familyID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p sql.NullString
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		if p.Valid && p.String != "" {
			out = append(out, p.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		if ok, err := m.HasFamily(ctx, familyID); err != nil || !ok {
			return nil, cmpErr(err, ErrUnknownFamily)
		}
	}
	slices.Sort(out)
	return out, nil
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}
