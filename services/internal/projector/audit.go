package projector

// This file is the read side the audit service (services/internal/audit)
// needs of a read model: the family → sequences index, the timeline as it
// was known at a moment, and the live model pinned at one checkpoint for
// verification (verify.go). It reads only, with one exception: pinning
// flushes the applier's pending overviews first, exactly as the projector
// does at the start of every consumer session, so that the pinned model is
// consistent up to its checkpoint.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// AuditView is the audit service's access to a read model: the
// coordinators' model of a Projector (in the standalone) or the model a
// Follower keeps for `audit serve`.
type AuditView struct {
	src auditSource
}

// auditSource is what Projector and Follower have in common.
type auditSource interface {
	acquire() (*readModel, func(), error)
	// lockApply holds the applier between two batches until the returned
	// function is called.
	lockApply() func()
	// setApplied publishes a position a flush under lockApply reached.
	setApplied(seq uint64)
	Position() uint64
	WaitFor(ctx context.Context, seq uint64) error
}

// AuditView is the audit service's access to the projector's read model.
func (p *Projector) AuditView() *AuditView { return &AuditView{src: p} }

func (p *Projector) lockApply() func() {
	p.applyMu.Lock()
	return p.applyMu.Unlock
}

// Position is the stream sequence up to which the model is consistent.
func (v *AuditView) Position() uint64 { return v.src.Position() }

// WaitFor blocks until the model has applied sequence seq.
func (v *AuditView) WaitFor(ctx context.Context, seq uint64) error { return v.src.WaitFor(ctx, seq) }

// ModelPath is the file of the model in use now.
func (v *AuditView) ModelPath() (string, error) {
	m, release, err := v.src.acquire()
	if err != nil {
		return "", err
	}
	defer release()
	return m.path, nil
}

// Ref is where one stored message of a family sits in the stream.
type Ref struct {
	Sequence   uint64
	RecordedAt time.Time
}

// RefQuery selects a family's stored messages from the read model.
type RefQuery struct {
	FamilyID string
	// After and Until bound the sequences: After < sequence <= Until;
	// Until 0 is no upper bound.
	After, Until uint64
	// Types keeps only these event types; empty keeps all.
	Types []events.Spec
	// From (inclusive) and To (exclusive) bound the JetStream timestamp;
	// zero is unbounded.
	From, To time.Time
	// Limit is the most refs returned; the caller pages with After.
	Limit int
}

// FamilyRefs lists a family's stored messages in stream order, from the
// timeline's (family_id, sequence) index and the quarantine: the
// quarantine holds what was stored under the family's subjects but is not
// a valid catalog event, and an auditor sees everything stored. A filtered
// consumer over the stream would find the same messages, at a cost that
// grows with the whole stream rather than with the family.
func (v *AuditView) FamilyRefs(ctx context.Context, q RefQuery) ([]Ref, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	m, release, err := v.src.acquire()
	if err != nil {
		return nil, err
	}
	defer release()

	var b strings.Builder
	args := []any{q.FamilyID, int64(q.After)}
	b.WriteString(`SELECT sequence, recorded_ns FROM timeline WHERE family_id = ? AND sequence > ?`)
	if q.Until > 0 {
		b.WriteString(` AND sequence <= ?`)
		args = append(args, int64(q.Until))
	}
	if len(q.Types) > 0 {
		b.WriteString(` AND type IN (?` + strings.Repeat(`, ?`, len(q.Types)-1) + `)`)
		for _, s := range q.Types {
			args = append(args, s.Type())
		}
	}
	if !q.From.IsZero() {
		b.WriteString(` AND recorded_ns >= ?`)
		args = append(args, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		b.WriteString(` AND recorded_ns < ?`)
		args = append(args, q.To.UnixNano())
	}
	b.WriteString(` ORDER BY sequence LIMIT ?`)
	args = append(args, q.Limit)
	refs, err := queryRefs(ctx, m, b.String(), args...)
	if err != nil {
		return nil, err
	}

	// The quarantine is small and has no family column: its subjects say
	// the family. substr, not LIKE, because ids may contain '_'.
	prefix := events.SubjectRoot + "." + q.FamilyID + "."
	qargs := []any{int64(q.After), len(prefix), prefix}
	query := `SELECT sequence, subject, recorded_ns FROM quarantine WHERE sequence > ? AND substr(subject, 1, ?) = ?`
	if q.Until > 0 {
		query += ` AND sequence <= ?`
		qargs = append(qargs, int64(q.Until))
	}
	st, err := m.stmt(ctx, query+` ORDER BY sequence`)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, qargs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq, rns int64
			subject  string
		)
		if err := rows.Scan(&seq, &subject, &rns); err != nil {
			return nil, err
		}
		at := time.Unix(0, rns).UTC()
		if (!q.From.IsZero() && at.Before(q.From)) || (!q.To.IsZero() && !at.Before(q.To)) {
			continue
		}
		if len(q.Types) > 0 && !slices.ContainsFunc(q.Types, func(s events.Spec) bool {
			parts, err := events.ParseSubject(subject)
			return err == nil && parts.Name == s.Name
		}) {
			continue
		}
		refs = append(refs, Ref{Sequence: uint64(seq), RecordedAt: at})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(refs, func(a, b Ref) int { return cmpUint(a.Sequence, b.Sequence) })
	if len(refs) > q.Limit {
		// Both lists hold their first Limit rows, so the first Limit of
		// the merge are the first Limit overall.
		refs = refs[:q.Limit]
	}
	return refs, nil
}

func queryRefs(ctx context.Context, m *readModel, query string, args ...any) ([]Ref, error) {
	st, err := m.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var refs []Ref
	for rows.Next() {
		var seq, rns int64
		if err := rows.Scan(&seq, &rns); err != nil {
			return nil, err
		}
		refs = append(refs, Ref{Sequence: uint64(seq), RecordedAt: time.Unix(0, rns).UTC()})
	}
	return refs, rows.Err()
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

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
}

// foldBatch is how many rows foldRows decodes in one piece of work.
const foldBatch = 256

// foldRows reads a family's timeline rows in stream order and folds them,
// as the projector folds a family again after a restart (readModel.fold).
// Reading the rows (SQLite) and decoding their payloads (JSON) are the
// cost of an as-of view of a long history; they overlap, and decoding
// runs on every core, while the fold itself applies the envelopes in
// stream order.
func foldRows(ctx context.Context, familyID string, rows *sql.Rows) ([]Entry, *family.State, error) {
	type decoded struct {
		envs []events.Envelope
		err  error
	}
	var (
		entries []Entry
		futures []chan decoded
		sem     = make(chan struct{}, runtime.GOMAXPROCS(0))
	)
	decode := func(batch []Entry) chan decoded {
		out := make(chan decoded, 1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			envs := make([]events.Envelope, len(batch))
			for i, e := range batch {
				env, err := storedEnvelope(familyID, e.ID, e.Time.UnixNano(), e.Department, e.Type, e.Data, e.Actor)
				if err != nil {
					out <- decoded{err: fmt.Errorf("projector: row %d: %w", e.Sequence, err)}
					return
				}
				envs[i] = env
			}
			out <- decoded{envs: envs}
		}()
		return out
	}
	all, err := scanEntriesFunc(rows, func(batch []Entry) {
		futures = append(futures, decode(batch))
	})
	if err != nil {
		// Wait for the decoders started so far.
		for _, f := range futures {
			<-f
		}
		return nil, nil, err
	}
	entries = all
	st := family.New(familyID)
	var first error
	for _, f := range futures {
		d := <-f
		if first == nil && d.err != nil {
			first = d.err
		}
		if first == nil {
			for _, env := range d.envs {
				st.Apply(env)
			}
		}
	}
	if first != nil {
		return nil, nil, first
	}
	return entries, st, ctx.Err()
}

// scanEntriesFunc reads timeline rows into entries, handing every
// foldBatch of them to batch (when not nil) as they are read.
func scanEntriesFunc(rows *sql.Rows, batch func([]Entry)) ([]Entry, error) {
	defer rows.Close()
	entries := []Entry{}
	from := 0
	for rows.Next() {
		var (
			e        Entry
			seq      int64
			tns, rns int64
			data     []byte
		)
		if err := rows.Scan(&seq, &e.ID, &tns, &rns, &e.Department, &e.Type, &e.Title, &data, &e.Actor); err != nil {
			return nil, err
		}
		e.Sequence = uint64(seq)
		e.Time = time.Unix(0, tns).UTC()
		e.RecordedAt = time.Unix(0, rns).UTC()
		e.Data = json.RawMessage(data)
		entries = append(entries, e)
		if batch != nil && len(entries)-from == foldBatch {
			batch(entries[from:len(entries):len(entries)])
			from = len(entries)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if batch != nil && from < len(entries) {
		batch(entries[from:])
	}
	return entries, nil
}

// ErrUnknownFamily: the read model holds no event of the family.
var ErrUnknownFamily = errors.New("projector: no events of the family have been projected")

// AsOf reads the family's timeline and overview as they were known at t:
// only events whose JetStream timestamp (recordedAt) is at or before t.
// A backfilled event (its time before events recorded earlier) is left out
// of a view before it was recorded and sorted by its time in a view after.
// The overview is folded again from the stored rows in stream order, the
// order in which the projector folded them, never from a stored overview,
// which only knows the present.
func (v *AuditView) AsOf(ctx context.Context, familyID string, t time.Time) (AsOfView, error) {
	m, release, err := v.src.acquire()
	if err != nil {
		return AsOfView{}, err
	}
	defer release()
	out := AsOfView{FamilyID: familyID, AsOf: t.UTC(), Position: v.src.Position(), Entries: []Entry{}}
	// One read transaction, so that rows applied meanwhile do not make
	// the existence check and the rows disagree.
	tx, err := m.rdb.BeginTx(ctx, nil)
	if err != nil {
		return AsOfView{}, err
	}
	defer func() { _ = tx.Rollback() }()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM timeline WHERE family_id = ? LIMIT 1`, familyID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return AsOfView{}, ErrUnknownFamily
	}
	if err != nil {
		return AsOfView{}, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT sequence, event_id, time_ns, recorded_ns, department, type, title, data, actor
		FROM timeline WHERE family_id = ? AND recorded_ns <= ? ORDER BY sequence`, familyID, t.UnixNano())
	if err != nil {
		return AsOfView{}, err
	}
	entries, st, err := foldRows(ctx, familyID, rows)
	if err != nil {
		return AsOfView{}, err
	}
	slices.SortFunc(entries, func(a, b Entry) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmpUint(a.Sequence, b.Sequence)
	})
	out.Overview = st.Overview()
	out.Entries = entries
	return out, nil
}

// AppendJSON appends the view as a JSON object with the fields
// json.Marshal gives it. The entries are written by hand: encoding ten
// thousand of them by reflection (which also compacts every data object
// again) cost more than reading and folding them. Their data is written
// as stored; it was compacted and validated when it was projected.
func (v AsOfView) AppendJSON(dst []byte) ([]byte, error) {
	ov, err := json.Marshal(v.Overview)
	if err != nil {
		return dst, err
	}
	n := len(ov) + 128
	for _, e := range v.Entries {
		n += len(e.ID) + len(e.Title) + len(e.Data) + len(e.Actor) + len(e.Type) + 160
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, `{"familyId":`...)
	dst = appendString(dst, v.FamilyID)
	dst = append(dst, `,"asOf":"`...)
	dst = v.AsOf.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","position":`...)
	dst = strconv.AppendUint(dst, v.Position, 10)
	dst = append(dst, `,"overview":`...)
	dst = append(dst, ov...)
	dst = append(dst, `,"entries":[`...)
	for i, e := range v.Entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = appendString(dst, e.ID)
		dst = append(dst, `,"sequence":`...)
		dst = strconv.AppendUint(dst, e.Sequence, 10)
		dst = append(dst, `,"time":"`...)
		dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, `","recordedAt":"`...)
		dst = e.RecordedAt.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, `","department":`...)
		dst = appendString(dst, e.Department)
		dst = append(dst, `,"type":`...)
		dst = appendString(dst, e.Type)
		dst = append(dst, `,"title":`...)
		dst = appendString(dst, e.Title)
		dst = append(dst, `,"data":`...)
		if len(e.Data) == 0 {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, e.Data...)
		}
		dst = append(dst, `,"actor":`...)
		dst = appendString(dst, e.Actor)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...), nil
}

// appendString appends s as a JSON string. Valid UTF-8 without characters
// that need escaping is copied; anything else goes through json.Marshal.
func appendString(dst []byte, s string) []byte {
	simple := utf8.ValidString(s)
	for i := 0; simple && i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&':
			simple = false
		case c == 0xE2 && strings.HasPrefix(s[i:], "\u2028"), c == 0xE2 && strings.HasPrefix(s[i:], "\u2029"):
			simple = false // JavaScript line terminators, escaped by json.Marshal
		}
	}
	if simple {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b, _ := json.Marshal(s)
	return append(dst, b...)
}
