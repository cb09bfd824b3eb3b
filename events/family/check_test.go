package family_test

import (
	"errors"
	"reflect"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// invariantCase folds history, then checks event: rule "" means accepted.
type invariantCase struct {
	name    string
	history []events.Envelope
	event   events.Envelope
	rule    string
	pointer string
}

func h(es ...events.Envelope) []events.Envelope { return es }

func invariantCases() []invariantCase {
	cases := []invariantCase{
		// family.enrolled
		{"enrolment of a family with only baseline events accepted", h(gp("P1")), enrolled(), "", ""},
		{"enrolment after referral accepted", h(referred()), enrolled(), "", ""},
		{"enrolment while course active refused", h(referred(), enrolled()), enrolled(), family.RuleCourseActive, "/subject"},
		{"re-enrolment after course ended accepted", h(enrolled(), ended()), enrolled(), "", ""},
		{"re-enrolment after course ended and new referral accepted", h(enrolled(), ended(), referred()), enrolled(), "", ""},
		{"re-enrolment dated before the previous course ended refused",
			h(at(enrolled(), "e1", "2024-01-01T09:00:00Z"), at(ended(), "x1", "2024-06-01T09:00:00Z"),
				at(referred(), "r1", "2024-06-02T09:00:00Z")),
			at(enrolled(), "e2", "2024-05-01T09:00:00Z"), family.RuleCourseActive, "/time"},
		{"re-enrolment dated at the previous course's end accepted",
			h(at(enrolled(), "e1", "2024-01-01T09:00:00Z"), at(ended(), "x1", "2024-06-01T09:00:00Z")),
			at(enrolled(), "e2", "2024-06-01T09:00:00Z"), "", ""},
		{"enrolment without a child refused", nil, ev(&events.FamilyEnrolled{
			Members: []events.Member{{PersonID: "P1", Role: events.RoleParent}}, CourseStart: "2024-01-01",
			ChildCaseIDs: []string{"CC0"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "other"}},
		}), family.RuleParentAndChild, "/data/members"},
		{"enrolment without a parent refused", nil, ev(&events.FamilyEnrolled{
			Members:     []events.Member{{PersonID: "C1", Role: events.RoleChild}, {PersonID: "X", Role: "aunt"}},
			CourseStart: "2024-01-01", ChildCaseIDs: []string{"CC0"},
		}), family.RuleParentAndChild, "/data/members"},
		{"enrolment without members refused", nil, ev(&events.FamilyEnrolled{CourseStart: "2024-01-01"}),
			family.RuleParentAndChild, "/data/members"},

		// consent.withdrawn
		{"withdrawal of a consent in force accepted", h(consent("P1", events.ScopeFamilyPlan)),
			withdraw("P1", events.ScopeFamilyPlan), "", ""},
		{"withdrawal of a consent never given refused", nil,
			withdraw("P1", events.ScopeFamilyPlan), family.RuleConsentNotInForce, "/data/scope"},
		{"withdrawal of a scope not given refused", h(consent("P1", events.ScopeDataSharing)),
			withdraw("P1", events.ScopeFamilyPlan), family.RuleConsentNotInForce, "/data/scope"},
		{"withdrawal of another person's consent refused", h(consent("P2", events.ScopeFamilyPlan)),
			withdraw("P1", events.ScopeFamilyPlan), family.RuleConsentNotInForce, "/data/scope"},
		{"second withdrawal refused", h(consent("P1", events.ScopeFamilyPlan), withdraw("P1", events.ScopeFamilyPlan)),
			withdraw("P1", events.ScopeFamilyPlan), family.RuleConsentNotInForce, "/data/scope"},
		{"withdrawal dated before the consent was given refused",
			h(at(consent("P1", events.ScopeFamilyPlan), "c1", "2024-03-01T10:00:05Z")),
			at(withdraw("P1", events.ScopeFamilyPlan), "c2", "2024-03-01T10:00:03Z"), family.RuleConsentNotInForce, "/data/scope"},
		{"withdrawal dated at the consent's time accepted",
			h(at(consent("P1", events.ScopeFamilyPlan), "c1", "2024-03-01T10:00:05Z")),
			at(withdraw("P1", events.ScopeFamilyPlan), "c2", "2024-03-01T10:00:05Z"), "", ""},
		{"withdrawal dated while withdrawn, given again since, refused",
			h(at(consent("P1", events.ScopeFamilyPlan), "c1", "2024-02-01T09:00:00Z"),
				at(withdraw("P1", events.ScopeFamilyPlan), "c2", "2024-03-01T09:00:00Z"),
				at(consent("P1", events.ScopeFamilyPlan), "c3", "2024-05-01T09:00:00Z")),
			at(withdraw("P1", events.ScopeFamilyPlan), "c4", "2024-04-01T09:00:00Z"), family.RuleConsentNotInForce, "/data/scope"},
		{"withdrawal of a consent given again accepted",
			h(consent("P1", events.ScopeFamilyPlan), withdraw("P1", events.ScopeFamilyPlan), consent("P1", events.ScopeFamilyPlan)),
			withdraw("P1", events.ScopeFamilyPlan), "", ""},

		// team.member-left
		{"member-left of a team member accepted", h(enrolled(), joined("E1")), left("E1"), "", ""},
		{"member-left of someone who never joined refused", h(enrolled(), joined("E2")), left("E1"),
			family.RuleMemberNotInTeam, "/data/employeeId"},
		{"member-left of a member who already left refused", h(enrolled(), joined("E1"), left("E1")), left("E1"),
			family.RuleMemberNotInTeam, "/data/employeeId"},
		{"member-left after rejoining accepted", h(enrolled(), joined("E1"), left("E1"), joined("E1")), left("E1"), "", ""},
		{"member-left dated before the member joined refused",
			h(at(enrolled(), "e1", "2023-12-01T09:00:00Z"), at(joined("E1"), "j1", "2024-03-01T10:00:05Z")),
			at(left("E1"), "l1", "2024-03-01T10:00:03Z"), family.RuleMemberNotInTeam, "/data/employeeId"},
		{"member-left dated while a member, left since, accepted",
			h(at(enrolled(), "e1", "2023-12-01T09:00:00Z"), at(joined("E1"), "j1", "2024-02-01T09:00:00Z"),
				at(left("E1"), "l1", "2024-04-01T09:00:00Z")),
			at(left("E1"), "l0", "2024-03-01T09:00:00Z"), "", ""},
		{"member-left after course ended accepted", h(enrolled(), joined("E1"), ended()), left("E1"), "", ""},

		// goal.set: family enrolled; goalId new
		{"goal.set with a closed goal's id refused", h(enrolled(), goalSet("G1"), goalClosed("G1")), goalSet("G1"),
			family.RuleGoalExists, "/data/goalId"},
		{"goal.set with an open goal's id refused", h(enrolled(), goalSet("G1")), goalSet("G1"),
			family.RuleGoalExists, "/data/goalId"},
		{"goal.set with a goal id of a previous course refused", h(enrolled(), goalSet("G1"), ended(), enrolled()),
			goalSet("G1"), family.RuleGoalExists, "/data/goalId"},
		{"goal.set with a new id beside others accepted", h(enrolled(), goalSet("G1")), goalSet("G2"), "", ""},

		// goal.progressed, goal.closed: set and not closed
		{"goal.progressed of an open goal accepted", h(enrolled(), goalSet("G1")), goalProgressed("G1", "improving"), "", ""},
		{"goal.progressed twice accepted", h(enrolled(), goalSet("G1"), goalProgressed("G1", "improving")),
			goalProgressed("G1", "achieved"), "", ""},
		{"goal.progressed of a goal never set refused", h(enrolled()), goalProgressed("G1", "improving"),
			family.RuleGoalNotSet, "/data/goalId"},
		{"goal.progressed of a closed goal refused", h(enrolled(), goalSet("G1"), goalClosed("G1")),
			goalProgressed("G1", "improving"), family.RuleGoalClosed, "/data/goalId"},
		{"goal.progressed after course ended accepted", h(enrolled(), goalSet("G1"), ended()),
			goalProgressed("G1", "sustaining"), "", ""},
		{"goal.closed of an open goal accepted", h(enrolled(), goalSet("G1")), goalClosed("G1"), "", ""},
		{"goal.closed of a goal never set refused", h(enrolled()), goalClosed("G1"), family.RuleGoalNotSet, "/data/goalId"},
		{"goal.closed twice refused", h(enrolled(), goalSet("G1"), goalClosed("G1")), goalClosed("G1"),
			family.RuleGoalClosed, "/data/goalId"},

		// childcase
		{"childcase.opened with a new id accepted", nil, caseOpened("CC1"), "", ""},
		{"childcase.opened while that case is open refused", h(caseOpened("CC1")), caseOpened("CC1"),
			family.RuleChildCaseOpen, "/data/caseId"},
		{"childcase.opened of a case the enrolment opened refused", h(enrolled()), caseOpened("CC0"),
			family.RuleChildCaseOpen, "/data/caseId"},
		{"childcase.opened of a closed case accepted (reopening)", h(caseOpened("CC1"), caseClosed("CC1")), caseOpened("CC1"), "", ""},
		{"childcase.closed of an open case accepted", h(caseOpened("CC1")), caseClosed("CC1"), "", ""},
		{"childcase.closed of a case the enrolment opened accepted", h(enrolled()), caseClosed("CC0"), "", ""},
		{"childcase.closed of a case never opened refused", nil, caseClosed("CC1"), family.RuleChildCaseNotOpen, "/data/caseId"},
		{"childcase.closed twice refused", h(caseOpened("CC1"), caseClosed("CC1")), caseClosed("CC1"),
			family.RuleChildCaseNotOpen, "/data/caseId"},

		// measure
		{"measure.started with a new id accepted", h(measureStarted("M1")), measureStarted("M2"), "", ""},
		{"measure.started while that measure runs refused", h(measureStarted("M1")), measureStarted("M1"),
			family.RuleMeasureOpen, "/data/measureId"},
		{"measure.started of an ended measure accepted (reopening)", h(measureStarted("M1"), measureEnded("M1")),
			measureStarted("M1"), "", ""},
		{"measure.ended of a running measure accepted", h(measureStarted("M1")), measureEnded("M1"), "", ""},
		{"measure.ended of a measure never started refused", nil, measureEnded("M1"), family.RuleMeasureNotOpen, "/data/measureId"},
		{"measure.ended twice refused", h(measureStarted("M1"), measureEnded("M1")), measureEnded("M1"),
			family.RuleMeasureNotOpen, "/data/measureId"},

		// benefit, per person and benefit
		{"benefit.granted of a new benefit accepted", nil, granted("P1", "kontanthjaelp"), "", ""},
		{"benefit.granted while active refused", h(granted("P1", "kontanthjaelp")), granted("P1", "kontanthjaelp"),
			family.RuleBenefitActive, "/data/benefit"},
		{"benefit.granted of a benefit the enrolment named refused", h(enrolled()), granted("P1", "kontanthjaelp"),
			family.RuleBenefitActive, "/data/benefit"},
		{"benefit.granted of the same benefit to another person accepted", h(granted("P1", "kontanthjaelp")),
			granted("P2", "kontanthjaelp"), "", ""},
		{"benefit.granted of another benefit to the same person accepted", h(granted("P1", "kontanthjaelp")),
			granted("P1", "sygedagpenge"), "", ""},
		{"benefit.granted after it ended accepted", h(granted("P1", "kontanthjaelp"), benefitEnded("P1", "kontanthjaelp")),
			granted("P1", "kontanthjaelp"), "", ""},
		{"benefit.ended of an active benefit accepted", h(granted("P1", "kontanthjaelp")), benefitEnded("P1", "kontanthjaelp"), "", ""},
		{"benefit.ended of a benefit the enrolment named accepted", h(enrolled()), benefitEnded("P1", "kontanthjaelp"), "", ""},
		{"benefit.ended of a benefit never granted refused", nil, benefitEnded("P1", "kontanthjaelp"),
			family.RuleBenefitNotActive, "/data/benefit"},
		{"benefit.ended of another person's benefit refused", h(granted("P2", "kontanthjaelp")),
			benefitEnded("P1", "kontanthjaelp"), family.RuleBenefitNotActive, "/data/benefit"},
		{"benefit.ended twice refused", h(granted("P1", "kontanthjaelp"), benefitEnded("P1", "kontanthjaelp")),
			benefitEnded("P1", "kontanthjaelp"), family.RuleBenefitNotActive, "/data/benefit"},

		// praktik
		{"praktik.started with a new id accepted", h(praktikStarted("PR1")), praktikStarted("PR2"), "", ""},
		{"praktik.started while that praktik is open refused", h(praktikStarted("PR1")), praktikStarted("PR1"),
			family.RulePraktikOpen, "/data/praktikId"},
		{"praktik.started of an ended praktik accepted (reopening)", h(praktikStarted("PR1"), praktikEnded("PR1")),
			praktikStarted("PR1"), "", ""},
		{"praktik.ended of an open praktik accepted", h(praktikStarted("PR1")), praktikEnded("PR1"), "", ""},
		{"praktik.ended for a praktik that is not open is refused", nil, praktikEnded("PR1"),
			family.RulePraktikNotOpen, "/data/praktikId"},
		{"praktik.ended twice refused", h(praktikStarted("PR1"), praktikEnded("PR1")), praktikEnded("PR1"),
			family.RulePraktikNotOpen, "/data/praktikId"},

		// wagesubsidy
		{"wagesubsidy.started with a new id accepted", nil, subsidyStarted("S1"), "", ""},
		{"wagesubsidy.started while open refused", h(subsidyStarted("S1")), subsidyStarted("S1"),
			family.RuleWageSubsidyOpen, "/data/subsidyId"},
		{"wagesubsidy.started of an ended subsidy accepted (reopening)", h(subsidyStarted("S1"), subsidyEnded("S1")),
			subsidyStarted("S1"), "", ""},
		{"wagesubsidy.ended of an open subsidy accepted", h(subsidyStarted("S1")), subsidyEnded("S1"), "", ""},
		{"wagesubsidy.ended of a subsidy not open refused", h(subsidyStarted("S2")), subsidyEnded("S1"),
			family.RuleWageSubsidyNotOpen, "/data/subsidyId"},
		{"wagesubsidy.ended twice refused", h(subsidyStarted("S1"), subsidyEnded("S1")), subsidyEnded("S1"),
			family.RuleWageSubsidyNotOpen, "/data/subsidyId"},

		// languagecourse
		{"languagecourse.started with a new id accepted", nil, langStarted("L1"), "", ""},
		{"languagecourse.started while open refused", h(langStarted("L1")), langStarted("L1"),
			family.RuleLanguageCourseOpen, "/data/courseId"},
		{"languagecourse.started of an ended course accepted (reopening)", h(langStarted("L1"), langEnded("L1")),
			langStarted("L1"), "", ""},
		{"languagecourse.ended of an open course accepted", h(langStarted("L1")), langEnded("L1"), "", ""},
		{"languagecourse.ended of a course not open refused", nil, langEnded("L1"),
			family.RuleLanguageCourseNotOpen, "/data/courseId"},
		{"languagecourse.ended twice refused", h(langStarted("L1"), langEnded("L1")), langEnded("L1"),
			family.RuleLanguageCourseNotOpen, "/data/courseId"},

		// gp.consultation-held
		{"gp.consultation-held with gp-cooperation consent accepted", h(consent("P1", events.ScopeGPCooperation)), gp("P1"), "", ""},
		{"gp.consultation-held with consent given before enrolment accepted during the course",
			h(consent("P1", events.ScopeGPCooperation), enrolled()), gp("P1"), "", ""},
		{"gp.consultation-held without gp-cooperation consent is refused", nil, gp("P1"),
			family.RuleGPConsentMissing, "/data/personId"},
		{"after consent withdrawn gp.consultation-held is refused",
			h(consent("P1", events.ScopeGPCooperation), withdraw("P1", events.ScopeGPCooperation)), gp("P1"),
			family.RuleGPConsentMissing, "/data/personId"},
		{"gp.consultation-held with consent of another scope refused",
			h(consent("P1", events.ScopeFamilyPlan), consent("P1", events.ScopeDataSharing)), gp("P1"),
			family.RuleGPConsentMissing, "/data/personId"},
		{"gp.consultation-held with another person's consent refused", h(consent("P2", events.ScopeGPCooperation)), gp("P1"),
			family.RuleGPConsentMissing, "/data/personId"},
		{"gp.consultation-held dated while the consent was in force, withdrawn since, accepted",
			h(at(consent("P1", events.ScopeGPCooperation), "g1", "2024-02-01T09:00:00Z"),
				at(withdraw("P1", events.ScopeGPCooperation), "g2", "2024-04-01T09:00:00Z")),
			at(gp("P1"), "gp1", "2024-03-01T09:00:00Z"), "", ""},
		{"gp.consultation-held dated before the consent was given refused",
			h(at(consent("P1", events.ScopeGPCooperation), "g1", "2024-02-01T09:00:00Z")),
			at(gp("P1"), "gp1", "2024-01-15T09:00:00Z"), family.RuleGPConsentMissing, "/data/personId"},
		{"gp.consultation-held after consent given again accepted",
			h(consent("P1", events.ScopeGPCooperation), withdraw("P1", events.ScopeGPCooperation), consent("P1", events.ScopeGPCooperation)),
			gp("P1"), "", ""},

		// evaluation.recorded: family enrolled or ended
		{"evaluation.recorded while enrolled accepted", h(enrolled()), evaluation(), "", ""},
		{"evaluation.recorded after course ended accepted", h(enrolled(), ended()), evaluation(), "", ""},
		{"evaluation.recorded after course ended and new referral accepted", h(enrolled(), ended(), referred()), evaluation(), "", ""},
		{"evaluation.recorded of a known family refused", h(gp("P1")), evaluation(), family.RuleNeverEnrolled, "/subject"},
		{"evaluation.recorded of a referred family refused", h(referred()), evaluation(), family.RuleNeverEnrolled, "/subject"},
	}

	// The types whose invariant is "family enrolled" share their cases.
	needsCourse := []events.Envelope{
		caseworker("E1"), makkerpar("E2", "E3"), joined("E4"), goalSet("G9"), ended(),
	}
	for _, e := range needsCourse {
		n := e.Spec.Name
		cases = append(cases,
			invariantCase{n + " of a known family refused", nil, e, family.RuleNotEnrolled, "/subject"},
			invariantCase{n + " of a referred family refused", h(referred()), e, family.RuleNotEnrolled, "/subject"},
			invariantCase{n + " after course ended refused", h(enrolled(), ended()), e, family.RuleNotEnrolled, "/subject"},
			invariantCase{n + " while enrolled accepted", h(referred(), enrolled()), e, "", ""},
			invariantCase{n + " in a second course accepted", h(enrolled(), ended(), enrolled()), e, "", ""},
		)
	}
	return cases
}

func TestCheckInvariants(t *testing.T) {
	t.Parallel()
	for _, tc := range invariantCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := fold(t, tc.history...)
			before := s.Clone()
			err := s.Check(tc.event)
			if !reflect.DeepEqual(s, before) {
				t.Fatal("Check modified the state")
			}
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, family.ErrInvariant) {
				t.Fatalf("err = %v, want an invariant error", err)
			}
			var ie *family.InvariantError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %T, want *family.InvariantError", err)
			}
			if ie.Rule != tc.rule || ie.Pointer != tc.pointer || ie.Type != tc.event.Spec.Name {
				t.Errorf("got {Type %q Rule %q Pointer %q}, want {%q %q %q}",
					ie.Type, ie.Rule, ie.Pointer, tc.event.Spec.Name, tc.rule, tc.pointer)
			}
			if ie.Detail == "" || err.Error() == "" {
				t.Error("empty detail")
			}
			if errors.Is(err, events.ErrInvalid) {
				t.Error("an invariant error must not look like a schema failure")
			}
		})
	}
}

// TestCheckCoversEveryInvariant proves the table above has a refusing and
// an accepting case for every catalog type that has an invariant, so that a
// type added to the catalog with an invariant fails here until tested.
func TestCheckCoversEveryInvariant(t *testing.T) {
	t.Parallel()
	refused, accepted := map[string]bool{}, map[string]bool{}
	for _, tc := range invariantCases() {
		if tc.rule == "" {
			accepted[tc.event.Spec.Name] = true
		} else {
			refused[tc.event.Spec.Name] = true
		}
	}
	for _, spec := range events.Catalog() {
		if spec.Invariant == "" {
			continue
		}
		t.Run(spec.Name, func(t *testing.T) {
			t.Parallel()
			if !refused[spec.Name] {
				t.Error("no refusing case")
			}
			if !accepted[spec.Name] {
				t.Error("no accepting case")
			}
		})
	}
}

// TestCheckTypesWithoutInvariant: every type without an invariant passes,
// even on an empty family and with zero values in its payload.
func TestCheckTypesWithoutInvariant(t *testing.T) {
	t.Parallel()
	for _, spec := range events.Catalog() {
		if spec.Invariant != "" {
			continue
		}
		t.Run(spec.Name+" always accepted", func(t *testing.T) {
			t.Parallel()
			e := events.Envelope{Spec: spec, Department: spec.Owners[0], FamilyID: fam, Data: spec.NewData()}
			for _, s := range []*family.State{family.New(fam), fold(t, enrolled()), fold(t, enrolled(), ended())} {
				if err := s.Check(e); err != nil {
					t.Errorf("status %s: %v", s.Status(), err)
				}
			}
		})
	}
}

// TestCheckBatchAgainstClone is how ingest checks a batch: each event is
// checked against a clone that has the earlier events of the batch applied.
func TestCheckBatchAgainstClone(t *testing.T) {
	t.Parallel()
	live := fold(t, enrolled())
	check := func(batch ...events.Envelope) error {
		c := live.Clone()
		for _, e := range batch {
			if err := c.Check(e); err != nil {
				return err
			}
			c.Apply(e)
		}
		return nil
	}
	t.Run("praktik started and ended in one batch accepted", func(t *testing.T) {
		if err := check(praktikStarted("PR1"), praktikEnded("PR1")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the same praktik ended twice in one batch refused", func(t *testing.T) {
		err := check(praktikStarted("PR1"), praktikEnded("PR1"), praktikEnded("PR1"))
		if !errors.Is(err, family.ErrInvariant) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a refused batch leaves the live state as it was", func(t *testing.T) {
		if got := len(live.Overview().Praktik); got != 0 || live.Events() != 1 {
			t.Fatalf("live state changed: %d praktik, %d events", got, live.Events())
		}
	})
}

func TestCheckUnreadableEnvelope(t *testing.T) {
	t.Parallel()
	spec, _ := events.ByName("praktik.ended")
	cases := []struct {
		name string
		e    events.Envelope
	}{
		{"event of another family", func() events.Envelope { e := praktikEnded("PR1"); e.FamilyID = "F2"; return e }()},
		{"nil payload", events.Envelope{Spec: spec, FamilyID: fam}},
		{"typed nil payload", events.Envelope{Spec: spec, FamilyID: fam, Data: (*events.PraktikEnded)(nil)}},
		{"payload of another type", events.Envelope{Spec: spec, FamilyID: fam, Data: &events.PraktikStarted{}}},
		{"zero spec", events.Envelope{FamilyID: fam, Data: &events.PraktikEnded{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is invalid, not an invariant", func(t *testing.T) {
			t.Parallel()
			err := family.New(fam).Check(tc.e)
			if !errors.Is(err, events.ErrInvalid) || errors.Is(err, family.ErrInvariant) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestCheckBackfilledConsentEpisode: consents are judged as of the event's
// time. P1 gave data-sharing on 1 Feb and withdrew on 1 Jun (both stored).
// The department then backfills an earlier episode: P1 had given on 1 Jan
// and withdrawn on 15 Jan. At 15 Jan the consent given on 1 Jan was in
// force, so the backfilled withdrawal is accepted, though no consent is in
// force now.
func TestCheckBackfilledConsentEpisode(t *testing.T) {
	s := fold(t,
		at(enrolled(), "e1", "2023-12-01T09:00:00Z"),
		at(consent("P1", "data-sharing"), "c1", "2024-02-01T09:00:00Z"),
		at(withdraw("P1", "data-sharing"), "c2", "2024-06-01T09:00:00Z"),
	)
	for _, e := range []events.Envelope{
		at(consent("P1", "data-sharing"), "b1", "2024-01-01T09:00:00Z"),
		at(withdraw("P1", "data-sharing"), "b2", "2024-01-15T09:00:00Z"),
	} {
		if err := s.Check(e); err != nil {
			t.Errorf("backfilled %s dated %s: %v", e.Spec.Name, e.Time().Format("2006-01-02"), err)
		}
		s.Apply(e)
	}
}

// TestCheckBackfilledTeamStint: E1 joined on 1 Mar and left on 1 Jun
// (stored). An earlier stint is backfilled: joined 1 Jan, left 1 Feb. On
// 1 Feb E1 was in the team ("team.member-left: that member joined"), so
// the leaving is accepted, though E1 is not in the team now.
func TestCheckBackfilledTeamStint(t *testing.T) {
	s := fold(t,
		at(enrolled(), "e1", "2023-12-01T09:00:00Z"),
		at(joined("E1"), "j1", "2024-03-01T09:00:00Z"),
		at(left("E1"), "l1", "2024-06-01T09:00:00Z"),
	)
	for _, e := range []events.Envelope{
		at(joined("E1"), "j0", "2024-01-01T09:00:00Z"),
		at(left("E1"), "l0", "2024-02-01T09:00:00Z"),
	} {
		if err := s.Check(e); err != nil {
			t.Errorf("backfilled %s dated %s: %v", e.Spec.Name, e.Time().Format("2006-01-02"), err)
		}
		s.Apply(e)
	}
}

// TestCheckEndingDatedBeforeItsStartNotIgnored: P1 gave data-sharing at
// 10:00:05 (SOF). BIF's withdrawal, dated 10:00:03 (a clock a few seconds
// behind), arrives after it. The fold ignores a withdrawal older than the
// consent, so if Check accepted it (201) the consent would stay in force,
// and BUF/SUF data about P1 keep reaching coordinators, although the
// withdrawal was acknowledged. Either Check refuses it (at 10:00:03 no
// consent had been given) or it takes effect. The same for a
// team.member-left dated before the joining.
func TestCheckEndingDatedBeforeItsStartNotIgnored(t *testing.T) {
	s := fold(t,
		at(enrolled(), "e1", "2023-12-01T09:00:00Z"),
		at(consent("P1", "data-sharing"), "c1", "2024-03-01T10:00:05Z"),
	)
	w := from(events.BIF, at(withdraw("P1", "data-sharing"), "c2", "2024-03-01T10:00:03Z"))
	err := s.Check(w)
	s.Apply(w)
	if err == nil && len(s.Overview().Consents) != 0 {
		t.Errorf("consent.withdrawn accepted (Check nil) but the consent is still in force: %+v", s.Overview().Consents)
	}
	// The same for the team: a member-left accepted, the member keeps access.
	s = fold(t,
		at(enrolled(), "e1", "2023-12-01T09:00:00Z"),
		at(joined("E9"), "j1", "2024-03-01T10:00:05Z"),
	)
	l := at(left("E9"), "l1", "2024-03-01T10:00:03Z")
	err = s.Check(l)
	s.Apply(l)
	if err == nil && s.CanRead("E9") {
		t.Errorf("team.member-left accepted (Check nil) but E9 may still read the family")
	}
}

// TestCheckGPConsultationAsOfItsTime: gp.consultation-held needs P1's
// gp-cooperation consent in force at the consultation's time, not now. P1
// gave it on 1 Feb, withdrew on 1 Apr and gave it again on 1 Jun.
func TestCheckGPConsultationAsOfItsTime(t *testing.T) {
	s := fold(t,
		at(enrolled(), "e1", "2023-12-01T09:00:00Z"),
		at(consent("P1", events.ScopeGPCooperation), "c1", "2024-02-01T09:00:00Z"),
		at(withdraw("P1", events.ScopeGPCooperation), "c2", "2024-04-01T09:00:00Z"),
		at(consent("P1", events.ScopeGPCooperation), "c3", "2024-06-01T09:00:00Z"),
	)
	for _, tc := range []struct {
		time string
		want string
	}{
		{"2024-01-15T09:00:00Z", family.RuleGPConsentMissing}, // before it was given
		{"2024-02-01T09:00:00Z", ""},                          // at the consent's time
		{"2024-03-01T09:00:00Z", ""},                          // in force then, withdrawn since
		{"2024-04-01T09:00:00Z", family.RuleGPConsentMissing}, // at the withdrawal's time
		{"2024-05-01T09:00:00Z", family.RuleGPConsentMissing}, // withdrawn then, given again since
		{"2024-07-01T09:00:00Z", ""},
	} {
		if err := s.Check(at(gp("P1"), "gp", tc.time)); rule(err) != tc.want || (tc.want == "" && err != nil) {
			t.Errorf("gp.consultation-held dated %s: %v, want %q", tc.time, err, tc.want)
		}
	}
	// Now in force does not help a consultation dated while withdrawn;
	// withdrawn now does not refuse one dated while in force.
	s.Apply(at(withdraw("P1", events.ScopeGPCooperation), "c4", "2024-08-01T09:00:00Z"))
	if err := s.Check(at(gp("P1"), "gp", "2024-07-01T09:00:00Z")); err != nil {
		t.Errorf("gp.consultation-held dated while in force, withdrawn since: %v", err)
	}
	if err := s.Check(at(gp("P1"), "gp", "2024-09-01T09:00:00Z")); rule(err) != family.RuleGPConsentMissing {
		t.Errorf("gp.consultation-held dated after the withdrawal: %v", err)
	}
}

// TestCheckCourseNotBeforePreviousEnd: a course begins "never before the
// previous course ended" (the fold's courseBegan). An enrolment whose time
// lies before the previous course.ended (recorded late) was accepted, and
// then an event that needs an active course, dated inside the previous
// course, was accepted for the new one.
func TestCheckCourseNotBeforePreviousEnd(t *testing.T) {
	s := fold(t,
		at(enrolled(), "e1", "2024-01-01T09:00:00Z"),
		at(ended(), "x1", "2024-06-01T09:00:00Z"),
		at(referred(), "r1", "2024-06-02T09:00:00Z"),
	)
	e2 := at(enrolled(), "e2", "2024-05-01T09:00:00Z") // courseStart 2024-01-01
	if err := s.Check(e2); err != nil {
		t.Logf("enrolment dated before the previous course ended refused: %v", err)
		return
	}
	s.Apply(e2)
	if err := s.Check(at(goalSet("G1"), "g1", "2024-03-01T09:00:00Z")); err == nil {
		t.Errorf("goal.set dated 2024-03-01, inside the previous course (ended 2024-06-01), accepted for the new course")
	}
}
