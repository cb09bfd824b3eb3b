package readmodel

import (
	"time"
)

const (
	// DefaultBatchSize is the most messages applied in one transaction
	// unless configured otherwise.
	DefaultBatchSize = 1000
	// flushEvery and maxDirty bound how far, while catching up, the
	// published position may trail the timeline rows, and how many
	// families wait for their overview to be written.
	flushEvery = time.Second
	maxDirty   = 50_000
	// cheapFlush is how many waiting families a flush writes in a few
	// milliseconds.
	cheapFlush = 256
)

// Flusher decides when a batch also writes the overviews (see
// Model.Apply): always once caught up, and whenever few families
// wait, so that in steady state, even under sustained load, every batch is
// published at once. While catching up over many families a flush
// rewrites the overview of nearly every family, so it comes at most every
// flushEvery and never takes more than a tenth of the time; during a bulk
// load, when the projector is not ready and nobody reads, not at all (but
// for too many waiting families): EndBulk flushes after the index build.
type Flusher struct {
	last time.Time
	took time.Duration
}

// Due reports whether the next batch also flushes.
func (f *Flusher) Due(m *Model, caughtUp bool) bool {
	switch {
	case len(m.dirty) >= maxDirty:
		return true
	case m.bulk:
		return false
	case caughtUp || len(m.dirty) <= cheapFlush:
		return true
	}
	if f.last.IsZero() {
		f.last = time.Now()
	}
	return time.Since(f.last) >= max(flushEvery, 10*f.took)
}

// Done records a flush that began at start.
func (f *Flusher) Done(start time.Time) {
	f.last = time.Now()
	f.took = f.last.Sub(start)
}
