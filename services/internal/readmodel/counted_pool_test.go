package readmodel

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestCountedPagesKeepThePoolFree: a counted timeline read prepares its
// page's statement (under m.stmtMu, on the reader pool) before it begins
// its read transaction. Were it the other way round, 8 counted reads that
// had begun their transactions, holding all 8 of the pool's connections,
// would wait on the first of them to prepare, which would wait for a
// connection: none would finish before its context ended. Holding stmtMu
// here lets every read reach the point where it waits for it.
func TestCountedPagesKeepThePoolFree(t *testing.T) {
	const fam = "F-POOL"
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	m := gateModel(t)
	if _, err := m.Apply(context.Background(), []Message{
		eventAt(t, fam, 1, events.SOF, &events.FamilyReferred{Reason: "x"}, base),
		eventAt(t, fam, 2, events.SUF, &events.HealthReferred{PersonID: "P1", To: "x"}, base.Add(time.Hour)),
	}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	h := HideOf(foldGate(t, m, fam, base.Add(24*time.Hour)))
	tq, err := ParseTimeline(fam, url.Values{"department": {"sof"}})
	if err != nil {
		t.Fatal(err)
	}
	m.stmtMu.Lock()
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := m.Timeline(ctx, tq.WithHide(h).WithHiddenCount())
			errs <- err
		}()
	}
	for deadline := time.Now().Add(2 * time.Second); m.rdb.Stats().InUse < 8 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	m.stmtMu.Unlock()
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			t.Log(err)
		}
	}
	if failed > 0 {
		t.Errorf("%d of 8 concurrent counted timeline reads failed: the pool was held by their own transactions", failed)
	}
}
