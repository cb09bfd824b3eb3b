package evaluation_test

import (
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// TestAbsenceSplitOnCopenhagenDays: a family enrolled on 1 March 2024 at
// 00:30 Copenhagen time (courseStart 2024-03-01), 29 February in UTC. A
// school absence period ending 29 February ends before the course
// started, so it is "before", not "during": the days are Copenhagen's.
func TestAbsenceSplitOnCopenhagenDays(t *testing.T) {
	t.Parallel()
	cph := evaluation.Copenhagen
	enrolAt := time.Date(2024, 3, 1, 0, 30, 0, 0, cph)
	evs := []evaluation.Event{
		ev(1, "F1", time.Date(2024, 2, 29, 15, 0, 0, 0, cph), &events.SchoolAbsenceNoted{ChildID: "C1",
			PeriodStart: "2024-02-01", PeriodEnd: "2024-02-29", SchoolDays: 20,
			AbsentDays: events.AbsentDays{Unauthorised: 10}}),
		ev(2, "F1", enrolAt, enrol("2024-03-01", []string{"P1"}, []string{"C1"})),
	}
	r := evaluation.Compute(evs, time.Date(2024, 4, 1, 0, 0, 0, 0, cph), recordBase.Add(time.Hour), evaluation.Options{Target: 50})
	before, during := r.Measures["children.absence.before.meanShare"], r.Measures["children.absence.during.meanShare"]
	if before.Value == nil || *before.Value != 0.5 || during.Value != nil {
		t.Errorf("period ending 2024-02-29, course starting 2024-03-01 (Copenhagen): before = %v (n=%d), during = %v (n=%d); want before 0.5, during none",
			show(before.Value), before.Count, show(during.Value), during.Count)
	}
}

// TestCourseBeganAtCourseStartDay: the evaluation's course begins as
// events/family's does: an enrolment recorded on 11 March for a course
// that started on 1 March (courseStart) began on 1 March at 00:00 in
// Copenhagen, so a praktik, a caseworker's assignment and school absence
// between the two are in the course, and the parents' benefits named in
// the enrolment are public support from 1 March. A second course whose
// courseStart day lies before the first course ended begins where the
// first ended.
func TestCourseBeganAtCourseStartDay(t *testing.T) {
	t.Parallel()
	cph := evaluation.Copenhagen
	at := func(d string, h int) time.Time {
		t, _ := evaluation.ParseDay(d)
		return t.Add(time.Duration(h) * time.Hour)
	}
	o := evaluation.Options{Target: 50}
	known := recordBase.Add(time.Hour)
	evs := []evaluation.Event{
		ev(1, "F1", at("2024-02-20", 9), &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: "2024-02-01", PeriodEnd: "2024-02-29",
			SchoolDays: 20, AbsentDays: events.AbsentDays{Sickness: 2}}),
		ev(2, "F1", at("2024-03-02", 9), &events.CaseworkerAssigned{EmployeeID: "E1"}),
		ev(3, "F1", at("2024-03-05", 9), &events.PraktikStartedV2{PraktikID: "PR1", PersonID: "P1",
			Employer: events.PraktikEmployer{Cvr: "12345678"}, HoursPerWeek: 10}),
		ev(4, "F1", at("2024-03-10", 15), &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: "2024-03-01", PeriodEnd: "2024-03-10",
			SchoolDays: 6, AbsentDays: events.AbsentDays{Unauthorised: 3}}),
		ev(5, "F1", at("2024-03-11", 10), enrol("2024-03-01", []string{"P1"}, []string{"C1"})),
		ev(6, "F1", at("2024-03-20", 9), &events.CaseworkerAssigned{EmployeeID: "E2"}),
	}
	r := evaluation.Compute(evs, time.Date(2024, 4, 1, 0, 0, 0, 0, cph), known, o)
	for name, want := range map[string]any{
		"families.enrolled":                    1.0,
		"parents.praktik.share":                1.0,
		"caseworker.changesPerFamily":          1.0,
		"children.absence.before.meanShare":    0.1,
		"children.absence.during.meanShare":    0.5,
		"publicSupport.during.fullTimePersons": 1.0,
	} {
		if got := show(r.Measures[name].Value); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// Before its family.enrolled, the family is not enrolled yet: the
	// enrolment had not happened.
	if r := evaluation.Compute(evs, at("2024-03-11", 0), known, o); show(r.Measures["families.enrolled"].Value) != 0.0 {
		t.Errorf("enrolled before its family.enrolled: %v", show(r.Measures["families.enrolled"].Value))
	}

	// The course ends on 10 June at noon; a second enrolment on 20 June
	// names 1 June: it began on 10 June at noon.
	evs = append(evs,
		ev(7, "F1", at("2024-06-10", 12), &events.CourseEnded{Reason: "completed"}),
		ev(8, "F1", at("2024-06-05", 9), &events.WageSubsidyStarted{SubsidyID: "S1", PersonID: "P1", Employer: "12345678", Sector: "private"}),
		ev(9, "F1", at("2024-06-15", 9), &events.LanguageCourseStarted{CourseID: "L1", PersonID: "P1"}),
		ev(10, "F1", at("2024-06-20", 10), enrol("2024-06-01", []string{"P1"}, []string{"C1"})),
	)
	r = evaluation.Compute(evs, at("2024-07-01", 0), recordBase.Add(time.Hour), o)
	for name, want := range map[string]any{
		"families.active":                   1.0,
		"parents.praktik.share":             0.0, // in the first course
		"parents.wageSubsidy.share":         0.0, // in the first course
		"parents.languageCourse.share":      1.0, // after the first ended
		"caseworker.changesPerFamily":       0.0,
		"benefitExits.employment":           0.0,
		"children.absence.before.meanShare": 0.192, // February and 1–10 March
	} {
		if got := show(r.Measures[name].Value); got != want {
			t.Errorf("second course: %s = %v, want %v", name, got, want)
		}
	}
}
