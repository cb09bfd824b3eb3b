package readmodel

import (
	"cmp"
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

// keepState holds st as the family's folded state, used now.
func (m *Model) keepState(id string, st *family.State) {
	m.states[id] = st
	m.touch(id)
}

// touch records that the family's state was used now.
func (m *Model) touch(id string) {
	m.tick++
	m.used[id] = m.tick
}

// dropStates forgets every folded state: each is folded again from the
// file when its family's next event arrives.
func (m *Model) dropStates() {
	m.states = map[string]*family.State{}
	m.used = map[string]uint64{}
}

// States is how many folded family states the model holds in memory.
// Only the applier may call it.
func (m *Model) States() int { return len(m.states) }

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
	type use struct {
		id string
		at uint64
	}
	uses := make([]use, 0, len(m.states))
	for id := range m.states {
		if _, waiting := m.dirty[id]; !waiting {
			uses = append(uses, use{id, m.used[id]})
		}
	}
	slices.SortFunc(uses, func(a, b use) int { return cmp.Compare(a.at, b.at) })
	n := min(len(m.states)-(limit-limit/8), len(uses))
	for _, u := range uses[:n] {
		delete(m.states, u.id)
		delete(m.used, u.id)
	}
	if n == 0 {
		return 0
	}
	// The model no longer holds every family's state: a family missing
	// from memory must be folded from its rows.
	m.complete = false
	if n > len(m.states) {
		// A map keeps the room of its largest size; give it back.
		m.states, m.used = maps.Clone(m.states), maps.Clone(m.used)
	}
	return n
}
