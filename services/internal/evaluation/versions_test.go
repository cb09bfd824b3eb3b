package evaluation_test

import (
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// TestGoalsByDomainAcrossVersions: the evaluation reads goals of either
// version as the latest: a goal set in v1 counts in its one domain, a
// goal set in v2 in each of its domains, and either, closed achieved,
// counts as achieved in its domains.
func TestGoalsByDomainAcrossVersions(t *testing.T) {
	t.Parallel()
	s := &scenario{}
	s.add("F1", "2024-01-11", &events.FamilyEnrolled{CourseStart: "2024-01-11",
		Members:      []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		ChildCaseIDs: []string{"K1"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}}})
	s.add("F1", "2024-02-01", &events.GoalSet{GoalID: "G1", Title: "x", Domain: "employment", ExpressedBy: "family"})
	s.add("F1", "2024-02-02", &events.GoalSetV2{GoalID: "G2", Title: "y", Domains: []string{"family", "employment"}, ExpressedBy: "professional"})
	s.add("F1", "2024-03-01", &events.GoalClosed{GoalID: "G2", Outcome: "achieved"})
	s.add("F1", "2024-03-02", &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10})
	r := evaluation.Compute(s.evs, day("2024-06-01"), recordBase.Add(time.Hour), evaluation.Options{Target: 50})
	for name, want := range map[string]float64{
		"goals.set.domain.employment": 2, "goals.set.domain.family": 1, "goals.set.domain.school": 0,
		"goals.achieved.domain.family": 1, "goals.achieved.domain.employment": 1,
		"goals.set.expressedBy.family": 1, "goals.set.expressedBy.professional": 1,
		"parents.praktik.share": 1,
	} {
		m, ok := r.Measures[name]
		if !ok || m.Value == nil || *m.Value != want {
			t.Errorf("%s = %+v, want %v", name, m, want)
		}
	}
}
