package readmodel

import (
	"context"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// EvaluationMark names the last row at or below a sequence and the
// re-drives applied; it is "" for a sequence the model has not applied.
func TestEvaluationMark(t *testing.T) {
	ctx := context.Background()
	m := openModel(t)
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	var batch []Message
	for _, seq := range []uint64{1, 2, 4} {
		batch = append(batch, eventAt(t, "F1", seq, events.SOF, &events.FamilyReferred{Reason: "henvisning"}, at.Add(time.Duration(seq)*time.Minute)))
	}
	// 3 is quarantined: no timeline row.
	poison := []Message{{seq: 3, subject: "families.F1.sof.family.referred", recorded: at, raw: []byte("poison")}}
	DecodeAll(poison, nil)
	batch = append(batch[:2], poison[0], batch[2])
	if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	mark := func(seq uint64) string {
		t.Helper()
		s, err := m.EvaluationMark(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if mark(0) == "" || mark(2) == "" || mark(4) == "" {
		t.Fatalf("no mark at an applied sequence: %q %q %q", mark(0), mark(2), mark(4))
	}
	if mark(2) != mark(3) || mark(2) == mark(4) || mark(0) == mark(1) {
		t.Errorf("marks 0–4 %q %q %q %q %q: want 2 and 3 alike (no row 3), and every other pair apart", mark(0), mark(1), mark(2), mark(3), mark(4))
	}
	if s := mark(5); s != "" {
		t.Errorf("mark at 5, not applied: %q", s)
	}
	before := mark(4)
	if _, err := m.w.ExecContext(ctx, `UPDATE checkpoint SET redriven = redriven + 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if after := mark(4); after == before {
		t.Errorf("mark %q unchanged by a re-drive", after)
	}
}
