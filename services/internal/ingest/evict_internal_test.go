package ingest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// praktikMessage is message s of family F: odd sequences open praktik
// PR<s>, even ones end PR<s-1>, so the state stays small.
func praktikMessage(t *testing.T, s uint64, id string) events.Envelope {
	t.Helper()
	var p events.Payload
	if s%2 == 1 {
		p = &events.PraktikStarted{PraktikID: fmt.Sprintf("PR%d", s), PersonID: "P1", Employer: "12345678", HoursPerWeek: 10}
	} else {
		p = &events.PraktikEnded{PraktikID: fmt.Sprintf("PR%d", s-1), Outcome: "completed"}
	}
	ce, err := events.Build(events.BIF, "F", p, events.WithID(id))
	if err != nil {
		t.Fatal(err)
	}
	env, err := events.Validate(ce)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// applyFlushed folds message s of family F in and flushes, as Run does
// with a cache of one family (len(dirty) >= capacity/2).
func applyFlushed(t *testing.T, x *Index, cs *consumerState, s uint64) error {
	err := x.applyStored(cs, s, "F", func() stored {
		return stored{seq: s, familyID: "F", env: praktikMessage(t, s, fmt.Sprintf("m-%d", s))}
	})
	if err != nil {
		return err
	}
	return x.flush(cs)
}

// A write loads family F from the store while the consumer folds F's next
// message in, flushes it and the family is evicted: the write's load,
// older than the store by then, must not become F's cached entry, or the
// consumer folds the messages after it onto a state missing one.
func TestIndexLoadOverlappingConsumerAndEvictionIsNotCached(t *testing.T) {
	x, err := OpenIndex(IndexOptions{CacheFamilies: 1, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	cs := &consumerState{dirty: map[string]*familyEntry{}, batch: x.db.NewBatch(), flushed: time.Now()}
	defer func() { cs.batch.Close() }()
	// F at sequence 1 in the store, and not cached.
	if err := applyFlushed(t, x, cs, 1); err != nil {
		t.Fatal(err)
	}
	other := func(id string) {
		fe, err := x.acquire(id)
		if err != nil {
			t.Error(err)
			return
		}
		x.release(fe)
	}
	other("G")
	if Holders(x, "F") != 0 || x.CachedFamilies() != 1 {
		t.Fatalf("F is still cached (%d families)", x.CachedFamilies())
	}

	// The write's load of F pauses once it has read the store.
	read, resume := make(chan struct{}), make(chan struct{})
	var paused atomic.Bool
	x.loaded = func(id string) {
		if id == "F" && paused.CompareAndSwap(false, true) {
			close(read)
			<-resume
		}
	}
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		other("F")
	}()
	<-read
	// The consumer folds sequence 2 in meanwhile. It may wait for the
	// write's load; what it does before the load goes on, and another
	// family's load evicting F, is what could make the load stale.
	consumed := make(chan error, 1)
	go func() { consumed <- applyFlushed(t, x, cs, 2) }()
	var cerr error
	done := false
	select {
	case cerr = <-consumed:
		done = true
	case <-time.After(time.Second):
	}
	other("H")
	close(resume)
	<-wrote
	if !done {
		cerr = <-consumed
	}
	if cerr != nil {
		t.Fatal(cerr)
	}

	l, err := x.Lock([]string{"F"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if last := l.LastSequence("F"); last != 2 {
		t.Fatalf("family F is at last sequence %d, want 2: a load older than the store became its entry", last)
	}
	if err := l.State("F").Check(praktikMessage(t, 2, "m-2-again")); err == nil {
		t.Fatal("Check takes a second praktik.ended PR1: F's state lacks sequence 2")
	}
}

// The same under load: writes load F and other families, which evict it,
// while the consumer folds F's messages in one by one, each flushed. Every
// message must be folded onto the state of the one before.
func TestIndexLoadsRacingConsumerKeepEveryMessage(t *testing.T) {
	x, err := OpenIndex(IndexOptions{CacheFamilies: 1, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	cs := &consumerState{dirty: map[string]*familyEntry{}, batch: x.db.NewBatch(), flushed: time.Now()}
	defer func() { cs.batch.Close() }()

	var stop atomic.Bool
	var wg sync.WaitGroup
	// Writes: take a family and let it go, as a request's Lock/Unlock
	// does; every other one another family, which evicts F.
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				fam := "F"
				if i%2 == 1 {
					fam = fmt.Sprintf("G%d-%d", w, i%7)
				}
				fe, err := x.acquire(fam)
				if err != nil {
					t.Error(err)
					return
				}
				x.release(fe)
			}
		}()
	}
	// The consumer: messages 1, 2, … all of family F, each flushed. A
	// number of them, within a time: the race is not certain to show in
	// any one message.
	const messages = 20000
	var first string
	var lostEnd uint64 // a lost even (praktik.ended) sequence
	deadline := time.Now().Add(15 * time.Second)
	for s := uint64(1); s <= messages && time.Now().Before(deadline) && lostEnd == 0; s++ {
		err := x.applyStored(cs, s, "F", func() stored {
			x.mu.Lock()
			fe := x.cache["F"].Value.(*familyEntry)
			x.mu.Unlock()
			if fe.lastSeq != s-1 {
				if first == "" {
					first = fmt.Sprintf("the consumer folds sequence %d onto family F at last sequence %d: sequence(s) %d..%d are lost from its state",
						s, fe.lastSeq, fe.lastSeq+1, s-1)
				}
				if (s-1)%2 == 0 && fe.lastSeq == s-2 {
					lostEnd = s - 1
				}
			}
			return stored{seq: s, familyID: "F", env: praktikMessage(t, s, fmt.Sprintf("m-%d", s))}
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.flush(cs); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if first == "" {
		return
	}
	if lostEnd == 0 {
		t.Fatal(first)
	}
	// What a write decides on now: it expects F's last sequence, which is
	// the stream's, so JetStream would take its publish.
	l, err := x.Lock([]string{"F"})
	if err != nil {
		t.Fatal(err)
	}
	ended := lostEnd - 1 // PR<ended> was opened at lostEnd-1 and ended at lostEnd
	cerr := l.State("F").Check(praktikMessage(t, lostEnd, "m-again"))
	last := l.LastSequence("F")
	l.Unlock()
	t.Fatalf("%s; later sequence %d (praktik.ended PR%d) was lost too: a write now expects last sequence %d and Check of a second praktik.ended PR%d says %v, want a refusal (praktik not open)",
		first, lostEnd, ended, last, ended, cerr)
}
