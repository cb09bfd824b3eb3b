package projector

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/evaluation"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/service"
)

// evalCache holds the events an evaluation reads, of the current read
// model up to a position, in an evaluation.Index (by family, in fold
// order), so that an evaluation costs one pass of the fold, not a scan of
// the timeline.
//
// The consumer feeds it: after each batch it commits, the batch's
// evaluation events go into the index (or, while an evaluation holds the
// index, into fed, which the next evaluation adds). So a projector that
// caught up from an empty read model holds them all when it is ready.
// A projector started on a model that already held rows first takes the
// index its last stop kept, when it holds for the model
// (evaluation_file.go). What the index lacks then, or because the cache
// was dropped, is read from the timeline's rows: in the background as
// soon as the projector is ready (warmEvaluation), or by the first
// evaluation that needs it.
//
// A redrive rewrites rows that the index holds, and a failed batch may
// have been rolled back: each drops the cache, and the rows are read
// again. An erasure rewrites only the personal fields of a family's rows,
// which the index does not hold (an evaluation.Index keeps no personal
// text), so the cache stays. A rebuild swaps the model, and the cache
// starts again on the new one.
type evalCache struct {
	// read is held by an evaluation, and by the consumer while it adds to
	// the index (TryLock: the consumer never waits for an evaluation). It
	// guards the index's content and upTo.
	read sync.Mutex
	// mu guards the fields below; it is held briefly.
	mu    sync.Mutex
	model *readmodel.Model
	index *evaluation.Index
	// upTo: the index holds the events of the sequences up to here.
	upTo uint64
	// rowsRead counts the events read from the timeline's rows.
	rowsRead int
	// fed are the events of the batches applied after fedFrom up to fedTo
	// that are not in the index yet. fedTo is 0 until a batch is fed.
	fed            []evaluation.Event
	fedFrom, fedTo uint64
	// kept is set once the index kept by the last stop has been looked
	// for (loadEvaluation); guarded by read.
	kept bool
	// savedModel and savedTo: the kept file holds savedModel's index up
	// to savedTo (saveEvaluation, loadEvaluation); guarded by read.
	savedModel *readmodel.Model
	savedTo    uint64
}

// start makes an empty cache for m, which the consumer feeds from its next
// batch on.
func (c *evalCache) start(m *readmodel.Model) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset(m)
}

// reset empties the cache for m (nil: until an evaluation starts it
// again); c.mu is held.
func (c *evalCache) reset(m *readmodel.Model) {
	c.model, c.upTo, c.fed, c.fedFrom, c.fedTo = m, 0, nil, 0, 0
	c.index = nil
	if m != nil {
		c.index = evaluation.NewIndex()
	}
}

// applied takes the evaluation events evs of a batch that the consumer
// applied to m after the checkpoint before: res and err are what Apply
// returned.
func (c *evalCache) applied(m *readmodel.Model, before uint64, res readmodel.BatchResult, err error, evs []evaluation.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.model != m || c.index == nil {
		return
	}
	if err != nil {
		c.reset(nil)
		return
	}
	if res.Last <= before {
		return
	}
	if c.fedTo != before { // the first batch fed, or one after a gap
		c.fed, c.fedFrom = nil, before
	}
	c.fed, c.fedTo = append(c.fed, evs...), res.Last
	if c.read.TryLock() {
		c.addFed()
		c.read.Unlock()
	}
}

// addFed adds the events fed so far to the index, when they follow it;
// c.read and c.mu are held.
func (c *evalCache) addFed() {
	if c.index != nil && c.fedTo > c.upTo && c.upTo == c.fedFrom {
		c.index.AddAll(c.fed)
		c.upTo, c.fed, c.fedFrom = c.fedTo, nil, c.fedTo
	}
}

// drop empties the cache: rows it holds were rewritten.
func (c *evalCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset(nil)
}

// evaluate brings the cache up to date and calls fn with the index and
// the position its events reach, while no other evaluation and no
// consumer changes it.
func (p *Projector) evaluate(ctx context.Context, fn func(x *evaluation.Index, upTo uint64)) error {
	m, release, err := p.acquire()
	if err != nil {
		return err
	}
	defer release()
	c := &p.eval
	c.read.Lock()
	defer c.read.Unlock()
	var x *evaluation.Index
	var upTo uint64
	// A second round reads the rows the consumer applied during the
	// first, when it could not feed them (the evaluation held the index).
	for round := 0; round < 3; round++ {
		c.mu.Lock()
		if c.model != m || c.index == nil {
			c.reset(m)
		}
		x, upTo = c.index, c.upTo
		fresh := upTo == 0 && x.Len() == 0
		c.mu.Unlock()
		if fresh && !c.kept {
			// The index the last stop kept, for this model: then only
			// the rows after it are read.
			c.kept = true
			if kept, keptTo := p.loadEvaluation(ctx, m); kept != nil {
				c.mu.Lock()
				if c.index == x && c.upTo == 0 {
					c.index, c.upTo = kept, keptTo
				}
				x, upTo = c.index, c.upTo
				c.mu.Unlock()
			}
		}
		c.mu.Lock()
		fed, fedFrom, fedTo := c.fed, c.fedFrom, c.fedTo
		c.fed, c.fedFrom = nil, fedTo
		c.mu.Unlock()
		// The rows between the index and what was fed (or, with nothing
		// fed, the published position) are read from the timeline; they
		// are committed.
		end := fedFrom
		if fedTo == 0 {
			end = p.Position()
		}
		if end > upTo {
			n := 0
			err := m.EvaluationEvents(ctx, upTo, end, func(e evaluation.Event) { x.Add(e); n++ })
			c.mu.Lock()
			c.rowsRead += n
			c.mu.Unlock()
			if err != nil {
				c.mu.Lock()
				if c.index == x {
					c.reset(nil) // half read: start again
				}
				c.mu.Unlock()
				return err
			}
			upTo = end
		}
		if fedTo > upTo {
			lo := 0
			for lo < len(fed) && fed[lo].Sequence <= upTo {
				lo++
			}
			x.AddAll(fed[lo:])
			upTo = fedTo
		}
		c.mu.Lock()
		gap := false
		if c.index == x {
			c.upTo = upTo
			gap = c.fedTo > upTo && c.fedFrom > upTo
		}
		c.mu.Unlock()
		if !gap {
			break
		}
	}
	fn(x, upTo)
	return nil
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
	err := p.evaluate(ctx, func(x *evaluation.Index, upTo uint64) {
		p.log.Info("projector: the evaluation's events read", "events", x.Len(), "position", upTo, "took", time.Since(t0))
	})
	if err != nil && ctx.Err() == nil {
		p.log.Warn("projector: the evaluation's events could not be read ahead", "err", err)
	}
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
func (p *Projector) Evaluation(ctx context.Context, asOf, knownAt time.Time, suppress bool) (res evaluation.Result, err error) {
	err = p.evaluate(ctx, func(x *evaluation.Index, upTo uint64) {
		res = x.Compute(asOf, knownAt, p.evaluationOptions(suppress))
		res.Position = upTo
	})
	return res, err
}

// EvaluationSeries is the measures at every step from from to to (one
// result per moment), as Evaluation. A wrong series is a 400 problem.
func (p *Projector) EvaluationSeries(ctx context.Context, from, to time.Time, step string, knownAt time.Time, suppress bool) (results []evaluation.Result, err error) {
	moments, err := evaluation.Moments(from, to, step)
	if err != nil {
		return nil, seriesProblem(from.Format(time.RFC3339), to.Format(time.RFC3339), from, to, step)
	}
	err = p.evaluate(ctx, func(x *evaluation.Index, upTo uint64) {
		results = x.ComputeSeries(moments, knownAt, p.evaluationOptions(suppress))
		for i := range results {
			results[i].Position = upTo
		}
	})
	return results, err
}

// seriesProblem is the 400 for a series evaluation.Moments refused, naming
// the rule the request broke: fromArg and toArg are from and to as the
// request gave them.
func seriesProblem(fromArg, toArg string, from, to time.Time, step string) *problem.Problem {
	switch {
	case step != evaluation.StepMonth && step != evaluation.StepQuarter:
		return problem.BadRequest(fmt.Sprintf("step must be month or quarter, not %q", step))
	case to.Before(from):
		return problem.BadRequest(fmt.Sprintf("from (%s) is after to (%s)", fromArg, toArg))
	case !evaluation.InRange(from) || !evaluation.InRange(to):
		return problem.BadRequest("from and to must be within the years 1900–2200")
	}
	hint := "give a shorter period"
	if step == evaluation.StepMonth {
		hint += ", or step=quarter"
	}
	return problem.BadRequest("a series has at most " + strconv.Itoa(evaluation.MaxPoints) + " moments: " + hint)
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

// parseEvalParams reads knownAt (now when it is after now), suppress and
// format and refuses any parameter not in allowed.
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
		t, err := family.ParseInstant(v)
		if err != nil {
			return ep, problem.BadRequest("knownAt must be an RFC 3339 time within the years 1900–2200")
		}
		// Not after now: what is recorded later would change the figures
		// at the same knownAt, which the answer gives so that they can be
		// computed again.
		if t.Before(now) {
			ep.knownAt = t
		}
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

// parseMoment reads a date (that day at 00:00 in Copenhagen: the
// municipality's day, as the web app's date filters read theirs) or an
// RFC 3339 time.
func parseMoment(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		if def.IsZero() {
			return def, problem.BadRequest(name + " is required (a date or an RFC 3339 time)")
		}
		return def, nil
	}
	t, err := family.ParseMoment(v)
	if err != nil {
		return t, problem.BadRequest(name + " must be a date (YYYY-MM-DD) or an RFC 3339 time within the years 1900–2200")
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
		return seriesProblem(q.Get("from"), q.Get("to"), from, to, step)
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
	cw.UseCRLF = true // RFC 4180
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
	return nil
}
