// Package family folds the events of one family into its current state, the
// family overview of DOMAIN.md, and says whether a new event would break an
// invariant of the event catalog.
//
// Both sides of the system use it, so the rules are written once: ingest
// checks every event (or a batch, against a Clone) with Check before storing
// it and answers 409 when it fails; the projector folds every stored event
// with Apply and serves Overview and CanRead to coordinators.
//
// Check is strict and Apply is lenient. Events can reach the stream without
// passing ingest (department systems may publish to NATS directly), so Apply
// accepts anything and folds what it can: ending a praktik that is not open
// just leaves it not open, a second enrolment replaces the first, and so on.
// Apply never fails and never panics.
//
// Events are applied in stream order, the order in which they were stored,
// not sorted by their CloudEvents time. A backfilled event whose time lies
// before events stored earlier is applied when it arrives: the state is what
// the store knew, in the order it learned it, so a replay of the stream
// always yields the same state as the live fold did. Only where a field is
// itself about time does the time win over arrival: LastEventTime is the
// latest event time seen; the latest school absence of a child is the
// period that ends last, so backfilling an older period does not hide a
// newer one; a goal's latest achievement is that of its latest progress
// in time; a family.referred makes a family whose course ended referred
// again only when it is dated after that end; and who is assigned (the
// caseworker, the makkerpar, each team member) and which consents are in
// force are decided by the latest event in time about each (of two at the
// same time, the later stored), so a backfilled assignment or
// consent.given older than the latest decision changes nothing: it cannot
// give back access or a consent that was ended after it.
//
// Check judges an event as of its time, where the fold places it. For each
// consent (person and scope) and each team member the state keeps every
// decision in time order, so that a consent.withdrawn, team.member-left or
// gp.consultation-held is judged by what held at its time: a backfilled
// episode that was consistent then is accepted, and a withdrawal or a
// leaving dated before the consent or the joining it would end is refused,
// rather than stored and then ignored by the fold. Check refuses an event
// that needs an active course and is dated before the course began, a
// family.enrolled dated before the previous course ended (the two would
// overlap), an evaluation.recorded dated before the first course began,
// and every event about an erased family.
package family

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Copenhagen also where the system has no zone files

	"kk.dk/jobogfamilie/events"
)

// Status is where a family stands in Job og Familie.
type Status string

// The statuses of DOMAIN.md's overview.
const (
	// StatusKnown: events about the family exist (a baseline), but it has
	// not been referred or enrolled.
	StatusKnown Status = "known"
	// StatusReferred: referred (visiteret), not yet enrolled; also a family
	// whose course ended and that has been referred again.
	StatusReferred Status = "referred"
	// StatusEnrolled: a course is active.
	StatusEnrolled Status = "enrolled"
	// StatusEnded: the last course ended.
	StatusEnded Status = "ended"
)

type consentKey struct{ personID, scope string }

type benefitKey struct{ personID, benefit string }

// State is one family's folded state. The zero value is not ready for use;
// call New.
//
// A State is not safe for concurrent mutation, but once no goroutine calls
// Apply on it any number of goroutines may call its read methods (Check,
// Overview, CanRead, …): none of them mutates or caches anything. The
// projector can therefore publish a Clone and keep applying to the original.
type State struct {
	familyID string
	status   Status
	// enrolments counts family.enrolled events, so that a course that has
	// ended is still known once the family has been referred again.
	enrolments int
	// referralReason is the reason of the latest family.referred in time
	// (of two at the same time, the later stored), referredAt its time.
	referralReason string
	referredAt     time.Time

	courseStart, plannedEnd, courseEndReason string

	// members is replaced as a whole by each enrolment and never modified
	// in place, so clones can share it.
	members []Member

	// courseBegan is when the latest course began: the earlier of its
	// family.enrolled's time and the first moment, in Copenhagen, of the
	// courseStart it names (an enrolment recorded after the course began),
	// but never before the previous course ended (courseEnded).
	courseBegan, courseEnded time.Time
	// firstBegan is when the first course began (courseBegan of the first
	// enrolment): an evaluation needs a course begun by its time.
	firstBegan time.Time
	// erased: family.erased is applied; no event may follow it.
	erased bool

	caseworker string
	makkerpar  Makkerpar
	// decided is, for the caseworker and the makkerpar, whose latest
	// event in time wins (see the package comment; slot names the
	// matter), that event's time.
	decided map[string]time.Time

	// team and consents are the decisions about each team member
	// (employeeId; on: joined, with its role) and each consent (on:
	// given), in time order (see history). A member is in the team, a
	// consent in force, when the last decision is on.
	team     map[string]history
	consents map[consentKey]history

	benefits   map[benefitKey]struct{} // active
	childCases map[string]ChildCase    // open, by caseId
	measures   map[string]Measure      // open, by measureId
	praktik    map[string]Praktik      // open, by praktikId
	subsidies  map[string]WageSubsidy  // open, by subsidyId
	courses    map[string]LanguageCourse
	goals      map[string]Goal          // every goal ever set, closed or not
	absence    map[string]SchoolAbsence // latest period per child

	// Append-only records in stream order; clones share them (see records).
	employments records[Employment]
	educations  records[Education]
	evaluations records[Evaluation]

	perDept  EventCounts
	total    int
	lastTime time.Time

	// shared marks the maps a clone may also hold (see Clone and own).
	shared uint16
}

// New returns the state of a family of which no event has been applied yet.
func New(familyID string) *State {
	s := &State{familyID: familyID, status: StatusKnown}
	s.ensureMaps()
	return s
}

// ensureMaps makes the maps that are still nil, so that Apply cannot panic
// on a State that was not made by New.
func (s *State) ensureMaps() {
	if s.team == nil {
		s.team = map[string]history{}
	}
	if s.decided == nil {
		s.decided = map[string]time.Time{}
	}
	if s.consents == nil {
		s.consents = map[consentKey]history{}
	}
	if s.benefits == nil {
		s.benefits = map[benefitKey]struct{}{}
	}
	if s.childCases == nil {
		s.childCases = map[string]ChildCase{}
	}
	if s.measures == nil {
		s.measures = map[string]Measure{}
	}
	if s.praktik == nil {
		s.praktik = map[string]Praktik{}
	}
	if s.subsidies == nil {
		s.subsidies = map[string]WageSubsidy{}
	}
	if s.courses == nil {
		s.courses = map[string]LanguageCourse{}
	}
	if s.goals == nil {
		s.goals = map[string]Goal{}
	}
	if s.absence == nil {
		s.absence = map[string]SchoolAbsence{}
	}
	if s.status == "" {
		s.status = StatusKnown
	}
}

// Clone returns a deep copy: applying events to either leaves the other as
// it was. Ingest checks a batch against a clone and throws it away when one
// event fails. The two share their maps until either writes to one, which
// copies that map first (Clone therefore marks s too, and is called where
// Apply may be); map values are plain structs, or histories that are never
// modified in place (history.add), so copying a map suffices.
// The append-only slices are shared with their capacity clipped.
func (s *State) Clone() *State {
	s.shared = sharedAll
	c := *s
	c.members = slices.Clip(s.members)
	c.employments = s.employments.clone()
	c.educations = s.educations.clone()
	c.evaluations = s.evaluations.clone()
	return &c
}

// The bits of State.shared: which maps the state may share with a clone.
const (
	sharedTeam uint16 = 1 << iota
	sharedConsents
	sharedBenefits
	sharedChildCases
	sharedMeasures
	sharedPraktik
	sharedSubsidies
	sharedCourses
	sharedGoals
	sharedAbsence
	sharedDecided
	sharedAll = 1<<iota - 1
)

// own returns *m for writing: a copy of its own first, when the map may
// be shared with a clone.
func own[K comparable, V any](s *State, m *map[K]V, bit uint16) map[K]V {
	if s.shared&bit != 0 {
		*m = maps.Clone(*m)
		s.shared &^= bit
	}
	return *m
}

// FamilyID is the family whose events the state folds.
func (s *State) FamilyID() string { return s.familyID }

// Status is where the family stands now.
func (s *State) Status() Status { return s.status }

// Events is the number of events applied.
func (s *State) Events() int { return s.total }

// foreign reports whether e belongs to another family than s. An empty id on
// either side matches, so that tests and tools can fold without one.
func (s *State) foreign(e events.Envelope) bool {
	return s.familyID != "" && e.FamilyID != "" && e.FamilyID != s.familyID
}

// latest is e as the latest version of its type (events.Upcast), the
// shape Apply and Check read: a goal set in v1 is the same goal for a
// goal.progressed sent after v2 arrived, and praktik.ended closes a praktik
// started in either version. An event the upcast refuses (which its
// version's schema accepted, so a fault of the upcaster) is left as it is,
// and counted but not folded.
func latest(e events.Envelope) events.Envelope {
	if e.Data == nil && (e.Spec.Name == "" || e.Spec.IsLatest()) {
		return e
	}
	if up, err := events.Upcast(e); err == nil {
		return up
	}
	return e
}

// foldable reports whether e carries a payload that Apply and Check can
// read: non-nil, and of the Go type its catalog entry names.
func foldable(e events.Envelope) bool {
	if e.Data == nil {
		return false
	}
	if v := reflect.ValueOf(e.Data); v.Kind() == reflect.Pointer && v.IsNil() {
		return false
	}
	return e.Data.EventName() == e.Spec.Name
}

// Apply folds e into the state. It never fails and never panics: an event
// that breaks an invariant is folded as well as it can be (see the package
// comment), because it is in the store and the overview must reflect the
// store. An event of another family is ignored; one whose payload is nil or
// does not match its type is only counted.
func (s *State) Apply(e events.Envelope) {
	if s == nil || s.foreign(e) {
		return
	}
	s.ensureMaps()
	s.count(e)
	e = latest(e)
	if !foldable(e) {
		return
	}
	t := e.Time().UTC()
	switch d := e.Data.(type) {
	case *events.FamilyReferred:
		// A referral during an active course changes nothing; after a course
		// ended it starts a new referral. One dated before the last course
		// ended (the referral that led to a course, recorded late) is no
		// new referral: the family stays ended.
		if s.status != StatusEnrolled && !t.Before(s.courseEnded) {
			s.status = StatusReferred
		}
		if !t.Before(s.referredAt) {
			s.referralReason, s.referredAt = d.Reason, t
		}
	case *events.FamilyEnrolled:
		s.enrol(d, t)
	case *events.FamilyErased:
		s.erased = true
	case *events.ConsentGiven:
		s.decideConsent(consentKey{d.PersonID, d.Scope}, decision{At: t, On: true})
	case *events.ConsentWithdrawn:
		s.decideConsent(consentKey{d.PersonID, d.Scope}, decision{At: t})
	case *events.CaseworkerAssigned:
		// The family has one caseworker: a new one replaces the previous.
		if s.newest(slotCaseworker, t) {
			s.caseworker = d.EmployeeID
		}
	case *events.MakkerparAssigned:
		if s.newest(slotMakkerpar, t) {
			s.makkerpar = Makkerpar{JobConsultantID: d.JobConsultantID, FamilyWorkerID: d.FamilyWorkerID}
		}
	case *events.TeamMemberJoined:
		s.decideTeam(d.EmployeeID, decision{At: t, On: true, Role: d.Role})
	case *events.TeamMemberLeft:
		s.decideTeam(d.EmployeeID, decision{At: t})
	case *events.ChildCaseOpened:
		own(s, &s.childCases, sharedChildCases)[d.CaseID] = ChildCase{CaseID: d.CaseID, ChildID: d.ChildID, LegalBasis: d.LegalBasis}
	case *events.ChildCaseClosed:
		delete(own(s, &s.childCases, sharedChildCases), d.CaseID)
	case *events.MeasureStarted:
		own(s, &s.measures, sharedMeasures)[d.MeasureID] = Measure{MeasureID: d.MeasureID, Kind: d.Kind, ChildID: d.ChildID, Purpose: d.Purpose}
	case *events.MeasureEnded:
		delete(own(s, &s.measures, sharedMeasures), d.MeasureID)
	case *events.GoalSetV2:
		// A goalId set twice (only possible around ingest) redefines the
		// goal from scratch: the later definition is what the plan says.
		own(s, &s.goals, sharedGoals)[d.GoalID] = Goal{GoalID: d.GoalID, Title: d.Title, Domains: d.Domains,
			Description: d.Description, PersonID: d.PersonID, Due: d.Due, ExpressedBy: d.ExpressedBy}
	case *events.GoalProgressed:
		// Progress on a goal never set is dropped: there is no goal to show
		// it on, and inventing one would make its later goal.set look like
		// a duplicate. Progress on a closed goal is still recorded. The
		// latest achievement is that of the latest progress in time (of two
		// at the same time, the later stored): a backfilled older one does
		// not replace it.
		if g, ok := s.goals[d.GoalID]; ok && !t.Before(g.LatestAchievementAt) {
			g.LatestAchievement, g.LatestAchievementAt = d.Achievement, t
			own(s, &s.goals, sharedGoals)[d.GoalID] = g
		}
	case *events.GoalClosed:
		if g, ok := s.goals[d.GoalID]; ok {
			g.Closed, g.Outcome = true, d.Outcome
			own(s, &s.goals, sharedGoals)[d.GoalID] = g
		}
	case *events.BenefitGranted:
		own(s, &s.benefits, sharedBenefits)[benefitKey{d.PersonID, d.Benefit}] = struct{}{}
	case *events.BenefitEnded:
		delete(own(s, &s.benefits, sharedBenefits), benefitKey{d.PersonID, d.Benefit})
	case *events.PraktikStartedV2:
		own(s, &s.praktik, sharedPraktik)[d.PraktikID] = Praktik{PraktikID: d.PraktikID, PersonID: d.PersonID,
			Employer: d.Employer, HoursPerWeek: d.HoursPerWeek, PlannedEnd: d.PlannedEnd}
	case *events.PraktikEnded:
		delete(own(s, &s.praktik, sharedPraktik), d.PraktikID)
	case *events.WageSubsidyStarted:
		own(s, &s.subsidies, sharedSubsidies)[d.SubsidyID] = WageSubsidy{SubsidyID: d.SubsidyID, PersonID: d.PersonID,
			Employer: d.Employer, Sector: d.Sector, PlannedEnd: d.PlannedEnd}
	case *events.WageSubsidyEnded:
		delete(own(s, &s.subsidies, sharedSubsidies), d.SubsidyID)
	case *events.LanguageCourseStarted:
		own(s, &s.courses, sharedCourses)[d.CourseID] = LanguageCourse{CourseID: d.CourseID, PersonID: d.PersonID, Level: d.Level}
	case *events.LanguageCourseEnded:
		delete(own(s, &s.courses, sharedCourses), d.CourseID)
	case *events.EmploymentStarted:
		s.employments.add(Employment{PersonID: d.PersonID, Kind: d.Kind,
			HoursPerWeek: d.HoursPerWeek, Time: t})
	case *events.EducationStarted:
		s.educations.add(Education{PersonID: d.PersonID, Programme: d.Programme, Time: t})
	case *events.SchoolAbsenceNoted:
		// The latest period is the one that ends last, whatever order the
		// periods arrive in; of two that end the same day the later
		// arrival wins, since it is a correction of the earlier one.
		if cur, ok := s.absence[d.ChildID]; !ok || d.PeriodEnd >= cur.PeriodEnd {
			own(s, &s.absence, sharedAbsence)[d.ChildID] = newSchoolAbsence(d)
		}
	case *events.CourseEnded:
		s.status = StatusEnded
		s.courseEndReason = d.Reason
		s.courseEnded = t
	case *events.EvaluationRecorded:
		s.evaluations.add(Evaluation{Kind: d.Kind,
			FamilySatisfaction: d.FamilySatisfaction, ChildWellbeing: d.ChildWellbeing, Time: t})
	}
	// meeting.held, ppr.referred, leisure.started, wellbeing.measured,
	// gp.consultation-held, health.assessed and health.referred are part of
	// the timeline only; they are counted above and change no state.
}

// ConsentDecisions are every consent decision of every person and scope a
// consent event named: by person and scope, then in time order (of two at
// one time, the later stored last, as in the fold); never nil. The whole
// history is kept, not only the latest decision, because a decision may be
// dated ahead of the moment it is read at (ingest accepts times up to
// events.MaxFuture ahead): the consent in force at a read is the last
// decision not later than the read's moment (ConsentInForce).
func (s *State) ConsentDecisions() []ConsentDecision {
	keys := slices.SortedFunc(maps.Keys(s.consents), func(a, b consentKey) int {
		return cmp.Or(cmp.Compare(a.personID, b.personID), cmp.Compare(a.scope, b.scope))
	})
	out := []ConsentDecision{}
	for _, k := range keys {
		for _, d := range s.consents[k] {
			out = append(out, ConsentDecision{PersonID: k.personID, Scope: k.scope, InForce: d.On, At: d.At})
		}
	}
	return out
}

// ConsentInForce reports, of decisions of one person and scope in time
// order (as ConsentDecisions lists them), whether the one in force at t,
// the last not later than t, left the consent in force. A decision dated
// after t is not in force yet.
func ConsentInForce(decisions []ConsentDecision, t time.Time) bool {
	for i := len(decisions) - 1; i >= 0; i-- {
		if !t.Before(decisions[i].At) {
			return decisions[i].InForce
		}
	}
	return false
}

// Copenhagen is the time zone of the pilot's days. A date (courseStart, a
// school absence's period, the evaluation's asOf, the web app's date
// filters) is a day in Copenhagen: a Copenhagen municipality's 1 March
// begins at 00:00 there, an hour (in summer two) before 1 March in UTC.
var Copenhagen = func() *time.Location {
	l, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		return time.UTC
	}
	return l
}()

// ParseDay is the first moment in Copenhagen of the date s (YYYY-MM-DD).
func ParseDay(s string) (time.Time, error) {
	return time.ParseInLocation(time.DateOnly, s, Copenhagen)
}

// ParseMoment reads a query's moment: a date, the first moment of that day
// in Copenhagen (ParseDay), or an RFC 3339 time with its own offset
// (ParseInstant), within the years 1900–2200. Every read path's from, to
// and asOf that take a date read it so: the coordinator timeline, the
// evaluation and the audit service.
func ParseMoment(s string) (time.Time, error) {
	if t, err := ParseDay(s); err == nil {
		return inRange(s, t)
	}
	return ParseInstant(s)
}

// ParseInstant reads a query's time: an RFC 3339 time with its own
// offset, within the years 1900–2200, where the '+' of the offset may
// have been left unencoded (queryOffset). Every read path's time that
// takes no date reads it so: the evaluation's knownAt and the audit
// timeline's asOf.
func ParseInstant(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, queryOffset(s))
	if err != nil {
		return time.Time{}, err
	}
	return inRange(s, t)
}

func inRange(s string, t time.Time) (time.Time, error) {
	if !InRange(t) {
		return time.Time{}, fmt.Errorf("%s is not within the years 1900–2200", s)
	}
	return t, nil
}

// queryOffset gives back the '+' of a time's offset that a query string
// turned into a space: in application/x-www-form-urlencoded a '+' is a
// space, so Copenhagen's 2024-05-01T11:30:00+02:00 written into a URL
// as it is arrives as "2024-05-01T11:30:00 02:00". No RFC 3339 time holds
// a space, so one just before a trailing hh:mm, and nowhere else, can
// only have been that '+'.
func queryOffset(v string) string {
	if i := len(v) - len(" 00:00"); i > 0 && v[i] == ' ' && strings.IndexByte(v[:i], ' ') < 0 {
		return v[:i] + "+" + v[i+1:]
	}
	return v
}

// InRange reports whether t is within the years 1900 to 2200, the moments
// a query may name: outside them a time's nanoseconds since 1970 do not
// fit the 64 bits the read model and the evaluation compare.
func InRange(t time.Time) bool { return t.Year() >= 1900 && t.Year() <= 2200 }

// CourseBegan is when a course enrolled at t began: at t or, if earlier,
// at the first moment in Copenhagen of its courseStart day (an enrolment
// recorded after the course began), but never before the previous course
// ended (prevEnd; the zero time when there is none).
func CourseBegan(t time.Time, courseStart string, prevEnd time.Time) time.Time {
	began := t
	if d, err := ParseDay(courseStart); err == nil && d.Before(t) {
		began = d.UTC()
	}
	if began.Before(prevEnd) && !prevEnd.After(t) {
		began = prevEnd
	}
	return began
}

// The matters whose latest event in time wins (newest's slot).
const (
	slotCaseworker = "caseworker"
	slotMakkerpar  = "makkerpar"
)

// newest reports whether an event at t is not older than the latest event
// applied to the matter slot, and if so records t as that. The first event
// about a matter always is.
func (s *State) newest(slot string, t time.Time) bool {
	if last, ok := s.decided[slot]; ok && t.Before(last) {
		return false
	}
	own(s, &s.decided, sharedDecided)[slot] = t
	return true
}

// decision is one event in the history of a consent or a team member: when
// it happened, and whether it left the consent in force or the member in
// the team (on), with the role the member joined in.
type decision struct {
	At   time.Time `json:"at"`
	On   bool      `json:"on,omitempty"`
	Role string    `json:"role,omitempty"`
}

// history is the decisions about one matter in time order; of two at the
// same time the later stored comes later, as it is the later decision. It
// is never modified in place (add copies), so that clones may share it.
// A family has few such events, so keeping all of them is cheap, and Check
// needs all of them: a backfilled decision may fall between any two.
type history []decision

// add returns h with d placed after every decision not later than d.
func (h history) add(d decision) history {
	i := len(h)
	for i > 0 && d.At.Before(h[i-1].At) {
		i--
	}
	return slices.Concat(h[:i:i], history{d}, h[i:])
}

// at is the decision in force at t: the last one not later than t (an
// event at t is stored after those already at t). ok is false when there
// was none by then.
func (h history) at(t time.Time) (d decision, ok bool) {
	i := len(h)
	for i > 0 && t.Before(h[i-1].At) {
		i--
	}
	if i == 0 {
		return decision{}, false
	}
	return h[i-1], true
}

// on reports whether the decision in force at t is on.
func (h history) on(t time.Time) bool {
	d, _ := h.at(t)
	return d.On
}

// last is the decision in force now.
func (h history) last() (decision, bool) {
	if len(h) == 0 {
		return decision{}, false
	}
	return h[len(h)-1], true
}

// now reports whether the decision in force now is on.
func (h history) now() bool {
	d, _ := h.last()
	return d.On
}

// decideConsent adds d to the history of the consent k.
func (s *State) decideConsent(k consentKey, d decision) {
	h := s.consents[k].add(d)
	own(s, &s.consents, sharedConsents)[k] = h
}

// decideTeam adds d to the history of the team member id.
func (s *State) decideTeam(id string, d decision) {
	h := s.team[id].add(d)
	own(s, &s.team, sharedTeam)[id] = h
}

// count records e in the per-department and total counts and the latest
// event time, for every event, foldable or not.
func (s *State) count(e events.Envelope) {
	s.total++
	s.perDept.Add(e.Department)
	if t := e.Time(); t.After(s.lastTime) {
		s.lastTime = t.UTC()
	}
}

// enrol starts a course. A second enrolment (only possible around ingest, or
// after the previous course ended) replaces course dates and members; child
// cases and benefits named in it are opened in addition to those already
// open, and an already open child case keeps what childcase.opened said.
func (s *State) enrol(d *events.FamilyEnrolled, t time.Time) {
	s.status = StatusEnrolled
	s.courseBegan = CourseBegan(t, d.CourseStart, s.courseEnded)
	if s.enrolments == 0 {
		s.firstBegan = s.courseBegan
	}
	s.enrolments++
	s.courseStart, s.plannedEnd, s.courseEndReason = d.CourseStart, d.PlannedEnd, ""
	members := make([]Member, 0, len(d.Members))
	for _, m := range d.Members {
		members = append(members, Member{PersonID: m.PersonID, Role: m.Role, BirthYear: m.BirthYear})
	}
	slices.SortStableFunc(members, func(a, b Member) int { return cmp.Compare(a.PersonID, b.PersonID) })
	s.members = members
	for _, id := range d.ChildCaseIDs {
		if _, open := s.childCases[id]; !open {
			own(s, &s.childCases, sharedChildCases)[id] = ChildCase{CaseID: id}
		}
	}
	for _, b := range d.ParentBenefits {
		own(s, &s.benefits, sharedBenefits)[benefitKey{b.PersonID, b.Benefit}] = struct{}{}
	}
}
