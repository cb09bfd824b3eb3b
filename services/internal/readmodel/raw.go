package readmodel

import (
	"context"
	"database/sql"
)

// RawTimeline is a read model file reduced to its timeline table: the
// model's schema, connection settings and insert statement, without the
// model around them. It measures what SQLite itself can do with the rows
// the model writes (make bench).
type RawTimeline struct {
	db  *sql.DB // a pool of one connection, as the model's writer
	ins *sql.Stmt
}

// OpenRawTimeline creates and migrates a read model file at path.
func OpenRawTimeline(ctx context.Context, path string) (*RawTimeline, error) {
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(path, writerConn))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	r := &RawTimeline{db: db}
	if err := migrate(ctx, r.db); err != nil {
		r.Close()
		return nil, err
	}
	if r.ins, err = r.db.PrepareContext(ctx, insertRawTimeline); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// DropIndexes drops the timeline's secondary indexes, as a bulk load does.
func (r *RawTimeline) DropIndexes(ctx context.Context) error {
	return r.exec(ctx, dropTimelineIndexes)
}

// BuildIndexes builds the timeline's secondary indexes, as the end of a
// bulk load does.
func (r *RawTimeline) BuildIndexes(ctx context.Context) error {
	return r.exec(ctx, timelineIndexes)
}

func (r *RawTimeline) exec(ctx context.Context, stmts []string) error {
	for _, q := range stmts {
		if _, err := r.db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// Insert inserts timeline rows in one transaction, each the ten values of
// the model's insert statement (sequence, family_id, event_id, time_ns,
// recorded_ns, department, type, title, data, actor), with a context that
// cannot be cancelled, as the model's own inserts.
func (r *RawTimeline) Insert(ctx context.Context, rows [][]any) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	ts := tx.StmtContext(ctx, r.ins)
	rowCtx := rowContext(ctx)
	for _, row := range rows {
		if _, err := ts.ExecContext(rowCtx, row...); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// Close closes the file.
func (r *RawTimeline) Close() error {
	if r.ins != nil {
		_ = r.ins.Close()
	}
	return r.db.Close()
}
