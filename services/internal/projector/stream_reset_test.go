package projector_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestStreamResetAfterReplacedStream: a rebuild over a replaced, shorter
// stream ends the open timeline streams with an event "reset", and a
// stream resumed with a Last-Event-ID beyond the new stream's end is
// answered the same, instead of waiting silently for sequences the new
// stream has not reached. A stream opened after the reset without a
// Last-Event-ID gets the new entries.
func TestStreamResetAfterReplacedStream(t *testing.T) {
	t.Parallel()
	n, st, p, srv, ctx := serveStreams(t)

	waitPosition(t, p, publish(t, st, 0, 30))
	// F1's entries of the first stream end at sequence 27.
	_, ch, _ := openStreamAt(t, ctx, srv.URL, "F1", "dev-auditor", "0")
	var lastID uint64
	for _, ev := range receive(t, ch, 5) {
		lastID = ev.id
	}
	if lastID != 27 {
		t.Fatalf("last entry of F1: %d, want 27", lastID)
	}

	if err := n.Admin.DeleteStream(ctx, eventstore.FamilyStream); err != nil {
		t.Fatal(err)
	}
	if err := eventstore.EnsureStreams(ctx, n.Admin, eventstore.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	publish(t, st, 0, 12)
	checkFor(t, 20*time.Second, func() error {
		if p.Ready(ctx) == nil {
			return fmt.Errorf("still ready at %d", p.Position())
		}
		return nil
	})
	if err := p.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, ch, 1)[0]; ev.kind != "reset" || ev.raw != `{"position":12}` {
		t.Errorf("the open stream after the rebuild: %+v, want a reset at position 12", ev)
	}

	// A client that resumes after its last id is told too.
	_, ch2, _ := openStreamAt(t, ctx, srv.URL, "F1", "dev-auditor", fmt.Sprint(lastID))
	if ev := receive(t, ch2, 1)[0]; ev.kind != "reset" || ev.raw != `{"position":12}` {
		t.Errorf("a stream resumed after %d: %+v, want a reset at position 12", lastID, ev)
	}

	// Started again, it follows the new stream.
	_, ch3, _ := openStreamAt(t, ctx, srv.URL, "F1", "dev-auditor", "")
	ce, _ := events.Build(events.SOF, "F1", &events.MeetingHeld{Kind: "team"})
	b, _ := events.Marshal(ce)
	ack, err := st.JS.Publish(ctx, events.Subject("F1", events.SOF, "meeting.held"), b)
	if err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, ch3, 1)[0]; ev.id != ack.Sequence {
		t.Errorf("a new stream after the reset: %+v, want the entry at %d", ev, ack.Sequence)
	}
}

// TestStreamSubscribedAcrossRebuild: a stream opened without Last-Event-ID
// whose read is logged before a rebuild swaps in a model over a replaced,
// shorter stream, and which subscribes after the swap, follows the new
// stream from its position: it does not skip the new stream's entries up
// to the old position.
func TestStreamSubscribedAcrossRebuild(t *testing.T) {
	t.Parallel()
	n, st, p, srv, ctx := serveStreams(t)
	waitPosition(t, p, publish(t, st, 0, 30))

	// Between the stream's access-log entry and its subscription: the
	// stream replaced by one of 12 events, and the read model rebuilt
	// over it.
	var once sync.Once
	projector.SetBeforeSubscribe(p, func() {
		once.Do(func() {
			if err := n.Admin.DeleteStream(ctx, eventstore.FamilyStream); err != nil {
				t.Error(err)
				return
			}
			if err := eventstore.EnsureStreams(ctx, n.Admin, eventstore.StreamOptions{}); err != nil {
				t.Error(err)
				return
			}
			publish(t, st, 0, 12)
			for p.Ready(ctx) == nil {
				time.Sleep(10 * time.Millisecond)
			}
			if err := p.Rebuild(ctx); err != nil {
				t.Error(err)
			}
		})
	})
	_, ch, _ := openStreamAt(t, ctx, srv.URL, "F1", "dev-auditor", "")
	projector.SetBeforeSubscribe(p, nil)
	if p.Position() != 12 {
		t.Fatalf("rebuilt at %d, want 12", p.Position())
	}
	ce, _ := events.Build(events.SOF, "F1", &events.MeetingHeld{Kind: "team"})
	b, _ := events.Marshal(ce)
	ack, err := st.JS.Publish(ctx, events.Subject("F1", events.SOF, "meeting.held"), b)
	if err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, ch, 1)[0]; ev.id != ack.Sequence {
		t.Errorf("the stream subscribed after the rebuild: %+v, want the entry at %d", ev, ack.Sequence)
	}
}

// serveStreams starts a NATS server whose stream a test may replace, a
// projector on it and an HTTP server of its API, and returns them with a
// context for the test's streams, canceled at its end before the servers
// close (the HTTP server's close waits for open streams).
func serveStreams(t *testing.T) (*testenv.NATS, *eventstore.Store, *projector.Projector, *httptest.Server, context.Context) {
	t.Helper()
	n := testenv.StartNATS(t)
	st := n.Open(t)
	p := newProjector(t, st, t.TempDir(), 0, nil)
	t.Cleanup(func() { _ = p.Close() })
	mux := http.NewServeMux()
	service.Mount(mux, slog.New(slog.DiscardHandler), p)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return n, st, p, srv, ctx
}
