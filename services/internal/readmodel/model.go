package readmodel

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// migrations are the read model's schema, in order; migration i brings the
// schema to version i+1. Append only: a released migration is never edited,
// because read models already migrated by it would not be migrated again.
//
// Times are stored as Unix nanoseconds (UTC) so that the timeline sorts by
// (time, sequence) on one index. The timeline's primary key is the stream
// sequence, so inserts append to the end of the table's B-tree.
var migrations = []string{
	// 1: the first schema.
	`
CREATE TABLE checkpoint (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	sequence INTEGER NOT NULL
);
INSERT INTO checkpoint (id, sequence) VALUES (1, 0);

CREATE TABLE timeline (
	sequence    INTEGER PRIMARY KEY,
	family_id   TEXT    NOT NULL,
	event_id    TEXT    NOT NULL,
	time_ns     INTEGER NOT NULL,
	recorded_ns INTEGER NOT NULL,
	department  TEXT    NOT NULL,
	type        TEXT    NOT NULL,
	title       TEXT    NOT NULL,
	data        TEXT    NOT NULL,
	actor       TEXT    NOT NULL
);
-- The timeline API pages by (time, sequence) within a family.
CREATE INDEX timeline_family_time ON timeline (family_id, time_ns, sequence);
-- Stream order within a family: SSE resume, refolding a family's state
-- after a restart, and the audit service's family -> sequences lookups.
CREATE INDEX timeline_family_seq ON timeline (family_id, sequence);

CREATE TABLE families (
	family_id     TEXT    PRIMARY KEY,
	status        TEXT    NOT NULL,
	overview      TEXT    NOT NULL,
	last_sequence INTEGER NOT NULL,
	events        INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE family_access (
	family_id   TEXT NOT NULL,
	employee_id TEXT NOT NULL,
	PRIMARY KEY (family_id, employee_id)
) WITHOUT ROWID;
CREATE INDEX family_access_employee ON family_access (employee_id, family_id);

CREATE TABLE quarantine (
	sequence    INTEGER PRIMARY KEY,
	subject     TEXT    NOT NULL,
	reason      TEXT    NOT NULL,
	raw         BLOB    NOT NULL,
	recorded_ns INTEGER NOT NULL
	);
`,
	// 2: overviews are written once per flush rather than once per batch;
	// overviews is the sequence up to which families, overviews and access
	// agree with the timeline (see Model.Apply).
	`
ALTER TABLE checkpoint ADD COLUMN overviews INTEGER NOT NULL DEFAULT 0;
UPDATE checkpoint SET overviews = sequence;
`,
	// 3: versioned event types. A row holds its event as the latest
	// version of its type (events.DecodeLatest), and stored_type the type
	// as stored when that is an earlier version. Rows written before hold
	// the shape of the type as stored, and overviews the shape of then:
	// the model is emptied and the projector replays the stream from its
	// start, as a rebuild does.
	`
DELETE FROM timeline;
DELETE FROM families;
DELETE FROM family_access;
DELETE FROM quarantine;
UPDATE checkpoint SET sequence = 0, overviews = 0;
ALTER TABLE timeline ADD COLUMN stored_type TEXT NOT NULL DEFAULT '';
`,
	// 4: the consents in force, which every coordinator read's consent
	// gate needs, in a column of their own beside the overview that also
	// holds them (Model.Consents); and fold, the family.SnapshotVersion the
	// families' rows were folded with (the rows before were folded with
	// version 1). Open empties a model of another fold, which the
	// projector then replays from the stream's start (see refold).
	`
ALTER TABLE families ADD COLUMN consents TEXT NOT NULL DEFAULT '[]';
ALTER TABLE checkpoint ADD COLUMN fold INTEGER NOT NULL DEFAULT 1;
`,
	// 5: scrub is set by the batch that erases a family and cleared once
	// the erased text has left the file and its WAL (Model.scrub), so
	// that a scrub readers kept from finishing is finished after a
	// restart too.
	`
ALTER TABLE checkpoint ADD COLUMN scrub INTEGER NOT NULL DEFAULT 0;
`,
	// 6: catalog, the events.NewestFingerprint the rows were read with: a
	// row holds its event as the newest version of its type, and an
	// overview the fold of such rows, so a model made under another
	// catalog is emptied on open and replayed, as one of another fold is
	// (see refold). A model made before records none, and is replayed
	// once.
	`
ALTER TABLE checkpoint ADD COLUMN catalog TEXT NOT NULL DEFAULT '';
`,
	// 7: consents holds every consent decision of the family, not only
	// the latest of each person and scope: a decision may be dated ahead
	// of a read, and the read judges by the one in force at its moment.
	// Rows written before hold the latest only: the model is emptied and
	// the projector replays the stream from its start, as for migration 3.
	`
DELETE FROM timeline;
DELETE FROM families;
DELETE FROM family_access;
DELETE FROM quarantine;
UPDATE checkpoint SET sequence = 0, overviews = 0;
`,
	// 8: the members of a row's data that the consent gate reads
	// (consent.PersonFields and consent.ReferenceFields) in generated
	// columns of their own (fieldColumns), stored with the row and
	// computed again when its data is rewritten (an erasure), so that a
	// gated read compares columns rather than parsing each row's data.
	// SQLite adds no stored column to a table, so the table is made again
	// and its rows copied. The columns have no type: they hold what
	// json_extract returns, unconverted.
	`
CREATE TABLE timeline_v8 (
	sequence    INTEGER PRIMARY KEY,
	family_id   TEXT    NOT NULL,
	event_id    TEXT    NOT NULL,
	time_ns     INTEGER NOT NULL,
	recorded_ns INTEGER NOT NULL,
	department  TEXT    NOT NULL,
	type        TEXT    NOT NULL,
	title       TEXT    NOT NULL,
	data        TEXT    NOT NULL,
	actor       TEXT    NOT NULL,
	stored_type TEXT    NOT NULL DEFAULT '',
	f_personId  AS (json_extract(data, '$.personId')) STORED,
	f_childId   AS (json_extract(data, '$.childId')) STORED,
	f_goalId    AS (json_extract(data, '$.goalId')) STORED,
	f_caseId    AS (json_extract(data, '$.caseId')) STORED,
	f_measureId AS (json_extract(data, '$.measureId')) STORED,
	f_praktikId AS (json_extract(data, '$.praktikId')) STORED,
	f_subsidyId AS (json_extract(data, '$.subsidyId')) STORED,
	f_courseId  AS (json_extract(data, '$.courseId')) STORED
);
INSERT INTO timeline_v8 (sequence, family_id, event_id, time_ns, recorded_ns, department, type, title, data, actor, stored_type)
	SELECT sequence, family_id, event_id, time_ns, recorded_ns, department, type, title, data, actor, stored_type FROM timeline;
DROP TABLE timeline;
ALTER TABLE timeline_v8 RENAME TO timeline;
CREATE INDEX timeline_family_time ON timeline (family_id, time_ns, sequence);
CREATE INDEX timeline_family_seq ON timeline (family_id, sequence);
`,
	// 9: a family's events of some types, found without visiting its
	// other rows: the consent gate reads a family's openers
	// (consent.OpenerTypes) on every coordinator's read. redriven counts
	// the re-drives that moved rows into the timeline, the only writes
	// that add a row below a family's last sequence (gateCounts).
	`
CREATE INDEX timeline_family_type ON timeline (family_id, type, sequence);
ALTER TABLE checkpoint ADD COLUMN redriven INTEGER NOT NULL DEFAULT 0;
`,
}

// fieldColumns are the timeline's generated columns (migration 8) by the
// member of the row's data each holds, as json_extract(data, '$.<member>')
// reads it.
var fieldColumns = map[string]string{
	"personId": "f_personId", "childId": "f_childId",
	"goalId": "f_goalId", "caseId": "f_caseId", "measureId": "f_measureId",
	"praktikId": "f_praktikId", "subsidyId": "f_subsidyId", "courseId": "f_courseId",
}

// timelineIndexes are the timeline's secondary indexes as migrations 1, 8
// and 9 create them. A bulk load drops them and creates them again at its end:
// building an index by sorting once is far cheaper than inserting every
// row into three B-trees keyed by family, where each batch dirties a page per
// family.
var timelineIndexes = []string{
	`CREATE INDEX IF NOT EXISTS timeline_family_time ON timeline (family_id, time_ns, sequence)`,
	`CREATE INDEX IF NOT EXISTS timeline_family_seq ON timeline (family_id, sequence)`,
	`CREATE INDEX IF NOT EXISTS timeline_family_type ON timeline (family_id, type, sequence)`,
}

// dropTimelineIndexes drops timelineIndexes for a bulk load.
var dropTimelineIndexes = []string{`DROP INDEX IF EXISTS timeline_family_time`, `DROP INDEX IF EXISTS timeline_family_seq`,
	`DROP INDEX IF EXISTS timeline_family_type`}

// insertTimeline inserts one timeline row; insertRawTimeline one without
// a stored type (RawTimeline's rows are of the latest versions).
const (
	insertTimeline = `INSERT INTO timeline (sequence, family_id, event_id, time_ns, recorded_ns, department, type, title, data, actor, stored_type)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertRawTimeline = `INSERT INTO timeline (sequence, family_id, event_id, time_ns, recorded_ns, department, type, title, data, actor)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// SetBulk drops (on) or builds (off) the timeline's secondary indexes. A
// bulk load is only for an empty model (a new one, a rebuild's, one
// emptied by a migration): one that holds rows serves reads, which need
// the indexes, and folding a family again from its rows needs the family
// index. For any other model, on does nothing.
func (m *Model) SetBulk(ctx context.Context, on bool) error {
	if on == m.bulk || (on && (!m.complete || m.checkpoint > 0)) {
		return nil
	}
	stmts := timelineIndexes
	if !on {
		// The sort that builds the indexes takes SQLite memory of its own;
		// the heap the load left behind is garbage by now, so give it
		// back first rather than hold both at once.
		debug.FreeOSMemory()
		// SQLite's sorter holds as much in memory as the page cache
		// may, beside the page cache itself: with the writer's cache,
		// the sort took about 60 MB at 1M rows, at the moment the
		// process's memory peaks. A smaller cache makes it spill to
		// its temporary files instead, for little more time.
		if _, err := m.w.ExecContext(ctx, "PRAGMA cache_size = "+strconv.Itoa(bulkIndexCache)); err != nil {
			return fmt.Errorf("bulk load: %w", err)
		}
		defer func() {
			// A cache left small costs only speed.
			_, _ = m.w.ExecContext(context.WithoutCancel(ctx), "PRAGMA cache_size = "+strconv.Itoa(writerCache))
		}()
	}
	if on {
		stmts = dropTimelineIndexes
	}
	tx, err := m.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("bulk load: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("bulk load: %w", err)
	}
	m.bulk = on
	return nil
}

// EndBulk ends a bulk load: it builds the timeline's indexes, then
// flushes. The index build keeps one core busy and leaves the other idle,
// so the overviews are computed there meanwhile.
func (m *Model) EndBulk(ctx context.Context) (BatchResult, error) {
	rows := make(chan map[string]familyRow, 1)
	go func() { rows <- m.prepareFlushBesideSort() }()
	err := m.SetBulk(ctx, false)
	prepared := <-rows
	if err != nil {
		return BatchResult{Last: m.checkpoint, Consistent: m.consistent}, err
	}
	return m.Apply(ctx, nil, ApplyOptions{Flush: true, prepared: prepared})
}

// sortingMu serialises prepareFlushBesideSort, which changes the process's
// GC setting: a rebuild may end its bulk load while the live model does.
var sortingMu sync.Mutex

// prepareFlushBesideSort is prepareFlush while an index build sorts.
// setBulk returned the heap to the system for the sort's memory; the
// overviews' JSON is garbage soon after it is made, and under GOGC=300 it
// would grow the heap back to its limit beside the sort, so it is
// collected often meanwhile (on a core the build leaves idle).
func (m *Model) prepareFlushBesideSort() map[string]familyRow {
	sortingMu.Lock()
	defer sortingMu.Unlock()
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	return m.prepareFlush()
}

// SchemaVersion is the version the migrations bring a read model to.
var SchemaVersion = len(migrations)

// Model is one SQLite read model file: a single writer connection,
// owned by whoever applies events to it (the live consumer, or a rebuild
// before the swap), and a pool of read-only connections for the API.
//
// Readers take mu for reading around each query; retiring the model after
// a rebuild takes it for writing, so the file is closed only once no query
// runs on it, and a reader that finds it closed retries on the new model.
type Model struct {
	path string

	// w is the writer: a pool of exactly one connection that never
	// expires. The statements below are prepared on the pool, not on a
	// *sql.Conn, because Tx.StmtContext reuses a pool's statement on the
	// connection it was prepared on but prepares a *sql.Conn's again in
	// every transaction: parsing the SQL then cost more than applying a
	// batch of a few events.
	w   *sql.DB
	rdb *sql.DB // readers
	sdb *sql.DB // whole-file scans (scanConn)

	// Prepared on w; used inside each batch's transaction.
	insTimeline, upsFamily, delAccess, insAccess, insQuarantine, setCheckpoint, familyRows *sql.Stmt
	// Prepared on w: the spill's statements (SpillStates).
	putSpill, getSpill, delSpill *sql.Stmt

	// Owned by the applier (the goroutine that holds the apply lock).
	//
	// checkpoint is the last sequence applied to the timeline and
	// quarantine; consistent is the last sequence up to which the
	// families and family_access tables agree with the timeline (the
	// position the API publishes). dirty are the families whose
	// overview and access have not been written since consistent.
	checkpoint, consistent uint64
	states                 map[string]*family.State
	dirty                  map[string]*dirtyFamily
	// used is when each held state was last used, in ticks of tick
	// (TrimStates drops the least recently used).
	used map[string]uint64
	tick uint64
	// spilled are the families whose state SpillStates moved to the
	// spill, where it is still the family's latest.
	spilled map[string]struct{}
	// repair is set when the in-memory states and dirty set are not to be
	// trusted (after a failed batch, or a stop between two flushes): the
	// next flush first refolds every family with rows after consistent.
	repair bool
	// complete is set while states holds every family that has rows: the
	// model started empty and no batch has failed since. The first event
	// of a family then needs no look-up of stored rows, and the timeline's
	// secondary indexes may be dropped for a bulk load.
	complete bool
	// bulk is set while the timeline's secondary indexes are dropped.
	bulk bool
	// scrubPending is set from the commit of an erasure until its scrub
	// succeeds, as the checkpoint row's scrub column is; vacuumed once
	// the scrub's VACUUM is done and only its checkpoint remains.
	// scrubTried is when the scrub was last tried; scrubWait and
	// scrubRetryEvery are scrubWait and scrubRetryEvery but in tests.
	scrubPending, vacuumed     bool
	scrubTried                 time.Time
	scrubWait, scrubRetryEvery time.Duration
	// scrubDeferred is set while the model is loaded in bulk and serves
	// no family reads (DeferScrub): an erasure marks its scrub pending
	// and nothing runs it until the deferral ends. vacuums counts the
	// scrub's VACUUMs since the model was opened.
	scrubDeferred bool
	vacuums       int

	mu     sync.RWMutex
	closed bool

	stmtMu   sync.Mutex
	stmts    map[string]*sql.Stmt // reader statements by SQL text
	prepared int                  // statements stmt prepared on the pool, kept or not

	// tx is set on a Snapshot: the read transaction its reads run in, on
	// a connection of base's pool. missed are the queries it ran that
	// the pool had no statement of yet.
	tx     *sql.Tx
	base   *Model
	missed []string

	// gateCounts are the hidden counts kept for snapshots' reads; a
	// snapshot's erasures is its base's gateCounts.erasures when it
	// began.
	gateCounts gateCounts
	erasures   uint64
}

// readerMmap is the most of a read model a reader connection maps: address
// space, not memory. SQLite caps it at just under 2 GiB (a model of about
// seven million events); beyond that it reads the rest of the file as it
// would without a map.
const readerMmap = 2 << 30

// writerCache is the writer's page cache, and bulkIndexCache its cache
// while it builds the timeline's indexes after a bulk load (SetBulk), in
// SQLite's cache_size: negative is KiB.
const (
	writerCache    = -32000
	bulkIndexCache = -8000
)

// busyTimeoutMS is how long a connection waits for a lock, in
// milliseconds.
const busyTimeoutMS = 10000

// connKind is what a connection is for; each kind has its own pragmas
// (dsn).
type connKind int

const (
	// writerConn applies events: the model's one writer.
	writerConn connKind = iota
	// readerConn serves the API's reads, through a map of the file.
	readerConn
	// scanConn reads the whole file once (the evaluation's events, a
	// verify's digest), without the map: a reader's map would keep every
	// page of the file in the process's resident memory for as long as
	// the connection lives, while the pages a scan reads are needed once.
	// They are read into the connection's own bounded page cache and
	// stay in the kernel's page cache, outside the process.
	scanConn
)

// dsn builds a modernc.org/sqlite data source name with pragmas that every
// connection of the kind runs when it opens.
func dsn(path string, kind connKind) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(busyTimeoutMS)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL in WAL mode: a commit is not fsynced, a checkpoint is. A power
	// cut can lose the last commits, never corrupt the file; the lost
	// batches are simply fetched again, because the consumer is positioned
	// from the checkpoint stored in the file.
	q.Add("_pragma", "synchronous(NORMAL)")
	// Deleted and overwritten content is zeroed: an erased family's
	// rows leave nothing behind in free pages (Scrub).
	q.Add("_pragma", "secure_delete(ON)")
	switch kind {
	case readerConn, scanConn:
		// Readers sort little (the family list); the writer's index
		// builds after a bulk load sort a million keys, which may spill
		// to a temporary file rather than into the process's memory.
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Add("_pragma", "query_only(1)")
		q.Add("_pragma", "cache_size(-8000)")
		mmap := 0
		if kind == readerConn {
			// Readers read the file through a memory map rather than a
			// pread per page: a family's rows lie one per page of the
			// timeline, so an as-of view of a long history reads ten
			// thousand pages, and the system calls were a third of its
			// time. The map is of the page cache the kernel keeps
			// anyway; pages in the WAL are still read from the WAL.
			mmap = readerMmap
		}
		q.Add("_pragma", "mmap_size("+strconv.Itoa(mmap)+")")
	default:
		q.Add("_pragma", "cache_size("+strconv.Itoa(writerCache)+")")
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating it if needed) and migrates the read model at
// path.
func Open(ctx context.Context, path string) (*Model, error) {
	return open(ctx, path, events.NewestFingerprint())
}

// open is Open for a build whose catalog's newest versions are catalog
// (events.NewestFingerprint).
func open(ctx context.Context, path, catalog string) (*Model, error) {
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn(path, writerConn))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	m := &Model{path: path, w: w, states: map[string]*family.State{}, used: map[string]uint64{}, spilled: map[string]struct{}{}, dirty: map[string]*dirtyFamily{}, stmts: map[string]*sql.Stmt{},
		scrubWait: scrubWait, scrubRetryEvery: scrubRetryEvery}
	fail := func(err error) (*Model, error) {
		m.Close()
		return nil, fmt.Errorf("readmodel: read model %s: %w", filepath.Base(path), err)
	}
	if err := migrate(ctx, m.w); err != nil {
		return fail(err)
	}
	if err := refold(ctx, m.w, catalog); err != nil {
		return fail(err)
	}
	if err := m.w.QueryRowContext(ctx, `SELECT sequence, overviews, scrub FROM checkpoint WHERE id = 1`).Scan(&m.checkpoint, &m.consistent, &m.scrubPending); err != nil {
		return fail(err)
	}
	m.repair = m.consistent < m.checkpoint
	var n int
	if err := m.w.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM timeline LIMIT 1)`).Scan(&n); err != nil {
		return fail(err)
	}
	m.complete = n == 0
	// A bulk load that stopped before it ended left the indexes dropped.
	for _, q := range timelineIndexes {
		if _, err := m.w.ExecContext(ctx, q); err != nil {
			return fail(err)
		}
	}
	// The spill (SpillStates) lives as long as the writer's connection.
	for _, q := range []string{`PRAGMA temp.secure_delete = ON`, createSpill} {
		if _, err := m.w.ExecContext(ctx, q); err != nil {
			return fail(err)
		}
	}
	for _, s := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&m.insTimeline, insertTimeline},
		{&m.upsFamily, `INSERT INTO families (family_id, status, overview, last_sequence, events, consents) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (family_id) DO UPDATE SET status = excluded.status, overview = excluded.overview,
			last_sequence = excluded.last_sequence, events = excluded.events, consents = excluded.consents`},
		{&m.delAccess, `DELETE FROM family_access WHERE family_id = ?`},
		{&m.insAccess, `INSERT OR IGNORE INTO family_access (family_id, employee_id) VALUES (?, ?)`},
		{&m.insQuarantine, `INSERT INTO quarantine (sequence, subject, reason, raw, recorded_ns) VALUES (?, ?, ?, ?, ?)`},
		{&m.setCheckpoint, `UPDATE checkpoint SET sequence = ?, overviews = ? WHERE id = 1`},
		{&m.familyRows, `SELECT sequence, event_id, time_ns, department, type, data, actor FROM timeline
			WHERE family_id = ? ORDER BY sequence`},
		{&m.putSpill, putSpill},
		{&m.getSpill, getSpill},
		{&m.delSpill, delSpill},
	} {
		if *s.dst, err = m.w.PrepareContext(ctx, s.sql); err != nil {
			return fail(err)
		}
	}
	if m.rdb, err = sql.Open("sqlite", dsn(path, readerConn)); err != nil {
		return fail(err)
	}
	m.rdb.SetMaxOpenConns(8)
	m.rdb.SetMaxIdleConns(8)
	m.rdb.SetConnMaxIdleTime(0)
	if err := m.rdb.PingContext(ctx); err != nil {
		return fail(err)
	}
	// Scans are few and long: a verify's digest and the evaluation's
	// read may overlap, and an idle scanner keeps its page cache.
	if m.sdb, err = sql.Open("sqlite", dsn(path, scanConn)); err != nil {
		return fail(err)
	}
	m.sdb.SetMaxOpenConns(4)
	m.sdb.SetMaxIdleConns(1)
	if m.repair {
		// A stop between two flushes: bring overviews and access up to
		// the timeline before anything is served.
		if _, err := m.Apply(ctx, nil, ApplyOptions{Flush: true}); err != nil {
			return fail(err)
		}
	}
	// An erasure whose scrub had not finished when the model was last
	// closed: finish it now if readers let it; if not, later batches and
	// RetryScrub do.
	_ = m.RetryScrub(ctx)
	return m, nil
}

// refold empties a model whose rows were made with another fold or
// another catalog than this build's (as migration 3 empties it): with
// another family.SnapshotVersion the overviews, access and consents follow
// another fold's rules; with another catalog (its newest versions, catalog:
// events.NewestFingerprint) the rows hold their events as other versions
// than the read paths present, and the overviews are folded from
// them. The projector then replays the stream from its start, as a rebuild
// does; the stream holds everything the model is made of.
func refold(ctx context.Context, c *sql.DB, catalog string) error {
	var fold int
	var made string
	if err := c.QueryRowContext(ctx, `SELECT fold, catalog FROM checkpoint WHERE id = 1`).Scan(&fold, &made); err != nil {
		return err
	}
	if fold == family.SnapshotVersion && made == catalog {
		return nil
	}
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM timeline`, `DELETE FROM families`, `DELETE FROM family_access`, `DELETE FROM quarantine`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("refold: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE checkpoint SET sequence = 0, overviews = 0, fold = ?, catalog = ? WHERE id = 1`,
		family.SnapshotVersion, catalog); err != nil {
		return fmt.Errorf("refold: %w", err)
	}
	return tx.Commit()
}

// migrate brings the schema to SchemaVersion, one transaction per
// migration, so that a crash leaves the file at some whole version.
func migrate(ctx context.Context, c *sql.DB) error {
	return migrateTo(ctx, c, len(migrations))
}

// migrateTo is migrate up to version through.
func migrateTo(ctx context.Context, c *sql.DB, through int) error {
	if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))`); err != nil {
		return err
	}
	var have int
	if err := c.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return err
	}
	if have > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary's %d; run a rebuild with this binary", have, len(migrations))
	}
	for v := have + 1; v <= through; v++ {
		tx, err := c.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, v); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}

// Close releases every connection. It is for the owner of the model; the
// API side goes through Retire.
func (m *Model) Close() {
	m.stmtMu.Lock()
	for _, s := range m.stmts {
		_ = s.Close()
	}
	m.stmts = map[string]*sql.Stmt{}
	m.stmtMu.Unlock()
	if m.rdb != nil {
		_ = m.rdb.Close()
	}
	if m.sdb != nil {
		_ = m.sdb.Close()
	}
	if m.w != nil {
		_ = m.w.Close()
	}
}

// Retire waits for the queries running on the model, closes it and, when
// remove is set, deletes its files.
func (m *Model) Retire(remove bool) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.Close()
	if !remove {
		return nil
	}
	return RemoveFiles(m.path)
}

// Acquire takes the model for one read; ok is false once it is retired.
func (m *Model) Acquire() bool {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return false
	}
	return true
}

func (m *Model) Release() { m.mu.RUnlock() }

// maxStmts bounds the reader statements a model keeps prepared.
const maxStmts = 512

// stmt returns a reader statement for query on the pool, and done, to
// call once the statement is used. The statements of the first maxStmts
// distinct queries are prepared once per model and kept until it closes;
// any other query's (the timeline's filters make many distinct queries)
// is closed by done, so they never pile up. Rows read from a statement
// outlive its close: it takes effect once they are closed. A statement
// is prepared without the statements' lock held: preparing may wait for
// a free connection, and a Snapshot, which holds one, takes the lock to
// look its statements up. A Snapshot's reads go through query and
// queryRow, never through stmt.
func (m *Model) stmt(ctx context.Context, query string) (st *sql.Stmt, done func(), err error) {
	if m.tx != nil {
		return nil, keep, fmt.Errorf("readmodel: a snapshot prepares no statement on the pool")
	}
	if s := m.cached(query); s != nil {
		return s, keep, nil
	}
	s, err := m.rdb.PrepareContext(ctx, query)
	if err != nil {
		return nil, keep, err
	}
	m.stmtMu.Lock()
	defer m.stmtMu.Unlock()
	m.prepared++
	if kept, ok := m.stmts[query]; ok {
		_ = s.Close()
		return kept, keep, nil
	}
	if len(m.stmts) < maxStmts {
		m.stmts[query] = s
		return s, keep, nil
	}
	return s, func() { _ = s.Close() }, nil
}

// keep is done for a statement the model keeps.
func keep() {}

// Digest is a SHA-256 over everything the model holds (see digest.go):
// equal digests mean equal projections.
func (m *Model) Digest(ctx context.Context) (string, error) { return digest(ctx, m.sdb) }

// Path is the model's file.
func (m *Model) Path() string { return m.path }

// Checkpoint is the last sequence applied to the timeline and the
// quarantine. Only the applier may ask.
func (m *Model) Checkpoint() uint64 { return m.checkpoint }

// Consistent is the sequence up to which overviews and access agree with
// the timeline: the position to publish. Only the applier may ask.
func (m *Model) Consistent() uint64 { return m.consistent }

// Bulk reports whether a bulk load runs (the timeline's secondary indexes
// are dropped). Only the applier may ask.
func (m *Model) Bulk() bool { return m.bulk }
