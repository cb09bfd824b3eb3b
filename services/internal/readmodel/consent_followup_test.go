package readmodel

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

func gateModel(t testing.TB) *Model {
	t.Helper()
	m, err := Open(context.Background(), filepath.Join(t.TempDir(), ModelName(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestQuarantinedGoalFollowUpHidden: a SUF goal.set about P1 that this
// build quarantines (a version it does not know yet, until the redrive)
// leaves its goal.progressed, whose note is about P1, with no event to be
// judged as: the gate fails closed and hides it, in Go and in SQL. A
// praktik.ended whose praktik.started is missing is shown: only BIF opens
// a praktik, and the policy gates none of BIF's events.
func TestQuarantinedGoalFollowUpHidden(t *testing.T) {
	ctx := context.Background()
	const fam = "F-QGOAL"
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	m := gateModel(t)
	batch := []Message{
		eventAt(t, fam, 1, events.SOF, &events.FamilyReferred{Reason: "Bekymring"}, base),
		eventAt(t, fam, 2, events.SUF, &events.GoalSetV2{GoalID: "G1", Title: "Behandling", Domains: []string{"health"}, PersonID: "P1", ExpressedBy: "professional"}, base.Add(time.Hour)),
		eventAt(t, fam, 3, events.SUF, &events.GoalProgressed{GoalID: "G1", Achievement: "worsening", Note: "Har stoppet medicinen"}, base.Add(2*time.Hour)),
		eventAt(t, fam, 4, events.BIF, &events.PraktikEnded{PraktikID: "X1", Outcome: "completed"}, base.Add(3*time.Hour)),
	}
	batch[1].reason = "events: invalid: /type: not an event type of the catalog" // as a build without goal.set.v2 quarantines it
	if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	g := foldGate(t, m, fam, base.Add(24*time.Hour))
	for _, r := range gateRows(t, m, fam, HideOf(g)) {
		want := r.seq == 3
		if goHidden := g.HiddenEntry(r.dept, r.data, r.seq); r.sqlHidden != want || goHidden != want {
			t.Errorf("%d %s %s: SQL hidden=%v, Go hidden=%v, want %v", r.seq, r.typ, r.data, r.sqlHidden, goHidden, want)
		}
	}
}
