package family

import (
	"maps"
	"slices"
)

// CanRead reports whether the employee may read the family now: while the
// current caseworker, either of the current makkerpar, or a team member who
// has joined and not left since. Assignments replace one another (a new
// caseworker.assigned or makkerpar.assigned ends the previous one's access),
// and the end of a course does not end access, because the makkerpar and
// the caseworker still record the final evaluation after it.
func (s *State) CanRead(employeeID string) bool {
	if employeeID == "" {
		// Nobody is assigned as "": an unset caseworker must not match.
		return false
	}
	if s.team[employeeID].now() {
		return true
	}
	return employeeID == s.caseworker ||
		employeeID == s.makkerpar.JobConsultantID ||
		employeeID == s.makkerpar.FamilyWorkerID
}

// Assigned lists the employees who may read the family now (see CanRead),
// sorted and without duplicates, e.g. to index families by employee.
func (s *State) Assigned() []string {
	set := map[string]struct{}{}
	for id, h := range s.team {
		if h.now() {
			set[id] = struct{}{}
		}
	}
	for _, id := range []string{s.caseworker, s.makkerpar.JobConsultantID, s.makkerpar.FamilyWorkerID} {
		if id != "" {
			set[id] = struct{}{}
		}
	}
	if len(set) == 0 {
		return []string{} // marshals as [], like the overview's slices
	}
	return slices.Sorted(maps.Keys(set))
}
