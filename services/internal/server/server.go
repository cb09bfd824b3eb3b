// Package server runs the HTTP servers of every Job og Familie process with
// the same lifecycle: the listener opens in Listen, requests are served until
// the context ends, then in-flight requests get a deadline to finish. It also
// serves the operational endpoints /healthz, /readyz and /metrics.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is an HTTP server bound to its listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
	// ShutdownTimeout bounds how long in-flight requests may take after the
	// context ends.
	ShutdownTimeout time.Duration
}

// Listen opens addr (host:port; port 0 picks a free one). Timeouts are set
// so that a slow or stalled client cannot hold a connection forever; the
// write timeout is lifted per request by streaming handlers (SSE, replay).
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen %s: %w", addr, err)
	}
	return &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
		},
		ShutdownTimeout: 20 * time.Second,
	}, nil
}

// Addr is the bound address, e.g. 127.0.0.1:8080.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is http://Addr.
func (s *Server) URL() string { return "http://" + s.Addr() }

// HTTP exposes the underlying server, e.g. to register shutdown hooks.
func (s *Server) HTTP() *http.Server { return s.srv }

// Serve serves until ctx is done, then shuts down gracefully: the listener
// closes, in-flight requests finish (up to ShutdownTimeout), idle
// connections close.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// Check is one readiness condition; nil means ready.
type Check func(ctx context.Context) error

// Ops serves /healthz, /readyz and /metrics.
type Ops struct {
	Registry *prometheus.Registry
	checks   []namedCheck
}

type namedCheck struct {
	name string
	fn   Check
}

// NewOps makes a registry with the Go and process collectors.
func NewOps() *Ops {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Ops{Registry: reg}
}

// AddCheck adds a readiness condition.
func (o *Ops) AddCheck(name string, fn Check) { o.checks = append(o.checks, namedCheck{name, fn}) }

// Mount registers the operational endpoints on mux and returns their
// patterns.
func (o *Ops) Mount(mux *http.ServeMux) []string {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status := map[string]string{}
		ready := true
		for _, c := range o.checks {
			if err := c.fn(ctx); err != nil {
				status[c.name] = err.Error()
				ready = false
			} else {
				status[c.name] = "ok"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ready, "checks": status})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	return []string{"GET /healthz", "GET /readyz", "GET /metrics"}
}
