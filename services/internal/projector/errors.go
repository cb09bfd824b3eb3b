package projector

import (
	"kk.dk/jobogfamilie/services/internal/problem"
)

// The projector's errors and the problems they are answered with.

// ErrRebuildRunning: a rebuild was asked for while one runs (409).
var ErrRebuildRunning error = rebuildRunning{}

type rebuildRunning struct{}

func (rebuildRunning) Error() string { return "projector: a rebuild is already running" }
func (rebuildRunning) Problem() *problem.Problem {
	return problem.Conflict("rebuild-running", "a rebuild is already running; follow it with GET /v1/admin/rebuild")
}
