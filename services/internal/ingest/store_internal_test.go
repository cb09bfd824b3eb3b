package ingest

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
)

// TestStoreCachesBlocks: once the store's ids are in tables, looking up
// new ids (ingest's common case) is served from the block cache, which
// holds the tables' index and filter blocks: a cache whose whole size the
// memtables take would read them from the files at every lookup.
func TestStoreCachesBlocks(t *testing.T) {
	db, err := openStore(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storeIDs(t, db, 200, 1000)
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

// TestLookupsUseBottomLevelFilters: a new id is answered by the bloom
// filters of the bottom level, where nearly all ids live, both when looked
// up alone and in a batch; Pebble's point Get would not consult them and
// would search the tables' blocks instead.
func TestLookupsUseBottomLevelFilters(t *testing.T) {
	db, err := openStore(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storeIDs(t, db, 1, 20_000)
	if err := db.Compact([]byte{prefixID}, []byte{prefixID + 1}, false); err != nil {
		t.Fatal(err)
	}
	if m := db.Metrics(); m.Levels[6].NumFiles == 0 || m.Levels[0].NumFiles != 0 {
		t.Fatalf("want the ids in the bottom level only: L0 %d files, L6 %d", m.Levels[0].NumFiles, m.Levels[6].NumFiles)
	}
	x := &Index{db: db, pending: map[idKey]idEntry{}}
	const n = 1000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("new-%d", i)
	}
	before := db.Metrics().Filter.Hits
	for _, id := range ids[:n/2] {
		if _, ok, err := x.lookupID(keyOf(id)); ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if _, err := x.StoredAll(ids[n/2:], make([][32]byte, n/2)); err != nil {
		t.Fatal(err)
	}
	if hits := db.Metrics().Filter.Hits - before; hits < n*9/10 {
		t.Fatalf("the filters answered %d of %d lookups of new ids", hits, n)
	}
}

// TestStoreReadsTablesWrittenWithoutSplit: a store whose tables were
// written by builds with Pebble's default comparer (no Split) answers
// StoredAll: its filters were built from whole keys, which is what the
// store's comparer looks them up by. Were they not, a stored id would be
// taken as new.
func TestStoreReadsTablesWrittenWithoutSplit(t *testing.T) {
	dir := t.TempDir()
	o := &pebble.Options{Logger: quietPebble{}}
	o.Levels = make([]pebble.LevelOptions, 7)
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		o.Levels[i].FilterType = pebble.TableFilter
	}
	old, err := pebble.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 300)
	hashes := make([][32]byte, len(ids))
	b := old.NewBatch()
	for i := range ids {
		ids[i] = fmt.Sprintf("old-%d", i)
		hashes[i][0] = byte(i)
		_ = b.Set(idDBKey(keyOf(ids[i])), idValue(idEntry{seq: uint64(i + 1), hash: hashOf(hashes[i])}), nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := old.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := openStore(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := db.Metrics().Levels[0].NumFiles + db.Metrics().Levels[6].NumFiles; n == 0 {
		t.Fatal("the ids are not in tables")
	}
	x := &Index{db: db, pending: map[idKey]idEntry{}}
	got, err := x.StoredAll(append(ids, "new"), append(hashes, [32]byte{}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		if want := (IDState{Stored: true, SameContent: true, Sequence: uint64(i + 1)}); got[i] != want {
			t.Fatalf("StoredAll: %s is %+v, want %+v", ids[i], got[i], want)
		}
	}
	if got[len(ids)].Stored {
		t.Fatal("StoredAll: an id never written is stored")
	}
}

// BenchmarkLookupIDs: looking up new ids (ns/op is per id) in a store of
// 1M ids, settled into tables: with Pebble's Get, which does not consult
// the bottom level's bloom filters; one at a time as a single event is
// (lookupID); and a batch request's 100 with StoredAll's one iterator.
func BenchmarkLookupIDs(b *testing.B) {
	db, err := openStore(b.TempDir(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	storeIDs(b, db, 10_000, 100)
	for db.Metrics().Compact.NumInProgress > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	x := &Index{db: db, pending: map[idKey]idEntry{}}
	const batch = 100
	ids := make([]string, 100*batch)
	for i := range ids {
		ids[i] = fmt.Sprintf("new-%d", i)
	}
	hashes := make([][32]byte, batch)
	b.Run("get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, _, err := db.Get(idDBKey(keyOf(ids[i%len(ids)]))); err != pebble.ErrNotFound {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("one", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, ok, err := x.lookupID(keyOf(ids[i%len(ids)])); ok || err != nil {
				b.Fatal(ok, err)
			}
			i++
		}
	})
	b.Run("batch", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if i%batch == 0 {
				at := i % len(ids)
				if _, err := x.StoredAll(ids[at:at+batch], hashes); err != nil {
					b.Fatal(err)
				}
			}
			i++
		}
	})
}

// storeIDs commits batches × perBatch ids to db, as ingest's writes and
// consumer do.
func storeIDs(tb testing.TB, db *pebble.DB, batches, perBatch int) {
	tb.Helper()
	v := make([]byte, 24)
	for i := range batches {
		b := db.NewBatch()
		for j := range perBatch {
			_ = b.Set(idDBKey(keyOf(fmt.Sprintf("stored-%d-%d", i, j))), v, nil)
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			tb.Fatal(err)
		}
	}
}
