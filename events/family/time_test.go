package family_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

func rule(err error) string {
	var ie *family.InvariantError
	if errors.As(err, &ie) {
		return ie.Rule
	}
	return ""
}

// TestErasedRefusesEveryEvent: after family.erased, Check refuses every
// event about the family, also in a state read back from its snapshot (as
// ingest's index keeps it across a restart).
func TestErasedRefusesEveryEvent(t *testing.T) {
	s := fold(t, at(enrolled(), "e1", "2024-01-01T09:00:00Z"), at(ev(&events.FamilyErased{Reason: "Art. 17"}), "x", "2024-02-01T09:00:00Z"))
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back family.State
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*family.State{s, &back} {
		for _, e := range []events.Envelope{caseworker("E1"), granted("P1", "boligstoette"), consent("P1", "data-sharing"), referred()} {
			if err := st.Check(e); rule(err) != family.RuleFamilyErased {
				t.Errorf("%s after family.erased: %v, want %s", e.Spec.Name, err, family.RuleFamilyErased)
			}
		}
	}
	if err := fold(t, at(enrolled(), "e1", "2024-01-01T09:00:00Z")).Check(at(caseworker("E1"), "w1", "2024-01-02T09:00:00Z")); err != nil {
		t.Errorf("before an erasure: %v", err)
	}
}

// TestLatestInTimeDecides: who is assigned and which consents are in force
// follow the latest event in time about each, so a backfilled assignment,
// team change or consent older than the latest decision changes nothing
// now; of two at the same time the later stored wins.
func TestLatestInTimeDecides(t *testing.T) {
	s := fold(t,
		at(enrolled(), "e1", "2024-01-01T09:00:00Z"),
		at(caseworker("E-NEW"), "w2", "2024-06-01T09:00:00Z"),
		at(makkerpar("JC-NEW", "FW-NEW"), "m2", "2024-06-01T09:00:00Z"),
		at(joined("T1"), "t1", "2024-02-01T09:00:00Z"),
		at(left("T1"), "t2", "2024-05-01T09:00:00Z"),
		at(consent("C1", "data-sharing"), "c1", "2024-01-10T09:00:00Z"),
		at(withdraw("C1", "data-sharing"), "c2", "2024-06-01T09:00:00Z"),
		at(consent("C2", "data-sharing"), "c3", "2024-06-01T09:00:00Z"),
	)
	// The history backfilled: each dated before the latest decision.
	for _, e := range []events.Envelope{
		at(caseworker("E-OLD"), "w1", "2024-01-05T09:00:00Z"),
		at(makkerpar("JC-OLD", "FW-OLD"), "m1", "2024-01-05T09:00:00Z"),
		at(joined("T1"), "t0", "2024-03-01T09:00:00Z"),
		at(consent("C1", "data-sharing"), "c0", "2024-02-01T09:00:00Z"),
	} {
		if err := s.Check(e); err != nil {
			t.Fatalf("%s backfilled: %v", e.Spec.Name, err)
		}
		s.Apply(e)
	}
	// A withdrawal dated before C2 gave the consent: Check refuses it, as
	// of its time nothing was in force; published past ingest, the fold
	// ignores it.
	w := at(withdraw("C2", "data-sharing"), "c4", "2024-03-01T09:00:00Z")
	if err := s.Check(w); rule(err) != family.RuleConsentNotInForce {
		t.Errorf("consent.withdrawn dated before the consent: %v, want %s", err, family.RuleConsentNotInForce)
	}
	s.Apply(w)
	o := s.Overview()
	if o.Caseworker != "E-NEW" || o.Makkerpar == nil || o.Makkerpar.JobConsultantID != "JC-NEW" {
		t.Errorf("caseworker %q, makkerpar %+v: a backfilled assignment replaced the later one", o.Caseworker, o.Makkerpar)
	}
	if got, want := s.Assigned(), []string{"E-NEW", "FW-NEW", "JC-NEW"}; !slices.Equal(got, want) {
		t.Errorf("assigned %v, want %v", got, want)
	}
	if got := o.Consents; len(got) != 1 || got[0].PersonID != "C2" {
		t.Errorf("consents in force %+v, want only C2's: C1 withdrew after the backfilled consent, C2 gave after the backfilled withdrawal", got)
	}
	// Same time: the later stored wins.
	s = fold(t, at(caseworker("E1"), "w1", "2024-06-01T09:00:00Z"), at(caseworker("E2"), "w2", "2024-06-01T09:00:00Z"))
	if o := s.Overview(); o.Caseworker != "E2" {
		t.Errorf("of two assignments at one time, %q holds; want the later stored, E2", o.Caseworker)
	}
	// A later event in time still replaces.
	s.Apply(at(caseworker("E3"), "w3", "2024-07-01T09:00:00Z"))
	if o := s.Overview(); o.Caseworker != "E3" || s.CanRead("E2") {
		t.Errorf("caseworker %q after a later assignment", o.Caseworker)
	}
}

// TestNeedsCourseFromItsStart: an event that needs an active course is
// refused when it is dated before the course began, so that the history in
// time order never has it outside a course. The course began at the
// enrolment's time or, for an enrolment recorded later, at the first
// moment of its courseStart day in Copenhagen.
func TestNeedsCourseFromItsStart(t *testing.T) {
	recorded := fold(t, at(enrolled(), "e1", "2024-03-01T09:00:00Z")) // courseStart 2024-01-01
	for _, e := range []events.Envelope{
		at(caseworker("E1"), "z1", "2023-12-31T22:30:00Z"), // 23.30 on 31 December in Copenhagen
		at(goalSet("G1"), "z2", "2023-12-10T09:00:00Z"),
	} {
		if err := recorded.Check(e); rule(err) != family.RuleNotEnrolled {
			t.Errorf("%s dated before the courseStart day: %v, want %s", e.Spec.Name, err, family.RuleNotEnrolled)
		}
	}
	for _, e := range []events.Envelope{
		at(caseworker("E1"), "z3", "2023-12-31T23:00:00Z"), // 00.00 on 1 January in Copenhagen
		at(goalSet("G1"), "z4", "2024-02-01T09:00:00Z"),
	} {
		if err := recorded.Check(e); err != nil {
			t.Errorf("%s dated in the course, before its enrolment was recorded: %v", e.Spec.Name, err)
		}
	}
	s := fold(t, at(enrolled(), "e1", "2023-12-01T09:00:00Z")) // before its courseStart
	for _, e := range []events.Envelope{
		at(ended(), "x1", "2023-11-10T09:00:00Z"),
		at(caseworker("E1"), "x2", "2023-11-30T09:00:00Z"),
		at(goalSet("G1"), "x3", "2023-11-01T09:00:00Z"),
	} {
		err := s.Check(e)
		var ie *family.InvariantError
		if !errors.As(err, &ie) || ie.Rule != family.RuleNotEnrolled || ie.Pointer != "/time" {
			t.Errorf("%s dated before the course began: %v, want %s at /time", e.Spec.Name, err, family.RuleNotEnrolled)
		}
	}
	for _, e := range []events.Envelope{
		at(caseworker("E1"), "y1", "2023-12-01T09:00:00Z"),
		at(ended(), "y2", "2024-03-01T09:00:00Z"),
	} {
		if err := s.Check(e); err != nil {
			t.Errorf("%s dated in the course: %v", e.Spec.Name, err)
		}
		s.Apply(e)
	}
	// A later course whose courseStart day lies before the previous
	// course ended began no earlier than that end.
	s.Apply(at(referred(), "r1", "2024-04-01T09:00:00Z"))
	s.Apply(at(enrolled(), "e2", "2024-05-01T09:00:00Z")) // courseStart 2024-01-01
	if err := s.Check(at(goalSet("G9"), "g9", "2024-02-15T09:00:00Z")); rule(err) != family.RuleNotEnrolled {
		t.Errorf("goal.set dated in the previous course: %v, want %s", err, family.RuleNotEnrolled)
	}
	if err := s.Check(at(goalSet("G9"), "g9", "2024-03-15T09:00:00Z")); err != nil {
		t.Errorf("goal.set dated after the previous course ended, before the enrolment was recorded: %v", err)
	}
}

// TestConsentInForceAtAMoment: the decisions list every consent event of
// a person and scope in time order, and the one in force at a moment is
// the last not later than it, so a decision dated ahead is not in force
// until its time.
func TestConsentInForceAtAMoment(t *testing.T) {
	st := fold(t, enrolled(),
		at(consent("P1", events.ScopeDataSharing), "g", "2024-01-10T09:00:00Z"),
		at(withdraw("P1", events.ScopeDataSharing), "w", "2024-06-01T09:00:00Z"))
	ds := st.ConsentDecisions()
	if len(ds) != 2 || !ds[0].InForce || ds[1].InForce {
		t.Fatalf("decisions %+v; want the consent.given, then the withdrawal", ds)
	}
	for _, c := range []struct {
		at   string
		want bool
	}{{"2024-01-10T08:59:59Z", false}, {"2024-01-10T09:00:00Z", true}, {"2024-05-31T23:59:59Z", true}, {"2024-06-01T09:00:00Z", false}} {
		m, _ := time.Parse(time.RFC3339, c.at)
		if got := family.ConsentInForce(ds, m); got != c.want {
			t.Errorf("in force at %s: %v, want %v", c.at, got, c.want)
		}
	}
}

// TestEvaluationNotBeforeFirstCourse: evaluation.recorded needs the family
// "enrolled or ended" at its time: an evaluation dated before the first
// course began is of a family that had never been enrolled then, however
// the family stands now. One dated between two courses evaluates the
// first.
func TestEvaluationNotBeforeFirstCourse(t *testing.T) {
	s := fold(t, at(enrolled(), "e1", "2024-03-01T09:00:00Z")) // courseStart 2024-01-01
	err := s.Check(at(evaluation(), "v0", "2023-06-01T09:00:00Z"))
	var ie *family.InvariantError
	if !errors.As(err, &ie) || ie.Rule != family.RuleNeverEnrolled || ie.Pointer != "/time" {
		t.Errorf("evaluation.recorded dated before the course began: %v, want %s at /time", err, family.RuleNeverEnrolled)
	}
	if err := s.Check(at(evaluation(), "v1", "2024-01-01T09:00:00Z")); err != nil {
		t.Errorf("evaluation.recorded dated on the courseStart day: %v", err)
	}
	s.Apply(at(ended(), "x1", "2024-06-01T09:00:00Z"))
	s.Apply(at(referred(), "r1", "2024-07-01T09:00:00Z"))
	s.Apply(at(enrolled(), "e2", "2024-09-01T09:00:00Z"))
	if err := s.Check(at(evaluation(), "v2", "2024-07-15T09:00:00Z")); err != nil {
		t.Errorf("evaluation.recorded dated between two courses: %v", err)
	}
	if err := s.Check(at(evaluation(), "v3", "2023-12-31T22:59:59Z")); rule(err) != family.RuleNeverEnrolled {
		t.Errorf("evaluation.recorded dated before the first course, with a second one active: %v", err)
	}
	// Ingest keeps states as snapshots: the first course's beginning
	// survives one.
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var r family.State
	if err := r.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if err := r.Check(at(evaluation(), "v3", "2023-12-31T22:59:59Z")); rule(err) != family.RuleNeverEnrolled {
		t.Errorf("after a snapshot, evaluation.recorded dated before the first course: %v", err)
	}
}
