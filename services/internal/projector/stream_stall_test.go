package projector_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/projector"
)

// streamHandlers counts the handlers of timeline streams that run, and
// returns the stack of one.
func streamHandlers() (int, string) {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var stack string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "(*Projector).handleStream(") {
			n++
			stack = g
		}
	}
	return n, stack
}

// waitNoStreamHandlers fails the test unless every stream handler has
// returned within d.
func waitNoStreamHandlers(t *testing.T, d time.Duration, why string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		n, stack := streamHandlers()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the stream's handler still runs after %v; it is in:\n%s", why, d, stack)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// openStalled opens the family's timeline stream (from Last-Event-ID
// lastID unless it is empty) on a connection with a small receive buffer,
// reads its status line and then never reads again.
func openStalled(t *testing.T, s *system, fam, lastID string) net.Conn {
	t.Helper()
	u, _ := url.Parse(s.SA.URL())
	var d net.Dialer
	conn, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	resume := ""
	if lastID != "" {
		resume = "Last-Event-ID: " + lastID + "\r\n"
	}
	fmt.Fprintf(conn, "GET /v1/families/%s/timeline/stream HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer dev-coordinator\r\n%s\r\n", fam, u.Host, resume)
	line, err := bufio.NewReaderSize(conn, 16).ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("stream: %q %v", line, err)
	}
	return conn
}

// TestStalledStreamClientIsDisconnected: a client that opens the
// timeline stream and then stops reading neither keeps its handler (and
// connection) nor holds the server's shutdown. Once it falls behind the
// live entries it is dropped, and its handler, blocked writing, returns
// at once; one that stalls on the stored entries of a resume is
// disconnected when a write passes its deadline.
func TestStalledStreamClientIsDisconnected(t *testing.T) {
	s := startSystem(t)
	const fam = "F-STALL"
	s.enrol(fam, "E1001")
	s.WaitApplied(s.post(events.SOF, fam, &events.MeetingHeld{Kind: "team"}))

	openStalled(t, s, fam, "")
	if n, _ := streamHandlers(); n != 1 {
		t.Fatalf("%d stream handlers", n)
	}

	// Many large entries of the family, published directly (valid catalog
	// events, so they are applied and streamed): far more than the
	// socket buffers and the subscriber's buffer hold.
	parts := make([]string, 50)
	for i := range parts {
		parts[i] = fmt.Sprintf("E%063d", i)
	}
	subject := events.Subject(fam, events.SOF, "meeting.held")
	const n = 4000
	var last uint64
	for range n {
		ce, err := events.Build(events.SOF, fam, &events.MeetingHeld{Kind: "team", Participants: parts})
		if err != nil {
			t.Fatal(err)
		}
		events.StampSchema(&ce)
		b, _ := events.Marshal(ce)
		msg := nats.NewMsg(subject)
		msg.Data = b
		msg.Header.Set("Nats-Msg-Id", ce.ID())
		ack, err := s.js.PublishMsg(context.Background(), msg)
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Sequence
	}
	s.WaitApplied(last)
	// The subscriber has long been dropped (it buffers 64 batches); its
	// handler ends well before a write's deadline would end it.
	waitNoStreamHandlers(t, 5*time.Second, fmt.Sprintf("dropped after %d live entries", n))

	// Resumed from the start, the stream has every stored entry to send
	// and nothing live: only the write deadline ends it.
	projector.SetStreamWriteTimeout(s.SA.Projector, time.Second)
	openStalled(t, s, fam, "0")
	waitNoStreamHandlers(t, 10*time.Second, "stalled on the stored entries")
}
