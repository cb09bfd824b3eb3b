package readmodel

import (
	"context"
	"time"

	"kk.dk/jobogfamilie/events"
)

// RetentionFamily is what the retention rule reads of one family.
type RetentionFamily struct {
	FamilyID string
	Status   string
	// LastEvent is the time of the family's last event; CourseEnded that
	// of its last course.ended, zero if none.
	LastEvent, CourseEnded time.Time
	// Erased: family.erased is applied.
	Erased bool
}

// RetentionFamilies lists every family with the times the retention rule
// counts from.
func (v *View) RetentionFamilies(ctx context.Context) ([]RetentionFamily, error) {
	m, release, err := v.src.Acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	ended, _ := events.ByName("course.ended")
	erased, _ := events.ByName("family.erased")
	rows, err := m.query(ctx, `SELECT f.family_id, f.status,
		(SELECT max(time_ns) FROM timeline t WHERE t.family_id = f.family_id),
		(SELECT max(time_ns) FROM timeline t WHERE t.family_id = f.family_id AND t.type = ?),
		EXISTS (SELECT 1 FROM timeline t WHERE t.family_id = f.family_id AND t.type = ?)
		FROM families f ORDER BY f.family_id`, ended.Type(), erased.Type())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RetentionFamily
	for rows.Next() {
		var (
			r          RetentionFamily
			last, end  *int64
			erasedFlag bool
		)
		if err := rows.Scan(&r.FamilyID, &r.Status, &last, &end, &erasedFlag); err != nil {
			return nil, err
		}
		if last != nil {
			r.LastEvent = time.Unix(0, *last).UTC()
		}
		if end != nil {
			r.CourseEnded = time.Unix(0, *end).UTC()
		}
		r.Erased = erasedFlag
		out = append(out, r)
	}
	return out, rows.Err()
}
