//go:build unix

package readmodel

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestModelFilesArePrivate: the read model holds personal text
// decrypted. Its directory is made 0700 and its file, WAL and shared
// memory are 0600 even with a umask that takes nothing away; a model
// left readable by others is made private when it is opened. Not
// parallel: the umask is the process's.
func TestModelFilesArePrivate(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0))
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "projector")
	if err := MakeDir(dir); err != nil {
		t.Fatal(err)
	}
	mode := func(path string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(dir); m != 0o700 {
		t.Errorf("%s: mode %o, want 700", dir, m)
	}
	path := filepath.Join(dir, ModelName(1))
	check := func() {
		t.Helper()
		m, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if _, err := m.rdb.ExecContext(ctx, `SELECT count(*) FROM timeline`); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if m := mode(p); m != 0o600 {
				t.Errorf("%s: mode %o, want 600", filepath.Base(p), m)
			}
		}
	}
	check()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	check()
}
