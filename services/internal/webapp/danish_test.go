package webapp_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestPraktikHoursDecimalComma: a praktik of 7.5 hours a week is shown in
// Danish, "7,5 t/uge", as the timeline's titles and the charts write
// decimals.
func TestPraktikHoursDecimalComma(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-PRK", "E1001")
	e.waitApplied(e.post(events.BIF, "FAM-PRK", &events.PraktikStartedV2{PraktikID: "PR1", PersonID: "P1",
		Employer: events.PraktikEmployer{Cvr: "12345678"}, HoursPerWeek: 7.5}))
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	fp := b.open("FAM-PRK", "Opfølgning på Familiens Plan")
	nu := section(t, fp.Body, "nu", "skole")
	if strings.Contains(nu, "7.5 t/uge") || !strings.Contains(nu, "7,5 t/uge") {
		t.Errorf("Nu shows the praktik's hours not in Danish: %s", nu)
	}
}

// TestDanishSingular: one family listed, one new entry in the family
// list, one new entry since the last visit and one entry kept by the
// filter are each said in the singular.
func TestDanishSingular(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-ONE", "E1001")
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	b.open("FAM-ONE", "Opfølgning på Familiens Plan")
	e.waitApplied(e.post(events.SOF, "FAM-ONE", &events.MeetingHeld{Kind: "family"}))
	l := b.get("/app/families")
	if !strings.Contains(l.Body, `<span class="badge">1 ny</span>`) {
		t.Errorf("family list, one new entry: %s", regexp.MustCompile(`<span class="badge">[^<]*</span>`).FindString(l.Body))
	}
	if !strings.Contains(l.Body, ">1 af 1 familie vises.<") {
		t.Errorf("family list, one family: %s", regexp.MustCompile(`<p role="status">[^<]*</p>`).FindString(l.Body))
	}
	fp := b.get("/app/families/FAM-ONE")
	if m := regexp.MustCompile(`<p class="notice">[^<]*siden du sidst åbnede familien.</p>`).FindString(fp.Body); !strings.Contains(m, ">1 ny hændelse siden") {
		t.Errorf("one new entry: %q", m)
	}
	fl := b.get("/app/families/FAM-ONE?department=buf")
	if m := regexp.MustCompile(`<p class="notice" id="skjult">[^<]*</p>`).FindString(fl.Body); !strings.Contains(m, ">1 hændelse passer til filteret;") {
		t.Errorf("one entry kept by the filter: %q", m)
	}
}

// TestAccessLogRoleNames: the access-log page names each reader's role in
// Danish, the data protection officer's too (its read of the due list and
// its erasure are in the family's log), never by its code; the erased
// family's page still renders, without the erased goal.
func TestAccessLogRoleNames(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	const fam = "FAM-OLD"
	old := time.Date(2017, 3, 1, 9, 0, 0, 0, time.UTC)
	e.post(events.SOF, fam, &events.FamilyReferred{Reason: "Henvist af skolen"}, events.WithTime(old))
	e.post(events.SOF, fam, &events.FamilyEnrolled{
		Members:     []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart: "2017-03-15", ChildCaseIDs: []string{"CASE1"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	}, events.WithTime(old.AddDate(0, 0, 14)))
	e.post(events.SOF, fam, &events.GoalSet{GoalID: "G1", Title: "Arbejde 10 timer om ugen", Domain: "employment", ExpressedBy: "family"}, events.WithTime(old.AddDate(0, 1, 0)))
	e.waitApplied(e.post(events.SOF, fam, &events.CourseEnded{Reason: "completed"}, events.WithTime(old.AddDate(1, 0, 0))))
	r := testenv.Do(t, e.sa.URL(), "GET", "/v1/privacy/due", "dev-dpo", nil, map[string]string{"X-Purpose": "Sletning efter fristen"})
	if r.Status != 200 || !strings.Contains(string(r.Raw), fam) {
		t.Fatalf("due: %d %s", r.Status, r.Raw)
	}
	r = testenv.Do(t, e.sa.URL(), "POST", "/v1/privacy/families/"+fam+"/erase", "dev-dpo", []byte(`{"reason":"Opbevaringsfristen er udløbet"}`),
		map[string]string{"Content-Type": "application/json"})
	if r.Status != 201 && r.Status != 200 {
		t.Fatalf("erase: %d %s", r.Status, r.Raw)
	}
	e.waitApplied(uint64(r.Body["sequence"].(float64))) // family.erased
	a := e.browser()
	a.login("dev-auditor", "/app/")
	fp := a.open(fam, "Tilsyn og revision")
	if fp.Status != 200 || strings.Contains(fp.Body, "Arbejde 10 timer") {
		t.Errorf("erased family page: %d, goal title shown: %v", fp.Status, strings.Contains(fp.Body, "Arbejde 10 timer"))
	}
	al := a.get("/app/families/" + fam + "/access-log")
	if al.Status != 200 {
		t.Fatalf("access log: %d", al.Status)
	}
	rows := regexp.MustCompile(`<tr><td>.*?</tr>`).FindAllString(al.Body, -1)
	roles := map[string]bool{}
	for _, row := range rows {
		cells := regexp.MustCompile(`<td>(.*?)</td>`).FindAllStringSubmatch(row, -1)
		if len(cells) < 3 {
			t.Fatalf("access log row: %s", row)
		}
		roles[cells[2][1]] = true
	}
	if !roles["Databeskyttelsesrådgiver"] || !roles["Revisor"] {
		t.Errorf("roles shown %v, want Databeskyttelsesrådgiver and Revisor", roles)
	}
	for role := range roles {
		if role == "dpo" || role == "auditor" || role == "" {
			t.Errorf("access log shows the role %q", role)
		}
	}
}
