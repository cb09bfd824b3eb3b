package readmodel

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
)

// gateCounts keeps, per family, how many of its rows one gate hides, so
// that a gated read of a large family does not judge every row again
// while neither its rows nor the gate have changed. Counting judges each
// of the family's rows through the gate's expression (about 0.5 µs a
// row); finding that a kept count still holds takes two lookups.
//
// A kept count is named by what it was counted over, read in the same
// snapshot as the count:
//   - the family's rows, by its last sequence and the model's count of
//     re-drives (checkpoint.redriven). While a model is open, its timeline
//     rows are only ever added, in stream order: none is deleted (a model
//     is emptied only as it opens), a batch's rows follow every row
//     before them, and the one rewrite, an erasure's, happens in the
//     transaction that adds the family.erased row. Only a re-drive adds a
//     row below a family's last sequence, and it counts itself. So two
//     states of a family with the same last sequence and re-drive count
//     hold the same rows, as they were written;
//   - the gate, by a hash of its expression and arguments (Hide.expr),
//     which change whenever a consent, a reference or the gate's
//     sequence does.
//
// A snapshot's reads use its base model's counts. Reads outside a
// snapshot count afresh, as their statements may see different states.
type gateCounts struct {
	mu sync.Mutex
	m  map[string]gateCount
	// hits counts the reads a kept count answered (for tests).
	hits int
}

type gateCount struct {
	gate     [sha256.Size]byte
	last     int64
	redriven int64
	hidden   int
}

// maxGateCounts bounds the families whose counts are kept (about 100
// bytes each); a new count beyond it replaces one chosen at random.
const maxGateCounts = 10000

// gateKey hashes a gate's expression and arguments.
func gateKey(x string, args []any) ([sha256.Size]byte, error) {
	b, err := json.Marshal(args)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	h := sha256.New()
	h.Write([]byte(x))
	h.Write([]byte{0})
	h.Write(b)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k, nil
}

func (c *gateCounts) get(familyID string, want gateCount) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	got, ok := c.m[familyID]
	if !ok || got.gate != want.gate || got.last != want.last || got.redriven != want.redriven {
		return 0, false
	}
	c.hits++
	return got.hidden, true
}

func (c *gateCounts) put(familyID string, gc gateCount) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]gateCount{}
	}
	if _, ok := c.m[familyID]; !ok && len(c.m) >= maxGateCounts {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[familyID] = gc
}

// hiddenCount is how many of the family's rows h hides, read on q: the
// snapshot's transaction, whose base keeps the count (gateCounts), or the
// reader pool, which counts afresh.
func (m *Model) hiddenCount(ctx context.Context, q querier, familyID string, h *Hide) (int, error) {
	x, xargs, err := h.expr()
	if err != nil {
		return 0, err
	}
	count := func() (int, error) {
		var n int
		err := q.QueryRowContext(ctx, `SELECT count(*) FROM timeline WHERE family_id = ? AND `+x, append([]any{familyID}, xargs...)...).Scan(&n)
		return n, err
	}
	if m.tx == nil || q != m.tx || m.base == nil {
		return count()
	}
	key := gateCount{}
	if key.gate, err = gateKey(x, xargs); err != nil {
		return 0, err
	}
	if err := q.QueryRowContext(ctx, `SELECT coalesce((SELECT max(sequence) FROM timeline WHERE family_id = ?), 0),
		(SELECT redriven FROM checkpoint WHERE id = 1)`, familyID).Scan(&key.last, &key.redriven); err != nil {
		return 0, err
	}
	c := &m.base.gateCounts
	if n, ok := c.get(familyID, key); ok {
		return n, nil
	}
	if key.hidden, err = count(); err != nil {
		return 0, err
	}
	c.put(familyID, key)
	return key.hidden, nil
}
