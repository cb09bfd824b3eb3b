package ingest

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble"
)

// TestStoreCachesBlocks: once the store's ids are in tables, looking up
// new ids (ingest's common case) is served from the block cache, which
// holds the tables' index and filter blocks: a cache whose whole size the
// memtables take would read them from the files at every lookup.
func TestStoreCachesBlocks(t *testing.T) {
	db, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v := make([]byte, 24)
	for i := range 200 {
		b := db.NewBatch()
		for j := range 1000 {
			_ = b.Set(idDBKey(keyOf(fmt.Sprintf("stored-%d-%d", i, j))), v, nil)
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	lookup := func(round int) {
		for i := range 20000 {
			_, c, err := db.Get(idDBKey(keyOf(fmt.Sprintf("new-%d-%d", round, i))))
			if err == nil {
				c.Close()
			}
		}
	}
	lookup(0)
	before := db.Metrics().BlockCache
	lookup(1)
	after := db.Metrics().BlockCache
	hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
	if after.Size == 0 || hits < 10*misses {
		t.Fatalf("block cache after 20,000 lookups of new ids: %d bytes held, %d hits, %d misses; want the tables' index and filter blocks held", after.Size, hits, misses)
	}
}
