// Package ingest is the department ingest API shared by the SOF, BIF, BUF
// and SUF services: it turns what a department system sends into validated,
// idempotent, race-free events on JetStream. A department is its name and
// the event types it owns, nothing more.
package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/problem"
)

// MaxBody is the largest request body accepted (413 beyond).
const MaxBody = 1 << 20

// MaxBatch is the most events one batch request may carry.
const MaxBatch = 500

// Media types of CloudEvents over HTTP.
const (
	ContentStructured = "application/cloudevents+json"
	ContentBatch      = "application/cloudevents-batch+json"
	ContentJSON       = "application/json"
)

// Service is the ingest API for a set of departments (one in a department
// binary, all four in the standalone).
type Service struct {
	Departments []events.Department
	Auth        *auth.Authenticator
	Writer      *Writer
	Log         *slog.Logger
	metrics     *metrics
	// guard, when set, refuses writes while the event store is damaged.
	guard *eventstore.Guard
}

type metrics struct {
	events   *prometheus.CounterVec
	requests *prometheus.HistogramVec
}

// Register adds the service's metrics to reg.
func (s *Service) Register(reg prometheus.Registerer) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jf_ingest_events_total", Help: "Events received by ingest, by department and outcome.",
		}, []string{"department", "outcome"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jf_ingest_request_seconds", Help: "Ingest request latency by department and status.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1, 5},
		}, []string{"department", "status"}),
	}
	reg.MustRegister(m.events, m.requests,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "jf_ingest_batch_requests_total", Help: "Batch requests (of more than one new event) sent to JetStream.",
		}, func() float64 { r, _ := s.Writer.BatchStats(); return float64(r) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "jf_ingest_atomic_batches_total", Help: "JetStream atomic batches that carried them: batch requests that arrive together share one.",
		}, func() float64 { _, b := s.Writer.BatchStats(); return float64(b) }))
	s.metrics = m
}

// Mount registers POST /departments/{dept}/v1/events for each department.
func (s *Service) Mount(mux *http.ServeMux) {
	for _, d := range s.Departments {
		mux.Handle("POST /departments/"+string(d)+"/v1/events", s.handler(d))
	}
}

type response struct {
	Events   []Result `json:"events"`
	Position uint64   `json:"position"`
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

func (s *Service) handler(dept events.Department) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		n, outcome, err := s.serve(rec, r, dept)
		if err != nil {
			var p *problem.Problem
			if !errors.As(err, &p) {
				s.log().Error("ingest failed", "department", dept, "err", err)
			}
			problem.Write(rec, err)
		}
		if s.metrics != nil {
			s.metrics.events.WithLabelValues(string(dept), outcome).Add(float64(max(n, 1)))
			s.metrics.requests.WithLabelValues(string(dept), strconv.Itoa(rec.status)).Observe(time.Since(start).Seconds())
		}
	})
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// serve handles one request; it returns how many events it carried and an
// outcome label for metrics.
func (s *Service) serve(w http.ResponseWriter, r *http.Request, dept events.Department) (int, string, error) {
	p, err := s.Auth.Authenticate(r)
	if err != nil {
		return 0, "unauthorized", problem.Unauthorized("send Authorization: Bearer <token> with a token of the configuration")
	}
	if p.Kind != auth.Department || p.Department != dept {
		return 0, "forbidden", problem.Forbidden(fmt.Sprintf("principal %q may not emit events for department %s", p.Name, dept))
	}

	if err := s.guard.Refusal(); err != nil {
		// The index cannot be trusted on a truncated or replaced stream:
		// an old id would be taken as new.
		p := problem.Unavailable(err.Error() + "; writes are refused")
		p.Type, p.Title = problem.TypeBase+"store-integrity", "Event store integrity check failed"
		return 0, "unavailable", p
	}
	if !s.Writer.Index.Ready() {
		// Deciding on a state that has not caught up with the stream would
		// only produce conflicts and misjudged duplicates.
		p := problem.Unavailable(fmt.Sprintf("ingest is catching up with the event store (at sequence %d); retry shortly", s.Writer.Index.Applied()))
		return 0, "unavailable", p
	}
	ces, batch, err := s.decode(w, r)
	if err != nil {
		return 0, "rejected", err
	}
	// Whether the department may send these events at all is decided
	// before their content: a department has no business learning what
	// another one's events must hold.
	for i, ce := range ces {
		if err := owned(ce, dept); err != nil {
			return len(ces), "forbidden", indexed(err, i, batch)
		}
	}
	items := make([]Item, len(ces))
	ids := make(map[string]int, len(ces))
	for i, ce := range ces {
		env, err := events.Validate(ce)
		if err != nil {
			return len(ces), "rejected", eventsProblem(err, i, batch)
		}
		if j, dup := ids[ce.ID()]; dup {
			return len(ces), "rejected", indexed(problem.BadRequest(fmt.Sprintf(
				"event id %q appears at index %d and %d of the batch", ce.ID(), j, i)), i, batch)
		}
		ids[ce.ID()] = i
		events.StampSchema(&ce)
		data, err := events.Marshal(ce)
		if err != nil {
			return len(ces), "rejected", indexed(problem.BadRequest(err.Error()), i, batch)
		}
		items[i] = Item{Env: env, Data: data, Hash: events.ContentHash(ce)}
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
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Position", strconv.FormatUint(resp.Position, 10))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
	return len(ces), outcome, nil
}

// owned refuses an event whose type (when the catalog knows it) dept does
// not own, or whose source names another department. An unknown type or a
// source that names no department is left to validation (422). Values are
// not echoed: a source may hold what validation would refuse.
func owned(ce cloudevents.Event, dept events.Department) *problem.Problem {
	if d, ok := events.SourceDepartment(ce.Source()); ok && d != dept {
		return problem.Forbidden(fmt.Sprintf("the source names department %s; %s may send only its own events", d, dept))
	}
	if spec, ok := events.ByType(ce.Type()); ok && !spec.OwnedBy(dept) {
		return problem.Forbidden(fmt.Sprintf("type %s is not owned by %s (owners: %v)", spec.Type(), dept, spec.Owners))
	}
	return nil
}

// decode reads the body in the request's CloudEvents mode.
func (s *Service) decode(w http.ResponseWriter, r *http.Request) ([]cloudevents.Event, bool, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
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
			return nil, false, eventsProblem(err, 0, false)
		}
		return []cloudevents.Event{ev}, false, nil
	case ContentBatch:
		evs, err := events.ParseBatch(body)
		if err != nil {
			return nil, true, eventsProblem(err, -1, true)
		}
		return evs, true, nil
	default:
		if r.Header.Get("ce-specversion") == "" {
			return nil, false, problem.BadRequest("binary mode needs ce-specversion, ce-id, ce-source, ce-type, ce-subject and ce-time headers; or send " + ContentStructured)
		}
		ev, err := events.FromBinary(r.Header, body)
		if err != nil {
			return nil, false, eventsProblem(err, 0, false)
		}
		return []cloudevents.Event{ev}, false, nil
	}
}

// eventsProblem maps a parse or validation error of package events; i is
// the event's index in a batch (-1 when the error names it in pointers).
func eventsProblem(err error, i int, batch bool) error {
	var ee *events.Error
	if !errors.As(err, &ee) {
		return problem.BadRequest(err.Error())
	}
	var p *problem.Problem
	switch ee.Kind {
	case events.KindInvalid:
		p = problem.New(http.StatusUnprocessableEntity, "invalid-event", "Invalid event", ee.Detail)
	default:
		p = problem.BadRequest(ee.Detail)
		p.Type = problem.TypeBase + "malformed-event"
		p.Title = "Malformed CloudEvent"
	}
	prefix := ""
	if batch && i >= 0 {
		prefix = "/" + strconv.Itoa(i)
	}
	for _, pr := range ee.Problems {
		p.Errors = append(p.Errors, problem.Field{Pointer: prefix + pr.Pointer, Detail: pr.Detail})
	}
	if p.Detail == "" && len(p.Errors) > 0 {
		p.Detail = fmt.Sprintf("%d problem(s); the first: %s: %s", len(p.Errors), p.Errors[0].Pointer, p.Errors[0].Detail)
	}
	return indexed(p, i, batch)
}

func indexed(p *problem.Problem, i int, batch bool) *problem.Problem {
	if batch && i >= 0 {
		p.Index = &i
		p.Detail = fmt.Sprintf("event %d: %s (the batch was not stored)", i, p.Detail)
	}
	return p
}

func outcomeOf(err error) string {
	var ref *Refusal
	switch {
	case errors.As(err, &ref):
		return "conflict"
	case errors.Is(err, ErrBusy):
		return "conflict"
	case errors.Is(err, eventstore.ErrUnavailable):
		return "unavailable"
	}
	return "error"
}

func writeProblem(err error, batch bool) error {
	var ref *Refusal
	switch {
	case errors.As(err, &ref):
		p := problem.Conflict("invariant", ref.Detail)
		if ref.Rule == "id-reused" {
			p.Type = problem.TypeBase + "id-reused"
		}
		p.Rule = ref.Rule
		if ref.Pointer != "" {
			ptr := ref.Pointer
			if batch {
				ptr = "/" + strconv.Itoa(ref.Index) + ptr
			}
			p.Errors = []problem.Field{{Pointer: ptr, Detail: ref.Detail}}
		}
		return indexed(p, ref.Index, batch)
	case errors.Is(err, ErrBusy):
		p := problem.Conflict("concurrency", "the family changed concurrently; retry with the same event id")
		p.Rule = "concurrency"
		return p
	case errors.Is(err, eventstore.ErrStoreFull):
		p := problem.Unavailable("the event store has no room left (disk or storage limit); nothing of this request was stored. Retry with the same event id once an operator has made room")
		p.Type, p.Title = problem.TypeBase+"store-full", "Event store full"
		return p
	case errors.Is(err, eventstore.ErrUnavailable):
		return problem.Unavailable("the event store is unavailable or did not confirm the write; retry with the same event id (retries are idempotent)")
	}
	return err
}
