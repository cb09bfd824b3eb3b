package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/ingest"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// lockedBuffer is a log destination tests read while the index writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A rebuild of the index store that is interrupted (the process stopped)
// after it committed part of the stream goes on from there at the next
// start, and is still reported as a rebuild, with its progress over the
// whole stream: not as a catch-up of a store that was complete. Once it
// is done, the next start is a catch-up again.
func TestIndexInterruptedRebuildResumesAsRebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := testenv.OpenStore(t, nil)
	const n = 3000
	var last uint64
	for i := range n {
		fam := fmt.Sprintf("RB-%d", i)
		ce, err := events.Build(events.SOF, fam, testenv.Enrolment())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := events.Marshal(ce)
		f, err := st.JS.PublishAsync(events.Subject(fam, events.SOF, "family.enrolled"), b)
		if err != nil {
			t.Fatal(err)
		}
		if i == n-1 {
			select {
			case a := <-f.Ok():
				last = a.Sequence
			case err := <-f.Err():
				t.Fatal(err)
			}
		}
	}
	<-st.JS.PublishAsyncComplete()

	dir := t.TempDir()
	// The first start rebuilds the empty store from the whole stream; a
	// cache of two families commits after every event, and the process
	// stops once some of the stream is committed.
	x, err := ingest.OpenIndex(ingest.IndexOptions{Dir: dir, CacheFamilies: 2, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = x.Run(rctx, st.JS); close(done) }()
	for deadline := time.Now().Add(10 * time.Second); x.StoredSequence() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	stopped := x.StoredSequence()
	if stopped == 0 || stopped >= last || x.Ready() {
		t.Fatalf("the first rebuild stopped with the store at %d of %d (ready %v); want part of the stream", stopped, last, x.Ready())
	}

	var logs lockedBuffer
	x, err = ingest.OpenIndex(ingest.IndexOptions{Dir: dir, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if p := x.Progress(); !strings.HasPrefix(p, "rebuilding the index from the event store") {
		t.Errorf("reopened mid-rebuild, Progress() = %q; want a rebuild", p)
	}
	rctx, cancel = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { _ = x.Run(rctx, st.JS); close(done) }()
	testenv.CheckFor(t, 20*time.Second, func() error {
		if !x.Ready() {
			return fmt.Errorf("%s", x.Progress())
		}
		return nil
	})
	cancel()
	<-done
	out := logs.String()
	want := fmt.Sprintf("rebuilding the index from the event store: %d of %d events read", stopped, last)
	for _, w := range []string{"rebuilding=true", want} {
		if !strings.Contains(out, w) {
			t.Errorf("the resumed rebuild's log lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "catching up") {
		t.Errorf("the resumed rebuild logs a catch-up:\n%s", out)
	}
	if x.StoredSequence() != last {
		t.Errorf("after the rebuild the store covers %d; want %d", x.StoredSequence(), last)
	}

	x, err = ingest.OpenIndex(ingest.IndexOptions{Dir: dir, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if p := x.Progress(); !strings.HasPrefix(p, "catching up with the event store") {
		t.Errorf("reopened after the rebuild, Progress() = %q; want a catch-up", p)
	}
}
