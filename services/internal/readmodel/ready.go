package readmodel

import (
	"errors"
	"fmt"
	"sync/atomic"

	"kk.dk/jobogfamilie/services/internal/problem"
)

// ErrNotReady is in the error of every read of a read model refused
// because its process is not ready: the model is still loading or
// catching up (CatchUp), the stream was replaced, or it stopped
// consuming. The reads answer 503 with Retry-After (NotReady), before
// anything is read or written to the access log: a model that has not
// caught up would answer with too little (a family "not assigned" or
// unknown, a timeline or a list short of events), a wrong answer rather
// than a stale one.
var ErrNotReady = errors.New("readmodel: the read model is not ready")

// NotReadyRetry is the Retry-After of a read refused as not ready, in
// seconds.
const NotReadyRetry = 5

// NotReady is the refusal of a read because the read model is not ready,
// why: ErrNotReady and the problem "unavailable", 503 with Retry-After.
func NotReady(why error) error {
	pr := problem.Unavailable(fmt.Sprintf("this replica's read model is not ready (%v); another replica may answer", why))
	pr.RetryAfter = NotReadyRetry
	return fmt.Errorf("%w: %w", ErrNotReady, pr)
}

// CatchUp says whether a read model has applied the stream as it was
// when its process started: its last sequence at the first consumer
// session (Note). Until then the model serves no reads: a restart with a
// model a little behind is up to date after its first batches, and later
// writes do not make it out of date again.
type CatchUp struct {
	done atomic.Bool
	to   atomic.Uint64
	set  atomic.Bool
}

// Note takes, at the first call, the position the model must reach: the
// stream's last sequence then. Later calls change nothing.
func (c *CatchUp) Note(streamLast uint64) {
	if c.set.Load() {
		return
	}
	c.to.Store(streamLast)
	c.set.Store(true)
}

// Due is true when the model, at position, is to be marked up to date
// (Done): it is not yet, a position was noted, and the model has applied
// it or the consumer has nothing more to deliver (drained: the stream's
// last messages may be deleted ones, which are never delivered).
func (c *CatchUp) Due(position uint64, drained bool) bool {
	return !c.done.Load() && c.set.Load() && (drained || position >= c.to.Load())
}

// Done marks the model up to date.
func (c *CatchUp) Done() { c.done.Store(true) }

// UpToDate reports whether Done was called.
func (c *CatchUp) UpToDate() bool { return c.done.Load() }

// Target is the position noted (Note), 0 before.
func (c *CatchUp) Target() uint64 { return c.to.Load() }

// Err is nil once the model is up to date, and otherwise says how far it
// is, at position.
func (c *CatchUp) Err(position uint64) error {
	if c.done.Load() {
		return nil
	}
	if !c.set.Load() {
		return fmt.Errorf("catching up: at %d, the stream's last sequence not yet read", position)
	}
	return fmt.Errorf("catching up: at %d of %d, the stream's last sequence at start", position, c.Target())
}
