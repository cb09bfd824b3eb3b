package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/sse"
)

// handleStream is GET /v1/families/{familyId}/timeline/stream: Server-Sent
// Events, one per new timeline entry in stream order, with id: = its
// sequence. With Last-Event-ID the stored entries after that sequence are
// sent first, then the live ones. For a coordinator, an entry the consent
// gate hides is an "event: hidden" with its id and no content; a consent
// withdrawn while the stream is open hides the person's entries that
// arrive after it, and one a re-drive of the quarantine moves to the
// timeline changes what the stream shows from its next entry on, as it
// changes a page read. A comment line is sent every 15 s so
// that proxies keep the connection open. A client that cannot keep up is
// disconnected (its buffer is bounded) and resumes with Last-Event-ID; it
// never slows the projector or other clients. A client that stops reading
// altogether is disconnected too: every write has a deadline
// (sse.WriteTimeout), and a write still blocked when the stream is
// dropped or the projector stops is cut off at once. The stream also ends
// when the coordinator's assignment to the family ends. When a rebuild
// swaps in a read model behind what the stream followed (the stream was
// replaced), every open stream ends with an "event: reset", and so does
// one opened with a Last-Event-ID beyond the stream's end: the client
// starts again from the new stream (beyondStream, writeReset).
func (p *Projector) handleStream(w http.ResponseWriter, r *http.Request) error {
	pr, why, err := p.openRead(w, r)
	if err != nil {
		return err
	}
	familyID := r.PathValue("familyId")
	if len(r.URL.Query()) > 0 {
		return problem.BadRequest("the timeline stream takes no query parameters; resume with the Last-Event-ID header")
	}
	var after uint64
	resume := false
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		if after, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64); err != nil {
			return problem.BadRequest("Last-Event-ID must be the id: (sequence) of an event of this stream")
		}
		resume = true
	}
	// Authorized and access-logged as every read of family data is.
	if err := p.ReadFamily(r, pr, familyID, why, func(*FamilyRead) error { return nil }); err != nil {
		return err
	}

	p.hooks.beforeSubscribe.run()
	// Subscribe before reading what is stored after `after`, so that
	// nothing committed in between is missed; entries that come both ways
	// are sent once, by sequence. The applier collects entries only for
	// families with subscribers, so subscribe between two batches: a
	// batch either sees the subscriber or is committed before the read.
	// A stream without Last-Event-ID is live from the position it
	// subscribes at (what is applied then is not new), read in the same
	// lock: a rebuild that swaps in a model over a replaced stream
	// either resets the subscriber or is done before the position is
	// read, never in between, when the stream would skip the new
	// stream's entries up to the old position.
	p.applyMu.Lock()
	if !resume {
		after = p.Position()
	}
	sub := p.subs.subscribe(familyID)
	p.applyMu.Unlock()
	defer p.subs.unsubscribe(sub)
	// The consent gate, read once subscribed: entries after what it knows
	// are judged as they come, consent events among them included.
	gt, err := p.liveGate(r.Context(), pr, familyID)
	if err != nil {
		return err
	}

	// Each write has a deadline of its own (sse.Writer). A dropped stream,
	// or one open as the projector stops, ends now, even when its handler
	// is blocked writing to a client that no longer reads.
	sw := sse.NewWriter(w, time.Duration(p.streamWriteTimeout.Load()))
	defer sw.InterruptOn(sub.dropped, p.ctx.Done())()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	p.setPosition(w)
	if err := sw.Write(func() error {
		w.WriteHeader(http.StatusOK)
		_, err := fmt.Fprintf(w, "retry: 2000\n: timeline of %s from sequence %d\n\n", familyID, after)
		return err
	}); err != nil {
		return nil
	}
	ctx := r.Context()
	if resume && p.beyondStream(ctx, after) {
		_ = sw.Write(func() error { return writeReset(w, p.Position()) })
		return nil
	}
	// Each stored page is judged by the gate as it is once the page is
	// read: a re-drive that moved a consent event in while the pages were
	// being read has marked the stream by then (gateNow).
	last, err := p.sendStored(ctx, w, sw, familyID, after, func() *gate {
		gt = p.gateNow(ctx, sub, pr, familyID, gt)
		return gt
	})
	if err != nil {
		return nil
	}
	heartbeat := time.NewTicker(time.Duration(p.heartbeat.Load()))
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.ctx.Done():
			// Shutting down: end the stream so the server can stop; the
			// client resumes elsewhere with Last-Event-ID.
			return nil
		case <-sub.dropped:
			return nil
		case <-sub.reset:
			_ = sw.Write(func() error { return writeReset(w, p.Position()) })
			return nil
		case <-heartbeat.C:
			if err := sw.Write(func() error {
				_, err := fmt.Fprintf(w, ": heartbeat %d\n\n", p.Position())
				return err
			}); err != nil {
				return nil
			}
		case es := <-sub.ch:
			if !p.stillAllowed(ctx, pr, familyID) {
				return nil
			}
			gt = p.gateNow(ctx, sub, pr, familyID, gt)
			if err := sw.Write(func() error {
				for _, e := range es {
					if e.Sequence <= last {
						continue
					}
					if err := writeEvent(w, e, gt); err != nil {
						return err
					}
					last = e.Sequence
				}
				return nil
			}); err != nil {
				return nil
			}
		}
	}
}

// sendStored sends the family's stored entries after sequence after, in
// stream order, page by page, each judged by the gate gateOf gives once
// the page is read, and returns the last sequence sent.
func (p *Projector) sendStored(ctx context.Context, w http.ResponseWriter, sw *sse.Writer, familyID string, after uint64, gateOf func() *gate) (uint64, error) {
	return p.storedAfter(ctx, familyID, after, func(es []readmodel.Entry) error {
		gt := gateOf()
		return sw.Write(func() error {
			for _, e := range es {
				if err := writeEvent(w, e, gt); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// storedPage is how many stored entries a stream reads at a time.
const storedPage = 500

// storedAfter hands page the family's stored entries after sequence
// after, in stream order, a page at a time, each page read on the read
// model then current and handed on once it is released. It returns the
// last sequence of the pages handed on (after, when none was).
func (p *Projector) storedAfter(ctx context.Context, familyID string, after uint64, page func([]readmodel.Entry) error) (uint64, error) {
	last := after
	for {
		p.hooks.beforeStoredPage.run()
		m, release, err := p.acquire()
		if err != nil {
			return last, err
		}
		entries, err := m.EntriesAfter(ctx, familyID, last, storedPage)
		release()
		if err != nil {
			return last, err
		}
		if len(entries) > 0 {
			if err := page(entries); err != nil {
				return last, err
			}
			last = entries[len(entries)-1].Sequence
		}
		if len(entries) < storedPage {
			return last, nil
		}
	}
}

// stillAllowed re-checks a coordinator's assignment before live entries
// are sent, so that a stream ends with the assignment.
func (p *Projector) stillAllowed(ctx context.Context, pr auth.Principal, familyID string) bool {
	return p.allowed(ctx, pr, familyID) == nil
}

// allowed is stillAllowed with its reason: nil, authorize's problem (403)
// once a coordinator is no longer assigned, or another error when the
// read model could not tell.
func (p *Projector) allowed(ctx context.Context, pr auth.Principal, familyID string) error {
	if pr.Kind != auth.Coordinator {
		return nil
	}
	m, release, err := p.acquire()
	if err != nil {
		return err
	}
	defer release()
	return authorize(ctx, m, pr, familyID)
}

// beyondStream reports whether sequence after, a client's Last-Event-ID,
// lies beyond both the read model's position and the stream's end: the
// stream was replaced by a shorter one and the read model rebuilt over it,
// and the client, resuming after a sequence the new stream has not
// reached, would wait for entries that never come. A client ahead of a
// projector that merely lags (after within the stream) is not beyond it.
// When the stream cannot be asked, it is not.
func (p *Projector) beyondStream(ctx context.Context, after uint64) bool {
	if after <= p.Position() {
		return false
	}
	s, err := p.opts.JS.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return false
	}
	return s.CachedInfo().State.LastSeq < after
}

// writeReset sends an event "reset" with the position the stream starts
// from again; its empty id: clears the client's last id, so that a client
// that reconnects without acting on it receives the new entries, not
// silence. A client that shows the timeline reads it again.
func writeReset(w http.ResponseWriter, position uint64) error {
	_, err := fmt.Fprintf(w, "id:\nevent: reset\ndata: {\"position\":%d}\n\n", position)
	return err
}

// writeEvent sends one entry, or, when the consent gate hides it, an
// event "hidden" that carries its id (so that Last-Event-ID resumes after
// it) and nothing of the entry.
func writeEvent(w http.ResponseWriter, e readmodel.Entry, gt *gate) error {
	if gt.hidden(e) {
		_, err := fmt.Fprintf(w, "id: %d\nevent: hidden\ndata: {\"hiddenByConsent\":1}\n\n", e.Sequence)
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\ndata: %s\n\n", e.Sequence, b)
	return err
}
