package projector_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// coordinatedFamily enrols a family whose caseworker is dev-coordinator
// (E1001).
func coordinatedFamily(t *testing.T, s *system, fam string, base time.Time) {
	t.Helper()
	at := func(min int) events.BuildOption { return events.WithTime(base.Add(time.Duration(min) * time.Minute)) }
	s.post(events.SOF, fam, testenv.Enrolment(), at(0))
	s.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"}, at(1))
}

// TestConsentGateFutureConsent: a data-sharing consent.given dated ahead
// (ingest accepts up to 24 h ahead) is not in force at a read before its
// time: the child's BUF events stay hidden and the overview holds no
// consent in force. A read after its time shows them.
func TestConsentGateFutureConsent(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-CG-FUT"
	now := time.Now().UTC().Truncate(time.Second)
	coordinatedFamily(t, s, fam, now.Add(-time.Hour))
	s.post(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 14}, events.WithTime(now.Add(-30*time.Minute)))
	last := s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing}, events.WithTime(now.Add(12*time.Hour)))
	s.WaitApplied(last)
	consents := func(token string) string {
		r := s.Get("/v1/families/"+fam, token, nil)
		var o struct {
			Consents json.RawMessage `json:"consents"`
		}
		if err := json.Unmarshal([]byte(r.Raw), &o); r.Status != 200 || err != nil {
			t.Fatalf("overview: %d %s", r.Status, r.Raw)
		}
		return string(o.Consents)
	}
	p := s.timeline(fam, "order=asc", "dev-coordinator", nil)
	if slices.Contains(names(p), "wellbeing.measured") || p.HiddenByConsent != 1 {
		t.Errorf("consent dated %s is not in force at the read (%s), yet the coordinator sees %v, %d hidden",
			now.Add(12*time.Hour).Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339), names(p), p.HiddenByConsent)
	}
	for _, token := range []string{"dev-coordinator", "dev-auditor"} {
		if got := consents(token); got != `[]` {
			t.Errorf("%s: the overview holds %s in force before its time", token, got)
		}
	}
	projector.SetClock(s.SA.Projector, func() time.Time { return time.Now().Add(13 * time.Hour) })
	p = s.timeline(fam, "order=asc", "dev-coordinator", nil)
	if !slices.Contains(names(p), "wellbeing.measured") || p.HiddenByConsent != 0 {
		t.Errorf("a read after the consent's time: %v, %d hidden; want wellbeing.measured shown", names(p), p.HiddenByConsent)
	}
	if got := consents("dev-coordinator"); got != `[{"personId":"C1","scope":"data-sharing"}]` {
		t.Errorf("a read after the consent's time: the overview holds %s in force", got)
	}
}

// TestConsentGateFilterRevealsNothing: hiddenByConsent is the family's
// count, whatever the filters, so type= and from=/to= cannot pinpoint the
// type or time of a hidden entry.
func TestConsentGateFilterRevealsNothing(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-CG-LEAK"
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	coordinatedFamily(t, s, fam, base)
	last := s.post(events.SUF, fam, &events.HealthReferred{PersonID: "P1", To: "psychiatry"}, events.WithTime(base.Add(10*time.Minute)))
	s.WaitApplied(last)
	referred := s.timeline(fam, "type=health.referred", "dev-coordinator", nil).HiddenByConsent
	assessed := s.timeline(fam, "type=health.assessed", "dev-coordinator", nil).HiddenByConsent
	window := s.timeline(fam, "type=health.referred&from="+base.Add(9*time.Minute).Format(time.RFC3339)+
		"&to="+base.Add(11*time.Minute).Format(time.RFC3339), "dev-coordinator", nil).HiddenByConsent
	if referred != 1 || assessed != 1 || window != 1 {
		t.Errorf("hiddenByConsent tells which: type=health.referred %d, type=health.assessed %d, and within a 2-minute window %d",
			referred, assessed, window)
	}
}

// TestConsentGateGoalFollowUps: a SUF goal about a parent without consent
// is hidden, and so are its goal.progressed and goal.closed, which name
// only the goalId (their note is about that person), whichever department
// sent them; once the parent consents, all of them are shown.
func TestConsentGateGoalFollowUps(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-CG-GOAL"
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	coordinatedFamily(t, s, fam, base)
	at := func(min int) events.BuildOption { return events.WithTime(base.Add(time.Duration(min) * time.Minute)) }
	s.post(events.SUF, fam, &events.GoalSet{GoalID: "G-H1", Title: "Behandling for depression", Domain: "health", PersonID: "P1", ExpressedBy: "professional"}, at(5))
	s.post(events.SUF, fam, &events.GoalProgressed{GoalID: "G-H1", Achievement: "worsening", Note: "Har stoppet medicinen"}, at(6))
	s.post(events.SOF, fam, &events.GoalProgressed{GoalID: "G-H1", Achievement: "no-change", Note: "Drøftet på mødet"}, at(6))
	last := s.post(events.SUF, fam, &events.GoalClosed{GoalID: "G-H1", Outcome: "not-achieved"}, at(7))
	s.WaitApplied(last)
	p := s.timeline(fam, "order=asc", "dev-coordinator", nil)
	if got := names(p); slices.Contains(got, "goal.progressed") || slices.Contains(got, "goal.closed") {
		for _, e := range p.Entries {
			if e.Type != "" && strings.HasPrefix(e.Type, "dk.kk.jobogfamilie.goal.") {
				t.Logf("shown without P1's consent: %s %q %s", e.Type, e.Title, e.Data)
			}
		}
		t.Errorf("goal.set about P1 is hidden (%d hidden) but its progress and close are shown: %v", p.HiddenByConsent, got)
	}
	if p.HiddenByConsent != 4 {
		t.Errorf("%d hidden; want the goal.set and its three follow-ups", p.HiddenByConsent)
	}
	s.WaitApplied(s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeDataSharing}, at(8)))
	p = s.timeline(fam, "order=asc", "dev-coordinator", nil)
	if got := names(p); p.HiddenByConsent != 0 || !slices.Contains(got, "goal.set") || !slices.Contains(got, "goal.closed") {
		t.Errorf("with P1's consent: %v, %d hidden", got, p.HiddenByConsent)
	}
}
