package consent_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/consent"
)

func ce(name, data string) consent.ConsentEvent {
	s, _ := events.ByName(name)
	return consent.ConsentEvent{Type: s.Type(), Data: []byte(data)}
}

// TestPolicyTable runs every row of the policy: for each department, an
// event about a person with data-sharing in force, without it, after it
// was withdrawn, after it was given again, and an event about no person.
func TestPolicyTable(t *testing.T) {
	if len(consent.Policy) != len(events.Departments) {
		t.Fatalf("the policy has %d rules for %d departments", len(consent.Policy), len(events.Departments))
	}
	states := []struct {
		name  string
		later []consent.ConsentEvent
		// shownGated: whether an event about P1 of a department whose
		// rule needs data-sharing is shown.
		shownGated bool
	}{
		{"no consent", nil, false},
		{"given", []consent.ConsentEvent{ce("consent.given", `{"personId":"P1","scope":"data-sharing"}`)}, true},
		{"other scope", []consent.ConsentEvent{ce("consent.given", `{"personId":"P1","scope":"gp-cooperation"}`)}, false},
		{"other person", []consent.ConsentEvent{ce("consent.given", `{"personId":"P2","scope":"data-sharing"}`)}, false},
		{"withdrawn", []consent.ConsentEvent{
			ce("consent.given", `{"personId":"P1","scope":"data-sharing"}`),
			ce("consent.withdrawn", `{"personId":"P1","scope":"data-sharing"}`)}, false},
		{"given again", []consent.ConsentEvent{
			ce("consent.given", `{"personId":"P1","scope":"data-sharing"}`),
			ce("consent.withdrawn", `{"personId":"P1","scope":"data-sharing"}`),
			ce("consent.given", `{"personId":"P1","scope":"data-sharing"}`)}, true},
	}
	for _, rule := range consent.Policy {
		want := map[events.Department]string{events.SOF: "", events.BIF: "", events.BUF: "data-sharing", events.SUF: "data-sharing"}[rule.Department]
		if rule.Scope != want {
			t.Errorf("rule %s needs %q, the issue says %q", rule.Department, rule.Scope, want)
		}
		for _, st := range states {
			g, err := newGate(consent.Policy, nil, st.later, 10)
			if err != nil {
				t.Fatal(err)
			}
			gated := rule.Scope != ""
			for _, c := range []struct {
				data  string
				shown bool
			}{
				{`{"personId":"P1","barrierToWork":true}`, !gated || st.shownGated},
				{`{"childId":"P1","instrument":"SDQ","score":3}`, !gated || st.shownGated},
				{`{"kind":"family","participants":["P1"]}`, true}, // about no person
			} {
				if got := !g.HiddenEntry(string(rule.Department), []byte(c.data), 5); got != c.shown {
					t.Errorf("%s, %s, %s: shown %v, want %v", rule.Department, st.name, c.data, got, c.shown)
				}
			}
		}
	}
}

// TestConsentsInForce starts from the overview's consents and folds
// later events; Shown and HiddenEntry say the same.
func TestConsentsInForce(t *testing.T) {
	g, err := newGate(consent.Policy, inForce(family.Consent{PersonID: "P1", Scope: "data-sharing"}, family.Consent{PersonID: "C1", Scope: "data-sharing"}),
		[]consent.ConsentEvent{ce("consent.withdrawn", `{"personId":"C1","scope":"data-sharing"}`), ce("consent.given", `{"personId":"P2","scope":"gp-cooperation"}`)}, 9)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Shown("data-sharing"); !slices.Equal(got, []string{"P1"}) {
		t.Errorf("shown %v", got)
	}
	for p, hidden := range map[string]bool{"P1": false, "P2": true, "C1": true} {
		if got := g.HiddenEntry("suf", []byte(`{"personId":"`+p+`"}`), 1); got != hidden {
			t.Errorf("%s's entry hidden %v, want %v", p, got, hidden)
		}
	}
	groups, whole := g.Groups()
	if len(whole) != 0 || len(groups) != 1 || !slices.Equal(groups[0].Departments, []string{"buf", "suf"}) || !slices.Equal(groups[0].Shown, []string{"P1"}) {
		t.Errorf("groups %+v, whole %v", groups, whole)
	}
	// Judged by what is known: an entry stored after the consents read
	// is hidden, even for a person with consent.
	if !g.HiddenEntry("buf", []byte(`{"childId":"P1"}`), 10) || g.HiddenEntry("buf", []byte(`{"childId":"P1"}`), 9) {
		t.Error("an entry after the consents read must be hidden, one before shown")
	}
}

// TestFailsClosed: a consent event that cannot be read, or a policy
// without a rule for a department, closes the gate: every entry of a
// gated department is hidden, whoever it is about; the others are shown.
func TestFailsClosed(t *testing.T) {
	cases := []struct {
		name   string
		policy []consent.Rule
		later  []consent.ConsentEvent
	}{
		{"unreadable consent", consent.Policy, []consent.ConsentEvent{{Type: "dk.kk.jobogfamilie.consent.given.v1", Data: []byte(`{"personId":`)}}},
		{"not a consent", consent.Policy, []consent.ConsentEvent{ce("goal.set", `{"personId":"P1","scope":"data-sharing"}`)}},
		{"department without rule", consent.Policy[:3], nil},
		{"department twice", append(slices.Clone(consent.Policy), consent.Rule{Department: events.SOF, Scope: "family-plan"}), nil},
	}
	for _, c := range cases {
		given := []family.Consent{{PersonID: "P1", Scope: "data-sharing"}}
		g, err := newGate(c.policy, inForce(given...), c.later, 10)
		if err == nil || !g.IsClosed() {
			t.Errorf("%s: err %v, closed %v", c.name, err, g.IsClosed())
			continue
		}
		if c.name == "department without rule" && !errors.Is(err, consent.ErrPolicy) {
			t.Errorf("%s: %v", c.name, err)
		}
		for _, d := range []string{"buf", "suf"} {
			for _, data := range []string{`{"childId":"P1"}`, `{"kind":"x"}`} {
				if !g.HiddenEntry(d, []byte(data), 1) {
					t.Errorf("%s: %s %s shown by a closed gate", c.name, d, data)
				}
			}
		}
		if c.name == "unreadable consent" && (g.HiddenEntry("sof", []byte(`{"personId":"P1"}`), 1) || g.HiddenEntry("bif", []byte(`{"personId":"P1"}`), 1)) {
			t.Error("a closed gate hides SOF or BIF")
		}
		_, whole := g.Groups()
		if !slices.Contains(whole, "buf") || !slices.Contains(whole, "suf") {
			t.Errorf("%s: closed gate's whole departments %v", c.name, whole)
		}
	}
	// Data that is not an object, or a person field that is not a
	// string, cannot be judged: hidden.
	g, _ := newGate(consent.Policy, inForce(family.Consent{PersonID: "P1", Scope: "data-sharing"}), nil, 10)
	for _, data := range []string{`[1]`, `{"personId":7}`, `not json`} {
		if !g.HiddenEntry("suf", []byte(data), 1) {
			t.Errorf("%s shown", data)
		}
	}
}

// TestServiceOutsidePolicy: an entry the service itself stored
// (family.erased, of no department) is outside the policy: neither a gate
// nor a closed one hides it, and no group or whole department of the
// query's Hide names it, so the stream and the timeline agree on it.
func TestServiceOutsidePolicy(t *testing.T) {
	open, err := newGate(consent.Policy, nil, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	closed := consent.Closed(consent.Policy)
	for _, g := range []*consent.Gate{open, closed} {
		for _, data := range []string{`{"reason":"Art. 17"}`, `{"personId":"P1"}`, `not json`} {
			if g.HiddenEntry(string(events.Service), []byte(data), 11) {
				t.Errorf("closed %v: a service entry %s is hidden", g.IsClosed(), data)
			}
		}
		groups, whole := g.Groups()
		for _, gr := range groups {
			if slices.Contains(gr.Departments, string(events.Service)) {
				t.Errorf("closed %v: group %+v names the service", g.IsClosed(), gr)
			}
		}
		if slices.Contains(whole, string(events.Service)) {
			t.Errorf("closed %v: whole %v names the service", g.IsClosed(), whole)
		}
	}
	// A department of the policy's list without a rule is still hidden.
	g, _ := newGate(consent.Policy[:3], nil, nil, 10)
	if !g.HiddenEntry("suf", []byte(`{"kind":"x"}`), 1) {
		t.Error("a department without a rule is shown")
	}
}

// TestFilterOverview: the overview with the hidden entries taken out is
// the fold of the entries shown, for a family with an event of every
// type a gated department may send about a person.
func TestFilterOverview(t *testing.T) {
	type item struct {
		d    events.Department
		p    events.Payload
		time string
	}
	items := []item{
		{events.SOF, &events.FamilyEnrolled{Members: []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}, {PersonID: "C2", Role: "child"}},
			CourseStart: "2024-01-01", ChildCaseIDs: []string{"CC0"}}, "2024-01-01T09:00:00Z"},
		{events.SOF, &events.ConsentGiven{PersonID: "C2", Scope: "data-sharing"}, "2024-01-02T09:00:00Z"},
		{events.BUF, &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: "2024-01-01", PeriodEnd: "2024-01-31", SchoolDays: 20,
			AbsentDays: events.AbsentDays{Sickness: 1}}, "2024-02-01T09:00:00Z"},
		{events.BUF, &events.SchoolAbsenceNoted{ChildID: "C2", PeriodStart: "2024-01-01", PeriodEnd: "2024-01-31", SchoolDays: 20,
			AbsentDays: events.AbsentDays{Sickness: 2}}, "2024-02-01T09:00:00Z"},
		{events.BUF, &events.GoalSet{GoalID: "G1", Title: "Trives i skolen", Domain: "school", PersonID: "C1", ExpressedBy: "family"}, "2024-02-02T09:00:00Z"},
		{events.SOF, &events.GoalProgressed{GoalID: "G1", Achievement: "partly"}, "2024-02-03T09:00:00Z"},
		{events.SOF, &events.GoalSet{GoalID: "G2", Title: "Job", Domain: "work", PersonID: "P1", ExpressedBy: "family"}, "2024-02-02T09:00:00Z"},
		{events.BUF, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 5}, "2024-02-04T09:00:00Z"},
		{events.SUF, &events.HealthAssessed{PersonID: "P1", BarrierToWork: true}, "2024-03-01T09:00:00Z"},
		{events.BUF, &events.MeetingHeld{Kind: "family"}, "2024-02-05T09:00:00Z"},
	}
	g, err := newGate(consent.Policy, nil, []consent.ConsentEvent{ce("consent.given", `{"personId":"C2","scope":"data-sharing"}`)}, 100)
	if err != nil {
		t.Fatal(err)
	}
	all, shown := family.New("F1"), family.New("F1")
	var hidden []consent.Entry
	var last time.Time
	for i, it := range items {
		spec, _ := events.ByName(it.p.EventName())
		e := cloudevents.NewEvent()
		e.SetID("e" + string(rune('a'+i)))
		tm, _ := time.Parse(time.RFC3339, it.time)
		e.SetTime(tm)
		data, _ := json.Marshal(it.p)
		env := events.Envelope{Spec: spec, Department: it.d, FamilyID: "F1", Data: it.p, Event: e}
		all.Apply(env)
		g.Refer(spec.Type(), string(it.d), data, uint64(i+1))
		if g.HiddenEntry(string(it.d), data, uint64(i+1)) {
			hidden = append(hidden, consent.Entry{Department: string(it.d), Type: spec.Type(), Data: data})
			continue
		}
		shown.Apply(env)
		if tm.After(last) {
			last = tm
		}
	}
	if len(hidden) != 5 {
		t.Fatalf("%d hidden, want C1's absence, goal, its progress and well-being and P1's health", len(hidden))
	}
	got := all.Overview()
	if n := consent.FilterOverview(&got, hidden, last); n != 5 {
		t.Errorf("took out %d", n)
	}
	if want := shown.Overview(); !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("filtered overview\n%s\nwant the fold of the entries shown\n%s", g, w)
	}
}

// TestFilterOverviewClosed: what a closed gate hides about no person
// leaves the overview too: a BUF referral's reason, a BUF follow-up's
// achievement and outcome.
func TestFilterOverviewClosed(t *testing.T) {
	o := family.Overview{ReferralReason: "Bekymring fra skolen", TotalEvents: 4, EventsPerDepartment: family.EventCounts{SOF: 1, BUF: 3},
		Goals: []family.Goal{{GoalID: "G1", LatestAchievement: "partly", LatestAchievementAt: time.Date(2024, 2, 3, 9, 0, 0, 0, time.UTC),
			Closed: true, Outcome: "achieved"}}}
	hidden := []consent.Entry{
		{Department: "buf", Type: events.TypeOf("family.referred", 1), Data: []byte(`{"reason":"Bekymring fra skolen"}`)},
		{Department: "buf", Type: events.TypeOf("goal.progressed", 1), Data: []byte(`{"goalId":"G1","achievement":"partly"}`)},
		{Department: "buf", Type: events.TypeOf("goal.closed", 1), Data: []byte(`{"goalId":"G1","outcome":"achieved"}`)},
	}
	if n := consent.FilterOverview(&o, hidden, time.Time{}); n != 3 {
		t.Errorf("took out %d", n)
	}
	if o.ReferralReason != "" || o.Goals[0].LatestAchievement != "" || !o.Goals[0].LatestAchievementAt.IsZero() ||
		o.Goals[0].Outcome != "" || o.TotalEvents != 1 || o.EventsPerDepartment.BUF != 0 {
		t.Errorf("closed gate's overview: %+v", o)
	}
}

// TestGateDecidesByTime: the gate decides a person's consent by the
// latest event in time, as the family's fold does. A consent.given dated
// before a withdrawal, stored after the row the gate starts from (a read
// before the next flush, or a live stream), shows nothing again.
func TestGateDecidesByTime(t *testing.T) {
	t.Parallel()
	env := func(id string, p events.Payload, ts string) events.Envelope {
		tm, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			t.Fatal(err)
		}
		c, err := events.Build(events.SOF, "F1", p, events.WithID(id), events.WithTime(tm))
		if err != nil {
			t.Fatal(err)
		}
		e, err := events.Validate(c)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	st := family.New("F1")
	st.Apply(env("c1", &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing}, "2024-01-10T09:00:00Z"))
	st.Apply(env("c2", &events.ConsentWithdrawn{PersonID: "C1", Scope: events.ScopeDataSharing}, "2024-06-01T09:00:00Z"))
	decided := st.ConsentDecisions() // the row, flushed at sequence 2
	backfill := env("c0", &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing}, "2024-02-01T09:00:00Z")
	st.Apply(backfill) // sequence 3
	if got := st.Overview().Consents; len(got) != 0 {
		t.Fatalf("the fold holds %+v in force", got)
	}
	absence := []byte(`{"childId":"C1","periodStart":"2024-08-01","periodEnd":"2024-08-31","schoolDays":20,"absentDays":5,"unauthorisedDays":3}`)
	later := consent.ConsentEvent{Sequence: 3, Type: backfill.Spec.Type(), Data: []byte(`{"personId":"C1","scope":"data-sharing"}`), Time: backfill.Time()}
	read, err := newGate(consent.Policy, decided, []consent.ConsentEvent{later}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !read.HiddenEntry("buf", absence, 4) {
		t.Error("a read's gate shows C1's BUF entry after a backfilled consent.given older than the withdrawal")
	}
	live, err := newGate(consent.Policy, decided, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Observe(later); err != nil {
		t.Fatal(err)
	}
	if !live.HiddenEntry("buf", absence, 4) {
		t.Error("a live gate shows C1's BUF entry after a backfilled consent.given older than the withdrawal")
	}
	// A later consent.given does bring the consent back.
	if err := live.Observe(consent.ConsentEvent{Sequence: 5, Type: backfill.Spec.Type(), Data: later.Data, Time: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	if err := live.Observe(consent.ConsentEvent{Sequence: 6, Type: "dk.kk.jobogfamilie.schoolabsence.noted.v1", Data: absence}); err != nil {
		t.Fatal(err)
	}
	if live.HiddenEntry("buf", absence, 6) {
		t.Error("a consent given after the withdrawal does not show C1's BUF entry")
	}
}

// inForce are the decisions of consents given and not withdrawn since.
func inForce(cs ...family.Consent) []family.ConsentDecision {
	out := make([]family.ConsentDecision, len(cs))
	for i, c := range cs {
		out[i] = family.ConsentDecision{PersonID: c.PersonID, Scope: c.Scope, InForce: true}
	}
	return out
}

// TestJudgedAtTheReadsMoment: a consent decision dated after the read's
// moment is not in force at that read; a gate made at a later moment, or
// moved on to it (a stream), judges by it.
func TestJudgedAtTheReadsMoment(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	absence := []byte(`{"childId":"C1"}`)
	given := ce("consent.given", `{"personId":"C1","scope":"data-sharing"}`)
	given.Sequence, given.Time = 2, now.Add(12*time.Hour)
	decided := []family.ConsentDecision{{PersonID: "P1", Scope: "data-sharing", InForce: true, At: now.Add(-time.Hour)},
		{PersonID: "P1", Scope: "data-sharing", InForce: false, At: now.Add(6 * time.Hour)}}
	g, err := consent.NewAt(consent.Policy, decided, []consent.ConsentEvent{given}, 10, now)
	if err != nil {
		t.Fatal(err)
	}
	if !g.HiddenEntry("buf", absence, 1) || g.HiddenEntry("suf", []byte(`{"personId":"P1"}`), 1) {
		t.Errorf("at %s: C1 given from %s, P1 withdrawn from %s; shown %v", now, given.Time, now.Add(6*time.Hour), g.Shown("data-sharing"))
	}
	if got := g.InForce(); len(got) != 1 || got[0].PersonID != "P1" {
		t.Errorf("in force at the read: %+v, want P1's only", got)
	}
	for _, later := range []*consent.Gate{
		func() *consent.Gate {
			g, _ := consent.NewAt(consent.Policy, decided, []consent.ConsentEvent{given}, 10, now.Add(13*time.Hour))
			return g
		}(),
		func() *consent.Gate { g.JudgeAt(now.Add(13 * time.Hour)); return g }(),
	} {
		if later.HiddenEntry("buf", absence, 1) || !later.HiddenEntry("suf", []byte(`{"personId":"P1"}`), 1) {
			t.Errorf("after both times: shown %v, want C1's events shown and P1's hidden", later.Shown("data-sharing"))
		}
	}
}

// TestFollowUpJudgedAsItsGoal: an entry that names a goalId and no person
// is hidden exactly when the goal.set it refers to is, whatever department
// sent it; one stored after what the gate knows, or under a closed gate,
// is hidden; one of a goal about no one is shown; one naming an id the
// gate knows no goal.set of (quarantined) is hidden, since a gated
// department may have set it, and one naming a measure or praktik it knows
// no start of is shown, since only SOF and BIF start them.
func TestFollowUpJudgedAsItsGoal(t *testing.T) {
	goalSet := "dk.kk.jobogfamilie.goal.set.v2"
	g, err := newGate(consent.Policy, inForce(family.Consent{PersonID: "P2", Scope: "data-sharing"}), nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	g.Refer(goalSet, "suf", []byte(`{"goalId":"G1","personId":"P1","title":"x"}`), 3)
	g.Refer(goalSet, "suf", []byte(`{"goalId":"G2","personId":"P2","title":"x"}`), 4)
	g.Refer(goalSet, "sof", []byte(`{"goalId":"G3","personId":"P1","title":"x"}`), 5)
	g.Refer(goalSet, "bif", []byte(`{"goalId":"G4","title":"x"}`), 5)
	g.Refer("dk.kk.jobogfamilie.goal.progressed.v1", "suf", []byte(`{"goalId":"G9","note":"x"}`), 5)
	for _, c := range []struct {
		dept, data string
		seq        uint64
		hidden     bool
	}{
		{"suf", `{"goalId":"G1","note":"x"}`, 6, true},
		{"sof", `{"goalId":"G1","outcome":"achieved"}`, 6, true},
		{"suf", `{"goalId":"G2","note":"x"}`, 6, false},
		{"suf", `{"goalId":"G3","note":"x"}`, 6, false},
		{"sof", `{"goalId":"G9","note":"x"}`, 6, true},
		{"sof", `{"goalId":"G4","note":"x"}`, 6, false},
		{"sof", `{"goalId":"G2","note":"x"}`, 11, true},
		{"sof", `{"measureId":"M1"}`, 6, false},
		{"bif", `{"praktikId":"X1","outcome":"completed"}`, 6, false},
	} {
		if got := g.HiddenEntry(c.dept, []byte(c.data), c.seq); got != c.hidden {
			t.Errorf("%s %s at %d: hidden %v, want %v", c.dept, c.data, c.seq, got, c.hidden)
		}
	}
	if got := g.HiddenReferences(); !reflect.DeepEqual(got, map[string][]string{"goalId": {"G1"}}) {
		t.Errorf("hidden references %v, want G1's", got)
	}
	if got := g.KnownReferences(); !reflect.DeepEqual(got, map[string][]string{"goalId": {"G1", "G2", "G3", "G4"}}) {
		t.Errorf("known references %v, want G1 to G4", got)
	}
	if got := g.HidesUnknown(); !slices.Equal(got, []string{"goalId"}) {
		t.Errorf("fields whose unknown ids are hidden %v, want goalId", got)
	}
	if !consent.Closed(consent.Policy).HiddenEntry("sof", []byte(`{"caseId":"K1"}`), 1) {
		t.Error("a closed gate shows a follow-up it cannot judge")
	}
}

// newGate is consent.NewAt judging at the present moment.
func newGate(policy []consent.Rule, decided []family.ConsentDecision, later []consent.ConsentEvent, through uint64) (*consent.Gate, error) {
	return consent.NewAt(policy, decided, later, through, time.Now())
}
