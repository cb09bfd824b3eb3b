package family_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// TestApplyNeverPanics feeds what a direct NATS publish could bring: every
// invariant broken, zero payloads of every type, nil and mismatched
// payloads, unknown departments, and a State not made by New.
func TestApplyNeverPanics(t *testing.T) {
	t.Parallel()
	var seq []events.Envelope
	seq = append(seq,
		praktikEnded("PR1"), subsidyEnded("S1"), langEnded("L1"), measureEnded("M1"), caseClosed("CC1"),
		benefitEnded("P1", "other"), withdraw("P1", events.ScopeGPCooperation), gp("P1"), left("E1"),
		goalProgressed("G1", "improving"), goalClosed("G1"), evaluation(), ended(), caseworker("E1"),
		goalSet("G1"), goalSet("G1"), goalClosed("G1"), goalClosed("G1"), goalProgressed("G1", "worsening"),
		enrolled(), enrolled(), praktikStarted("PR1"), praktikStarted("PR1"),
		absence("C1", "2024-01-01", "2024-01-31", 0, 3), absence("C1", "2024-02-01", "2024-02-28", -5, 3),
		ev(&events.FamilyEnrolled{}),
	)
	for _, spec := range events.Catalog() {
		seq = append(seq,
			events.Envelope{Spec: spec, Department: spec.Owners[0], FamilyID: fam, Data: spec.NewData()},
			events.Envelope{Spec: spec, FamilyID: fam},
			events.Envelope{Spec: spec, FamilyID: fam, Department: "xyz", Data: &events.CourseEnded{}},
		)
	}
	seq = append(seq,
		events.Envelope{},
		events.Envelope{Data: (*events.PraktikStarted)(nil), Spec: praktikStarted("x").Spec},
		events.Envelope{Data: (*events.FamilyEnrolled)(nil), Spec: enrolled().Spec},
	)
	for name, s := range map[string]*family.State{"New": family.New(fam), "zero State": {}, "nil State": nil} {
		t.Run("Apply on "+name+" never panics", func(t *testing.T) {
			t.Parallel()
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			for _, e := range seq {
				s.Apply(e)
			}
			if s == nil {
				return
			}
			if _, err := json.Marshal(s.Overview()); err != nil {
				t.Fatalf("overview does not marshal: %v", err)
			}
			if s.Events() != len(seq) {
				t.Errorf("Events() = %d, want %d: every event is counted", s.Events(), len(seq))
			}
		})
	}
}

// TestApplyLenient: events that Check would refuse are folded as well as
// they can be, because they are in the store.
func TestApplyLenient(t *testing.T) {
	t.Parallel()
	t.Run("ending a praktik that is not open records it as not open", func(t *testing.T) {
		t.Parallel()
		o := fold(t, praktikStarted("PR2"), praktikEnded("PR1")).Overview()
		if len(o.Praktik) != 1 || o.Praktik[0].PraktikID != "PR2" {
			t.Fatalf("praktik = %+v", o.Praktik)
		}
	})
	t.Run("caseworker assigned before enrolment still assigned", func(t *testing.T) {
		t.Parallel()
		s := fold(t, caseworker("E1"))
		if !s.CanRead("E1") || s.Overview().Caseworker != "E1" || s.Status() != family.StatusKnown {
			t.Fatalf("overview = %+v", s.Overview())
		}
	})
	t.Run("second enrolment replaces course and members", func(t *testing.T) {
		t.Parallel()
		second := ev(&events.FamilyEnrolled{
			Members:     []events.Member{{PersonID: "P9", Role: events.RoleParent}, {PersonID: "C9", Role: events.RoleChild}},
			CourseStart: "2024-06-01", ChildCaseIDs: []string{"CC9"},
			ParentBenefits: []events.ParentBenefit{{PersonID: "P9", Benefit: "other"}},
		})
		o := fold(t, enrolled(), second).Overview()
		if o.CourseStart != "2024-06-01" || o.PlannedEnd != "" || len(o.Members) != 2 || o.Members[0].PersonID != "C9" {
			t.Fatalf("overview = %+v", o)
		}
		if len(o.ChildCases) != 2 || len(o.Benefits) != 2 {
			t.Fatalf("cases %+v benefits %+v: both enrolments' stay open", o.ChildCases, o.Benefits)
		}
	})
	t.Run("duplicate goal.set redefines the goal", func(t *testing.T) {
		t.Parallel()
		again := ev(&events.GoalSet{GoalID: "G1", Title: "Ny titel", Domain: "school", ExpressedBy: "professional"})
		o := fold(t, enrolled(), goalSet("G1"), goalProgressed("G1", "improving"), goalClosed("G1"), again).Overview()
		want := family.Goal{GoalID: "G1", Title: "Ny titel", Domains: []string{"school"}, ExpressedBy: "professional"}
		if len(o.Goals) != 1 || !reflect.DeepEqual(o.Goals[0], want) {
			t.Fatalf("goals = %+v", o.Goals)
		}
	})
	t.Run("progress of a goal never set is dropped", func(t *testing.T) {
		t.Parallel()
		s := fold(t, enrolled(), goalProgressed("G1", "improving"), goalClosed("G1"))
		if len(s.Overview().Goals) != 0 {
			t.Fatalf("goals = %+v", s.Overview().Goals)
		}
		if err := s.Check(goalSet("G1")); err != nil {
			t.Fatalf("goal.set after dropped progress: %v", err)
		}
	})
	t.Run("progress on a closed goal updates the latest achievement", func(t *testing.T) {
		t.Parallel()
		o := fold(t, enrolled(), goalSet("G1"), goalClosed("G1"), goalProgressed("G1", "sustaining")).Overview()
		if g := o.Goals[0]; g.LatestAchievement != "sustaining" || !g.Closed || g.Outcome != "achieved" {
			t.Fatalf("goal = %+v", g)
		}
	})
	t.Run("course ended without enrolment ends it anyway", func(t *testing.T) {
		t.Parallel()
		s := fold(t, ended())
		if s.Status() != family.StatusEnded || s.Overview().CourseEndReason != "completed" {
			t.Fatalf("overview = %+v", s.Overview())
		}
	})
	t.Run("event of another family is ignored", func(t *testing.T) {
		t.Parallel()
		e := caseworker("E1")
		e.FamilyID = "F2"
		s := fold(t, e)
		if s.Events() != 0 || s.CanRead("E1") {
			t.Fatal("foreign event applied")
		}
	})
}

func TestStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		seq  []events.Envelope
		want family.Status
	}{
		{"new family is known", nil, family.StatusKnown},
		{"baseline events keep it known", h(absence("C1", "2023-08-01", "2023-10-31", 60, 6), gp("P1")), family.StatusKnown},
		{"referral makes it referred", h(gp("P1"), referred()), family.StatusReferred},
		{"enrolment makes it enrolled", h(referred(), enrolled()), family.StatusEnrolled},
		{"enrolment without referral makes it enrolled", h(enrolled()), family.StatusEnrolled},
		{"referral during the course changes nothing", h(enrolled(), referred()), family.StatusEnrolled},
		{"course end makes it ended", h(enrolled(), ended()), family.StatusEnded},
		{"referral after the course ended makes it referred again", h(enrolled(), ended(), referred()), family.StatusReferred},
		{"re-enrolment makes it enrolled again", h(enrolled(), ended(), enrolled()), family.StatusEnrolled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := fold(t, tc.seq...)
			if s.Status() != tc.want || s.Overview().Status != tc.want {
				t.Fatalf("status = %s, want %s", s.Status(), tc.want)
			}
		})
	}
	// The referral that led to a course, recorded after the course ended,
	// is no new referral: at its time the family had not yet been
	// enrolled. A referral dated after the end is one.
	t.Run("backfilled referral dated before the course ended keeps it ended", func(t *testing.T) {
		t.Parallel()
		s := fold(t,
			at(enrolled(), "e1", "2024-01-01T09:00:00Z"),
			at(ended(), "x1", "2024-06-01T09:00:00Z"),
			at(referred(), "r0", "2023-11-01T09:00:00Z"),
		)
		if s.Status() != family.StatusEnded {
			t.Fatalf("status = %s, want %s", s.Status(), family.StatusEnded)
		}
		s.Apply(at(referred(), "r1", "2024-08-01T09:00:00Z"))
		if s.Status() != family.StatusReferred {
			t.Fatalf("status after a referral dated after the end = %s, want %s", s.Status(), family.StatusReferred)
		}
	})
	t.Run("the referral's reason is the latest referral's in time", func(t *testing.T) {
		t.Parallel()
		reason := func(r string) events.Envelope { return ev(&events.FamilyReferred{Reason: r}) }
		s := fold(t,
			at(enrolled(), "e1", "2024-01-01T09:00:00Z"),
			at(ended(), "x1", "2024-06-01T09:00:00Z"),
			at(reason("ny henvisning"), "r1", "2024-08-01T09:00:00Z"),
			at(reason("første henvisning"), "r0", "2023-11-01T09:00:00Z"), // recorded late
		)
		if got := s.Overview().ReferralReason; got != "ny henvisning" {
			t.Fatalf("referral reason = %q, want the August referral's", got)
		}
		var back family.State
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		back.Apply(at(reason("ældre"), "r2", "2024-07-01T09:00:00Z"))
		if got := back.Overview().ReferralReason; got != "ny henvisning" {
			t.Fatalf("referral reason after a snapshot = %q, want the August referral's", got)
		}
	})
	t.Run("course end reason is cleared by a new enrolment", func(t *testing.T) {
		t.Parallel()
		if r := fold(t, enrolled(), ended(), enrolled()).Overview().CourseEndReason; r != "" {
			t.Fatalf("reason = %q", r)
		}
	})
	t.Run("course end reason stays while referred again", func(t *testing.T) {
		t.Parallel()
		if r := fold(t, enrolled(), ended(), referred()).Overview().CourseEndReason; r != "completed" {
			t.Fatalf("reason = %q, want completed", r)
		}
	})
}

// TestStreamOrder: events are folded in the order they arrive, but the
// latest school absence is by period and the last event time is the
// latest time, so a backfill does not hide newer facts.
func TestStreamOrder(t *testing.T) {
	t.Parallel()
	newer := at(from(events.BUF, absence("C1", "2024-08-01", "2024-10-31", 50, 6)), "a2", "2024-11-05T10:00:00Z")
	older := at(from(events.BUF, absence("C1", "2024-01-01", "2024-06-30", 100, 40)), "a1", "2024-07-01T10:00:00Z")
	correction := at(from(events.BUF, absence("C1", "2024-08-15", "2024-10-31", 40, 2)), "a3", "2024-11-06T10:00:00Z")
	other := at(from(events.BUF, absence("C2", "2023-01-01", "2023-03-31", 0, 0)), "a4", "2023-04-01T10:00:00Z")

	t.Run("backfilled older period does not replace the newer one", func(t *testing.T) {
		t.Parallel()
		o := fold(t, newer, older).Overview()
		if len(o.SchoolAbsence) != 1 || o.SchoolAbsence[0].PeriodStart != "2024-08-01" {
			t.Fatalf("absence = %+v", o.SchoolAbsence)
		}
		if o.SchoolAbsence[0].UnauthorisedShare != 0.12 {
			t.Errorf("share = %v, want 0.12", o.SchoolAbsence[0].UnauthorisedShare)
		}
		if o.SchoolAbsence[0].AbsentShare != 7.0/50 {
			t.Errorf("absent share = %v", o.SchoolAbsence[0].AbsentShare)
		}
	})
	t.Run("a period ending the same day applied later wins", func(t *testing.T) {
		t.Parallel()
		o := fold(t, newer, correction).Overview()
		if o.SchoolAbsence[0].PeriodStart != "2024-08-15" {
			t.Fatalf("absence = %+v", o.SchoolAbsence)
		}
	})
	t.Run("one entry per child sorted by child, zero school days give share 0", func(t *testing.T) {
		t.Parallel()
		o := fold(t, newer, other).Overview()
		if len(o.SchoolAbsence) != 2 || o.SchoolAbsence[0].ChildID != "C1" || o.SchoolAbsence[1].UnauthorisedShare != 0 {
			t.Fatalf("absence = %+v", o.SchoolAbsence)
		}
	})
	t.Run("backfilled older progress does not replace the latest achievement", func(t *testing.T) {
		t.Parallel()
		s := fold(t,
			at(enrolled(), "e1", "2024-01-01T09:00:00Z"),
			at(goalSet("G1"), "g1", "2024-02-01T09:00:00Z"),
			at(goalProgressed("G1", "improving"), "p2", "2024-05-01T09:00:00Z"),
			at(goalProgressed("G1", "worsening"), "p1", "2024-03-01T09:00:00Z"), // backfill
		)
		g := s.Overview().Goals[0]
		if g.LatestAchievement != "improving" || !g.LatestAchievementAt.Equal(time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)) {
			t.Fatalf("goal = %+v, want the achievement of 1 May", g)
		}
		s.Apply(at(goalProgressed("G1", "achieved"), "p3", "2024-05-01T09:00:00Z"))
		if g := s.Overview().Goals[0]; g.LatestAchievement != "achieved" {
			t.Fatalf("progress at the same time stored later: %+v, want achieved", g)
		}
	})
	t.Run("last event time is the latest time, not the last applied", func(t *testing.T) {
		t.Parallel()
		o := fold(t, newer, older, other).Overview()
		if want := time.Date(2024, 11, 5, 10, 0, 0, 0, time.UTC); !o.LastEventTime.Equal(want) {
			t.Fatalf("last = %v, want %v", o.LastEventTime, want)
		}
	})
	t.Run("backfilled records are listed by time", func(t *testing.T) {
		t.Parallel()
		late := at(ev(&events.EvaluationRecorded{Kind: "final"}), "e2", "2025-12-01T00:00:00Z")
		early := at(ev(&events.EvaluationRecorded{Kind: "midway"}), "e1", "2025-01-01T00:00:00Z")
		o := fold(t, enrolled(), late, early).Overview()
		if len(o.Evaluations) != 2 || o.Evaluations[0].Kind != "midway" {
			t.Fatalf("evaluations = %+v", o.Evaluations)
		}
	})
}

func TestCounts(t *testing.T) {
	t.Parallel()
	s := fold(t, enrolled(), referred(), from(events.BUF, referred()), from(events.SUF, referred()),
		praktikStarted("PR1"), gp("P1"), absence("C1", "2024-01-01", "2024-01-31", 20, 1))
	o := s.Overview()
	want := family.EventCounts{SOF: 2, BIF: 1, BUF: 2, SUF: 2}
	if o.EventsPerDepartment != want || o.TotalEvents != 7 || s.Events() != 7 {
		t.Fatalf("counts = %+v, total %d", o.EventsPerDepartment, o.TotalEvents)
	}
}

// TestClone: a clone is deep, both ways, for every part of the state.
func TestClone(t *testing.T) {
	t.Parallel()
	base := []events.Envelope{
		enrolled(), caseworker("E1"), makkerpar("E2", "E3"), joined("E4"), consent("P1", events.ScopeGPCooperation),
		caseOpened("CC1"), measureStarted("M1"), goalSet("G1"), granted("P2", "other"), praktikStarted("PR1"),
		subsidyStarted("S1"), langStarted("L1"), absence("C1", "2024-01-01", "2024-01-31", 20, 1),
		ev(&events.EmploymentStarted{PersonID: "P1", Kind: "ordinary"}),
		ev(&events.EducationStarted{PersonID: "P2", Programme: "HF"}), evaluation(),
	}
	changes := []events.Envelope{
		caseworker("E9"), makkerpar("E8", "E7"), left("E4"), joined("E6"), withdraw("P1", events.ScopeGPCooperation),
		caseClosed("CC1"), caseClosed("CC0"), measureEnded("M1"), goalProgressed("G1", "achieved"), goalClosed("G1"),
		goalSet("G2"), benefitEnded("P2", "other"), praktikEnded("PR1"), subsidyEnded("S1"), langEnded("L1"),
		absence("C1", "2024-02-01", "2024-02-28", 20, 5), ev(&events.EmploymentStarted{PersonID: "P2", Kind: "flexjob"}),
		ev(&events.EducationStarted{PersonID: "P1", Programme: "AMU"}), evaluation(), ended(), referred(),
		// What only adds to a map: new entries.
		consent("P2", events.ScopeGPCooperation), caseOpened("CC2"), measureStarted("M2"), granted("P1", "other"),
		praktikStarted("PR2"), subsidyStarted("S2"), langStarted("L2"),
		ev(&events.FamilyEnrolled{Members: []events.Member{{PersonID: "P1", Role: events.RoleParent}},
			CourseStart: "2024-06-01", PlannedEnd: "2025-06-01", ChildCaseIDs: []string{"CC3"},
			ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "uddannelseshjaelp"}}}),
	}
	marshal := func(s *family.State) string {
		b, err := json.Marshal(s.Overview())
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + " " + string(must(json.Marshal(s.Assigned())))
	}
	t.Run("mutating the clone leaves the original", func(t *testing.T) {
		t.Parallel()
		orig := fold(t, base...)
		want := marshal(orig)
		c := orig.Clone()
		for _, e := range changes {
			c.Apply(e)
		}
		if got := marshal(orig); got != want {
			t.Fatalf("original changed:\n%s\nwas\n%s", got, want)
		}
		if marshal(c) == want {
			t.Fatal("clone did not change")
		}
	})
	t.Run("mutating the original leaves the clone", func(t *testing.T) {
		t.Parallel()
		orig := fold(t, base...)
		c := orig.Clone()
		want := marshal(c)
		for _, e := range changes {
			orig.Apply(e)
		}
		if got := marshal(c); got != want {
			t.Fatalf("clone changed:\n%s\nwas\n%s", got, want)
		}
	})
	t.Run("each change alone, on either side", func(t *testing.T) {
		// Alone, so that no earlier change has made either side's map its
		// own already.
		t.Parallel()
		for _, e := range changes {
			orig := fold(t, base...)
			want := marshal(orig)
			c := orig.Clone()
			c.Apply(e)
			if got := marshal(orig); got != want {
				t.Errorf("%s on the clone changed the original:\n%s\nwas\n%s", e.Spec.Name, got, want)
			}
			orig = fold(t, base...)
			c = orig.Clone()
			orig.Apply(e)
			if got := marshal(c); got != want {
				t.Errorf("%s on the original changed the clone:\n%s\nwas\n%s", e.Spec.Name, got, want)
			}
		}
	})
	t.Run("a decision between two shared ones keeps the histories apart", func(t *testing.T) {
		// A consent's and a team member's decisions are kept in time
		// order: a backfilled one goes between two, which must not write
		// into what the other side still holds.
		t.Parallel()
		orig := fold(t, at(enrolled(), "e1", "2024-01-01T09:00:00Z"),
			at(consent("P1", events.ScopeDataSharing), "c1", "2024-02-01T09:00:00Z"),
			at(withdraw("P1", events.ScopeDataSharing), "c2", "2024-04-01T09:00:00Z"),
			at(consent("P1", events.ScopeDataSharing), "c3", "2024-06-01T09:00:00Z"),
			at(joined("E1"), "j1", "2024-02-01T09:00:00Z"),
			at(left("E1"), "l1", "2024-04-01T09:00:00Z"),
			at(joined("E1"), "j2", "2024-06-01T09:00:00Z"))
		want := string(must(orig.MarshalBinary()))
		c := orig.Clone()
		c.Apply(at(withdraw("P1", events.ScopeDataSharing), "b1", "2024-03-01T09:00:00Z"))
		c.Apply(at(left("E1"), "b2", "2024-03-01T09:00:00Z"))
		if got := string(must(orig.MarshalBinary())); got != want {
			t.Fatalf("backfilled decisions on the clone changed the original:\n%s\nwas\n%s", got, want)
		}
		mine := string(must(c.MarshalBinary()))
		orig.Apply(at(consent("P1", events.ScopeDataSharing), "b3", "2024-05-01T09:00:00Z"))
		orig.Apply(at(joined("E1"), "b4", "2024-05-01T09:00:00Z"))
		if got := string(must(c.MarshalBinary())); got != mine {
			t.Fatalf("backfilled decisions on the original changed the clone:\n%s\nwas\n%s", got, mine)
		}
	})
	t.Run("appending to both sides of shared records keeps them apart", func(t *testing.T) {
		t.Parallel()
		orig := fold(t, base...)
		c := orig.Clone()
		orig.Apply(ev(&events.EmploymentStarted{PersonID: "P1", Kind: "small-job"}))
		c.Apply(ev(&events.EmploymentStarted{PersonID: "P1", Kind: "fritidsjob"}))
		kinds := func(s *family.State) []string {
			var k []string
			for _, e := range s.Overview().Employments {
				k = append(k, e.Kind)
			}
			return k
		}
		if got := kinds(orig); !slices.Equal(got, []string{"ordinary", "small-job"}) {
			t.Errorf("original = %v", got)
		}
		if got := kinds(c); !slices.Equal(got, []string{"ordinary", "fritidsjob"}) {
			t.Errorf("clone = %v", got)
		}
	})
}

// TestConcurrentReads: once nobody applies to a state, readers may share
// it; go test -race proves the read methods write nothing.
func TestConcurrentReads(t *testing.T) {
	t.Parallel()
	s := fold(t, enrolled(), caseworker("E1"), joined("E2"), goalSet("G1"), praktikStarted("PR1"))
	pub := s.Clone()
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 50 {
				_ = pub.Overview()
				_ = pub.CanRead("E1")
				_ = pub.Assigned()
				_ = pub.Check(praktikEnded("PR1"))
			}
		}()
	}
	for range 50 { // the writer keeps folding into the original meanwhile
		s.Apply(ev(&events.EmploymentStarted{PersonID: "P1", Kind: "ordinary"}))
		s.Apply(praktikEnded("PR1"))
		s.Apply(praktikStarted("PR1"))
	}
	for range 4 {
		<-done
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestInvariantsAcrossVersions: a goal set in v1 is progressed and closed
// after v2 arrived, and praktik.ended closes a praktik started in either
// version, in Check (ingest) and Apply (every fold) alike.
func TestInvariantsAcrossVersions(t *testing.T) {
	t.Parallel()
	goalV2 := ev(&events.GoalSetV2{GoalID: "G2", Title: "Job og familie", Domains: []string{"employment", "family"},
		Description: "Hverdagen skal hænge sammen", ExpressedBy: "family"})
	praktikV2 := ev(&events.PraktikStartedV2{PraktikID: "PR2", PersonID: "P1",
		Employer: events.PraktikEmployer{Cvr: "12345678", PNumber: "1000123456"}, HoursPerWeek: 12})
	s := family.New(fam)
	for i, e := range []events.Envelope{enrolled(), goalSet("G1"), praktikStarted("PR1"), goalV2, praktikV2,
		goalProgressed("G1", "improving"), goalProgressed("G2", "improving"), goalClosed("G1"),
		ev(&events.PraktikEnded{PraktikID: "PR1", Outcome: "completed"}),
		ev(&events.PraktikEnded{PraktikID: "PR2", Outcome: "completed"})} {
		if err := s.Check(e); err != nil {
			t.Fatalf("event %d (%s): %v", i, e.Spec.Type(), err)
		}
		s.Apply(e)
	}
	o := s.Overview()
	if len(o.Praktik) != 0 {
		t.Errorf("praktik still open: %+v", o.Praktik)
	}
	if len(o.Goals) != 2 || !o.Goals[0].Closed || !reflect.DeepEqual(o.Goals[0].Domains, []string{"employment"}) ||
		o.Goals[1].LatestAchievement != "improving" || !reflect.DeepEqual(o.Goals[1].Domains, []string{"employment", "family"}) ||
		o.Goals[1].Description == "" {
		t.Errorf("goals %+v", o.Goals)
	}
	// Both versions of goal.set refuse the other's goal id.
	if err := s.Check(goalV2); !errors.Is(err, family.ErrInvariant) {
		t.Errorf("v2 goal.set of a v2 goal id: %v", err)
	}
	if err := s.Check(ev(&events.GoalSet{GoalID: "G2", Title: "x", Domain: "family", ExpressedBy: "family"})); !errors.Is(err, family.ErrInvariant) {
		t.Errorf("v1 goal.set of a v2 goal id: %v", err)
	}
	if err := s.Check(praktikStarted("PR3")); err != nil {
		t.Errorf("a new v1 praktik: %v", err)
	}
}
