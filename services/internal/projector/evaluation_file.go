package projector

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"kk.dk/jobogfamilie/services/internal/durable"
	"kk.dk/jobogfamilie/services/internal/evaluation"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// The evaluation's index is kept across a restart in a file beside the
// read model (evaluationFile): a running projector writes it every
// Options.EvaluationKeepEvery when the index has grown, and a projector
// that stops writes it once more. The next start's first evaluation
// reads it back, then only the rows after the position it covers, rather
// than every row of the timeline; after a crash, the rows after the last
// write.
//
// The file is used only for the model it was written from, and only
// while that model's rows up to the file's position are as they were
// (readmodel.Model.EvaluationMark): a re-drive, another model (a
// rebuild), or a model that has not applied the position, and the rows
// are read instead. An index written by a build whose facts differ
// (evaluation.FactsVersion) is not read either. A file that is not used
// is removed; one that is stays, as it still holds for the model.

// evaluationFile is the file's name in the projector's directory.
const evaluationFile = "evaluation-index"

// evaluationHeader is the file's first line, before the index.
type evaluationHeader struct {
	// Model is the read model's file name; UpTo the last sequence the
	// index covers; Mark the model's EvaluationMark at UpTo.
	Model string `json:"model"`
	UpTo  uint64 `json:"upTo"`
	Mark  string `json:"mark"`
}

// keepEvaluation writes the evaluation's index every d until ctx ends,
// when it has grown since it was last written or read.
func (p *Projector) keepEvaluation(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.saveEvaluation(ctx)
		}
	}
}

// saveEvaluation writes the evaluation's index of the current model to
// the projector's directory, when it holds the model's events up to a
// position that the file does not hold yet. A failure is logged: the next
// start reads the rows after an older file, or all of them.
func (p *Projector) saveEvaluation(ctx context.Context) {
	m, release, err := p.acquireModel()
	if err != nil {
		return
	}
	defer release()
	c := &p.eval
	c.read.Lock()
	defer c.read.Unlock()
	c.mu.Lock()
	c.addFed() // what the consumer fed while an evaluation held the index
	x, upTo := c.index, c.upTo
	ok := c.model == m && x != nil && upTo > 0 && (c.savedModel != m || c.savedTo != upTo)
	c.mu.Unlock()
	if !ok {
		return
	}
	t0 := time.Now()
	// The mark is taken under the apply lock, and the index checked to be
	// the cache's still: a re-drive rewrites rows and then drops the cache
	// under that lock, so a mark that counts a re-drive is never written
	// with an index from before it.
	p.applyMu.Lock()
	mark, err := m.EvaluationMark(ctx, upTo)
	c.mu.Lock()
	dropped := c.index != x
	c.mu.Unlock()
	p.applyMu.Unlock()
	if dropped {
		return
	}
	if err == nil && mark == "" {
		err = fmt.Errorf("the model has not applied %d", upTo)
	}
	if err == nil {
		err = writeEvaluationFile(filepath.Join(p.dir, evaluationFile),
			evaluationHeader{Model: filepath.Base(m.Path()), UpTo: upTo, Mark: mark}, x)
	}
	if err != nil {
		p.log.Warn("projector: the evaluation's index was not kept for the next start", "err", err)
		return
	}
	c.savedModel, c.savedTo = m, upTo
	p.log.Info("projector: the evaluation's index kept for the next start", "events", x.Len(), "position", upTo, "took", time.Since(t0))
}

// writeEvaluationFile writes h and x to path, whole or not at all.
func writeEvaluationFile(path string, h evaluationHeader, x *evaluation.Index) error {
	line, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return durable.WriteFileFrom(path, 0o600, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 1<<20)
		if _, err := w.Write(append(line, '\n')); err != nil {
			return err
		}
		if _, err := x.WriteTo(w); err != nil {
			return err
		}
		return w.Flush()
	})
}

// loadEvaluation reads the index kept in the projector's directory, when
// there is one for m; a file that does not hold for m is removed. It
// returns nil, 0 when there is none. c.read is held.
func (p *Projector) loadEvaluation(ctx context.Context, m *readmodel.Model) (*evaluation.Index, uint64) {
	path := filepath.Join(p.dir, evaluationFile)
	t0 := time.Now()
	x, h, err := readEvaluationFile(ctx, path, m)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, 0
	case err != nil:
		p.log.Info("projector: the kept evaluation index is not used; the rows are read", "reason", err)
		if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			p.log.Warn("projector: the kept evaluation index could not be removed", "err", rmErr)
		}
		return nil, 0
	}
	p.eval.savedModel, p.eval.savedTo = m, h.UpTo
	p.log.Info("projector: the kept evaluation index read", "events", x.Len(), "position", h.UpTo, "took", time.Since(t0))
	return x, h.UpTo
}

// readEvaluationFile reads the file at path, when it holds for m.
func readEvaluationFile(ctx context.Context, path string, m *readmodel.Model) (*evaluation.Index, evaluationHeader, error) {
	var h evaluationHeader
	f, err := os.Open(path)
	if err != nil {
		return nil, h, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, h, fmt.Errorf("no header: %w", err)
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, h, fmt.Errorf("header: %w", err)
	}
	if want := filepath.Base(m.Path()); h.Model != want {
		return nil, h, fmt.Errorf("written for the read model %s, not %s", h.Model, want)
	}
	mark, err := m.EvaluationMark(ctx, h.UpTo)
	if err != nil {
		return nil, h, err
	}
	if mark != h.Mark {
		return nil, h, fmt.Errorf("the read model's rows up to %d are not those it was written from (%q, written at %q)", h.UpTo, mark, h.Mark)
	}
	x, err := evaluation.ReadIndex(r)
	if err != nil {
		return nil, h, err
	}
	return x, h, nil
}
