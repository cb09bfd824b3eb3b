package family

import (
	"slices"
	"testing"
)

// TestRecordsCloneAcrossChunks: a clone and its original grow apart across
// chunk boundaries without either seeing the other's records.
func TestRecordsCloneAcrossChunks(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, recordChunk - 1, recordChunk, 2*recordChunk + 5} {
		var orig records[int]
		var want []int
		for i := range n {
			orig.add(i)
			want = append(want, i)
		}
		c := orig.clone()
		wantOrig, wantClone := slices.Clone(want), slices.Clone(want)
		for i := range recordChunk + 7 {
			orig.add(-i)
			wantOrig = append(wantOrig, -i)
			c.add(1000 + i)
			wantClone = append(wantClone, 1000+i)
			if i%10 == 0 {
				// A clone of a clone, dropped: it must not disturb either.
				cc := c.clone()
				cc.add(-1)
			}
		}
		if got := orig.all(); !slices.Equal(got, wantOrig) || orig.len() != len(wantOrig) {
			t.Fatalf("n=%d: original %v (len %d), want %v", n, got, orig.len(), wantOrig)
		}
		if got := c.all(); !slices.Equal(got, wantClone) || c.len() != len(wantClone) {
			t.Fatalf("n=%d: clone %v (len %d), want %v", n, got, c.len(), wantClone)
		}
	}
	var empty records[int]
	if got := empty.all(); got == nil || len(got) != 0 {
		t.Fatalf("empty records: %#v", got)
	}
}
