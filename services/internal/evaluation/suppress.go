package evaluation

// Suppress applies disclosure control to exact measures, in place.
//
// Primary: a count of families, persons, children or child cases from 1
// to threshold-1, and any aggregate (mean, median, share, full-time
// persons, goals) resting on 1 to threshold-1 units, becomes
// {"value":null,"suppressed":true,"count":0}: the count would give the
// hidden value (or the small number of units) away. A zero is shown: it tells nothing
// about anyone. A Proportion (the share of parents who got a job) is a
// count of persons divided by its count: it is suppressed also when the
// units it counts in, or those it counts out, are 1 to threshold-1 (a
// share of 0.2 of 5 parents is 1 parent; one of 0.8 is 1 parent without).
// And every figure keeps how many families its units (for a count, what
// it counts) come from: one family's five children are one family, so a
// figure whose units come from 1 to threshold-1 families is suppressed,
// and so is a Proportion whose units counted in, or left out, do.
//
// Complementary: for every Relation (e.g. enrolled = active + ended), a
// cell that is the only suppressed one of its relation could be derived
// from the others, so one more cell is suppressed: the smallest shown
// part (or, without one, the smallest shown total). This repeats until no
// relation has exactly one suppressed cell. Last, an aggregate whose
// count is a suppressed count again (SameUnits) is suppressed with it.
func Suppress(ms map[string]Measure, threshold int) {
	if threshold <= 0 {
		threshold = DefaultThreshold
	}
	small := func(n int) bool { return n >= 1 && n < threshold }
	for _, d := range Catalog {
		m, ok := ms[d.Name]
		if !ok || d.Kind == Config {
			continue
		}
		if small(m.Count) || small(m.families) || d.Kind == Proportion &&
			(small(m.countedIn) || small(m.Count-m.countedIn) || small(m.familiesIn) || small(m.familiesOut)) {
			hide(ms, d.Name)
		}
	}
	for changed := true; changed; {
		changed = false
		for _, r := range Relations {
			cells := append(append([]string(nil), r.Totals...), r.Parts...)
			hidden := 0
			for _, c := range cells {
				if ms[c].Suppressed {
					hidden++
				}
			}
			if hidden != 1 {
				continue
			}
			pick := smallestShown(ms, r.Parts)
			if pick == "" {
				pick = smallestShown(ms, r.Totals)
			}
			if pick != "" {
				hide(ms, pick)
				changed = true
			}
		}
	}
	for agg, count := range SameUnits {
		if _, ok := ms[agg]; ok && ms[count].Suppressed {
			hide(ms, agg)
		}
	}
}

func hide(ms map[string]Measure, name string) {
	m := ms[name]
	m.Value, m.Suppressed, m.Count = nil, true, 0
	m.countedIn, m.families, m.familiesIn, m.familiesOut = 0, 0, 0, 0
	ms[name] = m
}

func smallestShown(ms map[string]Measure, names []string) string {
	pick, best := "", 0.0
	for _, n := range names {
		m, ok := ms[n]
		if !ok || m.Suppressed || m.Value == nil {
			continue
		}
		// A shown zero protects nothing only when others are positive: a
		// positive cell is preferred.
		if pick == "" || (*m.Value > 0) != (best > 0) && *m.Value > 0 || (*m.Value > 0) == (best > 0) && *m.Value < best {
			pick, best = n, *m.Value
		}
	}
	return pick
}
