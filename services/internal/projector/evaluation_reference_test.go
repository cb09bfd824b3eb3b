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

// copenhagen is the time zone of the pilot's days.
var copenhagen = func() *time.Location {
	l, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		panic(err)
	}
	return l
}()

// courseBegan is when a course enrolled at t began, as events/family's
// Check has it: the earlier of t and 00:00 in Copenhagen of its
// courseStart day, never before the previous course ended (prevEnd, zero
// when there is none).
func courseBegan(t time.Time, courseStart string, prevEnd time.Time) time.Time {
	b := t
	if d, err := time.ParseInLocation(time.DateOnly, courseStart, copenhagen); err == nil && d.Before(t) {
		b = d
	}
	if b.Before(prevEnd) && !prevEnd.After(t) {
		b = prevEnd
	}
	return b
}

// referenceCourse is what the second computation finds of a family's
// latest course: computed from the raw, ordered events (and the family
// model of events/family for what was open at a moment), never from
// package evaluation's fold.
type referenceCourse struct {
	enrolAt    int // index of the latest family.enrolled in the ordered events
	start, end time.Time
	// began is when each family.enrolled's course began, by its index in
	// the ordered events: the benefits it names count from then.
	began    map[int]time.Time
	ended    bool
	midway   time.Time
	parents  []string
	children []string
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
		firstEnrol, lastReferral, lastEnd := time.Time{}, time.Time{}, time.Time{}
		began := map[int]time.Time{}
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
				start := courseBegan(s.env.Time(), d.CourseStart, lastEnd)
				began[i] = start
				c = &referenceCourse{enrolAt: i, start: start, began: began, midway: start.Add(365 * 24 * time.Hour)}
				cs, e1 := time.ParseInLocation(time.DateOnly, d.CourseStart, copenhagen)
				pe, e2 := time.ParseInLocation(time.DateOnly, d.PlannedEnd, copenhagen)
				if e1 == nil && e2 == nil && pe.After(cs) {
					c.midway = start.Add(pe.Sub(cs) / 2)
				}
				if c.midway.Before(s.env.Time()) { // not known before the enrolment
					c.midway = s.env.Time()
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
					lastEnd = c.end
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
		// Open measures and child cases at enrolment, midway and at the
		// end: the family model's over the events up to each moment.
		atEnrolment := stateBefore(id, evs, c.enrolAt+1)
		mean("measures.openPerFamily.atEnrolment", float64(len(atEnrolment.Measures)))
		mean("childCases.openPerFamily.atEnrolment", float64(len(atEnrolment.ChildCases)))
		if !c.midway.After(asOf) && (!c.ended || c.end.After(c.midway)) {
			n := slices.IndexFunc(evs, func(s stored) bool { return s.env.Time().After(c.midway) })
			if n < 0 {
				n = len(evs)
			}
			midway := stateBefore(id, evs, n)
			mean("measures.openPerFamily.midway", float64(len(midway.Measures)))
			mean("childCases.openPerFamily.midway", float64(len(midway.ChildCases)))
		}
		if c.ended {
			n := slices.IndexFunc(evs, func(s stored) bool { _, ok := s.env.Data.(*events.CourseEnded); return ok && s.env.Time().Equal(c.end) })
			atEnd := stateBefore(id, evs, n)
			mean("measures.openPerFamily.atEnd", float64(len(atEnd.Measures)))
			mean("childCases.openPerFamily.atEnd", float64(len(atEnd.ChildCases)))
		}
		var caseworkers, makkerpar int
		for _, s := range evs {
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
			mean("publicSupport.before.fullTimePersons", supported(evs, p, c, from, c.start).Seconds()/c.start.Sub(from).Seconds())
			if until.After(c.start) {
				mean("publicSupport.during.fullTimePersons", supported(evs, p, c, c.start, until).Seconds()/until.Sub(c.start).Seconds())
			} else {
				units["publicSupport.during.fullTimePersons"]++
			}
		}
		// Periods are split on the days the course began and ended, in
		// Copenhagen.
		startDay := c.start.In(copenhagen).Format(time.DateOnly)
		endDay := c.end.In(copenhagen).Format(time.DateOnly)
		for _, child := range c.children {
			var tot [2][3]int
			for _, s := range evs {
				d, ok := s.env.Data.(*events.SchoolAbsenceNoted)
				if !ok || d.ChildID != child {
					continue
				}
				w := -1
				if d.PeriodEnd < startDay {
					w = 0
				} else if !c.ended || d.PeriodStart <= endDay {
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
// (benefit.granted, benefit.ended, and the parentBenefits of each
// enrolment, which count from when its course began). An enrolment
// recorded after its course began names benefits from before it: the
// sweep takes them at the course's start, before any change at that
// moment, so a benefit.ended dated from then on, though it precedes the
// enrolment, ends them (and one the parent was on already and that ended
// since is not reopened).
func supported(evs []stored, person string, c *referenceCourse, from, to time.Time) time.Duration {
	type change struct {
		at      time.Time
		grant   bool
		benefit string
		named   bool // by an enrolment
	}
	var changes []change
	for i, s := range evs {
		t := s.env.Time()
		switch x := s.env.Data.(type) {
		case *events.BenefitGranted:
			if x.PersonID == person {
				changes = append(changes, change{t, true, x.Benefit, false})
			}
		case *events.FamilyEnrolled:
			for _, b := range x.ParentBenefits {
				if b.PersonID == person {
					changes = append(changes, change{c.began[i], true, b.Benefit, true})
				}
			}
		case *events.BenefitEnded:
			if x.PersonID == person {
				changes = append(changes, change{t, false, x.Benefit, false})
			}
		}
	}
	slices.SortStableFunc(changes, func(a, b change) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(b2f(b.named), b2f(a.named)))
	})
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
	for _, ch := range changes {
		switch {
		case ch.grant:
			step(ch.at)
			active[ch.benefit] = true
		case active[ch.benefit]:
			step(ch.at)
			delete(active, ch.benefit)
		}
	}
	step(to)
	return d
}
