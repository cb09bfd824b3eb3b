package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// OpenOptions say where the event store is.
type OpenOptions struct {
	// URL of an external NATS; empty starts an embedded server.
	URL string
	// NKeyFile is a user seed file to authenticate to URL with (the
	// deployment's users put user and password in the URL instead).
	NKeyFile string
	// Embedded configures the embedded server when URL is empty.
	Embedded EmbeddedOptions
	Streams  StreamOptions
	// Name identifies the client connection.
	Name string
	Log  *slog.Logger
	// Guard, when set, is asked before the streams are created, so that a
	// stream the process has seen hold messages is not created again
	// empty, and while they are checked, so that such a stream's loss is
	// reported at once rather than as a setup step not yet run.
	Guard *Guard
}

// Store is a connection to the event store, with the embedded server when
// there is one.
type Store struct {
	Server *server.Server
	// Embedded is the embedded server with its keys (nil with a URL).
	Embedded *Embedded
	NC       *nats.Conn
	JS       jetstream.JetStream
	// ClientURL is where the nats CLI can connect ("" when in-process only).
	ClientURL string
	// OperatorKey is the seed file of the read-only operator key for the
	// nats CLI (`nats --nkey`), "" unless an embedded server listens.
	OperatorKey string
	// AuditKey is the seed file of the audit CLI's key (RoleAudit), which
	// also records its reads in the access log; "" unless an embedded
	// server listens.
	AuditKey string
	ensured  atomic.Bool
	lastErr  atomic.Pointer[error]
	log      *slog.Logger
	stop     context.CancelFunc
	done     chan struct{}
}

// Open connects (starting the embedded server, which creates the streams,
// if needed) and checks that the streams exist, retrying in the background
// while NATS is unreachable or the streams are missing; Ready reports when
// they exist. Services never create or change the streams.
func Open(ctx context.Context, o OpenOptions) (*Store, error) {
	s := &Store{log: o.Log, done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	url := o.URL
	var auth []nats.Option
	if url == "" {
		emb := o.Embedded
		emb.Streams = o.Streams
		if o.Guard != nil {
			emb.MayCreate = o.Guard.MayCreate
		}
		e, err := StartEmbedded(emb)
		if err != nil {
			return nil, err
		}
		s.Server, s.Embedded = e.Server, e
		if listening(o.Embedded.Listen) {
			s.ClientURL = e.ClientURL()
			s.OperatorKey = e.KeyFile(RoleOperator)
			s.AuditKey = e.KeyFile(RoleAudit)
		}
		auth = append(auth, e.Service.Option())
	} else {
		s.ClientURL = url
		if o.NKeyFile != "" {
			opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
			if err != nil {
				return nil, fmt.Errorf("eventstore: nkey %s: %w", o.NKeyFile, err)
			}
			auth = append(auth, opt)
		}
	}
	nc, err := Connect(url, s.Server, o.Name, auth...)
	if err != nil {
		s.shutdownServer()
		return nil, err
	}
	s.NC = nc
	s.JS, err = jetstream.New(nc)
	if err != nil {
		s.Close()
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() {
		defer close(s.done)
		for {
			ectx, c := context.WithTimeout(bg, 5*time.Second)
			// A stream missing that this process has seen hold messages
			// was lost, not yet to be set up: the guard says so at once.
			err := o.Guard.MayCreate(ectx, s.JS)
			if err == nil {
				err = CheckStreams(ectx, s.JS)
			}
			c()
			if err == nil {
				s.ensured.Store(true)
				return
			}
			s.lastErr.Store(&err)
			s.log.Warn("event store: streams not ready, retrying", "err", err)
			select {
			case <-bg.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	// Give a reachable store a moment so that callers start ready.
	wctx, c := context.WithTimeout(ctx, 10*time.Second)
	defer c()
	for !s.ensured.Load() && !o.Guard.Refusing() && wctx.Err() == nil {
		select {
		case <-s.done:
		case <-time.After(10 * time.Millisecond):
		}
	}
	return s, nil
}

// Ready is nil when connected and the streams exist.
func (s *Store) Ready(context.Context) error {
	if !s.ensured.Load() {
		if err := s.lastErr.Load(); err != nil {
			return fmt.Errorf("streams not ready: %w", *err)
		}
		return errors.New("streams not yet checked")
	}
	if st := s.NC.Status(); st != nats.CONNECTED {
		return errors.New("nats " + st.String())
	}
	return nil
}

// Close drains the connection and stops the embedded server.
func (s *Store) Close() {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	if s.NC != nil {
		_ = s.NC.Drain()
		for s.NC.IsDraining() {
			time.Sleep(5 * time.Millisecond)
		}
		s.NC.Close()
	}
	s.shutdownServer()
}

func (s *Store) shutdownServer() {
	if s.Server != nil {
		s.Server.Shutdown()
		s.Server.WaitForShutdown()
	}
}
