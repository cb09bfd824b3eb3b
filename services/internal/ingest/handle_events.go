package ingest

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/service"
)

type response struct {
	Events   []Result `json:"events"`
	Position uint64   `json:"position"`
}

// handleEvents is POST /departments/{dept}/v1/events; it counts every
// request by outcome and status, an error by the status it will be
// answered with.
func (s *Service) handleEvents(dept events.Department) problem.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		start := time.Now()
		n, outcome, err := s.serve(w, r, dept)
		status := http.StatusOK
		switch {
		case err != nil:
			status = problem.StatusOf(err)
		case outcome == "stored":
			status = http.StatusCreated
		}
		if s.metrics != nil {
			s.metrics.events.WithLabelValues(string(dept), outcome).Add(float64(max(n, 1)))
			s.metrics.requests.WithLabelValues(string(dept), strconv.Itoa(status)).Observe(time.Since(start).Seconds())
		}
		return err
	}
}

// serve handles one request; it returns how many events it carried and an
// outcome label for metrics.
func (s *Service) serve(w http.ResponseWriter, r *http.Request, dept events.Department) (int, string, error) {
	p, err := s.Auth.Authenticate(r)
	if err != nil {
		return 0, "unauthorized", err
	}
	if p.Kind != auth.Department || p.Department != dept {
		return 0, "forbidden", problem.Forbidden(fmt.Sprintf("principal %q may not emit events for department %s", p.Name, dept))
	}

	if err := s.guard.Refusal(); err != nil {
		// The index cannot be trusted on a truncated or replaced stream:
		// an old id would be taken as new.
		return 0, "unavailable", integrityProblem(err)
	}
	if !s.Writer.Index.Ready() {
		// Deciding on a state that has not caught up with the stream would
		// only produce conflicts and misjudged duplicates.
		return 0, "unavailable", catchingUpProblem(s.Writer.Index.Progress())
	}
	ces, batch, err := s.decode(w, r, dept)
	if err != nil {
		if problem.StatusOf(err) == http.StatusForbidden {
			return 0, "forbidden", err
		}
		return 0, "rejected", err
	}
	// Every answer from here on, a refusal as much as a success, is an
	// answer to the events sent: it carries their deprecation (decode has
	// set it for a body that does not parse).
	heads := make([]events.Head, len(ces))
	for i, ce := range ces {
		heads[i] = events.Head{Type: ce.Type(), Source: ce.Source()}
	}
	s.deprecation(w.Header(), typesOf(heads))
	// Whether the department may send these events at all is decided
	// before their content: a department has no business learning what
	// another one's events must hold. (For a body that does not parse,
	// decode has decided it, by the same rule.)
	if err := foreign(heads, dept, batch, nil); err != nil {
		return len(ces), "forbidden", err
	}
	items := make([]Item, len(ces))
	ids := make(map[string]int, len(ces))
	// The events of versions past their sunset, refused unless their ids
	// are stored already (sunsetRefusal), and the first event refused
	// otherwise: the batch is refused for whichever comes first.
	var sunset []int
	var refused error
	refusedAt := len(ces)
	// The first event of the batch that reuses the id of an earlier one
	// for other content: a 409, as a reuse of a stored id is, once every
	// event passed validation.
	var reused *Refusal
	for i, ce := range ces {
		env, err := events.Validate(ce)
		if err != nil {
			refused, refusedAt = eventsProblem(err, i, batch), i
			break
		}
		events.StampSchema(&ce)
		data, err := events.Marshal(ce)
		if err != nil {
			refused, refusedAt = indexed(problem.BadRequest(err.Error()), i, batch), i
			break
		}
		items[i] = Item{Env: env, Data: data, Hash: events.ContentHash(ce)}
		if j, dup := ids[ce.ID()]; dup {
			if items[j].Hash != items[i].Hash {
				if reused == nil {
					reused = &Refusal{Index: i, Rule: "id-reused", Pointer: "/id",
						Detail: fmt.Sprintf("event id %q is the id of event %d of the batch, with other content", ce.ID(), j)}
				}
				continue
			}
			// The same event twice in one request is no re-send but a
			// mistake of the client's, as JetStream's atomic batches and
			// other batch APIs have it: the request is malformed.
			p := problem.BadRequest(fmt.Sprintf("event id %q appears at index %d and %d of the batch: send an event once per batch", ce.ID(), j, i))
			p.Errors = []problem.Field{{Pointer: "/id", Detail: fmt.Sprintf("the same event as at index %d", j)}}
			refused, refusedAt = indexedAt(p, i, batch), i
			break
		}
		ids[ce.ID()] = i
		if !env.Spec.IsLatest() && s.sunset(env.Spec) != nil {
			sunset = append(sunset, i)
		}
	}
	if len(sunset) > 0 {
		i, p, err := s.sunsetRefusal(items, sunset)
		if err != nil {
			return len(ces), outcomeOf(err), writeProblem(err, batch)
		}
		if p != nil && i < refusedAt {
			return len(ces), "rejected", indexedAt(p, i, batch)
		}
	}
	if refused != nil {
		return len(ces), "rejected", refused
	}
	if reused != nil {
		return len(ces), outcomeOf(reused), writeProblem(reused, batch)
	}

	results, err := s.Writer.Write(r.Context(), items)
	if err != nil {
		return len(ces), outcomeOf(err), writeProblem(err, batch)
	}
	resp := response{Events: results}
	created := false
	for _, res := range results {
		resp.Position = max(resp.Position, res.Sequence)
		created = created || !res.Duplicate
	}
	status, outcome := http.StatusOK, "duplicate"
	if created {
		status, outcome = http.StatusCreated, "stored"
	}
	w.Header().Set("X-Position", strconv.FormatUint(resp.Position, 10))
	return len(ces), outcome, service.JSON(w, status, resp)
}

// owned refuses an event whose type (when the catalog knows it) dept does
// not own, or whose source names another department. An unknown type or a
// source that names no department is left to validation (422). Values are
// not echoed: a source may hold what validation would refuse.
func owned(typ, source string, dept events.Department) *problem.Problem {
	if d, ok := events.SourceDepartment(source); ok && d != dept {
		return problem.Forbidden(fmt.Sprintf("the source names department %s; %s may send only its own events", d, dept))
	}
	if spec, ok := events.ByType(typ); ok && !spec.OwnedBy(dept) {
		return problem.Forbidden(fmt.Sprintf("type %s is not owned by %s (owners: %v)", spec.Type(), dept, spec.Owners))
	}
	return nil
}

// foreign is owned for the events of a request, by the type and source of
// each (of a body that does not parse, as far as events.Heads can read
// them): the first event dept may not send is refused (403) before
// whatever else is wrong with the body's events, which would tell what
// another department's events hold. err is answered when every event may
// be sent (the parse error of a body that does not parse, nil otherwise).
func foreign(heads []events.Head, dept events.Department, batch bool, err error) error {
	for i, h := range heads {
		if p := owned(h.Type, h.Source, dept); p != nil {
			return indexed(p, i, batch)
		}
	}
	return err
}

// typesOf is the types of heads, as far as they could be read.
func typesOf(heads []events.Head) []string {
	types := make([]string, len(heads))
	for i, h := range heads {
		types[i] = h.Type
	}
	return types
}

// decode reads the body in the request's CloudEvents mode. A body that is
// readable but does not parse is refused for an event dept may not send
// (403) before its problems (400) are reported; either answer carries the
// deprecation of the events whose types can be read.
func (s *Service) decode(w http.ResponseWriter, r *http.Request, dept events.Department) ([]cloudevents.Event, bool, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	switch mt {
	case ContentStructured, ContentBatch, ContentJSON:
	default:
		return nil, false, problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			fmt.Sprintf("Content-Type %q: send %s, %s, or %s with ce-* headers", r.Header.Get("Content-Type"),
				ContentStructured, ContentBatch, ContentJSON))
	}
	// JSON is UTF-8 (RFC 8259, section 8.1): a body declared in another
	// charset is another content type, in every mode, and is not read as if
	// it were UTF-8.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, false, problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			fmt.Sprintf("Content-Type %q: JSON is UTF-8; send charset=utf-8 or no charset", r.Header.Get("Content-Type")))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, false, problem.New(http.StatusRequestEntityTooLarge, "too-large", "Request body too large",
				fmt.Sprintf("the body exceeds %d bytes", MaxBody))
		}
		return nil, false, problem.BadRequest("reading the body: " + err.Error())
	}
	switch mt {
	case ContentStructured:
		ev, err := events.ParseStructured(body)
		if err != nil {
			heads, _ := events.Heads(body, false)
			s.deprecation(w.Header(), typesOf(heads))
			return nil, false, foreign(heads, dept, false, eventsProblem(err, 0, false))
		}
		return []cloudevents.Event{ev}, false, nil
	case ContentBatch:
		evs, err := events.ParseBatch(body)
		if err != nil {
			heads, _ := events.Heads(body, true)
			s.deprecation(w.Header(), typesOf(heads))
			return nil, true, foreign(heads, dept, true, eventsProblem(err, -1, true))
		}
		return evs, true, nil
	default:
		// The attributes are headers: readable whatever the body holds.
		// (err is nil here: the body was read.)
		if r.Header.Get("ce-specversion") == "" {
			err = problem.BadRequest("binary mode needs ce-specversion, ce-id, ce-source, ce-type, ce-subject and ce-time headers; or send " + ContentStructured)
		}
		var ev cloudevents.Event
		if err == nil {
			if ev, err = events.FromBinary(r.Header, body); err != nil {
				err = eventsProblem(err, 0, false)
			}
		}
		if err != nil {
			head := events.BinaryHead(r.Header)
			s.deprecation(w.Header(), []string{head.Type})
			return nil, false, foreign([]events.Head{head}, dept, false, err)
		}
		return []cloudevents.Event{ev}, false, nil
	}
}
