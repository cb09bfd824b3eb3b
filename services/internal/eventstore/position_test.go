package eventstore_test

import (
	"context"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/eventstore"
)

func TestPositionWaitAdvanceSet(t *testing.T) {
	t.Parallel()
	var p eventstore.Position
	if err := p.Wait(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- p.Wait(context.Background(), 5) }()
	p.Advance(3)
	select {
	case err := <-got:
		t.Fatalf("woke at 3 waiting for 5: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	p.Advance(2) // ignored: positions only advance
	if p.Load() != 3 {
		t.Fatalf("Advance moved back to %d", p.Load())
	}
	p.Advance(5)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	p.Set(1) // a replaced read model starts over
	if p.Load() != 1 {
		t.Fatalf("Set to 1 gave %d", p.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx, 2); err == nil {
		t.Fatal("waiting for a position never reached returned nil")
	}
}
