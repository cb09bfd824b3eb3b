package webapp

import (
	"testing"
	"time"

	"kk.dk/jobogfamilie/events/family"
)

// TestDueStateCalendarDays: a goal is due soon up to DueSoonDays calendar
// days ahead in Copenhagen, however many hours that is (one more when
// summer time ends between, one fewer when it begins), and overdue from
// the day after its due date.
func TestDueStateCalendarDays(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ now, due, want string }{
		{"2024-11-10T12:00:00+01:00", "2024-11-24", "soon"}, // no change of clocks
		{"2024-11-10T12:00:00+01:00", "2024-11-25", ""},
		{"2024-10-20T12:00:00+02:00", "2024-11-03", "soon"}, // summer time ends 27 Oct
		{"2024-10-20T00:30:00+02:00", "2024-11-03", "soon"},
		{"2024-10-20T23:30:00+02:00", "2024-11-03", "soon"},
		{"2024-10-20T12:00:00+02:00", "2024-11-04", ""},
		{"2024-03-20T23:30:00+01:00", "2024-04-03", "soon"}, // summer time begins 31 Mar
		{"2024-03-20T23:30:00+01:00", "2024-04-04", ""},
		{"2024-10-20T23:30:00Z", "2024-11-04", "soon"}, // 21 Oct in Copenhagen
		{"2024-10-20T12:00:00+02:00", "2024-10-20", "soon"},
		{"2024-10-20T00:10:00+02:00", "2024-10-19", "overdue"},
		{"2024-10-19T22:10:00Z", "2024-10-19", "overdue"}, // 20 Oct in Copenhagen
	} {
		now, err := time.Parse(time.RFC3339, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		if got := dueState(family.Goal{Due: tc.due}, now); got != tc.want {
			t.Errorf("now %s, due %s: %q, want %q", tc.now, tc.due, got, tc.want)
		}
	}
	if got := dueState(family.Goal{Due: "2024-10-21", Closed: true}, time.Date(2024, 10, 20, 12, 0, 0, 0, time.UTC)); got != "" {
		t.Errorf("a closed goal is %q", got)
	}
}
