package projector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/projector"
)

// TestEvaluationIndexKeptAcrossRestart: a projector that stops keeps the
// evaluation's index beside its read model, and the next start's first
// evaluation reads it back and no row up to it; the figures are the
// rows', also on a model restored from an older copy, which applies the
// events up to the index's position again before it is ready. A file
// that does not hold for the model (a damaged one, or one written from
// other rows) is not used: the rows are read, and the figures are still
// the rows'. The first evaluation removes a file it does not use and
// keeps one it does.
func TestEvaluationIndexKeptAcrossRestart(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	pdir := filepath.Join(dir, "projector")
	kept := filepath.Join(pdir, "evaluation-index")
	// check evaluates with p and compares every figure with the rows'.
	check := func(what string, p *projector.Projector, used bool) {
		t.Helper()
		agreesWithRows(t, what, p)
		if _, err := os.Stat(kept); used && err != nil {
			t.Errorf("%s: the kept index used is gone after the evaluation (%v)", what, err)
		} else if !used && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the kept index not used is still there after the evaluation (%v)", what, err)
		}
	}
	restart := func(p *projector.Projector, from, n int) *projector.Projector {
		t.Helper()
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(kept); err != nil {
			t.Fatalf("the stop kept no index: %v", err)
		}
		last := publish(t, st, from, n) // while it is stopped
		p = newProjector(t, st, dir, 0, nil)
		waitPosition(t, p, last)
		return p
	}

	p := newProjector(t, st, dir, 0, nil)
	waitPosition(t, p, publish(t, st, 0, 300))
	check("fed by the consumer", p, false)

	p = restart(p, 300, 40)
	check("restarted", p, true)
	if n := projector.EvaluationRowsRead(p); n != 0 {
		t.Errorf("restarted with the kept index: %d events read from the rows", n)
	}

	// Damaged: a byte of the index changed.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(kept)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(kept, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p = newProjector(t, st, dir, 0, nil)
	waitPosition(t, p, publish(t, st, 340, 10))
	check("restarted on a damaged index", p, false)
	if n := projector.EvaluationRowsRead(p); n == 0 {
		t.Errorf("restarted on a damaged index: no event read from the rows")
	}

	// A model restored from an older copy: the index kept at the stop
	// covers events the model has not applied.
	old := t.TempDir()
	copyModel(t, p, pdir, old)
	waitPosition(t, p, publish(t, st, 350, 30))
	check("before the copy is restored", p, false)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("the stop kept no index: %v", err)
	}
	restoreModel(t, old, pdir)
	p = newProjector(t, st, dir, 0, nil)
	waitPosition(t, p, publish(t, st, 380, 5))
	check("restarted on an older model", p, true)

	// A header that names other rows: as after a re-drive while the
	// index was kept.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(kept)
	if err != nil {
		t.Fatal(err)
	}
	header, rest, _ := bytes.Cut(b, []byte("\n"))
	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatalf("the kept index's header: %v: %s", err, header)
	}
	h["mark"] = "1 " + h["mark"].(string)
	header, _ = json.Marshal(h)
	if err := os.WriteFile(kept, append(append(header, '\n'), rest...), 0o600); err != nil {
		t.Fatal(err)
	}
	p = newProjector(t, st, dir, 0, nil)
	defer p.Close()
	waitPosition(t, p, publish(t, st, 385, 5))
	check("restarted on an index of other rows", p, false)
	if n := projector.EvaluationRowsRead(p); n == 0 {
		t.Errorf("restarted on an index of other rows: no event read from the rows")
	}
}

// agreesWithRows evaluates with p (exact figures, at one asOf) and
// compares every figure and the position with those of the rows alone.
func agreesWithRows(t *testing.T, what string, p *projector.Projector) {
	t.Helper()
	ctx := context.Background()
	asOf, knownAt := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC), time.Now().Add(time.Hour)
	got, err := p.Evaluation(ctx, asOf, knownAt, false)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	want, err := projector.EvaluationFromRows(ctx, p, asOf, knownAt)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got.Measures)
	w, _ := json.Marshal(want.Measures)
	if !bytes.Equal(g, w) || got.Position != want.Position {
		t.Fatalf("%s: at %d the figures are\n%s\nand from the rows, at %d,\n%s", what, got.Position, g, want.Position, w)
	}
}

// copyModel checkpoints p's read model into its file and copies its
// files to dst; p applies nothing meanwhile (nothing is published).
func copyModel(t *testing.T, p *projector.Projector, pdir, dst string) {
	t.Helper()
	if _, err := projector.TamperModel(context.Background(), p, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	copyModelFiles(t, pdir, dst)
}

// restoreModel puts the read model's files copied to src back in pdir.
func restoreModel(t *testing.T, src, pdir string) {
	t.Helper()
	old, _ := filepath.Glob(filepath.Join(pdir, "readmodel-*.db*"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	copyModelFiles(t, src, pdir)
}

// copyModelFiles copies the read model's files in src to dst, but the
// readers' shared memory, which SQLite makes again at open.
func copyModelFiles(t *testing.T, src, dst string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(src, "readmodel-*.db*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no read model in %s: %v", src, err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "-shm") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEvaluationIndexKeptWhileRunning: a running projector writes the
// evaluation's index beside its model as the index grows, without a
// stop, and not again while it does not grow. A start on a model that
// went on after the last such write, as after a crash, reads that file
// and only the rows after its position; its figures are the rows'.
func TestEvaluationIndexKeptWhileRunning(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	kept := filepath.Join(dir, "projector", "evaluation-index")
	p := newProjector(t, st, dir, 0, func(p *projector.Projector) {
		projector.SetEvaluationKeepEvery(p, 20*time.Millisecond)
	})
	last := publish(t, st, 0, 500)
	waitPosition(t, p, last)
	waitKept(t, kept, last)
	crashed, err := os.ReadFile(kept) // the file a crash after here leaves
	if err != nil {
		t.Fatal(err)
	}
	last = publish(t, st, 500, 60)
	waitPosition(t, p, last)
	waitKept(t, kept, last)
	before, err := os.Stat(kept)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // ten rounds, and nothing new
	if after, err := os.Stat(kept); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the index was written again without growing: %v, %v (%v)", before.ModTime(), after.ModTime(), err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept, crashed, 0o600); err != nil {
		t.Fatal(err)
	}

	p = newProjector(t, st, dir, 0, nil)
	defer p.Close()
	waitPosition(t, p, publish(t, st, 560, 5))
	agreesWithRows(t, "started on an older index", p)
	// The file covers the first 500 events: at most the 65 after it are
	// read from the rows.
	if n := projector.EvaluationRowsRead(p); n == 0 || n > 65 {
		t.Errorf("started on an index written before the model went on: %d events read from the rows, want 1 to 65", n)
	}
}

// waitKept waits until the kept evaluation index at path covers upTo.
func waitKept(t *testing.T, path string, upTo uint64) {
	t.Helper()
	var h struct {
		UpTo uint64 `json:"upTo"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			line, _, _ := bytes.Cut(b, []byte("\n"))
			err = json.Unmarshal(line, &h)
		}
		if err == nil && h.UpTo == upTo {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the evaluation's index was not kept up to %d while running: %d (%v)", upTo, h.UpTo, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
