package readmodel

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// erasures are the families a batch erases (family.erased), with the
// sequence of the erasure.
func erasures(msgs []Message) map[string]uint64 {
	var out map[string]uint64
	for i := range msgs {
		m := &msgs[i]
		if m.reason == "" && m.env.Department == events.Service && m.env.Spec.Name == shred.ErasedType {
			if out == nil {
				out = map[string]uint64{}
			}
			out[m.env.FamilyID] = m.seq
		}
	}
	return out
}

// eraseFamily rewrites every timeline row of an erased family as a replay
// reads it once the family's key is destroyed: each personal field the
// tombstone, and the title made again from that. The family's state is
// folded again from the rewritten rows, so that its overview holds no
// personal text either. The old text leaves the file with Scrub.
func (m *Model) eraseFamily(ctx context.Context, tx *sql.Tx, familyID string, seq uint64, prepared map[string]familyRow) error {
	rows, err := tx.QueryContext(ctx, `SELECT sequence, event_id, time_ns, department, type, data, actor FROM timeline
		WHERE family_id = ? AND sequence < ? ORDER BY sequence`, familyID, int64(seq))
	if err != nil {
		return err
	}
	type change struct {
		seq   int64
		data  []byte
		title string
	}
	var changes []change
	for rows.Next() {
		var (
			s                        int64
			eventID, dept, typ, actr string
			timeNS                   int64
			data                     []byte
		)
		if err := rows.Scan(&s, &eventID, &timeNS, &dept, &typ, &data, &actr); err != nil {
			rows.Close()
			return err
		}
		spec, ok := events.ByType(typ)
		if !ok {
			continue
		}
		erased, changed := shred.EraseData(spec, data)
		if !changed {
			continue
		}
		env, err := storedEnvelope(familyID, eventID, timeNS, dept, typ, erased, actr)
		if err != nil {
			rows.Close()
			return fmt.Errorf("erase row %d: %w", s, err)
		}
		changes = append(changes, change{s, erased, events.Title(env)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, `UPDATE timeline SET data = ?, title = ? WHERE sequence = ?`, c.data, c.title, c.seq); err != nil {
			return fmt.Errorf("erase row %d: %w", c.seq, err)
		}
	}
	st := family.New(familyID)
	if err := m.fold(ctx, tx.StmtContext(ctx, m.familyRows), familyID, st); err != nil {
		return fmt.Errorf("erase: refold %s: %w", familyID, err)
	}
	m.states[familyID] = st
	d, ok := m.dirty[familyID]
	if !ok {
		d = &dirtyFamily{before: st.Assigned()}
		m.dirty[familyID] = d
	}
	d.last = max(d.last, seq)
	delete(prepared, familyID)
	return nil
}

// Scrub removes what erased rows left in the file: secure_delete (on for
// every connection) zeroed the freed cells, VACUUM writes the database
// afresh, and a truncating checkpoint empties the WAL, which held the
// pages as they were. Readers that hold a snapshot delay the checkpoint;
// it is retried for a while.
func (m *Model) Scrub(ctx context.Context) error {
	if _, err := m.w.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("readmodel: vacuum: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var busy, logged, done int
		if err := m.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &done); err != nil {
			return fmt.Errorf("readmodel: checkpoint: %w", err)
		}
		if busy == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("readmodel: checkpoint: readers kept the WAL busy")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
