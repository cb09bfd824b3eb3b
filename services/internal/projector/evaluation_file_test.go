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
// the rows'. The first evaluation removes the file it looked at.
func TestEvaluationIndexKeptAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	dir := t.TempDir()
	pdir := filepath.Join(dir, "projector")
	kept := filepath.Join(pdir, "evaluation-index")
	asOf, knownAt := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC), time.Now().Add(time.Hour)
	// check evaluates with p and compares every figure with the rows'.
	check := func(what string, p *projector.Projector) {
		t.Helper()
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
		if _, err := os.Stat(kept); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the kept index is still there after the evaluation (%v)", what, err)
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
	check("fed by the consumer", p)

	p = restart(p, 300, 40)
	check("restarted", p)
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
	check("restarted on a damaged index", p)
	if n := projector.EvaluationRowsRead(p); n == 0 {
		t.Errorf("restarted on a damaged index: no event read from the rows")
	}

	// A model restored from an older copy: the index kept at the stop
	// covers events the model has not applied.
	old := t.TempDir()
	copyModel(t, p, pdir, old)
	waitPosition(t, p, publish(t, st, 350, 30))
	check("before the copy is restored", p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("the stop kept no index: %v", err)
	}
	restoreModel(t, old, pdir)
	p = newProjector(t, st, dir, 0, nil)
	waitPosition(t, p, publish(t, st, 380, 5))
	check("restarted on an older model", p)

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
	check("restarted on an index of other rows", p)
	if n := projector.EvaluationRowsRead(p); n == 0 {
		t.Errorf("restarted on an index of other rows: no event read from the rows")
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
