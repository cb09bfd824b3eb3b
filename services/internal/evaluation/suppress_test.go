package evaluation_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
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

// parentsWithJobs is n families of one parent and one child each,
// enrolled on 1 March 2024, of whose parents the first jobs left their
// benefit for a job in April.
func parentsWithJobs(n, jobs int) []evaluation.Event {
	var evs []evaluation.Event
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		evs = append(evs, ev(len(evs)+1, fmt.Sprintf("F%d", i), at, enrol("2024-03-01", []string{fmt.Sprintf("P%d", i)}, []string{fmt.Sprintf("C%d", i)})))
	}
	later := at.Add(30 * 24 * time.Hour)
	for i := 1; i <= jobs; i++ {
		fam, p := fmt.Sprintf("F%d", i), fmt.Sprintf("P%d", i)
		evs = append(evs, ev(len(evs)+1, fam, later, &events.BenefitEnded{PersonID: p, Benefit: "kontanthjaelp", Reason: "employment"}),
			ev(len(evs)+2, fam, later, &events.EmploymentStarted{PersonID: p, Kind: "ordinary"}))
	}
	return evs
}

// TestShareKeepsSmallCountsHidden: with suppression on, a count of one
// person (benefitExits.employment = 1) is hidden, and the share of
// parents who got a job, shown with its count, must not give the same 1
// away (0.2 × n = 5 → 1 parent).
func TestShareKeepsSmallCountsHidden(t *testing.T) {
	t.Parallel()
	r := evaluation.Compute(parentsWithJobs(5, 1), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), recordBase.Add(time.Hour),
		evaluation.Options{Target: 50, Suppress: true})
	exits := r.Measures["benefitExits.employment"]
	if !exits.Suppressed {
		t.Fatalf("benefitExits.employment not suppressed: %v", show(exits.Value))
	}
	for _, name := range []string{"parents.job.share", "parents.job.ordinary.share"} {
		m := r.Measures[name]
		if !m.Suppressed && m.Value != nil {
			t.Errorf("benefitExits.employment (1 person) is suppressed, but %s = %v with count %d discloses %v person(s)",
				name, *m.Value, m.Count, *m.Value*float64(m.Count))
		}
	}
	// Nobody counted in is no one's figure: a zero share is shown.
	if m := r.Measures["parents.praktik.share"]; m.Suppressed || show(m.Value) != 0.0 {
		t.Errorf("parents.praktik.share = %v, suppressed %v; want 0 shown", show(m.Value), m.Suppressed)
	}
}

// TestShareKeepsSmallComplementsHidden: the parents a share leaves out
// are a count of persons too: 8 of 10 parents with a job leaves 2
// without, hidden; 5 of 10 is shown, without the numerator in the JSON.
func TestShareKeepsSmallComplementsHidden(t *testing.T) {
	t.Parallel()
	o := evaluation.Options{Target: 50, Suppress: true}
	asOf := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		jobs  int
		shown bool
	}{{8, false}, {9, false}, {10, true}, {5, true}, {4, false}} {
		m := evaluation.Compute(parentsWithJobs(10, c.jobs), asOf, recordBase.Add(time.Hour), o).Measures["parents.job.share"]
		if m.Suppressed == c.shown {
			t.Errorf("%d of 10 parents with a job: suppressed %v, want %v", c.jobs, m.Suppressed, !c.shown)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]any
		if err := json.Unmarshal(b, &fields); err != nil || len(fields) != 4 {
			t.Errorf("%d of 10: the measure's JSON %s says more than value, suppressed, count and unit", c.jobs, b)
		}
	}
}

// TestFewFamiliesKeepTheirFigures: one family with five children is the
// only family enrolled; families.enrolled (1) is suppressed, and so must
// be the figures of that one family's children and child cases, though
// they are five: they are about one family.
func TestFewFamiliesKeepTheirFigures(t *testing.T) {
	t.Parallel()
	kids := []string{"C1", "C2", "C3", "C4", "C5"}
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	e := enrol("2024-03-01", []string{"P1", "P2"}, kids)
	e.ChildCaseIDs = []string{"K1", "K2", "K3", "K4", "K5"}
	evs := []evaluation.Event{ev(1, "F1", at, e)}
	for i, c := range kids {
		evs = append(evs, ev(2+i, "F1", at.Add(-24*time.Hour), &events.SchoolAbsenceNoted{ChildID: c,
			PeriodStart: "2024-01-01", PeriodEnd: "2024-02-28", SchoolDays: 40, AbsentDays: events.AbsentDays{Unauthorised: 8}}))
	}
	r := evaluation.Compute(evs, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), recordBase.Add(time.Hour),
		evaluation.Options{Target: 50, Suppress: true})
	if !r.Measures["families.enrolled"].Suppressed {
		t.Fatalf("families.enrolled shown")
	}
	for _, name := range []string{"children.absence.before.meanShare", "children.absence.before.unauthorised15pct.share", "childCases.open"} {
		if m := r.Measures[name]; !m.Suppressed {
			t.Errorf("families.enrolled = 1 is suppressed, but %s of that one family is shown: %v (n = %d)", name, show(m.Value), m.Count)
		}
	}
}

// TestFewFamiliesAmongMany: among many families, a count of persons, or
// the persons a share counts in, from fewer than five families is
// suppressed, however many persons they are; complementary suppression
// still leaves no relation with one hidden cell.
func TestFewFamiliesAmongMany(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	later := at.Add(30 * 24 * time.Hour)
	var evs []evaluation.Event
	add := func(fam string, when time.Time, d events.Payload) { evs = append(evs, ev(len(evs)+1, fam, when, d)) }
	// Ten families of three parents; the parents of F1 and F2 (six) all
	// leave their benefit for a job.
	for i := 1; i <= 10; i++ {
		fam := fmt.Sprintf("F%d", i)
		ps := []string{fam + "-P1", fam + "-P2", fam + "-P3"}
		add(fam, at, enrol("2024-03-01", ps, []string{fam + "-C1"}))
		if i <= 2 {
			for _, p := range ps {
				add(fam, later, &events.BenefitEnded{PersonID: p, Benefit: "kontanthjaelp", Reason: "employment"})
				add(fam, later, &events.EmploymentStarted{PersonID: p, Kind: "ordinary"})
			}
		}
		// Goals: every family has one of domain employment; F1 has six
		// of domain school.
		add(fam, later, &events.GoalSetV2{GoalID: fam + "-G", Title: "x", Domains: []string{"employment"}, ExpressedBy: "family"})
		if i == 1 {
			for g := 0; g < 6; g++ {
				add(fam, later, &events.GoalSetV2{GoalID: fmt.Sprintf("%s-S%d", fam, g), Title: "x", Domains: []string{"school"}, ExpressedBy: "family"})
			}
		}
	}
	r := evaluation.Compute(evs, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), recordBase.Add(time.Hour),
		evaluation.Options{Target: 50, Suppress: true})
	for _, name := range []string{"benefitExits.employment", "parents.job.share", "parents.job.ordinary.share", "goals.set.domain.school"} {
		if m := r.Measures[name]; !m.Suppressed {
			t.Errorf("%s rests on the persons or goals of two families or fewer, but is shown: %v (n = %d)", name, show(m.Value), m.Count)
		}
	}
	for _, name := range []string{"families.enrolled", "parents.praktik.share", "goals.set.expressedBy.family"} {
		if m := r.Measures[name]; m.Suppressed {
			t.Errorf("%s suppressed", name)
		}
	}
	// The goals expressed by families (16) are employment's (10) and
	// school's (6, hidden): employment's is hidden beside it.
	if m := r.Measures["goals.set.domain.employment"]; !m.Suppressed {
		t.Errorf("goals.set.domain.employment shown beside the hidden school goals: %v", show(m.Value))
	}
	for _, rel := range evaluation.Relations {
		hidden := 0
		for _, n := range append(append([]string(nil), rel.Totals...), rel.Parts...) {
			if r.Measures[n].Suppressed {
				hidden++
			}
		}
		if hidden == 1 {
			t.Errorf("relation %v has one suppressed cell: derivable", rel)
		}
	}
}

// TestDocStatesTheDifferencingLimit: suppression protects each answer,
// one moment at a time; two moments whose figures differ by one family
// give that family away, and nothing in the software closes that gap.
// docs/EVALUATION.md must keep saying so, with what an operator can do,
// as long as it is true (TestDocMatchesCatalog holds the file to
// Markdown, its source). The test shows the gap, on the document's own
// example, and fails once it is closed: five families' satisfaction
// answers at one moment and six a moment later give the sixth family's
// answer.
func TestDocStatesTheDifferencingLimit(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../../docs/EVALUATION.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []struct{ name, text string }{{"docs/EVALUATION.md", string(doc)}, {"Markdown()", evaluation.Markdown()}} {
		text := strings.Join(strings.Fields(src.text), " ")
		for _, says := range []string{
			"A known limit: suppression protects each answer, one moment at a time, not what several answers give together.",
			"Two moments whose figures differ by one family give that family away",
			"6 × the second mean − 5 × the first is the sixth family's own answer",
			"The same holds for two knownAt around a backfill, for neighbouring moments of a series",
			"publish figures outside them only at fixed moments chosen in advance",
			"Closing the gap in the software would need suppression across the published moments, or noise; neither is implemented.",
		} {
			if !strings.Contains(text, says) {
				t.Errorf("%s no longer states the known limit of differencing between moments: %q is missing", src.name, says)
			}
		}
	}

	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	var evs []evaluation.Event
	for i := 1; i <= 6; i++ {
		fam := fmt.Sprintf("F%d", i)
		evs = append(evs, ev(len(evs)+1, fam, at, enrol("2024-03-01", []string{"P" + fam}, []string{"C" + fam})))
		score := 4
		if i == 6 {
			score = 1 // the sixth family's own answer
		}
		evs = append(evs, ev(len(evs)+1, fam, at.Add(time.Duration(i)*24*time.Hour), &events.EvaluationRecorded{Kind: "midway", FamilySatisfaction: score}))
	}
	sixth := at.Add(6 * 24 * time.Hour)
	o := evaluation.Options{Target: 50, Suppress: true}
	known := recordBase.Add(time.Hour)
	r1 := evaluation.Compute(evs, sixth.Add(-time.Second), known, o).Measures["satisfaction.family.mean"]
	r2 := evaluation.Compute(evs, sixth, known, o).Measures["satisfaction.family.mean"]
	// The document states the gap as long as the software leaves it open:
	// once either moment is suppressed, the text above is no longer true.
	if r1.Suppressed || r2.Suppressed || r1.Value == nil || r2.Value == nil {
		t.Fatalf("satisfaction.family.mean suppressed (%v, %v) a second before and at the sixth answer: the gap is closed, and docs/EVALUATION.md must stop stating it",
			r1.Suppressed, r2.Suppressed)
	}
	given := float64(r2.Count)**r2.Value - float64(r1.Count)**r1.Value
	t.Logf("satisfaction.family.mean %v (n = %d), a second later %v (n = %d): the sixth family answered %v",
		*r1.Value, r1.Count, *r2.Value, r2.Count, given)
	if r1.Count != 5 || r2.Count != 6 || math.Abs(given-1) > 1e-9 {
		t.Errorf("the two moments (n = %d, then %d) give %v, not the sixth family's answer 1: the document's example no longer holds", r1.Count, r2.Count, given)
	}
}
