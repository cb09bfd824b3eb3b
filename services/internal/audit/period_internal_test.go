package audit

import (
	"net/url"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events/family"
)

// TestReportPeriodIsCopenhagenDays: the citizen's access report shows its
// period and every read in Copenhagen time ("Fra 1. mar. 2024", "1. mar.
// 2024 kl. 00.30"), so from=2024-03-01 begins at 00:00 in Copenhagen (a
// read then is in the report) and to=2024-04-01, exclusive ("til og med
// 31. mar. 2024"), ends before
// 00:00 there on 1 April (in summer time, two hours before UTC). The
// times are fixed, so the test holds whenever it runs.
func TestReportPeriodIsCopenhagenDays(t *testing.T) {
	from, to, err := parseRange(url.Values{"from": {"2024-03-01"}, "to": {"2024-04-01"}})
	if err != nil {
		t.Fatal(err)
	}
	q := AccessQuery{From: from, To: to}
	in := func(at time.Time) bool { return !at.Before(q.From) && at.Before(q.To) }

	first := time.Date(2024, 3, 1, 0, 30, 0, 0, family.Copenhagen) // 2024-02-29T23:30Z
	beforeFirst := time.Date(2024, 2, 29, 23, 30, 0, 0, family.Copenhagen)
	last := time.Date(2024, 3, 31, 23, 30, 0, 0, family.Copenhagen)    // 2024-03-31T21:30Z
	afterLast := time.Date(2024, 4, 1, 1, 30, 0, 0, family.Copenhagen) // 2024-03-31T23:30Z
	// The page names the last day the period holds, not the day after it.
	if periodFrom(from) != "Fra 1. mar. 2024" || periodTo(to) != "til og med 31. mar. 2024" {
		t.Errorf("page period: %s %s", periodFrom(from), periodTo(to))
	}
	// A time that is not a Copenhagen midnight is shown as the time.
	at := time.Date(2024, 4, 1, 12, 0, 0, 0, family.Copenhagen)
	if got := periodTo(at); got != "til 1. apr. 2024 kl. 12.00" {
		t.Errorf("period to %s: %s", at, got)
	}
	if got := periodFrom(at); got != "Fra 1. apr. 2024 kl. 12.00" {
		t.Errorf("period from %s: %s", at, got)
	}
	for _, c := range []struct {
		at   time.Time
		want bool
	}{{beforeFirst, false}, {first, true}, {last, true}, {afterLast, false}} {
		if in(c.at) != c.want {
			t.Errorf("a read at %s (%s): in the report %s %s is %v, want %v",
				danishTime(c.at), c.at.UTC().Format(time.RFC3339), periodFrom(from), periodTo(to), in(c.at), c.want)
		}
	}
}

// TestDatesAreCopenhagenDays: every from and to of the audit service reads
// a date as the day in Copenhagen, and an RFC 3339 time at its own offset.
func TestDatesAreCopenhagenDays(t *testing.T) {
	for _, c := range []struct{ v, want string }{
		{"2024-03-01", "2024-02-29T23:00:00Z"},           // winter time, UTC+1
		{"2024-07-01", "2024-06-30T22:00:00Z"},           // summer time, UTC+2
		{"2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z"}, // a time keeps its offset
		{"2024-03-01T00:30:00+05:00", "2024-02-29T19:30:00Z"},
	} {
		got, err := ParseTime("from", c.v)
		if err != nil || got.Format(time.RFC3339) != c.want {
			t.Errorf("ParseTime(%q) = %s, %v; want %s", c.v, got.Format(time.RFC3339), err, c.want)
		}
	}
	// GET /v1/audit/events and audit replay: the same bounds.
	eq, err := ParseEventsQuery(url.Values{"from": {"2024-03-01"}, "to": {"2024-07-01"}})
	if err != nil || eq.From.Format(time.RFC3339) != "2024-02-29T23:00:00Z" || eq.To.Format(time.RFC3339) != "2024-06-30T22:00:00Z" {
		t.Errorf("events query: %v %v %v", eq.From, eq.To, err)
	}
	for _, v := range []string{"2024-13-01", "1.3.2024", "1800-01-01"} {
		if _, err := ParseTime("to", v); err == nil {
			t.Errorf("ParseTime(%q) accepted", v)
		}
	}
}
