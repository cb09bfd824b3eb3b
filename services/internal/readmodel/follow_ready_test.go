package readmodel_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestFollowerRefusesReadsUntilCaughtUp: the audit follower's model
// serves no read until it has applied the stream as it was when the
// follower started. Meanwhile its View refuses every read with
// ErrNotReady, a 503 "unavailable" with Retry-After, as the projector's
// reads are, rather than answer from a model that lacks the family, and
// Ready says why.
func TestFollowerRefusesReadsUntilCaughtUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := testenv.OpenStore(t, nil)
	const fam = "F-READY"
	var last uint64
	for _, data := range []events.Payload{&events.FamilyReferred{Reason: "x"}, &events.CaseworkerAssigned{EmployeeID: "E1001"}} {
		last = publishEvent(t, st.JS, fam, events.SOF, data)
	}
	held, hold := make(chan struct{}, 1), make(chan struct{})
	f, err := readmodel.FollowHooked(ctx, readmodel.FollowerOptions{Dir: t.TempDir(), JS: st.JS, Log: testenv.QuietLog()}, func() {
		select {
		case held <- struct{}{}:
		default:
		}
		<-hold
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	defer release()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the follower did not read its first batch")
	}

	// Held before its first batch: not ready, and every read refused.
	if err := f.Ready(ctx); err == nil || !strings.Contains(err.Error(), "catching up") {
		t.Fatalf("Ready before the first batch: %v", err)
	}
	v := f.View()
	refused := func(what string, err error) {
		t.Helper()
		var pr *problem.Problem
		if !errors.Is(err, readmodel.ErrNotReady) || !errors.As(err, &pr) || pr.Status != 503 || pr.RetryAfter == 0 || !strings.HasSuffix(pr.Type, "/unavailable") {
			t.Fatalf("%s before the model caught up: %v", what, err)
		}
	}
	refused("Servable", v.Servable(ctx))
	_, err = v.Persons(ctx, fam)
	refused("Persons", err)
	_, err = v.AsOf(ctx, fam, time.Now())
	refused("AsOf", err)
	_, err = v.RetentionFamilies(ctx)
	refused("RetentionFamilies", err)
	_, err = v.FamilyRefs(ctx, readmodel.RefQuery{FamilyID: fam})
	refused("FamilyRefs", err)

	release()
	testenv.CheckFor(t, 10*time.Second, func() error { return f.Ready(ctx) })
	if f.Position() < last {
		t.Fatalf("ready at %d, the stream's last sequence at start is %d", f.Position(), last)
	}
	if err := v.Servable(ctx); err != nil {
		t.Fatal(err)
	}
	if refs, err := v.FamilyRefs(ctx, readmodel.RefQuery{FamilyID: fam}); err != nil || len(refs) != 2 {
		t.Fatalf("FamilyRefs once caught up: %v %v", refs, err)
	}
}
