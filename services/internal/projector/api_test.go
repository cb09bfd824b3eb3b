package projector_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestEndToEnd drives the whole path over HTTP: events of all four
// departments posted through ingest (one backfilled with an earlier time),
// then the timeline and overview read as the assigned coordinator. Both
// persons consent to data sharing, so that BUF and SUF events are shown
// (TestConsentGate covers the rest).
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-E2E"
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	at := func(min int) events.BuildOption { return events.WithTime(base.Add(time.Duration(min) * time.Minute)) }

	s.post(events.SOF, fam, &events.FamilyReferred{Reason: "Kompleks sag"}, at(0))
	s.post(events.SOF, fam, testenv.Enrolment(), at(1))
	s.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"}, at(2))
	s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeDataSharing}, at(2))
	s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing}, at(2))
	s.post(events.BIF, fam, &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10}, at(3))
	s.post(events.BUF, fam, &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: "2024-02-01", PeriodEnd: "2024-02-29",
		SchoolDays: 20, AbsentDays: events.AbsentDays{Sickness: 1, Authorised: 1, Unauthorised: 5}}, at(4))
	s.post(events.SUF, fam, &events.HealthAssessed{PersonID: "P1", BarrierToWork: true}, at(5))
	// Backfill: stored last, happened first.
	backfill := base.Add(-365 * 24 * time.Hour)
	last := s.post(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 14.5}, events.WithTime(backfill))

	// Read-your-writes: the last position is applied before the answer.
	r := s.Get("/v1/families/"+fam+"/timeline", "dev-coordinator", minPos(last))
	if r.Status != 200 {
		t.Fatalf("timeline: %d %s", r.Status, r.Raw)
	}
	if got := r.Header.Get("X-Position"); got != strconv.FormatUint(last, 10) {
		t.Errorf("X-Position %q, want %d", got, last)
	}
	p := s.timeline(fam, "", "dev-coordinator", nil)
	if len(p.Entries) != 9 || p.NextCursor != nil || p.FamilyID != fam || p.HiddenByConsent != 0 {
		t.Fatalf("got %d entries, cursor %v: %+v", len(p.Entries), p.NextCursor, p)
	}
	// Default order: newest first by time; the backfill is last.
	wantTypes := []string{"health.assessed", "schoolabsence.noted", "praktik.started", "consent.given", "consent.given", "caseworker.assigned",
		"family.enrolled", "family.referred", "wellbeing.measured"}
	for i, e := range p.Entries {
		// The API's read path presents the latest version: praktik.started
		// was posted as v1, and is served as v2 with its stored type.
		spec, _ := events.ByName(wantTypes[i])
		if e.Type != spec.Type() {
			t.Errorf("entry %d type %s, want %s", i, e.Type, spec.Type())
		}
		if wantStored := map[bool]string{true: events.TypeOf(spec.Name, 1)}[spec.Version > 1]; e.StoredType != wantStored {
			t.Errorf("entry %d stored type %q, want %q", i, e.StoredType, wantStored)
		}
		if spec.Name == "praktik.started" && !strings.Contains(string(e.Data), `"employer":{"cvr":"12345678"}`) {
			t.Errorf("praktik entry data %s is not the v2 shape", e.Data)
		}
		if e.Title == "" || e.ID == "" || e.Sequence == 0 || e.RecordedAt.IsZero() || len(e.Data) == 0 {
			t.Errorf("entry %d incomplete: %+v", i, e)
		}
		if !strings.HasPrefix(e.Actor, "/departments/"+e.Department) {
			t.Errorf("entry %d actor %q department %q", i, e.Actor, e.Department)
		}
	}
	if e := p.Entries[8]; !e.Time.Equal(backfill) || e.Sequence != last || !e.RecordedAt.After(base) {
		t.Errorf("backfilled entry: %+v", e)
	}
	if got := p.Entries[2].Title; got != "Praktik startet hos 12345678, 10 t/uge" {
		t.Errorf("praktik title %q", got)
	}
	if got := p.Entries[1].Title; !strings.HasPrefix(got, "Skolefravær 25% ulovligt") {
		t.Errorf("absence title %q", got)
	}
	// Ascending order, filters.
	asc := s.timeline(fam, "order=asc", "dev-coordinator", nil)
	if asc.Entries[0].Type != events.TypePrefix+"wellbeing.measured.v1" || asc.Entries[8].Type != events.TypePrefix+"health.assessed.v1" {
		t.Errorf("asc order wrong: first %s last %s", asc.Entries[0].Type, asc.Entries[8].Type)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"department=bif", []string{"praktik.started"}},
		{"department=buf,suf", []string{"health.assessed", "schoolabsence.noted", "wellbeing.measured"}},
		{"type=praktik.started", []string{"praktik.started"}},
		{"type=" + url.QueryEscape(events.TypePrefix+"family.enrolled.v1") + ",family.referred", []string{"family.enrolled", "family.referred"}},
		{"from=" + url.QueryEscape(base.Add(3*time.Minute).Format(time.RFC3339)) + "&to=" + url.QueryEscape(base.Add(5*time.Minute).Format(time.RFC3339)),
			[]string{"schoolabsence.noted", "praktik.started"}},
		{"to=" + base.Format("2006-01-02"), []string{"wellbeing.measured"}},
		{"department=sof&order=asc&limit=2", []string{"family.referred", "family.enrolled"}},
	} {
		got := s.timeline(fam, tc.query, "dev-coordinator", nil)
		var names []string
		for _, e := range got.Entries {
			names = append(names, strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(e.Type, events.TypePrefix), ".v1"), ".v2"))
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.query, names, tc.want)
		}
	}

	// Overview from the family fold.
	r = s.Get("/v1/families/"+fam, "dev-coordinator", nil)
	if r.Status != 200 {
		t.Fatalf("overview: %d %s", r.Status, r.Raw)
	}
	var ov struct {
		FamilyID   string         `json:"familyId"`
		Status     string         `json:"status"`
		Caseworker string         `json:"caseworker"`
		Praktik    []any          `json:"praktik"`
		PerDept    map[string]int `json:"eventsPerDepartment"`
		Total      int            `json:"totalEvents"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &ov); err != nil {
		t.Fatal(err)
	}
	if ov.FamilyID != fam || ov.Status != "enrolled" || ov.Caseworker != "E1001" || len(ov.Praktik) != 1 || ov.Total != 9 {
		t.Errorf("overview: %s", r.Raw)
	}
	if ov.PerDept["sof"] != 5 || ov.PerDept["bif"] != 1 || ov.PerDept["buf"] != 2 || ov.PerDept["suf"] != 1 {
		t.Errorf("events per department: %v", ov.PerDept)
	}

	// The family list.
	r = s.Get("/v1/families", "dev-coordinator", nil)
	if r.Status != 200 || !strings.Contains(r.Raw, `"familyId":"`+fam+`","status":"enrolled"`) {
		t.Errorf("families: %d %s", r.Status, r.Raw)
	}
}

// TestReadYourWrites: a GET with the position a POST returned sees the
// event, waiting for it while the projector has not applied it; a
// position never reached is a 503 after the wait.
func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	// NATS of its own, whose admin pauses the projector's consumer.
	n := testenv.StartNATS(t)
	ts := testenv.StartSystem(t, func(c *config.Config) { n.Use(t, c) })
	s := &system{System: ts, js: ts.SA.Store.JS}
	s.enrol("FAM-RYW", "E1001")
	for i := range 5 {
		var pos uint64
		r, err := n.ReadWaiting(t, "", func() uint64 {
			pos = s.post(events.BIF, "FAM-RYW", &events.EmploymentStarted{PersonID: "P1", Kind: "small-job", HoursPerWeek: float64(5 + i)})
			return pos
		}, func(pos uint64) (testenv.Reply, error) {
			return s.TryGet("/v1/families/FAM-RYW/timeline?limit=1&order=desc", "dev-coordinator", minPos(pos))
		})
		var p page
		if err != nil || r.Status != 200 || json.Unmarshal([]byte(r.Raw), &p) != nil {
			t.Fatalf("the read with X-Min-Position %d: %v %d %s", pos, err, r.Status, r.Raw)
		}
		if len(p.Entries) != 1 || p.Entries[0].Sequence != pos {
			t.Fatalf("after POST at %d the newest entry is %+v", pos, p.Entries)
		}
		if at, _ := strconv.ParseUint(r.Header.Get("X-Position"), 10, 64); at < pos {
			t.Errorf("after POST at %d: X-Position %q", pos, r.Header.Get("X-Position"))
		}
	}
	// The read waits MinPositionWait before its 503: the client, which
	// starts its clock first, cannot see less, however loaded the machine.
	// How much longer is the machine's business; a wait that never ends
	// is bounded by the request's minute.
	start := time.Now()
	r, err := testenv.TryWith(&http.Client{Timeout: time.Minute}, s.SA.URL(), "GET", "/v1/families/FAM-RYW", "dev-coordinator", nil, minPos(1_000_000))
	if err != nil {
		t.Fatalf("no answer for an unreached position: %v", err)
	}
	if r.Status != 503 || r.Body["position"] != float64(1_000_000) || r.Header.Get("X-Position") == "" {
		t.Errorf("unreached position: %d %s", r.Status, r.Raw)
	}
	if d := time.Since(start); d < projector.MinPositionWait {
		t.Errorf("answered after %s, before the %s wait", d, projector.MinPositionWait)
	}
	if r := s.Get("/v1/families/FAM-RYW", "dev-coordinator", map[string]string{"X-Min-Position": "soon"}); r.Status != 400 {
		t.Errorf("bad X-Min-Position: %d", r.Status)
	}
}

// TestPositionOnFallbackAnswers: every answer of the coordinator API
// carries X-Position, the server's own 404 for an unknown path beneath it
// and 405 for a method it does not serve too; a path outside the APIs
// that publish a position carries none.
func TestPositionOnFallbackAnswers(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	last := s.enrol("F1", "E1001")
	s.WaitApplied(last)
	want := strconv.FormatUint(last, 10)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/families/F1/nope", 404},
		{"GET", "/v1/families/F1/timeline/stream/nope", 404},
		{"POST", "/v1/families/F1/timeline", 405},
		{"DELETE", "/v1/families/F1", 405},
		{"PUT", "/v1/families", 405},
		{"GET", "/v1/admin/quarantine/redrive", 405},
		{"GET", "/v1/evaluation/nope", 404},
	} {
		r := s.Do(c.method, c.path, "dev-coordinator", nil, nil)
		if r.Status != c.status || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %s, want %d problem details", c.method, c.path, r.Status, r.Header.Get("Content-Type"), c.status)
		}
		if got := r.Header.Get("X-Position"); got != want {
			t.Errorf("%s %s: X-Position %q, want %s", c.method, c.path, got, want)
		}
	}
	for _, path := range []string{"/nowhere", "/v1/familiesX"} {
		if r := s.Get(path, "dev-coordinator", nil); r.Status != 404 || r.Header.Get("X-Position") != "" {
			t.Errorf("GET %s: %d X-Position %q, want 404 without", path, r.Status, r.Header.Get("X-Position"))
		}
	}
}

// TestAuthorization: access follows the assignment events.
func TestAuthorization(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	s.enrol("FAM-A", "E1001")
	s.post(events.SOF, "FAM-A", &events.TeamMemberJoined{EmployeeID: "E1002", Role: "familiebehandler"})
	s.enrol("FAM-B", "E1001")
	s.post(events.SOF, "FAM-B", &events.CaseworkerAssigned{EmployeeID: "E1002"}) // replaces E1001
	s.enrol("FAM-C", "E1003")
	s.post(events.SOF, "FAM-C", &events.TeamMemberJoined{EmployeeID: "E1002", Role: "mentor"})
	last := s.post(events.BIF, "FAM-C", &events.TeamMemberLeft{EmployeeID: "E1002"})
	s.WaitApplied(last)

	for _, tc := range []struct {
		name, token, path string
		want              int
	}{
		{"caseworker", "dev-coordinator", "/v1/families/FAM-A", 200},
		{"caseworker timeline", "dev-coordinator", "/v1/families/FAM-A/timeline", 200},
		{"team member", "dev-coordinator-2", "/v1/families/FAM-A/timeline", 200},
		{"replaced caseworker", "dev-coordinator", "/v1/families/FAM-B", 403},
		{"replaced caseworker timeline", "dev-coordinator", "/v1/families/FAM-B/timeline", 403},
		{"new caseworker", "dev-coordinator-2", "/v1/families/FAM-B", 200},
		{"team member who left", "dev-coordinator-2", "/v1/families/FAM-C/timeline", 403},
		{"never assigned", "dev-coordinator", "/v1/families/FAM-C", 403},
		{"unknown family for a coordinator", "dev-coordinator", "/v1/families/NOPE", 403},
		{"invalid family id for a coordinator", "dev-coordinator", "/v1/families/010101-1234", 403},
		{"auditor", "dev-auditor", "/v1/families/FAM-C/timeline", 200},
		{"auditor unknown family", "dev-auditor", "/v1/families/NOPE", 404},
		{"department token", "dev-sof", "/v1/families/FAM-A", 403},
		{"department token list", "dev-bif", "/v1/families", 403},
		{"operator", "dev-operator", "/v1/families/FAM-A/timeline", 403},
		{"no token", "", "/v1/families/FAM-A", 401},
		{"unknown token", "nope", "/v1/families", 401},
		{"operator rebuild status", "dev-operator", "/v1/admin/rebuild", 200},
		{"coordinator rebuild status", "dev-coordinator", "/v1/admin/rebuild", 403},
	} {
		r := s.Get(tc.path, tc.token, nil)
		if r.Status != tc.want {
			t.Errorf("%s: GET %s: %d, want %d: %s", tc.name, tc.path, r.Status, tc.want, r.Raw)
		}
		if r.Header.Get("X-Position") == "" {
			t.Errorf("%s: no X-Position", tc.name)
		}
		if r.Status >= 400 && r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d is not problem details", tc.name, r.Status)
		}
	}
	list := func(token string) []string {
		r := s.Get("/v1/families", token, nil)
		var body struct {
			Families []struct{ FamilyID, Status string }
		}
		if err := json.Unmarshal([]byte(r.Raw), &body); err != nil || r.Status != 200 {
			t.Fatalf("list: %d %s", r.Status, r.Raw)
		}
		var ids []string
		for _, f := range body.Families {
			ids = append(ids, f.FamilyID+":"+f.Status)
		}
		return ids
	}
	if got := list("dev-coordinator"); !slices.Equal(got, []string{"FAM-A:enrolled"}) {
		t.Errorf("E1001 lists %v", got)
	}
	if got := list("dev-coordinator-2"); !slices.Equal(got, []string{"FAM-A:enrolled", "FAM-B:enrolled"}) {
		t.Errorf("E1002 lists %v", got)
	}
	if got := list("dev-auditor"); !slices.Equal(got, []string{"FAM-A:enrolled", "FAM-B:enrolled", "FAM-C:enrolled"}) {
		t.Errorf("auditor lists %v", got)
	}
}

// TestBadParameters: every malformed parameter is a 400 problem.
func TestBadParameters(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	s.WaitApplied(s.enrol("FAM-P", "E1001"))
	other := s.timeline("FAM-P", "limit=1", "dev-coordinator", nil)
	if other.NextCursor == nil {
		t.Fatal("no cursor")
	}
	for _, q := range []string{
		"limit=0", "limit=501", "limit=x", "order=up", "from=yesterday", "to=2024-13-01",
		"from=2024-02-01&to=2024-01-01", "department=xyz", "type=nope.happened", "cursor=!!!",
		"cursor=" + url.QueryEscape("eyJ2IjoxfQ"), "cursor=" + *other.NextCursor + "&order=asc",
		"cursor=" + *other.NextCursor + "&department=sof", "bogus=1", "limit=1&limit=2",
	} {
		r := s.Get("/v1/families/FAM-P/timeline?"+q, "dev-coordinator", nil)
		if r.Status != 400 || r.Body["detail"] == nil {
			t.Errorf("%s: %d %s", q, r.Status, r.Raw)
		}
	}
	// A cursor of another family.
	s.WaitApplied(s.enrol("FAM-Q", "E1001"))
	if r := s.Get("/v1/families/FAM-Q/timeline?cursor="+*other.NextCursor, "dev-coordinator", nil); r.Status != 400 {
		t.Errorf("foreign cursor: %d", r.Status)
	}
	// The cursor alone continues the query.
	if r := s.Get("/v1/families/FAM-P/timeline?cursor="+*other.NextCursor, "dev-coordinator", nil); r.Status != 200 {
		t.Errorf("cursor alone: %d %s", r.Status, r.Raw)
	}
}
