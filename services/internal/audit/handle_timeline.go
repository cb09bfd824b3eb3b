package audit

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// handleTimeline is GET /v1/audit/families/{familyId}/timeline?asOf=T:
// the family's timeline and overview as they were known at T (default:
// now), from the events recorded (JetStream timestamp) up to T. What is
// known of a moment still to come is what is known now: a T after the
// request is the request's now, and the answer gives it, so that asking
// again for the asOf answered gives the same view however much is
// recorded later.
func (s *Service) handleTimeline(w http.ResponseWriter, r *http.Request) error {
	// A read model that has not caught up would answer with a timeline
	// short of events: refused at once (503) until it has.
	if err := s.view.Await(w, r); err != nil {
		return err
	}
	pr, err := s.auditor(r)
	if err != nil {
		return err
	}
	fam := r.PathValue("familyId")
	if !events.ValidID(fam) {
		// Not repeated: what is no id may be a CPR number.
		return problem.NotFound("no family: the family id is not an id (" + events.IDPattern + ", and no CPR number)")
	}
	q := r.URL.Query()
	if err := checkParams(q, "asOf"); err != nil {
		return err
	}
	now := time.Now().UTC()
	asOf := now
	if v := q.Get("asOf"); v != "" {
		if asOf, err = family.ParseInstant(v); err != nil {
			return problem.BadRequest("asOf must be an RFC 3339 time from 1900 to 2200, e.g. 2024-05-01T09:30:00Z")
		}
		if asOf.After(now) {
			asOf = now
		}
	}
	why, err := accesslog.Purpose(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	// Everything stored before the request must be in the read model, or
	// an event recorded before asOf could be missing.
	last, err := s.reader.LastSequence(ctx, eventstore.FamilyStream)
	if err != nil {
		return storeProblem(err)
	}
	if err := s.waitIndex(ctx, last); err != nil {
		return err
	}
	view, err := s.view.AsOf(ctx, fam, asOf)
	if errors.Is(err, readmodel.ErrUnknownFamily) {
		return problem.NotFound("no events of family " + strconv.Quote(fam) + " have been stored")
	}
	if err != nil {
		return err
	}
	if err := s.logAccess(r, pr, fam, why); err != nil {
		return err
	}
	// The entries were encoded as they were read; they are written from
	// there rather than copied into one body first (3.4 MB for 10k).
	enc, err := view.Encode()
	if err != nil {
		return err
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(5 * time.Minute))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(enc.Len()+1))
	if _, err := enc.WriteTo(w); err == nil {
		_, _ = io.WriteString(w, "\n")
	}
	return nil
}
