package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// Item is one validated event to store.
type Item struct {
	Env events.Envelope
	// Data is the structured CloudEvent JSON as it will be stored.
	Data []byte
	// Hash is events.ContentHash of the event.
	Hash [32]byte
}

// Result is what happened to one event.
type Result struct {
	ID        string `json:"id"`
	Sequence  uint64 `json:"sequence"`
	Duplicate bool   `json:"duplicate"`
}

// Refusal is a 409: an event breaks an invariant, or reuses a stored id for
// other content. Index is its position in the request.
type Refusal struct {
	Index   int
	Rule    string
	Detail  string
	Pointer string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("event %d refused (%s): %s", r.Index, r.Rule, r.Detail)
}

// ErrBusy: the family kept changing under concurrent writers; the client
// may retry.
var ErrBusy = errors.New("ingest: family changed concurrently too often")

// Writer stores events with per-family optimistic concurrency.
type Writer struct {
	Index     *Index
	Publisher *eventstore.Publisher
	// MaxAttempts bounds retries after concurrency conflicts.
	MaxAttempts int
	// MaxBatchesInFlight bounds the combined atomic batches being stored at
	// once (see batcher); 0 means 1: the server commits atomic batches one
	// at a time anyway, and requests that wait meanwhile form the next,
	// larger group. With 16 clients two in flight measured 1–8 % slower,
	// four 9–21 % (docs/PERFORMANCE.md): the groups only get smaller.
	MaxBatchesInFlight int

	// Keys encrypt the events' personal fields before they are published
	// (package shred); nil stores them as they are.
	Keys *shred.Keyring

	// Log defaults to slog.Default.
	Log *slog.Logger

	batchOnce sync.Once
	batches   *batcher
}

func (w *Writer) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.Default()
}

// BatchStats reports how many batch requests were stored and in how many
// JetStream atomic batches.
func (w *Writer) BatchStats() (requests, batches uint64) {
	b := w.batcher()
	return b.jobs.Load(), b.sent.Load()
}

func (w *Writer) batcher() *batcher {
	w.batchOnce.Do(func() {
		w.batches = &batcher{pub: w.Publisher, maxActive: cmp.Or(w.MaxBatchesInFlight, 1)}
	})
	return w.batches
}

// Write stores items all-or-nothing. Events already stored with the same
// content are reported as duplicates with their original sequence; the rest
// are checked against their families' state and appended in one atomic
// batch (or one plain publish for a single event).
func (w *Writer) Write(ctx context.Context, items []Item) ([]Result, error) {
	attempts := cmp.Or(w.MaxAttempts, 20)
	for range attempts {
		res, retryAt, err := w.try(ctx, items)
		if retryAt == 0 {
			return res, err
		}
		// Someone else wrote first; let the index catch up with the stream
		// and decide again on fresh state.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = w.Index.WaitApplied(wctx, retryAt)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w: index did not catch up to %d: %w", eventstore.ErrUnavailable, retryAt, err)
		}
	}
	return nil, ErrBusy
}

// sameAsErased reports whether it, whose id is stored with other content,
// is the stored event as far as anyone can know after its family's
// erasure. An index that learned the id from the stream once the family's
// data key was destroyed (a rebuild, or a restart's tail) read its personal
// fields as the tombstone, and holds the hash of that: so the event, its
// personal fields put as the tombstone, is compared again, only for an
// erased family.
func (w *Writer) sameAsErased(ctx context.Context, it Item) (bool, error) {
	data, ok := shred.EraseData(it.Env.Spec, it.Env.Event.Data())
	if !ok || w.Keys == nil {
		return false, nil
	}
	erased, err := w.Keys.Erased(ctx, it.Env.FamilyID)
	if err != nil || !erased {
		return false, err
	}
	ev := it.Env.Event.Clone()
	ev.DataEncoded = data
	have, err := w.Index.StoredAll([]string{it.Env.ID()}, [][32]byte{events.ContentHash(ev)})
	if err != nil {
		return false, err
	}
	return have[0].SameContent, nil
}

// unstored looks up the ids of items: it answers those stored with the
// same content as duplicates in results, refuses one stored with other
// content (id-reused), and returns the indices of those not stored yet.
func (w *Writer) unstored(ctx context.Context, items []Item, results []Result) ([]int, error) {
	all := make([]int, len(items))
	for i := range all {
		all[i] = i
	}
	have, err := w.lookUp(items, all)
	if err != nil {
		return nil, err
	}
	var pending []int
	for i, h := range have {
		if !h.Stored {
			pending = append(pending, i)
			continue
		}
		if !h.SameContent {
			same, err := w.sameAsErased(ctx, items[i])
			if err != nil {
				return nil, fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
			}
			if !same {
				return nil, &Refusal{Index: i, Rule: "id-reused", Pointer: "/id",
					Detail: fmt.Sprintf("event id %q is already stored (sequence %d) with other content", items[i].Env.ID(), h.Sequence)}
			}
		}
		results[i].Sequence, results[i].Duplicate = h.Sequence, true
	}
	return pending, nil
}

// lookUp asks the index about the ids of items[which], in that order.
func (w *Writer) lookUp(items []Item, which []int) ([]IDState, error) {
	ids := make([]string, len(which))
	hashes := make([][32]byte, len(which))
	for k, i := range which {
		ids[k], hashes[k] = items[i].Env.ID(), items[i].Hash
	}
	have, err := w.Index.StoredAll(ids, hashes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	return have, nil
}

// storedSince looks up the ids of items[which] again and returns the
// highest sequence of those now stored, 0 when none is.
func (w *Writer) storedSince(items []Item, which []int) (uint64, error) {
	have, err := w.lookUp(items, which)
	if err != nil {
		return 0, err
	}
	var seq uint64
	for _, h := range have {
		if h.Stored {
			seq = max(seq, h.Sequence)
		}
	}
	return seq, nil
}

// try makes one attempt. A non-zero retryAt asks the caller to wait until
// the index has applied that sequence and try again.
func (w *Writer) try(ctx context.Context, items []Item) (_ []Result, retryAt uint64, _ error) {
	// What the index had applied when this attempt began: a conflict is
	// worth another attempt if the stream holds more than that.
	known := w.Index.Applied()
	results := make([]Result, len(items))
	for i, it := range items {
		results[i].ID = it.Env.ID()
	}
	pending, err := w.unstored(ctx, items, results)
	if err != nil {
		return nil, 0, err
	}
	if len(pending) == 0 {
		return results, 0, nil
	}

	var famIDs []string
	for _, i := range pending {
		famIDs = append(famIDs, items[i].Env.FamilyID)
	}
	fams, err := w.Index.Lock(famIDs)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	single := len(pending) == 1
	states := map[string]*family.State{}
	for _, i := range pending {
		env := items[i].Env
		st, ok := states[env.FamilyID]
		if !ok {
			st = fams.State(env.FamilyID)
			if !single {
				st = st.Clone()
			}
			states[env.FamilyID] = st
		}
		if err := st.Check(env); err != nil {
			cached := fams.LastSequence(env.FamilyID)
			fams.Unlock()
			var ie *family.InvariantError
			if !errors.As(err, &ie) {
				// A validated envelope the fold cannot read is our bug, not
				// the client's conflict.
				return nil, 0, fmt.Errorf("ingest: checking event %d: %w", i, err)
			}
			// An id may have been stored since it was looked up, by a
			// write that held the family meanwhile: a client's re-send
			// while its first request was still in flight. Its event is
			// then in the family's state, and the check refused it as a
			// conflict with itself. Every event folded into a state has
			// its id in the index by the time the family is released
			// (Unlock commits the ids first, and the consumer records an
			// id under the family's lock), so a second look finds it; the
			// next attempt answers it as a duplicate. Only a refusal pays
			// for this look.
			if seq, err := w.storedSince(items, pending); err != nil || seq > 0 {
				return nil, seq, err
			}
			// Refuse only on a current view: another process (another
			// department's service) may have written the family since the
			// index last heard of it.
			last, lerr := w.Publisher.LastSequence(ctx, events.FamilyFilter(env.FamilyID))
			if lerr != nil {
				return nil, 0, lerr
			}
			if last > cached {
				return nil, last, nil
			}
			return nil, 0, &Refusal{Index: i, Rule: ie.Rule, Detail: ie.Detail, Pointer: ie.Pointer}
		}
		if !single {
			st.Apply(env)
		}
	}

	msgs := make([]eventstore.Message, len(pending))
	expected := map[string]bool{}
	for k, i := range pending {
		env := items[i].Env
		data, err := w.Keys.Seal(ctx, env, items[i].Data)
		if err != nil {
			fams.Unlock()
			if errors.Is(err, shred.ErrErased) {
				return nil, 0, &Refusal{Index: i, Rule: family.RuleFamilyErased, Pointer: "/subject",
					Detail: fmt.Sprintf("family %s is erased: nothing more is recorded about it", env.FamilyID)}
			}
			return nil, 0, fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
		}
		m := eventstore.Message{Subject: env.Subject(), Data: data, MsgID: env.ID()}
		if !expected[env.FamilyID] {
			expected[env.FamilyID] = true
			m.Expect, m.ExpectFilter, m.ExpectSeq = true, events.FamilyFilter(env.FamilyID), fams.LastSequence(env.FamilyID)
		}
		msgs[k] = m
	}

	var last uint64
	if single {
		ack, err := w.Publisher.Publish(ctx, msgs[0])
		if err == nil && ack.Duplicate {
			// Stored before, by a write the index has not seen yet.
			fams.Unlock()
			return nil, ack.Sequence, nil
		}
		if err != nil {
			fams.Unlock()
			return w.afterFailure(ctx, err, known)
		}
		last = ack.Sequence
	} else {
		seq, err := w.batcher().publish(msgs)
		if err != nil {
			fams.Unlock()
			return w.afterFailure(ctx, err, known)
		}
		last = seq
	}

	first := last - uint64(len(pending)) + 1
	for k, i := range pending {
		seq := first + uint64(k)
		env := items[i].Env
		if single {
			fams.State(env.FamilyID).Apply(env)
		}
		fams.Stored(env.FamilyID, env.ID(), seq, items[i].Hash)
		results[i].Sequence = seq
	}
	if !single {
		for f, st := range states {
			fams.Replace(f, st)
		}
	}
	fams.Unlock()
	return results, 0, nil
}

// afterFailure decides whether a failed publish is worth another attempt:
// a concurrency conflict or a duplicate id in a batch means the stream holds
// messages the index has not applied yet.
func (w *Writer) afterFailure(ctx context.Context, err error, known uint64) ([]Result, uint64, error) {
	if !errors.Is(err, eventstore.ErrConflict) && !errors.Is(err, eventstore.ErrDuplicateInBatch) {
		return nil, 0, err
	}
	last, serr := w.streamLastSeq(ctx)
	if serr != nil {
		return nil, 0, fmt.Errorf("%w: %w", eventstore.ErrUnavailable, serr)
	}
	if last <= known {
		// The index knew the whole stream and the write still conflicted:
		// waiting cannot resolve it.
		w.log().Warn("ingest: conflict the index cannot explain", "err", err, "streamLast", last, "applied", known)
		return nil, 0, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return nil, last, nil
}

func (w *Writer) streamLastSeq(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := w.Publisher.JS.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}
