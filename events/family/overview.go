package family

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"kk.dk/jobogfamilie/events"
)

// Overview is what a coordinator sees of a family at a glance (DOMAIN.md,
// "The family overview"), derived from its events only.
//
// It marshals to the same JSON for the same events in the same order: every
// slice is sorted by its ids (records without an id by person, then event
// time, then stream order), slices are never nil, and no field holds a map.
// Auditors compare digests of overviews, so keep it that way.
type Overview struct {
	FamilyID string `json:"familyId"`
	Status   Status `json:"status"`
	// Erased is set once family.erased is applied: every personal text
	// field of the overview then reads as the tombstone "[slettet]"
	// (package shred), as the erased entries of the timeline do.
	Erased bool `json:"erased,omitempty"`
	// ReferralReason is the reason of the latest family.referred in time.
	ReferralReason string `json:"referralReason,omitempty"`
	// CourseStart and PlannedEnd are from the latest enrolment.
	CourseStart string `json:"courseStart,omitempty"`
	PlannedEnd  string `json:"plannedEnd,omitempty"`
	// CourseEndReason is why the latest course ended: set from its
	// course.ended until the next enrolment, so also while a family whose
	// course ended is referred again; empty while a course is active.
	CourseEndReason string `json:"courseEndReason,omitempty"`
	// Members are those named by the latest enrolment, by personId.
	Members []Member `json:"members"`
	// Makkerpar is the current pair; nil before one is assigned.
	Makkerpar *Makkerpar `json:"makkerpar,omitempty"`
	// Caseworker is the current caseworker's employeeId.
	Caseworker string       `json:"caseworker,omitempty"`
	Team       []TeamMember `json:"team"`
	// Consents are those whose latest decision in time is a
	// consent.given. A decision may be dated ahead of a read (up to
	// events.MaxFuture), so the projector's reads replace them with those
	// in force at the read's moment (ConsentInForce).
	Consents []Consent `json:"consents"`
	// ChildCases, Measures, Benefits, Praktik, WageSubsidies and
	// LanguageCourses are those open or active now.
	ChildCases      []ChildCase      `json:"childCases"`
	Measures        []Measure        `json:"measures"`
	Benefits        []Benefit        `json:"benefits"`
	Praktik         []Praktik        `json:"praktik"`
	WageSubsidies   []WageSubsidy    `json:"wageSubsidies"`
	LanguageCourses []LanguageCourse `json:"languageCourses"`
	// Employments and Educations are every start recorded; the catalog has
	// no end events for them.
	Employments []Employment `json:"employments"`
	Educations  []Education  `json:"educations"`
	// Goals are all goals of Familiens Plan, closed ones included.
	Goals []Goal `json:"goals"`
	// SchoolAbsence is the latest period per child (by periodEnd).
	SchoolAbsence []SchoolAbsence `json:"schoolAbsence"`
	Evaluations   []Evaluation    `json:"evaluations"`

	EventsPerDepartment EventCounts `json:"eventsPerDepartment"`
	TotalEvents         int         `json:"totalEvents"`
	// LastEventTime is the latest CloudEvents time of any event applied (not
	// that of the last applied, which may be a backfill), in UTC.
	LastEventTime time.Time `json:"lastEventTime,omitzero"`
}

// Member is a person of the family.
type Member struct {
	PersonID  string `json:"personId"`
	Role      string `json:"role"`
	BirthYear int    `json:"birthYear,omitempty"`
}

// Makkerpar is the family's pair of primary contacts.
type Makkerpar struct {
	JobConsultantID string `json:"jobConsultantId"`
	FamilyWorkerID  string `json:"familyWorkerId"`
}

// TeamMember is a member of the interdisciplinary team.
type TeamMember struct {
	EmployeeID string `json:"employeeId"`
	Role       string `json:"role"`
}

// Consent is a consent in force.
type Consent struct {
	PersonID string `json:"personId"`
	Scope    string `json:"scope"`
}

// ConsentDecision is one consent event of a person and scope as the fold
// keeps it: whether it left the consent in force, and when it happened.
// Of a person's and scope's decisions, the one in force at a moment is the
// last not later than it (see the package comment and ConsentInForce).
type ConsentDecision struct {
	PersonID string    `json:"personId"`
	Scope    string    `json:"scope"`
	InForce  bool      `json:"inForce"`
	At       time.Time `json:"at"`
}

// ChildCase is an open child case. ChildID and LegalBasis are empty for a
// case opened by family.enrolled, which names case ids only.
type ChildCase struct {
	CaseID     string `json:"caseId"`
	ChildID    string `json:"childId,omitempty"`
	LegalBasis string `json:"legalBasis,omitempty"`
}

// Measure is a running measure.
type Measure struct {
	MeasureID string `json:"measureId"`
	Kind      string `json:"kind"`
	ChildID   string `json:"childId,omitempty"`
	Purpose   string `json:"purpose"`
}

// Benefit is a benefit a person receives.
type Benefit struct {
	PersonID string `json:"personId"`
	Benefit  string `json:"benefit"`
}

// Praktik is an open company internship.
type Praktik struct {
	PraktikID    string                 `json:"praktikId"`
	PersonID     string                 `json:"personId"`
	Employer     events.PraktikEmployer `json:"employer"`
	HoursPerWeek float64                `json:"hoursPerWeek"`
	PlannedEnd   string                 `json:"plannedEnd,omitempty"`
}

// WageSubsidy is an open employment with wage subsidy.
type WageSubsidy struct {
	SubsidyID  string `json:"subsidyId"`
	PersonID   string `json:"personId"`
	Employer   string `json:"employer"`
	Sector     string `json:"sector"`
	PlannedEnd string `json:"plannedEnd,omitempty"`
}

// LanguageCourse is an open language course.
type LanguageCourse struct {
	CourseID string `json:"courseId"`
	PersonID string `json:"personId"`
	Level    string `json:"level,omitempty"`
}

// Employment is a recorded start of work; Time is the event's time.
type Employment struct {
	PersonID     string    `json:"personId"`
	Kind         string    `json:"kind"`
	HoursPerWeek float64   `json:"hoursPerWeek,omitempty"`
	Time         time.Time `json:"time,omitzero"`
}

// Education is a recorded start of an education; Time is the event's time.
type Education struct {
	PersonID  string    `json:"personId"`
	Programme string    `json:"programme"`
	Time      time.Time `json:"time,omitzero"`
}

// Goal is a goal of Familiens Plan with its latest follow-up.
type Goal struct {
	GoalID string `json:"goalId"`
	Title  string `json:"title"`
	// Domains are 1–3 areas of life (goal.set.v2; a v1 goal has one).
	Domains []string `json:"domains"`
	// Description is personal free text, set only in v2.
	Description string `json:"description,omitempty"`
	PersonID    string `json:"personId,omitempty"`
	Due         string `json:"due,omitempty"`
	ExpressedBy string `json:"expressedBy"`
	// LatestAchievement is that of the latest goal.progressed in time (of
	// two at the same time, the later stored), and LatestAchievementAt its
	// time, in UTC: a backfilled older follow-up does not replace it.
	LatestAchievement   string    `json:"latestAchievement,omitempty"`
	LatestAchievementAt time.Time `json:"latestAchievementAt,omitzero"`
	Closed              bool      `json:"closed"`
	Outcome             string    `json:"outcome,omitempty"`
}

// SchoolAbsence is a child's latest absence period.
type SchoolAbsence struct {
	ChildID     string     `json:"childId"`
	PeriodStart string     `json:"periodStart"`
	PeriodEnd   string     `json:"periodEnd"`
	SchoolDays  int        `json:"schoolDays"`
	AbsentDays  AbsentDays `json:"absentDays"`
	// UnauthorisedShare is unauthorised absent days / school days (0–1),
	// the figure the pilot is to bring down; AbsentShare counts all kinds.
	// Both are 0 when schoolDays is not positive.
	UnauthorisedShare float64 `json:"unauthorisedShare"`
	AbsentShare       float64 `json:"absentShare"`
}

// AbsentDays splits absence by kind.
type AbsentDays struct {
	Sickness     int `json:"sickness"`
	Authorised   int `json:"authorised"`
	Unauthorised int `json:"unauthorised"`
}

// Evaluation is a recorded evaluation; Time is the event's time. The
// free-text note stays in the timeline.
type Evaluation struct {
	Kind               string    `json:"kind"`
	FamilySatisfaction int       `json:"familySatisfaction,omitempty"`
	ChildWellbeing     int       `json:"childWellbeing,omitempty"`
	Time               time.Time `json:"time,omitzero"`
}

// Overview returns the family overview. The result shares nothing with s.
func (s *State) Overview() Overview {
	o := Overview{
		FamilyID:            s.familyID,
		Status:              s.status,
		Erased:              s.erased,
		ReferralReason:      s.referralReason,
		CourseStart:         s.courseStart,
		PlannedEnd:          s.plannedEnd,
		CourseEndReason:     s.courseEndReason,
		Members:             append([]Member{}, s.members...),
		Caseworker:          s.caseworker,
		ChildCases:          sortedValues(s.childCases),
		Measures:            sortedValues(s.measures),
		Praktik:             sortedValues(s.praktik),
		WageSubsidies:       sortedValues(s.subsidies),
		LanguageCourses:     sortedValues(s.courses),
		Goals:               sortedValues(s.goals),
		SchoolAbsence:       sortedValues(s.absence),
		Team:                []TeamMember{},
		Consents:            []Consent{},
		Benefits:            []Benefit{},
		EventsPerDepartment: s.perDept,
		TotalEvents:         s.total,
		LastEventTime:       s.lastTime,
	}
	if s.makkerpar != (Makkerpar{}) {
		m := s.makkerpar
		o.Makkerpar = &m
	}
	for _, id := range slices.Sorted(maps.Keys(s.team)) {
		if d, _ := s.team[id].last(); d.On {
			o.Team = append(o.Team, TeamMember{EmployeeID: id, Role: d.Role})
		}
	}
	for k, h := range s.consents {
		if h.now() {
			o.Consents = append(o.Consents, Consent{PersonID: k.personID, Scope: k.scope})
		}
	}
	slices.SortFunc(o.Consents, func(a, b Consent) int {
		return cmp.Or(cmp.Compare(a.PersonID, b.PersonID), cmp.Compare(a.Scope, b.Scope))
	})
	for k := range s.benefits {
		o.Benefits = append(o.Benefits, Benefit{PersonID: k.personID, Benefit: k.benefit})
	}
	slices.SortFunc(o.Benefits, func(a, b Benefit) int {
		return cmp.Or(cmp.Compare(a.PersonID, b.PersonID), cmp.Compare(a.Benefit, b.Benefit))
	})
	// Records without ids: stable sorts keep stream order among equals.
	o.Employments = s.employments.all()
	slices.SortStableFunc(o.Employments, func(a, b Employment) int {
		return cmp.Or(cmp.Compare(a.PersonID, b.PersonID), a.Time.Compare(b.Time))
	})
	o.Educations = s.educations.all()
	slices.SortStableFunc(o.Educations, func(a, b Education) int {
		return cmp.Or(cmp.Compare(a.PersonID, b.PersonID), a.Time.Compare(b.Time))
	})
	o.Evaluations = s.evaluations.all()
	slices.SortStableFunc(o.Evaluations, func(a, b Evaluation) int { return a.Time.Compare(b.Time) })
	return o
}

// sortedValues returns the map's values ordered by key, never nil. Every map
// it is used on is keyed by the id its values carry.
func sortedValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// newSchoolAbsence derives the overview entry from the event. The shares
// guard against a non-positive schoolDays, which only a direct publish can
// bring: a NaN or an infinity would make the overview unmarshalable.
func newSchoolAbsence(d *events.SchoolAbsenceNoted) SchoolAbsence {
	a := SchoolAbsence{ChildID: d.ChildID, PeriodStart: d.PeriodStart, PeriodEnd: d.PeriodEnd,
		SchoolDays: d.SchoolDays, AbsentDays: AbsentDays(d.AbsentDays)}
	if d.SchoolDays > 0 {
		days := float64(d.SchoolDays)
		a.UnauthorisedShare = float64(d.AbsentDays.Unauthorised) / days
		a.AbsentShare = float64(d.AbsentDays.Sickness+d.AbsentDays.Authorised+d.AbsentDays.Unauthorised) / days
	}
	return a
}
