package evaluation_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// The index holds of an event what the measures read: never a personal
// free text (events.Spec.Personal), of any version of any type the
// evaluation reads, though it holds the ids it reads.
func TestIndexHoldsNoPersonalText(t *testing.T) {
	const marker = "PERSONAL-MARKER-4711"
	x := evaluation.NewIndex()
	tested := 0
	for i, spec := range events.AllVersions() {
		if !evaluation.Relevant(spec.Name) || len(spec.Personal) == 0 {
			continue
		}
		fields := map[string]any{}
		for _, ptr := range spec.Personal {
			name, nested := strings.CutPrefix(ptr, "/")
			if !nested || strings.Contains(name, "/") {
				t.Fatalf("%s: personal field %q is not at the top of the data; extend the test", spec.Type(), ptr)
			}
			fields[name] = marker + " " + spec.Type()
		}
		fields["goalId"], fields["measureId"], fields["caseId"], fields["personId"] = "G-HELD", "M-HELD", "C-HELD", "P-HELD"
		b, _ := json.Marshal(fields)
		d := spec.NewData()
		if err := json.Unmarshal(b, d); err != nil {
			t.Fatalf("%s: %v", spec.Type(), err)
		}
		x.Add(evaluation.Event{Sequence: uint64(i + 1), FamilyID: "F1", Time: int64(i), Recorded: int64(i), Data: d})
		tested++
	}
	if tested < 5 {
		t.Fatalf("%d types with personal text read by the evaluation; the catalog has more", tested)
	}
	if n := x.Len(); n != tested {
		t.Errorf("the index holds %d events, want %d", n, tested)
	}
	if x.Holds(marker) {
		t.Errorf("the index holds personal text")
	}
	for _, id := range []string{"G-HELD", "M-HELD", "C-HELD"} {
		if !x.Holds(id) {
			t.Errorf("the index does not hold the id %s, which the measures read", id)
		}
	}
}

// A school absence whose days do not fit the index's compact form is
// kept whole, and counts as one that does: the same shares of absence
// for twenty times the days.
func TestLargeAbsenceCountsAsSmall(t *testing.T) {
	at := func(day string) int64 { d, _ := evaluation.ParseDay(day); return d.UnixNano() }
	family := func(school, sick, unauthorised int) []evaluation.Event {
		return []evaluation.Event{
			{Sequence: 1, FamilyID: "F1", Time: at("2024-01-15"), Recorded: at("2024-01-15"), Data: &events.FamilyEnrolled{
				Members:     []events.Member{{PersonID: "P1", Role: events.RoleParent}, {PersonID: "C1", Role: events.RoleChild}},
				CourseStart: "2024-01-15", ChildCaseIDs: []string{"CASE1"}}},
			{Sequence: 2, FamilyID: "F1", Time: at("2024-07-01"), Recorded: at("2024-07-01"), Data: &events.SchoolAbsenceNoted{
				ChildID: "C1", PeriodStart: "2024-02-01", PeriodEnd: "2024-06-30", SchoolDays: school,
				AbsentDays: events.AbsentDays{Sickness: sick, Unauthorised: unauthorised}}},
		}
	}
	asOf := time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)
	o := evaluation.Options{Target: 1}
	small := evaluation.Compute(family(100, 12, 20), asOf, asOf, o)
	large := evaluation.Compute(family(2000, 240, 400), asOf, asOf, o)
	for _, name := range []string{"children.absence.during.meanShare", "children.absence.during.over10pct.share", "children.absence.during.unauthorised15pct.share"} {
		s, l := small.Measures[name].Value, large.Measures[name].Value
		if s == nil || l == nil || *s != *l {
			t.Errorf("%s: %v for 100 school days, %v for 2000", name, show(s), show(l))
		}
	}
	if v := small.Measures["children.absence.during.meanShare"].Value; v == nil || *v <= 0 {
		t.Errorf("children.absence.during.meanShare %v: the family's absence was not counted", show(v))
	}
}
