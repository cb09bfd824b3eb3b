package readmodel

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// evaluationRows reads the timeline rows an evaluation depends on, in a
// span of sequences; the type filter keeps the rows of the timeline-only
// types (meetings, health, consents, …) from being decoded at all.
var evaluationRows = func() string {
	var types []string
	for _, s := range events.Catalog() {
		if evaluation.Relevant(s.Name) {
			types = append(types, "'"+s.Type()+"'")
		}
	}
	return `SELECT sequence, family_id, time_ns, recorded_ns, type, data FROM timeline
	WHERE sequence > ? AND sequence <= ? AND type IN (` + strings.Join(types, ",") + `) ORDER BY sequence`
}()

// EvaluationEvents calls fn with the events an evaluation reads, of the
// sequences after `after` up to and including upTo, in stream order. The
// rows were validated when stored; a row that cannot be decoded fails the
// read, as it fails the fold of Apply.
func (m *Model) EvaluationEvents(ctx context.Context, after, upTo uint64, fn func(evaluation.Event)) error {
	// The first read of a model reads every row: a scan (scanConn).
	var rows *sql.Rows
	var err error
	if m.tx != nil {
		rows, err = m.query(ctx, evaluationRows, after, upTo)
	} else {
		rows, err = m.sdb.QueryContext(ctx, evaluationRows, after, upTo)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e        evaluation.Event
			typ      string
			data     []byte
			sequence int64
		)
		if err := rows.Scan(&sequence, &e.FamilyID, &e.Time, &e.Recorded, &typ, &data); err != nil {
			return err
		}
		if e.Data, err = storedPayload(typ, data); err != nil {
			return fmt.Errorf("readmodel: evaluation: sequence %d: %w", sequence, err)
		}
		e.Sequence = uint64(sequence)
		fn(e)
	}
	return rows.Err()
}
