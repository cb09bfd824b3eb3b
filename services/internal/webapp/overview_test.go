package webapp_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// tags matches an HTML tag, for reading a section's text.
var tags = regexp.MustCompile(`<[^>]+>`)

// section is the text of the page from the element with id from up to
// the one with id to, without its tags.
func section(t *testing.T, body, from, to string) string {
	t.Helper()
	i, j := strings.Index(body, `id="`+from+`"`), strings.Index(body, `id="`+to+`"`)
	if i < 0 || j < i {
		t.Fatalf("no section %s–%s in %.500s", from, to, body)
	}
	return tags.ReplaceAllString(body[i:j], "")
}

// TestOverviewCountsPerDepartment: DOMAIN.md's family overview has "counts
// of events per department"; Overblik shows them, the four departments
// each with its count.
func TestOverviewCountsPerDepartment(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-CNT", "E1001") // 4 SOF events, 1 BUF
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	fp := b.open("FAM-CNT", "Opfølgning på Familiens Plan")
	if fp.Status != 200 {
		t.Fatalf("family page: %d", fp.Status)
	}
	ov := section(t, fp.Body, "overblik", "plan")
	for _, want := range []string{"Hændelser pr. forvaltning", "SOF: 4", "BIF: 0", "BUF: 1", "SUF: 0"} {
		if !strings.Contains(ov, want) {
			t.Errorf("Overblik lacks %q: %s", want, ov)
		}
	}
	if strings.Contains(ov, "skjult") {
		t.Errorf("Overblik speaks of hidden entries where consent hides none: %s", ov)
	}
}

// TestOverviewCountsWithoutConsent: the counts a coordinator sees are
// those of the entries shown; what the consent gate hides is not counted,
// and Overblik says only what the timeline's consent line says, how many
// are hidden in all, not of which department. An auditor's counts are
// whole.
func TestOverviewCountsWithoutConsent(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	const fam = "FAM-CNT-NC"
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
	ov := section(t, fp.Body, "overblik", "plan")
	for _, want := range []string{"SOF: 2", "BUF: 0", "uden 2 skjulte hændelser"} {
		if !strings.Contains(ov, want) {
			t.Errorf("coordinator's Overblik lacks %q: %s", want, ov)
		}
	}
	if !strings.Contains(fp.Body, "2 hændelser er skjult, fordi samtykke til deling af data mangler.") {
		t.Errorf("no consent line")
	}
	a := e.browser()
	a.login("dev-auditor", "/app/")
	ap := a.open(fam, "Tilsyn og revision")
	ov = section(t, ap.Body, "overblik", "plan")
	if !strings.Contains(ov, "SOF: 2") || !strings.Contains(ov, "BUF: 2") || strings.Contains(ov, "skjult") {
		t.Errorf("auditor's Overblik: %s", ov)
	}
}

// TestOverviewLatestAchievementTime: DOMAIN.md's overview has "goals with
// their latest achievement"; Familiens Plan says when it was recorded
// (latestAchievementAt), in Copenhagen's time: a follow-up at 22.30 UTC
// on 31 March is 1 April at 00.30 there.
func TestOverviewLatestAchievementTime(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	const fam = "FAM-ACH"
	e.enrol(fam, "E1001")
	e.waitApplied(e.post(events.SOF, fam, &events.GoalProgressed{GoalID: "G1", Achievement: "improving"},
		events.WithTime(time.Date(2024, 3, 31, 22, 30, 0, 0, time.UTC))))
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	fp := b.open(fam, "Opfølgning på Familiens Plan")
	// The goal's own lines, before its history (which lists every
	// follow-up with its time anyway).
	plan := section(t, fp.Body, "plan", "nu")
	goal, _, _ := strings.Cut(fp.Body[strings.Index(fp.Body, `class="goal"`):], "<details")
	if !strings.Contains(plan, "I bedring") || !strings.Contains(goal, "1. apr. 2024 kl. 00.30") ||
		!strings.Contains(goal, `datetime="2024-03-31T22:30:00Z"`) {
		t.Errorf("the goal lacks the time of its latest achievement in Copenhagen: %s", goal)
	}
}

// TestOverviewErased: an erased family's page says at the top that its
// personal data is erased, so that "[slettet]" in the fields is not read
// as data; a family that is not erased says nothing of it.
func TestOverviewErased(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	const fam = "FAM-ERASED"
	e.enrol(fam, "E1001")
	e.enrol("FAM-KEPT", "E1001")
	r := testenv.Do(t, e.sa.URL(), "POST", "/v1/privacy/families/"+fam+"/erase", "dev-dpo", []byte(`{"reason":"Opbevaringsfristen er udløbet"}`),
		map[string]string{"Content-Type": "application/json"})
	if r.Status != 201 && r.Status != 200 {
		t.Fatalf("erase: %d %s", r.Status, r.Raw)
	}
	e.waitApplied(uint64(r.Body["sequence"].(float64)))
	a := e.browser()
	a.login("dev-auditor", "/app/")
	fp := a.open(fam, "Tilsyn og revision")
	if fp.Status != 200 {
		t.Fatalf("erased family page: %d", fp.Status)
	}
	head := fp.Body[strings.Index(fp.Body, "<h1"):strings.Index(fp.Body, `id="overblik"`)]
	if !strings.Contains(head, "Familiens personoplysninger er slettet") {
		t.Errorf("the erased family's page does not say so before Overblik: %s", head)
	}
	kept := a.open("FAM-KEPT", "Tilsyn og revision")
	if h := kept.Body[strings.Index(kept.Body, "<h1"):strings.Index(kept.Body, `id="overblik"`)]; strings.Contains(h, "slettet") {
		t.Errorf("a family that is not erased is said to be: %s", h)
	}
	// The list says it too, in the family's row.
	list := a.get("/app/families")
	for _, row := range regexp.MustCompile(`(?s)<tr>.*?</tr>`).FindAllString(list.Body, -1) {
		erased := strings.Contains(row, "Personoplysninger slettet")
		switch {
		case strings.Contains(row, ">"+fam+"<") && !erased:
			t.Errorf("the erased family's row does not say so: %s", row)
		case strings.Contains(row, ">FAM-KEPT<") && erased:
			t.Errorf("a family that is not erased is said to be: %s", row)
		}
	}
}
