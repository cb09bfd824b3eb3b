package projector

import (
	"context"
	"os"
	"time"
)

// SetHooks installs the crash hooks; call it before Start.
func SetHooks(p *Projector, beforeCommit, afterCommit func(last uint64) error) {
	p.hooks.beforeCommit, p.hooks.afterCommit = beforeCommit, afterCommit
}

// SetHeartbeat changes the SSE heartbeat interval; call it before serving.
func SetHeartbeat(p *Projector, d time.Duration) { p.heartbeat.Store(int64(d)) }

// QuarantineRow is a row of the quarantine table.
type QuarantineRow struct {
	Sequence uint64
	Subject  string
	Reason   string
	Raw      string
}

// Quarantined lists the quarantine table.
func Quarantined(ctx context.Context, p *Projector) ([]QuarantineRow, error) {
	m, release, err := p.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := m.rdb.QueryContext(ctx, `SELECT sequence, subject, reason, raw FROM quarantine ORDER BY sequence`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []QuarantineRow
	for rows.Next() {
		var q QuarantineRow
		if err := rows.Scan(&q.Sequence, &q.Subject, &q.Reason, &q.Raw); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// ModelFile is the base name of the current read model file.
func ModelFile(p *Projector) string {
	m := p.model.Load()
	return m.path
}

// SetBulkThreshold changes the backlog from which an empty model is bulk
// loaded; call it before Start.
func SetBulkThreshold(p *Projector, n uint64) { p.bulkThreshold = n }

// Indexes lists the current read model's indexes.
func Indexes(ctx context.Context, p *Projector) ([]string, error) {
	m, release, err := p.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := m.rdb.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func writeFile(path string) error { return os.WriteFile(path, []byte("x"), 0o600) }
