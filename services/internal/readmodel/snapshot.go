package readmodel

import (
	"context"
	"database/sql"
)

// querier is what a read's statements run on: the reader pool, or the
// one read transaction of a Snapshot.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Snapshot is the model for reads that must all see one state of it: its
// methods run in one read transaction, which in WAL mode reads the file
// as it is at the transaction's first statement, whatever batches are
// committed meanwhile. A family read's consent gate, overview, hidden
// count and timeline pages are read on one snapshot, so that each of them
// judges the same rows. The snapshot is for reading only, by one
// goroutine; end releases its connection and must be called (it holds
// one of the pool's connections and keeps the WAL from being checkpointed
// past it), before anything is waited for that does not read it.
func (m *Model) Snapshot(ctx context.Context) (snap *Model, end func(), err error) {
	if m.tx != nil {
		return m, func() {}, nil
	}
	// Read before the transaction's first statement, which takes the
	// state it reads.
	gen := m.gateCounts.generation()
	tx, err := m.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	s := &Model{path: m.path, rdb: m.rdb, sdb: m.sdb, tx: tx, base: m, erasures: gen}
	return s, func() {
		_ = tx.Rollback()
		// The statements it could not take from the pool's, prepared
		// there now that its connection is free, for the next read; not
		// one the pool would not keep (its statements are maxStmts), which
		// would be prepared only to be closed at once.
		for _, q := range s.missed {
			if !m.wouldKeep(q) {
				continue
			}
			_, done, err := m.stmt(context.WithoutCancel(ctx), q)
			if err == nil {
				done()
			}
		}
		s.missed = nil
	}, nil
}

// db is where the model's statements run: its snapshot's transaction, or
// the reader pool.
func (m *Model) db() querier {
	if m.tx != nil {
		return m.tx
	}
	return m.rdb
}

// cached is the pool's prepared statement of query, or nil.
func (m *Model) cached(query string) *sql.Stmt {
	m.stmtMu.Lock()
	defer m.stmtMu.Unlock()
	return m.stmts[query]
}

// wouldKeep reports whether stmt would prepare query's statement and keep
// it: the pool has none yet and room for it.
func (m *Model) wouldKeep(query string) bool {
	m.stmtMu.Lock()
	defer m.stmtMu.Unlock()
	_, ok := m.stmts[query]
	return !ok && len(m.stmts) < maxStmts
}

// snapStmt is the statement of query in a snapshot's transaction: the
// pool's, when it has one, made the transaction's (prepared on its
// connection if it is not yet), or nil. A snapshot never prepares on the
// pool: that needs another connection, and with every connection held by
// a snapshot waiting to prepare, none would ever be free.
func (m *Model) snapStmt(ctx context.Context, query string) *sql.Stmt {
	if st := m.base.cached(query); st != nil {
		return m.tx.StmtContext(ctx, st)
	}
	if len(m.missed) < 16 {
		m.missed = append(m.missed, query)
	}
	return nil
}

// queryRow runs a query of one row, on a statement prepared once per
// model.
func (m *Model) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if m.tx != nil {
		if st := m.snapStmt(ctx, query); st != nil {
			return st.QueryRowContext(ctx, args...)
		}
		return m.tx.QueryRowContext(ctx, query, args...)
	}
	st, done, err := m.stmt(ctx, query)
	if err != nil {
		return m.rdb.QueryRowContext(ctx, query, args...)
	}
	defer done()
	return st.QueryRowContext(ctx, args...)
}
