package ingest

// MarkReady lets tests drive the handler with an index that follows no
// stream, as if it had caught up.
func MarkReady(x *Index) { x.ready.Store(true) }

// Holders is how many writes (and the consumer) hold the family's cached
// entry: a write waiting for a family another holds counts already.
func Holders(x *Index, familyID string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	el, ok := x.cache[familyID]
	if !ok {
		return 0
	}
	return el.Value.(*familyEntry).refs
}
