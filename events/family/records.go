package family

import "slices"

// recordChunk is how many records a full chunk of a records list holds.
const recordChunk = 64

// records is an append-only list that clones in constant time: nothing
// below its length is written again, so a clone shares all of it. Ingest
// clones a family's state for every batch it checks, and a family's
// records grow with its history.
type records[T any] struct {
	full [][]T // each exactly recordChunk long, never modified
	tail []T   // the last, partial chunk
}

func (r *records[T]) add(v T) {
	// The tail grows as slices do, so that a family with few records
	// holds little memory.
	r.tail = append(r.tail, v)
	if len(r.tail) == recordChunk {
		r.full = append(r.full, r.tail)
		r.tail = nil
	}
}

func (r *records[T]) len() int { return len(r.full)*recordChunk + len(r.tail) }

// clone returns a list that shares r's full chunks; appends to either list
// never write where the other reads.
func (r *records[T]) clone() records[T] {
	// Records below a list's length are never written again, and a
	// clipped slice copies itself on its first append: so the clone can
	// share the partial chunk too, until either side appends.
	return records[T]{full: slices.Clip(r.full), tail: slices.Clip(r.tail)}
}

// all returns the records in order, in a new slice (empty, not nil, when
// there are none).
func (r *records[T]) all() []T {
	out := make([]T, 0, r.len())
	for _, c := range r.full {
		out = append(out, c...)
	}
	return append(out, r.tail...)
}
