package readmodel

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/evaluation"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// Message is one stream message as the read model reads it, decoded once:
// either a valid catalog event with its title, or the reason it is
// quarantined.
type Message struct {
	seq      uint64
	subject  string
	recorded time.Time
	raw      []byte
	env      events.Envelope
	title    string
	actor    string // the event's source, written out once
	reason   string // why it is quarantined; "" for a valid event
	// opReason is reason with the names its pointers hold that are not
	// the catalog's left out (operatorNames), for the operator.
	opReason string
	// row is the event's timeline row, its values boxed for the driver
	// while decoding rather than on the applying goroutine.
	row []any
	// pending is the number of messages the server had not yet delivered
	// when it sent this one; 0 means the batch can end here.
	pending uint64
	msg     jetstream.Msg // nil for messages not read from a consumer
	// keys decrypt the event's personal fields.
	keys *shred.Keyring
}

// Seq is the message's stream sequence.
func (m *Message) Seq() uint64 { return m.seq }

// Pending is how many messages the server had not yet delivered when it
// sent this one; 0 means a batch can end here.
func (m *Message) Pending() uint64 { return m.pending }

// Ack acknowledges the message (with AckAll, every message before it too).
func (m *Message) Ack() error { return m.msg.Ack() }

// maxReason bounds a quarantine reason; the whole message is kept in raw.
const maxReason = 2000

// decode reads a stored message by the same rules ingest accepts events by
// (events.ParseStructured, then events.Decode's validation), and checks that the subject it
// is stored under agrees with the event: family, department and type. It
// never fails: what is not a valid catalog event is marked for quarantine.
func (m *Message) decode() {
	m.reason = check(m)
	if len(m.reason) > maxReason {
		m.reason = m.reason[:maxReason]
	}
	if len(m.opReason) > maxReason {
		m.opReason = m.opReason[:maxReason]
	}
	if m.reason == "" {
		m.title = events.Title(m.env)
		m.actor = m.env.Source()
		ev := m.env.Event
		m.row = []any{int64(m.seq), m.env.FamilyID, ev.ID(), ev.Time().UnixNano(), m.recorded.UnixNano(),
			string(m.env.Department), ev.Type(), m.title, ev.Data(), m.actor, m.env.StoredType}
	}
}

func check(m *Message) string {
	// Judged as every reader of the stream judges it (events.DecodeStored),
	// with "now" being when the stream recorded the message, so that a
	// replay next year decides exactly as the live projector did. The
	// personal fields are decrypted first (package shred): a key the
	// store never held or a personal field in the clear quarantines the
	// event, and an erased family's fields read as the tombstone. Then it
	// is read as the latest version of its type (events.Upcast). This is
	// the one place the read model decodes a message: apply, rebuild,
	// verify's replay and the as-of view all come through it, and what
	// they write and fold is the latest version's shape.
	env, err := m.keys.Decode(context.Background(), m.subject, m.raw, m.recorded)
	if err == nil {
		env, err = events.Upcast(env)
	}
	if err != nil {
		m.opReason = operatorNames(err)
		return err.Error()
	}
	m.env = env
	return ""
}

// entryOf is the timeline entry of a valid event.
func entryOf(m *Message) Entry {
	e := Entry{
		ID:         m.env.ID(),
		Sequence:   m.seq,
		Time:       m.env.Time().UTC(),
		RecordedAt: m.recorded.UTC(),
		Department: string(m.env.Department),
		Type:       m.env.Spec.Type(),
		Title:      m.title,
		Data:       json.RawMessage(m.env.Event.Data()),
		Actor:      m.actor,
		StoredType: m.env.StoredType,
	}
	e.markErased()
	return e
}

// rowContext is the context for the single-row statements of a batch.
// modernc.org/sqlite starts a goroutine for every statement whose context
// can be cancelled, to interrupt it; at one insert per event that was a
// tenth of the projector's scheduling while catching up. A row statement
// takes microseconds, and the batch's transaction still ends with ctx.
func rowContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// errGap: a message arrived whose sequence is not the one after the
// checkpoint. The stream denies deletes, so sequences are consecutive; a
// gap means the consumer is out of step (e.g. redeliveries pending) and must
// be positioned again from the checkpoint.
var errGap = errors.New("readmodel: gap in the stream sequence")

// BatchResult is what one committed batch did.
type BatchResult struct {
	Events, Quarantined int
	// Last is the model's checkpoint after the batch; Consistent the
	// position up to which overviews and access agree with it.
	Last, Consistent uint64
	// Entries are the new timeline entries per family, for live
	// subscribers; only filled for families Wants reports true.
	Entries map[string][]Entry
	// Erased: the batch erased a family; its rows were rewritten.
	Erased bool
	// Scrub, when the batch erased a family, is why the old text could not
	// yet be scrubbed from the file and its WAL (readers held a snapshot
	// too long): the batch is committed all the same, and the scrub stays
	// pending (Model.ScrubPending) and is tried again after later
	// batches, by RetryScrub and at the next open. A deferred scrub
	// (Model.DeferScrub) is pending with no error.
	Scrub error
}

// ApplyOptions vary between the live consumer and a rebuild.
type ApplyOptions struct {
	// AllowGap accepts a first message after a gap: the first message a
	// freshly positioned consumer delivers is the first that exists after
	// the checkpoint.
	AllowGap bool
	// Flush writes the overview and access rows of every family changed
	// since the last flush in the same transaction, which makes the model
	// consistent up to its checkpoint.
	Flush bool
	// BeforeCommit and AfterCommit are the projector's test hooks; an
	// error stops the batch there.
	BeforeCommit, AfterCommit func(last uint64) error
	// Wants reports whether entries of a family should be returned.
	Wants func(familyID string) bool
	// Evaluated, when not nil, is called after the commit with each event
	// of the batch stored in the timeline that an evaluation reads, in
	// stream order: what EvaluationEvents reads from their rows.
	Evaluated func(evaluation.Event)
	// prepared are rows of dirty families computed ahead of the flush
	// (see EndBulk); the flush computes the others.
	prepared map[string]familyRow
}

// dirtyFamily is a family whose overview and access rows are behind its
// timeline rows.
type dirtyFamily struct {
	before []string // Assigned() as last written
	last   uint64   // the family's last sequence
	force  bool     // rewrite access whatever before says (after a repair)
}

// Apply applies a batch to the model in one transaction that also stores
// the checkpoint. Messages at or below the checkpoint are skipped, so a
// batch delivered again after a crash changes nothing.
//
// Timeline and quarantine rows are written for every batch. A family's
// overview and access rows are written at flushes only: while catching up,
// a family touched by every batch would otherwise have its overview
// marshalled and rewritten once per batch. The checkpoint row stores both
// positions; the API publishes the consistent one, so X-Min-Position and
// X-Position always speak of a model whose overviews, access and timeline
// agree. A model whose file was left between two flushes is repaired on
// open: the families with rows after the consistent position are refolded
// and written.
//
// On any error the transaction is rolled back and the in-memory states are
// dropped, to be folded again from the stored rows: memory never runs
// ahead of the file. Once the transaction is committed the batch is
// applied, and only a test hook's error fails it: a batch that erases a
// family scrubs the old text from the file after the commit (unless the
// scrub is deferred for a bulk load, DeferScrub), and a scrub that readers
// keep from finishing is reported in BatchResult.Scrub and finished later
// (see scrub).
func (m *Model) Apply(ctx context.Context, batch []Message, o ApplyOptions) (res BatchResult, err error) {
	cp := m.checkpoint
	res.Last, res.Consistent = cp, m.consistent
	news := len(batch) > 0 && batch[len(batch)-1].seq > cp
	flush := o.Flush && (len(m.dirty) > 0 || m.repair || m.consistent < cp)
	if !news && !flush {
		return res, nil
	}
	if m.repair && m.bulk {
		// Refolding needs the family index.
		if err := m.SetBulk(ctx, false); err != nil {
			return res, err
		}
	}
	tx, err := m.w.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		_ = tx.Rollback()
		m.dropStates()
		m.dirty = map[string]*dirtyFamily{}
		m.repair, m.complete = true, false
	}()
	if m.repair {
		o.prepared = nil // computed from states about to be dropped
		if err := m.markRepair(ctx, tx); err != nil {
			return res, fmt.Errorf("repair: %w", err)
		}
	}
	stmt := func(s *sql.Stmt) *sql.Stmt { return tx.StmtContext(ctx, s) }
	insTimeline, insQuarantine := stmt(m.insTimeline), stmt(m.insQuarantine)
	rowCtx := rowContext(ctx)
	fresh, last, err := after(batch, cp, o.AllowGap)
	if err != nil {
		return res, err
	}
	cp = last
	// All folds come before this batch's rows are written: a state missing
	// from memory is folded again from the stored rows, which must not
	// include this batch's.
	if err := m.foldEvents(ctx, tx, fresh); err != nil {
		return res, err
	}
	if !o.Flush && o.Wants != nil && m.accessChanged(fresh, o.Wants) {
		// A live stream is about to be handed this batch's entries, and
		// it checks its reader's access against the access rows: they
		// must not be a flush behind the entries.
		o.Flush = true
	}
	if err := m.writeRows(rowCtx, insTimeline, insQuarantine, fresh, o.Wants, &res); err != nil {
		return res, err
	}
	erased := erasures(fresh)
	for id, seq := range erased {
		if err := m.eraseFamily(ctx, tx, id, seq, o.prepared); err != nil {
			return res, err
		}
	}
	if len(erased) > 0 {
		// Cleared only once the old text has left the file.
		if _, err := tx.ExecContext(ctx, `UPDATE checkpoint SET scrub = 1 WHERE id = 1`); err != nil {
			return res, fmt.Errorf("erase: %w", err)
		}
	}
	consistent := m.consistent
	if o.Flush {
		if err := m.flush(ctx, tx, o.prepared); err != nil {
			return res, err
		}
		consistent = cp
	}
	if _, err := stmt(m.setCheckpoint).ExecContext(ctx, int64(cp), int64(consistent)); err != nil {
		return res, fmt.Errorf("checkpoint: %w", err)
	}
	if o.BeforeCommit != nil {
		if err := o.BeforeCommit(cp); err != nil {
			return res, err
		}
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	committed = true
	m.checkpoint, m.consistent, m.repair = cp, consistent, false
	if o.Flush {
		m.dirty = map[string]*dirtyFamily{}
	}
	res.Last, res.Consistent = cp, consistent
	res.Erased = len(erased) > 0
	if o.Evaluated != nil {
		evaluated(fresh, o.Evaluated)
	}
	if res.Erased {
		res.Scrub = m.erased(ctx)
	} else {
		m.retryScrub(ctx)
	}
	if o.AfterCommit != nil {
		if err := o.AfterCommit(cp); err != nil {
			return res, err
		}
	}
	return res, nil
}

// evaluated calls fn with the evaluation's event of each stored (valid)
// message of msgs that an evaluation reads.
func evaluated(msgs []Message, fn func(evaluation.Event)) {
	for i := range msgs {
		msg := &msgs[i]
		if msg.reason != "" {
			continue
		}
		if e, ok := evaluation.FromEnvelope(msg.seq, msg.recorded, msg.env); ok {
			fn(e)
		}
	}
}

// after returns the messages of batch after the checkpoint cp and the
// sequence of the last one. They must follow cp without a gap (but for the
// first, with allowGap): a gap fails the batch before anything is written.
func after(batch []Message, cp uint64, allowGap bool) ([]Message, uint64, error) {
	lo := 0
	for lo < len(batch) && batch[lo].seq <= cp {
		lo++
	}
	fresh := batch[lo:]
	for i := range fresh {
		seq := fresh[i].seq
		if seq != cp+1 && !(i == 0 && allowGap) {
			return nil, cp, fmt.Errorf("%w: expected %d, got %d", errGap, cp+1, seq)
		}
		cp = seq
	}
	return fresh, cp, nil
}

// foldEvents applies the valid events of msgs to their families' states,
// in order, and marks the families dirty.
func (m *Model) foldEvents(ctx context.Context, tx *sql.Tx, msgs []Message) error {
	for i := range msgs {
		msg := &msgs[i]
		if msg.reason != "" {
			continue
		}
		id := msg.env.FamilyID
		st, err := m.state(ctx, tx, id)
		if err != nil {
			return err
		}
		d, ok := m.dirty[id]
		if !ok {
			d = &dirtyFamily{before: st.Assigned()}
			m.dirty[id] = d
		}
		st.Apply(msg.env)
		d.last = msg.seq
	}
	return nil
}

// accessChanged reports whether msgs change who is assigned to a family
// that wants its entries (one a live stream follows) from what its access
// rows say.
// Each followed family is looked at once, however many of its messages
// the batch holds; with no stream open, nothing is kept.
func (m *Model) accessChanged(msgs []Message, wants func(string) bool) bool {
	var seen map[string]bool
	for i := range msgs {
		id := msgs[i].env.FamilyID
		if msgs[i].reason != "" || seen[id] || !wants(id) {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[id] = true
		if d, st := m.dirty[id], m.states[id]; d != nil && st != nil && (d.force || !slices.Equal(d.before, st.Assigned())) {
			return true
		}
	}
	return false
}

// writeRows inserts the timeline row of every valid event of msgs and the
// quarantine row of every other message, and collects the entries of the
// families wants asks for. It touches no family state.
func (m *Model) writeRows(ctx context.Context, insTimeline, insQuarantine *sql.Stmt, msgs []Message, wants func(string) bool, res *BatchResult) error {
	for i := range msgs {
		msg := &msgs[i]
		if msg.reason != "" {
			if _, err := insQuarantine.ExecContext(ctx, int64(msg.seq), msg.subject, msg.reason, msg.raw, msg.recorded.UnixNano()); err != nil {
				return fmt.Errorf("quarantine %d: %w", msg.seq, err)
			}
			res.Quarantined++
			continue
		}
		if _, err := insTimeline.ExecContext(ctx, msg.row...); err != nil {
			return fmt.Errorf("timeline %d: %w", msg.seq, err)
		}
		res.Events++
		if id := msg.env.FamilyID; wants != nil && wants(id) {
			if res.Entries == nil {
				res.Entries = map[string][]Entry{}
			}
			res.Entries[id] = append(res.Entries[id], entryOf(msg))
		}
	}
	return nil
}

// markRepair starts over from the file: the in-memory states are dropped
// and every family with timeline rows after the consistent position is
// marked dirty, to be refolded from its rows and written at the next flush.
func (m *Model) markRepair(ctx context.Context, tx *sql.Tx) error {
	m.dropStates()
	m.dirty = map[string]*dirtyFamily{}
	rows, err := tx.QueryContext(ctx, `SELECT family_id, max(sequence) FROM timeline WHERE sequence > ? GROUP BY family_id`, int64(m.consistent))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   string
			last int64
		)
		if err := rows.Scan(&id, &last); err != nil {
			return err
		}
		m.dirty[id] = &dirtyFamily{last: uint64(last), force: true}
	}
	return rows.Err()
}

// familyRow is what a flush writes of a family: its families row and its
// access rows.
type familyRow struct {
	status   string
	overview []byte
	events   int
	assigned []string
	// consents are the family's consent decisions (every one, in time
	// order per person and scope), in a column of their own: the consent
	// gate reads them at every coordinator read, and a long history's
	// overview is large.
	consents []byte
}

func familyRowOf(id string, st *family.State) (familyRow, error) {
	o := st.Overview()
	ov, err := json.Marshal(o)
	if err != nil {
		return familyRow{}, familyErr("overview of", id, err)
	}
	cs, err := json.Marshal(st.ConsentDecisions())
	if err != nil {
		return familyRow{}, familyErr("consents of", id, err)
	}
	return familyRow{string(st.Status()), ov, st.Events(), st.Assigned(), cs}, nil
}

// prepareFlush computes the rows of the dirty families whose states are in
// memory, for a flush with nothing applied in between. It only reads
// states, so that it may run while the applier does other work.
func (m *Model) prepareFlush() map[string]familyRow {
	rows := make(map[string]familyRow, len(m.dirty))
	for id := range m.dirty {
		if st, ok := m.states[id]; ok {
			if r, err := familyRowOf(id, st); err == nil {
				rows[id] = r
			}
		}
	}
	return rows
}

// flush writes the overview, status and access rows of the dirty families,
// taking those in prepared as they are.
func (m *Model) flush(ctx context.Context, tx *sql.Tx, prepared map[string]familyRow) error {
	if len(m.dirty) == 0 {
		return nil
	}
	w := m.familyWriter(ctx, tx)
	for id, d := range m.dirty {
		r, ok := prepared[id]
		if !ok {
			st, err := m.flushState(ctx, tx, id)
			if err != nil {
				return err
			}
			if r, err = familyRowOf(id, st); err != nil {
				return err
			}
		}
		if err := w.write(id, d, r); err != nil {
			return err
		}
	}
	return nil
}

// familyWriter writes families and access rows in one transaction.
type familyWriter struct {
	ctx                             context.Context
	upsFamily, delAccess, insAccess *sql.Stmt
}

func (m *Model) familyWriter(ctx context.Context, tx *sql.Tx) familyWriter {
	return familyWriter{rowContext(ctx), tx.StmtContext(ctx, m.upsFamily), tx.StmtContext(ctx, m.delAccess), tx.StmtContext(ctx, m.insAccess)}
}

// write writes r, the rows of the dirty family d: its families row, and
// its access rows when who is assigned changed.
func (w familyWriter) write(id string, d *dirtyFamily, r familyRow) error {
	if _, err := w.upsFamily.ExecContext(w.ctx, id, r.status, r.overview, int64(d.last), r.events, r.consents); err != nil {
		return familyErr("family", id, err)
	}
	if !d.force && slices.Equal(r.assigned, d.before) {
		return nil
	}
	if _, err := w.delAccess.ExecContext(w.ctx, id); err != nil {
		return familyErr("access of", id, err)
	}
	for _, emp := range r.assigned {
		if _, err := w.insAccess.ExecContext(w.ctx, id, emp); err != nil {
			return familyErr("access of", id, err)
		}
	}
	return nil
}

// state returns the family's folded state. After a restart (or after a
// failed batch) the state is not in memory: it is folded again from the
// family's stored timeline rows, in stream order, the first time an event
// of the family arrives. Rows are stored only for valid events, and those
// are exactly what the live fold applied, so the refolded state is the
// state the live fold had. The cost is one indexed scan per family per
// process lifetime, and none at all while the model is complete.
func (m *Model) state(ctx context.Context, tx *sql.Tx, id string) (*family.State, error) {
	if st, ok := m.states[id]; ok {
		m.touch(id)
		return st, nil
	}
	if _, ok := m.spilled[id]; ok {
		return m.unspill(ctx, tx, id)
	}
	st := family.New(id)
	if !m.complete {
		if err := m.fold(ctx, tx.StmtContext(ctx, m.familyRows), id, st); err != nil {
			return nil, familyErr("refold", id, err)
		}
	}
	m.keepState(id, st)
	return st, nil
}

// flushState is the family's folded state for a flush: a spilled state
// is read but stays spilled, so that a flush of many waiting families
// does not bring them all back into memory. (A bulk load writes a
// family's rows with its spill, SpillStates.)
func (m *Model) flushState(ctx context.Context, tx *sql.Tx, id string) (*family.State, error) {
	if _, ok := m.states[id]; !ok {
		if _, ok := m.spilled[id]; ok {
			return m.spilledState(ctx, tx, id)
		}
	}
	return m.state(ctx, tx, id)
}

// fold applies the family's stored rows to st.
func (m *Model) fold(ctx context.Context, q *sql.Stmt, id string, st *family.State) error {
	rows, err := q.QueryContext(ctx, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq                      int64
			eventID, dept, typ, actr string
			timeNS                   int64
			data                     []byte
		)
		if err := rows.Scan(&seq, &eventID, &timeNS, &dept, &typ, &data, &actr); err != nil {
			return err
		}
		env, err := storedEnvelope(id, eventID, timeNS, dept, typ, data, actr)
		if err != nil {
			return fmt.Errorf("row %d: %w", seq, err)
		}
		st.Apply(env)
	}
	return rows.Err()
}

// storedEnvelope rebuilds the envelope of a stored timeline row. The row
// was validated when it was stored, so the payload is decoded without the
// schema check (the decoder is the same one events.Decode ends with).
func storedEnvelope(familyID, eventID string, timeNS int64, dept, typ string, data []byte, actor string) (events.Envelope, error) {
	payload, err := storedPayload(typ, data)
	if err != nil {
		return events.Envelope{}, err
	}
	spec, _ := events.ByType(typ)
	ev := cloudevents.NewEvent()
	ev.SetID(eventID)
	ev.SetSource(actor)
	ev.SetType(typ)
	ev.SetSubject(familyID)
	ev.SetTime(time.Unix(0, timeNS).UTC())
	ev.DataEncoded = data
	return events.Envelope{Event: ev, Spec: spec, Department: events.Department(dept), FamilyID: familyID, Data: payload}, nil
}
