package projector_test

import (
	"fmt"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// cphAt is h hours after 00:00 in Copenhagen of the day d.
func cphAt(d string, h int) time.Time {
	x, err := time.ParseInLocation(time.DateOnly, d, copenhagen)
	if err != nil {
		panic(err)
	}
	return x.Add(time.Duration(h) * time.Hour)
}

// lateEvent is an event of lateEnrolments: its department, family, time
// and data.
type lateEvent struct {
	dept events.Department
	fam  string
	at   time.Time
	d    events.Payload
}

// lateEnrolments are families the demo does not have (it enrols each on
// its courseStart day), in the order they are recorded: events/family
// accepts each in turn. The replay test posts them too, so that the fold
// and the second computation (referenceFull) are compared on them.
//
// LATE1 is enrolled on 11 March for a course that began on 1 March; a
// caseworker, a praktik, school absence, a job and the end of both
// parents' benefits, dated between the two, are recorded after the
// enrolment. P1 was granted kontanthjaelp in January and leaves it for a
// job on 5 March; P2's uddannelseshjaelp, which only the enrolment names,
// ends on 6 March. The course ends on 10 June at noon; the second
// enrolment, on 20 June for 1 June, began then, and names P1's
// kontanthjaelp again, which ends on 17 June.
//
// LATE2 is enrolled on 26 June for 17 June: P1's sygedagpenge, named by
// the enrolment only, ends on 20 June; P2's kontanthjaelp, granted on
// 19 June, before the enrolment was recorded, counts from 17 June.
// lateKnown (the enrolment's position) is a knownAt before that end is
// recorded.
//
// LATE3 is enrolled on 9 September for 2 September: P1's
// integrationsydelse ends at the very moment the course began, and P1 was
// on kontanthjaelp before and on ressourceforloeb after that moment.
func lateEnrolments() []lateEvent {
	enrolled := func(courseStart string, benefits ...events.ParentBenefit) *events.FamilyEnrolled {
		return &events.FamilyEnrolled{CourseStart: courseStart, PlannedEnd: "2025-12-31", ChildCaseIDs: []string{"K1"},
			Members:        []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "P2", Role: "parent"}, {PersonID: "C1", Role: "child"}},
			ParentBenefits: benefits}
	}
	on := func(p, b string) events.ParentBenefit { return events.ParentBenefit{PersonID: p, Benefit: b} }
	granted := func(p, b string) *events.BenefitGranted { return &events.BenefitGranted{PersonID: p, Benefit: b} }
	ended := func(p, b, reason string) *events.BenefitEnded {
		return &events.BenefitEnded{PersonID: p, Benefit: b, Reason: reason}
	}
	absence := func(from, to string, days, unauthorised int) *events.SchoolAbsenceNoted {
		return &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: from, PeriodEnd: to, SchoolDays: days,
			AbsentDays: events.AbsentDays{Sickness: 1, Unauthorised: unauthorised}}
	}
	referred := &events.FamilyReferred{Reason: "Flere samtidige foranstaltninger og langvarig ledighed hos forældrene"}
	return []lateEvent{
		{events.BIF, "LATE1", cphAt("2024-01-10", 9), granted("P1", "kontanthjaelp")},
		{events.SOF, "LATE1", cphAt("2024-02-12", 10), referred},
		{events.BUF, "LATE1", cphAt("2024-02-26", 12), absence("2024-01-08", "2024-02-23", 30, 3)},
		{events.SOF, "LATE1", cphAt("2024-03-11", 10), enrolled("2024-03-01", on("P1", "kontanthjaelp"), on("P2", "uddannelseshjaelp"))},
		{events.SOF, "LATE1", cphAt("2024-03-04", 9), &events.CaseworkerAssigned{EmployeeID: "E1001"}},
		{events.BIF, "LATE1", cphAt("2024-03-04", 10), &events.PraktikStartedV2{PraktikID: "LP1", PersonID: "P2",
			Employer: events.PraktikEmployer{Cvr: "12345678"}, HoursPerWeek: 10}},
		{events.BIF, "LATE1", cphAt("2024-03-05", 0), ended("P1", "kontanthjaelp", "employment")},
		{events.BIF, "LATE1", cphAt("2024-03-05", 8), &events.EmploymentStarted{PersonID: "P1", Kind: "ordinary", HoursPerWeek: 30}},
		{events.BIF, "LATE1", cphAt("2024-03-06", 9), ended("P2", "uddannelseshjaelp", "education")},
		{events.BUF, "LATE1", cphAt("2024-03-08", 12), absence("2024-03-01", "2024-03-08", 6, 2)},
		{events.SOF, "LATE1", cphAt("2024-03-20", 9), &events.CaseworkerAssigned{EmployeeID: "E1002"}},
		{events.BIF, "LATE1", cphAt("2024-06-05", 9), &events.WageSubsidyStarted{SubsidyID: "LS1", PersonID: "P2", Employer: "12345678", Sector: "private"}},
		{events.SOF, "LATE1", cphAt("2024-06-10", 12), &events.CourseEnded{Reason: "completed"}},
		{events.SOF, "LATE1", cphAt("2024-06-20", 10), enrolled("2024-06-01", on("P1", "kontanthjaelp"))},
		{events.SOF, "LATE1", cphAt("2024-06-12", 9), &events.CaseworkerAssigned{EmployeeID: "E1001"}},
		{events.BIF, "LATE1", cphAt("2024-06-14", 9), &events.LanguageCourseStarted{CourseID: "LD1", PersonID: "P2", Level: "DU2 modul 3"}},
		{events.BIF, "LATE1", cphAt("2024-06-17", 0), ended("P1", "kontanthjaelp", "employment")},

		{events.SOF, "LATE2", cphAt("2024-05-21", 10), referred},
		{events.BIF, "LATE2", cphAt("2024-06-19", 9), granted("P2", "kontanthjaelp")},
		{events.SOF, "LATE2", cphAt("2024-06-26", 10), enrolled("2024-06-17", on("P1", "sygedagpenge"), on("P2", "kontanthjaelp"))},
		{events.BIF, "LATE2", cphAt("2024-06-20", 0), ended("P1", "sygedagpenge", "employment")},
		{events.BIF, "LATE2", cphAt("2024-06-20", 8), &events.EmploymentStarted{PersonID: "P1", Kind: "flexjob", HoursPerWeek: 20}},

		{events.BIF, "LATE3", cphAt("2024-08-20", 9), granted("P1", "kontanthjaelp")},
		{events.BIF, "LATE3", cphAt("2024-08-30", 9), ended("P1", "kontanthjaelp", "other")},
		{events.SOF, "LATE3", cphAt("2024-09-09", 10), enrolled("2024-09-02", on("P1", "integrationsydelse"))},
		{events.BIF, "LATE3", cphAt("2024-09-02", 0), ended("P1", "integrationsydelse", "education")},
		{events.BIF, "LATE3", cphAt("2024-09-03", 9), granted("P1", "ressourceforloeb")},
		{events.BIF, "LATE3", cphAt("2024-09-05", 9), ended("P1", "ressourceforloeb", "other")},
	}
}

// lateKnown is the index in lateEnrolments of LATE2's enrolment, recorded
// before the end of the benefit it names.
const lateKnown = 19

// lateAsOfs are moments of lateEnrolments' courses: between a course's
// start and its enrolment, and after.
var lateAsOfs = []string{"2024-03-08", "2024-03-12", "2024-04-01", "2024-06-15", "2024-06-18", "2024-06-25",
	"2024-06-30", "2024-07-01", "2024-09-02", "2024-09-10", "2024-12-31", "2025-06-01"}

// TestFoldAgreesWithReferenceOnLateEnrolments: the fold and the second
// computation agree on every measure for lateEnrolments, at each of
// lateAsOfs, as known after each event was recorded.
func TestFoldAgreesWithReferenceOnLateEnrolments(t *testing.T) {
	t.Parallel()
	late := lateEnrolments()
	if e, ok := late[lateKnown].d.(*events.FamilyEnrolled); !ok || late[lateKnown].fam != "LATE2" || e.CourseStart != "2024-06-17" {
		t.Fatalf("lateKnown (%d) is not LATE2's enrolment", lateKnown)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	states := map[string]*family.State{}
	var all []stored
	var evs []evaluation.Event
	for i, x := range late {
		ce, err := events.Build(x.dept, x.fam, x.d, events.WithTime(x.at))
		if err != nil {
			t.Fatal(err)
		}
		env, err := events.Validate(ce)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		st := states[x.fam]
		if st == nil {
			st = family.New(x.fam)
			states[x.fam] = st
		}
		if err := st.Check(env); err != nil {
			t.Fatalf("events/family refuses event %d: %v", i, err)
		}
		st.Apply(env)
		rec := base.Add(time.Duration(i+1) * time.Second)
		all = append(all, stored{seq: uint64(i + 1), recorded: rec, env: env})
		e, _ := evaluation.FromEnvelope(uint64(i+1), rec, env)
		evs = append(evs, e)
	}
	for _, s := range all {
		known := s.recorded
		for _, d := range lateAsOfs {
			asOf := cphAt(d, 0)
			want := referenceFull(all, asOf, known)
			got := evaluation.Compute(evs, asOf, known, evaluation.Options{Target: 50}).Measures
			for _, m := range evaluation.Catalog {
				if fmt.Sprint(show(got[m.Name].Value)) != fmt.Sprint(show(want[m.Name])) {
					t.Errorf("asOf %s known after event %d: %s: fold %v, reference %v", d, s.seq, m.Name, show(got[m.Name].Value), show(want[m.Name]))
				}
			}
		}
	}
	// What the families are for: the exits and the support the late
	// enrolments' benefits give, at the end.
	got := evaluation.Compute(evs, cphAt("2024-12-31", 0), base.Add(time.Hour), evaluation.Options{Target: 50}).Measures
	for name, want := range map[string]any{
		"families.enrolled":       3.0,
		"benefitExits.employment": 2.0, // LATE1's P1 (17 June, the second course), LATE2's P1
		"benefitExits.education":  1.0, // LATE3's P1; LATE1's P2 left in the first course
	} {
		if v := show(got[name].Value); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}

// TestFoldAgreesWithReferenceOnLateEnrolmentBenefitEnd: an enrolment
// recorded on 11 March for a course that began on 1 March, naming P1's
// kontanthjaelp, and a benefit.ended of it dated 5 March recorded after;
// without and with a grant in January.
func TestFoldAgreesWithReferenceOnLateEnrolmentBenefitEnd(t *testing.T) {
	t.Parallel()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type in struct {
		dept events.Department
		at   time.Time
		d    events.Payload
	}
	enrolment := in{events.SOF, cphAt("2024-03-11", 10), &events.FamilyEnrolled{CourseStart: "2024-03-01", PlannedEnd: "2026-03-01",
		Members:        []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		ChildCaseIDs:   []string{"K1"},
		ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}}}}
	ended := in{events.BIF, cphAt("2024-03-05", 0), &events.BenefitEnded{PersonID: "P1", Benefit: "kontanthjaelp", Reason: "employment"}}
	granted := in{events.BIF, cphAt("2024-01-02", 9), &events.BenefitGranted{PersonID: "P1", Benefit: "kontanthjaelp"}}
	for ci, ins := range [][]in{{enrolment, ended}, {granted, enrolment, ended}} {
		st := family.New("F1")
		var all []stored
		var evs []evaluation.Event
		for i, x := range ins {
			ce, err := events.Build(x.dept, "F1", x.d, events.WithTime(x.at))
			if err != nil {
				t.Fatal(err)
			}
			env, err := events.Validate(ce)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Check(env); err != nil {
				t.Fatalf("events/family refuses event %d: %v", i, err)
			}
			st.Apply(env)
			rec := base.Add(time.Duration(i+1) * time.Second)
			all = append(all, stored{seq: uint64(i + 1), recorded: rec, env: env})
			e, _ := evaluation.FromEnvelope(uint64(i+1), rec, env)
			evs = append(evs, e)
		}
		asOf, known := cphAt("2024-04-01", 0), base.Add(time.Hour)
		want := referenceFull(all, asOf, known)
		got := evaluation.Compute(evs, asOf, known, evaluation.Options{Target: 50}).Measures
		for _, d := range evaluation.Catalog {
			if fmt.Sprint(show(got[d.Name].Value)) != fmt.Sprint(show(want[d.Name])) {
				t.Errorf("case %d: %s: fold %v, reference %v", ci, d.Name, show(got[d.Name].Value), show(want[d.Name]))
			}
		}
		for name, v := range map[string]any{"benefitExits.employment": 1.0, "publicSupport.during.fullTimePersons": 0.13} {
			if show(want[name]) != v {
				t.Errorf("case %d: the reference gives %s = %v, want %v", ci, name, show(want[name]), v)
			}
		}
	}
}
