package evaluation

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// acc accumulates the families' contributions at one moment, by the
// measure's place in the Catalog: no name is built or hashed per family.
type acc struct {
	counts []int     // counts: the value is the count
	sums   []float64 // aggregates: sum of values…
	units  []int     // …over this many units
	days   []float64 // referralToEnrolment.medianDays
	// families are, per measure, how many families its units (for a
	// count, what it counts) come from; familiesIn and familiesOut, for
	// a Proportion, those of the units it counts in and leaves out.
	families, familiesIn, familiesOut []int
	// seen marks what the family being added has given each measure so
	// far (seenUnit, seenIn, seenOut); touched lists the measures marked.
	seen    []uint8
	touched []int
}

const (
	seenUnit uint8 = 1 << iota
	seenIn
	seenOut
)

func newAcc() *acc {
	n := len(Catalog)
	return &acc{counts: make([]int, n), sums: make([]float64, n), units: make([]int, n),
		families: make([]int, n), familiesIn: make([]int, n), familiesOut: make([]int, n), seen: make([]uint8, n)}
}

// from marks measure i as resting on a unit of the family being added.
func (a *acc) from(i int, what uint8) {
	if a.seen[i] == 0 {
		a.touched = append(a.touched, i)
	}
	a.seen[i] |= what
}

// count adds n to the count i.
func (a *acc) count(i, n int) {
	if n > 0 {
		a.counts[i] += n
		a.from(i, seenUnit)
	}
}

// familyDone counts the family just added once in each measure its units
// went into.
func (a *acc) familyDone() {
	for _, i := range a.touched {
		s := a.seen[i]
		if s&seenUnit != 0 {
			a.families[i]++
		}
		if s&seenIn != 0 {
			a.familiesIn[i]++
		}
		if s&seenOut != 0 {
			a.familiesOut[i]++
		}
		a.seen[i] = 0
	}
	a.touched = a.touched[:0]
}

// index is each measure's place in the Catalog.
var index = func() map[string]int {
	m := make(map[string]int, len(Catalog))
	for i, d := range Catalog {
		m[d.Name] = i
	}
	return m
}()

func at(name string) int {
	i, ok := index[name]
	if !ok {
		panic("evaluation: no measure " + name)
	}
	return i
}

// The places of the measures the fold adds to, found once.
var (
	mReferred, mEnrolled, mActive, mEnded = at("families.referred"), at("families.enrolled"), at("families.active"), at("families.ended")
	mChildCases, mMedianDays              = at("childCases.open"), at("referralToEnrolment.medianDays")
	mAtEnrolment, mMidway, mAtEnd         = at("measures.openPerFamily.atEnrolment"), at("measures.openPerFamily.midway"), at("measures.openPerFamily.atEnd")
	mCasesAtEnrolment, mCasesMidway       = at("childCases.openPerFamily.atEnrolment"), at("childCases.openPerFamily.midway")
	mCasesAtEnd                           = at("childCases.openPerFamily.atEnd")
	mCaseworker, mMakkerpar               = at("caseworker.changesPerFamily"), at("makkerpar.changesPerFamily")
	mSatisfaction, mWellbeing             = at("satisfaction.family.mean"), at("wellbeing.child.mean")
	mPraktik, mSubsidy, mCourse           = at("parents.praktik.share"), at("parents.wageSubsidy.share"), at("parents.languageCourse.share")
	mEducation, mJob                      = at("parents.education.share"), at("parents.job.share")
	mExitJob, mExitEducation              = at("benefitExits.employment"), at("benefitExits.education")
	mSupportBefore, mSupportDuring        = at("publicSupport.before.fullTimePersons"), at("publicSupport.during.fullTimePersons")
	mJobKind                              = places("parents.job.", EmploymentKinds, ".share")
	// mAbsence is [before, during][mean share, over 10 %, unauthorised 15 %].
	mAbsence = [2][3]int{
		{at("children.absence.before.meanShare"), at("children.absence.before.over10pct.share"), at("children.absence.before.unauthorised15pct.share")},
		{at("children.absence.during.meanShare"), at("children.absence.during.over10pct.share"), at("children.absence.during.unauthorised15pct.share")},
	}
	// goalPlaces maps a goal's domain or expressedBy to its set and
	// achieved measures.
	goalDomain      = goalPlaces("domain", GoalDomains)
	goalExpressedBy = goalPlaces("expressedBy", GoalExpressedBy)
)

func places(prefix string, names []string, suffix string) []int {
	out := make([]int, len(names))
	for i, n := range names {
		out[i] = at(prefix + n + suffix)
	}
	return out
}

func goalPlaces(by string, values []string) map[string][2]int {
	m := map[string][2]int{}
	for _, v := range values {
		m[v] = [2]int{at("goals.set." + by + "." + v), at("goals.achieved." + by + "." + v)}
	}
	return m
}

func (a *acc) mean(i int, v float64) { a.sums[i] += v; a.units[i]++; a.from(i, seenUnit) }

// share adds one unit to a share: yes counts it in.
func (a *acc) share(i int, yes bool) {
	a.units[i]++
	if yes {
		a.sums[i]++
		a.from(i, seenUnit|seenIn)
	} else {
		a.from(i, seenUnit|seenOut)
	}
}

// goal adds one goal to measure i, and the family as a unit once.
func (a *acc) goal(i int) {
	a.sums[i]++
	if a.seen[i]&seenUnit == 0 {
		a.units[i]++
		a.from(i, seenUnit)
	}
}

// goalPlace counts a goal at p, the places of a "goals.set" measure and
// of its "goals.achieved" twin, the latter only if the goal was achieved.
// A value the catalog does not know has no places and is not counted.
func (a *acc) goalPlace(p [2]int, achieved bool) {
	if p == [2]int{} {
		return
	}
	a.goal(p[0])
	if achieved {
		a.goal(p[1])
	}
}

const week = int64(7 * 24 * time.Hour)

// add takes the contribution of family f at moment at (nanoseconds).
func (a *acc) add(f *familyFold, at int64) {
	defer a.familyDone()
	if f.status == statusReferred {
		a.count(mReferred, 1)
	}
	if f.courses > 0 {
		a.count(mEnrolled, 1)
		if f.status == statusEnrolled {
			a.count(mActive, 1)
			a.count(mChildCases, len(f.childCases))
		} else {
			a.count(mEnded, 1)
		}
		a.course(f, at)
	}
	if len(f.goals) > 0 {
		for i := range f.goals {
			g := &f.goals[i]
			a.goalPlace(goalExpressedBy[g.expressedBy], g.achieved)
			for _, d := range g.domains {
				a.goalPlace(goalDomain[d], g.achieved)
			}
		}
	}
	if f.satisfaction != 0 {
		a.mean(mSatisfaction, float64(f.satisfaction))
	}
	if f.wellbeing != 0 {
		a.mean(mWellbeing, float64(f.wellbeing))
	}
}

// anyIn reports whether a time of ts (ascending, as the fold appends
// them) lies in [from, to].
func anyIn(ts []int64, from, to int64) bool {
	i, _ := slices.BinarySearch(ts, from)
	return i < len(ts) && ts[i] <= to
}

// countIn is how many times of ts (ascending) lie in [from, to].
func countIn(ts []int64, from, to int64) int {
	lo, _ := slices.BinarySearch(ts, from)
	hi, _ := slices.BinarySearch(ts, to+1)
	return max(0, hi-lo)
}

// course takes the contribution of an enrolled family's latest course.
func (a *acc) course(f *familyFold, at int64) {
	c := &f.course
	if f.referralToFirst >= 0 {
		a.days = append(a.days, float64(f.referralToFirst)/float64(24*time.Hour))
		a.from(mMedianDays, seenUnit)
	}
	a.mean(mAtEnrolment, float64(c.measuresAtStart))
	a.mean(mCasesAtEnrolment, float64(c.childCasesAtStart))
	if c.midwayTaken {
		a.mean(mMidway, float64(c.measuresMidway))
		a.mean(mCasesMidway, float64(c.childCasesMidway))
	} else if c.midway <= at && f.status == statusEnrolled {
		a.mean(mMidway, float64(len(f.measures)))
		a.mean(mCasesMidway, float64(len(f.childCases)))
	}
	if c.ended {
		a.mean(mAtEnd, float64(c.measuresAtEnd))
		a.mean(mCasesAtEnd, float64(c.childCasesAtEnd))
	}
	end := at
	if c.ended {
		end = c.end
	}
	a.mean(mCaseworker, float64(max(0, countIn(f.assigned[0], c.start, end)-1)))
	a.mean(mMakkerpar, float64(max(0, countIn(f.assigned[1], c.start, end)-1)))
	var none person
	for _, id := range c.parents {
		p := f.persons[id]
		if p == nil {
			p = &none
		}
		a.share(mPraktik, anyIn(p.praktik, c.start, end))
		a.share(mSubsidy, anyIn(p.subsidies, c.start, end))
		a.share(mCourse, anyIn(p.courses, c.start, end))
		a.share(mEducation, anyIn(p.educations, c.start, end))
		var job bool
		var kinds [8]bool
		i, _ := slices.BinarySearchFunc(p.jobs, c.start, func(s start, t int64) int { return cmp.Compare(s.at, t) })
		for ; i < len(p.jobs) && p.jobs[i].at <= end; i++ {
			job = true
			if k := slices.Index(EmploymentKinds, p.jobs[i].kind); k >= 0 {
				kinds[k] = true
			}
		}
		a.share(mJob, job)
		for k, m := range mJobKind {
			a.share(m, kinds[k])
		}
		var exitJob, exitEducation bool
		for _, e := range p.benefitLog {
			if e.kind == benefitEnded && e.at >= c.start && e.at <= end {
				exitJob = exitJob || e.reason == "employment"
				exitEducation = exitEducation || e.reason == "education"
			}
		}
		if exitJob {
			a.count(mExitJob, 1)
		}
		if exitEducation {
			a.count(mExitEducation, 1)
		}
		before := c.start - 52*week
		a.mean(mSupportBefore, float64(p.covered(before, c.start, at))/float64(c.start-before))
		if end > c.start {
			a.mean(mSupportDuring, float64(p.covered(c.start, end, at))/float64(end-c.start))
		} else {
			a.units[mSupportDuring]++
			a.from(mSupportDuring, seenUnit)
		}
	}
	for _, id := range c.children {
		p := f.persons[id]
		if p == nil {
			continue
		}
		var v [2][3]int // before, during: school days, absent, unauthorised
		for _, ab := range p.absences {
			switch {
			case ab.periodEnd < c.startDate:
				v[0][0], v[0][1], v[0][2] = v[0][0]+ab.schoolDays, v[0][1]+ab.absent, v[0][2]+ab.unauthorised
			case !c.ended || ab.periodStart <= c.endDate:
				v[1][0], v[1][1], v[1][2] = v[1][0]+ab.schoolDays, v[1][1]+ab.absent, v[1][2]+ab.unauthorised
			}
		}
		for when, x := range v {
			if x[0] == 0 {
				continue
			}
			share := float64(x[1]) / float64(x[0])
			a.mean(mAbsence[when][0], share)
			a.share(mAbsence[when][1], share > 0.10)
			a.share(mAbsence[when][2], float64(x[2]) >= 0.15*float64(x[0]))
		}
	}
}

// measures turns the accumulated sums into the catalog's measures, exact.
func (a *acc) measures(o Options) map[string]Measure {
	out := make(map[string]Measure, len(Catalog))
	for i, d := range Catalog {
		m := Measure{Unit: d.Unit, families: a.families[i]}
		switch {
		case d.Kind == Config:
			m.Value = num(float64(o.Target))
		case d.Kind == Count:
			m.Count = a.counts[i]
			m.Value = num(float64(m.Count))
		case i == mMedianDays:
			l := a.days
			m.Count = len(l)
			if len(l) > 0 {
				slices.Sort(l)
				med := l[len(l)/2]
				if len(l)%2 == 0 {
					med = (l[len(l)/2-1] + l[len(l)/2]) / 2
				}
				m.Value = num(round(med, 1))
			}
		default:
			m.Count = a.units[i]
			switch {
			case d.Unit == Goals:
				m.Value = num(a.sums[i])
			case d.Unit == FullTimePersons:
				m.Value = num(round(a.sums[i], 2))
			case m.Count > 0:
				m.Value = num(round(a.sums[i]/float64(m.Count), 3))
			}
			if d.Kind == Proportion {
				m.countedIn = int(a.sums[i])
				m.familiesIn, m.familiesOut = a.familiesIn[i], a.familiesOut[i]
			}
		}
		out[d.Name] = m
	}
	return out
}

func num(v float64) *float64 { return &v }

func round(v float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(v*p) / p
}
