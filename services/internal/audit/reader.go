package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// Query selects stored messages of FAMILY_EVENTS.
type Query struct {
	// FamilyID keeps one family's messages (those stored under
	// families.<FamilyID>.>); empty keeps every family.
	FamilyID string
	// Types keeps only these event types; empty keeps all.
	Types []events.Spec
	// From (inclusive) and To (exclusive) bound recordedAt, the JetStream
	// timestamp: the time the stream stored the message, which grows with
	// the sequence. Zero is unbounded.
	From, To time.Time
	// After keeps only sequences after it (resume from a sequence).
	After uint64
	// Until is the last sequence read; 0 is the stream's last sequence
	// when the read starts, so that a replay is a snapshot and ends.
	Until uint64
	// Upcast presents each event as the latest version of its type
	// (AppendUpcastLine) instead of as stored; it changes the lines, not
	// what is read.
	Upcast bool
}

// ErrBehind: the read model has not applied the stream up to the end of
// the read within the wait.
var ErrBehind = errors.New("audit: the read model is behind the stream")

// IndexWait is how long a family read waits for the read model to apply
// the stream up to the read's end.
const IndexWait = 5 * time.Second

// Reader reads stored messages of the event store.
type Reader struct {
	NC *nats.Conn
	JS jetstream.JetStream
	// View is the projector's read model. A family's messages are found
	// in its family → sequences index and fetched by sequence; without
	// one (the CLI against NATS alone), by a consumer filtered on the
	// family's subjects, which is slower: the server scans the stream.
	View *readmodel.View
	// Access is the access log's index (accesslog.Index); nil reads a
	// family's access log by a consumer filtered on its subjects.
	Access *accesslog.Index
	// Workers is how many direct gets are in flight for a family read.
	Workers int
	// Keys decrypt the events' personal fields (package shred): a replay
	// shows them as coordinators see them, and an erased family's as the
	// tombstone with jferased naming the fields.
	Keys *shred.Keyring
}

// LastSequence is the stream's last sequence now.
func (r *Reader) LastSequence(ctx context.Context, stream string) (uint64, error) {
	s, err := r.JS.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("audit: stream %s: %w", stream, err)
	}
	return s.CachedInfo().State.LastSeq, nil
}

// Resolve fills in q.Until when it is 0.
func (r *Reader) Resolve(ctx context.Context, q Query) (Query, error) {
	if q.Until == 0 {
		last, err := r.LastSequence(ctx, eventstore.FamilyStream)
		if err != nil {
			return q, err
		}
		q.Until = last
	}
	return q, nil
}

// Replay calls emit with every stored message q selects, in stream order.
// Memory stays flat: the whole stream is read with one ordered consumer,
// whose prefetch is bounded, and a family page by page.
func (r *Reader) Replay(ctx context.Context, q Query, emit func(Stored) error) error {
	q, err := r.Resolve(ctx, q)
	if err != nil {
		return err
	}
	if q.Until == 0 || q.After >= q.Until {
		return nil
	}
	emit = r.decrypting(ctx, emit)
	return pipelined(ctx, func(ctx context.Context, emit func(Stored) error) error {
		switch {
		case q.FamilyID == "":
			return r.replayStream(ctx, q, emit)
		case r.View != nil:
			return r.replayIndexed(ctx, q, emit)
		default:
			return r.replayFiltered(ctx, q, emit)
		}
	}, emit)
}

// decrypting passes emit each message with its personal fields
// decrypted. A message that does not decrypt (a key the bucket never
// held, or no keys: a reader without a master key) is passed on as
// stored, with the reason: its jfkeyid makes its line an unreadable one,
// as the projector quarantines it, so that ciphertext never passes for
// the text.
func (r *Reader) decrypting(ctx context.Context, emit func(Stored) error) func(Stored) error {
	return func(s Stored) error {
		open(ctx, r.Keys, &s)
		return emit(s)
	}
}

// open decrypts s's personal fields with keys (which may be nil), or
// records why they do not open.
func open(ctx context.Context, keys *shred.Keyring, s *Stored) {
	plain, erased, err := keys.Plain(ctx, s.Subject, s.Data)
	if err != nil {
		s.Unreadable = err.Error()
		return
	}
	s.Data, s.Erased = plain, erased
}

// pipelineBatch is how many messages the reader hands to the writer at a
// time.
const pipelineBatch = 256

// pipelined runs produce in a goroutine of its own and calls emit with
// what it produces, in order, in this one: reading the stream (the NATS
// client's work) and writing lines (validating and copying the JSON) then
// overlap, on separate cores when there are any. Batches keep the hand-over
// cheap; a few in flight bound the memory.
func pipelined(ctx context.Context, produce func(context.Context, func(Stored) error) error, emit func(Stored) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []Stored, 4)
	produced := make(chan error, 1)
	go func() {
		defer close(batches)
		b := make([]Stored, 0, pipelineBatch)
		send := func() error {
			select {
			case batches <- b:
				b = make([]Stored, 0, pipelineBatch)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := produce(ctx, func(s Stored) error {
			b = append(b, s)
			if len(b) == pipelineBatch {
				return send()
			}
			return nil
		})
		if err == nil && len(b) > 0 {
			err = send()
		}
		produced <- err
	}()
	var emitErr error
	for b := range batches {
		for _, s := range b {
			if emitErr != nil {
				break
			}
			if emitErr = emit(s); emitErr != nil {
				cancel() // stop the reader; drain what it sent
			}
		}
	}
	if err := <-produced; emitErr == nil && err != nil {
		return err
	}
	return emitErr
}

// typeFilter matches a subject families.<id>.<dept>.<name> by its name.
func typeFilter(types []events.Spec) func(subject string) bool {
	if len(types) == 0 {
		return func(string) bool { return true }
	}
	names := make([]string, len(types))
	for i, s := range types {
		names[i] = s.Name
	}
	return func(subject string) bool {
		tok := strings.SplitN(subject, ".", 4)
		return len(tok) == 4 && slices.Contains(names, tok[3])
	}
}

func (q Query) timeOK(t time.Time) bool {
	return (q.From.IsZero() || !t.Before(q.From)) && (q.To.IsZero() || t.Before(q.To))
}

// replayStream reads the whole stream with one ordered consumer: the raw
// fetch path, which is what the bench compares it with. It starts at
// After+1, or at From by JetStream's own time lookup, and stops at Until or
// at the first message recorded at or after To.
func (r *Reader) replayStream(ctx context.Context, q Query, emit func(Stored) error) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: q.After + 1}
	if !q.From.IsZero() && q.After == 0 {
		from := q.From
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &from}
	}
	keep := typeFilter(q.Types)
	return scan(ctx, r.JS, eventstore.FamilyStream, cfg, q.Until, func(s Stored) (bool, error) {
		if !q.To.IsZero() && !s.RecordedAt.Before(q.To) {
			return false, nil
		}
		if s.Sequence <= q.After || !q.timeOK(s.RecordedAt) || !keep(s.Subject) {
			return true, nil
		}
		return true, emit(s)
	})
}

// replayFiltered reads one family with a consumer filtered on its
// subjects, for the CLI without a read model.
func (r *Reader) replayFiltered(ctx context.Context, q Query, emit func(Stored) error) error {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.FamilyFilter(q.FamilyID)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy, OptStartSeq: q.After + 1,
	}
	keep := typeFilter(q.Types)
	return scan(ctx, r.JS, eventstore.FamilyStream, cfg, q.Until, func(s Stored) (bool, error) {
		if !q.timeOK(s.RecordedAt) || !keep(s.Subject) {
			return true, nil
		}
		return true, emit(s)
	})
}

// replayIndexed reads one family's sequences from the read model's index,
// a page at a time, and fetches the messages by sequence with direct gets.
func (r *Reader) replayIndexed(ctx context.Context, q Query, emit func(Stored) error) error {
	wctx, cancel := context.WithTimeout(ctx, IndexWait)
	err := r.View.WaitFor(wctx, q.Until)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: at %d, the read needs %d", ErrBehind, r.View.Position(), q.Until)
	}
	after := q.After
	for {
		refs, err := r.View.FamilyRefs(ctx, readmodel.RefQuery{
			FamilyID: q.FamilyID, After: after, Until: q.Until, Types: q.Types, From: q.From, To: q.To, Limit: 1000,
		})
		if err != nil {
			return err
		}
		if len(refs) == 0 {
			return nil
		}
		seqs := make([]uint64, len(refs))
		for i, ref := range refs {
			seqs[i] = ref.Sequence
		}
		if err := r.Fetch(ctx, eventstore.FamilyStream, seqs, emit); err != nil {
			return err
		}
		after = refs[len(refs)-1].Sequence
	}
}

// Fetch gets the messages at seqs from stream, several in flight at a
// time, and calls emit with them in the order of seqs.
func (r *Reader) Fetch(ctx context.Context, stream string, seqs []uint64, emit func(Stored) error) error {
	s, err := r.JS.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("audit: stream %s: %w", stream, err)
	}
	workers := r.Workers
	if workers <= 0 {
		workers = 16
	}
	out := make([]Stored, len(seqs))
	errs := make([]error, len(seqs))
	var (
		wg   sync.WaitGroup
		next = make(chan int)
	)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(workers, len(seqs)) {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = r.get(fctx, s, stream, seqs[i])
				if errs[i] != nil {
					cancel()
				}
			}
		})
	}
feed:
	for i := range seqs {
		select {
		case next <- i:
		case <-fctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	// The first failure cancelled the others: report it, not theirs.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return first
	}
	for i := range seqs {
		if out[i].Data == nil {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("audit: get %s %d: no answer", stream, seqs[i])
		}
		if err := emit(out[i]); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// get reads one message by sequence: a direct get, which any replica
// answers; a replica that has not yet stored it answers "not found", and
// then the stream leader is asked.
func (r *Reader) get(ctx context.Context, s jetstream.Stream, stream string, seq uint64) (Stored, error) {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := s.GetMsg(gctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return r.leaderGet(gctx, stream, seq)
	}
	if err != nil {
		return Stored{}, fmt.Errorf("audit: get %s %d: %w", stream, seq, err)
	}
	return Stored{Sequence: m.Sequence, Subject: m.Subject, RecordedAt: m.Time, Data: nonNil(m.Data)}, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// leaderGet is STREAM.MSG.GET, answered by the stream leader.
func (r *Reader) leaderGet(ctx context.Context, stream string, seq uint64) (Stored, error) {
	req := []byte(`{"seq":` + strconv.FormatUint(seq, 10) + `}`)
	msg, err := r.NC.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return Stored{}, fmt.Errorf("audit: get %s %d: %w", stream, seq, err)
	}
	var resp struct {
		Message *struct {
			Subject  string    `json:"subject"`
			Sequence uint64    `json:"seq"`
			Data     []byte    `json:"data"`
			Time     time.Time `json:"time"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return Stored{}, fmt.Errorf("audit: get %s %d: %w", stream, seq, err)
	}
	if resp.Error != nil || resp.Message == nil {
		detail := "no message"
		if resp.Error != nil {
			detail = resp.Error.Description
		}
		return Stored{}, fmt.Errorf("audit: get %s %d: %s", stream, seq, detail)
	}
	m := resp.Message
	return Stored{Sequence: m.Sequence, Subject: m.Subject, RecordedAt: m.Time, Data: nonNil(m.Data)}, nil
}

// scan reads stream with an ordered consumer configured by cfg up to
// sequence until (0: to the end as the consumer sees it when created),
// calling fn with each message until it returns false. The consumer is
// ephemeral: nothing remains on the server however the read ends.
func scan(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.OrderedConsumerConfig, until uint64, fn func(Stored) (bool, error)) error {
	if cfg.DeliverPolicy == jetstream.DeliverByStartSequencePolicy && until > 0 && cfg.OptStartSeq > until {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("audit: consumer on %s: %w", stream, err)
	}
	it, err := cons.Messages(eventstore.Pull(8000)...)
	if err != nil {
		return fmt.Errorf("audit: consumer on %s: %w", stream, err)
	}
	defer it.Stop()
	// An empty selection delivers nothing; the pending count at creation
	// says so, rather than a wait that never ends.
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return nil
	}
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("audit: read %s: %w", stream, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("audit: read %s: %w", stream, err)
		}
		seq := md.Sequence.Stream
		if until > 0 && seq > until {
			return nil
		}
		more, err := fn(Stored{Sequence: seq, Subject: msg.Subject(), RecordedAt: md.Timestamp, Data: msg.Data()})
		if err != nil || !more {
			return err
		}
		if md.NumPending == 0 || (until > 0 && seq >= until) {
			return nil
		}
	}
}
