package readmodel

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// RedriveResult says what a re-drive of the quarantine did: the messages
// that now decode and moved to the timeline, and those that stay, each
// with the reason this build gives.
type RedriveResult struct {
	Moved    []Redriven `json:"moved"`
	NotMoved []Redriven `json:"notMoved"`
	// Position is the model's checkpoint, unchanged by a re-drive.
	Position uint64 `json:"position"`
}

// Redriven is one quarantined message.
type Redriven struct {
	Sequence uint64 `json:"sequence"`
	Subject  string `json:"subject"`
	FamilyID string `json:"familyId,omitempty"`
	Type     string `json:"type,omitempty"`
	// StoredType is the type as stored, when it was upcast.
	StoredType string `json:"storedType,omitempty"`
	// Reason is why the message stays in quarantine.
	Reason string `json:"reason,omitempty"`
}

// Redrive decodes every quarantined message again with this build's rules
// (after a deploy that added a version or an upcaster), and moves those
// that now decode to the timeline under their own sequence, as a fresh
// replay of the stream would have written them: each family they belong to
// is folded again from all its rows in stream order, and its overview and
// access written, in the same transaction. So verify, which compares with
// such a replay, matches afterwards. Messages that still do not decode
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
		m.states = map[string]*family.State{}
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
			r.Reason = msg.reason
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
			return res, fmt.Errorf("refold %s: %w", id, err)
		}
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT max(sequence) FROM timeline WHERE family_id = ?`, id).Scan(&last); err != nil {
			return res, err
		}
		m.states[id] = st
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
