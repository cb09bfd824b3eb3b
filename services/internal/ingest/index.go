package ingest

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/dirlock"
	"kk.dk/jobogfamilie/services/internal/durable"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// DefaultCacheFamilies is how many family states the index keeps in memory
// by default (-ingest-cache-families).
const DefaultCacheFamilies = 20000

// Index is ingest's view of the event store: each family's state with the
// stream sequence of its last message, and every event id ever stored with a
// hash of its content. Both live in a local Pebble store, with the stream
// sequence up to which it is complete; memory holds only a bounded cache of
// hot families and the ids of the last few thousand messages not yet
// committed to the store. At start the index reads only the stream's tail
// after that sequence; a lost or unreadable store is rebuilt from the
// whole stream.
//
// One ordered consumer over the stream feeds it, so the cost of a write
// does not grow with the size of the stream, and idempotency holds long
// after JetStream's dedupe window. Writes made through this process update
// the family as soon as JetStream acknowledges them, and store their ids at
// once; the consumer brings in everything else (other processes, direct
// NATS publishes) and skips what is already applied. That is sound because
// a write for family F succeeds only if F's last sequence was the one
// expected, so no message of F can lie between what the index had applied
// and the acknowledged one.
//
// The store is written without fsync: the stream is the record, and
// Pebble's write-ahead log recovers a prefix of what was written, so the
// stored sequence never claims more than the families and ids stored
// before it. A family state may be stored ahead of that sequence (written
// by this process); the tail's messages up to the family's own last
// sequence are then skipped, as they are when applied live. The highest
// sequence any stored id or family refers to is stored with them (the top
// key), and a store whose top is past the stream's end is rebuilt.
type Index struct {
	log *slog.Logger
	db  *pebble.DB
	dir string // "" for a store in memory
	// lock is the store directory's lock, held while the index is open.
	lock *pebble.Lock

	mu sync.Mutex
	// cache holds the hot families, most recently used at the front.
	cache    map[string]*list.Element
	lru      list.List
	capacity int
	// loading holds the families being loaded from the store, which are
	// not cached meanwhile (acquire).
	loading map[string]*familyLoad
	// loaded, when set (by tests), is called after a load of a family has
	// read the store and before it takes mu.
	loaded func(familyID string)
	// pending are ids the consumer applied that are not committed yet.
	pending map[idKey]idEntry

	// applied is the highest stream sequence the consumer has processed;
	// stored the one the store is complete up to.
	applied eventstore.Position
	stored  atomic.Uint64
	// acked is the highest sequence JetStream acknowledged to a write
	// through this index.
	acked eventstore.Position

	read      atomic.Uint64
	ready     atomic.Bool
	failed    atomic.Bool
	progress  atomic.Pointer[string]
	decodeErr atomic.Uint64
	// damaged is set once a read found the store damaged (markDamaged).
	damaged atomic.Bool
	// rebuilding is set when OpenIndex emptied the store for a rebuild (it
	// was marked damaged, or could not be read) or found one a stop
	// interrupted (indexMeta.Rebuilding): until Run reads the stream,
	// Progress says the index is being rebuilt.
	rebuilding atomic.Bool

	// topMu orders the commits that carry the top key (commitTop); top is
	// the highest sequence committed with it, or the meta's sequence if
	// higher. topFound: the store had the key when it was opened.
	topMu    sync.Mutex
	top      uint64
	topFound bool

	// gate guards the store against Close: the writes' use of it (StoredAll,
	// and a Locked from Lock to Unlock) holds it for reading, Close for
	// writing, and closed is set once the store is closed.
	gate   sync.RWMutex
	closed bool

	// catalog is this build's events.NewestFingerprint: a store whose
	// family states were folded from the newest versions of another
	// catalog is rebuilt (start).
	catalog string

	// Keys decrypt the events' personal fields (package shred), so that
	// a re-sent event's content hash is that of the stored one.
	Keys *shred.Keyring
}

type idKey [16]byte

type idEntry struct {
	seq  uint64
	hash [16]byte
}

type familyEntry struct {
	id      string
	mu      sync.Mutex
	state   *family.State
	lastSeq uint64
	// refs counts the writes and the consumer's unflushed changes holding
	// the entry (guarded by Index.mu): it is not evicted while held.
	refs int
}

// Keys of the store: 'i' + idKey → hash(16) seq(8); 'f' + family id →
// last sequence(8) and the family.State snapshot; the meta key → indexMeta;
// the top key → the highest stream sequence an id or a family state in the
// store refers to (8 bytes, commitTop).
const (
	prefixID     = 'i'
	prefixFamily = 'f'
)

var (
	metaKey = []byte("meta")
	topKey  = []byte("top")
)

// indexMeta says what the store covers: the stream sequence it is complete
// up to, the stream (by its creation time, so a replaced stream is not
// mistaken for it), the fold the family states were made with and the
// catalog whose newest versions the fold read the events as
// (events.NewestFingerprint; none in a store of an earlier build).
// Rebuilding is set while a rebuild from the stream's start has not
// reached the stream's end: a rebuild that a stop interrupted resumes
// from Sequence at the next start and is still reported as a rebuild,
// not as a catch-up of a store that was complete.
type indexMeta struct {
	Sequence      uint64    `json:"sequence"`
	StreamCreated time.Time `json:"streamCreated"`
	Fold          int       `json:"fold"`
	Catalog       string    `json:"catalog,omitempty"`
	Rebuilding    bool      `json:"rebuilding,omitempty"`
}

// IndexOptions configure OpenIndex.
type IndexOptions struct {
	// Dir is the store's directory; empty keeps it in memory.
	Dir string
	// CacheFamilies bounds the family states kept in memory
	// (DefaultCacheFamilies when 0).
	CacheFamilies int
	// Keys decrypt the stored events' personal fields (Index.Keys).
	Keys *shred.Keyring
	Log  *slog.Logger
}

// NewIndex makes an empty index whose store is in memory.
func NewIndex(log *slog.Logger) *Index {
	x, err := OpenIndex(IndexOptions{Log: log})
	if err != nil {
		panic(err) // an empty store in memory cannot fail to open
	}
	return x
}

// OpenIndex opens (or creates) the index's store. Its directory is locked
// first, for as long as the index is open: a store another process (or
// another index of this one) holds is an error, and is left alone. A store
// that cannot be read is then emptied, to be rebuilt from the stream by Run;
// one that cannot be reached (no permission, no room, a read-only file
// system) is an error too, as a rebuild would not help.
func OpenIndex(o IndexOptions) (*Index, error) {
	x := &Index{log: o.Log, dir: o.Dir, Keys: o.Keys, cache: map[string]*list.Element{}, pending: map[idKey]idEntry{},
		loading: map[string]*familyLoad{}, capacity: o.CacheFamilies, catalog: events.NewestFingerprint()}
	if x.log == nil {
		x.log = slog.Default()
	}
	if x.capacity <= 0 {
		x.capacity = DefaultCacheFamilies
	}
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("ingest index: %w", err)
		}
		lock, err := lockStore(o.Dir)
		if err != nil {
			return nil, err
		}
		x.lock = lock
		if why, err := os.ReadFile(filepath.Join(o.Dir, rebuildMarker)); err == nil {
			x.log.Error("ingest index: the local store was found damaged; rebuilding it from the stream", "dir", o.Dir, "damage", strings.TrimSpace(string(why)))
			if err := clearStore(o.Dir); err != nil {
				x.unlock()
				return nil, fmt.Errorf("ingest index: removing the damaged store %s: %w", o.Dir, err)
			}
			x.rebuilding.Store(true)
		}
	}
	db, err := x.openStore()
	if err != nil && o.Dir != "" && unreadable(err) {
		x.log.Error("ingest index: the local store cannot be read; rebuilding it from the stream", "dir", o.Dir, "err", err)
		if rerr := clearStore(o.Dir); rerr != nil {
			x.unlock()
			return nil, fmt.Errorf("ingest index: removing the unreadable store %s: %w", o.Dir, rerr)
		}
		x.rebuilding.Store(true)
		db, err = x.openStore()
	}
	if err != nil {
		x.unlock()
		return nil, fmt.Errorf("ingest index: opening %s: %w", o.Dir, err)
	}
	x.db = db
	m, ok, err := x.meta()
	var top uint64
	if err == nil {
		top, x.topFound, err = x.storedTop()
	}
	if err != nil {
		x.log.Error("ingest index: the local store's meta cannot be read; rebuilding the store from the stream", "dir", o.Dir, "err", err)
		if err := x.recreate(); err != nil {
			x.unlock()
			return nil, fmt.Errorf("ingest index: emptying the unreadable store %s: %w", o.Dir, err)
		}
		x.rebuilding.Store(true)
		return x, nil
	}
	if ok {
		x.stored.Store(m.Sequence)
		x.applied.Set(m.Sequence)
		if m.Rebuilding {
			x.rebuilding.Store(true)
		}
	}
	x.top = max(top, m.Sequence)
	return x, nil
}

// lockFile is the file in the store's directory that Pebble locks.
const lockFile = dirlock.File

// lockStore locks the store's directory, as Pebble's Open would; taken
// before the store is opened, the lock also covers emptying an unreadable
// store, so that a store in use is never removed.
func lockStore(dir string) (*pebble.Lock, error) {
	l, err := dirlock.Lock(dir)
	if errors.Is(err, dirlock.ErrHeld) {
		return nil, fmt.Errorf("ingest index: the store %s is in use by another process (or another index of this one): "+
			"each ingest process needs a data directory of its own; the store is left as it is: %w", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("ingest index: locking the store %s: %w", dir, err)
	}
	return l, nil
}

// unlock releases the store's directory lock, once the store is closed.
func (x *Index) unlock() error {
	if x.lock == nil {
		return nil
	}
	l := x.lock
	x.lock = nil
	return l.Close()
}

// unreadable reports whether err, from opening the store with its directory
// locked, says that the store's files are damaged or missing, so that a
// rebuild is the remedy. Pebble reports damage in many shapes (a corruption
// error, a table "unknown to the objstorage provider", a table whose size
// is not the manifest's, an empty CURRENT), so the errors that say the
// store cannot be reached are named instead: with those, the store may well
// be intact, and a rebuild would fail the same way.
func unreadable(err error) bool {
	for _, e := range []error{os.ErrPermission, syscall.EROFS, syscall.ENOSPC, syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

// clearStore removes the store's files but the lock, which this process
// holds; the rebuild marker goes last, so that a removal cut short is
// taken up again at the next start.
func clearStore(dir string) error {
	es, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.Name() == lockFile || e.Name() == rebuildMarker {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(dir, rebuildMarker)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// rebuildMarker is the file in the store's directory that says the store
// was found damaged, and is to be rebuilt at the next start.
const rebuildMarker = "REBUILD"

// openStore opens the index's store and checks what is cheap to check:
// Pebble's Open reads the manifest and the log, and finds a table missing
// or of another size than the manifest's; each table's footer, metaindex
// and properties are read here (a few small reads a table, and a store of
// 10M events has a few dozen tables). Not the tables' data: reading 450
// MiB at every start would take restart-to-ready from a tenth of a second
// to seconds. Damage there is found when a read or a compaction comes
// upon it (markDamaged).
func (x *Index) openStore() (*pebble.DB, error) {
	db, err := openStore(x.dir, x.lock, x.backgroundError)
	if err != nil || x.dir == "" {
		return db, err
	}
	if _, err := db.SSTables(pebble.WithProperties()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("reading the store's tables: %w", err)
	}
	return db, nil
}

// isDamage reports whether err, from a read of the store, says the store
// is damaged: a checksum or format error, or a file gone.
func isDamage(err error) bool {
	return pebble.IsCorruptionError(err) || errors.Is(err, os.ErrNotExist)
}

// markDamaged passes err on; when it says the store is damaged, it first
// marks the store for a rebuild at the next start (rebuildMarker) and
// stops the index taking writes. The store's checksums are verified as its
// blocks are read, so a damaged table is found by the first lookup, load
// of a family or compaction that reads it; without the marker, every
// restart would trust the store again and stop at the same table.
func (x *Index) markDamaged(err error) error {
	if err == nil || !isDamage(err) || !x.damaged.CompareAndSwap(false, true) {
		return err
	}
	if x.dir != "" {
		if werr := writeMarker(filepath.Join(x.dir, rebuildMarker), err.Error()); werr != nil {
			x.log.Error("ingest index: marking the damaged store for a rebuild; remove it by hand", "dir", x.dir, "err", werr)
		}
	}
	x.fail(err)
	return err
}

// backgroundError is Pebble's report of an error of a flush or a
// compaction: a compaction reads whole tables, and so may be the first to
// find one damaged.
func (x *Index) backgroundError(err error) {
	if isDamage(err) {
		_ = x.markDamaged(err)
	}
}

// writeMarker writes text to path, durably: the marker must outlive a
// crash that comes before the next start.
func writeMarker(path, text string) error {
	return durable.WriteFile(path, []byte(text+"\n"), 0o600)
}

// The index store's memtable size, and the block cache beyond the memtables'
// share of it: enough for the index and filter blocks of 10M events' ids
// (about 16 MiB), not for their data.
const (
	memTableSize = 8 << 20
	blockCache   = 32 << 20
)

// openStore opens the store in dir (in memory when dir is ""), whose
// directory lock the caller holds (or, when lock is nil, Open takes);
// background, when not nil, is told of the errors of Pebble's flushes
// and compactions. Pebble panics on some damaged stores (without its CURRENT file, on a
// nil pointer in its log's replay): that is an unreadable store too, not
// a crash at every start.
func openStore(dir string, lock *pebble.Lock, background func(error)) (db *pebble.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("pebble: opening the store failed: %v", r)
		}
	}()
	o := &pebble.Options{
		// Small memtables and cache: the store's working set is the ids of
		// new events and the families written, and memory must not grow
		// with history. Bloom filters make the lookup of a new id (the
		// common case) a filter check per level, which needs each table's
		// index and filter blocks in the cache: Pebble reserves the
		// memtables' memory in the block cache, so the cache is that
		// (two memtables) and blockCache more. (With 16 MiB in all, none
		// was left for blocks, and every lookup read and decompressed them
		// from the files: 10–20 µs a new id, a fifth of ingest's CPU.)
		MemTableSize:                memTableSize,
		MemTableStopWritesThreshold: 4,
		Cache:                       pebble.NewCache(2*memTableSize + blockCache),
		Logger:                      quietPebble{},
		Comparer:                    storeComparer,
		Lock:                        lock,
	}
	if background != nil {
		o.EventListener = &pebble.EventListener{BackgroundError: background}
	}
	defer o.Cache.Unref()
	o.Levels = make([]pebble.LevelOptions, 7)
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		o.Levels[i].FilterType = pebble.TableFilter
	}
	if dir == "" {
		o.FS = vfs.NewMem()
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return pebble.Open(dir, o)
}

// storeComparer is Pebble's default order with the whole key as the
// prefix its bloom filters are built from, as they are without a Split: so
// that the id lookups (seekID) may seek by prefix and consult them, and the
// store stays readable by builds without it (same name, same filters).
var storeComparer = func() *pebble.Comparer {
	c := *pebble.DefaultComparer
	c.Split = func(key []byte) int { return len(key) }
	return &c
}()

// quietPebble keeps Pebble's informational lines out of the process log;
// its errors still reach the callers.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("ingest index store: "+format, args...))
}

// meta reads the store's meta: ok is false when the store has none, and
// an error says the store cannot be read (or its meta is not one), which
// is not the same: that store must be rebuilt.
func (x *Index) meta() (m indexMeta, ok bool, err error) {
	v, c, err := x.db.Get(metaKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("ingest index: reading the meta: %w", err)
	}
	defer c.Close()
	if err := json.Unmarshal(v, &m); err != nil {
		return indexMeta{}, false, fmt.Errorf("ingest index: the meta %q: %w", v, err)
	}
	return m, true, nil
}

// putMeta writes the store's meta on its own.
func (x *Index) putMeta(m indexMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := x.db.Set(metaKey, b, pebble.Sync); err != nil {
		return fmt.Errorf("writing the meta: %w", err)
	}
	return nil
}

// storedTop reads the top key; ok is false when the store has none (an
// empty store, or one of an earlier build).
func (x *Index) storedTop() (top uint64, ok bool, err error) {
	v, c, err := x.db.Get(topKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("ingest index: reading the top sequence: %w", err)
	}
	defer c.Close()
	if len(v) != 8 {
		return 0, false, fmt.Errorf("ingest index: a top sequence of %d bytes: %w", len(v), pebble.ErrCorruption)
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// commitTop commits b, whose ids and family states refer to sequences up
// to seq, and with them the top key when seq raises it. Pebble's log
// recovers a prefix of the commits, so the stored top is never below a
// sequence an entry stored before it refers to. Commits carrying the top
// are ordered by topMu, so that a lower top never lands after a higher
// one; they are the writes' (one a write, with its ids) and the
// consumer's (one every few thousand messages), and a commit without fsync
// is a few microseconds.
func (x *Index) commitTop(b *pebble.Batch, seq uint64) error {
	x.topMu.Lock()
	defer x.topMu.Unlock()
	if seq > x.top {
		_ = b.Set(topKey, binary.BigEndian.AppendUint64(nil, seq), nil)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	x.top = max(x.top, seq)
	return nil
}

// topSequence is the highest sequence an entry of the store refers to.
func (x *Index) topSequence() uint64 {
	x.topMu.Lock()
	defer x.topMu.Unlock()
	return x.top
}

// ErrClosed is what the index answers once its store is closed: the
// process is stopping, and a write is refused as unavailable.
var ErrClosed = errors.New("ingest index: closed")

// Close closes the store, once the writes holding families have unlocked
// them; from then on StoredAll and Lock return ErrClosed. Run closes the
// store when it ends; Close must not be called while Run runs. The
// memtable is written out first, so that the next start replays no log.
func (x *Index) Close() error {
	x.gate.Lock()
	defer x.gate.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	if x.db == nil {
		// recreate failed: the damaged store is closed already.
		return x.unlock()
	}
	if err := x.db.Flush(); err != nil {
		x.log.Warn("ingest index: flushing the store at close", "err", err)
	}
	return errors.Join(x.db.Close(), x.unlock())
}

// enter holds the store open for a write's use of it (leave lets it go),
// or returns ErrClosed.
func (x *Index) enter() error {
	x.gate.RLock()
	if x.closed {
		x.gate.RUnlock()
		return ErrClosed
	}
	return nil
}

func (x *Index) leave() { x.gate.RUnlock() }

// reset empties the store, for a rebuild.
func (x *Index) reset() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.db.DeleteRange([]byte{0}, []byte{0xff}, pebble.NoSync); err != nil {
		return err
	}
	x.forget()
	return nil
}

// forget empties what the index holds in memory of the store, which was
// emptied; x.mu is held.
func (x *Index) forget() {
	x.cache = map[string]*list.Element{}
	x.lru.Init()
	x.loading = map[string]*familyLoad{}
	x.pending = map[idKey]idEntry{}
	x.stored.Store(0)
	x.applied.Set(0)
	x.topMu.Lock()
	x.top = 0
	x.topMu.Unlock()
}

// recreate replaces a store that cannot be read by an empty one, for a
// rebuild: its files are removed, where reset's range deletion would leave
// the damaged tables in place, to be read by compactions and lookups.
func (x *Index) recreate() error {
	if x.dir == "" {
		return x.reset()
	}
	x.gate.Lock()
	defer x.gate.Unlock()
	// A damaged store may well fail to close cleanly; its files go anyway.
	if err := x.db.Close(); err != nil {
		x.log.Warn("ingest index: closing the unreadable store", "dir", x.dir, "err", err)
	}
	x.db = nil
	if err := clearStore(x.dir); err != nil {
		return err
	}
	db, err := x.openStore()
	if err != nil {
		return err
	}
	x.db = db
	x.mu.Lock()
	defer x.mu.Unlock()
	x.forget()
	return nil
}

func keyOf(id string) idKey {
	h := sha256.Sum256([]byte(id))
	var k idKey
	copy(k[:], h[:])
	return k
}

func hashOf(h [32]byte) [16]byte {
	var out [16]byte
	copy(out[:], h[:])
	return out
}

func idDBKey(k idKey) []byte { return append([]byte{prefixID}, k[:]...) }

func idValue(e idEntry) []byte {
	v := make([]byte, 24)
	copy(v, e.hash[:])
	binary.BigEndian.PutUint64(v[16:], e.seq)
	return v
}

// lookupID finds a stored id: among the consumer's uncommitted ones first,
// then in the store.
func (x *Index) lookupID(k idKey) (idEntry, bool, error) {
	x.mu.Lock()
	e, ok := x.pending[k]
	x.mu.Unlock()
	if ok {
		return e, true, nil
	}
	it, err := x.db.NewIter(&idIterOptions)
	if err != nil {
		return idEntry{}, false, x.markDamaged(fmt.Errorf("ingest index: %w", err))
	}
	e, ok, err = seekID(it, idDBKey(k))
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("ingest index: %w", cerr)
	}
	return e, ok && err == nil, x.markDamaged(err)
}

// idIterOptions are those of the iterators that look ids up. Pebble
// consults the bottom level's bloom filters only when asked (for a point
// Get it does not): nearly every id lives in that level, so without them
// every new id, the common case, cost a search of an index and a data
// block, where the filter mostly answers alone.
var idIterOptions = pebble.IterOptions{LowerBound: []byte{prefixID}, UpperBound: []byte{prefixID + 1}, UseL6Filters: true}

// seekID looks key up with it: by prefix (the whole key, storeComparer),
// which is what lets the tables' bloom filters answer.
func seekID(it *pebble.Iterator, key []byte) (idEntry, bool, error) {
	if !it.SeekPrefixGE(key) || !bytes.Equal(it.Key(), key) {
		return idEntry{}, false, it.Error()
	}
	v := it.Value()
	if len(v) != 24 {
		return idEntry{}, false, fmt.Errorf("ingest index: id entry of %d bytes: %w", len(v), pebble.ErrCorruption)
	}
	return idEntry{hash: [16]byte(v[:16]), seq: binary.BigEndian.Uint64(v[16:])}, true, nil
}

// IDState is what the index knows of one event id (StoredAll).
type IDState struct {
	// Stored: the id is stored, at Sequence; SameContent: with the
	// content hash asked about.
	Stored, SameContent bool
	Sequence            uint64
}

// StoredAll reports for each of ids whether it is stored: at which
// sequence, and whether with the content whose events.ContentHash is
// hashes[i]. It reads the store with one iterator, in key order: an iterator
// spans every level of the store, and building one for each of a batch's
// ids cost more than the seeks.
func (x *Index) StoredAll(ids []string, hashes [][32]byte) ([]IDState, error) {
	if err := x.enter(); err != nil {
		return nil, err
	}
	defer x.leave()
	out := make([]IDState, len(ids))
	keys := make([][]byte, len(ids))
	order := make([]int, 0, len(ids))
	x.mu.Lock()
	for i, id := range ids {
		k := keyOf(id)
		if e, ok := x.pending[k]; ok {
			out[i] = IDState{Stored: true, SameContent: e.hash == hashOf(hashes[i]), Sequence: e.seq}
			continue
		}
		keys[i] = idDBKey(k)
		order = append(order, i)
	}
	x.mu.Unlock()
	if len(order) == 0 {
		return out, nil
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
	it, err := x.db.NewIter(&idIterOptions)
	if err != nil {
		return nil, x.markDamaged(fmt.Errorf("ingest index: %w", err))
	}
	defer it.Close()
	for _, i := range order {
		e, ok, err := seekID(it, keys[i])
		if err != nil {
			return nil, x.markDamaged(err)
		}
		out[i] = IDState{Stored: ok, SameContent: ok && e.hash == hashOf(hashes[i]), Sequence: e.seq}
	}
	return out, nil
}

// acquire returns the family's entry, loaded from the store when it is not
// cached, and holds it (release lets it go).
//
// A family is loaded by one caller at a time; the others wait for it
// (x.loading). That keeps the invariant the cache rests on: the store's
// state of a family changes only while the family is cached and held
// (flush writes the consumer's held entries, and releases them after the
// commit), so a load, during which the family is not cached, reads its
// latest state. Two loads of one family at once would break it: the
// consumer could load the family too, fold a newer message in, flush and
// release it, and have it evicted before the first load takes x.mu; that
// load's older state would then become the family's entry, later messages
// would be folded onto it, and writes would be checked against a state
// missing a message at the last sequence the stream expects.
func (x *Index) acquire(id string) (*familyEntry, error) {
	x.mu.Lock()
	for {
		if el, ok := x.cache[id]; ok {
			x.lru.MoveToFront(el)
			fe := el.Value.(*familyEntry)
			fe.refs++
			x.mu.Unlock()
			return fe, nil
		}
		ld, loading := x.loading[id]
		if !loading {
			ld = &familyLoad{done: make(chan struct{})}
			x.loading[id] = ld
		}
		x.mu.Unlock()
		if loading {
			// Another caller loads it: its entry is then cached, unless
			// evicted again (or the load failed), and is looked for again.
			<-ld.done
			x.mu.Lock()
			continue
		}
		fe, err := x.load(id)
		if x.loaded != nil {
			x.loaded(id)
		}
		x.mu.Lock()
		// forget (the store emptied for a rebuild) drops the loads under
		// way: what this one read is of the store before.
		mine := x.loading[id] == ld
		if mine {
			delete(x.loading, id)
		}
		close(ld.done)
		if err != nil {
			x.mu.Unlock()
			return nil, err
		}
		if !mine {
			continue
		}
		x.cache[id] = x.lru.PushFront(fe)
		// Held before evicting, so that the entry being handed out stays
		// the family's one entry.
		fe.refs++
		x.evict()
		x.mu.Unlock()
		return fe, nil
	}
}

// familyLoad is a load of a family from the store under way (acquire):
// done is closed when it has ended, its entry cached or not.
type familyLoad struct {
	done chan struct{}
}

// load reads the family's entry from the store: a new family when the
// store has none.
func (x *Index) load(id string) (*familyEntry, error) {
	fe := &familyEntry{id: id}
	v, c, err := x.db.Get(append([]byte{prefixFamily}, id...))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		fe.state = family.New(id)
	case err != nil:
		return nil, x.markDamaged(familyErr(id, err))
	default:
		st := &family.State{}
		if len(v) < 8 {
			err = fmt.Errorf("entry of %d bytes", len(v))
		} else {
			fe.lastSeq = binary.BigEndian.Uint64(v)
			err = st.UnmarshalBinary(v[8:])
		}
		c.Close()
		if err != nil {
			// The store holds no state this build cannot read (start
			// rebuilds a store of another fold): the entry is damaged.
			return nil, x.markDamaged(familyErr(id, fmt.Errorf("%w: %w", err, pebble.ErrCorruption)))
		}
		fe.state = st
	}
	return fe, nil
}

// evict drops the least recently used families that nobody holds until
// the cache is within its capacity. Their state is in the store, or in the
// stream after the store's sequence, where the consumer finds it again.
func (x *Index) evict() {
	el := x.lru.Back()
	for len(x.cache) > x.capacity && el != nil {
		prev := el.Prev()
		if fe := el.Value.(*familyEntry); fe.refs == 0 {
			x.lru.Remove(el)
			delete(x.cache, fe.id)
		}
		el = prev
	}
}

func (x *Index) release(fe *familyEntry) {
	x.mu.Lock()
	fe.refs--
	x.mu.Unlock()
}

// CachedFamilies is the number of family states in memory.
func (x *Index) CachedFamilies() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.cache)
}

// Locked is a set of families held for one write: while it is held no
// other write through this index decides on them, and the consumer does
// not apply their messages.
type Locked struct {
	x       *Index
	entries map[string]*familyEntry
	ids     *pebble.Batch
	// top is the highest sequence of the ids in ids.
	top uint64
}

// Lock takes the families (in any order, repeats allowed) in a fixed
// order, so that concurrent writes cannot deadlock. Unlock releases them.
// The store stays open while they are held; once it is closed, Lock
// returns ErrClosed.
func (x *Index) Lock(familyIDs []string) (*Locked, error) {
	if err := x.enter(); err != nil {
		return nil, err
	}
	ids := slices.Clone(familyIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	l := &Locked{x: x, entries: make(map[string]*familyEntry, len(ids))}
	for _, f := range ids {
		fe, err := x.acquire(f)
		if err != nil {
			l.Unlock()
			return nil, err
		}
		fe.mu.Lock()
		l.entries[f] = fe
	}
	return l, nil
}

// State is the family's state as the index knows it. Writes change it only
// for what the stream acknowledged (Stored, Replace).
func (l *Locked) State(familyID string) *family.State { return l.entries[familyID].state }

// LastSequence is the stream sequence of the family's last event the index
// knows: a write expects it.
func (l *Locked) LastSequence(familyID string) uint64 { return l.entries[familyID].lastSeq }

// Stored records that event id of the family, with content hash, was
// acknowledged at seq. The ids reach the store at Unlock.
func (l *Locked) Stored(familyID, id string, seq uint64, hash [32]byte) {
	l.entries[familyID].lastSeq = seq
	l.x.acked.Advance(seq)
	if l.ids == nil {
		l.ids = l.x.db.NewBatch()
	}
	_ = l.ids.Set(idDBKey(keyOf(id)), idValue(idEntry{seq: seq, hash: hashOf(hash)}), nil)
	l.top = max(l.top, seq)
}

// Replace makes st the family's state, once the events it folded in are
// acknowledged.
func (l *Locked) Replace(familyID string, st *family.State) { l.entries[familyID].state = st }

// Unlock stores the ids recorded and releases the families. The ids are
// committed before the families are released, so the consumer, which
// takes the family before it decides a message is already applied, never
// passes a message whose id is not stored; and with them the top, which
// covers the families' last sequences the consumer then stores (flush
// reads them under the family's lock).
func (l *Locked) Unlock() {
	if l.ids != nil {
		if err := l.x.commitTop(l.ids, l.top); err != nil {
			// Idempotency can no longer be promised for these ids: stop
			// taking writes until the process restarts and reads the
			// stream again.
			l.x.fail(fmt.Errorf("storing event ids: %w", err))
		}
		l.ids.Close()
		l.ids = nil
	}
	for _, fe := range l.entries {
		// A write folded its events in; Check needs no records and no
		// personal text, which the store must never hold (erasure).
		fe.state.DropRecords()
		fe.state.DropPersonal()
		fe.mu.Unlock()
		l.x.release(fe)
	}
	l.x.leave()
}

// familyError is a failure of the store's entry of one family. Its text
// names the family, for the log; operatorText leaves it out.
type familyError struct {
	id  string
	err error
}

func (e *familyError) Error() string { return "ingest index: family " + e.id + ": " + e.err.Error() }
func (e *familyError) Unwrap() error { return e.err }

// familyErr is err, of the store's entry of family id.
func familyErr(id string, err error) error { return &familyError{id: id, err: err} }

// operatorText is err's text with each family a familyError in its chain
// names left out: what failed, and why (a full disk, damage), is kept.
func operatorText(err error) string {
	s := err.Error()
	for e := err; e != nil; {
		var fe *familyError
		if !errors.As(e, &fe) {
			break
		}
		s = strings.ReplaceAll(s, "ingest index: family "+fe.id+": ", "ingest index: a family's entry: ")
		e = fe.err
	}
	return s
}

// fail marks the index unusable: the local store failed.
func (x *Index) fail(err error) {
	x.log.Error("ingest index: the local store failed; writes are refused until a restart", "dir", x.dir, "err", err)
	// The progress is the readiness check, which /readyz answers without
	// a token, and the detail of every department's 503: it names no
	// family (operatorText); the log has the error whole.
	s := fmt.Sprintf("the local store failed (%s); restart the process", operatorText(err))
	if x.damaged.Load() {
		s = fmt.Sprintf("the local store is damaged (%s); restart the process to rebuild it from the stream", operatorText(err))
	}
	x.progress.Store(&s)
	x.failed.Store(true)
}

// Applied is the highest stream sequence the consumer has processed.
func (x *Index) Applied() uint64 { return x.applied.Load() }

// Seen is the highest stream sequence this index knows exists: applied by
// the consumer or acknowledged to a write.
func (x *Index) Seen() uint64 { return max(x.applied.Load(), x.acked.Load()) }

// Read is the number of messages read from the stream since the start: the
// tail after the store's sequence (the whole stream in a rebuild of an
// emptied store).
func (x *Index) Read() uint64 { return x.read.Load() }

// StoredSequence is the stream sequence the local store is complete up to.
func (x *Index) StoredSequence() uint64 { return x.stored.Load() }

// Ready reports whether the initial catch-up is done.
func (x *Index) Ready() bool { return x.ready.Load() && !x.failed.Load() }

// Progress says how far the initial catch-up or rebuild is, while it runs.
func (x *Index) Progress() string {
	if p := x.progress.Load(); p != nil {
		return *p
	}
	what := "catching up with the event store"
	if x.rebuilding.Load() {
		what = "rebuilding the index from the event store"
	}
	return fmt.Sprintf("%s (at sequence %d)", what, x.Applied())
}

// WaitApplied blocks until the consumer has processed sequence seq.
func (x *Index) WaitApplied(ctx context.Context, seq uint64) error { return x.applied.Wait(ctx, seq) }

// stored is one message of the stream, decoded.
type stored struct {
	seq      uint64
	familyID string
	env      events.Envelope
	err      error
	id       string
	hash     [32]byte
}

// decodeStored decodes one message, its personal fields decrypted; it is
// safe to run for many messages at once, so catching up uses every core.
func (x *Index) decodeStored(subject string, data []byte, msgID string, seq uint64, recorded time.Time) stored {
	st := stored{seq: seq, familyID: subjectFamily(subject)}
	// The same rule as the projector's, so that ingest's view of a family
	// is the coordinators' view.
	env, err := x.Keys.Decode(context.Background(), subject, data, recorded)
	st.env, st.err = env, err
	switch {
	case err == nil:
		st.id, st.hash = env.ID(), events.ContentHash(env.Event)
	case msgID != "":
		// Keep the id taken, so it can never be reused for other content.
		st.id, st.hash = msgID, sha256.Sum256(data)
	}
	return st
}

// consumerState is what the consumer has applied since its last flush to
// the store.
type consumerState struct {
	dirty map[string]*familyEntry
	batch *pebble.Batch
	n     int // messages since the last flush
	ids   int // ids in batch
	last  uint64
	meta  indexMeta
	// flushed is when flush last committed.
	flushed time.Time
}

// idsEvery bounds the messages applied between two commits of their ids,
// and so the ids held in memory. Ids may be stored ahead of the store's
// sequence, as a write's are.
const idsEvery = 8192

// flushEvery bounds the messages applied between two commits of the
// families and the sequence: each commit encodes every family changed
// since the last, so during a rebuild it is rare.
const flushEvery = 500_000

// applyStored folds one message in; messages must come in stream order.
// Messages that are not valid catalog events (possible by direct NATS
// publish) still move the family's last sequence, because they count for
// the optimistic concurrency check on families.<id>.>. A message this
// process wrote itself is already applied: its family's last sequence is
// at or past it, and its id is stored.
func (x *Index) applyStored(cs *consumerState, seq uint64, familyID string, decode func() stored) error {
	defer x.advance(cs, seq)
	if familyID == "" {
		// Not a family's subject: only its id is kept, so that it is never
		// taken again for other content.
		return x.rememberID(cs, seq, decode())
	}
	fe, ok := cs.dirty[familyID]
	if !ok {
		var err error
		if fe, err = x.acquire(familyID); err != nil {
			return err
		}
		cs.dirty[familyID] = fe
	}
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if seq <= fe.lastSeq {
		return nil
	}
	st := decode()
	if st.err != nil {
		x.decodeErr.Add(1)
	}
	if err := x.rememberID(cs, seq, st); err != nil {
		return err
	}
	if st.err == nil {
		fe.state.Apply(st.env)
		fe.state.DropRecords()
		fe.state.DropPersonal()
	}
	fe.lastSeq = seq
	return nil
}

// rememberID records the message's id, unless the id is stored already:
// the first message with an id keeps it.
func (x *Index) rememberID(cs *consumerState, seq uint64, st stored) error {
	if st.id == "" {
		return nil
	}
	k := keyOf(st.id)
	_, known, err := x.lookupID(k)
	if err != nil || known {
		return err
	}
	e := idEntry{seq: seq, hash: hashOf(st.hash)}
	x.mu.Lock()
	x.pending[k] = e
	x.mu.Unlock()
	_ = cs.batch.Set(idDBKey(k), idValue(e), nil)
	cs.ids++
	return nil
}

// commitIDs commits the ids the consumer applied since the last commit.
func (x *Index) commitIDs(cs *consumerState) error {
	if err := x.commitTop(cs.batch, cs.last); err != nil {
		return fmt.Errorf("ingest index: commit: %w", err)
	}
	cs.batch.Close()
	cs.batch = x.db.NewBatch()
	x.mu.Lock()
	clear(x.pending)
	x.mu.Unlock()
	cs.ids = 0
	return nil
}

func (x *Index) advance(cs *consumerState, seq uint64) {
	cs.n++
	cs.last = seq
	x.applied.Advance(seq)
}

// flush commits what the consumer applied: its ids, the families it
// changed and the sequence the store is now complete up to.
func (x *Index) flush(cs *consumerState) error {
	if cs.n == 0 {
		return nil
	}
	top := cs.last
	for id, fe := range cs.dirty {
		fe.mu.Lock()
		snap, err := fe.state.MarshalBinary()
		v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(snap)), fe.lastSeq)
		top = max(top, fe.lastSeq)
		fe.mu.Unlock()
		if err != nil {
			return familyErr(id, err)
		}
		_ = cs.batch.Set(append([]byte{prefixFamily}, id...), append(v, snap...), nil)
	}
	cs.flushed = time.Now()
	cs.meta.Sequence = cs.last
	m, _ := json.Marshal(cs.meta)
	_ = cs.batch.Set(metaKey, m, nil)
	if err := x.commitTop(cs.batch, top); err != nil {
		return fmt.Errorf("ingest index: commit: %w", err)
	}
	cs.batch.Close()
	cs.batch = x.db.NewBatch()
	cs.ids = 0
	x.stored.Store(cs.last)
	x.mu.Lock()
	clear(x.pending)
	for _, fe := range cs.dirty {
		fe.refs--
	}
	x.evict()
	x.mu.Unlock()
	clear(cs.dirty)
	cs.n = 0
	return nil
}

func subjectFamily(subject string) string {
	tok := strings.SplitN(subject, ".", 3)
	if len(tok) < 3 || tok[0] != events.SubjectRoot {
		return ""
	}
	return tok[1]
}

// start checks the store against the stream and says where to read from:
// a store of another stream, of another fold or catalog, or past the
// stream's end is emptied and rebuilt.
func (x *Index) start(info *jetstream.StreamInfo) (indexMeta, error) {
	want := indexMeta{StreamCreated: info.Created.UTC(), Fold: family.SnapshotVersion, Catalog: x.catalog}
	m, ok, err := x.meta()
	var empty bool
	if err == nil && !ok {
		empty, err = x.isEmpty()
	}
	var why string
	switch {
	case err != nil:
		// Not a store to trust, nor one to empty by a range deletion.
		x.log.Warn("ingest index: rebuilding the local store from the stream", "reason", "the store cannot be read", "dir", x.dir, "err", err)
		return want, x.recreate()
	case !ok && x.stored.Load() == 0 && empty:
		return want, nil
	case !ok:
		why = "the store has no readable sequence"
	case !m.StreamCreated.Equal(want.StreamCreated):
		why = "the store was made from another stream"
	case m.Fold != want.Fold:
		why = fmt.Sprintf("the store's family states are of fold %d, this build's of %d", m.Fold, want.Fold)
	case m.Catalog != want.Catalog:
		// The states were folded from the events read as the newest
		// versions of another catalog: what they hold of an event may
		// not be what this build's upcasts make of it.
		why = "the store's family states were folded from another catalog's newest versions of the event types"
	case !x.topFound:
		// Every flush of this build stores the top with the meta or
		// after it: this store is an earlier build's, whose entries
		// ahead of its sequence are not known to be in the stream.
		why = "the store does not record the highest sequence its entries refer to (an earlier build's store)"
	case m.Sequence > info.State.LastSeq:
		why = fmt.Sprintf("the store covers sequence %d, past the stream's last %d", m.Sequence, info.State.LastSeq)
	case x.topSequence() > info.State.LastSeq:
		// Ids and family states stored ahead of the sequence (this
		// process's writes, the consumer's ids) whose messages the stream
		// no longer has: it lost messages it had acknowledged (a server's
		// crash before its fsync). Trusted, they would make an id a
		// duplicate of an event that is gone, and a family expect a last
		// sequence the stream never reaches.
		why = fmt.Sprintf("the store holds ids or family states of sequences up to %d, past the stream's last %d", x.topSequence(), info.State.LastSeq)
	default:
		want.Sequence, want.Rebuilding = m.Sequence, m.Rebuilding
		return want, nil
	}
	x.log.Warn("ingest index: rebuilding the local store from the stream", "reason", why, "dir", x.dir)
	return want, x.reset()
}

// isEmpty reports whether the store holds no key; an error says it cannot
// be read, which is not empty.
func (x *Index) isEmpty() (bool, error) {
	it, err := x.db.NewIter(nil)
	if err != nil {
		return false, fmt.Errorf("ingest index: %w", err)
	}
	found := it.First()
	err = it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("ingest index: reading the store: %w", err)
	}
	return !found, nil
}

// Run follows the stream from the store's sequence until ctx ends, then
// commits what it applied and closes the store. It marks the index ready
// once it has caught up with the last sequence the stream had when it
// started, and logs its progress meanwhile. The ordered consumer recreates
// itself after a NATS restart or leader change, resuming after the last
// sequence seen.
func (x *Index) Run(ctx context.Context, js jetstream.JetStream) error {
	defer x.Close()
	var stream jetstream.Stream
	for {
		var err error
		stream, err = js.Stream(ctx, eventstore.FamilyStream)
		if err == nil {
			break
		}
		x.log.Warn("ingest index: waiting for stream", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	info := stream.CachedInfo()
	meta, err := x.start(info)
	if err != nil {
		return fmt.Errorf("ingest index: %w", err)
	}
	from, target := meta.Sequence, info.State.LastSeq
	// A rebuild is one of an empty store, or one a stop interrupted.
	rebuilding := (from == 0 && target > 0) || meta.Rebuilding
	if from >= target {
		if meta.Rebuilding {
			// Interrupted after its last commit reached the stream's end.
			meta.Rebuilding = false
			if err := x.putMeta(meta); err != nil {
				return fmt.Errorf("ingest index: %w", err)
			}
		}
		x.rebuilding.Store(false)
		x.ready.Store(true)
		x.log.Info("ingest index: ready from the local store", "sequence", from)
	} else {
		meta.Rebuilding = rebuilding
		x.rebuilding.Store(rebuilding)
		s := newProgress(from, target, rebuilding).line(from, 0)
		x.progress.Store(&s)
		x.log.Info("ingest index: "+s, "from", from+1, "to", target, "rebuilding", rebuilding, "resumed", rebuilding && from > 0)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{eventstore.FamilySubjects}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from+1
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("ingest index: consumer: %w", err)
	}
	msgs, err := cons.Messages(eventstore.Pull(2048)...)
	if err != nil {
		return fmt.Errorf("ingest index: messages: %w", err)
	}
	go func() {
		<-ctx.Done()
		msgs.Stop()
	}()

	// Decoding runs on every core; folding stays in stream order.
	type job struct {
		msg      jetstream.Msg
		seq      uint64
		familyID string
		recorded time.Time
		st       stored
		done     chan struct{}
		skip     bool
	}
	work := make(chan *job, 1024)
	ordered := make(chan *job, 2048)
	for range max(runtime.GOMAXPROCS(0), 1) {
		go func() {
			for j := range work {
				if !j.skip {
					m := j.msg
					j.st = x.decodeStored(m.Subject(), m.Data(), m.Headers().Get(jetstream.MsgIDHeader), j.seq, j.recorded)
				}
				close(j.done)
			}
		}()
	}
	cs := &consumerState{dirty: map[string]*familyEntry{}, batch: x.db.NewBatch(), meta: meta, last: from, flushed: time.Now()}
	applied := make(chan error, 1)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		prog := newProgress(from, target, rebuilding)
		var failed error
		for {
			select {
			case j, ok := <-ordered:
				if !ok {
					if failed == nil {
						failed = x.flush(cs)
					}
					cs.batch.Close()
					applied <- failed
					return
				}
				<-j.done
				if failed != nil {
					continue
				}
				decode := func() stored {
					if j.skip {
						// Its family was evicted and read back from the
						// store since: fold it after all.
						m := j.msg
						return x.decodeStored(m.Subject(), m.Data(), m.Headers().Get(jetstream.MsgIDHeader), j.seq, j.recorded)
					}
					return j.st
				}
				if err := x.applyStored(cs, j.seq, j.familyID, decode); err != nil {
					failed = err
					x.fail(fmt.Errorf("applying sequence %d: %w", j.seq, err))
					continue
				}
				switch {
				case cs.n >= flushEvery || len(cs.dirty) >= x.capacity/2:
					failed = x.flush(cs)
				case cs.ids >= idsEvery:
					failed = x.commitIDs(cs)
				}
				if !x.ready.Load() {
					if j.seq >= target {
						// The commit that reaches the end says the store
						// is complete: no rebuild to resume.
						cs.meta.Rebuilding = false
						if failed == nil {
							failed = x.flush(cs)
						}
						x.rebuilding.Store(false)
						x.ready.Store(true)
						x.progress.Store(nil)
						done := "ingest index: caught up"
						if rebuilding {
							done = "ingest index: rebuilt from the stream"
						}
						x.log.Info(done, "sequence", j.seq, "read", j.seq-from, "took", time.Since(prog.start).Round(time.Millisecond))
					} else if s, ok := prog.at(j.seq); ok {
						x.progress.Store(&s)
						x.log.Info("ingest index: " + s)
					}
				}
			case <-tick.C:
				// Caught up, the families are committed within a tick;
				// while reading a long stream, every five seconds.
				if failed == nil && (x.ready.Load() || time.Since(cs.flushed) >= 5*time.Second) {
					failed = x.flush(cs)
				}
				if failed != nil && !x.failed.Load() {
					x.fail(failed)
				}
			}
		}
	}()
	defer func() {
		close(work)
		close(ordered)
		if err := <-applied; err != nil {
			x.log.Error("ingest index: final commit", "err", err)
		}
	}()
	for {
		m, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			x.log.Warn("ingest index: next", "err", err)
			continue
		}
		x.read.Add(1)
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		j := &job{msg: m, seq: md.Sequence.Stream, familyID: subjectFamily(m.Subject()), recorded: md.Timestamp, done: make(chan struct{})}
		// A message this process wrote is applied already: skip decoding.
		j.skip = j.familyID != "" && x.appliedFor(j.familyID, j.seq)
		ordered <- j
		work <- j
	}
}

// appliedFor reports whether the family's cached state already includes
// seq (a family not cached is decided when its message is applied).
func (x *Index) appliedFor(familyID string, seq uint64) bool {
	x.mu.Lock()
	el, ok := x.cache[familyID]
	x.mu.Unlock()
	if !ok {
		return false
	}
	fe := el.Value.(*familyEntry)
	fe.mu.Lock()
	defer fe.mu.Unlock()
	return seq <= fe.lastSeq
}

// progress reports a long read of the stream every five seconds: events
// read, their rate and the time left. A rebuild counts the events of the
// whole stream, also one resumed from a sequence a stop left it at; a
// catch-up counts those of the tail after from.
type progress struct {
	from, target uint64
	rebuilding   bool
	start, next  time.Time
}

func newProgress(from, target uint64, rebuilding bool) *progress {
	now := time.Now()
	return &progress{from: from, target: target, rebuilding: rebuilding, start: now, next: now.Add(5 * time.Second)}
}

// base is the sequence the events read are counted from.
func (p *progress) base() uint64 {
	if p.rebuilding {
		return 0
	}
	return p.from
}

func (p *progress) at(seq uint64) (string, bool) {
	now := time.Now()
	if now.Before(p.next) {
		return "", false
	}
	p.next = now.Add(5 * time.Second)
	return p.line(seq, float64(seq-p.from)/now.Sub(p.start).Seconds()), true
}

// line says how far the read is at seq, at rate events a second.
func (p *progress) line(seq uint64, rate float64) string {
	what := "catching up with the event store"
	if p.rebuilding {
		what = "rebuilding the index from the event store"
	}
	s := fmt.Sprintf("%s: %d of %d events read", what, seq-p.base(), p.target-p.base())
	if rate > 0 {
		left := time.Duration(float64(p.target-seq) / rate * float64(time.Second)).Round(time.Second)
		s += fmt.Sprintf(" (%.0f/s, about %s left)", rate, left)
	}
	return s
}
