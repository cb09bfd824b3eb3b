package readmodel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
// stale files of other models are removed.
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
	for _, f := range []string{"readmodel-6.db", "readmodel-6.db-wal", "readmodel-7.db", "readmodel-8.db-shm", "other.db"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveStale(dir, 7); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	var names []string
	for _, l := range left {
		names = append(names, filepath.Base(l))
	}
	if strings.Join(names, " ") != "CURRENT other.db readmodel-7.db" {
		t.Errorf("left %v", names)
	}
}
