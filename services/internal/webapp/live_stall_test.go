package webapp_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/testenv"
	"kk.dk/jobogfamilie/services/internal/webapp"
)

// liveHandlers counts the handlers of live views that run, and returns
// the stack of one.
func liveHandlers() (int, string) {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var stack string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "(*App).handleLive(") {
			n++
			stack = g
		}
	}
	return n, stack
}

// waitNoLiveHandlers fails the test unless every live view's handler has
// returned within d.
func waitNoLiveHandlers(t *testing.T, d time.Duration, why string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		n, stack := liveHandlers()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the live view's handler still runs after %v; it is in:\n%s", why, d, stack)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// smallSendBuffers hands out connections with a small send buffer, so
// that a browser that stops reading blocks the app's writes after a few
// kilobytes of small live entries, not the megabytes the system would
// otherwise buffer.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// openStalledLive opens the live view at path with b's session (from
// Last-Event-ID lastID unless it is empty) on a connection with a small
// receive buffer, reads its status line and then never reads again.
func openStalledLive(t *testing.T, b *browser, path, lastID string) net.Conn {
	t.Helper()
	u, _ := url.Parse(b.base + path)
	var cookies []string
	for _, c := range b.c.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
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
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n%s\r\n", u.RequestURI(), u.Host, strings.Join(cookies, "; "), resume)
	line, err := bufio.NewReaderSize(conn, 16).ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("live view: %q %v", line, err)
	}
	return conn
}

// TestStalledLiveClientIsDisconnected: a browser that opens a family
// page's live view and then stops reading neither keeps its handler (and
// connection) nor holds the server's graceful stop. One that stalls while
// the view sends the stored entries of a resume is dropped once it falls
// behind the live entries too, and its handler, blocked writing, returns
// at once; one that stalls with nothing live coming is disconnected when
// a write passes its deadline. Not parallel: it counts every live view's
// handler in the process.
func TestStalledLiveClientIsDisconnected(t *testing.T) {
	sa := testenv.Start(t, testenv.Config(t))
	a, err := webapp.New(webapp.Options{Projector: sa.Projector, Auth: sa.Auth, NC: sa.Store.NC, JS: sa.Store.JS,
		Log: testenv.QuietLog()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	service.Mount(mux, testenv.QuietLog(), a)
	srv := httptest.NewUnstartedServer(problem.Mux(mux))
	srv.Listener = smallSendBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	e := &env{t: t, sa: sa, app: srv.URL}

	const fam = "FAM-STALL"
	e.enrol(fam, "E1001")
	// publish sends n entries of the family straight to the stream (valid
	// catalog events, so they are applied and streamed; quicker than
	// through ingest), one at a time, and waits until they are applied.
	subject := events.Subject(fam, events.SOF, "meeting.held")
	publish := func(n int) {
		var last uint64
		for range n {
			ce, err := events.Build(events.SOF, fam, &events.MeetingHeld{Kind: "team"})
			if err != nil {
				t.Fatal(err)
			}
			events.StampSchema(&ce)
			raw, _ := events.Marshal(ce)
			msg := nats.NewMsg(subject)
			msg.Data = raw
			msg.Header.Set("Nats-Msg-Id", ce.ID())
			ack, err := sa.Store.JS.PublishMsg(context.Background(), msg)
			if err != nil {
				t.Fatal(err)
			}
			last = ack.Sequence
		}
		e.waitApplied(last)
	}
	// Stored entries: far more than the socket buffers hold.
	publish(2000)
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	m := liveURL.FindStringSubmatch(b.open(fam, "Akut henvendelse").Body)
	if m == nil {
		t.Fatal("no live URL")
	}
	path := strings.ReplaceAll(m[1], "&amp;", "&")

	// Resumed from the start, the view blocks writing the stored entries.
	// Live entries then come in more batches than the subscriber buffers:
	// it is dropped, and its handler ends well before a write's deadline
	// would end it.
	openStalledLive(t, b, path, "0")
	if n, _ := liveHandlers(); n != 1 {
		t.Fatalf("%d live view handlers", n)
	}
	const live = 1000
	publish(live)
	waitNoLiveHandlers(t, 5*time.Second, fmt.Sprintf("dropped after %d live entries", live))

	// Stalled again with nothing live coming: only the write deadline
	// ends it.
	webapp.SetLiveWriteTimeout(a, time.Second)
	openStalledLive(t, b, path, "0")
	waitNoLiveHandlers(t, 10*time.Second, "stalled on the stored entries")
}
