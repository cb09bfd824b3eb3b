package readmodel

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// RedriveResult says what a re-drive of the quarantine did: the messages
// that now decode and moved to the timeline, and those that stay, each
// with the reason this build gives. It names families and event types,
// which the operator who asks for a re-drive may not see (CONTRACT.md:
// no family data); the answer the operator gets is its Report.
type RedriveResult struct {
	Moved    []Redriven
	NotMoved []Redriven
	// Position is the model's checkpoint, unchanged by a re-drive.
	Position uint64
	// Erased: a re-driven family.erased erased its family; Scrub is as
	// BatchResult.Scrub.
	Erased bool
	Scrub  error
}

// Redriven is one quarantined message.
type Redriven struct {
	Sequence   uint64
	Subject    string
	FamilyID   string
	Type       string
	StoredType string // the type as stored, when it was upcast
	// Reason is why the message stays in quarantine, as the model keeps it.
	Reason string
	// operatorReason is Reason with the names its pointers hold that are
	// not the catalog's left out (operatorNames); "" when not known.
	operatorReason string
}

// redriven is the Redriven of msg, decoded.
func redriven(msg *Message) Redriven {
	return Redriven{Sequence: msg.seq, Subject: msg.subject, Reason: msg.reason, operatorReason: msg.opReason}
}

// RedriveReport is the operator's answer to a re-drive: how many
// messages moved to the timeline and how many stay, each by its stream
// sequence, and for each that stays the reason with no family named and
// no value of the message quoted (OperatorReason). The sequences are
// enough to find the messages with the tools that log who reads them.
type RedriveReport struct {
	Moved         []RedriveItem `json:"moved"`
	NotMoved      []RedriveItem `json:"notMoved"`
	MovedCount    int           `json:"movedCount"`
	NotMovedCount int           `json:"notMovedCount"`
	// Position is the model's checkpoint, unchanged by a re-drive.
	Position uint64 `json:"position"`
}

// RedriveItem is one message of a RedriveReport.
type RedriveItem struct {
	Sequence uint64 `json:"sequence"`
	Reason   string `json:"reason,omitempty"`
}

// Report is the result as the operator may see it.
func (res RedriveResult) Report() RedriveReport {
	rep := RedriveReport{Moved: make([]RedriveItem, len(res.Moved)), NotMoved: make([]RedriveItem, len(res.NotMoved)),
		MovedCount: len(res.Moved), NotMovedCount: len(res.NotMoved), Position: res.Position}
	for i, r := range res.Moved {
		rep.Moved[i] = RedriveItem{Sequence: r.Sequence}
	}
	for i, r := range res.NotMoved {
		reason := r.Reason
		if r.operatorReason != "" {
			reason = r.operatorReason
		}
		rep.NotMoved[i] = RedriveItem{Sequence: r.Sequence, Reason: OperatorReason(r.Subject, reason)}
	}
	return rep
}

// quoted is a quoted string in a reason, as %q writes it.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// Redacted stands for what OperatorReason leaves out.
const Redacted = "…"

// OperatorReason is a quarantine reason of the message stored under
// subject, for the operator, who sees no family data: the reasons say
// what rule the message breaks, but some of them name the family (the
// subject's, bare, as in a data key's id) or quote what the message held
// (another family's id, a key id, a subject) or name an event type. The
// family of the subject is left out wherever it stands as an id of its
// own, and so are every quoted string and every event type; a quote cut
// off by the reason's length limit is left out to the end.
func OperatorReason(subject, reason string) string {
	reason = quoted.ReplaceAllLiteralString(reason, `"`+Redacted+`"`)
	if strings.Count(reason, `"`)%2 == 1 {
		// An opening quote whose end the length limit cut off: the last one.
		reason = reason[:strings.LastIndexByte(reason, '"')] + `"` + Redacted
	}
	fam := ""
	if parts, err := events.ParseSubject(subject); err == nil {
		fam = parts.FamilyID
	} else if _, rest, ok := strings.Cut(subject, "."); ok {
		fam, _, _ = strings.Cut(rest, ".")
	}
	if fam != "" {
		reason = replaceID(reason, subject, Redacted)
		reason = replaceID(reason, fam, Redacted)
	}
	// Event types, which some reasons name bare: with the sequence, what
	// kind of event a family has (a GP consultation) is family data too.
	reason = ceType.ReplaceAllLiteralString(reason, Redacted)
	for _, spec := range events.Catalog() {
		reason = replaceID(reason, spec.Name, Redacted)
	}
	return reason
}

// ceType is a CloudEvents type of the catalog, dk.kk.jobogfamilie.<name>.v<n>.
var ceType = regexp.MustCompile(`dk\.kk\.jobogfamilie\.[A-Za-z0-9._-]*`)

// replaceID is s with each occurrence of id that is not part of a longer
// id (an id's characters on neither side) replaced by with.
func replaceID(s, id, with string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, id)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(id)
		if (i > 0 && idChar(s[i-1])) || (end < len(s) && idChar(s[end])) {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(with)
		s = s[end:]
	}
}

// idChar is whether c may be part of an id (events.IDPattern).
func idChar(c byte) bool {
	return c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// Redrive decodes every quarantined message again with this build's rules
// (after a deploy that added a version or an upcaster), and moves those
// that now decode to the timeline under their own sequence, as a fresh
// replay of the stream would have written them: each family they belong to
// is folded again from all its rows in stream order, and its overview and
// access written, in the same transaction. So verify, which compares with
// such a replay, matches afterwards. A re-driven family.erased erases its
// family as Apply does. Messages that still do not decode
// stay, with this build's reason. keys decrypt the personal fields, as
// the projector's apply does. The caller holds the apply lock; live
// subscribers are not sent the moved entries (they are history).
func (m *Model) Redrive(ctx context.Context, keys *shred.Keyring) (res RedriveResult, err error) {
	res = RedriveResult{Moved: []Redriven{}, NotMoved: []Redriven{}, Position: m.checkpoint}
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
		// The in-memory states may have been refolded with rows that
		// were rolled back: fold them again from the file.
		m.dropStates()
		m.dirty = map[string]*dirtyFamily{}
		m.repair, m.complete = true, false
	}()
	msgs, err := quarantined(ctx, tx)
	if err != nil {
		return res, err
	}
	DecodeAll(msgs, keys)
	insTimeline := tx.StmtContext(ctx, m.insTimeline)
	families := map[string]bool{}
	for i := range msgs {
		msg := &msgs[i]
		r := Redriven{Sequence: msg.seq, Subject: msg.subject}
		if msg.reason != "" {
			r = redriven(msg)
			if _, err := tx.ExecContext(ctx, `UPDATE quarantine SET reason = ? WHERE sequence = ?`, msg.reason, int64(msg.seq)); err != nil {
				return res, err
			}
			res.NotMoved = append(res.NotMoved, r)
			continue
		}
		if _, err := insTimeline.ExecContext(ctx, msg.row...); err != nil {
			return res, fmt.Errorf("timeline %d: %w", msg.seq, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM quarantine WHERE sequence = ?`, int64(msg.seq)); err != nil {
			return res, err
		}
		r.FamilyID, r.Type, r.StoredType = msg.env.FamilyID, msg.env.Spec.Type(), msg.env.StoredType
		res.Moved = append(res.Moved, r)
		families[msg.env.FamilyID] = true
	}
	if len(res.Moved) == 0 {
		if err := tx.Commit(); err != nil {
			return res, err
		}
		committed = true
		return res, nil
	}
	// A re-driven family.erased erases its family as applying it does: the
	// rows before it, re-driven ones included, are rewritten, and the old
	// text leaves the file with the scrub after the commit.
	erased := erasures(msgs)
	for id, seq := range erased {
		if err := m.eraseFamily(ctx, tx, id, seq, nil); err != nil {
			return res, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE checkpoint SET redriven = redriven + 1 WHERE id = 1`); err != nil {
		return res, fmt.Errorf("re-drive: %w", err)
	}
	if len(erased) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE checkpoint SET scrub = 1 WHERE id = 1`); err != nil {
			return res, fmt.Errorf("erase: %w", err)
		}
	}
	// Every dirty family is written, the re-driven ones folded afresh from
	// all their rows, so the model is consistent up to its checkpoint. A
	// failed batch left the families changed since the last consistent
	// position to repair (Apply's repair): they are written too.
	if m.repair {
		if err := m.markRepair(ctx, tx); err != nil {
			return res, fmt.Errorf("repair: %w", err)
		}
	}
	rows := tx.StmtContext(ctx, m.familyRows)
	for id := range families {
		st := family.New(id)
		if err := m.fold(ctx, rows, id, st); err != nil {
			return res, familyErr("refold", id, err)
		}
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT max(sequence) FROM timeline WHERE family_id = ?`, id).Scan(&last); err != nil {
			return res, err
		}
		m.keepState(id, st)
		m.dirty[id] = &dirtyFamily{last: uint64(last), force: true}
	}
	if err := m.flush(ctx, tx, nil); err != nil {
		return res, err
	}
	if _, err := tx.StmtContext(ctx, m.setCheckpoint).ExecContext(ctx, int64(m.checkpoint), int64(m.checkpoint)); err != nil {
		return res, fmt.Errorf("checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return res, err
	}
	committed = true
	m.consistent, m.repair = m.checkpoint, false
	m.dirty = map[string]*dirtyFamily{}
	if len(erased) > 0 {
		res.Erased = true
		res.Scrub = m.erased(ctx)
	}
	return res, nil
}

// quarantined reads the quarantine as messages to decode.
func quarantined(ctx context.Context, tx *sql.Tx) ([]Message, error) {
	rows, err := tx.QueryContext(ctx, `SELECT sequence, subject, raw, recorded_ns FROM quarantine ORDER BY sequence`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var (
			seq, rns int64
			subject  string
			raw      []byte
		)
		if err := rows.Scan(&seq, &subject, &raw, &rns); err != nil {
			return nil, err
		}
		out = append(out, Message{seq: uint64(seq), subject: subject, raw: raw, recorded: time.Unix(0, rns).UTC()})
	}
	return out, rows.Err()
}
