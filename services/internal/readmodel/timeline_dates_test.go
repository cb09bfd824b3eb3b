package readmodel

import (
	"net/url"
	"strconv"
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

// TestTimelineDefaults: without parameters a page is the newest 100
// entries first (CONTRACT.md: default order=desc, limit=100), and limit
// takes 1 to 500.
func TestTimelineDefaults(t *testing.T) {
	tq, err := ParseTimeline("F1", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	if tq.Limit() != 100 || tq.order() != "desc" || tq.Filtered() {
		t.Fatalf("defaults: limit %d, order %s, filtered %v; want 100, desc, none", tq.Limit(), tq.order(), tq.Filtered())
	}
	for _, ok := range []string{"1", "500"} {
		if tq, err := ParseTimeline("F1", url.Values{"limit": {ok}}); err != nil || strconv.Itoa(tq.Limit()) != ok {
			t.Errorf("limit=%s: %v, %d", ok, err, tq.Limit())
		}
	}
	for _, bad := range []string{"0", "501", "-1", "ten"} {
		if _, err := ParseTimeline("F1", url.Values{"limit": {bad}}); err == nil {
			t.Errorf("limit=%s accepted", bad)
		}
	}
}
