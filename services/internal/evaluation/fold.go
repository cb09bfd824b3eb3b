package evaluation

import (
	"cmp"
	"slices"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// interval is a span of time; a zero end is open.
type interval struct{ start, end int64 }

type absence struct {
	periodStart, periodEnd string
	schoolDays, absent     int
	unauthorised           int
}

type start struct {
	at   int64
	kind string
}

// person is what the fold keeps of one person's history.
type person struct {
	benefits map[string]int64 // benefit → start, while active
	// onBenefit are the closed spans on any one benefit, ascending and
	// apart; while openActive benefits are active, the span since
	// activeSince is open and begins after every closed one.
	onBenefit []interval
	// benefitLog is the person's benefit.granted and benefit.ended, and
	// the benefits enrolments named from when their course began, in the
	// order of their time (see grantFrom).
	benefitLog  []benefitEvent
	praktik     []int64
	subsidies   []int64
	courses     []int64
	jobs        []start
	educations  []int64
	absences    []absence
	openActive  int // number of active benefits
	activeSince int64
}

// benefitEvent is a change of one benefit of a person, as the fold took it.
type benefitEvent struct {
	benefit string
	at      int64
	kind    benefitChange
	reason  string // of an end
}

type benefitChange uint8

const (
	benefitGranted benefitChange = iota // granted, or named by an enrolment
	benefitEnded                        // an active benefit ended: an exit
	// benefitStray is a benefit.ended that found its benefit not active
	// when folded: one dated between a course's start and its later
	// enrolment, which names the benefit, ends it (grantFrom).
	benefitStray
)

// course is one enrolment. It began (start) at the earlier of its
// family.enrolled's time and the first moment in Copenhagen of the
// courseStart day it names, never before the previous course ended: the
// rule of events/family, which lets events that need a course be dated
// from then (see began).
type course struct {
	start           int64
	startDate       string // start's day in Copenhagen
	midway          int64
	ended           bool
	end             int64
	endDate         string // end's day in Copenhagen
	parents         []string
	children        []string
	measuresAtStart int
	measuresMidway  int
	midwayTaken     bool
	measuresAtEnd   int
	// childCasesAtStart, childCasesMidway and childCasesAtEnd are the
	// family's open child cases at the same three moments.
	childCasesAtStart, childCasesMidway, childCasesAtEnd int
}

type goal struct {
	// domains are 1–3 (goal.set.v2; a v1 goal, upcast, has one); a
	// goal counts in each of its domains.
	domains     []string
	expressedBy string
	achieved    bool
}

// familyFold folds one family's events in the order of their time.
type familyFold struct {
	status          status
	referral        int64 // latest family.referred, 0 before one
	lastEnd         int64 // the latest course's end, 0 before one ended
	firstEnrolment  int64
	referralToFirst int64 // -1 when no referral preceded the first enrolment
	courses         int
	course          course
	childCases      map[string]struct{}
	measures        map[string]struct{}
	persons         map[string]*person
	// goals in the order they were first set; goalAt indexes them by id.
	goals  []goal
	goalAt map[string]int
	// assigned are the times of caseworker.assigned and of
	// makkerpar.assigned, ascending: a course counts those from when it
	// began, which may be before its family.enrolled was folded.
	assigned     [2][]int64
	satisfaction int
	wellbeing    int
	// spare are persons of families folded before, emptied for reuse:
	// an evaluation folds every family, and allocating each person's
	// maps and slices again was most of its garbage.
	spare []*person
}

type status uint8

const (
	statusKnown status = iota
	statusReferred
	statusEnrolled
	statusEnded
)

func newFamilyFold() *familyFold {
	return &familyFold{childCases: map[string]struct{}{}, measures: map[string]struct{}{},
		persons: map[string]*person{}, goalAt: map[string]int{}, referralToFirst: -1}
}

// reset empties f for the next family, keeping its maps', slices' and
// persons' room.
func (f *familyFold) reset() {
	clear(f.childCases)
	clear(f.measures)
	for _, p := range f.persons {
		p.reset()
		f.spare = append(f.spare, p)
	}
	clear(f.persons)
	clear(f.goalAt)
	*f = familyFold{childCases: f.childCases, measures: f.measures, persons: f.persons,
		goals: f.goals[:0], goalAt: f.goalAt, spare: f.spare, referralToFirst: -1,
		assigned: [2][]int64{f.assigned[0][:0], f.assigned[1][:0]},
		course:   course{parents: f.course.parents[:0], children: f.course.children[:0]}}
}

func (f *familyFold) person(id string) *person {
	p := f.persons[id]
	if p == nil {
		if n := len(f.spare); n > 0 {
			p, f.spare = f.spare[n-1], f.spare[:n-1]
		} else {
			p = &person{benefits: map[string]int64{}}
		}
		f.persons[id] = p
	}
	return p
}

// reset empties p for another person, keeping its room.
func (p *person) reset() {
	clear(p.benefits)
	*p = person{benefits: p.benefits, onBenefit: p.onBenefit[:0], praktik: p.praktik[:0],
		benefitLog: p.benefitLog[:0], subsidies: p.subsidies[:0], courses: p.courses[:0], jobs: p.jobs[:0],
		educations: p.educations[:0], absences: p.absences[:0]}
}

func (p *person) grant(benefit string, t int64) {
	if _, ok := p.benefits[benefit]; ok {
		return
	}
	p.benefits[benefit] = t
	p.benefitLog = append(p.benefitLog, benefitEvent{benefit: benefit, at: t, kind: benefitGranted})
	p.open(t)
}

// grantFrom is grant for a benefit that an enrolment names: the parent
// was on it when the course began (from), which may be before the
// enrolment was folded. What the fold took of the benefit from then on
// stands, as if the enrolment had come first: if the parent was on it
// already, nothing changes (an end since then is not undone); else the
// first of its changes at or after from that the fold took ends it there
// (a benefit.ended, an exit with its reason) or carries it on (a
// benefit.granted), and without one it is active from from on.
func (p *person) grantFrom(benefit string, from int64) {
	i, _ := slices.BinarySearchFunc(p.benefitLog, from, func(e benefitEvent, t int64) int { return cmp.Compare(e.at, t) })
	var active bool
	for _, e := range p.benefitLog[:i] {
		if e.benefit == benefit && e.kind != benefitStray {
			active = e.kind == benefitGranted
		}
	}
	if active {
		return
	}
	p.benefitLog = slices.Insert(p.benefitLog, i, benefitEvent{benefit: benefit, at: from, kind: benefitGranted})
	for j := i + 1; j < len(p.benefitLog); j++ {
		e := &p.benefitLog[j]
		if e.benefit != benefit {
			continue
		}
		// The benefit's first change since from, which the fold took
		// with the benefit not active: a benefit.granted carries it
		// on, a benefit.ended (stray) ends it there, an exit.
		if e.kind == benefitStray {
			e.kind = benefitEnded
		}
		p.cover(from, e.at)
		return
	}
	p.benefits[benefit] = from
	p.open(from)
}

func (p *person) end(benefit, reason string, t int64) {
	if _, ok := p.benefits[benefit]; !ok {
		p.benefitLog = append(p.benefitLog, benefitEvent{benefit: benefit, at: t, kind: benefitStray, reason: reason})
		return
	}
	p.benefitLog = append(p.benefitLog, benefitEvent{benefit: benefit, at: t, kind: benefitEnded, reason: reason})
	delete(p.benefits, benefit)
	p.openActive--
	if p.openActive == 0 {
		p.onBenefit = append(p.onBenefit, interval{p.activeSince, t})
	}
}

// open begins a span on a benefit at from, which may be before closed
// spans of other benefits (grantFrom): those it reaches join it.
func (p *person) open(from int64) {
	if p.openActive == 0 || from < p.activeSince {
		p.activeSince = from
	}
	p.openActive++
	p.absorb()
}

// absorb joins to the open span the closed spans that reach it.
func (p *person) absorb() {
	for n := len(p.onBenefit); n > 0 && p.onBenefit[n-1].end >= p.activeSince; n-- {
		p.activeSince = min(p.activeSince, p.onBenefit[n-1].start)
		p.onBenefit = p.onBenefit[:n-1]
	}
}

// cover adds [from, to) on a benefit, which may lie before spans already
// taken: time on two benefits at once counts once.
func (p *person) cover(from, to int64) {
	if to <= from {
		return
	}
	if p.openActive > 0 && to >= p.activeSince {
		p.activeSince = min(p.activeSince, from)
		p.absorb()
		return
	}
	i, _ := slices.BinarySearchFunc(p.onBenefit, from, func(iv interval, t int64) int { return cmp.Compare(iv.end, t) })
	j := i
	for ; j < len(p.onBenefit) && p.onBenefit[j].start <= to; j++ {
		from, to = min(from, p.onBenefit[j].start), max(to, p.onBenefit[j].end)
	}
	p.onBenefit = slices.Replace(p.onBenefit, i, j, interval{from, to})
}

// covered is how long, within [from, to), the person was on any benefit,
// given that nothing after now has been folded.
func (p *person) covered(from, to, now int64) int64 {
	var d int64
	add := func(a, b int64) {
		a, b = max(a, from), min(b, to)
		if b > a {
			d += b - a
		}
	}
	for _, iv := range p.onBenefit {
		add(iv.start, iv.end)
	}
	if p.openActive > 0 {
		add(p.activeSince, max(now, to))
	}
	return d
}

// advanceTo takes the snapshots due before time t: the open measures and
// child cases midway through the course, when t passes it.
func (f *familyFold) advanceTo(t int64) {
	c := &f.course
	if f.status == statusEnrolled && !c.midwayTaken && t > c.midway {
		c.midwayTaken, c.measuresMidway, c.childCasesMidway = true, len(f.measures), len(f.childCases)
	}
}

// apply folds one event of the family at time t (Unix nanoseconds), its
// fact k, whose texts are in tx and kept payloads in side. Like
// events/family, it never fails: what cannot be folded is ignored.
func (f *familyFold) apply(t int64, k fact, tx *texts, side []events.Payload) {
	strs := tx.strs
	f.advanceTo(t)
	c := &f.course
	switch k.kind {
	case kindReferred:
		if f.status != statusEnrolled {
			f.status = statusReferred
		}
		f.referral = t
	case kindEnrolled:
		d, _ := side[k.a].(*events.FamilyEnrolled)
		if d == nil {
			return
		}
		if f.courses == 0 {
			f.firstEnrolment = t
			if f.referral != 0 {
				f.referralToFirst = t - f.referral
			}
		}
		f.courses++
		f.status = statusEnrolled
		start := began(t, d.CourseStart, f.lastEnd)
		*c = course{start: start, startDate: dateOf(start), parents: c.parents[:0], children: c.children[:0]}
		// Midway is half the planned length after the start, but not
		// before the enrolment: what was open then is not known before.
		c.midway = start + int64(365*24*time.Hour)
		if cs, err1 := ParseDay(d.CourseStart); err1 == nil {
			if pe, err2 := ParseDay(d.PlannedEnd); err2 == nil && pe.After(cs) {
				c.midway = start + int64(pe.Sub(cs)/2)
			}
		}
		c.midway = max(c.midway, t)
		for _, m := range d.Members {
			switch m.Role {
			case events.RoleParent:
				c.parents = append(c.parents, m.PersonID)
			case events.RoleChild:
				c.children = append(c.children, m.PersonID)
			}
		}
		for _, id := range d.ChildCaseIDs {
			f.childCases[id] = struct{}{}
		}
		for _, b := range d.ParentBenefits {
			f.person(b.PersonID).grantFrom(b.Benefit, start)
		}
		c.measuresAtStart, c.childCasesAtStart = len(f.measures), len(f.childCases)
	case kindCourseEnded:
		if f.status == statusEnrolled {
			f.status = statusEnded
			c.ended, c.end, c.endDate, c.measuresAtEnd = true, t, dateOf(t), len(f.measures)
			c.childCasesAtEnd = len(f.childCases)
			f.lastEnd = t
		}
	case kindCaseworker:
		f.assigned[0] = append(f.assigned[0], t)
	case kindMakkerpar:
		f.assigned[1] = append(f.assigned[1], t)
	case kindChildCaseOpened:
		f.childCases[strs[k.a]] = struct{}{}
	case kindChildCaseClosed:
		delete(f.childCases, strs[k.a])
	case kindMeasureStarted:
		f.measures[strs[k.a]] = struct{}{}
	case kindMeasureEnded:
		delete(f.measures, strs[k.a])
	case kindBenefitGranted:
		f.person(strs[k.a]).grant(strs[k.b], t)
	case kindBenefitEnded:
		f.person(strs[k.a]).end(strs[k.b], strs[k.c], t)
	case kindPraktik:
		p := f.person(strs[k.a])
		p.praktik = append(p.praktik, t)
	case kindWageSubsidy:
		p := f.person(strs[k.a])
		p.subsidies = append(p.subsidies, t)
	case kindLanguageCourse:
		p := f.person(strs[k.a])
		p.courses = append(p.courses, t)
	case kindEmployment:
		p := f.person(strs[k.a])
		p.jobs = append(p.jobs, start{t, strs[k.b]})
	case kindEducation:
		p := f.person(strs[k.a])
		p.educations = append(p.educations, t)
	case kindSchoolAbsence:
		p := f.person(strs[k.a])
		p.absences = append(p.absences, absenceOf(k, tx))
	case kindAbsenceKept:
		d, _ := side[k.a].(*events.SchoolAbsenceNoted)
		if d == nil {
			return
		}
		p := f.person(d.ChildID)
		a := d.AbsentDays
		p.absences = append(p.absences, absence{d.PeriodStart, d.PeriodEnd, d.SchoolDays,
			a.Sickness + a.Authorised + a.Unauthorised, a.Unauthorised})
	case kindGoalSet:
		g := goal{domains: tx.lists[k.c], expressedBy: strs[k.b]}
		if i, ok := f.goalAt[strs[k.a]]; ok {
			f.goals[i] = g
		} else {
			f.goalAt[strs[k.a]] = len(f.goals)
			f.goals = append(f.goals, g)
		}
	case kindGoalClosed:
		if i, ok := f.goalAt[strs[k.a]]; ok {
			f.goals[i].achieved = k.b == 1
		}
	case kindEvaluation:
		if v := int(int32(k.a)); v != 0 {
			f.satisfaction = v
		}
		if v := int(int32(k.b)); v != 0 {
			f.wellbeing = v
		}
	}
}

// dateOf is the day in Copenhagen of ns: the pilot's dates (courseStart,
// a school absence period) are Copenhagen's days.
func dateOf(ns int64) string { return time.Unix(0, ns).In(Copenhagen).Format(time.DateOnly) }

// began is when a course enrolled at t began, as events/family has it: at
// t or, if earlier, at the first moment in Copenhagen of its courseStart
// day (an enrolment recorded after the course began), but never before
// the previous course ended (prevEnd; 0 when there is none).
func began(t int64, courseStart string, prevEnd int64) int64 {
	if d, err := ParseDay(courseStart); err != nil || !InRange(d) {
		courseStart = "" // a day out of range (as a time in nanoseconds) is none
	}
	return family.CourseBegan(time.Unix(0, t), courseStart, time.Unix(0, prevEnd)).UnixNano()
}

// Relevant reports whether events of the catalog name (e.g.
// "praktik.started") change any measure; the others need not be read.
func Relevant(name string) bool { return relevant[name] }

var relevant = map[string]bool{
	"family.referred": true, "family.enrolled": true, "course.ended": true,
	"caseworker.assigned": true, "makkerpar.assigned": true,
	"childcase.opened": true, "childcase.closed": true,
	"measure.started": true, "measure.ended": true,
	"benefit.granted": true, "benefit.ended": true,
	"praktik.started": true, "wagesubsidy.started": true, "languagecourse.started": true,
	"employment.started": true, "education.started": true,
	"schoolabsence.noted": true, "goal.set": true, "goal.closed": true,
	"evaluation.recorded": true,
}
