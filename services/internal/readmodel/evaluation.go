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

// EvaluationMark names what the model holds of the events up to seq,
// as far as an evaluation reads them: the re-drives it has applied and
// its last timeline row at or below seq (sequence and event id). An
// index of the evaluation's events up to seq, kept apart from the model
// (the projector's, across a restart), still holds for the model while
// its mark at seq is unchanged: its rows up to seq change only by a
// re-drive, or by an erasure, which changes nothing the index holds. It
// is "" when the model has not applied seq.
func (m *Model) EvaluationMark(ctx context.Context, seq uint64) (string, error) {
	var applied, redriven int64
	var last sql.NullInt64
	var id sql.NullString
	err := m.sdb.QueryRowContext(ctx, `SELECT c.sequence, c.redriven, t.sequence, t.event_id FROM checkpoint c
		LEFT JOIN (SELECT sequence, event_id FROM timeline WHERE sequence <= ? ORDER BY sequence DESC LIMIT 1) t
		WHERE c.id = 1`, int64(seq)).Scan(&applied, &redriven, &last, &id)
	if err != nil {
		return "", err
	}
	if uint64(applied) < seq {
		return "", nil
	}
	return fmt.Sprintf("%d redriven; row %d %s", redriven, last.Int64, id.String), nil
}
