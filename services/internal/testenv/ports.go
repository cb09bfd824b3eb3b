package testenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Ports. A server that can listen on port 0 and say which port it got
// should: nothing can take its port first (ListenLog hears it from a
// process of this repository). One whose port must be known before it
// starts (a cluster's routes name each other's ports, nginx's config its
// own, a restart the address its clients hold) gets it from FreePorts,
// and another process may take the port between the pick and the listen:
// such a start goes through RetryAddrInUse.

// AddrInUse reports whether err says that an address to listen on was
// taken, as Go, nats-server ("address already in use") and nginx
// ("Address already in use") say it.
func AddrInUse(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(strings.ToLower(err.Error()), "address already in use")
}

// FreePorts returns n distinct ports of 127.0.0.1 that nobody listened on
// a moment ago.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// RetryAddrInUse calls start until it returns nil: again, after a pause,
// while it fails because an address it listens on was taken (AddrInUse),
// at most attempts times in all; attempt counts from 1. Any other error,
// or the last attempt's, fails the test. A start that picks its ports on
// every call (FreePorts) gets other ones; one that must keep its address
// waits for whoever took the port, such as a client connection whose
// local end got it, to let go. start must undo what it started when it
// fails.
func RetryAddrInUse(t testing.TB, attempts int, start func(attempt int) error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		err := start(attempt)
		if err == nil {
			return
		}
		if !AddrInUse(err) || attempt >= attempts {
			t.Fatalf("attempt %d of %d: %v", attempt, attempts, err)
		}
		t.Logf("attempt %d: %v; starting again", attempt, err)
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
}

// StartServer starts a nats-server with opts in this process and waits
// until it is ready for clients and routes, for up to ready. A listener it
// cannot open fails it at once with the server's own error (AddrInUse
// tells a taken port): without a log, the server would only never become
// ready. The server's log is off either way.
func StartServer(opts *server.Options, ready time.Duration) (*server.Server, error) {
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	logs := &fatalLog{}
	srv.SetLoggerV2(logs, false, false, false)
	go srv.Start()
	deadline := time.Now().Add(ready)
	for !srv.ReadyForConnections(50 * time.Millisecond) {
		err := logs.err()
		if err == nil && time.Now().After(deadline) {
			err = fmt.Errorf("nats-server %s not ready after %s", opts.ServerName, ready)
		}
		if err != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, err
		}
	}
	return srv, nil
}

// fatalLog keeps the first fatal message of a server (a listener it could
// not open) and drops the rest of its log.
type fatalLog struct {
	mu    sync.Mutex
	fatal error
}

func (l *fatalLog) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}

func (l *fatalLog) Fatalf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatal == nil {
		l.fatal = fmt.Errorf("nats-server: "+format, v...)
	}
}

func (*fatalLog) Noticef(string, ...any) {}
func (*fatalLog) Warnf(string, ...any)   {}
func (*fatalLog) Errorf(string, ...any)  {}
func (*fatalLog) Debugf(string, ...any)  {}
func (*fatalLog) Tracef(string, ...any)  {}

// ListenLog is a quiet logger for a process started in this test on
// 127.0.0.1:0, and the channel on which the URL it listens on arrives: the
// "<name> listening" record process.Serve logs, with its http attribute.
func ListenLog() (*slog.Logger, <-chan string) {
	urls := make(chan string, 1)
	return slog.New(listenHandler{urls}), urls
}

type listenHandler struct{ urls chan string }

func (listenHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h listenHandler) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasSuffix(r.Message, " listening") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "http" {
			return true
		}
		select {
		case h.urls <- a.Value.String():
		default:
		}
		return false
	})
	return nil
}

func (h listenHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h listenHandler) WithGroup(string) slog.Handler      { return h }
