package webapp

import (
	"net/http/httptest"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// TestDefaultPeriod: without a period the page shows EvaluationMonths
// monthly moments ending today (00:00 UTC), or the day before when today's
// day is one the first month lacks; and a chart's CSV link, which carries
// the period's dates, gives the page's moments.
func TestDefaultPeriod(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		now  time.Time
		last string
	}{
		{time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC), "2025-06-15"},
		{time.Date(2025, 3, 31, 10, 0, 0, 0, time.UTC), "2025-03-30"}, // from 30 April 2023
		{time.Date(2025, 12, 30, 23, 30, 0, 0, time.UTC), "2025-12-30"},
	} {
		from, to, ok := evaluationPeriod(httptest.NewRequest("GET", "/app/evaluation", nil), c.now)
		page, err := evaluation.Moments(from, to, evaluation.StepMonth)
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		if last := page[len(page)-1].Format(time.DateOnly); len(page) != EvaluationMonths || last != c.last {
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
