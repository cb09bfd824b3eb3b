package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/problem"
)

// integrityProblem is the 503 while the guard finds the event store
// damaged.
func integrityProblem(err error) *problem.Problem {
	p := problem.Unavailable(err.Error() + "; writes are refused")
	p.Type, p.Title = problem.TypeBase+"store-integrity", "Event store integrity check failed"
	return p
}

// catchingUpProblem is the 503 while the index has not caught up with the
// stream.
func catchingUpProblem(progress string) *problem.Problem {
	return problem.Unavailable(fmt.Sprintf("ingest is not ready, %s; retry shortly", progress))
}

// eventsProblem maps a parse or validation error of package events; i is
// the event's index in a batch (-1 when the error names it in pointers).
func eventsProblem(err error, i int, batch bool) error {
	var ee *events.Error
	if !errors.As(err, &ee) {
		return problem.BadRequest(err.Error())
	}
	var p *problem.Problem
	switch ee.Kind {
	case events.KindInvalid:
		p = problem.New(http.StatusUnprocessableEntity, "invalid-event", "Invalid event", ee.Detail)
	default:
		p = problem.BadRequest(ee.Detail)
		p.Type = problem.TypeBase + "malformed-event"
		p.Title = "Malformed CloudEvent"
	}
	prefix := ""
	if batch && i >= 0 {
		prefix = "/" + strconv.Itoa(i)
	}
	for _, pr := range ee.Problems {
		p.Errors = append(p.Errors, problem.Field{Pointer: prefix + pr.Pointer, Detail: pr.Detail})
	}
	if p.Detail == "" && len(p.Errors) > 0 {
		p.Detail = fmt.Sprintf("%d problem(s); the first: %s: %s", len(p.Errors), p.Errors[0].Pointer, p.Errors[0].Detail)
	}
	return indexed(p, i, batch)
}

// indexedAt is indexed for a problem whose pointers name the event's own
// members (/type): in a batch they name them in the event at i (/3/type).
func indexedAt(p *problem.Problem, i int, batch bool) *problem.Problem {
	if batch && i >= 0 {
		for k := range p.Errors {
			p.Errors[k].Pointer = "/" + strconv.Itoa(i) + p.Errors[k].Pointer
		}
	}
	return indexed(p, i, batch)
}

func indexed(p *problem.Problem, i int, batch bool) *problem.Problem {
	if batch && i >= 0 {
		p.Index = &i
		p.Detail = fmt.Sprintf("event %d: %s (the batch was not stored)", i, p.Detail)
	}
	return p
}

func outcomeOf(err error) string {
	var ref *Refusal
	switch {
	case errors.As(err, &ref):
		return "conflict"
	case errors.Is(err, ErrBusy):
		return "conflict"
	case errors.Is(err, eventstore.ErrUnavailable):
		return "unavailable"
	}
	return "error"
}

func writeProblem(err error, batch bool) error {
	var ref *Refusal
	switch {
	case errors.As(err, &ref):
		p := problem.Conflict("invariant", ref.Detail)
		if ref.Rule == "id-reused" {
			p.Type = problem.TypeBase + "id-reused"
		}
		p.Rule = ref.Rule
		if ref.Pointer != "" {
			p.Errors = []problem.Field{{Pointer: ref.Pointer, Detail: ref.Detail}}
		}
		return indexedAt(p, ref.Index, batch)
	case errors.Is(err, ErrBusy):
		p := problem.Conflict("concurrency", "the family changed concurrently; retry with the same event id")
		p.Rule = "concurrency"
		return p
	case errors.Is(err, eventstore.ErrStoreFull):
		p := problem.Unavailable("the event store has no room left (disk or storage limit); nothing of this request was stored. Retry with the same event id once an operator has made room")
		p.Type, p.Title = problem.TypeBase+"store-full", "Event store full"
		return p
	case errors.Is(err, eventstore.ErrUnavailable):
		return problem.Unavailable("the event store is unavailable or did not confirm the write; retry with the same event id (retries are idempotent)")
	}
	return err
}
