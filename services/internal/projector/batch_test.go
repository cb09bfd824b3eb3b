package projector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/projector"
)

// TestBatchSizeDoesNotChangeTheProjection: the same stream projected in
// batches of up to 1000, in batches of one, and as a bulk load (indexes
// built and overviews written at its end) gives the same read model. The
// stream is stored before any projector starts, so the first and the last
// read it in full batches.
func TestBatchSizeDoesNotChangeTheProjection(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	last := fill(t, st, 3000, 40)
	if _, err := st.JS.Publish(context.Background(), "families.F1.sof.family.referred", []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	last++
	digest := func(batch int, bulk bool) string {
		p := newProjector(t, st, t.TempDir(), batch, func(p *projector.Projector) {
			if bulk {
				projector.SetBulkThreshold(p, 10)
			}
		})
		defer p.Close()
		waitPosition(t, p, last)
		// The indexes are read on a connection of the test's own, opened
		// beside the projector's: an error opening it is retried (and
		// named if it persists), a wrong set of indexes fails.
		logged := false
		checkFor(t, 30*time.Second, func() error {
			idx, err := projector.Indexes(context.Background(), p)
			if err != nil && !logged {
				logged = true
				t.Logf("reading the indexes, retried: %v", err)
			}
			if err != nil {
				return fmt.Errorf("indexes after batches of %d (bulk load %v): %w", batch, bulk, err)
			}
			if len(idx) != 4 {
				t.Fatalf("indexes after batches of %d (bulk load %v): %v", batch, bulk, idx)
			}
			return nil
		})
		d, err := p.Digest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	single := digest(1, false)
	if large := digest(1000, false); large != single {
		t.Errorf("batches of 1000 give %s, batches of one %s", large, single)
	}
	if bulk := digest(1000, true); bulk != single {
		t.Errorf("a bulk load gives %s, batches of one %s", bulk, single)
	}
}
