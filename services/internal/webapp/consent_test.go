package webapp_test

import (
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
)

// TestConsentLine: without the child's data-sharing consent the family
// page shows none of the child's BUF events, neither in the timeline nor
// in Skole, and says how many entries consent hides; an auditor sees them.
func TestConsentLine(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	const fam = "FAM-NOCONSENT"
	e.post(events.SOF, fam, &events.FamilyEnrolled{
		Members:     []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart: "2024-01-15", ChildCaseIDs: []string{"CASE1"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	})
	e.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"})
	e.post(events.BUF, fam, &events.PPRReferred{ChildID: "C1", Reason: "Bekymring for trivsel"})
	e.waitApplied(e.post(events.BUF, fam, &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: "2024-01-01", PeriodEnd: "2024-03-31",
		SchoolDays: 60, AbsentDays: events.AbsentDays{Unauthorised: 9}}))

	b := e.browser()
	b.login("dev-coordinator", "/app/")
	fp := b.open(fam, "Opfølgning på Familiens Plan")
	if fp.Status != 200 {
		t.Fatalf("family page: %d %.300s", fp.Status, fp.Body)
	}
	if !strings.Contains(fp.Body, "2 hændelser er skjult, fordi samtykke til deling af data mangler.") {
		t.Errorf("no consent line: %.2000s", fp.Body)
	}
	for _, hidden := range []string{"Bekymring for trivsel", "Fravær pr. periode for C1", "15 %"} {
		if strings.Contains(fp.Body, hidden) {
			t.Errorf("the coordinator's page shows %q", hidden)
		}
	}
	a := e.browser()
	a.login("dev-auditor", "/app/")
	ap := a.open(fam, "Opfølgning på Familiens Plan")
	if ap.Status != 200 || !strings.Contains(ap.Body, "Bekymring for trivsel") || strings.Contains(ap.Body, "fordi samtykke") {
		t.Errorf("auditor's page: %d %.2000s", ap.Status, ap.Body)
	}
}

// TestConsentHiddenNotNone: when consent hides a child's school absence
// and goal, Skole and Familiens Plan do not say that there are none (there
// are, and the timeline says that entries are hidden): they say that
// they may be among the entries consent hides. A family without any says
// there are none.
func TestConsentHiddenNotNone(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	const fam = "FAM-NOCONSENT2"
	e.post(events.SOF, fam, &events.FamilyEnrolled{
		Members:     []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart: "2024-01-15", ChildCaseIDs: []string{"CASE1"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	})
	e.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"})
	e.post(events.BUF, fam, &events.GoalSet{GoalID: "G1", Title: "Komme i skole hver dag", Domain: "school", PersonID: "C1", ExpressedBy: "professional"})
	e.waitApplied(e.post(events.BUF, fam, &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: "2024-01-01", PeriodEnd: "2024-03-31",
		SchoolDays: 60, AbsentDays: events.AbsentDays{Unauthorised: 9}}))
	const plain = "FAM-NOABSENCE"
	e.post(events.SOF, plain, &events.FamilyEnrolled{
		Members:     []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart: "2024-01-15", ChildCaseIDs: []string{"CASE1"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	})
	e.waitApplied(e.post(events.SOF, plain, &events.CaseworkerAssigned{EmployeeID: "E1001"}))

	b := e.browser()
	b.login("dev-coordinator", "/app/")
	fp := b.open(fam, "Opfølgning på Familiens Plan")
	if skole := section(t, fp.Body, "skole", "tidslinje-h"); strings.Contains(skole, "ikke registreret skolefravær") ||
		!strings.Contains(skole, "samtykke til deling af data mangler") {
		t.Errorf("Skole with the absence hidden by consent: %s", skole)
	}
	if plan := section(t, fp.Body, "plan", "nu"); strings.Contains(plan, "endnu ingen mål") ||
		!strings.Contains(plan, "samtykke til deling af data mangler") {
		t.Errorf("Familiens Plan with the goal hidden by consent: %s", plan)
	}
	pp := b.open(plain, "Opfølgning på Familiens Plan")
	if skole := section(t, pp.Body, "skole", "tidslinje-h"); !strings.Contains(skole, "Der er ikke registreret skolefravær.") || strings.Contains(skole, "samtykke") {
		t.Errorf("Skole of a family without absence: %s", skole)
	}
	if plan := section(t, pp.Body, "plan", "nu"); !strings.Contains(plan, "Der er endnu ingen mål i Familiens Plan.") || strings.Contains(plan, "samtykke") {
		t.Errorf("Familiens Plan of a family without goals: %s", plan)
	}
}
