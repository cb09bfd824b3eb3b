package readmodel_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestFollowerBoundsFamilyStates: the audit follower, once caught up,
// keeps at most CacheFamilies folded family states, and a family whose
// state it dropped is folded again from its rows at its next event, so
// that its overview counts every event.
func TestFollowerBoundsFamilyStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := testenv.OpenStore(t, nil)
	publish := func(fam string, data events.Payload) uint64 { return publishEvent(t, st.JS, fam, events.SOF, data) }
	f, err := readmodel.Follow(ctx, readmodel.FollowerOptions{Dir: t.TempDir(), JS: st.JS, Log: testenv.QuietLog(), CacheFamilies: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	fams := []string{"F-FOLLOW-1", "F-FOLLOW-2", "F-FOLLOW-3", "F-FOLLOW-4", "F-FOLLOW-5"}
	for _, fam := range fams {
		publish(fam, &events.FamilyReferred{Reason: "Bekymring"})
		if err := f.WaitFor(wctx, publish(fam, &events.MeetingHeld{Kind: "team"})); err != nil {
			t.Fatal(err)
		}
	}
	if n := readmodel.FollowerStates(f); n > 2 {
		t.Fatalf("%d family states held, limit 2", n)
	}
	if err := f.WaitFor(wctx, publish(fams[0], &events.MeetingHeld{Kind: "team"})); err != nil {
		t.Fatal(err)
	}
	if n, err := readmodel.FollowerFamilyEvents(ctx, f, fams[0]); err != nil || n != 3 {
		t.Fatalf("%s's overview counts %d events (%v), want 3", fams[0], n, err)
	}
}

// publishEvent stores an event of fam on the stream, as a department
// system's is stored, and returns its sequence.
func publishEvent(t testing.TB, js jetstream.JetStream, fam string, dept events.Department, data events.Payload) uint64 {
	t.Helper()
	ev, err := events.Build(dept, fam, data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := events.SpecOf(data)
	ack, err := js.Publish(context.Background(), events.Subject(fam, dept, spec.Name), b)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}
