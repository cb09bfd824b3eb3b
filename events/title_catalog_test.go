package events_test

import (
	"encoding/json"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/schemas"
)

// TestTitleOfSchemaExamples checks each type's title templates against the
// titles its schema promises for its first valid example, in Danish and
// English, so that a new type's titles are tested from its data alone.
func TestTitleOfSchemaExamples(t *testing.T) {
	t.Parallel()
	for _, spec := range events.AllVersions() {
		t.Run(spec.Key(), func(t *testing.T) {
			t.Parallel()
			want, ok := exampleTitles[spec.Key()]
			if !ok {
				t.Fatal("no title example in the schema")
			}
			raw, ok := schemas.Example(spec.Key())
			if !ok {
				t.Fatal("no valid example")
			}
			data := spec.NewData()
			if err := json.Unmarshal(raw, data); err != nil {
				t.Fatal(err)
			}
			e := envelope(spec, data)
			if got := events.Title(e); got != want[0] {
				t.Errorf("Title = %q, want %q", got, want[0])
			}
			if got := events.EnglishTitle(e); got != want[1] {
				t.Errorf("EnglishTitle = %q, want %q", got, want[1])
			}
			checkTitle(t, events.EnglishTitle(e))
			if events.EnglishTitle(envelope(spec, nil)) != spec.English {
				t.Errorf("EnglishTitle without data is not the English term %q", spec.English)
			}
		})
	}
}

// TestPersonalFields pins which free text of the catalog's first 35 types
// is personal: what erasing a family's data must remove. The schemas'
// annotations are the source; this is the decision as reviewed, so that a
// change to it is deliberate. (The generator makes every free-text field of
// a type added since either personal or plain text.) Plain text, not
// personal: childcase.opened /legalBasis (a legal reference),
// languagecourse.started /level and wellbeing.measured /instrument (names
// of a level and an instrument); team.member-joined /role and
// health.referred /to are codes.
func TestPersonalFields(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"family.referred":     {"/reason", "/note"},
		"childcase.closed":    {"/reason"},
		"measure.started":     {"/purpose"},
		"measure.ended":       {"/reason"},
		"goal.set":            {"/title"},
		"goal.set.v2":         {"/title", "/description"},
		"goal.progressed":     {"/note"},
		"education.started":   {"/programme"},
		"ppr.referred":        {"/reason"},
		"leisure.started":     {"/name"},
		"evaluation.recorded": {"/note"},
	}
	none := []string{"family.enrolled", "consent.given", "consent.withdrawn", "caseworker.assigned",
		"makkerpar.assigned", "team.member-joined", "team.member-left", "childcase.opened", "goal.closed",
		"meeting.held", "benefit.granted", "benefit.ended", "praktik.started", "praktik.ended",
		"wagesubsidy.started", "wagesubsidy.ended", "languagecourse.started", "languagecourse.ended",
		"employment.started", "schoolabsence.noted", "wellbeing.measured", "gp.consultation-held",
		"health.assessed", "health.referred", "course.ended", "praktik.started.v2", "family.erased"}
	for _, name := range none {
		want[name] = nil
	}
	if len(want) != len(events.AllVersions()) {
		t.Fatalf("%d reviewed types, want every version of every type, %d", len(want), len(events.AllVersions()))
	}
	for name, exp := range want {
		spec, ok := events.ByKey(name)
		if !ok {
			t.Errorf("%s is not in the catalog", name)
			continue
		}
		got := spec.Personal
		if len(got) != len(exp) {
			t.Errorf("%s: personal %v, want %v", spec.Name, got, exp)
			continue
		}
		for i := range got {
			if got[i] != exp[i] {
				t.Errorf("%s: personal %v, want %v", spec.Name, got, exp)
			}
		}
	}
}
