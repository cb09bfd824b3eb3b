package projector_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
)

// TestRedriveAnswerNamesNoFamily: the operator, who sees no family data
// (CONTRACT.md), gets from POST /v1/admin/quarantine/redrive how many
// messages moved and stayed, each by its sequence, and why each that
// stays does; not which family a message is about, its subject or its
// type, and no reason names the family or quotes the message.
func TestRedriveAnswerNamesNoFamily(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	ctx := context.Background()
	s.WaitApplied(s.enrol("FAM-Q", "E1001"))
	// A SUF system publishing straight onto NATS (CONTRACT.md allows it)
	// sends a health event the projector quarantines, and an event of
	// another family under FAM-Q's subject.
	health := `{"specversion":"1.0","id":"suf-direct-1","source":"/departments/suf","type":"dk.kk.jobogfamilie.gp.consultation-held.v1",` +
		`"subject":"FAM-Q","time":"2024-05-01T09:00:00Z","datacontenttype":"application/json","data":{"personId":"P1 mor angst","category":"mental-health"}}`
	other, err := events.Build(events.SOF, "FAM-OTHER", &events.FamilyReferred{Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	otherJSON, _ := events.Marshal(other)
	var seqs []uint64
	for _, m := range []struct{ subject, data string }{
		{"families.FAM-Q.suf.gp.consultation-held", health},
		{"families.FAM-Q.sof.family.referred", string(otherJSON)},
	} {
		ack, err := s.js.Publish(ctx, m.subject, []byte(m.data))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Sequence)
	}
	s.WaitApplied(seqs[1])

	r := s.Do("POST", "/v1/admin/quarantine/redrive", "dev-operator", nil, nil)
	if r.Status != 200 {
		t.Fatalf("redrive: %d %s", r.Status, r.Raw)
	}
	for _, leak := range []string{"FAM-Q", "FAM-OTHER", "consultation", "family.referred", "mental-health", "P1", `"subject"`, `"familyId"`, `"type"`} {
		if strings.Contains(r.Raw, leak) {
			t.Errorf("the operator's answer holds %q: %s", leak, r.Raw)
		}
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
	if len(res.Moved) != 0 || res.MovedCount != 0 || res.NotMovedCount != 2 || len(res.NotMoved) != 2 ||
		res.NotMoved[0].Sequence != seqs[0] || res.NotMoved[1].Sequence != seqs[1] ||
		!strings.Contains(res.NotMoved[0].Reason, "/data/personId") || !strings.Contains(res.NotMoved[1].Reason, "subject/family mismatch") {
		t.Errorf("the operator's answer: %s", r.Raw)
	}
}
