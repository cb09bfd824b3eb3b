package readmodel

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"kk.dk/jobogfamilie/events"
)

// HeaderPosition is the HTTP header with which the coordinator and audit
// APIs give, on every answer, the position of the read model they read.
const HeaderPosition = "X-Position"

// View is a live read model as its readers other than the coordinator
// API see it (the audit service): its position, the family → sequences
// index, the timeline as it was known at a moment (AsOf), and the model
// pinned at one checkpoint for verification (Verify). It reads only, with
// one exception: pinning flushes the applier's pending overviews first,
// exactly as the projector does at the start of every consumer session,
// so that the pinned model is consistent up to its checkpoint.
type View struct {
	src Source
}

// Source is a read model someone applies the stream to: the projector's
// (in the standalone) or a Follower's (for `audit serve`).
type Source interface {
	// Ready is nil while the model may serve reads: once it has applied
	// the stream as it was when its process started (CatchUp), and while
	// it keeps up with it.
	Ready(ctx context.Context) error
	// Acquire takes the model in use for one read, refused (NotReady)
	// while it is not ready; the function releases it.
	Acquire() (*Model, func(), error)
	// LockApply holds the applier between two batches until the returned
	// function is called.
	LockApply() func()
	// SetApplied publishes a position a flush under LockApply reached.
	SetApplied(seq uint64)
	// Position is the stream sequence up to which the model is consistent.
	Position() uint64
	// WaitFor blocks until the model has applied sequence seq.
	WaitFor(ctx context.Context, seq uint64) error
}

// NewView is the View of a live read model.
func NewView(src Source) *View { return &View{src: src} }

// Position is the stream sequence up to which the model is consistent.
func (v *View) Position() uint64 { return v.src.Position() }

// Servable is nil while the model may serve reads, and otherwise the
// refusal of a read (NotReady): 503 with Retry-After. Every read of the
// model is refused so; a handler asks first, to answer at once rather
// than after waiting for a position.
func (v *View) Servable(ctx context.Context) error {
	if err := v.src.Ready(ctx); err != nil {
		return NotReady(err)
	}
	return nil
}

// Await is where a read of the model begins: refused at once while the
// model may not serve reads (Servable), rather than after a wait, and
// then X-Min-Position honoured (WaitMinPosition), as the projector's
// reads do.
func (v *View) Await(w http.ResponseWriter, r *http.Request) error {
	if err := v.Servable(r.Context()); err != nil {
		return err
	}
	return WaitMinPosition(w, r, v)
}

// WaitFor blocks until the model has applied sequence seq.
func (v *View) WaitFor(ctx context.Context, seq uint64) error { return v.src.WaitFor(ctx, seq) }

// ModelPath is the file of the model in use now.
func (v *View) ModelPath() (string, error) {
	m, release, err := v.src.Acquire()
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
	// Types keeps only the events of these types' catalog names, in any
	// version; empty keeps all.
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
func (v *View) FamilyRefs(ctx context.Context, q RefQuery) ([]Ref, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	m, release, err := v.src.Acquire()
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
		// A type selects its catalog name, as the stream's subjects do:
		// the timeline holds an event as its newest version, whichever
		// version was stored or asked for, so every version's type of the
		// name is matched.
		var types []string
		for _, s := range q.Types {
			for _, v := range append([]events.Spec{s}, events.Versions(s.Name)...) {
				if !slices.Contains(types, v.Type()) {
					types = append(types, v.Type())
				}
			}
		}
		b.WriteString(` AND type IN (?` + strings.Repeat(`, ?`, len(types)-1) + `)`)
		for _, t := range types {
			args = append(args, t)
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
	rows, err := m.query(ctx, query+` ORDER BY sequence`, qargs...)
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
	slices.SortFunc(refs, func(a, b Ref) int { return cmp.Compare(a.Sequence, b.Sequence) })
	if len(refs) > q.Limit {
		// Both lists hold their first Limit rows, so the first Limit of
		// the merge are the first Limit overall.
		refs = refs[:q.Limit]
	}
	return refs, nil
}

func queryRefs(ctx context.Context, m *Model, query string, args ...any) ([]Ref, error) {
	rows, err := m.query(ctx, query, args...)
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
