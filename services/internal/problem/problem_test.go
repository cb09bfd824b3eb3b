package problem_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

type ruleBroken struct{ rule string }

func (e ruleBroken) Error() string { return "broken " + e.rule }
func (e ruleBroken) Problem() *problem.Problem {
	p := problem.Conflict("invariant", "the rule "+e.rule+" is broken")
	p.Rule = e.rule
	return p
}

// The middleware answers every error a handler returns, and only those.
func TestHandlerAnswersErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		err    error
		status int
		typ    string
		header map[string]string
	}{
		{"problem", problem.NotFound("no such family"), 404, problem.TypeBase + "not-found", nil},
		{"wrapped problem", fmt.Errorf("reading: %w", problem.BadRequest("bad")), 400, problem.TypeBase + "malformed", nil},
		{"typed error", fmt.Errorf("write: %w", ruleBroken{"one-course"}), 409, problem.TypeBase + "invariant", nil},
		{"unauthorized", problem.Unauthorized("token"), 401, problem.TypeBase + "unauthorized", map[string]string{"WWW-Authenticate": `Bearer realm="jobogfamilie"`}},
		{"unavailable", problem.Unavailable("down"), 503, problem.TypeBase + "unavailable", map[string]string{"Retry-After": "1"}},
		{"anything else", errors.New("disk on fire at /secret/path"), 500, problem.TypeBase + "internal", nil},
	} {
		h := problem.Handler(testenv.QuietLog(), func(w http.ResponseWriter, r *http.Request) error { return c.err })
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v: %s", c.name, err, rec.Body)
		}
		if rec.Code != c.status || rec.Header().Get("Content-Type") != "application/problem+json" ||
			body["type"] != c.typ || body["status"] != float64(c.status) {
			t.Errorf("%s: %d %s %v, want %d problem+json of type %s", c.name, rec.Code, rec.Header().Get("Content-Type"), body, c.status, c.typ)
		}
		for k, v := range c.header {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", c.name, k, got, v)
			}
		}
		if c.status == 500 && strings.Contains(rec.Body.String(), "/secret/path") {
			t.Errorf("%s: the detail leaks the internal error", c.name)
		}
	}
	rec := httptest.NewRecorder()
	problem.Handler(nil, func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}).ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Errorf("a handler that answered: %d %q", rec.Code, rec.Body)
	}
}

// What the mux has no route for is a problem: 404, or 405 with Allow; the
// mux's own redirects pass through.
func TestMuxAnswersUnmatchedAsProblems(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/families", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("list")) })
	mux.HandleFunc("POST /v1/admin/rebuild", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /tree/", func(w http.ResponseWriter, r *http.Request) {})
	h := problem.Mux(mux)
	for _, c := range []struct {
		method, path string
		status       int
		ctype, allow string
		location     string
	}{
		{"GET", "/v1/families", 200, "text/plain; charset=utf-8", "", ""},
		{"GET", "/nowhere", 404, "application/problem+json", "", ""},
		{"DELETE", "/v1/families", 405, "application/problem+json", "GET, HEAD", ""},
		{"GET", "/v1/admin/rebuild", 405, "application/problem+json", "POST", ""},
		// Redirects: whatever status the mux itself answers them with.
		{"GET", "/tree", 0, "", "", "/tree/"},
		{"GET", "/v1//families", 0, "", "", "/v1/families"},
	} {
		if c.status == 0 {
			bare := httptest.NewRecorder()
			mux.ServeHTTP(bare, httptest.NewRequest(c.method, c.path, nil))
			c.status = bare.Code
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status || (c.ctype != "" && rec.Header().Get("Content-Type") != c.ctype) ||
			rec.Header().Get("Allow") != c.allow || rec.Header().Get("Location") != c.location {
			t.Errorf("%s %s: %d %q Allow %q Location %q, want %d %q Allow %q Location %q: %s", c.method, c.path,
				rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Allow"), rec.Header().Get("Location"),
				c.status, c.ctype, c.allow, c.location, rec.Body)
		}
		if c.ctype == "application/problem+json" {
			var p problem.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != c.status || p.Type == "" || p.Title == "" {
				t.Errorf("%s %s: not a problem: %v %s", c.method, c.path, err, rec.Body)
			}
		}
	}
}

// MuxWith adds headers to the mux's 404 and 405 answers only: a route's
// answer and a redirect are as the mux gives them.
func TestMuxWithHeadersOnUnmatched(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/families", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("list")) })
	mux.HandleFunc("GET /tree/", func(w http.ResponseWriter, r *http.Request) {})
	h := problem.MuxWith(mux, func(h http.Header, r *http.Request) { h.Set("X-Seen", r.Method+" "+r.URL.Path) })
	for _, c := range []struct {
		method, path string
		status       int
		seen         string
	}{
		{"GET", "/v1/families", 200, ""},
		{"GET", "/tree", http.StatusTemporaryRedirect, ""},
		{"GET", "/nowhere", 404, "GET /nowhere"},
		{"DELETE", "/v1/families", 405, "DELETE /v1/families"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status || rec.Header().Get("X-Seen") != c.seen {
			t.Errorf("%s %s: %d X-Seen %q, want %d %q", c.method, c.path, rec.Code, rec.Header().Get("X-Seen"), c.status, c.seen)
		}
	}
}
