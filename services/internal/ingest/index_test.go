package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/ingest"
	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// runIndex opens the index store in dir, follows h's stream until it is
// ready, and returns it with a function that stops it and closes its store.
func runIndex(t *testing.T, h *harness, dir string, cache int) (*ingest.Index, func()) {
	t.Helper()
	x, err := ingest.OpenIndex(ingest.IndexOptions{Dir: dir, CacheFamilies: cache, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = x.Run(ctx, h.js); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	testenv.CheckFor(t, 10*time.Second, func() error {
		if !x.Ready() {
			return errString(x.Progress())
		}
		return nil
	})
	return x, stop
}

type errString string

func (e errString) Error() string { return string(e) }

// hashOf is the content hash ingest keeps for an event's body.
func hashOf(t *testing.T, body []byte) (string, [32]byte) {
	t.Helper()
	ce, err := events.ParseStructured(body)
	if err != nil {
		t.Fatal(err)
	}
	return ce.ID(), events.ContentHash(ce)
}

func (h *harness) mustPost(dept string, body []byte) uint64 {
	h.t.Helper()
	r := h.post(dept, "dev-"+dept, "application/cloudevents+json", body, nil)
	if r.Status != 201 {
		h.t.Fatalf("post: %d %s", r.Status, r.Raw)
	}
	return uint64(r.Body["position"].(float64))
}

// A restarted index reads only the stream after its store's sequence, and
// still knows every id and every family's state and last sequence, also
// for families that are not in its cache.
func TestIndexRestartReadsOnlyTheTail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := ev(t, events.SOF, "T1", enrolment(), events.WithID("tail-enrol-1"))
	h.mustPost("sof", first)
	h.mustPost("bif", ev(t, events.BIF, "T1", praktik("PR1")))
	for _, f := range []string{"T2", "T3", "T4"} {
		h.mustPost("sof", ev(t, events.SOF, f, enrolment()))
	}
	dir := t.TempDir()
	x, stop := runIndex(t, h, dir, 1)
	if x.Read() != 5 || x.StoredSequence() != 5 {
		t.Fatalf("first start read %d messages, stored up to %d; want 5 and 5", x.Read(), x.StoredSequence())
	}
	stop()

	h.mustPost("bif", ev(t, events.BIF, "T1", praktik("PR2")))
	tail := ev(t, events.BIF, "T2", praktik("PR1"))
	last := h.mustPost("bif", tail)
	x, _ = runIndex(t, h, dir, 1)
	if x.Read() != 2 {
		t.Fatalf("restart read %d messages; want the tail of 2", x.Read())
	}
	if x.StoredSequence() != last {
		t.Fatalf("store covers %d after catching up; want %d", x.StoredSequence(), last)
	}
	// An id never sent, one of the tail, and the first with other and with
	// its own content.
	id, hash := hashOf(t, first)
	tailID, tailHash := hashOf(t, tail)
	got, err := x.StoredAll([]string{"never-sent", tailID, id, id}, [][32]byte{hash, tailHash, {1}, hash})
	want := []ingest.IDState{{}, {Stored: true, SameContent: true, Sequence: last}, {Stored: true, Sequence: 1}, {Stored: true, SameContent: true, Sequence: 1}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("StoredAll = %+v, %v; want %+v", got, err, want)
	}
	for fam, want := range map[string][2]uint64{"T1": {3, 6}, "T2": {2, 7}, "T3": {1, 4}} {
		l, err := x.Lock([]string{fam})
		if err != nil {
			t.Fatal(err)
		}
		if n, seq := l.State(fam).Events(), l.LastSequence(fam); uint64(n) != want[0] || seq != want[1] {
			t.Errorf("family %s: %d events, last sequence %d; want %d and %d", fam, n, seq, want[0], want[1])
		}
		l.Unlock()
	}
	if n := x.CachedFamilies(); n > 1 {
		t.Errorf("%d families cached with a cache of 1", n)
	}
}

// A store that cannot be read is rebuilt from the whole stream; one made
// from another stream (the stream was replaced) is emptied and rebuilt.
func TestIndexRebuildsUnreadableOrForeignStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := ev(t, events.SOF, "R1", enrolment())
	h.mustPost("sof", body)
	h.mustPost("sof", ev(t, events.SOF, "R2", enrolment()))
	dir := t.TempDir()
	_, stop := runIndex(t, h, dir, 0)
	stop()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no store files in %s (%v)", dir, err)
	}
	for _, f := range files {
		if err := os.WriteFile(f, []byte("not a pebble file"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	x, stop := runIndex(t, h, dir, 0)
	if x.Read() != 2 {
		t.Fatalf("rebuild read %d messages; want the whole stream of 2", x.Read())
	}
	id, hash := hashOf(t, body)
	if got := lookup(t, x, id, hash); got != (ingest.IDState{Stored: true, SameContent: true, Sequence: 1}) {
		t.Fatalf("after the rebuild %s is %+v", id, got)
	}
	stop()

	// The stream is replaced by one with a single other event.
	cfg, err := h.js.Stream(context.Background(), eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	_, admin := testenv.AdminJS(t, h.ns.ClientURL(), nil)
	testenv.RecreateStream(t, admin, cfg.CachedInfo().Config)
	other := ev(t, events.SOF, "R3", enrolment())
	if _, err := admin.Publish(context.Background(), "families.R3.sof.family.enrolled", other); err != nil {
		t.Fatal(err)
	}
	x, _ = runIndex(t, h, dir, 0)
	if x.Read() != 1 || x.StoredSequence() != 1 {
		t.Fatalf("on a replaced stream the index read %d and stored up to %d; want 1 and 1", x.Read(), x.StoredSequence())
	}
	if lookup(t, x, id, hash).Stored {
		t.Fatal("an id of the replaced stream is still known")
	}
	id3, hash3 := hashOf(t, other)
	if got := lookup(t, x, id3, hash3); !got.Stored || got.Sequence != 1 {
		t.Fatalf("the new stream's event: %+v", got)
	}
}

// lookup is what the index knows of one id.
func lookup(t *testing.T, x *ingest.Index, id string, hash [32]byte) ingest.IDState {
	t.Helper()
	got, err := x.StoredAll([]string{id}, [][32]byte{hash})
	if err != nil {
		t.Fatal(err)
	}
	return got[0]
}

// Idempotency and the families' states hold across restarts of the
// process: with the local store kept, and with it lost.
func TestIngestRestartKeepsIdempotency(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := h.sa.Config
	cfg.DataDir = t.TempDir()
	cfg.Instance = otherInstance // a projector of its own beside h's
	cfg.IngestCacheFamilies = 1
	var p *harness
	start := func() {
		t.Helper()
		sa, err := standalone.Start(context.Background(), cfg, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		p = &harness{t: t, sa: sa, js: h.js}
		p.waitReady()
	}
	stop := func() {
		t.Helper()
		if err := p.sa.Stop(); err != nil {
			t.Fatal(err)
		}
		p = nil
	}
	t.Cleanup(func() {
		if p != nil {
			_ = p.sa.Stop()
		}
	})
	start()
	body := ev(t, events.SOF, "K1", enrolment(), events.WithID("restart-enrol"))
	p.mustPost("sof", body)
	p.mustPost("sof", ev(t, events.SOF, "K2", enrolment()))
	p.mustPost("bif", ev(t, events.BIF, "K1", praktik("PR1"), events.WithID("restart-praktik")))
	check := func(round string) {
		t.Helper()
		if r := p.post("sof", "dev-sof", "application/cloudevents+json", body, nil); r.Status != 200 || !strings.Contains(r.Raw, `"sequence":1,"duplicate":true`) {
			t.Fatalf("%s: re-sent event: %d %s", round, r.Status, r.Raw)
		}
		changed := ev(t, events.SOF, "K1", &events.ConsentGiven{PersonID: "P1", Scope: "gp-cooperation"}, events.WithID("restart-enrol"))
		if r := p.post("sof", "dev-sof", "application/cloudevents+json", changed, nil); r.Status != 409 || r.Body["rule"] != "id-reused" {
			t.Fatalf("%s: same id, other content: %d %s", round, r.Status, r.Raw)
		}
		// The family's state: PR1 is open, so starting it again is refused.
		again := ev(t, events.BIF, "K1", praktik("PR1"))
		if r := p.post("bif", "dev-bif", "application/cloudevents+json", again, nil); r.Status != 409 {
			t.Fatalf("%s: a praktik started twice: %d %s", round, r.Status, r.Raw)
		}
	}
	stop()
	start()
	check("store kept")
	p.mustPost("bif", ev(t, events.BIF, "K2", praktik("PR9")))
	stop()
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "ingest", "index")); err != nil {
		t.Fatal(err)
	}
	start()
	check("store lost")
	// Once idle, the store covers the whole stream.
	testenv.CheckFor(t, 10*time.Second, func() error {
		m := testenv.Do(t, p.sa.URL(), "GET", "/metrics", "", nil, nil).Raw
		for _, want := range []string{"jf_ingest_index_cached_families ", "jf_ingest_index_stored_sequence 4\n"} {
			if !strings.Contains(m, want) {
				return errString("metrics lack " + want)
			}
		}
		return nil
	})
	if got := h.lastSeq(); got != 4 {
		t.Fatalf("stream holds %d messages, want 4", got)
	}
}
