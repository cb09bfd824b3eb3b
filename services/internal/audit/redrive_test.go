package audit_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestRedriveEndToEnd: the live projector's model holds a goal.set.v2 in
// quarantine, as a build that did not know v2 left it; verify reports the
// difference from a replay by this build; POST /v1/admin/quarantine/redrive
// (operators only) moves it to the timeline and reports what moved and
// what did not; verify matches afterwards, and the projector goes on
// applying new events of the family on the refolded state.
func TestRedriveEndToEnd(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam = "FAM-R"
	ctx := context.Background()
	s.Post(events.SOF, fam, testenv.Enrolment())
	s.Post(events.SOF, fam, &events.GoalSet{GoalID: "G1", Title: "Job", Domain: "employment", ExpressedBy: "family"})
	v2 := s.Post(events.SOF, fam, &events.GoalSetV2{GoalID: "G2", Title: "Familien", Domains: []string{"family", "school"}, ExpressedBy: "family"})
	junk, err := s.SA.Store.JS.Publish(ctx, "families."+fam+".sof.goal.set", []byte(`{"not":"an event"}`))
	if err != nil {
		t.Fatal(err)
	}
	s.WaitApplied(junk.Sequence)
	if v := s.verify(); !v.Match {
		t.Fatalf("untouched model: %+v", v)
	}

	// As the build before v2 judged it: quarantined, not in the timeline.
	stream, err := s.SA.Store.JS.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := stream.GetMsg(ctx, v2.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	s.tamper(`INSERT INTO quarantine (sequence, subject, reason, raw, recorded_ns)
		SELECT sequence, ?, 'events: invalid: /type: not an event type of the catalog', ?, recorded_ns FROM timeline WHERE sequence = ?`,
		raw.Subject, raw.Data, v2.Sequence)
	s.tamper(`DELETE FROM timeline WHERE sequence = ?`, v2.Sequence)
	if v := s.verify(); v.Match || v.FirstDifference == nil || v.FirstDifference.Sequence != v2.Sequence {
		t.Fatalf("verify before the redrive: %+v %+v", v, v.FirstDifference)
	}

	if r := s.Do("POST", "/v1/admin/quarantine/redrive", "dev-auditor", nil, nil); r.Status != 403 {
		t.Errorf("an auditor re-drives: %d %s", r.Status, r.Raw)
	}
	r := s.Do("POST", "/v1/admin/quarantine/redrive", "dev-operator", nil, nil)
	if r.Status != 200 {
		t.Fatalf("redrive: %d %s", r.Status, r.Raw)
	}
	var res struct {
		Moved, NotMoved []struct {
			Sequence uint64
			Reason   string
		}
		MovedCount, NotMovedCount int
	}
	if err := json.Unmarshal([]byte(r.Raw), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Moved) != 1 || res.Moved[0].Sequence != v2.Sequence || res.MovedCount != 1 ||
		len(res.NotMoved) != 1 || res.NotMoved[0].Sequence != junk.Sequence || res.NotMoved[0].Reason == "" || res.NotMovedCount != 1 {
		t.Fatalf("redrive answered %s", r.Raw)
	}
	// The operator has no family data: the answer names no family.
	if strings.Contains(r.Raw, fam) {
		t.Fatalf("the operator's redrive answer names the family %s: %s", fam, r.Raw)
	}
	if v := s.verify(); !v.Match {
		t.Fatalf("verify after the redrive: %+v %+v", v, v.FirstDifference)
	}

	// The projector applies the next event of the family on the refolded
	// state, and verify still matches.
	last := s.Post(events.SOF, fam, &events.GoalProgressed{GoalID: "G2", Achievement: "improving"})
	s.WaitApplied(last.Sequence)
	if v := s.verify(); !v.Match {
		t.Fatalf("verify after the next event: %+v %+v", v, v.FirstDifference)
	}
}
