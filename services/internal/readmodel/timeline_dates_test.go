package readmodel

import (
	"net/url"
	"testing"
	"time"
)

// TestTimelineDatesAreCopenhagenDays: a date in from or to is that day's
// first moment in Copenhagen, as everywhere else a read path takes a date
// (the audit service, the evaluation, the web app), in winter and in
// summer time; an RFC 3339 time keeps its own offset.
func TestTimelineDatesAreCopenhagenDays(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		from string
		want time.Time
	}{
		{"2024-03-01", time.Date(2024, 2, 29, 23, 0, 0, 0, time.UTC)},
		{"2024-07-01", time.Date(2024, 6, 30, 22, 0, 0, 0, time.UTC)},
		{"2024-03-01T00:00:00Z", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
	} {
		for _, name := range []string{"from", "to"} {
			tq, err := ParseTimeline("F1", url.Values{name: {c.from}})
			if err != nil {
				t.Fatalf("%s=%s: %v", name, c.from, err)
			}
			got := map[string]*int64{"from": tq.from, "to": tq.to}[name]
			if got == nil || *got != c.want.UnixNano() {
				t.Errorf("%s=%s reads as %v; want %v", name, c.from, got, c.want)
			}
		}
	}
	for _, bad := range []string{"2024-13-01", "1850-01-01", "yesterday"} {
		if _, err := ParseTimeline("F1", url.Values{"from": {bad}}); err == nil {
			t.Errorf("from=%s accepted", bad)
		}
	}
}
