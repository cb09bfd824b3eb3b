package projector_test

import (
	"testing"
	"time"
)

// TestKnownAtNotAfterTheAnswer: an answer's knownAt says its figures are
// those of every event recorded by then, so that they can be computed
// again, identically. A knownAt after the moment of the answer cannot keep
// that: events recorded later would change the figures at the same
// knownAt. It is read as the moment of the answer, which the answer
// gives, and asking again at that knownAt gives the same figures.
func TestKnownAtNotAfterTheAnswer(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	s.WaitApplied(s.enrol("F1", "E1001"))
	first := s.exactEvaluation("knownAt=2199-01-01T00:00:00Z")
	if answered := time.Now(); first.KnownAt.After(answered) {
		t.Errorf("the answer's knownAt is %s, after the answer (%s)", first.KnownAt.Format(time.RFC3339Nano), answered.Format(time.RFC3339Nano))
	}
	s.WaitApplied(s.enrol("F2", "E1001"))
	again := s.exactEvaluation("knownAt=" + first.KnownAt.Format(time.RFC3339Nano))
	if a, b := first.Measures["families.enrolled"].Value, again.Measures["families.enrolled"].Value; a == nil || b == nil || *a != *b {
		t.Errorf("families.enrolled at knownAt %s: %v, then %v after a later enrolment", first.KnownAt.Format(time.RFC3339Nano), show(a), show(b))
	}
}
