package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/shred"
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

// TestCLIReadsAreInTheAccessReport: DOMAIN.md, "Every read of a family's
// data by a person is itself recorded (who, when, which family,
// purpose)". The audit CLI's reads straight from NATS that decrypt the
// personal fields (replay and export with -master-key-file) need
// -purpose and are recorded before anything is written: one entry for
// the family read, one bulk entry for a replay of every family, named
// after the CLI and the operating system's user, through the NATS key of
// the audit CLI (audit.nk of the standalone). The citizen's access report
// lists them. A key that may not record the read (the read-only
// operator.nk) reads nothing; a replay without the master key prints no
// personal text and records nothing.
func TestCLIReadsAreInTheAccessReport(t *testing.T) {
	t.Parallel()
	s := startSystem(t, true)
	const fam, marker, why = "FAM-RV4", "MARKER-cli-laest", "Revision af sag 2024-17"
	p := s.Post(events.SOF, fam, &events.FamilyReferred{Reason: marker})
	s.WaitApplied(p.Sequence)
	nats := []string{"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.AuditKey}
	operator := []string{"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey}
	master := []string{"-master-key-file", shred.DevMasterKeyFile(s.SA.Config.DataDir)}
	run := func(name string, args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := audit.Command(context.Background(), name, args, func(string) string { return "" }, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	reads := func() []audit.AccessRead {
		t.Helper()
		r := s.Get("/v1/privacy/families/"+fam+"/access-report", "dev-dpo", nil)
		if r.Status != 200 {
			t.Fatalf("access report: %d %s", r.Status, r.Raw)
		}
		var rep audit.AccessReport
		if err := json.Unmarshal([]byte(r.Raw), &rep); err != nil {
			t.Fatal(err)
		}
		return rep.Reads
	}

	// Without -purpose a decrypting read is refused, and nothing printed.
	args := append(append(append([]string{}, nats...), master...), "-family", fam)
	if code, out, errOut := run("replay", args...); code != 2 || out != "" || !strings.Contains(errOut, "-purpose") {
		t.Fatalf("replay with a master key and no -purpose: %d %q %s", code, out, errOut)
	}
	if code, out, errOut := run("replay", append(args, "-purpose", "Opslag 010190-1234")...); code != 2 || out != "" {
		t.Fatalf("replay with a CPR number in -purpose: %d %q %s", code, out, errOut)
	}
	if code, out, errOut := run("replay", append(append(append([]string{}, operator...), master...), "-family", fam, "-purpose", why)...); code != 1 || out != "" || !strings.Contains(errOut, "access log") {
		t.Fatalf("replay as the read-only operator: %d %q %s", code, out, errOut)
	}
	if code, out, errOut := run("replay", append(args, "-purpose", why)...); code != 0 || !strings.Contains(out, marker) {
		t.Fatalf("replay: %d %s %s", code, out, errOut)
	}
	all := append(append(append([]string{}, nats...), master...), "-purpose", why)
	if code, out, errOut := run("replay", all...); code != 0 || !strings.Contains(out, marker) {
		t.Fatalf("replay of every family: %d %s %s", code, out, errOut)
	}
	dir := filepath.Join(t.TempDir(), "fam")
	if code, out, errOut := run("export", append(append([]string{}, all...), "-out", dir, "-family", fam)...); code != 0 {
		t.Fatalf("export: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := run("export", append(append(append([]string{}, nats...), master...), "-out", filepath.Join(t.TempDir(), "x"))...); code != 2 || !strings.Contains(errOut, "-purpose") {
		t.Fatalf("export with a master key and no -purpose: %d %s %s", code, out, errOut)
	}
	// Ciphertext only: not a read of the personal text, not recorded.
	if code, out, errOut := run("replay", append(append([]string{}, operator...), "-family", fam)...); code != 0 || strings.Contains(out, marker) {
		t.Fatalf("replay without a master key: %d %s %s", code, out, errOut)
	}

	got := reads()
	var kinds []string
	for _, rd := range got {
		kinds = append(kinds, rd.EndpointKind)
		if rd.EndpointKind == "access-report" {
			continue
		}
		if rd.Purpose != why || rd.ReaderKind != "auditor" || rd.EmployeeID != "" {
			t.Errorf("a CLI read in the report: %+v", rd)
		}
		if rd.AllFamilies != (rd.EndpointKind == "audit-cli-replay" && len(kinds) == 2) {
			t.Errorf("a CLI read of one family, or of all, in the report: %+v", rd)
		}
	}
	if want := []string{"audit-cli-replay", "audit-cli-replay", "audit-cli-export", "access-report"}; !slices.Equal(kinds, want) {
		t.Errorf("the report lists %v, want %v", kinds, want)
	}
	// The access log names the CLI and the user who ran it, and what was
	// run.
	objs, lines := s.lines("/v1/audit/access-log?family=" + fam)
	var endpoints []string
	for i := range objs {
		if strings.HasPrefix(str(objs[i], "endpoint"), "CLI ") {
			endpoints = append(endpoints, str(objs[i], "endpoint"))
			if pr := str(objs[i], "principal"); !strings.HasPrefix(pr, "cli:audit (") || !strings.HasSuffix(pr, ")") {
				t.Errorf("the principal of a CLI read: %s", lines[i])
			}
		}
	}
	if want := []string{"CLI audit replay -family " + fam, "CLI audit replay", "CLI audit export -family " + fam}; !slices.Equal(endpoints, want) {
		t.Errorf("the CLI reads in the access log: %q, want %q", endpoints, want)
	}
}
