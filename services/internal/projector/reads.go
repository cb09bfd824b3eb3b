package projector

import (
	"context"
	"encoding/json"
	"net/http"

	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// The principal-level reads below are the one way family data leaves the
// read model: the JSON API and the web app both call them, so both
// authorize the same way and both log every read in ACCESS_LOG, with its
// acknowledgement, before any data is handed back.

// openRead is the common start of the API's reads of one family:
// refuse a HEAD, authenticate, honour X-Min-Position, read X-Purpose.
func (p *Projector) openRead(w http.ResponseWriter, r *http.Request) (auth.Principal, string, error) {
	if err := accesslog.CheckMethod(r); err != nil {
		return auth.Principal{}, "", err
	}
	pr, err := p.reader(r)
	if err != nil {
		return pr, "", err
	}
	if err := p.waitMinPosition(w, r); err != nil {
		return pr, "", err
	}
	why, err := accesslog.Purpose(r)
	return pr, why, err
}

// Families lists the families pr may read, with status: a coordinator's
// assigned families, every family for an auditor. Each summary carries the
// family's overview for the caller's own list (it is not part of the JSON
// of GET /v1/families). Families records nothing: its callers put their
// list in the access log before they show it (GET /v1/families, the web
// app's list), and show no more of the overview than the assignment and
// course facts a coordinator's list needs.
func (p *Projector) Families(ctx context.Context, pr auth.Principal) ([]FamilySummary, error) {
	return p.families(ctx, pr, true)
}

// families is Families, with or without the overviews.
func (p *Projector) families(ctx context.Context, pr auth.Principal, overviews bool) ([]FamilySummary, error) {
	if pr.Kind != auth.Coordinator && pr.Kind != auth.Auditor {
		return nil, problem.Forbidden("only coordinators and auditors read family data")
	}
	m, release, err := p.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	// The list, each family's gate and its hidden rows are read in one
	// state of the model: a row applied between a family's gate and its
	// count would be counted as hidden by a consent that does not hide it.
	m, end, err := m.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	var out []FamilySummary
	if overviews {
		out, err = m.FamilyOverviews(ctx, pr.EmployeeID, pr.Kind == auth.Auditor)
	} else {
		out, err = m.Families(ctx, pr.EmployeeID, pr.Kind == auth.Auditor)
	}
	if err != nil || pr.Kind == auth.Auditor {
		return out, err
	}
	// A coordinator's list counts, and its overviews show, only what the
	// consent gate shows: a hidden event changes neither the number of
	// events nor the last sequence.
	for i := range out {
		f := &out[i]
		gt := p.gateFor(ctx, m, pr, f.FamilyID)
		p.hooks.afterGate.run()
		hs, err := m.Hidden(ctx, f.FamilyID, f.LastSequence, gt.hide)
		if err != nil {
			return nil, err
		}
		s := scan{ov: f.Overview, last: f.LastSequence, hs: hs}
		f.Events, f.LastSequence, f.HiddenByConsent = hs.Shown, hs.LastSeq, hs.Total
		if overviews && hs.Total > 0 {
			if f.Overview, err = gt.overview(s); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Authorize tells whether pr may read the family, without reading or
// logging anything: 403 for a coordinator not assigned (or an unknown
// family), 404 for an auditor and an unknown family.
func (p *Projector) Authorize(ctx context.Context, pr auth.Principal, familyID string) error {
	_, release, err := p.authorized(ctx, pr, familyID)
	if err != nil {
		return err
	}
	release()
	return nil
}

// authorized takes the read model for a read of the family by pr, once pr
// may read it.
func (p *Projector) authorized(ctx context.Context, pr auth.Principal, familyID string) (*readmodel.Model, func(), error) {
	if pr.Kind != auth.Coordinator && pr.Kind != auth.Auditor {
		return nil, nil, problem.Forbidden("only coordinators and auditors read family data")
	}
	m, release, err := p.acquire()
	if err != nil {
		return nil, nil, err
	}
	if err := authorize(ctx, m, pr, familyID); err != nil {
		release()
		return nil, nil, err
	}
	return m, release, nil
}

// FamilyRead is one logged read of one family: its queries run on one
// read model, under one authorization and one access-log entry, and in
// one state of it (readmodel.Model.Snapshot): the consent gate and what
// it judges (the overview, the hidden count, the timeline's pages) are of
// the same rows, whatever batches are applied during the read.
type FamilyRead struct {
	ctx      context.Context
	m        *readmodel.Model
	familyID string
	// gateOf makes the read's consent gate (an auditor's is ungated),
	// once, when the read first needs it: a read that only authorizes
	// and logs (a stream's, whose gate is read once subscribed) makes
	// none.
	gateOf func() *gate
	gt     *gate
	// scanned is the read's one scan of the family through its gate
	// (the overview, the last sequence and the hidden count); hidden is
	// the count, once known, from the scan or a timeline page.
	scanned *scan
	hidden  *int
}

// gate is the read's consent gate.
func (fr *FamilyRead) gate() *gate {
	if fr.gt == nil {
		fr.gt = fr.gateOf()
	}
	return fr.gt
}

// scan is the read's scan of the family through its gate, read once.
func (fr *FamilyRead) scan() (scan, error) {
	if fr.scanned != nil {
		return *fr.scanned, nil
	}
	s, err := fr.gate().scan(fr.ctx, fr.m, fr.familyID)
	if err != nil {
		return s, err
	}
	fr.scanned = &s
	if fr.gate().gates() {
		fr.hidden = &s.hs.Total
	}
	return s, nil
}

// ReadFamily authorizes pr for the family, refuses a query string the
// access log may not store (accesslog.CheckQuery: 422), starts its
// access-log entry (endpoint from r, the given purpose), runs read, and returns only once
// the entry is acknowledged: read's results may be shown only when
// ReadFamily returns nil. When the log cannot be written the answer is a
// 503 problem and the results must be thrown away.
func (p *Projector) ReadFamily(r *http.Request, pr auth.Principal, familyID, purpose string, read func(*FamilyRead) error) error {
	m, release, err := p.authorized(r.Context(), pr, familyID)
	if err != nil {
		return err
	}
	defer release()
	// The endpoint is logged with its query: the API's reads checked it
	// with X-Purpose; a caller with its own purpose (the web app) may not.
	if err := accesslog.CheckQuery(r); err != nil {
		return err
	}
	logged := p.startAccessLog(r, pr, familyID, purpose)
	rerr := p.readSnapshot(r.Context(), m, pr, familyID, read)
	if err := logged(); err != nil {
		return err
	}
	return rerr
}

// readSnapshot runs read on a snapshot of m, ended before it returns:
// the access log's acknowledgement is waited for with no connection
// held.
func (p *Projector) readSnapshot(ctx context.Context, m *readmodel.Model, pr auth.Principal, familyID string, read func(*FamilyRead) error) error {
	snap, end, err := m.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer end()
	return read(&FamilyRead{ctx: ctx, m: snap, familyID: familyID,
		gateOf: func() *gate {
			gt := p.gateFor(ctx, snap, pr, familyID)
			p.hooks.afterGate.run()
			return gt
		}})
}

// OverviewJSON is the family overview as stored (family.State.Overview),
// with "hiddenByConsent": for a coordinator, without what the consent
// gate hides (consent.FilterOverview) and with how many entries it hid;
// for an auditor whole, with 0.
func (fr *FamilyRead) OverviewJSON() ([]byte, error) {
	s, err := fr.scan()
	if err != nil {
		return nil, err
	}
	return fr.gate().overview(s)
}

// HiddenByConsent is how many of the family's stored entries the consent
// gate hides from this read (0 for an auditor): the overview's and every
// timeline page's hiddenByConsent. It is counted once per read.
func (fr *FamilyRead) HiddenByConsent() (int, error) {
	if !fr.gate().gates() {
		return 0, nil
	}
	if fr.hidden == nil {
		n, err := fr.m.HiddenCount(fr.ctx, fr.familyID, fr.gate().hide)
		if err != nil {
			return 0, err
		}
		fr.hidden = &n
	}
	return *fr.hidden, nil
}

// LastSequence is the stream sequence of the family's latest event that
// the read shows.
func (fr *FamilyRead) LastSequence() (uint64, error) {
	if !fr.gate().gates() {
		return fr.m.LastSequence(fr.ctx, fr.familyID)
	}
	s, err := fr.scan()
	return s.hs.LastSeq, err
}

// Overview is the family overview, decoded.
func (fr *FamilyRead) Overview() (family.Overview, error) {
	var o family.Overview
	b, err := fr.OverviewJSON()
	if err != nil {
		return o, err
	}
	return o, json.Unmarshal(b, &o)
}

// Timeline runs the query (readmodel.ParseTimeline); the query's family
// must be the read's. The page's HiddenByConsent is 0: a read that
// answers with it asks CountedTimeline.
func (fr *FamilyRead) Timeline(tq readmodel.TimelineQuery) (readmodel.TimelinePage, error) {
	if tq.FamilyID() != fr.familyID {
		return readmodel.TimelinePage{}, problem.BadRequest("the timeline query is for another family")
	}
	return fr.m.Timeline(fr.ctx, fr.gated(tq))
}

// CountedTimeline is Timeline whose page carries HiddenByConsent, the
// read's count (HiddenByConsent): counted with the page, in one read
// transaction, unless the read has counted already.
func (fr *FamilyRead) CountedTimeline(tq readmodel.TimelineQuery) (readmodel.TimelinePage, error) {
	if tq.FamilyID() != fr.familyID {
		return readmodel.TimelinePage{}, problem.BadRequest("the timeline query is for another family")
	}
	if !fr.gate().gates() || fr.hidden != nil {
		page, err := fr.m.Timeline(fr.ctx, fr.gated(tq))
		if fr.hidden != nil {
			page.HiddenByConsent = *fr.hidden
		}
		return page, err
	}
	page, err := fr.m.Timeline(fr.ctx, fr.gated(tq).WithHiddenCount())
	if err == nil {
		fr.hidden = &page.HiddenByConsent
	}
	return page, err
}

// Count is how many entries the query's filters keep (all pages).
func (fr *FamilyRead) Count(tq readmodel.TimelineQuery) (int, error) {
	if tq.FamilyID() != fr.familyID {
		return 0, problem.BadRequest("the timeline query is for another family")
	}
	return fr.m.TimelineCount(fr.ctx, fr.gated(tq))
}

// gated is tq without what the read's consent gate hides.
func (fr *FamilyRead) gated(tq readmodel.TimelineQuery) readmodel.TimelineQuery {
	if !fr.gate().gates() {
		return tq
	}
	return tq.WithHide(fr.gate().hide)
}

// Live is a subscription to a family's timeline entries: with Stored,
// first those stored after a position, then the new ones.
type Live struct {
	p    *Projector
	sub  *subscriber
	pr   auth.Principal
	fam  string
	gate *gate
	// last is the last sequence handed on (by Stored or Shown), at first
	// the position at which it subscribed: an entry at or below it is not
	// handed on again.
	last uint64
}

// Entries delivers batches of new entries in stream order; pass each
// batch through Shown before showing any of it.
func (l *Live) Entries() <-chan []readmodel.Entry { return l.sub.ch }

// Shown is what the consent gate shows of a batch of Entries that is new
// (after what was handed on already), in order, and how many it hid.
// Consent events in the batch change what is shown from then on.
func (l *Live) Shown(es []readmodel.Entry) ([]readmodel.Entry, int) {
	out, last, hidden := l.pass(es, l.last)
	l.last = last
	return out, hidden
}

// pass is what the consent gate shows of es, in order, leaving out the
// entries at or below after; it returns the last sequence it looked at
// (after when it looked at none) and how many entries the gate hid.
func (l *Live) pass(es []readmodel.Entry, after uint64) ([]readmodel.Entry, uint64, int) {
	l.gate = l.p.gateNow(l.p.ctx, l.sub, l.pr, l.fam, l.gate)
	out := make([]readmodel.Entry, 0, len(es))
	hidden := 0
	for _, e := range es {
		if e.Sequence <= after {
			continue
		}
		after = e.Sequence
		if l.gate.hidden(e) {
			hidden++
			continue
		}
		out = append(out, e)
	}
	return out, after, hidden
}

// Stored hands show, a page at a time and in stream order, what the
// consent gate shows of the family's entries stored after sequence after
// (a position the caller showed already, or the client's Last-Event-ID);
// Shown then hands on only entries after them. Call it once, before
// reading Entries: it is how a view opened at an earlier position misses
// nothing applied since. It logs nothing: the subscription's read is the
// one access-log entry, as for the API's stream.
func (l *Live) Stored(ctx context.Context, after uint64, show func([]readmodel.Entry) error) error {
	last, err := l.p.storedAfter(ctx, l.fam, after, func(es []readmodel.Entry) error {
		// storedAfter pages only entries after the position: none is
		// left out here.
		out, _, _ := l.pass(es, 0)
		return show(out)
	})
	l.last = last
	return err
}

// Dropped is closed when the subscriber fell behind or the projector
// begins to stop (also at once when it subscribed after that); the
// client reconnects.
func (l *Live) Dropped() <-chan struct{} { return l.sub.dropped }

// Reset is closed when a rebuild swapped in a read model over a replaced,
// shorter stream: the positions the view showed name nothing of the new
// stream, and no entry comes any more. The client reads the family again.
func (l *Live) Reset() <-chan struct{} { return l.sub.reset }

// Beyond reports whether sequence after, a position the client showed,
// lies beyond the read model's position and the stream's end (the stream
// was replaced and the read model rebuilt over it): resuming after it
// would wait for entries that never come, so the client reads the family
// again instead, as on Reset.
func (l *Live) Beyond(ctx context.Context, after uint64) bool { return l.p.beyondStream(ctx, after) }

// Allowed re-checks a coordinator's assignment, so that a live view ends
// with it: nil while it lasts, a problem with status 403 once it ended,
// another error when the read model could not tell.
func (l *Live) Allowed(ctx context.Context) error { return l.p.allowed(ctx, l.pr, l.fam) }

// Close ends the subscription.
func (l *Live) Close() { l.p.subs.unsubscribe(l.sub) }

// Subscribe authorizes pr, logs the read with its purpose (acknowledged),
// and subscribes to the family's entries applied from now on; Stored
// adds those stored after an earlier position.
func (p *Projector) Subscribe(r *http.Request, pr auth.Principal, familyID, purpose string) (*Live, error) {
	if err := p.ReadFamily(r, pr, familyID, purpose, func(*FamilyRead) error { return nil }); err != nil {
		return nil, err
	}
	// Subscribe between two batches, as handleStream does.
	p.applyMu.Lock()
	after := p.Position()
	sub := p.subs.subscribe(familyID)
	p.applyMu.Unlock()
	gt, err := p.liveGate(r.Context(), pr, familyID)
	if err != nil {
		p.subs.unsubscribe(sub)
		return nil, err
	}
	return &Live{p: p, sub: sub, pr: pr, fam: familyID, gate: gt, last: after}, nil
}

// liveGate is the consent gate of a stream, read once it is subscribed:
// it knows every consent stored before the first entry it will be
// handed, and observes those after.
func (p *Projector) liveGate(ctx context.Context, pr auth.Principal, familyID string) (*gate, error) {
	m, release, err := p.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	return p.gateFor(ctx, m, pr, familyID), nil
}
