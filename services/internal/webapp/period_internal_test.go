package webapp

import (
	"net/http/httptest"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// TestDefaultPeriod: without a period the page shows EvaluationMonths
// monthly moments ending today (Copenhagen's day, at 00:00 there), or the
// day before when today's day is one the first month lacks; and a chart's
// CSV link, which carries the period's dates, gives the page's moments.
func TestDefaultPeriod(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		now  time.Time
		last string
	}{
		{time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC), "2025-06-15"},
		{time.Date(2025, 3, 31, 10, 0, 0, 0, time.UTC), "2025-03-30"}, // from 30 April 2023
		// 00:30 on 31 December in Copenhagen: today is the 31st there.
		{time.Date(2025, 12, 30, 23, 30, 0, 0, time.UTC), "2025-12-31"},
		// 01:30 on 1 July in Copenhagen (summer time), 23:30 the day before in UTC.
		{time.Date(2025, 6, 30, 23, 30, 0, 0, time.UTC), "2025-07-01"},
	} {
		from, to, ok := evaluationPeriod(httptest.NewRequest("GET", "/app/evaluation", nil), c.now)
		page, err := evaluation.Moments(from, to, evaluation.StepMonth)
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		for _, m := range page {
			if at := m.In(copenhagen); at.Hour() != 0 || at.Minute() != 0 {
				t.Errorf("now %s: the moment %s is not a midnight in Copenhagen", c.now, m.UTC().Format(time.RFC3339))
			}
		}
		if last := page[len(page)-1].In(copenhagen).Format(time.DateOnly); len(page) != EvaluationMonths || last != c.last {
			t.Errorf("now %s: %d moments, the last %s; want %d, the last %s", c.now, len(page), last, EvaluationMonths, c.last)
		}
		v := chartView(evalCharts[0], make([]evaluation.Result, len(page)), from.Format(time.DateOnly), to.Format(time.DateOnly))
		f, tt, ok := evaluationPeriod(httptest.NewRequest("GET", v.CSV, nil), c.now)
		csv, err := evaluation.Moments(f, tt, evaluation.StepMonth)
		if !ok || err != nil || len(csv) != len(page) || !csv[0].Equal(page[0]) || !csv[len(csv)-1].Equal(page[len(page)-1]) {
			t.Errorf("now %s: the CSV link's moments %v..%v are not the page's %v..%v", c.now, csv[0], csv[len(csv)-1], page[0], page[len(page)-1])
		}
	}
}

// TestPeriodDatesAreCopenhagenDays: the form's dates are days in
// Copenhagen, as the family page's filters are, and a moment's month is
// labelled as it is there: 1 March at 00:00 in Copenhagen is 29 February
// in UTC.
func TestPeriodDatesAreCopenhagenDays(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC)
	from, to, ok := evaluationPeriod(httptest.NewRequest("GET", "/app/evaluation?from=2024-03-01&to=2024-08-01", nil), now)
	if !ok {
		t.Fatal("period refused")
	}
	if want := time.Date(2024, 3, 1, 0, 0, 0, 0, copenhagen); !from.Equal(want) {
		t.Errorf("from = %s, want %s", from.UTC().Format(time.RFC3339), want.UTC().Format(time.RFC3339))
	}
	if want := time.Date(2024, 8, 1, 0, 0, 0, 0, copenhagen); !to.Equal(want) {
		t.Errorf("to = %s, want %s", to.UTC().Format(time.RFC3339), want.UTC().Format(time.RFC3339))
	}
	if l := monthLabel(from.UTC()); l != "mar. 2024" {
		t.Errorf("1 March in Copenhagen labelled %q", l)
	}
}
