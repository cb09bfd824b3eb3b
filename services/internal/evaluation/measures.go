package evaluation

import (
	"math"
	"slices"
	"time"
)

// acc accumulates the families' contributions at one moment.
type acc struct {
	counts  map[string]int     // counts: the value is the count
	sums    map[string]float64 // aggregates: sum of values…
	units   map[string]int     // …over this many units
	lists   map[string][]float64
	nothing bool
}

func newAcc() *acc {
	return &acc{counts: map[string]int{}, sums: map[string]float64{}, units: map[string]int{}, lists: map[string][]float64{}}
}

func (a *acc) mean(name string, v float64) { a.sums[name] += v; a.units[name]++ }

// share adds one unit to a share: yes counts it in.
func (a *acc) share(name string, yes bool) {
	a.units[name]++
	if yes {
		a.sums[name]++
	}
}

const week = int64(7 * 24 * time.Hour)

// add takes the contribution of family f at moment at (nanoseconds).
func (a *acc) add(f *familyFold, at int64) {
	switch f.status {
	case statusReferred:
		a.counts["families.referred"]++
	}
	if f.courses > 0 {
		a.counts["families.enrolled"]++
		if f.status == statusEnrolled {
			a.counts["families.active"]++
			a.counts["childCases.open"] += len(f.childCases)
		} else {
			a.counts["families.ended"]++
		}
		a.course(f, at)
	}
	goalFamilies := map[string]bool{}
	for _, id := range f.goalOrder {
		g := f.goals[id]
		names := []string{"goals.set.expressedBy." + g.expressedBy}
		for _, d := range g.domains {
			names = append(names, "goals.set.domain."+d)
		}
		if g.achieved {
			names = append(names, "goals.achieved.expressedBy."+g.expressedBy)
			for _, d := range g.domains {
				names = append(names, "goals.achieved.domain."+d)
			}
		}
		for _, n := range names {
			a.sums[n]++
			if !goalFamilies[n] {
				goalFamilies[n] = true
				a.units[n]++
			}
		}
	}
	if f.satisfaction != 0 {
		a.mean("satisfaction.family.mean", float64(f.satisfaction))
	}
	if f.wellbeing != 0 {
		a.mean("wellbeing.child.mean", float64(f.wellbeing))
	}
}

// course takes the contribution of an enrolled family's latest course.
func (a *acc) course(f *familyFold, at int64) {
	c := &f.course
	if f.referralToFirst >= 0 {
		a.lists["referralToEnrolment.medianDays"] = append(a.lists["referralToEnrolment.medianDays"],
			float64(f.referralToFirst)/float64(24*time.Hour))
	}
	a.mean("measures.openPerFamily.atEnrolment", float64(c.measuresAtStart))
	if c.midwayTaken {
		a.mean("measures.openPerFamily.midway", float64(c.measuresMidway))
	} else if c.midway <= at && f.status == statusEnrolled {
		a.mean("measures.openPerFamily.midway", float64(len(f.measures)))
	}
	if c.ended {
		a.mean("measures.openPerFamily.atEnd", float64(c.measuresAtEnd))
	}
	a.mean("caseworker.changesPerFamily", float64(max(0, c.caseworkers-1)))
	a.mean("makkerpar.changesPerFamily", float64(max(0, c.makkerpar-1)))

	end := at
	if c.ended {
		end = c.end
	}
	in := func(t int64) bool { return t >= c.start && t <= end }
	anyIn := func(ts []int64) bool { return slices.ContainsFunc(ts, in) }
	for _, id := range c.parents {
		p := f.persons[id]
		if p == nil {
			p = &person{}
		}
		a.share("parents.praktik.share", anyIn(p.praktik))
		a.share("parents.wageSubsidy.share", anyIn(p.subsidies))
		a.share("parents.languageCourse.share", anyIn(p.courses))
		a.share("parents.education.share", anyIn(p.educations))
		a.share("parents.job.share", slices.ContainsFunc(p.jobs, func(s start) bool { return in(s.at) }))
		for _, k := range EmploymentKinds {
			a.share("parents.job."+k+".share", slices.ContainsFunc(p.jobs, func(s start) bool { return in(s.at) && s.kind == k }))
		}
		exit := func(reason string) bool {
			return slices.ContainsFunc(p.exits, func(s start) bool { return in(s.at) && s.kind == reason })
		}
		if exit("employment") {
			a.counts["benefitExits.employment"]++
		}
		if exit("education") {
			a.counts["benefitExits.education"]++
		}
		before := c.start - 52*week
		a.mean("publicSupport.before.fullTimePersons", float64(p.covered(before, c.start, at))/float64(c.start-before))
		if end > c.start {
			a.mean("publicSupport.during.fullTimePersons", float64(p.covered(c.start, end, at))/float64(end-c.start))
		} else {
			a.units["publicSupport.during.fullTimePersons"]++
		}
	}
	for _, id := range c.children {
		p := f.persons[id]
		if p == nil {
			continue
		}
		var b, d [3]int // school days, absent, unauthorised
		for _, ab := range p.absences {
			switch {
			case ab.periodEnd < c.startDate:
				b[0], b[1], b[2] = b[0]+ab.schoolDays, b[1]+ab.absent, b[2]+ab.unauthorised
			case !c.ended || ab.periodStart <= c.endDate:
				d[0], d[1], d[2] = d[0]+ab.schoolDays, d[1]+ab.absent, d[2]+ab.unauthorised
			}
		}
		for _, x := range []struct {
			name string
			v    [3]int
		}{{"before", b}, {"during", d}} {
			if x.v[0] == 0 {
				continue
			}
			share := float64(x.v[1]) / float64(x.v[0])
			a.mean("children.absence."+x.name+".meanShare", share)
			a.share("children.absence."+x.name+".over10pct.share", share > 0.10)
			a.share("children.absence."+x.name+".unauthorised15pct.share", float64(x.v[2]) >= 0.15*float64(x.v[0]))
		}
	}
}

// measures turns the accumulated sums into the catalog's measures, exact.
func (a *acc) measures(o Options) map[string]Measure {
	out := make(map[string]Measure, len(Catalog))
	for _, d := range Catalog {
		m := Measure{Unit: d.Unit}
		switch {
		case d.Kind == Config:
			m.Value = num(float64(o.Target))
		case d.Kind == Count:
			m.Count = a.counts[d.Name]
			m.Value = num(float64(m.Count))
		case d.Name == "referralToEnrolment.medianDays":
			l := a.lists[d.Name]
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
			m.Count = a.units[d.Name]
			switch {
			case d.Unit == Goals:
				m.Value = num(a.sums[d.Name])
			case d.Unit == FullTimePersons:
				m.Value = num(round(a.sums[d.Name], 2))
			case m.Count > 0:
				m.Value = num(round(a.sums[d.Name]/float64(m.Count), 3))
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
