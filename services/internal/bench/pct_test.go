package bench

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestPctIsNearestRank: a percentile is the ceil(p*n/100)-th sample of n
// (nearest rank), so p99 of 1..100 ms is 99 ms, not the maximum, and p50 is
// 50 ms; the maximum is p99 only when fewer than 100 samples leave no other.
func TestPctIsNearestRank(t *testing.T) {
	ms := func(n int) []time.Duration {
		lat := make([]time.Duration, n)
		for i := range lat {
			lat[i] = time.Duration(i+1) * time.Millisecond
		}
		return lat
	}
	for _, c := range []struct {
		n, p int
		want time.Duration
	}{
		{100, 50, 50 * time.Millisecond},
		{100, 90, 90 * time.Millisecond},
		{100, 99, 99 * time.Millisecond},
		{200, 99, 198 * time.Millisecond},
		{10, 50, 5 * time.Millisecond},
		{10, 99, 10 * time.Millisecond},
		{1, 50, 1 * time.Millisecond},
		{1, 99, 1 * time.Millisecond},
		{0, 99, 0},
	} {
		if got := pct(ms(c.n), c.p); got != c.want {
			t.Errorf("pct(1..%d ms, %d) = %v, want %v", c.n, c.p, got, c.want)
		}
	}
}

// TestRunRefusesEmptyPhases: a phase of no requests has no rate and no
// latency to print; Run says which flag, before it starts anything.
func TestRunRefusesEmptyPhases(t *testing.T) {
	o := Defaults()
	o.SingleCount = 0
	o.Dir, o.Out = t.TempDir(), io.Discard
	if err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "-single must be at least 1") {
		t.Fatalf("Run with -single 0: %v", err)
	}
}
