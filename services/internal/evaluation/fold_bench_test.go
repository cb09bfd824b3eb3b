package evaluation_test

import (
	"runtime"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// BenchmarkCompute is one evaluation (one asOf) of the demo's families,
// 2,000 of them, held in an index as the projector holds them: the fold
// that every warm GET /v1/evaluation runs. It also reports the heap the
// index holds an event (heap-B/event).
func BenchmarkCompute(b *testing.B) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	recorded := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	x := evaluation.NewIndex()
	x.AddAll(demoEvents(b, 2000, recorded))
	runtime.GC()
	runtime.ReadMemStats(&ms)
	held := float64(int64(ms.HeapAlloc)-int64(before)) / float64(x.Len())
	asOf := time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)
	o := evaluation.Options{Target: 50, Suppress: true}
	known := recorded.Add(time.Hour) // after every event's recording
	if r := x.Compute(asOf, known, o); r.Measures["families.enrolled"].Value == nil {
		b.Fatal("no families enrolled")
	}
	b.ReportAllocs()
	for b.Loop() {
		x.Compute(asOf, known, o)
	}
	b.ReportMetric(float64(x.Len()), "events")
	b.ReportMetric(held, "heap-B/event")
}
