package ingest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// batcher combines the atomic batches of concurrent requests into fewer,
// larger JetStream atomic batches (group commit).
//
// On a single-node file stream nats-server stages every atomic batch in a
// small file store of its own before it commits it, at a cost of several
// milliseconds a batch whatever its size, and commits batches one after the
// other. Requests that arrive while a batch is being stored therefore queue
// anyway; sending what queued as one batch of up to eventstore.MaxBatch
// messages pays that cost once for all of them.
//
// Combining keeps each request all-or-nothing: the combined batch is itself
// atomic. The requests of one group never share a family, because each
// holds the locks of its families until its outcome is known, so their
// per-family expectations cannot contradict each other. When a combined
// batch is refused for a conflict or a stored id (which one request's
// events cause), each request is sent again on its own, so that only the
// request at fault fails.
type batcher struct {
	pub *eventstore.Publisher
	// maxActive is how many combined batches may be in flight at once.
	maxActive int

	mu     sync.Mutex
	queue  []*batchJob
	active int

	// jobs counts the requests' batches, sent the JetStream batches they
	// went out in (retries on their own included).
	jobs, sent atomic.Uint64
}

type batchJob struct {
	msgs []eventstore.Message
	last uint64
	err  error
	done chan struct{}
}

// publish stores msgs atomically, possibly with other requests' messages in
// the same JetStream batch, and returns the sequence of its last message.
// Message i has sequence last-len(msgs)+1+i, as with
// eventstore.Publisher.PublishBatch.
func (b *batcher) publish(msgs []eventstore.Message) (uint64, error) {
	j := &batchJob{msgs: msgs, done: make(chan struct{})}
	b.jobs.Add(1)
	b.mu.Lock()
	b.queue = append(b.queue, j)
	start := b.active < max(b.maxActive, 1)
	if start {
		b.active++
	}
	b.mu.Unlock()
	if start {
		go b.run()
	}
	// The job is handed over: its outcome decides whether its events are
	// stored, so wait for it even if the client has gone (the publisher's
	// own timeout bounds the wait).
	<-j.done
	return j.last, j.err
}

// run sends queued jobs until the queue is empty.
func (b *batcher) run() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.active--
			b.mu.Unlock()
			return
		}
		n, total := 0, 0
		for n < len(b.queue) && (n == 0 || total+len(b.queue[n].msgs) <= eventstore.MaxBatch) {
			total += len(b.queue[n].msgs)
			n++
		}
		group := make([]*batchJob, n)
		copy(group, b.queue)
		b.queue = append(b.queue[:0], b.queue[n:]...)
		b.mu.Unlock()
		b.send(group, total)
	}
}

// send stores one group and reports each job's outcome.
func (b *batcher) send(group []*batchJob, total int) {
	defer func() {
		for _, j := range group {
			close(j.done)
		}
	}()
	b.sent.Add(1)
	if len(group) == 1 {
		j := group[0]
		j.last, j.err = b.pub.PublishBatch(context.Background(), j.msgs)
		return
	}
	msgs := make([]eventstore.Message, 0, total)
	for _, j := range group {
		msgs = append(msgs, j.msgs...)
	}
	last, err := b.pub.PublishBatch(context.Background(), msgs)
	if err == nil {
		end := last - uint64(total)
		for _, j := range group {
			end += uint64(len(j.msgs))
			j.last = end
		}
		return
	}
	if !errors.Is(err, eventstore.ErrConflict) && !errors.Is(err, eventstore.ErrDuplicateInBatch) {
		// Unavailable, full, or unanswered: nothing was stored for
		// certain, or the outcome is unknown for all alike; each request
		// decides for itself, as it would have alone.
		for _, j := range group {
			j.err = err
		}
		return
	}
	// One request's events made the combined batch fail: find out which,
	// by sending each on its own.
	for _, j := range group {
		b.sent.Add(1)
		j.last, j.err = b.pub.PublishBatch(context.Background(), j.msgs)
	}
}
