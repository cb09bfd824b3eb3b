// Package audit is the auditor API and CLI of Job og Familie (CONTRACT.md,
// "Auditor API"): what happened (the stored CloudEvents replayed in stream
// order), what was known when (a family's timeline and overview as of a
// moment), who looked at which family and why (the access log), and
// whether the read model tells the truth (a replay into a fresh projection
// compared with the live one by digests). Archives of the stream carry a
// SHA-256 hash chain so that tampering with them is found.
//
// # Reading the stream
//
// The whole stream is read with one ordered consumer, the fastest way
// JetStream offers. One family is found in the projector's read model,
// whose timeline keeps a (family_id, sequence) index, and its messages are
// fetched by sequence with direct gets: a consumer filtered on
// families.<id>.> would make the server scan the whole stream for a few
// messages. The read model must have applied the stream up to the end of
// the read; a read waits for that up to IndexWait, then answers 503.
//
// # Access
//
// Only auditor tokens are accepted (401 without a known token, 403 for
// any other principal), and the API writes nothing but the access log:
// every read of family data is appended to ACCESS_LOG before the data is
// sent, like the coordinator API's reads.
//
// # Processes
//
// The standalone mounts the API on its mux with its projector's read
// model. `audit serve` runs it alone with a read model of its own, kept by
// a readmodel.Follower under <data>/audit: the projector's own apply code
// fed by an ordered consumer, so the audit service needs only read access
// to NATS and never touches the projector's durable consumer or its files.
package audit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// Options configure the service.
type Options struct {
	NC *nats.Conn
	JS jetstream.JetStream
	// View is the read model: the projector's, or a Follower's.
	View *readmodel.View
	Auth *auth.Authenticator
	Log  *slog.Logger
	// DataDir is the process's data directory; verifications build their
	// temporary projection in DataDir/audit/verify.
	DataDir string
}

// Service is the auditor API.
type Service struct {
	reader    *Reader
	view      *readmodel.View
	auth      *auth.Authenticator
	log       *slog.Logger
	verifyDir string
	metrics   *metrics

	verifyMu sync.Mutex
	verify   VerifyStatus
}

// New makes the service.
func New(o Options) (*Service, error) {
	if o.NC == nil || o.JS == nil {
		return nil, errors.New("audit: no event store connection")
	}
	if o.View == nil {
		return nil, errors.New("audit: no read model")
	}
	if o.Auth == nil {
		return nil, errors.New("audit: no authenticator")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Service{
		reader:    &Reader{NC: o.NC, JS: o.JS, View: o.View},
		view:      o.View,
		auth:      o.Auth,
		log:       o.Log,
		verifyDir: filepath.Join(o.DataDir, "audit", "verify"),
		metrics:   newMetrics(),
		verify:    VerifyStatus{State: VerifyIdle},
	}, nil
}

// Mount registers the auditor API on mux.
func (s *Service) Mount(mux *http.ServeMux) {
	mux.Handle("GET /v1/audit/events", s.handle(s.handleEvents))
	mux.Handle("GET /v1/audit/families/{familyId}/timeline", s.handle(s.handleTimeline))
	mux.Handle("GET /v1/audit/access-log", s.handle(s.handleAccessLog))
	mux.Handle("POST /v1/audit/verify", s.handle(s.handleVerify))
	mux.Handle("GET /v1/audit/verify", s.handle(s.handleVerifyStatus))
}

// handle turns a handler that returns an error into an http.Handler; the
// error becomes problem details. Every response says the read model's
// position.
func (s *Service) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(readmodel.HeaderPosition, strconv.FormatUint(s.view.Position(), 10))
		if err := h(w, r); err != nil {
			var pr *problem.Problem
			if !errors.As(err, &pr) && r.Context().Err() == nil {
				s.log.Error("audit: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			problem.Write(w, err)
		}
	})
}

// auditor authenticates the request: auditors only.
func (s *Service) auditor(r *http.Request) (auth.Principal, error) {
	pr, err := s.auth.Authenticate(r)
	if err != nil {
		return auth.Principal{}, problem.Unauthorized("send Authorization: Bearer <token> with a token of the configuration")
	}
	if pr.Kind != auth.Auditor {
		return auth.Principal{}, problem.Forbidden("only auditors use the audit API")
	}
	return pr, nil
}

// storeProblem maps a failure to reach the event store or the read model
// onto 503, and leaves other errors alone.
func storeProblem(err error) error {
	var pr *problem.Problem
	switch {
	case err == nil || errors.As(err, &pr):
		return err
	case errors.Is(err, ErrBehind):
		return problem.Unavailable(err.Error())
	case errors.Is(err, context.Canceled):
		return err
	}
	return problem.Unavailable("the event store could not be read: " + err.Error())
}

type metrics struct {
	lines      *prometheus.CounterVec
	verifies   *prometheus.CounterVec
	accessFail prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jf_audit_lines_total", Help: "JSON Lines written by the audit API, by endpoint.",
		}, []string{"endpoint"}),
		verifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jf_audit_verifications_total", Help: "Verifications of the read model, by outcome (match, mismatch, failed).",
		}, []string{"outcome"}),
		accessFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jf_audit_access_log_failures_total", Help: "Auditor reads refused because the access log could not be written.",
		}),
	}
}

// Register adds the service's metrics to reg.
func (s *Service) Register(reg prometheus.Registerer) {
	reg.MustRegister(s.metrics.lines, s.metrics.verifies, s.metrics.accessFail)
}
