package webapp_test

import (
	"regexp"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
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
