package audit_test

import (
	"bytes"
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
)

// TestReplayUpcast: GET /v1/audit/events returns what was stored, each
// version as it was sent; with upcast=true each event as the latest
// version of its type, with the stored type in jfstoredtype, lines that
// the SDK's strict reader takes, and everything else the same.
func TestReplayUpcast(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam = "FAM-UP"
	s.Post(events.SOF, fam, &events.FamilyEnrolled{Members: []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart: "2024-01-15", ChildCaseIDs: []string{"CASE1"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}}})
	s.Post(events.BIF, fam, &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10})
	s.Post(events.SOF, fam, &events.GoalSetV2{GoalID: "G2", Title: "Familien", Domains: []string{"family"}, ExpressedBy: "family"})
	last := s.Post(events.SOF, fam, &events.GoalSet{GoalID: "G1", Title: "Job", Domain: "employment", ExpressedBy: "family"})
	s.WaitApplied(last.Sequence)

	_, stored := s.lines("/v1/audit/events?family=" + fam + "&type=praktik.started,goal.set")
	_, upcast := s.lines("/v1/audit/events?family=" + fam + "&type=praktik.started,goal.set&upcast=true")
	if len(stored) != 3 || len(upcast) != 3 {
		t.Fatalf("%d stored and %d upcast lines", len(stored), len(upcast))
	}
	for i, want := range []struct{ stored, latest string }{
		{events.TypeOf("praktik.started", 1), events.TypeOf("praktik.started", 2)},
		{events.TypeOf("goal.set", 2), events.TypeOf("goal.set", 2)},
		{events.TypeOf("goal.set", 1), events.TypeOf("goal.set", 2)},
	} {
		se, sseq, sat := audit.StrictLine(t, []byte(stored[i]))
		ue, useq, uat := audit.StrictLine(t, []byte(upcast[i]))
		if se.Type() != want.stored || ue.Type() != want.latest {
			t.Errorf("line %d: stored type %s, upcast type %s; want %s, %s", i, se.Type(), ue.Type(), want.stored, want.latest)
		}
		if sseq != useq || !sat.Equal(uat) || se.ID() != ue.ID() || se.Source() != ue.Source() || !se.Time().Equal(ue.Time()) || se.Subject() != ue.Subject() {
			t.Errorf("line %d: the attributes differ:\n%s\n%s", i, stored[i], upcast[i])
		}
		if _, ok := se.Extensions()[audit.ExtStoredType]; ok {
			t.Errorf("line %d: a stored line has %s", i, audit.ExtStoredType)
		}
		got, _ := ue.Extensions()[audit.ExtStoredType].(string)
		if want.stored == want.latest {
			if got != "" || stored[i] != upcast[i] {
				t.Errorf("line %d: a latest version is not returned as stored:\n%s\n%s", i, stored[i], upcast[i])
			}
			continue
		}
		if got != want.stored {
			t.Errorf("line %d: %s = %q, want %q", i, audit.ExtStoredType, got, want.stored)
		}
		if ue.DataSchema() != events.SchemaBaseURL+want.latest+".json" {
			t.Errorf("line %d: dataschema %s", i, ue.DataSchema())
		}
		// The upcast data is valid data of the latest version.
		latest, _ := events.ByType(want.latest)
		if _, err := latest.DecodeData(ue.Data()); err != nil {
			t.Errorf("line %d: %v", i, err)
		}
	}
	if !strings.Contains(stored[0], `"employer":"12345678"`) || !strings.Contains(upcast[0], `"employer":{"cvr":"12345678"}`) {
		t.Errorf("praktik data:\n%s\n%s", stored[0], upcast[0])
	}
	if !strings.Contains(stored[2], `"domain":"employment"`) || !strings.Contains(upcast[2], `"domains":["employment"]`) {
		t.Errorf("goal data:\n%s\n%s", stored[2], upcast[2])
	}
	// The stored line holds the stored bytes: the message's JSON, its
	// personal title decrypted in place (the posted token) and its
	// jfkeyid removed, with the replay's extensions appended, nothing
	// else.
	msg, err := s.SA.Store.JS.Stream(context.Background(), "FAMILY_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := msg.GetMsg(context.Background(), last.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw.Data, []byte(`"title":"Job"`)) {
		t.Errorf("the title is stored in the clear: %s", raw.Data)
	}
	if !strings.HasPrefix(stored[2], strings.TrimSuffix(asPosted(t, raw.Data, last.JSON), "}")+`,"jfsequence":`) {
		t.Errorf("stored line is not the stored bytes:\n%s\n%s", stored[2], raw.Data)
	}
	r := s.Get("/v1/audit/events?upcast=yes", "dev-auditor", nil)
	if r.Status != 400 {
		t.Errorf("upcast=yes: %d", r.Status)
	}
}

// TestTypeFilterFamilyLikeStream: a type filter selects the same stored
// events of a family whether the replay reads the family from the read
// model's index (family=) or the whole stream: by catalog name, whichever
// version the filter names and whichever version each event was stored
// as (the timeline holds every event as its newest version).
func TestTypeFilterFamilyLikeStream(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam, other = "FAM-TF", "FAM-TF-OTHER"
	s.Post(events.SOF, fam, &events.FamilyEnrolled{Members: []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart: "2024-01-15", ChildCaseIDs: []string{"CASE1"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}}})
	s.Post(events.BIF, fam, &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10})
	s.Post(events.BIF, fam, &events.PraktikStartedV2{PraktikID: "PR2", PersonID: "P1", Employer: events.PraktikEmployer{Cvr: "87654321"}, HoursPerWeek: 12})
	s.Post(events.SOF, fam, &events.GoalSet{GoalID: "G1", Title: "Job", Domain: "employment", ExpressedBy: "family"})
	s.Post(events.BIF, other, &events.PraktikStarted{PraktikID: "PR3", PersonID: "P3", Employer: "12345678", HoursPerWeek: 8})
	last := s.Post(events.SOF, fam, &events.GoalSetV2{GoalID: "G2", Title: "Familien", Domains: []string{"family"}, ExpressedBy: "family"})
	s.WaitApplied(last.Sequence)

	for _, c := range []struct {
		filter string
		want   int
	}{
		{events.TypeOf("praktik.started", 1), 2},
		{events.TypeOf("praktik.started", 2), 2},
		{"praktik.started", 2},
		{events.TypeOf("goal.set", 1), 2},
		{events.TypeOf("goal.set", 2) + "," + events.TypeOf("praktik.started", 1), 4},
	} {
		streamObjs, streamLines := s.lines("/v1/audit/events?" + url.Values{"type": {c.filter}}.Encode())
		var stream []string
		for i, m := range streamObjs {
			if str(m, "subject") == fam {
				stream = append(stream, streamLines[i])
			}
		}
		_, family := s.lines("/v1/audit/events?" + url.Values{"type": {c.filter}, "family": {fam}}.Encode())
		if len(stream) != c.want || !slices.Equal(family, stream) {
			t.Errorf("type=%s: %d lines of %s from the whole stream, %d with family=, want %d and the same lines:\nstream: %q\nfamily: %q",
				c.filter, len(stream), fam, len(family), c.want, stream, family)
		}
	}
}
