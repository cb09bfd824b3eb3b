package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// Index is ingest's view of the event store: each family's state with the
// stream sequence of its last message, and every event id ever stored with a
// hash of its content. One ordered consumer over the whole stream feeds it,
// so the cost of a write does not grow with the size of the stream, and
// idempotency holds long after JetStream's dedupe window.
//
// Writes made through this process update the index as soon as JetStream
// acknowledges them; the consumer brings in everything else (other
// processes, direct NATS publishes) and skips what is already applied. That
// is sound because a write for family F succeeds only if F's last sequence
// was the one expected, so no message of F can lie between what the index
// had applied and the acknowledged one.
type Index struct {
	log *slog.Logger

	mu       sync.Mutex
	families map[string]*familyEntry
	ids      map[idKey]idEntry
	// applied is the highest stream sequence the consumer has seen.
	applied eventstore.Position

	ready     atomic.Bool
	decodeErr atomic.Uint64

	// Keys decrypt the events' personal fields (package shred), so that
	// a re-sent event's content hash is that of the stored one.
	Keys *shred.Keyring
}

type idKey [16]byte

type idEntry struct {
	seq  uint64
	hash [16]byte
}

type familyEntry struct {
	mu      sync.Mutex
	state   *family.State
	lastSeq uint64
}

// NewIndex makes an empty index.
func NewIndex(log *slog.Logger) *Index {
	if log == nil {
		log = slog.Default()
	}
	return &Index{log: log, families: map[string]*familyEntry{}, ids: map[idKey]idEntry{}}
}

func keyOf(id string) idKey {
	h := sha256.Sum256([]byte(id))
	var k idKey
	copy(k[:], h[:])
	return k
}

func hashOf(h [32]byte) [16]byte {
	var out [16]byte
	copy(out[:], h[:])
	return out
}

// family returns the entry for id, creating an empty one.
func (x *Index) family(id string) *familyEntry {
	x.mu.Lock()
	defer x.mu.Unlock()
	fe, ok := x.families[id]
	if !ok {
		fe = &familyEntry{state: family.New(id)}
		x.families[id] = fe
	}
	return fe
}

// Stored reports whether event id is stored: at which sequence, and
// whether with the content whose events.ContentHash is hash.
func (x *Index) Stored(id string, hash [32]byte) (seq uint64, sameContent, ok bool) {
	x.mu.Lock()
	e, ok := x.ids[keyOf(id)]
	x.mu.Unlock()
	return e.seq, e.hash == hashOf(hash), ok
}

func (x *Index) rememberID(id string, seq uint64, hash [32]byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := keyOf(id)
	if _, ok := x.ids[k]; !ok {
		x.ids[k] = idEntry{seq: seq, hash: hashOf(hash)}
	}
}

// Locked is a set of families held for one write: while it is held no
// other write through this index decides on them, and the consumer does
// not apply their messages.
type Locked struct {
	x       *Index
	entries map[string]*familyEntry
}

// Lock takes the families (in any order, repeats allowed) in a fixed
// order, so that concurrent writes cannot deadlock. Unlock releases them.
func (x *Index) Lock(familyIDs []string) *Locked {
	ids := slices.Clone(familyIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	l := &Locked{x: x, entries: make(map[string]*familyEntry, len(ids))}
	for _, f := range ids {
		fe := x.family(f)
		fe.mu.Lock()
		l.entries[f] = fe
	}
	return l
}

// State is the family's state as the index knows it. Writes change it only
// for what the stream acknowledged (Stored, Replace).
func (l *Locked) State(familyID string) *family.State { return l.entries[familyID].state }

// LastSequence is the stream sequence of the family's last event the index
// knows: a write expects it.
func (l *Locked) LastSequence(familyID string) uint64 { return l.entries[familyID].lastSeq }

// Stored records that event id of the family, with content hash, was
// acknowledged at seq.
func (l *Locked) Stored(familyID, id string, seq uint64, hash [32]byte) {
	l.entries[familyID].lastSeq = seq
	l.x.rememberID(id, seq, hash)
}

// Replace makes st the family's state, once the events it folded in are
// acknowledged.
func (l *Locked) Replace(familyID string, st *family.State) { l.entries[familyID].state = st }

// Unlock releases the families.
func (l *Locked) Unlock() {
	for _, fe := range l.entries {
		fe.mu.Unlock()
	}
}

// Applied is the highest stream sequence the consumer has processed.
func (x *Index) Applied() uint64 { return x.applied.Load() }

// Ready reports whether the initial catch-up is done.
func (x *Index) Ready() bool { return x.ready.Load() }

// Families is the number of families known.
func (x *Index) Families() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.families)
}

func (x *Index) advance(seq uint64) { x.applied.Advance(seq) }

// WaitApplied blocks until the consumer has processed sequence seq.
func (x *Index) WaitApplied(ctx context.Context, seq uint64) error { return x.applied.Wait(ctx, seq) }

// stored is one message of the stream, decoded.
type stored struct {
	seq      uint64
	familyID string
	env      events.Envelope
	err      error
	id       string
	hash     [32]byte
	// own marks a message written through this process, whose state and id
	// are recorded already; decoding it is skipped.
	own bool
}

// decodeStored decodes one message; it is safe to run for many messages at
// once, so catching up uses every core.
func (x *Index) decodeStored(subject string, data []byte, msgID string, seq uint64, recorded time.Time) stored {
	st := stored{seq: seq, familyID: subjectFamily(subject)}
	if st.familyID != "" && x.appliedFor(st.familyID, seq) {
		st.own = true
		return st
	}
	// The same rule as the projector's, so that ingest's view of a family
	// is the coordinators' view.
	env, err := x.Keys.Decode(context.Background(), subject, data, recorded)
	st.env, st.err = env, err
	switch {
	case err == nil:
		st.id, st.hash = env.ID(), events.ContentHash(env.Event)
	case msgID != "":
		// Keep the id taken, so it can never be reused for other content.
		st.id, st.hash = msgID, sha256.Sum256(data)
	}
	return st
}

// applyStored folds one decoded message in; messages must come in stream
// order. Messages that are not valid catalog events (possible by direct
// NATS publish) still move the family's last sequence, because they count
// for the optimistic concurrency check on families.<id>.>.
func (x *Index) applyStored(st stored) {
	defer x.advance(st.seq)
	if st.own {
		return
	}
	if st.err != nil {
		x.decodeErr.Add(1)
	}
	if st.id != "" {
		x.rememberID(st.id, st.seq, st.hash)
	}
	if st.familyID == "" {
		return
	}
	fe := x.family(st.familyID)
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if st.seq <= fe.lastSeq {
		return
	}
	if st.err == nil {
		fe.state.Apply(st.env)
	}
	fe.lastSeq = st.seq
}

// appliedFor reports whether the family's state already includes seq.
func (x *Index) appliedFor(familyID string, seq uint64) bool {
	x.mu.Lock()
	fe, ok := x.families[familyID]
	x.mu.Unlock()
	if !ok {
		return false
	}
	fe.mu.Lock()
	defer fe.mu.Unlock()
	return seq <= fe.lastSeq
}

func subjectFamily(subject string) string {
	tok := strings.SplitN(subject, ".", 3)
	if len(tok) < 3 || tok[0] != events.SubjectRoot {
		return ""
	}
	return tok[1]
}

// Run follows the whole stream from the first message until ctx ends. It
// marks the index ready once it has caught up with the last sequence the
// stream had when it started. The ordered consumer recreates itself after
// a NATS restart or leader change, resuming after the last sequence seen.
func (x *Index) Run(ctx context.Context, js jetstream.JetStream) error {
	var stream jetstream.Stream
	for {
		var err error
		stream, err = js.Stream(ctx, eventstore.FamilyStream)
		if err == nil {
			break
		}
		x.log.Warn("ingest index: waiting for stream", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	target := stream.CachedInfo().State.LastSeq
	if target == 0 {
		x.ready.Store(true)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{eventstore.FamilySubjects},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("ingest index: consumer: %w", err)
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return fmt.Errorf("ingest index: messages: %w", err)
	}
	go func() {
		<-ctx.Done()
		msgs.Stop()
	}()

	// Decoding runs on every core; folding stays in stream order.
	type job struct {
		msg      jetstream.Msg
		seq      uint64
		recorded time.Time
		st       stored
		done     chan struct{}
	}
	work := make(chan *job, 1024)
	ordered := make(chan *job, 4096)
	for range max(runtime.GOMAXPROCS(0), 1) {
		go func() {
			for j := range work {
				m := j.msg
				j.st = x.decodeStored(m.Subject(), m.Data(), m.Headers().Get(jetstream.MsgIDHeader), j.seq, j.recorded)
				close(j.done)
			}
		}()
	}
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		for j := range ordered {
			<-j.done
			x.applyStored(j.st)
			if !x.ready.Load() && j.st.seq >= target {
				x.ready.Store(true)
				x.log.Info("ingest index: caught up", "sequence", j.st.seq, "families", x.Families())
			}
		}
	}()
	defer func() {
		close(work)
		close(ordered)
		<-applied
	}()
	for {
		m, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			x.log.Warn("ingest index: next", "err", err)
			continue
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		j := &job{msg: m, seq: md.Sequence.Stream, recorded: md.Timestamp, done: make(chan struct{})}
		ordered <- j
		work <- j
	}
}
