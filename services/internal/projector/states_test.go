package projector_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/projector"
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

// TestCatchUpSpillsFamilyStates: a projector catching up in bulk with room
// for two family states keeps the others in its spill, and its
// projection, and that of a rebuild with the same bound, equal one made
// with every state in memory.
func TestCatchUpSpillsFamilyStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	publish(t, st, 0, 60) // five families, interleaved
	// Then a sixth family alone, in more batches than one: the spill
	// after the first of them leaves two states in memory, the sixth's
	// among them, and nothing takes the other four back.
	var last uint64
	for i := range 20 {
		var data events.Payload = &events.HealthAssessed{PersonID: "P1", BarrierToWork: i%2 == 0}
		if i == 0 {
			data = testenv.Enrolment()
		}
		ce, err := events.Build(events.SUF, "F-TAIL", data, events.WithTime(time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := events.Marshal(ce)
		ack, err := st.JS.Publish(ctx, events.Subject("F-TAIL", events.SUF, data.EventName()), b)
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Sequence
	}
	p := newProjector(t, st, t.TempDir(), 7, func(p *projector.Projector) {
		projector.SetBulkThreshold(p, 10)
		projector.SetCatchUpFamilies(p, 2)
	})
	waitPosition(t, p, last)
	if n := projector.SpilledFamilies(p); n != 4 {
		t.Errorf("%v family states spilled after the catch-up, want 4 (six families, room for two)", n)
	}
	got, err := p.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := p.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil { // one projector owns the consumer at a time
		t.Fatal(err)
	}
	clean := newProjector(t, st, t.TempDir(), 1000, func(p *projector.Projector) { projector.SetBulkThreshold(p, 10) })
	defer clean.Close()
	waitPosition(t, clean, last)
	if n := projector.SpilledFamilies(clean); n != 0 {
		t.Errorf("%v family states spilled with the default bound", n)
	}
	want, err := clean.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || rebuilt != want {
		t.Errorf("projection with spilled states %s, rebuilt with them %s; with every state in memory %s", got, rebuilt, want)
	}
}
