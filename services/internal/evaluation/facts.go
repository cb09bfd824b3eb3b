package evaluation

import (
	"strings"

	"kk.dk/jobogfamilie/events"
)

// fact is what the fold reads of one event: its kind, and a, b and c,
// which are, by kind, strings or lists of strings (their numbers in the
// index's texts), numbers, or the event's payload (its place in its
// family's side list).
type fact struct {
	kind    kind
	a, b, c uint32
}

// kind is the type of an event the fold reads, of its latest version.
type kind uint8

const (
	kindReferred kind = iota + 1
	kindEnrolled      // a: side
	kindCourseEnded
	kindCaseworker
	kindMakkerpar
	kindChildCaseOpened // a: CaseID
	kindChildCaseClosed // a: CaseID
	kindMeasureStarted  // a: MeasureID
	kindMeasureEnded    // a: MeasureID
	kindBenefitGranted  // a: PersonID, b: Benefit
	kindBenefitEnded    // a: PersonID, b: Benefit, c: Reason
	kindPraktik         // a: PersonID
	kindWageSubsidy     // a: PersonID
	kindLanguageCourse  // a: PersonID
	kindEmployment      // a: PersonID, b: Kind
	kindEducation       // a: PersonID
	kindSchoolAbsence   // a: ChildID, b: PeriodStart NUL PeriodEnd, c: the days (absenceDays)
	kindAbsenceKept     // a: side (days beyond absenceDays' bits)
	kindGoalSet         // a: GoalID, b: ExpressedBy, c: Domains (a list)
	kindGoalClosed      // a: GoalID, b: 1 if achieved
	kindEvaluation      // a: FamilySatisfaction, b: ChildWellbeing (int32)
)

// words says, of each kind, what its words a, b and c are: 's' a string
// and 'l' a list (their numbers in the index's texts), 'p' a kept payload
// (its place in the family's side list), '-' a number or nothing.
var words = [...]string{
	kindReferred: "---", kindEnrolled: "p--", kindCourseEnded: "---", kindCaseworker: "---", kindMakkerpar: "---",
	kindChildCaseOpened: "s--", kindChildCaseClosed: "s--", kindMeasureStarted: "s--", kindMeasureEnded: "s--",
	kindBenefitGranted: "ss-", kindBenefitEnded: "sss",
	kindPraktik: "s--", kindWageSubsidy: "s--", kindLanguageCourse: "s--", kindEmployment: "ss-", kindEducation: "s--",
	kindSchoolAbsence: "ss-", kindAbsenceKept: "p--", kindGoalSet: "ssl", kindGoalClosed: "s--", kindEvaluation: "---",
}

// factOf is the fact of payload d of family f, with its strings interned
// in x and its kept payload appended to f's side list; ok is false for a
// payload the fold does not read.
func (x *Index) factOf(d events.Payload, f *familyEvents) (fact, bool) {
	s := x.txt.intern
	side := func(d events.Payload) uint32 {
		f.side = append(f.side, d)
		return uint32(len(f.side) - 1)
	}
	switch d := d.(type) {
	case *events.FamilyReferred:
		return fact{kind: kindReferred}, true
	case *events.FamilyEnrolled:
		return fact{kind: kindEnrolled, a: side(d)}, true
	case *events.CourseEnded:
		return fact{kind: kindCourseEnded}, true
	case *events.CaseworkerAssigned:
		return fact{kind: kindCaseworker}, true
	case *events.MakkerparAssigned:
		return fact{kind: kindMakkerpar}, true
	case *events.ChildCaseOpened:
		return fact{kind: kindChildCaseOpened, a: s(d.CaseID)}, true
	case *events.ChildCaseClosed:
		return fact{kind: kindChildCaseClosed, a: s(d.CaseID)}, true
	case *events.MeasureStarted:
		return fact{kind: kindMeasureStarted, a: s(d.MeasureID)}, true
	case *events.MeasureEnded:
		return fact{kind: kindMeasureEnded, a: s(d.MeasureID)}, true
	case *events.BenefitGranted:
		return fact{kind: kindBenefitGranted, a: s(d.PersonID), b: s(d.Benefit)}, true
	case *events.BenefitEnded:
		return fact{kind: kindBenefitEnded, a: s(d.PersonID), b: s(d.Benefit), c: s(d.Reason)}, true
	case *events.PraktikStartedV2:
		return fact{kind: kindPraktik, a: s(d.PersonID)}, true
	case *events.WageSubsidyStarted:
		return fact{kind: kindWageSubsidy, a: s(d.PersonID)}, true
	case *events.LanguageCourseStarted:
		return fact{kind: kindLanguageCourse, a: s(d.PersonID)}, true
	case *events.EmploymentStarted:
		return fact{kind: kindEmployment, a: s(d.PersonID), b: s(d.Kind)}, true
	case *events.EducationStarted:
		return fact{kind: kindEducation, a: s(d.PersonID)}, true
	case *events.SchoolAbsenceNoted:
		a := d.AbsentDays
		days, ok := absenceDays(d.SchoolDays, a.Sickness+a.Authorised+a.Unauthorised, a.Unauthorised)
		if !ok {
			return fact{kind: kindAbsenceKept, a: side(d)}, true
		}
		return fact{kind: kindSchoolAbsence, a: s(d.ChildID), b: s(d.PeriodStart + "\x00" + d.PeriodEnd), c: days}, true
	case *events.GoalSetV2:
		// Its title and description, the family's words, no measure reads.
		return fact{kind: kindGoalSet, a: s(d.GoalID), b: s(d.ExpressedBy), c: x.txt.list(d.Domains)}, true
	case *events.GoalClosed:
		achieved := uint32(0)
		if d.Outcome == "achieved" {
			achieved = 1
		}
		return fact{kind: kindGoalClosed, a: s(d.GoalID), b: achieved}, true
	case *events.EvaluationRecorded:
		return fact{kind: kindEvaluation, a: uint32(int32(d.FamilySatisfaction)), b: uint32(int32(d.ChildWellbeing))}, true
	case *events.GoalSet, *events.PraktikStarted:
		// An earlier version (the read model's rows and FromEnvelope
		// hold the latest): read as the latest, as every fold does.
		if up, err := events.UpcastPayload(d); err == nil {
			return x.factOf(up, f)
		}
	}
	return fact{}, false
}

// absenceDays packs a school absence's school days, days absent and days
// absent unauthorised in ten bits each; ok is false when one is out of
// 0–1023.
func absenceDays(school, absent, unauthorised int) (uint32, bool) {
	const most = 1<<10 - 1
	for _, n := range []int{school, absent, unauthorised} {
		if n < 0 || n > most {
			return 0, false
		}
	}
	return uint32(school) | uint32(absent)<<10 | uint32(unauthorised)<<20, true
}

// absenceOf is the absence of a kindSchoolAbsence fact k.
func absenceOf(k fact, t *texts) absence {
	start, end, _ := strings.Cut(t.strs[k.b], "\x00")
	const mask = 1<<10 - 1
	return absence{start, end, int(k.c & mask), int(k.c >> 10 & mask), int(k.c >> 20 & mask)}
}

// texts are the strings and lists of strings that an index's facts name,
// each once.
type texts struct {
	strs    []string
	strIDs  map[string]uint32
	lists   [][]string
	listIDs map[string]uint32
}

// intern is the number of s in t's strings, which keep a copy of s (not
// a slice of a larger allocation) the first time.
func (t *texts) intern(s string) uint32 {
	if n, ok := t.strIDs[s]; ok {
		return n
	}
	if t.strIDs == nil {
		t.strIDs = map[string]uint32{}
	}
	n := uint32(len(t.strs))
	s = strings.Clone(s)
	t.strs = append(t.strs, s)
	t.strIDs[s] = n
	return n
}

// list is the number of ss in t's lists, kept as a list of t's strings.
func (t *texts) list(ss []string) uint32 {
	key := strings.Join(ss, "\x00")
	if n, ok := t.listIDs[key]; ok {
		return n
	}
	if t.listIDs == nil {
		t.listIDs = map[string]uint32{}
	}
	l := make([]string, len(ss))
	for i, s := range ss {
		l[i] = t.strs[t.intern(s)]
	}
	n := uint32(len(t.lists))
	t.lists = append(t.lists, l)
	t.listIDs[key] = n
	return n
}
