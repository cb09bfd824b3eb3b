package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

func TestStreamsAreImmutableAndEnsuredIdempotently(t *testing.T) {
	t.Parallel()
	s := testenv.OpenStore(t, nil)
	ctx := context.Background()
	// A service only checks that the streams are there.
	if err := eventstore.CheckStreams(ctx, s.JS); err != nil {
		t.Fatalf("check: %v", err)
	}
	// Nor may it change them: the embedded server made them with its
	// setup key, and the service's key has no stream create or update.
	if err := eventstore.EnsureStreams(ctx, s.JS, eventstore.StreamOptions{}); err == nil {
		t.Fatal("the service's connection could update the streams")
	}
	for _, name := range []string{eventstore.FamilyStream, eventstore.AccessLogStream} {
		st, err := s.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.CachedInfo().Config
		if !cfg.DenyDelete || !cfg.DenyPurge || cfg.Storage != jetstream.FileStorage {
			t.Fatalf("%s: deny delete %v, deny purge %v, storage %v", name, cfg.DenyDelete, cfg.DenyPurge, cfg.Storage)
		}
	}
	fam, _ := s.JS.Stream(ctx, eventstore.FamilyStream)
	cfg := fam.CachedInfo().Config
	if !cfg.AllowAtomicPublish || cfg.Duplicates != eventstore.DefaultDedupeWindow {
		t.Fatalf("atomic %v, dedupe window %s", cfg.AllowAtomicPublish, cfg.Duplicates)
	}
	ack, err := s.JS.Publish(ctx, "families.F1.sof.family.referred", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := fam.DeleteMsg(ctx, ack.Sequence); err == nil {
		t.Fatal("a stored event could be deleted")
	}
	if err := fam.Purge(ctx); err == nil {
		t.Fatal("the stream could be purged")
	}
	if err := s.JS.DeleteStream(ctx, eventstore.FamilyStream); err == nil {
		t.Fatal("the service's connection deleted the stream")
	}
}

func TestPublishBatchIsAtomicAndChecksExpectations(t *testing.T) {
	t.Parallel()
	s := testenv.OpenStore(t, nil)
	pub, err := eventstore.NewPublisher(s.NC)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msg := func(fam, id string, expect bool, seq uint64) eventstore.Message {
		return eventstore.Message{Subject: "families." + fam + ".bif.x", Data: []byte(`{}`), MsgID: id,
			Expect: expect, ExpectFilter: "families." + fam + ".>", ExpectSeq: seq}
	}
	last, err := pub.PublishBatch(ctx, []eventstore.Message{msg("A", "1", true, 0), msg("A", "2", false, 0), msg("B", "3", true, 0)})
	if err != nil || last != 3 {
		t.Fatalf("batch: last %d, %v", last, err)
	}
	// B's expectation is stale: nothing of this batch may be stored.
	_, err = pub.PublishBatch(ctx, []eventstore.Message{msg("C", "4", true, 0), msg("B", "5", true, 0)})
	if err == nil {
		t.Fatal("a batch with a stale expectation was stored")
	}
	st, _ := s.JS.Stream(ctx, eventstore.FamilyStream)
	info, _ := st.Info(ctx)
	if info.State.Msgs != 3 {
		t.Fatalf("stream holds %d messages, want 3", info.State.Msgs)
	}
	if _, err := pub.Publish(ctx, msg("A", "6", true, 1)); err == nil {
		t.Fatal("single publish with a stale expectation succeeded")
	}
	if ack, err := pub.Publish(ctx, msg("A", "6", true, 2)); err != nil || ack.Sequence != 4 {
		t.Fatalf("single publish: %+v %v", ack, err)
	}
}

// A client allowed to update streams narrows FAMILY_EVENTS' subjects and
// lets a stream of its own take a department's: a write there must not be
// acknowledged as stored (by that other stream), singly or in a batch,
// and the guard finds the narrowed subjects.
func TestPublishIsStoredInFamilyEventsOnly(t *testing.T) {
	t.Parallel()
	s, admin := openDamageable(t)
	ctx := context.Background()
	last, _ := filled(t, s.JS, 5, 1)
	g, err := eventstore.NewGuard(eventstore.GuardOptions{Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	g.Seen(eventstore.FamilyStream, "test reader", func() uint64 { return last })
	if err := g.Check(ctx, s.JS); err != nil {
		t.Fatalf("intact store: %v", err)
	}

	testenv.UpdateStream(t, admin, eventstore.FamilyStream, func(c *jetstream.StreamConfig) {
		c.Subjects = []string{"families.*.sof.>", "families.*.buf.>", "families.*.suf.>", "families.*.service.>"}
	})
	if _, err := admin.CreateStream(ctx, jetstream.StreamConfig{
		Name: "SHADOW", Subjects: []string{"families.*.bif.>"}, Storage: jetstream.FileStorage, AllowAtomicPublish: true,
	}); err != nil {
		t.Fatal(err)
	}

	p, err := eventstore.NewPublisher(s.NC)
	if err != nil {
		t.Fatal(err)
	}
	msg := func(id string) eventstore.Message {
		return eventstore.Message{Subject: "families.F9.bif.meeting.held", Data: []byte(`{}`), MsgID: id,
			Expect: true, ExpectFilter: "families.F9.>", ExpectSeq: 0}
	}
	ack, err := p.Publish(ctx, msg("moved-1"))
	t.Logf("single: %v", err)
	if !errors.Is(err, eventstore.ErrIntegrity) || !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("publish to a subject another stream took: ack %+v, %v; want ErrIntegrity and ErrUnavailable", ack, err)
	}
	last, err = p.PublishBatch(ctx, []eventstore.Message{msg("moved-2"), msg("moved-3")})
	t.Logf("batch: %v", err)
	if !errors.Is(err, eventstore.ErrIntegrity) || !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("batch to a subject another stream took: last %d, %v; want ErrIntegrity and ErrUnavailable", last, err)
	}
	shadow, err := admin.Stream(ctx, "SHADOW")
	if err != nil {
		t.Fatal(err)
	}
	if n := shadow.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("SHADOW stored %d messages", n)
	}
	if err := g.Check(ctx, s.JS); !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), "FAMILY_EVENTS subjects are") {
		t.Errorf("guard: %v, want ErrIntegrity about the subjects", err)
	}
}

// An acknowledgement that names another stream than FAMILY_EVENTS is not
// a stored event, whatever answered the publish.
func TestPublishRefusesAnAckOfAnotherStream(t *testing.T) {
	t.Parallel()
	ns, err := server.NewServer(&server.Options{DontListen: true, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// It answers as a stream named SHADOW would, checking nothing.
	sub, err := nc.Subscribe("families.>", func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		ack := map[string]any{"stream": "SHADOW", "seq": 7}
		if m.Header.Get("Nats-Batch-Commit") != "" {
			n, _ := strconv.Atoi(m.Header.Get("Nats-Batch-Sequence"))
			ack["batch"], ack["count"] = m.Header.Get("Nats-Batch-Id"), n
		}
		b, _ := json.Marshal(ack)
		_ = m.Respond(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	p, err := eventstore.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := eventstore.Message{Subject: "families.F1.sof.meeting.held", Data: []byte(`{}`), MsgID: "1"}
	if ack, err := p.Publish(ctx, m); !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), "SHADOW") {
		t.Errorf("publish acknowledged by SHADOW: ack %+v, %v; want ErrIntegrity naming SHADOW", ack, err)
	}
	if last, err := p.PublishBatch(ctx, []eventstore.Message{m, m}); !errors.Is(err, eventstore.ErrIntegrity) || !strings.Contains(err.Error(), "SHADOW") {
		t.Errorf("batch acknowledged by SHADOW: last %d, %v; want ErrIntegrity naming SHADOW", last, err)
	}
}

func TestParseDurability(t *testing.T) {
	t.Parallel()
	tests := map[string]eventstore.Durability{
		"":         {},
		"interval": {},
		"always":   {SyncAlways: true},
		"10s":      {SyncInterval: 10 * time.Second},
	}
	for in, want := range tests {
		got, err := eventstore.ParseDurability(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"sometimes", "-1s", "0s"} {
		if _, err := eventstore.ParseDurability(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestUnwritableStoreDirIsReportedAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := dir + "/not-a-dir"
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// At once: the cause, found before the server starts, not the
	// readiness wait's "did not become ready" after it (a speed is not
	// measured here: make bench does that).
	_, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: file + "/nats", Listen: "off"})
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err %v, want one that names the cause", err)
	}
}

// TestNATSPortInUseIsReportedAtOnce: a second standalone on the same NATS
// port says so before it starts a server, instead of waiting for one that
// cannot listen: "is in use" is said only by the check before the start.
func TestNATSPortInUseIsReportedAtOnce(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	_, err = eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: t.TempDir(), Listen: addr})
	if err == nil || !strings.Contains(err.Error(), "NATS port "+addr+" is in use") {
		t.Fatalf("err %v, want one that says the NATS port is in use", err)
	}
}

// TestNATSListenErrorSaysWhy: only a port in use is reported as in use;
// any other listen error is reported as what it is.
func TestNATSListenErrorSaysWhy(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1:99999": "invalid port",
		// TEST-NET-1: an address of no host, this one neither.
		"192.0.2.1:4222": "listen tcp 192.0.2.1:4222",
	} {
		_, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: t.TempDir(), Listen: addr})
		if err == nil || strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), want) {
			t.Errorf("-nats-listen %s: err %v, want one that says %q and not \"in use\"", addr, err, want)
		}
	}
}

// TestNoAnonymousClients: the embedded server refuses a client without a
// key, and the in-process connection works with the service key only.
func TestNoAnonymousClients(t *testing.T) {
	t.Parallel()
	e, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { e.Shutdown(); e.WaitForShutdown() }()
	if nc, err := nats.Connect(e.ClientURL()); err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("anonymous client: %v", err)
	}
	if nc, err := nats.Connect(e.ClientURL(), nats.InProcessServer(e.Server)); err == nil {
		nc.Close()
		t.Fatal("an anonymous in-process client was accepted")
	}
	nc, err := nats.Connect(e.ClientURL(), nats.InProcessServer(e.Server), e.Service.Option())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := eventstore.CheckStreams(context.Background(), js); err != nil {
		t.Fatalf("the streams made at start: %v", err)
	}
}

// TestOperatorCannotChangeTheProjectorsConsumer: the read-only operator
// key reads the stream with an ordered consumer, as `nats stream view` and
// `audit replay` do, but may not create, and so change, the projector's
// durable consumer: not by its name, and not by the legacy create subject,
// which names the consumer in the body only and creates or updates it.
func TestOperatorCannotChangeTheProjectorsConsumer(t *testing.T) {
	t.Parallel()
	e, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { e.Shutdown(); e.WaitForShutdown() }()
	ctx := context.Background()
	svc, err := nats.Connect(e.ClientURL(), nats.InProcessServer(e.Server), e.Service.Option())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	js, _ := jetstream.New(svc)
	if _, err := js.Publish(ctx, "families.F1.sof.family.referred", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, eventstore.FamilyStream, jetstream.ConsumerConfig{
		Durable: eventstore.ProjectorConsumer(""), AckPolicy: jetstream.AckAllPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := cons.CachedInfo().Config

	opt, err := nats.NkeyOptionFromSeed(e.KeyFile(eventstore.RoleOperator))
	if err != nil {
		t.Fatal(err)
	}
	op, err := nats.Connect(e.ClientURL(), opt, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	ojs, _ := jetstream.New(op)

	// What the operator is for: an ordered consumer reads the stream.
	oc, err := ojs.OrderedConsumer(ctx, eventstore.FamilyStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("operator's ordered consumer: %v", err)
	}
	if m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil || m.Subject() != "families.F1.sof.family.referred" {
		t.Fatalf("operator reading the stream: %v", err)
	}

	// The projector's consumer, filtered to nothing and paused for a
	// year, by name and by the legacy subject (no durable: it takes
	// none).
	changed := want
	changed.Durable, changed.Name = "", eventstore.ProjectorConsumer("")
	changed.FilterSubject = "families.nobody.>"
	until := time.Now().Add(365 * 24 * time.Hour)
	changed.PauseUntil = &until
	body, _ := json.Marshal(map[string]any{"stream_name": eventstore.FamilyStream, "config": changed})
	for _, subject := range []string{
		"$JS.API.CONSUMER.CREATE." + eventstore.FamilyStream + "." + changed.Name,
		"$JS.API.CONSUMER.CREATE." + eventstore.FamilyStream,
	} {
		// Refused, the request has no answer.
		if resp, err := op.Request(subject, body, time.Second); err == nil {
			t.Errorf("%s: answered %s", subject, resp.Data)
		}
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatalf("the projector's consumer: %v", err)
	}
	if got := info.Config; got.FilterSubject != want.FilterSubject || got.PauseUntil != nil || info.Paused || got.Durable != want.Durable {
		t.Errorf("the operator changed the projector's consumer: filter %q, paused %v until %v, durable %q",
			got.FilterSubject, info.Paused, got.PauseUntil, got.Durable)
	}
}

// TestDepartmentAccountsKeepTheServicesStreams: a listening embedded
// server puts each department's key in an account of its own, without
// JetStream, and keeps the streams in the services' account, the global
// account: the streams stored by a server with no such accounts (as
// before, or with -nats-listen off) are all there after a restart with
// them.
func TestDepartmentAccountsKeepTheServicesStreams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := func(listen string) *eventstore.Embedded {
		t.Helper()
		e, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: dir, Listen: listen})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	connect := func(e *eventstore.Embedded) jetstream.JetStream {
		t.Helper()
		nc, err := nats.Connect(e.ClientURL(), nats.InProcessServer(e.Server), e.Service.Option())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	ctx := context.Background()
	e := start("off")
	js := connect(e)
	for i := range 3 {
		if _, err := js.Publish(ctx, "families.F1.sof.family.referred", []byte(`{}`)); err != nil {
			t.Fatal(i, err)
		}
	}
	e.Shutdown()
	e.WaitForShutdown()

	e = start("127.0.0.1:-1")
	defer func() { e.Shutdown(); e.WaitForShutdown() }()
	svc, err := e.LookupAccount(eventstore.ServicesAccount)
	if err != nil || !svc.JetStreamEnabled() {
		t.Fatalf("services' account: %v, JetStream %v", err, err == nil && svc.JetStreamEnabled())
	}
	for _, d := range eventstore.Departments {
		acc, err := e.LookupAccount(eventstore.DepartmentAccount(d))
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if acc.JetStreamEnabled() {
			t.Errorf("%s: JetStream is enabled", acc.Name)
		}
		if n := acc.NumConnections(); n != 0 {
			t.Errorf("%s: %d connections before any", acc.Name, n)
		}
	}
	js = connect(e)
	fam, err := js.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := fam.CachedInfo().State.Msgs; n != 3 {
		t.Fatalf("%s holds %d messages after the restart, want 3", eventstore.FamilyStream, n)
	}
	// A department's key connects to its own account.
	opt, err := nats.NkeyOptionFromSeed(e.KeyFile("bif"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(e.ClientURL(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	acc, _ := e.LookupAccount(eventstore.DepartmentAccount("bif"))
	if n := acc.NumConnections(); n != 1 {
		t.Errorf("%s: %d connections, want bif.nk's", acc.Name, n)
	}
}

// A client allowed to update streams turns off atomic publishing on
// FAMILY_EVENTS. The stream then refuses every batch whole, and nothing
// of it is stored: a write the caller may retry once an operator has
// restored the stream, as it may while the store is unreachable, not an
// error of the request.
func TestBatchRefusedForAtomicPublishOffIsUnavailable(t *testing.T) {
	t.Parallel()
	s, admin := openDamageable(t)
	ctx := context.Background()
	cfg := eventstore.FamilyStreamConfig(eventstore.StreamOptions{})
	cfg.AllowAtomicPublish = false
	if _, err := admin.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	pub, err := eventstore.NewPublisher(s.NC)
	if err != nil {
		t.Fatal(err)
	}
	ms := []eventstore.Message{
		{Subject: "families.A.bif.x", Data: []byte(`{}`), MsgID: "1"},
		{Subject: "families.A.bif.x", Data: []byte(`{}`), MsgID: "2"},
	}
	if _, err := pub.PublishBatch(ctx, ms); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("batch on a stream without atomic publish: %v, want ErrUnavailable", err)
	}
	st, err := s.JS.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 0 {
		t.Fatalf("the refused batch stored %d messages", n)
	}
}
