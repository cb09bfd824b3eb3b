package readmodel

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"sync"
)

// gateCounts keeps, per family, how many of its rows one gate hides and
// the overview's scan of them (Hidden), so that a gated read of a large
// family does not judge every row again while neither its rows nor the
// gate have changed. Counting judges each
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
//     which change whenever a consent or a reference does, and by its
//     sequence (Hide.Through: rows after it are hidden as unknown to the
//     gate), which is the family's last sequence when it was read.
//
// Rows added after a kept entry's last sequence, with the re-drive count
// and the gate but for its sequence unchanged, leave every row it counted
// judged as it was: a row at or below both gates' sequences is judged
// alike by both. A read of the family then judges only the rows after
// the entry's last sequence and adds them to what was kept (extends).
//
// A snapshot's reads use its base model's counts. Reads outside a
// snapshot count afresh, as their statements may see different states.
//
// A kept scan holds the data of hidden rows. An erasure drops every kept
// entry once it is committed (forget), and a snapshot begun before that
// keeps nothing: the old text is then in no kept scan, as the scrub makes
// sure it is in no file.
type gateCounts struct {
	mu sync.Mutex
	m  map[string]gateCount
	// scanBytes is the size of the kept scans' rows (gateCount.size).
	scanBytes int
	// erasures counts forget's calls; a snapshot keeps nothing unless
	// none came after it began (Snapshot reads it before its first
	// statement).
	erasures uint64
	// hits counts the reads a kept count or scan answered, extended the
	// reads that added to one (for tests).
	hits, extended int
}

type gateCount struct {
	// gate hashes the gate but for its sequence, through.
	gate     [sha256.Size]byte
	through  uint64
	last     int64
	redriven int64

	hidden int
	// scan, when set, is Hidden's answer up to scanUntil; size is the
	// size of its rows.
	scan      *HiddenScan
	scanUntil uint64
	size      int
}

// Bounds of what gateCounts keeps: the families (about 100 bytes each
// without a scan), the rows of one family's scan, and of all scans. A new
// entry beyond them replaces entries chosen at random.
const (
	maxGateCounts   = 10000
	maxScanBytes    = 1 << 20
	maxAllScanBytes = 64 << 20
)

// gateKey hashes a gate's expression and arguments, but for its
// sequence (gateCount.through).
func gateKey(h *Hide) ([sha256.Size]byte, error) {
	n := *h
	n.Through = 0
	x, args, err := n.expr()
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	b, err := json.Marshal(args)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	sum := sha256.New()
	sum.Write([]byte(x))
	sum.Write([]byte{0})
	sum.Write(b)
	var k [sha256.Size]byte
	sum.Sum(k[:0])
	return k, nil
}

func (k gateCount) names(o gateCount) bool {
	return k.gate == o.gate && k.through == o.through && k.last == o.last && k.redriven == o.redriven
}

// extends reports whether o is k's family after rows were added: the same
// gate and re-drive count, a later last sequence, and a gate's sequence
// that leaves every row k counted judged alike: the same one, or one at
// or above k's, which is at or above every row k counted.
func (k gateCount) extends(o gateCount) bool {
	return k.gate == o.gate && k.redriven == o.redriven && k.last < o.last &&
		(k.through == o.through || k.last >= 0 && uint64(k.last) <= k.through && k.through <= o.through)
}

// before is the kept entry of the family that key extends (a count over
// fewer rows through the same gate).
func (c *gateCounts) before(familyID string, key gateCount) (gateCount, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	got, ok := c.m[familyID]
	if !ok || !got.extends(key) {
		return gateCount{}, false
	}
	c.extended++
	return got, true
}

// scanBefore is the kept entry of the family whose scan Hidden's scan up
// to until under key goes on from: through the same gate, over the same
// rows or fewer, up to an earlier sequence or the same one. Its scan's
// rows are shared and only to be read.
func (c *gateCounts) scanBefore(familyID string, key gateCount, until uint64) (gateCount, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	got, ok := c.m[familyID]
	if !ok || got.scan == nil || got.scanUntil > until || !(got.extends(key) || got.names(key) && got.scanUntil < until) {
		return gateCount{}, false
	}
	c.extended++
	return got, true
}

// count is the kept count under key.
func (c *gateCounts) count(familyID string, key gateCount) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	got, ok := c.m[familyID]
	if !ok || !got.names(key) {
		return 0, false
	}
	c.hits++
	return got.hidden, true
}

// scanOf is the kept scan up to until under key. Its rows are shared
// with every read it answers, which only read them.
func (c *gateCounts) scanOf(familyID string, key gateCount, until uint64) (HiddenScan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	got, ok := c.m[familyID]
	if !ok || !got.names(key) || got.scan == nil || got.scanUntil != until {
		return HiddenScan{}, false
	}
	c.hits++
	out := *got.scan
	out.Rows = slices.Clone(out.Rows)
	return out, true
}

// forget drops every kept entry, after an erasure's commit.
func (c *gateCounts) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m, c.scanBytes = nil, 0
	c.erasures++
}

// generation is forget's count now.
func (c *gateCounts) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.erasures
}

// put keeps e, with its scan when it has one that fits the bounds, unless
// an erasure came after the snapshot it was read in began (gen).
func (c *gateCounts) put(familyID string, e gateCount, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.erasures {
		return
	}
	if c.m == nil {
		c.m = map[string]gateCount{}
	}
	if old, ok := c.m[familyID]; ok {
		c.scanBytes -= old.size
		delete(c.m, familyID)
		if e.scan == nil && (old.names(e) || old.extends(e)) && old.scan != nil {
			// The scan's rows are still the family's up to its
			// sequence; its total is the count's.
			sc := *old.scan
			sc.Total = e.hidden
			e.scan, e.scanUntil, e.size = &sc, old.scanUntil, old.size
		}
	}
	if e.scan != nil && e.size > maxScanBytes {
		e.scan, e.scanUntil, e.size = nil, 0, 0
	}
	for k, old := range c.m {
		if len(c.m) < maxGateCounts && c.scanBytes+e.size <= maxAllScanBytes {
			break
		}
		c.scanBytes -= old.size
		delete(c.m, k)
	}
	c.scanBytes += e.size
	c.m[familyID] = e
}

// kept is where a read on q keeps its counts and the key that names
// what it reads there: nil for a read outside a snapshot, which counts
// afresh.
func (m *Model) kept(ctx context.Context, q querier, familyID string, h *Hide) (*gateCounts, gateCount, error) {
	var key gateCount
	if m.tx == nil || q != m.tx || m.base == nil {
		return nil, key, nil
	}
	var err error
	if key.gate, err = gateKey(h); err != nil {
		return nil, key, err
	}
	key.through = h.Through
	if err := q.QueryRowContext(ctx, `SELECT coalesce((SELECT max(sequence) FROM timeline WHERE family_id = ?), 0),
		(SELECT redriven FROM checkpoint WHERE id = 1)`, familyID).Scan(&key.last, &key.redriven); err != nil {
		return nil, key, err
	}
	return &m.base.gateCounts, key, nil
}

// hiddenCount is how many of the family's rows h hides, read on q: the
// snapshot's transaction, whose base keeps the count (gateCounts), or the
// reader pool, which counts afresh.
func (m *Model) hiddenCount(ctx context.Context, q querier, familyID string, h *Hide) (int, error) {
	x, xargs, err := h.expr()
	if err != nil {
		return 0, err
	}
	// count is how many of the family's rows after sequence after h hides.
	count := func(after int64) (int, error) {
		var n int
		err := q.QueryRowContext(ctx, `SELECT count(*) FROM timeline WHERE family_id = ? AND sequence > ? AND `+x,
			append([]any{familyID, after}, xargs...)...).Scan(&n)
		return n, err
	}
	c, key, err := m.kept(ctx, q, familyID, h)
	if err != nil {
		return 0, err
	}
	if c == nil {
		return count(0)
	}
	if n, ok := c.count(familyID, key); ok {
		return n, nil
	}
	var after int64
	if old, ok := c.before(familyID, key); ok {
		after, key.hidden = old.last, old.hidden
	}
	n, err := count(after)
	if err != nil {
		return 0, err
	}
	key.hidden += n
	c.put(familyID, key, m.erasures)
	return key.hidden, nil
}

// keepScan keeps hs, Hidden's answer up to until, under key, read in a
// snapshot begun at erasure count gen.
func (c *gateCounts) keepScan(familyID string, key gateCount, until uint64, hs HiddenScan, gen uint64) {
	hs.Rows = slices.Clone(hs.Rows)
	key.hidden = hs.Total
	key.scan, key.scanUntil = &hs, until
	for _, r := range hs.Rows {
		key.size += len(r.Data) + len(r.Department) + len(r.Type) + 64
	}
	c.put(familyID, key, gen)
}
