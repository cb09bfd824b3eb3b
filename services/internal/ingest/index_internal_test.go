package ingest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// testStreamCreated is the creation time of the stream the test stores
// were made from.
var testStreamCreated = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

// streamInfo is that stream, ending at last.
func streamInfo(last uint64) *jetstream.StreamInfo {
	return &jetstream.StreamInfo{Created: testStreamCreated, State: jetstream.StreamState{LastSeq: last}}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// writeStore makes a store in dir of n ids (sequences 1…n) in two tables,
// the meta saying it is complete up to n, and closes it.
func writeStore(t *testing.T, dir string, n int) {
	t.Helper()
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	for half := range 2 {
		b := x.db.NewBatch()
		for i := half * n / 2; i < (half+1)*n/2; i++ {
			_ = b.Set(idDBKey(keyOf(fmt.Sprintf("id-%d", i))), idValue(idEntry{seq: uint64(i + 1)}), nil)
		}
		if half == 1 {
			m, _ := json.Marshal(indexMeta{Sequence: uint64(n), StreamCreated: testStreamCreated, Fold: family.SnapshotVersion, Catalog: events.NewestFingerprint()})
			_ = b.Set(metaKey, m, nil)
			_ = b.Set(topKey, binary.BigEndian.AppendUint64(nil, uint64(n)), nil)
		}
		if err := b.Commit(pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if err := x.db.Flush(); err != nil {
			t.Fatal(err)
		}
		if half == 0 {
			if err := x.db.Compact([]byte{0}, []byte{0xff}, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
}

// holdStoreEnv names the store a child test process holds open.
const holdStoreEnv = "INGEST_TEST_HOLD_STORE"

// Another process holds the store (the same data directory configured
// twice, or an old process not gone yet): OpenIndex fails, naming the
// store, and neither removes the store in use nor opens one beside it.
func TestIndexRefusesStoreAnotherProcessHolds(t *testing.T) {
	if dir := os.Getenv(holdStoreEnv); dir != "" {
		x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
		if err != nil {
			fmt.Println("child:", err)
			os.Exit(1)
		}
		defer x.Close()
		fmt.Println("holding")
		_, _ = io.ReadAll(os.Stdin) // until the parent closes stdin
		return
	}
	dir := t.TempDir()
	writeStore(t, dir, 4000)
	cmd := exec.Command(os.Args[0], "-test.run=^TestIndexRefusesStoreAnotherProcessHolds$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdStoreEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "holding\n" {
		t.Fatalf("child: %q", line)
	}
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err == nil {
		m, ok, _ := x.meta()
		x.Close()
		t.Fatalf("opened the store another process holds; its meta now %+v %v", m, ok)
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("error %q does not name the store and its other user", err)
	}
	// Once the child is gone, its store is there as it left it.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	x, err = OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	m, ok, err := x.meta()
	have, serr := x.StoredAll([]string{"id-0", "id-3999"}, make([][32]byte, 2))
	if err != nil || !ok || m.Sequence != 4000 || serr != nil || !have[0].Stored || !have[1].Stored {
		t.Fatalf("the store the child held: meta %+v %v %v, ids %+v %v", m, ok, err, have, serr)
	}
}

// A second index of the same store in one process is refused likewise.
func TestIndexRefusesStoreOpenTwice(t *testing.T) {
	dir := t.TempDir()
	writeStore(t, dir, 10)
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if y, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()}); err == nil {
		y.Close()
		t.Fatal("a second index of an open store")
	}
	if m, ok, err := x.meta(); err != nil || !ok || m.Sequence != 10 {
		t.Fatalf("the open store's meta: %+v %v", m, ok)
	}
}

// checkReopened opens the store in dir as a restart does, on a stream of
// n messages: either it is rebuilt (start reads from the stream's first
// message) or it answers every id it claims.
func checkReopened(t *testing.T, dir string, n int) {
	t.Helper()
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatalf("restart: %v (the damaged store is neither rebuilt nor usable)", err)
	}
	defer x.Close()
	m, err := x.start(streamInfo(uint64(n)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Sequence == 0 {
		return // rebuilt from the stream
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	got, err := x.StoredAll(ids, make([][32]byte, n))
	if err != nil {
		t.Fatalf("the store is trusted up to sequence %d, and StoredAll fails: %v", m.Sequence, err)
	}
	for i, g := range got {
		if !g.Stored {
			t.Fatalf("the store is trusted up to sequence %d, but id-%d (sequence %d) is unknown", m.Sequence, i, i+1)
		}
	}
}

// Pebble's Open panics on a store whose CURRENT file is gone: the store is
// rebuilt, rather than the process crashing at every start.
func TestIndexRebuildsStoreWithoutCurrent(t *testing.T) {
	dir := t.TempDir()
	writeStore(t, dir, 4000)
	if err := os.Remove(filepath.Join(dir, "CURRENT")); err != nil {
		t.Fatal(err)
	}
	checkReopened(t, dir, 4000)
	// And the lock taken for the failed open is still the index's: a
	// second open of the rebuilt store is refused, the one after Close is
	// not.
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	if y, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()}); err == nil {
		y.Close()
		t.Fatal("a second index of an open store")
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x, err = OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	x.Close()
}

// garble flips bytes all through the files matching pattern.
func garble(t *testing.T, pattern string) {
	t.Helper()
	fs, _ := filepath.Glob(pattern)
	if len(fs) == 0 {
		t.Fatalf("no %s", pattern)
	}
	for _, f := range fs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(b); i += 3 {
			b[i] ^= 0x33
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// commitFlushed commits b to x's store and writes it out as a table of
// its own.
func commitFlushed(t *testing.T, x *Index, b *pebble.Batch) {
	t.Helper()
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := x.db.Flush(); err != nil {
		t.Fatal(err)
	}
}

// The table holding the meta and a family is damaged, the ids' table is
// not, and the stream has been replaced since: the store must be emptied,
// not taken for one without a meta, whose ids (the old stream's) are kept.
func TestIndexRebuildsStoreWhoseMetaCannotBeRead(t *testing.T) {
	dir := t.TempDir()
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	b := x.db.NewBatch()
	for i := range 2000 {
		_ = b.Set(idDBKey(keyOf(fmt.Sprintf("id-%d", i))), idValue(idEntry{seq: uint64(i + 1)}), nil)
	}
	commitFlushed(t, x, b)
	ids, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	b = x.db.NewBatch()
	st, _ := family.New("F1").MarshalBinary()
	_ = b.Set(append([]byte{prefixFamily}, "F1"...), append(binary.BigEndian.AppendUint64(nil, 2000), st...), nil)
	commitFlushed(t, x, b)
	b = x.db.NewBatch()
	m, _ := json.Marshal(indexMeta{Sequence: 2000, StreamCreated: testStreamCreated, Fold: family.SnapshotVersion, Catalog: events.NewestFingerprint()})
	_ = b.Set(metaKey, m, nil)
	commitFlushed(t, x, b)
	x.Close()
	all, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	for _, f := range all {
		if !slices.Contains(ids, f) {
			garble(t, f)
		}
	}

	x, err = OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	// The stream was replaced: another creation time, 10 messages.
	got, err := x.start(&jetstream.StreamInfo{Created: testStreamCreated.Add(time.Hour), State: jetstream.StreamState{LastSeq: 10}})
	if err != nil || got.Sequence != 0 {
		t.Fatalf("start = %+v, %v; want a rebuild", got, err)
	}
	have, err := x.StoredAll([]string{"id-5"}, make([][32]byte, 1))
	if err != nil {
		t.Fatal(err)
	}
	if have[0].Stored {
		t.Fatalf("the replaced stream's id-5 is still stored (%+v)", have[0])
	}
}

// A store without a meta (ids committed before the first sequence was)
// whose table cannot be read is not an empty store: start empties it.
func TestIndexStartEmptiesUnreadableStoreWithoutMeta(t *testing.T) {
	dir := t.TempDir()
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	b := x.db.NewBatch()
	for i := range 2000 {
		_ = b.Set(idDBKey(keyOf(fmt.Sprintf("id-%d", i))), idValue(idEntry{seq: uint64(i + 1)}), nil)
	}
	commitFlushed(t, x, b)
	x.Close()
	// The table's data, not its footer, index and properties at the end.
	ts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(ts) != 1 {
		t.Fatalf("tables %v", ts)
	}
	data, err := os.ReadFile(ts[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data)/2; i += 3 {
		data[i] ^= 0x33
	}
	if err := os.WriteFile(ts[0], data, 0o600); err != nil {
		t.Fatal(err)
	}

	x, err = OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got, err := x.start(streamInfo(10)); err != nil || got.Sequence != 0 {
		t.Fatalf("start = %+v, %v; want a rebuild", got, err)
	}
	have, err := x.StoredAll([]string{"id-5"}, make([][32]byte, 1))
	if err != nil {
		t.Fatalf("after start, the store still cannot be read: %v", err)
	}
	if have[0].Stored {
		t.Fatalf("after start, id-5 is %+v; want an empty store", have[0])
	}
}

// flipBytes flips every step-th byte of the file from its byte from on,
// up to its byte to (the file's end when to is 0).
func flipBytes(t *testing.T, path string, from, to, step int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if to <= 0 || to > len(b) {
		to = len(b)
	}
	for i := from; i < to; i += step {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// firstTable is the oldest of the store's tables, which holds the first
// half of writeStore's ids.
func firstTable(t *testing.T, dir string) string {
	t.Helper()
	ts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	slices.Sort(ts)
	if len(ts) < 2 {
		t.Fatalf("want two tables, have %v", ts)
	}
	return ts[0]
}

// A table whose data is damaged opens (Pebble reads no table's data at
// open, nor does the index: that would cost a read of the whole store at
// every start). The first read that comes upon it marks the store for a
// rebuild and stops the index taking writes, saying why; the next start
// rebuilds the store rather than stopping at the same table again.
func TestIndexDamagedTableIsRebuiltAtNextStart(t *testing.T) {
	dir := t.TempDir()
	writeStore(t, dir, 4000)
	st, err := os.Stat(firstTable(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	flipBytes(t, firstTable(t, dir), 100, int(st.Size()/2), 7)

	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := x.start(streamInfo(4000)); err != nil || m.Sequence != 4000 {
		t.Fatalf("start = %+v, %v; want the store trusted until a read finds the damage", m, err)
	}
	MarkReady(x)
	ids := make([]string, 4000)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	if _, err := x.StoredAll(ids, make([][32]byte, len(ids))); err == nil {
		t.Fatal("StoredAll read the damaged table without an error")
	}
	if x.Ready() || !strings.Contains(x.Progress(), "damaged") || !strings.Contains(x.Progress(), "rebuild") {
		t.Fatalf("after the damage was found: ready %v, %q", x.Ready(), x.Progress())
	}
	x.Close()
	if _, err := os.Stat(filepath.Join(dir, rebuildMarker)); err != nil {
		t.Fatalf("the store is not marked for a rebuild: %v", err)
	}

	x, err = OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if m, err := x.start(streamInfo(4000)); err != nil || m.Sequence != 0 {
		t.Fatalf("restart: start = %+v, %v; want a rebuild", m, err)
	}
	got, err := x.StoredAll(ids, make([][32]byte, len(ids)))
	if err != nil || got[0].Stored {
		t.Fatalf("restart: the store is not empty: %+v %v", got[0], err)
	}
	if _, err := os.Stat(filepath.Join(dir, rebuildMarker)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the marker outlived the rebuild: %v", err)
	}
}

// What is cheap to check at open is checked: a table whose end (footer,
// index, properties) is damaged makes the store rebuilt at once.
func TestIndexChecksTablesEndsAtOpen(t *testing.T) {
	dir := t.TempDir()
	writeStore(t, dir, 4000)
	st, err := os.Stat(firstTable(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	flipBytes(t, firstTable(t, dir), int(st.Size())-200, 0, 3)
	checkReopened(t, dir, 4000)
}

// A family entry that cannot be decoded is damage too: loading the family
// fails and marks the store for a rebuild.
func TestIndexUndecodableFamilyMarksStoreForRebuild(t *testing.T) {
	dir := t.TempDir()
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	b := x.db.NewBatch()
	_ = b.Set(append([]byte{prefixFamily}, "F1"...), []byte{1, 2, 3}, nil)
	m, _ := json.Marshal(indexMeta{Sequence: 3, StreamCreated: testStreamCreated, Fold: family.SnapshotVersion, Catalog: events.NewestFingerprint()})
	_ = b.Set(metaKey, m, nil)
	commitFlushed(t, x, b)
	MarkReady(x)
	if l, err := x.Lock([]string{"F1"}); err == nil {
		l.Unlock()
		t.Fatal("a family entry of 3 bytes was loaded")
	}
	if x.Ready() || !strings.Contains(x.Progress(), "rebuild") {
		t.Fatalf("ready %v, %q", x.Ready(), x.Progress())
	}
	x.Close()
	if _, err := os.Stat(filepath.Join(dir, rebuildMarker)); err != nil {
		t.Fatalf("the store is not marked for a rebuild: %v", err)
	}
}

// The index's progress, when the store failed, is the readiness check
// that /readyz answers anyone with, and the detail of the 503 every
// department gets: it says what failed, and names no family; the log has
// the error whole.
func TestIndexFailureNamesNoFamily(t *testing.T) {
	var logged bytes.Buffer
	x, err := OpenIndex(IndexOptions{Dir: t.TempDir(), Log: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	const fam = "FAM-Q7-undecodable"
	b := x.db.NewBatch()
	_ = b.Set(append([]byte{prefixFamily}, fam...), []byte{1, 2, 3}, nil)
	m, _ := json.Marshal(indexMeta{Sequence: 3, StreamCreated: testStreamCreated, Fold: family.SnapshotVersion, Catalog: events.NewestFingerprint()})
	_ = b.Set(metaKey, m, nil)
	commitFlushed(t, x, b)
	MarkReady(x)
	if l, err := x.Lock([]string{fam}); err == nil {
		l.Unlock()
		t.Fatal("a family entry of 3 bytes was loaded")
	}
	p := x.Progress()
	if x.Ready() || !strings.Contains(p, "entry of 3 bytes") {
		t.Fatalf("ready %v, %q", x.Ready(), p)
	}
	if strings.Contains(p, fam) {
		t.Errorf("the index's progress names the family: %q", p)
	}
	if !strings.Contains(logged.String(), fam) {
		t.Errorf("the log does not name the family: %s", logged.String())
	}
}

// storeAhead makes, as ingest does, a store complete up to sequence 8 that
// also holds what a write acknowledged at sequence 10 stored: the id
// "ahead", and family F1 with last sequence 10, which the consumer's
// flush at 8 stored too.
func storeAhead(t *testing.T, dir string) {
	t.Helper()
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	cs := &consumerState{dirty: map[string]*familyEntry{}, batch: x.db.NewBatch(),
		meta: indexMeta{StreamCreated: testStreamCreated, Fold: family.SnapshotVersion, Catalog: events.NewestFingerprint()}}
	for i := range 8 {
		if err := x.rememberID(cs, uint64(i+1), stored{id: fmt.Sprintf("id-%d", i+1)}); err != nil {
			t.Fatal(err)
		}
		x.advance(cs, uint64(i+1))
	}
	if err := x.commitIDs(cs); err != nil {
		t.Fatal(err)
	}
	l, err := x.Lock([]string{"F1"})
	if err != nil {
		t.Fatal(err)
	}
	l.Stored("F1", "ahead", 10, [32]byte{})
	l.Unlock()
	fe, err := x.acquire("F1")
	if err != nil {
		t.Fatal(err)
	}
	cs.dirty["F1"] = fe
	if err := x.flush(cs); err != nil {
		t.Fatal(err)
	}
	cs.batch.Close()
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
}

// The stream ends at 8, its server having lost the messages after 8 it
// had acknowledged (a crash before its fsync): the store's sequence, 8, is
// not past the end, but its id "ahead" and F1's last sequence 10 are. The
// store is rebuilt; trusted, "ahead" would be a duplicate of an event that
// is gone, and every write to F1 would expect sequence 10, which the
// stream does not have.
func TestIndexRebuildsStoreWithEntriesPastStreamEnd(t *testing.T) {
	dir := t.TempDir()
	storeAhead(t, dir)
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	m, err := x.start(streamInfo(8))
	if err != nil {
		t.Fatal(err)
	}
	have, err := x.StoredAll([]string{"ahead"}, make([][32]byte, 1))
	if err != nil {
		t.Fatal(err)
	}
	l, err := x.Lock([]string{"F1"})
	if err != nil {
		t.Fatal(err)
	}
	last := l.LastSequence("F1")
	l.Unlock()
	if m.Sequence != 0 || have[0].Stored || last != 0 {
		t.Fatalf("the stream ends at 8; the store is read from %d, with \"ahead\" %+v and F1 at last sequence %d", m.Sequence, have[0], last)
	}
}

// Entries ahead of the store's sequence but within the stream are what a
// restart expects: the store is trusted, and the tail read from 9.
func TestIndexTrustsStoreWithEntriesWithinStream(t *testing.T) {
	dir := t.TempDir()
	storeAhead(t, dir)
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if m, err := x.start(streamInfo(10)); err != nil || m.Sequence != 8 {
		t.Fatalf("start = %+v, %v; want the store trusted up to 8", m, err)
	}
	have, err := x.StoredAll([]string{"id-3", "ahead"}, make([][32]byte, 2))
	if err != nil || have[0].Sequence != 3 || have[1].Sequence != 10 {
		t.Fatalf("StoredAll = %+v, %v", have, err)
	}
}

// A store of an earlier build records no top: whether its entries ahead
// of its sequence are in the stream cannot be known, and it is rebuilt
// once. (Here it holds an id and F1 at sequence 10, the stream ending at
// 8.)
func TestIndexRebuildsStoreWithoutTop(t *testing.T) {
	dir := t.TempDir()
	x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	b := x.db.NewBatch()
	for i := range 8 {
		_ = b.Set(idDBKey(keyOf(fmt.Sprintf("id-%d", i+1))), idValue(idEntry{seq: uint64(i + 1)}), nil)
	}
	_ = b.Set(idDBKey(keyOf("ahead")), idValue(idEntry{seq: 10}), nil)
	st, _ := family.New("F1").MarshalBinary()
	_ = b.Set(append([]byte{prefixFamily}, "F1"...), append(binary.BigEndian.AppendUint64(nil, 10), st...), nil)
	m, _ := json.Marshal(indexMeta{Sequence: 8, StreamCreated: testStreamCreated, Fold: family.SnapshotVersion, Catalog: events.NewestFingerprint()})
	_ = b.Set(metaKey, m, nil)
	commitFlushed(t, x, b)
	x.Close()

	x, err = OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got, err := x.start(streamInfo(8)); err != nil || got.Sequence != 0 {
		t.Fatalf("start = %+v, %v; want a rebuild", got, err)
	}
	have, err := x.StoredAll([]string{"ahead"}, make([][32]byte, 1))
	if err != nil || have[0].Stored {
		t.Fatalf("after start, \"ahead\": %+v %v", have, err)
	}
}

// A store emptied at open for a rebuild (marked damaged, or unreadable)
// is reported as rebuilding, not as catching up, from the moment it is
// opened; an intact store is catching up.
func TestIndexEmptiedAtOpenReportsRebuilding(t *testing.T) {
	for name, c := range map[string]struct {
		damage func(t *testing.T, dir string)
		prefix string
	}{
		"marked damaged": {func(t *testing.T, dir string) {
			if err := writeMarker(filepath.Join(dir, rebuildMarker), "a damaged table"); err != nil {
				t.Fatal(err)
			}
		}, "rebuilding the index from the event store"},
		"unreadable": {func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "CURRENT")); err != nil {
				t.Fatal(err)
			}
		}, "rebuilding the index from the event store"},
		"intact": {func(*testing.T, string) {}, "catching up with the event store"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeStore(t, dir, 100)
			c.damage(t, dir)
			x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			if p := x.Progress(); !strings.HasPrefix(p, c.prefix) {
				t.Errorf("Progress() = %q; want it to begin %q", p, c.prefix)
			}
		})
	}
}

// A store whose family states were folded from the newest versions of
// another catalog (another events.NewestFingerprint: a type gained a
// version since) is rebuilt, as one of another fold is; one of the same
// catalog is trusted.
func TestIndexRebuildsStoreOfAnotherCatalog(t *testing.T) {
	dir := t.TempDir()
	writeStore(t, dir, 100)
	for _, c := range []struct {
		catalog string
		want    uint64
	}{{events.NewestFingerprint(), 100}, {"another catalog", 0}} {
		x, err := OpenIndex(IndexOptions{Dir: dir, Log: discardLog()})
		if err != nil {
			t.Fatal(err)
		}
		x.catalog = c.catalog
		m, err := x.start(streamInfo(100))
		x.Close()
		if err != nil || m.Sequence != c.want || m.Catalog != c.catalog {
			t.Fatalf("catalog %q: start = %+v, %v; want the store trusted up to %d", c.catalog, m, err, c.want)
		}
	}
}
