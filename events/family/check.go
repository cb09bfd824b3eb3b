package family

import (
	"errors"
	"fmt"
	"time"

	"kk.dk/jobogfamilie/events"
)

// ErrInvariant matches every *InvariantError with errors.Is, so that a
// transport can answer 409 without knowing the rules.
var ErrInvariant = errors.New("family: invariant violated")

// InvariantError says which invariant of the catalog an event breaks.
type InvariantError struct {
	// Type is the catalog name of the refused event, e.g. "praktik.ended".
	Type string
	// Rule is a short, stable code for the broken rule, e.g.
	// "praktik-not-open"; clients may switch on it.
	Rule string
	// Detail explains the refusal in English, naming the ids involved.
	Detail string
	// Pointer is the JSON pointer, into the structured CloudEvent, of the
	// field that conflicts with the family's state, e.g. "/data/praktikId";
	// "/subject" when the conflict is with the family as a whole.
	Pointer string
}

func (e *InvariantError) Error() string {
	return "family: " + e.Type + " refused (" + e.Rule + "): " + e.Detail
}

// Is makes errors.Is(err, ErrInvariant) true.
func (e *InvariantError) Is(target error) bool { return target == ErrInvariant }

// The rule codes Check returns, as InvariantError.Rule.
const (
	RuleCourseActive          = "course-active"            // family.enrolled while a course is active, or dated before the last one ended
	RuleParentAndChild        = "members-parent-and-child" // family.enrolled without a parent or a child
	RuleFamilyErased          = "family-erased"            // any event after family.erased
	RuleNotEnrolled           = "not-enrolled"             // needs an active course, from its start
	RuleNeverEnrolled         = "never-enrolled"           // evaluation.recorded before any course, or dated before the first began
	RuleConsentNotInForce     = "consent-not-in-force"     // consent.withdrawn of a consent not in force
	RuleGPConsentMissing      = "gp-consent-missing"       // gp.consultation-held without gp-cooperation consent
	RuleMemberNotInTeam       = "member-not-in-team"       // team.member-left of someone not in the team
	RuleChildCaseOpen         = "childcase-open"
	RuleChildCaseNotOpen      = "childcase-not-open"
	RuleMeasureOpen           = "measure-open"
	RuleMeasureNotOpen        = "measure-not-open"
	RuleGoalExists            = "goal-exists" // goal.set with a goalId set before, even if closed since
	RuleGoalNotSet            = "goal-not-set"
	RuleGoalClosed            = "goal-closed"
	RuleBenefitActive         = "benefit-active"
	RuleBenefitNotActive      = "benefit-not-active"
	RulePraktikOpen           = "praktik-open"
	RulePraktikNotOpen        = "praktik-not-open"
	RuleWageSubsidyOpen       = "wagesubsidy-open"
	RuleWageSubsidyNotOpen    = "wagesubsidy-not-open"
	RuleLanguageCourseOpen    = "languagecourse-open"
	RuleLanguageCourseNotOpen = "languagecourse-not-open"
)

// Check reports whether e may be appended to the family's stream: nil, or
// an *InvariantError naming the broken invariant of the catalog (DOMAIN.md).
// Types without an invariant always pass. Check does not modify s; to check
// a batch, Apply each accepted event to a Clone before checking the next.
//
// An envelope that Check cannot read as this family's event (another
// family's subject, a nil payload or one of another type) is not an
// invariant matter: Check returns an *events.Error of kind invalid, which
// the envelope's parser should have caught.
//
// Consents and team membership are judged as of the event's time, as the
// fold places it (see the package comment): a consent.withdrawn or
// gp.consultation-held needs the consent in force at its time, a
// team.member-left the member in the team at its time, whatever was
// decided before or after. A decision already stored at that very time
// counts as earlier, since the event would be stored after it.
//
// Started/ended pairs (child cases, measures, benefits, praktik, wage
// subsidies, language courses) are checked against what is open now, as the
// catalog says ("not already open"): an id that was opened and closed may
// be opened again, so a department can resume a praktik under its old id.
// Goals are the exception the catalog makes: a goalId is never reused.
func (s *State) Check(e events.Envelope) error {
	if s.foreign(e) {
		return &events.Error{Kind: events.KindInvalid, Detail: "event of another family",
			Problems: []events.Problem{{Pointer: "/subject",
				Detail: fmt.Sprintf("family %q checked against the state of family %q", e.FamilyID, s.familyID)}}}
	}
	if e.Data != nil || (!e.Spec.IsLatest() && e.Spec.Name != "") {
		up, err := events.Upcast(e)
		if err != nil {
			return err
		}
		e = up
	}
	if !foldable(e) {
		return &events.Error{Kind: events.KindInvalid,
			Detail: fmt.Sprintf("payload %T does not belong to type %q", e.Data, e.Spec.Name)}
	}
	refuse := func(rule, pointer, format string, args ...any) error {
		return &InvariantError{Type: e.Spec.Name, Rule: rule, Pointer: pointer, Detail: fmt.Sprintf(format, args...)}
	}
	enrolled := func() error {
		if s.status != StatusEnrolled {
			return refuse(RuleNotEnrolled, "/subject", "family %s has no active course (status %s)", s.familyID, s.status)
		}
		if t := e.Time(); t.Before(s.courseBegan) {
			return refuse(RuleNotEnrolled, "/time", "the event is dated %s, before family %s's course began (%s)",
				t.UTC().Format(time.RFC3339), s.familyID, s.courseBegan.Format(time.RFC3339))
		}
		return nil
	}
	if s.erased {
		return refuse(RuleFamilyErased, "/subject", "family %s is erased: no event about it is stored after that", s.familyID)
	}

	switch d := e.Data.(type) {
	case *events.FamilyEnrolled:
		if s.status == StatusEnrolled {
			return refuse(RuleCourseActive, "/subject",
				"family %s is already in a course that started %s and has not ended", s.familyID, s.courseStart)
		}
		// A course dated before the previous one ended would overlap it:
		// at the enrolment's time that course was still active.
		if t := e.Time(); t.Before(s.courseEnded) {
			return refuse(RuleCourseActive, "/time", "the enrolment is dated %s, before family %s's previous course ended (%s)",
				stamp(e), s.familyID, s.courseEnded.Format(time.RFC3339))
		}
		// The catalog states this as an invariant (409), not as the
		// schema's shape, so validation leaves it to Check.
		var parents, children int
		for _, m := range d.Members {
			switch m.Role {
			case events.RoleParent:
				parents++
			case events.RoleChild:
				children++
			}
		}
		if parents == 0 || children == 0 {
			return refuse(RuleParentAndChild, "/data/members",
				"members must include at least one parent and one child (got %d parents, %d children)", parents, children)
		}

	case *events.ConsentWithdrawn:
		if !s.consents[consentKey{d.PersonID, d.Scope}].on(e.Time()) {
			return refuse(RuleConsentNotInForce, "/data/scope",
				"person %s had no %s consent in force to withdraw at %s", d.PersonID, d.Scope, stamp(e))
		}

	case *events.CaseworkerAssigned, *events.MakkerparAssigned, *events.TeamMemberJoined, *events.CourseEnded:
		return enrolled()

	case *events.TeamMemberLeft:
		if !s.team[d.EmployeeID].on(e.Time()) {
			return refuse(RuleMemberNotInTeam, "/data/employeeId",
				"employee %s was not a member of the team at %s", d.EmployeeID, stamp(e))
		}

	case *events.ChildCaseOpened:
		if _, ok := s.childCases[d.CaseID]; ok {
			return refuse(RuleChildCaseOpen, "/data/caseId", "child case %s is already open", d.CaseID)
		}
	case *events.ChildCaseClosed:
		if _, ok := s.childCases[d.CaseID]; !ok {
			return refuse(RuleChildCaseNotOpen, "/data/caseId", "child case %s is not open", d.CaseID)
		}

	case *events.MeasureStarted:
		if _, ok := s.measures[d.MeasureID]; ok {
			return refuse(RuleMeasureOpen, "/data/measureId", "measure %s is already running", d.MeasureID)
		}
	case *events.MeasureEnded:
		if _, ok := s.measures[d.MeasureID]; !ok {
			return refuse(RuleMeasureNotOpen, "/data/measureId", "measure %s is not running", d.MeasureID)
		}

	case *events.GoalSetV2:
		if err := enrolled(); err != nil {
			return err
		}
		if g, ok := s.goals[d.GoalID]; ok {
			state := "open"
			if g.Closed {
				state = "closed"
			}
			return refuse(RuleGoalExists, "/data/goalId",
				"goal %s was set before (now %s); a goal id is never reused", d.GoalID, state)
		}
	case *events.GoalProgressed:
		return s.goalOpen(d.GoalID, refuse)
	case *events.GoalClosed:
		return s.goalOpen(d.GoalID, refuse)

	case *events.BenefitGranted:
		if _, ok := s.benefits[benefitKey{d.PersonID, d.Benefit}]; ok {
			return refuse(RuleBenefitActive, "/data/benefit", "person %s already receives %s", d.PersonID, d.Benefit)
		}
	case *events.BenefitEnded:
		if _, ok := s.benefits[benefitKey{d.PersonID, d.Benefit}]; !ok {
			return refuse(RuleBenefitNotActive, "/data/benefit", "person %s does not receive %s", d.PersonID, d.Benefit)
		}

	case *events.PraktikStartedV2:
		if _, ok := s.praktik[d.PraktikID]; ok {
			return refuse(RulePraktikOpen, "/data/praktikId", "praktik %s is already open", d.PraktikID)
		}
	case *events.PraktikEnded:
		if _, ok := s.praktik[d.PraktikID]; !ok {
			return refuse(RulePraktikNotOpen, "/data/praktikId", "praktik %s is not open", d.PraktikID)
		}

	case *events.WageSubsidyStarted:
		if _, ok := s.subsidies[d.SubsidyID]; ok {
			return refuse(RuleWageSubsidyOpen, "/data/subsidyId", "wage subsidy %s is already open", d.SubsidyID)
		}
	case *events.WageSubsidyEnded:
		if _, ok := s.subsidies[d.SubsidyID]; !ok {
			return refuse(RuleWageSubsidyNotOpen, "/data/subsidyId", "wage subsidy %s is not open", d.SubsidyID)
		}

	case *events.LanguageCourseStarted:
		if _, ok := s.courses[d.CourseID]; ok {
			return refuse(RuleLanguageCourseOpen, "/data/courseId", "language course %s is already open", d.CourseID)
		}
	case *events.LanguageCourseEnded:
		if _, ok := s.courses[d.CourseID]; !ok {
			return refuse(RuleLanguageCourseNotOpen, "/data/courseId", "language course %s is not open", d.CourseID)
		}

	case *events.GPConsultationHeld:
		if !s.consents[consentKey{d.PersonID, events.ScopeGPCooperation}].on(e.Time()) {
			return refuse(RuleGPConsentMissing, "/data/personId",
				"person %s had no gp-cooperation consent in force at %s", d.PersonID, stamp(e))
		}

	case *events.EvaluationRecorded:
		// "Enrolled or ended": any family that has had a course, also one
		// referred again after it ended, so its last course can be evaluated.
		if s.status != StatusEnrolled && s.status != StatusEnded && s.enrolments == 0 {
			return refuse(RuleNeverEnrolled, "/subject",
				"family %s has never been enrolled in a course (status %s)", s.familyID, s.status)
		}
		// At its time the family must have been enrolled or ended: a
		// course must have begun by then.
		if t := e.Time(); t.Before(s.firstBegan) {
			return refuse(RuleNeverEnrolled, "/time", "the evaluation is dated %s, before family %s's first course began (%s)",
				stamp(e), s.familyID, s.firstBegan.Format(time.RFC3339))
		}
	}
	return nil
}

// stamp is e's time for a refusal's detail.
func stamp(e events.Envelope) string { return e.Time().UTC().Format(time.RFC3339) }

func (s *State) goalOpen(id string, refuse func(rule, pointer, format string, args ...any) error) error {
	g, ok := s.goals[id]
	if !ok {
		return refuse(RuleGoalNotSet, "/data/goalId", "goal %s has not been set", id)
	}
	if g.Closed {
		return refuse(RuleGoalClosed, "/data/goalId", "goal %s is closed (%s)", id, g.Outcome)
	}
	return nil
}
