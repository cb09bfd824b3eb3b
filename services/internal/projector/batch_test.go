package projector_test

import (
	"context"
	"testing"
)

// TestBatchSizeDoesNotChangeTheProjection: the same stream projected in
// batches of up to 1000 and in batches of one gives the same read model.
// The stream is stored before either projector starts, so the first reads
// it in full batches.
func TestBatchSizeDoesNotChangeTheProjection(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	last := fill(t, st, 3000, 40)
	if _, err := st.JS.Publish(context.Background(), "families.F1.sof.family.referred", []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	last++
	digest := func(batch int) string {
		p := newProjector(t, st, t.TempDir(), batch, nil)
		defer p.Close()
		waitPosition(t, p, last)
		d, err := p.Digest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if large, single := digest(1000), digest(1); large != single {
		t.Errorf("batches of 1000 give %s, batches of one %s", large, single)
	}
}
