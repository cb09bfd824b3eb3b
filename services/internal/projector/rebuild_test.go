package projector_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestRebuildSwap: a rebuild over HTTP while readers read without pause;
// no read fails, the projection is the same afterwards, the old file is
// gone, and the live consumer goes on with the new model.
func TestRebuildSwap(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-RB"
	s.enrol(fam, "E1001")
	var last uint64
	for i := range 40 {
		last = s.post(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: float64(i)})
	}
	// Both versions of goal.set and praktik.started: the rebuild reads
	// them as the live consumer did (the digests below compare).
	s.post(events.SOF, fam, &events.GoalSet{GoalID: "G1", Title: "Job", Domain: "employment", ExpressedBy: "family"})
	s.post(events.SOF, fam, &events.GoalSetV2{GoalID: "G2", Title: "Familien", Domains: []string{"family", "school"}, ExpressedBy: "family"})
	s.post(events.BIF, fam, &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10})
	last = s.post(events.SOF, fam, &events.GoalProgressed{GoalID: "G1", Achievement: "improving"})
	s.WaitApplied(last)
	ctx := context.Background()
	before, err := s.SA.Projector.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldFile := projector.ModelFile(s.SA.Projector)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, failures atomic.Int64
	var firstFailure atomic.Value
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, path := range []string{"/v1/families/" + fam + "/timeline?limit=50", "/v1/families/" + fam} {
					r, err := s.TryGet(path, "dev-coordinator", nil)
					if err != nil {
						t.Errorf("GET %s: %v", path, err)
						return
					}
					reads.Add(1)
					if r.Status != 200 || (strings.HasSuffix(path, "50") && !strings.Contains(r.Raw, `"sequence"`)) {
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, fmt.Sprintf("%s: %d %s", path, r.Status, r.Raw))
					}
				}
			}
		}()
	}
	// Writes continue during the rebuild too.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.tryPost(events.SUF, fam, &events.HealthAssessed{PersonID: "P1", BarrierToWork: i%2 == 0}); err != nil {
				t.Errorf("write %d during the rebuild: %v", i, err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	r := s.Do("POST", "/v1/admin/rebuild", "dev-operator", nil, nil)
	if r.Status != 202 || r.Body["state"] != "running" {
		t.Fatalf("start: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/v1/admin/rebuild", "dev-coordinator", nil, nil); r.Status != 403 {
		t.Errorf("coordinator started a rebuild: %d", r.Status)
	}
	checkFor(t, 30*time.Second, func() error {
		r := s.Get("/v1/admin/rebuild", "dev-operator", nil)
		if r.Body["state"] != "done" {
			return fmt.Errorf("%s", r.Raw)
		}
		return nil
	})
	// Keep reading a little on the new model, then stop everything.
	n := reads.Load()
	checkFor(t, 10*time.Second, func() error {
		if reads.Load() < n+10 {
			return errors.New("readers stalled")
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if f := failures.Load(); f > 0 {
		t.Errorf("%d of %d reads failed during the rebuild; first: %v", f, reads.Load(), firstFailure.Load())
	}
	newFile := projector.ModelFile(s.SA.Projector)
	if newFile == oldFile {
		t.Fatalf("still on %s", oldFile)
	}
	// The old file goes once the reads that used it have ended.
	checkFor(t, 10*time.Second, func() error {
		if _, err := os.Stat(oldFile); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("old read model %s not removed: %v", oldFile, err)
		}
		return nil
	})
	cur, err := os.ReadFile(filepath.Join(filepath.Dir(newFile), "CURRENT"))
	if err != nil || strings.TrimSpace(string(cur)) != filepath.Base(newFile) {
		t.Errorf("CURRENT says %q, model is %s (%v)", cur, newFile, err)
	}
	// The live consumer applies to the new model.
	pos := s.post(events.SOF, fam, &events.MeetingHeld{Kind: "network"})
	p := s.timeline(fam, "limit=1", "dev-coordinator", minPos(pos))
	if len(p.Entries) != 1 || p.Entries[0].Sequence != pos {
		t.Fatalf("after the swap: %+v", p.Entries)
	}
	// A second rebuild of the settled stream gives the same projection.
	after, _ := s.SA.Projector.Digest(ctx)
	if err := s.SA.Projector.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	again, _ := s.SA.Projector.Digest(ctx)
	if after != again {
		t.Errorf("digest %s after the first rebuild, %s after the second", after, again)
	}
	if before == after {
		t.Errorf("digest unchanged although events were added")
	}
	// The rebuilt model presents the v1 events as v2, with storedType.
	tl := s.timeline(fam, "type=goal.set,praktik.started&limit=10", "dev-coordinator", nil)
	stored := 0
	for _, e := range tl.Entries {
		if spec, _ := events.ByType(e.Type); !spec.IsLatest() {
			t.Errorf("rebuilt entry %d of type %s", e.Sequence, e.Type)
		}
		if e.StoredType != "" {
			stored++
		}
	}
	if len(tl.Entries) != 3 || stored != 2 {
		t.Errorf("rebuilt timeline: %d entries, %d with storedType: %+v", len(tl.Entries), stored, tl.Entries)
	}
}

// TestRebuildCommand: the CLI triggers a rebuild and follows it.
func TestRebuildCommand(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	s.WaitApplied(s.enrol("FAM-CLI", "E1001"))
	var out, errOut bytes.Buffer
	getenv := func(string) string { return "" }
	code := projector.RebuildCommand(context.Background(), []string{"-url", s.SA.URL(), "-token", "dev-operator", "-interval", "20ms"}, getenv, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "rebuild done") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := projector.RebuildCommand(context.Background(), []string{"-url", s.SA.URL(), "-token", "dev-coordinator"}, getenv, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "403") {
		t.Errorf("coordinator token: exit %d: %s", code, errOut.String())
	}
	if code := projector.RebuildCommand(context.Background(), nil, getenv, &out, &errOut); code != 2 {
		t.Errorf("no token: exit %d", code)
	}
}

// store is an embedded NATS with the streams, for tests that run the
// projector without the standalone.
func newStore(t testing.TB) *eventstore.Store {
	t.Helper()
	return testenv.OpenStore(t, nil)
}

func newProjector(t testing.TB, st *eventstore.Store, dir string, batch int, setup func(*projector.Projector)) *projector.Projector {
	t.Helper()
	p := newProjectorStopped(t, st, dir, batch)
	if setup != nil {
		setup(p)
	}
	p.Start(context.Background())
	return p
}

// newProjectorStopped opens a projector without starting it.
func newProjectorStopped(t testing.TB, st *eventstore.Store, dir string, batch ...int) *projector.Projector {
	t.Helper()
	authn, err := auth.Load("")
	if err != nil {
		t.Fatal(err)
	}
	o := projector.Options{DataDir: dir, NC: st.NC, JS: st.JS, Auth: authn, Log: quietLog()}
	if len(batch) > 0 {
		o.BatchSize = batch[0]
	}
	p, err := projector.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// publish stores valid events straight on the stream, as ingest would.
func publish(t *testing.T, st *eventstore.Store, from, n int) uint64 {
	t.Helper()
	ctx := context.Background()
	var last uint64
	for i := from; i < from+n; i++ {
		fam := fmt.Sprintf("F%d", i%5)
		var data events.Payload
		dept := events.SOF
		switch {
		case i < 5:
			data = testenv.Enrolment()
		case i%7 == 0:
			data = &events.CaseworkerAssigned{EmployeeID: fmt.Sprintf("E%d", 1000+i%3)}
		case i%5 == 1:
			dept, data = events.BIF, &events.EmploymentStarted{PersonID: "P1", Kind: "small-job", HoursPerWeek: float64(i%30 + 1)}
		case i%3 == 0:
			dept, data = events.BUF, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: float64(i)}
		default:
			dept, data = events.SUF, &events.HealthAssessed{PersonID: "P1", BarrierToWork: i%2 == 0}
		}
		ce, err := events.Build(dept, fam, data, events.WithTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i*7919%1000)*time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := events.Marshal(ce)
		if i%11 == 0 {
			b = []byte("poison " + fmt.Sprint(i))
		}
		ack, err := st.JS.Publish(ctx, events.Subject(fam, dept, data.EventName()), b)
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Sequence
	}
	return last
}

// waitPosition waits until p applied pos. The bound only ends a test
// that would otherwise hang: under the race detector SQLite runs about ten
// times slower, and a projector applying 3000 batches of one event on a
// machine busy with other tests takes several seconds.
func waitPosition(t *testing.T, p *projector.Projector, pos uint64) {
	t.Helper()
	checkFor(t, time.Minute, func() error {
		if got := p.Position(); got < pos {
			return fmt.Errorf("at %d, want %d", got, pos)
		}
		return nil
	})
}

// TestCrashRecovery stops the projector between apply and commit and
// between commit and ack, restarts it on the same files each time, and
// compares the projection with one built cleanly from the same stream.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	last := publish(t, st, 0, 60)
	crashAt := func(beforeCommit bool, at uint64) func(*projector.Projector) {
		hook := func(seq uint64) error {
			if seq >= at {
				return errors.New("simulated crash")
			}
			return nil
		}
		return func(p *projector.Projector) {
			projector.SetBulkThreshold(p, 10) // crash during bulk loads too
			if beforeCommit {
				projector.SetHooks(p, hook, nil)
			} else {
				projector.SetHooks(p, nil, hook)
			}
		}
	}
	for i, c := range []struct {
		name         string
		beforeCommit bool
		at           uint64
	}{
		{"between commit and ack", false, 20},
		{"between apply and commit", true, 33},
		{"between apply and commit, first batch", true, 1},
		{"between commit and ack, again", false, 47},
	} {
		p := newProjector(t, st, dir, 7, crashAt(c.beforeCommit, c.at))
		select {
		case <-p.Done():
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the hook did not stop the projector", c.name)
		}
		if err := p.Close(); err == nil || !strings.Contains(err.Error(), "simulated crash") {
			t.Fatalf("%s: stopped with %v", c.name, err)
		}
		if i == 1 {
			// New events between crashes: families folded again from rows.
			last = publish(t, st, 60, 25)
		}
	}
	p := newProjector(t, st, dir, 7, func(p *projector.Projector) { projector.SetBulkThreshold(p, 10) })
	last = max(last, publish(t, st, 85, 30))
	waitPosition(t, p, last)
	got, err := p.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	if idx, _ := projector.Indexes(context.Background(), p); len(idx) != 4 {
		t.Errorf("indexes after crashes during a bulk load: %v", idx)
	}
	// One projector owns the durable consumer at a time.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	clean := newProjector(t, st, t.TempDir(), 1000, func(p *projector.Projector) { projector.SetBulkThreshold(p, 10) })
	defer clean.Close()
	waitPosition(t, clean, last)
	want, err := clean.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("projection after crashes %s, clean %s", got, want)
	}
	if err := clean.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	rebuilt, _ := clean.Digest(context.Background())
	if rebuilt != want {
		t.Errorf("rebuilt %s, clean %s", rebuilt, want)
	}
	rows, _ := projector.Quarantined(context.Background(), clean)
	if len(rows) == 0 {
		t.Error("no poison message quarantined")
	}
	idx, err := projector.Indexes(context.Background(), clean)
	if err != nil || !slices.Equal(idx, []string{"family_access_employee", "timeline_family_seq", "timeline_family_time", "timeline_family_type"}) {
		t.Errorf("indexes after bulk load and rebuild: %v %v", idx, err)
	}
	if err := clean.Ready(context.Background()); err != nil {
		t.Errorf("not ready after catching up: %v", err)
	}
}

// TestFarBehindCatchesUpBeforeTheDurableConsumer: a projector far behind
// reads the backlog with an ordered consumer, so that the server keeps no
// acknowledgement state for it, and positions the durable consumer only
// once caught up. The durable consumer then delivers just the events after
// the backlog, and each commit is acknowledged.
func TestFarBehindCatchesUpBeforeTheDurableConsumer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	backlog := publish(t, st, 0, 60)
	p := newProjector(t, st, t.TempDir(), 7, func(p *projector.Projector) { projector.SetBulkThreshold(p, 10) })
	defer p.Close()
	waitPosition(t, p, backlog)
	durable := func(delivered, acked uint64) {
		t.Helper()
		checkFor(t, 10*time.Second, func() error {
			c, err := st.JS.Consumer(ctx, eventstore.FamilyStream, projector.ConsumerName)
			if err != nil {
				return err
			}
			i := c.CachedInfo()
			if i.Delivered.Consumer != delivered || i.AckFloor.Stream != acked {
				return fmt.Errorf("durable consumer delivered %d (stream %d), acknowledged up to %d; want %d delivered, acknowledged up to %d",
					i.Delivered.Consumer, i.Delivered.Stream, i.AckFloor.Stream, delivered, acked)
			}
			return nil
		})
	}
	durable(0, backlog)
	last := publish(t, st, 60, 5)
	waitPosition(t, p, last)
	durable(5, last)
	if err := p.Ready(ctx); err != nil {
		t.Errorf("not ready: %v", err)
	}
}

// TestRebuildCommandToken: -token comes from JF_TOKEN when not given,
// and the usage (-h, or a bad flag) does not print it.
func TestRebuildCommandToken(t *testing.T) {
	t.Parallel()
	const secret = "tok-operator-77ab"
	getenv := func(k string) string {
		if k == "JF_TOKEN" {
			return secret
		}
		return ""
	}
	for _, args := range [][]string{{"-h"}, {"-no-such-flag"}} {
		var out, errOut bytes.Buffer
		projector.RebuildCommand(context.Background(), args, getenv, &out, &errOut)
		if strings.Contains(out.String()+errOut.String(), secret) {
			t.Errorf("projector rebuild %v printed JF_TOKEN:\n%s%s", args, out.String(), errOut.String())
		}
	}
	var (
		mu   sync.Mutex
		auth []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"state":"done"}`)
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	if code := projector.RebuildCommand(context.Background(), []string{"-url", srv.URL}, getenv, &out, &errOut); code != 0 {
		t.Fatalf("rebuild with JF_TOKEN: exit %d: %s", code, errOut.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) != 1 || auth[0] != "Bearer "+secret {
		t.Errorf("sent Authorization %q; want JF_TOKEN's", auth)
	}
}

// TestBulkLoadsScrubErasuresOnce: a projector that bulk loads a stream
// holding several erasures, one batch each, scrubs its model once, before
// it is ready; a rebuild over the same stream scrubs its new model once,
// before the swap. Either way the model that serves reads holds the
// erased text in neither its file nor its WAL.
func TestBulkLoadsScrubErasuresOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	const secret = "ProjectorBulkErasedSecretJV"
	put := func(fam string, dept events.Department, data events.Payload) {
		t.Helper()
		ce, err := events.Build(dept, fam, data)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := events.Marshal(ce)
		if _, err := st.JS.Publish(ctx, events.Subject(fam, dept, data.EventName()), b); err != nil {
			t.Fatal(err)
		}
	}
	fams := []string{"F-BE1", "F-BE2", "F-BE3", "F-BE4"}
	for _, fam := range fams {
		put(fam, events.SOF, &events.FamilyReferred{Reason: secret + " " + fam})
		put(fam, events.SOF, testenv.Enrolment())
	}
	for _, fam := range fams[:3] {
		put(fam, events.Service, &events.FamilyErased{Reason: "Formål ophørt"})
	}
	last := publish(t, st, 0, 20)
	inFiles := func(path string) []string {
		var where []string
		for _, p := range []string{path, path + "-wal"} {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte(secret+" F-BE1")) || bytes.Contains(b, []byte(secret+" F-BE2")) || bytes.Contains(b, []byte(secret+" F-BE3")) {
				where = append(where, filepath.Base(p))
			}
		}
		return where
	}

	p := newProjector(t, st, t.TempDir(), 1, func(p *projector.Projector) { projector.SetBulkThreshold(p, 5) })
	defer p.Close()
	checkFor(t, time.Minute, func() error { return p.Ready(ctx) })
	if p.Position() < last {
		t.Fatalf("ready at %d, before the stream's end %d", p.Position(), last)
	}
	if n := projector.ModelVacuums(p); n != 1 {
		t.Errorf("the bulk load over 3 erasures ran %d VACUUMs; want 1", n)
	}
	if w := inFiles(projector.ModelFile(p)); len(w) > 0 {
		t.Errorf("ready after the bulk load, yet the erased text is in %v", w)
	}

	before, err := p.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if n := projector.ModelVacuums(p); n != 1 {
		t.Errorf("the rebuild over 3 erasures ran %d VACUUMs on its model; want 1", n)
	}
	if w := inFiles(projector.ModelFile(p)); len(w) > 0 {
		t.Errorf("the rebuilt model swapped in holds the erased text in %v", w)
	}
	if after, err := p.Digest(ctx); err != nil || after != before {
		t.Errorf("digest %s before the rebuild, %s after (%v)", before, after, err)
	}
	// The family not erased keeps its text.
	b, _ := os.ReadFile(projector.ModelFile(p))
	if w, _ := os.ReadFile(projector.ModelFile(p) + "-wal"); !bytes.Contains(append(b, w...), []byte(secret+" F-BE4")) {
		t.Error("the text of the family not erased is not in the rebuilt model")
	}
}

// TestRebuildDuringCatchUpKeepsScrubDeferred: a rebuild swapped in while
// the projector still catches up takes over the live model's deferred
// scrub. The erasures the catch-up applies after the swap are scrubbed
// once, when the projector becomes ready, not one VACUUM each.
func TestRebuildDuringCatchUpKeepsScrubDeferred(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	last := publish(t, st, 0, 150)
	for _, fam := range []string{"F1", "F2", "F3"} {
		data := &events.FamilyErased{Reason: "Formål ophørt"}
		ce, err := events.Build(events.Service, fam, data)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := events.Marshal(ce)
		if _, err := st.JS.Publish(ctx, events.Subject(fam, events.Service, data.EventName()), b); err != nil {
			t.Fatal(err)
		}
	}
	// The live applier is slowed down, one message a batch, so that the
	// rebuild overtakes it long before it reaches the erasures.
	var slow atomic.Bool
	slow.Store(true)
	p := newProjector(t, st, t.TempDir(), 1, func(p *projector.Projector) {
		projector.SetHooks(p, func(uint64) error {
			if slow.Load() {
				time.Sleep(20 * time.Millisecond)
			}
			return nil
		}, nil)
	})
	defer p.Close()
	if err := p.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if at := p.Position(); at >= last {
		t.Fatalf("the catch-up reached %d, the erasures, before the rebuild swapped in", at)
	}
	if p.Ready(ctx) == nil {
		t.Fatal("ready before the catch-up's end")
	}
	slow.Store(false)
	checkFor(t, time.Minute, func() error { return p.Ready(ctx) })
	if n := projector.ModelVacuums(p); n != 1 {
		t.Errorf("the catch-up applied 3 erasures to the rebuilt model with %d VACUUMs; want 1, when it became ready", n)
	}
}
