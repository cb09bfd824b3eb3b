package ingest_test

import (
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
)

// A source that names another department is refused with 403 whatever its
// system part holds: the department is named before the system, and owner
// first means nothing else of the event is looked at (a malformed or
// over-long system part, or one that holds a CPR number, is the other
// department's business).
func TestSourceOfAnotherDepartmentWithAnySystemIs403(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	systems := map[string]string{
		"space":          "/departments/sof/a b",
		"CPR with space": "/departments/sof/010190 1234",
		"empty system":   "/departments/sof/",
		"two segments":   "/departments/sof/a/b",
		"65 characters":  "/departments/sof/" + strings.Repeat("s", 65),
	}
	for name, source := range systems {
		t.Run(name, func(t *testing.T) {
			body := []byte(`{"specversion":"1.0","id":"fs-1","source":"` + source +
				`","type":"dk.kk.jobogfamilie.praktik.started.v2","subject":"FS1","time":"2024-01-01T09:00:00Z","data":{}}`)
			if r := h.post("bif", "dev-bif", "application/cloudevents+json", body, nil); r.Status != 403 {
				t.Errorf("structured: %d %s, want 403", r.Status, r.Raw)
			}
			batch := batchOf(ev(t, events.BIF, "FS1", praktik("PR1")), body)
			if r := h.post("bif", "dev-bif", "application/cloudevents-batch+json", batch, nil); r.Status != 403 || r.Body["index"] != float64(1) {
				t.Errorf("batch: %d %s, want 403 at index 1", r.Status, r.Raw)
			}
			hdr := map[string]string{"ce-specversion": "1.0", "ce-id": "fs-2", "ce-source": strings.ReplaceAll(source, " ", "%20"),
				"ce-type": "dk.kk.jobogfamilie.praktik.started.v2", "ce-subject": "FS1", "ce-time": "2024-01-01T09:00:00Z"}
			if r := h.post("bif", "dev-bif", "application/json", []byte(`{}`), hdr); r.Status != 403 {
				t.Errorf("binary: %d %s, want 403", r.Status, r.Raw)
			}
		})
	}
	if got := h.lastSeq(); got != 0 {
		t.Fatalf("the stream holds %d messages, want none", got)
	}
}
