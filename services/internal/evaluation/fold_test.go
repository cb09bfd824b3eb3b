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

// cphAt is h hours after the first moment of the day d in Copenhagen.
func cphAt(d string, h int) time.Time {
	t, err := evaluation.ParseDay(d)
	if err != nil {
		panic(err)
	}
	return t.Add(time.Duration(h) * time.Hour)
}

// TestBenefitEndedBetweenCourseStartAndLateEnrolment: an enrolment
// recorded on 11 March for a course that began on 1 March names P1's
// kontanthjaelp; BIF records, after the enrolment, that P1 left it for a
// job on 5 March (events/family accepts it: the enrolment made it
// active). The fold takes the benefit.ended before the enrolment, when no
// benefit was active; it still ends the benefit the enrolment names on
// 5 March, and is an exit: P1 was on support 4 of the course's 31 days.
func TestBenefitEndedBetweenCourseStartAndLateEnrolment(t *testing.T) {
	t.Parallel()
	evs := []evaluation.Event{
		ev(1, "F1", cphAt("2024-03-11", 10), enrol("2024-03-01", []string{"P1"}, []string{"C1"})),
		ev(2, "F1", cphAt("2024-03-05", 0), &events.BenefitEnded{PersonID: "P1", Benefit: "kontanthjaelp", Reason: "employment"}),
	}
	r := evaluation.Compute(evs, cphAt("2024-04-01", 0), recordBase.Add(time.Hour), evaluation.Options{Target: 50})
	if got := show(r.Measures["benefitExits.employment"].Value); got != 1.0 {
		t.Errorf("benefitExits.employment = %v, want 1 (left kontanthjaelp for a job on 5 March, in the course that began 1 March)", got)
	}
	if got := show(r.Measures["publicSupport.during.fullTimePersons"].Value); got != 0.13 {
		t.Errorf("publicSupport.during.fullTimePersons = %v, want 0.13 (4 of 31 days)", got)
	}
}

// TestLateEnrolmentDoesNotReopenAnEndedBenefit: as above, but P1 was
// granted kontanthjaelp in January, so the benefit.ended of 5 March ends
// it when folded; the enrolment, folded later, names the benefit P1 had
// when the course began and must not open it again from 5 March.
func TestLateEnrolmentDoesNotReopenAnEndedBenefit(t *testing.T) {
	t.Parallel()
	evs := []evaluation.Event{
		ev(1, "F1", cphAt("2024-01-02", 9), &events.BenefitGranted{PersonID: "P1", Benefit: "kontanthjaelp"}),
		ev(2, "F1", cphAt("2024-03-11", 10), enrol("2024-03-01", []string{"P1"}, []string{"C1"})),
		ev(3, "F1", cphAt("2024-03-05", 0), &events.BenefitEnded{PersonID: "P1", Benefit: "kontanthjaelp", Reason: "employment"}),
	}
	r := evaluation.Compute(evs, cphAt("2024-04-01", 0), recordBase.Add(time.Hour), evaluation.Options{Target: 50})
	if got := show(r.Measures["benefitExits.employment"].Value); got != 1.0 {
		t.Errorf("benefitExits.employment = %v, want 1", got)
	}
	if got := show(r.Measures["publicSupport.during.fullTimePersons"].Value); got != 0.13 {
		t.Errorf("publicSupport.during.fullTimePersons = %v, want 0.13 (4 of 31 days; left for a job on 5 March)", got)
	}
}

// TestLateEnrolmentNamesABenefit: the benefit a late enrolment names
// runs from the course's start, as if the enrolment had been folded
// first: the first change of it that the fold took since then ends it or
// carries it on, and time on two benefits at once counts once.
func TestLateEnrolmentNamesABenefit(t *testing.T) {
	t.Parallel()
	ended := func(benefit, reason string) *events.BenefitEnded {
		return &events.BenefitEnded{PersonID: "P1", Benefit: benefit, Reason: reason}
	}
	granted := func(benefit string) *events.BenefitGranted {
		return &events.BenefitGranted{PersonID: "P1", Benefit: benefit}
	}
	type at struct {
		t time.Time
		d events.Payload
	}
	late := at{cphAt("2024-03-11", 10), enrol("2024-03-01", []string{"P1"}, []string{"C1"})}
	for _, tc := range []struct {
		name string
		evs  []at
		asOf time.Time
		want map[string]any
	}{{
		name: "ended, then granted again, before the enrolment",
		evs: []at{late, {cphAt("2024-03-03", 0), ended("kontanthjaelp", "employment")},
			{cphAt("2024-03-04", 0), granted("kontanthjaelp")}},
		want: map[string]any{"benefitExits.employment": 1.0, "publicSupport.during.fullTimePersons": 0.97}, // 1–3 March and from 4 March
	}, {
		name: "granted after the course began, before the enrolment",
		evs:  []at{late, {cphAt("2024-03-04", 0), granted("kontanthjaelp")}},
		want: map[string]any{"benefitExits.employment": 0.0, "publicSupport.during.fullTimePersons": 1.0},
	}, {
		name: "ended the moment the course began",
		evs:  []at{late, {cphAt("2024-03-01", 0), ended("kontanthjaelp", "education")}},
		want: map[string]any{"benefitExits.education": 1.0, "publicSupport.during.fullTimePersons": 0.0},
	}, {
		name: "other benefits' spans before and after the course began",
		evs: []at{late,
			{cphAt("2024-02-20", 0), granted("sygedagpenge")}, {cphAt("2024-03-02", 0), ended("sygedagpenge", "other")},
			{cphAt("2024-03-04", 0), granted("ressourceforloeb")}, {cphAt("2024-03-06", 0), ended("ressourceforloeb", "other")},
			{cphAt("2024-03-08", 0), ended("kontanthjaelp", "employment")}},
		want: map[string]any{"benefitExits.employment": 1.0,
			"publicSupport.before.fullTimePersons": 0.03, // 20 February to 1 March, of 52 weeks
			"publicSupport.during.fullTimePersons": 0.23, // 1–8 March, once
		},
	}, {
		// The second course, enrolled on 20 June for 1 June, began when
		// the first ended (10 June at noon); P1, who left kontanthjaelp
		// in May, is on it again until 15 June.
		name: "re-enrolment, its course start where the first course ended",
		evs: []at{{cphAt("2024-03-01", 10), enrol("2024-03-01", []string{"P1"}, []string{"C1"})},
			{cphAt("2024-05-05", 0), ended("kontanthjaelp", "employment")},
			{cphAt("2024-06-10", 12), &events.CourseEnded{Reason: "completed"}},
			{cphAt("2024-06-20", 10), enrol("2024-06-01", []string{"P1"}, []string{"C1"})},
			{cphAt("2024-06-15", 0), ended("kontanthjaelp", "education")}},
		asOf: cphAt("2024-07-01", 0),
		want: map[string]any{"benefitExits.employment": 0.0, "benefitExits.education": 1.0,
			"publicSupport.during.fullTimePersons": 0.22, // 4.5 of 20.5 days
		},
	}} {
		var evs []evaluation.Event
		for i, e := range tc.evs {
			evs = append(evs, ev(i+1, "F1", e.t, e.d))
		}
		asOf := tc.asOf
		if asOf.IsZero() {
			asOf = cphAt("2024-04-01", 0)
		}
		r := evaluation.Compute(evs, asOf, recordBase.Add(time.Hour), evaluation.Options{Target: 50})
		for name, want := range tc.want {
			if got := show(r.Measures[name].Value); got != want {
				t.Errorf("%s: %s = %v, want %v", tc.name, name, got, want)
			}
		}
	}
}
