package projector_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
)

// TestStreamVersions: SSE presents the latest version, live and when a
// client resumes from what is stored: a v1 goal.set and praktik.started
// arrive as v2 with storedType, a v2 goal.set as it is.
func TestStreamVersions(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-SSE-V"
	s.WaitApplied(s.enrol(fam, "E1001"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, ch, _ := s.openStream(ctx, fam, "dev-coordinator", "")
	posted := []uint64{
		s.post(events.SOF, fam, &events.GoalSet{GoalID: "G1", Title: "Job", Domain: "employment", ExpressedBy: "family"}),
		s.post(events.BIF, fam, &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10}),
		s.post(events.SOF, fam, &events.GoalSetV2{GoalID: "G2", Title: "Familien", Domains: []string{"family", "school"}, ExpressedBy: "family"}),
	}
	want := []struct{ typ, stored, data string }{
		{events.TypeOf("goal.set", 2), events.TypeOf("goal.set", 1), `"domains":["employment"]`},
		{events.TypeOf("praktik.started", 2), events.TypeOf("praktik.started", 1), `"employer":{"cvr":"12345678"}`},
		{events.TypeOf("goal.set", 2), "", `"domains":["family","school"]`},
	}
	check := func(how string, got []sseEvent) {
		t.Helper()
		for i, ev := range got {
			w := want[i]
			if ev.id != posted[i] || ev.data.Type != w.typ || ev.data.StoredType != w.stored || !strings.Contains(string(ev.data.Data), w.data) {
				t.Errorf("%s event %d: %+v (%s), want %+v", how, i, ev.data, ev.data.Data, w)
			}
		}
	}
	check("live", receive(t, ch, 3))
	cancel()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	_, ch2, _ := s.openStream(ctx2, fam, "dev-coordinator", strconv.FormatUint(posted[0]-1, 10))
	check("resumed", receive(t, ch2, 3))
}
