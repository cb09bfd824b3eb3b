package projector_test

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/projector"
)

// TestFamilyReadIsOneState: a coordinator's read of a family (its
// overview, a timeline page, the family list) reads its consent gate and
// what the gate judges in one state of the read model, so a batch applied
// between the gate and the rows changes nothing of the answer: it is the
// answer of a read before the batch or of one after it, never an entry
// hidden "by consent" that no consent hides.
func TestFamilyReadIsOneState(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-ONE-STATE"
	s.enrol(fam, "E1001")
	s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing})
	s.WaitApplied(s.post(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 4}))
	p := s.SA.Projector
	defer projector.SetAfterGate(p, nil)

	// between runs read with a batch applied between its gate and its
	// rows: a BUF event about C1, whose consent is in force.
	between := func(read func() string) string {
		t.Helper()
		var fired atomic.Bool
		projector.SetAfterGate(p, func() {
			if fired.Swap(true) {
				return
			}
			seq, err := s.tryPost(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 5})
			if err != nil {
				t.Error(err)
				return
			}
			s.WaitApplied(seq)
		})
		got := read()
		projector.SetAfterGate(p, nil)
		if !fired.Load() {
			t.Fatal("the read read no gate")
		}
		return got
	}
	check := func(what string, read func() string) {
		t.Helper()
		before := read()
		got := between(read)
		after := read()
		if got != before && got != after {
			t.Errorf("%s with a batch between gate and rows: %s; before it %s, after it %s", what, got, before, after)
		}
	}

	check("overview", func() string {
		ov := s.overview(fam, "dev-coordinator")
		return fmt.Sprintf("total %d per department %v hidden %d", ov.Total, ov.PerDept, *ov.Hidden)
	})
	check("timeline", func() string {
		pg := s.timeline(fam, "", "dev-coordinator", nil)
		return fmt.Sprintf("%d entries, %d hidden", len(pg.Entries), pg.HiddenByConsent)
	})
	check("family list", func() string {
		var list struct {
			Families []struct {
				FamilyID        string `json:"familyId"`
				Events          int    `json:"events"`
				LastSequence    uint64 `json:"lastSequence"`
				HiddenByConsent int    `json:"hiddenByConsent"`
			}
		}
		r := s.Get("/v1/families", "dev-coordinator", nil)
		if r.Status != 200 {
			t.Fatalf("family list: %d %s", r.Status, r.Raw)
		}
		if err := json.Unmarshal([]byte(r.Raw), &list); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%+v", list)
	})
}
