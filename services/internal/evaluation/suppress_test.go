package evaluation_test

import (
	"testing"

	"kk.dk/jobogfamilie/services/internal/evaluation"
)

func cells(vals map[string][2]float64) map[string]evaluation.Measure {
	ms := map[string]evaluation.Measure{}
	for _, d := range evaluation.Catalog {
		ms[d.Name] = evaluation.Measure{Unit: d.Unit, Value: new(float64)}
	}
	for n, v := range vals {
		x := v[0]
		ms[n] = evaluation.Measure{Value: &x, Count: int(v[1])}
	}
	return ms
}

func TestSuppress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cells  map[string][2]float64 // value, count
		hidden []string
		shown  []string
	}{
		{"ended small: active hidden too",
			map[string][2]float64{"families.enrolled": {12, 12}, "families.active": {9, 9}, "families.ended": {3, 3}},
			[]string{"families.ended", "families.active"}, []string{"families.enrolled"}},
		{"nothing small",
			map[string][2]float64{"families.enrolled": {12, 12}, "families.active": {7, 7}, "families.ended": {5, 5}, "families.target": {50, 0}},
			nil, []string{"families.enrolled", "families.active", "families.ended", "families.target"}},
		{"zero is shown and not enough to protect",
			map[string][2]float64{"families.enrolled": {4, 4}, "families.active": {4, 4}, "families.ended": {0, 0}},
			[]string{"families.enrolled", "families.active"}, []string{"families.ended"}},
		{"active small: the means over the ended families hidden with them",
			map[string][2]float64{"families.enrolled": {10, 10}, "families.active": {3, 3}, "families.ended": {7, 7},
				"measures.openPerFamily.atEnd": {1.5, 7}, "measures.openPerFamily.atEnrolment": {2, 10}, "caseworker.changesPerFamily": {0.5, 10}},
			[]string{"families.active", "families.ended", "measures.openPerFamily.atEnd"},
			[]string{"families.enrolled", "measures.openPerFamily.atEnrolment", "caseworker.changesPerFamily"}},
		{"mean over four units",
			map[string][2]float64{"satisfaction.family.mean": {4.5, 4}, "wellbeing.child.mean": {3, 5}},
			[]string{"satisfaction.family.mean"}, []string{"wellbeing.child.mean"}},
		{"one goal domain small: a positive part hidden beside it",
			map[string][2]float64{"goals.set.domain.employment": {10, 6}, "goals.set.domain.school": {2, 2}, "goals.set.domain.health": {7, 5},
				"goals.set.expressedBy.family": {12, 7}, "goals.set.expressedBy.professional": {7, 6}},
			[]string{"goals.set.domain.school", "goals.set.domain.health"}, []string{"goals.set.domain.employment", "goals.set.expressedBy.family"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms := cells(tc.cells)
			evaluation.Suppress(ms, evaluation.DefaultThreshold)
			for _, n := range tc.hidden {
				if !ms[n].Suppressed || ms[n].Value != nil || ms[n].Count != 0 {
					t.Errorf("%s shown: %+v", n, ms[n])
				}
			}
			for _, n := range tc.shown {
				if ms[n].Suppressed || ms[n].Value == nil {
					t.Errorf("%s hidden", n)
				}
			}
			// No relation may have exactly one suppressed cell.
			for _, r := range evaluation.Relations {
				hidden := 0
				for _, n := range append(append([]string(nil), r.Totals...), r.Parts...) {
					if ms[n].Suppressed {
						hidden++
					}
				}
				if hidden == 1 {
					t.Errorf("relation %v has one suppressed cell: derivable", r)
				}
			}
			// No aggregate may show a suppressed count as its own.
			for agg, count := range evaluation.SameUnits {
				if ms[count].Suppressed && !ms[agg].Suppressed {
					t.Errorf("%s shown with the count of %s, which is suppressed", agg, count)
				}
			}
		})
	}
}
