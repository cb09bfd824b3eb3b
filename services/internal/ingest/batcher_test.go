package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"kk.dk/jobogfamilie/services/internal/eventstore"
)

func openBatcherStore(t *testing.T) (*eventstore.Store, *eventstore.Publisher) {
	t.Helper()
	s, err := eventstore.Open(context.Background(), eventstore.OpenOptions{
		Embedded: eventstore.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "off"},
		Name:     "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	pub, err := eventstore.NewPublisher(s.NC)
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// familyBatch is n messages for fam, the first expecting fam's last
// sequence to be expect.
func familyBatch(fam string, n int, expect uint64) []eventstore.Message {
	ms := make([]eventstore.Message, n)
	for i := range ms {
		ms[i] = eventstore.Message{Subject: "families." + fam + ".bif.x", Data: []byte(fmt.Sprintf(`{"n":%d}`, i)), MsgID: fmt.Sprintf("%s-%d", fam, i)}
	}
	ms[0].Expect, ms[0].ExpectFilter, ms[0].ExpectSeq = true, "families."+fam+".>", expect
	return ms
}

// checkStored asserts that msgs are in the stream, in order, ending at last.
func checkStored(t *testing.T, s *eventstore.Store, msgs []eventstore.Message, last uint64) {
	t.Helper()
	st, err := s.JS.Stream(context.Background(), eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	first := last - uint64(len(msgs)) + 1
	for i, m := range msgs {
		got, err := st.GetMsg(context.Background(), first+uint64(i))
		if err != nil {
			t.Fatalf("sequence %d: %v", first+uint64(i), err)
		}
		if got.Subject != m.Subject || string(got.Data) != string(m.Data) {
			t.Fatalf("sequence %d holds %s %s, want %s %s", first+uint64(i), got.Subject, got.Data, m.Subject, m.Data)
		}
	}
}

func TestBatcherCombinedBatchGivesEachRequestItsSequences(t *testing.T) {
	t.Parallel()
	s, pub := openBatcherStore(t)
	b := &batcher{pub: pub, maxActive: 1}
	group := []*batchJob{
		{msgs: familyBatch("A", 3, 0), done: make(chan struct{})},
		{msgs: familyBatch("B", 1, 0), done: make(chan struct{})},
		{msgs: familyBatch("C", 2, 0), done: make(chan struct{})},
	}
	b.send(group, 6)
	if b.sent.Load() != 1 {
		t.Fatalf("%d JetStream batches, want 1 combined", b.sent.Load())
	}
	wantLast := []uint64{3, 4, 6}
	for i, j := range group {
		if j.err != nil || j.last != wantLast[i] {
			t.Fatalf("job %d: last %d, err %v; want %d", i, j.last, j.err, wantLast[i])
		}
		checkStored(t, s, j.msgs, j.last)
	}
}

func TestBatcherConflictFailsOnlyTheRequestAtFault(t *testing.T) {
	t.Parallel()
	s, pub := openBatcherStore(t)
	b := &batcher{pub: pub, maxActive: 1}
	group := []*batchJob{
		{msgs: familyBatch("A", 2, 0), done: make(chan struct{})},
		{msgs: familyBatch("B", 2, 7), done: make(chan struct{})}, // stale expectation
		{msgs: familyBatch("C", 2, 0), done: make(chan struct{})},
	}
	b.send(group, 6)
	if !errors.Is(group[1].err, eventstore.ErrConflict) {
		t.Fatalf("the stale request: %v, want a conflict", group[1].err)
	}
	for _, i := range []int{0, 2} {
		if group[i].err != nil {
			t.Fatalf("job %d failed with the stale one: %v", i, group[i].err)
		}
		checkStored(t, s, group[i].msgs, group[i].last)
	}
	st, _ := s.JS.Stream(context.Background(), eventstore.FamilyStream)
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 4 {
		t.Fatalf("stream holds %d messages, want the 4 of the two good requests", info.State.Msgs)
	}
}

func TestBatcherConcurrentRequestsAreAllStoredOnce(t *testing.T) {
	t.Parallel()
	s, pub := openBatcherStore(t)
	b := &batcher{pub: pub, maxActive: 1}
	const n = 40
	type out struct {
		msgs []eventstore.Message
		last uint64
		err  error
	}
	outs := make([]out, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			msgs := familyBatch(fmt.Sprintf("F%d", i), 1+i%5, 0)
			last, err := b.publish(msgs)
			outs[i] = out{msgs, last, err}
		})
	}
	wg.Wait()
	total := 0
	for i, o := range outs {
		if o.err != nil {
			t.Fatalf("request %d: %v", i, o.err)
		}
		checkStored(t, s, o.msgs, o.last)
		total += len(o.msgs)
	}
	st, _ := s.JS.Stream(context.Background(), eventstore.FamilyStream)
	info, _ := st.Info(context.Background())
	if info.State.Msgs != uint64(total) {
		t.Fatalf("stream holds %d messages, want %d", info.State.Msgs, total)
	}
	if b.jobs.Load() != n || b.sent.Load() == 0 || b.sent.Load() > n {
		t.Fatalf("%d requests in %d batches", b.jobs.Load(), b.sent.Load())
	}
	t.Logf("%d requests went out in %d atomic batches", b.jobs.Load(), b.sent.Load())
}

// TestBatcherServerBatchesFullIsUnavailable: with as many atomic batches
// open on the stream as the server allows (another publisher's, left
// open), the server refuses a new batch's first message unheard and then
// its commit as incomplete; nothing is stored, and the write is
// unavailable (503, to be sent again), not a failure of the service.
func TestBatcherServerBatchesFullIsUnavailable(t *testing.T) {
	t.Parallel()
	s, pub := openBatcherStore(t)
	for i := range 50 {
		m := nats.NewMsg("families.FX.bif.x")
		m.Header.Set("Nats-Batch-Id", fmt.Sprintf("open-%d", i))
		m.Header.Set("Nats-Batch-Sequence", "1")
		if err := s.NC.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	b := &batcher{pub: pub, maxActive: 1}
	if _, err := b.publish(familyBatch("A", 2, 0)); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("a batch the server has no room for: %v, want ErrUnavailable", err)
	}
}
