package projector

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// Rebuild states.
const (
	RebuildIdle    = "idle"
	RebuildRunning = "running"
	RebuildDone    = "done"
	RebuildFailed  = "failed"
)

// RebuildStatus is the progress of the latest rebuild, as GET
// /v1/admin/rebuild shows it.
type RebuildStatus struct {
	State      string     `json:"state"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// Applied is the sequence the new read model has reached; Target is
	// what the live read model has applied (its checkpoint), which the new
	// one must reach before the swap.
	Applied uint64 `json:"applied"`
	Target  uint64 `json:"target"`
	// Model is the file being built, or the one swapped in.
	Model string `json:"model,omitempty"`
	Error string `json:"error,omitempty"`
}

type rebuildState struct {
	mu     sync.Mutex
	status RebuildStatus
	wg     sync.WaitGroup
}

func (r *rebuildState) wait() { r.wg.Wait() }

func (r *rebuildState) update(f func(*RebuildStatus)) {
	r.mu.Lock()
	f(&r.status)
	r.mu.Unlock()
}

// RebuildStatus reports the latest rebuild.
func (p *Projector) RebuildStatus() RebuildStatus {
	p.rebuild.mu.Lock()
	defer p.rebuild.mu.Unlock()
	s := p.rebuild.status
	if s.State == "" {
		s.State = RebuildIdle
	}
	return s
}

// begin marks a rebuild as running, or fails if one is.
func (p *Projector) beginRebuild() error {
	p.rebuild.mu.Lock()
	defer p.rebuild.mu.Unlock()
	if p.rebuild.status.State == RebuildRunning {
		return ErrRebuildRunning
	}
	now := time.Now().UTC()
	p.rebuild.status = RebuildStatus{State: RebuildRunning, StartedAt: &now}
	p.rebuild.wg.Add(1)
	return nil
}

// endRebuild reports the rebuild's outcome and then retires old, the model
// a successful rebuild replaced: its status says done as soon as the new
// model is live, while a long read of the old one (an audit verify pins it
// for its whole replay) still holds the old file open.
func (p *Projector) endRebuild(err error, old *readmodel.Model) {
	defer p.rebuild.wg.Done()
	now := time.Now().UTC()
	p.rebuild.update(func(s *RebuildStatus) {
		s.FinishedAt = &now
		if err != nil {
			// The operator sees no family data: the log has the error whole.
			s.State, s.Error = RebuildFailed, readmodel.OperatorError(err)
		} else {
			s.State = RebuildDone
		}
	})
	outcome := "done"
	if err != nil {
		outcome = "failed"
		p.log.Error("projector: rebuild failed", "err", err)
	} else {
		p.log.Info("projector: rebuild swapped in", "model", p.RebuildStatus().Model, "position", p.Position())
	}
	p.metrics.rebuilds.WithLabelValues(outcome).Inc()
	if old == nil {
		return
	}
	// The evaluation's index holds the old model's events: read the new
	// model's in the background, as after a start.
	p.eval.drop()
	p.rebuild.wg.Add(1)
	go func() {
		defer p.rebuild.wg.Done()
		p.warmEvaluation(p.ctx)
	}()
	if err := old.Retire(true); err != nil {
		p.log.Warn("projector: could not remove the old read model", "file", filepath.Base(old.Path()), "err", err)
	}
}

// Rebuild builds a fresh read model from sequence 1 beside the live one and,
// once it has caught up with the live model, swaps it in atomically: the
// API reads the old model until the swap and the new one after it, without
// a failed read, and the live consumer continues on the new model. The old
// file is removed once no read uses it. It blocks until then.
func (p *Projector) Rebuild(ctx context.Context) error {
	if err := p.beginRebuild(); err != nil {
		return err
	}
	old, err := p.rebuildModel(ctx)
	p.endRebuild(err, old)
	return err
}

// StartRebuild starts a rebuild in the background (for the admin API) and
// returns its first status.
func (p *Projector) StartRebuild() (RebuildStatus, error) {
	if err := p.beginRebuild(); err != nil {
		return p.RebuildStatus(), err
	}
	go func() {
		old, err := p.rebuildModel(p.ctx)
		p.endRebuild(err, old)
	}()
	return p.RebuildStatus(), nil
}

// rebuildModel builds and swaps in the new model, and returns the model it
// replaced, for the caller to retire.
func (p *Projector) rebuildModel(ctx context.Context) (*readmodel.Model, error) {
	p.applyMu.Lock()
	n := p.modelNo + 1
	p.applyMu.Unlock()
	path := filepath.Join(p.dir, readmodel.ModelName(n))
	if err := readmodel.RemoveFiles(path); err != nil {
		return nil, err
	}
	p.rebuild.update(func(s *RebuildStatus) { s.Model = readmodel.ModelName(n) })
	m, err := readmodel.Open(ctx, path)
	if err != nil {
		// Open made the file before it failed.
		_ = readmodel.RemoveFiles(path)
		return nil, err
	}
	swapped := false
	defer func() {
		if !swapped {
			m.Close()
			_ = readmodel.RemoveFiles(path)
		}
	}()

	stream, err := p.opts.JS.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return nil, fmt.Errorf("projector: rebuild: stream: %w", err)
	}
	p.preloadKeys(ctx)
	// An ordered consumer is ephemeral: nothing is left on the server when
	// the rebuild ends, however it ends.
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, fmt.Errorf("projector: rebuild: consumer: %w", err)
	}
	var it jetstream.MessagesContext
	defer func() {
		if it != nil {
			it.Stop()
		}
	}()
	// What the new model must reach: the live model's checkpoint, or, when
	// the live model is ahead of a replaced stream, the stream's end. The
	// checkpoint, not the published position, which trails it between two
	// flushes (and during a whole bulk load): a model swapped in at the
	// published position would be behind what the live consumer applied,
	// and its next batch would not follow on. locked: the caller holds the
	// apply lock.
	liveTarget := func(locked bool) (uint64, error) {
		if !p.ahead.Load() {
			if !locked {
				p.applyMu.Lock()
				defer p.applyMu.Unlock()
			}
			return p.model.Load().Checkpoint(), nil
		}
		info, err := stream.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("projector: rebuild: stream: %w", err)
		}
		return info.State.LastSeq, nil
	}
	var pending []readmodel.Message
	first := true
	var fl readmodel.Flusher
	// The new model serves nothing until the swap: its erasures are
	// scrubbed once, before it (below), not one VACUUM each.
	_ = m.DeferScrub(ctx, true)
	if t, err := liveTarget(false); err != nil {
		return nil, err
	} else if t >= p.bulkThreshold {
		if err := m.SetBulk(ctx, true); err != nil {
			return nil, fmt.Errorf("projector: rebuild: %w", err)
		}
	}
	// applyUpTo applies the stream to m up to sequence target, in batches,
	// keeping messages beyond it for later.
	applyUpTo := func(target uint64) error {
		for m.Checkpoint() < target {
			if len(pending) == 0 {
				if it == nil {
					if it, err = cons.Messages(eventstore.Pull(8 * p.opts.BatchSize)...); err != nil {
						return fmt.Errorf("projector: rebuild: messages: %w", err)
					}
				}
				b, err := readmodel.ReadBatch(ctx, it, p.opts.BatchSize, p.opts.Keys)
				if len(b) == 0 {
					if err == nil {
						err = errors.New("no messages")
					}
					return fmt.Errorf("projector: rebuild: fetch: %w", err)
				}
				pending = b
			}
			k := 0
			for k < len(pending) && pending[k].Seq() <= target {
				k++
			}
			if k == 0 {
				// Sequences up to target exist (the live model applied
				// them), and the stream denies deletes.
				return fmt.Errorf("projector: rebuild: the stream skips from %d to %d", m.Checkpoint(), pending[0].Seq())
			}
			t0 := time.Now()
			flush := fl.Due(m, false)
			if _, err := m.Apply(ctx, pending[:k], readmodel.ApplyOptions{AllowGap: first, Flush: flush}); err != nil {
				return fmt.Errorf("projector: rebuild: %w", err)
			}
			if flush {
				fl.Done(t0)
			}
			if _, err := m.SpillStates(ctx, p.opts.CatchUpFamilies); err != nil {
				return fmt.Errorf("projector: rebuild: %w", err)
			}
			first = false
			pending = pending[k:]
			p.rebuild.update(func(s *RebuildStatus) { s.Applied = m.Checkpoint() })
		}
		return nil
	}

	for {
		target, err := liveTarget(false)
		if err != nil {
			return nil, err
		}
		p.rebuild.update(func(s *RebuildStatus) { s.Target = target })
		if m.Checkpoint() < target {
			if err := applyUpTo(target); err != nil {
				return nil, err
			}
			continue
		}
		if m.Bulk() {
			// Build the indexes and write every overview before taking the
			// live applier's lock, which then waits only for what arrived
			// meanwhile.
			if _, err := m.EndBulk(ctx); err != nil {
				return nil, fmt.Errorf("projector: rebuild: %w", err)
			}
			continue
		}
		if m.ScrubDeferred() {
			// Scrub the erasures' old text from the file and its WAL
			// before taking the live applier's lock: nothing reads the new
			// model, so the scrub waits for no reader. What the last
			// batches below erase is scrubbed as the live applier scrubs
			// it.
			if err := m.DeferScrub(ctx, false); err != nil {
				return nil, fmt.Errorf("projector: rebuild: %w", err)
			}
			continue
		}
		// Caught up: hold the live applier between two batches, apply what
		// it committed meanwhile, and swap.
		p.applyMu.Lock()
		if target, err = liveTarget(true); err != nil {
			p.applyMu.Unlock()
			return nil, err
		}
		if err := applyUpTo(target); err != nil {
			p.applyMu.Unlock()
			return nil, err
		}
		if _, err := m.Apply(ctx, nil, readmodel.ApplyOptions{Flush: true}); err != nil {
			p.applyMu.Unlock()
			return nil, fmt.Errorf("projector: rebuild: %w", err)
		}
		if m.Checkpoint() != target || m.Consistent() != target {
			p.applyMu.Unlock()
			return nil, fmt.Errorf("projector: rebuild: at %d (consistent %d), not at the live position %d", m.Checkpoint(), m.Consistent(), target)
		}
		if err := readmodel.SetCurrent(p.dir, n); err != nil {
			// CURRENT may name the new model already (the rename done, its
			// directory's sync failed), which is about to be removed: name
			// the live one again, so that a start opens it.
			if rerr := readmodel.SetCurrent(p.dir, p.modelNo); rerr != nil {
				err = errors.Join(err, rerr)
			}
			p.applyMu.Unlock()
			return nil, fmt.Errorf("projector: rebuild: swap: %w", err)
		}
		if p.model.Load().ScrubDeferred() {
			// The projector still catches up, and the live model defers
			// its scrub until it is up to date (endScrubDeferral, which
			// ends the deferral of whichever model is live then): the new
			// model defers in its place.
			_ = m.DeferScrub(ctx, true)
		}
		old := p.model.Swap(m)
		p.modelNo = n
		swapped = true
		p.loading.Store(false)
		if p.ahead.Swap(false) {
			// The live consumer waits beyond the old model's checkpoint.
			p.setApplied(m.Consistent())
			p.reposition()
			// So do the open streams: each is told to start again.
			p.subs.resetAll()
		} else if m.Consistent() > p.Position() {
			// The live model was between two flushes: the new one is
			// consistent up to its checkpoint.
			p.setApplied(m.Consistent())
		}
		// From here on m belongs to the live applier.
		p.applyMu.Unlock()
		p.rebuild.update(func(s *RebuildStatus) { s.Applied, s.Target = target, target })
		return old, nil
	}
}
