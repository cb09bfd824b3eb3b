package evaluation_test

import (
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// TestChildCasesPerFamilyAtEnrolmentMidwayEnd: DOMAIN.md's evaluation
// counts open child cases per family at enrolment, midway and end, as it
// does measures. F1 has K0 open before its enrolment, which names K1 (2
// at enrolment); K2 opens and K0 closes before its midway (2 then); K3
// opens before its course ends (3 at the end). F2's enrolment names K1
// only, and nothing changes (1 at enrolment and midway; not ended).
func TestChildCasesPerFamilyAtEnrolmentMidwayEnd(t *testing.T) {
	t.Parallel()
	at := func(d string) time.Time { t, _ := evaluation.ParseDay(d); return t.Add(10 * time.Hour) }
	f1 := enrol("2024-01-01", []string{"P1"}, []string{"C1"})
	f1.PlannedEnd = "2024-12-31"
	f2 := enrol("2024-02-01", []string{"P2"}, []string{"C2"})
	f2.PlannedEnd = "2025-02-01"
	evs := []evaluation.Event{
		ev(1, "F1", at("2023-06-01"), &events.ChildCaseOpened{CaseID: "K0", ChildID: "C1"}),
		ev(2, "F1", at("2024-01-01"), f1),
		ev(3, "F2", at("2024-02-01"), f2),
		ev(4, "F1", at("2024-03-01"), &events.ChildCaseOpened{CaseID: "K2", ChildID: "C1"}),
		ev(5, "F1", at("2024-05-01"), &events.ChildCaseClosed{CaseID: "K0", Reason: "x"}),
		ev(6, "F1", at("2024-08-01"), &events.ChildCaseOpened{CaseID: "K3", ChildID: "C1"}),
		ev(7, "F1", at("2024-10-01"), &events.CourseEnded{Reason: "completed"}),
	}
	r := evaluation.Compute(evs, day("2024-12-01"), recordBase.Add(time.Hour), evaluation.Options{Target: 50})
	for name, want := range map[string]struct {
		v float64
		n int
	}{
		"childCases.openPerFamily.atEnrolment": {1.5, 2},
		"childCases.openPerFamily.midway":      {1.5, 2},
		"childCases.openPerFamily.atEnd":       {3, 1},
	} {
		m, ok := r.Measures[name]
		if !ok || m.Value == nil || *m.Value != want.v || m.Count != want.n {
			t.Errorf("%s = %v (n=%d, present %v), want %v (n=%d)", name, show(m.Value), m.Count, ok, want.v, want.n)
		}
	}
}
