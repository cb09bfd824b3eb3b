package projector_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/consent"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// consentOverview is what the consent gate changes of an overview.
type consentOverview struct {
	PerDept       map[string]int `json:"eventsPerDepartment"`
	Total         int            `json:"totalEvents"`
	SchoolAbsence []any          `json:"schoolAbsence"`
	Goals         []struct {
		GoalID string `json:"goalId"`
	} `json:"goals"`
	Hidden *int `json:"hiddenByConsent"`
}

func (s *system) overview(fam, token string) consentOverview {
	s.T.Helper()
	r := s.Get("/v1/families/"+fam, token, nil)
	if r.Status != 200 {
		s.T.Fatalf("overview: %d %s", r.Status, r.Raw)
	}
	var ov consentOverview
	if err := json.Unmarshal([]byte(r.Raw), &ov); err != nil || ov.Hidden == nil {
		s.T.Fatalf("overview %s: %v", r.Raw, err)
	}
	return ov
}

// names are the catalog names of a page's entries.
func names(p page) []string {
	var out []string
	for _, e := range p.Entries {
		spec, _ := events.ByType(e.Type)
		out = append(out, spec.Name)
	}
	return out
}

// allPages reads every page of a query and returns the entries and each
// page's hiddenByConsent.
func (s *system) allPages(fam, query, token string) ([]entry, []int) {
	s.T.Helper()
	var (
		out    []entry
		hidden []int
	)
	p := s.timeline(fam, query, token, nil)
	for {
		out = append(out, p.Entries...)
		hidden = append(hidden, p.HiddenByConsent)
		if p.NextCursor == nil {
			return out, hidden
		}
		p = s.timeline(fam, "cursor="+*p.NextCursor, token, nil)
	}
}

// TestConsentGate: BUF and SUF events about a person are shown to a
// coordinator only while that person's data-sharing consent is in force,
// judged now; SOF, BIF and events about no person are shown; the overview,
// its counts, the timeline's filters and pages, and the family list agree;
// auditors see everything.
func TestConsentGate(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-CONSENT"
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	at := func(min int) events.BuildOption { return events.WithTime(base.Add(time.Duration(min) * time.Minute)) }
	s.post(events.SOF, fam, &events.FamilyReferred{Reason: "Kompleks sag"}, at(0))
	s.post(events.SOF, fam, testenv.Enrolment(), at(1))
	s.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"}, at(2))
	s.post(events.BIF, fam, &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10}, at(3))
	s.post(events.BUF, fam, &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: "2024-02-01", PeriodEnd: "2024-02-29",
		SchoolDays: 20, AbsentDays: events.AbsentDays{Unauthorised: 5}}, at(4))
	s.post(events.BUF, fam, &events.GoalSet{GoalID: "G1", Title: "Trives i skolen", Domain: "school", PersonID: "C1", ExpressedBy: "family"}, at(5))
	s.post(events.SUF, fam, &events.HealthAssessed{PersonID: "P1", BarrierToWork: true}, at(6))
	s.post(events.BUF, fam, &events.MeetingHeld{Kind: "family"}, at(7)) // about no person
	last := s.post(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 14}, at(8))
	s.WaitApplied(last)

	check := func(step string, wantHidden int, wantShown []string) {
		t.Helper()
		p := s.timeline(fam, "order=asc", "dev-coordinator", nil)
		if got := names(p); !slices.Equal(got, wantShown) || p.HiddenByConsent != wantHidden {
			t.Errorf("%s: coordinator's timeline %v, %d hidden; want %v, %d", step, got, p.HiddenByConsent, wantShown, wantHidden)
		}
		// Paged two at a time: the same entries, and every page counts
		// the family's hidden entries.
		paged, hidden := s.allPages(fam, "order=asc&limit=2", "dev-coordinator")
		if len(paged) != len(wantShown) || slices.ContainsFunc(hidden, func(n int) bool { return n != wantHidden }) {
			t.Errorf("%s: pages of 2 give %d entries, hidden per page %v", step, len(paged), hidden)
		}
		ov := s.overview(fam, "dev-coordinator")
		if *ov.Hidden != wantHidden || ov.Total != len(wantShown) {
			t.Errorf("%s: overview total %d, hidden %d; want %d, %d", step, ov.Total, *ov.Hidden, len(wantShown), wantHidden)
		}
		perDept := map[string]int{}
		for _, e := range p.Entries {
			perDept[e.Department]++
		}
		for _, d := range events.Departments {
			if ov.PerDept[string(d)] != perDept[string(d)] {
				t.Errorf("%s: overview counts %v, the timeline shows %v", step, ov.PerDept, perDept)
				break
			}
		}
		r := s.Get("/v1/families", "dev-coordinator", nil)
		if !strings.Contains(r.Raw, `"familyId":"`+fam+`","status":"enrolled","events":`+strconv.Itoa(len(wantShown))+`,`) ||
			!strings.Contains(r.Raw, `"hiddenByConsent":`+strconv.Itoa(wantHidden)+`}`) {
			t.Errorf("%s: family list %s", step, r.Raw)
		}
		// Auditors see everything.
		a := s.timeline(fam, "order=asc", "dev-auditor", nil)
		if len(a.Entries) != len(wantShown)+wantHidden || a.HiddenByConsent != 0 {
			t.Errorf("%s: auditor sees %d entries, %d hidden", step, len(a.Entries), a.HiddenByConsent)
		}
		if aov := s.overview(fam, "dev-auditor"); aov.Total != len(a.Entries) || *aov.Hidden != 0 {
			t.Errorf("%s: auditor's overview total %d hidden %d", step, aov.Total, *aov.Hidden)
		}
	}
	base5 := []string{"family.referred", "family.enrolled", "caseworker.assigned", "praktik.started"}
	check("no consent", 4, append(slices.Clone(base5), "meeting.held"))
	if ov := s.overview(fam, "dev-coordinator"); len(ov.SchoolAbsence) != 0 || len(ov.Goals) != 0 {
		t.Errorf("the overview shows what consent hides: %+v", ov)
	}
	// Filters select among the entries shown; the count is the family's.
	if p := s.timeline(fam, "department=buf", "dev-coordinator", nil); !slices.Equal(names(p), []string{"meeting.held"}) || p.HiddenByConsent != 4 {
		t.Errorf("department=buf: %v, %d hidden", names(p), p.HiddenByConsent)
	}

	// The child's consent shows the child's BUF events; the parent's
	// SUF event stays hidden.
	c1 := s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing}, at(9))
	s.WaitApplied(c1)
	withC1 := []string{"family.referred", "family.enrolled", "caseworker.assigned", "praktik.started", "schoolabsence.noted", "goal.set",
		"meeting.held", "wellbeing.measured", "consent.given"}
	check("C1 consents", 1, withC1)
	if ov := s.overview(fam, "dev-coordinator"); len(ov.SchoolAbsence) != 1 || len(ov.Goals) != 1 {
		t.Errorf("consent given, still hidden in the overview: %+v", ov)
	}
	// Another scope is not data-sharing.
	s.WaitApplied(s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeGPCooperation}, at(10)))
	check("P1 gp-cooperation", 1, append(slices.Clone(withC1), "consent.given"))

	// Withdrawn: hidden from now on, whatever the events' times.
	s.WaitApplied(s.post(events.SOF, fam, &events.ConsentWithdrawn{PersonID: "C1", Scope: events.ScopeDataSharing}, at(11)))
	check("C1 withdraws", 4, append(slices.Clone(base5), "meeting.held", "consent.given", "consent.given", "consent.withdrawn"))
	// Given again: shown again.
	s.WaitApplied(s.post(events.BIF, fam, &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing}, at(12)))
	if p := s.timeline(fam, "", "dev-coordinator", nil); p.HiddenByConsent != 1 {
		t.Errorf("given again: %d hidden", p.HiddenByConsent)
	}
}

// TestConsentGateStream: a withdrawal while the stream is open hides the
// person's entries that arrive after it, as "event: hidden" without
// content; giving consent again shows the next ones.
func TestConsentGateStream(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-CONSENT-SSE"
	s.enrol(fam, "E1001")
	s.WaitApplied(s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeDataSharing}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, ch, _ := s.openStream(ctx, fam, "dev-coordinator", "")
	shown := s.post(events.SUF, fam, &events.HealthAssessed{PersonID: "P1", BarrierToWork: true})
	withdrawn := s.post(events.SOF, fam, &events.ConsentWithdrawn{PersonID: "P1", Scope: events.ScopeDataSharing})
	hidden := s.post(events.SUF, fam, &events.HealthReferred{PersonID: "P1", To: "physiotherapy"})
	child := s.post(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 3})
	bif := s.post(events.BIF, fam, &events.EmploymentStarted{PersonID: "P1", Kind: "small-job", HoursPerWeek: 5})
	got := receive(t, ch, 5)
	want := []struct {
		id   uint64
		kind string
	}{{shown, ""}, {withdrawn, ""}, {hidden, "hidden"}, {child, "hidden"}, {bif, ""}}
	for i, w := range want {
		if got[i].id != w.id || got[i].kind != w.kind {
			t.Errorf("event %d: id %d kind %q, want %d %q", i, got[i].id, got[i].kind, w.id, w.kind)
		}
		if w.kind == "hidden" && (got[i].raw != `{"hiddenByConsent":1}` || got[i].data.Type != "") {
			t.Errorf("a hidden entry carries %s", got[i].raw)
		}
	}
	again := s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeDataSharing})
	after := s.post(events.SUF, fam, &events.HealthAssessed{PersonID: "P1"})
	got = receive(t, ch, 2)
	if got[0].id != again || got[1].id != after || got[1].kind != "" || got[1].data.Department != "suf" {
		t.Errorf("after consent again: %+v", got)
	}
	// Replayed from 0, judged now: P1's SUF entries shown, C1's hidden.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	_, ch2, _ := s.openStream(ctx2, fam, "dev-coordinator", "0")
	for _, ev := range receive(t, ch2, 9) {
		if (ev.kind == "hidden") != (ev.id == child) {
			t.Errorf("replay: %d %q", ev.id, ev.kind)
		}
	}
}

// TestConsentGateErasedEntry: family.erased, which the service stores
// (department "service", outside the consent policy), is shown to a
// coordinator by the stream as by the timeline, and neither counts it as
// hidden by consent.
func TestConsentGateErasedEntry(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-CONSENT-ERASED"
	s.enrol(fam, "E1001")
	s.WaitApplied(s.post(events.SUF, fam, &events.HealthAssessed{PersonID: "P1"})) // hidden: no consent
	r := s.Do("POST", "/v1/privacy/families/"+fam+"/erase", "dev-dpo", []byte(`{"reason":"Anmodning efter GDPR art. 17"}`),
		map[string]string{"Content-Type": "application/json"})
	if r.Status != 201 {
		t.Fatalf("erase: %d %s", r.Status, r.Raw)
	}
	erasedAt := uint64(r.Body["sequence"].(float64))
	s.WaitApplied(erasedAt)
	p := s.timeline(fam, "order=asc", "dev-coordinator", nil)
	if len(p.Entries) == 0 || p.Entries[len(p.Entries)-1].Sequence != erasedAt || p.HiddenByConsent != 1 {
		t.Fatalf("timeline: %v, %d hidden; want family.erased last and only the SUF entry hidden", names(p), p.HiddenByConsent)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, ch, _ := s.openStream(ctx, fam, "dev-coordinator", "0")
	hidden := 0
	for _, ev := range receive(t, ch, len(p.Entries)+p.HiddenByConsent) {
		if ev.kind == "hidden" {
			hidden++
		}
		if ev.id == erasedAt && (ev.kind != "" || ev.data.Type != p.Entries[len(p.Entries)-1].Type) {
			t.Errorf("the stream sends family.erased (%d) as %q %s; the timeline shows it", ev.id, ev.kind, ev.raw)
		}
	}
	if hidden != p.HiddenByConsent {
		t.Errorf("the stream hides %d entries, the timeline %d", hidden, p.HiddenByConsent)
	}
}

// TestConsentGateFailsClosed: when the consent state cannot be read, or
// the policy has no rule for a department, every BUF and SUF entry is
// hidden from coordinators (events about no person too), the error is
// counted, and auditors still see everything.
func TestConsentGateFailsClosed(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-CONSENT-FAIL"
	s.enrol(fam, "E1001")
	s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeDataSharing})
	s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing})
	s.post(events.SUF, fam, &events.HealthAssessed{PersonID: "P1"})
	s.post(events.BUF, fam, &events.MeetingHeld{Kind: "family"})
	s.WaitApplied(s.post(events.BIF, fam, &events.EmploymentStarted{PersonID: "P1", Kind: "small-job", HoursPerWeek: 5}))
	if p := s.timeline(fam, "", "dev-coordinator", nil); len(p.Entries) != 7 || p.HiddenByConsent != 0 {
		t.Fatalf("with consent: %v, %d hidden", names(p), p.HiddenByConsent)
	}
	pj := s.SA.Projector
	for _, c := range []struct {
		name   string
		break_ func()
	}{
		{"consent state unreadable", func() { projector.SetConsentFailure(pj, errors.New("disk on fire")) }},
		{"policy without a SUF rule", func() { projector.SetConsentPolicy(pj, consent.Policy[:3]) }},
	} {
		before := projector.ConsentGateErrors(pj)
		c.break_()
		p := s.timeline(fam, "", "dev-coordinator", nil)
		for _, e := range p.Entries {
			if e.Department == "buf" || e.Department == "suf" {
				t.Errorf("%s: %s shown", c.name, e.Type)
			}
		}
		if len(p.Entries) != 5 || p.HiddenByConsent != 2 {
			t.Errorf("%s: %v, %d hidden", c.name, names(p), p.HiddenByConsent)
		}
		if ov := s.overview(fam, "dev-coordinator"); ov.PerDept["suf"] != 0 || ov.PerDept["buf"] != 0 || *ov.Hidden != 2 {
			t.Errorf("%s: overview %+v", c.name, ov)
		}
		if projector.ConsentGateErrors(pj) <= before {
			t.Errorf("%s: jf_projector_consent_gate_errors_total did not grow", c.name)
		}
		if a := s.timeline(fam, "", "dev-auditor", nil); len(a.Entries) != 7 {
			t.Errorf("%s: auditor sees %d", c.name, len(a.Entries))
		}
		projector.SetConsentFailure(pj, nil)
		projector.SetConsentPolicy(pj, nil)
	}
}
