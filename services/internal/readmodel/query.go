package readmodel

// The queries of the coordinator API: the families a principal may read,
// a family's overview, whether a principal may read a family, and a
// family's entries in stream order (the timeline stream). The timeline's
// pages are in timeline.go.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
)

// FamilySummary is one family of GET /v1/families.
type FamilySummary struct {
	FamilyID     string `json:"familyId"`
	Status       string `json:"status"`
	Events       int    `json:"events"`
	LastSequence uint64 `json:"lastSequence"`
	// Overview is the family's overview JSON, set by FamilyOverviews only
	// (the web app's list); it is not part of GET /v1/families.
	Overview json.RawMessage `json:"-"`
	// HiddenByConsent is how many of the family's events the consent gate
	// hides from a coordinator (Events and LastSequence leave them out).
	HiddenByConsent int `json:"hiddenByConsent"`
}

// Families lists every family (all) or those employee is assigned to,
// by id.
func (m *Model) Families(ctx context.Context, employee string, all bool) ([]FamilySummary, error) {
	return m.families(ctx, employee, all, false)
}

// FamilyOverviews is Families with each family's overview.
func (m *Model) FamilyOverviews(ctx context.Context, employee string, all bool) ([]FamilySummary, error) {
	return m.families(ctx, employee, all, true)
}

func (m *Model) families(ctx context.Context, employee string, all, overviews bool) ([]FamilySummary, error) {
	cols := `f.family_id, f.status, f.events, f.last_sequence`
	if overviews {
		cols += `, f.overview`
	}
	var (
		rows *sql.Rows
		err  error
	)
	if all {
		rows, err = m.db().QueryContext(ctx, `SELECT `+cols+` FROM families f ORDER BY f.family_id`)
	} else {
		rows, err = m.db().QueryContext(ctx, `SELECT `+cols+`
			FROM family_access a JOIN families f ON f.family_id = a.family_id
			WHERE a.employee_id = ? ORDER BY f.family_id`, employee)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []FamilySummary{}
	for rows.Next() {
		var f FamilySummary
		dst := []any{&f.FamilyID, &f.Status, &f.Events, &f.LastSequence}
		if overviews {
			dst = append(dst, &f.Overview)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Overview is the family's overview JSON as the family fold made it
// (family.State.Overview), stored at the last flush.
func (m *Model) Overview(ctx context.Context, familyID string) ([]byte, error) {
	var ov []byte
	err := m.db().QueryRowContext(ctx, `SELECT overview FROM families WHERE family_id = ?`, familyID).Scan(&ov)
	return ov, err
}

// LastSequence is the stream sequence of the family's latest event, as of
// the last flush.
func (m *Model) LastSequence(ctx context.Context, familyID string) (uint64, error) {
	var n uint64
	err := m.db().QueryRowContext(ctx, `SELECT last_sequence FROM families WHERE family_id = ?`, familyID).Scan(&n)
	return n, err
}

// HasFamily reports whether the model holds events of the family.
func (m *Model) HasFamily(ctx context.Context, familyID string) (bool, error) {
	return m.exists(ctx, `SELECT 1 FROM families WHERE family_id = ?`, familyID)
}

// HasAccess reports whether the employee is assigned to the family now.
func (m *Model) HasAccess(ctx context.Context, familyID, employee string) (bool, error) {
	return m.exists(ctx, `SELECT 1 FROM family_access WHERE family_id = ? AND employee_id = ?`, familyID, employee)
}

// exists runs a query of one row, prepared once per model.
func (m *Model) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var one int
	err := m.queryRow(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// EntriesAfter reads at most limit of the family's entries after sequence
// after, in stream order.
func (m *Model) EntriesAfter(ctx context.Context, familyID string, after uint64, limit int) ([]Entry, error) {
	return m.entries(ctx, limit, `SELECT sequence, event_id, time_ns, recorded_ns, department, type, title, data, actor, stored_type
		FROM timeline WHERE family_id = ? AND sequence > ? ORDER BY sequence LIMIT ?`, familyID, int64(after), limit)
}

// entries runs a query of timeline rows (the columns scanEntries reads)
// that returns at most size of them.
func (m *Model) entries(ctx context.Context, size int, query string, args ...any) ([]Entry, error) {
	rows, err := m.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanEntries(rows, nil, size)
}

// query runs a query on the reader pool (or a Snapshot's transaction),
// prepared once per model.
func (m *Model) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if m.tx != nil {
		if st := m.snapStmt(ctx, query); st != nil {
			return st.QueryContext(ctx, args...)
		}
		return m.tx.QueryContext(ctx, query, args...)
	}
	st, done, err := m.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	defer done()
	return st.QueryContext(ctx, args...)
}
