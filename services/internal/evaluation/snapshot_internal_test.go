package evaluation

import (
	"bytes"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
)

// Every kind has its words, and an index whose fact names a string, a
// list or a kept payload it lacks, or is of no kind, is refused though
// its checksum holds.
func TestReadIndexChecksTheFacts(t *testing.T) {
	for k := kindReferred; k <= kindEvaluation; k++ {
		if int(k) >= len(words) || len(words[k]) != 3 {
			t.Fatalf("kind %d has no words", k)
		}
	}
	for name, damage := range map[string]func(e *entry){
		"a string":  func(e *entry) { *e = entry{seq: e.seq, fact: fact{kind: kindEmployment, a: 0, b: 99}} },
		"a list":    func(e *entry) { *e = entry{seq: e.seq, fact: fact{kind: kindGoalSet, a: 0, b: 0, c: 99}} },
		"a payload": func(e *entry) { *e = entry{seq: e.seq, fact: fact{kind: kindEnrolled, a: 99}} },
		"no kind":   func(e *entry) { e.kind = kindEvaluation + 1 },
	} {
		x := NewIndex()
		x.Add(Event{Sequence: 1, FamilyID: "F1", Data: &events.EmploymentStarted{PersonID: "P1", Kind: "small-job"}})
		var buf bytes.Buffer
		if _, err := x.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadIndex(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatalf("the index before the damage: %v", err)
		}
		damage(&x.families[0].evs[0])
		buf.Reset()
		if _, err := x.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadIndex(bytes.NewReader(buf.Bytes())); err == nil || !strings.Contains(err.Error(), "a fact") {
			t.Errorf("a fact naming %s the index lacks: %v, want it refused", name, err)
		}
	}
}
