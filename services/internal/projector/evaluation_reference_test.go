package projector_test

import (
	"cmp"
	"math"
	"slices"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// referenceCourse is what the second computation finds of a family's
// latest course: computed from the raw, ordered events (and the family
// model of events/family for what was open at a moment), never from
// package evaluation's fold.
type referenceCourse struct {
	enrolAt    int // index of the latest family.enrolled in the ordered events
	start, end time.Time
	ended      bool
	midway     time.Time
	parents    []string
	children   []string
}

// stateBefore folds evs[:n] with family.State.
func stateBefore(id string, evs []stored, n int) family.Overview {
	st := family.New(id)
	for _, s := range evs[:n] {
		st.Apply(s.env)
	}
	return st.Overview()
}

// referenceFull computes every measure of the catalog at asOf as known at
// knownAt, exact, as the second, independent computation of the replay
// test: values by name, nil where a mean or share has no unit.
func referenceFull(all []stored, asOf, knownAt time.Time) map[string]*float64 {
	simple := reference(all, asOf, knownAt)
	byFamily := map[string][]stored{}
	for _, s := range all {
		if !s.recorded.After(knownAt) && !s.env.Time().After(asOf) {
			byFamily[s.env.FamilyID] = append(byFamily[s.env.FamilyID], s)
		}
	}
	ids := make([]string, 0, len(byFamily))
	for id := range byFamily {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	sum, units := map[string]float64{}, map[string]int{}
	mean := func(name string, v float64) { sum[name] += v; units[name]++ }
	var days []float64
	for _, id := range ids {
		evs := byFamily[id]
		slices.SortFunc(evs, func(a, b stored) int {
			return cmp.Or(a.env.Time().Compare(b.env.Time()), cmp.Compare(a.seq, b.seq))
		})
		// Goals achieved by who expressed them, and the family as a unit
		// of each goal measure it has a goal in.
		ov := stateBefore(id, evs, len(evs))
		goalUnit := map[string]bool{}
		for _, g := range ov.Goals {
			achieved := g.Closed && g.Outcome == "achieved"
			names := []string{"goals.set.expressedBy." + g.ExpressedBy}
			for _, d := range g.Domains {
				names = append(names, "goals.set.domain."+d)
				if achieved {
					names = append(names, "goals.achieved.domain."+d)
				}
			}
			if achieved {
				names = append(names, "goals.achieved.expressedBy."+g.ExpressedBy)
				sum["goals.achieved.expressedBy."+g.ExpressedBy]++
			}
			for _, n := range names {
				goalUnit[n] = true
			}
		}
		for n := range goalUnit {
			units[n]++
		}
		var c *referenceCourse
		firstEnrol, lastReferral := time.Time{}, time.Time{}
		for i, s := range evs {
			switch d := s.env.Data.(type) {
			case *events.FamilyReferred:
				lastReferral = s.env.Time()
			case *events.FamilyEnrolled:
				if firstEnrol.IsZero() {
					firstEnrol = s.env.Time()
					if !lastReferral.IsZero() {
						days = append(days, firstEnrol.Sub(lastReferral).Hours()/24)
					}
				}
				c = &referenceCourse{enrolAt: i, start: s.env.Time(), midway: s.env.Time().AddDate(0, 0, 365)}
				cs, e1 := time.Parse(time.DateOnly, d.CourseStart)
				pe, e2 := time.Parse(time.DateOnly, d.PlannedEnd)
				if e1 == nil && e2 == nil && pe.After(cs) {
					c.midway = s.env.Time().Add(pe.Sub(cs) / 2)
				}
				for _, m := range d.Members {
					if m.Role == events.RoleParent {
						c.parents = append(c.parents, m.PersonID)
					} else if m.Role == events.RoleChild {
						c.children = append(c.children, m.PersonID)
					}
				}
			case *events.CourseEnded:
				if c != nil && !c.ended {
					c.ended, c.end = true, s.env.Time()
				}
			}
		}
		if c == nil {
			continue
		}
		until := asOf
		if c.ended {
			until = c.end
		}
		inCourse := func(t time.Time) bool { return !t.Before(c.start) && !t.After(until) }
		// Open measures at enrolment, midway and at the end: the family
		// model's open measures over the events up to each moment.
		mean("measures.openPerFamily.atEnrolment", float64(len(stateBefore(id, evs, c.enrolAt+1).Measures)))
		if !c.midway.After(asOf) && (!c.ended || c.end.After(c.midway)) {
			n := slices.IndexFunc(evs, func(s stored) bool { return s.env.Time().After(c.midway) })
			if n < 0 {
				n = len(evs)
			}
			mean("measures.openPerFamily.midway", float64(len(stateBefore(id, evs, n).Measures)))
		}
		if c.ended {
			n := slices.IndexFunc(evs, func(s stored) bool { _, ok := s.env.Data.(*events.CourseEnded); return ok && s.env.Time().Equal(c.end) })
			mean("measures.openPerFamily.atEnd", float64(len(stateBefore(id, evs, n).Measures)))
		}
		var caseworkers, makkerpar int
		for _, s := range evs[c.enrolAt+1:] {
			switch s.env.Data.(type) {
			case *events.CaseworkerAssigned:
				if inCourse(s.env.Time()) {
					caseworkers++
				}
			case *events.MakkerparAssigned:
				if inCourse(s.env.Time()) {
					makkerpar++
				}
			}
		}
		mean("caseworker.changesPerFamily", float64(max(0, caseworkers-1)))
		mean("makkerpar.changesPerFamily", float64(max(0, makkerpar-1)))

		for _, p := range c.parents {
			exits := map[string]bool{}
			for _, s := range evs {
				if d, ok := s.env.Data.(*events.BenefitEnded); ok && d.PersonID == p && inCourse(s.env.Time()) {
					exits[d.Reason] = true
				}
			}
			if exits["employment"] {
				sum["benefitExits.employment"]++
			}
			if exits["education"] {
				sum["benefitExits.education"]++
			}
			from := c.start.Add(-52 * 7 * 24 * time.Hour)
			mean("publicSupport.before.fullTimePersons", supported(evs, p, from, c.start).Seconds()/c.start.Sub(from).Seconds())
			if until.After(c.start) {
				mean("publicSupport.during.fullTimePersons", supported(evs, p, c.start, until).Seconds()/until.Sub(c.start).Seconds())
			} else {
				units["publicSupport.during.fullTimePersons"]++
			}
		}
		startDay := c.start.UTC().Truncate(24 * time.Hour)
		endDay := c.end.UTC().Truncate(24 * time.Hour)
		for _, child := range c.children {
			var tot [2][3]int
			for _, s := range evs {
				d, ok := s.env.Data.(*events.SchoolAbsenceNoted)
				if !ok || d.ChildID != child {
					continue
				}
				ps, _ := time.Parse(time.DateOnly, d.PeriodStart)
				pe, _ := time.Parse(time.DateOnly, d.PeriodEnd)
				w := -1
				if pe.Before(startDay) {
					w = 0
				} else if !c.ended || !ps.After(endDay) {
					w = 1
				}
				if w >= 0 {
					a := d.AbsentDays
					tot[w][0] += d.SchoolDays
					tot[w][1] += a.Sickness + a.Authorised + a.Unauthorised
					tot[w][2] += a.Unauthorised
				}
			}
			for w, name := range []string{"before", "during"} {
				if tot[w][0] == 0 {
					continue
				}
				share := float64(tot[w][1]) / float64(tot[w][0])
				mean("children.absence."+name+".meanShare", share)
				mean("children.absence."+name+".over10pct.share", b2f(share > 0.10))
				mean("children.absence."+name+".unauthorised15pct.share", b2f(float64(tot[w][2]) >= 0.15*float64(tot[w][0])))
			}
		}
	}

	out := map[string]*float64{}
	val := func(v float64) *float64 { return &v }
	rnd := func(v float64, places int) float64 { p := math.Pow10(places); return math.Round(v*p) / p }
	for _, d := range evaluation.Catalog {
		switch {
		case d.Kind == evaluation.Config:
			out[d.Name] = val(50)
		case d.Name == "referralToEnrolment.medianDays":
			if len(days) > 0 {
				slices.Sort(days)
				m := days[len(days)/2]
				if len(days)%2 == 0 {
					m = (days[len(days)/2-1] + days[len(days)/2]) / 2
				}
				out[d.Name] = val(rnd(m, 1))
			}
		case d.Kind == evaluation.Count || d.Unit == evaluation.Goals:
			v, ok := simple[d.Name]
			if !ok {
				v = sum[d.Name]
			}
			out[d.Name] = val(v)
		case d.Unit == evaluation.FullTimePersons:
			out[d.Name] = val(rnd(sum[d.Name], 2))
		case units[d.Name] > 0:
			if v, ok := simple[d.Name]; ok {
				out[d.Name] = val(v) // the family model's parents' shares and answers
			} else {
				out[d.Name] = val(rnd(sum[d.Name]/float64(units[d.Name]), 3))
			}
		default:
			if v, ok := simple[d.Name]; ok {
				out[d.Name] = val(v)
			}
		}
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// supported is how long in [from, to) person was on at least one
// benefit, by a sweep over the moments their benefits began and ended
// (benefit.granted, the enrolment's parentBenefits, benefit.ended).
func supported(evs []stored, person string, from, to time.Time) time.Duration {
	active := map[string]bool{}
	var d time.Duration
	last := from
	step := func(t time.Time) {
		if t.After(to) {
			t = to
		}
		if len(active) > 0 && t.After(last) {
			lo := last
			if lo.Before(from) {
				lo = from
			}
			if t.After(lo) {
				d += t.Sub(lo)
			}
		}
		if t.After(last) {
			last = t
		}
	}
	for _, s := range evs {
		t := s.env.Time()
		switch x := s.env.Data.(type) {
		case *events.BenefitGranted:
			if x.PersonID == person {
				step(t)
				active[x.Benefit] = true
			}
		case *events.FamilyEnrolled:
			for _, b := range x.ParentBenefits {
				if b.PersonID == person {
					step(t)
					active[b.Benefit] = true
				}
			}
		case *events.BenefitEnded:
			if x.PersonID == person && active[x.Benefit] {
				step(t)
				delete(active, x.Benefit)
			}
		}
	}
	step(to)
	return d
}
