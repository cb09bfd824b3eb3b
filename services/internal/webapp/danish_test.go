package webapp_test

import (
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
