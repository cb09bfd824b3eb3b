package readmodel_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestFollowerRetriesScrubWhileIdle: an erasure the audit follower applies
// while a reader holds a snapshot leaves its scrub pending; once the
// reader lets go, the scrub is finished with no further event to apply,
// so the erased text leaves the follower's files as it leaves the
// projector's.
func TestFollowerRetriesScrubWhileIdle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := testenv.OpenStore(t, nil)
	const secret = "FollowerErasedSecretQW"
	publish := func(dept events.Department, data events.Payload) uint64 {
		return publishEvent(t, st.JS, "F-ERASE", dept, data)
	}
	ref := publish(events.SOF, &events.FamilyReferred{Reason: secret})
	dir := t.TempDir()
	f, err := readmodel.FollowQuickScrub(ctx, readmodel.FollowerOptions{Dir: dir, JS: st.JS, Log: testenv.QuietLog()}, 50*time.Millisecond, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.WaitFor(wctx, ref); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, readmodel.FollowerFile)
	release, err := readmodel.PinSnapshot(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	erased := publish(events.Service, &events.FamilyErased{Reason: "Formål ophørt"})
	if err := f.WaitFor(wctx, erased); err != nil {
		release()
		t.Fatal(err)
	}
	if !readmodel.FollowerScrubPending(f) {
		release()
		t.Fatal("a reader held a snapshot, yet the erasure's scrub is not pending")
	}
	release()
	testenv.CheckFor(t, 5*time.Second, func() error {
		if readmodel.FollowerScrubPending(f) {
			return fmt.Errorf("the scrub is still pending with no reader and no new event")
		}
		for _, p := range []string{path, path + "-wal"} {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte(secret)) {
				return fmt.Errorf("the erased text is still in %s", filepath.Base(p))
			}
		}
		return nil
	})
}

// TestFollowerScrubsCatchUpOnceWhenReady: a follower that catches up
// over a stream with several erasures, one batch each, scrubs once, when
// it has caught up: by the time it is ready the erased text is in neither
// its file nor its WAL.
func TestFollowerScrubsCatchUpOnceWhenReady(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := testenv.OpenStore(t, nil)
	const secret = "FollowerCatchUpSecretZK"
	publish := func(fam string, dept events.Department, data events.Payload) { publishEvent(t, st.JS, fam, dept, data) }
	fams := []string{"F-CU1", "F-CU2", "F-CU3"}
	for _, fam := range fams {
		publish(fam, events.SOF, &events.FamilyReferred{Reason: secret + " " + fam})
	}
	for _, fam := range fams {
		publish(fam, events.Service, &events.FamilyErased{Reason: "Formål ophørt"})
	}
	dir := t.TempDir()
	f, err := readmodel.Follow(ctx, readmodel.FollowerOptions{Dir: dir, JS: st.JS, Log: testenv.QuietLog(), BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	testenv.CheckFor(t, 10*time.Second, func() error { return f.Ready(ctx) })
	path := filepath.Join(dir, readmodel.FollowerFile)
	for _, p := range []string{path, path + "-wal"} {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("ready, yet the erased text is still in %s", filepath.Base(p))
		}
	}
	if n := readmodel.FollowerVacuums(f); n != 1 || readmodel.FollowerScrubPending(f) {
		t.Errorf("caught up over %d erasures: %d VACUUMs, pending %v; want 1, not pending", len(fams), n, readmodel.FollowerScrubPending(f))
	}
}
