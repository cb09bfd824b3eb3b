package eventstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// TestOperatorCannotFindTheServicesConsumers: the standalone's operator
// key (operator.nk, RELIABILITY.md: cannot "change or delete a stream, a
// message or a consumer") may create ordered consumers, which is what
// `audit replay|verify|export` and `nats stream view` read with, and a
// consumer create with the name of an existing consumer updates it. The
// services' ordered consumers (ingest's index follows the whole stream
// through one) are not the projector's, which is refused by name; they are
// kept from the operator by their names, which it cannot learn: it may not
// list a stream's consumers, and in an account of its own it receives none
// of the services' replies, which name their consumers. With a name it
// could re-filter ingest's consumer to families.nobody.>, and the service
// would receive nothing more.
//
// The audit CLI's key (audit.nk) reads as the operator's does, from an
// account of its own as well: the same holds for it.
func TestOperatorCannotFindTheServicesConsumers(t *testing.T) {
	for _, role := range []string{eventstore.RoleOperator, eventstore.RoleAudit} {
		t.Run(role, func(t *testing.T) { cannotFindTheServicesConsumers(t, role) })
	}
}

func cannotFindTheServicesConsumers(t *testing.T, role string) {
	ctx := context.Background()
	keyDir := filepath.Join(t.TempDir(), "nats")
	e, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1", KeyDir: keyDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(); e.WaitForShutdown() })

	opt, err := nats.NkeyOptionFromSeed(eventstore.KeyFile(keyDir, role))
	if err != nil {
		t.Fatal(err)
	}
	// The server's refusals of the key's requests arrive here: a refused
	// listing is told from a slow one by its permissions violation.
	violations := make(chan string, 64)
	op, err := nats.Connect(e.ClientURL(), opt, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case violations <- err.Error():
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	// The operator listens to every reply it may subscribe to while the
	// service reads.
	spy, err := op.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}

	svc, err := eventstore.Connect("", e.Server, "service", e.Service.Option())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sjs, _ := jetstream.New(svc)
	if _, err := sjs.Publish(ctx, "families.F1.sof.family.referred", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	stream, err := sjs.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	// As ingest's index follows the stream.
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{eventstore.FamilySubjects}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatal(err)
	}
	it, err := cons.Messages()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	if _, err := it.Next(); err != nil {
		t.Fatal(err)
	}
	name := cons.CachedInfo().Name

	// What the operator's key is for still works: its own ordered
	// consumer reads the stream.
	ojs, _ := jetstream.New(op)
	ost, err := ojs.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := ost.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("the operator's ordered consumer: %v", err)
	}
	if m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil || m.Subject() != "families.F1.sof.family.referred" {
		t.Fatalf("the operator reading the stream: %v", err)
	}

	// The operator looks for the service's consumer: by listing the
	// stream's consumers, and in the replies it received.
	found := map[string]bool{}
	refused := func(what, subject string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case v := <-violations:
				if strings.Contains(v, "Permissions Violation") && strings.Contains(v, subject) {
					return
				}
			case <-deadline:
				t.Errorf("the %s key %s, or was not refused within 30 s: %v", role, what, found)
				return
			}
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	names := ost.ConsumerNames(lctx)
	for n := range names.Name() {
		found[n] = true
	}
	cancel()
	if names.Err() == nil {
		t.Errorf("the %s key listed the consumers: %v", role, found)
	} else {
		refused("listed the consumers", "$JS.API.CONSUMER.NAMES.")
	}
	lctx, cancel = context.WithTimeout(ctx, 2*time.Second)
	infos := ost.ListConsumers(lctx)
	for ci := range infos.Info() {
		found[ci.Name] = true
	}
	cancel()
	if infos.Err() == nil {
		t.Errorf("the %s key listed the consumers' information: %v", role, found)
	} else {
		refused("listed the consumers' information", "$JS.API.CONSUMER.LIST.")
	}
	if _, err := sjs.Publish(ctx, "families.F2.bif.meeting.held", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := it.Next(); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := spy.NextMsg(500 * time.Millisecond)
		if err != nil {
			break
		}
		if md, err := m.Metadata(); err == nil {
			found[md.Consumer] = true
		}
	}
	if found[name] {
		t.Fatalf("the %s key found the service's consumer %s", role, name)
	}

	// Then changes every consumer it found: filtered to nothing.
	for n := range found {
		c, err := ost.Consumer(ctx, n)
		if err != nil {
			continue
		}
		cfg := c.CachedInfo().Config
		cfg.FilterSubject, cfg.FilterSubjects = "", []string{"families.nobody.>"}
		_, _ = ojs.UpdateConsumer(ctx, eventstore.FamilyStream, cfg)
	}
	if _, err := sjs.Publish(ctx, "families.F3.buf.meeting.held", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		m, err := it.Next()
		if err == nil && m.Subject() != "families.F3.buf.meeting.held" {
			err = errors.New("got " + m.Subject())
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the service's next event: %v", err)
		}
	case <-time.After(30 * time.Second):
		// A bound on a hang, not a speed: the event is on its way at once.
		info, _ := stream.Consumer(ctx, name)
		t.Fatalf("the service's consumer %s delivered nothing within 30 s: %+v", name, info)
	}
}
