package readmodel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"kk.dk/jobogfamilie/services/internal/durable"
)

// Files: the projector's read models live in <data>/projector as
// readmodel-<n>.db, and the file CURRENT names the one in use. A rebuild
// writes readmodel-<n+1>.db beside it and swaps by rewriting CURRENT
// (write, fsync, rename), so that a crash at any moment leaves CURRENT
// naming a complete model.

const currentFile = "CURRENT"

// A read model holds the families' personal text decrypted: its files
// are the process user's alone, as the keys are, 0600 in directories
// made 0700.
const (
	// DirMode is the mode read model directories are made with.
	DirMode  os.FileMode = 0o700
	fileMode os.FileMode = 0o600
)

// MakeDir makes dir, with its parents, for read models.
func MakeDir(dir string) error { return os.MkdirAll(dir, DirMode) }

// createPrivate makes the model file at path, if it is missing, 0600,
// before SQLite opens it, and takes group and other access away from
// one that exists and from its -wal, -shm and -journal files. SQLite's
// unix VFS creates a database file 0644 (less the umask) and gives each
// of those files the mode of the database file, so made here first they
// are all 0600.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&^fileMode != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&fileMode); err != nil {
				return fmt.Errorf("readmodel: %w", err)
			}
		}
	}
	return nil
}

// ModelName is the file name of model n.
func ModelName(n int) string { return fmt.Sprintf("readmodel-%d.db", n) }

func modelNumber(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "readmodel-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".db")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// Current reads CURRENT in dir; without one it is model 1.
func Current(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, currentFile))
	if errors.Is(err, os.ErrNotExist) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	n, ok := modelNumber(strings.TrimSpace(string(b)))
	if !ok {
		return 0, fmt.Errorf("readmodel: %s names no read model: %q", currentFile, b)
	}
	return n, nil
}

// SetCurrent points CURRENT at model n, durably.
func SetCurrent(dir string, n int) error {
	return durable.WriteFile(filepath.Join(dir, currentFile), []byte(ModelName(n)+"\n"), 0o600)
}

// RemoveStale deletes read model files other than model keep: the remains
// of a rebuild that did not finish, or of a swap whose old file was not yet
// deleted; and the temporary files of a CURRENT write that a crash cut
// short. Call it with the directory's lock held.
func RemoveStale(dir string, keep int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	errs := []error{durable.RemoveTemps(filepath.Join(dir, currentFile))}
	for _, e := range entries {
		name := e.Name()
		base := name
		for _, suffix := range []string{"-wal", "-shm", "-journal"} {
			base = strings.TrimSuffix(base, suffix)
		}
		n, ok := modelNumber(base)
		if ok && n != keep {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// ResolveModel finds the read model a projector data directory names:
// <data>/projector/CURRENT, or the file itself when path is one.
func ResolveModel(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return path, nil
	}
	dir := filepath.Join(path, "projector")
	if _, err := os.Stat(dir); err != nil {
		dir = path
	}
	n, err := Current(dir)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, ModelName(n)), nil
}

// RemoveFiles deletes a model file with its WAL, shared-memory and
// journal files.
func RemoveFiles(path string) error {
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
