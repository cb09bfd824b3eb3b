package audit

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// HeaderLastSequence is on every JSON Lines response: the stream sequence
// up to which the response holds what the query selects. Pass it as
// after= to read on from there later.
const HeaderLastSequence = "X-Last-Sequence"

// checkParams refuses unknown and repeated query parameters, so that a
// typo never silently widens an audit query.
func checkParams(q url.Values, allowed ...string) error {
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			return problem.BadRequest("unknown query parameter " + strconv.Quote(k) + "; this endpoint takes " + strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return problem.BadRequest("query parameter " + strconv.Quote(k) + " given more than once")
		}
	}
	return nil
}

// ParseTime reads an RFC 3339 time, at its own offset, or a date, which is
// a day in Copenhagen (family.ParseDay): from=2024-03-01 begins at 00:00
// there, as the access report's "Fra 1. mar. 2024" and its Copenhagen
// times say, and to=2024-04-01 (exclusive) ends the day before. Every
// from and to of the audit service (events, access log, access report)
// is read by it.
func ParseTime(name, v string) (time.Time, error) {
	t, err := family.ParseMoment(v)
	if err != nil {
		return time.Time{}, problem.BadRequest(name + " must be an RFC 3339 time (2024-05-01T09:30:00Z) or a date (2024-05-01, a day in Copenhagen)")
	}
	return t.UTC(), nil
}

// ParseTypes reads comma-separated catalog names (praktik.started) or
// CloudEvents types.
func ParseTypes(v string) ([]events.Spec, error) {
	var out []events.Spec
	for _, t := range strings.Split(v, ",") {
		spec, err := readmodel.ParseType(t)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(out, func(s events.Spec) bool { return s.Name == spec.Name }) {
			out = append(out, spec)
		}
	}
	return out, nil
}

// familyParam reads the family parameter: "" when it is absent (every
// family), and a familyId when given; given empty or malformed it is
// refused, so that it never silently widens a query to every family.
func familyParam(q url.Values) (string, error) {
	if !q.Has("family") {
		return "", nil
	}
	v := q.Get("family")
	if !events.ValidID(v) {
		return "", problem.BadRequest("family must be a familyId matching " + events.IDPattern + "; leave it out for every family")
	}
	return v, nil
}

// parseRange reads from and to; from must lie before to.
func parseRange(q url.Values) (from, to time.Time, err error) {
	if v := q.Get("from"); v != "" {
		if from, err = ParseTime("from", v); err != nil {
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = ParseTime("to", v); err != nil {
			return
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		err = problem.BadRequest("from must lie before to")
	}
	return
}

// ParseEventsQuery reads the query of GET /v1/audit/events.
func ParseEventsQuery(q url.Values) (Query, error) {
	var out Query
	if err := checkParams(q, "family", "from", "to", "type", "after", "upcast"); err != nil {
		return out, err
	}
	var err error
	if out.FamilyID, err = familyParam(q); err != nil {
		return out, err
	}
	if v := q.Get("type"); v != "" {
		if out.Types, err = ParseTypes(v); err != nil {
			return out, err
		}
	}
	if out.From, out.To, err = parseRange(q); err != nil {
		return out, err
	}
	if v := q.Get("after"); v != "" {
		if out.After, err = strconv.ParseUint(v, 10, 64); err != nil {
			return out, problem.BadRequest("after must be a stream sequence (a non-negative integer)")
		}
	}
	switch q.Get("upcast") {
	case "", "false":
	case "true":
		out.Upcast = true
	default:
		return out, problem.BadRequest("upcast must be true or false")
	}
	return out, nil
}

// handleEvents is GET /v1/audit/events: the stored CloudEvents q selects,
// in stream order, as JSON Lines, streamed; with upcast=true, each as the
// latest version of its type (AppendUpcastLine).
//
// The read covers the stream up to its last sequence at the request
// (X-Last-Sequence; a family's read waits for the read model to reach it,
// waitIndex), so it holds every write acknowledged before the request:
// an X-Min-Position within that is met without waiting for it. One
// beyond it is waited for as on every read of the API
// (readmodel.AwaitPosition, then 503): once the read model has applied
// it the stream holds it, and the read covers the stream up to there. A
// family's read also waits for the read model to reach the read's end,
// and its X-Position says where the model then is.
func (s *Service) handleEvents(w http.ResponseWriter, r *http.Request) error {
	minPos, hasMin, err := readmodel.MinPosition(r)
	if err != nil {
		return err
	}
	pr, err := s.auditor(r)
	if err != nil {
		return err
	}
	q, err := ParseEventsQuery(r.URL.Query())
	if err != nil {
		return err
	}
	why, err := accesslog.Purpose(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	until := q.Until
	if q, err = s.reader.Resolve(ctx, q); err != nil {
		return storeProblem(err)
	}
	if hasMin && minPos > q.Until {
		if err := readmodel.AwaitPosition(ctx, w, s.view, minPos); err != nil {
			return err
		}
		q.Until = until
		if q, err = s.reader.Resolve(ctx, q); err != nil {
			return storeProblem(err)
		}
	}
	if q.FamilyID != "" {
		// A family's read is found in the read model's index: refused
		// at once while the model is not ready. The whole stream's is
		// read from the stream alone, and served.
		if err := s.view.Servable(ctx); err != nil {
			return err
		}
		if err := s.waitIndex(ctx, q.Until); err != nil {
			return err
		}
		// The answer is the model's index at where it now is, not at
		// where it was when the request came.
		w.Header().Set(readmodel.HeaderPosition, strconv.FormatUint(s.view.Position(), 10))
	}
	if err := s.logAccess(r, pr, q.FamilyID, why); err != nil {
		return err
	}
	w.Header().Set(HeaderLastSequence, strconv.FormatUint(q.Until, 10))
	appendLine := AppendLine
	if q.Upcast {
		appendLine = AppendUpcastLine
	}
	return s.streamLines(w, r, "events", appendLine, func(emit func(Stored) error) error {
		return s.reader.Replay(ctx, q, emit)
	})
}

// waitIndex waits until the read model has applied seq.
func (s *Service) waitIndex(ctx context.Context, seq uint64) error {
	wctx, cancel := context.WithTimeout(ctx, IndexWait)
	defer cancel()
	if err := s.view.WaitFor(wctx, seq); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pr := problem.Unavailable("the read model has not applied the stream up to " + strconv.FormatUint(seq, 10) +
			" within " + IndexWait.String() + "; it is at " + strconv.FormatUint(s.view.Position(), 10))
		pr.Position = seq
		return pr
	}
	return nil
}

// streamLines writes what run emits as JSON Lines, each line made by
// appendLine. The status line is
// sent with the first line (or at the end), so that a failure before any
// data is still a problem response; a failure after it aborts the
// connection, so that a client never takes a cut stream for a whole one.
// The write timeout of the server is lifted: a replay of the whole history
// takes as long as it takes.
func (s *Service) streamLines(w http.ResponseWriter, r *http.Request, endpoint string, appendLine func([]byte, Stored) []byte, run func(emit func(Stored) error) error) error {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		h := w.Header()
		h.Set("Content-Type", "application/x-ndjson")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var (
		line []byte
		n    int
	)
	err := run(func(st Stored) error {
		start()
		line = appendLine(line[:0], st)
		n++
		_, err := bw.Write(line)
		return err
	})
	s.metrics.lines.WithLabelValues(endpoint).Add(float64(n))
	if err == nil {
		start()
		if err = bw.Flush(); err == nil {
			return nil
		}
	}
	if r.Context().Err() != nil {
		return nil // the client left
	}
	if !started {
		return storeProblem(err)
	}
	s.log.Error("audit: stream cut", "endpoint", endpoint, "lines", n, "err", err)
	panic(http.ErrAbortHandler)
}
