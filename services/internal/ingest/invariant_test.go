package ingest_test

import (
	"bytes"
	"testing"

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
