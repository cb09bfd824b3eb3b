package evaluation_test

import (
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// scenario builds events in stream order; each records at its sequence
// (second n after 2025-01-01) unless it is a backfill recorded later.
type scenario struct{ evs []evaluation.Event }

var recordBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func (s *scenario) add(fam, at string, d events.Payload) {
	seq := uint64(len(s.evs) + 1)
	t, err := time.Parse(time.DateOnly, at)
	if err != nil {
		panic(err)
	}
	s.evs = append(s.evs, evaluation.Event{Sequence: seq, FamilyID: fam, Time: t.UnixNano(),
		Recorded: recordBase.Add(time.Duration(seq) * time.Second).UnixNano(), Data: d})
}

// ev is an event of family fam at the moment at, recorded at its
// sequence (second seq after recordBase).
func ev(seq int, fam string, at time.Time, d events.Payload) evaluation.Event {
	return evaluation.Event{Sequence: uint64(seq), FamilyID: fam, Time: at.UnixNano(),
		Recorded: recordBase.Add(time.Duration(seq) * time.Second).UnixNano(), Data: d}
}

// enrol is a family.enrolled of parents, each on kontanthjaelp, and
// children, with its course starting on the day start.
func enrol(start string, parents, children []string) *events.FamilyEnrolled {
	e := &events.FamilyEnrolled{CourseStart: start, PlannedEnd: "2027-01-01", ChildCaseIDs: []string{"K1"}}
	for _, p := range parents {
		e.Members = append(e.Members, events.Member{PersonID: p, Role: "parent"})
		e.ParentBenefits = append(e.ParentBenefits, events.ParentBenefit{PersonID: p, Benefit: "kontanthjaelp"})
	}
	for _, c := range children {
		e.Members = append(e.Members, events.Member{PersonID: c, Role: "child"})
	}
	return e
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func small() *scenario {
	s := &scenario{}
	s.add("F1", "2023-01-12", &events.BenefitGranted{PersonID: "P1", Benefit: "kontanthjaelp"})
	s.add("F1", "2023-12-20", &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: "2023-09-01", PeriodEnd: "2023-12-20",
		SchoolDays: 70, AbsentDays: events.AbsentDays{Sickness: 5, Authorised: 2, Unauthorised: 7}})
	s.add("F1", "2023-12-01", &events.MeasureStarted{MeasureID: "M1", Kind: "familiebehandling", Purpose: "x"})
	s.add("F1", "2024-01-01", &events.FamilyReferred{Reason: "x"})
	s.add("F1", "2024-01-11", &events.FamilyEnrolled{CourseStart: "2024-01-11", PlannedEnd: "2026-01-10",
		Members:      []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		ChildCaseIDs: []string{"K1"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}}})
	s.add("F1", "2024-01-12", &events.CaseworkerAssigned{EmployeeID: "E1"})
	s.add("F1", "2024-02-01", &events.ChildCaseOpened{CaseID: "K2", ChildID: "C1"})
	s.add("F2", "2024-02-01", &events.FamilyReferred{Reason: "x"})
	s.add("F1", "2024-03-01", &events.CaseworkerAssigned{EmployeeID: "E2"})
	s.add("F1", "2024-03-01", &events.ChildCaseClosed{CaseID: "K2", Reason: "x"})
	s.add("F3", "2024-03-01", &events.FamilyEnrolled{CourseStart: "2024-03-01",
		Members:      []events.Member{{PersonID: "P3", Role: "parent"}, {PersonID: "C3", Role: "child"}},
		ChildCaseIDs: []string{"K5"}, ParentBenefits: []events.ParentBenefit{}})
	s.add("F3", "2024-03-02", &events.CaseworkerAssigned{EmployeeID: "E3"})
	s.add("F1", "2024-04-11", &events.BenefitEnded{PersonID: "P1", Benefit: "kontanthjaelp", Reason: "employment"})
	s.add("F1", "2024-04-11", &events.EmploymentStarted{PersonID: "P1", Kind: "ordinary"})
	s.add("F1", "2024-04-20", &events.GoalSet{GoalID: "G1", Title: "x", Domain: "employment", ExpressedBy: "family"})
	s.add("F1", "2024-04-20", &events.GoalSet{GoalID: "G2", Title: "x", Domain: "school", ExpressedBy: "professional"})
	s.add("F1", "2024-05-01", &events.GoalClosed{GoalID: "G1", Outcome: "achieved"})
	s.add("F1", "2024-05-02", &events.EvaluationRecorded{Kind: "midway", FamilySatisfaction: 4})
	s.add("F1", "2024-05-31", &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: "2024-02-01", PeriodEnd: "2024-05-31",
		SchoolDays: 80, AbsentDays: events.AbsentDays{Sickness: 4}})
	s.add("F1", "2024-06-01", &events.MeasureEnded{MeasureID: "M1", Reason: "x"})
	s.add("F1", "2024-06-02", &events.EvaluationRecorded{Kind: "midway", FamilySatisfaction: 5, ChildWellbeing: 3})
	s.add("F1", "2024-07-01", &events.MeasureStarted{MeasureID: "M2", Kind: "other", Purpose: "x"})
	s.add("F1", "2024-09-01", &events.CourseEnded{Reason: "completed"})
	s.add("F1", "2024-09-20", &events.FamilyReferred{Reason: "again"})
	s.add("F1", "2024-10-01", &events.FamilyEnrolled{CourseStart: "2024-10-01",
		Members:      []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		ChildCaseIDs: []string{"K3"}, ParentBenefits: []events.ParentBenefit{}})
	// A backfill: recorded last, it happened in March.
	s.add("F3", "2024-03-15", &events.ChildCaseOpened{CaseID: "K9", ChildID: "C3"})
	return s
}

func TestSmallScenario(t *testing.T) {
	t.Parallel()
	s := small()
	last := recordBase.Add(time.Duration(len(s.evs)) * time.Second)
	beforeBackfill := last.Add(-time.Second)
	exact := evaluation.Options{Target: 50}
	type want map[string]any // number, or nil for no value
	tests := []struct {
		name    string
		asOf    time.Time
		knownAt time.Time
		want    want
	}{
		{"mid course", day("2024-06-15"), last, want{
			"families.target": 50.0, "families.referred": 1.0, "families.enrolled": 2.0, "families.active": 2.0, "families.ended": 0.0,
			"childCases.open":                      3.0, // F1: K1 (K2 closed); F3: K5 and the backfilled K9
			"referralToEnrolment.medianDays":       10.0,
			"publicSupport.before.fullTimePersons": 1.0,  // P1 all 52 weeks, P3 none
			"publicSupport.during.fullTimePersons": 0.58, // P1 91 of 156 days, P3 none
			"parents.job.share":                    0.5, "parents.job.ordinary.share": 0.5, "parents.praktik.share": 0.0,
			"benefitExits.employment": 1.0, "benefitExits.education": 0.0,
			"children.absence.before.meanShare": 0.2, "children.absence.before.over10pct.share": 1.0,
			"children.absence.before.unauthorised15pct.share": 0.0,
			"children.absence.during.meanShare":               0.05,
			"goals.set.domain.employment":                     1.0, "goals.set.domain.school": 1.0, "goals.achieved.domain.employment": 1.0,
			"goals.achieved.expressedBy.family": 1.0, "goals.achieved.expressedBy.professional": 0.0,
			"caseworker.changesPerFamily": 0.5,
			"satisfaction.family.mean":    5.0, "wellbeing.child.mean": 3.0,
			"measures.openPerFamily.atEnrolment": 0.5, // F1 had M1 open, F3 none
			"measures.openPerFamily.midway":      nil,
			"measures.openPerFamily.atEnd":       nil,
		}},
		{"before the backfill was known", day("2024-06-15"), beforeBackfill, want{"childCases.open": 2.0}},
		{"a course that ended", day("2024-09-15"), last, want{
			"families.referred": 1.0, "families.enrolled": 2.0, "families.active": 1.0, "families.ended": 1.0,
			"childCases.open":                      2.0,  // only F3's
			"measures.openPerFamily.atEnd":         1.0,  // M2
			"publicSupport.during.fullTimePersons": 0.39, // P1 91 of 234 days
		}},
		{"referred again", day("2024-09-25"), last, want{
			"families.referred": 2.0, "families.enrolled": 2.0, "families.active": 1.0, "families.ended": 1.0,
		}},
		{"re-enrolled", day("2024-10-15"), last, want{
			"families.referred": 1.0, "families.enrolled": 2.0, "families.active": 2.0, "families.ended": 0.0,
			"childCases.open":                    4.0, // F1: K1 and K3; F3: K5, K9
			"measures.openPerFamily.atEnrolment": 0.5, // F1's second course began with M2 open
			"caseworker.changesPerFamily":        0.0, // no assignment in F1's second course
		}},
		{"before anything", day("2022-01-01"), last, want{"families.enrolled": 0.0, "childCases.open": 0.0, "parents.job.share": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := evaluation.Compute(s.evs, tc.asOf, tc.knownAt, exact)
			for agg, count := range evaluation.SameUnits {
				if a, c := r.Measures[agg], r.Measures[count]; c.Value == nil || float64(a.Count) != *c.Value {
					t.Errorf("the count of %s is %d, not %s (%v)", agg, a.Count, count, show(c.Value))
				}
			}
			for name, w := range tc.want {
				m, ok := r.Measures[name]
				if !ok {
					t.Fatalf("no measure %s", name)
				}
				if m.Suppressed {
					t.Errorf("%s suppressed with suppression off", name)
				}
				switch w := w.(type) {
				case nil:
					if m.Value != nil {
						t.Errorf("%s = %v, want no value", name, *m.Value)
					}
				case float64:
					if m.Value == nil || *m.Value != w {
						t.Errorf("%s = %v, want %v", name, show(m.Value), w)
					}
				}
			}
		})
	}
	// The series folds once and must agree with single evaluations.
	moments, err := evaluation.Moments(day("2024-01-01"), day("2024-12-01"), evaluation.StepMonth)
	if err != nil || len(moments) != 12 {
		t.Fatalf("%d moments, %v", len(moments), err)
	}
	series := evaluation.ComputeSeries(s.evs, moments, last, exact)
	for i, m := range moments {
		one := evaluation.Compute(s.evs, m, last, exact)
		for name, v := range one.Measures {
			if show(v.Value) != show(series[i].Measures[name].Value) {
				t.Errorf("%s at %s: series %v, alone %v", name, m.Format(time.DateOnly), show(series[i].Measures[name].Value), show(v.Value))
			}
		}
	}
}

func show(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

func TestCatalogHasEveryMeasure(t *testing.T) {
	t.Parallel()
	r := evaluation.Compute(small().evs, day("2024-06-15"), recordBase.Add(time.Hour), evaluation.Options{Target: 50})
	if len(r.Measures) != len(evaluation.Catalog) {
		t.Fatalf("%d measures, catalog has %d", len(r.Measures), len(evaluation.Catalog))
	}
	seen := map[string]bool{}
	for _, d := range evaluation.Catalog {
		if seen[d.Name] || d.Da == "" || d.En == "" {
			t.Fatalf("measure %q: duplicate or without definition", d.Name)
		}
		seen[d.Name] = true
	}
	for _, rel := range evaluation.Relations {
		for _, n := range append(append([]string(nil), rel.Totals...), rel.Parts...) {
			if !seen[n] {
				t.Fatalf("relation names unknown measure %s", n)
			}
		}
	}
}

func TestMomentsKeepEveryMonth(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		from, to, step string
		want           []string
	}{
		{"2024-01-31", "2024-05-31", evaluation.StepMonth, []string{"2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"}},
		{"2023-01-31", "2023-03-01", evaluation.StepMonth, []string{"2023-01-31", "2023-02-28"}},
		{"2024-08-31", "2025-03-01", evaluation.StepQuarter, []string{"2024-08-31", "2024-11-30", "2025-02-28"}},
		{"2024-01-15", "2024-03-15", evaluation.StepMonth, []string{"2024-01-15", "2024-02-15", "2024-03-15"}},
	} {
		ms, err := evaluation.Moments(day(c.from), day(c.to), c.step)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.Format(time.DateOnly))
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s to %s by %s: %v, want %v", c.from, c.to, c.step, got, c.want)
		}
	}
}

// TestMomentsStayOnCopenhagenMidnights: a series steps by Copenhagen's
// months, so that from the first moment of a day there (here given in UTC)
// every moment is a midnight there, in winter (23:00 UTC) and in summer
// (22:00 UTC) alike.
func TestMomentsStayOnCopenhagenMidnights(t *testing.T) {
	t.Parallel()
	from := time.Date(2024, 1, 31, 23, 0, 0, 0, time.UTC) // 1 February, 00:00 in Copenhagen
	ms, err := evaluation.Moments(from, time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC), evaluation.StepMonth)
	if err != nil || len(ms) != 11 {
		t.Fatalf("%d moments, %v", len(ms), err)
	}
	for i, m := range ms {
		c := m.In(evaluation.Copenhagen)
		if c.Day() != 1 || c.Hour() != 0 || c.Minute() != 0 || c.Month() != time.Month(2+i) {
			t.Errorf("moment %d is %s in Copenhagen, want the first of month %d at 00:00", i, c.Format(time.RFC3339), 2+i)
		}
	}
	d, err := evaluation.ParseDay("2024-07-01")
	if err != nil || !d.Equal(time.Date(2024, 6, 30, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseDay(2024-07-01) = %s, %v", d.UTC().Format(time.RFC3339), err)
	}
}
