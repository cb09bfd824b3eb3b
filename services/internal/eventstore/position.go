package eventstore

import (
	"context"
	"sync"
	"sync/atomic"
)

// Position is a stream sequence that a reader of the stream has reached,
// which others can wait for: read-your-writes, ingest waiting for its index
// after a conflict, audit waiting for a replay. The zero value is ready.
type Position struct {
	seq     atomic.Uint64
	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever seq changes
}

// Load is the current sequence.
func (p *Position) Load() uint64 { return p.seq.Load() }

// Set moves the position to seq (backwards too, e.g. when a read model is
// replaced) and wakes the waiters.
func (p *Position) Set(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seq.Load() == seq {
		return
	}
	p.seq.Store(seq)
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// Advance moves the position forward to seq; a lower seq is ignored.
func (p *Position) Advance(seq uint64) {
	if seq > p.seq.Load() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if seq <= p.seq.Load() {
			return
		}
		p.seq.Store(seq)
		if p.changed != nil {
			close(p.changed)
			p.changed = nil
		}
	}
}

// Wait blocks until the position is at least seq, or ctx ends.
func (p *Position) Wait(ctx context.Context, seq uint64) error {
	for {
		p.mu.Lock()
		if p.seq.Load() >= seq {
			p.mu.Unlock()
			return nil
		}
		if p.changed == nil {
			p.changed = make(chan struct{})
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
