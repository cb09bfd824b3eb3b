package projector

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/consent"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// The consent gate: every read of family data by a coordinator passes
// through gateFor, which folds the family's consents (consent.NewAt) and
// hands the reads a gate for what they decode in Go (the overview, the
// stream) and a readmodel.Hide for what SQL selects (the timeline, its
// counts and pages). Auditors are not gated, but their overview too
// shows the consents in force at the read. A gate that cannot be made
// fails closed: it hides every entry of a gated department, and the
// error is logged and counted.
//
// The consents are judged at the read's moment (p.now): a consent event
// dated ahead of it is not in force at that read, and a later read, or a
// stream once the moment has come, judges by it.

// gate is a read's consent gate; an auditor's (ungated) hides nothing.
type gate struct {
	g    *consent.Gate
	hide *readmodel.Hide
	// ungated is an auditor's read: nothing is hidden, and g only says
	// which consents are in force (nil when they could not be read).
	ungated bool
	// now is the read's clock, by which a lasting read (a stream) moves
	// the moment its gate judges at.
	now func() time.Time
	// failed logs and counts a live gate that closes.
	failed func(error)
}

// gates reports whether the read is gated (a coordinator's).
func (gt *gate) gates() bool { return gt != nil && !gt.ungated }

// now is the clock reads judge consents by.
func (p *Projector) now() time.Time {
	if c := p.clock.Load(); c != nil {
		return (*c)()
	}
	return time.Now()
}

// gateFor is the gate of pr's read of the family on m.
func (p *Projector) gateFor(ctx context.Context, m *readmodel.Model, pr auth.Principal, familyID string) *gate {
	g, err := p.foldConsents(ctx, m, familyID, pr.Kind != auth.Auditor)
	if pr.Kind == auth.Auditor {
		if err != nil {
			p.log.Error("projector: the consents in force could not be read; the overview shows the fold's", "family", familyID, "err", err)
			g = nil
		}
		return &gate{g: g, ungated: true, now: p.now}
	}
	if err != nil {
		p.metrics.consentErrors.Inc()
		p.log.Error("projector: consent gate failed; hiding every entry it gates", "family", familyID, "err", err)
		g = consent.Closed(p.policy())
	}
	gt := newGate(g)
	gt.now = p.now
	gt.failed = func(err error) {
		p.metrics.consentErrors.Inc()
		p.log.Error("projector: consent gate of a stream failed; hiding every entry it gates from now on", "family", familyID, "err", err)
	}
	return gt
}

// gateNow is a stream's consent gate for the entries it is about to
// judge: gt, or, once a re-drive moved entries of the family
// (subscriber.regate), the gate read again, as a stream opened now would
// read it. A gate that cannot be read again fails closed.
func (p *Projector) gateNow(ctx context.Context, sub *subscriber, pr auth.Principal, familyID string, gt *gate) *gate {
	if !sub.regate.Swap(false) {
		return gt
	}
	m, release, err := p.acquire()
	if err != nil {
		if gt.gates() && !gt.g.IsClosed() {
			gt.g = consent.Closed(gt.g.Policy())
			if gt.failed != nil {
				gt.failed(err)
			}
		}
		return gt
	}
	defer release()
	return p.gateFor(ctx, m, pr, familyID)
}

func (p *Projector) policy() []consent.Rule {
	if pol := p.consentPolicy.Load(); pol != nil {
		return *pol
	}
	return consent.Policy
}

// foldConsents folds the family's consents into a gate; with refs, it
// also reads what follow-ups refer to, which only a gated read judges by.
func (p *Projector) foldConsents(ctx context.Context, m *readmodel.Model, familyID string, refs bool) (*consent.Gate, error) {
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
	g, err := consent.NewAt(p.policy(), cr.Decided, later, cr.Through, p.now())
	if err != nil {
		return nil, err
	}
	if !refs {
		return g, nil
	}
	// What follow-ups (a goal.progressed) refer to: they are judged as
	// the event that opened the id they name.
	openers, err := m.References(ctx, familyID, cr.Through, consent.OpenerTypes)
	if err != nil {
		return nil, err
	}
	for _, r := range openers {
		g.Refer(r.Type, r.Department, r.Data, r.Sequence)
	}
	return g, nil
}

// newGate is a gate of g, with what it leaves out of the read model's
// queries.
func newGate(g *consent.Gate) *gate { return &gate{g: g, hide: readmodel.HideOf(g)} }

// observe advances a live gate over an entry in stream order: a consent
// event changes what is shown from then on. An unreadable one closes it.
func (gt *gate) observe(e readmodel.Entry) {
	if !gt.gates() || gt.g.IsClosed() {
		return
	}
	if gt.now != nil {
		gt.g.JudgeAt(gt.now())
	}
	if e.Sequence <= gt.g.Through() {
		return
	}
	gt.g.Refer(e.Type, e.Department, e.Data, e.Sequence)
	if err := gt.g.Observe(consent.ConsentEvent{Sequence: e.Sequence, Type: e.Type, Data: e.Data, Time: e.Time}); err != nil {
		gt.g = consent.Closed(gt.g.Policy())
		if gt.failed != nil {
			gt.failed(err)
		}
	}
}

// hidden reports whether the entry is hidden (after observing it).
func (gt *gate) hidden(e readmodel.Entry) bool {
	if !gt.gates() {
		return false
	}
	gt.observe(e)
	return gt.g.HiddenEntry(e.Department, e.Data, e.Sequence)
}

// scan is what a read of the family's overview reads through its gate:
// the overview as stored, the sequence it was folded up to, and, for a
// gated read, the hidden rows up to it with how many of the family's rows
// are hidden (readmodel.Model.Hidden, one statement).
type scan struct {
	ov   []byte
	last uint64
	hs   readmodel.HiddenScan
}

// scan reads the family's overview and, for a gated read, its rows
// through the gate.
func (gt *gate) scan(ctx context.Context, m *readmodel.Model, familyID string) (scan, error) {
	var (
		s   scan
		err error
	)
	if s.ov, s.last, err = m.OverviewAt(ctx, familyID); err != nil {
		return s, err
	}
	if gt.gates() {
		s.hs, err = m.Hidden(ctx, familyID, s.last, gt.hide)
	}
	return s, err
}

// overview is the family's overview JSON as the read may see it, with
// hiddenByConsent: how many of the family's stored entries the gate hides
// (the same number as the read's timeline carries). Its consents are those
// in force at the read's moment, not the fold's (the latest decision in
// time, which may be dated ahead of the read).
func (gt *gate) overview(s scan) ([]byte, error) {
	if gt == nil || gt.g == nil {
		return withHidden(s.ov, 0), nil
	}
	var o family.Overview
	if err := json.Unmarshal(s.ov, &o); err != nil {
		return nil, err
	}
	o.Consents = gt.g.InForce()
	n := 0
	if gt.gates() {
		hidden := make([]consent.Entry, len(s.hs.Rows))
		for i, r := range s.hs.Rows {
			hidden[i] = consent.Entry{Department: r.Department, Type: r.Type, Data: r.Data}
		}
		consent.FilterOverview(&o, hidden, s.hs.LastTime)
		n = s.hs.Total
	}
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	return withHidden(b, n), nil
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
