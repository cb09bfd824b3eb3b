package readmodel

import (
	"context"
	"net/url"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// BenchmarkConsentTimelinePage reads a 1-entry page of a family of 20000
// entries, one in ten of them hidden by consent: as an auditor reads it
// (no Hide), as a coordinator's page that carries no count (the web app's
// goal and absence lists), and as one that carries the family's
// hiddenByConsent (the API's page), which scans the whole family; and the
// count alone on a snapshot after each new event of the family, which
// adds the new row to the count kept from the read before.
func BenchmarkConsentTimelinePage(b *testing.B) {
	ctx := context.Background()
	const fam = "F-BIG"
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	m := gateModel(b)
	var msgs []Message
	for seq := uint64(1); seq <= 20000; seq++ {
		var p events.Payload = &events.MeetingHeld{Kind: "team"}
		d := events.SOF
		if seq%10 == 0 {
			d, p = events.SUF, &events.HealthReferred{PersonID: "P1", To: "x"}
		}
		msgs = append(msgs, eventAt(b, fam, seq, d, p, base.Add(time.Duration(seq)*time.Minute)))
		if len(msgs) == 1000 {
			if _, err := m.Apply(ctx, msgs, ApplyOptions{Flush: true}); err != nil {
				b.Fatal(err)
			}
			msgs = nil
		}
	}
	h := HideOf(foldGate(b, m, fam, base.Add(100*24*time.Hour)))
	tq, err := ParseTimeline(fam, url.Values{"limit": {"1"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tq   TimelineQuery
	}{
		{"ungated", tq},
		{"gated", tq.WithHide(h)},
		{"gated+count", tq.WithHide(h).WithHiddenCount()},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Timeline(ctx, c.tq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// A coordinator's read of the count on a snapshot after each new
	// event of the family: the kept count is extended by the new row.
	// Last, as it adds to the family.
	b.Run("count after a new event", func(b *testing.B) {
		seq := uint64(20000)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			seq++
			msg := eventAt(b, fam, seq, events.SOF, &events.MeetingHeld{Kind: "team"}, base.Add(time.Duration(seq)*time.Minute))
			if _, err := m.Apply(ctx, []Message{msg}, ApplyOptions{Flush: true}); err != nil {
				b.Fatal(err)
			}
			// The read folds the gate again, through the new event.
			g := HideOf(foldGate(b, m, fam, base.Add(100*24*time.Hour)))
			b.StartTimer()
			snap, end, err := m.Snapshot(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n, err := snap.HiddenCount(ctx, fam, g)
			end()
			if err != nil || n != 2000 {
				b.Fatalf("hidden %d, %v; want 2000", n, err)
			}
		}
	})
}
