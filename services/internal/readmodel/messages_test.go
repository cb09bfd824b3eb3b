package readmodel

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// TestParseAckSubject: the projector reads a message's sequence, time and
// pending count as nats.go's own metadata parser does, for both forms of
// the subject, and leaves any other form to it.
func TestParseAckSubject(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		reply string
		ok    bool
	}{
		{"$JS.ACK.FAMILY_EVENTS.projector.1.42.40.1700000000123456789.7", true},
		{"$JS.ACK._.ACCHASH.FAMILY_EVENTS.projector.3.42.40.1700000000123456789.0.RANDOM", true},
		{"$JS.ACK.hub.ACCHASH.FAMILY_EVENTS.projector.3.18446744073709551615.40.1700000000123456789.12", true},
		{"$JS.ACK._.ACCHASH.FAMILY_EVENTS.projector.3.42.40.1700000000123456789.0.RANDOM.LATER", true},
		{"$JS.ACK.FAMILY_EVENTS.projector.1.42.40.1700000000123456789", false},   // 8 tokens
		{"$JS.ACK._.ACCHASH.FAMILY_EVENTS.projector.1.42.40.17000000001", false}, // 10 tokens
		{"$JS.ACK.FAMILY_EVENTS.projector.1.4x.40.1700000000123456789.7", false}, // not a number
		{"$JS.NAK.FAMILY_EVENTS.projector.1.42.40.1700000000123456789.7", false},
		{"", false},
	} {
		got, ok := parseAckSubject(c.reply)
		if ok != c.ok {
			t.Errorf("%q: ok %v, want %v", c.reply, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		md, err := (&nats.Msg{Reply: c.reply, Sub: &nats.Subscription{}}).Metadata()
		if err != nil {
			t.Fatalf("%q: nats.go: %v", c.reply, err)
		}
		want := delivery{seq: md.Sequence.Stream, pending: md.NumPending, recorded: md.Timestamp}
		if got != want {
			t.Errorf("%q: %+v, nats.go reads %+v", c.reply, got, want)
		}
	}
}

// TestMetadataOfStoredMessages: on messages a JetStream server delivers,
// metadataOf agrees with msg.Metadata.
func TestMetadataOfStoredMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := eventstore.Open(ctx, eventstore.OpenOptions{
		Embedded: eventstore.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "off"},
		Name:     "test", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for deadline := time.Now().Add(10 * time.Second); st.Ready(ctx) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the store is not ready")
		}
	}
	const n = 3
	for range n {
		if _, err := st.JS.Publish(ctx, "families.F1.sof.family.referred", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := st.JS.OrderedConsumer(ctx, eventstore.FamilyStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for msg := range batch.Messages() {
		seen++
		if _, ok := parseAckSubject(msg.Reply()); !ok {
			t.Errorf("reply subject %q not read", msg.Reply())
		}
		got, err := metadataOf(msg)
		if err != nil {
			t.Fatal(err)
		}
		md, err := msg.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if want := (delivery{seq: md.Sequence.Stream, pending: md.NumPending, recorded: md.Timestamp}); got != want || got.seq != uint64(seen) {
			t.Errorf("message %d: %+v, msg.Metadata reads %+v", seen, got, want)
		}
	}
	if seen != n {
		t.Fatalf("%d messages fetched, want %d", seen, n)
	}
}
