package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// A legal event is taken while its family is evicted and loaded again
// around the consumer. Process A caches one family, so that its writes to
// other families keep evicting the ones process B writes; B opens praktik
// PR<f>-<k> on family F<f%3> (201), then A ends it, which is legal since
// B's 201. A's consumer loads, folds and flushes B's messages while A's
// writes load the same families: a family state of A missing one of B's
// messages refuses the praktik.ended with 409.
func TestLegalEventAcceptedWhileFamiliesAreEvicted(t *testing.T) {
	a := newHarness(t, func(c *config.Config) { c.IngestCacheFamilies = 1 })
	cfg := a.sa.Config
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Instance = otherInstance // a projector of its own beside a's
	cfg.MasterKeyFile = a.masterKeyFile()
	cfg.IngestCacheFamilies = 20000
	bs, err := standalone.Start(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Stop() })
	b := &harness{t: t, sa: bs}
	b.waitReady()

	var stop atomic.Bool
	var wg sync.WaitGroup
	// Writes on A to other families, which evict the F families.
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				body := ev(t, events.SOF, fmt.Sprintf("G%d-%d", w, i%5), &events.MeetingHeld{Kind: "team"})
				if r, err := a.tryPost("sof", "dev-sof", "application/cloudevents+json", body, nil); err != nil || r.Status != 201 {
					t.Errorf("write to another family: %v %d %s", err, r.Status, r.Raw)
					return
				}
			}
		}()
	}
	// Rounds of four praktik each, bounded in number and in time: the
	// race is not certain to show in any one round.
	const rounds = 150
	deadline := time.Now().Add(20 * time.Second)
	var failure string
	var fmu sync.Mutex
	for f := 0; f < rounds && time.Now().Before(deadline) && failure == "" && !t.Failed(); f++ {
		fam := fmt.Sprintf("F%d", f%3)
		var fw sync.WaitGroup
		for k := range 4 {
			fw.Add(1)
			go func() {
				defer fw.Done()
				id := fmt.Sprintf("PR%d-%d", f, k)
				start := ev(t, events.BIF, fam, praktik(id))
				if r, err := b.tryPost("bif", "dev-bif", "application/cloudevents+json", start, nil); err != nil || r.Status != 201 {
					t.Errorf("B starting praktik %s: %v %d %s", id, err, r.Status, r.Raw)
					return
				}
				end := ev(t, events.BIF, fam, &events.PraktikEnded{PraktikID: id, Outcome: "completed"})
				r, err := a.tryPost("bif", "dev-bif", "application/cloudevents+json", end, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Status != 201 {
					fmu.Lock()
					defer fmu.Unlock()
					failure = fmt.Sprintf("A refused a legal praktik.ended %s on %s (open since B's 201): %d %s", id, fam, r.Status, r.Raw)
				}
			}()
		}
		fw.Wait()
	}
	stop.Store(true)
	wg.Wait()
	if failure != "" {
		t.Fatal(failure)
	}
}
