package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestPullRecoversALostRequest: a read whose first pull request meets no
// consumer (as on a cluster right after the consumer is created, before
// its leader's interest has reached the client's server) still receives
// the next message within seconds, not after nats.go's default 30 s.
func TestPullRecoversALostRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	js := testenv.StartNATS(t).Admin
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PULL_TEST", Subjects: []string{"pulltest.>"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := jetstream.ConsumerConfig{Durable: "reader", AckPolicy: jetstream.AckAllPolicy}
	cons, err := stream.CreateConsumer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The handle stays; the consumer behind it goes, so the first pull
	// request is answered 503, no responders.
	if err := stream.DeleteConsumer(ctx, "reader"); err != nil {
		t.Fatal(err)
	}
	it, err := cons.Messages(eventstore.Pull(100)...)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	// The first Next sends the first pull request, which is lost.
	if _, err := it.Next(jetstream.NextMaxWait(300 * time.Millisecond)); err == nil {
		t.Fatal("a message from a deleted consumer")
	}
	if _, err := stream.CreateConsumer(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "pulltest.1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msg, err := it.Next(jetstream.NextMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no message %v after the lost pull request: %v", time.Since(start), err)
	}
	if string(msg.Data()) != "x" {
		t.Fatalf("got %q", msg.Data())
	}
	t.Logf("received %v after the publish", time.Since(start).Round(time.Millisecond))
}
