package family

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// SnapshotVersion names the fold rules a snapshot was made with. A store of
// snapshots (ingest's index) made under another version is folded again
// from the events: raise it whenever Apply folds an event differently or
// State gains a field that older snapshots cannot supply by its zero value.
// A new version of an event type needs no raise for that alone: the stores
// record events.NewestFingerprint too, and one of another catalog is folded
// again likewise.
//
// Version 3 keeps every decision about a consent or a team member, in time
// order (snapshot.Team and Consents), where version 2 kept only the time of
// the latest (in Decided) and who and what was in force; Check needs them
// all to judge an event as of its time. Version 4 leaves a family whose
// course ended ended when a family.referred dated before that end arrives,
// keeps when the first course began (FirstBegan), which older snapshots
// lack, and takes a goal's latest achievement from its latest progress in
// time. Version 5 marks an erased family's overview (Overview.Erased),
// which read models folded before lack, and takes the referral's reason
// from the latest family.referred in time (ReferredAt).
const SnapshotVersion = 5

// snapshot is State as stored: every field, exported for encoding/json.
// Decoding ignores members it does not know and leaves missing ones at
// their zero value, so a field added later reads from older snapshots as
// zero (see SnapshotVersion for when that is not enough).
type snapshot struct {
	V               int       `json:"v"`
	FamilyID        string    `json:"familyId"`
	Status          Status    `json:"status"`
	Enrolments      int       `json:"enrolments,omitempty"`
	ReferralReason  string    `json:"referralReason,omitempty"`
	ReferredAt      time.Time `json:"referredAt,omitzero"`
	CourseStart     string    `json:"courseStart,omitempty"`
	PlannedEnd      string    `json:"plannedEnd,omitempty"`
	CourseEndReason string    `json:"courseEndReason,omitempty"`
	Members         []Member  `json:"members,omitempty"`
	CourseBegan     time.Time `json:"courseBegan,omitzero"`
	CourseEnded     time.Time `json:"courseEnded,omitzero"`
	FirstBegan      time.Time `json:"firstBegan,omitzero"`
	Erased          bool      `json:"erased,omitempty"`
	Caseworker      string    `json:"caseworker,omitempty"`
	Makkerpar       Makkerpar `json:"makkerpar,omitzero"`
	// Decided is State.decided.
	Decided map[string]time.Time `json:"decided,omitempty"`
	// Team and Consents are the histories of State.team and
	// State.consents, each in time order. Their names are not version 2's
	// (team, consents), which held the members and consents in force.
	Team     map[string]history `json:"teamDecisions,omitempty"`
	Consents []consentHistory   `json:"consentDecisions,omitempty"`

	Benefits   []Benefit                 `json:"benefits,omitempty"`
	ChildCases map[string]ChildCase      `json:"childCases,omitempty"`
	Measures   map[string]Measure        `json:"measures,omitempty"`
	Praktik    map[string]Praktik        `json:"praktik,omitempty"`
	Subsidies  map[string]WageSubsidy    `json:"subsidies,omitempty"`
	Courses    map[string]LanguageCourse `json:"courses,omitempty"`
	Goals      map[string]Goal           `json:"goals,omitempty"`
	Absence    map[string]SchoolAbsence  `json:"absence,omitempty"`

	Employments []Employment `json:"employments,omitempty"`
	Educations  []Education  `json:"educations,omitempty"`
	Evaluations []Evaluation `json:"evaluations,omitempty"`

	PerDept  EventCounts `json:"perDept"`
	Total    int         `json:"total"`
	LastTime time.Time   `json:"lastTime,omitzero"`
}

// consentHistory is the history of one person's consent of one scope.
type consentHistory struct {
	PersonID  string  `json:"personId"`
	Scope     string  `json:"scope"`
	Decisions history `json:"decisions"`
}

// MarshalBinary encodes the whole state, so that UnmarshalBinary gives a
// state that checks and folds every later event as this one would.
func (s *State) MarshalBinary() ([]byte, error) {
	p := snapshot{
		V: SnapshotVersion, FamilyID: s.familyID, Status: s.status, Enrolments: s.enrolments,
		ReferralReason: s.referralReason, ReferredAt: s.referredAt, CourseStart: s.courseStart, PlannedEnd: s.plannedEnd,
		CourseEndReason: s.courseEndReason, Members: s.members, CourseBegan: s.courseBegan, CourseEnded: s.courseEnded, FirstBegan: s.firstBegan,
		Erased:     s.erased,
		Caseworker: s.caseworker, Makkerpar: s.makkerpar, Decided: s.decided, Team: s.team, ChildCases: s.childCases, Measures: s.measures,
		Praktik: s.praktik, Subsidies: s.subsidies, Courses: s.courses, Goals: s.goals,
		Absence: s.absence, Employments: s.employments.all(), Educations: s.educations.all(),
		Evaluations: s.evaluations.all(), PerDept: s.perDept, Total: s.total, LastTime: s.lastTime,
	}
	for k, h := range s.consents {
		p.Consents = append(p.Consents, consentHistory{PersonID: k.personID, Scope: k.scope, Decisions: h})
	}
	for k := range s.benefits {
		p.Benefits = append(p.Benefits, Benefit{PersonID: k.personID, Benefit: k.benefit})
	}
	// Sets in a fixed order, so that equal states encode equally.
	slices.SortFunc(p.Consents, func(a, b consentHistory) int { return cmpPair(a.PersonID, a.Scope, b.PersonID, b.Scope) })
	slices.SortFunc(p.Benefits, func(a, b Benefit) int { return cmpPair(a.PersonID, a.Benefit, b.PersonID, b.Benefit) })
	return json.Marshal(p)
}

func cmpPair(a1, a2, b1, b2 string) int {
	switch {
	case a1 < b1:
		return -1
	case a1 > b1:
		return 1
	case a2 < b2:
		return -1
	case a2 > b2:
		return 1
	}
	return 0
}

// UnmarshalBinary replaces s with the state MarshalBinary encoded. A
// snapshot of a newer SnapshotVersion is refused: its fold may hold what
// this one cannot read.
func (s *State) UnmarshalBinary(b []byte) error {
	var p snapshot
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("family: snapshot: %w", err)
	}
	if p.V > SnapshotVersion {
		return fmt.Errorf("family: snapshot of version %d, newer than %d", p.V, SnapshotVersion)
	}
	*s = State{
		familyID: p.FamilyID, status: p.Status, enrolments: p.Enrolments, referralReason: p.ReferralReason, referredAt: p.ReferredAt,
		courseStart: p.CourseStart, plannedEnd: p.PlannedEnd, courseEndReason: p.CourseEndReason,
		members: p.Members, courseBegan: p.CourseBegan, courseEnded: p.CourseEnded, firstBegan: p.FirstBegan,
		erased: p.Erased, caseworker: p.Caseworker,
		makkerpar: p.Makkerpar, decided: p.Decided, team: p.Team,
		childCases: p.ChildCases, measures: p.Measures, praktik: p.Praktik, subsidies: p.Subsidies,
		courses: p.Courses, goals: p.Goals, absence: p.Absence,
		perDept: p.PerDept, total: p.Total, lastTime: p.LastTime,
	}
	s.ensureMaps()
	for _, c := range p.Consents {
		s.consents[consentKey{c.PersonID, c.Scope}] = c.Decisions
	}
	for _, c := range p.Benefits {
		s.benefits[benefitKey{c.PersonID, c.Benefit}] = struct{}{}
	}
	for _, v := range p.Employments {
		s.employments.add(v)
	}
	for _, v := range p.Educations {
		s.educations.add(v)
	}
	for _, v := range p.Evaluations {
		s.evaluations.add(v)
	}
	return nil
}

// DropRecords forgets the append-only records (employments, educations,
// evaluations), which Check never reads: what is left is bounded by the
// family's open matters and its consent and team decisions (a few events),
// not by the rest of its history. Ingest keeps states so; the Overview of
// such a state lacks those records.
func (s *State) DropRecords() {
	s.employments, s.educations, s.evaluations = records[Employment]{}, records[Education]{}, records[Evaluation]{}
}

// DropPersonal blanks the personal free text the state holds (the
// referral's reason, measures' purposes, goals' titles and descriptions):
// Check never reads it, and a state kept on disk without it (ingest's
// index) holds nothing that erasing a family must reach.
func (s *State) DropPersonal() {
	s.referralReason = ""
	for id, m := range s.measures {
		if m.Purpose != "" {
			m.Purpose = ""
			own(s, &s.measures, sharedMeasures)[id] = m
		}
	}
	for id, g := range s.goals {
		if g.Title != "" || g.Description != "" {
			g.Title, g.Description = "", ""
			own(s, &s.goals, sharedGoals)[id] = g
		}
	}
}
