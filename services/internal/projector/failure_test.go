package projector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// TestNoUnloggedReads: when the access log cannot be written, family data
// is refused with 503; lists carry no family data and still work.
func TestNoUnloggedReads(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	ctx := context.Background()
	s.waitApplied(s.enrol("FAM-NOLOG", "E1001"))
	if err := s.js.DeleteStream(ctx, eventstore.AccessLogStream); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/families/FAM-NOLOG", "/v1/families/FAM-NOLOG/timeline", "/v1/families/FAM-NOLOG/timeline/stream"} {
		r := s.get(path, "dev-coordinator", nil)
		if r.Status != 503 || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s without an access log: %d %s", path, r.Status, r.Raw)
		}
	}
	if r := s.get("/v1/families", "dev-coordinator", nil); r.Status != 200 {
		t.Errorf("list: %d", r.Status)
	}
	if err := eventstore.EnsureStreams(ctx, s.js, eventstore.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := s.get("/v1/families/FAM-NOLOG", "dev-coordinator", nil); r.Status != 200 {
		t.Errorf("with the access log back: %d %s", r.Status, r.Raw)
	}
}

// TestStreamReplaced: a read model ahead of its stream (the stream was
// deleted and created again) is reported not ready; a rebuild brings it
// back in step and the projector follows the new stream.
func TestStreamReplaced(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	p := newProjector(t, st, t.TempDir(), 0, nil)
	defer p.Close()
	waitPosition(t, p, publish(t, st, 0, 30))
	if err := st.JS.DeleteStream(ctx, eventstore.FamilyStream); err != nil {
		t.Fatal(err)
	}
	if err := eventstore.EnsureStreams(ctx, st.JS, eventstore.StreamOptions{}); err != nil {
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
