package readmodel

import (
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestDecodeIsDeterministic: whether a message is valid depends on when
// the stream recorded it, never on when it is read, so that a rebuild
// decides as the live projector did.
func TestDecodeIsDeterministic(t *testing.T) {
	t.Parallel()
	happened := time.Now().Add(-time.Hour).UTC()
	ce, err := events.Build(events.SOF, "F1", &events.MeetingHeld{Kind: "family"}, events.WithTime(happened))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := events.Marshal(ce)
	for _, c := range []struct {
		recorded time.Time
		valid    bool
	}{
		{happened.Add(-47 * time.Hour), false}, // two days ahead of the recording clock
		{happened.Add(-23 * time.Hour), true},
		{happened.Add(24 * 365 * time.Hour), true}, // a replay next year
	} {
		m := Message{seq: 1, subject: "families.F1.sof.meeting.held", recorded: c.recorded, raw: raw}
		m.decode()
		if (m.reason == "") != c.valid {
			t.Errorf("recorded %s: reason %q, want valid %v", c.recorded, m.reason, c.valid)
		}
		if !c.valid && !strings.Contains(m.reason, "future") {
			t.Errorf("reason %q does not say why", m.reason)
		}
		if c.valid && m.title != "Møde afholdt: familiemøde" {
			t.Errorf("title %q", m.title)
		}
	}
}
