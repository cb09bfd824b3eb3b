package accesslog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"

	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// Index keeps, in a SQLite file of its own, the subject and time of every
// entry of ACCESS_LOG by sequence, so that one family's entries are found
// by an index lookup and fetched by sequence. A consumer filtered on a
// family's subjects makes the server read every block of the log, and the
// log grows with every read of family data.
//
// Follow keeps it up to date with an ordered consumer; a read takes what
// the index holds and reads the entries after it from the log
// (audit.Reader.AccessLog). The file holds no family data: subjects name
// families by their pseudonymous ids, as the log does.
type Index struct {
	db   *sql.DB
	log  *slog.Logger
	last atomic.Uint64 // the last sequence indexed
}

// IndexFile is the index's file name in a process's directory.
const IndexFile = "access-index.db"

// indexSchema: entries by subject, then sequence; state holds the
// last sequence indexed and its time, by which a replaced log (a restored
// backup) is recognised.
const indexSchema = `
CREATE TABLE IF NOT EXISTS entries (
	subject  TEXT NOT NULL,
	sequence INTEGER NOT NULL,
	time_ns  INTEGER NOT NULL,
	PRIMARY KEY (subject, sequence)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	last    INTEGER NOT NULL,
	time_ns INTEGER NOT NULL
);
INSERT OR IGNORE INTO state (id, last, time_ns) VALUES (1, 0, 0);`

// OpenIndex opens (or makes) the index file at path.
func OpenIndex(ctx context.Context, path string, log *slog.Logger) (*Index, error) {
	if log == nil {
		log = slog.Default()
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// A commit lost to a power cut is indexed again from the log.
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if _, err := db.ExecContext(ctx, indexSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("accesslog: the index %s: %w", path, err)
	}
	x := &Index{db: db, log: log}
	var last int64
	if err := db.QueryRowContext(ctx, `SELECT last FROM state WHERE id = 1`).Scan(&last); err != nil {
		db.Close()
		return nil, err
	}
	x.last.Store(uint64(last))
	return x, nil
}

// Metric is the gauge jf_access_index_position, the last sequence the
// index holds; the process that follows with it registers it.
func (x *Index) Metric() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jf_access_index_position", Help: "The last sequence of ACCESS_LOG in the process's index of it, by which one family's entries are found; the entries after it are read from the log.",
	}, func() float64 { return float64(x.Last()) })
}

// Close closes the file; Follow must have returned.
func (x *Index) Close() error { return x.db.Close() }

// Last is the last sequence of ACCESS_LOG the index holds.
func (x *Index) Last() uint64 { return x.last.Load() }

// Follow indexes ACCESS_LOG as it grows, until ctx ends. A failure is
// logged and the follow starts again a second later, from the last entry
// indexed.
func (x *Index) Follow(ctx context.Context, js jetstream.JetStream) {
	for ctx.Err() == nil {
		err := x.follow(ctx, js)
		if ctx.Err() != nil {
			return
		}
		x.log.Warn("accesslog: the index of the access log stopped; it starts again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// indexBatch is the most entries indexed in one transaction.
const indexBatch = 1000

func (x *Index) follow(ctx context.Context, js jetstream.JetStream) error {
	s, err := js.Stream(ctx, eventstore.AccessLogStream)
	if err != nil {
		return err
	}
	if err := x.checkLast(ctx, s); err != nil {
		return err
	}
	// A bounded number of attempts to make the consumer again (after a
	// lost stream, say): the iterator's Next does not return while it
	// tries, whatever its context, so that Follow ends when ctx does.
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: x.Last() + 1, MaxResetAttempts: 3})
	if err != nil {
		return err
	}
	it, err := cons.Messages(eventstore.Pull(indexBatch)...)
	if err != nil {
		return err
	}
	defer it.Stop()
	var batch []indexRow
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		batch = append(batch, indexRow{msg.Subject(), md.Sequence.Stream, md.Timestamp.UnixNano()})
		if md.NumPending == 0 || len(batch) == indexBatch {
			if err := x.add(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
}

// indexRow is one entry of the index.
type indexRow struct {
	subject  string
	sequence uint64
	timeNS   int64
}

// add indexes rows, which follow the last entry indexed, in one
// transaction.
func (x *Index) add(ctx context.Context, rows []indexRow) error {
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO entries (subject, sequence, time_ns) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := st.ExecContext(ctx, r.subject, int64(r.sequence), r.timeNS); err != nil {
			return err
		}
	}
	end := rows[len(rows)-1]
	if _, err := tx.ExecContext(ctx, `UPDATE state SET last = ?, time_ns = ? WHERE id = 1`, int64(end.sequence), end.timeNS); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	x.last.Store(end.sequence)
	return nil
}

// checkLast empties the index when the log does not hold, at the last
// sequence indexed, the entry indexed there: the log was replaced (a
// restored backup), and its sequences name other entries.
func (x *Index) checkLast(ctx context.Context, s jetstream.Stream) error {
	last := x.Last()
	if last == 0 {
		return nil
	}
	var timeNS int64
	if err := x.db.QueryRowContext(ctx, `SELECT time_ns FROM state WHERE id = 1`).Scan(&timeNS); err != nil {
		return err
	}
	m, err := s.GetMsg(ctx, last)
	switch {
	case err == nil && m.Time.UnixNano() == timeNS:
		return nil
	case err != nil && !errors.Is(err, jetstream.ErrMsgNotFound):
		return err
	}
	x.log.Warn("accesslog: the access log is not the one indexed; it is indexed again", "last", last)
	if _, err := x.db.ExecContext(ctx, `DELETE FROM entries; UPDATE state SET last = 0, time_ns = 0 WHERE id = 1`); err != nil {
		return err
	}
	x.last.Store(0)
	return nil
}

// Sequences are the sequences of the entries on subjects recorded in
// [from, to) (a zero bound is open), in order, up to the last sequence
// indexed or until, whichever is lower, which it returns too.
func (x *Index) Sequences(ctx context.Context, subjects []string, from, to time.Time, until uint64) ([]uint64, uint64, error) {
	upTo := min(x.Last(), until)
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if !from.IsZero() {
		lo = from.UnixNano()
	}
	if !to.IsZero() {
		hi = to.UnixNano()
	}
	var out []uint64
	for _, subj := range subjects {
		rows, err := x.db.QueryContext(ctx, `SELECT sequence FROM entries
			WHERE subject = ? AND sequence <= ? AND time_ns >= ? AND time_ns < ? ORDER BY sequence`,
			subj, int64(upTo), lo, hi)
		if err != nil {
			return nil, 0, err
		}
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return nil, 0, err
			}
			out = append(out, uint64(seq))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, 0, err
		}
	}
	slices.Sort(out)
	return out, upTo, nil
}
