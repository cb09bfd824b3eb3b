package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPutInPlace: a new archive takes the place of a family's directory
// when there is none, or when it holds an archive or what an export that
// stopped left (the old one is then in the new one's former place); a
// directory holding anything else is left alone.
func TestPutInPlace(t *testing.T) {
	root := t.TempDir()
	write := func(dir, name, text string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(dir, name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	dir := filepath.Join(root, "F1")

	tmp := filepath.Join(root, ".F1.new-1")
	write(tmp, ManifestFile, "new")
	if err := putInPlace(tmp, dir); err != nil || read(dir, ManifestFile) != "new" {
		t.Fatalf("into no directory: %v, manifest %q", err, read(dir, ManifestFile))
	}

	tmp = filepath.Join(root, ".F1.new-2")
	write(tmp, ManifestFile, "newer")
	if err := putInPlace(tmp, dir); err != nil || read(dir, ManifestFile) != "newer" || read(tmp, ManifestFile) != "new" {
		t.Fatalf("over an archive: %v, manifest %q, replaced %q", err, read(dir, ManifestFile), read(tmp, ManifestFile))
	}

	partial := filepath.Join(root, "F2")
	write(partial, EventsFile, "partial")
	tmp = filepath.Join(root, ".F2.new-1")
	write(tmp, ManifestFile, "new")
	if err := putInPlace(tmp, partial); err != nil || read(partial, ManifestFile) != "new" || read(partial, EventsFile) != "" {
		t.Fatalf("over what a stopped export left: %v", err)
	}

	foreign := filepath.Join(root, "F3")
	write(foreign, "notes.txt", "sagsnoter")
	tmp = filepath.Join(root, ".F3.new-1")
	write(tmp, ManifestFile, "new")
	if err := putInPlace(tmp, foreign); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("over a foreign directory: %v", err)
	}
	if read(foreign, "notes.txt") != "sagsnoter" || read(foreign, ManifestFile) != "" || read(tmp, ManifestFile) != "new" {
		t.Fatal("a foreign directory was changed")
	}
}
