package readmodel

// A Follower is a read model of its own for `audit serve`: the projector's
// decode and apply code fed by an ordered consumer. It needs nothing of
// NATS beyond reading (no durable consumer, no acks), so it runs beside
// the projector under a read-only NATS user without touching the
// projector's durable consumer, which one projector per deployment owns.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// FollowerFile is the follower's read model file in its directory.
const FollowerFile = "readmodel.db"

// FollowerOptions configure a Follower.
type FollowerOptions struct {
	// Dir holds the follower's read model (FollowerFile).
	Dir string
	JS  jetstream.JetStream
	Log *slog.Logger
	// BatchSize is the most messages applied in one transaction.
	BatchSize int
	// Keys decrypt the events' personal fields (package shred).
	Keys *shred.Keyring
	// CacheFamilies bounds the folded family states the model keeps in
	// memory once caught up (Model.TrimStates; 0: DefaultStateLimit).
	CacheFamilies int
	// CatchUpFamilies bounds them while the model catches up
	// (Model.SpillStates; 0: DefaultSpillLimit).
	CatchUpFamilies int

	// idleScrub and scrubWait shorten IdleScrubEvery and the model's
	// scrubWait in tests.
	idleScrub, scrubWait time.Duration
	// beforeApply, when set, is called before each batch is applied
	// (tests).
	beforeApply func()
}

// Follower keeps a read model up to date with FAMILY_EVENTS.
type Follower struct {
	o FollowerOptions
	m *Model

	applyMu sync.Mutex
	applied eventstore.Position

	// catchUp is done once the model has applied the stream as it was
	// when the follower started; until then the model serves no reads
	// (Ready, followerSource.Acquire).
	catchUp CatchUp
	loading atomic.Bool // bulk loading without the timeline indexes
	ahead   atomic.Bool // the model is beyond the stream: it was replaced

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Follow opens (creating if needed) the follower's model in o.Dir and
// follows the stream in the background until Close.
func Follow(ctx context.Context, o FollowerOptions) (*Follower, error) {
	if o.JS == nil {
		return nil, errors.New("readmodel: follower: no event store connection")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.CacheFamilies <= 0 {
		o.CacheFamilies = DefaultStateLimit
	}
	if o.CatchUpFamilies <= 0 {
		o.CatchUpFamilies = DefaultSpillLimit
	}
	if err := MakeDir(o.Dir); err != nil {
		return nil, fmt.Errorf("readmodel: follower: %w", err)
	}
	m, err := Open(ctx, filepath.Join(o.Dir, FollowerFile))
	if err != nil {
		return nil, err
	}
	if o.scrubWait > 0 {
		m.scrubWait = o.scrubWait
	}
	if o.idleScrub <= 0 {
		o.idleScrub = IdleScrubEvery
	}
	f := &Follower{o: o, m: m, done: make(chan struct{})}
	f.applied.Set(m.consistent)
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel = cancel
	stop := context.AfterFunc(ctx, cancel)
	go func() {
		defer close(f.done)
		defer stop()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.retryScrubs(bg)
		}()
		f.run(bg)
		wg.Wait()
	}()
	return f, nil
}

// retryScrubs tries a pending erasure scrub while no batch comes to try
// it (RetryScrubs), as the projector does for its model.
func (f *Follower) retryScrubs(ctx context.Context) {
	RetryScrubs(ctx, f.o.idleScrub, func() (*Model, func()) {
		f.applyMu.Lock()
		return f.m, f.applyMu.Unlock
	}, func(_ *Model, finished bool) {
		if finished {
			f.o.Log.Info("readmodel: the pending erasure scrub is done")
		}
	})
}

// checkCaughtUp marks the model caught up once it is due
// (CatchUp.Due), after the erasures it applied while catching up are
// scrubbed from its files (but for a scrub that fails, which stays
// pending and is retried as any other). The caller does not hold the
// apply lock.
func (f *Follower) checkCaughtUp(ctx context.Context, drained bool) {
	if !f.catchUp.Due(f.Position(), drained) {
		return
	}
	f.applyMu.Lock()
	err := f.m.DeferScrub(ctx, false)
	f.applyMu.Unlock()
	if err != nil {
		f.o.Log.Warn("readmodel: caught up, but the erasures' old text could not yet be scrubbed from the files; it is retried after later batches and while idle", "err", err)
	}
	f.catchUp.Done()
}

// Close stops following and closes the model.
func (f *Follower) Close() error {
	f.once.Do(func() {
		f.cancel()
		<-f.done
		f.applyMu.Lock()
		defer f.applyMu.Unlock()
		_ = f.m.Retire(false)
	})
	return nil
}

// Ready is nil once the model has applied the stream as it was when the
// follower started (CatchUp), unless the stream was replaced since. While
// Ready is not nil the model serves no reads: they answer 503
// (NotReady).
func (f *Follower) Ready(context.Context) error {
	switch {
	case f.ahead.Load():
		return fmt.Errorf("the read model (at %d) is ahead of the stream: the stream was replaced; remove %s", f.Position(), f.m.path)
	case f.loading.Load():
		return fmt.Errorf("loading the read model from scratch: at %d of %d", f.Position(), f.catchUp.Target())
	}
	return f.catchUp.Err(f.Position())
}

// View is the audit service's access to the follower's model.
func (f *Follower) View() *View { return &View{src: followerSource{f}} }

// Position is the stream sequence up to which the model is consistent.
func (f *Follower) Position() uint64 { return f.applied.Load() }

// WaitFor blocks until the model has applied sequence seq.
func (f *Follower) WaitFor(ctx context.Context, seq uint64) error { return f.applied.Wait(ctx, seq) }

func (f *Follower) setApplied(seq uint64) { f.applied.Advance(seq) }

// followerSource is the follower as a View's Source.
type followerSource struct{ f *Follower }

// Acquire refuses (NotReady) while the follower is not ready.
func (s followerSource) Acquire() (*Model, func(), error) {
	if err := s.f.Ready(context.Background()); err != nil {
		return nil, nil, NotReady(err)
	}
	if !s.f.m.Acquire() {
		return nil, nil, errors.New("readmodel: follower closed")
	}
	return s.f.m, s.f.m.Release, nil
}

func (s followerSource) LockApply() func() {
	s.f.applyMu.Lock()
	return s.f.applyMu.Unlock
}

func (s followerSource) Ready(ctx context.Context) error               { return s.f.Ready(ctx) }
func (s followerSource) SetApplied(seq uint64)                         { s.f.setApplied(seq) }
func (s followerSource) Position() uint64                              { return s.f.Position() }
func (s followerSource) WaitFor(ctx context.Context, seq uint64) error { return s.f.WaitFor(ctx, seq) }

// run follows until ctx ends, starting again from the checkpoint after
// any failure.
func (f *Follower) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		err := f.session(ctx)
		if ctx.Err() != nil {
			return
		}
		f.o.Log.Warn("readmodel: follower interrupted, starting again from the checkpoint", "err", err, "position", f.Position())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// session reads from the checkpoint on with a new ordered consumer.
func (f *Follower) session(ctx context.Context) error {
	stream, err := f.o.JS.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	last := stream.CachedInfo().State.LastSeq
	f.catchUp.Note(last)
	f.applyMu.Lock()
	m := f.m
	cp := m.checkpoint
	f.ahead.Store(last < cp)
	if last >= cp+10_000 {
		// Far behind with an empty model: load without the timeline
		// indexes, as the projector does (SetBulk leaves any other model
		// as it is).
		if err := m.SetBulk(ctx, true); err != nil {
			f.applyMu.Unlock()
			return err
		}
	}
	f.loading.Store(m.bulk)
	if !f.catchUp.UpToDate() {
		// Nothing reads the model until it has caught up: its erasures
		// are scrubbed once then (checkCaughtUp), not one VACUUM each.
		_ = m.DeferScrub(ctx, true)
	}
	if m.consistent < cp {
		res, err := m.Apply(ctx, nil, ApplyOptions{Flush: true})
		if err != nil {
			f.applyMu.Unlock()
			return err
		}
		f.setApplied(res.Consistent)
	}
	f.applyMu.Unlock()
	if last < cp {
		// Wait for the operator; nothing the stream holds applies.
		<-ctx.Done()
		return ctx.Err()
	}
	f.checkCaughtUp(ctx, last == cp)
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if cp > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, cp+1
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	it, err := cons.Messages(eventstore.Pull(8 * f.o.BatchSize)...)
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	defer it.Stop()
	first := true
	var fl Flusher
	for {
		b, err := ReadBatch(ctx, it, f.o.BatchSize, f.o.Keys)
		if len(b) > 0 {
			end := b[len(b)-1].pending == 0
			if f.o.beforeApply != nil {
				f.o.beforeApply()
			}
			f.applyMu.Lock()
			start := time.Now()
			flush := fl.Due(m, end)
			res, aerr := m.Apply(ctx, b, ApplyOptions{AllowGap: first, Flush: flush})
			if res.Scrub != nil {
				f.o.Log.Warn("readmodel: an erasure is applied, but readers kept its old text from being scrubbed from the files; it is retried after later batches and while idle",
					"position", res.Last, "err", res.Scrub)
			}
			if aerr == nil && flush {
				fl.Done(start)
			}
			if aerr == nil && m.bulk && end {
				res, aerr = m.EndBulk(ctx)
			}
			if aerr == nil {
				if err := m.BoundStates(ctx, end, f.o.CacheFamilies, f.o.CatchUpFamilies); err != nil {
					f.o.Log.Warn("readmodel: family states could not be spilled; they stay in memory", "err", OperatorError(err))
				}
			}
			f.loading.Store(m.bulk)
			f.applyMu.Unlock()
			if res.Consistent > f.Position() {
				f.setApplied(res.Consistent)
			}
			if aerr != nil {
				return fmt.Errorf("apply: %w", aerr)
			}
			first = false
			f.checkCaughtUp(ctx, end && !m.bulk)
		}
		if err != nil {
			return err
		}
	}
}
