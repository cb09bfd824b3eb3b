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
	nc, err := nats.Connect(ns.ClientURL(), ConnectOptions("test")...)
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

	ns, err = StartEmbedded(EmbeddedOptions{StoreDir: dir, Listen: addr.String()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	for deadline := time.Now().Add(10 * time.Second); nc.Status() != nats.CONNECTED; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no reconnect")
		}
	}
	// The reconnect handler runs after the status changes.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		p.mu.Lock()
		live := p.conn.Err() == nil
		p.mu.Unlock()
		if live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reconnect handler did not run")
		}
	}
	ctx2, done2 := p.requestContext(context.Background())
	defer done2()
	select {
	case <-ctx2.Done():
		t.Fatalf("a wait after the reconnect ended at once: %v", ctx2.Err())
	case <-time.After(200 * time.Millisecond):
	}
}
