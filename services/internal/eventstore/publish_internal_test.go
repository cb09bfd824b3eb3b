package eventstore

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestRequestEndsWhenConnectionDrops: a wait for an acknowledgement ends
// when the connection drops, not at its timeout; once the connection is
// back, new waits last again.
func TestRequestEndsWhenConnectionDrops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ns, err := StartEmbedded(EmbeddedOptions{StoreDir: dir, Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	addr := ns.Addr().(*net.TCPAddr)
	seed := ns.Service.Seed()
	nc, err := nats.Connect(ns.ClientURL(), append(ConnectOptions("test"), ns.Service.Option())...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, err := NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	p.Timeout = time.Minute
	ctx, done := p.requestContext(context.Background())
	defer done()
	ns.Shutdown()
	ns.WaitForShutdown()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the wait went on after the connection dropped")
	}

	ns, err = StartEmbedded(EmbeddedOptions{StoreDir: dir, Listen: addr.String(), ServiceSeed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	// testenv.CheckFor would be the helper, but it imports this package.
	waitFor := func(what string, cond func() bool) {
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	waitFor("no reconnect", func() bool { return nc.Status() == nats.CONNECTED })
	// The reconnect handler runs after the status changes.
	waitFor("the reconnect handler did not run", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.conn.Err() == nil
	})
	ctx2, done2 := p.requestContext(context.Background())
	defer done2()
	select {
	case <-ctx2.Done():
		t.Fatalf("a wait after the reconnect ended at once: %v", ctx2.Err())
	case <-time.After(200 * time.Millisecond):
	}
}

// TestEveryPublisherOnAConnectionSeesItDrop: publishers sharing a
// connection (the standalone's ingest and erasure) are all told when it
// drops, and when it is back, as is a handler the connection had before.
func TestEveryPublisherOnAConnectionSeesItDrop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ns, err := StartEmbedded(EmbeddedOptions{StoreDir: dir, Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	addr := ns.Addr().(*net.TCPAddr)
	seed := ns.Service.Seed()
	dropped := make(chan struct{}, 1)
	nc, err := nats.Connect(ns.ClientURL(), append(ConnectOptions("test"), ns.Service.Option(),
		nats.DisconnectErrHandler(func(*nats.Conn, error) {
			select {
			case dropped <- struct{}{}:
			default:
			}
		}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var pubs []*Publisher
	var waits []context.Context
	for range 2 {
		p, err := NewPublisher(nc)
		if err != nil {
			t.Fatal(err)
		}
		p.Timeout = time.Minute
		ctx, done := p.requestContext(context.Background())
		defer done()
		pubs, waits = append(pubs, p), append(waits, ctx)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	for i, ctx := range waits {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("publisher %d: the wait went on after the connection dropped", i)
		}
	}
	select {
	case <-dropped:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection's own disconnect handler was not called")
	}

	ns, err = StartEmbedded(EmbeddedOptions{StoreDir: dir, Listen: addr.String(), ServiceSeed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	for i, p := range pubs {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			p.mu.Lock()
			back := p.conn.Err() == nil
			p.mu.Unlock()
			if back {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publisher %d was not told the connection is back", i)
			}
		}
	}
}
