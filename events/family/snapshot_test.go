package family_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// richState folds events that set every part of a state: status, members,
// team, consents, benefits, open cases and measures, records past one
// chunk, goals, absence, counts and the last event time.
func richState(t *testing.T) *family.State {
	t.Helper()
	es := []events.Envelope{
		at(referred(), "e0", "2024-01-01T08:00:00Z"), at(enrolled(), "e1", "2024-01-02T08:00:00Z"),
		consent("P1", "health"), consent("P2", "school"), joined("E1001"), caseworker("E2002"),
		makkerpar("E3003", "E4004"), caseOpened("CC1"), measureStarted("M1"), goalSet("G1"),
		goalProgressed("G1", "halfway"), goalSet("G2"), goalClosed("G2"), granted("P2", "boligstoette"),
		praktikStarted("PR1"), subsidyStarted("S1"), langStarted("L1"), gp("P1"),
		absence("C1", "2024-01-01", "2024-01-31", 20, 3), from(events.BUF, evaluation()),
	}
	for i := range 70 {
		es = append(es, at(ev(&events.EmploymentStarted{PersonID: "P1", Kind: "ordinary", HoursPerWeek: 7.5}),
			fmt.Sprintf("emp%d", i), "2024-02-01T08:00:00Z"))
		es = append(es, ev(&events.EducationStarted{PersonID: "P2", Programme: fmt.Sprintf("prog%d", i)}))
	}
	return fold(t, es...)
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := richState(t)
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got family.State
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(s.Overview())
	have, _ := json.Marshal(got.Overview())
	if !bytes.Equal(want, have) {
		t.Fatalf("overview after a round trip:\n%s\nwant\n%s", have, want)
	}
	again, err := got.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, again) {
		t.Fatalf("snapshot of the decoded state differs:\n%s\nwant\n%s", again, b)
	}
	// Later events check and fold the same on both.
	next := []events.Envelope{praktikEnded("PR1"), praktikEnded("PR1"), withdraw("P1", "health"), benefitEnded("P2", "boligstoette"), ended(), enrolled()}
	for i, e := range next {
		e1, e2 := s.Check(e), got.Check(e)
		if fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Fatalf("event %d: check %v on the decoded state, %v on the original", i, e2, e1)
		}
		s.Apply(e)
		got.Apply(e)
	}
	want, _ = json.Marshal(s.Overview())
	have, _ = json.Marshal(got.Overview())
	if !bytes.Equal(want, have) {
		t.Fatalf("overview after more events:\n%s\nwant\n%s", have, want)
	}
}

// TestSnapshotCoversState fails when State gains a field that the snapshot
// does not carry: a field added to State must be added to snapshot (and
// to this list), or SnapshotVersion raised.
func TestSnapshotCoversState(t *testing.T) {
	covered := map[string]bool{"familyID": true, "status": true, "enrolments": true, "referralReason": true, "referredAt": true,
		"courseStart": true, "plannedEnd": true, "courseEndReason": true, "members": true, "caseworker": true,
		"makkerpar": true, "team": true, "consents": true, "benefits": true, "childCases": true, "measures": true,
		"praktik": true, "subsidies": true, "courses": true, "goals": true, "absence": true, "employments": true,
		"educations": true, "evaluations": true, "perDept": true, "total": true, "lastTime": true,
		"courseBegan": true, "courseEnded": true, "firstBegan": true, "erased": true, "decided": true,
		"shared": true, // copy-on-write bookkeeping, not state
	}
	st := reflect.TypeFor[family.State]()
	for i := range st.NumField() {
		if f := st.Field(i); !covered[f.Name] {
			t.Errorf("State.%s is not in the snapshot (events/family/snapshot.go)", f.Name)
		}
	}
}

func TestSnapshotTolerant(t *testing.T) {
	var s family.State
	if err := s.UnmarshalBinary([]byte(`{"v":1,"familyId":"F1","status":"enrolled","total":3,"aFieldOfLater":{"x":1}}`)); err != nil {
		t.Fatalf("unknown member refused: %v", err)
	}
	if s.Status() != family.StatusEnrolled || s.Events() != 3 {
		t.Fatalf("decoded %v %d", s.Status(), s.Events())
	}
	if err := s.UnmarshalBinary([]byte(`{"v":99}`)); err == nil {
		t.Fatal("a snapshot of a newer version was accepted")
	}
	if err := s.UnmarshalBinary([]byte(`{"v":`)); err == nil {
		t.Fatal("a truncated snapshot was accepted")
	}
}

// A state without its records and its personal text checks every event
// as the full one does.
func TestDropRecordsKeepsChecks(t *testing.T) {
	full := richState(t)
	lean := richState(t)
	lean.DropRecords()
	lean.DropPersonal()
	if o := lean.Overview(); len(o.Employments)+len(o.Educations)+len(o.Evaluations) != 0 {
		t.Fatalf("records left: %d %d %d", len(o.Employments), len(o.Educations), len(o.Evaluations))
	}
	b, _ := lean.MarshalBinary()
	if len(b) > 4096 {
		t.Errorf("a state without records encodes to %d bytes", len(b))
	}
	// The personal free text of richState's events is in the full state
	// and not in the lean one.
	fb, _ := full.MarshalBinary()
	for _, text := range []string{"Job inden sommer", "trivsel"} {
		if !strings.Contains(string(fb), text) {
			t.Errorf("the full state lacks %q, so this test shows nothing", text)
		}
		if strings.Contains(string(b), text) {
			t.Errorf("personal text %q left in the state without it", text)
		}
	}
	next := []events.Envelope{praktikStarted("PR1"), praktikEnded("PR1"), praktikEnded("PR1"), goalSet("G1"), goalClosed("G1"),
		consent("P1", "health"), withdraw("P2", "school"), withdraw("P2", "school"), ended(), enrolled(), caseClosed("CC1")}
	for i, e := range next {
		if e1, e2 := full.Check(e), lean.Check(e); fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Fatalf("event %d: check %v without records, %v with", i, e2, e1)
		}
		full.Apply(e)
		lean.Apply(e)
	}
}
