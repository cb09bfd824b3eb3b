package ingest_test

import (
	"bytes"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestEnrolmentWithoutChildIs409: "≥1 parent and ≥1 child member" is a
// catalog invariant, "rejected with 409 otherwise" (DOMAIN.md), not a
// shape error (422).
func TestEnrolmentWithoutChildIs409(t *testing.T) {
	h := newHarness(t)
	body := bytes.Replace(ev(t, events.SOF, "EN1", enrolment()), []byte(`"role":"child"`), []byte(`"role":"parent"`), 1)
	r := h.post("sof", "dev-sof", "application/cloudevents+json", body, nil)
	if r.Status != 409 || r.Body["rule"] != "members-parent-and-child" {
		t.Fatalf("enrolment with no child: %d %s, want 409 members-parent-and-child", r.Status, r.Raw)
	}
}

// TestEvaluationBeforeFirstCourseIs409: evaluation.recorded needs the
// family "enrolled or ended" (DOMAIN.md) at its time; an evaluation dated
// before the course began is refused, one dated in it is stored.
func TestEvaluationBeforeFirstCourseIs409(t *testing.T) {
	h := newHarness(t)
	enrolledAt := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC) // courseStart 2024-01-15
	if r := h.post("sof", "dev-sof", "application/cloudevents+json",
		ev(t, events.SOF, "EV1", enrolment(), events.WithTime(enrolledAt)), nil); r.Status != 201 {
		t.Fatalf("enrolment: %d %s", r.Status, r.Raw)
	}
	evaluation := &events.EvaluationRecorded{Kind: "midway", FamilySatisfaction: 4}
	before := ev(t, events.SOF, "EV1", evaluation, events.WithTime(time.Date(2023, 6, 1, 9, 0, 0, 0, time.UTC)))
	if r := h.post("sof", "dev-sof", "application/cloudevents+json", before, nil); r.Status != 409 || r.Body["rule"] != "never-enrolled" {
		t.Errorf("evaluation dated before the course began: %d %s, want 409 never-enrolled", r.Status, r.Raw)
	}
	in := ev(t, events.SOF, "EV1", evaluation, events.WithTime(time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)))
	if r := h.post("sof", "dev-sof", "application/cloudevents+json", in, nil); r.Status != 201 {
		t.Errorf("evaluation dated in the course: %d %s, want 201", r.Status, r.Raw)
	}
}
