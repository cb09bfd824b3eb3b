package projector

import (
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// TestAsOfDateIsCopenhagenDay: asOf=2024-03-01 is the first moment of 1
// March in Copenhagen. It was read as 2024-03-01T00:00Z (01:00 in
// Copenhagen), and a family enrolled on 1 March at 00:30 Copenhagen time
// (2024-02-29T23:30Z) counted as enrolled "as of 1 March", in February's
// figure.
func TestAsOfDateIsCopenhagenDay(t *testing.T) {
	t.Parallel()
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	asOf, err := parseMoment("asOf", "2024-03-01", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	enrolAt := time.Date(2024, 3, 1, 0, 30, 0, 0, cph)
	evs := []evaluation.Event{{Sequence: 1, FamilyID: "F1", Time: enrolAt.UnixNano(), Recorded: enrolAt.UnixNano(),
		Data: &events.FamilyEnrolled{CourseStart: "2024-03-01", ChildCaseIDs: []string{"K1"},
			Members:        []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
			ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}}}}}
	r := evaluation.Compute(evs, asOf, enrolAt.Add(time.Hour), evaluation.Options{Target: 50})
	if v := r.Measures["families.enrolled"].Value; *v != 0 {
		t.Errorf("asOf=2024-03-01 parsed as %s (%s in Copenhagen); a family enrolled %s is counted: families.enrolled = %v, want 0",
			asOf.Format(time.RFC3339), asOf.In(cph).Format(time.RFC3339), enrolAt.Format(time.RFC3339), *v)
	}
	// The series' bounds are dates the same way, and its months stay on
	// Copenhagen's midnights across the change to and from summer time.
	from, err := parseMoment("from", "2024-01-31", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	to, err := parseMoment("to", "2024-12-31", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	moments, err := evaluation.Moments(from, to, evaluation.StepMonth)
	if err != nil || len(moments) != 12 {
		t.Fatalf("%d moments, %v", len(moments), err)
	}
	for _, m := range moments {
		if c := m.In(cph); c.Hour() != 0 || c.Minute() != 0 || c.Day() < 28 {
			t.Errorf("moment %s is %s in Copenhagen, not a month's last day at 00:00", m.UTC().Format(time.RFC3339), c.Format(time.RFC3339))
		}
	}
}
