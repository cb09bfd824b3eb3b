package testenv

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// serviceKey is the NATS service key of every embedded server a test
// package starts for processes that connect through its URL: a server
// started again on the same store lets the same processes back in.
var serviceKey = sync.OnceValue(func() eventstore.Identity {
	id, err := eventstore.NewIdentity()
	if err != nil {
		panic(err)
	}
	return id
})

// ServiceSeed is the seed to start such a server with
// (eventstore.EmbeddedOptions.ServiceSeed).
func ServiceSeed() []byte { return serviceKey().Seed() }

// ServiceKeyFile writes the service key's seed file for a process's
// -nats-nkey (config.Config.NATSNKey).
func ServiceKeyFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "service.nk")
	if err := serviceKey().WriteSeedFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// adminKey is the admin key of every embedded server a test package
// starts: a server started again on the same store knows it again.
var adminKey = sync.OnceValue(func() eventstore.Identity {
	id, err := eventstore.NewIdentity()
	if err != nil {
		panic(err)
	}
	return id
})

// AdminKey is a key with every right on a server started with it
// (eventstore.EmbeddedOptions.Admin): the operator who damages the store,
// which no service's key may.
func AdminKey() eventstore.Identity { return adminKey() }

// AdminJS connects with AdminKey to the server at url, or to ns in
// process when it is not nil, until t's end.
func AdminJS(t testing.TB, url string, ns *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := eventstore.Connect(url, ns, "admin", AdminKey().Option())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// UpdateStream changes a stream's config as any client allowed to update
// streams can.
func UpdateStream(t testing.TB, js jetstream.JetStream, name string, change func(*jetstream.StreamConfig)) {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	change(&cfg)
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("update %s: %v", name, err)
	}
}

// RecreateStream deletes the stream cfg names and creates it again, empty,
// as cfg says: an operator restoring the wrong backup.
func RecreateStream(t testing.TB, js jetstream.JetStream, cfg jetstream.StreamConfig) {
	t.Helper()
	ctx := context.Background()
	if err := js.DeleteStream(ctx, cfg.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// OpenStore opens an event store on an in-process NATS server of its own
// (no listener) in t's temporary directory, closed at t's end, once it is
// ready; admin, when not nil, is the server's admin key.
func OpenStore(t testing.TB, admin *eventstore.Identity) *eventstore.Store {
	t.Helper()
	st, err := eventstore.Open(context.Background(), eventstore.OpenOptions{
		Embedded: eventstore.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "off", Admin: admin},
		Name:     "test", Log: QuietLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	CheckFor(t, 10*time.Second, func() error { return st.Ready(context.Background()) })
	return st
}

// NATS is an embedded server for processes that connect through its URL
// (Use), with an admin connection that may do what no process may: delete
// and create streams, as an operator damaging the store would.
type NATS struct {
	*eventstore.Embedded
	AdminNC *nats.Conn
	Admin   jetstream.JetStream
}

// StartNATS starts it, in t's temporary directory, stopped at t's end.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	admin := AdminKey()
	e, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{
		StoreDir: t.TempDir(), Listen: "127.0.0.1:-1", ServiceSeed: ServiceSeed(), Admin: &admin,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(); e.WaitForShutdown() })
	nc, js := AdminJS(t, e.ClientURL(), nil)
	return &NATS{Embedded: e, AdminNC: nc, Admin: js}
}

// Use points cfg at the server, as the service key.
func (n *NATS) Use(t testing.TB, cfg *config.Config) {
	t.Helper()
	cfg.NATSURL = n.ClientURL()
	cfg.NATSNKey = ServiceKeyFile(t)
}

// Open opens an event store on the server as the service key, as a
// service process does, closed at t's end.
func (n *NATS) Open(t testing.TB) *eventstore.Store {
	t.Helper()
	st, err := eventstore.Open(context.Background(), eventstore.OpenOptions{
		URL: n.ClientURL(), NKeyFile: ServiceKeyFile(t), Name: "test", Log: QuietLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// StreamMessages are the data of stream's messages on subject (a
// filter), in order: each message the stream held when it is called, read
// to the last. A read that stops short of the last, when the server is
// slow, fails t rather than returning fewer.
func StreamMessages(t testing.TB, js jetstream.JetStream, stream, subject string) [][]byte {
	t.Helper()
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	info := cons.CachedInfo()
	if info == nil {
		t.Fatalf("%s %s: the ordered consumer has no information", stream, subject)
	}
	var out [][]byte
	for left := info.NumPending; left > 0; {
		m, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
		if err != nil {
			t.Fatalf("%s %s: %d of %d messages read: %v", stream, subject, len(out), info.NumPending, err)
		}
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Data())
		left = md.NumPending
	}
	return out
}

// PauseProjector pauses the durable consumer of the projector instance
// ("" for the only one) on n until resume is called, or for a minute at
// most: the events stored meanwhile are not applied, so that a read which
// must wait for one can be seen waiting.
func (n *NATS) PauseProjector(t testing.TB, instance string) (resume func()) {
	t.Helper()
	ctx := context.Background()
	consumer := eventstore.ProjectorConsumer(instance)
	if _, err := n.Admin.PauseConsumer(ctx, eventstore.FamilyStream, consumer, time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("pausing the projector's consumer %s: %v", consumer, err)
	}
	return func() {
		t.Helper()
		if _, err := n.Admin.ResumeConsumer(ctx, eventstore.FamilyStream, consumer); err != nil {
			t.Fatalf("resuming the projector's consumer %s: %v", consumer, err)
		}
	}
}

// ReadWaiting stores an event with store while the projector instance's
// consumer is paused (PauseProjector), and reads with read at the
// position store returns. The read must not answer while the event is
// not applied: an answer in the first 300 ms fails t. The consumer is
// then resumed, and read's answer returned.
func (n *NATS) ReadWaiting(t testing.TB, instance string, store func() uint64, read func(pos uint64) (Reply, error)) (Reply, error) {
	t.Helper()
	resume := n.PauseProjector(t, instance)
	pos := store()
	var r Reply
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, err = read(pos)
	}()
	select {
	case <-done:
		t.Errorf("the read at position %d answered before the event was applied: %d %s", pos, r.Status, r.Raw)
	case <-time.After(300 * time.Millisecond):
	}
	resume()
	<-done
	return r, err
}
