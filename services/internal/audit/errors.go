package audit

import (
	"context"
	"errors"

	"kk.dk/jobogfamilie/services/internal/problem"
)

// The audit API's errors and the problems they are answered with.

// errVerifyRunning: a verification was asked for while one runs (409).
var errVerifyRunning error = verifyRunning{}

type verifyRunning struct{}

func (verifyRunning) Error() string { return "audit: a verification is running" }
func (verifyRunning) Problem() *problem.Problem {
	return problem.Conflict("verify-running", "a verification is running; follow it with GET /v1/audit/verify")
}

// storeProblem maps a failure to reach the event store or the read model
// onto 503, and leaves other errors alone.
func storeProblem(err error) error {
	var pr *problem.Problem
	switch {
	case err == nil || errors.As(err, &pr):
		return err
	case errors.Is(err, ErrBehind):
		return problem.Unavailable(err.Error())
	case errors.Is(err, context.Canceled):
		return err
	}
	return problem.Unavailable("the event store could not be read: " + err.Error())
}
