package durable_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/durable"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mark")
	for _, text := range []string{"first", "second"} {
		if err := durable.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != text {
			t.Fatalf("after writing %q: %q, %v", text, b, err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600 whatever the umask", fi.Mode(), err)
	}
	onlyFile(t, dir, "mark")
}

func TestCreateFileKeepsWhatIsThere(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := durable.CreateFile(path, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := durable.CreateFile(path, []byte("theirs"), 0o600); !errors.Is(err, os.ErrExist) {
		t.Fatalf("a second create: %v, want os.ErrExist", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "mine" {
		t.Fatalf("the file there: %q, %v; want it kept", b, err)
	}
	onlyFile(t, dir, "key")
}

func TestWriteFileInAMissingDirectory(t *testing.T) {
	if err := durable.WriteFile(filepath.Join(t.TempDir(), "no", "mark"), []byte("x"), 0o600); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%v, want os.ErrNotExist", err)
	}
}

// onlyFile fails when dir holds anything but name: no temporary file is
// left behind.
func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v, want only %s", dir, names, name)
	}
}

// TestRemoveTemps: what a write cut short left is removed; the file, and
// files of other names, are kept.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "CURRENT")
	if err := durable.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{".CURRENT-123", ".CURRENT-9876", ".OTHER-1", "CURRENT-1"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := durable.RemoveTemps(path); err != nil {
		t.Fatal(err)
	}
	es, _ := os.ReadDir(dir)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != ".OTHER-1 CURRENT CURRENT-1" {
		t.Errorf("left %s", got)
	}
}

// WriteFileFrom writes what its fill writes; a fill that fails leaves the
// file as it was, and no temporary file behind.
func TestWriteFileFrom(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "index")
	fill := func(parts ...string) func(io.Writer) error {
		return func(w io.Writer) error {
			for _, p := range parts {
				if _, err := io.WriteString(w, p); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if err := durable.WriteFileFrom(path, 0o600, fill("a ", "large ", "file")); err != nil {
		t.Fatal(err)
	}
	cut := errors.New("cut")
	err := durable.WriteFileFrom(path, 0o600, func(w io.Writer) error {
		_ = fill("half of ")(w)
		return cut
	})
	if !errors.Is(err, cut) {
		t.Fatalf("a failed fill: %v, want its error", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "a large file" {
		t.Fatalf("after a failed fill: %q, %v; want the file as it was", b, err)
	}
	onlyFile(t, dir, "index")
}
