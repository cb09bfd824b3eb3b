// Package dirlock gives a process a data directory to itself: an
// exclusive lock (fcntl, through Pebble's LockDirectory) on the file LOCK
// in the directory, which the operating system releases when the process
// ends, however it ends. Ingest's index store and the projector's read
// model take it, so that a second process started on the same directory
// refuses at once instead of writing over the first's files.
package dirlock

import (
	"errors"
	"os"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// File is the file in the directory that is locked: Pebble's own, so
// that a Pebble store opened in the directory with the lock
// (pebble.Options.Lock) takes no second one.
const File = "LOCK"

// ErrHeld is in the error of Lock when another process (or another lock
// of this one) holds the directory.
var ErrHeld = errors.New("held by another process")

// Lock takes the exclusive lock of dir, which must exist; Close on the
// lock releases it. A lock held elsewhere fails at once, with ErrHeld.
func Lock(dir string) (*pebble.Lock, error) {
	l, err := pebble.LockDirectory(dir, vfs.Default)
	if err == nil {
		return l, nil
	}
	// fcntl answers EAGAIN (EACCES on some systems) for a lock another
	// process holds; Pebble itself refuses a second lock in one process.
	var errno syscall.Errno
	var perr *os.PathError
	if !errors.As(err, &perr) && errors.As(err, &errno) && (errno == syscall.EAGAIN || errno == syscall.EACCES) ||
		strings.Contains(err.Error(), "held by current process") {
		return nil, errors.Join(ErrHeld, err)
	}
	return nil, err
}
