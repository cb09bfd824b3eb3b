// Package durable writes the files a process keeps beside its data
// (markers, pointers, keys, marks, a kept index): whole or not at all, and on disk once
// the call returns. The content goes to a file of its own in the same
// directory, which is synced, then renamed (or linked) into place, and the
// directory is synced so that the new name outlives a power cut too. A
// crash leaves the old file or the new one, never a torn one.
package durable

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WriteFile replaces path with data, mode perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, bytesOf(data), perm, os.Rename)
}

// WriteFileFrom replaces path with what fill writes, mode perm: for a file
// too large to hold in memory first. A fill that fails leaves path as it
// was.
func WriteFileFrom(path string, perm os.FileMode, fill func(w io.Writer) error) error {
	return write(path, fill, perm, os.Rename)
}

func bytesOf(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// CreateFile writes path with data, mode perm, unless path exists: then it
// fails with an error that errors.Is os.ErrExist, and the file there is
// kept as it is (another process's, say).
func CreateFile(path string, data []byte, perm os.FileMode) error {
	return write(path, bytesOf(data), perm, os.Link)
}

func write(path string, fill func(io.Writer) error, perm os.FileMode, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a rename there is nothing left to remove
	werr := fill(f)
	if err := errors.Join(f.Chmod(perm), werr, f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := place(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RemoveTemps removes what writes of path cut short by a crash left in
// its directory (the ".<name>-*" files WriteFile and CreateFile write
// before the rename), so that they do not accumulate. Call it only while
// no other process writes path: at the start of the process that owns the
// directory.
func RemoveTemps(path string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if IsTemp(e.Name(), base) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// IsTemp reports whether the file name is one a write of the file base
// writes before its rename.
func IsTemp(name, base string) bool {
	rest, ok := strings.CutPrefix(name, "."+base+"-")
	return ok && rest != "" && !strings.ContainsAny(rest, "./")
}
