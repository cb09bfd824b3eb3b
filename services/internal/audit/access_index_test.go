package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// logAccess appends n entries to st's ACCESS_LOG from the i-th on: of
// families families in turn (prefix names them), with bulk every 50th a
// read of all families and every 70th of the evaluation's figures. It
// returns the last sequence.
func logAccess(t testing.TB, st *eventstore.Store, prefix string, families, from, n int, bulk bool) uint64 {
	t.Helper()
	for i := from; i < from+n; i++ {
		fam, subject := fmt.Sprintf("%s%d", prefix, i%families), ""
		switch {
		case bulk && i%50 == 0:
			fam, subject = accesslog.BulkFamily, accesslog.BulkSubject
		case bulk && i%70 == 0:
			fam, subject = accesslog.BulkFamily, accesslog.EvaluationSubject
		default:
			subject = accesslog.Subject(fam)
		}
		b, _ := json.Marshal(accesslog.Entry{Time: time.Now(), FamilyID: fam, Principal: "c", Kind: "coordinator", Endpoint: "GET /v1/families/" + fam, Purpose: "case-review"})
		if _, err := st.JS.PublishAsync(subject, b); err != nil {
			t.Fatal(err)
		}
		if (i-from)%5000 == 4999 { // a bounded number in flight
			acknowledged(t, st)
		}
	}
	acknowledged(t, st)
	info, err := st.JS.Stream(context.Background(), eventstore.AccessLogStream)
	if err != nil {
		t.Fatal(err)
	}
	return info.CachedInfo().State.LastSeq
}

// acknowledged waits for st's asynchronous publishes.
func acknowledged(t testing.TB, st *eventstore.Store) {
	t.Helper()
	select {
	case <-st.JS.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("the entries were not acknowledged")
	}
}

// follow runs x.Follow on st until the test ends or the returned stop.
func follow(t *testing.T, x *accesslog.Index, st *eventstore.Store) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); x.Follow(ctx, st.JS) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// waitIndexed waits until x holds the log up to last.
func waitIndexed(t *testing.T, x *accesslog.Index, last uint64) {
	t.Helper()
	testenv.CheckFor(t, 20*time.Second, func() error {
		if got := x.Last(); got != last {
			return fmt.Errorf("the access index holds up to %d, not %d", got, last)
		}
		return nil
	})
}

// accessSequences reads q with r and returns the entries' sequences.
func accessSequences(t testing.TB, r *audit.Reader, q audit.AccessQuery) []uint64 {
	t.Helper()
	var out []uint64
	if err := r.AccessLog(context.Background(), q, func(s audit.Stored) error {
		out = append(out, s.Sequence)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAccessIndexReadsAsTheLog: a family's access log read through the
// index is the one read from the log itself (its own entries and the
// reads of all families, in order, within from and to), while the index
// follows, after it has stopped and the log went on (the rest is read
// from the log), and from the index's file opened again. The A families'
// entries are fetched one by one; the B families', a seventh of the log
// from their first on, are read from the log from there.
func TestAccessIndexReadsAsTheLog(t *testing.T) {
	t.Parallel()
	st := testenv.OpenStore(t, nil)
	path := filepath.Join(t.TempDir(), "access-index.db")
	x, err := accesslog.OpenIndex(context.Background(), path, testenv.QuietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	plain := &audit.Reader{NC: st.NC, JS: st.JS}
	indexed := &audit.Reader{NC: st.NC, JS: st.JS, Access: x}
	var middle time.Time // the time of an entry half-way
	compare := func(what string, wantSome bool) {
		t.Helper()
		queries := []audit.AccessQuery{{FamilyID: "A0"}, {FamilyID: "A3"}, {FamilyID: "B3"}, {FamilyID: "NOBODY"},
			{FamilyID: "A3", From: middle}, {FamilyID: "A3", To: middle}, {FamilyID: "A5", From: middle.Add(-time.Millisecond), To: middle.Add(time.Millisecond)}}
		for _, q := range queries {
			want, got := accessSequences(t, plain, q), accessSequences(t, indexed, q)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %+v: through the index %v,\nfrom the log %v", what, q, got, want)
			}
			if wantSome && q.FamilyID == "A0" && len(want) < 40 {
				t.Errorf("%s: %+v: only %d entries", what, q, len(want))
			}
		}
	}

	stop := follow(t, x, st)
	last := logAccess(t, st, "A", 60, 0, 1500, true)
	waitIndexed(t, x, last)
	m, err := st.JS.Stream(context.Background(), eventstore.AccessLogStream)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := m.GetMsg(context.Background(), last/2)
	if err != nil {
		t.Fatal(err)
	}
	middle = mid.Time
	compare("followed", true)

	stop()
	last = logAccess(t, st, "B", 7, 1500, 700, true)
	if x.Last() >= last {
		t.Fatalf("the stopped index holds %d of %d", x.Last(), last)
	}
	compare("behind the log", true)

	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if x, err = accesslog.OpenIndex(context.Background(), path, testenv.QuietLog()); err != nil {
		t.Fatal(err)
	}
	indexed.Access = x
	follow(t, x, st)
	waitIndexed(t, x, last)
	compare("opened again and followed", true)
}

// TestAccessIndexOfAReplacedLog: an index of another log (the log was
// restored from a backup, or the store replaced) is emptied and made
// again from the log it follows now: no entry of the other log is read
// for a family.
func TestAccessIndexOfAReplacedLog(t *testing.T) {
	t.Parallel()
	old, st := testenv.OpenStore(t, nil), testenv.OpenStore(t, nil)
	x, err := accesslog.OpenIndex(context.Background(), filepath.Join(t.TempDir(), "access-index.db"), testenv.QuietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	stop := follow(t, x, old)
	waitIndexed(t, x, logAccess(t, old, "OLD", 7, 0, 300, true))
	stop()

	last := logAccess(t, st, "NEW", 7, 0, 400, true)
	follow(t, x, st)
	waitIndexed(t, x, last)
	plain := &audit.Reader{NC: st.NC, JS: st.JS}
	indexed := &audit.Reader{NC: st.NC, JS: st.JS, Access: x}
	for _, fam := range []string{"OLD1", "NEW1"} {
		want, got := accessSequences(t, plain, audit.AccessQuery{FamilyID: fam}), accessSequences(t, indexed, audit.AccessQuery{FamilyID: fam})
		if !slices.Equal(got, want) {
			t.Errorf("%s: through the index %v,\nfrom the log %v", fam, got, want)
		}
	}
}

// BenchmarkAccessLogOfOneFamily reads one family's access log, 100 of a
// million entries over 10,000 families, from the log by a filtered
// consumer and through the index.
func BenchmarkAccessLogOfOneFamily(b *testing.B) {
	st := testenv.OpenStore(b, nil)
	const n, families = 1_000_000, 10_000
	logAccess(b, st, "F", families, 0, n, false)
	x, err := accesslog.OpenIndex(context.Background(), filepath.Join(b.TempDir(), "access-index.db"), testenv.QuietLog())
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	t0 := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); x.Follow(ctx, st.JS) }()
	defer func() { cancel(); <-done }()
	for x.Last() < n {
		time.Sleep(50 * time.Millisecond)
	}
	b.Logf("%d entries indexed in %s", n, time.Since(t0).Round(time.Millisecond))
	for _, r := range []struct {
		name string
		r    *audit.Reader
	}{{"log", &audit.Reader{NC: st.NC, JS: st.JS}}, {"index", &audit.Reader{NC: st.NC, JS: st.JS, Access: x}}} {
		b.Run(r.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if got := len(accessSequences(b, r.r, audit.AccessQuery{FamilyID: fmt.Sprintf("F%d", i%families)})); got != n/families {
					b.Fatalf("%d entries, want %d", got, n/families)
				}
				i += 7
			}
		})
	}
}
