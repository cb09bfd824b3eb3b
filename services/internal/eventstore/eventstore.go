// Package eventstore is the NATS JetStream event store of Job og Familie:
// the embedded server, connections, the FAMILY_EVENTS and ACCESS_LOG streams,
// and publishing with per-family optimistic concurrency and atomic batches.
//
// The CloudEvents SDK's NATS JetStream binding is deliberately not used: it
// cannot set Nats-Msg-Id or expected-sequence headers and acks before the
// handler runs. Messages carry the structured CloudEvent JSON instead.
package eventstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream names and subjects of CONTRACT.md.
const (
	FamilyStream    = "FAMILY_EVENTS"
	FamilySubjects  = "families.>"
	AccessLogStream = "ACCESS_LOG"
	AccessSubjects  = "access.>"
)

// Durability says how the embedded file store makes writes durable.
type Durability struct {
	// SyncAlways fsyncs every write before it is acknowledged (about 1 ms a
	// message on the reference machine).
	SyncAlways bool
	// SyncInterval is the fsync period otherwise (the server's default is
	// two minutes). A killed process loses nothing either way, because the
	// data is in the OS page cache; a power cut or kernel crash can lose up
	// to one interval of acknowledged events on a single node.
	SyncInterval time.Duration
}

// ParseDurability reads "always", "interval" (the server default) or a
// Go duration such as "10s".
func ParseDurability(s string) (Durability, error) {
	switch s {
	case "", "interval", "default":
		return Durability{}, nil
	case "always":
		return Durability{SyncAlways: true}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return Durability{}, fmt.Errorf("eventstore: durability %q is not always, interval or a positive duration", s)
	}
	return Durability{SyncInterval: d}, nil
}

// EmbeddedOptions configures an in-process nats-server.
type EmbeddedOptions struct {
	// StoreDir holds the JetStream file store.
	StoreDir string
	// Listen is host:port where the server also accepts clients (so the nats
	// CLI can look in); "off" or empty keeps it in-process only. Port 0 or -1
	// picks a free port.
	Listen     string
	Durability Durability
	// ServerName defaults to "jobogfamilie".
	ServerName string
	// MaxStore caps the bytes JetStream may use on disk (0: the server's
	// default, a share of the free space).
	MaxStore int64
	// Streams are created or updated once at start, with a setup key that
	// is dropped afterwards.
	Streams StreamOptions
	// KeyDir keeps the seeds of the operator's and the departments' keys
	// (operator.nk, sof.nk, …) when the server listens; empty is StoreDir.
	KeyDir string
	// ServiceSeed is the seed of the service key, for a test or benchmark
	// whose processes reach the server through Listen and must get back in
	// after a restart; empty generates one at each start, kept in memory.
	ServiceSeed []byte
	// MayCreate, when set, is asked before the streams are created: a
	// stream that is missing although this process has seen it hold
	// messages must not come back empty (Guard.MayCreate). Its refusal
	// leaves the streams as they are; the guard reports why.
	MayCreate func(context.Context, jetstream.JetStream) error
	// Admin is an extra key with every right, for tests that play an
	// operator who damages the store; the binaries never set it.
	Admin *Identity
	// ProjectorConsumer is the durable consumer of the projector that
	// this server serves (ProjectorConsumer(instance)): only the service
	// key may create, change or delete it. Empty is "projector".
	ProjectorConsumer string
	// MoreProjectors are the durable consumers of further projector
	// processes on this server (tests that run several standalones on
	// one server), held as ProjectorConsumer is.
	MoreProjectors []string
}

// Embedded is a running embedded server and the keys of its users.
type Embedded struct {
	*server.Server
	// Service is the key of the processes in this binary: ingest,
	// projector and audit (RoleService).
	Service Identity
	// KeyDir holds the outer roles' seed files ("" when in-process only).
	KeyDir string
}

// KeyFile is the seed file of an outer role (RoleOperator, RoleAudit or
// a department), "" when the server does not listen.
func (e *Embedded) KeyFile(role string) string {
	if e.KeyDir == "" {
		return ""
	}
	return KeyFile(e.KeyDir, role)
}

// Listening reports whether Listen names an address for outside clients.
func listening(listen string) bool { return listen != "" && listen != "off" }

// StartEmbedded starts a JetStream-enabled nats-server in this process,
// waits until it accepts connections and creates or updates the streams.
// It accepts only its NKey users (see Permissions). A listen address that
// is in use fails at once.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	opts := &server.Options{
		ServerName:        o.ServerName,
		JetStream:         true,
		StoreDir:          o.StoreDir,
		SyncAlways:        o.Durability.SyncAlways,
		SyncInterval:      o.Durability.SyncInterval,
		NoSigs:            true,
		NoLog:             true,
		MaxPayload:        8 << 20,
		JetStreamMaxStore: o.MaxStore,
	}
	if opts.ServerName == "" {
		opts.ServerName = "jobogfamilie"
	}
	if !listening(o.Listen) {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("eventstore: listen address %q: %w", o.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("eventstore: listen port %q: %w", port, err)
		}
		if p == 0 {
			p = -1
		}
		if p > 0 {
			// The server would only log this and never become ready.
			l, err := net.Listen("tcp", net.JoinHostPort(host, port))
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("NATS port %s is in use: %w", o.Listen, err)
			}
			if err != nil {
				// An invalid port, an address not of this host, …
				return nil, fmt.Errorf("eventstore: NATS cannot listen on %s: %w", o.Listen, err)
			}
			_ = l.Close()
		}
		opts.Host, opts.Port = host, p
	}
	if opts.StoreDir != "" {
		abs, err := filepath.Abs(opts.StoreDir)
		if err != nil {
			return nil, err
		}
		opts.StoreDir = abs
		if err := CheckWritableDir(abs); err != nil {
			return nil, fmt.Errorf("eventstore: store directory: %w", err)
		}
	}
	e := &Embedded{}
	var err error
	if len(o.ServiceSeed) > 0 {
		e.Service, err = IdentityFromSeed(o.ServiceSeed)
	} else {
		e.Service, err = NewIdentity()
	}
	if err != nil {
		return nil, err
	}
	setup, err := NewIdentity()
	if err != nil {
		return nil, err
	}
	ids := map[string]Identity{RoleService: e.Service, RoleSetup: setup}
	if listening(o.Listen) {
		e.KeyDir = cmp.Or(o.KeyDir, opts.StoreDir)
		if e.KeyDir == "" {
			return nil, errors.New("eventstore: a listening embedded server needs a key directory")
		}
		outer, err := LoadOrCreateKeys(e.KeyDir)
		if err != nil {
			return nil, err
		}
		maps.Copy(ids, outer)
	}
	if o.Admin != nil {
		// No permissions: everything is allowed.
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: o.Admin.Public()})
	}
	users, accounts, err := embeddedUsers(ids, append([]string{cmp.Or(o.ProjectorConsumer, ProjectorConsumer(""))}, o.MoreProjectors...))
	if err != nil {
		return nil, err
	}
	opts.Nkeys = append(opts.Nkeys, users...)
	opts.Accounts = accounts
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("eventstore: embedded server: %w", err)
	}
	e.Server = ns
	// The server's own log is off; keep its errors to explain a failed start.
	logs := &errorLog{}
	ns.SetLoggerV2(logs, false, false, false)
	go ns.Start()
	if err := waitReady(ns, logs, 30*time.Second); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	if err := enableServicesJetStream(ns); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	if err := setupStreams(ns, setup, o.Streams, o.MayCreate); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	return e, nil
}

// waitReady waits for the server, and gives up at once when it logged an
// error (such as a port taken between the check and its listen).
func waitReady(ns *server.Server, logs *errorLog, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if ns.ReadyForConnections(50*time.Millisecond) && ns.JetStreamEnabled() {
			return nil
		}
		if last := logs.last(); last != "" {
			return fmt.Errorf("eventstore: embedded server did not start: %s", last)
		}
		if time.Now().After(deadline) {
			return errors.New("eventstore: embedded server did not become ready")
		}
	}
}

// enableServicesJetStream enables JetStream in the services' account, with
// the server's limits only, and so restores its streams. The server
// enables it there by itself only when the global account is its only
// one; with the departments' accounts beside it, an account's JetStream
// is switched on here, and in no department's account.
func enableServicesJetStream(ns *server.Server) error {
	acc, err := ns.LookupAccount(ServicesAccount)
	if err != nil {
		return fmt.Errorf("eventstore: services' account: %w", err)
	}
	if acc.JetStreamEnabled() {
		return nil
	}
	if err := acc.EnableJetStream(nil, nil); err != nil {
		return fmt.Errorf("eventstore: JetStream in the services' account: %w", err)
	}
	return nil
}

// setupStreams creates or updates the streams in process with the setup
// key, whose connection ends here.
func setupStreams(ns *server.Server, setup Identity, so StreamOptions, mayCreate func(context.Context, jetstream.JetStream) error) error {
	nc, err := nats.Connect(ns.ClientURL(), nats.Name("setup"), nats.InProcessServer(ns), setup.Option())
	if err != nil {
		return fmt.Errorf("eventstore: setup connection: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if mayCreate != nil {
		if err := mayCreate(ctx, js); err != nil {
			// Not created: the services stay not ready and say why.
			return nil
		}
	}
	return EnsureStreams(ctx, js, so)
}

// CheckWritableDir makes dir if needed and proves it can be written, so
// that a wrong path, missing permission or full disk is reported as such
// at start instead of as a server that never becomes ready.
func CheckWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_, werr := f.Write([]byte("ok"))
	serr := f.Sync()
	cerr := f.Close()
	_ = os.Remove(name)
	return errors.Join(werr, serr, cerr)
}

// errorLog keeps the embedded server's last error.
type errorLog struct {
	mu  sync.Mutex
	msg string
}

func (l *errorLog) set(format string, v ...any) {
	l.mu.Lock()
	l.msg = fmt.Sprintf(format, v...)
	l.mu.Unlock()
}

func (l *errorLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msg
}

func (l *errorLog) Noticef(string, ...any)         {}
func (l *errorLog) Warnf(string, ...any)           {}
func (l *errorLog) Debugf(string, ...any)          {}
func (l *errorLog) Tracef(string, ...any)          {}
func (l *errorLog) Errorf(format string, v ...any) { l.set(format, v...) }
func (l *errorLog) Fatalf(format string, v ...any) { l.set(format, v...) }

// ConnectOptions are the client options every service uses: reconnect
// forever, and fail publishes at once while disconnected instead of
// buffering them, so that ingest answers 503 quickly.
func ConnectOptions(name string) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.RetryOnFailedConnect(true),
		nats.Timeout(2 * time.Second),
		nats.ErrorHandler(asyncError),
	}
}

// asyncError reports the connection's asynchronous errors, except the
// refusals the permissions intend: an ordered consumer deletes its
// predecessor after a reset, which no service may (the server removes
// the idle consumer itself).
func asyncError(nc *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), "$JS.API.CONSUMER.DELETE.") {
		return
	}
	slog.Warn("nats: asynchronous error", "connection", nc.Opts.Name, "err", err)
}

// Connect dials url, or the in-process server when ns is not nil.
func Connect(url string, ns *server.Server, name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := append(ConnectOptions(name), extra...)
	if ns != nil {
		opts = append(opts, nats.InProcessServer(ns))
		url = ns.ClientURL()
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		// A malformed URL's parse error quotes it, password and all.
		return nil, fmt.Errorf("eventstore: connect %s: %w", RedactURL(url), RedactURLError(err, url))
	}
	return nc, nil
}

// StreamOptions are the settings of FAMILY_EVENTS and ACCESS_LOG.
type StreamOptions struct {
	// Replicas is 1 on a single node, 3 on a cluster.
	Replicas int
	// DedupeWindow is how long JetStream itself remembers Nats-Msg-Id.
	// Ingest remembers ids forever on top of it; the window only guards
	// writers that publish straight to NATS.
	DedupeWindow time.Duration
}

// DefaultDedupeWindow is long enough for any retry by a department system.
const DefaultDedupeWindow = 24 * time.Hour

// FamilyStreamConfig is the immutable event store of CONTRACT.md.
func FamilyStreamConfig(o StreamOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               FamilyStream,
		Description:        "Job og Familie: every family event, immutable",
		Subjects:           []string{FamilySubjects},
		Storage:            jetstream.FileStorage,
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardNew,
		Replicas:           max(o.Replicas, 1),
		Duplicates:         cmpOr(o.DedupeWindow, DefaultDedupeWindow),
		DenyDelete:         true,
		DenyPurge:          true,
		AllowAtomicPublish: true,
		AllowDirect:        true,
	}
}

// AccessLogStreamConfig is the immutable log of who read which family.
func AccessLogStreamConfig(o StreamOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        AccessLogStream,
		Description: "Job og Familie: every read of a family's data, immutable",
		Subjects:    []string{AccessSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		Replicas:    max(o.Replicas, 1),
		Duplicates:  time.Hour,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// EnsureStreams creates or updates both streams. Only the setup step may:
// the embedded server's setup key at its start, and in deploy/ the admin
// user (`standalone setup-streams`). Services check with CheckStreams.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	keys := KeyStreamConfig(o)
	if st, err := js.Stream(ctx, KeyStream); err == nil {
		// An interrupted master key rotation left the bucket's write-once
		// rule lifted (two messages a key, RotationKeysPerSubject): its
		// rerun overwrites each key's earlier message on disk before it
		// sets the rule again. Setting it here would make the server drop
		// those messages with their bytes left in the store's files, where
		// the retired master key opens them; so it stays lifted until the
		// rerun.
		if have := st.CachedInfo().Config; have.MaxMsgsPerSubject == RotationKeysPerSubject && !have.DiscardNewPerSubject {
			keys.MaxMsgsPerSubject, keys.DiscardNewPerSubject = have.MaxMsgsPerSubject, have.DiscardNewPerSubject
		}
	}
	for _, cfg := range []jetstream.StreamConfig{FamilyStreamConfig(o), AccessLogStreamConfig(o), keys} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("eventstore: stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// ErrStreamsMissing: a stream does not exist, and services do not create
// streams.
var ErrStreamsMissing = errors.New("eventstore: stream missing: run the admin setup step (standalone setup-streams -nats-url nats://admin:…@host:4222, deploy/README.md)")

// CheckStreams reports whether both streams exist (stream info only).
func CheckStreams(ctx context.Context, js jetstream.JetStream) error {
	for _, name := range []string{FamilyStream, AccessLogStream} {
		if _, err := js.Stream(ctx, name); err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("%s: %w", name, ErrStreamsMissing)
			}
			return fmt.Errorf("eventstore: stream %s: %w", name, err)
		}
	}
	return nil
}

// Errors of publishing, for callers to map onto their transport.
var (
	// ErrConflict: the family was written since the expected sequence.
	ErrConflict = errors.New("eventstore: family changed concurrently")
	// ErrUnavailable: the event store could not be reached or did not answer.
	ErrUnavailable = errors.New("eventstore: event store unavailable")
	// ErrDuplicateInBatch: a message id of the batch is already stored.
	ErrDuplicateInBatch = errors.New("eventstore: batch contains a stored message id")
	// ErrStoreFull: the store has no room left (disk or storage limit). It
	// also matches ErrUnavailable: nothing can be written until an operator
	// makes room, but nothing stored is harmed.
	ErrStoreFull = errors.New("eventstore: event store is full")
)

// classify maps NATS and JetStream errors onto the package's sentinels,
// keeping the original error in the chain.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case 10201, 10158: // batch contains a stored id / id in process
			return fmt.Errorf("%w: %w", ErrDuplicateInBatch, err)
		case 10023, 10047: // insufficient resources / storage resources exceeded
			return fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrStoreFull, err)
		case 10060:
			// Nats-Expected-Stream: another stream has the subject. It
			// stored nothing; FAMILY_EVENTS was changed (the guard says
			// how), and nothing can be written there until it is restored.
			return fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrIntegrity, err)
		case 10176, 10210, 10211:
			// An atomic batch the server left incomplete (its first
			// message refused, unheard, for too many batches in flight,
			// or staged past its timeout), or refused outright: nothing
			// of it is stored, and the same ids may be sent again.
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		case 10174:
			// Atomic publish is off: FAMILY_EVENTS, set up with it
			// (FamilyStreamConfig), was updated without it. The whole
			// batch is refused, nothing of it is stored, and no batch
			// can be written until the setup step restores the stream.
			return fmt.Errorf("%w: FAMILY_EVENTS takes no atomic batch (run the setup step): %w", ErrUnavailable, err)
		}
		if apiErr.Code >= 500 || apiErr.Code == 408 {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionDraining) || errors.Is(err, nats.ErrNoServers) ||
		strings.Contains(err.Error(), "nats: ") {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
