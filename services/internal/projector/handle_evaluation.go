package projector

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/evaluation"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/service"
)

// evalCache holds the events an evaluation reads, as read from the
// current read model up to a position, in an evaluation.Index (by family,
// in fold order). They are read once, in the background as soon as the
// projector is ready, and then only the rows after that position, so an
// evaluation costs one pass of the fold, not a scan of the timeline. A
// rebuild swaps the model, and the cache starts again.
type evalCache struct {
	mu    sync.Mutex
	model *readmodel.Model
	upTo  uint64
	index *evaluation.Index
}

// evaluationEvents brings the cache up to the published position and
// returns it and that position.
func (p *Projector) evaluationEvents(ctx context.Context) (*evaluation.Index, uint64, error) {
	m, release, err := p.acquire()
	if err != nil {
		return nil, 0, err
	}
	defer release()
	pos := p.Position()
	c := &p.eval
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.model != m || pos < c.upTo || c.index == nil {
		c.model, c.upTo, c.index = m, 0, evaluation.NewIndex()
	}
	if pos > c.upTo {
		x := c.index
		if err := m.EvaluationEvents(ctx, c.upTo, pos, x.Add); err != nil {
			c.model, c.upTo, c.index = nil, 0, nil // half read: start again
			return nil, 0, err
		}
		c.upTo = pos
	}
	return c.index, c.upTo, nil
}

// warmEvaluation reads the evaluation's events once the projector is
// ready, so that the first evaluation does not wait for the read.
func (p *Projector) warmEvaluation(ctx context.Context) {
	for p.Ready(ctx) != nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	t0 := time.Now()
	x, pos, err := p.evaluationEvents(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("projector: the evaluation's events could not be read ahead", "err", err)
		}
		return
	}
	p.log.Info("projector: the evaluation's events read", "events", x.Len(), "position", pos, "took", time.Since(t0))
}

// evaluationReader authenticates a reader of the evaluation: analysts and
// auditors.
func (p *Projector) evaluationReader(r *http.Request) (auth.Principal, error) {
	pr, err := p.opts.Auth.Authenticate(r)
	if err != nil {
		return auth.Principal{}, err
	}
	if !EvaluationReader(pr) {
		return auth.Principal{}, problem.Forbidden("only analysts and auditors read the evaluation")
	}
	return pr, nil
}

// EvaluationReader tells whether pr may read the evaluation: analysts
// and auditors.
func EvaluationReader(pr auth.Principal) bool {
	return pr.Kind == auth.Analyst || pr.Kind == auth.Auditor
}

// Evaluation is the catalog's measures at asOf as known at knownAt, with
// disclosure control when suppress. Exact figures (suppress false) must be
// access-logged by the caller before they are shown.
func (p *Projector) Evaluation(ctx context.Context, asOf, knownAt time.Time, suppress bool) (evaluation.Result, error) {
	x, pos, err := p.evaluationEvents(ctx)
	if err != nil {
		return evaluation.Result{}, err
	}
	res := x.Compute(asOf, knownAt, p.evaluationOptions(suppress))
	res.Position = pos
	return res, nil
}

// EvaluationSeries is the measures at every step from from to to (one
// result per moment), as Evaluation. A wrong series is a 400 problem.
func (p *Projector) EvaluationSeries(ctx context.Context, from, to time.Time, step string, knownAt time.Time, suppress bool) ([]evaluation.Result, error) {
	moments, err := evaluation.Moments(from, to, step)
	if err != nil {
		return nil, seriesProblem()
	}
	x, pos, err := p.evaluationEvents(ctx)
	if err != nil {
		return nil, err
	}
	results := x.ComputeSeries(moments, knownAt, p.evaluationOptions(suppress))
	for i := range results {
		results[i].Position = pos
	}
	return results, nil
}

func seriesProblem() *problem.Problem {
	return problem.BadRequest("from must not be after to, step must be month or quarter, and a series has at most " +
		strconv.Itoa(evaluation.MaxPoints) + " moments")
}

// evalParams are the query parameters both endpoints share.
type evalParams struct {
	knownAt  time.Time
	suppress bool
	csv      bool
}

func (p *Projector) evaluationOptions(suppress bool) evaluation.Options {
	o := evaluation.Options{Target: p.opts.EvaluationTarget, Threshold: p.opts.EvaluationThreshold, Suppress: suppress}
	if o.Target == 0 {
		o.Target = evaluation.DefaultTarget
	}
	if o.Threshold == 0 {
		o.Threshold = evaluation.DefaultThreshold
	}
	return o
}

// parseEvalParams reads knownAt, suppress and format and refuses any
// parameter not in allowed.
func parseEvalParams(q url.Values, now time.Time, allowed ...string) (evalParams, error) {
	ep := evalParams{knownAt: now, suppress: true}
	known := map[string]bool{"knownAt": true, "suppress": true, "format": true}
	for _, a := range allowed {
		known[a] = true
	}
	for k, v := range q {
		if !known[k] {
			return ep, problem.BadRequest("unknown query parameter " + strconv.Quote(k))
		}
		if len(v) != 1 {
			return ep, problem.BadRequest("query parameter " + k + " given more than once")
		}
	}
	if v := q.Get("knownAt"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return ep, problem.BadRequest("knownAt must be an RFC 3339 time")
		}
		ep.knownAt = t
	}
	switch q.Get("suppress") {
	case "", "true":
	case "false":
		ep.suppress = false
	default:
		return ep, problem.BadRequest("suppress must be true or false")
	}
	switch q.Get("format") {
	case "", "json":
	case "csv":
		ep.csv = true
	default:
		return ep, problem.BadRequest("format must be json or csv")
	}
	return ep, nil
}

// parseMoment reads a date (that day at 00:00 UTC) or an RFC 3339 time.
func parseMoment(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		if def.IsZero() {
			return def, problem.BadRequest(name + " is required (a date or an RFC 3339 time)")
		}
		return def, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, problem.BadRequest(name + " must be a date (YYYY-MM-DD) or an RFC 3339 time")
	}
	return t, nil
}

// exact logs a read of unsuppressed figures before any is sent; without
// the log there are no exact figures.
func (p *Projector) exact(r *http.Request, pr auth.Principal) error {
	why, err := accesslog.Purpose(r)
	if err != nil {
		return err
	}
	if err := accesslog.RecordEvaluation(r.Context(), p.opts.JS, r, pr, why); err != nil {
		p.metrics.accessFail.Inc()
		p.log.Warn("projector: access log unavailable, exact evaluation refused", "err", err)
		return problem.Unavailable("the access log could not be written; exact figures are never served unlogged")
	}
	return nil
}

// handleEvaluation serves the measures at one moment.
func (p *Projector) handleEvaluation(w http.ResponseWriter, r *http.Request) error {
	pr, err := p.evaluationReader(r)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	q := r.URL.Query()
	ep, err := parseEvalParams(q, now, "asOf")
	if err != nil {
		return err
	}
	asOf, err := parseMoment("asOf", q.Get("asOf"), now)
	if err != nil {
		return err
	}
	if err := p.waitMinPosition(w, r); err != nil {
		return err
	}
	if !ep.suppress {
		if err := p.exact(r, pr); err != nil {
			return err
		}
	}
	res, err := p.Evaluation(r.Context(), asOf, ep.knownAt, ep.suppress)
	if err != nil {
		return err
	}
	if ep.csv {
		return WriteCSV(w, resultRows(nil, res, false))
	}
	return service.JSON(w, http.StatusOK, res)
}

// handleEvaluationSeries serves the measures at every step from from to to.
func (p *Projector) handleEvaluationSeries(w http.ResponseWriter, r *http.Request) error {
	pr, err := p.evaluationReader(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ep, err := parseEvalParams(q, time.Now().UTC(), "from", "to", "step")
	if err != nil {
		return err
	}
	from, err := parseMoment("from", q.Get("from"), time.Time{})
	if err != nil {
		return err
	}
	to, err := parseMoment("to", q.Get("to"), time.Time{})
	if err != nil {
		return err
	}
	step := q.Get("step")
	if step == "" {
		step = evaluation.StepMonth
	}
	if _, err := evaluation.Moments(from, to, step); err != nil {
		return seriesProblem()
	}
	if err := p.waitMinPosition(w, r); err != nil {
		return err
	}
	if !ep.suppress {
		if err := p.exact(r, pr); err != nil {
			return err
		}
	}
	results, err := p.EvaluationSeries(r.Context(), from, to, step, ep.knownAt, ep.suppress)
	if err != nil {
		return err
	}
	if ep.csv {
		return WriteCSV(w, SeriesCSV(results))
	}
	s := evaluation.NewSeries(results, from, to, step)
	s.KnownAt = ep.knownAt.UTC()
	return service.JSON(w, http.StatusOK, s)
}

// SeriesCSV is a series as the CSV of GET /v1/evaluation/series: a
// header, then one row per moment and measure.
func SeriesCSV(results []evaluation.Result) [][]string {
	var rows [][]string
	for i, res := range results {
		rows = resultRows(rows, res, i > 0)
	}
	return rows
}

// resultRows appends one CSV row per measure, in catalog order, after a
// header unless noHeader.
func resultRows(rows [][]string, res evaluation.Result, noHeader bool) [][]string {
	if !noHeader {
		rows = append(rows, []string{"asOf", "knownAt", "position", "measure", "value", "suppressed", "count", "unit"})
	}
	for _, d := range evaluation.Catalog {
		m := res.Measures[d.Name]
		v := ""
		if m.Value != nil {
			v = strconv.FormatFloat(*m.Value, 'f', -1, 64)
		}
		rows = append(rows, []string{res.AsOf.Format(time.RFC3339Nano), res.KnownAt.Format(time.RFC3339Nano),
			strconv.FormatUint(res.Position, 10), d.Name, v, strconv.FormatBool(m.Suppressed), strconv.Itoa(m.Count), string(m.Unit)})
	}
	return rows
}

// WriteCSV writes rows as a CSV answer (text/csv, never cached).
func WriteCSV(w http.ResponseWriter, rows [][]string) error {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
	return nil
}
