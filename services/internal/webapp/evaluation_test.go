package webapp_test

import (
	"strings"
	"testing"
	"time"
)

func TestEvaluationPage(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("F1", "E1001")
	e.clock.Add(time.Minute) // the page's last moment is after the enrolment

	a := e.browser()
	// An analyst lands on the evaluation, wherever next pointed.
	if r := a.login("dev-analyst", "/app/families/F1"); r.Status != 303 || r.Location != "/app/evaluation" {
		t.Fatalf("analyst login: %d %q", r.Status, r.Location)
	}
	r := a.get("/app/evaluation")
	if r.Status != 200 {
		t.Fatalf("evaluation page: %d %.500s", r.Status, r.Body)
	}
	for _, want := range []string{"Indskrevne familier mod målet", "Aktive familier", "Forældre i praktik, løntilskud, job og uddannelse",
		"Skolefravær før og under forløbet", "Nåede mål pr. domæne", `<svg class="chart"`, "<table", "skjult",
		"Skjulte tal (diskretion) står som huller", `href="/app/evaluation/series.csv?chart=indskrevne&amp;from=`, `>Evaluering</a>`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("evaluation page lacks %q", want)
		}
	}
	if strings.Count(r.Body, "<svg") != 5 || strings.Count(r.Body, "Hent tallene som CSV") != 5 {
		t.Errorf("want 5 charts with a CSV link each")
	}
	// One family: its enrolment is suppressed, never shown as 1, and the
	// page names no family.
	shown := r.shown()
	for _, bad := range []string{"F1", "E1001", "/app/families", "<td>1</td>"} {
		if strings.Contains(shown, bad) {
			t.Errorf("evaluation page shows %q", bad)
		}
	}

	csv := a.get("/app/evaluation/series.csv?chart=indskrevne")
	if csv.Status != 200 || !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(csv.Body, "asOf,knownAt,position,measure,value,suppressed,count,unit\r\n") ||
		!strings.Contains(csv.Body, "families.enrolled,,true,0,families") || strings.Contains(csv.Body, "families.active") {
		t.Errorf("chart CSV: %d %q %.600s", csv.Status, csv.Header.Get("Content-Type"), csv.Body)
	}
	if lines := strings.Count(csv.Body, "\n"); lines != 1+24*2 {
		t.Errorf("chart CSV has %d lines, want a header and 24 months of 2 measures", lines)
	}

	// No family page for an analyst, and no family id on the refusal.
	if r := a.get("/app/"); r.Status != 303 || r.Location != "/app/evaluation" {
		t.Errorf("analyst /app/: %d %q", r.Status, r.Location)
	}
	for _, path := range []string{"/app/families", "/app/families/F1", "/app/families/F1/access-log", "/app/families/F1/live"} {
		if r := a.get(path); r.Status != 403 || strings.Contains(r.shown(), "E1001") || strings.Contains(r.Body, "Hvorfor åbner du") {
			t.Errorf("analyst %s: %d %.300s", path, r.Status, r.Body)
		}
	}

	for _, tc := range []struct {
		name, token, path string
		status            int
	}{
		{"auditor", "dev-auditor", "/app/evaluation", 200},
		{"auditor csv", "dev-auditor", "/app/evaluation/series.csv", 200},
		{"coordinator", "dev-coordinator", "/app/evaluation", 403},
		{"coordinator csv", "dev-coordinator", "/app/evaluation/series.csv?chart=aktive", 403},
		{"bad period", "dev-analyst", "/app/evaluation?from=2025-06-01&to=2024-01-01", 400},
		{"unknown parameter", "dev-analyst", "/app/evaluation?familyId=F1", 400},
		{"unknown chart", "dev-analyst", "/app/evaluation/series.csv?chart=nope", 404},
	} {
		b := e.browser()
		if r := b.login(tc.token, ""); r.Status != 303 {
			t.Fatalf("%s: login %d", tc.name, r.Status)
		}
		if r := b.get(tc.path); r.Status != tc.status {
			t.Errorf("%s: %s %d, want %d: %.300s", tc.name, tc.path, r.Status, tc.status, r.Body)
		}
	}
	// Five families: the figures are shown, each mean or share with the
	// number of parents or children it rests on.
	for _, f := range []string{"F2", "F3", "F4", "F5"} {
		e.enrol(f, "E1001")
	}
	e.clock.Add(time.Minute)
	r = a.get("/app/evaluation")
	for _, want := range []string{"<td>5</td>", "<td>0 % (n = 5)</td>"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("evaluation page of five families lacks %q", want)
		}
	}
	if r := e.browser().get("/app/evaluation"); r.Status != 303 || !strings.HasPrefix(r.Location, "/app/login") {
		t.Errorf("unsigned: %d %q", r.Status, r.Location)
	}
}
