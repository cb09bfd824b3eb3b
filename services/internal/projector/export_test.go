package projector

import (
	"context"
	"database/sql"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"kk.dk/jobogfamilie/services/internal/consent"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// SetHooks installs the crash hooks; call it before Start.
func SetHooks(p *Projector, beforeCommit, afterCommit func(last uint64) error) {
	p.hooks.beforeCommit, p.hooks.afterCommit = beforeCommit, afterCommit
}

// SetHeartbeat changes the SSE heartbeat interval; call it before serving.
func SetHeartbeat(p *Projector, d time.Duration) { p.heartbeat.Store(int64(d)) }

// SetStreamWriteTimeout changes the deadline of each SSE write; call it
// before serving.
func SetStreamWriteTimeout(p *Projector, d time.Duration) { p.streamWriteTimeout.Store(int64(d)) }

// QuarantineRow is a row of the quarantine table.
type QuarantineRow struct {
	Sequence uint64
	Subject  string
	Reason   string
	Raw      string
}

// Quarantined lists the quarantine table.
func Quarantined(ctx context.Context, p *Projector) ([]QuarantineRow, error) {
	var out []QuarantineRow
	err := queryModel(ctx, p, `SELECT sequence, subject, reason, raw FROM quarantine ORDER BY sequence`, func(rows *sql.Rows) error {
		var q QuarantineRow
		if err := rows.Scan(&q.Sequence, &q.Subject, &q.Reason, &q.Raw); err != nil {
			return err
		}
		out = append(out, q)
		return nil
	})
	return out, err
}

// ModelFile is the current read model file.
func ModelFile(p *Projector) string { return p.model.Load().Path() }

// SetBulkThreshold changes the backlog from which an empty model is bulk
// loaded; call it before Start.
func SetBulkThreshold(p *Projector, n uint64) { p.bulkThreshold = n }

// Indexes lists the current read model's indexes.
func Indexes(ctx context.Context, p *Projector) ([]string, error) {
	var out []string
	err := queryModel(ctx, p, `SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name`, func(rows *sql.Rows) error {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		out = append(out, n)
		return nil
	})
	return out, err
}

// queryModel runs a query on the current read model's file, opened
// read-only beside the projector's connections, and hands scan each row.
func queryModel(ctx context.Context, p *Projector, query string, scan func(*sql.Rows) error) error {
	m, release, err := p.acquire()
	if err != nil {
		return err
	}
	defer release()
	db, err := sql.Open("sqlite", "file:"+m.Path()+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SetConsentFailure makes every consent gate's read fail with err (nil
// restores it).
func SetConsentFailure(p *Projector, err error) {
	if err == nil {
		p.consentFail.Store(nil)
		return
	}
	p.consentFail.Store(&err)
}

// SetConsentPolicy replaces the consent policy (nil restores it).
func SetConsentPolicy(p *Projector, policy []consent.Rule) {
	if policy == nil {
		p.consentPolicy.Store(nil)
		return
	}
	p.consentPolicy.Store(&policy)
}

// SetClock replaces the clock reads judge consents by (nil restores
// time.Now).
func SetClock(p *Projector, now func() time.Time) {
	if now == nil {
		p.clock.Store(nil)
		return
	}
	p.clock.Store(&now)
}

// ConsentGateErrors is the count of jf_projector_consent_gate_errors_total.
func ConsentGateErrors(p *Projector) float64 {
	return testutil.ToFloat64(p.metrics.consentErrors)
}

// EvaluationRowsRead is the number of events the evaluation's cache has
// read from the timeline's rows (rather than been fed by the consumer).
func EvaluationRowsRead(p *Projector) int {
	p.eval.mu.Lock()
	defer p.eval.mu.Unlock()
	return p.eval.rowsRead
}

// EvaluationFromRows computes the evaluation as the cache would from the
// current model's rows alone, up to the model's position, with exact
// figures.
func EvaluationFromRows(ctx context.Context, p *Projector, asOf, knownAt time.Time) (evaluation.Result, error) {
	m, release, err := p.acquire()
	if err != nil {
		return evaluation.Result{}, err
	}
	defer release()
	x := evaluation.NewIndex()
	pos := p.Position()
	if err := m.EvaluationEvents(ctx, 0, pos, x.Add); err != nil {
		return evaluation.Result{}, err
	}
	res := x.Compute(asOf, knownAt, p.evaluationOptions(false))
	res.Position = pos
	return res, nil
}

// EvaluationCacheHolds tells whether any event in the evaluation's cache
// has text in its data.
func EvaluationCacheHolds(p *Projector, text string) (bool, error) {
	found := false
	err := p.evaluate(context.Background(), func(x *evaluation.Index, _ uint64) {
		found = x.Holds(text)
	})
	return found, err
}

// TamperModel runs stmt on the current read model's file between two
// batches, as someone with access to the disk (or an older build) could
// have left it; it returns how many rows it changed.
func TamperModel(ctx context.Context, p *Projector, stmt string, args ...any) (int64, error) {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	m, release, err := p.acquire()
	if err != nil {
		return 0, err
	}
	defer release()
	db, err := sql.Open("sqlite", "file:"+m.Path()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, stmt, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ModelValue is the one value query selects on the current read model.
func ModelValue(ctx context.Context, p *Projector, query string) (string, error) {
	var v string
	err := queryModel(ctx, p, query, func(rows *sql.Rows) error { return rows.Scan(&v) })
	return v, err
}

// HoldModel takes the current read model for one long read, as an audit
// verify's pin holds it for its whole replay, until the returned function
// is called.
func HoldModel(p *Projector) (func(), error) {
	_, release, err := p.acquireModel()
	return release, err
}

// ModelVacuums is the current read model's Vacuums, asked as the applier.
func ModelVacuums(p *Projector) int {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	return p.model.Load().Vacuums()
}

// SetAfterGate has each family read call hook once it has read its
// consent gate and before it reads what the gate judges; nil removes it.
func SetAfterGate(p *Projector, hook func()) { p.hooks.afterGate.set(hook) }

// SetBeforeSubscribe has each timeline stream call hook once its read is
// logged and before it subscribes; nil removes it.
func SetBeforeSubscribe(p *Projector, hook func()) { p.hooks.beforeSubscribe.set(hook) }

// SetBeforeStoredPage has each stream call hook before it reads a page
// of the entries stored after its position; nil removes it.
func SetBeforeStoredPage(p *Projector, hook func()) { p.hooks.beforeStoredPage.set(hook) }

// SetCatchUpFamilies changes Options.CatchUpFamilies; call it before Start.
func SetCatchUpFamilies(p *Projector, n int) { p.opts.CatchUpFamilies = n }

// SpilledFamilies is the jf_projector_spilled_families gauge.
func SpilledFamilies(p *Projector) float64 { return testutil.ToFloat64(p.metrics.spilledFamilies) }

// SetEvaluationKeepEvery sets Options.EvaluationKeepEvery; call it before
// Start.
func SetEvaluationKeepEvery(p *Projector, d time.Duration) { p.opts.EvaluationKeepEvery = d }
