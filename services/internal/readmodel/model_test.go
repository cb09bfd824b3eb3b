package readmodel

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestMigrations: a new file is migrated to SchemaVersion in order, a
// second open changes nothing, and a file from a newer binary is refused.
func TestMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), ModelName(1))
	versions := func() []int {
		m, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		rows, err := m.rdb.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var vs []int
		for rows.Next() {
			var v int
			_ = rows.Scan(&v)
			vs = append(vs, v)
		}
		var mode string
		if err := m.rdb.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal mode %q %v", mode, err)
		}
		return vs
	}
	first := versions()
	if len(first) != SchemaVersion || first[0] != 1 || first[len(first)-1] != SchemaVersion {
		t.Fatalf("versions %v, want 1..%d", first, SchemaVersion)
	}
	if again := versions(); len(again) != len(first) {
		t.Fatalf("second open: %v", again)
	}
	m, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.w.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer schema opened: %v", err)
	}
}

// TestModelFiles: CURRENT names the model in use; without it, model 1;
// stale files of other models are removed, and so are the temporary
// files of a CURRENT write a crash cut short.
func TestModelFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if n, err := Current(dir); err != nil || n != 1 {
		t.Fatalf("no CURRENT: %d %v", n, err)
	}
	if err := SetCurrent(dir, 7); err != nil {
		t.Fatal(err)
	}
	if n, err := Current(dir); err != nil || n != 7 {
		t.Fatalf("CURRENT: %d %v", n, err)
	}
	for _, f := range []string{"readmodel-6.db", "readmodel-6.db-wal", "readmodel-7.db", "readmodel-8.db-shm", "other.db", ".CURRENT-123456789"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveStale(dir, 7); err != nil {
		t.Fatal(err)
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range left {
		names = append(names, l.Name())
	}
	if strings.Join(names, " ") != "CURRENT other.db readmodel-7.db" {
		t.Errorf("left %v", names)
	}
}

// TestDistinctQueriesCloseStatements: past the statements a model keeps
// prepared, a reader query's statement is closed once it is used, so any
// number of distinct queries (the timeline's filters make many) leaves a
// bounded number of statements open; the rows of a query read after its
// statement is closed are whole.
func TestDistinctQueriesCloseStatements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := openModel(t)
	const rows = 3
	for seq := 1; seq <= rows; seq++ {
		if _, err := m.w.ExecContext(ctx, insertRawTimeline, seq, "F1", "e"+strconv.Itoa(seq), seq, seq, "sof", "t", "title", `{}`, "a"); err != nil {
			t.Fatal(err)
		}
	}
	// database/sql records every open statement (and connection) among
	// the dependencies of its DB until it is closed.
	dep := reflect.ValueOf(m.rdb).Elem().FieldByName("dep")
	if !dep.IsValid() || dep.Kind() != reflect.Map {
		t.Skip("database/sql keeps no dependency map to count statements by")
	}
	const queries = 3 * maxStmts
	for i := range queries {
		r, err := m.query(ctx, `SELECT sequence FROM timeline WHERE family_id = ? AND `+strconv.Itoa(i)+` >= 0 ORDER BY sequence`, "F1")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for r.Next() {
			n++
		}
		if err := r.Err(); err != nil || n != rows {
			t.Fatalf("query %d: %d rows, %v", i, n, err)
		}
		_ = r.Close()
	}
	if open, most := dep.Len(), maxStmts+8; open > most {
		t.Errorf("%d distinct queries left %d statements and connections open, want at most %d", queries, open, most)
	}
}

// TestBulkOnlyForAnEmptyModel: a bulk load drops the timeline's indexes
// only in an empty model; one that holds rows serves reads, and keeps
// them however far behind it is.
func TestBulkOnlyForAnEmptyModel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	indexes := func(m *Model) int {
		var n int
		if err := m.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'timeline' AND name LIKE 'timeline_family_%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	empty, err := Open(ctx, filepath.Join(t.TempDir(), ModelName(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if err := empty.SetBulk(ctx, true); err != nil || !empty.Bulk() || indexes(empty) != 0 {
		t.Fatalf("an empty model: bulk %v, %d indexes, %v", empty.Bulk(), indexes(empty), err)
	}
	// The index build runs on a smaller cache; the writer gets its own
	// back.
	if err := empty.SetBulk(ctx, false); err != nil || empty.Bulk() || indexes(empty) != len(timelineIndexes) {
		t.Fatalf("the bulk load ended: bulk %v, %d indexes, %v", empty.Bulk(), indexes(empty), err)
	}
	var cache int
	if err := empty.w.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err != nil || cache != writerCache {
		t.Fatalf("the writer's cache_size after the index build: %d, %v; want %d", cache, err, writerCache)
	}

	m := openModel(t)
	batch := []Message{eventAt(t, "F1", 1, events.SOF, &events.FamilyReferred{Reason: "Bekymring"}, time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC))}
	if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.SetBulk(ctx, true); err != nil || m.Bulk() || indexes(m) != len(timelineIndexes) {
		t.Fatalf("a model that holds rows: bulk %v, %d indexes, %v", m.Bulk(), indexes(m), err)
	}
}

// openModel opens a new model in t's temporary directory, closed at t's
// end.
func openModel(t testing.TB) *Model {
	t.Helper()
	m, err := Open(context.Background(), filepath.Join(t.TempDir(), ModelName(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}
