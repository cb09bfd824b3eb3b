// Package ingest is the department ingest API shared by the SOF, BIF, BUF
// and SUF services: it turns what a department system sends into validated,
// idempotent, race-free events on JetStream. A department is its name and
// the event types it owns, nothing more.
package ingest

import (
	"time"

	"context"
	"errors"
	"log/slog"
	"path/filepath"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/openapi"
	"kk.dk/jobogfamilie/services/internal/service"
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
	// Sunsets end the acceptance of earlier versions of event types
	// (config.Sunsets); Now is the clock they are judged by (time.Now
	// when nil).
	Sunsets map[string]time.Time
	Now     func() time.Time
	// guard, when set, refuses writes while the event store is damaged.
	guard *eventstore.Guard
	stop  context.CancelFunc
}

// NewService makes the ingest service for depts on p and starts following
// the stream in the background until Stop. The end of ctx does not stop
// it: a process ends ctx to drain its HTTP server, and the requests in
// flight then still need the index; Stop comes after the drain.
func NewService(ctx context.Context, p service.Parts, depts []events.Department) (*Service, error) {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	pub, err := eventstore.NewPublisher(p.Store.NC)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	dir := ""
	if p.Config.DataDir != "" {
		dir = filepath.Join(p.Config.DataDir, "ingest", "index")
	}
	idx, err := OpenIndex(IndexOptions{Dir: dir, CacheFamilies: p.Config.IngestCacheFamilies, Keys: p.Keys, Log: log})
	if err != nil {
		stop()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := idx.Run(ctx, p.Store.JS); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("ingest index stopped", "err", err)
		}
	}()
	s := &Service{Departments: depts, Auth: p.Auth, Writer: &Writer{Index: idx, Publisher: pub, Keys: p.Keys, Log: log}, Log: log,
		stop: func() { stop(); <-done }, Sunsets: p.Config.Sunsets}
	if p.Guard != nil {
		s.guard = p.Guard
		p.Guard.Seen(eventstore.FamilyStream, "ingest index", idx.Seen)
	}
	if p.Metrics != nil {
		s.metrics = newMetrics(s.Writer)
		s.metrics.register(p.Metrics)
	}
	return s, nil
}

// Routes are POST /departments/{dept}/v1/events for each department.
func (s *Service) Routes() []service.Route {
	var out []service.Route
	for _, d := range s.Departments {
		out = append(out, service.Route{Method: "POST", Pattern: "/departments/" + string(d) + "/v1/events", Handle: s.handleEvents(d)})
	}
	return out
}

// Checks: ready once the index has caught up with the stream.
func (s *Service) Checks() map[string]service.Check {
	return map[string]service.Check{"ingest-index": s.Ready}
}

// API is the OpenAPI description of the departments' endpoints.
func (s *Service) API() openapi.Fragment { return openapi.Ingest(s.Departments) }

// Stop stops following the stream and closes the index's store, once the
// writes in progress are done with it; a write after it is answered 503.
func (s *Service) Stop() {
	if s.stop != nil {
		s.stop()
	}
}

// Ready is nil once the index has caught up with the stream.
func (s *Service) Ready(context.Context) error {
	if !s.Writer.Index.Ready() {
		return errors.New(s.Writer.Index.Progress())
	}
	return nil
}
