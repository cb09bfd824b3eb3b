package webapp

import (
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/problem"
)

// TestFailKeepsStatus: a problem's status is the error page's, whatever
// it is: a 409, 413 or 429 from the reads is not the server's fault, and
// a 502 or 504 is not a 500 either. The page says what the status means
// in Danish, and a problem's Retry-After travels with a 429 as with a 503.
func TestFailKeepsStatus(t *testing.T) {
	t.Parallel()
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	a := &App{pages: pages, opts: Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	for _, c := range []struct {
		err     error
		status  int
		heading string
	}{
		{problem.BadRequest("x"), 400, "Forespørgslen kunne ikke forstås"},
		{problem.Unauthorized("x"), 401, "Du er ikke logget ind"},
		{problem.Forbidden("x"), 403, "Du har ikke adgang"},
		{problem.NotFound("x"), 404, "Siden findes ikke"},
		{problem.Conflict("c", "x"), 409, "Forespørgslen kunne ikke gennemføres"},
		{problem.New(413, "too-large", "Content too large", "x"), 413, "Forespørgslen er for stor"},
		{problem.New(418, "teapot", "Teapot", "x"), 418, "Forespørgslen blev afvist"},
		{&problem.Problem{Status: 429, Title: "Too many", RetryAfter: 7}, 429, "For mange forsøg"},
		{problem.New(502, "bad-gateway", "Bad gateway", "x"), 502, "Der opstod en fejl"},
		{problem.Unavailable("x"), 503, "Systemet kan ikke vise data lige nu"},
		{errors.New("boom"), 500, "Der opstod en fejl"},
	} {
		w := httptest.NewRecorder()
		a.fail(w, httptest.NewRequest("GET", "/app/families/FAM-X", nil), nil, c.err)
		if w.Code != c.status || !strings.Contains(w.Body.String(), "<h1>"+c.heading+"</h1>") ||
			!strings.Contains(w.Body.String(), "Fejlkode "+itoa(c.status)) {
			t.Errorf("%v: %d %.400s; want %d, %q", c.err, w.Code, w.Body.String(), c.status, c.heading)
		}
		if c.status == 429 && w.Header().Get("Retry-After") != "7" {
			t.Errorf("429: Retry-After %q, want 7", w.Header().Get("Retry-After"))
		}
		if c.status == 429 && strings.Contains(w.Body.String(), "logge ind") {
			t.Errorf("a 429 of a read speaks of logins: %.400s", w.Body.String())
		}
	}
}
