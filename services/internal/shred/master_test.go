package shred_test

import (
	"os"
	"path/filepath"
	"testing"

	"kk.dk/jobogfamilie/services/internal/shred"
)

// TestDevMasterKeyModes: the dev master key opens every data key, so its
// file is the owner's alone, 0600 in a directory 0700, also when it was
// there before with wider modes (copied in, restored from a backup), as
// the NATS seed files are; the key in it is kept.
func TestDevMasterKeyModes(t *testing.T) {
	data := t.TempDir()
	m, err := shred.LoadOrCreateDevMasterKey(data)
	if err != nil {
		t.Fatal(err)
	}
	path := shred.DevMasterKeyFile(data)
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if f, d := mode(path), mode(filepath.Dir(path)); f != 0o600 || d != 0o700 {
		t.Fatalf("made: file %o, directory %o; want 600 and 700", f, d)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	again, err := shred.LoadOrCreateDevMasterKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID() != m.ID() {
		t.Fatalf("the key changed: %s, was %s", again.ID(), m.ID())
	}
	if f, d := mode(path), mode(filepath.Dir(path)); f != 0o600 || d != 0o700 {
		t.Errorf("found: file %o, directory %o; want 600 and 700", f, d)
	}
}

// TestDevMasterKeyLeftEmpty: a start stopped between making the key file
// and writing the key in it leaves no key anyone used; the next start
// makes one rather than failing for good on the empty file. A file that
// holds something else is no key, and is left alone.
func TestDevMasterKeyLeftEmpty(t *testing.T) {
	data := t.TempDir()
	path := shred.DevMasterKeyFile(data)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := shred.LoadOrCreateDevMasterKey(data)
	if err != nil {
		t.Fatalf("an empty key file: %v", err)
	}
	if again, err := shred.LoadOrCreateDevMasterKey(data); err != nil || again.ID() != m.ID() {
		t.Fatalf("the key made is not kept: %v", err)
	}
	if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := shred.LoadOrCreateDevMasterKey(data); err == nil {
		t.Fatal("a file that is no key was taken or replaced")
	}
	if b, _ := os.ReadFile(path); string(b) != "not a key\n" {
		t.Fatalf("the file was replaced: %q", b)
	}
}
