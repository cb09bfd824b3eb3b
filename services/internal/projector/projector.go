// Package projector maintains the read model of Job og Familie and serves
// the coordinator API from it (CONTRACT.md, "Coordinator API").
//
// # Consuming
//
// One durable pull consumer, named "projector", reads the whole
// FAMILY_EVENTS stream (per-family filtered consumers are slow at scale).
// Messages are fetched in batches of up to BatchSize, or what is available,
// decoded once, on every core, by the catalog's rules (events.ParseStructured
// and the validation of events.Decode, with the message's JetStream
// timestamp as "now", so that a replay decides as the live projector did)
// while the previous batch is written, and applied to the SQLite read model
// (package readmodel) in ONE transaction that also stores the checkpoint:
// the last stream sequence applied. The batch is acknowledged (AckAll on
// its last message) only after the commit.
//
// The checkpoint in the file is the truth; the consumer's own position is a
// hint. At every start the consumer is reused only when it has delivered
// and had acknowledged exactly up to the checkpoint and is still as the
// projector made it (durable, unfiltered, AckAll, not paused: anyone who
// may create it could have changed it to deliver nothing); otherwise it
// is deleted and created again (same name) to deliver from checkpoint+1.
// Messages at or below the checkpoint are skipped. A crash between apply
// and commit therefore re-fetches the batch, and a crash between commit and
// ack skips it: neither duplicates nor gaps, and no wait for AckWait.
// Several projector processes may run on one NATS deployment (read
// replicas behind a load balancer), each with its own read model and its
// own durable consumer: Options.Instance names them (see
// eventstore.ProjectorConsumer). Each replica owns its consumer alone:
// two processes on one consumer would each delete and create it again at
// their checkpoints, and stall each other. A process locks its read
// model's directory (lockDir), so that a second one on the same machine
// and data directory refuses at start, and claims its consumer on NATS
// (claim.go), so that a second one elsewhere refuses at start too, or,
// when both started at once, one of them stops consuming and reports not
// ready.
//
// # Read model
//
// The read model (package readmodel) is <data>/projector/readmodel-<n>.db,
// named by <data>/projector/CURRENT (<data>/projector-<instance>/ for an
// instance). The projector publishes its flushed
// position as X-Position, and counts quarantined messages in
// jf_projector_quarantined_total.
//
// # Rebuild
//
// Rebuild builds a fresh model from sequence 1 beside the live one with an
// ordered (ephemeral) consumer, and once it has caught up swaps it in
// atomically; see rebuild.go.
package projector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/consent"
	"kk.dk/jobogfamilie/services/internal/durable"
	"kk.dk/jobogfamilie/services/internal/evaluation"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/sse"
)

// ConsumerName is the durable consumer's identity on FAMILY_EVENTS of the
// projector without an instance. Never rename it: a new name is a new
// consumer, and the old one would keep its state on the server.
const ConsumerName = "projector"

// Defaults.
const (
	DefaultBatchSize = readmodel.DefaultBatchSize
	// ackWait is generous: an unacknowledged batch is never waited for
	// (the consumer is positioned from the checkpoint at every start), so
	// the only effect of a short wait would be needless redeliveries.
	ackWait = 2 * time.Minute
	// maxAckPending lets the client prefetch while a batch is written.
	maxAckPending = 20000
)

// Options configure a projector.
type Options struct {
	// DataDir is the process's data directory; the read models live in
	// DataDir/projector, or DataDir/projector-<Instance>.
	DataDir string
	// Instance names this projector among several on one NATS deployment:
	// its durable consumer is eventstore.ProjectorConsumer(Instance).
	// Empty is the single projector's names.
	Instance string
	// NC and JS are the connection to the event store.
	NC *nats.Conn
	JS jetstream.JetStream
	// Auth authenticates API requests.
	Auth *auth.Authenticator
	Log  *slog.Logger
	// BatchSize is the most messages applied in one transaction.
	BatchSize int
	// EvaluationTarget is families.target (0: evaluation.DefaultTarget);
	// EvaluationThreshold the smallest count the evaluation shows when it
	// suppresses (0: evaluation.DefaultThreshold).
	EvaluationTarget, EvaluationThreshold int
	// EvaluationKeepEvery is how often the evaluation's index is written
	// beside the read model while the projector runs, so that a start
	// after a crash reads only the rows after it (evaluation_file.go); 0
	// writes it only at a stop.
	EvaluationKeepEvery time.Duration
	// Keys decrypt the events' personal fields (package shred).
	Keys *shred.Keyring
	// CacheFamilies bounds the folded family states the read model keeps
	// in memory once caught up (readmodel.Model.TrimStates; 0:
	// readmodel.DefaultStateLimit).
	CacheFamilies int
	// CatchUpFamilies bounds them while the model catches up or is
	// rebuilt (readmodel.Model.SpillStates; 0: readmodel.DefaultSpillLimit).
	CatchUpFamilies int
}

// Projector is the projector and its coordinator API.
type Projector struct {
	opts Options
	dir  string
	log  *slog.Logger
	// consumer is the durable consumer's name.
	consumer string
	// lock holds dir for this process alone (lockDir).
	lock io.Closer
	// access is the index of ACCESS_LOG, which the web app's access-log
	// page reads a family's entries by (AccessIndex).
	access *accesslog.Index
	// claim is this process's claim of the consumer on NATS (claim.go).
	claim claim

	// model is the read model the API reads; swapped by a rebuild.
	model atomic.Pointer[readmodel.Model]
	// modelNo is the number of the current model file.
	modelNo int

	// applyMu is held while a batch is applied, and by a rebuild while it
	// swaps models, so that the swap happens between two batches.
	applyMu sync.Mutex

	applied eventstore.Position

	consumerReady atomic.Bool
	// down is set when a consumer session fails (run), and cleared when a
	// session applies a batch or begins with nothing pending (consume):
	// a projector that has not consumed for consumerGrace since is not
	// ready. A session that begins and fails again before it applies
	// anything keeps the time of the first failure.
	down       atomic.Pointer[consumerDown]
	streamLast atomic.Uint64
	// catchUp is done once the read model has applied what the stream
	// held when the projector started (its last sequence then); until
	// then the projector is not ready and serves no family data: a model
	// still loading would answer an assigned coordinator "not assigned".
	// Until then the erasures' scrub is deferred
	// (readmodel.Model.DeferScrub); it runs before catchUp is done.
	catchUp readmodel.CatchUp

	subs    *subscribers
	metrics *metrics
	eval    evalCache
	rebuild rebuildState

	// hooks are for tests: called in the live applier between apply and
	// commit and between commit and ack; an error stops the projector
	// there, as a crash would.
	hooks struct {
		beforeCommit, afterCommit func(last uint64) error
		// afterGate is called once a family read has read its consent
		// gate, before it reads what the gate judges.
		afterGate hook
		// beforeSubscribe is called by a timeline stream once its read
		// is logged, before it subscribes.
		beforeSubscribe hook
		// beforeStoredPage is called by a stream before it reads a page
		// of the entries stored after its position.
		beforeStoredPage hook
	}
	// consentFail, when set, fails every consent gate's read (tests).
	consentFail atomic.Pointer[error]
	// consentPolicy replaces consent.Policy (tests); nil is the policy.
	consentPolicy atomic.Pointer[[]consent.Rule]
	// clock replaces time.Now as the moment reads judge consents at
	// (tests); nil is time.Now.
	clock atomic.Pointer[func() time.Time]
	// heartbeat is the SSE comment interval, in nanoseconds.
	heartbeat atomic.Int64
	// streamWriteTimeout is the deadline of each SSE write, in
	// nanoseconds (sse.WriteTimeout).
	streamWriteTimeout atomic.Int64
	// ahead is set when the read model has applied more than the stream
	// holds: the stream was replaced, and only a rebuild can fix that.
	ahead atomic.Bool
	// session cancels the running consumer session, so that it is
	// positioned again from the checkpoint.
	sessionMu sync.Mutex
	session   context.CancelFunc
	// bulkThreshold is the backlog from which a session reads with an
	// ordered consumer until caught up (see consume), and an empty read
	// model is loaded without its timeline indexes (see readmodel.Model.SetBulk).
	bulkThreshold uint64
	// loading is set during such a bulk load; the projector is not ready.
	loading atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	runErr error
	done   chan struct{}
	closed sync.Once
}

// New opens (creating and migrating if needed) the current read model.
// Start begins consuming.
func New(ctx context.Context, o Options) (*Projector, error) {
	if o.JS == nil || o.NC == nil {
		return nil, errors.New("projector: no event store connection")
	}
	if o.Auth == nil {
		return nil, errors.New("projector: no authenticator")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.CacheFamilies <= 0 {
		o.CacheFamilies = readmodel.DefaultStateLimit
	}
	if o.CatchUpFamilies <= 0 {
		o.CatchUpFamilies = readmodel.DefaultSpillLimit
	}
	dir := filepath.Join(o.DataDir, eventstore.ProjectorConsumer(o.Instance))
	if err := readmodel.MakeDir(dir); err != nil {
		return nil, fmt.Errorf("projector: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	n, err := readmodel.Current(dir)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	if err := readmodel.RemoveStale(dir, n); err != nil {
		o.Log.Warn("projector: could not remove stale read model files", "err", err)
	}
	if err := durable.RemoveTemps(filepath.Join(dir, evaluationFile)); err != nil {
		o.Log.Warn("projector: could not remove a cut write of the kept evaluation index", "err", err)
	}
	access, err := accesslog.OpenIndex(ctx, filepath.Join(dir, accesslog.IndexFile), o.Log)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	m, err := readmodel.Open(ctx, filepath.Join(dir, readmodel.ModelName(n)))
	if err != nil {
		_ = access.Close()
		_ = lock.Close()
		return nil, err
	}
	p := &Projector{
		opts: o, dir: dir, log: o.Log, modelNo: n, consumer: eventstore.ProjectorConsumer(o.Instance), lock: lock, access: access,
		subs:          newSubscribers(),
		metrics:       newMetrics(),
		bulkThreshold: 10_000,
		done:          make(chan struct{}),
	}
	p.model.Store(m)
	p.eval.start(m)
	p.heartbeat.Store(int64(15 * time.Second))
	p.streamWriteTimeout.Store(int64(sse.WriteTimeout))
	p.applied.Set(m.Consistent())
	p.metrics.applied.Set(float64(m.Consistent()))
	p.subs.dropped, p.subs.gauge = p.metrics.sseDropped, p.metrics.sseClients
	p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	// A stop begins when the process's context ends (see Start), before
	// the HTTP server drains; the streams end then, not at Close, which
	// runs only once the server has drained.
	context.AfterFunc(p.ctx, p.subs.closeAll)
	return p, nil
}

// Start runs the consumer (and the lag gauge) in the background until ctx
// ends or Close is called.
func (p *Projector) Start(ctx context.Context) {
	stop := context.AfterFunc(ctx, p.cancel)
	p.wg.Add(3)
	go func() {
		defer p.wg.Done()
		defer close(p.done)
		defer stop()
		p.runErr = p.run(p.ctx)
		if p.runErr != nil && p.ctx.Err() == nil {
			p.log.Error("projector stopped", "err", p.runErr)
		}
	}()
	go func() {
		defer p.wg.Done()
		p.watchLag(p.ctx)
	}()
	go func() {
		defer p.wg.Done()
		p.retryScrubs(p.ctx)
	}()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.access.Follow(p.ctx, p.opts.JS)
	}()
	if d := p.opts.EvaluationKeepEvery; d > 0 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.keepEvaluation(p.ctx, d)
		}()
	}
	p.rewarmEvaluation()
}

// rewarmEvaluation reads the evaluation's events into its cache in the
// background, once the projector is ready.
func (p *Projector) rewarmEvaluation() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.warmEvaluation(p.ctx)
	}()
}

// AccessIndex is the index of ACCESS_LOG the projector keeps up to date
// while it runs: a family's entries are found in it.
func (p *Projector) AccessIndex() *accesslog.Index { return p.access }

// Done is closed when the consumer has stopped.
func (p *Projector) Done() <-chan struct{} { return p.done }

// Close stops the consumer, waits for it and closes the read model.
func (p *Projector) Close() error {
	p.closed.Do(func() {
		p.cancel()
		p.wg.Wait()
		p.rebuild.wait()
		p.subs.closeAll()
		p.saveEvaluation(context.Background())
		p.applyMu.Lock()
		defer p.applyMu.Unlock()
		_ = p.model.Load().Retire(false)
		_ = p.access.Close()
		_ = p.lock.Close()
	})
	if errors.Is(p.runErr, context.Canceled) {
		return nil
	}
	return p.runErr
}

// Ready is nil once the read model is open and migrated, a consumer
// session has begun (with the durable consumer, or an ordered one while
// catching up a backlog) and the model has applied the stream as it was
// when the projector started: a restart with a model a little behind is
// ready after its first batches, and later writes do not make it unready.
// It is not ready again while no consumer session has consumed for
// consumerGrace after one failed (down). While Ready is not nil the
// family data reads answer 503 (servable).
func (p *Projector) Ready(context.Context) error {
	if err := p.claimLost(); err != nil {
		return err
	}
	if !p.consumerReady.Load() {
		return errors.New("consumer not yet created")
	}
	if d := p.down.Load(); d != nil && time.Since(d.since) >= consumerGrace {
		return fmt.Errorf("not consuming the stream since %s (the read model is at %d): %v",
			d.since.UTC().Format(time.RFC3339), p.Position(), d.err)
	}
	if p.ahead.Load() {
		return fmt.Errorf("the read model (at %d) is ahead of the stream (at %d): the stream was replaced; run projector rebuild", p.Position(), p.streamLast.Load())
	}
	if p.loading.Load() {
		return fmt.Errorf("loading the read model from scratch: at %d of %d", p.Position(), p.streamLast.Load())
	}
	return p.catchUp.Err(p.Position())
}

// noteCatchUp takes, at the first consumer session, the position the read
// model must reach to be up to date: the stream's last sequence then.
func (p *Projector) noteCatchUp(ctx context.Context, streamLast uint64) {
	p.catchUp.Note(streamLast)
	p.checkUpToDate(ctx, false)
}

// checkUpToDate marks catchUp done once it is due (readmodel.CatchUp.Due).
// The scrub of the erasures applied while catching up runs first, so that
// the model holds no erased text in its files when it serves family reads
// (but for a scrub that fails, which stays pending and is retried as any
// other).
// The caller does not hold the apply lock.
func (p *Projector) checkUpToDate(ctx context.Context, drained bool) {
	if p.catchUp.Due(p.Position(), drained) {
		p.endScrubDeferral(ctx)
		p.catchUp.Done()
	}
}

// endScrubDeferral ends the live model's erasure scrub deferral of a
// catch-up, running the pending scrub.
func (p *Projector) endScrubDeferral(ctx context.Context) {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	m := p.model.Load()
	pending := m.ScrubPending()
	start := time.Now()
	if err := m.DeferScrub(ctx, false); err != nil {
		p.log.Warn("projector: caught up, but the erasures' old text could not yet be scrubbed from the read model's files; retrying", "err", err)
	} else if pending {
		p.log.Info("projector: caught up; the erasures' old text is scrubbed from the read model's files", "took", time.Since(start))
	}
	p.noteScrub(m)
}

// Position is the last stream sequence the read model has applied.
func (p *Projector) Position() uint64 { return p.applied.Load() }

// setApplied publishes a new position to readers and waiters.
func (p *Projector) setApplied(seq uint64) {
	p.applied.Set(seq)
	p.metrics.applied.Set(float64(seq))
	if last := p.streamLast.Load(); last >= seq {
		p.metrics.lag.Set(float64(last - seq))
	}
}

// WaitFor blocks until the read model has applied sequence seq.
func (p *Projector) WaitFor(ctx context.Context, seq uint64) error { return p.applied.Wait(ctx, seq) }

// Digest is a SHA-256 over the whole read model (see readmodel.Model.Digest):
// equal digests mean equal projections.
func (p *Projector) Digest(ctx context.Context) (string, error) {
	m, release, err := p.acquireModel()
	if err != nil {
		return "", err
	}
	defer release()
	return m.Digest(ctx)
}

// acquire takes the current read model for one read of family data:
// refused (503, ErrNotReady) while the projector is not ready.
func (p *Projector) acquire() (*readmodel.Model, func(), error) {
	if err := p.servable(); err != nil {
		return nil, nil, err
	}
	return p.acquireModel()
}

// acquireModel takes the current read model, ready or not.
func (p *Projector) acquireModel() (*readmodel.Model, func(), error) {
	for range 1000 {
		m := p.model.Load()
		if m.Acquire() {
			return m, m.Release, nil
		}
		// Retired between Load and acquire: the next Load sees the new one.
	}
	return nil, nil, errors.New("projector: read model unavailable")
}

// AuditView is the audit service's access to the projector's read model.
func (p *Projector) AuditView() *readmodel.View { return readmodel.NewView(viewSource{p}) }

// viewSource is the projector as a readmodel.View's source.
type viewSource struct{ p *Projector }

func (s viewSource) Acquire() (*readmodel.Model, func(), error) { return s.p.acquire() }
func (s viewSource) Ready(ctx context.Context) error            { return s.p.Ready(ctx) }

func (s viewSource) LockApply() func() {
	s.p.applyMu.Lock()
	return s.p.applyMu.Unlock
}

func (s viewSource) SetApplied(seq uint64)                         { s.p.setApplied(seq) }
func (s viewSource) Position() uint64                              { return s.p.Position() }
func (s viewSource) WaitFor(ctx context.Context, seq uint64) error { return s.p.WaitFor(ctx, seq) }

// run consumes until ctx ends, positioning the consumer again after any
// failure (NATS restart, consumer deleted, a gap).
func (p *Projector) run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := p.consume(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errCaughtUp) {
			continue
		}
		if errors.Is(err, errStopped) {
			return err
		}
		p.log.Warn("projector: consumer interrupted, positioning again from the checkpoint", "err", err, "checkpoint", p.Position())
		d := &consumerDown{since: time.Now(), err: err}
		if old := p.down.Load(); old != nil {
			d.since = old.since
		}
		p.down.Store(d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// consumerGrace is how long a projector whose consumer session failed
// may go without one and stay ready: a NATS leader change or reconnect
// takes a moment, and the reads meanwhile are a moment behind. A
// projector that cannot consume for longer (its consumer not permitted
// on NATS, NATS out of reach) serves a read model that no longer moves:
// it reports not ready, so that its reads answer 503 and a balancer
// sends them to another replica.
const consumerGrace = 10 * time.Second

// consumerDown is since when, and why, no consumer session runs.
type consumerDown struct {
	since time.Time
	err   error
}

// hook is a test's function the projector calls at one point of its
// work, when one is set.
type hook struct{ f atomic.Pointer[func()] }

// run calls the function, if one is set.
func (h *hook) run() {
	if f := h.f.Load(); f != nil {
		(*f)()
	}
}

// set sets the function; nil removes it.
func (h *hook) set(f func()) {
	if f == nil {
		h.f.Store(nil)
		return
	}
	h.f.Store(&f)
}

// errStopped wraps an error of a test hook: the projector stops as if the
// process had died there.
var errStopped = errors.New("projector: stopped by hook")

// stopping wraps a test hook so that its error stops the projector.
func stopping(hook func(uint64) error) func(uint64) error {
	if hook == nil {
		return nil
	}
	return func(seq uint64) error {
		if err := hook(seq); err != nil {
			return fmt.Errorf("%w: %w", errStopped, err)
		}
		return nil
	}
}

// preloadKeys reads every data key at once before a long read of the
// stream, which needs most families' keys, rather than a round trip to
// the key store at each family's first sealed event. Without them the
// reads fetch keys as usual.
func (p *Projector) preloadKeys(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := p.opts.Keys.Preload(ctx)
	if err != nil {
		p.log.Warn("projector: preloading the data keys", "err", err, "preloaded", n)
	} else if n > 0 {
		p.log.Info("projector: data keys preloaded", "keys", n)
	}
}

// orderedFrom is the ordered consumer that starts right after the
// checkpoint cp.
func orderedFrom(cp uint64) jetstream.OrderedConsumerConfig {
	if cp == 0 {
		return jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	}
	return jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: cp + 1}
}

// position returns the durable consumer, positioned right after the
// checkpoint cp.
func (p *Projector) position(ctx context.Context, stream jetstream.Stream, cp uint64) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       p.consumer,
		Description:   "Job og Familie projector: the read model of the coordinator API",
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if cp > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = cp + 1
	}
	cons, err := stream.Consumer(ctx, p.consumer)
	switch {
	case err == nil:
		info := cons.CachedInfo()
		if why := unfit(info, p.consumer, time.Now()); why != "" {
			// Not as this projector made it: whoever changed it could
			// make it deliver nothing while the projector looks ready.
			p.log.Warn("projector: the durable consumer was changed outside the projector; creating it again at the checkpoint",
				"consumer", p.consumer, "why", why, "checkpoint", cp)
		} else if info.Delivered.Stream == cp && info.AckFloor.Stream == cp {
			return cons, nil
		} else {
			p.log.Info("projector: positioning the consumer at the checkpoint", "checkpoint", cp,
				"delivered", info.Delivered.Stream, "acked", info.AckFloor.Stream)
		}
		if err := stream.DeleteConsumer(ctx, p.consumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, err
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, err
	}
	return stream.CreateConsumer(ctx, cfg)
}

// unfit says how the existing consumer info differs from what the
// projector needs of its durable consumer named name, or "" when it does
// not: durable, a pull consumer of the whole stream, acknowledging all up
// to a message, not paused at now. Its position is checked apart.
func unfit(info *jetstream.ConsumerInfo, name string, now time.Time) string {
	c := info.Config
	switch {
	case c.Durable != name:
		return fmt.Sprintf("durable name %q, want %q", c.Durable, name)
	case c.FilterSubject != "" || len(c.FilterSubjects) > 0:
		return fmt.Sprintf("filtered to %q %q, want the whole stream", c.FilterSubject, c.FilterSubjects)
	case c.DeliverSubject != "":
		return "a push consumer, want a pull consumer"
	case c.AckPolicy != jetstream.AckAllPolicy:
		return fmt.Sprintf("ack policy %s, want all", c.AckPolicy)
	case info.Paused || (c.PauseUntil != nil && c.PauseUntil.After(now)):
		return fmt.Sprintf("paused until %v", c.PauseUntil)
	}
	return ""
}

// errCaughtUp ends a catch-up session (see consume): the next session
// starts at once, with the durable consumer.
var errCaughtUp = errors.New("projector: caught up")

// consume runs one consumer session: fetching and decoding in one
// goroutine, applying in this one, so that decoding the next batch
// overlaps writing this one.
//
// A projector far behind (bulkThreshold or more) catches up as a rebuild
// reads, with an ordered consumer, and ends the session once caught up
// (errCaughtUp). The server keeps no acknowledgement state for an ordered
// consumer: delivering a backlog of 1M events to the durable one took the
// server a third more CPU, on the two cores the projector shares with it.
// Nothing else changes: the checkpoint in the read model is the position
// either way. Every later session uses the durable consumer and
// acknowledges each commit.
func (p *Projector) consume(ctx context.Context) error {
	stream, err := p.opts.JS.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	streamLast := stream.CachedInfo().State.LastSeq
	p.noteStreamLast(streamLast)
	p.noteCatchUp(ctx, streamLast)
	p.applyMu.Lock()
	m := p.model.Load()
	cp := m.Checkpoint()
	p.ahead.Store(streamLast < cp)
	if streamLast < cp {
		p.log.Error("projector: the read model is ahead of the stream; the stream was replaced, run projector rebuild",
			"checkpoint", cp, "stream", streamLast)
	}
	catchUp := streamLast >= cp+p.bulkThreshold
	if catchUp {
		// An empty model far behind: load it without the timeline indexes
		// and build them once caught up (SetBulk leaves any other model
		// as it is).
		if err := m.SetBulk(ctx, true); err != nil {
			p.applyMu.Unlock()
			return err
		}
		if m.Bulk() {
			p.log.Info("projector: bulk loading the read model", "backlog", streamLast-cp)
		}
	}
	p.loading.Store(m.Bulk())
	if !p.catchUp.UpToDate() {
		// Nothing reads the model until it is up to date: its erasures
		// are scrubbed once then (checkUpToDate), not one VACUUM each.
		_ = m.DeferScrub(ctx, true)
	}
	if m.Consistent() < cp {
		// The last session stopped between two flushes; the consumer
		// starts after the checkpoint, so flush before new messages.
		res, err := m.Apply(ctx, nil, readmodel.ApplyOptions{Flush: true})
		if err != nil {
			p.applyMu.Unlock()
			return fmt.Errorf("Flush: %w", err)
		}
		p.setApplied(res.Consistent)
	}
	p.applyMu.Unlock()
	p.checkUpToDate(ctx, false)
	if catchUp {
		p.preloadKeys(ctx)
	}
	var cons jetstream.Consumer
	if catchUp {
		cons, err = stream.OrderedConsumer(ctx, orderedFrom(cp))
	} else {
		cons, err = p.position(ctx, stream, cp)
	}
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	if !catchUp {
		if info := cons.CachedInfo(); info != nil && info.NumPending == 0 && info.NumAckPending == 0 {
			p.checkUpToDate(ctx, true)
			p.down.Store(nil)
		}
	}
	p.consumerReady.Store(true)
	// Prefetch several batches, so that the server's delivery overlaps
	// decoding and applying.
	it, err := cons.Messages(eventstore.Pull(8 * p.opts.BatchSize)...)
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.sessionMu.Lock()
	p.session = cancel
	p.sessionMu.Unlock()
	// Three stages, so that receiving, decoding and applying overlap:
	// while one batch is applied the next is decoded and the one after
	// that received.
	received := make(chan []readmodel.Message, 1)
	batches := make(chan []readmodel.Message, 1)
	errc := make(chan error, 1)
	// Applied batches come back to be received into again: while catching
	// up, a fresh slice per batch was a tenth of the bytes the projector
	// allocated, and so of its collections.
	spare := make(chan []readmodel.Message, 2)
	go func() {
		defer close(received)
		defer it.Stop()
		for {
			var buf []readmodel.Message
			select {
			case buf = <-spare:
			default:
			}
			b, err := readmodel.ReceiveBatch(sctx, it, p.opts.BatchSize, buf)
			if len(b) > 0 {
				select {
				case received <- b:
				case <-sctx.Done():
					return
				}
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() {
		defer close(batches)
		for b := range received {
			readmodel.DecodeAll(b, p.opts.Keys)
			select {
			case batches <- b:
			case <-sctx.Done():
				return
			}
		}
	}()
	first := true
	var fl readmodel.Flusher
	var evs []evaluation.Event // a batch's, for the evaluation's cache
	for b := range batches {
		start := time.Now()
		p.applyMu.Lock()
		m := p.model.Load()
		caughtUp := b[len(b)-1].Pending() == 0
		flush := fl.Due(m, caughtUp)
		before := m.Checkpoint()
		evs = evs[:0]
		res, err := m.Apply(ctx, b, readmodel.ApplyOptions{
			AllowGap:     first,
			Flush:        flush,
			BeforeCommit: stopping(p.hooks.beforeCommit),
			AfterCommit:  stopping(p.hooks.afterCommit),
			Wants:        p.subs.has,
			Evaluated:    func(e evaluation.Event) { evs = append(evs, e) },
		})
		p.eval.applied(m, before, res, err, evs)
		if res.Scrub != nil {
			p.log.Warn("projector: an erasure is applied, but readers kept its old text from being scrubbed from the read model's files; retrying",
				"position", res.Last, "err", res.Scrub)
		}
		p.noteScrub(m)
		if flush && err == nil {
			fl.Done(start)
		}
		if err == nil && m.Bulk() && caughtUp {
			var end readmodel.BatchResult
			if end, err = m.EndBulk(ctx); err == nil {
				res.Last, res.Consistent = end.Last, end.Consistent
				p.log.Info("projector: bulk load done, indexes built", "position", res.Last, "took", time.Since(start))
			}
		}
		if err == nil {
			if serr := m.BoundStates(ctx, caughtUp, p.opts.CacheFamilies, p.opts.CatchUpFamilies); serr != nil {
				p.log.Warn("projector: family states could not be spilled; they stay in memory", "err", readmodel.OperatorError(serr))
			}
		}
		p.metrics.cachedFamilies.Set(float64(m.States()))
		p.metrics.spilledFamilies.Set(float64(m.Spilled()))
		if res.Consistent > p.Position() {
			// Also when a hook stopped it after the commit.
			p.setApplied(res.Consistent)
		}
		p.loading.Store(m.Bulk())
		p.applyMu.Unlock()
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		p.down.Store(nil)
		p.checkUpToDate(ctx, caughtUp && !m.Bulk())
		first = false
		// AckAll: acknowledging the last message acknowledges the batch.
		if !catchUp {
			if err := b[len(b)-1].Ack(); err != nil {
				p.log.Warn("projector: ack failed; the batch will be skipped when redelivered", "err", err)
			}
		}
		p.metrics.observe(res, time.Since(start))
		p.subs.publish(res.Entries)
		clear(b) // what it refers to is garbage now
		if catchUp && caughtUp {
			return errCaughtUp
		}
		select {
		case spare <- b[:0]:
		default:
		}
	}
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

// reposition ends the running consumer session; the next one starts right
// after the current model's checkpoint.
func (p *Projector) reposition() {
	p.sessionMu.Lock()
	defer p.sessionMu.Unlock()
	if p.session != nil {
		p.session()
	}
}

// noteStreamLast records the stream's last sequence for the lag gauge.
func (p *Projector) noteStreamLast(last uint64) {
	p.streamLast.Store(last)
	if a := p.Position(); last >= a {
		p.metrics.lag.Set(float64(last - a))
	} else {
		p.metrics.lag.Set(0)
	}
}

// retryScrubs tries the live model's pending erasure scrub every
// readmodel.IdleScrubEvery, between batches, until it succeeds
// (readmodel.RetryScrubs), keeping jf_projector_erasure_scrub_pending up
// to date.
func (p *Projector) retryScrubs(ctx context.Context) {
	readmodel.RetryScrubs(ctx, readmodel.IdleScrubEvery, func() (*readmodel.Model, func()) {
		p.applyMu.Lock()
		return p.model.Load(), p.applyMu.Unlock
	}, func(m *readmodel.Model, finished bool) {
		if finished {
			p.log.Info("projector: the pending erasure scrub is done")
		}
		p.noteScrub(m)
	})
}

// noteScrub sets jf_projector_erasure_scrub_pending from m, the live
// model; the caller holds the apply lock.
func (p *Projector) noteScrub(m *readmodel.Model) {
	v := 0.0
	if m.ScrubPending() {
		v = 1
	}
	p.metrics.scrubPending.Set(v)
}

// watchLag updates jf_projector_lag every second from the stream's info.
func (p *Projector) watchLag(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := p.opts.JS.Stream(ictx, eventstore.FamilyStream)
		if err == nil {
			p.noteStreamLast(s.CachedInfo().State.LastSeq)
		}
		cancel()
	}
}
