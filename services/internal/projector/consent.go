package projector

import (
	"context"
	"encoding/json"
	"strconv"

	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/consent"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// The consent gate: every read of family data by a coordinator passes
// through gateFor, which folds the family's consents (consent.New) and
// hands the reads a gate for what they decode in Go (the overview, the
// stream) and a readmodel.Hide for what SQL selects (the timeline, its
// counts and pages). Auditors are not gated. A gate that cannot be made
// fails closed: it hides every entry of a gated department, and the
// error is logged and counted.

// gate is a coordinator read's consent gate; nil for an auditor's read.
type gate struct {
	g    *consent.Gate
	hide *readmodel.Hide
	// failed logs and counts a live gate that closes.
	failed func(error)
}

// gateFor is the gate of pr's read of the family on m.
func (p *Projector) gateFor(ctx context.Context, m *readmodel.Model, pr auth.Principal, familyID string) *gate {
	if pr.Kind == auth.Auditor {
		return nil
	}
	g, err := p.foldConsents(ctx, m, familyID)
	if err != nil {
		p.metrics.consentErrors.Inc()
		p.log.Error("projector: consent gate failed; hiding every entry it gates", "family", familyID, "err", err)
		g = consent.Closed(p.policy())
	}
	gt := newGate(g)
	gt.failed = func(err error) {
		p.metrics.consentErrors.Inc()
		p.log.Error("projector: consent gate of a stream failed; hiding every entry it gates from now on", "family", familyID, "err", err)
	}
	return gt
}

func (p *Projector) policy() []consent.Rule {
	if pol := p.consentPolicy.Load(); pol != nil {
		return *pol
	}
	return consent.Policy
}

func (p *Projector) foldConsents(ctx context.Context, m *readmodel.Model, familyID string) (*consent.Gate, error) {
	if err := p.consentFail.Load(); err != nil {
		return nil, *err
	}
	cr, err := m.Consents(ctx, familyID, consent.IsConsentType)
	if err != nil {
		return nil, err
	}
	later := make([]consent.ConsentEvent, len(cr.Later))
	for i, r := range cr.Later {
		later[i] = consent.ConsentEvent{Sequence: r.Sequence, Type: r.Type, Data: r.Data, Time: r.Time}
	}
	return consent.New(p.policy(), cr.Decided, later, cr.Through)
}

func newGate(g *consent.Gate) *gate {
	groups, whole := g.Groups()
	h := &readmodel.Hide{Whole: whole, Fields: consent.PersonFields, Through: g.Through()}
	for _, gr := range groups {
		h.Groups = append(h.Groups, readmodel.HideGroup{Departments: gr.Departments, Shown: gr.Shown})
	}
	return &gate{g: g, hide: h}
}

// observe advances a live gate over an entry in stream order: a consent
// event changes what is shown from then on. An unreadable one closes it.
func (gt *gate) observe(e readmodel.Entry) {
	if gt == nil || gt.g.IsClosed() || e.Sequence <= gt.g.Through() {
		return
	}
	if err := gt.g.Observe(consent.ConsentEvent{Sequence: e.Sequence, Type: e.Type, Data: e.Data, Time: e.Time}); err != nil {
		gt.g = consent.Closed(gt.g.Policy())
		if gt.failed != nil {
			gt.failed(err)
		}
	}
}

// hidden reports whether the entry is hidden (after observing it).
func (gt *gate) hidden(e readmodel.Entry) bool {
	if gt == nil {
		return false
	}
	gt.observe(e)
	return gt.g.HiddenEntry(e.Department, e.Data, e.Sequence)
}

// overview is the family's overview JSON as pr may see it, with
// hiddenByConsent; the count is returned too.
func (gt *gate) overview(ctx context.Context, m *readmodel.Model, familyID string) ([]byte, int, error) {
	ov, last, err := m.OverviewAt(ctx, familyID)
	if err != nil {
		return nil, 0, err
	}
	if gt == nil {
		return withHidden(ov, 0), 0, nil
	}
	rows, _, lastTime, _, err := m.Hidden(ctx, familyID, last, gt.hide)
	if err != nil {
		return nil, 0, err
	}
	if len(rows) == 0 {
		return withHidden(ov, 0), 0, nil
	}
	var o family.Overview
	if err := json.Unmarshal(ov, &o); err != nil {
		return nil, 0, err
	}
	hidden := make([]consent.Entry, len(rows))
	for i, r := range rows {
		hidden[i] = consent.Entry{Department: r.Department, Type: r.Type, Data: r.Data}
	}
	n := consent.FilterOverview(&o, hidden, lastTime)
	b, err := json.Marshal(o)
	if err != nil {
		return nil, 0, err
	}
	return withHidden(b, n), n, nil
}

// withHidden adds "hiddenByConsent": n to an overview object.
func withHidden(ov []byte, n int) []byte {
	if len(ov) < 2 || ov[len(ov)-1] != '}' {
		return ov
	}
	out := make([]byte, 0, len(ov)+24)
	out = append(out, ov[:len(ov)-1]...)
	if len(ov) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"hiddenByConsent":`...)
	out = strconv.AppendInt(out, int64(n), 10)
	return append(out, '}')
}
