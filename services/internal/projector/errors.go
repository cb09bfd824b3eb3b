package projector

import (
	"strconv"

	"kk.dk/jobogfamilie/services/internal/problem"
)

// The projector's errors and the problems they are answered with.

// notAppliedProblem: the read model did not reach an X-Min-Position in
// time.
func notAppliedProblem(want, at uint64) *problem.Problem {
	pr := problem.Unavailable("the read model has not applied position " + strconv.FormatUint(want, 10) +
		" within " + MinPositionWait.String() + "; it is at " + strconv.FormatUint(at, 10))
	pr.Position = want
	return pr
}

// ErrRebuildRunning: a rebuild was asked for while one runs (409).
var ErrRebuildRunning error = rebuildRunning{}

type rebuildRunning struct{}

func (rebuildRunning) Error() string { return "projector: a rebuild is already running" }
func (rebuildRunning) Problem() *problem.Problem {
	return problem.Conflict("rebuild-running", "a rebuild is already running; follow it with GET /v1/admin/rebuild")
}
