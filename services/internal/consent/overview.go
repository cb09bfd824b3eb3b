package consent

import (
	"encoding/json"
	"slices"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// Entry is a hidden timeline entry as FilterOverview needs it.
type Entry struct {
	Department string
	Type       string
	Data       []byte
}

var (
	typeSchoolAbsence  = typeOf("schoolabsence.noted")
	typeGoalSet        = typeOf("goal.set")
	typeGoalProgressed = typeOf("goal.progressed")
	typeGoalClosed     = typeOf("goal.closed")
	typeReferred       = typeOf("family.referred")
)

// FilterOverview takes out of o what the hidden entries put into it, so
// that the overview a coordinator sees is the fold of the entries shown:
// the counts per department and the total, the latest event time (which
// becomes lastShown, the latest time of an entry shown), a child's school
// absence, and a goal whose goal.set is hidden (its goal.progressed and
// goal.closed are hidden with it). An open gate hides only events about a
// person and the follow-ups that refer to them, and of those only these
// change the overview. A closed gate hides events about no person too;
// for them FilterOverview leaves out more than they may have put in: the
// referral reason when a family.referred is hidden, the latest achievement
// (and its time) or outcome of a goal when a goal.progressed or
// goal.closed of it is. It returns how many entries it took out.
func FilterOverview(o *family.Overview, hidden []Entry, lastShown time.Time) int {
	if len(hidden) == 0 {
		return 0
	}
	var children, goals []string
	for _, e := range hidden {
		if d, ok := events.ParseDepartment(e.Department); ok {
			switch d {
			case events.SOF:
				o.EventsPerDepartment.SOF--
			case events.BIF:
				o.EventsPerDepartment.BIF--
			case events.BUF:
				o.EventsPerDepartment.BUF--
			case events.SUF:
				o.EventsPerDepartment.SUF--
			}
		}
		o.TotalEvents--
		var d struct {
			ChildID string `json:"childId"`
			GoalID  string `json:"goalId"`
		}
		_ = json.Unmarshal(e.Data, &d)
		switch e.Type {
		case typeSchoolAbsence:
			children = append(children, d.ChildID)
		case typeGoalSet:
			goals = append(goals, d.GoalID)
		case typeReferred:
			o.ReferralReason = ""
		case typeGoalProgressed, typeGoalClosed:
			for i := range o.Goals {
				if o.Goals[i].GoalID == d.GoalID {
					if e.Type == typeGoalProgressed {
						o.Goals[i].LatestAchievement, o.Goals[i].LatestAchievementAt = "", time.Time{}
					} else {
						o.Goals[i].Outcome = ""
					}
				}
			}
		}
	}
	o.SchoolAbsence = slices.DeleteFunc(o.SchoolAbsence, func(a family.SchoolAbsence) bool { return slices.Contains(children, a.ChildID) })
	o.Goals = slices.DeleteFunc(o.Goals, func(g family.Goal) bool { return slices.Contains(goals, g.GoalID) })
	o.LastEventTime = lastShown.UTC()
	return len(hidden)
}
