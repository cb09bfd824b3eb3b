package projector_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestNoUnloggedReads: when the access log cannot be written, family data
// is refused with 503, and so is the list of families, which is logged
// too.
func TestNoUnloggedReads(t *testing.T) {
	t.Parallel()
	// An operator's damage: only an admin outside the services may do it.
	n := testenv.StartNATS(t)
	ts := testenv.StartSystem(t, func(cfg *config.Config) { n.Use(t, cfg) })
	s := &system{System: ts, js: ts.SA.Store.JS}
	ctx := context.Background()
	s.WaitApplied(s.enrol("FAM-NOLOG", "E1001"))
	if err := n.Admin.DeleteStream(ctx, eventstore.AccessLogStream); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/families/FAM-NOLOG", "/v1/families/FAM-NOLOG/timeline", "/v1/families/FAM-NOLOG/timeline/stream"} {
		r := s.Get(path, "dev-coordinator", nil)
		if r.Status != 503 || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s without an access log: %d %s", path, r.Status, r.Raw)
		}
	}
	if r := s.Get("/v1/families", "dev-coordinator", nil); r.Status != 503 || strings.Contains(r.Raw, "FAM-NOLOG") {
		t.Errorf("list without an access log: %d %s", r.Status, r.Raw)
	}
	if r := s.Get("/v1/families", "dev-auditor", nil); r.Status != 503 || strings.Contains(r.Raw, "FAM-NOLOG") {
		t.Errorf("auditor's list without an access log: %d %s", r.Status, r.Raw)
	}
	if err := eventstore.EnsureStreams(ctx, n.Admin, eventstore.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := s.Get("/v1/families/FAM-NOLOG", "dev-coordinator", nil); r.Status != 200 {
		t.Errorf("with the access log back: %d %s", r.Status, r.Raw)
	}
}

// TestStreamReplaced: a read model ahead of its stream (the stream was
// deleted and created again) is reported not ready; a rebuild brings it
// back in step and the projector follows the new stream.
func TestStreamReplaced(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	st := n.Open(t)
	ctx := context.Background()
	p := newProjector(t, st, t.TempDir(), 0, nil)
	defer p.Close()
	waitPosition(t, p, publish(t, st, 0, 30))
	if err := n.Admin.DeleteStream(ctx, eventstore.FamilyStream); err != nil {
		t.Fatal(err)
	}
	if err := eventstore.EnsureStreams(ctx, n.Admin, eventstore.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	last := publish(t, st, 0, 12)
	checkFor(t, 20*time.Second, func() error {
		if p.Ready(ctx) == nil {
			return fmt.Errorf("still ready at %d with a stream at %d", p.Position(), last)
		}
		return nil
	})
	if err := p.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(ctx); err != nil || p.Position() != last {
		t.Fatalf("after the rebuild: at %d, want %d: %v", p.Position(), last, err)
	}
	ce, _ := events.Build(events.SOF, "F1", &events.MeetingHeld{Kind: "team"})
	b, _ := events.Marshal(ce)
	ack, err := st.JS.Publish(ctx, events.Subject("F1", events.SOF, "meeting.held"), b)
	if err != nil {
		t.Fatal(err)
	}
	waitPosition(t, p, ack.Sequence)
}

// TestChangedConsumerCreatedAgain: a durable consumer that an admin
// changed while the projector was stopped (filtered to nothing, or paused
// for a year), though at the checkpoint, is not reused as it is: the
// projector creates it again at its checkpoint, as it made it, and every
// event still arrives.
func TestChangedConsumerCreatedAgain(t *testing.T) {
	t.Parallel()
	for name, change := range map[string]func(context.Context, jetstream.JetStream, jetstream.ConsumerConfig) error{
		"filtered": func(ctx context.Context, admin jetstream.JetStream, cfg jetstream.ConsumerConfig) error {
			cfg.FilterSubject = "families.nobody.>"
			_, err := admin.UpdateConsumer(ctx, eventstore.FamilyStream, cfg)
			return err
		},
		"paused": func(ctx context.Context, admin jetstream.JetStream, cfg jetstream.ConsumerConfig) error {
			_, err := admin.PauseConsumer(ctx, eventstore.FamilyStream, cfg.Durable, time.Now().Add(365*24*time.Hour))
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			adminKey := testenv.AdminKey()
			st := testenv.OpenStore(t, &adminKey)
			_, admin := testenv.AdminJS(t, "", st.Server)
			dir := t.TempDir()
			ctx := context.Background()
			p := newProjector(t, st, dir, 0, nil)
			waitPosition(t, p, publish(t, st, 0, 20))
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			c, err := admin.Consumer(ctx, eventstore.FamilyStream, projector.ConsumerName)
			if err != nil {
				t.Fatal(err)
			}
			if err := change(ctx, admin, c.CachedInfo().Config); err != nil {
				t.Fatal(err)
			}
			p = newProjector(t, st, dir, 0, nil)
			defer p.Close()
			waitPosition(t, p, publish(t, st, 20, 10))
			c, err = admin.Consumer(ctx, eventstore.FamilyStream, projector.ConsumerName)
			if err != nil {
				t.Fatal(err)
			}
			if info := c.CachedInfo(); info.Config.FilterSubject != "" || info.Paused {
				t.Errorf("the consumer after the start: filter %q, paused %v", info.Config.FilterSubject, info.Paused)
			}
		})
	}
}

// TestReadiness: not ready until the consumer exists; ready after.
func TestReadiness(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	p := newProjectorStopped(t, st, t.TempDir())
	if err := p.Ready(ctx); err == nil {
		t.Fatal("ready before Start")
	}
	p.Start(ctx)
	defer p.Close()
	checkFor(t, 10*time.Second, func() error { return p.Ready(ctx) })
}

// TestNATSRestart: the projector rides out a restart of NATS and applies
// what is stored afterwards, neither losing nor repeating anything.
func TestNATSRestart(t *testing.T) {
	t.Parallel()
	storeDir := t.TempDir()
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: storeDir, Listen: "127.0.0.1:0", ServiceSeed: testenv.ServiceSeed()})
	if err != nil {
		t.Fatal(err)
	}
	url := ns.ClientURL()
	st, err := eventstore.Open(context.Background(), eventstore.OpenOptions{URL: url, NKeyFile: testenv.ServiceKeyFile(t), Name: "test", Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := newProjector(t, st, t.TempDir(), 0, nil)
	defer p.Close()
	waitPosition(t, p, publish(t, st, 0, 20))
	before, _ := p.Digest(context.Background())

	ns.Shutdown()
	ns.WaitForShutdown()
	host, port, _ := strings.Cut(strings.TrimPrefix(url, "nats://"), ":")
	ns, err = eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: storeDir, Listen: host + ":" + port, ServiceSeed: testenv.ServiceSeed()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	checkFor(t, 20*time.Second, func() error { return st.Ready(context.Background()) })
	var last uint64
	checkFor(t, 20*time.Second, func() error {
		ack, err := st.JS.Publish(context.Background(), "families.F1.sof.family.referred", []byte("not json after restart"))
		if err != nil {
			return err
		}
		last = ack.Sequence
		return nil
	})
	last = max(last, publish(t, st, 20, 15))
	waitPosition(t, p, last)
	after, _ := p.Digest(context.Background())
	if before == after {
		t.Error("nothing applied after the restart")
	}
	// The same stream projected from scratch gives the same projection.
	p.Close()
	clean := newProjector(t, st, t.TempDir(), 0, nil)
	defer clean.Close()
	waitPosition(t, clean, last)
	if want, _ := clean.Digest(context.Background()); want != after {
		t.Errorf("after a NATS restart %s, from scratch %s", after, want)
	}
}
