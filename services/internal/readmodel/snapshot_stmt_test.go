package readmodel

import (
	"context"
	"strconv"
	"testing"
)

// TestSnapshotPreparesOnlyWhatThePoolKeeps: a query a snapshot ran that
// the pool had no statement of is prepared on the pool when the snapshot
// ends, for the next read, while the pool has room for it; once the pool
// keeps maxStmts statements, it is not prepared, since the statement
// would be closed at once.
func TestSnapshotPreparesOnlyWhatThePoolKeeps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := openModel(t)
	if _, err := m.w.ExecContext(ctx, insertRawTimeline, 1, "F1", "e1", 1, 1, "sof", "t", "title", `{}`, "a"); err != nil {
		t.Fatal(err)
	}
	q := func(i int) string {
		return `SELECT sequence FROM timeline WHERE family_id = ? AND ` + strconv.Itoa(i) + ` <> 0.5`
	}
	read := func(on *Model, query string) {
		t.Helper()
		var seq int
		if err := on.queryRow(ctx, query, "F1").Scan(&seq); err != nil || seq != 1 {
			t.Fatalf("%s: %d, %v", query, seq, err)
		}
	}
	counts := func() (prepared, kept int) {
		m.stmtMu.Lock()
		defer m.stmtMu.Unlock()
		return m.prepared, len(m.stmts)
	}
	snapRead := func(query string) {
		t.Helper()
		snap, end, err := m.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		read(snap, query)
		end()
	}

	// With room in the pool: the snapshot's query is prepared and kept.
	p0, k0 := counts()
	snapRead(q(-1))
	if p, k := counts(); p != p0+1 || k != k0+1 {
		t.Errorf("with room for it, the snapshot's end prepared %d statements and the pool keeps %d more, want 1 and 1", p-p0, k-k0)
	}
	for i := 0; ; i++ {
		if _, k := counts(); k >= maxStmts {
			break
		}
		read(m, q(i))
	}
	// The pool is full: no statement is prepared for the snapshot's query.
	p1, k1 := counts()
	snapRead(q(-2))
	if p, k := counts(); p != p1 || k != k1 {
		t.Errorf("with %d statements kept, the snapshot's end prepared %d statements and the pool keeps %d more, want none", k1, p-p1, k-k1)
	}
}
