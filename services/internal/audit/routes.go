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
// One family's access log (the auditor's access log, the data protection
// officer's access report) is found the same way, in an index of
// ACCESS_LOG (accesslog.Index): the projector's in the standalone, and one
// `audit serve` keeps in <data>/audit/access-index.db; the entries logged
// after the index's last are read from the log by a consumer from there
// on.
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
	"os"
	"path/filepath"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/openapi"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/shred"
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
	// Keys decrypt the events' personal fields (package shred).
	Keys *shred.Keyring
}

// Service is the auditor API.
type Service struct {
	reader    *Reader
	view      *readmodel.View
	auth      *auth.Authenticator
	log       *slog.Logger
	verifyDir string
	metrics   *metrics

	// follower keeps the read model of `audit serve`; nil on another's.
	follower *readmodel.Follower
	// stopAccess ends the access log's index of the service's own
	// (indexAccess); nil with another's.
	stopAccess func()

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
		reader:    &Reader{NC: o.NC, JS: o.JS, View: o.View, Keys: o.Keys},
		view:      o.View,
		auth:      o.Auth,
		log:       o.Log,
		verifyDir: filepath.Join(o.DataDir, "audit", "verify"),
		metrics:   newMetrics(),
		verify:    VerifyStatus{State: VerifyIdle},
	}, nil
}

// NewService is the auditor API on p. With view nil it keeps a read model
// of its own under <data>/audit, fed by a readmodel.Follower, and with
// access nil an index of the access log there too; Stop closes them. The
// standalone passes its projector's view and index instead.
func NewService(ctx context.Context, p service.Parts, view *readmodel.View, access *accesslog.Index) (*Service, error) {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	var follower *readmodel.Follower
	if view == nil {
		f, err := readmodel.Follow(ctx, readmodel.FollowerOptions{
			Dir: filepath.Join(p.Config.DataDir, "audit"), JS: p.Store.JS, Log: log.With("component", "follower"), Keys: p.Keys,
		})
		if err != nil {
			return nil, err
		}
		follower, view = f, f.View()
	}
	s, err := New(Options{NC: p.Store.NC, JS: p.Store.JS, View: view, Auth: p.Auth, Log: log, DataDir: p.Config.DataDir, Keys: p.Keys})
	if err != nil {
		if follower != nil {
			follower.Close()
		}
		return nil, err
	}
	s.follower = follower
	s.reader.Access = access
	if access == nil {
		if err := s.indexAccess(ctx, filepath.Join(p.Config.DataDir, "audit"), p.Store.JS); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if p.Metrics != nil {
		s.Register(p.Metrics)
	}
	if follower != nil && p.Guard != nil {
		p.Guard.Seen(eventstore.FamilyStream, "audit read model", follower.Position)
	}
	return s, nil
}

// Routes are the auditor API.
func (s *Service) Routes() []service.Route {
	routes := []service.Route{
		{Method: "GET", Pattern: "/v1/audit/events", Handle: s.handleEvents, GetOnly: true},
		{Method: "GET", Pattern: "/v1/audit/families/{familyId}/timeline", Handle: s.handleTimeline, GetOnly: true},
		{Method: "GET", Pattern: "/v1/audit/access-log", Handle: s.handleAccessLog},
		{Method: "POST", Pattern: "/v1/audit/verify", Handle: s.handleVerify},
		{Method: "GET", Pattern: "/v1/audit/verify", Handle: s.handleVerifyStatus},
		// Privacy (the data protection officer).
		{Method: "GET", Pattern: "/v1/privacy/families/{familyId}/access-report", Handle: s.handleAccessReport, GetOnly: true},
	}
	return service.Positioned(routes, readmodel.HeaderPosition, s.view.Position)
}

// Checks: with a read model of its own, ready once it is.
func (s *Service) Checks() map[string]service.Check {
	if s.follower == nil {
		return nil
	}
	return map[string]service.Check{"read-model": s.follower.Ready}
}

// API is the OpenAPI description of Routes.
func (s *Service) API() openapi.Fragment { return openapi.Audit() }

// Stop closes the service's own read model and access log's index, if it
// has them.
func (s *Service) Stop() {
	if s.stopAccess != nil {
		s.stopAccess()
	}
	if s.follower != nil {
		s.follower.Close()
	}
}

// indexAccess opens an index of the access log of the service's own in
// dir and follows the log with it until Stop.
func (s *Service) indexAccess(ctx context.Context, dir string, js jetstream.JetStream) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	x, err := accesslog.OpenIndex(ctx, filepath.Join(dir, accesslog.IndexFile), s.log)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		x.Follow(fctx, js)
	}()
	s.reader.Access = x
	s.stopAccess = func() {
		cancel()
		<-done
		_ = x.Close()
	}
	return nil
}

// auditor authenticates the request: auditors only.
func (s *Service) auditor(r *http.Request) (auth.Principal, error) {
	pr, err := s.auth.Authenticate(r)
	if err != nil {
		return auth.Principal{}, err
	}
	if pr.Kind != auth.Auditor {
		return auth.Principal{}, problem.Forbidden("only auditors use the audit API")
	}
	return pr, nil
}
