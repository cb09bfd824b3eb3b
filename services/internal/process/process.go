// Package process starts every Job og Familie server the same way: tokens,
// the event store and its integrity guard, the services of the binary on
// those parts, the operational endpoints and /openapi.json, the HTTP
// listener, and a graceful stop in the reverse order. A binary names only
// its services.
package process

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/openapi"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/server"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// Running is a started process.
type Running struct {
	Name  string
	Store *eventstore.Store
	// Guard checks the streams' integrity.
	Guard *eventstore.Guard
	Auth  *auth.Authenticator
	// Keys are the families' data keys (package shred).
	Keys *shred.Keyring
	HTTP *server.Server
	Log  *slog.Logger
	// Routes are the API operations served, as "METHOD /pattern"; the
	// OpenAPI document describes exactly these.
	Routes []string
	// Pages are the routes of browser apps (service.Route.Page), which
	// are not API operations and not in the OpenAPI document.
	Pages []string
	// OpenAPI is the document served at /openapi.json.
	OpenAPI []byte

	services  []service.Service
	cancel    context.CancelFunc
	stopGuard func()
	served    chan error
	once      sync.Once
	// waitErr holds what the server ended with, so that Wait and Stop can
	// be called again (a test's Stop and its cleanup's) and answer alike.
	waitOnce sync.Once
	waitErr  error
	// interrupted: ctx ended during Start (Interrupted).
	interrupted bool
}

// Start opens the store, builds the services in order on the same parts,
// and starts serving HTTP. Wait returns when ctx ends (or Stop is called)
// and everything has stopped. When ctx ends while Start is still starting
// (SIGINT or SIGTERM during the start), that is a stop asked for, not a
// failed start: Start stops what it had started, logs "stopped during
// start" and returns a Running that is Interrupted, whose Wait returns
// nil at once.
func Start(ctx context.Context, cfg config.Config, name string, log *slog.Logger, builds ...service.Build) (*Running, error) {
	if log == nil {
		log = slog.Default()
	}
	authn, err := auth.Load(cfg.ConfigPath)
	if err != nil {
		return nil, err
	}
	if o := cfg.OIDC; o.Issuer != "" {
		v, err := auth.NewVerifier(auth.OIDCOptions{Issuer: o.Issuer, Audience: o.Audience,
			RoleClaim: o.RoleClaim, EmployeeClaim: o.EmployeeClaim, JWKSLifetime: o.JWKSLifetime})
		if err != nil {
			return nil, err
		}
		authn.UseOIDC(v)
		log.Info("JWT access tokens accepted", "issuer", o.Issuer, "audience", o.Audience)
	}
	if authn.UsesDevTokens() {
		log.Warn("DEV TOKENS ACCEPTED: this process runs with the dev config; never expose it. Pass -config with your own token hashes.")
	}
	opts, err := cfg.StoreOptions(name, log)
	if err != nil {
		return nil, err
	}
	guard, err := eventstore.NewGuard(cfg.GuardOptions(name, log))
	if err != nil {
		return nil, err
	}
	opts.Guard = guard
	stop := ctx
	ctx, cancel := context.WithCancel(ctx)
	run := &Running{Name: name, Guard: guard, Auth: authn, Log: log, cancel: cancel, served: make(chan error, 1)}
	// fail undoes what was started. It is decided by whether the stop
	// was asked for, not by what err says: a step that failed after
	// ctx ended was cut short by the stop (err, often a context
	// cancellation, is logged with it).
	fail := func(err error) (*Running, error) {
		run.abort()
		if stop.Err() == nil {
			return nil, err
		}
		run.interrupted = true
		log.Info("stopped during start", "err", err)
		return run, nil
	}
	if err := stop.Err(); err != nil {
		return fail(err)
	}
	store, err := eventstore.Open(ctx, opts)
	if err != nil {
		return fail(err)
	}
	run.Store = store
	ops := server.NewOps()
	ops.AddCheck("eventstore", store.Ready)
	ops.AddCheck("store-integrity", guard.Ready)
	guard.Register(ops.Registry)
	guard.Seen(eventstore.AccessLogStream, "access log entries acknowledged", func() uint64 { return accesslog.Acknowledged(store.JS) })
	master, err := cfg.LoadMasterKey(authn.UsesDevTokens())
	if err != nil {
		return fail(err)
	}
	keys := shred.New(store.JS, master)
	keys.Required = cfg.Encryption
	run.Keys = keys
	// Every process of a deployment must hold the same master key; its
	// id is logged to compare, and a process whose key did not wrap the
	// bucket's newest data key is not ready and says whose did.
	log.Info("master key", "id", master.ID())
	ops.AddCheck("master-key", keys.CheckMaster)
	parts := service.Parts{Config: cfg, Store: store, Auth: authn, Guard: guard, Metrics: ops.Registry, Log: log, Keys: keys}
	api := []openapi.Fragment{openapi.Ops()}
	for _, build := range builds {
		if err := stop.Err(); err != nil {
			return fail(err)
		}
		svc, err := build(ctx, parts)
		if err != nil {
			return fail(err)
		}
		run.services = append(run.services, svc)
		checks := svc.Checks()
		for _, name := range slices.Sorted(maps.Keys(checks)) {
			ops.AddCheck(name, checks[name])
		}
		api = append(api, svc.API())
	}
	if run.OpenAPI, err = openapi.Document(name, api...); err != nil {
		return fail(err)
	}
	run.stopGuard = guard.Start(ctx, store.JS)
	mux := http.NewServeMux()
	run.Routes = append(ops.Mount(mux), "GET /openapi.json")
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(run.OpenAPI)
	})
	served, pages, fallback := service.Mount(mux, log, run.services...)
	run.Routes, run.Pages = append(run.Routes, served...), pages
	if run.HTTP, err = server.Listen(cfg.HTTPAddr, problem.MuxWith(mux, fallback)); err != nil {
		return fail(err)
	}
	go func() { run.served <- run.HTTP.Serve(ctx) }()
	return run, nil
}

// abort undoes a Start that failed half way.
func (r *Running) abort() {
	r.cancel()
	r.stop()
}

// stop stops the guard, then the services in the reverse order of their
// start, then closes the store they read from.
func (r *Running) stop() {
	if r.stopGuard != nil {
		r.stopGuard()
	}
	for _, svc := range slices.Backward(r.services) {
		svc.Stop()
	}
	if r.Store != nil {
		r.Store.Close()
	}
}

// Interrupted reports whether ctx ended while Start was starting: what
// had started is stopped again, nothing serves (URL is "", Store may be
// nil), and Wait returns nil.
func (r *Running) Interrupted() bool { return r.interrupted }

// URL is the HTTP base URL ("" when Interrupted).
func (r *Running) URL() string {
	if r.HTTP == nil {
		return ""
	}
	return r.HTTP.URL()
}

// Wait blocks until the HTTP server stopped (after ctx ended, or Stop),
// then stops the services and closes the store.
func (r *Running) Wait() error {
	if r.interrupted {
		return nil
	}
	r.waitOnce.Do(func() {
		err := <-r.served
		r.once.Do(func() {
			r.cancel()
			r.stop()
		})
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		r.waitErr = err
	})
	return r.waitErr
}

// Stop shuts everything down gracefully.
func (r *Running) Stop() error {
	r.cancel()
	return r.Wait()
}

// LoggedNKey is the NKey seed file a process names in its start's log
// (its path; the seed stays in the file): with an embedded server that
// listens, the operator's read-only key (nats --server <nats> --nkey
// <nats_nkey> stream info FAMILY_EVENTS); with -nats-url, the -nats-nkey
// the process authenticates with; "" when there is neither.
func LoggedNKey(cfg config.Config, store *eventstore.Store) string {
	if store != nil && store.OperatorKey != "" {
		return store.OperatorKey
	}
	if cfg.NATSURL != "" {
		return cfg.NATSNKey
	}
	return ""
}

// Serve runs a process named name with the services builds make, until
// ctx ends.
func Serve(ctx context.Context, cfg config.Config, name string, log *slog.Logger, builds ...service.Build) error {
	run, err := Start(ctx, cfg, name, log, builds...)
	if err != nil || run.Interrupted() {
		return err
	}
	log.Info(name+" listening", "http", run.URL(), "nats", eventstore.RedactURL(run.Store.ClientURL), "nats_nkey", LoggedNKey(cfg, run.Store), "data", cfg.DataDir)
	return run.Wait()
}
