package readmodel

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestOperatorReason: the reasons the operator gets from a re-drive name
// no family and quote nothing the message held. Real reasons of messages
// this build quarantines (a family id of the subject bare or in a data
// key's id, another family's id in the event, a subject) come out without
// them, and still say which rule was broken.
func TestOperatorReason(t *testing.T) {
	t.Parallel()
	valid, err := events.Build(events.SOF, "FAM-OTHER", &events.FamilyReferred{Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := events.Marshal(valid)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	msgs := []Message{
		{seq: 1, subject: "families.FAM-Q.sof.family.referred", raw: []byte("not json")},
		// Stored under another family than its own.
		{seq: 2, subject: "families.FAM-Q.sof.family.referred", raw: raw},
		// A personal field that is no id, published directly.
		{seq: 3, subject: "families.FAM-Q.suf.gp.consultation-held", raw: []byte(`{"specversion":"1.0","id":"suf-direct-1","source":"/departments/suf",` +
			`"type":"dk.kk.jobogfamilie.gp.consultation-held.v1","subject":"FAM-Q","time":"2024-05-01T09:00:00Z","datacontenttype":"application/json",` +
			`"data":{"personId":"P1 mor angst","category":"mental-health"}}`)},
		// A subject that is none.
		{seq: 4, subject: "families.FAM Q.sof", raw: raw},
	}
	for i := range msgs {
		msgs[i].recorded = now
	}
	DecodeAll(msgs, nil)
	for _, m := range msgs {
		if m.reason == "" {
			t.Fatalf("message %d decoded", m.seq)
		}
		got := OperatorReason(m.subject, m.reason)
		for _, leak := range []string{"FAM-Q", "FAM Q", "FAM-OTHER", m.subject, "P1 mor angst", "mental-health", "consultation", "family.referred"} {
			if strings.Contains(got, leak) {
				t.Errorf("message %d: %q names %q (the reason: %q)", m.seq, got, leak, m.reason)
			}
		}
		if !strings.HasPrefix(got, "events: ") {
			t.Errorf("message %d: %q no longer says why", m.seq, got)
		}
	}

	for _, c := range []struct{ subject, reason, want string }{
		{"families.FAM-Q.sof.family.referred",
			`shred: unknown key: "FAM-Z.0" is not the key of family FAM-Q`,
			`shred: unknown key: "…" is not the key of family …`},
		{"families.FAM-Q.sof.family.referred",
			`shred: unknown key: FAM-Q.0: the bucket holds no such key and family FAM-Q is not erased`,
			`shred: unknown key: ….0: the bucket holds no such key and family … is not erased`},
		// An id within a longer one is another id, and stays.
		{"families.F1.sof.family.referred", "F10 and F1_x and F1", "F10 and F1_x and …"},
		// A quote the length limit cut off is left out to the end.
		{"families.F1.sof.family.referred", `subject names family "F1", the event's subject is "FAM-ZZ`,
			`subject names family "…", the event's subject is "…`},
		{"families.F1.sof.family.referred", `/data/personId: must match the pattern ^[A-Za-z0-9_-]{1,64}$`,
			`/data/personId: must match the pattern ^[A-Za-z0-9_-]{1,64}$`},
		// Event types, bare or as CloudEvents types: what kind of event a
		// family has is family data too.
		{"families.F1.bif.family.enrolled", "events: type family.enrolled is not owned by department bif",
			"events: type … is not owned by department bif"},
		{"families.F1.suf.gp.consultation-held", "unknown type dk.kk.jobogfamilie.gp.consultation-held.v9",
			"unknown type …"},
		{"families.F1.sof.goal.set", "goal.set.v2 has no upcaster", "….v2 has no upcaster"},
	} {
		if got := OperatorReason(c.subject, c.reason); got != c.want {
			t.Errorf("OperatorReason(%q, %q) = %q, want %q", c.subject, c.reason, got, c.want)
		}
	}
}

// TestOperatorReasonNamesNoMember: a message published directly may put
// personal text where a member's name goes, in its data or beside its
// attributes. The reason the log and the auditor get points at it by
// name; the operator's says which rule was broken, at a pointer whose
// names are the catalog's only.
func TestOperatorReasonNamesNoMember(t *testing.T) {
	t.Parallel()
	const head = `{"specversion":"1.0","id":"direct-1","source":"/departments/sof","subject":"FAM-Q","time":"2024-05-01T09:00:00Z","datacontenttype":"application/json",`
	msgs := []Message{
		{seq: 1, subject: "families.FAM-Q.sof.family.referred", raw: []byte(head +
			`"type":"dk.kk.jobogfamilie.family.referred.v1","data":{"reason":"x","Mor drikker og slår":"y"}}`)},
		{seq: 2, subject: "families.FAM-Q.sof.family.referred", raw: []byte(head +
			`"type":"dk.kk.jobogfamilie.family.referred.v1","Mor drikker og slår":"x","data":{"reason":"x"}}`)},
		{seq: 3, subject: "families.FAM-Q.sof.family.enrolled", raw: []byte(head +
			`"type":"dk.kk.jobogfamilie.family.enrolled.v1","data":{"members":[{"personId":"P1","role":"parent","Mor drikker og slår":1},{"personId":"C1","role":"child"}],` +
			`"courseStart":"2024-05-01","childCaseIds":["S1"],"parentBenefits":[{"personId":"P1","benefit":"kontanthjaelp"}]}}`)},
	}
	for i := range msgs {
		msgs[i].recorded = time.Now()
	}
	DecodeAll(msgs, nil)
	for _, m := range msgs {
		if !strings.Contains(m.reason, "Mor drikker og slår") {
			t.Fatalf("message %d: the reason %q does not name the member; the test reads nothing", m.seq, m.reason)
		}
		res := RedriveResult{NotMoved: []Redriven{redriven(&m)}}
		got := res.Report().NotMoved[0].Reason
		if strings.Contains(got, "Mor") || strings.Contains(got, "slår") {
			t.Errorf("message %d: the operator's reason %q names the member", m.seq, got)
		}
		if !strings.HasPrefix(got, "events: ") || !strings.Contains(got, "/"+Redacted) {
			t.Errorf("message %d: the operator's reason %q no longer says why, or where", m.seq, got)
		}
	}
	m := msgs[2]
	if got := redriven(&m); !strings.Contains(OperatorReason(got.Subject, got.operatorReason), "/data/members/0/"+Redacted) {
		t.Errorf("the catalog's names and the indexes are kept: %q", OperatorReason(got.Subject, got.operatorReason))
	}
}

// TestRedriveReport: the operator's answer carries, for each message, its
// sequence and, for one that stays, the reason without the family, and
// the counts; never the subject, family or type.
func TestRedriveReport(t *testing.T) {
	t.Parallel()
	res := RedriveResult{
		Moved: []Redriven{{Sequence: 7, Subject: "families.FAM-Q.sof.goal.set", FamilyID: "FAM-Q", Type: events.TypeOf("goal.set", 2),
			StoredType: events.TypeOf("goal.set", 1)}},
		NotMoved: []Redriven{{Sequence: 9, Subject: "families.FAM-Q.sof.goal.set", Reason: `subject/family mismatch: subject names family "FAM-Q"`}},
		Position: 12,
	}
	b, err := json.Marshal(res.Report())
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"moved":[{"sequence":7}],"notMoved":[{"sequence":9,"reason":"subject/family mismatch: subject names family \"…\""}],` +
		`"movedCount":1,"notMovedCount":1,"position":12}`
	if string(b) != want {
		t.Errorf("report %s, want %s", b, want)
	}
	if b, _ := json.Marshal(RedriveResult{}.Report()); string(b) != `{"moved":[],"notMoved":[],"movedCount":0,"notMovedCount":0,"position":0}` {
		t.Errorf("empty report %s", b)
	}
}

// TestRedrivenErasureErases: a family.erased that an older build
// quarantined, re-driven, erases the family as applying it does: the
// family's rows before it read as the tombstone, and the old text leaves
// the file and its WAL.
func TestRedrivenErasureErases(t *testing.T) {
	ctx := context.Background()
	m, path, at := erasureModel(t)
	erase := eventAt(t, "F-ERASE", 2, events.Service, &events.FamilyErased{Reason: "Formål ophørt"}, at.Add(time.Hour))
	erase.reason = "events: invalid: /type: not an event type of the catalog" // as an older build judged it
	if _, err := m.Apply(ctx, []Message{erase}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	res, err := m.Redrive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Moved) != 1 {
		t.Fatalf("re-drive: %+v", res)
	}
	var data, overview string
	if err := m.rdb.QueryRowContext(ctx, `SELECT data FROM timeline WHERE sequence = 1`).Scan(&data); err != nil {
		t.Fatal(err)
	}
	if err := m.rdb.QueryRowContext(ctx, `SELECT overview FROM families WHERE family_id = 'F-ERASE'`).Scan(&overview); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(data, erasedSecret) || strings.Contains(overview, erasedSecret) {
		t.Errorf("after the erasure was re-driven the family's text is served: row %s, overview %s", data, overview)
	}
	if m.ScrubPending() {
		t.Error("the re-driven erasure's scrub is pending with no reader")
	}
	if w := secretOnDisk(path); len(w) > 0 {
		t.Errorf("after the erasure was re-driven the erased text is still in %v", w)
	}
}
