package readmodel

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// AsOfView is a family as the read model shows it to someone who knew
// only what had been recorded up to a moment.
type AsOfView struct {
	FamilyID string    `json:"familyId"`
	AsOf     time.Time `json:"asOf"`
	// Position is the stream sequence the read model had applied when
	// the view was read: a view of a moment after it may still change.
	Position uint64 `json:"position"`
	// Overview is the family fold over the events recorded up to AsOf,
	// in stream order, as the projector folds them.
	Overview family.Overview `json:"overview"`
	// Entries are those events, sorted by when they happened (time, then
	// sequence), as the coordinators' timeline sorts them.
	Entries []Entry `json:"entries"`
	// encoded are the entries as AppendJSON writes them, when AsOf
	// encoded them while it read them.
	encoded [][]byte
}

// foldBatch is how many rows foldRows decodes in one piece of work.
const foldBatch = 256

// asOfBatch is foldBatch rows of an as-of view in stream order, as one
// worker decoded and encoded them.
type asOfBatch struct {
	entries  []Entry
	payloads []events.Payload
	// json holds the entries encoded as AppendJSON writes them, one after
	// the other; ends[i] is where entry i's encoding ends.
	json []byte
	ends []int
	err  error
}

// foldRows reads a family's timeline rows in stream order and folds them,
// as the projector folds a family again after a restart (Model.fold).
// The rows come in parts, each in stream order and the parts one after
// the other in the stream. Reading the rows (SQLite) is the cost of an
// as-of view of a long history: the parts are read at once, and
// everything else is done beside them, in batches of foldBatch rows:
// decoding the payloads for the fold and encoding each entry as the
// response will show it. What is left after the last row is applying the
// payloads in stream order and the sort.
//
// The entries are returned sorted by when they happened (time, then
// sequence), with their encodings (AsOfView.encoded) in the same order.
func foldRows(ctx context.Context, familyID string, parts ...*sql.Rows) ([]Entry, [][]byte, *family.State, error) {
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	work := func(entries []Entry) chan *asOfBatch {
		out := make(chan *asOfBatch, 1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			b := &asOfBatch{entries: entries, payloads: make([]events.Payload, len(entries)), ends: make([]int, len(entries))}
			n := 0
			for i := range entries {
				n += entryJSONSize(&entries[i])
			}
			b.json = make([]byte, 0, n)
			for i := range entries {
				e := &entries[i]
				payload, err := storedPayload(e.Type, e.Data)
				if err != nil {
					b.err = fmt.Errorf("readmodel: row %d: %w", e.Sequence, err)
					break
				}
				b.payloads[i] = payload
				b.json = appendEntry(b.json, e)
				b.ends[i] = len(b.json)
			}
			out <- b
		}()
		return out
	}
	// Each part is scanned on a goroutine of its own, the first on this
	// one; the batches are then taken in part order.
	partFutures := make([][]chan *asOfBatch, len(parts))
	errs := make([]error, len(parts))
	scan := func(p int) {
		_, errs[p] = scanEntries(parts[p], func(entries []Entry) {
			partFutures[p] = append(partFutures[p], work(entries))
		}, 0)
	}
	var wg sync.WaitGroup
	for p := 1; p < len(parts); p++ {
		wg.Go(func() { scan(p) })
	}
	scan(0)
	wg.Wait()
	err := errors.Join(errs...)
	var batches []*asOfBatch
	for _, futures := range partFutures {
		for _, f := range futures {
			b := <-f // every worker started is waited for
			batches = append(batches, b)
			if err == nil {
				err = b.err
			}
		}
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}

	// The envelopes are what storedEnvelope rebuilds, but for the source
	// (the actor as a URI) and the encoded data, which the fold does not
	// read. One event context serves them all, set anew for each row:
	// Apply keeps values of an envelope (its time, its payload's fields),
	// never the envelope, and a context of its own for each of ten
	// thousand rows was a tenth of what a view allocated.
	var (
		stamp types.Timestamp
		subj  = familyID
		ec    = &event.EventContextV1{Subject: &subj, Time: &stamp}
		env   = events.Envelope{Event: cloudevents.Event{Context: ec}, FamilyID: familyID}
	)
	type key struct {
		t    int64
		seq  uint64
		b, i int32
	}
	n := 0
	for _, b := range batches {
		n += len(b.entries)
	}
	keys := make([]key, 0, n)
	st := family.New(familyID)
	for bi, b := range batches {
		for i := range b.entries {
			e := &b.entries[i]
			env.Spec, _ = events.ByType(e.Type) // storedPayload found it
			env.Department = events.Department(e.Department)
			env.Data = b.payloads[i]
			ec.ID, ec.Type, stamp.Time = e.ID, e.Type, e.Time
			st.Apply(env)
			keys = append(keys, key{t: e.Time.UnixNano(), seq: e.Sequence, b: int32(bi), i: int32(i)})
		}
	}
	// Times are stored as Unix nanoseconds, so comparing them is comparing
	// the times.
	slices.SortFunc(keys, func(a, b key) int {
		if a.t != b.t {
			return cmp.Compare(a.t, b.t)
		}
		return cmp.Compare(a.seq, b.seq)
	})
	entries := make([]Entry, len(keys))
	encoded := make([][]byte, len(keys))
	for j, k := range keys {
		b := batches[k.b]
		entries[j] = b.entries[k.i]
		from := 0
		if k.i > 0 {
			from = b.ends[k.i-1]
		}
		encoded[j] = b.json[from:b.ends[k.i]:b.ends[k.i]]
	}
	return entries, encoded, st, nil
}

// storedPayload decodes a stored row's data as storedEnvelope does: the
// row was validated when it was stored, so without the schema check, and
// a row it cannot read fails the view as it fails the fold of Model.Apply.
func storedPayload(typ string, data []byte) (events.Payload, error) {
	spec, ok := events.ByType(typ)
	if !ok {
		return nil, fmt.Errorf("type %q is not in the catalog", typ)
	}
	return spec.DecodeData(data)
}

// ErrUnknownFamily: the read model holds no event of the family.
var ErrUnknownFamily = errors.New("readmodel: no events of the family have been projected")

// asOfSplit is the size of a family (its events in the families table)
// from which AsOf reads its rows in two halves on two connections at
// once, when it runs on more than one core. Reading a row is a seek in
// the timeline per row, and the seeks of one query run on one core.
const asOfSplit = 4 * foldBatch

// asOfHelpers bounds the views that read with a second connection at
// once. Such a view holds its first connection while it takes the second,
// so at most this many wait for one; with fewer of them than the pool's
// connections, the pool cannot be taken entirely by readers that wait
// for another. Without a free one, a view reads with one connection.
var asOfHelpers = make(chan struct{}, 2)

// asOfRows is the query of a span of a family's rows known at a moment.
const asOfRows = `SELECT sequence, event_id, time_ns, recorded_ns, department, type, title, data, actor, stored_type
	FROM timeline WHERE family_id = ? AND recorded_ns <= ? AND sequence BETWEEN ? AND ? ORDER BY sequence`

// AsOf reads the family's timeline and overview as they were known at t:
// only events whose JetStream timestamp (recordedAt) is at or before t.
// A backfilled event (its time before events recorded earlier) is left out
// of a view before it was recorded and sorted by its time in a view after.
// The overview is folded again from the stored rows in stream order, the
// order in which the projector folded them, never from a stored overview,
// which only knows the present.
func (v *View) AsOf(ctx context.Context, familyID string, t time.Time) (AsOfView, error) {
	m, release, err := v.src.Acquire()
	if err != nil {
		return AsOfView{}, err
	}
	defer release()
	out := AsOfView{FamilyID: familyID, AsOf: t.UTC(), Position: v.src.Position(), Entries: []Entry{}}
	// The family's rows are those up to its last sequence when the read
	// transaction began, so that rows applied meanwhile do not make the
	// existence check and the rows disagree. Rows are only ever appended,
	// so the span lo..hi holds the same rows in any later transaction:
	// a second connection reads its upper half in one of its own.
	tx, err := m.rdb.BeginTx(ctx, nil)
	if err != nil {
		return AsOfView{}, err
	}
	defer func() { _ = tx.Rollback() }()
	var lo, hi, size sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT (SELECT min(sequence) FROM timeline WHERE family_id = ?1),
		(SELECT max(sequence) FROM timeline WHERE family_id = ?1), (SELECT events FROM families WHERE family_id = ?1)`,
		familyID).Scan(&lo, &hi, &size)
	if err != nil {
		return AsOfView{}, err
	}
	if !lo.Valid {
		return AsOfView{}, ErrUnknownFamily
	}
	var parts []*sql.Rows
	first := hi.Int64
	if size.Int64 >= asOfSplit && runtime.GOMAXPROCS(0) > 1 {
		select {
		case asOfHelpers <- struct{}{}:
			defer func() { <-asOfHelpers }()
			tx2, err := m.rdb.BeginTx(ctx, nil)
			if err != nil {
				return AsOfView{}, err
			}
			defer func() { _ = tx2.Rollback() }()
			first = lo.Int64 + (hi.Int64-lo.Int64)/2
			upper, err := tx2.QueryContext(ctx, asOfRows, familyID, t.UnixNano(), first+1, hi.Int64)
			if err != nil {
				return AsOfView{}, err
			}
			parts = append(parts, upper)
		default:
		}
	}
	lower, err := tx.QueryContext(ctx, asOfRows, familyID, t.UnixNano(), lo.Int64, first)
	if err != nil {
		for _, r := range parts {
			r.Close()
		}
		return AsOfView{}, err
	}
	parts = append([]*sql.Rows{lower}, parts...)
	entries, encoded, st, err := foldRows(ctx, familyID, parts...)
	if err != nil {
		return AsOfView{}, err
	}
	out.Overview = st.Overview()
	// A view of an erased family as of a moment before its erasure
	// reads the tombstones too (the rows were rewritten): its overview
	// says so as the entries do.
	for i := range entries {
		if entries[i].Erased {
			out.Overview.Erased = true
			break
		}
	}
	out.Entries = entries
	out.encoded = encoded
	return out, nil
}

// AppendJSON appends the view as a JSON object with the fields
// json.Marshal gives it (see Encode).
func (v AsOfView) AppendJSON(dst []byte) ([]byte, error) {
	enc, err := v.Encode()
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, enc.Len())
	dst = append(dst, enc.head...)
	for i, e := range enc.entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, e...)
	}
	return append(dst, enc.tail...), nil
}

// EncodedView is the JSON encoding of an as-of view in pieces: the
// members before the entries, each entry, and the end.
type EncodedView struct {
	head    []byte
	entries [][]byte
	tail    string
}

// Encode encodes the view as a JSON object with the fields json.Marshal
// gives it. The entries are written by hand: encoding ten thousand of
// them by reflection (which also compacts every data object again) cost
// more than reading and folding them. Their data is written as stored; it
// was compacted and validated when it was projected. A view from AsOf has
// its entries encoded already, while they were read, and they are not
// copied again: WriteTo writes them where they are.
func (v AsOfView) Encode() (EncodedView, error) {
	ov, err := json.Marshal(v.Overview)
	if err != nil {
		return EncodedView{}, err
	}
	head := make([]byte, 0, len(ov)+len(v.FamilyID)+128)
	head = append(head, `{"familyId":`...)
	head = appendString(head, v.FamilyID)
	head = append(head, `,"asOf":"`...)
	head = v.AsOf.AppendFormat(head, time.RFC3339Nano)
	head = append(head, `","position":`...)
	head = strconv.AppendUint(head, v.Position, 10)
	head = append(head, `,"overview":`...)
	head = append(head, ov...)
	head = append(head, `,"entries":[`...)
	entries := v.encoded
	if len(entries) != len(v.Entries) {
		n := 0
		for i := range v.Entries {
			n += entryJSONSize(&v.Entries[i])
		}
		buf := make([]byte, 0, n)
		entries = make([][]byte, len(v.Entries))
		for i := range v.Entries {
			from := len(buf)
			buf = appendEntry(buf, &v.Entries[i])
			entries[i] = buf[from:len(buf):len(buf)]
		}
	}
	return EncodedView{head: head, entries: entries, tail: "]}"}, nil
}

// Len is the length of the encoding.
func (e EncodedView) Len() int {
	n := len(e.head) + len(e.tail)
	for _, b := range e.entries {
		n += len(b)
	}
	return n + max(len(e.entries)-1, 0)
}

// WriteTo writes the encoding to w.
func (e EncodedView) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	_, _ = bw.Write(e.head)
	for i, b := range e.entries {
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		_, _ = bw.Write(b)
	}
	_, _ = bw.WriteString(e.tail)
	err := bw.Flush() // the first error of any write
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
