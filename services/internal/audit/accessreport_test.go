package audit_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestAccessReport: the data protection officer's report of who read a
// family's data lists every logged read (when, why, the reader's
// organisation, the endpoint's kind), without employee ids unless asked,
// the asking itself logged; its own reads are in it; it is JSON, or a
// printable Danish page; bad parameters and other principals are refused.
func TestAccessReport(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam = "FAM-AR"
	s.Post(events.SOF, fam, testenv.Enrolment())
	s.WaitApplied(s.Post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"}).Sequence)

	const why = "Forberedelse af netværksmøde"
	for _, rd := range []struct{ path, token, purpose string }{
		{"/v1/families/" + fam + "/timeline?limit=5", "dev-coordinator", why},
		{"/v1/families/" + fam, "dev-coordinator", ""},
		{"/v1/audit/families/" + fam + "/timeline", "dev-auditor", "Aktindsigt sag 2024-17"},
	} {
		if r := s.Get(rd.path, rd.token, map[string]string{"X-Purpose": rd.purpose}); r.Status != 200 {
			t.Fatalf("%s: %d %s", rd.path, r.Status, r.Raw)
		}
	}
	s.lines("/v1/audit/events") // every family at once
	afterReads := time.Now().UTC()

	get := func(query string, hdr map[string]string) (audit.AccessReport, testenv.Reply) {
		t.Helper()
		r := s.Get("/v1/privacy/families/"+fam+"/access-report"+query, "dev-dpo", hdr)
		var rep audit.AccessReport
		if r.Status == 200 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			if err := json.Unmarshal([]byte(r.Raw), &rep); err != nil {
				t.Fatal(err)
			}
		}
		return rep, r
	}
	rep, r := get("", map[string]string{"X-Purpose": "Anmodning om indsigt fra borger"})
	if r.Status != 200 {
		t.Fatalf("report: %d %s", r.Status, r.Raw)
	}
	want := []struct {
		kind, purpose, reader, org string
		all                        bool
	}{
		{"timeline", why, "coordinator", "Job og Familie, Københavns Kommune (koordinator)", false},
		{"overview", "", "coordinator", "Job og Familie, Københavns Kommune (koordinator)", false},
		{"audit-as-of", "Aktindsigt sag 2024-17", "auditor", "Revision, Københavns Kommune", false},
		{"audit-events", "", "auditor", "Revision, Københavns Kommune", true},
		{"access-report", "Anmodning om indsigt fra borger", "dpo", "Databeskyttelsesrådgiveren, Københavns Kommune", false},
	}
	if len(rep.Reads) != len(want) || rep.FamilyID != fam || rep.IncludeEmployees || rep.PersonID != nil {
		t.Fatalf("report: %s", r.Raw)
	}
	for i, w := range want {
		g := rep.Reads[i]
		if g.EndpointKind != w.kind || g.Purpose != w.purpose || g.ReaderKind != w.reader || g.Organisation != w.org || g.AllFamilies != w.all || g.Time.IsZero() {
			t.Errorf("read %d: %+v, want %+v", i, g, w)
		}
	}
	// No employee id, nor a principal's name that carries one.
	if strings.Contains(r.Raw, "E1001") || strings.Contains(r.Raw, "employeeId") {
		t.Errorf("the report names employees: %s", r.Raw)
	}

	// With employees, for internal use: shown, and the asking is logged
	// with its query.
	rep, r = get("?includeEmployees=true&personId=P1", nil)
	if r.Status != 200 || !rep.IncludeEmployees || rep.PersonID == nil || *rep.PersonID != "P1" || rep.Reads[0].EmployeeID != "E1001" {
		t.Fatalf("with employees: %d %s", r.Status, r.Raw)
	}
	objs, _ := s.lines("/v1/audit/access-log?family=" + fam)
	var logged bool
	for _, o := range objs {
		var kind, endpoint string
		_ = json.Unmarshal(o["kind"], &kind)
		_ = json.Unmarshal(o["endpoint"], &endpoint)
		if kind == "dpo" && strings.Contains(endpoint, "includeEmployees=true") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("the report with employees is not in the access log: %v", objs)
	}
	// The period: from after the reads keeps only the reports.
	rep, r = get("?from="+url.QueryEscape(afterReads.Format(time.RFC3339Nano)), nil)
	if r.Status != 200 || len(rep.Reads) != 3 || rep.From == nil {
		t.Errorf("from: %d %s", r.Status, r.Raw)
	}
	for _, rd := range rep.Reads {
		if rd.EndpointKind != "access-report" {
			t.Errorf("from: %+v", rd)
		}
	}

	// The printable page.
	r = s.Get("/v1/privacy/families/"+fam+"/access-report", "dev-dpo", map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("html: %d %s %.300s", r.Status, r.Header.Get("Content-Type"), r.Raw)
	}
	for _, w := range []string{`lang="da"`, "Hvem har set oplysningerne?", why, "Familiens tidslinje", "Ikke angivet", "Revision: de gemte hændelser (alle familier)",
		"Job og Familie, Københavns Kommune (koordinator)", "Medarbejdernes navne og id står ikke i rapporten", "@media print"} {
		if !strings.Contains(r.Raw, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
	if strings.Contains(r.Raw, "E1001") {
		t.Error("the page names an employee")
	}
	style := r.Raw[strings.Index(r.Raw, "<style>")+len("<style>") : strings.Index(r.Raw, "</style>")]
	sum := sha256.Sum256([]byte(style))
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") ||
		!strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("CSP %q does not allow exactly the page's style", csp)
	}
	r = s.Get("/v1/privacy/families/"+fam+"/access-report?includeEmployees=true", "dev-dpo", map[string]string{"Accept": "text/html"})
	if !strings.Contains(r.Raw, "Medarbejder-id") || !strings.Contains(r.Raw, "E1001") || !strings.Contains(r.Raw, "må ikke udleveres") {
		t.Errorf("the internal page lacks the employees: %.500s", r.Raw)
	}

	// Refusals.
	for _, c := range []struct {
		path, token string
		status      int
		says        string
	}{
		{"/v1/privacy/families/" + fam + "/access-report", "dev-auditor", 403, ""},
		{"/v1/privacy/families/" + fam + "/access-report", "dev-coordinator", 403, ""},
		{"/v1/privacy/families/" + fam + "/access-report", "", 401, ""},
		{"/v1/privacy/families/" + fam + "/access-report?personId=NOPE", "dev-dpo", 404, "not a member"},
		{"/v1/privacy/families/" + fam + "/access-report?personId=" + url.QueryEscape("a b"), "dev-dpo", 400, "personId"},
		{"/v1/privacy/families/" + fam + "/access-report?includeEmployees=yes", "dev-dpo", 400, "includeEmployees"},
		{"/v1/privacy/families/" + fam + "/access-report?from=2025-01-01&to=2024-01-01", "dev-dpo", 400, "before"},
		{"/v1/privacy/families/" + fam + "/access-report?person=P1", "dev-dpo", 400, "unknown query parameter"},
		{"/v1/privacy/families/NOPE/access-report", "dev-dpo", 404, "no events"},
	} {
		r := s.Get(c.path, c.token, nil)
		if r.Status != c.status || r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(r.Raw, c.says) {
			t.Errorf("%s as %q: %d %s", c.path, c.token, r.Status, r.Raw)
		}
	}
}
