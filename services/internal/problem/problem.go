// Package problem writes RFC 9457 problem details. Handlers return a
// *Problem (or any error) and one function turns it into the response, so
// that no handler formats error bodies by hand.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// TypeBase prefixes the problem type URIs of this API.
const TypeBase = "https://jobogfamilie.kk.dk/problems/"

// Field is one field-level failure, with a JSON pointer into the request.
type Field struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type   string  `json:"type"`
	Title  string  `json:"title"`
	Status int     `json:"status"`
	Detail string  `json:"detail,omitempty"`
	Errors []Field `json:"errors,omitempty"`
	// Index is the failing event's position in a batch, when it is one.
	Index *int `json:"index,omitempty"`
	// Rule names the broken invariant, for 409s.
	Rule string `json:"rule,omitempty"`
	// Position is the stream position a read waited for, for 503s.
	Position uint64 `json:"position,omitempty"`
	// RetryAfter, in seconds, is sent as the Retry-After header.
	RetryAfter int `json:"-"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// New makes a problem whose type is TypeBase+slug.
func New(status int, slug, title, detail string) *Problem {
	return &Problem{Type: TypeBase + slug, Title: title, Status: status, Detail: detail}
}

// Helpers for the statuses every service uses.
func BadRequest(detail string) *Problem {
	return New(http.StatusBadRequest, "malformed", "Malformed request", detail)
}
func Unauthorized(detail string) *Problem {
	return New(http.StatusUnauthorized, "unauthorized", "Missing or unknown token", detail)
}
func Forbidden(detail string) *Problem {
	return New(http.StatusForbidden, "forbidden", "Not allowed", detail)
}
func NotFound(detail string) *Problem {
	return New(http.StatusNotFound, "not-found", "Not found", detail)
}
func Conflict(slug, detail string) *Problem {
	return New(http.StatusConflict, slug, "Conflict", detail)
}
func Unavailable(detail string) *Problem {
	p := New(http.StatusServiceUnavailable, "unavailable", "Service unavailable", detail)
	p.RetryAfter = 1
	return p
}

// Write sends err as problem details; errors that are not a *Problem become
// a 500 whose detail does not leak internals.
func Write(w http.ResponseWriter, err error) {
	var p *Problem
	if !errors.As(err, &p) {
		p = New(http.StatusInternalServerError, "internal", "Internal error", "the server failed; the failure is logged")
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(p.RetryAfter))
	}
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="jobogfamilie"`)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
