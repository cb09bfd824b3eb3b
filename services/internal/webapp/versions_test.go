package webapp_test

import (
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
)

// TestFamilyPageVersions: the web app reads the latest version of each
// type. A goal set in v1 and one set in v2 with two domains are both in
// the plan (the v2 goal once, under its first domain, with the other
// beside it, and its description); a praktik started in v2 shows its CVR
// and P-number, one started in v1 its CVR.
func TestFamilyPageVersions(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-V", "E1001")
	e.post(events.SOF, "FAM-V", &events.GoalSetV2{GoalID: "G2", Title: "Mere tid sammen som familie", Domains: []string{"family", "employment"},
		Description: "Aftensmad sammen fire dage om ugen", ExpressedBy: "family"})
	e.post(events.BIF, "FAM-V", &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10})
	e.waitApplied(e.post(events.BIF, "FAM-V", &events.PraktikStartedV2{PraktikID: "PR2", PersonID: "P1",
		Employer: events.PraktikEmployer{Cvr: "87654321", PNumber: "1000123456"}, HoursPerWeek: 12}))
	b := e.browser()
	if r := b.login("dev-coordinator", "/app/"); r.Status != 303 {
		t.Fatalf("login: %d", r.Status)
	}
	fp := b.open("FAM-V", "Opfølgning på Familiens Plan")
	if fp.Status != 200 {
		t.Fatalf("family page: %d %.500s", fp.Status, fp.Body)
	}
	for _, want := range []string{"Arbejde 10 timer om ugen", "Mere tid sammen som familie", "Aftensmad sammen fire dage om ugen",
		"Også: Beskæftigelse", "hos CVR 12345678, 10 t/uge", "hos CVR 87654321, P-nr. 1000123456, 12 t/uge"} {
		if !strings.Contains(fp.Body, want) {
			t.Errorf("family page lacks %q", want)
		}
	}
	if n := strings.Count(fp.Body, "Mere tid sammen som familie</strong>"); n != 1 {
		t.Errorf("the two-domain goal is listed %d times in the plan", n)
	}
}
