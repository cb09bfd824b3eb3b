package readmodel

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/consent"
)

// gateFields are the data members the consent gate reads.
var gateFields = append(slices.Clone(consent.PersonFields), consent.ReferenceFields...)

// TestGateFieldsHaveStoredColumns: every member of a row's data that the
// consent gate reads has a stored generated column in the timeline, and
// the gate's SQL compares those columns rather than parsing each row's
// data; a member without a column is still read from the data.
func TestGateFieldsHaveStoredColumns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := openModel(t)
	rows, err := m.rdb.QueryContext(ctx, `SELECT name, hidden FROM pragma_table_xinfo('timeline')`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var (
			name   string
			hidden int
		)
		if err := rows.Scan(&name, &hidden); err != nil {
			t.Fatal(err)
		}
		stored[name] = hidden == 3 // a stored generated column
	}
	rows.Close()
	for _, f := range gateFields {
		if c, ok := fieldColumns[f]; !ok || !stored[c] {
			t.Errorf("field %s: column %q, stored generated column %v", f, c, stored[c])
		}
	}
	h := &Hide{Groups: []HideGroup{{Departments: []string{"BUF"}, Shown: []string{"P1"}}}, Fields: consent.PersonFields, Through: 7,
		Departments: policyDepartments, RefFields: consent.ReferenceFields, HideUnknown: consent.ReferenceFields}
	x, _, err := h.expr()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(x, "json_extract") {
		t.Errorf("the gate's expression parses the rows' data: %s", x)
	}
	h.Fields = append(h.Fields, "motherId")
	if x, _, err = h.expr(); err != nil || !strings.Contains(x, `json_extract(data, '$.motherId')`) {
		t.Errorf("a field without a column: %v %s", err, x)
	}
}

// checkFieldColumns fails unless every row's gate columns hold what its
// data holds.
func checkFieldColumns(t *testing.T, m *Model) {
	t.Helper()
	var q strings.Builder
	q.WriteString(`SELECT count(*) FROM timeline WHERE 0`)
	for _, f := range gateFields {
		q.WriteString(` OR ` + fieldColumns[f] + ` IS NOT json_extract(data, '$.` + f + `')`)
	}
	var n int
	if err := m.rdb.QueryRowContext(context.Background(), q.String()).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows whose columns differ from their data: %d %v", n, err)
	}
}

// TestFieldColumnsFollowRewrittenData: the gate's columns are those of
// the row's data as written and as an erasure or any other rewrite of the
// data leaves it.
func TestFieldColumnsFollowRewrittenData(t *testing.T) {
	ctx := context.Background()
	m, _, at := erasureModel(t)
	given := eventAt(t, "F-ERASE", 2, events.SOF, &events.ConsentGiven{PersonID: "P-1", Scope: events.ScopeDataSharing}, at.Add(time.Minute))
	if _, err := m.Apply(ctx, []Message{given}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	checkFieldColumns(t, m)
	erase := eventAt(t, "F-ERASE", 3, events.Service, &events.FamilyErased{Reason: "Formål ophørt"}, at.Add(time.Hour))
	if res, err := m.Apply(ctx, []Message{erase}, ApplyOptions{Flush: true}); err != nil || !res.Erased {
		t.Fatalf("erasure: %+v %v", res, err)
	}
	checkFieldColumns(t, m)
	if _, err := m.w.ExecContext(ctx, `UPDATE timeline SET data = json_set(data, '$.personId', 'P-2', '$.goalId', 'G-1') WHERE sequence = 2`); err != nil {
		t.Fatal(err)
	}
	var p, g sql.NullString
	if err := m.rdb.QueryRowContext(ctx, `SELECT f_personId, f_goalId FROM timeline WHERE sequence = 2`).Scan(&p, &g); err != nil || p.String != "P-2" || g.String != "G-1" {
		t.Fatalf("after a rewrite of the data: personId %v, goalId %v, %v", p, g, err)
	}
	checkFieldColumns(t, m)
}

// TestMigrationKeepsRowsAndFillsFieldColumns: a model of the schema
// before the gate's columns keeps its rows when opened by this build,
// with the columns filled from their data and the timeline's indexes in
// place.
func TestMigrationKeepsRowsAndFillsFieldColumns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), ModelName(1))
	if err := createPrivate(path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, writerConn))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, 7); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{insertTimeline, []any{1, "F-1", "e1", 1, 1, "BUF", "dk.kk.jobogfamilie.consent.given", "t", `{"personId":"P-1","scope":"BUF"}`, "a", ""}},
		{insertTimeline, []any{2, "F-1", "e2", 2, 2, "JC", "dk.kk.jobogfamilie.goal.progressed", "t", `{"goalId":"G-1","caseId":7}`, "a", ""}},
		{`UPDATE checkpoint SET sequence = 2, overviews = 2, fold = ?, catalog = ?`, []any{family.SnapshotVersion, events.NewestFingerprint()}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	m, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Checkpoint() != 2 {
		t.Errorf("checkpoint %d after the migration, want 2", m.Checkpoint())
	}
	var (
		n                int
		person, goal, cs any
	)
	if err := m.rdb.QueryRowContext(ctx, `SELECT count(*), max(f_personId), max(f_goalId), max(f_caseId) FROM timeline`).Scan(&n, &person, &goal, &cs); err != nil {
		t.Fatal(err)
	}
	if n != 2 || person != "P-1" || goal != "G-1" || cs != int64(7) {
		t.Errorf("rows %d, personId %v, goalId %v, caseId %#v", n, person, goal, cs)
	}
	checkFieldColumns(t, m)
	if err := m.rdb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'timeline' AND name IN ('timeline_family_time', 'timeline_family_seq', 'timeline_family_type')`).Scan(&n); err != nil || n != 3 {
		t.Errorf("the timeline's indexes after the migration: %d %v", n, err)
	}
}
