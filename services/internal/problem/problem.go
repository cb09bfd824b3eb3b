// Package problem is the one error map of the HTTP APIs: handlers return a
// *Problem, an error that knows its problem (Problemer), or any other
// error, and Handler turns it into an RFC 9457 response, so that no
// handler formats error bodies by hand.
package problem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	// Allow is sent as the Allow header, for 405s.
	Allow string `json:"-"`
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

// Problemer is an error of a package that knows which problem it is,
// e.g. a typed conflict that names the broken rule.
type Problemer interface {
	error
	Problem() *Problem
}

// From maps err to its problem: a *Problem in its chain, or the problem of
// a Problemer in it; anything else is a 500 whose detail does not leak
// internals.
func From(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var pe Problemer
	if errors.As(err, &pe) {
		if p := pe.Problem(); p != nil {
			return p
		}
	}
	return internal()
}

func internal() *Problem {
	return New(http.StatusInternalServerError, "internal", "Internal error", "the server failed; the failure is logged")
}

// StatusOf is the status the answer to err has.
func StatusOf(err error) int { return From(err).Status }

// HandlerFunc is an HTTP handler that returns its failure instead of
// answering it. Once it has written a response it returns nil (a stream
// cut after its first byte is not answered again).
type HandlerFunc func(http.ResponseWriter, *http.Request) error

// Handler is the error middleware: it runs h and answers the error h
// returns as problem details. Errors that are not problems are logged on
// log (unless the client left) and answered as a 500.
func Handler(log *slog.Logger, h HandlerFunc) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		p := From(err)
		if p.Status == http.StatusInternalServerError && !(errors.Is(err, context.Canceled) && r.Context().Err() != nil) {
			log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		write(w, p)
	})
}

// write sends p as problem details.
func write(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(p.RetryAfter))
	}
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="jobogfamilie"`)
	}
	if p.Allow != "" {
		h.Set("Allow", p.Allow)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// Mux answers what mux has no route for as problem details: 404 for an
// unknown path, 405 with the mux's Allow header for a known path with
// another method. Everything else, redirects to a cleaned path included,
// is mux's own answer.
func Mux(mux *http.ServeMux) http.Handler { return MuxWith(mux, nil) }

// MuxWith is Mux whose 404 and 405 answers also carry the headers that
// headers, when not nil, sets for the request: those that the routes at
// or above the request's path carry on every answer. It sees the 405's
// Allow, the mux's, and may narrow it.
func MuxWith(mux *http.ServeMux, headers func(http.Header, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// The mux's own answer says which of the two it is (and which
		// methods it allows); it is small, so it is held, not streamed.
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
		}
		if headers != nil && (rec.status == http.StatusNotFound || rec.status == http.StatusMethodNotAllowed) {
			// They may narrow the 405's Allow too.
			headers(w.Header(), r)
		}
		switch rec.status {
		case http.StatusNotFound:
			write(w, New(http.StatusNotFound, "not-found", "Not found", "no resource at "+r.URL.Path+"; GET /openapi.json lists this server's API"))
		case http.StatusMethodNotAllowed:
			allow := w.Header().Get("Allow")
			write(w, New(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed",
				r.Method+" is not served at "+r.URL.Path+"; allowed: "+allow))
		default:
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write(rec.body)
		}
	})
}

type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	r.body = append(r.body, b...)
	return len(b), nil
}
