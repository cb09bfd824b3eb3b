package projector_test

import (
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestCaughtUpProjectorBoundsFamilyStates: a caught-up projector holds at
// most -projector-cache-families folded family states. A family whose state
// it dropped is folded again from the read model when its next event
// arrives, so that its overview goes on from every event it had.
func TestCaughtUpProjectorBoundsFamilyStates(t *testing.T) {
	t.Parallel()
	ts := testenv.StartSystem(t, func(c *config.Config) { c.ProjectorCacheFamilies = 2 })
	s := &system{System: ts, js: ts.SA.Store.JS}
	fams := []string{"F-CACHE-1", "F-CACHE-2", "F-CACHE-3", "F-CACHE-4", "F-CACHE-5"}
	for _, fam := range fams {
		s.enrol(fam, "E1001")
	}
	// The first family's state was dropped for the four written after it.
	last := s.post(events.BIF, fams[0], &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10})
	type overview struct {
		Caseworker string         `json:"caseworker"`
		Praktik    []any          `json:"praktik"`
		PerDept    map[string]int `json:"eventsPerDepartment"`
	}
	ov := getOK[overview](s, "/v1/families/"+fams[0], "dev-coordinator", minPos(last))
	if ov.Caseworker != "E1001" || len(ov.Praktik) != 1 || ov.PerDept["sof"] != 2 || ov.PerDept["bif"] != 1 {
		t.Errorf("overview after the family's state was dropped: %+v; want caseworker E1001, one praktik, 2 SOF and 1 BIF events", ov)
	}
	metrics := s.Get("/metrics", "", nil).Raw
	if !strings.Contains(metrics, "\njf_projector_cached_families 2\n") {
		t.Errorf("metric: %s", grep(metrics, "jf_projector_cached_families"))
	}
}
