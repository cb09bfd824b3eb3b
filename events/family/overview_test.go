package family_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// story is a family's course with many entries in every map, in an order
// that differs from the sorted one.
func story() []events.Envelope {
	ts := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	var es []events.Envelope
	add := func(e events.Envelope) {
		ts = ts.Add(time.Hour)
		es = append(es, at(e, "id"+ts.Format("0102150405"), ts.Format(time.RFC3339)))
	}
	add(referred())
	add(enrolled())
	add(caseworker("E1"))
	add(makkerpar("E2", "E3"))
	for _, id := range []string{"Z", "A", "M", "B", "Y"} {
		add(joined("T" + id))
		add(consent("P"+id, events.ScopeFamilyPlan))
		add(consent("P"+id, events.ScopeGPCooperation))
		add(caseOpened("CC" + id))
		add(measureStarted("M" + id))
		add(goalSet("G" + id))
		add(granted("P"+id, "sygedagpenge"))
		add(praktikStarted("PR" + id))
		add(subsidyStarted("S" + id))
		add(langStarted("L" + id))
		add(from(events.BUF, absence("C"+id, "2024-01-01", "2024-03-31", 60, 3)))
		add(ev(&events.EmploymentStarted{PersonID: "P" + id, Kind: "small-job", HoursPerWeek: 8}))
		add(ev(&events.EducationStarted{PersonID: "P" + id, Programme: "HF"}))
	}
	add(goalProgressed("GA", "improving"))
	add(goalClosed("GB"))
	add(left("TM"))
	add(praktikEnded("PRB"))
	add(evaluation())
	return es
}

// TestOverviewDeterministic: two folds of the same events give byte-equal
// JSON, however Go happens to iterate the maps inside.
func TestOverviewDeterministic(t *testing.T) {
	t.Parallel()
	first := must(json.Marshal(fold(t, story()...).Overview()))
	for i := range 20 {
		s := fold(t, story()...)
		if got := must(json.Marshal(s.Overview())); !bytes.Equal(got, first) {
			t.Fatalf("fold %d differs:\n%s\n%s", i, got, first)
		}
		if got := must(json.Marshal(s.Clone().Overview())); !bytes.Equal(got, first) {
			t.Fatalf("clone of fold %d differs", i)
		}
	}
}

func TestOverviewSorted(t *testing.T) {
	t.Parallel()
	o := fold(t, story()...).Overview()
	sorted := func(name string, ids []string) {
		t.Run(name+" sorted by id", func(t *testing.T) {
			if len(ids) < 2 || !slices.IsSorted(ids) {
				t.Errorf("%v", ids)
			}
		})
	}
	ids := func(n int, f func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	sorted("members", ids(len(o.Members), func(i int) string { return o.Members[i].PersonID }))
	sorted("team", ids(len(o.Team), func(i int) string { return o.Team[i].EmployeeID }))
	sorted("consents", ids(len(o.Consents), func(i int) string { return o.Consents[i].PersonID + " " + o.Consents[i].Scope }))
	sorted("childCases", ids(len(o.ChildCases), func(i int) string { return o.ChildCases[i].CaseID }))
	sorted("measures", ids(len(o.Measures), func(i int) string { return o.Measures[i].MeasureID }))
	sorted("benefits", ids(len(o.Benefits), func(i int) string { return o.Benefits[i].PersonID + " " + o.Benefits[i].Benefit }))
	sorted("praktik", ids(len(o.Praktik), func(i int) string { return o.Praktik[i].PraktikID }))
	sorted("wageSubsidies", ids(len(o.WageSubsidies), func(i int) string { return o.WageSubsidies[i].SubsidyID }))
	sorted("languageCourses", ids(len(o.LanguageCourses), func(i int) string { return o.LanguageCourses[i].CourseID }))
	sorted("goals", ids(len(o.Goals), func(i int) string { return o.Goals[i].GoalID }))
	sorted("schoolAbsence", ids(len(o.SchoolAbsence), func(i int) string { return o.SchoolAbsence[i].ChildID }))
	sorted("employments", ids(len(o.Employments), func(i int) string { return o.Employments[i].PersonID }))
	sorted("educations", ids(len(o.Educations), func(i int) string { return o.Educations[i].PersonID }))
}

// TestOverviewContent checks each item of DOMAIN.md's overview once.
func TestOverviewContent(t *testing.T) {
	t.Parallel()
	o := fold(t, story()...).Overview()
	check := func(name string, ok bool) {
		t.Run(name, func(t *testing.T) {
			if !ok {
				t.Errorf("overview: %+v", o)
			}
		})
	}
	check("familyId and status", o.FamilyID == fam && o.Status == family.StatusEnrolled && family.New(fam).FamilyID() == fam)
	check("course dates", o.CourseStart == "2024-01-01" && o.PlannedEnd == "2025-12-31")
	check("referral reason", o.ReferralReason == "visitation")
	check("members from enrolment", len(o.Members) == 3 &&
		o.Members[0] == family.Member{PersonID: "C1", Role: "child", BirthYear: 2012})
	check("makkerpar", o.Makkerpar != nil && *o.Makkerpar == family.Makkerpar{JobConsultantID: "E2", FamilyWorkerID: "E3"})
	check("caseworker", o.Caseworker == "E1")
	check("team without the member who left", len(o.Team) == 4 &&
		!slices.ContainsFunc(o.Team, func(m family.TeamMember) bool { return m.EmployeeID == "TM" }) &&
		o.Team[0].Role == "sundhedsplejerske")
	check("consents in force", len(o.Consents) == 10)
	check("child cases from enrolment and childcase.opened", len(o.ChildCases) == 6 &&
		o.ChildCases[0] == family.ChildCase{CaseID: "CC0"} &&
		o.ChildCases[1] == family.ChildCase{CaseID: "CCA", ChildID: "C1", LegalBasis: "SEL-52"})
	check("measures", len(o.Measures) == 5 && o.Measures[0].Kind == "familiebehandling")
	check("benefits from enrolment and benefit.granted", len(o.Benefits) == 6 &&
		slices.Contains(o.Benefits, family.Benefit{PersonID: "P1", Benefit: "kontanthjaelp"}))
	check("open praktik only", len(o.Praktik) == 4 &&
		o.Praktik[0] == family.Praktik{PraktikID: "PRA", PersonID: "P1", Employer: events.PraktikEmployer{Cvr: "12345678"}, HoursPerWeek: 10})
	check("wage subsidies", len(o.WageSubsidies) == 5 && o.WageSubsidies[0].Sector == "public")
	check("language courses", len(o.LanguageCourses) == 5 && o.LanguageCourses[0].Level == "DU2")
	check("goals with latest achievement and closed ones", len(o.Goals) == 5 &&
		o.Goals[0].LatestAchievement == "improving" && !o.Goals[0].Closed &&
		o.Goals[1].Closed && o.Goals[1].Outcome == "achieved" && o.Goals[1].Title == "Job inden sommer")
	check("school absence per child", len(o.SchoolAbsence) == 5 && o.SchoolAbsence[0].UnauthorisedShare == 0.05)
	check("employments and educations with time", len(o.Employments) == 5 && !o.Employments[0].Time.IsZero() &&
		len(o.Educations) == 5)
	check("evaluations", len(o.Evaluations) == 1 && o.Evaluations[0].FamilySatisfaction == 4)
	check("counts", o.TotalEvents == len(story()) && o.EventsPerDepartment.BUF == 5 &&
		o.EventsPerDepartment.SOF+o.EventsPerDepartment.BIF+o.EventsPerDepartment.BUF+o.EventsPerDepartment.SUF == o.TotalEvents)
	check("last event time", o.LastEventTime.Equal(story()[len(story())-1].Time()))
}

// TestOverviewJSON pins the JSON shape clients see: lowerCamelCase names,
// [] for empty lists, optional fields left out.
func TestOverviewJSON(t *testing.T) {
	t.Parallel()
	t.Run("new family", func(t *testing.T) {
		t.Parallel()
		got := string(must(json.Marshal(family.New(fam).Overview())))
		want := `{"familyId":"F1","status":"known","members":[],"team":[],"consents":[],"childCases":[],` +
			`"measures":[],"benefits":[],"praktik":[],"wageSubsidies":[],"languageCourses":[],"employments":[],` +
			`"educations":[],"goals":[],"schoolAbsence":[],"evaluations":[],` +
			`"eventsPerDepartment":{"sof":0,"bif":0,"buf":0,"suf":0},"totalEvents":0}`
		if got != want {
			t.Fatalf("got\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("field names", func(t *testing.T) {
		t.Parallel()
		got := string(must(json.Marshal(fold(t, story()...).Overview())))
		for _, key := range []string{`"courseStart":"2024-01-01"`, `"plannedEnd":"2025-12-31"`,
			`"makkerpar":{"jobConsultantId":"E2","familyWorkerId":"E3"}`, `"caseworker":"E1"`,
			`"latestAchievement":"improving"`, `"expressedBy":"family"`, `"unauthorisedShare":0.05`,
			`"absentDays":{"sickness":1,"authorised":0,"unauthorised":3}`, `"lastEventTime":"2024-`,
			`{"praktikId":"PRA","personId":"P1","employer":{"cvr":"12345678"},"hoursPerWeek":10}`} {
			if !strings.Contains(got, key) {
				t.Errorf("missing %s in\n%s", key, got)
			}
		}
	})
	t.Run("overview shares nothing with the state", func(t *testing.T) {
		t.Parallel()
		s := fold(t, story()...)
		o := s.Overview()
		o.Members[0].PersonID = "X"
		o.Makkerpar.FamilyWorkerID = "X"
		if s.Overview().Members[0].PersonID == "X" || s.Overview().Makkerpar.FamilyWorkerID == "X" {
			t.Fatal("overview aliases the state")
		}
	})
}
