// Package service is the one shape every Job og Familie service has: a
// constructor that takes the shared Parts and returns a Service, whose
// routes, readiness checks, OpenAPI fragment and stop a process runs. The
// process package runs the services of one binary on one listener; the
// standalone runs all of them on the same parts.
package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/openapi"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/server"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// Parts are what every service is built on; a process makes them once.
type Parts struct {
	Config config.Config
	// Store is the open event store (NATS connection and JetStream).
	Store *eventstore.Store
	Auth  *auth.Authenticator
	// Guard checks the streams' integrity; a service registers with Seen
	// what it reads of them.
	Guard *eventstore.Guard
	// Metrics is where a service registers its metrics.
	Metrics prometheus.Registerer
	Log     *slog.Logger
	// Keys are the families' data keys (package shred): ingest encrypts
	// personal fields with them, every reader of the stream decrypts.
	Keys *shred.Keyring
}

// Route is one operation: Method and Pattern (net/http ServeMux syntax;
// an empty Method matches every method) and the handler, which returns
// its failure for problem.Handler to answer.
type Route struct {
	Method  string
	Pattern string
	Handle  problem.HandlerFunc
	// Page marks a page of a browser app (text/html), not an operation of
	// an API: it answers its failures itself, in the app's own pages, and
	// is not in the OpenAPI document.
	Page bool
	// Headers, when set, sets the headers that every answer at the
	// route's path or beneath it carries: the server's own answers there
	// too, 404 and 405 (see Mount). Positioned sets it.
	Headers func(http.Header)
	// GetOnly marks a GET that refuses HEAD (a read of family data, which
	// is recorded, is a GET): the server's 405 at its path names GET
	// alone in Allow (see Mount).
	GetOnly bool
}

// Check is one readiness condition; nil means ready.
type Check = server.Check

// Service is a running service.
type Service interface {
	// Routes are the operations it serves.
	Routes() []Route
	// Checks are its readiness conditions, by name, for /readyz.
	Checks() map[string]Check
	// API is the OpenAPI description of Routes.
	API() openapi.Fragment
	// Stop releases what it holds; it runs after the HTTP server stopped
	// and before the event store closes.
	Stop()
}

// Build makes a service from the parts.
type Build func(ctx context.Context, p Parts) (Service, error)

// Mount registers the routes of svcs on mux, each behind the error
// middleware, and returns the patterns registered ("GET /v1/families"):
// the API's operations and, apart, the pages of browser apps. fallback
// sets, on an answer the server gives itself where no route answers
// (problem.MuxWith's 404 and 405), the Headers of every route whose path
// is the request's or above it, and takes HEAD out of a 405's Allow at
// the path of a GetOnly route.
func Mount(mux *http.ServeMux, log *slog.Logger, svcs ...Service) (api, pages []string, fallback func(http.Header, *http.Request)) {
	var above, getOnly []headed
	for _, s := range svcs {
		for _, r := range s.Routes() {
			p := r.Pattern
			if r.Method != "" {
				p = r.Method + " " + p
			}
			mux.Handle(p, problem.Handler(log, r.Handle))
			if r.Page {
				pages = append(pages, p)
			} else {
				api = append(api, p)
			}
			if r.Headers != nil {
				above = append(above, headed{segments(r.Pattern), r.Headers})
			}
			if r.GetOnly {
				getOnly = append(getOnly, headed{pattern: segments(r.Pattern)})
			}
		}
	}
	return api, pages, func(h http.Header, r *http.Request) {
		path := segments(r.URL.Path)
		for _, a := range above {
			if a.covers(path) {
				a.set(h)
			}
		}
		if allow := h.Get("Allow"); allow != "" {
			for _, g := range getOnly {
				if len(g.pattern) == len(path) && g.covers(path) {
					h.Set("Allow", withoutHead(allow))
				}
			}
		}
	}
}

// withoutHead is the Allow list allow without HEAD.
func withoutHead(allow string) string {
	var out []string
	for _, m := range strings.Split(allow, ",") {
		if m = strings.TrimSpace(m); m != "" && m != http.MethodHead {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

// headed is a route's path, as segments, and its Headers.
type headed struct {
	pattern []string
	set     func(http.Header)
}

// covers reports whether a path (as segments) is the pattern's path or
// beneath it: each of the pattern's segments is the path's, a wildcard
// any one segment and a {name...} the rest.
func (a headed) covers(path []string) bool {
	for i, p := range a.pattern {
		switch {
		case p == "{$}":
			return len(path) == i
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "...}"):
			return true
		case i >= len(path):
			return false
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			if path[i] == "" {
				return false
			}
		case p != path[i]:
			return false
		}
	}
	return true
}

// segments are the segments of a path (of a pattern without its method);
// none for "/".
func segments(path string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

// Positioned makes every route of routes, a problem too, carry header
// with position(): the read model position a reader compares with
// X-Min-Position. It is set again after a failure, whose wait may have
// moved it on. The server's own 404 and 405 answers at or beneath the
// routes' paths carry it too (Route.Headers).
func Positioned(routes []Route, header string, position func() uint64) []Route {
	set := func(h http.Header) {
		h.Set(header, strconv.FormatUint(position(), 10))
	}
	for i := range routes {
		h := routes[i].Handle
		routes[i].Handle = func(w http.ResponseWriter, r *http.Request) error {
			set(w.Header())
			err := h(w, r)
			if err != nil {
				set(w.Header())
			}
			return err
		}
		routes[i].Headers = set
	}
	return routes
}

// JSON writes v as a JSON answer with status; every JSON answer of the
// APIs is written by it.
func JSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}
