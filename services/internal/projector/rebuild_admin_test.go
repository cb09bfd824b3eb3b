package projector_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/projector"
)

// TestRebuildDoneWhileOldModelIsRead: a long read of the old model (an
// audit verify pins it for its whole replay) does not hold the rebuild
// back once the new model is swapped in: the status says done, a second
// rebuild may start, and the old file goes once the read ends.
func TestRebuildDoneWhileOldModelIsRead(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	p := newProjector(t, st, t.TempDir(), 0, nil)
	defer p.Close()
	waitPosition(t, p, publish(t, st, 0, 30))
	oldFile := projector.ModelFile(p)
	release, err := projector.HoldModel(p)
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	if _, err := p.StartRebuild(); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, func() error {
		if s := p.RebuildStatus(); s.State != projector.RebuildDone {
			return fmt.Errorf("status %+v while the old model is read", s)
		}
		return nil
	})
	if f := projector.ModelFile(p); f == oldFile {
		t.Fatalf("still on %s", f)
	}
	if err := p.Rebuild(context.Background()); err != nil {
		t.Errorf("a second rebuild: %v", err)
	}
	release()
	released = true
	checkFor(t, 10*time.Second, func() error {
		if _, err := os.Stat(oldFile); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("old read model %s not removed: %v", oldFile, err)
		}
		return nil
	})
}

// TestRebuildThatFailsAtOpenLeavesNoFile: a rebuild stopped while it
// opens its new model (the projector stopping) leaves no file of it
// behind, as one stopped later does.
func TestRebuildThatFailsAtOpenLeavesNoFile(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	p := newProjector(t, st, dir, 0, nil)
	defer p.Close()
	waitPosition(t, p, publish(t, st, 0, 10))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Rebuild(ctx); err == nil {
		t.Fatal("a rebuild with its context ended succeeded")
	}
	if s := p.RebuildStatus(); s.State != projector.RebuildFailed {
		t.Errorf("status %+v", s)
	}
	files, err := filepath.Glob(filepath.Join(filepath.Dir(projector.ModelFile(p)), "readmodel-2.db*"))
	if err != nil || len(files) > 0 {
		t.Errorf("the failed rebuild left %v (%v)", files, err)
	}
}

// TestRebuildDuringLoadKeepsWhatTheLiveModelApplied: a rebuild asked for
// while the live model is loading a backlog (its published position
// trails what it applied until it flushes) swaps in a model at least as
// far as the live one got, not one at the position last published.
func TestRebuildDuringLoadKeepsWhatTheLiveModelApplied(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	last := publish(t, st, 0, 990)
	var committed atomic.Uint64
	p := newProjector(t, st, t.TempDir(), 2, func(p *projector.Projector) {
		projector.SetBulkThreshold(p, 10)
		projector.SetHooks(p, nil, func(seq uint64) error {
			committed.Store(seq)
			time.Sleep(3 * time.Millisecond)
			return nil
		})
	})
	defer p.Close()
	checkFor(t, time.Minute, func() error {
		if c := committed.Load(); c < 200 {
			return fmt.Errorf("live model at %d", c)
		}
		return nil
	})
	before := committed.Load()
	if err := p.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := p.RebuildStatus(); s.Applied < before {
		t.Errorf("the rebuild swapped in a model at %d; the live model had applied %d when it began", s.Applied, before)
	}
	waitPosition(t, p, last)
}
