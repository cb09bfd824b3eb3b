package readmodel

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// BenchmarkLoadWithErasures loads a model as a rebuild does (bulk, in
// batches of DefaultBatchSize) from a stream of 50,000 events over 1,000
// families, 20 of which are erased along the way, each erasure in a batch
// of its own: with the scrub deferred to the load's end, and with one
// scrub per erasure.
//
//	go test ./internal/readmodel/ -run '^$' -bench LoadWithErasures -benchtime 1x
func BenchmarkLoadWithErasures(b *testing.B) {
	const (
		n        = 50_000
		families = 1_000
		erased   = 20
	)
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	msgs := make([]Message, 0, n)
	for i := range n {
		seq := uint64(i + 1)
		fam := fmt.Sprintf("F%04d", i%families)
		var d events.Department
		var p events.Payload
		switch {
		case i < families:
			d, p = events.SOF, &events.FamilyReferred{Reason: "Begrundelse " + fam}
		case i%(n/erased) == n/erased/2:
			d, p = events.Service, &events.FamilyErased{Reason: "Formål ophørt"}
			fam = fmt.Sprintf("F%04d", i/(n/erased))
		default:
			d, p = events.BUF, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: float64(i % 40)}
		}
		msgs = append(msgs, eventAt(b, fam, seq, d, p, at.Add(time.Duration(i)*time.Minute)))
	}
	for _, deferred := range []bool{true, false} {
		b.Run(fmt.Sprintf("deferred=%v", deferred), func(b *testing.B) {
			ctx := context.Background()
			for range b.N {
				m, err := Open(ctx, filepath.Join(b.TempDir(), ModelName(1)))
				if err != nil {
					b.Fatal(err)
				}
				if err := m.SetBulk(ctx, true); err != nil {
					b.Fatal(err)
				}
				if err := m.DeferScrub(ctx, deferred); err != nil {
					b.Fatal(err)
				}
				var fl Flusher
				for lo := 0; lo < n; lo += DefaultBatchSize {
					batch := msgs[lo:min(lo+DefaultBatchSize, n)]
					t0 := time.Now()
					flush := fl.Due(m, false)
					if _, err := m.Apply(ctx, batch, ApplyOptions{AllowGap: lo == 0, Flush: flush}); err != nil {
						b.Fatal(err)
					}
					if flush {
						fl.Done(t0)
					}
				}
				if _, err := m.EndBulk(ctx); err != nil {
					b.Fatal(err)
				}
				if err := m.DeferScrub(ctx, false); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(m.Vacuums()), "vacuums/op")
				m.Close()
			}
		})
	}
}
