package audit_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestAccessLog: a coordinator reads a family's timeline with a purpose
// and its overview without one, another coordinator is refused; the
// auditor's access log for the family (a citizen's request for access)
// lists the reads with who, when, which endpoint and why, and nothing of
// other families. The auditor's own reads are logged the same way.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam = "FAM-AL"
	s.Post(events.SOF, fam, testenv.Enrolment())
	p := s.Post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"})
	s.Post(events.SOF, "FAM-OTHER", testenv.Enrolment())
	q := s.Post(events.SOF, "FAM-OTHER", &events.CaseworkerAssigned{EmployeeID: "E1001"})
	s.WaitApplied(q.Sequence)
	_ = p

	before := time.Now().UTC()
	const why = "Forberedelse af netværksmøde"
	if r := s.Get("/v1/families/"+fam+"/timeline", "dev-coordinator", map[string]string{"X-Purpose": why}); r.Status != 200 {
		t.Fatalf("timeline: %d %s", r.Status, r.Raw)
	}
	if r := s.Get("/v1/families/"+fam, "dev-coordinator", nil); r.Status != 200 {
		t.Fatalf("overview: %d %s", r.Status, r.Raw)
	}
	if r := s.Get("/v1/families/"+fam, "dev-coordinator-2", nil); r.Status != 403 {
		t.Fatalf("unassigned coordinator: %d %s", r.Status, r.Raw)
	}
	if r := s.Get("/v1/families/FAM-OTHER", "dev-coordinator", map[string]string{"X-Purpose": "Andet"}); r.Status != 200 {
		t.Fatalf("other family: %d %s", r.Status, r.Raw)
	}
	between := time.Now().UTC()
	// The auditor's own read of the family, and a replay of all families.
	if r := s.Get("/v1/audit/families/"+fam+"/timeline", "dev-auditor", map[string]string{"X-Purpose": "Aktindsigt sag 2024-17"}); r.Status != 200 {
		t.Fatalf("as-of: %d %s", r.Status, r.Raw)
	}
	s.lines("/v1/audit/events")

	objs, texts := s.lines("/v1/audit/access-log?family=" + fam)
	if len(objs) != 4 {
		t.Fatalf("access log of %s: %d entries:\n%s", fam, len(objs), strings.Join(texts, "\n"))
	}
	type entry struct {
		Sequence   uint64    `json:"sequence"`
		RecordedAt time.Time `json:"recordedAt"`
		Time       time.Time `json:"time"`
		FamilyID   string    `json:"familyId"`
		Principal  string    `json:"principal"`
		Kind       string    `json:"kind"`
		EmployeeID string    `json:"employeeId"`
		Endpoint   string    `json:"endpoint"`
		Purpose    string    `json:"purpose"`
	}
	var es []entry
	for _, l := range texts {
		var e entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e.Sequence == 0 || e.RecordedAt.Before(before) || e.Time.Before(before) {
			t.Errorf("entry without sequence or times: %s", l)
		}
		es = append(es, e)
	}
	want := []entry{
		{FamilyID: fam, Kind: "coordinator", EmployeeID: "E1001", Endpoint: "GET /v1/families/" + fam + "/timeline", Purpose: why},
		{FamilyID: fam, Kind: "coordinator", EmployeeID: "E1001", Endpoint: "GET /v1/families/" + fam},
		{FamilyID: fam, Kind: "auditor", Endpoint: "GET /v1/audit/families/" + fam + "/timeline", Purpose: "Aktindsigt sag 2024-17"},
		{FamilyID: "*", Kind: "auditor", Endpoint: "GET /v1/audit/events"},
	}
	for i, w := range want {
		g := es[i]
		if g.FamilyID != w.FamilyID || g.Kind != w.Kind || g.EmployeeID != w.EmployeeID || g.Endpoint != w.Endpoint || g.Purpose != w.Purpose || g.Principal == "" {
			t.Errorf("entry %d: %s", i+1, texts[i])
		}
	}

	// Time bounds: the coordinator's reads only, then the auditor's.
	_, first := s.lines("/v1/audit/access-log?family=" + fam + "&to=" + url.QueryEscape(between.Format(time.RFC3339Nano)))
	_, second := s.lines("/v1/audit/access-log?family=" + fam + "&from=" + url.QueryEscape(between.Format(time.RFC3339Nano)))
	if len(first) != 2 || len(second) != 2 || first[1] != texts[1] || second[0] != texts[2] {
		t.Errorf("time bounds: %d and %d entries", len(first), len(second))
	}
	// Without a family: every entry, the other family's too.
	all, _ := s.lines("/v1/audit/access-log")
	if len(all) != 5 {
		t.Errorf("whole access log: %d entries", len(all))
	}
	if got, _ := s.lines("/v1/audit/access-log?family=FAM-NOBODY-READ"); len(got) != 1 || str(got[0], "familyId") != "*" {
		t.Errorf("a family nobody read: %v", got)
	}
}

// TestAccessMatrix: the audit API is for auditor tokens only, and auditor
// tokens write nothing anywhere.
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	p := s.Post(events.SOF, "FAM-M", testenv.Enrolment())
	s.WaitApplied(p.Sequence)
	reads := []struct{ method, path string }{
		{"GET", "/v1/audit/events"},
		{"GET", "/v1/audit/events?family=FAM-M"},
		{"GET", "/v1/audit/families/FAM-M/timeline"},
		{"GET", "/v1/audit/access-log"},
		{"GET", "/v1/audit/verify"},
		{"POST", "/v1/audit/verify"},
	}
	for _, tc := range []struct {
		token  string
		status int
	}{
		{"", 401},
		{"not-a-token", 401},
		{"dev-coordinator", 403},
		{"dev-sof", 403},
		{"dev-operator", 403},
		{"dev-auditor", 200},
	} {
		for _, e := range reads {
			r := s.Do(e.method, e.path, tc.token, nil, nil)
			if r.Status != tc.status {
				t.Errorf("%s %s with %q: %d %s", e.method, e.path, tc.token, r.Status, r.Raw)
			}
			if tc.status >= 400 && r.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s with %q: Content-Type %s", e.method, e.path, tc.token, r.Header.Get("Content-Type"))
			}
		}
	}
	// Auditor tokens are read-only everywhere.
	ev, err := events.Build(events.SOF, "FAM-M", &events.FamilyReferred{Reason: "forsøg"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := events.Marshal(ev)
	for _, w := range []struct {
		method, path string
		body         []byte
		ctype        string
	}{
		{"POST", "/departments/sof/v1/events", b, "application/cloudevents+json"},
		{"POST", "/departments/bif/v1/events", b, "application/cloudevents+json"},
		{"POST", "/v1/admin/rebuild", nil, ""},
	} {
		r := s.Do(w.method, w.path, "dev-auditor", w.body, map[string]string{"Content-Type": w.ctype})
		if r.Status != 403 {
			t.Errorf("auditor %s %s: %d %s", w.method, w.path, r.Status, r.Raw)
		}
	}
	// Nothing was stored by those writes.
	if objs, _ := s.lines("/v1/audit/events?family=FAM-M"); len(objs) != 1 {
		t.Errorf("FAM-M has %d events after the auditor's writes", len(objs))
	}
}
