package projector_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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

// TestRebuildCommandLosesTheRebuild: the CLI follows the rebuild it
// started; when the projector answers with no rebuild (it restarted) or
// with another one (another replica behind the balancer answered), it
// says so and fails, rather than follow it forever or report another
// rebuild's outcome as its own.
func TestRebuildCommandLosesTheRebuild(t *testing.T) {
	t.Parallel()
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for name, status := range map[string]string{
		"idle":    `{"state":"idle","applied":0,"target":0}`,
		"another": `{"state":"done","startedAt":"2026-01-01T00:00:00Z","applied":9,"target":9}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					w.WriteHeader(http.StatusAccepted)
					fmt.Fprintf(w, `{"state":"running","startedAt":%q,"applied":0,"target":0}`, started.Format(time.RFC3339Nano))
					return
				}
				_, _ = io.WriteString(w, status)
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := projector.RebuildCommand(ctx, []string{"-url", srv.URL, "-token", "t", "-interval", "10ms"}, func(string) string { return "" }, &out, &errOut)
			if code != 1 || ctx.Err() != nil || strings.Contains(out.String(), "rebuild done") {
				t.Errorf("exit %d (context: %v)\nstdout: %s\nstderr: %s", code, ctx.Err(), out.String(), errOut.String())
			}
		})
	}
}

// TestRebuildCommandInterval: an -interval that is not positive is a
// usage error, not a loop that asks the projector as fast as it can.
func TestRebuildCommandInterval(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusAccepted)
		}
		_, _ = io.WriteString(w, `{"state":"running"}`)
	}))
	defer srv.Close()
	for _, iv := range []string{"0s", "-1s"} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		var out, errOut bytes.Buffer
		code := projector.RebuildCommand(ctx, []string{"-url", srv.URL, "-token", "t", "-interval", iv}, func(string) string { return "" }, &out, &errOut)
		cancel()
		if code != 2 {
			t.Errorf("-interval %s: exit %d after %d requests", iv, code, calls.Load())
		}
	}
}

// TestAdminRefusalSaysWhat: a principal other than the operator is
// refused each admin function with an answer that names that function.
func TestAdminRefusalSaysWhat(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	for path, what := range map[string]string{
		"/v1/admin/rebuild":            "rebuild",
		"/v1/admin/quarantine/redrive": "re-drive",
	} {
		r := s.Do("POST", path, "dev-coordinator", nil, nil)
		if r.Status != 403 || !strings.Contains(r.Raw, what) {
			t.Errorf("POST %s as a coordinator: %d %s", path, r.Status, r.Raw)
		}
	}
}

// TestRebuildCommandURLFromEnvironment: -url falls back to
// JF_PROJECTOR_URL.
func TestRebuildCommandURLFromEnvironment(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"state":"done"}`)
	}))
	defer srv.Close()
	getenv := func(k string) string {
		return map[string]string{"JF_PROJECTOR_URL": srv.URL, "JF_TOKEN": "t"}[k]
	}
	var out, errOut bytes.Buffer
	if code := projector.RebuildCommand(context.Background(), nil, getenv, &out, &errOut); code != 0 || calls.Load() != 1 {
		t.Errorf("exit %d after %d requests: %s", code, calls.Load(), errOut.String())
	}
}

// TestRebuildWarmsEvaluation: the evaluation's index, which a rebuild
// empties, is read again from the new model's rows in the background, as
// after a start, an erasure or a re-drive (docs/EVALUATION.md), not by the
// first evaluation that comes.
func TestRebuildWarmsEvaluation(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	p := newProjector(t, st, t.TempDir(), 0, nil)
	defer p.Close()
	waitPosition(t, p, publish(t, st, 0, 40))
	before := projector.EvaluationRowsRead(p)
	if err := p.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		if n := projector.EvaluationRowsRead(p); n <= before {
			return fmt.Errorf("%d events read from the rows, %d before the rebuild", n, before)
		}
		return nil
	})
}
