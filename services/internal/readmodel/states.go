package readmodel

import (
	"cmp"
	"context"
	"database/sql"
	"maps"
	"slices"

	"kk.dk/jobogfamilie/events/family"
)

// DefaultStateLimit is how many folded family states a caught-up model
// keeps in memory unless configured otherwise (TrimStates). A state takes
// a few kilobytes (about 7 KB for a family of 100 events), so the default
// holds them in about 7 MB; a family not held is folded again from its
// rows, one indexed read, when its next event arrives.
const DefaultStateLimit = 1000

// DefaultSpillLimit is how many folded family states a model that is
// catching up keeps in memory unless configured otherwise (SpillStates):
// about 70 MB for families of 100 events.
const DefaultSpillLimit = 10000

// The spill holds the states SpillStates moved out of memory, in a
// temporary table of the writer's connection: SQLite keeps up to its
// temporary cache (2 MB) in memory and the rest in a file of its
// temporary directory, unlinked as it is made, which goes with the
// connection. A state comes back at its family's next event (unspill);
// an erasure deletes the family's row, and secure_delete zeroes what a
// deleted row leaves.
const (
	createSpill = `CREATE TEMP TABLE IF NOT EXISTS state_spill (family_id TEXT PRIMARY KEY, state BLOB NOT NULL) WITHOUT ROWID`
	putSpill    = `INSERT OR REPLACE INTO temp.state_spill (family_id, state) VALUES (?, ?)`
	getSpill    = `SELECT state FROM temp.state_spill WHERE family_id = ?`
	delSpill    = `DELETE FROM temp.state_spill WHERE family_id = ?`
)

// keepState holds st as the family's folded state, used now. A state in
// memory supersedes a spilled one.
func (m *Model) keepState(id string, st *family.State) {
	m.states[id] = st
	delete(m.spilled, id)
	m.touch(id)
}

// touch records that the family's state was used now.
func (m *Model) touch(id string) {
	m.tick++
	m.used[id] = m.tick
}

// dropStates forgets every folded state, spilled ones included: each is
// folded again from the file when its family's next event arrives. The
// spill's rows are no longer read; the next spill of a family replaces
// its row, and the connection's end removes them all.
func (m *Model) dropStates() {
	m.states = map[string]*family.State{}
	m.used = map[string]uint64{}
	m.spilled = map[string]struct{}{}
}

// States is how many folded family states the model holds in memory.
// Only the applier may call it.
func (m *Model) States() int { return len(m.states) }

// Spilled is how many folded family states SpillStates moved out of
// memory and no event has needed since. Only the applier may call it.
func (m *Model) Spilled() int { return len(m.spilled) }

// leastUsed returns the ids of the n least recently used states that may
// leave memory: with dirty false, not of a family whose overview waits
// for a flush.
func (m *Model) leastUsed(n int, dirty bool) []string {
	type use struct {
		id string
		at uint64
	}
	uses := make([]use, 0, len(m.states))
	for id := range m.states {
		if _, waiting := m.dirty[id]; dirty || !waiting {
			uses = append(uses, use{id, m.used[id]})
		}
	}
	slices.SortFunc(uses, func(a, b use) int { return cmp.Compare(a.at, b.at) })
	ids := make([]string, 0, min(n, len(uses)))
	for _, u := range uses[:min(n, len(uses))] {
		ids = append(ids, u.id)
	}
	return ids
}

// forget removes the states of ids from memory.
func (m *Model) forget(ids []string) {
	for _, id := range ids {
		delete(m.states, id)
		delete(m.used, id)
	}
	if len(ids) > len(m.states) {
		// A map keeps the room of its largest size; give it back.
		m.states, m.used = maps.Clone(m.states), maps.Clone(m.used)
	}
}

// SpillStates bounds the folded family states held in memory while the
// model catches up: when more than limit are held, those used least
// recently, down to about an eighth fewer than limit, are written to the
// spill (a temporary table of the writer's connection) and leave memory,
// and it returns how many. A spilled state comes back, one keyed read,
// when its family's next event arrives (see state). Unlike TrimStates it
// works during a bulk load, when the rows have no family index to fold
// from, and the model still holds every family's state. A limit below 1
// keeps every state in memory.
//
// A family whose overview waits for a flush may be spilled too. During a
// bulk load, when nobody reads the model, its families and access rows
// are written with its spill, ahead of the consistent position (a repair
// writes them again, should the load stop before its end): a flush would
// otherwise read the state back, and in a bulk load every family waits
// for one, until many do or the load ends. Otherwise the flush reads a
// spilled state without taking it back into memory (spilledState). An
// erasure deletes the family's row: the state of an erased family is
// folded again from its rewritten rows (eraseFamily).
// Only the applier may call it, between batches; a failure leaves every
// state in memory.
func (m *Model) SpillStates(ctx context.Context, limit int) (n int, err error) {
	if limit < 1 || len(m.states) <= limit {
		return 0, nil
	}
	ids := m.leastUsed(len(m.states)-(limit-limit/8), true)
	if len(ids) == 0 {
		return 0, nil
	}
	tx, err := m.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	put := tx.StmtContext(ctx, m.putSpill)
	var written []string
	var w familyWriter
	if m.bulk {
		w = m.familyWriter(ctx, tx)
	}
	for _, id := range ids {
		st := m.states[id]
		if d := m.dirty[id]; d != nil && m.bulk {
			r, err := familyRowOf(id, st)
			if err != nil {
				return 0, err
			}
			if err := w.write(id, d, r); err != nil {
				return 0, err
			}
			written = append(written, id)
		}
		b, err := st.MarshalBinary()
		if err != nil {
			return 0, familyErr("spill of", id, err)
		}
		if _, err := put.ExecContext(ctx, id, b); err != nil {
			return 0, familyErr("spill of", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	for _, id := range written {
		delete(m.dirty, id)
	}
	m.forget(ids)
	for _, id := range ids {
		m.spilled[id] = struct{}{}
	}
	return len(ids), nil
}

// spilledState reads the family's spilled state, leaving it in the
// spill.
func (m *Model) spilledState(ctx context.Context, tx *sql.Tx, id string) (*family.State, error) {
	var b []byte
	if err := tx.StmtContext(ctx, m.getSpill).QueryRowContext(ctx, id).Scan(&b); err != nil {
		return nil, familyErr("spilled state of", id, err)
	}
	st := &family.State{}
	if err := st.UnmarshalBinary(b); err != nil {
		return nil, familyErr("spilled state of", id, err)
	}
	return st, nil
}

// unspill brings the family's spilled state back into memory. Its row
// stays, no longer read (keepState), until the family is spilled again,
// which replaces it, or erased, which deletes it (eraseFamily): a delete
// here cost a quarter of the spill's time in a catch-up that spilled at
// most events.
func (m *Model) unspill(ctx context.Context, tx *sql.Tx, id string) (*family.State, error) {
	st, err := m.spilledState(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	m.keepState(id, st)
	return st, nil
}

// BoundStates bounds the folded family states held in memory between two
// batches of a consumer: once caught up to cached (TrimStates), while
// catching up to catchingUp (SpillStates). A spill that fails leaves the
// states in memory; its error is for a warning.
func (m *Model) BoundStates(ctx context.Context, caughtUp bool, cached, catchingUp int) error {
	if caughtUp {
		m.TrimStates(cached)
		return nil
	}
	_, err := m.SpillStates(ctx, catchingUp)
	return err
}

// TrimStates bounds the folded family states held in memory: when more
// than limit are held, those used least recently are dropped until about
// an eighth fewer than limit remain (so that trimming is not needed again
// at the next batch), and it returns how many it dropped. A family whose
// state is dropped is folded again from its stored rows when its next
// event arrives (see state), as after a restart. A limit below 1 keeps
// every state.
//
// Only the applier may call it, between batches. A caller trims once it
// has caught up: while catching up, a batch touches many families, and a
// state dropped would soon be folded again from its rows. Nothing is
// dropped during a bulk load, when the rows have no family index to be
// folded from, nor for a family whose overview waits for a flush.
func (m *Model) TrimStates(limit int) int {
	if limit < 1 || len(m.states) <= limit || m.bulk {
		return 0
	}
	ids := m.leastUsed(len(m.states)-(limit-limit/8), false)
	if len(ids) == 0 {
		return 0
	}
	m.forget(ids)
	// The model no longer holds every family's state: a family missing
	// from memory must be folded from its rows.
	m.complete = false
	return len(ids)
}
